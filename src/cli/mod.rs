//! The command line: the only place that knows clap. Parses arguments into the requests of
//! [`crate::app`], calls the command, and renders what it returns — its output, or its typed
//! error — in one place ([`main`]), with the exit code the outcome stands for:
//! 0 every check passed; 1 a check failed or errored; 2 invalid invocation or suite (nothing
//! ran); 130 interrupted by SIGINT, 143 terminated by SIGTERM (reports for what finished are
//! still written).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{self, AppError, Done};
pub use crate::app::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_TERMINATED};
use crate::plan::{Inputs, Plan};
use crate::report;
use crate::run;
use crate::suite::LoadError;

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
    Run(Box<RunArgs>),
    /// Parse, template and check suites; no network. Run-time secrets are not needed: an unset
    /// `{{ env.NAME }}` is a warning (an error with --strict, and always when running).
    Validate(ValidateArgs),
    /// Print the expanded checks; no network.
    Plan(PlanCmd),
    /// Print the JSON Schema of the suite format (or, with --library, of an included library).
    Schema(SchemaArgs),
    /// Run the shipped suites against an embedded loopback lab (no network, no root).
    Demo(DemoArgs),
    /// Combine JSON results from several vantage points into one check × vantage report.
    Merge(MergeArgs),
    /// What changed between two runs (pre-check and post-check of a change window), fact by
    /// fact. Exit 0: nothing changed (but what --expect-change allows); 1: something did; 2: bad input.
    Diff(DiffArgs),
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
    /// Replace a matrix axis: `region=eastus,westus2`; repeatable. An axis no suite has is an
    /// error (exit 2).
    #[arg(long = "matrix", value_name = "NAME=V1,V2", help_heading = "Variables")]
    pub matrix: Vec<String>,
    /// Keep only checks with this tag (scenario tags count); repeatable. A tag no check has is an
    /// error (exit 2), as is a selection that leaves no check.
    #[arg(long = "tag", value_name = "TAG", help_heading = "Selection")]
    pub tags: Vec<String>,
    /// Keep only scenario instances matching this: a glob (`*`, `?`), else the exact name, else
    /// names it begins (`arc-sql` keeps `arc-sql eastus`); repeatable.
    #[arg(long = "scenario", value_name = "NAME|GLOB", help_heading = "Selection")]
    pub scenarios: Vec<String>,
    /// Keep only checks whose name or id (`suite/scenario/check`) matches this glob; repeatable.
    #[arg(long = "check", value_name = "GLOB", help_heading = "Selection")]
    pub checks: Vec<String>,
    /// Deadline of every attempt, overriding the suites' (e.g. 2s, 500ms).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Execution")]
    pub timeout: Option<Duration>,
}

/// `netspec validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    /// Inputs.
    pub plan: PlanArgs,
    /// Treat an unset environment variable read by `{{ env.NAME }}` as an error, as a run does.
    #[arg(long)]
    pub strict: bool,
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
    /// Path diagnosis (docs/path-diagnosis.md): `auto` traces the path of tcp, tls and http
    /// connections that failed (where the SYN dies, who sent the reset), `always` every one,
    /// `off` none. Needs CAP_NET_RAW for TCP probes; without it, UDP probes give the hops.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = PathWhen::Auto, env = "NETSPEC_PATH", help_heading = "Execution")]
    pub path: PathWhen,
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
    /// Compare every check with these results (`run --json` or `merge --json` of an earlier run;
    /// a merged file is compared at this run's vantage point): the reports carry what changed.
    #[arg(long, value_name = "BEFORE.json", help_heading = "Drift")]
    pub baseline: Option<PathBuf>,
    /// Fail a check whose facts changed since the baseline in a way --expect-change does not
    /// allow (reason `drift.<fact>`).
    #[arg(long, requires = "baseline", help_heading = "Drift")]
    pub fail_on_drift: bool,
    #[command(flatten)]
    /// Thresholds and expected changes.
    pub drift: DriftArgs,
}

/// How drift is judged, shared by `diff` and `run --baseline`.
#[derive(Debug, Clone, clap::Args)]
pub struct DriftArgs {
    /// Latency changed only when the slower run took more than this many times the faster…
    #[arg(long, value_name = "RATIO", default_value_t = 2.0, help_heading = "Drift")]
    pub latency_ratio: f64,
    /// …and at least this much longer.
    #[arg(long, value_name = "DUR", default_value = "50ms", value_parser = parse_duration, help_heading = "Drift")]
    pub latency_min: Duration,
    /// YAML mapping of check-id glob → facts a change request allows to change, e.g.
    /// `"my-suite/*/key vault*": [addresses, cname_chain]` (docs/drift.md).
    #[arg(long, value_name = "FILE", help_heading = "Drift")]
    pub expect_change: Option<PathBuf>,
}

/// `netspec diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Results before the change (`run --json` or `merge --json`).
    #[arg(value_name = "BEFORE.json")]
    pub before: PathBuf,
    /// Results after the change.
    #[arg(value_name = "AFTER.json")]
    pub after: PathBuf,
    #[command(flatten)]
    /// Thresholds and expected changes.
    pub drift: DriftArgs,
    /// Write the comparison as JSON (schema: schemas/diff.schema.json).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page: every change, before and after side by side.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML: one testcase per check, failed by unexpected changes (type `drift.<fact>`).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
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
    /// The schema of the JSON of `diff --json` (schemas/diff.schema.json).
    #[arg(long, conflicts_with_all = ["library", "results", "merged"])]
    pub diff: bool,
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

/// `netspec demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    /// Report files and CI annotations of the demo run.
    pub reports: ReportArgs,
    /// Print every check, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
    /// Compare with an earlier demo's JSON results (see `run --baseline`; examples/drift).
    #[arg(long, value_name = "BEFORE.json", help_heading = "Drift")]
    pub baseline: Option<PathBuf>,
    /// Fail checks whose facts changed since the baseline (see `run --fail-on-drift`).
    #[arg(long, requires = "baseline", help_heading = "Drift")]
    pub fail_on_drift: bool,
    #[command(flatten)]
    /// Thresholds and expected changes.
    pub drift: DriftArgs,
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
    pub fn plan(&self) -> Result<Plan, AppError> {
        app::plan(&self.paths, &self.inputs()?)
    }
}

/// `--path WHEN`: when to trace the path of a connection ([`crate::path::PathMode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PathWhen {
    /// Trace the connections of tcp, tls and http checks that failed at the connection stage
    /// (filtered, closed, unreachable), with the best method available.
    Auto,
    /// Never trace.
    Off,
    /// Trace every tcp, tls and http check's destination, passing or not (a path baseline).
    Always,
}

impl From<PathWhen> for crate::path::PathMode {
    fn from(w: PathWhen) -> Self {
        match w {
            PathWhen::Auto => crate::path::PathMode::Auto,
            PathWhen::Off => crate::path::PathMode::Off,
            PathWhen::Always => crate::path::PathMode::Always,
        }
    }
}

impl DriftArgs {
    /// The drift options these arguments give.
    pub fn options(&self) -> app::DriftOptions {
        app::DriftOptions { latency_ratio: self.latency_ratio, latency_min: self.latency_min, expect_change: self.expect_change.clone() }
    }
}

impl From<&RunArgs> for app::RunRequest {
    fn from(a: &RunArgs) -> Self {
        app::RunRequest {
            paths: a.plan.paths.clone(),
            inputs: Inputs::default(),
            outputs: a.reports.outputs(),
            verbose: a.verbose,
            concurrency: a.concurrency,
            max_waiting: a.max_waiting,
            fail_fast: a.fail_fast,
            retry_timeout: a.retry_timeout,
            path: a.path.into(),
            vantage: a.vantage.clone(),
            extra_ca: a.extra_ca.clone(),
            baseline: a.baseline.clone(),
            fail_on_drift: a.fail_on_drift,
            drift: a.drift.options(),
        }
    }
}

/// Parses the process arguments, runs the command and renders its outcome; returns the exit
/// code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_INVALID } else { EXIT_OK };
        }
    };
    match command(cli.command) {
        Ok(code) => code,
        Err(e) => {
            app::notice(&e.to_string());
            e.exit_code()
        }
    }
}

/// Runs one command; its output is printed here, its error returned for [`main`] to render.
fn command(command: Command) -> Result<i32, AppError> {
    match command {
        Command::Schema(a) => {
            let which = if a.results {
                app::Schema::Results
            } else if a.merged {
                app::Schema::Merged
            } else if a.diff {
                app::Schema::Diff
            } else if a.library {
                app::Schema::Library
            } else {
                app::Schema::Suite
            };
            crate::util::out(&format!("{}\n", app::schema(which)));
            Ok(EXIT_OK)
        }
        Command::Validate(a) => {
            let p = app::validate(&a.plan.paths, a.plan.inputs()?, a.strict)?;
            for name in &p.missing_env {
                app::notice(&format!(
                    "warning: environment variable `{name}` is not set: `netspec run` needs it (validated with an empty value; --strict makes this an error)"
                ));
            }
            crate::util::out(&format!("ok: {} suite(s), {} checks\n", p.suites.len(), p.len()));
            // The process ends here: freeing every planned check would only delay the exit.
            std::mem::forget(p);
            Ok(EXIT_OK)
        }
        Command::Plan(a) => {
            print_plan(&a.plan.plan()?, a.format);
            Ok(EXIT_OK)
        }
        Command::Run(a) => {
            let req = app::RunRequest { inputs: a.plan.inputs()?, ..app::RunRequest::from(&*a) };
            let code = finished(app::run(req)?);
            Ok(if a.exit_zero && code == EXIT_FAILED { EXIT_OK } else { code })
        }
        Command::Demo(a) => Ok(finished(app::demo::run(app::demo::DemoRequest {
            outputs: a.reports.outputs(),
            verbose: a.verbose,
            baseline: a.baseline.clone(),
            fail_on_drift: a.fail_on_drift,
            drift: a.drift.options(),
        })?)),
        Command::Merge(a) => {
            let (github, azure) = report::ci_annotations(a.ci.github, a.ci.azure_pipelines, a.ci.no_ci_annotations);
            let outputs =
                report::Outputs { junit: a.junit.clone(), json: a.json.clone(), html: a.html.clone(), github, azure, ..Default::default() };
            Ok(finished(app::merge(app::MergeRequest { inputs: a.inputs, outputs })?))
        }
        Command::Diff(a) => {
            let outputs = report::Outputs { junit: a.junit.clone(), json: a.json.clone(), html: a.html.clone(), ..Default::default() };
            Ok(finished(app::diff(app::DiffRequest { before: a.before, after: a.after, drift: a.drift.options(), outputs })?))
        }
        Command::Import(c) => {
            let (source, args) = match c {
                ImportCmd::Hosts(a) => (app::ImportSource::Hosts, a),
                ImportCmd::Flows(a) => (app::ImportSource::Flows, a),
            };
            app::import(source, &args.file, args.name, args.output.as_deref())?;
            Ok(EXIT_OK)
        }
    }
}

/// Prints the reports a command could not write and returns its exit code.
fn finished(done: Done) -> i32 {
    for e in &done.unwritten {
        app::notice(&format!("error: {e}"));
    }
    done.exit_code()
}

fn print_plan(p: &Plan, format: Format) {
    let rows = p.rows();
    let text = match format {
        Format::Json => format!("{}\n", report::sanitize::neutralise_json(&serde_json::to_string_pretty(&rows).unwrap_or_default())),
        Format::Table => report::sanitize::neutralise(&plan_table(&rows, terminal_width())).into_owned(),
    };
    crate::util::out(&text);
}

/// Columns of the terminal on standard output (`None` when it is not a terminal: then
/// `$COLUMNS` if set, else no limit).
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass; fd 1 is open.
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|c: &usize| *c >= 40)
}

/// `s` cut into pieces of at most `n` characters (at least one piece).
fn chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() || n == 0 {
        return vec![s.to_owned()];
    }
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

/// `netspec plan`'s table: a header row, then per check a line of id, kind, resolver and
/// timeout, and indented `target:` (with `via proxy NAME` for a proxied request) and `expect:`
/// lines, wrapped at `width` columns when given (ids longer than the width are not cut).
pub fn plan_table(rows: &[crate::plan::PlanRow], width: Option<usize>) -> String {
    use std::fmt::Write as _;
    let idw = rows.iter().map(|r| r.id.chars().count()).max().unwrap_or(0).max("CHECK".len());
    let resw = rows.iter().map(|r| r.resolver.chars().count()).max().unwrap_or(0).max("RESOLVER".len());
    // The id column shrinks to what leaves room for the rest on a narrow terminal.
    let idw = match width {
        Some(w) => idw.min(w.saturating_sub(4 + 2 + resw + 2 + 10 + 4).max(20)),
        None => idw,
    };
    let mut t = String::new();
    let _ = writeln!(t, "{:idw$}  {:4}  {:resw$}  {:>10}", "CHECK", "KIND", "RESOLVER", "TIMEOUT");
    let wrap = |t: &mut String, label: &str, text: &str| {
        let indent = "    ";
        let first = format!("{indent}{label}: ");
        let limit = width.unwrap_or(usize::MAX).max(first.len() + 20);
        let mut line = first.clone();
        // A word longer than a line (a long URL) is cut into line-long pieces.
        let words = text.split(' ').flat_map(|w| chunks(w, limit - first.len()));
        for word in words {
            if line.chars().count() + word.chars().count() + 1 > limit && line.len() > first.len() {
                let _ = writeln!(t, "{}", line.trim_end());
                line = " ".repeat(first.len());
            }
            line.push_str(&word);
            line.push(' ');
        }
        let _ = writeln!(t, "{}", line.trim_end());
    };
    for r in rows {
        let id = if r.id.chars().count() > idw {
            let mut pieces = chunks(&r.id, width.unwrap_or(usize::MAX));
            pieces.push(String::new());
            pieces.join("\n")
        } else {
            r.id.clone()
        };
        let _ = writeln!(t, "{id:idw$}  {:4}  {:resw$}  {:>7} ms", r.kind.to_string(), r.resolver, r.timeout_ms);
        wrap(&mut t, "target", &r.target);
        wrap(&mut t, "expect", &r.expect.join("; "));
    }
    let _ = writeln!(t, "{} checks", rows.len());
    t
}
