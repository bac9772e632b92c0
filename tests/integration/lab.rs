//! End-to-end tests against the real lab of `tests/lab/`: network namespaces in which dnsmasq
//! (split-horizon DNS), nginx (TLS endpoints), tinyproxy (authenticating proxy) and nftables
//! (drops and resets) play the endpoints of the shipped suites, with planted faults. netspec runs
//! in the lab's client namespace; its JUnit report is read back and every testcase is checked:
//! which pass, which fail, and that each failure names what was observed.
//!
//! Needs root, iproute2, nftables, dnsmasq, nginx, tinyproxy and openssl (see tests/lab/README.md).
//! Without them the tests print why and pass as skipped, unless the environment variable `CI` is
//! set: then they fail. Tests running at the same time share one lab; the last one to finish tears
//! it down (also on panic).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netspec");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// A netspec run that takes longer than this is killed and reported.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// The 26 regions of suites/arc-sql.yaml, in its order.
const REGIONS: [&str; 26] = [
    "australiaeast",
    "brazilsouth",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "eastus",
    "eastus2",
    "francecentral",
    "japaneast",
    "koreacentral",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "southafricanorth",
    "southcentralus",
    "southeastasia",
    "swedencentral",
    "switzerlandnorth",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westus2",
    "westus3",
];

// Check names of the shipped suites.
const ARC_DPS_DNS: &str = "DPS name resolves to public addresses";
const ARC_TEL_DNS: &str = "telemetry name resolves to public addresses";
const ARC_DPS_TCP: &str = "DPS port 443 is open";
const ARC_DPS_TLS: &str = "DPS certificate is trusted with TLS 1.2 or newer";
const ARC_TEL_TLS: &str = "telemetry certificate is trusted with TLS 1.2 or newer";
const ARC_DPS_HTTP: &str = "DPS answers 200 on its unauthenticated route";
const ARC_TEL_HTTP: &str = "telemetry demands authentication (401)";
const ARC_CHECKS: [&str; 7] = [ARC_DPS_DNS, ARC_TEL_DNS, ARC_DPS_TCP, ARC_DPS_TLS, ARC_TEL_TLS, ARC_DPS_HTTP, ARC_TEL_HTTP];

const MIG_PE: &str = "private endpoints";
const MIG_KV_DNS: &str = "key vault resolves privately via privatelink";
const MIG_SA_DNS: &str = "storage blob resolves privately via privatelink";
const MIG_DISC_DNS: &str = "discovery service resolves privately via privatelink";
const MIG_KV_TCP: &str = "key vault answers on 443 at its private address";
const MIG_PUB: &str = "public urls";
const MIG_PUB_CHECKS: [&str; 3] =
    ["Azure portal answers over HTTPS", "Azure AD sign-in answers over HTTPS", "Azure Resource Manager answers over HTTPS"];

const ADF_DIRECT: &str = "service direct";
const ADF_DIRECT_CHECKS: [&str; 3] = ["service URL resolves", "service certificate is trusted", "service answers over HTTPS"];
const ADF_PROXY: &str = "service via proxy";
const ADF_PROXY_CHECK: &str = "service answers over HTTPS through the proxy";
const ADF_NODE_DNS: &str = "node name resolves";
const ADF_NODE_TCP: &str = "worker manager port 8060 is open";

// ------------------------------------------------------------------------------------------------
// The lab
// ------------------------------------------------------------------------------------------------

struct Lab {
    name: String,
    state: PathBuf,
    proxy_password: String,
}

impl Lab {
    fn client_ns(&self) -> String {
        format!("{}-client", self.name)
    }
    fn file(&self, name: &str) -> String {
        self.state.join(name).display().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(lab_dir().join("down.sh")).arg(&self.name).status();
    }
}

fn lab_dir() -> PathBuf {
    Path::new(ROOT).join("tests/lab")
}

static LAB: Mutex<Weak<Lab>> = Mutex::new(Weak::new());
static GENERATION: AtomicUsize = AtomicUsize::new(0);
static RUNS: AtomicUsize = AtomicUsize::new(0);
/// One netspec run at a time per test process: tests share the lab and the machine, and a
/// CPU-starved netspec (a debug build doing a hundred TLS handshakes at once next to another one)
/// can miss its own 2 s deadlines, which it then reports as network timeouts.
static RUN_LOCK: Mutex<()> = Mutex::new(());

/// The shared lab, brought up on first use; `None` (after printing why) when this machine cannot
/// host it and `CI` is not set.
fn lab() -> Option<Arc<Lab>> {
    let mut slot = LAB.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lab) = slot.upgrade() {
        return Some(lab);
    }
    let check = Command::new("bash").arg(lab_dir().join("up.sh")).arg("--check").output();
    let why = match check {
        Err(e) => Some(format!("cannot run tests/lab/up.sh --check: {e}")),
        Ok(o) if !o.status.success() => {
            Some(format!("{}{}", String::from_utf8_lossy(&o.stdout).trim(), String::from_utf8_lossy(&o.stderr).trim()))
        }
        Ok(_) => None,
    };
    if let Some(why) = why {
        if std::env::var_os("CI").is_some() {
            panic!("the netspec lab is unavailable and CI is set: {why}");
        }
        eprintln!("skipping lab test (set CI to make this a failure): {why}");
        return None;
    }
    clean_stale_labs();
    // Unique per process and per bring-up, so a lab being torn down never collides with the next.
    let name = format!("nsl{}g{}", std::process::id(), GENERATION.fetch_add(1, Ordering::SeqCst));
    let state = PathBuf::from(format!("/tmp/netspec-lab-{name}"));
    let started = Instant::now();
    let up = Command::new("bash").arg(lab_dir().join("up.sh")).arg(&name).output().expect("run tests/lab/up.sh");
    // From here on the guard owns the lab: it is torn down even if bring-up failed half-way.
    let mut lab = Lab { name, state, proxy_password: String::new() };
    assert!(
        up.status.success(),
        "tests/lab/up.sh {} failed ({}):\n{}{}",
        lab.name,
        up.status,
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    eprintln!("lab {} up in {:.1?}", lab.name, started.elapsed());
    lab.proxy_password = std::fs::read_to_string(lab.state.join("proxy-password")).expect("lab proxy-password file");
    let lab = Arc::new(lab);
    *slot = Arc::downgrade(&lab);
    Some(lab)
}

/// Tears down labs left behind by earlier test processes that were killed before their guard ran
/// (names `nsl<pid>g<n>` whose process is gone).
fn clean_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/tmp") else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_prefix("netspec-lab-")) else {
            continue;
        };
        let Some(pid) = name.strip_prefix("nsl").and_then(|rest| rest.split('g').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("bash").arg(lab_dir().join("down.sh")).arg(name).status();
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Running netspec in the lab
// ------------------------------------------------------------------------------------------------

struct Run {
    cmdline: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    junit_xml: Option<String>,
    junit: Result<Junit, String>,
}

/// `ip netns exec <client ns> netspec run suites/<suite>.yaml --vars-file <lab>/<vars>
/// --timeout 2s --junit <tmp> <extra>` (`suite` may instead be a `.yaml` path relative to the
/// crate root, e.g. `tests/lab/faults.yaml`)
/// with SSL_CERT_FILE set to the lab CA and the proxy
/// password in NETSPEC_PROXY_PASSWORD (overridable through `env`).
fn netspec(lab: &Lab, suite: &str, vars: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    // Output goes under the lab's state dir, which down.sh removes.
    let dir = lab.state.join(format!("run-{}", RUNS.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).expect("create run dir");
    let junit_path = dir.join("junit.xml");
    let suite_path =
        if suite.ends_with(".yaml") { Path::new(ROOT).join(suite) } else { Path::new(ROOT).join("suites").join(format!("{suite}.yaml")) };
    let mut args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        lab.client_ns(),
        BIN.into(),
        "run".into(),
        suite_path.display().to_string(),
        "--vars-file".into(),
        lab.file(vars),
        "--timeout".into(),
        "2s".into(),
        "--junit".into(),
        junit_path.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let cmdline = format!("ip {}", args.join(" "));

    let mut cmd = Command::new("ip");
    cmd.args(&args);
    // Nothing from the caller's environment may steer the run: no proxies, no NETSPEC_VAR_*.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.to_ascii_lowercase().ends_with("_proxy") || key.starts_with("NETSPEC_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("SSL_CERT_FILE", lab.file("ca.pem")).env("NETSPEC_PROXY_PASSWORD", &lab.proxy_password).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    cmd.stdin(Stdio::null()).stdout(File::create(&out_path).expect("stdout file")).stderr(File::create(&err_path).expect("stderr file"));

    let _one_at_a_time = RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn ip netns exec netspec");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for netspec") {
            break Some(status);
        }
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n[killed after {RUN_DEADLINE:?}]"));
    }
    let junit_xml = std::fs::read_to_string(&junit_path).ok();
    let junit = match &junit_xml {
        Some(xml) => parse_junit(xml),
        None => Err(format!("no JUnit file written at {}", junit_path.display())),
    };
    eprintln!("[{:>6.2?}] exit {:?}: {cmdline}", elapsed, status.and_then(|s| s.code()));
    Run { cmdline, code: status.and_then(|s| s.code()), stdout, stderr, elapsed, junit_xml, junit }
}

// ------------------------------------------------------------------------------------------------
// JUnit
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Junit {
    name: String,
    suites: Vec<Suite>,
}

#[derive(Debug)]
struct Suite {
    name: String,
    cases: Vec<Case>,
}

#[derive(Debug)]
struct Case {
    name: String,
    classname: String,
    verdict: Verdict,
    /// `type` attribute of `<failure>` or `<error>`: the reason code, or `assertion`
    failure_type: String,
    system_out: String,
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Pass,
    /// `message` attribute and text of `<failure>`
    Failure(String, String),
    /// `message` attribute and text of `<error>`
    Error(String, String),
    Skipped,
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Failure(..) => "failure",
            Verdict::Error(..) => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

fn text_of(node: roxmltree::Node) -> String {
    node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()
}

fn parse_junit(xml: &str) -> Result<Junit, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("JUnit is not XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("testsuites") {
        return Err(format!("JUnit root is <{}>, not <testsuites>", root.tag_name().name()));
    }
    let mut suites = Vec::new();
    for ts in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let mut cases = Vec::new();
        for tc in ts.children().filter(|n| n.has_tag_name("testcase")) {
            let child = |tag: &str| tc.children().find(|n| n.has_tag_name(tag));
            let verdict = if let Some(f) = child("failure") {
                Verdict::Failure(f.attribute("message").unwrap_or("").into(), text_of(f))
            } else if let Some(e) = child("error") {
                Verdict::Error(e.attribute("message").unwrap_or("").into(), text_of(e))
            } else if child("skipped").is_some() {
                Verdict::Skipped
            } else {
                Verdict::Pass
            };
            let failure_type = child("failure").or_else(|| child("error")).and_then(|n| n.attribute("type")).unwrap_or("").to_string();
            cases.push(Case {
                name: tc.attribute("name").unwrap_or("").into(),
                classname: tc.attribute("classname").unwrap_or("").into(),
                verdict,
                failure_type,
                system_out: child("system-out").map(text_of).unwrap_or_default(),
            });
        }
        suites.push(Suite { name: ts.attribute("name").unwrap_or("").into(), cases });
    }
    Ok(Junit { name: root.attribute("name").unwrap_or("").into(), suites })
}

// ------------------------------------------------------------------------------------------------
// Expectations
// ------------------------------------------------------------------------------------------------

/// What one testcase must look like.
#[derive(Clone, Debug)]
struct Expect {
    pass: bool,
    /// substrings (case-insensitive) of the failure message and text
    message: Vec<String>,
    /// substrings (case-insensitive) the failure message and text must not contain
    absent: Vec<String>,
    /// substrings (case-insensitive) of the testcase's system-out
    out: Vec<String>,
    /// the reason code the failure must carry (JUnit `<failure type>`), whose hint from
    /// src/reasons.rs must appear in the failure text
    reason: Option<&'static str>,
}

fn pass() -> Expect {
    Expect { pass: true, message: vec![], absent: vec![], out: vec![], reason: None }
}

fn fail(message: &[&str]) -> Expect {
    Expect { pass: false, message: message.iter().map(|s| s.to_string()).collect(), absent: vec![], out: vec![], reason: None }
}

/// A failure with reason `code` (and its built-in hint), mentioning `message`.
fn fail_with(code: &'static str, message: &[&str]) -> Expect {
    Expect { reason: Some(code), ..fail(message) }
}

impl Expect {
    fn out(mut self, out: &[&str]) -> Self {
        self.out.extend(out.iter().map(|s| s.to_string()));
        self
    }
    fn without(mut self, absent: &[&str]) -> Self {
        self.absent.extend(absent.iter().map(|s| s.to_string()));
        self
    }
}

/// Expected testcases of one run: (scenario instance, check name) -> expectation.
type Plan = BTreeMap<(String, String), Expect>;

fn plan_add(plan: &mut Plan, scenario: &str, check: &str, expect: Expect) {
    plan.insert((scenario.to_string(), check.to_string()), expect);
}

/// Compares a run with the expected exit code and the exact set of testcases; returns the list of
/// mismatches (empty when all is as expected).
fn mismatches(run: &Run, suite_name: &str, exit: i32, plan: &Plan) -> Vec<String> {
    let mut problems = Vec::new();
    if run.code != Some(exit) {
        problems.push(format!("exit code: expected {exit}, observed {:?}", run.code));
    }
    let junit = match &run.junit {
        Ok(j) => j,
        Err(e) => {
            problems.push(e.clone());
            return problems;
        }
    };
    if junit.name != suite_name {
        problems.push(format!("<testsuites name>: expected {suite_name:?}, observed {:?}", junit.name));
    }
    let mut seen: BTreeMap<(String, String), &Case> = BTreeMap::new();
    for suite in &junit.suites {
        for case in &suite.cases {
            let key = (suite.name.clone(), case.name.clone());
            let classname = format!("{suite_name}.{}", suite.name);
            if case.classname != classname {
                problems.push(format!("[{} / {}] classname: expected {classname:?}, observed {:?}", suite.name, case.name, case.classname));
            }
            if seen.insert(key, case).is_some() {
                problems.push(format!("[{} / {}] appears twice", suite.name, case.name));
            }
        }
    }
    for (key, expect) in plan {
        let Some(case) = seen.get(key) else {
            problems.push(format!("[{} / {}] missing from the JUnit report", key.0, key.1));
            continue;
        };
        let at = format!("[{} / {}]", key.0, key.1);
        match (&case.verdict, expect.pass) {
            (Verdict::Pass, true) => {}
            (Verdict::Failure(message, text), false) => {
                if let Some(code) = expect.reason {
                    if case.failure_type != code {
                        problems.push(format!("{at} reason code: expected {code}, observed {:?}; message: {message:?}", case.failure_type));
                    }
                    match netspec::model::Reason::from_code(code) {
                        None => problems.push(format!("{at} the test expects {code}, which src/model/reason.rs does not define")),
                        Some(r) if !text.contains(r.likely()) => problems.push(format!(
                            "{at} the failure text lacks the hint of {code} ({:?}); text: {:?}",
                            r.likely(),
                            shorten(text, 600)
                        )),
                        Some(_) => {}
                    }
                }
                let haystack = format!("{message}\n{text}").to_lowercase();
                for needle in &expect.message {
                    if !haystack.contains(&needle.to_lowercase()) {
                        problems.push(format!("{at} failure should mention {needle:?}; message: {message:?}"));
                    }
                }
                for needle in &expect.absent {
                    if haystack.contains(&needle.to_lowercase()) {
                        problems.push(format!("{at} failure should not mention {needle:?}; message: {message:?}"));
                    }
                }
            }
            (other, true) => problems.push(format!("{at} expected pass, observed {}: {}", other.word(), brief(other))),
            (other, false) => {
                problems.push(format!("{at} expected failure mentioning {:?}, observed {}: {}", expect.message, other.word(), brief(other)))
            }
        }
        let out = case.system_out.to_lowercase();
        for needle in &expect.out {
            if !out.contains(&needle.to_lowercase()) {
                problems.push(format!("{at} system-out should mention {needle:?}; system-out: {:?}", shorten(&case.system_out, 600)));
            }
        }
    }
    for key in seen.keys() {
        if !plan.contains_key(key) {
            problems.push(format!("[{} / {}] unexpected testcase", key.0, key.1));
        }
    }
    problems
}

fn brief(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Failure(m, t) | Verdict::Error(m, t) => shorten(&format!("{m} {t}"), 300),
        _ => String::new(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// Panics with every mismatch and what netspec printed; otherwise returns quietly.
fn verify(run: &Run, suite_name: &str, exit: i32, plan: &Plan) {
    let problems = mismatches(run, suite_name, exit, plan);
    if !problems.is_empty() {
        panic!("{}", explain(run, &problems));
    }
}

fn explain(run: &Run, problems: &[String]) -> String {
    let mut s = format!("{} mismatch(es) in: {}\n", problems.len(), run.cmdline);
    for p in problems {
        s.push_str(&format!("  - {p}\n"));
    }
    if let Ok(junit) = &run.junit {
        s.push_str("testcases that did not pass:\n");
        for suite in &junit.suites {
            for case in suite.cases.iter().filter(|c| c.verdict != Verdict::Pass) {
                s.push_str(&format!("  [{} / {}] {}: {}\n", suite.name, case.name, case.verdict.word(), brief(&case.verdict)));
            }
        }
    } else if let Some(xml) = &run.junit_xml {
        s.push_str(&format!("JUnit:\n{}\n", shorten(xml, 3000)));
    }
    s.push_str(&format!("stdout (tail):\n{}\nstderr (tail):\n{}\n", tail(&run.stdout, 3000), tail(&run.stderr, 3000)));
    s
}

fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(max)).collect()
}

// ------------------------------------------------------------------------------------------------
// arc-sql
// ------------------------------------------------------------------------------------------------

fn arc_scenario(region: &str) -> String {
    format!("arc-sql {region}")
}

/// Every check of `regions` passes, unless `faults` says otherwise.
fn arc_plan(regions: &[&str], faults: &[(&str, &str, Expect)]) -> Plan {
    let mut plan = Plan::new();
    for region in regions {
        for check in ARC_CHECKS {
            plan_add(&mut plan, &arc_scenario(region), check, pass());
        }
    }
    for (region, check, expect) in faults {
        assert!(regions.contains(region), "fault for a region outside the run: {region}");
        plan_add(&mut plan, &arc_scenario(region), check, expect.clone());
    }
    plan
}

/// The planted arc-sql faults (tests/lab/README.md), checked over the suite's full 26-region matrix.
#[test]
fn lab_arc_sql_all_regions() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "arc-sql", "arc-sql.vars.yaml", &[], &[]);
    let faults = [
        // telemetry answers 200 where 401 is expected
        ("eastus2", ARC_TEL_HTTP, fail(&["expected 401", "observed 200"])),
        // DPS 443 dropped
        ("southeastasia", ARC_DPS_TCP, fail(&["20.150.17.4", "filtered"])),
        ("southeastasia", ARC_DPS_TLS, fail(&["filtered"])),
        ("southeastasia", ARC_DPS_HTTP, fail(&["no response"])),
        // DPS 443 reset
        ("uksouth", ARC_DPS_TCP, fail(&["20.150.21.4", "closed"])),
        ("uksouth", ARC_DPS_TLS, fail(&["closed"])),
        ("uksouth", ARC_DPS_HTTP, fail(&["closed"])),
        // no DNS records at all
        ("japaneast", ARC_DPS_DNS, fail(&["expected NOERROR", "NXDOMAIN"])),
        ("japaneast", ARC_TEL_DNS, fail(&["expected NOERROR", "NXDOMAIN"])),
        ("japaneast", ARC_DPS_TCP, fail(&["NXDOMAIN"])),
        ("japaneast", ARC_DPS_TLS, fail(&["NXDOMAIN"])),
        ("japaneast", ARC_TEL_TLS, fail(&["NXDOMAIN"])),
        ("japaneast", ARC_DPS_HTTP, fail(&["NXDOMAIN"])),
        ("japaneast", ARC_TEL_HTTP, fail(&["NXDOMAIN"])),
        // DPS certificate issued by another CA (a TLS-inspecting proxy's): reason and issuer
        ("australiaeast", ARC_DPS_TLS, fail(&["untrusted", "issuer", "Contoso TLS Inspection CA"])),
        ("australiaeast", ARC_DPS_HTTP, fail(&["tls.intercepted", "Contoso TLS Inspection CA"])),
        // DPS certificate expired
        ("centralus", ARC_DPS_TLS, fail(&["untrusted", "expired"])),
        ("centralus", ARC_DPS_HTTP, fail(&["expired"])),
        // telemetry certificate trusted but valid for 3 more days only (expires_in min 14d)
        ("westus2", ARC_TEL_TLS, fail(&["expires_in"]).without(&["untrusted"])),
        // the corp view answers a private address for the DPS
        ("northeurope", ARC_DPS_DNS, fail(&["10.150.13.4", "not public"])),
    ];
    verify(&run, "azure-arc-sql", 1, &arc_plan(&REGIONS, &faults));
}

#[test]
fn lab_arc_sql_healthy_regions_exit_zero() {
    let Some(lab) = lab() else { return };
    let regions = ["eastus", "westeurope", "westus3"];
    let run = netspec(&lab, "arc-sql", "arc-sql.vars.yaml", &["--matrix", "region=eastus,westeurope,westus3"], &[]);
    let mut plan = arc_plan(&regions, &[]);
    // the observations name the address actually used
    plan_add(&mut plan, "arc-sql eastus", ARC_DPS_HTTP, pass().out(&["20.150.7.4"]));
    plan_add(&mut plan, "arc-sql eastus", ARC_DPS_DNS, pass().out(&["20.150.7.4"]));
    verify(&run, "azure-arc-sql", 0, &plan);
}

/// Split horizon: the corp view (also what resolv.conf points at, i.e. `system`) answers a private
/// address for northeurope's DPS, the public view a public one. Every check kind must use the
/// resolver the suite names, not the system one.
#[test]
fn lab_arc_sql_resolver_views() {
    let Some(lab) = lab() else { return };
    let one = ["--matrix", "region=northeurope"];

    let run = netspec(&lab, "arc-sql", "arc-sql.vars.yaml", &[&one[..], &["--var", "resolver=system"]].concat(), &[]);
    let plan = arc_plan(&["northeurope"], &[("northeurope", ARC_DPS_DNS, fail(&["10.150.13.4", "not public"]))]);
    verify(&run, "azure-arc-sql", 1, &plan);

    let run = netspec(&lab, "arc-sql", "arc-sql.vars.yaml", &[&one[..], &["--var", "corp_dns=10.0.0.54"]].concat(), &[]);
    let mut plan = arc_plan(&["northeurope"], &[]);
    plan_add(&mut plan, "arc-sql northeurope", ARC_DPS_DNS, pass().out(&["20.150.13.4"]));
    plan_add(&mut plan, "arc-sql northeurope", ARC_DPS_TCP, pass().out(&["20.150.13.4"]));
    plan_add(&mut plan, "arc-sql northeurope", ARC_DPS_HTTP, pass().out(&["20.150.13.4"]));
    verify(&run, "azure-arc-sql", 0, &plan);
}

/// Every DPS and telemetry name of all 26 regions resolves to one address whose 443 is dropped:
/// 26 x 5 checks that each wait out the 2 s timeout. Sequentially that is 260 s (26 x 2 s even
/// per region); concurrently it must take a few seconds.
#[test]
fn lab_arc_sql_26_dropped_regions_run_concurrently() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "arc-sql", "arc-sql-blackhole.vars.yaml", &[], &[]);
    eprintln!("arc-sql, 26 regions, every DPS/telemetry 443 dropped, --timeout 2s: {:.2?} (exit {:?})", run.elapsed, run.code);
    let mut faults = Vec::new();
    for region in REGIONS {
        faults.push((region, ARC_DPS_TCP, fail(&["20.150.254.4", "filtered"])));
        for check in [ARC_DPS_TLS, ARC_TEL_TLS, ARC_DPS_HTTP, ARC_TEL_HTTP] {
            faults.push((region, check, fail(&[])));
        }
    }
    let mut problems = mismatches(&run, "azure-arc-sql", 1, &arc_plan(&REGIONS, &faults));
    if run.elapsed >= Duration::from_secs(12) {
        problems.push(format!("took {:.2?}; 26 regions x 2 s timeout must finish in well under 52 s (limit 12 s)", run.elapsed));
    }
    if !problems.is_empty() {
        panic!("{}", explain(&run, &problems));
    }
}

// ------------------------------------------------------------------------------------------------
// migrate-private-endpoints
// ------------------------------------------------------------------------------------------------

fn migrate_plan(pe: [Expect; 4]) -> Plan {
    let mut plan = Plan::new();
    let [kv, sa, disc, tcp] = pe;
    plan_add(&mut plan, MIG_PE, MIG_KV_DNS, kv);
    plan_add(&mut plan, MIG_PE, MIG_SA_DNS, sa);
    plan_add(&mut plan, MIG_PE, MIG_DISC_DNS, disc);
    plan_add(&mut plan, MIG_PE, MIG_KV_TCP, tcp);
    for check in MIG_PUB_CHECKS {
        plan_add(&mut plan, MIG_PUB, check, pass());
    }
    plan
}

#[test]
fn lab_migrate_healthy_private_endpoints() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "migrate-private-endpoints", "migrate.vars.yaml", &[], &[]);
    let plan = migrate_plan([
        pass().out(&["contoso-migrate-kv.privatelink.vaultcore.azure.net", "10.12.4.20"]),
        pass().out(&["10.12.4.21"]),
        pass().out(&["10.12.4.23"]),
        pass().out(&["10.12.4.20"]),
    ]);
    verify(&run, "azure-migrate-private-endpoints", 0, &plan);
}

#[test]
fn lab_migrate_faults() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "migrate-private-endpoints", "migrate-faults.vars.yaml", &[], &[]);
    let plan = migrate_plan([
        // the corp answer leaks the public address (privatelink zone not linked)
        fail(&["52.160.10.40", "not private", "10.12.4.40"]),
        // private, but not the address of the DNS settings file
        fail(&["10.12.4.51", "10.12.4.41", "dns-settings.txt"]).without(&["not private"]),
        pass(),
        // the public address answers 443
        pass().out(&["52.160.10.40"]),
    ]);
    verify(&run, "azure-migrate-private-endpoints", 1, &plan);
}

/// The healthy names asked of the public view (a corp DNS without forwarders for the privatelink
/// zones): the CNAME chain still goes through privatelink, but ends at public addresses.
#[test]
fn lab_migrate_public_view() {
    let Some(lab) = lab() else { return };
    let run =
        netspec(&lab, "migrate-private-endpoints", "migrate.vars.yaml", &["--var", "resolver=corp", "--var", "corp_dns=10.0.0.54"], &[]);
    let plan = migrate_plan([
        fail(&["52.160.10.20", "not private"]),
        fail(&["52.160.10.21", "not private"]),
        fail(&["52.160.10.23", "not private"]),
        pass().out(&["52.160.10.20"]),
    ]);
    verify(&run, "azure-migrate-private-endpoints", 1, &plan);
}

// ------------------------------------------------------------------------------------------------
// adf-shir
// ------------------------------------------------------------------------------------------------

fn node_scenario(node: &str) -> String {
    format!("node {node}.corp.example")
}

fn adf_service_plan(plan: &mut Plan, via_proxy: Expect) {
    for check in ADF_DIRECT_CHECKS {
        plan_add(plan, ADF_DIRECT, check, pass());
    }
    plan_add(plan, ADF_PROXY, ADF_PROXY_CHECK, via_proxy);
}

#[test]
fn lab_adf_shir_nodes() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "adf-shir", "adf.vars.yaml", &[], &[]);
    let mut plan = Plan::new();
    // the proxied request really went through the proxy
    adf_service_plan(&mut plan, pass().out(&["10.0.0.8:3128"]));
    plan_add(&mut plan, &node_scenario("shir-node1"), ADF_NODE_DNS, pass().out(&["10.2.4.11"]));
    plan_add(&mut plan, &node_scenario("shir-node1"), ADF_NODE_TCP, pass());
    plan_add(&mut plan, &node_scenario("shir-node2"), ADF_NODE_DNS, pass());
    plan_add(&mut plan, &node_scenario("shir-node2"), ADF_NODE_TCP, fail(&["10.2.4.12", "closed"]));
    plan_add(&mut plan, &node_scenario("shir-node3"), ADF_NODE_DNS, pass());
    plan_add(&mut plan, &node_scenario("shir-node3"), ADF_NODE_TCP, fail(&["10.2.4.13", "filtered"]));
    plan_add(&mut plan, &node_scenario("shir-node4"), ADF_NODE_DNS, fail(&["NXDOMAIN"]));
    plan_add(&mut plan, &node_scenario("shir-node4"), ADF_NODE_TCP, fail(&["NXDOMAIN"]));
    let mut problems = mismatches(&run, "adf-shir", 1, &plan);
    // the proxy password comes from the environment: it must not appear in any report
    for (what, text) in
        [("JUnit", run.junit_xml.as_deref().unwrap_or("")), ("stdout", run.stdout.as_str()), ("stderr", run.stderr.as_str())]
    {
        if text.contains(&lab.proxy_password) {
            problems.push(format!("the proxy password (NETSPEC_PROXY_PASSWORD) appears in {what}"));
        }
    }
    if !problems.is_empty() {
        panic!("{}", explain(&run, &problems));
    }
}

#[test]
fn lab_adf_shir_one_healthy_node_exit_zero() {
    let Some(lab) = lab() else { return };
    let run = netspec(&lab, "adf-shir", "adf.vars.yaml", &["--matrix", "node=shir-node1.corp.example"], &[]);
    let mut plan = Plan::new();
    adf_service_plan(&mut plan, pass());
    plan_add(&mut plan, &node_scenario("shir-node1"), ADF_NODE_DNS, pass());
    plan_add(&mut plan, &node_scenario("shir-node1"), ADF_NODE_TCP, pass());
    verify(&run, "adf-shir", 0, &plan);
}

/// The proxy demands credentials. Without any it answers 407; with a wrong password tinyproxy
/// 1.11 answers 401 to the CONNECT (its quirk, not netspec's), which netspec must report as the
/// proxy's answer.
#[test]
fn lab_adf_shir_proxy_authentication() {
    let Some(lab) = lab() else { return };
    let only_proxy = ["--scenario", ADF_PROXY];

    let run = netspec(
        &lab,
        "adf-shir",
        "adf.vars.yaml",
        &[&only_proxy[..], &["--var", "proxy_user="]].concat(),
        &[("NETSPEC_PROXY_PASSWORD", "")],
    );
    let mut plan = Plan::new();
    plan_add(&mut plan, ADF_PROXY, ADF_PROXY_CHECK, fail(&["407"]));
    verify(&run, "adf-shir", 1, &plan);

    let run = netspec(&lab, "adf-shir", "adf.vars.yaml", &only_proxy, &[("NETSPEC_PROXY_PASSWORD", "wrong")]);
    let mut plan = Plan::new();
    plan_add(&mut plan, ADF_PROXY, ADF_PROXY_CHECK, fail(&["proxy", "401"]));
    verify(&run, "adf-shir", 1, &plan);
}

/// The JUnit reader itself (no lab needed), on the shape quick-junit writes.
#[test]
fn lab_junit_reader() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="adf-shir" tests="3" failures="1" errors="1">
    <testsuite name="node a" tests="3" disabled="0" errors="1" failures="1">
        <properties><property name="resolver" value="system"/></properties>
        <testcase name="ok" classname="adf-shir.node a" time="0.010">
            <system-out><![CDATA[addresses: 10.2.4.11]]></system-out>
        </testcase>
        <testcase name="bad" classname="adf-shir.node a">
            <failure message="expected open, observed filtered &amp; more" type="expectation">detail <![CDATA[text]]></failure>
        </testcase>
        <testcase name="broken" classname="adf-shir.node a">
            <error message="bad url"/>
        </testcase>
    </testsuite>
</testsuites>"#;
    let junit = parse_junit(xml).expect("parse");
    assert_eq!(junit.name, "adf-shir");
    assert_eq!(junit.suites.len(), 1);
    let cases = &junit.suites[0].cases;
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].verdict, Verdict::Pass);
    assert_eq!(cases[0].system_out, "addresses: 10.2.4.11");
    assert_eq!(cases[1].verdict, Verdict::Failure("expected open, observed filtered & more".into(), "detail text".into()));
    assert_eq!(cases[2].verdict, Verdict::Error("bad url".into(), String::new()));
    assert_eq!((cases[0].failure_type.as_str(), cases[1].failure_type.as_str()), ("", "expectation"));

    let run = Run {
        cmdline: "netspec run".into(),
        code: Some(1),
        stdout: String::new(),
        stderr: String::new(),
        elapsed: Duration::ZERO,
        junit_xml: Some(xml.into()),
        junit: Ok(junit),
    };
    let mut plan = Plan::new();
    plan_add(&mut plan, "node a", "ok", pass().out(&["10.2.4.11"]));
    plan_add(&mut plan, "node a", "bad", fail(&["FILTERED"]));
    plan_add(&mut plan, "node a", "broken", fail(&[]));
    plan_add(&mut plan, "node a", "missing", pass());
    let problems = mismatches(&run, "adf-shir", 1, &plan);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("expected failure") && problems[0].contains("observed error"), "{problems:#?}");
    assert!(problems[1].contains("missing from the JUnit report"), "{problems:#?}");
}

/// issue 6: three vantage points (the corp resolver, the public one, the appliance's system
/// resolver) run the migrate checks in the lab; `netspec merge` shows where they differ.
#[test]
fn lab_merge_three_vantages_shows_the_split_horizon() {
    let Some(lab) = lab() else { return };
    let out = tempfile::tempdir().unwrap();
    let json = |v: &str| out.path().join(format!("{v}.json")).display().to_string();
    let only = ["--scenario", "private endpoints"];
    let runs = [
        ("corp-site", vec!["--var", "resolver=corp", "--var", "corp_dns=10.0.0.53"]),
        ("internet", vec!["--var", "resolver=corp", "--var", "corp_dns=10.0.0.54"]),
        ("appliance", vec!["--var", "resolver=system"]),
    ];
    for (vantage, vars) in &runs {
        let path = json(vantage);
        let mut extra: Vec<&str> = vars.clone();
        extra.extend(only);
        extra.extend(["--vantage", vantage, "--json", path.as_str()]);
        let run = netspec(&lab, "migrate-private-endpoints", "migrate.vars.yaml", &extra, &[]);
        assert!(run.code == Some(0) || run.code == Some(1), "{vantage}: {}", explain(&run, &[]));
        assert!(Path::new(&path).exists(), "{vantage}: no JSON results written");
    }
    let merged = out.path().join("merged.json");
    let html = out.path().join("merged.html");
    let status = Command::new(BIN)
        .args(["merge", &json("corp-site"), &json("internet"), &json("appliance"), "--json"])
        .arg(&merged)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run netspec merge");
    assert_eq!(status.status.code(), Some(1), "a vantage failed, so merge exits 1: {}", String::from_utf8_lossy(&status.stderr));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let vantages: Vec<&str> = doc["vantages"].as_array().unwrap().iter().map(|v| v["vantage"].as_str().unwrap()).collect();
    assert_eq!(vantages, ["corp-site", "internet", "appliance"]);
    let kv = "azure-migrate-private-endpoints/private endpoints/key vault resolves privately via privatelink";
    let diff =
        doc["differences"].as_array().unwrap().iter().find(|d| d["id"] == kv).unwrap_or_else(|| panic!("no difference for {kv}: {doc}"));
    let class_at = |v: &str| {
        diff["at"].as_array().unwrap().iter().find(|s| s["vantage"] == v).map(|s| s["address_class"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(class_at("corp-site").as_deref(), Some("private"), "{diff}");
    assert_eq!(class_at("internet").as_deref(), Some("public"), "{diff}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("internet") && page.contains("corp-site"), "the HTML names every vantage");
}

// ------------------------------------------------------------------------------------------------
// tests/lab/faults.yaml: middleboxes and broken resolvers (issue 4)
// ------------------------------------------------------------------------------------------------

const FAULTS: &str = "tests/lab/faults.yaml";
const FAULTS_VARS: &str = "faults.vars.yaml";
const F_INSPECT: &str = "tls inspection";
const F_INSPECT_HTTPS: &str = "tls inspection over https";
const F_VERSIONS: &str = "tls versions";
const F_PROXY: &str = "proxy policy";
const F_DNS: &str = "broken resolvers";
const F_PLAIN_BLOCKED: &str = "blocked site over plain HTTP through the proxy";

/// netspec runs `tests/lab/faults.yaml` with the lab's faults vars and the extra filter flags.
fn faults(lab: &Lab, extra: &[&str]) -> Run {
    let inspection_ca = format!("inspection_ca={}", lab.file("untrusted-ca.pem"));
    let mut args = vec!["--var", inspection_ca.as_str()];
    args.extend(extra);
    netspec(lab, FAULTS, FAULTS_VARS, &args, &[])
}

/// A transparent TLS-inspecting firewall: the lab's nftables DNAT sends 40.74.2.10:443 to a
/// middlebox that presents a certificate for the real name, issued by the untrusted "Contoso TLS
/// Inspection CA". netspec must call it interception (not just "untrusted"), also when only the
/// `issuer` expectation fails, and trust it once that CA is given with `ca_file`.
#[test]
fn lab_faults_tls_inspection() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_INSPECT]);
    let mut plan = Plan::new();
    plan_add(
        &mut plan,
        F_INSPECT,
        "service certificate is trusted",
        fail_with("tls.intercepted", &["40.74.2.10", "untrusted", "Contoso TLS Inspection CA", "looks intercepted"])
            .without(&["tls.untrusted"])
            // the address is the real one: the interception is transparent
            .out(&["40.74.2.10:443", "issuer: O=Contoso, CN=Contoso TLS Inspection CA", "looks intercepted"]),
    );
    plan_add(
        &mut plan,
        F_INSPECT,
        "service certificate comes from the service's CA",
        fail_with("tls.intercepted", &["issuer", "netspec lab root CA", "Contoso TLS Inspection CA"]),
    );
    plan_add(&mut plan, F_INSPECT, "trusted once the inspection CA is given", pass().out(&["trusted"]));
    verify(&run, "lab-faults", 1, &plan);
}

/// A certificate from a CA that is not trusted (here: only the inspection CA is, with `ca_file`)
/// and that names no inspection product is merely untrusted.
#[test]
fn lab_faults_tls_untrusted_is_not_interception() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", "tls trust"]);
    let mut plan = Plan::new();
    plan_add(
        &mut plan,
        "tls trust",
        "service certificate against another CA",
        fail_with("tls.untrusted", &["UnknownIssuer", "netspec lab root CA"]).without(&["looks intercepted"]),
    );
    verify(&run, "lab-faults", 1, &plan);
}

/// The same interception seen by an HTTPS request. The HTTP probe is being rewritten (own hyper
/// client) to call `probe::tls::interception`; with the reqwest-based probe this reports
/// `tls.untrusted` and the test fails.
#[test]
fn lab_faults_tls_inspection_over_https() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_INSPECT_HTTPS]);
    let mut plan = Plan::new();
    plan_add(&mut plan, F_INSPECT_HTTPS, "service answers over HTTPS", fail_with("tls.intercepted", &["Contoso TLS Inspection CA"]));
    verify(&run, "lab-faults", 1, &plan);
}

/// `refuses_versions`: a TLS 1.3-only nginx refuses a handshake that offers TLS 1.2 alone (and is
/// still trusted with TLS 1.3); the ordinary service accepts it: `tls.version_accepted`.
#[test]
fn lab_faults_tls_versions() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_VERSIONS]);
    let mut plan = Plan::new();
    plan_add(
        &mut plan,
        F_VERSIONS,
        "TLS 1.3-only endpoint refuses TLS 1.2",
        pass().out(&["40.74.4.10:443 TLS 1.3", "TLS 1.2 only: refused"]),
    );
    plan_add(
        &mut plan,
        F_VERSIONS,
        "service refuses TLS 1.2",
        fail_with("tls.version_accepted", &["refuses_versions", "TLS 1.2 refused", "40.74.1.10:443: TLS 1.2 accepted"]),
    );
    verify(&run, "lab-faults", 1, &plan);
}

/// A filtering proxy (tinyproxy, no credentials) lets files.clouddatahub.net and the service
/// through and blocks blocked.clouddatahub.net: CONNECT gets its 403 "Filtered" page, which must
/// be reported as the proxy's refusal, not the endpoint's answer.
#[test]
fn lab_faults_proxy_block_page_connect() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_PROXY, "--check", "allowed*", "--check", "blocked site over HTTPS*"]);
    let mut plan = Plan::new();
    plan_add(&mut plan, F_PROXY, "allowed site over plain HTTP through the proxy", pass().out(&["10.0.0.9:3128"]));
    plan_add(&mut plan, F_PROXY, "allowed site over HTTPS through the proxy", pass().out(&["10.0.0.9:3128"]));
    plan_add(&mut plan, F_PROXY, "blocked site over HTTPS through the proxy", fail_with("http.proxy_denied", &["403", "tinyproxy"]));
    verify(&run, "lab-faults", 1, &plan);
}

/// The same block page for a plain-HTTP request: the 403 comes from the proxy itself (its Server
/// header names tinyproxy), so the reason is `http.proxy_denied`, not `http.status`. The HTTP
/// probe rewrite (own hyper client) implements this; the reqwest-based probe reports
/// `http.status` and this test fails.
#[test]
fn lab_faults_proxy_block_page_plain_http() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_PROXY, "--check", F_PLAIN_BLOCKED]);
    let mut plan = Plan::new();
    plan_add(&mut plan, F_PROXY, F_PLAIN_BLOCKED, fail_with("http.proxy_denied", &["403"]).out(&["tinyproxy"]));
    verify(&run, "lab-faults", 1, &plan);
}

/// A resolver whose port 53 is dropped (nftables) and a validating resolver that answers SERVFAIL
/// (DNSSEC validation fails: the lab's internet is unsigned); a port check through each reports
/// the resolver's failure.
#[test]
fn lab_faults_broken_resolvers() {
    let Some(lab) = lab() else { return };
    let run = faults(&lab, &["--scenario", F_DNS]);
    let mut plan = Plan::new();
    plan_add(&mut plan, F_DNS, "resolver that never answers", fail_with("dns.timeout", &["no response", "10.0.0.55:53"]));
    plan_add(&mut plan, F_DNS, "port check through the resolver that never answers", fail_with("dns.timeout", &["10.0.0.55:53"]));
    plan_add(&mut plan, F_DNS, "resolver that answers SERVFAIL", fail_with("dns.servfail", &["expected NOERROR", "SERVFAIL"]));
    plan_add(&mut plan, F_DNS, "port check through the resolver that answers SERVFAIL", fail_with("dns.servfail", &["SERVFAIL"]));
    let mut problems = mismatches(&run, "lab-faults", 1, &plan);
    // one deadline (2 s) for the dropped resolver, not one per check
    if run.elapsed >= Duration::from_secs(8) {
        problems.push(format!("took {:.2?} with --timeout 2s", run.elapsed));
    }
    if !problems.is_empty() {
        panic!("{}", explain(&run, &problems));
    }
}

/// The codes of docs/reason-codes.md (first column of its table).
fn documented_codes() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/reason-codes.md")).expect("docs/reason-codes.md");
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let code = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            Some((code.to_string(), cells.get(2).map(|h| h.trim_end_matches(" |").to_string()).unwrap_or_default()))
        })
        .collect()
}

/// Every failing case of every lab run (the three shipped suites with their planted faults, and
/// tests/lab/faults.yaml) carries a reason code of docs/reason-codes.md as its JUnit type, and
/// the failure text gives that code's hint; the lab's faults cover the documented codes the issue
/// names.
#[test]
fn lab_every_failure_has_a_documented_reason_code() {
    let Some(lab) = lab() else { return };
    let docs = documented_codes();
    assert!(docs.contains_key("dns.nxdomain") && docs.contains_key("tls.intercepted") && !docs.contains_key("assertion"), "{docs:?}");
    let inspection_ca = format!("inspection_ca={}", lab.file("untrusted-ca.pem"));
    let runs = [
        netspec(&lab, "arc-sql", "arc-sql.vars.yaml", &[], &[]),
        netspec(&lab, "migrate-private-endpoints", "migrate-faults.vars.yaml", &[], &[]),
        netspec(&lab, "adf-shir", "adf.vars.yaml", &[], &[]),
        netspec(&lab, "adf-shir", "adf.vars.yaml", &["--scenario", ADF_PROXY], &[("NETSPEC_PROXY_PASSWORD", "wrong")]),
        netspec(&lab, FAULTS, FAULTS_VARS, &["--var", inspection_ca.as_str()], &[]),
    ];
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        let junit = match &run.junit {
            Ok(j) => j,
            Err(e) => panic!("{}", explain(run, std::slice::from_ref(e))),
        };
        for suite in &junit.suites {
            for case in &suite.cases {
                let at = format!("{} [{} / {}]", run.cmdline.rsplit('/').next().unwrap_or(""), suite.name, case.name);
                match &case.verdict {
                    Verdict::Failure(_, text) => {
                        *seen.entry(case.failure_type.clone()).or_default() += 1;
                        match docs.get(&case.failure_type) {
                            None => problems.push(format!("{at}: reason code {:?} is not in docs/reason-codes.md", case.failure_type)),
                            Some(hint) => {
                                if !text.contains(&format!("likely: {hint}")) {
                                    problems.push(format!("{at}: the failure text lacks the documented hint {hint:?}"));
                                }
                            }
                        }
                    }
                    Verdict::Error(message, _) => problems.push(format!("{at}: error instead of a failure: {message}")),
                    Verdict::Pass | Verdict::Skipped => {}
                }
            }
        }
    }
    eprintln!("reason codes of the lab's failing cases: {seen:?}");
    for code in [
        "dns.nxdomain",
        "dns.timeout",
        "dns.servfail",
        "tcp.filtered",
        "tcp.closed",
        "tls.untrusted",
        "tls.expired",
        "tls.intercepted",
        "tls.version_accepted",
        "http.status",
        "http.proxy_auth_required",
        "http.proxy_denied",
    ] {
        if !seen.contains_key(code) {
            problems.push(format!("no lab case produces {code}"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n  {}", problems.len(), problems.join("\n  "));
}
