//! The runner: schedules checks with bounded concurrency, owns time (one deadline per attempt,
//! retries, cancellation) and streams [`RunEvent`]s to reporters. It never prints.
//!
//! Concurrency: `-j` checks work at once (default [`DEFAULT_CONCURRENCY`]); a check still running
//! after [`PARK_AFTER`] is waiting on the network (a dropped SYN, a slow server, a retry pause),
//! so it trades its working slot for one of `--max-waiting` waiting slots and the next check
//! starts: waiting is not work, and 1,000 dropped endpoints cost about one timeout rather than
//! four rounds of 256. CPU-heavy work (TLS handshakes) stays bounded by `-j`, so local starvation
//! does not turn into false network timeouts. When the run is CPU-bound (see [`BUSY_LAG`] and
//! [`BUSY_CPU`]) a slow check is waiting for the CPU, not the network, and keeps its slot: on
//! loopback HTTPS with the servers on the same cores, parking only added handshakes in flight
//! (3,000 HTTPS checks: 39 → 26 MiB, same wall time). Only checks holding a slot exist as tasks.

pub mod limits;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, sleep, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::expect::{self};
pub use crate::model::Outcome;
use crate::model::Verdict;
use crate::model::result::CheckMeta;
pub use crate::model::result::{Attempt, CheckResult, Totals};
use crate::plan::{Checks, Plan, PlannedCheck};
use crate::probe::{Failure, Observation, ProbeContext};
use crate::suite::LoadError;

/// Default number of checks in flight.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// Default number of checks that may wait on the network (after [`PARK_AFTER`]) beyond the
/// checks in flight; each holds a socket or two.
pub const DEFAULT_MAX_WAITING: usize = 2048;

/// How long a check may hold one of the `-j` working slots before it counts as waiting on the
/// network (a dropped SYN, a slow server, a retry pause) and gives its slot to the next check.
/// Loopback and LAN checks finish well within it.
pub const PARK_AFTER: Duration = Duration::from_millis(50);

/// Extra time a probe gets past its deadline before the runner gives up on it (it should never
/// be needed: probes keep every await under the deadline).
const GRACE: Duration = Duration::from_millis(500);

/// What reporters are told, in the order things happen.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run starts with this many checks.
    Started {
        /// Number of checks.
        total: usize,
    },
    /// A check finished (any order): what a live reporter shows of it, not the whole result,
    /// so that events waiting for a busy reporter hold a few bytes each, not each observation.
    Finished(Finished),
}

/// A finished check, as [`RunEvent::Finished`] reports it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Who the check is.
    pub meta: Arc<CheckMeta>,
    /// Its outcome.
    pub outcome: Outcome,
    /// Its wall time (every attempt).
    pub elapsed: Duration,
}

impl Finished {
    /// The event of `r`.
    pub fn of(r: &CheckResult) -> Finished {
        Finished { meta: r.meta.clone(), outcome: r.outcome, elapsed: r.elapsed }
    }
}

/// A look at each finished check before it is reported (and before `fail_fast` sees it),
/// which may add assertions and fail it. Called once per check, from any worker.
pub trait Review: Send + Sync + std::fmt::Debug {
    /// Reviews `result` in place; a cancelled check is left as it is by convention.
    fn review(&self, result: &mut CheckResult);
}

/// Run-level options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Checks in flight.
    pub concurrency: usize,
    /// Checks that may wait on the network on top of `concurrency` (see [`PARK_AFTER`]): waiting
    /// is not work, so a thousand dropped endpoints cost about one timeout. 0 disables parking.
    pub max_waiting: usize,
    /// Cancel the rest after the first failure or error.
    pub fail_fast: bool,
    /// Keep re-running failing checks (with their retry pause and backoff) until they pass or this
    /// much time has passed since the run started (`--retry-timeout`, post-deployment gates).
    pub retry_timeout: Option<Duration>,
    /// Reviews each finished check before it is reported: the drift gate of `--baseline`
    /// compares it with the baseline and may fail it (`crate::drift::Gate`).
    pub review: Option<Arc<dyn Review>>,
    /// The run's path traces (`--path`; `None`: off, the library default). Never used in a
    /// sandboxed run (the lab's addresses are not where packets go).
    pub paths: Option<Arc<crate::path::Traces>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: DEFAULT_CONCURRENCY,
            max_waiting: DEFAULT_MAX_WAITING,
            fail_fast: false,
            retry_timeout: None,
            review: None,
            paths: None,
        }
    }
}

/// Longest pause between attempts, whatever the backoff.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Most attempts one check's result keeps: the first and the latest ones; those between are
/// counted ([`CheckResult::attempts_omitted`]), so a long `--retry-timeout` window holds at most
/// this many observations per check.
pub const MAX_KEPT_ATTEMPTS: usize = 10;

/// Whether attempt number `n` (0-based; `n ≥ 1`) starts, `delay` from `now`: while the check's
/// own `attempts` last, and after that while the run-level retry window (`--retry-timeout`,
/// ending at `until`) is open. With a window, no attempt starts at or after its end, not even
/// one of the check's own: so the run ends at most one attempt's deadline after the window.
pub fn next_attempt_starts(n: u32, attempts: u32, now: Instant, delay: Duration, until: Option<Instant>) -> bool {
    match until {
        None => n < attempts,
        Some(u) => now + delay < u,
    }
}

/// Keeps `attempt` in `kept`: when [`MAX_KEPT_ATTEMPTS`] are kept, the oldest one after the
/// first is dropped and counted in `omitted`.
fn keep_attempt<A>(kept: &mut Vec<A>, omitted: &mut u32, attempt: A) {
    if kept.len() >= MAX_KEPT_ATTEMPTS.max(2) {
        kept.remove(1);
        *omitted = omitted.saturating_add(1);
    }
    kept.push(attempt);
}

/// Runs every check of `plan`, sending events as checks finish; returns results in plan order.
/// Cancelling `cancel` stops new checks and abandons running ones (they are `Cancelled`).
/// Holds every result until the end: [`run_each`] hands each one over instead.
///
/// Errors: as [`Checks::finish`] (a streamed plan whose files changed meanwhile).
pub async fn run(
    mut plan: Plan,
    ctx: Arc<ProbeContext>,
    opts: RunOptions,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<Vec<CheckResult>, LoadError> {
    let mut results: Vec<Arc<CheckResult>> = Vec::with_capacity(plan.checks.len());
    let total = plan.len();
    let checks = plan.take_checks();
    run_each(checks, total, ctx, opts, cancel, events, |r| results.push(r)).await?;
    results.sort_by_key(|r| r.meta.index);
    Ok(results.into_iter().map(Arc::unwrap_or_clone).collect())
}

/// Runs every check of `checks` (`total` of them, [`Plan::take_checks`]) like [`run`], handing
/// each result to `sink` as it finishes (in finishing order, after its event) rather than
/// keeping it: with a sink that stores what the reports need ([`crate::report::spool::Spool`])
/// and a plan that streams, memory does not grow with the number of checks. Every check
/// reaches `sink` exactly once, cancelled or not; each task owns its check, so no check
/// outlives its task.
///
/// Errors: as [`Checks::finish`], after every check it gave has reached `sink`.
pub async fn run_each(
    mut checks: Checks,
    total: usize,
    ctx: Arc<ProbeContext>,
    opts: RunOptions,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<RunEvent>,
    mut sink: impl FnMut(Arc<CheckResult>),
) -> Result<(), LoadError> {
    let _ = events.send(RunEvent::Started { total });
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let waiting = Arc::new(Semaphore::new(opts.max_waiting));
    let retry_until = opts.retry_timeout.map(|d| Instant::now() + d);
    let paths = opts.paths.clone().filter(|_| ctx.sandbox.is_none());
    let mut set = tokio::task::JoinSet::new();
    let load = Arc::new(Load::default());
    // Stops with the run, also when the caller drops this future early.
    let _meter = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(load.clone().measure()));
    // Which check each running task runs, so a task that panicked still yields a result.
    let mut tasks: std::collections::HashMap<tokio::task::Id, Arc<CheckMeta>> = std::collections::HashMap::new();
    // A check becomes a task only once it holds a permit: at most `concurrency` tasks exist at
    // any time, whatever the plan's size.
    while let Some(check) = checks.next().await {
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            p = sem.clone().acquire_owned() => p.ok(),
        };
        let Some(permit) = permit else {
            let mut next = Some(check);
            while let Some(c) = next {
                let r = Arc::new(cancelled(&c, Duration::ZERO));
                let _ = events.send(RunEvent::Finished(Finished::of(&r)));
                sink(r);
                next = checks.next().await;
            }
            break;
        };
        // Collect what finished meanwhile, so finished tasks do not pile up in the set.
        while let Some(done) = set.try_join_next_with_id() {
            collect(done, &mut tasks, &events, &mut sink);
        }
        // The task owns its check (moved, not copied) and drops it when it finishes.
        let meta = check.meta.clone();
        let ctx = ctx.clone();
        let cancel = cancel.clone();
        let events = events.clone();
        let fail_fast = opts.fail_fast;
        let review = opts.review.clone();
        let waiting = waiting.clone();
        let load = load.clone();
        let paths = paths.clone();
        let task = async move {
            let work = run_check(&check, &ctx, &cancel, retry_until, paths.as_ref());
            tokio::pin!(work);
            let result = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = sleep(PARK_AFTER) => {
                        // Still running. When this machine is CPU-bound the check waits for the
                        // CPU (its own handshake, or a server on the same cores): another check
                        // in flight would only slow every check down, so it keeps its slot and
                        // looks again later.
                        if load.busy() {
                            continue;
                        }
                        // It waits on the network. Trade the working slot for a waiting one
                        // (when there is one) so the next check can start.
                        let parked = tokio::select! {
                            r = &mut work => Err(r),
                            p = waiting.acquire_owned() => Ok(p),
                        };
                        match parked {
                            Err(r) => break r,
                            Ok(slot) => {
                                drop(permit);
                                let r = work.await;
                                drop(slot);
                                return finish(r, fail_fast, review.as_deref(), &cancel, &events);
                            }
                        }
                    }
                }
            };
            drop(permit);
            finish(result, fail_fast, review.as_deref(), &cancel, &events)
        };
        let handle = set.spawn(task);
        tasks.insert(handle.id(), meta);
    }
    while let Some(done) = set.join_next_with_id().await {
        collect(done, &mut tasks, &events, &mut sink);
    }
    drop(events);
    checks.finish()
}

/// How often [`Load::measure`] looks at the scheduler.
const LOAD_TICK: Duration = Duration::from_millis(10);

/// Scheduling lag (smoothed) from which the runtime counts as CPU-bound: a timer due in
/// [`LOAD_TICK`] fires this much late when the runtime's workers (or the cores under them)
/// have more ready work than they can run. An idle runtime fires within about 1 ms.
pub const BUSY_LAG: Duration = Duration::from_millis(4);

/// Share of a core (smoothed) that netspec itself must be using for a late timer to count:
/// a machine loaded by others delays timers too, but then checks that only wait (dropped SYNs)
/// should still hand their slots on.
pub const BUSY_CPU: f64 = 0.5;

/// Whether this run is CPU-bound: its timers fire late *and* it uses the CPU itself
/// (exponentially weighted moving averages, 1/4 weight to each new sample).
#[derive(Debug, Default)]
struct Load {
    /// Timer lag, µs.
    lag_us: std::sync::atomic::AtomicU64,
    /// Process CPU time per wall time, in thousandths of a core.
    cpu_milli: std::sync::atomic::AtomicU64,
}

/// This process's CPU time (all threads), from `CLOCK_PROCESS_CPUTIME_ID`.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

impl Load {
    /// Samples every [`LOAD_TICK`] until aborted (the runner aborts it at the end).
    async fn measure(self: Arc<Self>) {
        use std::sync::atomic::Ordering::Relaxed;
        let ewma = |a: &std::sync::atomic::AtomicU64, x: u64| a.store((a.load(Relaxed) * 3 + x) / 4, Relaxed);
        loop {
            let (t, cpu) = (Instant::now(), process_cpu());
            sleep(LOAD_TICK).await;
            let wall = t.elapsed();
            ewma(&self.lag_us, wall.saturating_sub(LOAD_TICK).as_micros().min(u64::MAX as u128) as u64);
            let used = process_cpu().saturating_sub(cpu);
            ewma(&self.cpu_milli, (used.as_secs_f64() / wall.as_secs_f64().max(1e-6) * 1000.0) as u64);
        }
    }

    fn busy(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.lag_us.load(Relaxed) >= BUSY_LAG.as_micros() as u64 && self.cpu_milli.load(Relaxed) as f64 >= BUSY_CPU * 1000.0
    }
}

/// Takes a finished task's result. A panic in a probe or matcher is a netspec bug: the check is
/// reported as an error (never dropped), and the run goes on.
fn collect(
    done: Result<(tokio::task::Id, Arc<CheckResult>), tokio::task::JoinError>,
    tasks: &mut std::collections::HashMap<tokio::task::Id, Arc<CheckMeta>>,
    events: &mpsc::UnboundedSender<RunEvent>,
    sink: &mut impl FnMut(Arc<CheckResult>),
) {
    match done {
        Ok((id, r)) => {
            tasks.remove(&id);
            sink(r);
        }
        Err(e) => {
            if let Some(meta) = tasks.remove(&e.id()) {
                let why = if e.is_panic() { "panicked (a netspec bug)" } else { "was aborted" };
                let hint = Some(format!(
                    "the check {why}; please report it{}",
                    meta.hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
                ));
                let meta = Arc::new(CheckMeta { hint, ..(*meta).clone() });
                let r = Arc::new(CheckResult {
                    meta,
                    outcome: Outcome::Error,
                    attempts: Vec::new(),
                    attempts_omitted: 0,
                    path: None,
                    elapsed: Duration::ZERO,
                });
                let _ = events.send(RunEvent::Finished(Finished::of(&r)));
                sink(r);
            }
        }
    }
}

/// A check's end: fail-fast, the event, the shared result.
fn finish(
    mut result: CheckResult,
    fail_fast: bool,
    review: Option<&dyn Review>,
    cancel: &CancellationToken,
    events: &mpsc::UnboundedSender<RunEvent>,
) -> Arc<CheckResult> {
    if let Some(r) = review {
        r.review(&mut result);
    }
    if fail_fast && matches!(result.outcome, Outcome::Failed | Outcome::Error) {
        cancel.cancel();
    }
    let result = Arc::new(result);
    let _ = events.send(RunEvent::Finished(Finished::of(&result)));
    result
}

/// Bytes of an HTTP body kept in the results once the expectations have read it (they see up to
/// the run's body cap): reports show a snippet, and 100,000 checks must not hold 64 KiB each.
pub const REPORTED_BODY: usize = 2048;

/// Drops what reports do not need from an evaluated observation (the body past [`REPORTED_BODY`]).
fn slim(obs: &mut Observation) {
    if let Observation::Http(h) = obs
        && h.body.len() > REPORTED_BODY
    {
        let mut end = REPORTED_BODY;
        while !h.body.is_char_boundary(end) {
            end -= 1;
        }
        h.body.truncate(end);
        h.body.shrink_to_fit();
        h.body_truncated = true;
    }
}

/// A path trace started while a tcp check's connection is still pending: at half the attempt's
/// timeout, finishing by the attempt's deadline, so that a dropped SYN costs the check one
/// timeout rather than the timeout and then a trace ([`crate::path::select::ahead`] says
/// which checks). Dropping it aborts the trace (a check that passed after all).
struct Ahead {
    dest: std::net::SocketAddr,
    task: tokio_util::task::AbortOnDropHandle<Option<Arc<crate::path::PathTrace>>>,
}

impl Ahead {
    /// Starts the trace of `dest` now, finishing by `deadline`.
    fn start(p: Arc<crate::path::Traces>, dest: std::net::SocketAddr, deadline: Instant) -> Ahead {
        let task = tokio::spawn(async move { p.trace(dest, deadline).await });
        Ahead { dest, task: tokio_util::task::AbortOnDropHandle::new(task) }
    }
}

fn base_result(c: &PlannedCheck, outcome: Outcome, attempts: Vec<Attempt>, elapsed: Duration) -> CheckResult {
    CheckResult { meta: c.meta.clone(), outcome, attempts, attempts_omitted: 0, path: None, elapsed }
}

fn cancelled(c: &PlannedCheck, elapsed: Duration) -> CheckResult {
    base_result(c, Outcome::Cancelled, Vec::new(), elapsed)
}

/// A local problem that kept the check from being evaluated (this machine, the suite, the lab;
/// [`Reason::is_local`]) rather than the network's answer.
fn local_error(obs: &Observation) -> Option<Failure> {
    let local = |f: &Option<Failure>| f.clone().filter(|f| f.reason.is_local());
    match obs {
        Observation::Dns(d) => local(&d.failure),
        Observation::Tcp(t) => local(&t.resolution.failure)
            .or_else(|| t.attempts.iter().find_map(|a| a.reason.filter(|r| r.is_local()).map(|r| Failure::new(r, a.detail.clone())))),
        Observation::Tls(t) => local(&t.resolution.failure).or_else(|| t.endpoints.iter().find_map(|e| local(&e.failure))),
        Observation::Http(h) => local(&h.failure),
    }
}

async fn run_check(
    c: &PlannedCheck,
    ctx: &Arc<ProbeContext>,
    cancel: &CancellationToken,
    retry_until: Option<Instant>,
    paths: Option<&Arc<crate::path::Traces>>,
) -> CheckResult {
    let start = Instant::now();
    // A trace started while the last attempt's connection was pending ([`Ahead`]).
    let mut ahead: Option<Ahead> = None;
    // Most checks take one attempt: room for exactly one (a Vec's first push would make room for
    // four, 2 KiB per check of a 100,000-check run).
    let mut attempts = Vec::with_capacity(1);
    let mut omitted = 0u32;
    let mut delay = c.retry_delay;
    for n in 0u32.. {
        if n > 0 {
            // Another attempt is due while the check's own attempts last, and after that while
            // the run-level retry window is open and the next attempt would start inside it.
            if !next_attempt_starts(n, c.attempts, Instant::now(), delay, retry_until) {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => return base_result(c, Outcome::Cancelled, attempts, start.elapsed()),
                _ = sleep(delay) => {}
            }
            delay = delay.mul_f64(c.retry_backoff).min(MAX_RETRY_DELAY);
        }
        let deadline = Instant::now() + c.timeout;
        // The last attempt of a check whose dropped SYN a trace should explain: the trace
        // starts if the connection is still pending at half the timeout.
        // (Whether its expectations fail on a dropped SYN is judged only if the timer fires; no
        // timer for a destination the mode does not trace, such as loopback under `auto`.)
        let mut early = paths.filter(|p| {
            ahead.is_none()
                && n + 1 >= c.attempts
                && c.path
                && p.mode() != crate::path::PathMode::Off
                && crate::path::select::tcp_address(&c.target).is_some_and(|d| crate::path::select::traced(d.ip(), p.mode()))
        });
        let starts = Instant::now() + c.timeout / 2;
        let probe = timeout_at(deadline + GRACE, crate::probe::probe(ctx, &c.target, &c.resolver, deadline));
        tokio::pin!(probe);
        let obs = loop {
            tokio::select! {
                _ = cancel.cancelled() => return base_result(c, Outcome::Cancelled, attempts, start.elapsed()),
                o = &mut probe => break o,
                _ = tokio::time::sleep_until(starts), if early.is_some() => {
                    if let Some(p) = early.take()
                        && let Some(dest) = crate::path::select::ahead(&c.target, &c.expect, p.mode())
                    {
                        ahead = Some(Ahead::start(p.clone(), dest, deadline));
                    }
                }
            }
        };
        let attempt = match obs {
            Ok(mut observation) => {
                let error = local_error(&observation);
                let mut assertions = expect::evaluate(&c.expect, &observation);
                assertions.shrink_to_fit();
                slim(&mut observation);
                Attempt { observation, assertions, error }
            }
            Err(_) => {
                // A probe that overran its own deadline is a netspec bug; report it as an error.
                return base_result(c, Outcome::Error, attempts, start.elapsed());
            }
        };
        let passed = attempt.passed();
        keep_attempt(&mut attempts, &mut omitted, attempt);
        if passed {
            break;
        }
    }
    let last = attempts.last();
    let outcome = match last.map(|a| a.verdict().0) {
        Some(Verdict::Pass) => Outcome::Passed,
        Some(Verdict::Fail) => Outcome::Failed,
        Some(Verdict::Error) | None => Outcome::Error,
    };
    // Path diagnosis: where the failed connection dies (one extra timeout at most, shared with
    // every check of the run that has the same destination).
    let dest = match (paths, attempts.last()) {
        (Some(p), Some(a)) if c.path => crate::path::select::destination(&c.target, &a.observation, outcome == Outcome::Failed, p.mode()),
        _ => None,
    };
    // A trace started ahead is taken when it went to this destination and has started (it ends
    // with the attempt); otherwise it is dropped (aborted) and the trace, if any, starts now.
    let early = ahead.filter(|a| Some(a.dest) == dest);
    let path = match (paths, dest) {
        (Some(p), Some(dest)) => tokio::select! {
            _ = cancel.cancelled() => None,
            t = Box::pin(async {
                match early {
                    Some(a) => match a.task.await {
                        Ok(t) => t,
                        Err(_) => p.trace(dest, Instant::now() + c.timeout).await,
                    },
                    None => p.trace(dest, Instant::now() + c.timeout).await,
                }
            }) => t.map(|t| Box::new((*t).clone())),
        },
        _ => None,
    };
    attempts.shrink_to_fit();
    CheckResult { path, attempts_omitted: omitted, ..base_result(c, outcome, attempts, start.elapsed()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_window_bounds_every_attempt_and_attempts_kept_are_capped() {
        let now = Instant::now();
        let d = Duration::from_millis(100);
        // Without a window: the check's own attempts.
        assert!(next_attempt_starts(2, 3, now, d, None));
        assert!(!next_attempt_starts(3, 3, now, d, None));
        // With one: attempts start only inside it, the check's own ones too (was: all of them).
        let until = now + Duration::from_secs(1);
        assert!(next_attempt_starts(1, 50, now, d, Some(until)));
        assert!(!next_attempt_starts(1, 50, until - Duration::from_millis(50), d, Some(until)));
        assert!(next_attempt_starts(7, 1, now, d, Some(until)));
        // Kept: the first and the latest, the rest counted.
        let (mut kept, mut omitted) = (Vec::new(), 0);
        for n in 0..25u32 {
            keep_attempt(&mut kept, &mut omitted, n);
        }
        assert_eq!(kept.len(), MAX_KEPT_ATTEMPTS);
        assert_eq!(kept[0], 0);
        assert_eq!(kept.last(), Some(&24));
        assert_eq!(omitted as usize + kept.len(), 25);
    }

    #[test]
    fn a_checks_future_stays_small() {
        // Every check is a task holding this future; the probes are boxed so that it does not
        // carry the largest probe's state inline (it was 8.5 KB, and its task 17.8 KB, copied
        // on every spawn: 39 % of W-dns's instructions were those copies).
        let yaml = "netspec: 1\nname: s\nscenarios:\n  - name: a\n    checks:\n      - { name: h, http: { url: \"https://x.test/\" }, expect: { status: 200 } }\n";
        let loaded = crate::suite::parse(std::path::Path::new("t.yaml"), yaml.into()).unwrap();
        let plan = crate::plan::plan(&[loaded], &Default::default()).unwrap();
        let ctx = Arc::new(ProbeContext::new(Default::default()));
        let cancel = CancellationToken::new();
        let f = run_check(&plan.checks[0], &ctx, &cancel, None, None);
        let size = std::mem::size_of_val(&f);
        assert!(size <= 1024, "run_check's future grew to {size} bytes: box the new probe's future");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_result_shares_its_checks_identity() {
        let yaml = "netspec: 1\nname: s\nscenarios:\n  - name: a\n    checks:\n      - { name: h, tcp: { host: 127.0.0.1, port: 9 }, tags: [x] }\n";
        let loaded = crate::suite::parse(std::path::Path::new("t.yaml"), yaml.into()).unwrap();
        let mut plan = crate::plan::plan(&[loaded], &Default::default()).unwrap();
        let meta = plan.checks[0].meta.clone();
        let ctx = Arc::new(ProbeContext::new(Default::default()));
        // Cancelled before it starts: no traffic, and the result is still made from the plan.
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut got = Vec::new();
        let total = plan.len();
        run_each(plan.take_checks(), total, ctx, RunOptions::default(), cancel, tx, |r| got.push(r)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].meta.id, "s/a/h");
        assert!(Arc::ptr_eq(&got[0].meta, &meta), "the result copied the check's identity instead of sharing it");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn load_tells_a_cpu_bound_run_from_a_waiting_one() {
        let load = Arc::new(Load::default());
        let meter = tokio::spawn(load.clone().measure());
        // Waiting: nothing to do for 300 ms. This process uses next to no CPU, so however late
        // a loaded machine fires the timers, the run is not CPU-bound.
        sleep(Duration::from_millis(300)).await;
        assert!(
            !load.busy(),
            "idle, yet busy: lag {} µs, cpu {}‰",
            load.lag_us.load(std::sync::atomic::Ordering::Relaxed),
            load.cpu_milli.load(std::sync::atomic::Ordering::Relaxed)
        );
        // CPU-bound: bursts of 25 ms of CPU that block the runtime, for up to 3 s of CPU time.
        let mut seen = false;
        let start = process_cpu();
        while !seen && process_cpu().saturating_sub(start) < Duration::from_secs(3) {
            let t = process_cpu();
            while process_cpu().saturating_sub(t) < Duration::from_millis(25) {
                std::hint::spin_loop();
            }
            tokio::task::yield_now().await;
            seen = load.busy();
        }
        meter.abort();
        assert!(seen, "3 s of CPU-bound bursts never counted as busy");
    }
}
