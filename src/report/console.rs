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
use super::sanitize::neutralise;
use super::spool::{Needs, Spool};
use crate::run::{CheckResult, Outcome, RunEvent};
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
                    let id = secrets.redact(&r.id);
                    let line = format!("{} {} ({:.0} ms)", styled_mark(r.outcome, 6), neutralise(&id), r.elapsed.as_secs_f64() * 1000.0);
                    bar.suspend(|| {
                        let _ = writeln!(anstream::stdout(), "{line}");
                    });
                }
            }
        }
    }
    bar.finish_and_clear();
}

/// The end-of-run summary of `results`: every failure and error explained, then the totals
/// line (plain text).
pub fn summary(results: &[CheckResult], secrets: &Secrets, wall: std::time::Duration) -> String {
    let spool = Spool::from_results(results, Needs { console: true, ..Default::default() }, secrets, "");
    let mut out = Vec::new();
    // Writing to memory cannot fail; a spool read error is written into the text.
    let _ = write_summary(&mut out, &spool, wall);
    anstream::adapter::strip_str(&String::from_utf8_lossy(&out)).to_string()
}

/// The summary's block for one failed or errored check (with ANSI colour codes on the mark),
/// redacted: the failed expectations (expected vs observed) or the error, the reason code with
/// its meaning and likely cause, the observations behind it and the hint. The spool keeps it.
pub fn explain(r: &CheckResult, secrets: &Secrets) -> String {
    let mut out = String::new();
    out.push_str(&format!("  check: {} (resolver {})\n", r.target, r.resolver));
    match r.outcome {
        Outcome::Error => out.push_str(&format!("  error: {}\n", r.reason())),
        _ => {
            for a in r.failed_assertions() {
                out.push_str(&format!("  {}: expected {}\n  {}  observed {}\n", a.key, a.expected, " ".repeat(a.key.len()), a.observed));
            }
        }
    }
    if let Some(reason) = r.verdict_reason() {
        out.push_str(&format!("  reason: {reason}: {}\n  likely: {}\n", reason.meaning(), reason.likely()));
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
    // Redacted first (a secret is matched as written), then neutralised: every line comes from
    // the suite or the network; the mark line's colour codes are netspec's own.
    let body = neutralise(&secrets.redact(&out)).into_owned();
    format!("\n{} {}\n{body}", styled_mark(r.outcome, 0), neutralise(&secrets.redact(&r.id)))
}

/// Streams the summary of the spooled checks (with ANSI colour codes on the outcome marks):
/// every failure's block in plan order, the checks that ran without TLS verification, the
/// totals line.
///
/// Errors: writing to `w`. A record that cannot be read back is said in the text.
fn write_summary(w: &mut dyn Write, spool: &Spool, wall: std::time::Duration) -> std::io::Result<()> {
    let t = spool.totals();
    if t.failed + t.errors > 0 {
        w.write_all(b"\nfailures:\n")?;
        for e in spool.ordered().iter().filter(|e| matches!(e.outcome, Outcome::Failed | Outcome::Error)) {
            match spool.record(e) {
                Ok(rec) => w.write_all(rec.console.unwrap_or_default().as_bytes())?,
                Err(err) => writeln!(w, "\n(check #{}: its explanation could not be read back: {err})", e.index)?,
            }
        }
    }
    let insecure = spool.insecure_ids();
    if !insecure.is_empty() {
        // A pass without verification proves reachability, not trust: say which ones.
        let shown = neutralise(&insecure.iter().take(10).copied().collect::<Vec<_>>().join(", ")).into_owned();
        let more = if insecure.len() > 10 { format!(" and {} more", insecure.len() - 10) } else { String::new() };
        writeln!(w, "\nTLS verification off (insecure: true) in {} check(s): {shown}{more}", insecure.len())?;
    }
    writeln!(
        w,
        "\n{} checks: {} passed, {} failed, {} errors{} in {:.2} s",
        spool.len(),
        t.passed,
        t.failed,
        t.errors,
        if t.cancelled > 0 { format!(", {} cancelled", t.cancelled) } else { String::new() },
        wall.as_secs_f64()
    )
}

/// Prints the summary of the spooled checks to stdout (coloured only where anstream allows it).
pub fn print_summary(spool: &Spool, wall: std::time::Duration) {
    let mut out = anstream::stdout().lock();
    let _ = write_summary(&mut out, spool, wall);
    let _ = out.flush();
}
