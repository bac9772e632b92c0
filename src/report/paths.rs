//! Report paths checked before the run: nothing lost, nothing clobbered.
//!
//! Two paths are the same file when they name the same inode (device and inode number, every
//! symbolic link followed), not when their text is equal: `--junit x --json ./x`, a symlink to
//! a suite, or a hard link to a vars file are all caught. A report path that does not exist yet
//! is compared by its canonical directory and file name.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a set of report paths is refused before the run (exit code 2, nothing ran).
#[derive(Debug, thiserror::Error)]
pub enum ReportPathError {
    /// The report would replace a file the run reads.
    #[error(
        "error: the report {report} is the same file as the input {input}\n  = hint: write the report elsewhere: replacing an input would lose it"
    )]
    SameAsInput {
        /// The report path as given.
        report: PathBuf,
        /// The input path as read.
        input: PathBuf,
    },
    /// Two reports name the same regular file: one would overwrite the other.
    #[error("error: {report} is given for two reports (also as {other})\n  = hint: give each report its own file")]
    Duplicate {
        /// The second report path as given.
        report: PathBuf,
        /// The first report path naming the same file.
        other: PathBuf,
    },
    /// The report cannot be written: a directory, a read-only file, a missing or unwritable
    /// directory.
    #[error("error: cannot write the report {report}: {source}\n  = hint: {hint}")]
    Unwritable {
        /// The report path as given.
        report: PathBuf,
        /// The I/O error.
        source: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
}

/// What a path names, for sameness: an existing file's `(device, inode)`, or the canonical
/// path a new file would get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An existing file.
    Inode(u64, u64),
    /// A file that does not exist yet: its canonical directory joined with its name.
    New(PathBuf),
}

/// The identity of `path` (symbolic links followed).
pub fn identity(path: &Path) -> Identity {
    if let Ok(m) = std::fs::metadata(path) {
        return Identity::Inode(m.dev(), m.ino());
    }
    let target = crate::util::follow_links(path).unwrap_or_else(|_| path.to_owned());
    let dir = crate::util::parent_dir(&target);
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    Identity::New(match target.file_name() {
        Some(n) => dir.join(n),
        None => dir,
    })
}

/// Whether `path` is a regular file or would become one (not a FIFO or device).
fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(true) && !(path.starts_with("/dev") || path.starts_with("/proc"))
}

/// Checks report paths before the run: each can be written ([`crate::util::check_writable`]),
/// none is the same file as an input, and no two name the same regular file (several streams
/// into one device, e.g. `/dev/null`, are allowed: nothing is replaced).
///
/// Errors: the first problem, as a [`ReportPathError`].
pub fn check(reports: &[&Path], inputs: &[PathBuf]) -> Result<(), ReportPathError> {
    let input_ids: Vec<(Identity, &PathBuf)> =
        inputs.iter().filter_map(|p| std::fs::metadata(p).ok().map(|m| (Identity::Inode(m.dev(), m.ino()), p))).collect();
    let mut seen: Vec<(Identity, &Path)> = Vec::new();
    for &r in reports {
        let id = identity(r);
        if let Some((_, input)) = input_ids.iter().find(|(i, _)| *i == id) {
            return Err(ReportPathError::SameAsInput { report: r.to_owned(), input: (*input).clone() });
        }
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == id)
            && is_regular(r)
        {
            return Err(ReportPathError::Duplicate { report: r.to_owned(), other: other.to_path_buf() });
        }
        if let Err(source) = crate::util::check_writable(r) {
            let hint = match source.kind() {
                std::io::ErrorKind::IsADirectory => "give a file name inside the directory, e.g. DIR/report.xml",
                std::io::ErrorKind::PermissionDenied if std::fs::metadata(r).is_ok_and(|m| m.permissions().readonly()) => {
                    "make it writable (chmod u+w) or pick another path: a read-only report is not replaced"
                }
                _ => "create the directory, make it writable, or pick another path",
            };
            return Err(ReportPathError::Unwritable { report: r.to_owned(), source, hint });
        }
        seen.push((id, r));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sameness_is_by_inode_not_by_text() {
        let dir = tempfile::tempdir().unwrap();
        let suite = dir.path().join("s.yaml");
        std::fs::write(&suite, "x").unwrap();
        std::os::unix::fs::symlink(&suite, dir.path().join("link.xml")).unwrap();
        let e = check(&[&dir.path().join("link.xml")], std::slice::from_ref(&suite)).unwrap_err();
        assert!(matches!(e, ReportPathError::SameAsInput { .. }), "{e}");
        let a = dir.path().join("r.xml");
        let b = dir.path().join(".").join("r.xml");
        let e = check(&[&a, &b], &[]).unwrap_err();
        assert!(matches!(e, ReportPathError::Duplicate { .. }), "{e}");
        assert!(check(&[&a, &dir.path().join("r.json")], std::slice::from_ref(&suite)).is_ok());
    }
}
