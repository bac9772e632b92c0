//! Fitting a run into the process' open-file limit (`RLIMIT_NOFILE`, getrlimit(2)).
//!
//! Every socket is a file descriptor, and a check in flight holds a few at once (the A and
//! AAAA queries of its resolution, then one connection per address, or one query per compared
//! resolver). At run start netspec raises the soft limit to the hard limit, as servers do (no
//! privilege needed), and if that still cannot hold `-j` checks it lowers the concurrency to
//! fit and says so in one line; below what a single check needs it refuses to start. Without
//! this, a socket that cannot be created would be misread as a network outcome.

/// Descriptors one check in flight is budgeted (resolution's two queries, connections, slack).
pub const FDS_PER_CHECK: u64 = 4;

/// Descriptors kept for everything else: stdio, the runtime's epoll and wakers, report files,
/// CA and suite files, the demo's loopback servers.
pub const RESERVED_FDS: u64 = 48;

/// The open-file limits after raising the soft one: `(soft, hard)`; `None` means unlimited.
/// Raising is best effort (a failure leaves the soft limit as it was).
pub fn raise_open_file_limit() -> (Option<u64>, Option<u64>) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_some() && lim.current != lim.maximum {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: lim.maximum, maximum: lim.maximum });
    }
    let now = getrlimit(Resource::Nofile);
    (now.current, now.maximum)
}

/// How many checks fit under the current soft open-file limit in all (working and waiting);
/// `usize::MAX` when unlimited.
pub fn checks_that_fit() -> usize {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    match lim.current {
        None => usize::MAX,
        Some(l) => usize::try_from(l.saturating_sub(RESERVED_FDS) / FDS_PER_CHECK).unwrap_or(usize::MAX),
    }
}

/// How a requested concurrency fits a soft open-file limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// It fits as asked.
    Fits(usize),
    /// Lowered to this many checks in flight.
    Lowered {
        /// Checks in flight that fit.
        to: usize,
        /// What was asked (`-j`).
        asked: usize,
        /// The soft limit.
        limit: u64,
    },
    /// Not even one check fits.
    TooLow {
        /// The soft limit.
        limit: u64,
        /// The least limit that runs one check.
        needed: u64,
    },
}

/// How many of `asked` checks in flight fit under the soft limit `limit` (`None`: unlimited).
pub fn fit(asked: usize, limit: Option<u64>) -> Fit {
    let asked = asked.max(1);
    let Some(limit) = limit else { return Fit::Fits(asked) };
    let room = limit.saturating_sub(RESERVED_FDS) / FDS_PER_CHECK;
    match usize::try_from(room).unwrap_or(usize::MAX) {
        0 => Fit::TooLow { limit, needed: RESERVED_FDS + FDS_PER_CHECK },
        n if n >= asked => Fit::Fits(asked),
        n => Fit::Lowered { to: n, asked, limit },
    }
}

/// Raises the soft limit and fits `asked` into it. Returns the concurrency to use and the
/// one-line notice to print when it was lowered.
///
/// Errors: the limit cannot hold a single check (the message says how to raise it).
pub fn fit_open_files(asked: usize) -> Result<(usize, Option<String>), String> {
    let (soft, hard) = raise_open_file_limit();
    match fit(asked, soft) {
        Fit::Fits(n) => Ok((n, None)),
        Fit::Lowered { to, asked, limit } => Ok((
            to,
            Some(format!(
                "note: the open-file limit ({limit}{}) holds {to} checks in flight, not {asked}: running with -j {to} (raise it with `ulimit -n {}`)",
                if hard == soft { ", also the hard limit" } else { "" },
                (asked as u64) * FDS_PER_CHECK + RESERVED_FDS
            )),
        )),
        Fit::TooLow { limit, needed } => Err(format!(
            "error: the open-file limit ({limit}) is too low to run a check: netspec needs at least {needed}\n  = hint: raise it with `ulimit -n 1024` (or `prlimit --nofile=1024`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_fits_the_limit() {
        assert_eq!(fit(256, None), Fit::Fits(256));
        assert_eq!(fit(256, Some(1_048_576)), Fit::Fits(256));
        assert_eq!(fit(256, Some(RESERVED_FDS + 256 * FDS_PER_CHECK)), Fit::Fits(256));
        assert_eq!(fit(256, Some(64)), Fit::Lowered { to: 4, asked: 256, limit: 64 });
        assert_eq!(fit(256, Some(RESERVED_FDS + FDS_PER_CHECK)), Fit::Lowered { to: 1, asked: 256, limit: RESERVED_FDS + FDS_PER_CHECK });
        assert_eq!(fit(256, Some(20)), Fit::TooLow { limit: 20, needed: RESERVED_FDS + FDS_PER_CHECK });
        assert_eq!(fit(0, Some(1024)), Fit::Fits(1));
    }

    #[test]
    fn raising_never_lowers_the_soft_limit() {
        let before = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let (soft, hard) = raise_open_file_limit();
        assert!(soft >= before || soft.is_none(), "{before:?} -> {soft:?}");
        assert!(soft <= hard || hard.is_none());
    }
}
