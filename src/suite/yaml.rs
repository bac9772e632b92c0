//! Reading YAML safely: the parser's resource limits, and turning serde-saphyr's errors into
//! located diagnostics a suite author can act on (what was expected, what was found, where).
//!
//! Limits hold for hostile input (alias bombs, deep nesting, huge files): the parser stops with
//! a located error instead of exhausting memory or the stack. They are far above what a real
//! suite needs (a suite nests about 8 levels; 250,000 values is about 20,000 checks).

use std::path::Path;

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::options::AliasLimits;
use serde_saphyr::{Budget, Error, Options};

use super::LoadError;

/// Deepest nesting of lists and mappings accepted. A suite nests about 8 levels (scenarios →
/// checks → expect → headers → matcher); 64 leaves room for nested `vars` values while keeping the
/// recursive deserializer's stack use small (10,000 `[` would otherwise recurse 10,000 frames).
pub const MAX_DEPTH: usize = 64;

/// Most values (scalars, lists, mappings) one file may produce, counting every use of an alias
/// again: the alias-bomb bound (`billion laughs` asks for 387 million).
pub const MAX_NODES: usize = 250_000;

/// Most parser events (values plus structure: starts and ends) one file may produce.
pub const MAX_EVENTS: usize = 1_000_000;

/// Most events aliases may replay in total (each `*name` replays its anchor's events).
pub const MAX_ALIAS_REPLAY_EVENTS: usize = MAX_NODES;

/// Most aliases (`*name`) and most anchors (`&name`) one file may hold.
pub const MAX_ALIASES: usize = 10_000;

/// Most bytes of string content in total, aliases counted per use: twice the file-size limit.
pub const MAX_SCALAR_BYTES: usize = 2 * super::MAX_FILE_BYTES as usize;

/// The parser options of every suite, library and vars file.
pub fn options() -> Options {
    options_share(1)
}

/// The options of one of `k` pieces of a file parsed apart (`super::split`): `1/k` of the
/// file's value, event and text budgets, so that pieces each within theirs are a file within its
/// own (their counts add up to at least the file's). Depth, alias and anchor limits are the
/// file's: pieces other than the first hold no anchor or alias.
pub fn options_share(k: usize) -> Options {
    let k = k.max(1);
    Options {
        budget: Some(Budget {
            max_events: MAX_EVENTS / k,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES / k,
            max_total_scalar_bytes: MAX_SCALAR_BYTES / k,
            ..Budget::default()
        }),
        alias_limits: AliasLimits { max_total_replayed_events: MAX_ALIAS_REPLAY_EVENTS, ..AliasLimits::default() },
        // Snippets are rendered by `LoadError`; the library's would be built and thrown away.
        with_snippet: false,
        ..Options::default()
    }
}

/// An error a hand-written `Deserialize` raises at a place it knows (a key it read as
/// [`super::model::Loc`]), with a hint: serde-saphyr keeps a visitor's custom errors unlocated, so
/// the position and the hint travel in the message, marked, and [`error`] takes them out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Starts and separates the parts of an [`At`] inside a serde error message (ASCII record
/// separator: no YAML text a message quotes can hold it, the reader rejects control characters).
const AT_MARK: char = '\u{1e}';

impl At {
    /// A located message without a hint.
    pub fn new(line: u32, column: u32, message: impl Into<String>) -> Self {
        At { line, column, message: message.into(), hint: None }
    }

    /// The same with a hint.
    pub fn hint(self, hint: impl Into<String>) -> Self {
        At { hint: Some(hint.into()), ..self }
    }

    /// As a deserializer's error; [`error`] turns it into a [`LoadError`] at (line, column).
    pub fn error<E: serde::de::Error>(self) -> E {
        E::custom(format_args!("{AT_MARK}{}:{}{AT_MARK}{}{AT_MARK}{}", self.line, self.column, self.message, self.hint.unwrap_or_default()))
    }

    /// The [`At`] that [`At::error`] wrote into `text`, if any.
    fn take(text: &str) -> Option<At> {
        let mut parts = text.split(AT_MARK).skip(1);
        let (line, column) = parts.next()?.split_once(':')?;
        let message = parts.next()?.to_owned();
        let hint = parts.next().filter(|h| !h.is_empty()).map(str::to_owned);
        Some(At { line: line.parse().ok()?, column: column.parse().ok()?, message, hint })
    }
}

/// A serde-saphyr error as a located [`LoadError`] with a plain-words message and a hint.
pub fn error(path: &Path, source: &str, e: Error) -> LoadError {
    let e = e.without_snippet();
    if let Error::Message { msg, .. } = &e
        && let Some(at) = At::take(msg)
    {
        let le = LoadError::at(path, Some(source), at.line, at.column, at.message);
        return match at.hint {
            Some(h) => le.with_hint(h),
            None => le,
        };
    }
    let (mut line, mut col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
    let found = || found_at(source, line, col);
    let mut hint: Option<String> = None;
    let msg = match e {
        Error::Eof { .. } if !has_content(source) => {
            hint = Some("a suite starts with `netspec: 1`, then `name:` and `scenarios:`".into());
            (line, col) = (1, 1);
            "the file holds no suite: it is empty or only comments".to_owned()
        }
        Error::Eof { .. } => "the file ends in the middle of a value".to_owned(),
        Error::Unexpected { expected, .. } => {
            let want = match *expected {
                "sequence start" => "a list",
                "mapping start" => "a mapping",
                "string scalar" | "missing string" => "a string",
                "bool expected" | "missing bool" => "true or false",
                other => other,
            };
            format!("expected {want}, found {}", found())
        }
        Error::Budget { breach, .. } => {
            let (m, h) = budget_message(breach);
            hint = Some(h.into());
            m
        }
        _ => {
            let text = e.to_string();
            // The library's message may repeat the position; keep what says what is wrong.
            let first = text.lines().next().unwrap_or("invalid YAML");
            let first = first.rfind(" at line ").map_or(first, |i| &first[..i]);
            let (m, h) = rewrite(first, source, &mut line, &mut col);
            hint = h;
            m
        }
    };
    let e = LoadError::at(path, Some(source), line, col, msg);
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// Rewrites a free-text library message; may move the position to the offending token.
fn rewrite(msg: &str, source: &str, line: &mut u32, col: &mut u32) -> (String, Option<String>) {
    let found = |l: u32, c: u32| found_at(source, l, c);
    // For an unknown key the library points at the enclosing mapping; point at the key itself.
    if let Some(key) = msg.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
        if *line > 0
            && let Some((l, c)) = find_from(source, *line, 1, &format!("{key}:"))
        {
            (*line, *col) = (l, c);
        }
        // serde lists the accepted keys after "expected one of"; suggest the closest.
        let accepted: Vec<&str> = msg
            .split_once("expected one of ")
            .map(|(_, list)| list.split(',').map(|k| k.trim().trim_matches('`')).filter(|k| !k.is_empty()).collect())
            .unwrap_or_default();
        let hint = match crate::util::did_you_mean(key, accepted.iter().copied()) {
            Some(k) => format!("did you mean `{k}`?"),
            None => "check the key's spelling against docs/suite-reference.md or `netspec schema`".into(),
        };
        return (msg.to_owned(), Some(hint));
    }
    if let Some(field) = msg.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        return (msg.to_owned(), Some(format!("add `{field}:` to the mapping that starts here")));
    }
    // serde's `invalid value: string "5", expected a duration …`: say it the other way round, and
    // point at the value rather than at the start of its mapping.
    if let Some(rest) = msg.strip_prefix("invalid value: ").or_else(|| msg.strip_prefix("invalid type: "))
        && let Some(i) = rest.rfind(", expected ")
    {
        let (what, expected) = (&rest[..i], &rest[i + ", expected ".len()..]);
        let value = what
            .strip_prefix("string \"")
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| what.strip_prefix("integer `").and_then(|v| v.strip_suffix('`')));
        return match value {
            Some(v) => {
                if let Some((l, c)) = find_value(source, *line, *col, v) {
                    (*line, *col) = (l, c);
                }
                (format!("expected {expected}, found `{v}`"), None)
            }
            None => {
                let what = match what {
                    "sequence" => "a list".to_owned(),
                    "map" => "a mapping".to_owned(),
                    "unit value" => "nothing".to_owned(),
                    // `boolean `true``, `floating point `1.5``: the value itself says enough.
                    w => w.find('`').map_or_else(|| w.to_owned(), |i| w[i..].to_owned()),
                };
                (format!("expected {expected}, found {what}"), None)
            }
        };
    }
    if let Some(ty) = msg.strip_prefix("invalid ")
        && matches!(ty, "u8" | "u16" | "u32" | "u64" | "u128" | "usize")
    {
        return (format!("expected a whole number (0 or more), found {}", found(*line, *col)), None);
    }
    if let Some(ty) = msg.strip_prefix("invalid ")
        && matches!(ty, "i8" | "i16" | "i32" | "i64" | "i128" | "isize")
    {
        return (format!("expected a whole number, found {}", found(*line, *col)), None);
    }
    if msg.starts_with("invalid YAML 1.1 bool") {
        return (format!("expected true or false, found {}", found(*line, *col)), None);
    }
    // `retry.backoff` is checked by its own deserializer, which has no position: point at the
    // first `backoff:` whose value is not an accepted factor.
    if msg.starts_with("backoff ") && *line == 0 {
        if let Some((l, c)) = bad_backoff(source) {
            (*line, *col) = (l, c);
        }
        return (msg.to_owned(), Some("`backoff` multiplies the pause after each attempt: 1 keeps it constant, 2 doubles it".into()));
    }
    if msg.contains("tab") {
        return (msg.to_owned(), Some("YAML indentation must use spaces, not tabs".into()));
    }
    if msg.starts_with("multiple YAML documents") {
        return (
            "a suite file holds one YAML document; a second one starts here".into(),
            Some("remove the `---` line, or put the second suite in a file of its own".into()),
        );
    }
    if msg == "while parsing a block mapping, did not find expected key" {
        return (
            "this line does not line up with the keys of its mapping".into(),
            Some("keys of one mapping start in the same column; a nested value is indented further than its key".into()),
        );
    }
    if msg == "simple key expect ':'" || msg == "could not find expected ':'" {
        // The scanner notices at the next line; the key without `:` is the last line with text.
        if let Some((l, c)) = last_content_before(source, *line) {
            (*line, *col) = (l, c);
        }
        return ("expected `key: value`: this line has no `:`".into(), Some("write `key: value`, or `- item` in a list".into()));
    }
    if msg == "while parsing node, found unknown anchor" {
        let name = alias_at(source, *line, *col);
        return (
            format!("alias `*{name}` names no anchor defined before it"),
            Some(format!("mark the value to repeat with `&{name}` above its first use")),
        );
    }
    if msg.starts_with("Recursive references") {
        let name = alias_at(source, *line, *col);
        return (format!("alias `*{name}` is used inside the value it names"), Some("an alias cannot contain itself".into()));
    }
    if msg.starts_with("alias replay") || msg.starts_with("alias expansion") {
        return (
            format!("aliases (`*name`) expand to more than {MAX_ALIAS_REPLAY_EVENTS} values"),
            Some("each use of an alias repeats its anchor's content; write the values out or split the suite".into()),
        );
    }
    if msg == "recursion limit exceeded" {
        return (
            "brackets nest deeper than the YAML parser allows (255 levels)".into(),
            Some("look for `[` or `{` that are never closed".into()),
        );
    }
    (msg.to_owned(), None)
}

fn budget_message(b: &BudgetBreach) -> (String, &'static str) {
    let split = "a suite this large is refused: split it into several files";
    match b {
        BudgetBreach::Depth { .. } => (
            format!("lists and mappings nest deeper than {MAX_DEPTH} levels"),
            "a suite nests about 8 levels: look for `[` or `{` that are never closed",
        ),
        BudgetBreach::Nodes { .. } => (
            format!("the YAML holds more than {MAX_NODES} values (each use of an alias counts again)"),
            "an alias (`*name`) repeats its anchor's whole content; nested aliases multiply it",
        ),
        BudgetBreach::Events { .. } => (format!("the YAML is larger than {MAX_EVENTS} parser events"), split),
        BudgetBreach::Aliases { .. } => (format!("more than {MAX_ALIASES} aliases (`*name`)"), split),
        BudgetBreach::Anchors { .. } => (format!("more than {MAX_ALIASES} anchors (`&name`)"), split),
        BudgetBreach::Documents { .. } => (
            "a suite file holds one YAML document; a second one starts here".into(),
            "remove the `---` line, or put the second suite in a file of its own",
        ),
        BudgetBreach::ScalarBytes { .. } => {
            (format!("the strings add up to more than {} MiB (each use of an alias counts again)", MAX_SCALAR_BYTES >> 20), split)
        }
        BudgetBreach::MergeKeys { .. } => ("too many merge keys (`<<`)".into(), split),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => (
            format!("{aliases} aliases for {anchors} anchors: this looks like an alias bomb"),
            "an alias (`*name`) repeats its anchor's whole content; write the values out",
        ),
        other => (format!("the YAML exceeds a parser limit ({other:?})"), split),
    }
}

/// Whether the text holds anything but blank lines and comments.
fn has_content(source: &str) -> bool {
    source.lines().any(|l| {
        let t = l.trim().trim_start_matches('\u{feff}');
        !t.is_empty() && !t.starts_with('#')
    })
}

/// What the text at (line, col) is, for "expected X, found Y".
/// The position of the value of the first `backoff:` key in `source` that is not a finite
/// number from [`crate::suite::model::MIN_BACKOFF`] to [`crate::suite::model::MAX_BACKOFF`].
fn bad_backoff(source: &str) -> Option<(u32, u32)> {
    use crate::suite::model::{MAX_BACKOFF, MIN_BACKOFF};
    for (i, l) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(b) = l[from..].find("backoff:") {
            let start = from + b + "backoff:".len();
            let rest = &l[start..];
            let value = rest.trim_start();
            let text: String = value.chars().take_while(|c| !matches!(c, ',' | '}' | ']' | '#')).collect();
            let ok = serde_saphyr::from_str::<f64>(text.trim()).is_ok_and(|f| f.is_finite() && (MIN_BACKOFF..=MAX_BACKOFF).contains(&f));
            if !ok {
                let col = l[..start + (rest.len() - value.len())].chars().count() as u32 + 1;
                return Some((i as u32 + 1, col));
            }
            from = start;
        }
    }
    None
}

fn found_at(source: &str, line: u32, col: u32) -> String {
    let Some(rest) = rest_at(source, line, col) else {
        return "something else".into();
    };
    let rest = rest.trim_end();
    match rest.chars().next() {
        None => "nothing".into(),
        Some('[') => "a list".into(),
        Some('{') => "a mapping".into(),
        Some('-') if rest.len() == 1 || rest[1..].starts_with(' ') => "a list".into(),
        Some('"' | '\'') => {
            let q = &rest[..1];
            match rest[1..].find(q) {
                Some(end) => format!("the string `{}`", &rest[1..1 + end]),
                None => "a string".into(),
            }
        }
        Some('|' | '>') => "a block string".into(),
        _ => {
            let token = plain_token(rest);
            // `key:` at this place is a block mapping.
            if rest[token.len()..].is_empty() && token.ends_with(':') || rest.contains(": ") && !rest.starts_with('{') {
                let first = rest.split(": ").next().unwrap_or(rest);
                if !first.contains([',', '[', '{']) {
                    return "a mapping".into();
                }
            }
            let token = token.trim_end_matches(':');
            if token.is_empty() { "nothing".into() } else { format!("`{token}`") }
        }
    }
}

/// A plain scalar's text: up to a flow indicator, a comment or the end of the line.
fn plain_token(rest: &str) -> &str {
    let mut end = rest.len();
    for (i, ch) in rest.char_indices() {
        if matches!(ch, ',' | ']' | '}') || (ch == '#' && i > 0 && rest[..i].ends_with(' ')) {
            end = i;
            break;
        }
    }
    rest[..end].trim_end()
}

/// The text of `line` from character column `col` (both 1-based).
fn rest_at(source: &str, line: u32, col: u32) -> Option<&str> {
    if line == 0 {
        return None;
    }
    let l = source.lines().nth(line as usize - 1)?;
    let skip = col.saturating_sub(1) as usize;
    let start = l.char_indices().nth(skip).map(|(i, _)| i).unwrap_or(l.len());
    Some(&l[start..])
}

/// The first occurrence of `pat` at or after (line, col), as a 1-based (line, column).
fn find_from(source: &str, line: u32, col: u32, pat: &str) -> Option<(u32, u32)> {
    source.lines().enumerate().skip(line.saturating_sub(1) as usize).find_map(|(i, l)| {
        let from =
            if i + 1 == line as usize { l.char_indices().nth(col.saturating_sub(1) as usize).map_or(l.len(), |(b, _)| b) } else { 0 };
        l[from..].find(pat).map(|b| (i as u32 + 1, l[..from + b].chars().count() as u32 + 1))
    })
}

/// Where the scalar `value` is written at or after (line, col): as a whole token, plain or quoted.
fn find_value(source: &str, line: u32, col: u32, value: &str) -> Option<(u32, u32)> {
    if value.is_empty() || line == 0 {
        return None;
    }
    // Search a bounded window: the value belongs to the mapping that starts at (line, col).
    for (i, l) in source.lines().enumerate().skip(line as usize - 1).take(200) {
        let from =
            if i + 1 == line as usize { l.char_indices().nth(col.saturating_sub(1) as usize).map_or(l.len(), |(b, _)| b) } else { 0 };
        let mut search = from;
        while let Some(b) = l[search..].find(value) {
            let at = search + b;
            let before = l[..at].trim_end_matches(['"', '\'']);
            let after = l[at + value.len()..].trim_start_matches(['"', '\'']);
            let boundary_before = before.ends_with(": ")
                || before.ends_with(':')
                || before.ends_with('[')
                || before.ends_with(", ")
                || before.ends_with("- ")
                || before.ends_with(',');
            let boundary_after = after.is_empty() || after.starts_with([',', ']', '}', ' ']);
            if boundary_before && boundary_after {
                let quoted = l[..at].ends_with(['"', '\'']);
                let c = l[..at].chars().count() as u32 + 1 - u32::from(quoted);
                return Some((i as u32 + 1, c));
            }
            search = at + value.len();
        }
    }
    None
}

/// The last line before `line` holding text (not a comment), and the column of that text.
fn last_content_before(source: &str, line: u32) -> Option<(u32, u32)> {
    let lines: Vec<&str> = source.lines().collect();
    let upto = (line as usize).saturating_sub(1).min(lines.len());
    (0..upto).rev().find_map(|i| {
        let l = lines[i];
        let t = l.trim_start();
        (!t.is_empty() && !t.starts_with('#')).then(|| (i as u32 + 1, (l.chars().count() - t.chars().count()) as u32 + 1))
    })
}

/// The alias name written at (line, col) (`*name`).
fn alias_at(source: &str, line: u32, col: u32) -> String {
    let rest = rest_at(source, line, col).unwrap_or("");
    let rest = rest.strip_prefix('*').unwrap_or(rest);
    rest.chars().take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_describes_the_value() {
        let src = "a: [1]\nb: {x: 1}\nc: yes\nd: \"q\"\ne:\n  f: 1\n";
        assert_eq!(found_at(src, 1, 4), "a list");
        assert_eq!(found_at(src, 2, 4), "a mapping");
        assert_eq!(found_at(src, 3, 4), "`yes`");
        assert_eq!(found_at(src, 4, 4), "the string `q`");
        assert_eq!(found_at(src, 6, 3), "a mapping");
    }

    #[test]
    fn values_are_found_as_whole_tokens() {
        let src = "x:\n  a: 10.0.0.5\n  timeout: 5\n";
        assert_eq!(find_value(src, 1, 1, "5"), Some((3, 12)));
        assert_eq!(find_value("t: { p: \"7xx\" }", 1, 1, "7xx"), Some((1, 9)));
    }

    #[test]
    fn content_detection_ignores_comments() {
        assert!(!has_content("# only\n\n  # comment\n"));
        assert!(has_content("# c\nnetspec: 1\n"));
    }
}
