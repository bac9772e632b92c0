//! JUnit XML via quick-junit: one `<testsuite>` per scenario instance (in plan order), one
//! `<testcase>` per check with `classname` = `<suite>.<scenario>`. An unmet expectation is a
//! `<failure>` (type = the reason code), a check that could not be evaluated an `<error>`;
//! cancelled checks are `<skipped>`. Observations go to `<system-out>`, and the check id, kind,
//! target, resolver, tags and matrix values to `<properties>`.
//!
//! The report validates against the Jenkins xunit plugin's `junit-10.xsd` (what pytest, Maven
//! Surefire and most CI readers follow; a copy is in tests/fixtures/junit-10.xsd): each
//! `<testsuite>` carries `time` (the sum of its checks' wall times), `timestamp` (the run's start)
//! and `hostname` (the vantage point); cancelled checks are counted in `skipped` (quick-junit's
//! `disabled` attribute, which the schema does not have, is written as `skipped`); a flaky
//! pass's `<flakyFailure>` has the `type` the schema requires. One difference is kept on
//! purpose: `<properties>` inside `<testcase>` (the check's id, kind, target, resolver, tags,
//! matrix values), which junit-10.xsd allows only on `<testsuite>`: GitLab, Jenkins' JUnit
//! plugin and Azure DevOps read them per test case, and one testsuite-level list could not say
//! which check a value belongs to. A test validates the report against the schema with only
//! that element added. Two suites with a scenario of the same name get distinct testsuite
//! names, `<suite>/<scenario>`.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::spool::{Needs, Spool};
use super::{ReportError, write_file, write_streamed};
use crate::run::{CheckResult, Outcome};
use crate::suite::template::Secrets;

/// Builds the report's XML. `name` is the `<testsuites name>`.
///
/// Errors: quick-junit's serialization error (text).
pub fn render(name: &str, vantage: &str, started: SystemTime, results: &[CheckResult], secrets: &Secrets) -> Result<String, String> {
    let spool = super::spool_of(results, Needs { junit: true, ..Default::default() }, secrets, vantage);
    let mut out = Vec::new();
    stream(&mut out, name, vantage, started, &spool, secrets).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The `<testsuite>` of `(suite, scenario)`: named after the scenario, or `<suite>/<scenario>`
/// when another suite has a scenario of that name; `time`, `timestamp` and `hostname` set.
fn new_suite(
    suite: &str,
    scenario: &str,
    ambiguous: bool,
    vantage: &str,
    started: SystemTime,
    time: Duration,
    secrets: &Secrets,
) -> TestSuite {
    let name = if ambiguous { format!("{suite}/{scenario}") } else { scenario.to_owned() };
    let mut ts = TestSuite::new(secrets.redact(&name));
    ts.set_time(time);
    ts.extra.insert("timestamp".into(), humantime::format_rfc3339_millis(started).to_string().into());
    ts.extra.insert("hostname".into(), secrets.redact(vantage).into());
    ts
}

/// Scenario names that more than one suite has, among `(suite, scenario)` groups.
fn ambiguous_scenarios<'a>(groups: impl Iterator<Item = (&'a str, &'a str)>) -> std::collections::HashSet<&'a str> {
    let mut first: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut out = std::collections::HashSet::new();
    for (suite, scenario) in groups {
        match first.get(scenario) {
            Some(s) if *s != suite => {
                out.insert(scenario);
            }
            Some(_) => {}
            None => {
                first.insert(scenario, suite);
            }
        }
    }
    out
}

/// quick-junit's rendering made to fit junit-10.xsd: its `disabled` count of a `<testsuite>`
/// (our cancelled checks) becomes `skipped`, the attribute the schema has. Only start tags hold
/// ` disabled="` (in text and attribute values a `"` is escaped).
pub fn fit_schema(xml: &str) -> String {
    xml.replace(" disabled=\"", " skipped=\"")
}

/// The whole report as quick-junit's model, built in memory (what [`stream`] writes without
/// holding it): one `<testsuite>` per (suite, scenario instance) in order of first appearance.
pub fn report(name: &str, vantage: &str, started: SystemTime, results: &[CheckResult], secrets: &Secrets) -> Report {
    let mut report = Report::new(name);
    let mut order: Vec<(&str, &str)> = Vec::new();
    for r in results {
        let key = (&*r.meta.suite, &*r.meta.scenario);
        if !order.contains(&key) {
            order.push(key);
        }
    }
    let ambiguous = ambiguous_scenarios(order.iter().copied());
    for (suite, scenario) in order {
        let mine = || results.iter().filter(|r| *r.meta.suite == *suite && *r.meta.scenario == *scenario);
        let time = mine().map(|r| r.elapsed).sum();
        let mut ts = new_suite(suite, scenario, ambiguous.contains(scenario), vantage, started, time, secrets);
        for r in mine() {
            ts.add_test_case(case(r, vantage, secrets));
        }
        report.add_test_suite(ts);
    }
    report
}

/// Where quick-junit closes a `<testsuite>` (indent 4, one level down).
const SUITE_END: &str = "\n    </testsuite>";

/// The `<testcase>` element of one check, as quick-junit renders it inside a report (with its
/// leading line break and indentation), control characters escaped: what the spool keeps.
pub fn case_xml(r: &CheckResult, vantage: &str, secrets: &Secrets) -> String {
    let mut ts = TestSuite::new("");
    ts.add_test_case(case(r, vantage, secrets));
    let mut one = Report::new("");
    one.add_test_suite(ts);
    let xml = match one.to_string() {
        Ok(x) => x,
        // quick-junit writes to a String: only an I/O error could stop it, and there is none.
        Err(_) => return String::new(),
    };
    let open = xml.find("<testsuite ").and_then(|i| xml[i..].find('>').map(|j| i + j + 1));
    match (open, xml.rfind(SUITE_END)) {
        (Some(a), Some(b)) if a <= b => xml_chars(&xml[a..b]),
        _ => String::new(),
    }
}

/// Streams the report of the spooled checks to `w`: quick-junit renders the `<testsuites>` and
/// `<testsuite>` elements (with their counts) and every `<testcase>` (kept by the spool when
/// the check finished); this joins them in plan order, so the whole report is never in memory.
/// The bytes equal quick-junit's rendering of the whole report (a test holds it to that).
///
/// Errors: writing to `w`, reading the spool back, or quick-junit's serialization error.
pub fn stream(w: &mut dyn Write, name: &str, vantage: &str, started: SystemTime, spool: &Spool, secrets: &Secrets) -> std::io::Result<()> {
    // The <testsuite>s in order of first appearance, each with its checks in plan order (a
    // group that recurs later in the plan keeps them together, as quick-junit would). One pass
    // over the entries counts each group and finds its span of plan positions; then each
    // group's span is read again for its testcases. Memory holds the groups, not the checks.
    let mut suites: indexmap::IndexMap<u32, Group> = indexmap::IndexMap::new();
    for e in spool.ordered() {
        let e = e?;
        let g = suites.entry(e.group).or_insert(Group { first: e.index, ..Default::default() });
        g.last = e.index;
        g.tests += 1;
        g.time += e.elapsed;
        match e.outcome {
            Outcome::Failed => g.failures += 1,
            Outcome::Error => g.errors += 1,
            Outcome::Cancelled => g.disabled += 1,
            Outcome::Passed => {}
        }
    }
    let mut envelope = Report::new(name);
    let key = |g: u32| spool.groups().get_index(g as usize).map(|(su, sc)| (su.as_str(), sc.as_str())).unwrap_or_default();
    let ambiguous = ambiguous_scenarios(suites.keys().map(|g| key(*g)));
    for (g, n) in &suites {
        let (suite, scenario) = key(*g);
        let mut ts = new_suite(suite, scenario, ambiguous.contains(scenario), vantage, started, n.time, secrets);
        ts.tests = n.tests;
        ts.failures = n.failures;
        ts.errors = n.errors;
        ts.disabled = n.disabled;
        envelope.add_test_suite(ts);
    }
    let envelope = fit_schema(&xml_chars(&envelope.to_string().map_err(std::io::Error::other)?));
    let mut parts = envelope.split(SUITE_END);
    for (g, n) in &suites {
        w.write_all(parts.next().unwrap_or_default().as_bytes())?;
        for e in spool.ordered_within(n.first, n.last + 1) {
            let e = e?;
            if e.group != *g {
                continue;
            }
            if let Some(x) = spool.record(&e)?.junit {
                w.write_all(x.as_bytes())?;
            }
        }
        w.write_all(SUITE_END.as_bytes())?;
    }
    for rest in parts {
        w.write_all(rest.as_bytes())?;
    }
    Ok(())
}

/// One `<testsuite>`'s counts and the span of plan positions its checks take.
#[derive(Debug, Default)]
struct Group {
    first: usize,
    last: usize,
    tests: usize,
    failures: usize,
    errors: usize,
    disabled: usize,
    time: std::time::Duration,
}

/// Replaces the characters XML 1.0 cannot carry (C0 controls other than tab, newline and
/// carriage return, and U+FFFE, U+FFFF; XML 1.0 section 2.2 `Char`) with a visible `\u{..}` escape. quick-junit escapes markup but writes
/// these as they are, and one NUL from an HTTP body would make the whole file unparseable for
/// CI. Markup never contains them, so the rendered document can be cleaned as a whole.
pub fn xml_chars(xml: &str) -> String {
    let bad = |c: char| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if !xml.contains(bad) {
        return xml.to_owned();
    }
    let mut out = String::with_capacity(xml.len() + 16);
    for c in xml.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn case(r: &CheckResult, vantage: &str, secrets: &Secrets) -> TestCase {
    let red = |s: &str| secrets.redact(s);
    let status = match r.outcome {
        Outcome::Passed => {
            // A pass after failed attempts is flaky: each failed attempt becomes a flakyFailure.
            let mut s = TestCaseStatus::success();
            for a in &r.attempts[..r.attempts.len().saturating_sub(1)] {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                // junit-10.xsd requires a type: the reason code of the failed attempt.
                rerun.set_type(a.verdict().1.map(|r| r.as_str()).unwrap_or("assertion"));
                let msg = a.assertions.iter().filter(|x| !x.passed).map(|x| x.message()).collect::<Vec<_>>().join("; ");
                rerun.set_message(red(&msg));
                rerun.set_system_out(red(&a.observation.describe().join("\n")));
                s.add_rerun(rerun);
            }
            s
        }
        Outcome::Cancelled => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("cancelled before it finished");
            s
        }
        Outcome::Failed | Outcome::Error => {
            let kind = if r.outcome == Outcome::Failed { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut s = TestCaseStatus::non_success(kind);
            let mut msg = r.reason();
            if let Some(h) = &r.meta.hint {
                msg.push_str(&format!(" (hint: {h})"));
            }
            s.set_message(red(&msg));
            s.set_type(r.reason_code().unwrap_or("assertion"));
            let mut text = String::new();
            for a in r.attempts.last().map(|a| a.assertions.as_slice()).unwrap_or(&[]) {
                text.push_str(&format!("[{}] {}\n", if a.passed { "ok" } else { "FAILED" }, a.message()));
            }
            if let Some(reason) = r.verdict_reason() {
                text.push_str(&format!("reason: {reason}: {}\nlikely: {}\n", reason.meaning(), reason.likely()));
            }
            if let Some(p) = &r.path {
                text.push_str(&format!("path: {}\n", p.summary));
            }
            if let Some(h) = &r.meta.hint {
                text.push_str(&format!("hint: {h}\n"));
            }
            s.set_description(red(&text));
            s
        }
    };
    let mut tc = TestCase::new(red(&r.meta.name), status);
    tc.set_classname(red(&format!("{}.{}", r.meta.suite, r.meta.scenario)));
    tc.set_time(r.elapsed);
    let mut props = vec![
        Property::new("id", red(&r.meta.id)),
        Property::new("kind", r.meta.kind.to_string()),
        Property::new("target", red(&r.meta.target)),
        Property::new("resolver", r.meta.resolver.clone()),
        Property::new("vantage", vantage),
    ];
    if !r.meta.tags.is_empty() {
        props.push(Property::new("tags", r.meta.tags.join(",")));
    }
    if r.meta.insecure {
        props.push(Property::new("insecure", "true"));
    }
    for (k, v) in r.meta.vars.iter() {
        props.push(Property::new(format!("var.{k}"), red(v)));
    }
    tc.add_properties(props);
    let mut out = String::new();
    for (i, a) in r.attempts.iter().enumerate() {
        if r.attempts.len() > 1 {
            out.push_str(&format!("attempt {}:\n", i + 1));
        }
        for l in a.observation.describe() {
            out.push_str(&l);
            out.push('\n');
        }
    }
    for l in r.path.iter().flat_map(|p| p.describe()) {
        out.push_str(&l);
        out.push('\n');
    }
    if !out.is_empty() {
        tc.set_system_out(red(&out));
    }
    tc
}

/// Streams the report of the spooled checks to `path`, atomically.
///
/// Errors: rendering or writing failed.
pub fn write(path: &Path, name: &str, vantage: &str, started: SystemTime, spool: &Spool, secrets: &Secrets) -> Result<(), ReportError> {
    write_streamed(path, |w| stream(w, name, vantage, started, spool, secrets))
}

/// Builds the JUnit XML of a merged report: one `<testsuite>` per vantage point and scenario
/// instance (`<vantage> / <scenario>`), one `<testcase>` per check with `classname`
/// `<vantage>.<suite>.<scenario>`, the same `<failure>`/`<error>`/`<skipped>` mapping as a
/// run's report, and the observation lines as `<system-out>`.
///
/// Errors: quick-junit's serialization error.
pub fn render_merged(m: &super::merged::Merged) -> Result<String, ReportError> {
    let mut report = Report::new(m.name.as_str());
    for v in &m.vantages {
        let mut order: Vec<&str> = Vec::new();
        let here: Vec<&crate::report::CheckSummary> =
            m.checks.iter().filter_map(|c| c.results.iter().find(|r| r.vantage == v.vantage)).map(|r| &r.summary).collect();
        for s in &here {
            if !order.contains(&s.scenario.as_str()) {
                order.push(s.scenario.as_str());
            }
        }
        for scenario in order {
            let mut ts = TestSuite::new(format!("{} / {scenario}", v.vantage));
            let mut ms = 0.0;
            for s in here.iter().filter(|s| s.scenario == scenario) {
                ms += s.elapsed;
                ts.add_test_case(summary_case(s, &v.vantage));
            }
            ts.set_time(Duration::from_secs_f64((ms / 1000.0).max(0.0)));
            if !v.started.is_empty() {
                ts.extra.insert("timestamp".into(), v.started.clone().into());
            }
            ts.extra.insert("hostname".into(), v.vantage.clone().into());
            report.add_test_suite(ts);
        }
    }
    report.to_string().map(|x| fit_schema(&xml_chars(&x))).map_err(|e| ReportError::render("junit", e))
}

fn summary_case(s: &crate::report::CheckSummary, vantage: &str) -> TestCase {
    let status = match s.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Cancelled => {
            let mut st = TestCaseStatus::skipped();
            st.set_message("cancelled before it finished");
            st
        }
        Outcome::Failed | Outcome::Error => {
            let kind = if s.outcome == Outcome::Failed { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut st = TestCaseStatus::non_success(kind);
            let mut msg = s.reason.clone().unwrap_or_default();
            if let Some(h) = &s.hint {
                msg.push_str(&format!(" (hint: {h})"));
            }
            st.set_message(msg);
            st.set_type(s.reason_code.as_deref().unwrap_or("assertion"));
            let mut text = String::new();
            for u in &s.unmet {
                text.push_str(&format!("[FAILED] {}: expected {}, observed {}\n", u.key, u.expected, u.observed));
            }
            if let Some(h) = &s.hint {
                text.push_str(&format!("hint: {h}\n"));
            }
            st.set_description(text);
            st
        }
    };
    let mut tc = TestCase::new(s.name.as_str(), status);
    tc.set_classname(format!("{vantage}.{}.{}", s.suite, s.scenario));
    // A hand-edited file may hold any number: never panic on it.
    tc.set_time(std::time::Duration::try_from_secs_f64(s.elapsed / 1000.0).unwrap_or_default());
    let mut props = vec![
        Property::new("id", s.id.as_str()),
        Property::new("kind", s.kind.to_string()),
        Property::new("target", s.target.as_str()),
        Property::new("resolver", s.resolver.as_str()),
        Property::new("vantage", vantage),
    ];
    if !s.tags.is_empty() {
        props.push(Property::new("tags", s.tags.join(",")));
    }
    if s.insecure {
        props.push(Property::new("insecure", "true"));
    }
    for (k, v) in &s.vars {
        props.push(Property::new(format!("var.{k}"), v.as_str()));
    }
    tc.add_properties(props);
    if !s.observed.is_empty() {
        tc.set_system_out(s.observed.join("\n") + "\n");
    }
    tc
}

/// Renders and writes a merged JUnit report atomically.
///
/// Errors: rendering or writing failed.
pub fn write_merged(path: &Path, m: &super::merged::Merged) -> Result<(), ReportError> {
    let xml = render_merged(m)?;
    write_file(path, &xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::Kind;
    use std::time::Duration;

    fn result(index: usize, suite: &str, scenario: &str, outcome: Outcome) -> CheckResult {
        CheckResult {
            meta: std::sync::Arc::new(crate::model::result::CheckMeta {
                index,
                id: format!("{suite}/{scenario}/c{index}"),
                suite: suite.into(),
                scenario: scenario.into(),
                name: format!("c{index} <&\u{1}>"),
                kind: Kind::Tcp,
                target: "tcp h:1".into(),
                resolver: "system".into(),
                hint: Some("ask \"netops\"".into()),
                tags: vec!["t".into()],
                vars: vec![("region".into(), "eastus".into())].into(),
                insecure: index == 2,
                defined: None,
            }),
            path: None,
            outcome,
            attempts: vec![],
            attempts_omitted: 0,
            elapsed: Duration::from_millis(index as u64 * 7),
        }
    }

    #[test]
    fn the_stream_is_byte_for_byte_quick_junits_whole_report() {
        let secrets = Secrets::default();
        let o = [Outcome::Passed, Outcome::Failed, Outcome::Error, Outcome::Cancelled];
        // scenario `a` recurs after `b`; suites `s` and `t` share a scenario name
        let keys = [("s", "a"), ("s", "a"), ("s", "b"), ("t", "b"), ("s", "a"), ("s", "b")];
        let results: Vec<CheckResult> = keys.iter().enumerate().map(|(i, (su, sc))| result(i, su, sc, o[i % 4])).collect();
        let t = SystemTime::UNIX_EPOCH;
        let whole = fit_schema(&xml_chars(&report("n", "v", t, &results, &secrets).to_string().unwrap()));
        // finishing order differs from plan order
        let mut shuffled = results.clone();
        shuffled.reverse();
        let streamed = render("n", "v", t, &shuffled, &secrets).unwrap();
        assert_eq!(streamed, whole);
        assert_eq!(whole.matches("<testsuite ").count(), 3, "{whole}");
        // scenario `b` is in suites `s` and `t`: distinct testsuite names
        assert!(
            whole.contains("<testsuite name=\"s/b\"")
                && whole.contains("<testsuite name=\"t/b\"")
                && whole.contains("<testsuite name=\"a\""),
            "{whole}"
        );
        assert!(!whole.contains("disabled=") && whole.contains("skipped=\"1\""), "{whole}");
        // an empty run too
        assert_eq!(
            render("n", "v", t, &[], &secrets).unwrap(),
            fit_schema(&xml_chars(&report("n", "v", t, &[], &secrets).to_string().unwrap()))
        );
    }
}
