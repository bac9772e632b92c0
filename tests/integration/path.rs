//! Path diagnosis end to end (docs/path-diagnosis.md), in the routed lab of
//! `tests/lab/path-up.sh`: client -> router 1 -> router 2 (the firewall) -> server, each in its
//! own network namespace, nothing attached to the host. netspec runs in the client namespace
//! and its JSON report is read back: every failure must name the right hop, address and code.
//!
//! Needs root, iproute2, nftables and nginx; without them the tests print why and pass as
//! skipped, unless `CI` is set: then they fail. Each test builds its own lab (`np<pid>x<n>`) and
//! tears it down, also when it panics.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netspec");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
static N: AtomicUsize = AtomicUsize::new(0);

/// A generous sanity bound on one run (2 s timeouts; one timeout plus the trace is expected).
const SANITY: Duration = Duration::from_secs(30);

struct Lab {
    name: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(lab_dir().join("path-down.sh")).arg(&self.name).status();
    }
}

fn lab_dir() -> PathBuf {
    Path::new(ROOT).join("tests/lab")
}

/// A fresh lab, or `None` (after saying why) when this machine cannot host one and `CI` is unset.
fn lab() -> Option<Lab> {
    let name = format!("np{}x{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let out = Command::new("bash").arg(lab_dir().join("path-up.sh")).arg(&name).output().expect("run tests/lab/path-up.sh");
    let lab = Lab { name };
    match out.status.code() {
        Some(0) => Some(lab),
        Some(3) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping path lab test (set CI to make this a failure): {}", String::from_utf8_lossy(&out.stderr).trim());
            None
        }
        _ => panic!(
            "tests/lab/path-up.sh {} failed ({}):\n{}{}",
            lab.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

struct Run {
    json: Value,
    html: String,
    junit: String,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// `netspec run SUITE ARGS --json ...` in the lab's client namespace, with `prefix` before the
/// binary (e.g. setpriv dropping CAP_NET_RAW).
fn run(lab: &Lab, prefix: &[&str], suite: &Path, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let html = dir.path().join("report.html");
    let junit = dir.path().join("junit.xml");
    let started = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{}-pc", lab.name)])
        .args(prefix)
        .arg(BIN)
        .arg("run")
        .arg(suite)
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run netspec");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(matches!(out.status.code(), Some(0 | 1)), "netspec exited {:?}:\n{stdout}\n{stderr}", out.status.code());
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stdout}\n{stderr}"));
    let html = std::fs::read_to_string(&html).unwrap_or_default();
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    Run { json: serde_json::from_str(&text).unwrap(), html, junit, stdout, stderr, elapsed }
}

fn check<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.json["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check `{name}`:\n{}", r.stdout))
}

fn suite() -> PathBuf {
    lab_dir().join("path.yaml")
}

/// Each case's reason code and trace: the hop, the address and the code; the open port passes.
fn assert_verdicts(r: &Run, v6: bool) {
    let (r1, r2, server) = if v6 { ("fd16:1::1", "fd16:2::2", "fd16:3::2") } else { ("10.16.1.1", "10.16.2.2", "10.16.3.2") };
    let ctx = || format!("{}\n{}", r.stdout, r.stderr);

    let open = check(r, "open port");
    assert_eq!(open["outcome"], "passed", "{}", ctx());

    let dropped = check(r, "dropped port");
    assert_eq!(dropped["outcome"], "failed");
    assert_eq!(dropped["reason_code"], "path.dropped_after_hop", "{}", ctx());
    let p = &dropped["path"];
    assert_eq!(p["method"], "tcp_syn");
    assert_eq!(p["verdict"]["kind"], "dropped_after_hop");
    assert_eq!(p["verdict"]["hop"], 2);
    assert_eq!(p["verdict"]["address"], r2);
    assert_eq!(p["hops"][0]["address"], r1);
    assert_eq!(p["summary"], format!("the SYN dies after hop 2 ({r2})"));

    let reset = check(r, "reset port");
    assert_eq!(reset["reason_code"], "tcp.reset_by_middlebox", "{}", ctx());
    let p = &reset["path"];
    assert_eq!(p["verdict"]["kind"], "reset_by_middlebox");
    assert_eq!(p["verdict"]["hop"], 2);
    assert_eq!(p["verdict"]["address"], r2);
    assert_eq!(p["answer"]["kind"], "reset");
    assert_eq!(p["answer"]["from"], server, "the middlebox resets in the server's name");
    assert_eq!(p["answer"]["reply_ttl"], 63);
    assert!(p["summary"].as_str().unwrap().contains(&format!("a middlebox at hop 2 ({r2}) reset it")), "{p}");

    let prohibited = check(r, "prohibited port");
    assert_eq!(prohibited["reason_code"], "tcp.prohibited", "{}", ctx());
    let p = &prohibited["path"];
    assert_eq!(p["verdict"]["kind"], "unreachable");
    assert_eq!(p["verdict"]["meaning"], "admin_prohibited");
    assert_eq!(p["verdict"]["address"], r2);
    assert_eq!(p["verdict"]["hop"], 2);
    assert_eq!(p["verdict"]["code"], if v6 { 1 } else { 13 });

    let closed = check(r, "closed port");
    assert_eq!(closed["reason_code"], "tcp.closed", "{}", ctx());
    assert_eq!(closed["path"]["verdict"], serde_json::json!({ "kind": "reset_by_server", "hops": 3 }));

    // The console carries the same sentence; the HTML report draws the trace, the hop that
    // dropped the SYN marked.
    assert!(r.stdout.contains(&format!("the SYN dies after hop 2 ({r2})")), "{}", ctx());
    assert!(r.junit.contains(&format!("path: the SYN dies after hop 2 ({r2})")), "{}", r.junit);
    assert!(r.junit.contains("type=\"tcp.reset_by_middlebox\""), "{}", r.junit);
    assert!(r.html.contains(&format!("<li class=\"culprit\"><b>hop 2</b><code>{r2}</code>")), "{}", r.html);
    assert!(r.elapsed < SANITY, "took {:?}", r.elapsed);
}

#[test]
fn lab_path_names_the_hop_and_the_code_ipv4() {
    let Some(lab) = lab() else { return };
    let r = run(&lab, &[], &suite(), &[]);
    assert_verdicts(&r, false);
    // auto: a passing check is not traced
    assert!(check(&r, "open port").get("path").is_none());
}

#[test]
fn lab_path_names_the_hop_and_the_code_ipv6_and_always_traces_the_open_port() {
    let Some(lab) = lab() else { return };
    let r = run(&lab, &[], &suite(), &["--var", "server=fd16:3::2", "--path", "always"]);
    assert_verdicts(&r, true);
    let p = &check(&r, "open port")["path"];
    assert_eq!(p["verdict"], serde_json::json!({ "kind": "reached", "hops": 3 }), "{p}");
    assert_eq!(p["answer"]["kind"], "syn_ack");
    // off: nothing is traced
    let r = run(&lab, &[], &suite(), &["--var", "server=fd16:3::2", "--path", "off"]);
    assert_eq!(check(&r, "dropped port")["reason_code"], "tcp.filtered");
    assert!(check(&r, "dropped port").get("path").is_none());
}

#[test]
fn lab_path_without_cap_net_raw_falls_back_and_never_errors() {
    let Some(lab) = lab() else { return };
    let drop_raw = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"];
    let r = run(&lab, &drop_raw, &suite(), &[]);
    let ctx = format!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(check(&r, "open port")["outcome"], "passed", "{ctx}");
    for name in ["dropped port", "reset port", "prohibited port", "closed port"] {
        let c = check(&r, name);
        assert_eq!(c["outcome"], "failed", "{name}: never an error verdict\n{ctx}");
        let p = &c["path"];
        match p["method"].as_str() {
            // UDP probes show the hops, not the TCP verdict: the probe's own reason stays.
            Some("udp") => {
                assert_eq!(p["hops"][0]["address"], "10.16.1.1", "{name}: {p}");
                assert_eq!(p["verdict"]["kind"], "hops_only", "{name}: {p}");
                assert!(c["reason_code"] != "path.dropped_after_hop" && c["reason_code"] != "tcp.reset_by_middlebox", "{name}: {c}");
            }
            Some("unavailable") => assert_eq!(p["verdict"]["kind"], "not_traced"),
            other => panic!("{name}: method {other:?} without CAP_NET_RAW\n{ctx}"),
        }
    }
    // Said once per run.
    assert_eq!(r.stderr.matches("note: path").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("CAP_NET_RAW"), "{}", r.stderr);
}

#[test]
fn lab_path_traces_26_destinations_behind_one_blackhole_once() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("blackhole.yaml");
    std::fs::write(
        &suite,
        "netspec: 1\nname: blackhole\nmatrix:\n  region: [r01, r02, r03, r04, r05, r06, r07, r08, r09, r10, r11, r12, r13, r14, r15, r16, r17, r18, r19, r20, r21, r22, r23, r24, r25, r26]\ndefaults:\n  timeout: 2s\nscenarios:\n  - name: \"{{ region }}\"\n    checks:\n      - name: service port\n        tcp: { host: 10.16.3.2, port: 8001 }\n  - name: untraced\n    path: false\n    checks:\n      - name: service port\n        tcp: { host: 10.16.3.2, port: 8001 }\n",
    )
    .unwrap();
    let r = run(&lab, &[], &suite, &[]);
    let checks = r.json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 27, "{}", r.stdout);
    let traced: Vec<&Value> = checks.iter().filter(|c| c["scenario"] != "untraced").collect();
    let mut traces: Vec<u64> = traced.iter().map(|c| c["path"]["trace"].as_u64().unwrap_or_else(|| panic!("untraced: {c}"))).collect();
    traces.dedup();
    assert_eq!(traces, vec![1], "26 checks, one destination: one trace");
    for c in &traced {
        assert_eq!(c["reason_code"], "path.dropped_after_hop");
        assert_eq!(c["path"]["verdict"]["address"], "10.16.2.2");
    }
    // The trace of a dropped SYN started while the connection was pending (half the timeout)
    // and ended with the attempt: the check took one timeout, not a timeout and then a trace.
    for c in &traced {
        let (total, attempt, trace) = (
            c["elapsed"].as_f64().unwrap(),
            c["attempts"][0]["observation"]["elapsed"].as_f64().unwrap(),
            c["path"]["elapsed"].as_f64().unwrap(),
        );
        assert!(total < attempt + trace / 2.0, "the trace followed the attempt instead of overlapping it: {c}");
    }
    let untraced = checks.iter().find(|c| c["scenario"] == "untraced").unwrap();
    assert!(untraced.get("path").is_none(), "path: false: {untraced}");
    assert_eq!(untraced["reason_code"], "tcp.filtered");
    assert!(r.elapsed < SANITY, "took {:?}", r.elapsed);
    eprintln!("26 blackholed destinations, --timeout 2s: {:.2?}", r.elapsed);
}
