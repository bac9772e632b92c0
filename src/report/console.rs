//! The console reporter: a progress bar on a terminal (hidden when stderr is not a terminal or
//! `CI` is set), one line per finished check, then a summary that explains every failure
//! (expected vs observed, the observations behind it and the hint).

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::run::{CheckResult, Outcome, RunEvent, Totals};
use crate::suite::template::Secrets;

/// Whether to draw a progress bar: stderr is a terminal and not under CI.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::Error => "ERROR",
        Outcome::Cancelled => "CANCEL",
    }
}

/// Consumes events until the channel closes, printing one line per finished check.
pub async fn live(mut rx: mpsc::UnboundedReceiver<RunEvent>, secrets: Secrets, verbose: bool) {
    let bar = if interactive() { ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} checks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while let Some(ev) = rx.recv().await {
        match ev {
            RunEvent::Started { total } => bar.set_length(total as u64),
            RunEvent::Finished(r) => {
                bar.inc(1);
                if verbose || r.outcome != Outcome::Passed {
                    let line = format!("{:6} {} ({:.0} ms)", mark(r.outcome), r.id, r.elapsed.as_secs_f64() * 1000.0);
                    bar.suspend(|| println!("{}", secrets.redact(&line)));
                }
            }
        }
    }
    bar.finish_and_clear();
}

/// The end-of-run summary: every failure and error explained, then the totals line.
pub fn summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) -> String {
    let mut out = String::new();
    let bad: Vec<&CheckResult> = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Error)).collect();
    if !bad.is_empty() {
        out.push_str("\nfailures:\n");
    }
    for r in &bad {
        out.push_str(&format!("\n{} {}\n", mark(r.outcome), r.id));
        out.push_str(&format!("  check: {} (resolver {})\n", r.target, r.resolver));
        match r.outcome {
            Outcome::Error => out.push_str(&format!("  error: {}\n", r.reason())),
            _ => {
                for a in r.failed_assertions() {
                    out.push_str(&format!(
                        "  {}: expected {}\n  {}  observed {}\n",
                        a.key,
                        a.expected,
                        " ".repeat(a.key.len()),
                        a.observed
                    ));
                }
            }
        }
        if let Some(code) = r.reason_code() {
            out.push_str(&format!("  reason: {code}\n"));
        }
        if let Some(a) = r.attempts.last() {
            for l in a.observation.describe().iter().take(14) {
                out.push_str(&format!("  | {l}\n"));
            }
        }
        if r.attempts.len() > 1 {
            out.push_str(&format!("  attempts: {}\n", r.attempts.len()));
        }
        if let Some(h) = &r.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    let t = Totals::of(results);
    out.push_str(&format!(
        "\n{} checks: {} passed, {} failed, {} errors{} in {:.2} s\n",
        results.len(),
        t.passed,
        t.failed,
        t.errors,
        if t.cancelled > 0 { format!(", {} cancelled", t.cancelled) } else { String::new() },
        wall.as_secs_f64()
    ));
    secrets.redact(&out)
}

/// Prints the summary to stdout.
pub fn print_summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) {
    let s = summary(results, secrets, wall);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
