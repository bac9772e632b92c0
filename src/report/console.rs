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

/// Longest silence on a non-terminal during a run: a heartbeat line (checks finished, failed so
/// far, elapsed) is written to stderr when nothing else was for this long (30 s; override with
/// `NETSPEC_HEARTBEAT_SECS`, e.g. for tests).
pub fn heartbeat_every() -> std::time::Duration {
    let secs = std::env::var("NETSPEC_HEARTBEAT_SECS").ok().and_then(|s| s.parse::<u64>().ok()).filter(|s| *s > 0).unwrap_or(30);
    std::time::Duration::from_secs(secs)
}

/// Consumes events until the channel closes. On a terminal: a progress bar and one line per
/// finished check that did not pass (every check with `verbose`). Elsewhere (CI logs, pipes):
/// no per-check lines unless `verbose` — the summary explains each failure once — and a
/// heartbeat line on stderr at most every [`heartbeat_every`] while checks are running.
pub async fn live(mut rx: mpsc::UnboundedReceiver<RunEvent>, secrets: Secrets, verbose: bool) {
    let tty = interactive();
    let bar = if tty { ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} checks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = tokio::time::Instant::now();
    let every = heartbeat_every();
    let mut beat = tokio::time::interval_at(start + every, every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut total, mut done, mut bad) = (0usize, 0usize, 0usize);
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            _ = beat.tick(), if !tty => {
                eprintln!("… {done}/{total} checks finished, {bad} not passed so far ({:.0} s)", start.elapsed().as_secs_f64());
                continue;
            }
        };
        match ev {
            RunEvent::Started { total: n } => {
                total = n;
                bar.set_length(n as u64)
            }
            RunEvent::Finished(r) => {
                bar.inc(1);
                done += 1;
                if r.outcome != Outcome::Passed {
                    bad += 1;
                }
                if verbose || (tty && r.outcome != Outcome::Passed) {
                    let id = secrets.redact(&r.meta.id);
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
    let spool = super::spool_of(results, Needs { console: true, ..Default::default() }, secrets, "");
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
    out.push_str(&format!("  check: {} (resolver {})\n", r.meta.target, r.meta.resolver));
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
    if let Some(p) = &r.path {
        for l in p.describe().iter().take(3 + crate::path::MAX_HOPS as usize) {
            out.push_str(&format!("  | {l}\n"));
        }
    }
    if r.attempts.len() > 1 {
        let total = r.attempts.len() + r.attempts_omitted as usize;
        out.push_str(&format!("  attempts: {total}\n"));
    }
    if let Some(h) = &r.meta.hint {
        out.push_str(&format!("  hint: {h}\n"));
    }
    // Redacted first (a secret is matched as written), then neutralised: every line comes from
    // the suite or the network; the mark line's colour codes are netspec's own.
    let body = neutralise(&secrets.redact(&out)).into_owned();
    format!("\n{} {}\n{body}", styled_mark(r.outcome, 0), neutralise(&secrets.redact(&r.meta.id)))
}

/// Streams the summary of the spooled checks (with ANSI colour codes on the outcome marks):
/// every failure's block in plan order, the checks that ran without TLS verification, the
/// totals line.
///
/// Errors: writing to `w`. A record that cannot be read back is said in the text.
fn write_summary(w: &mut dyn Write, spool: &Spool, wall: std::time::Duration) -> std::io::Result<()> {
    let t = spool.totals();
    // The failures and errors, in plan order (read back from the spool's entry file).
    let mut bad = Vec::with_capacity(t.failed + t.errors);
    if t.failed + t.errors > 0 {
        for e in spool.ordered() {
            match e {
                Ok(e) if matches!(e.outcome, Outcome::Failed | Outcome::Error) => bad.push(e),
                Ok(_) => {}
                Err(err) => {
                    writeln!(w, "\n(the results could not be read back: {err})")?;
                    break;
                }
            }
        }
    }
    if t.failed + t.errors > 0 {
        w.write_all(b"\nfailures:\n")?;
        let dependents = dependents(&bad);
        for (i, e) in bad.iter().enumerate() {
            if dependents.iter().any(|(_, d)| d.contains(&i)) {
                continue;
            }
            match spool.record(e) {
                Ok(rec) => w.write_all(rec.console.unwrap_or_default().as_bytes())?,
                Err(err) => writeln!(w, "\n(check #{}: its explanation could not be read back: {err})", e.index)?,
            }
            if let Some((_, deps)) = dependents.iter().find(|(root, _)| *root == i) {
                writeln!(w, "  also failing because this name does not resolve ({}):", deps.len())?;
                for d in deps {
                    // The dependent's own block starts with its mark and id: that line only.
                    let first = spool.record(&bad[*d]).ok().and_then(|r| r.console).unwrap_or_default();
                    let head = first.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().to_owned();
                    let code = bad[*d].reason.map(|r| r.as_str()).unwrap_or("");
                    writeln!(w, "    {head} ({code})")?;
                }
            }
        }
    }
    if t.failed + t.errors > 0 {
        write_tables(w, spool, &bad)?;
    }
    let insecure = spool.insecure_ids();
    let count = spool.insecure_count();
    if count > 0 {
        // A pass without verification proves reachability, not trust: say which ones.
        let shown = neutralise(&insecure.join(", ")).into_owned();
        let more = if count > insecure.len() { format!(" and {} more", count - insecure.len()) } else { String::new() };
        writeln!(w, "\nTLS verification off (insecure: true) in {count} check(s): {shown}{more}")?;
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

/// Failures that follow from another one (positions in `bad`, plan order): a DNS check that
/// got NXDOMAIN is the root of the tcp, tls and http checks of the same scenario instance whose
/// host is that name and that failed for a `dns.` reason. Returns `(root, dependents)`.
/// Linear in the failures (they are grouped by scenario instance and host first).
fn dependents(bad: &[super::spool::Entry]) -> Vec<(usize, Vec<usize>)> {
    use crate::model::{Kind, Reason};
    let mut by_host: std::collections::HashMap<(u32, u64), Vec<usize>> = std::collections::HashMap::new();
    for (j, e) in bad.iter().enumerate() {
        if e.kind != Kind::Dns && e.host != 0 && e.reason.is_some_and(|r| r.as_str().starts_with("dns.")) {
            by_host.entry((e.group, e.host)).or_default().push(j);
        }
    }
    let mut out = Vec::new();
    for (i, root) in bad.iter().enumerate() {
        if root.kind != Kind::Dns || root.reason != Some(Reason::DnsNxdomain) || root.host == 0 {
            continue;
        }
        if let Some(deps) = by_host.get(&(root.group, root.host)) {
            out.push((i, deps.clone()));
        }
    }
    out
}

/// The failures counted by reason code and by scenario: `tcp.closed ×10: uksouth, node2`
/// (scenario instances in plan order, at most 8 named), most frequent first; then per scenario.
fn write_tables(w: &mut dyn Write, spool: &Spool, bad: &[super::spool::Entry]) -> std::io::Result<()> {
    use indexmap::IndexMap;
    let mut by_reason: IndexMap<String, (usize, Vec<String>)> = IndexMap::new();
    let mut by_scenario: IndexMap<String, (usize, Vec<String>)> = IndexMap::new();
    for e in bad {
        let scenario = spool.groups().get_index(e.group as usize).map(|(_, sc)| sc.clone()).unwrap_or_default();
        let code = e.reason.map(|r| r.as_str().to_owned()).unwrap_or_else(|| "unexplained".into());
        let r = by_reason.entry(code.clone()).or_default();
        r.0 += 1;
        if !r.1.contains(&scenario) {
            r.1.push(scenario.clone());
        }
        let s = by_scenario.entry(scenario).or_default();
        s.0 += 1;
        if !s.1.contains(&code) {
            s.1.push(code);
        }
    }
    let list = |names: &[String]| {
        let shown = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
        if names.len() > 8 { format!("{shown} and {} more", names.len() - 8) } else { shown }
    };
    let mut reasons: Vec<_> = by_reason.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    let width = reasons.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    writeln!(
        w,
        "
by reason:"
    )?;
    for (code, (n, scenarios)) in &reasons {
        writeln!(w, "  {code:width$} ×{n:<3} {}", list(scenarios))?;
    }
    let width = by_scenario.keys().map(|c| c.chars().count()).max().unwrap_or(0);
    writeln!(
        w,
        "
by scenario:"
    )?;
    for (scenario, (n, codes)) in &by_scenario {
        writeln!(w, "  {scenario:width$} ×{n:<3} {}", list(codes))?;
    }
    Ok(())
}

/// Prints the summary of the spooled checks to stdout (coloured only where anstream allows it).
pub fn print_summary(spool: &Spool, wall: std::time::Duration) {
    // Buffered: one write per 64 KiB rather than one per line (150 explained failures were
    // ~840 `write`s).
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, anstream::stdout().lock());
    let _ = write_summary(&mut out, spool, wall);
    let _ = out.flush();
}
