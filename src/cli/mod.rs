//! The command line: the only place that knows clap. Parses arguments, turns them into plan
//! inputs and run options, runs, and maps the outcome to an exit code:
//! 0 every check passed; 1 a check failed or errored; 2 invalid invocation or suite (nothing
//! ran); 130 interrupted by SIGINT, 143 terminated by SIGTERM (reports for what finished are
//! still written).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::plan::{self, Inputs, Plan};
use crate::probe::{ContextOptions, ProbeContext};
use crate::report;
use crate::run::{self, RunOptions};
use crate::suite::LoadError;

/// Exit code: every check passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: at least one check failed or errored.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: invalid invocation or suite; nothing ran.
pub const EXIT_INVALID: i32 = 2;
/// Exit code: interrupted by SIGINT (128 + 2, the shell convention).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code: terminated by SIGTERM (128 + 15), e.g. a CI job's cancellation or `kubectl delete`.
pub const EXIT_TERMINATED: i32 = 143;

/// Prove that a network behaves as intended.
#[derive(Debug, Parser)]
#[command(name = "netspec", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites and report.
    Run(RunArgs),
    /// Parse, template and check suites; no network.
    Validate(PlanArgs),
    /// Print the expanded checks; no network.
    Plan(PlanCmd),
    /// Print the JSON Schema of the suite format (or, with --library, of an included library).
    Schema(SchemaArgs),
    /// Run the shipped suites against an embedded loopback lab (no network, no root).
    Demo(DemoArgs),
    /// Combine JSON results from several vantage points into one check × vantage report.
    Merge(MergeArgs),
    /// Write a suite from a file network teams already have.
    #[command(subcommand)]
    Import(ImportCmd),
}

/// Inputs shared by run, validate and plan.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Suite files or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Set a variable (highest precedence); repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", help_heading = "Variables")]
    pub vars: Vec<String>,
    /// Read variables from a YAML mapping; repeatable, later files win.
    #[arg(long = "vars-file", value_name = "FILE", help_heading = "Variables")]
    pub vars_files: Vec<PathBuf>,
    /// Replace a matrix axis: `region=eastus,westus2`; repeatable.
    #[arg(long = "matrix", value_name = "NAME=V1,V2", help_heading = "Variables")]
    pub matrix: Vec<String>,
    /// Keep only checks with this tag (scenario tags count); repeatable.
    #[arg(long = "tag", value_name = "TAG", help_heading = "Selection")]
    pub tags: Vec<String>,
    /// Keep only scenario instances whose name matches this glob; repeatable.
    #[arg(long = "scenario", value_name = "GLOB", help_heading = "Selection")]
    pub scenarios: Vec<String>,
    /// Keep only checks whose name or id (`suite/scenario/check`) matches this glob; repeatable.
    #[arg(long = "check", value_name = "GLOB", help_heading = "Selection")]
    pub checks: Vec<String>,
    /// Deadline of every attempt, overriding the suites' (e.g. 2s, 500ms).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Execution")]
    pub timeout: Option<Duration>,
}

/// `netspec plan`.
#[derive(Debug, clap::Args)]
pub struct PlanCmd {
    #[command(flatten)]
    /// Inputs.
    pub plan: PlanArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// JSON array of checks.
    Json,
}

/// `netspec run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    /// Inputs.
    pub plan: PlanArgs,
    #[command(flatten)]
    /// Report files and CI annotations.
    pub reports: ReportArgs,
    /// Print every check, not only failures.
    #[arg(short, long, help_heading = "Reports")]
    pub verbose: bool,
    /// Checks in flight (network-bound, so well above the core count).
    #[arg(short = 'j', long, value_name = "N", default_value_t = run::DEFAULT_CONCURRENCY, env = "NETSPEC_CONCURRENCY", help_heading = "Execution")]
    pub concurrency: usize,
    /// Checks that may wait on the network beyond `-j` (a check still running after 50 ms gives
    /// its slot to the next one): a thousand dropped endpoints cost about one timeout. 0 = off.
    #[arg(long, value_name = "N", default_value_t = run::DEFAULT_MAX_WAITING, env = "NETSPEC_MAX_WAITING", help_heading = "Execution")]
    pub max_waiting: usize,
    /// Stop at the first failed or errored check.
    #[arg(long, help_heading = "Execution")]
    pub fail_fast: bool,
    /// Re-run failing checks until they pass or this much time has passed (post-deployment gates,
    /// DNS propagation); every attempt is kept and a late pass is reported as flaky.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Execution")]
    pub retry_timeout: Option<Duration>,
    /// Name of this vantage point, recorded in reports (default: host name).
    #[arg(long, value_name = "NAME", env = "NETSPEC_VANTAGE", help_heading = "Reports")]
    pub vantage: Option<String>,
    /// Exit 0 even when checks fail or error (reports still say so); for collectors that decide
    /// later, e.g. `netspec merge`. Invalid input (2) and Ctrl-C (130) keep their codes.
    #[arg(long, help_heading = "Execution")]
    pub exit_zero: bool,
    /// PEM file of extra trust anchors added to the system store (e.g. a corporate CA).
    #[arg(long, value_name = "FILE", help_heading = "Execution")]
    pub extra_ca: Option<PathBuf>,
}

/// Report files and CI annotations of `run` and `demo`; any combination, all from the same
/// results. Files are written atomically and checked writable before the run.
#[derive(Debug, Default, clap::Args)]
pub struct ReportArgs {
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Write the JSON results (schema: schemas/results.schema.json; input of `netspec merge`).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page: scenario × check matrix, filter, failure details.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// Write Prometheus metrics for node_exporter's textfile collector (name it *.prom).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub prometheus: Option<PathBuf>,
    #[command(flatten)]
    /// CI annotations.
    pub ci: CiArgs,
}

/// CI annotations, shared by `run`, `demo` and `merge`.
#[derive(Debug, Default, clap::Args)]
pub struct CiArgs {
    /// GitHub Actions annotations for failures, and a Markdown summary appended to
    /// $GITHUB_STEP_SUMMARY (on by default when GITHUB_ACTIONS=true).
    #[arg(long, help_heading = "Reports")]
    pub github: bool,
    /// Azure Pipelines `##vso[task.logissue]` lines for failures (on by default when TF_BUILD=True).
    #[arg(long = "azure-pipelines", help_heading = "Reports")]
    pub azure_pipelines: bool,
    /// Do not turn on CI annotations from the environment (explicit --github/--azure-pipelines still apply).
    #[arg(long, help_heading = "Reports")]
    pub no_ci_annotations: bool,
}

impl ReportArgs {
    /// The reports to produce, CI annotations resolved against the environment.
    pub fn outputs(&self) -> report::Outputs {
        let (github, azure) = report::ci_annotations(self.ci.github, self.ci.azure_pipelines, self.ci.no_ci_annotations);
        report::Outputs {
            junit: self.junit.clone(),
            json: self.json.clone(),
            html: self.html.clone(),
            prometheus: self.prometheus.clone(),
            github,
            azure,
        }
    }
}

/// `netspec merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// JSON results of `netspec run --json`, one per vantage point (each with its own --vantage);
    /// a directory stands for its *.json files.
    #[arg(required = true, value_name = "RESULT.json")]
    pub inputs: Vec<PathBuf>,
    /// Write a JUnit XML report: one testsuite per vantage point and scenario.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Write the merged JSON (schema: schemas/merged.schema.json).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page: check × vantage matrix and the differences side by side.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    /// CI annotations.
    pub ci: CiArgs,
}

/// `netspec schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The schema of library files (`include:`) instead of suites.
    #[arg(long)]
    pub library: bool,
    /// The schema of the JSON results of `run --json` (schemas/results.schema.json).
    #[arg(long, conflicts_with_all = ["library", "merged"])]
    pub results: bool,
    /// The schema of the JSON of `merge --json` (schemas/merged.schema.json).
    #[arg(long, conflicts_with_all = ["library", "results"])]
    pub merged: bool,
}

/// `netspec import` sources.
#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// A hosts-format DNS-settings file (Azure Migrate's "Download DNS settings").
    Hosts(ImportArgs),
    /// A firewall-request CSV: source, destination, port, protocol, expected (open|blocked).
    Flows(ImportArgs),
}

/// Arguments of an import.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The input file.
    pub file: PathBuf,
    /// Suite name (default: the file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the suite here (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn import_cmd(cmd: ImportCmd) -> i32 {
    let (args, what) = match &cmd {
        ImportCmd::Hosts(a) => (a, "hosts"),
        ImportCmd::Flows(a) => (a, "flows"),
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: failed to read {}: {e}", args.file.display());
            return EXIT_INVALID;
        }
    };
    let name =
        args.name.clone().unwrap_or_else(|| args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| what.into()));
    let file = args.file.display().to_string();
    let result = match what {
        "hosts" => crate::import::hosts(&text, &file, &name),
        _ => crate::import::flows(&text, &file, &name),
    };
    let yaml = match result {
        Ok(y) => y,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    match &args.output {
        None => {
            crate::util::out(&yaml);
            EXIT_OK
        }
        Some(p) => match crate::util::write_atomic(p, yaml.as_bytes()) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: failed to write {}: {e}", p.display());
                EXIT_INVALID
            }
        },
    }
}

/// `netspec demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    /// Report files and CI annotations of the demo run.
    pub reports: ReportArgs,
    /// Print every check, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e} (write e.g. 500ms, 2s)"))
}

fn split_kv(s: &str, what: &str) -> Result<(String, String), LoadError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(LoadError::input(format!("invalid {what} `{s}`"), Some("write NAME=VALUE"))),
    }
}

impl PlanArgs {
    /// Plan inputs from the arguments and the `NETSPEC_VAR_*` environment.
    ///
    /// Errors: a malformed `--var` or `--matrix`.
    pub fn inputs(&self) -> Result<Inputs, LoadError> {
        let mut i = Inputs {
            vars_files: self.vars_files.clone(),
            timeout: self.timeout,
            tags: self.tags.clone(),
            scenarios: self.scenarios.clone(),
            checks: self.checks.clone(),
            ..Default::default()
        };
        i.env_from_process();
        for v in &self.vars {
            i.vars.push(split_kv(v, "--var")?);
        }
        for m in &self.matrix {
            let (k, v) = split_kv(m, "--matrix")?;
            let values: Vec<String> = v.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect();
            if values.is_empty() {
                return Err(LoadError::input(format!("--matrix {k} has no values"), Some("write NAME=V1,V2")));
            }
            i.matrix.push((k, values));
        }
        Ok(i)
    }

    /// Loads and plans the suites.
    ///
    /// Errors: every problem found.
    pub fn plan(&self) -> Result<Plan, LoadError> {
        let inputs = self.inputs()?;
        plan::load_and_plan(&self.paths, &inputs)
    }
}

/// Parses the process arguments and runs; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_INVALID } else { EXIT_OK };
        }
    };
    match cli.command {
        Command::Schema(a) => {
            let schema = if a.results {
                report::json::schema_json()
            } else if a.merged {
                crate::merge::schema_json()
            } else if a.library {
                crate::suite::library_schema_json()
            } else {
                crate::suite::schema_json()
            };
            crate::util::out(&format!("{schema}\n"));
            EXIT_OK
        }
        Command::Validate(a) => match a.plan() {
            Ok(p) => {
                crate::util::out(&format!("ok: {} suite(s), {} checks\n", p.suites.len(), p.checks.len()));
                // The process ends here: freeing every planned check would only delay the exit.
                std::mem::forget(p);
                EXIT_OK
            }
            Err(e) => invalid(&e),
        },
        Command::Plan(a) => match a.plan.plan() {
            Ok(p) => {
                print_plan(&p, a.format);
                EXIT_OK
            }
            Err(e) => invalid(&e),
        },
        Command::Run(a) => run_cmd(a),
        Command::Demo(a) => crate::demo::main(a),
        Command::Merge(a) => merge_cmd(a),
        Command::Import(c) => import_cmd(c),
    }
}

fn invalid(e: &LoadError) -> i32 {
    // Error messages quote the suite: neutralised like every suite- or network-derived text.
    eprintln!("{}", report::sanitize::neutralise(&e.to_string()));
    EXIT_INVALID
}

fn print_plan(p: &Plan, format: Format) {
    let rows: Vec<_> = p.checks.iter().map(|c| c.row()).collect();
    let text = match format {
        Format::Json => format!("{}\n", report::sanitize::neutralise_json(&serde_json::to_string_pretty(&rows).unwrap_or_default())),
        Format::Table => {
            use std::fmt::Write as _;
            let w = rows.iter().map(|r| r.id.len()).max().unwrap_or(2);
            let mut t = String::new();
            for r in &rows {
                let via = r.proxy.as_ref().map(|p| format!(" via {p}")).unwrap_or_default();
                let _ = writeln!(t, "{:w$}  {:4}  {:10}  {:>6} ms  {}{via}", r.id, r.kind.to_string(), r.resolver, r.timeout_ms, r.target);
                let _ = writeln!(t, "{:w$}  expect: {}", "", r.expect.join("; "));
            }
            let _ = writeln!(t, "{} checks", rows.len());
            report::sanitize::neutralise(&t).into_owned()
        }
    };
    crate::util::out(&text);
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn run_cmd(a: RunArgs) -> i32 {
    let plan = match a.plan.plan() {
        Ok(p) => p,
        Err(e) => return invalid(&e),
    };
    let outputs = a.reports.outputs();
    let mut inputs = plan.inputs.clone();
    inputs.extend(a.extra_ca.clone());
    if let Err(e) = outputs.check_writable(&inputs) {
        eprintln!("{e}");
        return EXIT_INVALID;
    }
    let mut extra = Vec::new();
    if let Some(ca) = &a.extra_ca {
        use rustls::pki_types::pem::PemObject;
        match rustls::pki_types::CertificateDer::pem_file_iter(ca) {
            Ok(it) => extra.extend(it.filter_map(Result::ok)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", ca.display());
                return EXIT_INVALID;
            }
        }
        if extra.is_empty() {
            eprintln!("error: {} holds no PEM certificate", ca.display());
            return EXIT_INVALID;
        }
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let opts = ContextOptions { extra_roots: extra, ..Default::default() };
    let name = report_name(&plan);
    let vantage = a.vantage.filter(|v| !v.trim().is_empty()).unwrap_or_else(default_vantage);
    let run = execute(
        plan,
        opts,
        RunOptions { concurrency: a.concurrency, max_waiting: a.max_waiting, fail_fast: a.fail_fast, retry_timeout: a.retry_timeout },
        Reports { outputs, verbose: a.verbose, name, vantage },
    );
    let code = rt.block_on(on_worker(run));
    if a.exit_zero && code == EXIT_FAILED { EXIT_OK } else { code }
}

/// Runs `fut` as a task on the runtime's workers rather than on the thread that blocks on it:
/// the scheduling loop then spawns checks and collects their results on the workers
/// themselves, instead of waking a worker thread for every check and being woken back
/// (thousands of context switches in a run of thousands of short checks; W-tcp 1,700 → 340
/// voluntary switches). Returns `fut`'s exit code; a panic in `fut` is resumed here.
pub async fn on_worker(fut: impl std::future::Future<Output = i32> + Send + 'static) -> i32 {
    match tokio::spawn(fut).await {
        Ok(code) => code,
        Err(e) => match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => {
                // Only a runtime shutting down cancels it, and the runtime outlives this call.
                eprintln!("error: the run was cancelled: {e}");
                EXIT_FAILED
            }
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

/// Runs a plan with Ctrl-C handling, prints the summary, writes reports; returns the exit code.
/// The concurrency is first fitted into the open-file limit ([`run::limits`]): lowered with a
/// one-line note, or exit 2 when not even one check fits; waiting checks get the rest.
pub async fn execute(plan: Plan, ctx_opts: ContextOptions, mut opts: RunOptions, reports: Reports) -> i32 {
    match run::limits::fit_open_files(opts.concurrency) {
        Ok((n, note)) => {
            opts.concurrency = n;
            if let Some(note) = note {
                eprintln!("{note}");
            }
        }
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INVALID;
        }
    }
    // Waiting checks hold sockets too: they get what the limit leaves after the working ones.
    opts.max_waiting = opts.max_waiting.min(run::limits::checks_that_fit().saturating_sub(opts.concurrency));
    let started = std::time::Instant::now();
    let started_at = std::time::SystemTime::now();
    let ctx = Arc::new(ProbeContext::new(ctx_opts));
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
                eprintln!("\ninterrupted: finishing reports for the checks that completed (signal again to abort)");
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
    let console = tokio::spawn(report::console::live(rx, secrets.clone(), reports.verbose));
    // What the reports need of each check is rendered as it finishes and spooled to a
    // temporary file: memory does not grow with the results.
    let mut spool = report::spool::Spool::new(reports.outputs.needs(), secrets.clone(), reports.vantage.clone());
    let plan = Arc::new(plan);
    run::run_each(&plan, ctx, opts, cancel, tx, |r| spool.add(&r)).await;
    // Freed before the summary and the reports, which then reuse its memory.
    drop(plan);
    spool.seal();
    if let Some(e) = spool.file_error() {
        eprintln!(
            "note: the results were kept in memory, not in a temporary file ({e}); set TMPDIR to a writable directory for large runs"
        );
    }
    let _ = console.await;
    let wall = started.elapsed();
    report::console::print_summary(&spool, wall);
    let mut code = if spool.all_passed() { EXIT_OK } else { EXIT_FAILED };
    let meta = report::RunMeta { name: reports.name, vantage: reports.vantage, started: started_at, duration: wall, vars };
    for e in reports.outputs.write(&spool, &meta, &secrets) {
        eprintln!("error: {e}");
        code = EXIT_FAILED;
    }
    match stopped_by.load(Ordering::SeqCst) {
        0 => code,
        signal_code => signal_code,
    }
}

/// `netspec merge`: 0 every check passed at every vantage point; 1 one did not; 2 an input
/// is unreadable or invalid (the error names the file) or a report path is unwritable.
fn merge_cmd(a: MergeArgs) -> i32 {
    let (github, azure) = report::ci_annotations(a.ci.github, a.ci.azure_pipelines, a.ci.no_ci_annotations);
    let outputs = report::Outputs { junit: a.junit.clone(), json: a.json.clone(), html: a.html.clone(), ..Default::default() };
    if let Err(e) = outputs.check_writable(&crate::merge::input_files(&a.inputs)) {
        eprintln!("{e}");
        return EXIT_INVALID;
    }
    let inputs = match crate::merge::read_all(&a.inputs) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let merged = crate::merge::merge(inputs);
    crate::util::out(&report::sanitize::neutralise(&merged.console()));
    let mut code = if merged.all_passed() { EXIT_OK } else { EXIT_FAILED };
    let mut results = Vec::new();
    if let Some(p) = &a.junit {
        results.push(report::junit::write_merged(p, &merged));
    }
    if let Some(p) = &a.json {
        results.push(crate::merge::write_json(p, &merged));
    }
    if let Some(p) = &a.html {
        results.push(report::html::write_merged(p, &merged));
    }
    if github {
        results.push(report::github::emit(&format!("{} across {} vantage points", merged.name, merged.vantages.len()), &merged.pairs()));
    }
    if azure {
        report::azure::emit(&merged.pairs());
    }
    for e in results.into_iter().filter_map(Result::err) {
        eprintln!("error: {e}");
        code = EXIT_FAILED;
    }
    code
}
