//! Parsing a large flat suite on several threads: the result is the one the whole file gives,
//! or this path steps aside and the whole file is parsed as usual.
//!
//! A suite written out by a generator holds thousands of checks, one flow mapping a line
//! (`      - { name: c1, tcp: { host: 10.0.0.1, port: 443 } }`) or one short block mapping each
//! (`- name: c1` and `  tcp: { host: 10.0.0.1, port: 443 }` below it, as PyYAML writes them).
//! Parsing is most of the start-up of such a run (serde-saphyr spends ~60,000 instructions on one
//! such check), and every error must be known before the first packet is sent, so the parse
//! cannot overlap the run; it can use the other cores. The longest run of consecutive *simple
//! entries* (below) of one list is cut into `k` pieces of whole entries:
//!
//! - piece 1 is parsed with the head and the tail of the file, the other pieces' lines left empty
//!   (so every line keeps its number, and columns are untouched);
//! - each other piece is parsed on its own thread as a list of checks, after as many empty lines
//!   as precede it (its checks keep their lines).
//!
//! The pieces' checks are appended, in order, to the scenario whose last checks are piece 1's.
//!
//! **Why the result is the whole file's.** An entry is a line `- ` at the list's indentation and
//! the lines below it indented more (or empty). It is simple when each of its lines is a *simple
//! line*: a node that opens and closes on that line — `- ` and a simple line, `key:`, `key: `
//! and a one-line node, or (after `- `) a one-line node, where a one-line node is a flow
//! collection closed on the line, a double-quoted scalar with neither `"` nor `\` inside, or a
//! plain scalar —, with none of YAML's context-dependent tokens (no `'`, no comment, anchor,
//! alias, tag, directive or block-scalar indicator, no tab). Nothing in such an entry spans a
//! line but the indentation of its block nodes, which ends at the next line as little indented as
//! the list's `- `: its events do not depend on what follows it, and between two such entries the
//! parser is at the same state, inside the block sequence at that indentation, after a complete
//! entry. That the entries *are* entries of one check list (and not, say, text inside a
//! multi-line quoted scalar that began above them) is not assumed: it is read from piece 1's
//! parse, which must place one check in each of its entries (the check's `name` on one of the
//! entry's lines), as the last checks of one scenario. Piece 1's text equals the file's up to its
//! cut, so the file's parse reaches the same state there, and the other pieces' entries, being
//! simple, parse the same in place as alone. Each piece gets `1/k` of the file's value, event and
//! text budgets (`super::yaml`), so pieces within theirs mean a file within its own. Any error,
//! or any check not where it must be, and the whole file is parsed instead: errors, their
//! positions and hints are always the whole file's.

use std::ops::Range;

use super::check::Check;
use super::model::SuiteFile;

/// Fewest consecutive simple entries worth a thread (below it the spawn and the copies cost more
/// than they save).
pub const MIN_ENTRIES: usize = 256;

/// Most pieces: threads beyond this add copies of the text for little (the head is parsed once).
const MAX_PIECES: usize = 8;

/// The file cut into pieces: the entries of the run, the entries of each piece, and each line's
/// byte range in the text.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    /// Entry ranges (indices into `entries`, end exclusive) of the pieces, in order; together
    /// the whole run.
    pub pieces: Vec<Range<usize>>,
    /// Line ranges (0-based, end exclusive) of the run's entries, in order: one list's
    /// consecutive simple entries.
    entries: Vec<Range<usize>>,
    /// Byte range of every line of the file, newline excluded.
    lines: Vec<Range<usize>>,
}

/// Bytes that the line reading below only steps over: printable, and neither a space, a quote, a
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

/// `line` without a trailing `\r`.
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether `line[i..]` is only spaces.
fn blank_from(line: &[u8], i: usize) -> bool {
    line.get(i..).is_some_and(|rest| rest.iter().all(|&b| b == b' '))
}

/// Index of the first byte at or after `i` that is not a space.
fn skip_spaces(line: &[u8], mut i: usize) -> usize {
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// `line[i]` opens a flow collection (`{` or `[`): the index just after the bracket that closes
/// it on this line, or `None` when it is not closed here or holds a token this reading refuses.
fn flow_end(line: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 1usize;
    // The last byte outside quotes that was not a space, and whether a space followed it.
    let (mut prev, mut spaced) = (line[i], false);
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
            return None;
        }
        after_quote = false;
        match b {
            b'"' => {
                // A double-quoted scalar starts a node: after `{`, `[`, `,`, or `: `; a quote
                // anywhere else would be part of a plain scalar, which this reading does not model.
                if !(matches!(prev, b'{' | b'[' | b',') || (prev == b':' && spaced)) {
                    return None;
                }
                i = quoted_end(line, i - 1)?;
                after_quote = true;
            }
            // In a flow collection brackets are never part of a plain scalar (YAML 1.2 7.3.3).
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'\'' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'\\' | b'?' => return None,
            c if c < 0x20 || c == 0x7f => return None,
            _ => {}
        }
        prev = b;
        spaced = false;
    }
    None
}

/// `line[i]` is `"`: the index just after the closing quote, or `None` when the scalar is not
/// closed on this line or holds an escape (`\`) or a control character.
fn quoted_end(line: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match line.get(j) {
            None | Some(b'\\') => return None,
            Some(b'"') => return Some(j + 1),
            Some(&c) if c < 0x20 || c == 0x7f => return None,
            Some(_) => j += 1,
        }
    }
}

/// Whether `line[i..]` is one node that opens and closes on this line, then only spaces: a flow
/// collection, a double-quoted scalar (no escape), or a plain scalar of plain bytes with inner
/// spaces, `,`, `?` and `&` (no `: `, `#` or another byte [`PLAIN`] refuses; a `:` only before a
/// plain byte, as in `10.0.0.1:53` or `https://a/?x=1&y=2`), not starting with `- `.
fn one_line_node(line: &[u8], i: usize) -> bool {
    match line.get(i) {
        Some(b'{' | b'[') => flow_end(line, i).is_some_and(|j| blank_from(line, j)),
        Some(b'"') => quoted_end(line, i).is_some_and(|j| blank_from(line, j)),
        Some(&b) if PLAIN[b as usize] && !(b == b'-' && matches!(line.get(i + 1), None | Some(b' '))) => {
            let mut j = i + 1;
            while j < line.len() {
                match line[j] {
                    c if PLAIN[c as usize] => {}
                    // Literal inside a plain scalar (only its first byte can be an indicator).
                    b' ' | b',' | b'?' | b'&' => {}
                    b':' if line.get(j + 1).is_some_and(|&c| PLAIN[c as usize]) => {}
                    _ => return false,
                }
                j += 1;
            }
            true
        }
        _ => false,
    }
}

/// Whether `line[i..]` (not a space) is a simple line's content: `- ` and a simple content,
/// `key:` alone, `key: ` and a [`one_line_node`], or — when `item`, after a `- ` — a
/// [`one_line_node`]. Keys are plain bytes without spaces.
fn simple_content(line: &[u8], i: usize, item: bool) -> bool {
    if line.get(i) == Some(&b'-') && line.get(i + 1) == Some(&b' ') {
        let j = skip_spaces(line, i + 2);
        return j < line.len() && simple_content(line, j, true);
    }
    let mut j = i;
    while j < line.len() && PLAIN[line[j] as usize] {
        j += 1;
    }
    if j > i && line.get(j) == Some(&b':') && matches!(line.get(j + 1), None | Some(b' ')) {
        let v = skip_spaces(line, j + 1);
        return v == line.len() || one_line_node(line, v);
    }
    item && one_line_node(line, i)
}

/// An entry of a block sequence being read: its first line, the indentation of its `- `, and
/// whether every line read so far is simple.
struct Open {
    start: usize,
    indent: usize,
    simple: bool,
}

/// Where `text` may be cut into `pieces` pieces (at most [`MAX_PIECES`]), or `None`: fewer than
/// two pieces asked, or no run of [`MIN_ENTRIES`] simple entries under a `checks:` key.
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
    // The entries open at the line being read, outermost first; for each indentation whose list
    // is still going on, its latest entries that are simple and consecutive; the longest such run
    // seen, with its indentation.
    let mut open: Vec<Open> = Vec::new();
    let mut runs: Vec<(usize, Vec<Range<usize>>)> = Vec::new();
    let mut best: (usize, Vec<Range<usize>>) = (0, Vec::new());
    // Closes the entries indented `indent` or more at line `n`; the list at `indent` goes on when
    // line `n` is another of its entries (`sibling`).
    let mut close = |open: &mut Vec<Open>, runs: &mut Vec<(usize, Vec<Range<usize>>)>, n: usize, indent: usize, sibling: bool| {
        while let Some(e) = open.pop_if(|e| e.indent >= indent) {
            let at = runs.iter().position(|r| r.0 == e.indent);
            match (e.simple, at) {
                (true, Some(k)) => runs[k].1.push(e.start..n),
                (true, None) => runs.push((e.indent, std::iter::once(e.start..n).collect())),
                (false, Some(k)) => {
                    let (_, run) = runs.swap_remove(k);
                    if run.len() > best.1.len() {
                        best = (e.indent, run);
                    }
                }
                (false, None) => {}
            }
            if !(sibling && e.indent == indent) {
                // The list at this indentation ends here.
                if let Some(k) = runs.iter().position(|r| r.0 == e.indent) {
                    let (_, run) = runs.swap_remove(k);
                    if run.len() > best.1.len() {
                        best = (e.indent, run);
                    }
                }
            }
        }
    };
    for (n, r) in lines.iter().enumerate() {
        let line = trim_cr(&bytes[r.clone()]);
        let indent = skip_spaces(line, 0);
        if indent == line.len() {
            continue; // An empty line belongs to the entries open around it.
        }
        let item = line[indent] == b'-' && matches!(line.get(indent + 1), None | Some(b' '));
        close(&mut open, &mut runs, n, indent, item);
        let simple = simple_content(line, indent, false);
        if !simple {
            open.iter_mut().for_each(|e| e.simple = false);
        }
        if item {
            open.push(Open { start: n, indent, simple });
        }
    }
    close(&mut open, &mut runs, lines.len(), 0, false);
    let (indent, entries) = best;
    if entries.len() < MIN_ENTRIES.max(pieces) {
        return None;
    }
    // Only a check list is worth the try: the nearest line above the run that is indented less,
    // or as much but not an entry (a list may sit at its key's indentation), is a `checks:` key.
    let above = lines[..entries[0].start].iter().rev().map(|r| &text[r.clone()]).find(|l| {
        let t = l.trim_start_matches(' ');
        let at = l.len() - t.len();
        !t.trim().is_empty() && !t.starts_with('#') && (at < indent || (at == indent && !t.starts_with('-')))
    })?;
    if above.trim() != "checks:" {
        return None;
    }
    let size = entries.len().div_ceil(pieces);
    let pieces = (0..entries.len()).step_by(size).map(|s| s..(s + size).min(entries.len())).collect();
    Some(Cut { pieces, entries, lines })
}

impl Cut {
    /// The line range (0-based, end exclusive) of piece `k`'s entries.
    fn piece_lines(&self, k: usize) -> Range<usize> {
        let p = &self.pieces[k];
        self.entries[p.start].start..self.entries[p.end - 1].end
    }

    /// The text of the first piece: the file with every other piece's lines left empty.
    fn first(&self, text: &str) -> String {
        let rest = self.piece_lines(1).start..self.piece_lines(self.pieces.len() - 1).end;
        let (a, b) = (self.lines[rest.start].start, self.lines[rest.end - 1].end);
        let mut s = String::with_capacity(text.len() - (b - a) + rest.len());
        s.push_str(&text[..a]);
        s.extend(std::iter::repeat_n('\n', rest.len() - 1));
        s.push_str(&text[b..]);
        s
    }

    /// The text of piece `k` (≥ 1): as many empty lines as precede it, then its lines.
    fn piece(&self, text: &str, k: usize) -> String {
        let r = self.piece_lines(k);
        let (a, b) = (self.lines[r.start].start, self.lines[r.end - 1].end);
        let mut s = String::with_capacity(r.start + (b - a) + 1);
        s.extend(std::iter::repeat_n('\n', r.start));
        s.push_str(&text[a..b]);
        s.push('\n');
        s
    }
}

/// Whether `checks` are one in each of `entries` (0-based line ranges), in order: each check's
/// `name` on a line of its entry.
fn in_entries(checks: &[Check], entries: &[Range<usize>]) -> bool {
    checks.len() == entries.len() && checks.iter().zip(entries).all(|(c, e)| e.contains(&(c.name.line as usize).wrapping_sub(1)))
}

/// Smallest text worth looking for a cut in, in bytes ([`MIN_ENTRIES`] short lines).
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
    let first_entries = &cut.entries[cut.pieces[0].clone()];
    let scenario = suite.scenarios.iter_mut().find(|sc| {
        let n = first_entries.len();
        sc.checks.len() >= n && in_entries(&sc.checks[sc.checks.len() - n..], first_entries)
    })?;
    for (checks, piece) in rest.into_iter().zip(&cut.pieces[1..]) {
        let checks = checks?;
        if !in_entries(&checks, &cut.entries[piece.clone()]) {
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
    fn flow_entry_lines() {
        let yes = [
            "  - { name: a, dns: { name: a.example } }",
            "  - {name: a, tcp: {host: 10.0.0.1, port: 443}, expect: {state: open}}  ",
            r#"  - { name: a, http: { url: "https://a.example/x?y=1#z" }, expect: { status: [200, 301] } }"#,
            r#"  - { "name": "a b", dns: { name: x } }"#,
            "  -   { name: a }\r",
        ];
        for l in yes {
            assert!(simple_line(l), "{l}");
        }
        let no = [
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
            "  -{ name: a }",                  // not a sequence entry
            "  - { name: a, hint: x\ty }",     // tab
        ];
        for l in no {
            assert!(!simple_line(l), "{l}");
        }
    }

    /// Whether `line` is a simple line, as [`cut`] reads it.
    fn simple_line(line: &str) -> bool {
        let line = trim_cr(line.as_bytes());
        simple_content(line, skip_spaces(line, 0), false)
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
            // The block entry above the flow lines (`- name: first`) is simple too.
            assert_eq!(c.pieces.iter().map(|p| p.len()).sum::<usize>(), 1001);
            let split = parse_with(&text, k, super::super::yaml::options_share).expect("the pieces parse");
            assert_eq!(format!("{split:?}"), format!("{:?}", whole(&text)), "{k} pieces");
        }
        assert!(cut(&text, 1).is_none(), "one thread: no cut");
        // `- name: first` and the items: one entry short.
        assert!(cut(&suite(&items(MIN_ENTRIES - 2), tail), 2).is_none(), "too short to be worth a thread");
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
        assert!(simple_line(&lines[700]));
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

    #[test]
    fn simple_lines() {
        let yes = [
            "- name: a",
            "- dns: { name: a.example, resolver: r }",
            "name: c1",
            "tcp:",
            "port: 443",
            "hint: check the NSG, then retry",
            "url: https://a.example/x?y=1&z=2",
            "servers: [10.0.0.1:53, 10.0.0.2:53]",
            r#"name: "a b""#,
            "- - 10.0.0.1",
            "- 10.0.0.1",
            "status: 200  ",
        ];
        for l in yes {
            assert!(simple_line(l), "{l}");
        }
        let no = [
            "hint: |",                  // block scalar: its lines follow
            "hint: >-",                 // folded block scalar
            "hint: a # c",              // comment
            "# c",                      // comment line
            "name: &x a",               // anchor
            "name: *x",                 // alias
            "<<: *x",                   // merge key with an alias
            "name: !!str a",            // tag
            "name: 'a'",                // single quotes
            r#"hint: "starts"#,         // quote left open
            r#"hint: "a\"b""#,          // escape
            "dns: { name: a",           // flow mapping left open
            "hint: a: b",               // `: ` inside a plain scalar
            "continues the text above", // a line of a multi-line plain scalar
            "? complex key",            // complex key
            "key:\tvalue",              // tab
            "-",                        // empty entry
            "a b: c",                   // key with a space
        ];
        for l in no {
            assert!(!simple_line(l), "{l}");
        }
        assert!(!one_line_node(b"- x", 0), "`- ` is an entry, not a plain scalar");
    }

    /// A suite in PyYAML's default block style (lists at their key's indentation), with
    /// `entries` written in its only scenario's check list.
    fn block_suite(entries: &[String], tail: &str) -> String {
        let mut s = String::from("netspec: 1\nname: s\ndefaults:\n  timeout: 5s\nscenarios:\n- name: one\n  checks:\n");
        for e in entries {
            s.push_str(e);
            s.push('\n');
        }
        s.push_str(tail);
        s
    }

    fn block_items(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "  - name: c{i}\n    dns:\n      name: d{i}.example\n    expect:\n      rcode: NOERROR\n      addresses:\n        equals:\n        - 10.0.{}.{}",
                    i / 250,
                    i % 250
                )
            })
            .collect()
    }

    #[test]
    fn block_entries_parse_as_the_whole_file() {
        let tail = "- name: two\n  checks:\n  - name: last\n    dns:\n      name: l.example\n";
        let text = block_suite(&block_items(700), tail);
        for k in [2, 3, 8] {
            let c = cut(&text, k).expect("a long block list is cut");
            assert_eq!(c.pieces.len(), k);
            assert_eq!(c.pieces.iter().map(|p| p.len()).sum::<usize>(), 700);
            let split = parse_with(&text, k, super::super::yaml::options_share).expect("the pieces parse");
            assert_eq!(format!("{split:?}"), format!("{:?}", whole(&text)), "{k} pieces");
            assert_eq!(split.scenarios[0].checks.len(), 700);
        }
        // The same entries one indentation deeper (a list indented under its key).
        let deeper: Vec<String> = block_items(700).iter().map(|e| e.replace('\n', "\n  ").replacen("  - ", "    - ", 1)).collect();
        let text = block_suite(&deeper, "");
        let split = parse_with(&text, 2, super::super::yaml::options_share).expect("the pieces parse");
        assert_eq!(format!("{split:?}"), format!("{:?}", whole(&text)));
    }

    #[test]
    fn entry_like_lines_inside_a_block_scalar_are_not_checks() {
        // The entries are the text of a literal block scalar above the real check list: they look
        // like a run under `checks:`, but the first piece places no check in them.
        let mut text = String::from("netspec: 1\nname: s\ndescription: |\n  checks:\n");
        for e in block_items(600) {
            text.push_str(&e);
            text.push('\n');
        }
        text.push_str("scenarios:\n- name: one\n  checks:\n  - name: real\n    dns:\n      name: r.example\n");
        assert!(cut(&text, 2).is_some(), "the lines look like a check list");
        assert_eq!(whole(&text).scenarios[0].checks.len(), 1);
        assert!(parse_with(&text, 2, super::super::yaml::options_share).is_none(), "the cut is refused, not taken");
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

        /// The same for block entries: comments, block scalars whose lines look like entries,
        /// multi-line plain and quoted scalars, anchors, entries less or more indented, empty
        /// lines and errors, in any entry.
        #[test]
        fn block_pieces_never_differ_from_the_whole_file(breaks in proptest::collection::vec((0usize..400, 0usize..12), 0..4), k in 2usize..4) {
            let mut entries = block_items(400);
            for (at, what) in breaks {
                entries[at] = match what {
                    0 => format!("  # c{at}\n{}", entries[at]),
                    1 => format!("{}\n    hint: starts\n      continues", entries[at]),
                    2 => format!("{}\n    hint: |\n      text\n  - name: fake{at}\n    dns:\n      name: f.example", entries[at]),
                    3 => format!("  - name: q{at}\n    hint: \"starts"),
                    4 => "    ends\"\n    dns:\n      name: q.example".to_owned(),
                    5 => format!("  - name: &a{at} a{at}\n    dns:\n      name: a.example"),
                    6 => format!("  - name: c{at}\n    dns: {{ name: x }}\n    tcp: {{ host: h, port: 1 }}"),
                    7 => format!("{}\n\n", entries[at]),
                    8 => format!("{}\n  other: x", entries[at]),
                    9 => format!("  - name: t{at}\n    dns:\n      name:\tt.example"),
                    10 => format!("  - dns:\n      name: n.example\n    name: n{at}"),
                    _ => format!("- name: inner{at}\n  checks:"),
                };
            }
            let text = block_suite(&entries, "");
            let whole = serde_saphyr::from_str_with_options::<SuiteFile>(&text, super::super::yaml::options()).map(|w| format!("{w:?}"));
            if let Some(split) = parse_with(&text, k, super::super::yaml::options_share) {
                proptest::prop_assert_eq!(Ok(format!("{split:?}")), whole.map_err(|e| e.to_string()));
            }
        }
    }
}
