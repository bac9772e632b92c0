//! Issue 15, "The first hour": what a new user hits when writing a suite from the docs alone —
//! selections that select nothing, suites that compose, `import hosts`, report consumers,
//! readable output at many failures, docs that stand alone.

use std::path::Path;

use crate::common::{netspec, write};

/// A suite with a region matrix, tags, and two scenarios (no network is used: validate/plan).
const REGIONS: &str = "netspec: 1
name: lab
matrix:
  region: [uksouth, francecentral]
scenarios:
  - name: \"arc-sql {{ region }}\"
    tags: [arc]
    checks:
      - { name: dns, dns: { name: \"sql.{{ region }}.test\" }, tags: [dns] }
  - name: arc-servers
    checks:
      - { name: tcp, tcp: { host: a.test, port: 443 } }
";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn suite(dir: &Path) -> String {
    write(dir, "lab.yaml", REGIONS).to_str().unwrap().to_owned()
}

#[test]
fn a_selection_that_selects_nothing_exits_2_listing_what_there_is() {
    let dir = tempfile::tempdir().unwrap();
    let p = suite(dir.path());
    for cmd in ["validate", "plan", "run"] {
        let o = netspec(&[cmd, &p, "--tag", "dsn"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {e}");
        assert!(e.contains("--tag dsn matches no check") && e.contains("did you mean `dns`") && e.contains("arc, dns"), "{cmd}: {e}");
    }
    let o = netspec(&["plan", &p, "--scenario", "nope"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--scenario nope matches no scenario") && e.contains("arc-sql uksouth, arc-sql francecentral, arc-servers"), "{e}");
    let o = netspec(&["plan", &p, "--check", "lab/arc-servers/nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--check lab/arc-servers/nope matches no check"), "{}", stderr(&o));
    // Each value matches something, the combination nothing.
    let o = netspec(&["plan", &p, "--scenario", "arc-servers", "--tag", "dns"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("matches no check"), "{}", stderr(&o));
}

#[test]
fn a_scenario_without_glob_characters_matches_exactly_or_as_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let p = suite(dir.path());
    let o = netspec(&["plan", &p, "--scenario", "arc-sql", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let scen: Vec<&str> = rows.iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(scen, ["arc-sql uksouth", "arc-sql francecentral"]);
    let o = netspec(&["plan", &p, "--scenario", "arc-servers", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", stdout(&o));
    // A glob still works as a glob.
    let o = netspec(&["plan", &p, "--scenario", "*uksouth", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", stdout(&o));
}

#[test]
fn an_unknown_matrix_axis_exits_2_with_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let p = suite(dir.path());
    let o = netspec(&["plan", &p, "--matrix", "regoin=uksouth"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("no suite has a matrix axis `regoin`") && e.contains("did you mean `region`"), "{e}");
    let o = netspec(&["plan", &p, "--matrix", "region=uksouth", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 2);
}

#[test]
fn an_exact_scenario_name_wins_over_the_names_it_is_a_prefix_of() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: s\nscenarios:\n  - name: tls inspection\n    checks: [{ name: a, tcp: { host: a.test, port: 1 } }]\n  - name: tls inspection over https\n    checks: [{ name: b, tcp: { host: a.test, port: 1 } }]\n",
    );
    let o = netspec(&["plan", p.to_str().unwrap(), "--scenario", "tls inspection", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{}", stdout(&o));
    let o = netspec(&["plan", p.to_str().unwrap(), "--scenario", "tls insp", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 2, "{}", stdout(&o));
}
