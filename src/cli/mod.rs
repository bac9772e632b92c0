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
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = crate::path::PathMode::Auto, env = "NETSPEC_PATH", help_heading = "Execution")]
    pub path: crate::path::PathMode,
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

impl DriftArgs {
    /// The thresholds and the parsed expected-change file.
    ///
    /// Errors: an invalid ratio, or the expected-change file's located error.
    pub fn load(&self) -> Result<(crate::drift::Thresholds, Option<crate::drift::ExpectChanges>), String> {
        if !(self.latency_ratio.is_finite() && self.latency_ratio >= 1.0) {
            return Err(format!("error: --latency-ratio {} must be a number ≥ 1\n  = hint: e.g. --latency-ratio 2", self.latency_ratio));
        }
        let expect = self.expect_change.as_deref().map(crate::drift::ExpectChanges::load).transpose().map_err(|e| e.to_string())?;
        Ok((crate::drift::Thresholds::new(self.latency_ratio, self.latency_min), expect))
    }
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
            } else if a.diff {
                crate::drift::schema_json()
            } else if a.library {
                crate::suite::library_schema_json()
            } else {
                crate::suite::schema_json()
            };
            crate::util::out(&format!("{schema}\n"));
            EXIT_OK
        }
        Command::Validate(a) => match a.plan.inputs().and_then(|mut i| {
            i.tolerate_missing_env = !a.strict;
            plan::load_and_plan(&a.plan.paths, &i)
        }) {
            Ok(p) => {
                for name in &p.missing_env {
                    eprintln!(
                        "warning: environment variable `{name}` is not set: `netspec run` needs it (validated with an empty value; --strict makes this an error)"
                    );
                }
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
        Command::Run(a) => run_cmd(*a),
        Command::Demo(a) => crate::demo::main(a),
        Command::Merge(a) => merge_cmd(a),
        Command::Diff(a) => diff_cmd(a),
        Command::Import(c) => import_cmd(c),
    }
}

fn invalid(e: &LoadError) -> i32 {
    // Error messages quote the suite: neutralised like every suite- or network-derived text.
    eprintln!("{}", report::sanitize::neutralise(&e.to_string()));
    EXIT_INVALID
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
    // Before the runtime, whose signal handling cannot start without descriptors.
    if let Err(e) = run::limits::fit_open_files(1) {
        eprintln!("{e}");
        return EXIT_INVALID;
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
    let drift = match baseline_gate(a.baseline.as_deref(), &a.drift, a.fail_on_drift, &vantage, &plan) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INVALID;
        }
    };
    let run = execute(
        plan,
        opts,
        RunOptions {
            concurrency: a.concurrency,
            max_waiting: a.max_waiting,
            fail_fast: a.fail_fast,
            retry_timeout: a.retry_timeout,
            drift,
            paths: (a.path != crate::path::PathMode::Off).then(|| Arc::new(crate::path::Traces::new(a.path))),
        },
        Reports { outputs, verbose: a.verbose, name, vantage },
    );
    let code = rt.block_on(on_worker(run));
    if a.exit_zero && code == EXIT_FAILED { EXIT_OK } else { code }
}

/// The drift gate of `run --baseline` (none without a baseline).
///
/// Errors: the baseline cannot be read, or the drift arguments are invalid (a message for stderr).
pub fn baseline_gate(
    baseline: Option<&std::path::Path>,
    args: &DriftArgs,
    fail_on_drift: bool,
    vantage: &str,
    plan: &Plan,
) -> Result<Option<Arc<crate::drift::Gate>>, String> {
    let Some(path) = baseline else { return Ok(None) };
    let (thresholds, expect) = args.load()?;
    let doc = crate::drift::read_doc(path).map_err(|e| format!("error: --baseline {e}"))?;
    Ok(Some(Arc::new(crate::drift::Gate::new(doc, vantage, thresholds, expect, fail_on_drift, plan.secrets.clone()))))
}

/// `netspec diff`: 0 nothing changed but what --expect-change allows; 1 something did (or a
/// report could not be written); 2 bad input.
fn diff_cmd(a: DiffArgs) -> i32 {
    let outputs = report::Outputs { junit: a.junit.clone(), json: a.json.clone(), html: a.html.clone(), ..Default::default() };
    if let Err(e) = outputs.check_writable(&[a.before.clone(), a.after.clone()]) {
        eprintln!("{e}");
        return EXIT_INVALID;
    }
    let (thresholds, expect) = match a.drift.load() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INVALID;
        }
    };
    let (before, after) = match (crate::drift::read_doc(&a.before), crate::drift::read_doc(&a.after)) {
        (Ok(b), Ok(x)) => (b, x),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let diff = crate::drift::diff(&before, &after, &thresholds, expect.as_ref());
    crate::util::out(&report::sanitize::neutralise(&diff.console()));
    let mut code = if diff.changed() { EXIT_FAILED } else { EXIT_OK };
    let written = [
        a.json.as_deref().map(|p| crate::drift::write_json(p, &diff)),
        a.html.as_deref().map(|p| crate::drift::write_html(p, &diff)),
        a.junit.as_deref().map(|p| crate::drift::write_junit(p, &diff)),
    ];
    for e in written.into_iter().flatten().filter_map(Result::err) {
        eprintln!("error: {e}");
        code = EXIT_FAILED;
    }
    code
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
    let gate = opts.drift.clone();
    let console = tokio::spawn(report::console::live(rx, secrets.clone(), reports.verbose));
    // What the reports need of each check is rendered as it finishes and spooled to a
    // temporary file: memory does not grow with the results.
    let mut spool = report::spool::Spool::new(reports.outputs.needs(), secrets.clone(), reports.vantage.clone());
    let plan = Arc::new(plan);
    let paths = opts.paths.clone();
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
    // Once per run: the path traces' method when it is not the full one.
    if let Some(note) = paths.as_deref().and_then(crate::path::Traces::notice) {
        eprintln!("note: {note}");
    }
    let mut code = if spool.all_passed() { EXIT_OK } else { EXIT_FAILED };
    let drift = gate.map(|g| {
        let file = reports.outputs.json.as_ref().map_or_else(|| "(this run)".to_owned(), |p| p.display().to_string());
        let started = humantime::format_rfc3339_millis(started_at).to_string();
        g.report(crate::drift::DocInfo { file, name: reports.name.clone(), vantages: vec![reports.vantage.clone()], started })
    });
    if let Some(d) = &drift {
        crate::util::out(&format!("\n{}", report::sanitize::neutralise(&d.console())));
    }
    let meta = report::RunMeta { name: reports.name, vantage: reports.vantage, started: started_at, duration: wall, vars, drift };
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
