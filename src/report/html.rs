//! The HTML report: one self-contained page (inline CSS and JavaScript, a Content-Security-Policy
//! that forbids every fetch) rendered with minijinja from `html.jinja`, every value
//! HTML-escaped by minijinja's auto-escaping.
//!
//! A run's page has one matrix per suite, scenario instance × check name, each cell coloured by
//! outcome (`passed`, `failed`, `error`, `cancelled`; `missing` where a scenario has no such
//! check) and linked to the failure's details: unmet expectations, reason code, what was
//! observed and the hint. A merged page (`netspec merge`) has one matrix per suite, check ×
//! vantage, and a table of the checks whose outcome, reason or addresses differ between
//! vantage points, side by side. A filter box (and `?filter=TEXT&failed=1` in the URL) narrows
//! the rows; the script marks `<body data-ready="1">` once it has run.

use std::path::Path;

use indexmap::IndexMap;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::merged::Merged;
use super::{CheckSummary, ReportError, RunMeta, Unmet, mark, outcome_name, write_file};
use crate::run::{Outcome, Totals};

const TEMPLATE: &str = include_str!("html.jinja");

#[derive(Serialize)]
struct Page {
    version: &'static str,
    kind: &'static str,
    title: String,
    meta: Vec<(String, String)>,
    /// `(class, label, count)`.
    totals: Vec<(&'static str, &'static str, usize)>,
    row_count: usize,
    vantages: Vec<String>,
    differences: Vec<DiffRow>,
    /// With `--baseline`: every check that changed since the baseline, or was added or removed.
    drift: Vec<DriftRow>,
    tables: Vec<Table>,
    details: Vec<Detail>,
}

#[derive(Serialize)]
struct Table {
    caption: String,
    corner: String,
    columns: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    label: String,
    search: String,
    bad: bool,
    differs: bool,
    cells: Vec<Option<Cell>>,
}

#[derive(Serialize)]
struct Cell {
    outcome: &'static str,
    text: &'static str,
    note: Option<String>,
    title: String,
    anchor: Option<String>,
    id: String,
    vantage: Option<String>,
    reason_code: Option<String>,
}

#[derive(Serialize)]
struct Detail {
    anchor: String,
    outcome: &'static str,
    mark: &'static str,
    id: String,
    vantage: Option<String>,
    target: String,
    resolver: String,
    reason_code: Option<String>,
    /// What the reason code means and its likely cause ([`crate::reasons`]).
    meaning: Option<&'static str>,
    likely: Option<&'static str>,
    reason: Option<String>,
    unmet: Vec<Unmet>,
    observed: Vec<String>,
    hint: Option<String>,
    search: String,
    /// The path trace as a row of boxes, when there is one.
    path: Option<PathPicture>,
}

/// A path trace drawn as a row of boxes: this machine, each hop that answered, and how the
/// path ends (docs/path-diagnosis.md).
#[derive(Serialize)]
struct PathPicture {
    summary: String,
    method: &'static str,
    nodes: Vec<PathNode>,
}

#[derive(Serialize)]
struct PathNode {
    /// `you`, `hop 2`, `end`.
    label: String,
    address: String,
    /// RTT or what answered.
    note: String,
    /// CSS class: `you`, `hop`, `culprit` (the device the verdict names), `lost`, `end`.
    class: &'static str,
}

fn path_picture(p: &crate::path::PathTrace) -> PathPicture {
    use crate::path::{Answer, Verdict};
    let culprit = match &p.verdict {
        Verdict::DroppedAfterHop { address, .. } => Some(*address),
        Verdict::ResetByMiddlebox { address, .. } => *address,
        Verdict::Unreachable { address, .. } => Some(*address),
        Verdict::Reached { .. } | Verdict::Silent | Verdict::ResetByServer { .. } | Verdict::HopsOnly { .. } | Verdict::NotTraced => None,
    };
    let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mut nodes = vec![PathNode { label: "you".into(), address: String::new(), note: String::new(), class: "you" }];
    for h in &p.hops {
        let class = if Some(h.address) == culprit { "culprit" } else { "hop" };
        nodes.push(PathNode { label: format!("hop {}", h.hop), address: h.address.to_string(), note: ms(h.rtt), class });
    }
    let end = match &p.answer {
        Some(Answer::SynAck { from, rtt, .. }) => Some((from.to_string(), format!("SYN-ACK {}", ms(*rtt)), "end")),
        Some(Answer::Reset { from, reply_ttl, .. }) => {
            let ttl = reply_ttl.map(|t| format!(" (TTL {t})")).unwrap_or_default();
            Some((from.to_string(), format!("RST{ttl}"), if culprit.is_some() { "lost" } else { "end" }))
        }
        Some(Answer::Unreachable { code, .. }) => Some((String::new(), format!("ICMP unreachable, code {code}"), "lost")),
        None if matches!(p.verdict, Verdict::DroppedAfterHop { .. } | Verdict::Silent) => Some((String::new(), "no answer".into(), "lost")),
        None => None,
    };
    if let Some((address, note, class)) = end {
        nodes.push(PathNode { label: "end".into(), address, note, class });
    }
    PathPicture { summary: p.summary.clone(), method: p.method.as_str(), nodes }
}

#[derive(Serialize)]
struct DiffRow {
    id: String,
    aspects: Vec<String>,
    search: String,
    cells: Vec<DiffCell>,
}

/// One check's drift since the baseline (`run --baseline`).
#[derive(Serialize)]
struct DriftRow {
    id: String,
    /// `changed`, `planned` (only expected changes), `added`, `removed`.
    status: &'static str,
    /// One line per changed fact, `(text, expected)`.
    changes: Vec<(String, bool)>,
}

fn drift_rows(report: Option<&super::diff::DiffReport>) -> Vec<DriftRow> {
    use super::diff::Status;
    let Some(r) = report else { return Vec::new() };
    r.checks
        .iter()
        .filter_map(|c| {
            let status = match c.status {
                Status::Unchanged => return None,
                Status::Changed if c.unexpected().next().is_none() => "planned",
                Status::Changed => "changed",
                Status::Added => "added",
                Status::Removed => "removed",
            };
            let id = match &c.vantage {
                Some(v) => format!("{} @ {v}", c.id),
                None => c.id.clone(),
            };
            Some(DriftRow { id, status, changes: c.changes.iter().map(|x| (x.text.clone(), x.expected)).collect() })
        })
        .collect()
}

#[derive(Serialize)]
struct DiffCell {
    outcome: &'static str,
    text: String,
}

fn totals_row(t: Totals) -> Vec<(&'static str, &'static str, usize)> {
    let mut v = vec![("passed", "passed", t.passed), ("failed", "failed", t.failed), ("error", "errors", t.errors)];
    if t.cancelled > 0 {
        v.push(("cancelled", "cancelled", t.cancelled));
    }
    v
}

/// The small print of a run's cell: the reason code of a check that did not pass, and
/// `insecure` for a check that ran with TLS verification off.
fn note(s: &CheckSummary) -> Option<String> {
    let code = (s.outcome != Outcome::Passed).then(|| s.reason_code.clone()).flatten();
    match (code, s.insecure) {
        (Some(c), true) => Some(format!("{c} · insecure")),
        (None, true) => Some("insecure".into()),
        (c, false) => c,
    }
}

fn cell(s: &CheckSummary, vantage: Option<&str>, anchor: Option<String>, note: Option<String>) -> Cell {
    let mut title = format!("{}: {}", mark(s.outcome), s.id);
    if let Some(r) = &s.reason {
        title.push_str(&format!("\n{r}"));
    }
    if let Some(c) = &s.reason_code {
        title.push_str(&format!("\nreason: {c}"));
    }
    if s.insecure {
        title.push_str("\nTLS verification off (insecure: true)");
    }
    Cell {
        outcome: outcome_name(s.outcome),
        text: mark(s.outcome),
        note,
        title,
        anchor,
        id: s.id.clone(),
        vantage: vantage.map(str::to_owned),
        reason_code: s.reason_code.clone(),
    }
}

fn detail(s: &CheckSummary, vantage: Option<&str>, anchor: String) -> Detail {
    let mut search = format!("{} {} {}", s.id, s.target, s.reason_code.as_deref().unwrap_or(""));
    if let Some(v) = vantage {
        search.push(' ');
        search.push_str(v);
    }
    let known = s.reason_code.as_deref().and_then(crate::model::Reason::from_code);
    Detail {
        anchor,
        outcome: outcome_name(s.outcome),
        mark: mark(s.outcome),
        id: s.id.clone(),
        vantage: vantage.map(str::to_owned),
        target: s.target.clone(),
        resolver: s.resolver.clone(),
        reason_code: s.reason_code.clone(),
        meaning: known.map(|r| r.meaning()),
        likely: known.map(|r| r.likely()),
        reason: s.reason.clone(),
        unmet: s.unmet.clone(),
        observed: s.observed.clone(),
        hint: s.hint.clone(),
        search: search.to_lowercase(),
        path: s.path.as_ref().map(path_picture),
    }
}

fn render(page: &Page) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report.html", TEMPLATE).map_err(|e| ReportError::render("html", e))?;
    let t = env.get_template("report.html").map_err(|e| ReportError::render("html", e))?;
    t.render(page).map_err(|e| ReportError::render("html", e))
}

/// One suite's grid while it is built: check names (columns) and each scenario's checks (rows).
type SuiteGrid<'a> = (Vec<&'a str>, IndexMap<&'a str, Vec<&'a CheckSummary>>);

/// Scenario instances and their checks, in plan order.
type ScenarioRows<'a> = IndexMap<&'a str, Vec<&'a CheckSummary>>;

/// Renders a run's page from its checks (in plan order).
///
/// Errors: [`ReportError::Render`] from the template engine.
pub fn render_run(meta: &RunMeta, checks: &[CheckSummary]) -> Result<String, ReportError> {
    // One table per suite: scenario instances (rows) × check names (columns), in plan order.
    let mut suites: IndexMap<&str, SuiteGrid> = IndexMap::new();
    for c in checks {
        let (cols, rows) = suites.entry(c.suite.as_str()).or_default();
        if !cols.contains(&c.name.as_str()) {
            cols.push(c.name.as_str());
        }
        rows.entry(c.scenario.as_str()).or_default().push(c);
    }
    let anchor = |c: &CheckSummary| (c.outcome != Outcome::Passed).then(|| format!("d-{}", c.index));
    let mut tables = Vec::new();
    let mut row_count = 0;
    // Within a suite, scenarios with the same checks share a table (a matrix scenario's
    // instances), so a table has no empty cells where scenarios check different things.
    let mut families: Vec<(&str, Vec<&str>, ScenarioRows)> = Vec::new();
    for (suite, (_, rows)) in &suites {
        let mut by_checks: IndexMap<Vec<&str>, ScenarioRows> = IndexMap::new();
        for (scenario, cs) in rows {
            let names: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
            by_checks.entry(names).or_default().insert(scenario, cs.clone());
        }
        for (names, rows) in by_checks {
            families.push((suite, names, rows));
        }
    }
    let per_suite = |s: &str| families.iter().filter(|(x, _, _)| *x == s).count();
    for (suite, cols, rows) in &families {
        let caption = match (per_suite(suite), rows.keys().next()) {
            (n, Some(first)) if n > 1 && rows.len() > 1 => format!("{suite}: {first} and {} like it", rows.len() - 1),
            (n, Some(first)) if n > 1 => format!("{suite}: {first}"),
            _ => suite.to_string(),
        };
        let rows: Vec<Row> = rows
            .iter()
            .map(|(scenario, cs)| {
                let cells: Vec<Option<Cell>> =
                    cols.iter().map(|name| cs.iter().find(|c| c.name == *name).map(|c| cell(c, None, anchor(c), note(c)))).collect();
                let mut search = format!("{suite} {scenario}");
                for c in cs {
                    search.push_str(&format!(" {} {}", c.name, c.reason_code.as_deref().unwrap_or("")));
                }
                Row {
                    label: scenario.to_string(),
                    search: search.to_lowercase(),
                    bad: cs.iter().any(|c| c.outcome != Outcome::Passed),
                    differs: false,
                    cells,
                }
            })
            .collect();
        row_count += rows.len();
        tables.push(Table { caption, corner: "scenario \\ check".into(), columns: cols.iter().map(|c| c.to_string()).collect(), rows });
    }
    let mut totals = Totals::default();
    for c in checks {
        match c.outcome {
            Outcome::Passed => totals.passed += 1,
            Outcome::Failed => totals.failed += 1,
            Outcome::Error => totals.errors += 1,
            Outcome::Cancelled => totals.cancelled += 1,
        }
    }
    let page = Page {
        version: env!("CARGO_PKG_VERSION"),
        kind: "run",
        title: format!("netspec: {}", meta.name),
        meta: vec![
            ("vantage".into(), meta.vantage.clone()),
            ("started".into(), meta.started_rfc3339()),
            ("duration".into(), format!("{:.2} s", meta.duration.as_secs_f64())),
            ("checks".into(), checks.len().to_string()),
        ],
        totals: totals_row(totals),
        row_count,
        vantages: vec![meta.vantage.clone()],
        differences: Vec::new(),
        drift: drift_rows(meta.drift.as_ref()),
        tables,
        details: checks.iter().filter(|c| c.outcome != Outcome::Passed).map(|c| detail(c, None, format!("d-{}", c.index))).collect(),
    };
    render(&page)
}

/// Renders and writes a run's page atomically.
///
/// Errors: rendering or writing failed.
pub fn write_run(path: &Path, meta: &RunMeta, checks: &[CheckSummary]) -> Result<(), ReportError> {
    let html = render_run(meta, checks)?;
    write_file(path, &html)
}

/// Renders a merged page: check × vantage matrices and the differences side by side.
///
/// Errors: [`ReportError::Render`] from the template engine.
pub fn render_merged(m: &Merged) -> Result<String, ReportError> {
    let vantages: Vec<String> = m.vantages.iter().map(|v| v.vantage.clone()).collect();
    let differing: std::collections::HashSet<&str> = m.differences.iter().map(|d| d.id.as_str()).collect();
    let mut suites: IndexMap<&str, Vec<Row>> = IndexMap::new();
    let mut details = Vec::new();
    for (ci, c) in m.checks.iter().enumerate() {
        let cells: Vec<Option<Cell>> = vantages
            .iter()
            .enumerate()
            .map(|(vi, v)| {
                c.results.iter().find(|r| &r.vantage == v).map(|r| {
                    let anchor = (r.summary.outcome != Outcome::Passed).then(|| format!("d-{ci}-{vi}"));
                    if let Some(a) = &anchor {
                        details.push(detail(&r.summary, Some(v), a.clone()));
                    }
                    // A cell that did not pass shows its reason code beside the address class.
                    let class = (!r.summary.addresses.is_empty()).then(|| super::merged::address_class(&r.summary.addresses));
                    let code = (r.summary.outcome != Outcome::Passed).then(|| r.summary.reason_code.clone()).flatten();
                    let note = match (code, class) {
                        (Some(c), Some(a)) => Some(format!("{c} · {a}")),
                        (c, a) => c.or(a),
                    };
                    cell(&r.summary, Some(v), anchor, note)
                })
            })
            .collect();
        let mut search = format!("{} {}", c.id, vantages.join(" "));
        for r in &c.results {
            if let Some(code) = &r.summary.reason_code {
                search.push_str(&format!(" {code}"));
            }
        }
        suites.entry(c.suite.as_str()).or_default().push(Row {
            label: format!("{} / {}", c.scenario, c.name),
            search: search.to_lowercase(),
            bad: c.results.iter().any(|r| r.summary.outcome != Outcome::Passed),
            differs: differing.contains(c.id.as_str()),
            cells,
        });
    }
    let row_count = suites.values().map(Vec::len).sum();
    let tables = suites
        .into_iter()
        .map(|(suite, rows)| Table { caption: suite.to_string(), corner: "check \\ vantage".into(), columns: vantages.clone(), rows })
        .collect();
    let differences = m
        .differences
        .iter()
        .map(|d| DiffRow {
            id: d.id.clone(),
            aspects: d.aspects.clone(),
            search: format!("{} {}", d.id, d.aspects.join(" ")).to_lowercase(),
            cells: vantages
                .iter()
                .map(|v| match d.at.iter().find(|s| &s.vantage == v) {
                    Some(s) => DiffCell { outcome: s.outcome.map(outcome_name).unwrap_or("missing"), text: s.text.clone() },
                    None => DiffCell { outcome: "missing", text: "—".into() },
                })
                .collect(),
        })
        .collect();
    let mut meta = vec![("vantages".into(), vantages.join(", "))];
    for v in &m.vantages {
        meta.push((
            v.vantage.clone(),
            format!("{} from {}, started {}", v.name, v.file, if v.started.is_empty() { "?" } else { &v.started }),
        ));
    }
    let page = Page {
        version: env!("CARGO_PKG_VERSION"),
        kind: "merged",
        title: format!("netspec: {} across {} vantage points", m.name, m.vantages.len()),
        meta,
        totals: totals_row(m.totals),
        row_count,
        vantages,
        differences,
        drift: Vec::new(),
        tables,
        details,
    };
    render(&page)
}

/// Renders and writes a merged page atomically.
///
/// Errors: rendering or writing failed.
pub fn write_merged(path: &Path, m: &Merged) -> Result<(), ReportError> {
    let html = render_merged(m)?;
    write_file(path, &html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::summary;

    #[test]
    fn run_page_is_escaped_self_contained_and_has_every_cell() {
        let mut a = summary("ok", Outcome::Passed, None);
        a.scenario = "east".into();
        let mut b = summary("<script>alert(1)</script>", Outcome::Failed, Some("tcp.filtered"));
        b.index = 1;
        b.scenario = "east".into();
        b.reason = Some("state: expected open, observed filtered".into());
        b.hint = Some("a firewall & a \"proxy\"".into());
        b.observed = vec!["10.0.0.1:443 filtered".into()];
        let mut c = summary("ok", Outcome::Error, Some("tls.ca_file"));
        c.index = 2;
        c.scenario = "west".into();
        let meta = RunMeta {
            name: "s".into(),
            vantage: "v".into(),
            started: std::time::UNIX_EPOCH,
            duration: std::time::Duration::from_millis(1500),
            vars: Default::default(),
            drift: None,
        };
        let html = render_run(&meta, &[a, b, c]).unwrap();
        assert!(!html.contains("<script>alert"), "check names are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
        assert!(html.contains("a firewall &amp; a &quot;proxy&quot;"));
        // east checks two things, west one: a table each, so no empty cell.
        assert_eq!(html.matches("<td class=\"cell ").count(), 3);
        assert_eq!(html.matches("<td class=\"cell missing\">").count(), 0);
        assert_eq!(html.matches("<table class=\"matrix\">").count(), 2);
        assert!(html.contains("data-outcome=\"failed\""));
        assert!(html.contains("id=\"d-1\""));
        for banned in ["<link", "src=", "@import", "url(", "<img", "<iframe"] {
            assert!(!html.contains(banned), "{banned} would fetch something");
        }
        assert!(html.contains("Content-Security-Policy"));
    }
}
