//! A plan larger than a run holds streams into the run (issue #18, memory flat in the number of
//! checks): the checks are made a second time while the run consumes them. These tests hold the
//! streamed checks to the held ones, the reports of a streamed run to those of a held run, and
//! a file changed between the two plannings to an error. Traffic: tcp connects to 127.0.0.1.

use std::path::{Path, PathBuf};

use netspec::app::{Reports, execute};
use netspec::plan::{self, Inputs, Keep, Plan};
use netspec::probe::ContextOptions;
use netspec::report::Outputs;
use netspec::run::RunOptions;

use crate::common::write;

/// A suite of `instances` matrix instances × 4 checks (one a template use): tcp checks of a
/// closed loopback port (expected closed, so they pass without a server) and, in every instance,
/// one that expects it open and fails.
fn suite(dir: &Path, instances: usize) -> PathBuf {
    let values: Vec<String> = (0..instances).map(|i| format!("n{i}")).collect();
    let text = format!(
        r#"netspec: 1
name: stream
matrix:
  node: [{}]
defaults: {{ timeout: 500ms }}
templates:
  closed:
    params: [port]
    checks:
      - name: "closed {{{{ port }}}}"
        tcp: {{ host: 127.0.0.1, port: "{{{{ port }}}}" }}
        expect: {{ state: closed }}
scenarios:
  - name: "node {{{{ node }}}}"
    checks:
      - {{ name: a, tcp: {{ host: 127.0.0.1, port: 1 }}, expect: {{ state: closed }} }}
      - {{ name: b, tcp: {{ host: 127.0.0.1, port: 2 }}, expect: {{ state: open }}, tags: [planted] }}
      - {{ name: c, tcp: {{ host: "127.0.0.1", port: 3 }}, expect: {{ state: closed }}, hint: "{{{{ node }}}}" }}
      - {{ name: d, use: closed, with: {{ port: 4 }} }}
"#,
        values.join(", ")
    );
    write(dir, "stream.yaml", &text)
}

/// A check as the tests compare them: plan position, id, target.
type Seen = (usize, String, String);

fn ids(plan: &Plan) -> Vec<Seen> {
    plan.checks.iter().map(|c| (c.meta.index, c.meta.id.clone(), c.target.describe())).collect()
}

fn drain(plan: &mut Plan) -> (Vec<Seen>, Result<(), netspec::suite::LoadError>) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut checks = plan.take_checks();
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while let Some(c) = checks.next().await {
            got.push((c.meta.index, c.meta.id.clone(), c.target.describe()));
        }
        got
    });
    (got, checks.finish())
}

#[test]
fn a_plan_larger_than_the_run_holds_streams_the_same_checks_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = suite(dir.path(), 7);
    let inputs = Inputs::default();
    let held = plan::load_and_plan(std::slice::from_ref(&file), &inputs, Keep::All).unwrap();
    assert_eq!(held.len(), 28);
    assert!(!held.streams());
    let want = ids(&held);
    assert_eq!(want.iter().map(|c| c.0).collect::<Vec<_>>(), (0..28).collect::<Vec<_>>());

    let mut streamed = plan::load_and_plan(std::slice::from_ref(&file), &inputs, Keep::UpTo(5)).unwrap();
    assert_eq!(streamed.len(), 28);
    assert!(streamed.streams(), "28 checks over a hold of 5 must stream");
    assert!(streamed.checks.is_empty(), "a streaming plan holds no check once counted");
    assert_eq!(streamed.inputs, held.inputs);
    let (got, end) = drain(&mut streamed);
    end.unwrap();
    assert_eq!(got, want);

    // At the limit the plan is held and made once.
    let mut exact = plan::load_and_plan(std::slice::from_ref(&file), &inputs, Keep::UpTo(28)).unwrap();
    assert!(!exact.streams());
    assert_eq!(ids(&exact), want);
    assert_eq!(drain(&mut exact).0, want);

    // Validation counts and holds nothing.
    let counted = plan::load_and_plan(std::slice::from_ref(&file), &inputs, Keep::Count).unwrap();
    assert_eq!((counted.len(), counted.checks.len(), counted.streams()), (28, 0, false));

    // A selection streams the selected checks only, numbered as when held.
    let only = Inputs { tags: vec!["planted".into()], ..Default::default() };
    let held = plan::load_and_plan(std::slice::from_ref(&file), &only, Keep::All).unwrap();
    let mut streamed = plan::load_and_plan(std::slice::from_ref(&file), &only, Keep::UpTo(2)).unwrap();
    assert!(streamed.streams());
    let (got, end) = drain(&mut streamed);
    end.unwrap();
    assert_eq!(got, ids(&held));
    assert_eq!(got.len(), 7);
}

#[test]
fn a_file_changed_before_a_streamed_plan_is_made_again_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = suite(dir.path(), 4);
    let mut streamed = plan::load_and_plan(std::slice::from_ref(&file), &Inputs::default(), Keep::UpTo(3)).unwrap();
    assert!(streamed.streams());
    // The same number of checks, another target: only the content tells.
    let text = std::fs::read_to_string(&file).unwrap().replace("port: 1 }", "port: 9 }");
    std::fs::write(&file, text).unwrap();
    let (got, end) = drain(&mut streamed);
    let e = end.expect_err("a changed suite must not pass as the validated plan").to_string();
    assert!(e.contains("changed while netspec ran its checks"), "{e}");
    assert!(got.is_empty(), "no check of a changed file may run: {got:?}");

    // A file added to a planned directory is a change too.
    let dir2 = tempfile::tempdir().unwrap();
    suite(dir2.path(), 4);
    let mut streamed = plan::load_and_plan(&[dir2.path().to_path_buf()], &Inputs::default(), Keep::UpTo(3)).unwrap();
    write(
        dir2.path(),
        "zz-new.yaml",
        "netspec: 1\nname: new\nscenarios:\n  - name: s\n    checks:\n      - { name: x, tcp: { host: 127.0.0.1, port: 5 }, expect: { state: closed } }\n",
    );
    let (got, end) = drain(&mut streamed);
    assert!(end.is_err(), "a new suite in the directory changes the plan");
    assert_eq!(got.len(), 16, "the validated file's checks, not the new one's");
}

/// Runs `file` with the plan held or streamed, writing JSON and JUnit; returns the exit code and
/// both reports.
fn run_and_report(file: &Path, keep: Keep, out: &Path) -> (i32, serde_json::Value, String) {
    let plan = plan::load_and_plan(&[file.to_path_buf()], &Inputs::default(), keep).unwrap();
    assert_eq!(plan.streams(), matches!(keep, Keep::UpTo(n) if n < plan.len()));
    let json = out.join("r.json");
    let junit = out.join("r.xml");
    let reports = Reports {
        outputs: Outputs { json: Some(json.clone()), junit: Some(junit.clone()), ..Default::default() },
        verbose: false,
        name: "stream".into(),
        vantage: "here".into(),
        drift: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let opts = RunOptions { concurrency: 8, ..Default::default() };
    let code = rt.block_on(execute(plan, ContextOptions::default(), opts, reports)).map_or_else(|e| e.exit_code(), |d| d.exit_code());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    (code, doc, std::fs::read_to_string(junit).unwrap())
}

#[test]
fn a_streamed_run_reports_what_a_held_run_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = suite(dir.path(), 6);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (held_code, held, held_xml) = run_and_report(&file, Keep::All, a.path());
    let (code, streamed, xml) = run_and_report(&file, Keep::UpTo(4), b.path());
    assert_eq!((held_code, code), (1, 1), "the planted checks fail in both");
    let view = |d: &serde_json::Value| -> Vec<(String, String)> {
        d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_owned(), c["outcome"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(view(&streamed).len(), 24);
    assert_eq!(view(&streamed), view(&held));
    assert_eq!(streamed["totals"], held["totals"]);
    assert_eq!(streamed["totals"]["failed"], 6);
    let cases = |x: &str| x.matches("<testcase ").count();
    let failures = |x: &str| x.matches("<failure").count();
    assert_eq!((cases(&xml), failures(&xml)), (cases(&held_xml), failures(&held_xml)));
    assert_eq!((cases(&xml), failures(&xml)), (24, 6));
}

#[test]
fn a_suite_that_cannot_be_read_twice_is_held_not_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let file = suite(dir.path(), 2);
    let inputs = Inputs::default();
    assert_eq!(plan::keep_for_run(std::slice::from_ref(&file), &inputs), Keep::UpTo(plan::HELD_CHECKS));
    assert_eq!(plan::keep_for_run(&[dir.path().to_path_buf()], &inputs), Keep::UpTo(plan::HELD_CHECKS));
    // `netspec run <(generate)`: a FIFO gives its content once.
    let fifo = dir.path().join("suite.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    assert_eq!(plan::keep_for_run(std::slice::from_ref(&fifo), &inputs), Keep::All);
    let vars_fifo = Inputs { vars_files: vec![fifo], ..Default::default() };
    assert_eq!(plan::keep_for_run(&[file], &vars_fifo), Keep::All);
}

/// A run whose files write out more than `HELD_CHECKS` checks is known to stream before it is
/// planned (it then puts memory first before planning); a short file, or one that a matrix expands, is
/// not (the latter still streams, decided after planning).
#[test]
fn a_run_that_writes_out_more_checks_than_it_holds_is_known_before_planning() {
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize| format!("      - {{ name: c{i}, tcp: {{ host: 127.0.0.1, port: 1 }}, expect: {{ state: closed }} }}\n");
    let head = "netspec: 1\nname: big\nscenarios:\n  - name: s\n    checks:\n";
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    // Split over two files: the count is over the directory, not one file.
    for (f, range) in [("a.yaml", 0..9_000), ("b.yaml", 9_000..plan::HELD_CHECKS + 10)] {
        write(&big, f, &(head.to_owned() + &range.map(line).collect::<String>()));
    }
    assert!(plan::may_stream(std::slice::from_ref(&big)));
    let small = write(dir.path(), "small.yaml", &(head.to_owned() + &(0..100).map(line).collect::<String>()));
    assert!(!plan::may_stream(&[small]));
    assert!(!plan::may_stream(&[suite(dir.path(), 5_000)]), "20,000 checks from a matrix of a few lines");
    assert!(!plan::may_stream(&[dir.path().join("missing.yaml")]));
    // 9,000 dns checks write `name:` 18,000 times, but are 9,000 entries: held, not streamed.
    let dns = (0..9_000).map(|i| format!("      - {{ name: d{i}, dns: {{ name: d{i}.example }} }}\n")).collect::<String>();
    let dns = write(dir.path(), "dns.yaml", &(head.to_owned() + &dns));
    assert!(!plan::may_stream(&[dns]));
    // A FIFO among the paths (`netspec run` holds such a plan, `keep_for_run`, but the count
    // itself must not wait on it or drain it either).
    let fifo = dir.path().join("fifo.yaml");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(plan::may_stream(&[fifo, big])).unwrap());
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(true), "counted without blocking on the FIFO");
}
