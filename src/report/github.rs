//! GitHub Actions: one workflow command per check that did not pass
//! (`::error title=…::message`, `::warning` for a cancelled check) on stdout, and a Markdown
//! summary appended to the file `$GITHUB_STEP_SUMMARY` names, when it is set (GitHub shows it
//! on the run's page).
//!
//! Escaping follows the runner's command syntax (actions/toolkit `command.ts`): in the message
//! `%` `\r` `\n` become `%25` `%0D` `%0A`; in a property (the title) also `:` → `%3A` and
//! `,` → `%2C`. GitHub shows at most 10 error annotations per step; the summary lists them all
//! (up to [`SUMMARY_ROWS`]).

use std::io::Write;
use std::path::PathBuf;

use super::sanitize::neutralise;
use super::{CheckSummary, ReportError, mark};
use crate::run::{Outcome, Totals};

/// Most failure rows written to the step summary (GitHub caps a summary at 1 MiB).
pub const SUMMARY_ROWS: usize = 300;

/// Escapes a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn several_vantages(items: &[(&str, &CheckSummary)]) -> bool {
    items.first().is_some_and(|(first, _)| items.iter().any(|(v, _)| v != first))
}

/// The message of a check that did not pass: the reason, the reason code and the hint, one a line.
fn message(s: &CheckSummary) -> String {
    let mut m = s.reason.clone().unwrap_or_else(|| "did not pass".into());
    if let Some(code) = &s.reason_code {
        m.push_str(&format!("\nreason: {code}"));
    }
    m.push_str(&format!("\ncheck: {} (resolver {})", s.target, s.resolver));
    if let Some(h) = &s.hint {
        m.push_str(&format!("\nhint: {h}"));
    }
    m
}

/// One workflow command per `(vantage, check)` that did not pass, in the order given.
pub fn annotations(items: &[(&str, &CheckSummary)]) -> Vec<String> {
    let at = several_vantages(items);
    items
        .iter()
        .filter(|(_, s)| s.outcome != Outcome::Passed)
        .map(|(v, s)| {
            let level = if s.outcome == Outcome::Cancelled { "warning" } else { "error" };
            let title = if at { format!("{} {} @ {v}", mark(s.outcome), s.id) } else { format!("{} {}", mark(s.outcome), s.id) };
            // file= and line= point GitHub at the check's definition (shown on the diff and
            // the file); a path is relative to the repository when the suite path was.
            let at_file = match (&s.file, s.line) {
                (Some(f), Some(l)) if l > 0 => format!("file={},line={l},", escape_property(f)),
                (Some(f), _) => format!("file={},", escape_property(f)),
                _ => String::new(),
            };
            format!("::{level} {at_file}title={}::{}", escape_property(&neutralise(&title)), escape_data(&neutralise(&message(s))))
        })
        .collect()
}

/// Escapes text for a Markdown table cell: backslash-escapes Markdown punctuation, `&` as an
/// entity, and newlines as `<br>`.
pub fn md_cell(s: &str) -> String {
    let s = neutralise(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\r' => {}
            '\n' => out.push_str("<br>"),
            _ => out.push(c),
        }
    }
    out
}

/// The step summary: a heading, the totals and a table of the checks that did not pass.
pub fn summary_markdown(title: &str, items: &[(&str, &CheckSummary)]) -> String {
    let at = several_vantages(items);
    let mut t = Totals::default();
    for (_, s) in items {
        match s.outcome {
            Outcome::Passed => t.passed += 1,
            Outcome::Failed => t.failed += 1,
            Outcome::Error => t.errors += 1,
            Outcome::Cancelled => t.cancelled += 1,
        }
    }
    let mut md = format!("### netspec: {}\n\n", md_cell(title));
    md.push_str(&format!(
        "**{} checks: {} passed, {} failed, {} errors{}**\n\n",
        items.len(),
        t.passed,
        t.failed,
        t.errors,
        if t.cancelled > 0 { format!(", {} cancelled", t.cancelled) } else { String::new() }
    ));
    let bad: Vec<_> = items.iter().filter(|(_, s)| s.outcome != Outcome::Passed).collect();
    if bad.is_empty() {
        md.push_str("Every check passed.\n");
        return md;
    }
    md.push_str(if at {
        "| outcome | check | vantage | reason | code | hint |\n|---|---|---|---|---|---|\n"
    } else {
        "| outcome | check | reason | code | hint |\n|---|---|---|---|---|\n"
    });
    for (v, s) in bad.iter().take(SUMMARY_ROWS) {
        let mut row = format!("| {} | {} ", mark(s.outcome), md_cell(&s.id));
        if at {
            row.push_str(&format!("| {} ", md_cell(v)));
        }
        row.push_str(&format!(
            "| {} | {} | {} |\n",
            md_cell(s.reason.as_deref().unwrap_or("")),
            md_cell(s.reason_code.as_deref().unwrap_or("")),
            md_cell(s.hint.as_deref().unwrap_or(""))
        ));
        md.push_str(&row);
    }
    if bad.len() > SUMMARY_ROWS {
        md.push_str(&format!("\n{} more: see the JSON or HTML report.\n", bad.len() - SUMMARY_ROWS));
    }
    md
}

/// Prints the annotations and appends the summary to `$GITHUB_STEP_SUMMARY` when it is set.
/// The summary file belongs to the workflow step, so it is appended to, not replaced.
///
/// Errors: [`ReportError::Write`] when the summary file cannot be appended to.
pub fn emit(title: &str, items: &[(&str, &CheckSummary)]) -> Result<(), ReportError> {
    {
        let mut out = std::io::stdout().lock();
        for a in annotations(items) {
            let _ = writeln!(out, "{a}");
        }
        let _ = out.flush();
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        return Ok(());
    };
    let md = summary_markdown(title, items);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{md}\n").as_bytes()))
        .map_err(|source| ReportError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::summary;

    #[test]
    fn annotations_escape_and_skip_passes() {
        let mut bad = summary("c", Outcome::Failed, Some("tcp.filtered"));
        bad.id = "s/sc: 1, 2/c".into();
        bad.reason = Some("state: expected open, observed 100% filtered\nsecond line".into());
        bad.hint = Some("check the firewall".into());
        let ok = summary("ok", Outcome::Passed, None);
        let a = annotations(&[("v", &ok), ("v", &bad)]);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0],
            "::error file=suites/s.yaml,line=7,title=FAIL s/sc%3A 1%2C 2/c::state: expected open, observed 100%25 filtered%0Asecond line%0Areason: tcp.filtered%0Acheck: tcp h:1 (resolver system)%0Ahint: check the firewall"
        );
        let a = annotations(&[("east", &bad), ("west", &ok)]);
        assert!(a[0].starts_with("::error file=suites/s.yaml,line=7,title=FAIL s/sc%3A 1%2C 2/c @ east::"), "{}", a[0]);
    }

    #[test]
    fn summary_table_escapes_cells() {
        let mut bad = summary("c", Outcome::Error, Some("tls.ca_file"));
        bad.reason = Some("a|b <x>".into());
        let md = summary_markdown("suite", &[("v", &bad)]);
        assert!(md.contains("**1 checks: 0 passed, 0 failed, 1 errors**"), "{md}");
        assert!(md.contains("| ERROR | s/sc/c | a\\|b \\<x\\> | tls.ca\\_file |  |"), "{md}");
        let ok = summary("ok", Outcome::Passed, None);
        assert!(summary_markdown("suite", &[("v", &ok)]).contains("Every check passed."));
    }
}
