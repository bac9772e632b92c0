//! The JSON report: run metadata and every check with its attempts, observations, assertions,
//! reason code and hint. Secrets are redacted.

use std::path::Path;

use serde::Serialize;

use crate::run::{CheckResult, Totals};
use crate::suite::template::Secrets;

#[derive(Serialize)]
struct Doc<'a> {
    netspec_version: &'static str,
    name: &'a str,
    vantage: &'a str,
    duration_ms: f64,
    totals: Totals,
    checks: Vec<Check<'a>>,
}

#[derive(Serialize)]
struct Check<'a> {
    #[serde(flatten)]
    result: &'a CheckResult,
    reason_code: Option<&'static str>,
}

/// Renders the report.
///
/// Errors: serialization failure (text).
pub fn render(name: &str, vantage: &str, results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) -> Result<String, String> {
    let doc = Doc {
        netspec_version: env!("CARGO_PKG_VERSION"),
        name,
        vantage,
        duration_ms: wall.as_secs_f64() * 1000.0,
        totals: Totals::of(results),
        checks: results.iter().map(|r| Check { result: r, reason_code: r.reason_code() }).collect(),
    };
    let s = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    Ok(secrets.redact(&s))
}

/// Renders and writes the report atomically.
///
/// Errors: rendering or writing failed (text).
pub fn write(
    path: &Path,
    name: &str,
    vantage: &str,
    results: &[CheckResult],
    secrets: &Secrets,
    wall: std::time::Duration,
) -> Result<(), String> {
    let s = render(name, vantage, results, secrets, wall)?;
    crate::util::write_atomic(path, s.as_bytes()).map_err(|e| format!("failed to write {}: {e}", path.display()))
}
