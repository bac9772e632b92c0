//! Neutralising text from the network or the suite before it reaches a terminal or a CI log.
//!
//! CI agents read commands from the job's output: GitHub Actions runs a line starting with `::`
//! as a workflow command (`::stop-commands::`, `::add-mask::`, `::error::`; docs.github.com
//! "Workflow commands for GitHub Actions"), Azure Pipelines runs `##vso[…]` and `##[…]`
//! anywhere in a line ("Logging commands"). A terminal runs escape sequences (ESC, CSI) and a
//! carriage return overwrites what was printed. [`neutralise`] makes such text inert and
//! visible; netspec's own annotations are written around neutralised fields and stay intact.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Neutralises `text` for a terminal or CI log, line by line (`\n` is kept):
/// - a line whose first non-blank characters are `::` gets its first colon as `\x3a`;
/// - `##` followed by `vso[` or `[` becomes `#\x23`;
/// - CR is shown as `\r`, other C0 controls but tab and newline, and DEL, as `\xNN`
///   (ESC as `\x1b`), C1 controls (U+0080–U+009F) as `\u{NN}`.
///
/// Returns the text unchanged (borrowed) when nothing needed it.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if !needs(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let blank = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut rest = line;
        if line[blank..].starts_with("::") {
            out.push_str(&line[..blank]);
            out.push_str("\\x3a");
            rest = &line[blank + 1..];
        }
        let mut chars = rest.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '#' if rest[at..].starts_with("##[") || rest[at..].starts_with("##vso[") => {
                    out.push_str("#\\x23");
                    chars.next();
                }
                '\r' => out.push_str("\\r"),
                '\t' => out.push('\t'),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if (0x80..=0x9f).contains(&(c as u32)) => {
                    let _ = write!(out, "\\u{{{:02x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    Cow::Owned(out)
}

fn needs(text: &str) -> bool {
    text.contains("##")
        || text.chars().any(|c| (c != '\n' && c != '\t' && (c as u32) < 0x20) || (0x7f..=0x9f).contains(&(c as u32)))
        || text.split('\n').any(|l| l.trim_start_matches([' ', '\t']).starts_with("::"))
}

/// [`neutralise`] for a JSON document printed to a log: serde_json already escapes control
/// characters, so only `##` is broken up, as `#\u0023` (the same string once parsed).
pub fn neutralise_json(json: &str) -> Cow<'_, str> {
    if json.contains("##") { Cow::Owned(json.replace("##", "#\\u0023")) } else { Cow::Borrowed(json) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_controls_are_made_inert_and_visible() {
        assert_eq!(neutralise("plain text: a::b #1"), "plain text: a::b #1");
        assert!(matches!(neutralise("plain"), Cow::Borrowed(_)));
        assert_eq!(neutralise("::stop-commands::tok\n  ::error::x"), "\\x3a:stop-commands::tok\n  \\x3a:error::x");
        assert_eq!(neutralise("a ##vso[task.setvariable]1 ##[group]"), "a #\\x23vso[task.setvariable]1 #\\x23[group]");
        assert_eq!(neutralise("x\r\x1b[2Jy\x07\u{9b}"), "x\\r\\x1b[2Jy\\x07\\u{9b}");
        assert_eq!(neutralise("tab\tkept"), "tab\tkept");
        let j = neutralise_json(r###"{"a":"##[x"}"###);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&j).unwrap()["a"], "##[x");
        assert!(!j.contains("##"));
    }
}
