//! The commands: `run`, `validate`, `plan`, `schema`, `demo`, `merge`, `diff` and `import` as
//! functions of plain requests (no clap: that stays in `crate::cli`) that return what they
//! produced or a typed [`AppError`] with its [`AppError::exit_code`]. The command line renders
//! both in one place (`crate::cli::main`).
//!
//! Exit codes: 0 every check passed; 1 a check failed or errored (or a report could not be
//! written); 2 invalid invocation or input (nothing ran); 130 interrupted by SIGINT, 143
//! terminated by SIGTERM (reports for what finished are still written).

pub mod demo;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::drift::{DriftError, ExpectChanges, Gate, Thresholds};
use crate::import::ImportError;
use crate::merge::MergeError;
use crate::path::PathMode;
use crate::plan::{self, Inputs, Plan};
use crate::probe::{ContextOptions, ProbeContext};
use crate::report::json::ReadError;
use crate::report::paths::ReportPathError;
use crate::report::{self, ReportError};
use crate::run::{self, RunOptions};
use crate::suite::LoadError;

/// Exit code: every check passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: at least one check failed or errored.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: invalid invocation or input; nothing ran.
pub const EXIT_INVALID: i32 = 2;
/// Exit code: interrupted by SIGINT (128 + 2, the shell convention).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code: terminated by SIGTERM (128 + 15), e.g. a CI job's cancellation or `kubectl delete`.
pub const EXIT_TERMINATED: i32 = 143;

/// Why a command could not do its work. Every variant's text is one or more lines for
/// standard error (starting `error:`, with a `= hint:` line where there is one).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A suite, library, vars file or argument is invalid (file:line:column and a hint).
    #[error("{0}")]
    Load(#[from] LoadError),
    /// A report path cannot be used (the same file as an input, a directory, not writable).
    #[error("{0}")]
    ReportPath(#[from] ReportPathError),
    /// The `--extra-ca` file cannot be read as PEM.
    #[error("error: cannot read {}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// The reader's error (I/O or malformed PEM).
        source: rustls::pki_types::pem::Error,
    },
    /// The input file of `netspec import` cannot be read.
    #[error("error: failed to read {}: {source}", path.display())]
    ImportRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `--extra-ca` holds no PEM certificate.
    #[error("error: {} holds no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// `--latency-ratio` is not a finite number ≥ 1.
    #[error("error: --latency-ratio {0} must be a number ≥ 1\n  = hint: e.g. --latency-ratio 2")]
    LatencyRatio(f64),
    /// The expected-change file is invalid.
    #[error("{0}")]
    Drift(#[from] DriftError),
    /// The `--baseline` results cannot be read.
    #[error("error: --baseline {0}")]
    Baseline(ReadError),
    /// An input of `netspec diff` cannot be read.
    #[error("error: {0}")]
    DiffInput(ReadError),
    /// An input of `netspec merge` cannot be read or does not fit the others.
    #[error("error: {0}")]
    Merge(#[from] MergeError),
    /// `netspec import` found a line it cannot turn into checks.
    #[error("error: {0}")]
    Import(#[from] ImportError),
    /// The suite written by `netspec import` cannot be written.
    #[error("error: failed to write {}: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The open-file limit cannot hold one check (the text says how to raise it).
    #[error("{0}")]
    OpenFiles(String),
    /// The async runtime could not start.
    #[error("error: failed to start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The demo's loopback lab could not start.
    #[error("error: failed to start the loopback lab: {0}")]
    Lab(crate::loopback::LabError),
    /// The run's task was cancelled by the runtime shutting down.
    #[error("error: the run was cancelled: {0}")]
    Cancelled(tokio::task::JoinError),
}

impl AppError {
    /// The process exit code: [`EXIT_INVALID`] for bad input (nothing ran), [`EXIT_FAILED`]
    /// for a failure of this machine (the runtime, the lab).
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Load(_)
            | AppError::ReportPath(_)
            | AppError::Pem { .. }
            | AppError::ImportRead { .. }
            | AppError::NoCertificate { .. }
            | AppError::LatencyRatio(_)
            | AppError::Drift(_)
            | AppError::Baseline(_)
            | AppError::DiffInput(_)
            | AppError::Merge(_)
            | AppError::Import(_)
            | AppError::Write { .. }
            | AppError::OpenFiles(_) => EXIT_INVALID,
            AppError::Runtime(_) | AppError::Lab(_) | AppError::Cancelled(_) => EXIT_FAILED,
        }
    }
}

/// How a command that judges checks (run, demo, merge, diff) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every check passed (diff: nothing changed but what was expected).
    Passed,
    /// A check failed or errored (diff: something changed).
    Failed,
    /// A signal stopped the run; the reports hold what finished. The exit code it stands for
    /// ([`EXIT_INTERRUPTED`], [`EXIT_TERMINATED`]).
    Stopped(i32),
}

/// What a run, demo, merge or diff produced: its status and the reports it could not write.
#[derive(Debug)]
pub struct Done {
    /// Passed, failed, or stopped by a signal.
    pub status: Status,
    /// Reports that could not be written (the others were).
    pub unwritten: Vec<ReportError>,
}

impl Done {
    /// 0 passed, 1 failed or a report missing, the signal's code when stopped (which wins).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Stopped(code) => code,
            Status::Failed => EXIT_FAILED,
            Status::Passed if self.unwritten.is_empty() => EXIT_OK,
            Status::Passed => EXIT_FAILED,
        }
    }
}

/// Which JSON Schema `netspec schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Suites (schemas/suite.schema.json).
    Suite,
    /// Library files of `include:`.
    Library,
    /// `run --json` (schemas/results.schema.json).
    Results,
    /// `merge --json` (schemas/merged.schema.json).
    Merged,
    /// `diff --json` (schemas/diff.schema.json).
    Diff,
}

/// The JSON Schema text of `which`.
pub fn schema(which: Schema) -> String {
    match which {
        Schema::Suite => crate::suite::schema_json(),
        Schema::Library => crate::suite::library_schema_json(),
        Schema::Results => report::json::schema_json(),
        Schema::Merged => crate::merge::schema_json(),
        Schema::Diff => crate::drift::schema_json(),
    }
}

/// Loads, templates and plans suites without secrets: an unset `{{ env.NAME }}` is listed in
/// the plan's `missing_env` (an error with `strict`).
///
/// Errors: [`AppError::Load`], every problem found.
pub fn validate(paths: &[PathBuf], mut inputs: Inputs, strict: bool) -> Result<Plan, AppError> {
    inputs.tolerate_missing_env = !strict;
    // Validation only counts: each check is dropped once built and checked.
    Ok(plan::load_and_plan(paths, &inputs, plan::Keep::Count)?)
}

/// Loads and plans suites (`netspec plan`, and the first step of `run`).
///
/// Errors: [`AppError::Load`], every problem found.
pub fn plan(paths: &[PathBuf], inputs: &Inputs) -> Result<Plan, AppError> {
    Ok(plan::load_and_plan(paths, inputs, plan::Keep::All)?)
}

/// How drift is judged (`run --baseline`, `demo --baseline`, `diff`).
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Latency changed only when the slower run took more than this many times the faster…
    pub latency_ratio: f64,
    /// …and at least this much longer.
    pub latency_min: Duration,
    /// The expected-change file (check-id glob → facts allowed to change; docs/drift.md).
    pub expect_change: Option<PathBuf>,
}

impl DriftOptions {
    /// The thresholds and the parsed expected-change file.
    ///
    /// Errors: [`AppError::LatencyRatio`], or [`AppError::Drift`] with the file's located error.
    pub fn load(&self) -> Result<(Thresholds, Option<ExpectChanges>), AppError> {
        if !(self.latency_ratio.is_finite() && self.latency_ratio >= 1.0) {
            return Err(AppError::LatencyRatio(self.latency_ratio));
        }
        let expect = self.expect_change.as_deref().map(ExpectChanges::load).transpose()?;
        Ok((Thresholds::new(self.latency_ratio, self.latency_min), expect))
    }
}

/// The drift gate of `run --baseline` (none without a baseline).
///
/// Errors: the baseline cannot be read ([`AppError::Baseline`]), or the drift options are
/// invalid.
pub fn baseline_gate(
    baseline: Option<&Path>,
    drift: &DriftOptions,
    fail_on_drift: bool,
    vantage: &str,
    plan: &Plan,
) -> Result<Option<Arc<Gate>>, AppError> {
    let Some(path) = baseline else { return Ok(None) };
    let (thresholds, expect) = drift.load()?;
    let doc = crate::drift::read_doc(path).map_err(AppError::Baseline)?;
    Ok(Some(Arc::new(Gate::new(doc, vantage, thresholds, expect, fail_on_drift, plan.secrets.clone()))))
}

/// `netspec run`'s request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Suite files and directories.
    pub paths: Vec<PathBuf>,
    /// Variables, matrix, selections.
    pub inputs: Inputs,
    /// Report files and CI annotations.
    pub outputs: report::Outputs,
    /// Print passing checks too.
    pub verbose: bool,
    /// Checks in flight (`-j`).
    pub concurrency: usize,
    /// Checks that may wait on the network beyond `concurrency`.
    pub max_waiting: usize,
    /// Stop at the first failed or errored check.
    pub fail_fast: bool,
    /// Re-run failing checks until they pass or this much time has passed.
    pub retry_timeout: Option<Duration>,
    /// When to trace the path of a connection.
    pub path: PathMode,
    /// Vantage name (default: host name).
    pub vantage: Option<String>,
    /// PEM file of extra trust anchors.
    pub extra_ca: Option<PathBuf>,
    /// Earlier results to compare with.
    pub baseline: Option<PathBuf>,
    /// Fail checks on unexpected drift.
    pub fail_on_drift: bool,
    /// Drift thresholds and expected changes.
    pub drift: DriftOptions,
}

/// `netspec run`: plans, checks report paths and inputs, runs on a multi-threaded runtime with
/// Ctrl-C handling, prints the summary and writes the reports.
///
/// Errors: invalid input, before anything ran ([`AppError::exit_code`] 2), or a runtime that
/// cannot start.
pub fn run(req: RunRequest) -> Result<Done, AppError> {
    // A large plan is not held: it streams into the run (memory flat in the number of checks).
    let keep = plan::keep_for_run(&req.paths, &req.inputs);
    if keep != plan::Keep::All && plan::may_stream(&req.paths) {
        crate::util::memory_first();
    }
    let plan = plan::load_and_plan(&req.paths, &req.inputs, keep)?;
    if plan.streams() {
        crate::util::memory_first();
    }
    let mut inputs = plan.inputs.clone();
    inputs.extend(req.extra_ca.clone());
    req.outputs.check_writable(&inputs)?;
    let mut extra = Vec::new();
    if let Some(ca) = &req.extra_ca {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca).map_err(|source| AppError::Pem { path: ca.clone(), source })?;
        extra.extend(certs.filter_map(Result::ok));
        if extra.is_empty() {
            return Err(AppError::NoCertificate { path: ca.clone() });
        }
    }
    // Before the runtime, whose signal handling cannot start without descriptors.
    run::limits::fit_open_files(1).map_err(AppError::OpenFiles)?;
    let rt = runtime()?;
    let opts = ContextOptions { extra_roots: extra, ..Default::default() };
    let name = report_name(&plan);
    let vantage = req.vantage.filter(|v| !v.trim().is_empty()).unwrap_or_else(default_vantage);
    let drift = baseline_gate(req.baseline.as_deref(), &req.drift, req.fail_on_drift, &vantage, &plan)?;
    let run = execute(
        plan,
        opts,
        RunOptions {
            concurrency: req.concurrency,
            max_waiting: req.max_waiting,
            fail_fast: req.fail_fast,
            retry_timeout: req.retry_timeout,
            review: None,
            paths: (req.path != PathMode::Off).then(|| Arc::new(crate::path::Traces::new(req.path))),
        },
        Reports { outputs: req.outputs, verbose: req.verbose, name, vantage, drift },
    );
    rt.block_on(on_worker(run))?
}

/// A multi-threaded runtime with I/O and timers.
///
/// Errors: [`AppError::Runtime`].
pub fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(AppError::Runtime)
}

/// Runs `fut` as a task on the runtime's workers rather than on the thread that blocks on it:
/// the scheduling loop then spawns checks and collects their results on the workers
/// themselves, instead of waking a worker thread for every check and being woken back
/// (thousands of context switches in a run of thousands of short checks; W-tcp 1,700 → 340
/// voluntary switches). A panic in `fut` is resumed here.
///
/// Errors: [`AppError::Cancelled`] when the runtime shuts down first (it outlives this call).
pub async fn on_worker<T: Send + 'static>(fut: impl std::future::Future<Output = T> + Send + 'static) -> Result<T, AppError> {
    match tokio::spawn(fut).await {
        Ok(v) => Ok(v),
        Err(e) => match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => Err(AppError::Cancelled(e)),
        },
    }
}

/// The `<testsuites name>`: the suite's name, or `netspec` for several suites.
pub fn report_name(plan: &Plan) -> String {
    match plan.suites.as_slice() {
        [one] => one.clone(),
        _ => "netspec".into(),
    }
}

/// Where to write reports.
#[derive(Debug, Default)]
pub struct Reports {
    /// Report files and CI annotations.
    pub outputs: report::Outputs,
    /// Print passing checks too.
    pub verbose: bool,
    /// Report name.
    pub name: String,
    /// Vantage point recorded in reports.
    pub vantage: String,
    /// The drift gate of `--baseline`: reviews every finished check, and its comparison goes
    /// into the reports.
    pub drift: Option<Arc<Gate>>,
}

/// The default vantage name: this host's name.
pub fn default_vantage() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Waits for SIGINT or SIGTERM and returns the exit code it stands for (`None` when signals
/// cannot be received).
async fn stop_signal(term: &mut Option<tokio::signal::unix::Signal>) -> Option<i32> {
    match term {
        Some(t) => tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|_| EXIT_INTERRUPTED),
            s = t.recv() => s.map(|_| EXIT_TERMINATED),
        },
        None => tokio::signal::ctrl_c().await.ok().map(|_| EXIT_INTERRUPTED),
    }
}

/// A message on standard error (a notice, a warning, an error): neutralised (CI commands,
/// control characters) like every text that may quote a suite, a file or the network.
pub fn notice(text: &str) {
    eprintln!("{}", report::sanitize::neutralise(text));
}

/// Runs a plan with Ctrl-C handling, prints the summary, writes reports. The concurrency is
/// first fitted into the open-file limit ([`run::limits`]): lowered with a one-line notice, or
/// [`AppError::OpenFiles`] when not even one check fits; waiting checks get the rest.
///
/// Errors: [`AppError::OpenFiles`] (nothing ran); [`AppError::Load`] when a plan that streams
/// into the run could not be made again as it was validated (a file changed meanwhile): the
/// checks ran, but no report is written (exit code 2).
pub async fn execute(mut plan: Plan, ctx_opts: ContextOptions, mut opts: RunOptions, reports: Reports) -> Result<Done, AppError> {
    let (n, note) = run::limits::fit_open_files(opts.concurrency).map_err(AppError::OpenFiles)?;
    opts.concurrency = n;
    if let Some(note) = note {
        notice(&note);
    }
    // Waiting checks hold sockets too, and so do checks whose names have many addresses: they
    // share what the limit leaves after the working checks.
    let budget = run::limits::budget(run::limits::available_descriptors(), opts.concurrency, opts.max_waiting);
    opts.max_waiting = budget.max_waiting;
    let started = std::time::Instant::now();
    let started_at = std::time::SystemTime::now();
    let ctx = ProbeContext::new(ctx_opts);
    let ctx = Arc::new(match budget.fanout {
        Some(n) => ctx.with_fanout_budget(n),
        None => ctx,
    });
    let cancel = CancellationToken::new();
    // The exit code of the signal that stopped the run (0: none). SIGINT and SIGTERM both cancel
    // the run and still write the reports for the checks that finished; a second one aborts.
    let stopped_by = Arc::new(std::sync::atomic::AtomicI32::new(0));
    {
        let cancel = cancel.clone();
        let stopped_by = stopped_by.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            if let Some(code) = stop_signal(&mut term).await {
                stopped_by.store(code, Ordering::SeqCst);
                notice("\ninterrupted: finishing reports for the checks that completed (signal again to abort)");
                cancel.cancel();
                if let Some(code) = stop_signal(&mut term).await {
                    // Destructors do not run on exit: remove the reports' temporary files here.
                    crate::util::remove_temp_files();
                    std::process::exit(code);
                }
            }
        });
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let secrets = plan.secrets.clone();
    let vars = plan.vars.clone();
    let gate = reports.drift.clone();
    if let Some(g) = &gate {
        opts.review = Some(g.clone());
    }
    let console = tokio::spawn(report::console::live(rx, secrets.clone(), reports.verbose));
    // What the reports need of each check is rendered as it finishes and spooled to a
    // temporary file: memory does not grow with the results.
    let mut spool = report::new_spool(reports.outputs.needs(), secrets.clone(), reports.vantage.clone());
    let paths = opts.paths.clone();
    let total = plan.len();
    let checks = plan.take_checks();
    let ran = run::run_each(checks, total, ctx, opts, cancel, tx, |r| spool.add(&r)).await;
    if let Err(e) = ran {
        let _ = console.await;
        return Err(e.into());
    }
    spool.seal();
    if let Some(e) = spool.file_error() {
        notice(&format!(
            "note: the results were kept in memory, not in a temporary file ({e}); set TMPDIR to a writable directory for large runs"
        ));
    }
    let _ = console.await;
    let wall = started.elapsed();
    report::console::print_summary(&spool, wall);
    // Once per run: the path traces' method when it is not the full one.
    if let Some(note) = paths.as_deref().and_then(crate::path::Traces::notice) {
        notice(&format!("note: {note}"));
    }
    if let Some(note) = paths.as_deref().and_then(crate::path::Traces::capped) {
        notice(&format!("note: {note}"));
    }
    let mut status = if spool.all_passed() { Status::Passed } else { Status::Failed };
    let drift = gate.map(|g| {
        let file = reports.outputs.json.as_ref().map_or_else(|| "(this run)".to_owned(), |p| p.display().to_string());
        let started = humantime::format_rfc3339_millis(started_at).to_string();
        g.report(crate::drift::DocInfo { file, name: reports.name.clone(), vantages: vec![reports.vantage.clone()], started })
    });
    if let Some(d) = &drift {
        crate::util::out(&format!("\n{}", report::sanitize::neutralise(&d.console())));
    }
    let meta = report::RunMeta { name: reports.name, vantage: reports.vantage, started: started_at, duration: wall, vars, drift };
    let unwritten = reports.outputs.write(&spool, &meta, &secrets);
    if let code @ 1.. = stopped_by.load(Ordering::SeqCst) {
        status = Status::Stopped(code);
    }
    Ok(Done { status, unwritten })
}

/// `netspec diff`'s request.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// Results before the change.
    pub before: PathBuf,
    /// Results after the change.
    pub after: PathBuf,
    /// Thresholds and expected changes.
    pub drift: DriftOptions,
    /// Report files (JSON, HTML, JUnit; no Prometheus, no annotations).
    pub outputs: report::Outputs,
}

/// `netspec diff`: prints what changed between two results documents and writes the reports.
/// Passed: nothing changed but what `--expect-change` allows; failed: something did.
///
/// Errors: an unreadable input or expected-change file, an unusable report path (exit 2).
pub fn diff(req: DiffRequest) -> Result<Done, AppError> {
    req.outputs.check_writable(&[req.before.clone(), req.after.clone()])?;
    let (thresholds, expect) = req.drift.load()?;
    let before = crate::drift::read_doc(&req.before).map_err(AppError::DiffInput)?;
    let after = crate::drift::read_doc(&req.after).map_err(AppError::DiffInput)?;
    let diff = crate::drift::diff(&before, &after, &thresholds, expect.as_ref());
    crate::util::out(&report::sanitize::neutralise(&diff.console()));
    let status = if diff.changed() { Status::Failed } else { Status::Passed };
    let o = &req.outputs;
    let written = [
        o.json.as_deref().map(|p| crate::drift::write_json(p, &diff)),
        o.html.as_deref().map(|p| crate::drift::write_html(p, &diff)),
        o.junit.as_deref().map(|p| crate::drift::write_junit(p, &diff)),
    ];
    Ok(Done { status, unwritten: written.into_iter().flatten().filter_map(Result::err).collect() })
}

/// `netspec merge`'s request.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// JSON results, one per vantage point (a directory stands for its *.json files).
    pub inputs: Vec<PathBuf>,
    /// Report files and CI annotations (no Prometheus).
    pub outputs: report::Outputs,
}

/// `netspec merge`: prints the check × vantage matrix and writes the reports. Passed: every
/// check passed at every vantage point.
///
/// Errors: an input is unreadable or invalid (the error names the file), or a report path is
/// unusable (exit 2).
pub fn merge(req: MergeRequest) -> Result<Done, AppError> {
    let o = &req.outputs;
    o.check_writable(&crate::merge::input_files(&req.inputs))?;
    let merged = crate::merge::merge(crate::merge::read_all(&req.inputs)?);
    crate::util::out(&report::sanitize::neutralise(&merged.console()));
    let status = if merged.all_passed() { Status::Passed } else { Status::Failed };
    let mut results = Vec::new();
    if let Some(p) = &o.junit {
        results.push(report::junit::write_merged(p, &merged));
    }
    if let Some(p) = &o.json {
        results.push(crate::merge::write_json(p, &merged));
    }
    if let Some(p) = &o.html {
        results.push(report::html::write_merged(p, &merged));
    }
    if o.github {
        results.push(report::github::emit(&format!("{} across {} vantage points", merged.name, merged.vantages.len()), &merged.pairs()));
    }
    if o.azure {
        report::azure::emit(&merged.pairs());
    }
    Ok(Done { status, unwritten: results.into_iter().filter_map(Result::err).collect() })
}

/// What `netspec import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    /// A hosts-format DNS-settings file (Azure Migrate's "Download DNS settings").
    Hosts,
    /// A firewall-request CSV: source, destination, port, protocol, expected.
    Flows,
}

/// `netspec import`: a suite from `file`, printed or written atomically to `output`.
///
/// Errors: the file cannot be read, a line cannot become checks (file:line), or the output
/// cannot be written (exit 2).
pub fn import(source: ImportSource, file: &Path, name: Option<String>, output: Option<&Path>) -> Result<(), AppError> {
    let text = std::fs::read_to_string(file).map_err(|source| AppError::ImportRead { path: file.to_owned(), source })?;
    let what = match source {
        ImportSource::Hosts => "hosts",
        ImportSource::Flows => "flows",
    };
    let name = name.unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| what.into()));
    let shown = file.display().to_string();
    let yaml = match source {
        ImportSource::Hosts => crate::import::hosts(&text, &shown, &name)?,
        ImportSource::Flows => crate::import::flows(&text, &shown, &name)?,
    };
    match output {
        None => {
            crate::util::out(&yaml);
            Ok(())
        }
        Some(p) => crate::util::write_atomic(p, yaml.as_bytes()).map_err(|source| AppError::Write { path: p.to_owned(), source }),
    }
}
