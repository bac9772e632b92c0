//! Prometheus metrics in the text exposition format (0.0.4), for node_exporter's textfile
//! collector (`--collector.textfile.directory`; the file must end in `.prom`). Rendered by the
//! `prometheus` crate's `TextEncoder`, which writes the `# HELP` / `# TYPE` lines, sorts the
//! series and escapes label values (`\` → `\\`, `"` → `\"`, newline → `\n`).
//!
//! Series, each labelled `id`, `suite`, `scenario`, `check`, `kind`, `vantage`:
//! - `netspec_check_success` 1 when the check passed, else 0;
//! - `netspec_check_duration_seconds` wall time of all its attempts;
//! - `netspec_check_failure_reason{…,reason}` 1, only for checks that did not pass, `reason`
//!   being the reason code (`tcp.filtered`, `dns.nxdomain`, …; `assertion` when the probe saw
//!   nothing wrong but an expectation failed, `cancelled` for an interrupted check);
//!
//! and `netspec_run_timestamp_seconds{vantage}`, the run's start (Unix time), for staleness
//! alerts on a file no run refreshes any more.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

use super::{CheckSummary, ReportError, write_file};
use crate::run::Outcome;

const LABELS: [&str; 6] = ["id", "suite", "scenario", "check", "kind", "vantage"];

/// The reason label of a check that did not pass.
pub fn failure_reason(s: &CheckSummary) -> &str {
    match (s.outcome, s.reason_code.as_deref()) {
        (Outcome::Cancelled, _) => "cancelled",
        (_, Some(code)) => code,
        (_, None) => "assertion",
    }
}

fn prom(e: prometheus::Error) -> ReportError {
    ReportError::render("prometheus", e)
}

/// Renders the metrics of `checks`, run at `vantage` starting at `started`.
///
/// Errors: [`ReportError::Render`] from the prometheus crate (an invalid metric definition; not
/// expected with these fixed names).
pub fn render(vantage: &str, started: SystemTime, checks: &[CheckSummary]) -> Result<String, ReportError> {
    let reg = Registry::new();
    let success = GaugeVec::new(
        Opts::new("netspec_check_success", "1 when the netspec check passed, 0 when it failed, errored or was cancelled"),
        &LABELS,
    )
    .map_err(prom)?;
    let duration =
        GaugeVec::new(Opts::new("netspec_check_duration_seconds", "Wall time of all attempts of the netspec check, in seconds"), &LABELS)
            .map_err(prom)?;
    let mut reason_labels = LABELS.to_vec();
    reason_labels.push("reason");
    let reason = GaugeVec::new(
        Opts::new(
            "netspec_check_failure_reason",
            "1 for the reason code of a netspec check that did not pass (assertion: an expectation failed)",
        ),
        &reason_labels,
    )
    .map_err(prom)?;
    let run =
        GaugeVec::new(Opts::new("netspec_run_timestamp_seconds", "Start of the netspec run that wrote this file, Unix time"), &["vantage"])
            .map_err(prom)?;
    for c in [&success, &duration, &reason, &run] {
        reg.register(Box::new(c.clone())).map_err(prom)?;
    }
    for s in checks {
        let kind = s.kind.to_string();
        let values = [s.id.as_str(), s.suite.as_str(), s.scenario.as_str(), s.name.as_str(), kind.as_str(), vantage];
        success.get_metric_with_label_values(&values).map_err(prom)?.set(if s.outcome == Outcome::Passed { 1.0 } else { 0.0 });
        // Microseconds as an integer first, so the value prints without binary-fraction noise.
        duration.get_metric_with_label_values(&values).map_err(prom)?.set((s.elapsed * 1000.0).round() / 1_000_000.0);
        if s.outcome != Outcome::Passed {
            let mut with_reason = values.to_vec();
            with_reason.push(failure_reason(s));
            reason.get_metric_with_label_values(&with_reason).map_err(prom)?.set(1.0);
        }
    }
    let unix = started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    run.get_metric_with_label_values(&[vantage]).map_err(prom)?.set(unix.round());
    let mut out = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut out).map_err(prom)?;
    String::from_utf8(out).map_err(|e| ReportError::render("prometheus", e))
}

/// Renders and writes the metrics atomically (node_exporter never sees a partial file: the
/// temporary file does not end in `.prom`).
///
/// Errors: rendering or writing failed.
pub fn write(path: &Path, vantage: &str, started: SystemTime, checks: &[CheckSummary]) -> Result<(), ReportError> {
    let text = render(vantage, started, checks)?;
    write_file(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::summary;

    #[test]
    fn series_values_and_label_escaping() {
        let checks = [
            summary("ok", Outcome::Passed, None),
            summary("a \"quoted\" \\ name\nnext", Outcome::Failed, Some("tcp.filtered")),
            summary("wrong status", Outcome::Failed, None),
        ];
        let text = render("site \"1\"", UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000), &checks).unwrap();
        assert!(text.contains("# TYPE netspec_check_success gauge"), "{text}");
        assert!(
            text.contains(r#"netspec_check_success{check="ok",id="s/sc/ok",kind="tcp",scenario="sc",suite="s",vantage="site \"1\""} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"check="a \"quoted\" \\ name\nnext""#), "{text}");
        assert!(text.contains(r#"reason="tcp.filtered""#), "{text}");
        assert!(text.contains(r#"reason="assertion""#), "{text}");
        assert!(text.contains("netspec_check_duration_seconds{") && text.contains("} 1.5\n"), "{text}");
        assert!(text.contains("netspec_run_timestamp_seconds{vantage=\"site \\\"1\\\"\"} 1700000000"), "{text}");
        // Only checks that did not pass have a reason series; every line is one sample or a comment.
        assert_eq!(text.matches("netspec_check_failure_reason{").count(), 2);
        assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("netspec_")), "{text}");
    }
}
