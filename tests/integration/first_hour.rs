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

/// A library template whose typed fields come from parameters and variables.
const TYPED: &str = "netspec: 1
name: typed
vars: { days: 30, code: 204, secure: true }
templates:
  svc:
    params: [host, port]
    checks:
      - { name: tcp, tcp: { host: \"{{ host }}\", port: \"{{ port }}\" }, timeout: \"{{ (port | int) // 100 }}s\" }
      - { name: tls, tls: { host: \"{{ host }}\", port: \"{{ port }}\" }, expect: { trusted: \"{{ secure }}\", expires_in: { min: \"{{ days }}d\" } } }
      - { name: http, http: { url: \"https://{{ host }}:{{ port }}/\" }, expect: { status: \"{{ code }}\" } }
scenarios:
  - name: s
    checks:
      - { name: a, use: svc, with: { host: a.test, port: 443 } }
      - { name: b, use: svc, with: { host: b.test, port: \"8443\" } }
";

#[test]
fn template_values_are_rendered_then_read_as_the_fields_type() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "typed.yaml", TYPED);
    let o = netspec(&["plan", p.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let targets: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(
        targets,
        ["tcp a.test:443", "tls a.test:443", "GET https://a.test/", "tcp b.test:8443", "tls b.test:8443", "GET https://b.test:8443/"]
    );
    assert_eq!(rows[0]["timeout_ms"], 4000);
    assert_eq!(rows[3]["timeout_ms"], 84000);
    let expect =
        |i: usize| rows[i]["expect"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect::<Vec<_>>().join("; ");
    assert!(expect(1).contains("30d") || expect(1).contains("30days"), "{}", expect(1));
    assert!(expect(2).contains("204"), "{}", expect(2));
}

#[test]
fn a_rendered_value_of_the_wrong_type_is_located_and_says_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("port", "70000", ":8:", "from 1 to 65535"),
        ("code", "700", ":10:", "a code 100-599"),
        ("days", "soon", ":9:", "durations such as"),
        ("secure", "maybe", ":9:", "true or false"),
    ];
    for (var, value, pos, accepts) in cases {
        let text = TYPED.replace("port: 443 }", "port: \"{{ port_a }}\" }").replace("vars: {", "vars: { port_a: 443,");
        let p = write(dir.path(), "typed.yaml", &text);
        let var = if var == "port" { "port_a" } else { var };
        let o = netspec(&["validate", p.to_str().unwrap(), "--var", &format!("{var}={value}")]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{var}: {e}");
        assert!(e.contains(&format!("typed.yaml{pos}")) && e.contains(value) && e.contains(accepts), "{var}: {e}");
    }
}

/// Seven regions, each using a library's template, proxy and resolver.
fn seven_regions(dir: &Path, include: &str, resolver: &str) -> String {
    let text = format!(
        "netspec: 1
name: regions
include: [{include}]
matrix:
  region: [r1, r2, r3, r4, r5, r6, r7]
scenarios:
  - name: \"svc {{{{ region }}}}\"
    resolver: {resolver}
    checks:
      - {{ name: web, use: web, with: {{ host: \"{{{{ region }}}}.test\" }} }}
      - {{ name: api, http: {{ url: \"https://api.{{{{ region }}}}.test/\", proxy: corp }} }}
"
    );
    write(dir, "regions.yaml", &text).to_str().unwrap().to_owned()
}

const LIBRARY: &str = "netspec: 1
resolvers:
  corp: { servers: [\"127.0.0.1\"] }
proxies:
  corp: { url: \"http://127.0.0.1:3128\" }
templates:
  web:
    params: [host]
    checks:
      - { name: tcp, tcp: { host: \"{{ host }}\", port: 443 } }
";

fn error_count(e: &str) -> usize {
    e.lines().filter(|l| l.starts_with("error:")).count()
}

#[test]
fn one_mistake_in_seven_matrix_instances_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.yaml", LIBRARY);
    let good = seven_regions(dir.path(), "lib.yaml", "corp");
    let o = netspec(&["validate", &good]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let typo = seven_regions(dir.path(), "lib.yaml", "crop");
    let o = netspec(&["validate", &typo]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(error_count(&e), 1, "{e}");
    assert!(e.contains("unknown resolver `crop`") && e.contains("in 7 instances") && e.contains("regions.yaml:8:15"), "{e}");
}

#[test]
fn a_failed_include_is_one_error_located_in_the_library_without_the_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let missing = seven_regions(dir.path(), "no-such-lib.yaml", "corp");
    let o = netspec(&["validate", &missing]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(error_count(&e), 1, "{e}");
    assert!(e.contains("cannot include no-such-lib.yaml") && e.contains("regions.yaml:3:11") && e.contains("not shown"), "{e}");
    // A library with a mistake of its own: that error, located in the library.
    write(dir.path(), "lib.yaml", &LIBRARY.replace("proxies:", "proxys:"));
    let broken = seven_regions(dir.path(), "lib.yaml", "corp");
    let o = netspec(&["validate", &broken]);
    let e = stderr(&o);
    assert_eq!(error_count(&e), 1, "{e}");
    assert!(e.contains("lib.yaml:4:1") && e.contains("included from") && e.contains("regions.yaml:3:11"), "{e}");
}

#[test]
fn validate_does_not_need_run_time_secrets_but_strict_and_run_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "secret.yaml",
        "netspec: 1\nname: s\nproxies:\n  corp: { url: \"http://127.0.0.1:9\", username: svc, password: \"{{ env.NETSPEC_TEST_UNSET_PW }}\" }\nscenarios:\n  - name: a\n    checks:\n      - { name: c, http: { url: \"http://127.0.0.1:9/\", proxy: corp } }\n",
    );
    let p = p.to_str().unwrap();
    let o = netspec(&["validate", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: environment variable `NETSPEC_TEST_UNSET_PW` is not set"), "{}", stderr(&o));
    let o = netspec(&["validate", "--strict", p]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("environment variable `NETSPEC_TEST_UNSET_PW` is not set") && stderr(&o).contains("secret.yaml:4:"),
        "{}",
        stderr(&o)
    );
    let o = netspec(&["run", p]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("NETSPEC_TEST_UNSET_PW"), "{}", stderr(&o));
}

#[test]
fn a_relative_path_resolves_against_the_file_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("site/dns")).unwrap();
    std::fs::create_dir_all(d.join("lib/own")).unwrap();
    std::fs::create_dir_all(d.join("cwd/here")).unwrap();
    write(&d.join("site/dns"), "hosts.txt", "10.1.0.4 a.test\n");
    write(&d.join("lib/own"), "hosts.txt", "10.1.0.4 a.test\n");
    write(&d.join("cwd/here"), "hosts.txt", "10.1.0.4 a.test\n");
    write(
        &d.join("lib"),
        "pe.yaml",
        "netspec: 1\ntemplates:\n  pe:\n    params: [name]\n    checks:\n      - { name: from var, dns: { name: \"{{ name }}\" }, expect: { addresses: { from_hosts_file: \"{{ hosts }}\" } } }\n      - { name: own, dns: { name: \"{{ name }}\" }, expect: { addresses: { from_hosts_file: own/hosts.txt } } }\n",
    );
    let suite = write(
        &d.join("site"),
        "suite.yaml",
        "netspec: 1\nname: s\ninclude: [../lib/pe.yaml]\nvars: { hosts: dns/hosts.txt }\nscenarios:\n  - name: a\n    checks:\n      - { name: pe, use: pe, with: { name: a.test } }\n",
    );
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_netspec"))
            .arg("validate")
            .arg(&suite)
            .args(extra)
            .current_dir(d.join("cwd"))
            .env_remove("CI")
            .output()
            .unwrap()
    };
    // The suite's variable resolves against the suite, the library's literal against the library.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // `--var` resolves against the current directory.
    let o = run(&["--var", "hosts=here/hosts.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["--var", "hosts=dns/hosts.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn import_hosts_checks_the_listed_names_and_addresses_and_names_the_file_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = write(
        dir.path(),
        "settings.txt",
        "10.1.0.4 kv1.privatelink.vaultcore.azure.net kv1-alias.corp.example\n10.1.0.5 app.privatelink.example.com\n",
    );
    // Given as an absolute path: no check name carries the directory.
    let out = netspec(&["import", "hosts", hosts.to_str().unwrap(), "--name", "pe"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(!yaml.contains(dir.path().to_str().unwrap()), "{yaml}");
    let suite = write(dir.path(), "pe.yaml", &yaml);
    let o = netspec(&["plan", suite.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_owned(),
                r["expect"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect::<Vec<_>>().join("; "),
            )
        })
        .collect();
    let targets: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    // The listed FQDN, its alias, and the public name the zone table derives; nothing invented
    // for a privatelink label in a zone the table does not know (no `app.example.com`).
    assert_eq!(
        targets,
        [
            "dns A kv1.privatelink.vaultcore.azure.net",
            "dns A kv1.vault.azure.net",
            "dns A kv1-alias.corp.example",
            "dns A app.privatelink.example.com"
        ]
    );
    for (t, e) in &got {
        assert!(e.contains("10.1.0."), "{t}: {e}");
    }
    assert!(rows.iter().all(|r| !r["id"].as_str().unwrap().contains('/') || r["id"].as_str().unwrap().matches('/').count() == 2));
}

/// junit-10.xsd as shipped, with the one difference netspec keeps on purpose: `<properties>`
/// allowed inside `<testcase>` (see src/report/junit.rs).
fn junit_schema(dir: &Path) -> std::path::PathBuf {
    let xsd = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd")).unwrap();
    let anchor = "<xs:element ref=\"skipped\"/>\n          <xs:element ref=\"error\"/>";
    assert!(xsd.contains(anchor), "the testcase choice of junit-10.xsd moved");
    write(
        dir,
        "junit-10-with-testcase-properties.xsd",
        &xsd.replacen(anchor, &format!("<xs:element ref=\"properties\"/>\n          {anchor}"), 1),
    )
}

fn xmllint(schema: &Path, xml: &Path) -> std::process::Output {
    std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(xml)
        .output()
        .expect("xmllint (libxml2-utils) runs")
}

#[test]
fn junit_validates_against_junit_10_xsd_with_suite_time_timestamp_and_hostname() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("demo.xml");
    // The demo's run has passes, failures and errors.
    let o = netspec(&["demo", "--junit", xml.to_str().unwrap(), "--no-ci-annotations"]);
    assert!(xml.exists(), "{}", stderr(&o));
    let schema = junit_schema(dir.path());
    let v = xmllint(&schema, &xml);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let text = std::fs::read_to_string(&xml).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    assert!(!suites.is_empty());
    for s in suites {
        for a in ["time", "timestamp", "hostname", "skipped"] {
            assert!(s.attribute(a).is_some(), "testsuite {:?} has no {a}", s.attribute("name"));
        }
        assert!(s.attribute("disabled").is_none());
    }
    // The schema test can fail: the shipped schema itself rejects testcase properties.
    let strict = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
    assert!(!xmllint(&strict, &xml).status.success());
}

#[test]
fn same_named_scenarios_in_two_suites_get_distinct_testsuite_names() {
    let dir = tempfile::tempdir().unwrap();
    for s in ["east", "west"] {
        write(
            dir.path(),
            &format!("{s}.yaml"),
            &format!(
                "netspec: 1\nname: {s}\nscenarios:\n  - name: edge\n    checks:\n      - {{ name: c, tcp: {{ host: 127.0.0.1, port: 1 }}, expect: {{ state: blocked }}, timeout: 1s }}\n"
            ),
        );
    }
    let xml = dir.path().join("r.xml");
    let east = dir.path().join("east.yaml");
    let west = dir.path().join("west.yaml");
    let o = netspec(&["run", east.to_str().unwrap(), west.to_str().unwrap(), "--junit", xml.to_str().unwrap(), "--no-ci-annotations"]);
    let text = std::fs::read_to_string(&xml).unwrap_or_else(|_| panic!("{}", stderr(&o)));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let names: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).filter_map(|n| n.attribute("name")).collect();
    assert_eq!(names, ["east/edge", "west/edge"], "{text}");
    assert!(xmllint(&junit_schema(dir.path()), &xml).status.success());
}

#[test]
fn github_annotations_carry_the_file_and_line_of_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "gate.yaml",
        "netspec: 1\nname: gate\nscenarios:\n  - name: s\n    checks:\n      - { name: pass, tcp: { host: 127.0.0.1, port: 1 }, expect: { state: blocked }, timeout: 1s }\n      - { name: port one open, tcp: { host: 127.0.0.1, port: 1 }, timeout: 1s }\n",
    );
    let o = netspec(&["run", p.to_str().unwrap(), "--github"]);
    let out = stdout(&o);
    let line = out.lines().find(|l| l.starts_with("::error ")).unwrap_or_else(|| panic!("{out}\n{}", stderr(&o)));
    assert!(line.starts_with(&format!("::error file={},line=7,title=", p.display())), "{line}");
}

/// The fenced block under `## Command line` in docs/suite-reference.md, as `(command, text)`:
/// a line starting `netspec CMD` and its indented continuation lines.
fn documented_commands() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/suite-reference.md")).unwrap();
    let block = doc.split("## Command line").nth(1).and_then(|b| b.split("```").nth(1)).expect("a command-line block");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("netspec ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let cmd = if words[0] == "import" { format!("import {}", words[1]) } else { words[0].to_owned() };
            out.push((cmd, line.to_owned()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

#[test]
fn the_documented_command_line_lists_every_flag() {
    use clap::CommandFactory;
    let docs = documented_commands();
    let cli = netspec::cli::Cli::command();
    let mut commands: Vec<(String, &clap::Command)> = Vec::new();
    for sub in cli.get_subcommands() {
        if sub.has_subcommands() {
            commands.extend(sub.get_subcommands().map(|s| (format!("{} {}", sub.get_name(), s.get_name()), s)));
        } else {
            commands.push((sub.get_name().to_owned(), sub));
        }
    }
    for (name, cmd) in &commands {
        let text = &docs.iter().find(|(c, _)| c == name).unwrap_or_else(|| panic!("`netspec {name}` is not documented")).1;
        for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
            if let Some(long) = arg.get_long().filter(|l| *l != "help" && *l != "version") {
                assert!(text.contains(&format!("--{long}")), "`netspec {name} --{long}` is missing from docs/suite-reference.md");
            }
            if let Some(short) = arg.get_short().filter(|s| *s != 'h') {
                assert!(text.contains(&format!("-{short}|")), "`netspec {name} -{short}` is missing from docs/suite-reference.md");
            }
        }
    }
    // And nothing documented that the program does not take.
    for (name, text) in &docs {
        let (_, cmd) = commands.iter().find(|(c, _)| c == name).unwrap_or_else(|| panic!("documented `netspec {name}` does not exist"));
        for flag in text.split(|c: char| !(c.is_alphanumeric() || c == '-')).filter_map(|w| w.strip_prefix("--")) {
            assert!(cmd.get_arguments().any(|a| a.get_long() == Some(flag)), "documented `netspec {name} --{flag}` does not exist");
        }
    }
}

#[test]
fn docs_refer_to_no_file_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for bad in ["shared/design", "../design", "SUITE-FORMAT.md", "ARCHITECTURE.md", "PEERS.md"] {
            assert!(!text.contains(bad), "{} refers to `{bad}`, which users do not have", p.display());
        }
    }
    // The search-domain behaviour is where people look for DNS.
    let reference = std::fs::read_to_string(root.join("docs/suite-reference.md")).unwrap();
    let dns = reference.split("### dns").nth(1).and_then(|s| s.split("\n### ").next()).unwrap();
    assert!(dns.contains("search domains"), "{dns}");
}

#[test]
fn plan_has_a_header_fits_the_width_and_tells_proxy_from_resolver() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corp.yaml",
        "netspec: 1\nname: corp\nresolvers: { corp: { servers: [127.0.0.1] } }\nproxies: { corp: { url: \"http://127.0.0.1:3128\" } }\nscenarios:\n  - name: s\n    resolver: corp\n    checks:\n      - { name: service answers over HTTPS through the corporate proxy, http: { url: \"https://service.example.test/a/rather/long/path/that/needs/wrapping\", proxy: corp } }\n",
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["plan", p.to_str().unwrap()])
        .env("COLUMNS", "60")
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("CHECK") && first.contains("KIND") && first.contains("RESOLVER") && first.contains("TIMEOUT"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    assert!(text.contains("via proxy corp") && !text.contains("via corp"), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["http", "corp", "5000", "ms"]), "{text}");
}

#[test]
fn a_non_terminal_run_explains_each_failure_once_and_tables_them_by_reason_and_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "edge.yaml",
        "netspec: 1\nname: edge\nmatrix: { node: [node1, node2] }\nscenarios:\n  - name: \"edge {{ node }}\"\n    checks:\n      - { name: port one open, tcp: { host: 127.0.0.1, port: 1 }, timeout: 1s }\n      - { name: port two open, tcp: { host: 127.0.0.1, port: 2 }, timeout: 1s }\n",
    );
    let o = netspec(&["run", p.to_str().unwrap(), "--no-ci-annotations"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    for id in ["edge/edge node1/port one open", "edge/edge node2/port two open"] {
        assert_eq!(out.matches(id).count(), 1, "{id} once:\n{out}");
    }
    let by_reason = out.split("by reason:").nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(by_reason.lines().any(|l| l.contains("tcp.closed") && l.contains("×4") && l.contains("edge node1, edge node2")), "{out}");
    let by_scenario = out.split("by scenario:").nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(by_scenario.lines().any(|l| l.contains("edge node1") && l.contains("×2") && l.contains("tcp.closed")), "{out}");
}

#[test]
fn a_long_run_on_a_non_terminal_writes_a_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "gate.yaml",
        "netspec: 1\nname: gate\nscenarios:\n  - name: s\n    checks:\n      - { name: port one open, tcp: { host: 127.0.0.1, port: 1 }, timeout: 1s, retry: { attempts: 1, delay: 500ms } }\n",
    );
    // A retry window of 3 s keeps the run going for at least 3 s; the heartbeat is set to 1 s.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["run", p.to_str().unwrap(), "--retry-timeout", "3s", "--no-ci-annotations"])
        .env("NETSPEC_HEARTBEAT_SECS", "1")
        .env_remove("CI")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.lines().any(|l| l.contains("0/1 checks finished")), "{err}");
}

#[test]
fn failures_that_follow_from_an_nxdomain_are_grouped_under_it() {
    // The demo's japaneast region does not exist: its DNS checks get NXDOMAIN, and the tcp, tls
    // and http checks of the same name fail because of it.
    let o = netspec(&["demo", "--no-ci-annotations"]);
    let out = stdout(&o);
    let root = "FAIL azure-arc-sql/arc-sql japaneast/DPS name resolves to public addresses";
    let block = out.split(root).nth(1).unwrap_or_else(|| panic!("{out}"));
    let block = block.split("\n\n").next().unwrap();
    assert!(block.contains("also failing because this name does not resolve (3)"), "{block}");
    for dep in ["DPS port 443 is open", "DPS answers 200 on its unauthenticated route"] {
        let id = format!("azure-arc-sql/arc-sql japaneast/{dep}");
        assert!(block.contains(&format!("FAIL {id} (dns.nxdomain)")), "{block}");
        assert_eq!(out.matches(&id).count(), 1, "{id} once:\n{out}");
    }
}

#[test]
fn the_html_matrix_groups_scenarios_that_check_the_same_things() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    netspec(&["demo", "--html", html.to_str().unwrap(), "--no-ci-annotations"]);
    let text = std::fs::read_to_string(&html).unwrap();
    // adf-shir has a direct scenario, a proxy scenario and four node instances, each with other
    // checks: one table for each kind of scenario, and no empty cells.
    assert_eq!(text.matches("cell missing").count(), 0);
    assert!(text.contains("<h2>adf-shir: node shir-node1.corp.example and 3 like it</h2>"), "{}", &text[..text.len().min(3000)]);
    assert!(text.contains("<h2>azure-arc-sql</h2>"));
}
