//! Errors of loading and planning suites: always "cannot run", never a check failure.
//!
//! Every error inside a suite file carries the file, the 1-based line and column and, when the
//! source is at hand, a snippet with the offending line marked, like a compiler's.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem that stops a suite from running (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("error: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A problem at a place in a file.
    #[error("{0}")]
    Located(Box<Located>),
    /// A problem with the command line or environment (no file position).
    #[error("{message}{}", hint_suffix(.hint))]
    Input {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// Several problems, in file order.
    #[error("{}", join(.0))]
    Many(Vec<LoadError>),
}

fn hint_suffix(h: &Option<String>) -> String {
    h.as_ref().map(|h| format!("\n  = hint: {h}")).unwrap_or_default()
}

fn join(v: &[LoadError]) -> String {
    v.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n\n")
}

impl LoadError {
    /// A command-line or environment problem.
    pub fn input(message: impl Into<String>, hint: Option<&str>) -> Self {
        LoadError::Input { message: message.into(), hint: hint.map(str::to_owned) }
    }

    /// A located problem; `source` is the file's text, used for the snippet.
    pub fn at(path: &Path, source: Option<&str>, line: u32, column: u32, message: impl Into<String>) -> Self {
        LoadError::Located(Box::new(Located {
            path: path.to_owned(),
            line,
            column,
            message: message.into(),
            hint: None,
            snippet: source.and_then(|s| snippet(s, line, column)),
        }))
    }

    /// Adds a hint line to a located or input error.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        match &mut self {
            LoadError::Located(l) => l.hint = Some(hint.into()),
            LoadError::Input { hint: h, .. } => *h = Some(hint.into()),
            _ => {}
        }
        self
    }

    /// The error with every secret (and derived form) in its message, hint and snippet
    /// replaced by `***`: errors quote rendered values and source lines.
    pub fn redact(self, secrets: &crate::suite::template::Secrets) -> Self {
        if secrets.is_empty() {
            return self;
        }
        match self {
            LoadError::Read { path, source } => match secrets.redact_cow(&path.display().to_string()) {
                std::borrow::Cow::Owned(shown) => LoadError::Read { path: PathBuf::from(shown), source },
                std::borrow::Cow::Borrowed(_) => LoadError::Read { path, source },
            },
            LoadError::Located(mut l) => {
                l.message = secrets.redact(&l.message);
                l.hint = l.hint.map(|h| secrets.redact(&h));
                l.snippet = l.snippet.map(|s| secrets.redact(&s));
                if let std::borrow::Cow::Owned(p) = secrets.redact_cow(&l.path.display().to_string()) {
                    l.path = PathBuf::from(p);
                }
                LoadError::Located(l)
            }
            LoadError::Input { message, hint } => {
                LoadError::Input { message: secrets.redact(&message), hint: hint.map(|h| secrets.redact(&h)) }
            }
            LoadError::Many(v) => LoadError::Many(v.into_iter().map(|e| e.redact(secrets)).collect()),
        }
    }

    /// Flattens a list: one error stays itself.
    pub fn many(mut v: Vec<LoadError>) -> Self {
        if v.len() == 1 { v.remove(0) } else { LoadError::Many(v) }
    }
}

/// A problem at `path:line:column`.
#[derive(Debug)]
pub struct Located {
    /// The suite or vars file.
    pub path: PathBuf,
    /// 1-based line (0: unknown).
    pub line: u32,
    /// 1-based column (0: unknown).
    pub column: u32,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The source line with a caret under the column.
    pub snippet: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.line > 0 {
            write!(f, "error: {}\n --> {}:{}:{}", self.message, self.path.display(), self.line, self.column)?;
        } else {
            write!(f, "error: {}\n --> {}", self.message, self.path.display())?;
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  = hint: {h}")?;
        }
        Ok(())
    }
}

/// Widest part of a source line a snippet shows, in characters.
pub const SNIPPET_WIDTH: usize = 120;

/// The line `line` of `source` with a caret under `column`, gutter-numbered. A long line is cut
/// to a window around the column (`…` marks the cuts); a tab shows as `→` so the caret stays
/// aligned.
pub fn snippet(source: &str, line: u32, column: u32) -> Option<String> {
    if line == 0 {
        return None;
    }
    let chars: Vec<char> = source.lines().nth(line as usize - 1)?.chars().collect();
    let col = column.saturating_sub(1) as usize;
    let start = if chars.len() <= SNIPPET_WIDTH { 0 } else { col.saturating_sub(SNIPPET_WIDTH / 2).min(chars.len() - SNIPPET_WIDTH) };
    let end = (start + SNIPPET_WIDTH).min(chars.len());
    let mut text: String = chars[start..end].iter().map(|&c| if c == '\t' { '→' } else { c }).collect();
    let mut caret = col - start.min(col);
    if start > 0 {
        text.insert(0, '…');
        caret += 1;
    }
    if end < chars.len() {
        text.push('…');
    }
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret = " ".repeat(caret);
    Some(format!("{pad} |\n{gutter} | {text}\n{pad} | {caret}^"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_the_column() {
        let s = snippet("a: 1\nbb: oops\n", 2, 5).unwrap();
        assert_eq!(s, "  |\n2 | bb: oops\n  |     ^");
    }

    #[test]
    fn snippet_windows_long_lines_and_shows_tabs() {
        let long = format!("v: {}x", "[".repeat(1000));
        let s = snippet(&long, 1, 900).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[1].starts_with("1 | …[[[") && lines[1].ends_with('…'), "{s}");
        assert_eq!(lines[2].find('^'), Some("1 | …".chars().count() + 60), "{s}");
        assert_eq!(snippet("\t- a\n", 1, 2).unwrap(), "  |\n1 | →- a\n  |  ^");
    }

    #[test]
    fn located_display_has_position_and_hint() {
        let e = LoadError::at(Path::new("s.yaml"), Some("x: 1\n"), 1, 4, "bad value").with_hint("use 2");
        assert_eq!(e.to_string(), "error: bad value\n --> s.yaml:1:4\n  |\n1 | x: 1\n  |    ^\n  = hint: use 2");
    }
}
