//! The console reporter: a progress bar on a terminal (hidden when stderr is not a terminal or
//! `CI` is set), one line per finished check, then a summary that explains every failure
//! (expected vs observed, the observations behind it and the hint).
//!
//! Outcome marks are coloured through anstream, which writes plain text when stdout is not a
//! terminal, when `NO_COLOR` is set (no-color.org), when `CLICOLOR=0` or `TERM=dumb`, and
//! keeps colour when `CLICOLOR_FORCE` is set — so CI logs and pipes stay plain.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use super::mark;
use crate::run::{CheckResult, Outcome, RunEvent, Totals};
use crate::suite::template::Secrets;

/// Whether to draw a progress bar: stderr is a terminal and not under CI.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// The style of an outcome's mark.
fn style(o: Outcome) -> Style {
    match o {
        Outcome::Passed => AnsiColor::Green.on_default(),
        Outcome::Failed => AnsiColor::Red.on_default().bold(),
        Outcome::Error => AnsiColor::Yellow.on_default().bold(),
        Outcome::Cancelled => Style::new().dimmed(),
    }
}

/// The outcome's mark padded to `width`, with ANSI colour codes (stripped on output where
/// colour is off).
fn styled_mark(o: Outcome, width: usize) -> String {
    let s = style(o);
    format!("{s}{:width$}{s:#}", mark(o))
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
                    let line = format!("{} {} ({:.0} ms)", styled_mark(r.outcome, 6), r.id, r.elapsed.as_secs_f64() * 1000.0);
                    bar.suspend(|| {
                        let _ = writeln!(anstream::stdout(), "{}", secrets.redact(&line));
                    });
                }
            }
        }
    }
    bar.finish_and_clear();
}

/// The end-of-run summary: every failure and error explained, then the totals line (plain text).
pub fn summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) -> String {
    anstream::adapter::strip_str(&styled_summary(results, secrets, wall)).to_string()
}

/// The summary with ANSI colour codes on the outcome marks.
fn styled_summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) -> String {
    let mut out = String::new();
    let bad: Vec<&CheckResult> = results.iter().filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Error)).collect();
    if !bad.is_empty() {
        out.push_str("\nfailures:\n");
    }
    for r in &bad {
        out.push_str(&format!("\n{} {}\n", styled_mark(r.outcome, 0), r.id));
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
            match crate::reasons::lookup(code) {
                Some(reason) => out.push_str(&format!("  reason: {code}: {}\n  likely: {}\n", reason.meaning, reason.hint)),
                None => out.push_str(&format!("  reason: {code}\n")),
            }
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
    let insecure: Vec<&str> = results.iter().filter(|r| r.insecure).map(|r| r.id.as_str()).collect();
    if !insecure.is_empty() {
        // A pass without verification proves reachability, not trust: say which ones.
        let shown = insecure.iter().take(10).copied().collect::<Vec<_>>().join(", ");
        let more = if insecure.len() > 10 { format!(" and {} more", insecure.len() - 10) } else { String::new() };
        out.push_str(&format!("\nTLS verification off (insecure: true) in {} check(s): {shown}{more}\n", insecure.len()));
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

/// Prints the summary to stdout (coloured only where anstream allows it).
pub fn print_summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) {
    let s = styled_summary(results, secrets, wall);
    let mut out = anstream::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
