//! `netspec merge` of three vantage points, each a real run of the migrate private-endpoint
//! checks through the library API against the loopback demo world, asking a different loopback
//! resolver: `hub` (the world's DNS: the blob name leaks its public address), `spoke` (a DNS
//! that answers every private endpoint privately) and `internet` (a DNS with no private zones:
//! everything public). The merged report must show the blob name private at one vantage point
//! and public at the others, side by side, and exit 1.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use netspec::app::{Reports, execute};
use netspec::loopback::{DemoWorld, DnsServer, DnsZone};
use netspec::plan::{self, Inputs};
use netspec::probe::{ContextOptions, Sandbox};
use netspec::report::Outputs;
use netspec::run::RunOptions;

use crate::reports::{html_unescape, netspec};

const SUITE: &str = "suites/migrate-private-endpoints.yaml";
const BLOB: &str = "azure-migrate-private-endpoints/private endpoints/storage blob resolves privately via privatelink";
const KV: &str = "azure-migrate-private-endpoints/private endpoints/key vault resolves privately via privatelink";

/// The private-endpoint names of the world, answered as `ips` says: (kv, blob, discovery).
fn zone(world: &DemoWorld, ips: [[u8; 4]; 3], private: bool) -> DnsZone {
    let vars = world.vars();
    let s = |k: &str| vars[k].as_str().unwrap().to_owned();
    let kv = format!("{}.vault.azure.net", s("key_vault"));
    let blob = format!("{}.blob.core.windows.net", s("storage_account"));
    let disc = s("discovery_host");
    let mut z = DnsZone::new();
    let names = if private {
        [
            (kv.clone(), format!("{}.privatelink.vaultcore.azure.net", s("key_vault"))),
            (blob.clone(), format!("{}.privatelink.blob.core.windows.net", s("storage_account"))),
            (disc.clone(), disc.replace(".disc.prod.", ".disc.privatelink.prod.")),
        ]
    } else {
        [
            (kv, "kv-public.vault.azure.net".into()),
            (blob, "blob-public.store.core.windows.net".into()),
            (disc, "disc-public.windowsazure.com".into()),
        ]
    };
    for ((name, alias), ip) in names.into_iter().zip(ips) {
        z.add_cname(&name, &alias);
        z.add_a(&alias, Ipv4Addr::from(ip));
    }
    z
}

async fn run_at(world: &DemoWorld, vantage: &str, dns: std::net::SocketAddr, out: &Path) -> i32 {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE)).unwrap();
    let loaded = netspec::suite::parse(Path::new(SUITE), text).unwrap();
    let mut vars: Vec<(String, serde_json::Value)> = world.vars().into_iter().collect();
    vars.push(("corp_dns".into(), serde_json::json!(dns.to_string())));
    let inputs = Inputs {
        typed_vars: vars,
        tags: vec!["private-endpoint".into()],
        timeout: Some(std::time::Duration::from_secs(2)),
        ..Default::default()
    };
    let plan = plan::plan(&[loaded], &inputs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.checks.len(), 4);
    let ctx = ContextOptions {
        extra_roots: vec![world.ca_der()],
        no_system_roots: true,
        system_servers: Some(vec![dns]),
        sandbox: Some(Sandbox { map: world.address_map().clone() }),
    };
    let reports = Reports {
        outputs: Outputs { json: Some(out.to_owned()), ..Default::default() },
        verbose: false,
        name: "azure-migrate-private-endpoints".into(),
        vantage: vantage.into(),
        drift: None,
    };
    execute(plan, ctx, RunOptions::default(), reports).await.map_or_else(|e| e.exit_code(), |d| d.exit_code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_of_three_vantage_points_shows_the_split_horizon() {
    let world = DemoWorld::start().await.unwrap();
    // spoke: every private endpoint private, as the DNS settings file lists them.
    let spoke = DnsServer::start(zone(&world, [[10, 12, 4, 20], [10, 12, 4, 21], [10, 12, 4, 22]], true)).await.unwrap();
    // internet: no private zones; the key vault's public address is a listener the world plays.
    let internet = DnsServer::start(zone(&world, [[20, 50, 200, 30], [20, 60, 1, 10], [20, 50, 210, 10]], false)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = |v: &str| dir.path().join(format!("{v}.json"));
    assert_eq!(run_at(&world, "hub", world.dns_addr(), &file("hub")).await, 1, "the hub leaks the blob address");
    assert_eq!(run_at(&world, "spoke", spoke.addr(), &file("spoke")).await, 0, "the spoke resolves everything privately");
    assert_eq!(run_at(&world, "internet", internet.addr(), &file("internet")).await, 1);

    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let m = |n: &str| merged.join(n);
    let out = netspec()
        .arg("merge")
        .args([file("hub"), file("spoke"), file("internet")])
        .arg("--json")
        .arg(m("m.json"))
        .arg("--junit")
        .arg(m("m.xml"))
        .arg("--html")
        .arg(m("m.html"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a vantage point failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("differences between vantage points"), "{stdout}");
    assert!(stdout.contains("spoke     PASS private 10.12.4.21"), "{stdout}");

    // JSON: the blob check, side by side.
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m("m.json")).unwrap()).unwrap();
    assert_eq!(v["report"], "merged");
    let vantages: Vec<&str> = v["vantages"].as_array().unwrap().iter().map(|x| x["vantage"].as_str().unwrap()).collect();
    assert_eq!(vantages, ["hub", "spoke", "internet"]);
    let diff = |id: &str| {
        v["differences"].as_array().unwrap().iter().find(|d| d["id"] == id).cloned().unwrap_or_else(|| panic!("no difference for {id}"))
    };
    let blob = diff(BLOB);
    let aspects: Vec<&str> = blob["aspects"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(aspects.contains(&"outcome") && aspects.contains(&"address class"), "{aspects:?}");
    let side =
        |d: &serde_json::Value, vantage: &str| d["at"].as_array().unwrap().iter().find(|s| s["vantage"] == vantage).cloned().unwrap();
    assert_eq!(side(&blob, "hub")["address_class"], "public");
    assert_eq!(side(&blob, "hub")["addresses"], serde_json::json!(["20.60.1.10"]));
    assert_eq!(side(&blob, "hub")["outcome"], "failed");
    assert_eq!(side(&blob, "spoke")["address_class"], "private");
    assert_eq!(side(&blob, "spoke")["addresses"], serde_json::json!(["10.12.4.21"]));
    assert_eq!(side(&blob, "spoke")["outcome"], "passed");
    assert_eq!(side(&blob, "internet")["address_class"], "public");
    let kv = diff(KV);
    assert_eq!(side(&kv, "hub")["address_class"], "private");
    assert_eq!(side(&kv, "internet")["address_class"], "public");
    assert_eq!(v["checks"].as_array().unwrap().len(), 4);
    assert_eq!(v["totals"]["passed"].as_u64().unwrap() + v["totals"]["failed"].as_u64().unwrap(), 12);
    if let Some(cj) = crate::reports::tool("check-jsonschema", "pip install check-jsonschema") {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/merged.schema.json");
        let o = std::process::Command::new(cj).arg("--schemafile").arg(&schema).arg(m("m.json")).output().unwrap();
        assert!(o.status.success(), "merged JSON does not match its schema:\n{}", String::from_utf8_lossy(&o.stdout));
    }

    // JUnit: one testsuite per vantage point and scenario, every (check, vantage) a testcase.
    let xml = std::fs::read_to_string(m("m.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).filter_map(|n| n.attribute("name")).collect();
    assert_eq!(suites, ["hub / private endpoints", "spoke / private endpoints", "internet / private endpoints"]);
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), 12);
    let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count() as u64;
    assert_eq!(failures, v["totals"]["failed"].as_u64().unwrap());

    // HTML: a check × vantage matrix and the difference row with both answers.
    let html = std::fs::read_to_string(m("m.html")).unwrap();
    let cells = crate::reports::html_cells(&html);
    assert_eq!(cells.len(), 12);
    assert_eq!(cells[&format!("{BLOB} @ spoke")].0, "passed");
    assert_eq!(cells[&format!("{BLOB} @ hub")].0, "failed");
    // The failing cell shows its reason code beside the address class.
    let code = cells[&format!("{BLOB} @ hub")].1.clone().expect("a reason code");
    assert!(html.contains(&format!("<small>{code} · ")), "the failure cell shows {code}");
    let row_start = html.find(&format!("data-id=\"{}\"", BLOB.replace('/', "&#x2f;"))).expect("a difference row for the blob check");
    let row = html_unescape(&html[row_start..row_start + html[row_start..].find("</tr>").unwrap()]);
    assert!(row.contains("FAIL public 20.60.1.10") && row.contains("PASS private 10.12.4.21"), "{row}");

    // A directory stands for its *.json files (the merged ones are in a subdirectory).
    let out = netspec().arg("merge").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("merged 3 vantage points"));
}

#[test]
fn merge_refuses_bad_input_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |n: &str, t: &str| -> PathBuf {
        let p = dir.path().join(n);
        std::fs::write(&p, t).unwrap();
        p
    };
    let good = write(
        "good.json",
        r#"{"netspec_version":"0.1.0","name":"n","vantage":"a","duration_ms":1,"totals":{"passed":0,"failed":0,"errors":0,"cancelled":0},"checks":[]}"#,
    );
    let garbage = write("garbage.json", "<html>not json</html>");
    let merged = write("merged.json", r#"{"report":"merged","checks":[]}"#);
    let missing = dir.path().join("missing.json");
    let wrong = write("wrong.json", r#"{"netspec_version":"0.1.0","name":"n","vantage":"b","duration_ms":1,"totals":{},"checks":[]}"#);
    let cases: Vec<(Vec<&Path>, String)> = vec![
        (vec![&good, &garbage], format!("{}: not a netspec JSON results file", garbage.display())),
        (vec![&missing], format!("{}: cannot read", missing.display())),
        (vec![&merged], "is a merged report".into()),
        (vec![&wrong], format!("{}: not a netspec JSON results file", wrong.display())),
        (vec![&good, &good], "are both from vantage `a`".into()),
    ];
    for (inputs, msg) in cases {
        let out = netspec().arg("merge").args(&inputs).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{inputs:?}: {err}");
        assert!(err.contains(&msg), "{inputs:?}: `{msg}` missing in {err}");
    }
    // One good input merges (and passes: no checks failed).
    assert_eq!(netspec().arg("merge").arg(&good).output().unwrap().status.code(), Some(0));
    // An unwritable report path is refused before anything is read.
    let out = netspec().arg("merge").arg(&good).args(["--html", "/nonexistent-netspec-dir/m.html"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
