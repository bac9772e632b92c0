//! Small helpers shared by several modules: duration serialization and output files (atomic
//! replacement of regular files, direct writes into FIFOs and devices).

use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::model::{Millis, millis};

/// SHA-256 of `bytes` (FIPS 180-4), as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Writes `bytes` to `path` as [`write_atomic_with`] does.
///
/// Errors: as [`write_atomic_with`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Where a report (or any output file) goes, decided from what `path` is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A regular file, existing or not: written to a temporary file beside `target` and renamed
    /// over it. `target` is `path` with every symbolic link followed (the link is kept, its
    /// target replaced); `mode` is the existing file's permission bits, kept when it is replaced.
    File {
        /// Where the file is renamed to.
        target: PathBuf,
        /// The replaced file's mode (`None`: a new file, mode 0666 less the umask).
        mode: Option<u32>,
    },
    /// A FIFO, a character device (`/dev/null`, a terminal) or a path under `/dev/` or `/proc/`
    /// (`/dev/stdout`, `/proc/self/fd/1`): opened for appending and written directly, never
    /// replaced.
    Stream(PathBuf),
}

/// Most symbolic links followed from a report path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Follows the symbolic links of `path` (the last component, repeatedly) to the file they
/// name, existing or not.
///
/// Errors: a link cannot be read, or more than 40 links.
pub fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p)?;
                p = if t.is_absolute() { t } else { parent_dir(&p).join(t) };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!("more than {MAX_LINKS} symbolic links")))
}

/// The directory of `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Decides where output for `path` goes ([`Destination`]).
///
/// Errors (`std::io::Error`, kind and message say which): `path` is a directory
/// (`IsADirectory`), a block device or socket (`InvalidInput`), an existing regular file
/// without any write permission bit (`PermissionDenied`: a read-only report is not replaced
/// behind its owner's back), or a symbolic link that cannot be followed.
pub fn destination(path: &Path) -> std::io::Result<Destination> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let special = path.starts_with("/dev") || path.starts_with("/proc");
    match std::fs::metadata(path) {
        Ok(m) => {
            let ft = m.file_type();
            if ft.is_dir() {
                Err(Error::new(ErrorKind::IsADirectory, "it is a directory"))
            } else if ft.is_fifo() || ft.is_char_device() || (special && ft.is_file()) {
                Ok(Destination::Stream(path.to_owned()))
            } else if ft.is_file() {
                if m.permissions().readonly() {
                    return Err(Error::new(ErrorKind::PermissionDenied, "the existing file is read-only"));
                }
                Ok(Destination::File { target: follow_links(path)?, mode: Some(m.permissions().mode() & 0o7777) })
            } else {
                Err(Error::new(ErrorKind::InvalidInput, "it is neither a regular file, a FIFO nor a character device"))
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if special {
                return Err(e);
            }
            Ok(Destination::File { target: follow_links(path)?, mode: None })
        }
        Err(e) => Err(e),
    }
}

/// Temporary files being written, removed by [`remove_temp_files`] when the process must exit
/// at once (a second Ctrl-C), where destructors do not run.
static IN_FLIGHT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    IN_FLIGHT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary report file still being written (`.netspec-*.tmp`); called right
/// before `std::process::exit` on a second signal, which skips destructors.
pub fn remove_temp_files() {
    for p in in_flight().drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// A temporary file registered in [`IN_FLIGHT`] while it lives.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        in_flight().retain(|p| p != &self.0);
    }
}

/// A complete file written to a temporary file beside its target, not yet renamed over it.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    _registered: Registered,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged").field("tmp", &self.tmp.path()).field("target", &self.target).finish()
    }
}

impl Staged {
    /// Renames the temporary file over its target.
    ///
    /// Errors: the rename fails (the temporary file is then removed).
    pub fn commit(self) -> std::io::Result<()> {
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }

    /// The path the file is renamed to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path (`<dir>/.netspec-XXXXXX.tmp`).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }
}

/// Writes output for `path` from a writer, as [`destination`] decides: a FIFO or character
/// device is streamed into directly (returns `None`); a regular file is written (buffered) to
/// a temporary file in its target's directory, synced, with the mode the umask gives a new
/// file (0644 under umask 022) or the replaced file's mode (and owner, when running as root),
/// and returned to be renamed over the target with [`Staged::commit`]. On any error the
/// temporary file is removed and `path` is left as it was.
///
/// Errors: [`destination`]'s, creating, writing (including `fill`'s own error) or syncing.
pub fn stage(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<Option<Staged>> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    match destination(path)? {
        Destination::Stream(p) => {
            let f = std::fs::OpenOptions::new().append(true).open(&p)?;
            let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
            fill(&mut w)?;
            w.flush()?;
            Ok(None)
        }
        Destination::File { target, mode } => {
            let tmp = tempfile::Builder::new()
                .prefix(".netspec-")
                .suffix(".tmp")
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(parent_dir(&target))?;
            let registered = Registered(tmp.path().to_owned());
            in_flight().push(registered.0.clone());
            if let Some(mode) = mode {
                tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
                if let Ok(m) = std::fs::metadata(&target) {
                    // Only root may give a file away; for anyone else the owner is already theirs.
                    let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
                }
            }
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp);
            fill(&mut w)?;
            let tmp = w.into_inner().map_err(|e| e.into_error())?;
            tmp.as_file().sync_all()?;
            Ok(Some(Staged { tmp, target, _registered: registered }))
        }
    }
}

/// Writes output for `path` from a writer and renames it into place at once ([`stage`] then
/// [`Staged::commit`]): a reader never sees a half-written regular file.
///
/// Errors: as [`stage`] and [`Staged::commit`].
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    match stage(path, fill)? {
        Some(s) => s.commit(),
        None => Ok(()),
    }
}

/// Writes `text` to stdout. A reader that has gone (`netspec schema | head`, a closed pipe) is
/// not an error to report: the write is dropped, where `print!` would panic.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Checks up front that output can be written to `path`: [`destination`] accepts it, and a
/// regular file's directory exists and a file can be created in it (a stream must be
/// writable by this process), so a bad path fails before the run rather than after it.
///
/// Errors: [`destination`]'s, or the probe file cannot be created / the stream is not writable.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    match destination(path)? {
        Destination::File { target, .. } => tempfile::Builder::new().prefix(".netspec-check-").tempfile_in(parent_dir(&target)).map(|_| ()),
        Destination::Stream(p) => rustix::fs::access(&p, rustix::fs::Access::WRITE_OK).map_err(std::io::Error::from),
    }
}

/// The closest candidate to `word` by Jaro-Winkler similarity, when it is close enough to be a
/// plausible typo (similarity ≥ 0.8).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            // Jaro's matching window is too small for short words (`dsn` for `dns`): one edit
            // or transposition counts as close too.
            let jw = strsim::jaro_winkler(word, c);
            let one_edit = word.chars().count() >= 3 && strsim::osa_distance(word, c) <= 1;
            (if one_edit { jw.max(0.8) } else { jw }, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The first line of `text`, cut to at most `max` characters (`…` marks a cut): how text taken
/// from a file the user may not have meant to show (an included library) is quoted.
pub fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut = first.chars().count() > max || text.lines().nth(1).is_some();
    if !cut {
        return first.to_owned();
    }
    let mut s: String = first.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Whether [`memory_first`] was called: the process then favours memory over speed, and
/// `crate::suite::split` steps aside (the suites are parsed on one thread).
static MEMORY_FIRST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`memory_first`] was called.
pub fn is_memory_first() -> bool {
    MEMORY_FIRST.load(std::sync::atomic::Ordering::Relaxed)
}

/// mimalloc 3's `mi_option_purge_delay` (its `mi_option_e`, include/mimalloc.h; the Rust
/// bindings name no constant for it): how long, in ms, freed memory stays committed before it
/// is returned to the OS (mimalloc 3's default: 1,000 ms; 0: at once).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes the allocator return freed memory to the OS at once (mimalloc's `purge_delay` 0)
/// for the rest of the process, unless the user set `MIMALLOC_PURGE_DELAY`. For a plan that
/// streams into the run (more than [`crate::plan::HELD_CHECKS`] checks): with the default
/// delay the peak of 100,000 checks with `--json --junit` reached 49.8 MiB (× 1.54 the
/// 10,000-check peak; 39–44 MiB with other delays or page options), with none 29.4–30.7 MiB
/// in every run (`bench/memory`), for 14–21 % more wall time. Held runs keep the delay: purging
/// at once cost W-dns and W-tcp 13–17 ms of `madvise` each. A run that may stream calls it before planning
/// ([`crate::plan::may_stream`]), so that the suites are also parsed on one thread.
pub fn memory_first() {
    MEMORY_FIRST.store(true, std::sync::atomic::Ordering::Relaxed);
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores an option's value; mimalloc reads it at its next purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_names_so() {
        // The index is written by hand: the linked mimalloc must read it as `purge_delay`,
        // whose default is 1,000 ms (any other option at 15 has another default).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: mi_option_get only reads an option (initialising it from the environment).
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
        }
    }

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.xml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_directory_is_detected_before_the_run() {
        assert!(check_writable(Path::new("/nonexistent-dir-netspec/r.xml")).is_err());
    }
}
