//! The result spool: what the reports need of each finished check, rendered when the check
//! finishes and kept in an unlinked temporary file, so a run of 100,000 checks holds a few
//! bytes per check in memory rather than every result (issue #5: flat memory).
//!
//! Each check leaves an [`Entry`] in memory (plan position, outcome, JUnit group, where its
//! record is: 32 bytes) and, when some report needs it, one [`Record`] in the file (four
//! length-prefixed fields): its redacted JSON object for `--json`, its `<testcase>` element for
//! `--junit`, its [`CheckSummary`] for HTML, Prometheus and the CI annotations, and its failure
//! explanation for the console summary. A passing check in a console-only run writes nothing.
//!
//! The file comes from [`tempfile::tempfile`] (`$TMPDIR`, unlinked at once: nothing is left
//! behind, even on a crash). When it cannot be created or a write to it fails (a full disk),
//! the records stay in memory: a run never loses a result to the spool.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use indexmap::IndexSet;

use super::summary::CheckSummary;
use crate::run::{CheckResult, Outcome, Totals};
use crate::suite::template::Secrets;

/// Records are written to the file in batches of about this many bytes.
const BATCH: usize = 1 << 20;

/// How a finished check becomes its [`Record`]: the writers' renderers, given by the caller
/// (`crate::report::record`), so the spool stores and never renders.
pub type Render = fn(&CheckResult, Needs, &str, &Secrets) -> Record;

/// What the reports asked for need of each check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The redacted JSON object of the check (`--json`).
    pub json: bool,
    /// The `<testcase>` element (`--junit`).
    pub junit: bool,
    /// The [`CheckSummary`] (HTML, Prometheus, GitHub and Azure annotations).
    pub summary: bool,
    /// The console's explanation of a failure or error.
    pub console: bool,
}

impl Needs {
    /// Everything every report needs.
    pub const ALL: Needs = Needs { json: true, junit: true, summary: true, console: true };
}

/// What the spool keeps of one check; absent fields were not needed. On disk each field is a
/// little-endian `u32` length (`u32::MAX`: absent) and that many bytes: the texts as they are,
/// the summary as JSON.
#[derive(Debug, Default)]
pub struct Record {
    /// The check's object in the JSON results document, redacted, pretty-printed and indented
    /// for its place in the document's `checks` array ([`super::json::check_text`]).
    pub json: Option<String>,
    /// The `<testcase>` element with its leading line break and indentation, as quick-junit
    /// renders it inside a report.
    pub junit: Option<String>,
    /// The flat, redacted view.
    pub summary: Option<CheckSummary>,
    /// The console summary's block for a failure or error (with ANSI colour codes).
    pub console: Option<String>,
}

const ABSENT: u32 = u32::MAX;

fn put(buf: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(b) => {
            buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
            buf.extend_from_slice(b);
        }
        None => buf.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

fn take<'a>(bytes: &mut &'a [u8]) -> io::Result<Option<&'a [u8]>> {
    let bad = || io::Error::other("a spool record is cut short");
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = u32::from_le_bytes(*len);
    if len == ABSENT {
        *bytes = rest;
        return Ok(None);
    }
    let (field, rest) = rest.split_at_checked(len as usize).ok_or_else(bad)?;
    *bytes = rest;
    Ok(Some(field))
}

impl Record {
    fn is_empty(&self) -> bool {
        self.json.is_none() && self.junit.is_none() && self.summary.is_none() && self.console.is_none()
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        put(buf, self.json.as_deref().map(str::as_bytes));
        put(buf, self.junit.as_deref().map(str::as_bytes));
        // Serializing our own type to memory cannot fail (string keys, finite numbers).
        let summary = self.summary.as_ref().and_then(|s| serde_json::to_vec(s).ok());
        put(buf, summary.as_deref());
        put(buf, self.console.as_deref().map(str::as_bytes));
    }

    fn decode(mut bytes: &[u8]) -> io::Result<Record> {
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).map_err(io::Error::other)).transpose();
        let json = text(take(&mut bytes)?)?;
        let junit = text(take(&mut bytes)?)?;
        let summary = take(&mut bytes)?.map(serde_json::from_slice).transpose().map_err(io::Error::other)?;
        let console = text(take(&mut bytes)?)?;
        Ok(Record { json, junit, summary, console })
    }
}

/// One finished check, in memory.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Plan position (reports list checks in this order).
    pub index: usize,
    /// Outcome.
    pub outcome: Outcome,
    /// The JUnit `<testsuite>` (suite and scenario instance) it belongs to: a position in
    /// [`Spool::groups`].
    pub group: u32,
    /// Where its record is: byte offset and length; `None` when no report needed one.
    loc: Option<(u64, u32)>,
    /// Wall time of the check (every attempt).
    pub elapsed: std::time::Duration,
    /// The reason of its verdict (failed and errored checks always have one).
    pub reason: Option<crate::model::Reason>,
    /// The check's kind.
    pub kind: crate::model::Kind,
    /// A hash of the (lower-cased) host name the check asked about (0: none observed), to find
    /// the checks that fail because a DNS check of the same name failed.
    pub host: u64,
}

/// The host name a result's last attempt asked about: the DNS query, or the name a tcp, tls or
/// http check resolved; hashed (0 when none).
fn host_key(r: &CheckResult) -> u64 {
    use crate::probe::Observation;
    use std::hash::{Hash, Hasher};
    let name = r.attempts.last().and_then(|a| match &a.observation {
        Observation::Dns(d) => Some(d.query.as_str()),
        Observation::Tcp(t) => Some(t.resolution.host.as_str()),
        Observation::Tls(t) => Some(t.resolution.host.as_str()),
        Observation::Http(h) => h.resolution.as_ref().map(|r| r.host.as_str()),
    });
    match name {
        Some(n) if !n.is_empty() => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            n.trim_end_matches('.').to_ascii_lowercase().hash(&mut h);
            h.finish().max(1)
        }
        _ => 0,
    }
}

/// A `(suite, scenario)` group key by reference, for lookups in [`Spool::groups`].
#[derive(Hash)]
struct GroupRef<'a>(&'a str, &'a str);

impl indexmap::Equivalent<(String, String)> for GroupRef<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The finished checks of a run, in arrival order; reports read them back in plan order.
pub struct Spool {
    needs: Needs,
    render: Render,
    secrets: Secrets,
    vantage: String,
    entries: Vec<Entry>,
    groups: IndexSet<(String, String)>,
    insecure_ids: Vec<(usize, String)>,
    totals: Totals,
    /// The file, while writes to it succeed.
    file: Option<File>,
    /// Bytes already in the file; records at offsets from here on are in `pending`.
    flushed: u64,
    pending: Vec<u8>,
    /// The first write error; from then on records stay in memory.
    file_error: Option<io::Error>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("needs", &self.needs).field("checks", &self.entries.len()).field("on_disk", &self.flushed).finish()
    }
}

impl Spool {
    /// An empty spool keeping what `needs` asks for; `vantage` goes into JUnit properties,
    /// `secrets` are redacted from every record.
    pub fn new(needs: Needs, secrets: Secrets, vantage: impl Into<String>, render: Render) -> Spool {
        let (file, file_error) = match tempfile::tempfile() {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        Spool {
            needs,
            render,
            secrets,
            vantage: vantage.into(),
            entries: Vec::new(),
            groups: IndexSet::new(),
            insecure_ids: Vec::new(),
            totals: Totals::default(),
            file,
            flushed: 0,
            pending: Vec::new(),
            file_error,
        }
    }

    /// Keeps what the reports need of a finished check.
    pub fn add(&mut self, r: &CheckResult) {
        match r.outcome {
            Outcome::Passed => self.totals.passed += 1,
            Outcome::Failed => self.totals.failed += 1,
            Outcome::Error => self.totals.errors += 1,
            Outcome::Cancelled => self.totals.cancelled += 1,
        }
        // Looked up by reference: the names are copied only for a group's first check.
        let group = match self.groups.get_index_of(&GroupRef(&r.meta.suite, &r.meta.scenario)) {
            Some(g) => g,
            None => self.groups.insert_full((r.meta.suite.to_string(), r.meta.scenario.to_string())).0,
        };
        if r.meta.insecure {
            self.insecure_ids.push((r.meta.index, self.secrets.redact(&r.meta.id)));
        }
        let record = (self.render)(r, self.needs, &self.vantage, &self.secrets);
        let loc = if record.is_empty() { None } else { Some(self.store(&record)) };
        self.entries.push(Entry {
            index: r.meta.index,
            outcome: r.outcome,
            group: group as u32,
            loc,
            elapsed: r.elapsed,
            reason: r.verdict_reason(),
            kind: r.meta.kind,
            host: host_key(r),
        });
    }

    fn store(&mut self, record: &Record) -> (u64, u32) {
        let start = self.pending.len();
        record.encode(&mut self.pending);
        let len = (self.pending.len() - start) as u32;
        let at = self.flushed + start as u64;
        if self.pending.len() >= BATCH {
            self.flush();
        }
        (at, len)
    }

    /// Moves the pending records to the file; on a write error, keeps them (and every later
    /// record) in memory and remembers the error.
    fn flush(&mut self) {
        let Some(f) = self.file.as_mut() else { return };
        match f.write_all_at(&self.pending, self.flushed) {
            Ok(()) => {
                self.flushed += self.pending.len() as u64;
                self.pending.clear();
            }
            Err(e) => {
                self.file = None;
                self.file_error = Some(e);
            }
        }
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no check finished.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Outcome counts.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Whether every check passed (true for an empty run).
    pub fn all_passed(&self) -> bool {
        self.totals.passed == self.entries.len()
    }

    /// The JUnit groups: `(suite, scenario instance)`, unredacted, in arrival order (see
    /// [`Entry::group`]).
    pub fn groups(&self) -> &IndexSet<(String, String)> {
        &self.groups
    }

    /// The ids (redacted) of the checks that ran with TLS verification off, in plan order.
    pub fn insecure_ids(&self) -> Vec<&str> {
        let mut v: Vec<&(usize, String)> = self.insecure_ids.iter().collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, id)| id.as_str()).collect()
    }

    /// Why the spool keeps records in memory rather than on disk, if it does.
    pub fn file_error(&self) -> Option<&io::Error> {
        self.file_error.as_ref()
    }

    /// The entries in plan order (ties in arrival order).
    pub fn ordered(&self) -> Vec<Entry> {
        let mut v = self.entries.clone();
        v.sort_by_key(|e| e.index);
        v
    }

    /// Reads one check's record back (an empty record when none was kept).
    ///
    /// Errors: the temporary file cannot be read, or holds something else than was written.
    pub fn record(&self, e: &Entry) -> io::Result<Record> {
        let Some((at, len)) = e.loc else { return Ok(Record::default()) };
        let mut buf;
        let bytes: &[u8] = if at >= self.flushed {
            let from = (at - self.flushed) as usize;
            self.pending.get(from..from + len as usize).ok_or_else(|| io::Error::other("spool record out of range"))?
        } else {
            let f = self.file_for_reading()?;
            buf = vec![0; len as usize];
            f.read_exact_at(&mut buf, at)?;
            &buf
        };
        Record::decode(bytes)
    }

    fn file_for_reading(&self) -> io::Result<&File> {
        self.file.as_ref().ok_or_else(|| io::Error::other("the spool file was lost after a write error"))
    }

    /// Writes every pending record to the file (call once the run is over, before reading:
    /// reading works either way, this only returns memory).
    pub fn seal(&mut self) {
        if !self.pending.is_empty() {
            self.flush();
        }
        self.pending.shrink_to_fit();
    }

    /// Every check's record in plan order, with its entry.
    pub fn records(&self) -> impl Iterator<Item = io::Result<(Entry, Record)>> + '_ {
        self.ordered().into_iter().map(move |e| self.record(&e).map(|r| (e, r)))
    }

    /// Every check's summary in plan order (the spool must keep summaries).
    ///
    /// Errors: a record cannot be read back, or lacks its summary.
    pub fn summaries(&self) -> io::Result<Vec<CheckSummary>> {
        self.records().map(|r| r.and_then(|(_, rec)| rec.summary.ok_or_else(|| io::Error::other("the spool kept no summaries")))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::Kind;
    use std::time::Duration;

    fn result(index: usize, outcome: Outcome, scenario: &str) -> CheckResult {
        CheckResult {
            meta: std::sync::Arc::new(crate::model::result::CheckMeta {
                index,
                id: format!("s/{scenario}/c{index}"),
                suite: "s".into(),
                scenario: scenario.into(),
                name: format!("c{index}"),
                kind: Kind::Tcp,
                target: "tcp h:1".into(),
                resolver: "system".into(),
                hint: None,
                tags: vec![],
                vars: vec![].into(),
                insecure: index == 3,
                defined: None,
            }),
            path: None,
            outcome,
            attempts: vec![],
            attempts_omitted: 0,
            elapsed: Duration::from_millis(index as u64),
        }
    }

    #[test]
    fn reads_back_in_plan_order_from_the_file_and_from_memory() {
        let mut s = Spool::new(Needs::ALL, Secrets::default(), "v", crate::report::record);
        for i in [4, 1, 3, 0, 2] {
            s.add(&result(i, if i == 2 { Outcome::Failed } else { Outcome::Passed }, if i < 2 { "a" } else { "b" }));
        }
        // the first three records go to the file, the other two stay pending
        s.flush();
        assert!(s.flushed > 0);
        let before = s.flushed;
        s.add(&result(6, Outcome::Error, "a"));
        s.add(&result(5, Outcome::Passed, "a"));
        assert_eq!(s.flushed, before);
        let ids: Vec<String> = s.records().map(|r| r.unwrap().1.summary.unwrap().id).collect();
        assert_eq!(ids, ["s/a/c0", "s/a/c1", "s/b/c2", "s/b/c3", "s/b/c4", "s/a/c5", "s/a/c6"]);
        assert_eq!(s.totals(), Totals { passed: 5, failed: 1, errors: 1, cancelled: 0 });
        assert!(!s.all_passed());
        assert_eq!(s.insecure_ids(), ["s/b/c3"]);
        s.seal();
        assert!(s.pending.is_empty());
        let again: Vec<usize> = s.records().map(|r| r.unwrap().1.summary.unwrap().index).collect();
        assert_eq!(again, [0, 1, 2, 3, 4, 5, 6]);
        // only failures carry a console block
        let consoles: Vec<bool> = s.records().map(|r| r.unwrap().1.console.is_some()).collect();
        assert_eq!(consoles, [false, false, true, false, false, false, true]);
    }

    #[test]
    fn a_group_is_found_by_reference() {
        let mut s = Spool::new(Needs::default(), Secrets::default(), "v", crate::report::record);
        s.add(&result(0, Outcome::Passed, "a"));
        assert_eq!(s.groups.get_index_of(&GroupRef("s", "a")), Some(0));
        assert_eq!(s.groups.get_index_of(&GroupRef("s", "b")), None);
        assert_eq!(s.groups.get_index_of(&GroupRef("sa", "")), None);
        s.add(&result(1, Outcome::Passed, "b"));
        s.add(&result(2, Outcome::Passed, "a"));
        assert_eq!(s.groups.len(), 2);
        assert_eq!(s.entries.iter().map(|e| e.group).collect::<Vec<_>>(), [0, 1, 0]);
    }

    #[test]
    fn a_console_only_run_keeps_nothing_for_passing_checks() {
        let mut s = Spool::new(Needs { console: true, ..Default::default() }, Secrets::default(), "v", crate::report::record);
        for i in 0..100 {
            s.add(&result(i, Outcome::Passed, "a"));
        }
        assert!(s.pending.is_empty() && s.flushed == 0);
        assert!(s.all_passed());
        assert!(s.summaries().is_err(), "summaries were not kept");
    }

    #[test]
    fn a_failing_file_keeps_records_in_memory() {
        let mut s = Spool::new(Needs::ALL, Secrets::default(), "v", crate::report::record);
        s.add(&result(0, Outcome::Passed, "a"));
        s.flush();
        // a read-only handle: the next write fails like a full disk would
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ro");
        std::fs::write(&p, b"").unwrap();
        s.file = Some(File::open(&p).unwrap());
        s.flushed = 0;
        s.pending.clear();
        s.entries.clear();
        s.add(&result(1, Outcome::Failed, "a"));
        s.flush();
        assert!(s.file_error().is_some());
        s.add(&result(2, Outcome::Passed, "a"));
        let ids: Vec<usize> = s.records().map(|r| r.unwrap().1.summary.unwrap().index).collect();
        assert_eq!(ids, [1, 2]);
    }
}
