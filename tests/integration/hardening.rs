//! Hardening beyond the fault lab: checks that run with TLS verification off are flagged in
//! every report.

use std::process::Command;

use netspec::loopback::{Ca, HttpServer, Reply, Validity};

use crate::common::write;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_checks_are_flagged_in_the_summary_and_every_report() {
    // A server whose certificate no trust store knows: only `insecure: true` gets a 200 from it.
    let ca = Ca::new("nobody trusts me").unwrap();
    let srv = HttpServer::start(Some(ca.issue(&["svc.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://{}/", srv.addr());
    let suite = write(
        dir.path(),
        "t.yaml",
        &format!(
            "netspec: 1\nname: t\ndefaults: {{ timeout: 3s }}\nscenarios:\n  - name: s\n    checks:\n      - {{ name: unverified, http: {{ url: \"{url}\", insecure: true }}, expect: {{ status: 200 }} }}\n      - {{ name: verified, http: {{ url: \"{url}\" }}, expect: {{ status: 200 }} }}\n"
        ),
    );
    let (json, junit, html) = (dir.path().join("r.json"), dir.path().join("r.xml"), dir.path().join("r.html"));
    let args: Vec<String> = vec![
        "run".into(),
        suite.display().to_string(),
        "--json".into(),
        json.display().to_string(),
        "--junit".into(),
        junit.display().to_string(),
        "--html".into(),
        html.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_netspec")).args(&args).env_remove("CI").output().expect("netspec runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the verified check fails: {stdout}");
    assert!(stdout.contains("TLS verification off (insecure: true) in 1 check(s): t/s/unverified\n"), "{stdout}");

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let checks = doc["checks"].as_array().unwrap();
    let by = |n: &str| checks.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by("unverified")["outcome"], "passed");
    assert_eq!(by("unverified")["insecure"], true);
    assert_eq!(by("verified")["reason_code"], "tls.untrusted");
    assert!(by("verified").get("insecure").is_none(), "only insecure checks carry the flag");

    let xml = std::fs::read_to_string(&junit).unwrap();
    let tree = roxmltree::Document::parse(&xml).unwrap();
    let insecure_cases: Vec<&str> = tree
        .descendants()
        .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("insecure") && n.attribute("value") == Some("true"))
        .filter_map(|p| p.ancestors().find(|a| a.has_tag_name("testcase")).and_then(|t| t.attribute("name")))
        .collect();
    assert_eq!(insecure_cases, ["unverified"], "{xml}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<small>insecure</small>"), "the matrix cell says so");
    assert!(page.contains("TLS verification off (insecure: true)"));
}
