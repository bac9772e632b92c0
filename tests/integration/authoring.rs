//! Suite authoring at scale: templates with parameters, includes of shared libraries (and their
//! cycles), `--check` filtering, did-you-mean hints, and the imports from network-team files.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{netspec, write};

const LIB: &str = r#"netspec: 1
vars: { corp_dns: "10.0.0.53" }
resolvers:
  corp: { servers: ["{{ corp_dns }}"] }
templates:
  private-endpoint:
    params: [host, ip]
    checks:
      - name: resolves privately
        dns: { name: "{{ host }}" }
        expect: { addresses: { equals: ["{{ ip }}"] } }
      - name: port open
        tcp: { host: "{{ host }}", port: 443 }
"#;

fn plan_ids(out: &Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn templates_from_an_included_library_expand_per_use() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.yaml", LIB);
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: pe\ninclude: [lib.yaml]\nscenarios:\n  - name: endpoints\n    resolver: corp\n    checks:\n      - { name: key vault, use: private-endpoint, with: { host: kv.vault.azure.net, ip: 10.12.4.20 } }\n      - { name: blob, use: private-endpoint, with: { host: sa.blob.core.windows.net, ip: 10.12.4.21 } }\n",
    );
    let ids = plan_ids(&netspec(&["plan", s.to_str().unwrap(), "--format", "json"]));
    assert_eq!(
        ids,
        vec![
            "pe/endpoints/key vault: resolves privately",
            "pe/endpoints/key vault: port open",
            "pe/endpoints/blob: resolves privately",
            "pe/endpoints/blob: port open"
        ]
    );
    let only = plan_ids(&netspec(&["plan", s.to_str().unwrap(), "--format", "json", "--check", "*port open"]));
    assert_eq!(only.len(), 2);
    // The suite's own vars win over the library's.
    let out = netspec(&["plan", s.to_str().unwrap(), "--format", "json", "--var", "corp_dns=10.9.9.9:5353"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn template_mistakes_are_located_with_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.yaml", LIB);
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: pe\ninclude: [lib.yaml]\nscenarios:\n  - name: e\n    checks:\n      - { name: a, use: private-endpont, with: { host: x, ip: 10.0.0.1 } }\n      - { name: b, use: private-endpoint, with: { hots: x, ip: 10.0.0.1 } }\n",
    );
    let out = netspec(&["validate", s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("unknown template `private-endpont`") && err.contains("did you mean `private-endpoint`?"), "{err}");
    assert!(err.contains("s.yaml:7:"), "{err}");
    assert!(err.contains("has no parameter `hots`") && err.contains("did you mean `host`?"), "{err}");
    assert!(err.contains("needs parameter `host`"), "{err}");
}

#[test]
fn errors_inside_a_library_point_into_the_library() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.yaml", &LIB.replace("{{ host }}\" }\n        expect", "{{ hots }}\" }\n        expect"));
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: pe\ninclude: [lib.yaml]\nscenarios:\n  - name: e\n    checks:\n      - { name: a, use: private-endpoint, with: { host: x, ip: 10.0.0.1 } }\n",
    );
    let out = netspec(&["validate", s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("lib.yaml:10:"), "{err}");
    assert!(err.contains("undefined variable `hots`") && err.contains("did you mean `host`?"), "{err}");
}

#[test]
fn cyclic_includes_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", "netspec: 1\ninclude: [b.yaml]\n");
    write(dir.path(), "b.yaml", "netspec: 1\ninclude: [a.yaml]\n");
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: x\ninclude: [a.yaml]\nscenarios:\n  - name: e\n    checks:\n      - { name: c, dns: { name: a.test } }\n",
    );
    let out = netspec(&["validate", s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cyclic include"), "{err}");
    assert!(err.contains("b.yaml:2:"), "{err}");
}

#[test]
fn unknown_resolver_and_variable_get_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: x\nvars: { region: eastus }\nresolvers: { corp: { servers: [10.0.0.53] } }\nscenarios:\n  - name: e\n    resolver: crop\n    checks:\n      - { name: c, dns: { name: \"a.{{ regoin }}.test\" } }\n",
    );
    let out = netspec(&["validate", s.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("unknown resolver `crop`") && err.contains("did you mean `corp`?"), "{err}");
}

#[test]
fn import_hosts_round_trips_through_validate_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = write(
        dir.path(),
        "dns-settings.txt",
        "# from the portal\n10.12.4.20 contoso-kv.privatelink.vaultcore.azure.net\n10.12.4.23 abc-agent.cus.disc.privatelink.prod.migration.windowsazure.com\n",
    );
    let suite = dir.path().join("pe.yaml");
    let out = netspec(&["import", "hosts", hosts.to_str().unwrap(), "--name", "pe", "-o", suite.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let ids = plan_ids(&netspec(&["plan", suite.to_str().unwrap(), "--format", "json"]));
    assert_eq!(
        ids,
        vec![
            "pe/private endpoints/contoso-kv.privatelink.vaultcore.azure.net resolves to 10.12.4.20 as dns-settings.txt lists",
            "pe/private endpoints/contoso-kv.vault.azure.net resolves to 10.12.4.20 through contoso-kv.privatelink.vaultcore.azure.net",
            "pe/private endpoints/abc-agent.cus.disc.privatelink.prod.migration.windowsazure.com resolves to 10.12.4.23 as dns-settings.txt lists",
            "pe/private endpoints/abc-agent.cus.disc.prod.migration.windowsazure.com resolves to 10.12.4.23 through abc-agent.cus.disc.privatelink.prod.migration.windowsazure.com"
        ]
    );
    let text = std::fs::read_to_string(&suite).unwrap();
    assert!(text.contains("contoso-kv.privatelink.vaultcore.azure.net"), "{text}");
    let bad = write(dir.path(), "bad.txt", "10.0.0.1\n");
    let out = netspec(&["import", "hosts", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.txt:1: 10.0.0.1 has no name"));
}

#[test]
fn import_flows_gives_one_scenario_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "flows.csv",
        "Source,Destination,Port,Protocol,Expected\nshir-node1,shir-node2.corp.example,8060,TCP,open\nshir-node1,sql01.corp.example,1433,tcp,open\nDMZ web,sql01.corp.example,1433,tcp,blocked\n",
    );
    let out = netspec(&["import", "flows", csv.to_str().unwrap(), "--name", "fw"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let suite = write(dir.path(), "fw.yaml", &String::from_utf8_lossy(&out.stdout));
    let ids = plan_ids(&netspec(&["plan", suite.to_str().unwrap(), "--format", "json"]));
    assert_eq!(
        ids,
        vec![
            "fw/from shir-node1/shir-node2.corp.example:8060 is open",
            "fw/from shir-node1/sql01.corp.example:1433 is open",
            "fw/from DMZ web/sql01.corp.example:1433 is blocked"
        ]
    );
    let dmz = plan_ids(&netspec(&["plan", suite.to_str().unwrap(), "--format", "json", "--tag", "dmz-web"]));
    assert_eq!(dmz.len(), 1);
}

fn schema(file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(file);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("{file} is not a valid JSON Schema: {e}"))
}

#[test]
fn every_shipped_suite_example_and_library_validates_against_the_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite_schema = schema("netspec.schema.json");
    let lib_schema = schema("netspec-library.schema.json");
    // Every YAML file under suites/ and examples/, at any depth: a document with a numeric
    // `netspec` key (the format version) is a suite (or, with `templates` and no `scenarios`, an `include:` library); the
    // others must be the known non-suite files (Kubernetes manifests, CI pipelines, an
    // expected-change file), so a suite added anywhere is validated.
    let mut all = Vec::new();
    let mut dirs = vec![root.join("suites"), root.join("examples"), root.join("tests/lab")];
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                all.push(p);
            }
        }
    }
    all.sort();
    let (mut suites, mut libraries) = (0, 0);
    for f in &all {
        let text = std::fs::read_to_string(f).unwrap();
        let doc: serde_json::Value = match serde_saphyr::from_str(&text) {
            Ok(d) => d,
            // Multi-document files (Kubernetes manifests) are not suites.
            Err(_) => serde_json::Value::Null,
        };
        let version = doc.get("netspec").filter(|v| v.is_number());
        let validator = match (version, doc.get("scenarios"), doc.get("templates")) {
            (Some(_), None, Some(_)) => {
                libraries += 1;
                &lib_schema
            }
            (Some(_), _, _) => {
                suites += 1;
                &suite_schema
            }
            (None, _, _) => {
                let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                assert!(
                    ["examples/kubernetes/", "examples/ci/", "examples/drift/"].iter().any(|d| rel.starts_with(d)),
                    "{rel} is neither a suite nor a library (no `netspec: <version>`): add it to the known non-suite places or fix it"
                );
                continue;
            }
        };
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not validate against its schema:\n{}", f.display(), errors.join("\n"));
    }
    assert!(suites >= 10 && libraries >= 1, "{suites} suites, {libraries} libraries in {all:?}");
    // The schema rejects what the loader rejects, e.g. an unknown key.
    let bad: serde_json::Value = serde_json::json!({ "netspec": 1, "name": "x", "scenarios": [], "extra": 1 });
    assert!(!suite_schema.is_valid(&bad));
}

/// The schema says what the loader says of a check's kind, so an editor flags it while typing:
/// exactly one of `dns`, `tcp`, `tls`, `http` or `use`; `with` only with `use`; no expectation
/// on a `use`.
#[test]
fn the_schema_takes_exactly_one_kind_per_check() {
    let suite_schema = schema("netspec.schema.json");
    let lib_schema = schema("netspec-library.schema.json");
    let suite =
        |check: serde_json::Value| serde_json::json!({ "netspec": 1, "name": "x", "scenarios": [{ "name": "a", "checks": [check] }] });
    let lib = |check: serde_json::Value| serde_json::json!({ "netspec": 1, "templates": { "t": { "checks": [check] } } });
    let dns = serde_json::json!({ "name": "a.test" });
    let valid = [
        serde_json::json!({ "name": "c", "dns": dns }),
        serde_json::json!({ "name": "c", "tcp": { "host": "a.test", "port": 443 }, "expect": { "state": "open" } }),
        serde_json::json!({ "name": "c", "tls": { "host": "a.test" } }),
        serde_json::json!({ "name": "c", "http": { "url": "https://a.test/" }, "timeout": "2s" }),
        serde_json::json!({ "name": "c", "use": "t", "with": { "host": "a.test" }, "tags": ["x"], "path": false }),
    ];
    for c in valid {
        assert!(suite_schema.is_valid(&suite(c.clone())), "{c}");
    }
    let invalid = [
        serde_json::json!({ "name": "c" }),
        serde_json::json!({ "name": "c", "expect": { "state": "open" } }),
        serde_json::json!({ "name": "c", "dns": dns, "tcp": { "host": "a.test", "port": 1 } }),
        serde_json::json!({ "name": "c", "dns": dns, "use": "t" }),
        serde_json::json!({ "name": "c", "dns": dns, "with": { "x": 1 } }),
        serde_json::json!({ "name": "c", "with": { "x": 1 } }),
        serde_json::json!({ "name": "c", "use": "t", "expect": { "rcode": "NOERROR" } }),
        serde_json::json!({ "name": "c", "use": "t", "retry": { "attempts": 2 } }),
        serde_json::json!({ "name": "c", "dns": null }),
    ];
    for c in invalid {
        assert!(!suite_schema.is_valid(&suite(c.clone())), "the suite schema accepts {c}");
        assert!(!lib_schema.is_valid(&lib(c.clone())), "the library schema accepts {c}");
    }
}

#[test]
fn library_schema_file_is_current() {
    let out = netspec(&["schema", "--library"]);
    let fresh = String::from_utf8(out.stdout).unwrap();
    let stored =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/netspec-library.schema.json")).unwrap_or_default();
    assert!(
        stored.trim() == fresh.trim(),
        "schemas/netspec-library.schema.json is stale: run `cargo run -- schema --library > schemas/netspec-library.schema.json`"
    );
}

#[test]
fn proxy_env_follows_https_proxy_and_no_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "s.yaml",
        "netspec: 1\nname: p\nscenarios:\n  - name: s\n    checks:\n      - { name: out, http: { url: \"https://login.example.com/\", proxy: env } }\n      - { name: in, http: { url: \"https://intranet.corp.example/\", proxy: env } }\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["plan", s.to_str().unwrap(), "--format", "json"])
        .env("HTTPS_PROXY", "http://user:pw-secret@127.0.0.1:3128")
        .env("NO_PROXY", "localhost,.corp.example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["proxy"], "env", "{rows}");
    assert!(rows[1]["proxy"].is_null(), "{rows}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw-secret"), "the proxy password never appears in a plan");
}
