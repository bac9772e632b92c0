//! The command-line contract: exit codes, located diagnostics, plan/validate on the shipped
//! suites, the schema file, and the demo's JUnit report read back.

use std::path::Path;
use std::process::Command;

use crate::common::{netspec, write};

#[test]
fn invalid_suites_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown-key.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        dns: { name: a.test }\n        expct: {}\n",
            ":8:",
            "unknown field",
        ),
        (
            "undefined-var.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        dns: { name: \"a.{{ regoin }}.test\" }\n",
            ":7:",
            "undefined variable `regoin`",
        ),
        (
            "two-kinds.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        dns: { name: a.test }\n        tcp: { host: a.test, port: 1 }\n",
            // At the second kind's key (the loader reads the kind as one value).
            ":8:",
            "exactly one of",
        ),
        (
            "wrong-expect.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        dns: { name: a.test }\n        expect: { status: 200 }\n",
            ":8:",
            "does not apply to a dns check",
        ),
        (
            "bad-cidr.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - name: c\n        dns: { name: a.test }\n        expect: { addresses: { all: [\"10.0.0.0/40\"] } }\n",
            ":8:",
            "CIDR",
        ),
        (
            "dup-check.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - { name: c, dns: { name: a.test } }\n      - { name: c, dns: { name: b.test } }\n",
            ":7:",
            "used twice",
        ),
        (
            "bad-status.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - { name: c, http: { url: \"https://a.test/\" }, expect: { status: 7xx } }\n",
            ":6:",
            "HTTP status",
        ),
        (
            "bad-type.yaml",
            "netspec: 1\nname: x\nscenarios:\n  - name: a\n    checks:\n      - { name: c, dns: { name: a.test, type: AXFR } }\n",
            ":6:",
            "AXFR",
        ),
    ];
    for (file, text, pos, msg) in cases {
        let p = write(dir.path(), file, text);
        let out = netspec(&["validate", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(&format!("{file}{pos}")), "{file}: position {pos} missing in:\n{err}");
        assert!(err.contains(msg), "{file}: `{msg}` missing in:\n{err}");
        // `run` refuses the same suite before any network activity.
        assert_eq!(netspec(&["run", p.to_str().unwrap()]).status.code(), Some(2), "{file}");
    }
}

/// A check's kind is one value of the suite model (`dns`, `tcp`, `tls`, `http` or `use` + `with`):
/// none, two, or `with` without `use` is refused while the file is read, located at the key
/// that shows it, by every command that reads suites.
#[test]
fn a_check_without_exactly_one_kind_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let head = "netspec: 1\nname: x\ntemplates:\n  t:\n    checks:\n      - { name: d, dns: { name: a.test } }\nscenarios:\n  - name: a\n    checks:\n";
    let cases = [
        (
            "no-kind.yaml",
            "      - name: c\n        expect: { state: open }\n",
            "10:15",
            "check `c`: a check needs one of `dns`, `tcp`, `tls`, `http` or `use`",
            "add one of `dns:`",
        ),
        (
            "two-kinds.yaml",
            "      - name: c\n        tls: { host: a.test }\n        http: { url: \"https://a.test/\" }\n",
            "12:9",
            "a check takes exactly one of `dns`, `tcp`, `tls`, `http` or `use`, found `tls` (line 11) and `http`",
            "split it into one check per kind",
        ),
        (
            "use-and-kind.yaml",
            "      - { name: c, dns: { name: a.test }, use: t }\n",
            "10:43",
            "found `dns` (line 10) and `use`",
            "a `use` entry takes its checks from the template",
        ),
        (
            "with-without-use.yaml",
            "      - name: c\n        dns: { name: a.test }\n        with: { x: 1 }\n",
            "12:9",
            "check `c`: `with` gives a template's parameters, but the check has no `use`",
            "add `use: TEMPLATE`",
        ),
        ("with-alone.yaml", "      - { name: c, with: { x: 1 } }\n", "10:20", "but the check has no `use`", "add `use: TEMPLATE`"),
        (
            "use-and-timeout.yaml",
            "      - name: c\n        use: t\n        timeout: 2s\n",
            "12:9",
            "check `c`: `timeout` does not apply to a `use` entry",
            "a `use` entry takes `name`, `use`, `with`, `tags` and `path`; put `timeout` in the template's checks",
        ),
    ];
    for (file, checks, pos, msg, hint) in cases {
        let p = write(dir.path(), file, &format!("{head}{checks}"));
        for cmd in ["validate", "plan", "run"] {
            let out = netspec(&[cmd, p.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {file}: {err}");
            assert!(err.contains(&format!("{file}:{pos}\n")), "{cmd} {file}: position {pos} missing in:\n{err}");
            assert!(err.contains(msg), "{cmd} {file}: `{msg}` missing in:\n{err}");
            assert!(err.contains(&format!("= hint: {hint}")), "{cmd} {file}: hint `{hint}` missing in:\n{err}");
        }
    }
    // The same entries, each with exactly one kind, are valid: `use` + `with` + `tags` + `path`.
    let ok = write(
        dir.path(),
        "ok.yaml",
        &format!(
            "{head}      - {{ name: c, dns: {{ name: a.test }} }}\n      - {{ name: u, use: t, with: {{}}, tags: [x], path: false }}\n"
        ),
    );
    let out = netspec(&["validate", ok.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn shipped_suites_validate_and_plan() {
    let out = netspec(&["validate", "suites", "examples"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 9 suite(s)"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = netspec(&["plan", "suites/arc-sql.yaml", "--matrix", "region=eastus,westeurope", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 14);
    assert_eq!(ids[0], "azure-arc-sql/arc-sql eastus/DPS name resolves to public addresses");
    assert!(ids.contains(&"azure-arc-sql/arc-sql westeurope/telemetry demands authentication (401)"));
    // The node matrix comes from a list variable; --var replaces it with a comma list.
    let out = netspec(&["plan", "suites/adf-shir.yaml", "--var", "nodes=n1.corp,n2.corp,n3.corp", "--tag", "nodes", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 6, "{rows}");
}

#[test]
fn unwritable_report_path_fails_before_the_run() {
    let out = netspec(&["run", "suites/arc-sql.yaml", "--junit", "/nonexistent-netspec-dir/out.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the report"));
}

#[test]
fn schema_file_is_current() {
    let out = netspec(&["schema"]);
    let fresh = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/netspec.schema.json");
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(stored.trim() == fresh.trim(), "schemas/netspec.schema.json is stale: run `cargo run -- schema > schemas/netspec.schema.json`");
    let v: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert!(v["properties"]["scenarios"].is_object());
}

#[test]
fn demo_explains_failures_and_its_junit_parses() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("demo.xml");
    let json = dir.path().join("demo.json");
    let out = netspec(&["demo", "--junit", junit.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the demo plants failures:\n{stdout}");
    assert!(stdout.contains("observed 10.2.4.12:8060 filtered"), "{stdout}");
    assert!(stdout.contains("hint: "), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit parses");
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    assert!(suites.iter().any(|s| s.attribute("name") == Some("arc-sql eastus")));
    let case = |suite: &str, name: &str| {
        doc.descendants()
            .find(|n| {
                n.has_tag_name("testcase")
                    && n.attribute("name") == Some(name)
                    && n.parent().and_then(|p| p.attribute("name")) == Some(suite)
            })
            .unwrap_or_else(|| panic!("no testcase {suite} / {name}"))
    };
    let failure = |suite: &str, name: &str| {
        case(suite, name).children().find(|c| c.has_tag_name("failure")).and_then(|f| f.attribute("message")).map(str::to_owned)
    };
    assert_eq!(failure("arc-sql eastus", "DPS answers 200 on its unauthenticated route"), None);
    assert_eq!(
        case("arc-sql eastus", "DPS answers 200 on its unauthenticated route").attribute("classname"),
        Some("azure-arc-sql.arc-sql eastus")
    );
    let m = failure("arc-sql westeurope", "telemetry demands authentication (401)").expect("telemetry 200 fails");
    assert!(m.contains("expected 401, observed 200"), "{m}");
    let m = failure("arc-sql southeastasia", "DPS port 443 is open").expect("dropped 443 fails");
    assert!(m.contains("filtered"), "{m}");
    let m = failure("arc-sql uksouth", "DPS port 443 is open").expect("reset 443 fails");
    assert!(m.contains("closed"), "{m}");
    let m = failure("arc-sql japaneast", "DPS name resolves to public addresses").expect("NXDOMAIN fails");
    assert!(m.contains("NXDOMAIN"), "{m}");
    let m = failure("arc-sql australiaeast", "DPS certificate is trusted with TLS 1.2 or newer").expect("untrusted fails");
    assert!(m.contains("untrusted"), "{m}");
    let m = failure("private endpoints", "storage blob resolves privately via privatelink").expect("leak fails");
    assert!(m.contains("20.60.1.10"), "{m}");
    let m = failure("service via proxy", "service answers over HTTPS through the proxy").expect("407 fails");
    assert!(m.contains("the proxy answered CONNECT with 407"), "{m}");
    assert!(m.contains("http.proxy_auth_required"), "{m}");
    assert!(xml.contains(r#"<property name="vantage" value="demo"/>"#), "vantage recorded");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["vantage"], "demo");
    assert_eq!(report["totals"]["failed"].as_u64().unwrap() as usize, doc.descendants().filter(|n| n.has_tag_name("failure")).count());
}

#[test]
fn ctrl_c_writes_reports_for_finished_checks_and_exits_130() {
    stop_run_with("-INT", 130);
}

#[test]
fn sigterm_writes_reports_for_finished_checks_and_exits_143() {
    stop_run_with("-TERM", 143);
}

fn stop_run_with(signal: &str, exit_code: i32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (open, filtered) = rt
        .block_on(async { (netspec::loopback::OpenPort::start().await.unwrap(), netspec::loopback::FilteredPort::start().await.unwrap()) });
    let dir = tempfile::tempdir().unwrap();
    let suite = write(
        dir.path(),
        "s.yaml",
        &format!(
            "netspec: 1\nname: sig\ndefaults: {{ timeout: 30s }}\nscenarios:\n  - name: s\n    checks:\n      - {{ name: quick, tcp: {{ host: 127.0.0.1, port: {} }} }}\n      - {{ name: slow, tcp: {{ host: 127.0.0.1, port: {} }} }}\n",
            open.addr().port(),
            filtered.addr().port()
        ),
    );
    let junit = dir.path().join("out.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["run", suite.to_str().unwrap(), "--junit", junit.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the quick check can have finished, then interrupt.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let kill = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "netspec did not stop after {signal}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(exit_code));
    let xml = std::fs::read_to_string(&junit).expect("report written after the signal");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = |n: &str| doc.descendants().find(|c| c.has_tag_name("testcase") && c.attribute("name") == Some(n)).unwrap();
    assert!(case("quick").children().all(|c| !c.has_tag_name("failure") && !c.has_tag_name("skipped")), "quick passed");
    assert!(case("slow").children().any(|c| c.has_tag_name("skipped")), "slow is marked cancelled");
}

#[test]
fn a_check_that_cannot_be_evaluated_is_a_junit_error() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write(
        dir.path(),
        "e.yaml",
        "netspec: 1\nname: err\nscenarios:\n  - name: s\n    checks:\n      - { name: missing ca, http: { url: \"https://127.0.0.1:9/\", ca_file: no-such-ca.pem } }\n",
    );
    let junit = dir.path().join("out.xml");
    let out = netspec(&["run", suite.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let err = doc.descendants().find(|n| n.has_tag_name("error")).expect("an <error> element");
    assert_eq!(err.attribute("type"), Some("tls.ca_file"));
    assert!(doc.descendants().all(|n| !n.has_tag_name("failure")));
}

#[test]
fn header_and_url_credentials_never_reach_a_report() {
    let port = netspec::loopback::closed_port().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let suite = write(
        dir.path(),
        "s.yaml",
        &format!(
            "netspec: 1\nname: creds\nscenarios:\n  - name: s\n    checks:\n      - {{ name: api, http: {{ url: \"http://svc:url-secret-pw@127.0.0.1:{port}/\", headers: {{ Authorization: \"Bearer sekrit-token-123\" }} }} }}\n"
        ),
    );
    let (junit, json, html) = (dir.path().join("r.xml"), dir.path().join("r.json"), dir.path().join("r.html"));
    let out = netspec(&[
        "run",
        suite.to_str().unwrap(),
        "-v",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the closed port fails the check");
    let mut texts = vec![String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()];
    for f in [&junit, &json, &html] {
        texts.push(std::fs::read_to_string(f).unwrap());
    }
    for t in &texts {
        assert!(!t.contains("sekrit-token-123") && !t.contains("url-secret-pw"), "a credential leaked:\n{t}");
    }
    assert!(texts[2].contains("***"), "the JUnit shows the redaction");
}

#[test]
fn a_reader_that_has_gone_is_not_a_panic() {
    // `netspec schema | head -1`: the reader closes the pipe. The write fails with EPIPE;
    // netspec must neither panic nor change its exit code.
    for args in [&["schema"][..], &["plan", "suites/", "--format", "json"][..], &["validate", "suites/"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_netspec"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "netspec {args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "netspec {args:?}: {err}");
    }
}
