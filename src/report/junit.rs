//! JUnit XML via quick-junit: one `<testsuite>` per scenario instance (in plan order), one
//! `<testcase>` per check with `classname` = `<suite>.<scenario>`. An unmet expectation is a
//! `<failure>` (type = the reason code), a check that could not be evaluated an `<error>`;
//! cancelled checks are `<skipped>`. Observations go to `<system-out>`, and the check id, kind,
//! target, resolver, tags and matrix values to `<properties>`.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::run::{CheckResult, Outcome};
use crate::suite::template::Secrets;

/// Builds the report's XML. `name` is the `<testsuites name>`.
///
/// Errors: quick-junit's serialization error (text).
pub fn render(name: &str, vantage: &str, results: &[CheckResult], secrets: &Secrets) -> Result<String, String> {
    let mut report = Report::new(name);
    let mut order: Vec<(String, String)> = Vec::new();
    for r in results {
        let key = (r.suite.clone(), r.scenario.clone());
        if !order.contains(&key) {
            order.push(key);
        }
    }
    for (suite, scenario) in order {
        let mut ts = TestSuite::new(scenario.as_str());
        for r in results.iter().filter(|r| r.suite == suite && r.scenario == scenario) {
            ts.add_test_case(case(r, vantage, secrets));
        }
        report.add_test_suite(ts);
    }
    report.to_string().map_err(|e| e.to_string())
}

fn case(r: &CheckResult, vantage: &str, secrets: &Secrets) -> TestCase {
    let red = |s: &str| secrets.redact(s);
    let status = match r.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Cancelled => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("cancelled before it finished");
            s
        }
        Outcome::Failed | Outcome::Error => {
            let kind = if r.outcome == Outcome::Failed { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut s = TestCaseStatus::non_success(kind);
            let mut msg = r.reason();
            if let Some(h) = &r.hint {
                msg.push_str(&format!(" (hint: {h})"));
            }
            s.set_message(red(&msg));
            s.set_type(r.reason_code().unwrap_or("assertion"));
            let mut text = String::new();
            for a in r.attempts.last().map(|a| a.assertions.as_slice()).unwrap_or(&[]) {
                text.push_str(&format!("[{}] {}\n", if a.passed { "ok" } else { "FAILED" }, a.message()));
            }
            if let Some(h) = &r.hint {
                text.push_str(&format!("hint: {h}\n"));
            }
            s.set_description(red(&text));
            s
        }
    };
    let mut tc = TestCase::new(r.name.as_str(), status);
    tc.set_classname(format!("{}.{}", r.suite, r.scenario));
    tc.set_time(r.elapsed);
    let mut props = vec![
        Property::new("id", red(&r.id)),
        Property::new("kind", r.kind.to_string()),
        Property::new("target", red(&r.target)),
        Property::new("resolver", r.resolver.clone()),
        Property::new("vantage", vantage),
    ];
    if !r.tags.is_empty() {
        props.push(Property::new("tags", r.tags.join(",")));
    }
    for (k, v) in &r.vars {
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
    if !out.is_empty() {
        tc.set_system_out(red(&out));
    }
    tc
}

/// Renders and writes the report atomically.
///
/// Errors: rendering or writing failed (text).
pub fn write(path: &Path, name: &str, vantage: &str, results: &[CheckResult], secrets: &Secrets) -> Result<(), String> {
    let xml = render(name, vantage, results, secrets)?;
    crate::util::write_atomic(path, xml.as_bytes()).map_err(|e| format!("failed to write {}: {e}", path.display()))
}
