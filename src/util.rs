//! Small helpers shared by several modules: duration serialization and atomic file writes.

use std::io::Write;
use std::path::Path;

/// Serializes a `Duration` as whole-and-fractional milliseconds (f64), the unit of every
/// `*_ms`-style field in the JSON report.
pub mod millis {
    use std::time::Duration;

    /// Serde `serialize_with` for `Duration` → milliseconds (f64).
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
    }

    /// Serde `deserialize_with` for milliseconds (f64) → `Duration` (negative or non-finite
    /// values are errors).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

/// JSON Schema stand-in for a `Duration` serialized by [`millis`]: used as
/// `#[schemars(with = "crate::util::Millis")]` so the generated schema says the unit.
#[derive(schemars::JsonSchema)]
#[schemars(description = "A duration in milliseconds (fractional, rounded to microseconds).")]
pub struct Millis(pub f64);

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

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target, so a reader never sees a half-written report.
///
/// Errors: the directory is not writable or the rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes a file atomically from a writer: `fill` writes the content into a temporary file
/// (buffered) in `path`'s directory, which is synced and renamed over `path` only when `fill`
/// succeeds; on any error the temporary file is removed and `path` is left as it was.
///
/// Errors: creating, writing (including `fill`'s own error), syncing or renaming.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(".netspec-").suffix(".tmp").tempfile_in(dir)?;
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp);
    fill(&mut w)?;
    let tmp = w.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `text` to stdout. A reader that has gone (`netspec schema | head`, a closed pipe) is
/// not an error to report: the write is dropped, where `print!` would panic.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Checks up front that a report can be created at `path` (its directory exists and is
/// writable), so a bad path fails before the run rather than after it.
///
/// Errors: the probe file cannot be created in the directory.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new().prefix(".netspec-check-").tempfile_in(dir).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

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
