//! Drift between real runs on loopback: a change window where the key vault's private endpoint
//! moves (another address, a longer CNAME chain), the portal's certificate is re-issued by
//! another CA (both trusted, so `trusted: true` still passes) and an API starts answering 200
//! instead of 401. The resolver answers differently between runs (two lab DNS servers playing
//! the same resolver address through the sandbox), so the checks themselves stay the same.
//!
//! Proves: `netspec diff` names each change fact by fact; a run diffed against itself, and two
//! runs of an unchanged world, report nothing (exit 0); the expected-change file turns the
//! planned change green and leaves the unplanned ones red; `run --baseline --fail-on-drift`
//! fails the drifted checks with `drift.<fact>`; merged reports compare per vantage point.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netspec::app::{Reports, execute};
use netspec::drift::{ExpectChanges, Gate, Thresholds, read_doc};
use netspec::loopback::{Ca, DnsServer, DnsZone, HttpServer, Reply, Validity};
use netspec::plan::{self, Inputs};
use netspec::probe::{ContextOptions, Sandbox};
use netspec::report::Outputs;
use netspec::run::RunOptions;

use crate::reports::netspec;

const SUITE: &str = r#"
netspec: 1
name: change-window
resolvers:
  corp: { servers: ["10.0.0.53:53"] }
scenarios:
  - name: cw
    resolver: corp
    checks:
      - name: key vault resolves
        dns: { name: kv.vault.example, type: A }
        expect: { rcode: NOERROR }
      - name: portal certificate
        tls: { host: portal.example, port: 443 }
        expect: { trusted: true }
      - name: api answers
        http: { url: "http://api.example/" }
        expect: { status: [200, 401] }
"#;

const KV: &str = "change-window/cw/key vault resolves";
const PORTAL: &str = "change-window/cw/portal certificate";
const API: &str = "change-window/cw/api answers";

/// One state of the lab world: its resolver and the servers the sandbox routes to.
struct World {
    dns: DnsServer,
    portal: HttpServer,
    api: HttpServer,
}

impl World {
    /// Before (`after == false`): kv → privatelink → 10.12.4.20, portal signed by CA 01, API 401.
    /// After: kv → privatelink → data-prod-wus2 → 10.12.4.21, portal signed by the Contoso CA, API 200.
    async fn start(after: bool, ca01: &Ca, contoso: &Ca) -> World {
        let mut z = DnsZone::new();
        z.add_cname("kv.vault.example", "kv.privatelink.vaultcore.example");
        if after {
            z.add_cname("kv.privatelink.vaultcore.example", "data-prod-wus2.vaultcore.example");
            z.add_a("data-prod-wus2.vaultcore.example", Ipv4Addr::new(10, 12, 4, 21));
        } else {
            z.add_a("kv.privatelink.vaultcore.example", Ipv4Addr::new(10, 12, 4, 20));
        }
        z.add_a("portal.example", Ipv4Addr::new(10, 12, 5, 10));
        z.add_a("api.example", Ipv4Addr::new(10, 12, 5, 11));
        let ca = if after { contoso } else { ca01 };
        let portal =
            HttpServer::start(Some(ca.issue(&["portal.example"], Validity::Current).unwrap()), Reply::new(200, "portal")).await.unwrap();
        let api = HttpServer::start(None, if after { Reply::new(200, "welcome") } else { Reply::new(401, "who are you?") }).await.unwrap();
        World { dns: DnsServer::start(z).await.unwrap(), portal, api }
    }

    fn sandbox(&self) -> Sandbox {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        Sandbox {
            map: [(a("10.0.0.53:53"), self.dns.addr()), (a("10.12.5.10:443"), self.portal.addr()), (a("10.12.5.11:80"), self.api.addr())]
                .into_iter()
                .collect(),
        }
    }
}

/// Runs the suite against `world` from `vantage`, writing `out`; `gate` judges against a baseline.
async fn run(world: &World, roots: &[&Ca], vantage: &str, out: &Path, gate: Option<Gate>) -> i32 {
    let loaded = netspec::suite::parse(Path::new("change-window.yaml"), SUITE.to_owned()).unwrap();
    let inputs = Inputs { timeout: Some(Duration::from_secs(3)), ..Default::default() };
    let plan = plan::plan(&[loaded], &inputs).unwrap_or_else(|e| panic!("{e}"));
    let ctx = ContextOptions {
        extra_roots: roots.iter().map(|c| c.cert_der()).collect(),
        no_system_roots: true,
        system_servers: Some(vec![world.dns.addr()]),
        sandbox: Some(world.sandbox()),
    };
    let reports = Reports {
        outputs: Outputs { json: Some(out.to_owned()), ..Default::default() },
        verbose: false,
        name: "change-window".into(),
        vantage: vantage.into(),
        drift: gate.map(Arc::new),
    };
    execute(plan, ctx, RunOptions::default(), reports).await.map_or_else(|e| e.exit_code(), |d| d.exit_code())
}

fn diff(args: &[&Path], extra: &[&str]) -> (i32, String) {
    let out = netspec().arg("diff").args(args).args(extra).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Latency is not under test here (a loaded machine may double a loopback handshake).
const NO_LATENCY: [&str; 2] = ["--latency-min", "1h"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_window_is_diffed_fact_by_fact() {
    let ca01 = Ca::new("Lab Issuing CA 01").unwrap();
    let contoso = Ca::new("Contoso TLS Inspection Root").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| -> PathBuf { dir.path().join(n) };
    let changes = f("changes.yaml");
    std::fs::write(
        &changes,
        "# CHG-1234: the key vault's private endpoint moves\n\"change-window/*/key vault*\": [addresses, cname_chain]\n",
    )
    .unwrap();

    // Pre-check at two vantage points, and the post-check at `a` judged against its baseline.
    let before = World::start(false, &ca01, &contoso).await;
    assert_eq!(run(&before, &[&ca01, &contoso], "a", &f("before.json"), None).await, 0);
    assert_eq!(run(&before, &[&ca01, &contoso], "b", &f("before-b.json"), None).await, 0);
    drop(before);
    let after = World::start(true, &ca01, &contoso).await;
    assert_eq!(run(&after, &[&ca01, &contoso], "a", &f("plain-after.json"), None).await, 0, "every check still passes its expectations");
    let gate = Gate::new(
        read_doc(&f("before.json")).unwrap(),
        "a",
        Thresholds::new(2.0, Duration::from_secs(3600)),
        Some(ExpectChanges::load(&changes).unwrap()),
        true,
        Default::default(),
    );
    assert_eq!(run(&after, &[&ca01, &contoso], "a", &f("after.json"), Some(gate)).await, 1, "--fail-on-drift fails the unplanned changes");

    // The facts are in the results.
    let b = json(&f("before.json"));
    assert_eq!(b["schema_version"], 2);
    let check = |doc: &serde_json::Value, id: &str| doc["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    assert_eq!(check(&b, KV)["facts"]["dns"]["addresses"], serde_json::json!(["10.12.4.20"]));
    assert_eq!(check(&b, KV)["facts"]["dns"]["server"], "10.0.0.53:53");
    assert_eq!(check(&b, PORTAL)["facts"]["tls"]["issuer"], "CN=Lab Issuing CA 01, O=netspec lab");
    assert_eq!(check(&b, PORTAL)["facts"]["tls"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(check(&b, API)["facts"]["http"]["status"], 401);
    assert!(check(&b, API)["facts"]["http"].get("body").is_none(), "never the body");

    // The gated post-check: the planned change passes, the others fail with drift.<fact>.
    let a = json(&f("after.json"));
    assert_eq!(check(&a, KV)["outcome"], "passed");
    assert_eq!(check(&a, PORTAL)["outcome"], "failed");
    assert_eq!(check(&a, PORTAL)["reason_code"], "drift.issuer");
    assert_eq!(check(&a, API)["reason_code"], "drift.status");
    let api = check(&a, API);
    let unmet: Vec<&str> = api["unmet"].as_array().unwrap().iter().map(|u| u["key"].as_str().unwrap()).collect();
    assert!(unmet.contains(&"drift.status"), "{unmet:?}");
    assert_eq!(a["drift"]["totals"]["changed"], 3, "{}", a["drift"]);
    assert_eq!(a["drift"]["totals"]["unexpected"], 2, "{}", a["drift"]);

    // A run diffed against itself, and two runs of the unchanged world: nothing.
    let (code, text) = diff(&[&f("before.json"), &f("before.json")], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("3 checks: 3 unchanged, 0 changed"), "{text}");
    let (code, text) = diff(&[&f("before.json"), &f("before-b.json")], &NO_LATENCY);
    assert_eq!(code, 0, "{text}");

    // Before → after, fact by fact.
    let (code, text) = diff(&[&f("before.json"), &f("plain-after.json")], &NO_LATENCY);
    assert_eq!(code, 1, "{text}");
    for line in [
        "addresses 10.12.4.20 → 10.12.4.21",
        "cname_chain gained data-prod-wus2.vaultcore.example",
        "issuer CN=Lab Issuing CA 01, O=netspec lab → CN=Contoso TLS Inspection Root, O=netspec lab",
        "status 401 → 200",
    ] {
        assert!(text.contains(line), "missing `{line}`:\n{text}");
    }
    assert!(!text.contains("outcome"), "no outcome changed:\n{text}");

    // The expected-change file: the planned change is green, the unplanned ones stay red.
    let e = ["--expect-change", changes.to_str().unwrap()];
    let (code, text) = diff(&[&f("before.json"), &f("plain-after.json")], &[&NO_LATENCY[..], &e[..]].concat());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("PLANNED  {KV}")) && text.contains(&format!("CHANGED  {PORTAL}")), "{text}");
    let everything = f("everything.yaml");
    std::fs::write(&everything, "\"change-window/*\": [addresses, cname_chain, issuer, fingerprint, not_after, status, body]\n").unwrap();
    let (code, text) =
        diff(&[&f("before.json"), &f("plain-after.json")], &[&NO_LATENCY[..], &["--expect-change", everything.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "only planned changes: {text}");

    // Reports: JSON, JUnit (one testcase per check, failures typed drift.<fact>), HTML.
    let (j, x, h) = (f("d.json"), f("d.xml"), f("d.html"));
    let (code, _) = diff(
        &[&f("before.json"), &f("plain-after.json")],
        &[&NO_LATENCY[..], &e[..], &["--json", j.to_str().unwrap(), "--junit", x.to_str().unwrap(), "--html", h.to_str().unwrap()]]
            .concat(),
    );
    assert_eq!(code, 1);
    let d = json(&j);
    let kv = d["checks"].as_array().unwrap().iter().find(|c| c["id"] == KV).unwrap();
    assert!(kv["changes"].as_array().unwrap().iter().all(|c| c["expected"] == true), "{kv}");
    let xml = std::fs::read_to_string(&x).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 3);
    let types: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("failure")).filter_map(|n| n.attribute("type")).collect();
    assert_eq!(types, ["drift.issuer", "drift.status"]);
    let html = std::fs::read_to_string(&h).unwrap();
    assert!(html.contains("CN=Contoso TLS Inspection Root") && html.contains("class=\"before\""), "side by side");

    // Merged reports compare per vantage point: only `a` changed.
    let (m1, m2) = (f("m1.json"), f("m2.json"));
    for (out, inputs) in [(&m1, [f("before.json"), f("before-b.json")]), (&m2, [f("plain-after.json"), f("before-b.json")])] {
        let o = netspec().arg("merge").args(inputs).arg("--json").arg(out).output().unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (code, text) = diff(&[&m1, &m2], &NO_LATENCY);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("CHANGED  {KV} @ a")) && !text.contains(" @ b"), "{text}");
}

#[test]
fn bad_input_is_a_located_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("bad.json"), "{\n  \"netspec_version\": \"0.1.0\",\n  oops\n}").unwrap();
    let (code, text) = diff(&[&p("bad.json"), &p("bad.json")], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.json") && text.contains("line 3"), "{text}");
    std::fs::write(p("ok.json"), r#"{"netspec_version":"0.1.0","name":"n","vantage":"v","duration_ms":1,"totals":{"passed":0,"failed":0,"errors":0,"cancelled":0},"checks":[]}"#).unwrap();
    std::fs::write(p("c.yaml"), "\"s/*\": [addresses]\n\"t/*\": [issuer, colour]\n").unwrap();
    let (code, text) = diff(&[&p("ok.json"), &p("ok.json")], &["--expect-change", p("c.yaml").to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("c.yaml:2:"), "{text}");
}

/// examples/drift: two demo runs are a real before/after pair (a fresh lab CA, a new resolver
/// port); the example's change request makes the diff green, and without it the diff is red.
#[test]
fn the_demo_example_pair_runs_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("before.json"), dir.path().join("after.json"));
    let demo = |out: &Path, extra: &[&str]| netspec().arg("demo").arg("--json").arg(out).args(extra).output().unwrap();
    assert_eq!(demo(&a, &[]).status.code(), Some(1), "the demo has failing checks");
    let page = dir.path().join("after.html");
    let o = demo(&b, &["--baseline", a.to_str().unwrap(), "--latency-min", "1h", "--html", page.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("drift: ") && text.contains("fingerprint sha256:"), "{text}");
    assert!(json(&b)["drift"]["totals"]["changed"].as_u64().unwrap() > 0);
    // The run's HTML page carries the drift section too.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Changes since the baseline") && html.contains("fingerprint sha256:"), "no drift section in the HTML page");
    let changes = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/drift/demo-changes.yaml");
    assert_eq!(diff(&[&a, &b], &NO_LATENCY).0, 1);
    let (code, text) = diff(&[&a, &b], &[&NO_LATENCY[..], &["--expect-change", changes.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{text}");
    assert_eq!(diff(&[&a, &a], &[]).0, 0);
}
