//! Fitting a run into the process' open-file limit (`RLIMIT_NOFILE`, getrlimit(2)).
//!
//! Every socket is a file descriptor, and a check in flight holds a few at once (the A and
//! AAAA queries of its resolution, then one connection per address, or one query per compared
//! resolver). At run start netspec raises the soft limit to the hard limit, as servers do (no
//! privilege needed), and if that still cannot hold `-j` checks it lowers the concurrency to
//! fit and says so in one line; below what a single check needs it refuses to start. Without
//! this, a socket that cannot be created would be misread as a network outcome.

/// Descriptors one check in flight is budgeted: its resolution's two queries (A and AAAA)
/// and [`CONNECTIONS_PER_CHECK`] connections.
pub const FDS_PER_CHECK: u64 = 4;

/// Connections at once a check's own budget holds (see [`crate::probe::CONNECTIONS_PER_CHECK`]).
pub use crate::probe::CONNECTIONS_PER_CHECK;

/// One part in this many of what the working checks leave is kept for fan-out rather than
/// given to waiting checks.
pub const FANOUT_SHARE: u64 = 4;

/// How a run's descriptors are shared out under a soft limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Waiting checks allowed (at most what was asked).
    pub max_waiting: usize,
    /// Descriptors for connections beyond [`CONNECTIONS_PER_CHECK`] (`None`: unlimited).
    pub fanout: Option<usize>,
}

/// Shares the soft limit `limit` (`None`: unlimited) among `concurrency` working checks
/// (already fitted, [`fit`]), at most `max_waiting` waiting ones and the fan-out pool: the
/// working checks' [`FDS_PER_CHECK`] each first, then of the rest one part in
/// [`FANOUT_SHARE`] (at least what one more check needs) for fan-out, and the remainder for
/// waiting checks.
pub fn budget(limit: Option<u64>, concurrency: usize, max_waiting: usize) -> Budget {
    let Some(limit) = limit else { return Budget { max_waiting, fanout: None } };
    let working = (concurrency as u64).saturating_mul(FDS_PER_CHECK);
    let rest = limit.saturating_sub(RESERVED_FDS).saturating_sub(working);
    let fanout = (rest / FANOUT_SHARE).max(FDS_PER_CHECK).min(rest);
    let waiting = (rest - fanout) / FDS_PER_CHECK;
    Budget {
        max_waiting: max_waiting.min(usize::try_from(waiting).unwrap_or(usize::MAX)),
        fanout: Some(usize::try_from(fanout).unwrap_or(usize::MAX)),
    }
}

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
    // Descriptors already open (inherited from the CI agent or shell) are not ours to use.
    // A handful are netspec's own so far (covered by RESERVED_FDS).
    let open = Some(open_descriptors()).filter(|n| *n > OWN_OPEN_FDS).unwrap_or(0);
    let full = soft;
    let soft = soft.map(|l| l.saturating_sub(open));
    match fit(asked, soft) {
        Fit::Fits(n) => Ok((n, None)),
        Fit::Lowered { to, asked, limit } => Ok((to, Some(lowered_note(to, asked, limit, hard, system_max_open())))),
        Fit::TooLow { limit, needed } if open > 0 && open != u64::MAX => Err(format!(
            "error: the open-file limit ({}) leaves {limit} descriptors free ({open} are already open, inherited from the parent process): netspec needs at least {needed}\n  = hint: close the descriptors the parent leaks, or raise the limit with `ulimit -n 1024`",
            full.unwrap_or(limit)
        )),
        Fit::TooLow { limit, needed } => Err(format!(
            "error: the open-file limit ({}) is too low to run a check: netspec needs at least {needed}\n  = hint: raise it with `ulimit -n 1024` (or `prlimit --nofile=1024`)",
            full.unwrap_or(limit)
        )),
    }
}

/// Descriptors this process has open now (`/proc/self/fd`), less the three standard streams
/// (counted in [`RESERVED_FDS`]); 0 when it cannot be read.
/// Reading the directory takes a descriptor: when none is left, every one counts as open.
pub fn open_descriptors() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => (d.count() as u64).saturating_sub(4),
        Err(e) if crate::probe::out_of_descriptors(&e) => u64::MAX,
        Err(_) => 0,
    }
}

/// Descriptors netspec itself may have open before the run (files read while planning, the
/// runtime's), within [`RESERVED_FDS`]; more already open are someone else's.
pub const OWN_OPEN_FDS: u64 = 16;

/// The soft open-file limit left for the run: the limit less the descriptors already open
/// beyond netspec's own ([`OWN_OPEN_FDS`]).
pub fn available_descriptors() -> Option<u64> {
    let open = Some(open_descriptors()).filter(|n| *n > OWN_OPEN_FDS).unwrap_or(0);
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current.map(|l| l.saturating_sub(open))
}

/// The most descriptors one process may ever have here (`/proc/sys/fs/nr_open`, proc(5)).
fn system_max_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok())
}

/// The note when `-j asked` was lowered to `to` under the soft limit `limit`: how to raise it,
/// only as far as it can go. `hard` is the hard limit (`None`: unlimited), `system_max` the
/// kernel's per-process maximum (`fs.nr_open`).
pub fn lowered_note(to: usize, asked: usize, limit: u64, hard: Option<u64>, system_max: Option<u64>) -> String {
    let needed = (asked as u64).saturating_mul(FDS_PER_CHECK).saturating_add(RESERVED_FDS);
    let ceiling = match (hard, system_max) {
        (Some(h), Some(m)) => Some(h.min(m)),
        (Some(h), None) => Some(h),
        (None, m) => m,
    };
    let how = match ceiling {
        Some(c) if needed > c && c > limit => format!(
            "-j {asked} needs {needed} descriptors, more than this system allows ({c}); at most -j {} fits after `ulimit -n {c}`",
            c.saturating_sub(RESERVED_FDS) / FDS_PER_CHECK
        ),
        Some(c) if needed > c => {
            format!(
                "-j {asked} needs {needed} descriptors, more than the hard limit ({c}) allows: lower -j, or raise the hard limit as root"
            )
        }
        _ => format!("raise it with `ulimit -n {needed}`"),
    };
    format!(
        "note: the open-file limit ({limit}{}) holds {to} checks in flight, not {asked}: running with -j {to} ({how})",
        if hard == Some(limit) { ", also the hard limit" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_has_its_own_share_and_a_huge_j_gets_a_hint_that_can_be_followed() {
        // Unlimited: no pool needed.
        assert_eq!(budget(None, 256, 10_000), Budget { max_waiting: 10_000, fanout: None });
        // 1024: 256 working checks leave nothing; the pool still holds one check's worth.
        let b = budget(Some(1024), 244, 10_000);
        assert_eq!(b.fanout, Some(0));
        let b = budget(Some(2048), 256, 10_000);
        let rest = 2048 - RESERVED_FDS - 256 * FDS_PER_CHECK;
        assert_eq!(b.fanout, Some((rest / FANOUT_SHARE) as usize));
        assert_eq!(b.max_waiting as u64, (rest - rest / FANOUT_SHARE) / FDS_PER_CHECK);
        // Every descriptor is accounted once.
        let used = RESERVED_FDS + (256 + b.max_waiting as u64) * FDS_PER_CHECK + b.fanout.unwrap() as u64;
        assert!(used <= 2048, "{used}");
        // -j at usize::MAX: no overflow, and no `ulimit -n` beyond what the system allows.
        let note = lowered_note(100, usize::MAX, 448, Some(1_048_576), Some(1_048_576));
        assert!(note.contains("more than this system allows (1048576)") && note.contains("-j 262132"), "{note}");
        let note = lowered_note(100, 1_000, 448, Some(448), Some(1_048_576));
        assert!(note.contains("also the hard limit") && note.contains("raise the hard limit as root"), "{note}");
        let note = lowered_note(100, 1_000, 448, Some(1_048_576), Some(1_048_576));
        assert!(note.contains("`ulimit -n 4048`"), "{note}");
    }

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
