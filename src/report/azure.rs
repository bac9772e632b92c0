//! Azure Pipelines: one logging command per check that did not pass on stdout,
//! `##vso[task.logissue type=error;code=<reason code>]message` (`type=warning` for a cancelled
//! check), which the agent turns into issues on the run's summary.
//!
//! Escaping follows azure-pipelines-task-lib (`taskcommand.ts`): in the message `%` `\r` `\n`
//! become `%AZP25` `%0D` `%0A`; in a property also `]` → `%5D` and `;` → `%3B`.

use std::io::Write;

use super::sanitize::neutralise;
use super::{CheckSummary, mark};
use crate::run::Outcome;

/// Escapes a logging command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%AZP25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a logging command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(']', "%5D").replace(';', "%3B")
}

/// One logging command per `(vantage, check)` that did not pass, in the order given.
pub fn commands(items: &[(&str, &CheckSummary)]) -> Vec<String> {
    let several = items.first().is_some_and(|(first, _)| items.iter().any(|(v, _)| v != first));
    items
        .iter()
        .filter(|(_, s)| s.outcome != Outcome::Passed)
        .map(|(v, s)| {
            let level = if s.outcome == Outcome::Cancelled { "warning" } else { "error" };
            let mut props = format!("type={level}");
            if let Some(code) = &s.reason_code {
                props.push_str(&format!(";code={}", escape_property(&neutralise(code))));
            }
            let at = if several { format!(" @ {v}") } else { String::new() };
            let mut msg = format!("{} {}{at}: {}", mark(s.outcome), s.id, s.reason.as_deref().unwrap_or("did not pass"));
            if let Some(h) = &s.hint {
                msg.push_str(&format!("\nhint: {h}"));
            }
            format!("##vso[task.logissue {props}]{}", escape_data(&neutralise(&msg)))
        })
        .collect()
}

/// Prints the logging commands.
pub fn emit(items: &[(&str, &CheckSummary)]) {
    let mut out = std::io::stdout().lock();
    for c in commands(items) {
        let _ = writeln!(out, "{c}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::summary;

    #[test]
    fn commands_escape_and_skip_passes() {
        let mut bad = summary("c", Outcome::Failed, Some("http.status"));
        bad.reason = Some("status: expected 401, observed 200 [100%]; done".into());
        bad.hint = Some("not the telemetry service".into());
        let ok = summary("ok", Outcome::Passed, None);
        let c = commands(&[("v", &ok), ("v", &bad)]);
        assert_eq!(
            c,
            vec![
                "##vso[task.logissue type=error;code=http.status]FAIL s/sc/c: status: expected 401, observed 200 [100%AZP25]; done%0Ahint: not the telemetry service"
                    .to_string()
            ]
        );
        assert_eq!(escape_property("a;b]c"), "a%3Bb%5Dc");
        let mut cancelled = summary("x", Outcome::Cancelled, None);
        cancelled.reason = Some("cancelled before it finished".into());
        assert!(commands(&[("v", &cancelled)])[0].starts_with("##vso[task.logissue type=warning]CANCEL s/sc/x"));
    }
}
