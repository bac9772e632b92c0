//! The result spool: what the reports need of each finished check, rendered when the check
//! finishes and kept in an unlinked temporary file, so a run of 100,000 checks holds a few
//! bytes per check in memory rather than every result (issue #5: flat memory).
//!
//! Each check leaves an [`Entry`] (plan position, outcome, JUnit group, where its record is,
//! reason, kind: [`ENTRY_BYTES`]) in a second unlinked file, at its plan position, so that
//! reading them back in plan order is one sequential read and memory does not grow with the
//! number of checks (issue #18: a million checks); and, when some report needs it, one
//! [`Record`] in the first file (four length-prefixed fields): its redacted JSON object for `--json`, its `<testcase>` element for
//! `--junit`, its [`CheckSummary`] for HTML, Prometheus and the CI annotations, and its failure
//! explanation for the console summary. A passing check in a console-only run writes nothing.
//!
//! The file comes from [`tempfile::tempfile`] (`$TMPDIR`, unlinked at once: nothing is left
//! behind, even on a crash). When it cannot be created or a write to it fails (a full disk),
//! what was written stays readable and the rest stays in memory: a run never loses a result to
//! the spool.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use indexmap::IndexSet;

use super::summary::CheckSummary;
use crate::run::{CheckResult, Outcome, Totals};
use crate::suite::template::Secrets;

/// Records are written to the file in batches of about this many bytes.
const BATCH: usize = 1 << 20;

/// Entries are written to their file in batches of this many (192 KiB).
const ENTRY_BATCH: usize = 4096;

/// Bytes of one [`Entry`] in the entry file (little-endian): plan position `u64`; outcome `u8`
/// (0: no entry at this position); kind `u8`; reason `u16` (0: none, else 1 + its position in
/// [`crate::model::Reason::ALL`]); group `u32`; record offset `u64` and length `u32`
/// (`u32::MAX`: no record); 4 bytes of padding; elapsed time `u64` ns; host hash `u64`.
pub const ENTRY_BYTES: usize = 48;

/// Entries read back at once when walking the entry file in plan order (48 KiB).
const READ_ENTRIES: usize = 1024;

/// Checks without TLS verification the spool names (the console lists 10 and counts the rest).
pub const INSECURE_LISTED: usize = 10;

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

/// One finished check, as the spool keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
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
impl Entry {
    fn encode(&self, out: &mut [u8]) {
        use crate::model::Kind;
        let outcome: u8 = match self.outcome {
            Outcome::Passed => 1,
            Outcome::Failed => 2,
            Outcome::Error => 3,
            Outcome::Cancelled => 4,
        };
        let kind: u8 = match self.kind {
            Kind::Dns => 0,
            Kind::Tcp => 1,
            Kind::Tls => 2,
            Kind::Http => 3,
        };
        let reason: u16 = self.reason.and_then(|r| crate::model::Reason::ALL.iter().position(|x| *x == r)).map_or(0, |i| i as u16 + 1);
        let (at, len) = self.loc.unwrap_or((0, ABSENT));
        out[0..8].copy_from_slice(&(self.index as u64).to_le_bytes());
        out[8] = outcome;
        out[9] = kind;
        out[10..12].copy_from_slice(&reason.to_le_bytes());
        out[12..16].copy_from_slice(&self.group.to_le_bytes());
        out[16..24].copy_from_slice(&at.to_le_bytes());
        out[24..28].copy_from_slice(&len.to_le_bytes());
        out[28..32].fill(0);
        out[32..40].copy_from_slice(&(self.elapsed.as_nanos().min(u64::MAX as u128) as u64).to_le_bytes());
        out[40..48].copy_from_slice(&self.host.to_le_bytes());
    }

    /// The entry in `b` ([`ENTRY_BYTES`]); `Ok(None)` for a position never written.
    ///
    /// Errors: bytes no entry encodes to.
    fn decode(b: &[u8]) -> io::Result<Option<Entry>> {
        use crate::model::Kind;
        let bad = |what: &str| io::Error::other(format!("a spool entry holds {what}"));
        let u64_at = |i: usize| b.get(i..i + 8).and_then(|x| x.try_into().ok()).map(u64::from_le_bytes).ok_or_else(|| bad("too few bytes"));
        let u32_at = |i: usize| b.get(i..i + 4).and_then(|x| x.try_into().ok()).map(u32::from_le_bytes).ok_or_else(|| bad("too few bytes"));
        let outcome = match b.get(8) {
            Some(0) => return Ok(None),
            Some(1) => Outcome::Passed,
            Some(2) => Outcome::Failed,
            Some(3) => Outcome::Error,
            Some(4) => Outcome::Cancelled,
            Some(_) | None => return Err(bad("an unknown outcome")),
        };
        let kind = match b.get(9) {
            Some(0) => Kind::Dns,
            Some(1) => Kind::Tcp,
            Some(2) => Kind::Tls,
            Some(3) => Kind::Http,
            Some(_) | None => return Err(bad("an unknown kind")),
        };
        let reason = match b.get(10..12).map(|x| u16::from_le_bytes([x[0], x[1]])) {
            Some(0) => None,
            Some(n) => Some(*crate::model::Reason::ALL.get(n as usize - 1).ok_or_else(|| bad("an unknown reason"))?),
            None => return Err(bad("too few bytes")),
        };
        let len = u32_at(24)?;
        Ok(Some(Entry {
            index: usize::try_from(u64_at(0)?).map_err(|_| bad("a position out of range"))?,
            outcome,
            group: u32_at(12)?,
            loc: (len != ABSENT).then_some((u64_at(16)?, len)),
            elapsed: std::time::Duration::from_nanos(u64_at(32)?),
            reason,
            kind,
            host: u64_at(40)?,
        }))
    }
}

/// The entries, each at its plan position in an unlinked file; those that could not be written
/// there (no file, or a write failed) stay in memory.
#[derive(Debug)]
struct Entries {
    file: Option<File>,
    /// Whether writes still go to the file (false after a write error; what was written stays
    /// readable).
    writable: bool,
    /// Entries not yet written, in arrival order.
    batch: Vec<Entry>,
    /// Entries that could not be written.
    memory: Vec<Entry>,
    /// Whether `memory` is sorted by position (after [`Entries::seal`]).
    sorted: bool,
    /// Highest plan position seen, plus one.
    end: usize,
}

impl Entries {
    fn new() -> (Entries, Option<io::Error>) {
        let (file, error) = match tempfile::tempfile() {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        let writable = file.is_some();
        (Entries { file, writable, batch: Vec::new(), memory: Vec::new(), sorted: true, end: 0 }, error)
    }

    /// Keeps `e`; returns the error of a write that failed (the entries then stay in memory).
    fn add(&mut self, e: Entry) -> Option<io::Error> {
        self.end = self.end.max(e.index + 1);
        if !self.writable {
            self.memory.push(e);
            self.sorted = false;
            return None;
        }
        self.batch.push(e);
        if self.batch.len() >= ENTRY_BATCH { self.flush() } else { None }
    }

    /// Writes the batch at the entries' positions: one write per run of consecutive positions
    /// (checks finish in about plan order, so runs are long). Returns the write error, after
    /// which the entries stay in memory.
    fn flush(&mut self) -> Option<io::Error> {
        if self.batch.is_empty() {
            return None;
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.sort_by_key(|e| e.index);
        let mut buf = Vec::with_capacity(batch.len() * ENTRY_BYTES);
        let mut error = None;
        let mut start = 0;
        while start < batch.len() {
            let mut end = start + 1;
            while end < batch.len() && batch[end].index == batch[end - 1].index + 1 {
                end += 1;
            }
            buf.clear();
            buf.resize((end - start) * ENTRY_BYTES, 0);
            for (e, out) in batch[start..end].iter().zip(buf.chunks_exact_mut(ENTRY_BYTES)) {
                e.encode(out);
            }
            let written = match self.file.as_ref() {
                Some(f) if self.writable => f.write_all_at(&buf, (batch[start].index * ENTRY_BYTES) as u64),
                Some(_) | None => Err(io::Error::other("the entry file is not writable")),
            };
            if let Err(e) = written {
                self.writable = false;
                self.sorted = false;
                self.memory.extend_from_slice(&batch[start..]);
                error = Some(e);
                break;
            }
            start = end;
        }
        // The batch's buffer is reused for the next batch.
        batch.clear();
        self.batch = batch;
        error
    }

    fn seal(&mut self) -> Option<io::Error> {
        let e = self.flush();
        self.batch = Vec::new();
        self.memory.sort_by_key(|e| e.index);
        self.sorted = true;
        e
    }

    /// The entries not in the file, sorted by position: borrowed once sealed, else a copy.
    fn outside_file(&self) -> std::borrow::Cow<'_, [Entry]> {
        if self.batch.is_empty() && self.sorted {
            return std::borrow::Cow::Borrowed(&self.memory);
        }
        let mut v: Vec<Entry> = self.memory.iter().chain(&self.batch).copied().collect();
        v.sort_by_key(|e| e.index);
        std::borrow::Cow::Owned(v)
    }
}

/// The entries in plan order, read back a few at a time ([`Spool::ordered`]).
#[derive(Debug)]
pub struct Ordered<'a> {
    entries: &'a Entries,
    /// The entries not in the file (memory, and a batch not yet written), sorted.
    outside: std::borrow::Cow<'a, [Entry]>,
    /// Next plan position.
    next: usize,
    /// Last position to read, plus one.
    end: usize,
    /// Entries read from the file, not yet given (`None`: not in the file).
    chunk: std::collections::VecDeque<Option<Entry>>,
    /// Next entry in memory to give.
    in_memory: usize,
    failed: bool,
    /// Entries given so far.
    given: usize,
    /// Entries the whole walk must give (every check the spool counted), checked at its end.
    expected: Option<usize>,
}

impl Iterator for Ordered<'_> {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        while self.next < self.end && !self.failed {
            let at = self.next;
            if self.chunk.is_empty()
                && let Err(e) = self.fill()
            {
                self.failed = true;
                return Some(Err(e));
            }
            let from_file = self.chunk.pop_front().flatten();
            self.next += 1;
            if let Some(e) = from_file {
                self.given += 1;
                return Some(Ok(e));
            }
            // Not in the file: in memory (sorted), or a position no check took.
            let memory = &self.outside;
            while self.in_memory < memory.len() && memory[self.in_memory].index < at {
                self.in_memory += 1;
            }
            if let Some(e) = memory.get(self.in_memory).filter(|e| e.index == at) {
                self.in_memory += 1;
                self.given += 1;
                return Some(Ok(*e));
            }
            // A position no check took (results given by a caller, not a whole run).
        }
        // Every check counted must be read back: a lost entry is an error, never a shorter
        // report.
        if let Some(want) = self.expected.take()
            && self.given < want
            && !self.failed
        {
            self.failed = true;
            return Some(Err(io::Error::other(format!("the spool lost {} of its {want} entries", want - self.given))));
        }
        None
    }
}

impl Ordered<'_> {
    /// Reads the next entries from the file (positions past its end read as absent).
    fn fill(&mut self) -> io::Result<()> {
        let n = READ_ENTRIES.min(self.end - self.next);
        let mut buf = vec![0u8; n * ENTRY_BYTES];
        if let Some(f) = &self.entries.file {
            let at = (self.next * ENTRY_BYTES) as u64;
            let mut got = 0;
            while got < buf.len() {
                match f.read_at(&mut buf[got..], at + got as u64) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for (i, b) in buf.chunks_exact(ENTRY_BYTES).enumerate() {
            let e = Entry::decode(b)?;
            if e.is_some_and(|e| e.index != self.next + i) {
                return Err(io::Error::other("a spool entry is not at its plan position"));
            }
            self.chunk.push_back(e);
        }
        Ok(())
    }
}

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
    entries: Entries,
    groups: IndexSet<(String, String)>,
    /// The first [`INSECURE_LISTED`] checks (by plan position) that ran without TLS
    /// verification, and how many did.
    insecure_ids: Vec<(usize, String)>,
    insecure_count: usize,
    totals: Totals,
    /// The file (still read after a write to it failed).
    file: Option<File>,
    /// A write to `file` failed: later records stay in `pending`.
    records_failed: bool,
    /// Bytes already in the file; records at offsets from here on are in `pending`.
    flushed: u64,
    pending: Vec<u8>,
    /// The first write error; from then on records stay in memory.
    file_error: Option<io::Error>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("needs", &self.needs).field("checks", &self.totals.all()).field("on_disk", &self.flushed).finish()
    }
}

impl Spool {
    /// An empty spool keeping what `needs` asks for; `vantage` goes into JUnit properties,
    /// `secrets` are redacted from every record.
    pub fn new(needs: Needs, secrets: Secrets, vantage: impl Into<String>, render: Render) -> Spool {
        let (file, mut file_error) = match tempfile::tempfile() {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        let (entries, entry_error) = Entries::new();
        file_error = file_error.or(entry_error);
        Spool {
            needs,
            render,
            secrets,
            vantage: vantage.into(),
            entries,
            groups: IndexSet::new(),
            insecure_ids: Vec::new(),
            insecure_count: 0,
            totals: Totals::default(),
            file,
            records_failed: false,
            flushed: 0,
            pending: Vec::new(),
            file_error,
        }
    }

    /// Keeps what the reports need of a finished check.
    pub fn add(&mut self, r: &CheckResult) {
        self.totals.add(r.outcome);
        // Looked up by reference: the names are copied only for a group's first check.
        let group = match self.groups.get_index_of(&GroupRef(&r.meta.suite, &r.meta.scenario)) {
            Some(g) => g,
            None => self.groups.insert_full((r.meta.suite.to_string(), r.meta.scenario.to_string())).0,
        };
        if r.meta.insecure {
            self.insecure_count += 1;
            let later = self.insecure_ids.len() >= INSECURE_LISTED && self.insecure_ids.iter().all(|(i, _)| *i < r.meta.index);
            if !later {
                self.insecure_ids.push((r.meta.index, self.secrets.redact(&r.meta.id)));
                self.insecure_ids.sort_by_key(|(i, _)| *i);
                self.insecure_ids.truncate(INSECURE_LISTED);
            }
        }
        let record = (self.render)(r, self.needs, &self.vantage, &self.secrets);
        let loc = if record.is_empty() { None } else { Some(self.store(&record)) };
        let entry = Entry {
            index: r.meta.index,
            outcome: r.outcome,
            group: group as u32,
            loc,
            elapsed: r.elapsed,
            reason: r.verdict_reason(),
            kind: r.meta.kind,
            host: host_key(r),
        };
        if let Some(e) = self.entries.add(entry) {
            self.file_error.get_or_insert(e);
        }
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
        if self.records_failed {
            return;
        }
        let Some(f) = self.file.as_mut() else { return };
        match f.write_all_at(&self.pending, self.flushed) {
            Ok(()) => {
                self.flushed += self.pending.len() as u64;
                self.pending.clear();
            }
            Err(e) => {
                // What was written stays readable; the rest stays in memory.
                self.records_failed = true;
                self.file_error.get_or_insert(e);
            }
        }
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.totals.all()
    }

    /// Whether no check finished.
    pub fn is_empty(&self) -> bool {
        self.totals.all() == 0
    }

    /// Outcome counts.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Whether every check passed (true for an empty run).
    pub fn all_passed(&self) -> bool {
        self.totals.passed == self.totals.all()
    }

    /// The JUnit groups: `(suite, scenario instance)`, unredacted, in arrival order (see
    /// [`Entry::group`]).
    pub fn groups(&self) -> &IndexSet<(String, String)> {
        &self.groups
    }

    /// The ids (redacted) of the checks that ran with TLS verification off, in plan order.
    /// (at most [`INSECURE_LISTED`]; [`Spool::insecure_count`] counts them all).
    pub fn insecure_ids(&self) -> Vec<&str> {
        self.insecure_ids.iter().map(|(_, id)| id.as_str()).collect()
    }

    /// How many checks ran with TLS verification off.
    pub fn insecure_count(&self) -> usize {
        self.insecure_count
    }

    /// Why the spool keeps records in memory rather than on disk, if it does.
    pub fn file_error(&self) -> Option<&io::Error> {
        self.file_error.as_ref()
    }

    /// The entries in plan order (ties in arrival order).
    ///
    /// Read back from the entry file (call [`Spool::seal`] first), a few at a time: memory
    /// does not grow with the number of checks. Errors: the file cannot be read back.
    pub fn ordered(&self) -> Ordered<'_> {
        Ordered { expected: Some(self.totals.all()), ..self.ordered_within(0, self.entries.end) }
    }

    /// The entries at plan positions `from..to`, in plan order (a JUnit group's span).
    pub fn ordered_within(&self, from: usize, to: usize) -> Ordered<'_> {
        let outside = self.entries.outside_file();
        let in_memory = outside.partition_point(|e| e.index < from);
        Ordered {
            entries: &self.entries,
            outside,
            next: from,
            end: to.min(self.entries.end),
            chunk: Default::default(),
            in_memory,
            failed: false,
            given: 0,
            expected: None,
        }
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
        if let Some(e) = self.entries.seal() {
            self.file_error.get_or_insert(e);
        }
    }

    /// Every check's record in plan order, with its entry.
    pub fn records(&self) -> impl Iterator<Item = io::Result<(Entry, Record)>> + '_ {
        self.ordered().map(move |e| e.and_then(|e| self.record(&e).map(|r| (e, r))))
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
        s.seal();
        assert_eq!(s.ordered().map(|e| e.unwrap().group).collect::<Vec<_>>(), [0, 1, 0]);
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
        use std::io::Read;
        let mut s = Spool::new(Needs::ALL, Secrets::default(), "v", crate::report::record);
        // a read-only handle: every write fails like a full disk would
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ro");
        std::fs::write(&p, b"").unwrap();
        s.file = Some(File::open(&p).unwrap());
        s.add(&result(0, Outcome::Passed, "a"));
        s.add(&result(1, Outcome::Failed, "a"));
        s.flush();
        assert!(s.file_error().is_some());
        // the entry file fails the same way, after a first batch was written to it: the same
        // bytes behind a read-only handle
        assert!(s.entries.flush().is_none());
        let mut written = Vec::new();
        let mut f = s.entries.file.take().unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        f.read_to_end(&mut written).unwrap();
        let p2 = dir.path().join("ro-entries");
        std::fs::write(&p2, &written).unwrap();
        s.entries.file = Some(File::open(&p2).unwrap());
        s.add(&result(2, Outcome::Passed, "a"));
        s.add(&result(3, Outcome::Error, "a"));
        assert!(s.entries.flush().is_some(), "the read-only entry file must fail the write");
        s.add(&result(4, Outcome::Passed, "a"));
        s.seal();
        let ids: Vec<usize> = s.records().map(|r| r.unwrap().1.summary.unwrap().index).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4], "entries written before the failure stay readable; the others stay in memory");
    }

    #[test]
    fn a_lost_entry_is_an_error_not_a_shorter_report() {
        let mut s = Spool::new(Needs::ALL, Secrets::default(), "v", crate::report::record);
        for i in [0, 1, 3] {
            s.add(&result(i, Outcome::Passed, "a"));
        }
        s.seal();
        // Position 2 was never taken (results given by a caller): nothing is missing.
        assert_eq!(s.ordered().map(|e| e.unwrap().index).collect::<Vec<_>>(), [0, 1, 3]);
        // The entry of check 1 is lost from the file (zeroed, as a hole reads).
        s.entries.file.as_ref().unwrap().write_all_at(&[0u8; ENTRY_BYTES], ENTRY_BYTES as u64).unwrap();
        let back: Vec<io::Result<Entry>> = s.ordered().collect();
        assert_eq!(back.iter().filter(|e| e.is_ok()).count(), 2, "{back:?}");
        let e = back.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(e.contains("lost 1 of its 3 entries"), "{e}");
        assert!(s.summaries().is_err());
    }

    #[test]
    fn entries_go_to_their_file_in_plan_order_and_memory_keeps_at_most_a_batch() {
        let mut s = Spool::new(Needs::default(), Secrets::default(), "v", crate::report::record);
        // Finishing order: plan order shuffled in blocks, as a run's checks finish.
        let n = 3 * ENTRY_BATCH + 17;
        let mut order: Vec<usize> = (0..n).collect();
        for block in order.chunks_mut(300) {
            block.reverse();
        }
        for &i in &order {
            let outcome = if i % 7 == 0 { Outcome::Failed } else { Outcome::Passed };
            s.add(&result(i, outcome, if i < n / 2 { "a" } else { "b" }));
            assert!(s.entries.batch.len() < ENTRY_BATCH && s.entries.memory.is_empty());
        }
        s.seal();
        assert_eq!(s.len(), n);
        let back: Vec<Entry> = s.ordered().map(Result::unwrap).collect();
        assert_eq!(back.iter().map(|e| e.index).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>());
        assert!(back.iter().all(|e| (e.outcome == Outcome::Failed) == (e.index % 7 == 0)));
        assert_eq!(back[5].elapsed, Duration::from_millis(5));
        assert_eq!(back[n - 1].group, s.groups.get_index_of(&GroupRef("s", "b")).unwrap() as u32);
        let span: Vec<usize> = s.ordered_within(1000, 1010).map(|e| e.unwrap().index).collect();
        assert_eq!(span, (1000..1010).collect::<Vec<_>>());
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        use crate::model::{Kind, Reason};
        for (i, reason) in [None, Some(Reason::ALL[0]), Some(*Reason::ALL.last().unwrap())].into_iter().enumerate() {
            let e = Entry {
                index: 1_000_000 + i,
                outcome: Outcome::Cancelled,
                group: 77,
                loc: if i == 0 { None } else { Some((1 << 40, 12_345)) },
                elapsed: Duration::from_nanos(123_456_789),
                reason,
                kind: Kind::Http,
                host: u64::MAX - 3,
            };
            let mut b = [0u8; ENTRY_BYTES];
            e.encode(&mut b);
            assert_eq!(Entry::decode(&b).unwrap(), Some(e));
        }
        assert_eq!(Entry::decode(&[0u8; ENTRY_BYTES]).unwrap(), None, "a position never written");
        let mut b = [0u8; ENTRY_BYTES];
        b[8] = 9;
        assert!(Entry::decode(&b).is_err());
    }
}
