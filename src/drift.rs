//! Drift: what changed in the network between two runs of the same checks — the pre-check and
//! the post-check of a change window (`netspec diff BEFORE.json AFTER.json`), or a run and its
//! baseline (`netspec run --baseline BEFORE.json [--fail-on-drift]`).
//!
//! Checks are paired by id (and by vantage point when either side is a merged report, so a
//! merge of many sites compares site by site) and compared fact by fact ([`crate::facts`]):
//! addresses as sets, the CNAME chain as a list, the TLS leaf's issuer, subject, fingerprint and
//! end of validity, the HTTP status, … Record order and TTLs are not facts, so they never
//! change; latency is a change only beyond a ratio *and* an absolute difference
//! ([`Thresholds`]). Checks added or removed and outcome changes are reported too.
//!
//! An expected-change file ([`ExpectChanges`], `--expect-change FILE`) lists, per check-id glob,
//! the facts a change request allows to change: those are still reported, marked expected, and
//! no longer count. Exit code of `netspec diff`: 0 nothing (unexpected) changed, 1 something
//! did, 2 bad input.
//!
//! Boundary: reads results documents (never the network); renders the console text, JSON,
//! HTML and JUnit of a [`DiffReport`]; [`Gate`] judges a running check against a baseline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::expect::Assertion;
use crate::facts::Facts;
use crate::model::Verdict;
use crate::report::json::{self, ReadError};
use crate::report::{CheckSummary, ReportError, outcome_name};
use crate::run::{CheckResult, Outcome};
use crate::suite::LoadError;
use crate::suite::template::Secrets;

pub use crate::report::diff::{Change, CheckDiff, DiffReport, DiffTotals, DocInfo, Fact, Status, Thresholds};

/// Every fact, in report order.
pub const FACTS: [Fact; 19] = [
    Fact::Presence,
    Fact::Outcome,
    Fact::Reason,
    Fact::Rcode,
    Fact::Server,
    Fact::Addresses,
    Fact::CnameChain,
    Fact::TcpState,
    Fact::TlsVersion,
    Fact::Subject,
    Fact::Issuer,
    Fact::Fingerprint,
    Fact::NotAfter,
    Fact::Status,
    Fact::RemoteAddress,
    Fact::Proxy,
    Fact::Body,
    Fact::Hops,
    Fact::Latency,
];

/// A `netspec diff` input or expected-change file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A results document is unreadable or invalid (the message has serde_json's line and
    /// column).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The expected-change file is invalid (file:line:column, snippet and hint).
    #[error("{0}")]
    ExpectChange(Box<LoadError>),
}

/// A merged document's check, as far as drift reads it.
#[derive(Deserialize)]
struct MergedCheckIn {
    results: Vec<VantageIn>,
}

#[derive(Deserialize)]
struct VantageIn {
    vantage: String,
    #[serde(flatten)]
    summary: CheckSummary,
}

#[derive(Deserialize)]
struct MergedIn {
    name: String,
    vantages: Vec<MergedVantageIn>,
    checks: Vec<MergedCheckIn>,
}

#[derive(Deserialize)]
struct MergedVantageIn {
    vantage: String,
}

/// A results document reduced to what drift compares: (vantage, check id) → summary.
#[derive(Debug, Clone)]
pub struct Doc {
    /// What it is.
    pub info: DocInfo,
    /// A merged report (compared per vantage point).
    pub merged: bool,
    /// Every check at every vantage point, in document order.
    pub checks: IndexMap<(String, String), CheckSummary>,
}

/// Reads a results document of `netspec run --json` or `netspec merge --json`.
///
/// Errors: [`ReadError`] naming the file (with line and column for JSON errors).
pub fn read_doc(path: &Path) -> Result<Doc, ReadError> {
    let err = |message: String| ReadError { path: path.to_owned(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        report: Option<json::DocKind>,
    }
    let head: Head = serde_json::from_str(&text).map_err(|e| err(format!("not a netspec JSON results file: {e}")))?;
    let file = path.display().to_string();
    match head.report.unwrap_or_default() {
        json::DocKind::Run => {
            let doc = json::read(path)?;
            let checks = doc.checks.into_iter().map(|c| ((doc.vantage.clone(), c.summary.id.clone()), c.summary)).collect();
            Ok(Doc { info: DocInfo { file, name: doc.name, vantages: vec![doc.vantage], started: doc.started }, merged: false, checks })
        }
        json::DocKind::Merged => {
            let m: MergedIn = serde_json::from_str(&text).map_err(|e| err(format!("not a netspec merged results file: {e}")))?;
            let mut checks = IndexMap::new();
            for c in m.checks {
                for r in c.results {
                    checks.insert((r.vantage, r.summary.id.clone()), r.summary);
                }
            }
            let vantages = m.vantages.into_iter().map(|v| v.vantage).collect();
            Ok(Doc { info: DocInfo { file, name: m.name, vantages, started: String::new() }, merged: true, checks })
        }
    }
}

// --- expected changes ---------------------------------------------------------------------

/// An expected-change file: check-id glob → the facts a change request allows to change.
///
/// ```yaml
/// # CHG-1234: migrate the key vault's private endpoint to the new subnet
/// "azure-migrate-private-endpoints/*/key vault*": [addresses]
/// "*/*/portal*": [issuer, fingerprint, not_after]
/// ```
///
/// Globs use `*`, `?` and `[...]` (globset), matched against the whole id
/// (`suite/scenario/check`); a change is expected when any entry whose glob matches the id
/// lists its fact.
#[derive(Debug, Clone)]
pub struct ExpectChanges {
    /// The file.
    pub path: PathBuf,
    rules: Vec<(globset::GlobMatcher, BTreeSet<Fact>)>,
}

impl ExpectChanges {
    /// Reads and checks an expected-change file (YAML, with serde-saphyr's budgets).
    ///
    /// Errors: [`DriftError::ExpectChange`] with file:line:column and a hint: unreadable,
    /// not a mapping of strings to fact lists, an unknown fact name, or an invalid glob.
    pub fn load(path: &Path) -> Result<ExpectChanges, DriftError> {
        let wrap = |e: LoadError| DriftError::ExpectChange(Box::new(e));
        let text = std::fs::read_to_string(path).map_err(|e| {
            wrap(LoadError::input(format!("failed to read {}: {e}", path.display()), Some("give the expected-change YAML file")))
        })?;
        Self::parse(path, &text)
    }

    /// Parses an expected-change file's text (see [`ExpectChanges::load`]).
    ///
    /// Errors: as [`ExpectChanges::load`].
    pub fn parse(path: &Path, text: &str) -> Result<ExpectChanges, DriftError> {
        let wrap = |e: LoadError| DriftError::ExpectChange(Box::new(e));
        // An empty file (or only comments) plans nothing.
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Ok(ExpectChanges { path: path.to_owned(), rules: Vec::new() });
        }
        let map: IndexMap<String, Vec<Fact>> = serde_saphyr::from_str_with_options(text, crate::suite::yaml::options()).map_err(|e| {
            let mut err = crate::suite::yaml::error(path, text, e);
            err = err.with_hint(format!(
                "write `\"CHECK-ID GLOB\": [FACT, ...]`; facts: {}",
                FACTS.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            ));
            wrap(err)
        })?;
        let mut rules = Vec::new();
        for (glob, facts) in map {
            let g = globset::GlobBuilder::new(&glob).literal_separator(false).build().map_err(|e| {
                let (line, col) = locate(text, &glob);
                wrap(
                    LoadError::at(path, Some(text), line, col, format!("invalid check-id glob `{glob}`: {}", e.kind()))
                        .with_hint("use `*`, `?` and `[...]`, e.g. \"my-suite/*/key vault*\""),
                )
            })?;
            rules.push((g.compile_matcher(), facts.into_iter().collect()));
        }
        Ok(ExpectChanges { path: path.to_owned(), rules })
    }

    /// Whether a change of `fact` in check `id` is expected.
    pub fn allows(&self, id: &str, fact: Fact) -> bool {
        self.rules.iter().any(|(g, facts)| facts.contains(&fact) && g.is_match(id))
    }
}

/// Line and column (1-based) of the first occurrence of `needle` in `text` (1:1 if absent).
fn locate(text: &str, needle: &str) -> (u32, u32) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(needle) {
            return (i as u32 + 1, line[..c].chars().count() as u32 + 1);
        }
    }
    (1, 1)
}

// --- comparison -----------------------------------------------------------------------------

fn none_or(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())
}

fn push(out: &mut Vec<Change>, fact: Fact, before: String, after: String) {
    if before != after {
        let text = format!("{fact} {before} → {after}");
        out.push(Change { fact, before, after, text, expected: false });
    }
}

/// A set compared: `gained x, y; lost z`.
fn set_change(out: &mut Vec<Change>, fact: Fact, before: &[String], after: &[String]) {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    if a == b {
        return;
    }
    let join =
        |s: &BTreeSet<&String>| if s.is_empty() { "none".to_string() } else { s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ") };
    let text = format!("{fact} {} → {}", join(&b), join(&a));
    out.push(Change { fact, before: join(&b), after: join(&a), text, expected: false });
}

/// A list compared: `gained x` / `lost y` when one is the other plus names, else `a → b`.
fn list_change(out: &mut Vec<Change>, fact: Fact, before: &[String], after: &[String]) {
    if before == after {
        return;
    }
    let show = |l: &[String]| if l.is_empty() { "none".to_string() } else { l.join(" → ") };
    let gained: Vec<&String> = after.iter().filter(|x| !before.contains(x)).collect();
    let lost: Vec<&String> = before.iter().filter(|x| !after.contains(x)).collect();
    let mut parts = Vec::new();
    if !gained.is_empty() {
        parts.push(format!("gained {}", gained.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !lost.is_empty() {
        parts.push(format!("lost {}", lost.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if parts.is_empty() {
        parts.push(format!("reordered {} → {}", show(before), show(after)));
    }
    let text = format!("{fact} {}", parts.join("; "));
    out.push(Change { fact, before: show(before), after: show(after), text, expected: false });
}

fn addresses(s: &CheckSummary) -> Vec<String> {
    let ips = match s.facts.as_ref().and_then(|f| f.dns.as_ref()) {
        Some(d) => d.addresses.clone(),
        None => s.addresses.clone(),
    };
    ips.iter().map(|i| i.to_string()).collect()
}

fn short_hash(h: Option<&String>) -> String {
    match h {
        Some(h) if !h.is_empty() => format!("sha256:{}", &h[..h.len().min(16)]),
        _ => "none".into(),
    }
}

/// The changes from `b` to `a` (the same check), before any expected-change file applies.
pub fn compare(b: &CheckSummary, a: &CheckSummary, th: &Thresholds) -> Vec<Change> {
    let mut out = Vec::new();
    push(&mut out, Fact::Outcome, outcome_name(b.outcome).into(), outcome_name(a.outcome).into());
    push(&mut out, Fact::Reason, none_or(b.reason_code.clone()), none_or(a.reason_code.clone()));
    let empty = Facts::default();
    let (fb, fa) = (b.facts.as_ref().unwrap_or(&empty), a.facts.as_ref().unwrap_or(&empty));
    let (db, da) = (fb.dns.as_ref(), fa.dns.as_ref());
    push(&mut out, Fact::Rcode, none_or(db.and_then(|d| d.rcode.clone())), none_or(da.and_then(|d| d.rcode.clone())));
    push(&mut out, Fact::Server, none_or(db.and_then(|d| d.server.clone())), none_or(da.and_then(|d| d.server.clone())));
    set_change(&mut out, Fact::Addresses, &addresses(b), &addresses(a));
    list_change(
        &mut out,
        Fact::CnameChain,
        &db.map(|d| d.cname_chain.clone()).unwrap_or_default(),
        &da.map(|d| d.cname_chain.clone()).unwrap_or_default(),
    );
    // TCP state of the addresses both runs connected (a new address is an `addresses` change).
    for t in &fa.tcp {
        if let Some(old) = fb.tcp.iter().find(|x| x.address == t.address)
            && old.state != t.state
        {
            let text = format!("tcp_state {} {} → {}", t.address, old.state, t.state);
            out.push(Change {
                fact: Fact::TcpState,
                before: format!("{} {}", t.address, old.state),
                after: format!("{} {}", t.address, t.state),
                text,
                expected: false,
            });
        }
    }
    match (&fb.tls, &fa.tls) {
        (Some(tb), Some(ta)) => {
            push(&mut out, Fact::TlsVersion, tb.version.clone(), ta.version.clone());
            // An https request records the chain only when it was refused: empty means unknown.
            push(&mut out, Fact::Subject, none_or(Some(tb.subject.clone())), none_or(Some(ta.subject.clone())));
            push(&mut out, Fact::Issuer, none_or(Some(tb.issuer.clone())), none_or(Some(ta.issuer.clone())));
            push(&mut out, Fact::Fingerprint, short_hash(Some(&tb.sha256)), short_hash(Some(&ta.sha256)));
            push(&mut out, Fact::NotAfter, none_or(Some(tb.not_after.clone())), none_or(Some(ta.not_after.clone())));
        }
        (Some(tb), None) => push(&mut out, Fact::TlsVersion, tb.version.clone(), "no handshake".into()),
        (None, Some(ta)) => push(&mut out, Fact::TlsVersion, "no handshake".into(), ta.version.clone()),
        (None, None) => {}
    }
    let (hb, ha) = (fb.http.as_ref(), fa.http.as_ref());
    if hb.is_some() || ha.is_some() {
        let status = |h: Option<&crate::facts::HttpFacts>| match h.and_then(|h| h.status) {
            Some(s) => s.to_string(),
            None => "no response".into(),
        };
        push(&mut out, Fact::Status, status(hb), status(ha));
        let remote = |h: Option<&crate::facts::HttpFacts>| none_or(h.and_then(|h| h.remote_address).map(|a| a.to_string()));
        push(&mut out, Fact::RemoteAddress, remote(hb), remote(ha));
        push(&mut out, Fact::Proxy, none_or(hb.and_then(|h| h.proxy.clone())), none_or(ha.and_then(|h| h.proxy.clone())));
        push(
            &mut out,
            Fact::Body,
            short_hash(hb.and_then(|h| h.body_sha256.as_ref())),
            short_hash(ha.and_then(|h| h.body_sha256.as_ref())),
        );
    }
    if let (Some(pb), Some(pa)) = (&fb.path, &fa.path)
        && pb.hops != pa.hops
    {
        let show =
            |h: &[Option<std::net::IpAddr>]| h.iter().map(|x| x.map_or("*".to_string(), |i| i.to_string())).collect::<Vec<_>>().join(" ");
        let text = if pb.hops.len() != pa.hops.len() {
            format!("hops {} → {}", pb.hops.len(), pa.hops.len())
        } else {
            format!("hops {} → {}", show(&pb.hops), show(&pa.hops))
        };
        out.push(Change { fact: Fact::Hops, before: show(&pb.hops), after: show(&pa.hops), text, expected: false });
    }
    if b.facts.is_some() && a.facts.is_some() && th.latency_changed(fb.latency_ms, fa.latency_ms) {
        let (x, y) = (format!("{:.0} ms", fb.latency_ms), format!("{:.0} ms", fa.latency_ms));
        out.push(Change { fact: Fact::Latency, text: format!("latency {x} → {y}"), before: x, after: y, expected: false });
    }
    out
}

fn mark_expected(id: &str, changes: &mut [Change], expect: Option<&ExpectChanges>) {
    if let Some(e) = expect {
        for c in changes.iter_mut() {
            c.expected = e.allows(id, c.fact);
        }
    }
}

fn presence(id: &str, added: bool, expect: Option<&ExpectChanges>) -> Vec<Change> {
    let (before, after) = if added { ("absent", "present") } else { ("present", "absent") };
    let mut c = vec![Change {
        fact: Fact::Presence,
        before: before.into(),
        after: after.into(),
        text: format!("check {}", if added { "added" } else { "removed" }),
        expected: false,
    }];
    mark_expected(id, &mut c, expect);
    c
}

fn diff_one(
    id: &str,
    vantage: Option<String>,
    b: Option<&CheckSummary>,
    a: Option<&CheckSummary>,
    th: &Thresholds,
    expect: Option<&ExpectChanges>,
) -> CheckDiff {
    let (status, changes) = match (b, a) {
        (Some(b), Some(a)) => {
            let mut ch = compare(b, a, th);
            mark_expected(id, &mut ch, expect);
            (if ch.is_empty() { Status::Unchanged } else { Status::Changed }, ch)
        }
        (None, _) => (Status::Added, presence(id, true, expect)),
        (_, None) => (Status::Removed, presence(id, false, expect)),
    };
    CheckDiff { id: id.to_owned(), vantage, status, before: b.map(|s| s.outcome), after: a.map(|s| s.outcome), changes }
}

fn totals(checks: &[CheckDiff]) -> DiffTotals {
    let mut t = DiffTotals { checks: checks.len(), ..Default::default() };
    for c in checks {
        match c.status {
            Status::Unchanged => t.unchanged += 1,
            Status::Changed => t.changed += 1,
            Status::Added => t.added += 1,
            Status::Removed => t.removed += 1,
        }
        if c.unexpected().next().is_some() {
            t.unexpected += 1;
        }
    }
    t
}

/// Compares two documents. Two runs are paired by check id alone (a pod's vantage name may
/// change between runs); when either side is merged, by (vantage point, check id).
pub fn diff(before: &Doc, after: &Doc, th: &Thresholds, expect: Option<&ExpectChanges>) -> DiffReport {
    let per_vantage = before.merged || after.merged;
    let key = |(v, id): &(String, String)| if per_vantage { (v.clone(), id.clone()) } else { (String::new(), id.clone()) };
    let old: IndexMap<(String, String), &CheckSummary> = before.checks.iter().map(|(k, s)| (key(k), s)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut checks = Vec::new();
    for (k, a) in &after.checks {
        let k = key(k);
        let vantage = per_vantage.then(|| k.0.clone());
        checks.push(diff_one(&k.1, vantage, old.get(&k).copied(), Some(a), th, expect));
        seen.insert(k);
    }
    for (k, b) in &old {
        if !seen.contains(k) {
            checks.push(diff_one(&k.1, per_vantage.then(|| k.0.clone()), Some(b), None, th, expect));
        }
    }
    DiffReport {
        netspec_version: env!("CARGO_PKG_VERSION").into(),
        before: before.info.clone(),
        after: after.info.clone(),
        thresholds: *th,
        expect_change: expect.map(|e| e.path.display().to_string()),
        totals: totals(&checks),
        checks,
    }
}

// --- reports --------------------------------------------------------------------------------

/// Writes the JSON of a comparison atomically.
///
/// Errors: serialization or writing failed.
pub fn write_json(path: &Path, r: &DiffReport) -> Result<(), ReportError> {
    let s = serde_json::to_string_pretty(r).map_err(|e| ReportError::render("json", e))?;
    write_report(path, &s)
}

fn write_report(path: &Path, text: &str) -> Result<(), ReportError> {
    crate::util::write_atomic(path, text.as_bytes()).map_err(|source| ReportError::Write { path: path.to_owned(), source })
}

/// The JSON Schema of `netspec diff --json` (pretty-printed), as `schemas/diff.schema.json` holds it.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(DiffReport)).unwrap_or_default()
}

/// The JUnit XML of a comparison: one testsuite per vantage point (one for two runs), one
/// testcase per check; a check with unexpected changes fails with type `drift.<fact>` of its
/// first one, the message listing every changed fact and the description one line per change
/// (JUnit allows one `<failure>` per testcase, so the facts share it). Expected changes are
/// listed in `<system-out>`.
///
/// Errors: quick-junit's serialization error.
pub fn render_junit(r: &DiffReport) -> Result<String, ReportError> {
    use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("netspec diff");
    let mut suites: IndexMap<String, TestSuite> = IndexMap::new();
    for c in &r.checks {
        let suite_name = match &c.vantage {
            Some(v) => format!("drift @ {v}"),
            None => "drift".into(),
        };
        let unexpected: Vec<&Change> = c.unexpected().collect();
        let status = match unexpected.first() {
            None => TestCaseStatus::success(),
            Some(first) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_type(first.fact.code());
                st.set_message(unexpected.iter().map(|x| x.text.as_str()).collect::<Vec<_>>().join("; "));
                st.set_description(unexpected.iter().map(|x| format!("[{}] {}\n", x.fact.code(), x.text)).collect::<String>());
                st
            }
        };
        let mut tc = TestCase::new(c.id.as_str(), status);
        tc.set_classname(suite_name.as_str());
        tc.add_property(Property::new("status", format!("{:?}", c.status).to_lowercase()));
        let expected: Vec<&Change> = c.changes.iter().filter(|x| x.expected).collect();
        if !expected.is_empty() {
            tc.set_system_out(expected.iter().map(|x| format!("expected: {}\n", x.text)).collect::<String>());
        }
        suites.entry(suite_name.clone()).or_insert_with(|| TestSuite::new(suite_name)).add_test_case(tc);
    }
    report.add_test_suites(suites.into_values());
    report.to_string().map(|x| crate::report::junit::xml_chars(&x)).map_err(|e| ReportError::render("junit", e))
}

/// Writes [`render_junit`] atomically.
///
/// Errors: rendering or writing failed.
pub fn write_junit(path: &Path, r: &DiffReport) -> Result<(), ReportError> {
    write_report(path, &render_junit(r)?)
}

const HTML: &str = include_str!("drift.html.jinja");

/// The self-contained HTML page of a comparison: every changed, added and removed check with
/// its facts side by side (before | after), then the unchanged ones.
///
/// Errors: the template engine's error.
pub fn render_html(r: &DiffReport) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("drift.html", HTML).map_err(|e| ReportError::render("html", e))?;
    let t = env.get_template("drift.html").map_err(|e| ReportError::render("html", e))?;
    let label = |o: Option<Outcome>| o.map(|o| crate::report::mark(o).to_string()).unwrap_or_else(|| "—".into());
    let rows: Vec<serde_json::Value> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Unchanged)
        .map(|c| {
            serde_json::json!({
                "id": c.id, "vantage": c.vantage, "status": format!("{:?}", c.status).to_lowercase(),
                "planned": c.status == Status::Changed && c.unexpected().next().is_none(),
                "before": label(c.before), "after": label(c.after),
                "changes": c.changes.iter().map(|x| serde_json::json!({"fact": x.fact.name(), "before": x.before, "after": x.after, "expected": x.expected})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let same: Vec<String> = r.checks.iter().filter(|c| c.status == Status::Unchanged).map(|c| c.label()).collect();
    t.render(minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        before => r.before, after => r.after, totals => r.totals, thresholds => r.thresholds,
        expect_change => r.expect_change, rows => rows, same => same,
    })
    .map_err(|e| ReportError::render("html", e))
}

/// Writes [`render_html`] atomically.
///
/// Errors: rendering or writing failed.
pub fn write_html(path: &Path, r: &DiffReport) -> Result<(), ReportError> {
    write_report(path, &render_html(r)?)
}

// --- a run against a baseline ---------------------------------------------------------------

/// Judges each check of a run against a baseline document as it finishes
/// (`netspec run --baseline BEFORE.json`), and collects the comparison for the reports.
///
/// With `fail_on_drift`, a check whose facts changed in a way the expected-change file does not
/// allow fails: each such fact becomes a failed expectation `drift.<fact>` ("expected X as in
/// the baseline, observed Y") and the check's reason code is `drift.<fact>` unless another
/// expectation failed too. Outcome and reason-code changes never fail a check by themselves
/// (the check's own expectations decide those), nor does a check new since the baseline; the
/// baseline's checks the run did not have are reported as removed but fail nothing (a `--check`
/// or `--tag` selection legitimately runs fewer).
#[derive(Debug)]
pub struct Gate {
    baseline: Doc,
    vantage: String,
    thresholds: Thresholds,
    expect: Option<ExpectChanges>,
    fail_on_drift: bool,
    secrets: Secrets,
    seen: Mutex<Vec<(usize, CheckDiff)>>,
}

impl Gate {
    /// A gate for a run at `vantage`: a merged baseline is compared with its results at that
    /// vantage point.
    pub fn new(
        baseline: Doc,
        vantage: &str,
        thresholds: Thresholds,
        expect: Option<ExpectChanges>,
        fail_on_drift: bool,
        secrets: Secrets,
    ) -> Gate {
        Gate { baseline, vantage: vantage.to_owned(), thresholds, expect, fail_on_drift, secrets, seen: Mutex::new(Vec::new()) }
    }

    fn baseline_of(&self, id: &str) -> Option<&CheckSummary> {
        if self.baseline.merged {
            self.baseline.checks.get(&(self.vantage.clone(), id.to_owned()))
        } else {
            self.baseline.checks.iter().find(|((_, i), _)| i == id).map(|(_, s)| s)
        }
    }

    /// Compares a finished check with the baseline, records the comparison, and with
    /// `fail_on_drift` fails it for unexpected changes (see [`Gate`]). Cancelled checks are
    /// left alone.
    pub fn judge(&self, r: &mut CheckResult) {
        if r.outcome == Outcome::Cancelled {
            return;
        }
        let after = CheckSummary::of(r, &self.secrets);
        let vantage = self.baseline.merged.then(|| self.vantage.clone());
        let d = diff_one(&after.id, vantage, self.baseline_of(&r.meta.id), Some(&after), &self.thresholds, self.expect.as_ref());
        if self.fail_on_drift && d.status == Status::Changed {
            let failing: Vec<&Change> =
                d.unexpected().filter(|c| !matches!(c.fact, Fact::Outcome | Fact::Reason | Fact::Presence)).collect();
            if !failing.is_empty()
                && let Some(last) = r.attempts.last_mut()
            {
                for c in failing {
                    last.assertions.push(Assertion {
                        key: c.fact.code().into(),
                        passed: false,
                        verdict: Verdict::Fail,
                        reason: Some(c.fact.reason()),
                        expected: format!("{} (as in the baseline)", c.before).into(),
                        observed: c.after.clone(),
                    });
                }
                if r.outcome == Outcome::Passed {
                    r.outcome = Outcome::Failed;
                }
            }
        }
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push((r.meta.index, d));
    }

    /// The comparison of the run so far (checks in plan order, then the baseline's checks the
    /// run did not have as removed), `after` describing the run.
    pub fn report(&self, after: DocInfo) -> DiffReport {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        seen.sort_by_key(|(i, _)| *i);
        let ids: std::collections::HashSet<String> = seen.iter().map(|(_, d)| d.id.clone()).collect();
        let mut checks: Vec<CheckDiff> = seen.into_iter().map(|(_, d)| d).collect();
        for ((v, id), b) in &self.baseline.checks {
            if (!self.baseline.merged || *v == self.vantage) && !ids.contains(id) {
                checks.push(diff_one(id, self.baseline.merged.then(|| v.clone()), Some(b), None, &self.thresholds, self.expect.as_ref()));
            }
        }
        DiffReport {
            netspec_version: env!("CARGO_PKG_VERSION").into(),
            before: self.baseline.info.clone(),
            after,
            thresholds: self.thresholds,
            expect_change: self.expect.as_ref().map(|e| e.path.display().to_string()),
            totals: totals(&checks),
            checks,
        }
    }
}

impl crate::run::Review for Gate {
    fn review(&self, result: &mut CheckResult) {
        self.judge(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{DnsFacts, HttpFacts, TlsFacts};
    use crate::report::test_support::summary;

    fn with_facts(name: &str, f: Facts) -> CheckSummary {
        let mut s = summary(name, Outcome::Passed, None);
        s.facts = Some(f);
        s
    }

    fn dns(addrs: &[&str], chain: &[&str]) -> Facts {
        Facts {
            dns: Some(DnsFacts {
                resolver: "corp".into(),
                server: Some("10.0.0.53:53".into()),
                rcode: Some("NOERROR".into()),
                addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
                cname_chain: chain.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
            latency_ms: 10.0,
            ..Default::default()
        }
    }

    #[test]
    fn address_sets_and_cname_chains_compare_as_such() {
        let th = Thresholds::default();
        let b = with_facts("c", dns(&["10.12.4.20", "10.12.4.21"], &["kv.privatelink.vaultcore.azure.net"]));
        let same = with_facts("c", dns(&["10.12.4.21", "10.12.4.20"], &["kv.privatelink.vaultcore.azure.net"]));
        assert!(compare(&b, &same, &th).is_empty(), "record order is not a change");
        let a = with_facts("c", dns(&["20.50.1.20"], &["kv.privatelink.vaultcore.azure.net", "data-prod-wus2.vaultcore.azure.net"]));
        let ch = compare(&b, &a, &th);
        let texts: Vec<&str> = ch.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["addresses 10.12.4.20, 10.12.4.21 → 20.50.1.20", "cname_chain gained data-prod-wus2.vaultcore.azure.net"]);
    }

    #[test]
    fn issuer_status_and_latency() {
        let th = Thresholds::default();
        let tls = |issuer: &str, status: u16, ms: f64| Facts {
            tls: Some(TlsFacts {
                version: "1.3".into(),
                subject: "CN=a".into(),
                issuer: issuer.into(),
                sha256: "ab".into(),
                not_after: "x".into(),
            }),
            http: Some(HttpFacts { status: Some(status), ..Default::default() }),
            latency_ms: ms,
            ..Default::default()
        };
        let b = with_facts("c", tls("CN=Lab Issuing CA 01", 401, 20.0));
        let a = with_facts("c", tls("CN=Contoso TLS Inspection Root", 200, 60.0));
        let texts: Vec<String> = compare(&b, &a, &th).into_iter().map(|c| c.text).collect();
        assert_eq!(
            texts,
            ["issuer CN=Lab Issuing CA 01 → CN=Contoso TLS Inspection Root", "status 401 → 200"],
            "40 ms slower is not a change"
        );
        let slow = with_facts("c", tls("CN=Lab Issuing CA 01", 401, 90.0));
        assert_eq!(compare(&b, &slow, &th).iter().map(|c| c.fact).collect::<Vec<_>>(), [Fact::Latency]);
        assert!(th.latency_changed(100.0, 20.0) && !th.latency_changed(100.0, 60.0) && !th.latency_changed(1.0, 40.0));
    }

    #[test]
    fn expected_change_files_match_globs_and_point_at_mistakes() {
        let p = Path::new("changes.yaml");
        assert!(!ExpectChanges::parse(p, "# nothing planned\n").unwrap().allows("s/a/b", Fact::Addresses));
        let e = ExpectChanges::parse(p, "\"s/*/key vault*\": [addresses, cname_chain]\n").unwrap();
        assert!(e.allows("s/private endpoints/key vault resolves", Fact::Addresses));
        assert!(!e.allows("s/private endpoints/key vault resolves", Fact::Issuer));
        assert!(!e.allows("t/private endpoints/key vault resolves", Fact::Addresses));
        let err = ExpectChanges::parse(p, "\"s/*\": [addresses]\n\"t/*\": [adresses]\n").unwrap_err().to_string();
        assert!(err.contains("changes.yaml:2:"), "{err}");
        assert!(err.contains("cname_chain"), "the hint lists the facts: {err}");
        let err = ExpectChanges::parse(p, "\"s/[a\": [addresses]\n").unwrap_err().to_string();
        assert!(err.contains("changes.yaml:1:2") && err.contains("invalid check-id glob"), "{err}");
    }

    #[test]
    fn every_fact_has_a_distinct_name_and_code() {
        let names: BTreeSet<&str> = FACTS.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), FACTS.len());
        for f in FACTS {
            assert_eq!(f.code(), format!("drift.{}", f.name()));
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
        }
    }
}
