//! Parsing a large flat suite on several threads: the result is the one the whole file gives,
//! or this path steps aside and the whole file is parsed as usual.
//!
//! A suite written out by a generator holds thousands of checks, one flow mapping a line
//! (`      - { name: c1, tcp: { host: 10.0.0.1, port: 443 } }`). Parsing is most of the start-up
//! of such a run (serde-saphyr spends ~90,000 instructions on one such line), and every error
//! must be known before the first packet is sent, so the parse cannot overlap the run; it can use
//! the other cores. The longest run of consecutive *simple item lines* (below) at one indentation
//! is cut into `k` pieces of whole lines:
//!
//! - piece 1 is parsed with the head and the tail of the file, the other pieces' lines left empty
//!   (so every line keeps its number, and columns are untouched);
//! - each other piece is parsed on its own thread as a list of checks, after as many empty lines
//!   as precede it (its checks keep their lines).
//!
//! The pieces' checks are appended, in order, to the scenario whose last checks are piece 1's.
//!
//! **Why the result is the whole file's.** A simple item line is `- ` and one flow mapping that
//! opens and closes on that line, with none of YAML's context-dependent tokens (no quote but a
//! double-quoted scalar with neither `"` nor `\` inside, no `'`, no comment, anchor, alias, tag,
//! directive or block-scalar indicator). Its events do not depend on what follows it, and
//! between such lines the parser is at the same state: inside the block sequence at that
//! indentation, after a complete entry. That the lines *are* entries of one list (and not, say,
//! text inside a multi-line quoted scalar that began above them) is not assumed: it is read from
//! piece 1's parse, which must place one check on each of its lines, as the last checks of one
//! scenario. Piece 1's text equals the file's up to its cut, so the file's parse reaches the same
//! state there, and the other pieces' lines, being simple, parse the same in place as alone.
//! Each piece gets `1/k` of the file's value, event and text budgets (`super::yaml`), so pieces
//! within theirs mean a file within its own. Any error, or any check not where it must be, and
//! the whole file is parsed instead: errors, their positions and hints are always the whole
//! file's.

use std::ops::Range;

use super::check::Check;
use super::model::SuiteFile;

/// Fewest consecutive simple item lines worth a thread (below it the spawn and the copies cost
/// more than they save).
pub const MIN_LINES: usize = 256;

/// Most pieces: threads beyond this add copies of the text for little (the head is parsed once).
const MAX_PIECES: usize = 8;

/// The file cut into pieces: the item lines' indices (0-based) of each piece, and each line's
/// byte range in the text.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    /// Line ranges (0-based, end exclusive) of the pieces, in order; together one run of simple
    /// item lines.
    pub pieces: Vec<Range<usize>>,
    /// Byte range of every line of the file, newline excluded.
    lines: Vec<Range<usize>>,
}

/// Bytes that [`simple_item`] only steps over: printable, and neither a space, a quote, a
/// bracket, `,`, `:` nor a byte it refuses.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b >= 0x20
            && b != 0x7f
            && !matches!(
                b,
                b' ' | b'"'
                    | b'{'
                    | b'['
                    | b'}'
                    | b']'
                    | b','
                    | b':'
                    | b'\''
                    | b'#'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'%'
                    | b'@'
                    | b'`'
                    | b'\\'
                    | b'?'
            );
        i += 1;
    }
    t
};

/// Whether `line` (no newline) is a simple item line at indentation `indent` (see the module
/// docs): `indent` spaces, `-`, spaces, and one flow mapping closed on the line.
pub fn simple_item(line: &[u8], indent: usize) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < indent + 3 || line[..indent].iter().any(|&b| b != b' ') || line[indent] != b'-' || line[indent + 1] != b' ' {
        return false;
    }
    let mut i = indent + 2;
    while i < line.len() && line[i] == b' ' {
        i += 1;
    }
    if line.get(i) != Some(&b'{') {
        return false;
    }
    let mut depth = 1usize;
    // The last byte outside quotes that was not a space, and whether a space followed it.
    let (mut prev, mut spaced) = (b'{', false);
    let mut after_quote = false;
    i += 1;
    while i < line.len() {
        let b = line[i];
        i += 1;
        if PLAIN[b as usize] && !after_quote {
            // A run of bytes with no meaning to this reading (most of a line): skip it whole.
            while i < line.len() && PLAIN[line[i] as usize] {
                i += 1;
            }
            prev = line[i - 1];
            spaced = false;
            continue;
        }
        if b == b' ' {
            spaced = true;
            continue;
        }
        if after_quote && !matches!(b, b',' | b'}' | b']' | b':') {
            return false;
        }
        after_quote = false;
        match b {
            b'"' => {
                // A double-quoted scalar starts a node: after `{`, `[`, `,`, or `: `; a quote
                // anywhere else would be part of a plain scalar, which this reading does not model.
                if !(matches!(prev, b'{' | b'[' | b',') || (prev == b':' && spaced)) {
                    return false;
                }
                loop {
                    match line.get(i) {
                        None | Some(b'\\') => return false,
                        Some(b'"') => break,
                        Some(&c) if c < 0x20 => return false,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                after_quote = true;
            }
            // In a flow collection brackets are never part of a plain scalar (YAML 1.2 7.3.3).
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return line[i..].iter().all(|&c| c == b' ');
                }
            }
            b'\'' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'\\' | b'?' => return false,
            c if c < 0x20 || c == 0x7f => return false,
            _ => {}
        }
        prev = b;
        spaced = false;
    }
    false
}

/// Where `text` may be cut into `pieces` pieces (at most [`MAX_PIECES`]), or `None`: fewer than
/// two pieces asked, or no run of [`MIN_LINES`] simple item lines under a `checks:` key.
pub fn cut(text: &str, pieces: usize) -> Option<Cut> {
    let pieces = pieces.min(MAX_PIECES);
    if pieces < 2 {
        return None;
    }
    let bytes = text.as_bytes();
    let mut lines = Vec::with_capacity(bytes.len() / 64 + 1);
    let mut start = 0;
    for (nl, _) in text.match_indices('\n') {
        lines.push(start..nl);
        start = nl + 1;
    }
    if start < bytes.len() {
        lines.push(start..bytes.len());
    }
    // The longest run of simple item lines at one indentation.
    let (mut best, mut run): (Range<usize>, Option<(usize, usize)>) = (0..0, None);
    for (n, r) in lines.iter().enumerate() {
        let line = &bytes[r.clone()];
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let simple = simple_item(line, indent);
        run = match run {
            Some((first, ind)) if simple && ind == indent => Some((first, ind)),
            _ if simple => Some((n, indent)),
            _ => None,
        };
        if let Some((first, _)) = run
            && n + 1 - first > best.len()
        {
            best = first..n + 1;
        }
    }
    if best.len() < MIN_LINES.max(pieces) {
        return None;
    }
    // Only a check list is worth the try: the nearest line above the run that is indented less
    // (lines indented as much belong to entries of the same list) is a `checks:` key.
    let indent = bytes[lines[best.start].clone()].iter().take_while(|&&b| b == b' ').count();
    let above = lines[..best.start].iter().rev().map(|r| &text[r.clone()]).find(|l| {
        let t = l.trim_start_matches(' ');
        !t.trim().is_empty() && !t.starts_with('#') && l.len() - t.len() < indent
    })?;
    if above.trim() != "checks:" {
        return None;
    }
    let size = best.len().div_ceil(pieces);
    let pieces = (best.start..best.end).step_by(size).map(|s| s..(s + size).min(best.end)).collect();
    Some(Cut { pieces, lines })
}

impl Cut {
    /// The text of the first piece: the file with every other piece's lines left empty.
    fn first(&self, text: &str) -> String {
        let rest = self.pieces[1].start..self.pieces[self.pieces.len() - 1].end;
        let (a, b) = (self.lines[rest.start].start, self.lines[rest.end - 1].end);
        let mut s = String::with_capacity(text.len() - (b - a) + rest.len());
        s.push_str(&text[..a]);
        s.extend(std::iter::repeat_n('\n', rest.len() - 1));
        s.push_str(&text[b..]);
        s
    }

    /// The text of piece `k` (≥ 1): as many empty lines as precede it, then its lines.
    fn piece(&self, text: &str, k: usize) -> String {
        let r = &self.pieces[k];
        let (a, b) = (self.lines[r.start].start, self.lines[r.end - 1].end);
        let mut s = String::with_capacity(r.start + (b - a) + 1);
        s.extend(std::iter::repeat_n('\n', r.start));
        s.push_str(&text[a..b]);
        s.push('\n');
        s
    }
}

/// Whether `checks` are one per line of `lines` (0-based), in order.
fn on_lines(checks: &[Check], lines: &Range<usize>) -> bool {
    checks.len() == lines.len() && checks.iter().zip(lines.clone()).all(|(c, l)| c.name.line as usize == l + 1)
}

/// Smallest text worth looking for a cut in, in bytes ([`MIN_LINES`] short lines).
const MIN_BYTES: usize = 16 * 1024;

/// `text` parsed in the pieces of [`cut`], one thread per core the process may use, or `None`
/// when the process puts memory first (a run that streams, `util::memory_first`), the text
/// cannot be cut, a piece fails to parse, or a check is not where the cut says (the caller
/// parses the whole file, which gives the errors).
pub fn parse(text: &str) -> Option<SuiteFile> {
    // A run that streams puts memory first: one thread parses, one heap grows.
    if text.len() < MIN_BYTES || crate::util::is_memory_first() {
        return None;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    parse_with(text, threads, super::yaml::options_share)
}

/// [`parse`] in `threads` pieces with the options of one of `k` pieces given by `options(k)`.
fn parse_with(text: &str, threads: usize, options: impl Fn(usize) -> serde_saphyr::Options + Sync) -> Option<SuiteFile> {
    let cut = cut(text, threads)?;
    let k = cut.pieces.len();
    let options = || options(k);
    let (first, rest) = std::thread::scope(|s| {
        let handles: Vec<_> = (1..k)
            .map(|i| {
                let cut = &cut;
                s.spawn(move || {
                    let piece = cut.piece(text, i);
                    serde_saphyr::from_str_with_options::<Vec<Check>>(&piece, options()).ok()
                })
            })
            .collect();
        let first = serde_saphyr::from_str_with_options::<SuiteFile>(&cut.first(text), options()).ok();
        (first, handles.into_iter().map(|h| h.join().ok().flatten()).collect::<Vec<_>>())
    });
    let mut suite = first?;
    let scenario = suite.scenarios.iter_mut().find(|sc| {
        let n = cut.pieces[0].len();
        sc.checks.len() >= n && on_lines(&sc.checks[sc.checks.len() - n..], &cut.pieces[0])
    })?;
    for (checks, lines) in rest.into_iter().zip(&cut.pieces[1..]) {
        let checks = checks?;
        if !on_lines(&checks, lines) {
            return None;
        }
        scenario.checks.extend(checks);
    }
    Some(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_item_lines() {
        let yes = [
            "  - { name: a, dns: { name: a.example } }",
            "  - {name: a, tcp: {host: 10.0.0.1, port: 443}, expect: {state: open}}  ",
            r#"  - { name: a, http: { url: "https://a.example/x?y=1#z" }, expect: { status: [200, 301] } }"#,
            r#"  - { "name": "a b", dns: { name: x } }"#,
            "  -   { name: a }\r",
        ];
        for l in yes {
            assert!(simple_item(l.as_bytes(), 2), "{l}");
        }
        let no = [
            "  - name: a",                     // block mapping: may continue below
            "  - { name: a, dns: { name: x }", // flow mapping left open
            "  - { name: a } # c",             // comment
            "  - { name: a }: b",              // a mapping whose key is the flow mapping
            "  - { name: &x a }",              // anchor
            "  - { name: *x }",                // alias
            "  - { name: !!str a }",           // tag
            "  - { name: 'a' }",               // single quotes
            r#"  - { name: "a\"b" }"#,         // escape
            r#"  - { name: "a }"#,             // quote left open
            r#"  - { name: a"b", x: "}" }"#,   // a quote inside a plain scalar
            r#"  - { name: "a"b }"#,           // text after a closing quote
            "   - { name: a }",                // other indentation
            "  -{ name: a }",                  // not a sequence entry
            "  - [a, b]",                      // not a mapping
            "  - { name: a, hint: x\ty }",     // tab
        ];
        for l in no {
            assert!(!simple_item(l.as_bytes(), 2), "{l}");
        }
    }

    fn suite(lines: &[String], tail: &str) -> String {
        let mut s = String::from(
            "netspec: 1\nname: s\nscenarios:\n  - name: one\n    checks:\n      - name: first\n        dns: { name: f.example }\n",
        );
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(tail);
        s
    }

    fn items(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "      - {{ name: c{i}, tcp: {{ host: \"10.0.{}.{}\", port: {} }}, expect: {{ state: open }} }}",
                    i / 250,
                    i % 250,
                    1000 + i
                )
            })
            .collect()
    }

    fn whole(text: &str) -> SuiteFile {
        serde_saphyr::from_str_with_options(text, super::super::yaml::options()).unwrap()
    }

    #[test]
    fn pieces_parse_as_the_whole_file() {
        let tail = "  - name: two\n    checks:\n      - { name: last, dns: { name: l.example } }\n";
        let text = suite(&items(1000), tail);
        for k in [2, 3, 8] {
            let c = cut(&text, k).expect("a long flat list is cut");
            assert_eq!(c.pieces.len(), k);
            assert_eq!(c.pieces.iter().map(|p| p.len()).sum::<usize>(), 1000);
            let split = parse_with(&text, k, super::super::yaml::options_share).expect("the pieces parse");
            assert_eq!(format!("{split:?}"), format!("{:?}", whole(&text)), "{k} pieces");
        }
        assert!(cut(&text, 1).is_none(), "one thread: no cut");
        assert!(cut(&suite(&items(MIN_LINES - 1), tail), 2).is_none(), "too short to be worth a thread");
    }

    #[test]
    fn lines_inside_a_quoted_scalar_are_not_checks() {
        // The item-like lines are text inside a double-quoted scalar that starts above them: the
        // first piece does not place a check on each of its lines, so the whole file is parsed.
        let mut text = String::from("netspec: 1\nname: s\ndescription: \"starts here\n    checks:\n");
        for l in items(600) {
            text.push_str(&l.replace('"', ""));
            text.push('\n');
        }
        text.push_str("  ends here\"\nscenarios:\n  - name: one\n    checks:\n      - { name: real, dns: { name: r.example } }\n");
        assert!(cut(&text, 2).is_some(), "the lines look like a check list");
        let w = whole(&text);
        assert_eq!(w.scenarios[0].checks.len(), 1);
        assert!(parse_with(&text, 2, super::super::yaml::options_share).is_none(), "the cut is refused, not taken");
    }

    #[test]
    fn an_error_in_a_later_piece_steps_aside() {
        let mut lines = items(800);
        lines[700] = "      - { name: bad, tcp: { host: h, port: 1 }, dns: { name: x } }".into();
        let text = suite(&lines, "");
        assert!(simple_item(lines[700].as_bytes(), 6));
        assert!(serde_saphyr::from_str_with_options::<SuiteFile>(&text, super::super::yaml::options()).is_err());
        assert!(parse_with(&text, 2, super::super::yaml::options_share).is_none());
    }

    #[test]
    fn each_piece_has_its_share_of_the_budget() {
        for k in 1..=MAX_PIECES {
            let (whole, share) = (super::super::yaml::options(), super::super::yaml::options_share(k));
            let (w, s) = (whole.budget.unwrap(), share.budget.unwrap());
            assert!(
                s.max_nodes * k <= w.max_nodes
                    && s.max_events * k <= w.max_events
                    && s.max_total_scalar_bytes * k <= w.max_total_scalar_bytes
            );
        }
        // A file over a (small) budget: its pieces, each under its share, do not let it through.
        let text = suite(&items(300), "");
        let small = |k: usize| {
            let mut o = super::super::yaml::options_share(k);
            o.budget.as_mut().unwrap().max_nodes = 3000 / k;
            o
        };
        assert!(serde_saphyr::from_str_with_options::<SuiteFile>(&text, small(1)).is_err(), "over the file's budget");
        assert!(parse_with(&text, 2, small).is_none());
        assert!(parse_with(&text, 2, super::super::yaml::options_share).is_some(), "within the real one");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 24, ..Default::default() })]
        /// Whatever breaks into a long flat list — comments, block entries, quoted text that
        /// spans lines, anchors, errors —, the pieces either give the whole file's parse or step
        /// aside.
        #[test]
        fn pieces_never_differ_from_the_whole_file(breaks in proptest::collection::vec((0usize..600, 0usize..9), 0..4)) {
            let mut lines = items(600);
            for (at, what) in breaks {
                lines[at] = match what {
                    0 => format!("      # c{at}\n{}", lines[at]),
                    1 => format!("      - name: b{at}\n        dns: {{ name: b.example }}"),
                    2 => format!("      - {{ name: q{at}, hint: \"starts"),
                    3 => "        ends\", dns: { name: q.example } }".to_owned(),
                    4 => format!("      - {{ name: &a{at} a{at}, dns: {{ name: a.example }} }}"),
                    5 => format!("      - {{ name: c{at}, dns: {{ name: x }} }}"), // a name used twice is planning's error, not the parser's
                    6 => format!("      - {{ name: e{at}, dns: {{ name: x }}, tcp: {{ host: h, port: 1 }} }}"),
                    7 => format!("      - {{ name: 'p{at}', dns: {{ name: p.example }} }}"),
                    _ => "    - name: inner\n      checks:".to_owned(),
                };
            }
            let text = suite(&lines, "");
            let whole = serde_saphyr::from_str_with_options::<SuiteFile>(&text, super::super::yaml::options()).map(|w| format!("{w:?}"));
            if let Some(split) = parse_with(&text, 2, super::super::yaml::options_share) {
                proptest::prop_assert_eq!(Ok(format!("{split:?}")), whole.map_err(|e| e.to_string()));
            }
        }
    }
}
