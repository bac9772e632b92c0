//! Reports from one run: JSON, JUnit, HTML and Prometheus files and the CI annotations agree on
//! every check; the HTML page renders and filters in headless Chromium; colour follows
//! NO_COLOR / CLICOLOR_FORCE; the result schemas are current and the JSON validates against
//! its schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

/// The netspec binary with CI-detection variables removed (tests set what they need).
pub(crate) fn netspec() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netspec"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("TF_BUILD")
        .env_remove("NETSPEC_VANTAGE")
        .env_remove("CLICOLOR_FORCE");
    c
}

/// An external tool from PATH. Missing: a skip (with a message) on a developer machine, a
/// failure under CI (`.ci/run` installs it).
pub(crate) fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{name} is required when CI is set: {install}");
        eprintln!("SKIPPED: {name} is not installed ({install}); set CI=true to make this a failure");
    }
    found
}

/// Runs a command with a deadline (stdout to a file, so a large output cannot block it).
pub(crate) fn run_with_deadline(mut cmd: Command, stdout: &Path, limit: Duration) -> std::process::ExitStatus {
    let file = std::fs::File::create(stdout).unwrap();
    let mut child = cmd.stdout(Stdio::from(file)).stderr(Stdio::null()).spawn().expect("command starts");
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Undoes HTML escaping as minijinja and Chromium write it.
pub(crate) fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The matrix cells of an HTML report: check id (plus vantage, if any) → (outcome, reason code,
/// cell text).
pub(crate) fn html_cells(html: &str) -> BTreeMap<String, (String, Option<String>, String)> {
    let re = Regex::new(
        r#"<td class="cell ([a-z]+)" data-id="([^"]*)" data-outcome="([a-z]+)"(?: data-vantage="([^"]*)")?(?: data-reason="([^"]*)")?[^>]*>(.*?)</td>"#,
    )
    .unwrap();
    let tags = Regex::new(r"<[^>]+>").unwrap();
    let mut out = BTreeMap::new();
    for c in re.captures_iter(html) {
        assert_eq!(&c[1], &c[3], "a cell's class is its outcome");
        let mut key = html_unescape(&c[2]);
        if let Some(v) = c.get(4) {
            key = format!("{key} @ {}", html_unescape(v.as_str()));
        }
        let text = tags.replace_all(&c[6], " ").split_whitespace().next().unwrap_or("").to_owned();
        let prev = out.insert(key.clone(), (c[3].to_owned(), c.get(5).map(|r| html_unescape(r.as_str())), text));
        assert!(prev.is_none(), "cell {key} appears twice");
    }
    out
}

fn json_checks(path: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                (c["outcome"].as_str().unwrap().to_owned(), c["reason_code"].as_str().map(str::to_owned)),
            )
        })
        .collect()
}

fn prom_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `metric name` → check id → (value, reason label).
fn prom_series(text: &str) -> BTreeMap<String, BTreeMap<String, (f64, Option<String>)>> {
    let line = Regex::new(r"^(netspec_[a-z_]+)\{(.*)\} (\S+)$").unwrap();
    let label = Regex::new(r#"(\w+)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, (f64, Option<String>)>> = BTreeMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let c = line.captures(l).unwrap_or_else(|| panic!("not a sample line: {l}"));
        let labels: BTreeMap<String, String> = label.captures_iter(&c[2]).map(|m| (m[1].to_owned(), prom_unescape(&m[2]))).collect();
        let value: f64 = c[3].parse().unwrap();
        if let Some(id) = labels.get("id") {
            out.entry(c[1].to_owned()).or_default().insert(id.clone(), (value, labels.get("reason").cloned()));
        }
    }
    out
}

#[test]
fn one_run_writes_reports_that_agree_on_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let out = netspec()
        .args(["demo", "--github", "--azure-pipelines"])
        .args(["--json", p("r.json").to_str().unwrap(), "--junit", p("r.xml").to_str().unwrap()])
        .args(["--html", p("r.html").to_str().unwrap(), "--prometheus", p("r.prom").to_str().unwrap()])
        .env("GITHUB_STEP_SUMMARY", p("summary.md"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colour when stdout is not a terminal");

    let json = json_checks(&p("r.json"));
    assert!(json.len() > 50, "{}", json.len());
    let bad: Vec<&String> = json.iter().filter(|(_, (o, _))| o != "passed").map(|(id, _)| id).collect();
    assert!(!bad.is_empty() && bad.len() < json.len(), "the demo has passes and failures");

    // JUnit: property id → outcome and failure type.
    let xml = std::fs::read_to_string(p("r.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let mut junit = BTreeMap::new();
    for tc in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let id =
            tc.descendants().find(|n| n.has_tag_name("property") && n.attribute("name") == Some("id")).unwrap().attribute("value").unwrap();
        let child = tc.children().find(|c| ["failure", "error", "skipped"].iter().any(|t| c.has_tag_name(*t)));
        let outcome = match child.map(|c| c.tag_name().name()) {
            None => "passed",
            Some("failure") => "failed",
            Some("error") => "error",
            _ => "cancelled",
        };
        junit.insert(id.to_owned(), (outcome.to_owned(), child.and_then(|c| c.attribute("type")).map(str::to_owned)));
    }

    let html = html_cells(&std::fs::read_to_string(p("r.html")).unwrap());
    let prom = prom_series(&std::fs::read_to_string(p("r.prom")).unwrap());
    let success = &prom["netspec_check_success"];
    let reasons = &prom["netspec_check_failure_reason"];

    let ids: Vec<&String> = json.keys().collect();
    assert_eq!(junit.keys().collect::<Vec<_>>(), ids, "JUnit has the same checks");
    assert_eq!(html.keys().collect::<Vec<_>>(), ids, "HTML has the same checks");
    assert_eq!(success.keys().collect::<Vec<_>>(), ids, "Prometheus has the same checks");
    assert_eq!(prom["netspec_check_duration_seconds"].len(), ids.len());
    for (id, (outcome, code)) in &json {
        let expected_type = code.clone().unwrap_or_else(|| "assertion".into());
        assert_eq!(&junit[id].0, outcome, "{id}: JUnit outcome");
        assert_eq!(&html[id].0, outcome, "{id}: HTML outcome");
        let mark = match outcome.as_str() {
            "passed" => "PASS",
            "failed" => "FAIL",
            "error" => "ERROR",
            _ => "CANCEL",
        };
        assert_eq!(html[id].2, mark, "{id}: HTML cell text");
        assert_eq!(success[id].0, if outcome == "passed" { 1.0 } else { 0.0 }, "{id}: Prometheus success");
        if outcome == "passed" {
            assert!(!reasons.contains_key(id), "{id}: a passing check has no failure reason series");
        } else {
            assert_eq!(junit[id].1.as_ref(), Some(&expected_type), "{id}: JUnit failure type");
            assert_eq!(reasons[id].1.as_ref(), Some(&expected_type), "{id}: Prometheus reason");
            assert_eq!(html[id].1, *code, "{id}: HTML reason code");
        }
    }

    // CI annotations: one per check that did not pass, and the step summary lists them.
    let gh: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    let az: Vec<&str> = stdout.lines().filter(|l| l.starts_with("##vso[task.logissue type=error")).collect();
    assert_eq!(gh.len(), bad.len(), "{stdout}");
    assert_eq!(az.len(), bad.len(), "{stdout}");
    assert!(gh.iter().any(|l| l.contains("title=FAIL azure-arc-sql/arc-sql southeastasia/DPS port 443 is open::")), "{stdout}");
    // Each points at the check's definition.
    assert!(gh.iter().all(|l| l.starts_with("::error file=") && l.contains(".yaml,line=")), "{stdout}");
    assert!(az.iter().any(|l| l.contains("code=tcp.filtered]FAIL azure-arc-sql/arc-sql southeastasia/DPS port 443 is open")), "{stdout}");
    let md = std::fs::read_to_string(p("summary.md")).unwrap();
    assert!(md.starts_with("### netspec: netspec-demo (demo)"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("| FAIL ") || l.starts_with("| ERROR ")).count(), bad.len(), "{md}");

    // The JSON has the run metadata and validates against the committed schema.
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p("r.json")).unwrap()).unwrap();
    assert_eq!(v["report"], "run");
    assert_eq!(v["vantage"], "demo");
    assert!(humantime::parse_rfc3339(v["started"].as_str().unwrap()).is_ok(), "{}", v["started"]);
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(v["vars"]["azure-arc-sql"]["cloud_suffix"], "arcdataservices.com");
    if let Some(cj) = tool("check-jsonschema", "pip install check-jsonschema") {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/results.schema.json");
        let o = Command::new(cj).arg("--schemafile").arg(&schema).arg(p("r.json")).output().unwrap();
        assert!(o.status.success(), "the JSON does not match its schema:\n{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn html_report_renders_and_filters_in_headless_chromium() {
    let Some(chromium) = tool("chromium", "apt-get install chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let json = dir.path().join("r.json");
    let out = netspec().args(["demo", "--html", page.to_str().unwrap(), "--json", json.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let expected = json_checks(&json);
    let browse = |extra: &[String], url: &str, stdout: &Path| {
        let mut cmd = Command::new(&chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .args(extra)
        .arg(url);
        let status = run_with_deadline(cmd, stdout, Duration::from_secs(90));
        assert!(status.success(), "chromium failed: {status}");
    };
    let url = format!("file://{}", page.display());

    // The rendered DOM: the script ran, every matrix cell has the outcome's class and mark.
    let dom_path = dir.path().join("dom.html");
    browse(&["--dump-dom".into()], &url, &dom_path);
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    assert!(dom.contains("data-ready=\"1\""), "the page's script did not run:\n{}", &dom[..dom.len().min(2000)]);
    let cells = html_cells(&dom);
    assert_eq!(cells.len(), expected.len(), "one cell per check");
    for (id, (outcome, _)) in &expected {
        let (o, _, text) = &cells[id];
        assert_eq!(o, outcome, "{id}");
        assert_eq!(
            text.as_str(),
            match outcome.as_str() {
                "passed" => "PASS",
                "failed" => "FAIL",
                "error" => "ERROR",
                _ => "CANCEL",
            }
        );
    }
    let sea = "azure-arc-sql/arc-sql southeastasia/DPS port 443 is open";
    assert_eq!(cells[sea].1.as_deref(), Some("tcp.filtered"));

    // The filter (from the URL): only the southeastasia row of the matrices stays visible.
    browse(&["--dump-dom".into()], &format!("{url}?filter=southeastasia&failed=1"), &dom_path);
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    let row = Regex::new(r#"<tr class="[^"]*" data-search="[^"]*" data-bad="[01]"( hidden="")?>\s*<th class="row">([^<]*)</th>"#).unwrap();
    let rows: Vec<(bool, String)> = row.captures_iter(&dom).map(|c| (c.get(1).is_some(), c[2].to_owned())).collect();
    assert!(rows.len() > 10, "{} rows", rows.len());
    let visible: Vec<&str> = rows.iter().filter(|(hidden, _)| !hidden).map(|(_, l)| l.as_str()).collect();
    assert_eq!(visible, vec!["arc-sql southeastasia"]);
    assert!(dom.contains("<span id=\"shown\">1</span>"), "the counter follows the filter");
    // So does the failure count: the three southeastasia failures.
    assert!(dom.contains("<span id=\"failures-shown\">3</span>"), "the failure count follows the filter");

    // A screenshot for people (kept where NETSPEC_SCREENSHOT says, if set).
    let shot = dir.path().join("report.png");
    browse(&[format!("--screenshot={}", shot.display()), "--window-size=1400,1600".into()], &url, &dir.path().join("shot.log"));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000, "{} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
    if let Some(keep) = std::env::var_os("NETSPEC_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

fn run_closed_port_suite(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let closed = netspec::loopback::closed_port().unwrap();
    let suite = dir.join("c.yaml");
    std::fs::write(
        &suite,
        format!(
            "netspec: 1\nname: colour\nscenarios:\n  - name: s\n    checks:\n      - {{ name: closed, tcp: {{ host: 127.0.0.1, port: {} }} }}\n",
            closed.port()
        ),
    )
    .unwrap();
    let mut c = netspec();
    c.arg("run").arg(&suite).args(extra).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn colour_only_where_allowed_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let forced = run_closed_port_suite(dir.path(), &[("CLICOLOR_FORCE", "1")], &[]);
    assert_eq!(forced.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("\x1b["), "CLICOLOR_FORCE colours even a pipe");
    let no_color = run_closed_port_suite(dir.path(), &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &[]);
    let text = String::from_utf8_lossy(&no_color.stdout);
    assert!(!text.contains('\x1b') && text.contains("FAIL colour/s/closed"), "NO_COLOR wins:\n{text}");
    let piped = run_closed_port_suite(dir.path(), &[], &["--exit-zero"]);
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'), "no colour into a pipe");
    assert_eq!(piped.status.code(), Some(0), "--exit-zero");
}

#[test]
fn result_schemas_are_current() {
    for (flag, file) in
        [("--results", "schemas/results.schema.json"), ("--merged", "schemas/merged.schema.json"), ("--diff", "schemas/diff.schema.json")]
    {
        let out = netspec().args(["schema", flag]).output().unwrap();
        assert!(out.status.success());
        let fresh = String::from_utf8(out.stdout).unwrap();
        let stored = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap_or_default();
        assert!(stored.trim() == fresh.trim(), "{file} is stale: run `cargo run -- schema {flag} > {file}`");
    }
}
