//! Planning: variables (suite vars < `--vars-file` < `NETSPEC_VAR_*` < `--var`), matrix expansion,
//! templating and validation, giving the flat list of checks to run with stable ids.
//!
//! A scenario expands over the matrix axes its name uses (`"arc-sql {{ region }}"` expands over
//! `region`; a name with no axis gives one instance), so one suite can mix per-region scenarios
//! with global ones. Resolvers and proxies are rendered only when a check uses them, so a suite
//! can define a `corp` resolver whose server variable is set only where it is used.

pub use crate::model::result::CheckMeta;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use minijinja::Value;
use serde::Serialize;

use crate::expect::{self, Expectations, Kind};
use crate::suite::error::LoadError;
use crate::suite::model::{
    Axis, Check, CheckKind, CheckTemplate, DnsSpec, Expect, ExpectSpec, HttpSpec, ProxyDef, ResolverDef, StringMatcher, SuiteFile, TcpSpec,
    Terms, Text, TlsSpec, Tpl, UseSpec,
};
use crate::suite::template::{self, Scope, Secrets, Templater};
use crate::suite::{self, Loaded, parse_vars_file};

pub use crate::model::target::SECRET_HEADERS;

/// Most instances one scenario may expand to (matrix combinations); more is an error, not an
/// out-of-memory.
pub const MAX_INSTANCES: usize = 100_000;

/// Most checks one plan may hold, across every scenario, matrix instance and file: about
/// 0.7 KB each (docs/resource-limits.md), so at most about 0.7 GB. Counted before any check is
/// built: a suite that would expand further is an error located at the scenario that crosses
/// the limit, found in memory that does not grow with the expansion.
pub const MAX_PLANNED_CHECKS: usize = 1_000_000;

/// Shortest pause between attempts: a smaller `retry.delay` is raised to it, so a retried
/// check never hammers an endpoint.
pub const MIN_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Default attempt deadline when neither the check, the suite nor the command line sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Variable and filter inputs from the command line and environment.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--vars-file` paths, in order (later wins).
    pub vars_files: Vec<PathBuf>,
    /// Typed variables at vars-file precedence (after the files), e.g. from `netspec demo`.
    pub typed_vars: Vec<(String, serde_json::Value)>,
    /// `NETSPEC_VAR_<NAME>` values (name lower-cased).
    pub env_vars: Vec<(String, String)>,
    /// `--var NAME=VALUE`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `--matrix NAME=V1,V2`: replaces (or adds) an axis.
    pub matrix: Vec<(String, Vec<String>)>,
    /// `--timeout`: overrides every attempt deadline.
    pub timeout: Option<Duration>,
    /// `--tag`: keep checks having any of these tags (scenario tags count).
    pub tags: Vec<String>,
    /// `--scenario`: keep scenario instances whose name matches any glob.
    pub scenarios: Vec<String>,
    /// `--check`: keep checks whose name or id matches any glob.
    pub checks: Vec<String>,
    /// `netspec validate` without `--strict`: a `{{ env.NAME }}` whose variable is not set
    /// renders empty and is listed in [`Plan::missing_env`] instead of being an error.
    pub tolerate_missing_env: bool,
}

impl Inputs {
    /// Reads `NETSPEC_VAR_<NAME>` from the process environment.
    pub fn env_from_process(&mut self) {
        self.env_vars = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("NETSPEC_VAR_").map(|n| (n.to_ascii_lowercase(), v)))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        self.env_vars.sort();
    }
}

pub use crate::model::target::{HttpTarget, ProxySpec, ResolverSpec, Target};

/// One expanded check, ready to run.
#[derive(Debug, Clone)]
pub struct PlannedCheck {
    /// Who the check is (id, names, hint, tags, matrix values, where it is defined): shared
    /// with its result.
    pub meta: Arc<CheckMeta>,
    /// What to probe.
    pub target: Target,
    /// What must hold.
    pub expect: Expectations,
    /// Resolver.
    pub resolver: Arc<ResolverSpec>,
    /// Attempt deadline.
    pub timeout: Duration,
    /// Attempts (≥ 1).
    pub attempts: u32,
    /// Pause before the second attempt.
    pub retry_delay: Duration,
    /// Factor applied to the pause after each attempt (≥ 1).
    pub retry_backoff: f64,
    /// Whether the path may be traced when the connection fails (the suite's `path`, default
    /// true; `--path` decides when).
    pub path: bool,
}

/// How many of its checks a plan holds in memory (see [`Plan::take_checks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Every check (`netspec plan`, the demo, tests).
    #[default]
    All,
    /// None: each check is built, validated, counted and dropped (`netspec validate`), so
    /// validating a million checks takes the memory of one file's model.
    Count,
    /// At most this many (`netspec run`: [`HELD_CHECKS`]). A larger plan is validated and
    /// counted the same way, then made again check by check on a thread while the run consumes
    /// it, its files required unchanged ([`suite::verifying`]): memory is flat in the number of
    /// checks at the cost of planning twice.
    UpTo(usize),
}

/// Checks `netspec run` keeps in memory after planning (about 0.7 KB each, ~11 MiB): a larger
/// plan streams into the run ([`Keep::UpTo`]). Runs up to this size plan once.
pub const HELD_CHECKS: usize = 16_384;

/// Checks planned ahead of the run when a plan streams (each waits in a bounded queue).
const STREAM_AHEAD: usize = 1_024;

/// The expanded, validated checks of one or more suites.
#[derive(Debug, Default)]
pub struct Plan {
    /// Checks in plan order: all of them, or none when the plan holds less than it counted
    /// ([`Keep`]; [`Plan::len`] is the count).
    pub checks: Vec<PlannedCheck>,
    /// Checks planned (selected), held or not.
    count: usize,
    /// What this plan holds.
    keep: Keep,
    /// CA files the checks read, in plan order, each once.
    ca_files: indexmap::IndexSet<PathBuf>,
    /// While the plan is made again for a run that consumes it: where each check goes.
    sink: Option<tokio::sync::mpsc::Sender<PlannedCheck>>,
    /// How to make the checks again when they were not held.
    replan: Option<Replan>,
    /// Suite names in order (for the JUnit root when there are several).
    pub suites: Vec<String>,
    /// Values to redact from every report.
    pub secrets: Secrets,
    /// Each suite's effective variables after precedence (suite name → name → value), as
    /// reports record them (the reports redact secrets).
    pub vars: IndexMap<String, IndexMap<String, serde_json::Value>>,
    /// What the selection flags could have matched (filled while planning).
    seen: Seen,
    /// Environment variables templates read that are not set (only with
    /// [`Inputs::tolerate_missing_env`]; a run would fail on them).
    pub missing_env: Vec<String>,
    /// Every file the plan was made from or the run will read: suites, included libraries,
    /// vars, matrix and hosts files, CA files (filled by [`load_and_plan`]). No report may be
    /// one of them.
    pub inputs: Vec<PathBuf>,
}

/// What `--tag`, `--scenario`, `--check` and `--matrix` could have matched, collected while
/// planning so that a selection matching nothing is an error naming what there is.
#[derive(Debug, Default)]
struct Seen {
    /// Every tag of every check (scenario tags included), before selection.
    tags: std::collections::BTreeSet<String>,
    /// Scenario instance names, in plan order, before selection (at most [`SEEN_LISTED`] kept).
    scenarios: Vec<String>,
    /// Scenario instances in all.
    scenario_count: usize,
    /// Per `--scenario` glob: whether it matched an instance.
    scenario_hit: Vec<bool>,
    /// Per `--check` glob: whether it matched a check's name or id.
    check_hit: Vec<bool>,
    /// Matrix axes the suites have (their `matrix` keys and the variables scenario names use).
    axes: std::collections::BTreeSet<String>,
}

/// Most scenario names an error about an empty selection lists.
const SEEN_LISTED: usize = 40;

/// What a streamed plan needs to be made again: the same files, inputs and secrets, and the
/// digest of every file read the first time.
#[derive(Debug)]
struct Replan {
    paths: Vec<PathBuf>,
    inputs: Inputs,
    digests: Arc<suite::Digests>,
}

impl Plan {
    /// Checks planned (after `--tag`, `--scenario`, `--check`), whether held or not.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the plan has no check.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the checks are made again while the run consumes them (more than [`Keep::UpTo`]).
    pub fn streams(&self) -> bool {
        self.replan.is_some()
    }

    /// Adds a planned check: held, counted or sent according to [`Keep`] (and `hold`: false
    /// once the file being planned has an error, so that a plan made again stops there).
    fn emit(&mut self, c: PlannedCheck, hold: bool) {
        self.count += 1;
        if let Some(ca) = c.ca_file()
            && !self.ca_files.contains(ca)
        {
            self.ca_files.insert(ca.to_path_buf());
        }
        if let Some(tx) = &self.sink {
            // A run that stopped consuming (it cannot: it drains every check) ends the stream.
            if hold && tx.blocking_send(c).is_err() {
                // Nothing is held after it either: the plan only counts from here on.
                self.sink = None;
                self.keep = Keep::Count;
            }
            return;
        }
        match self.keep {
            Keep::All => self.checks.push(c),
            Keep::Count => {}
            Keep::UpTo(n) if self.count <= n => self.checks.push(c),
            Keep::UpTo(_) => {
                if !self.checks.is_empty() {
                    self.checks = Vec::new();
                }
            }
        }
    }

    /// Takes the checks out for the run, in plan order: the held ones, or, for a plan larger
    /// than it holds, a stream fed by a thread that plans the same files again (each check
    /// waits in a queue of [`STREAM_AHEAD`]). The plan keeps its count, names, secrets and vars.
    pub fn take_checks(&mut self) -> Checks {
        let held = std::mem::take(&mut self.checks).into_iter();
        let Some(re) = self.replan.take() else {
            return Checks { held, rx: None, planner: None, failed: None };
        };
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_AHEAD);
        let secrets = self.secrets.clone();
        let expected = self.count;
        let planner = std::thread::Builder::new().name("netspec-plan".into()).spawn(move || {
            let made = suite::verifying(re.digests, || {
                let mut p = Planner::new(&re.inputs, Keep::All, Some(secrets))?;
                p.out.sink = Some(tx);
                plan_files_into(&mut p, &re.paths)?;
                p.finish()
            })?;
            if made.count != expected {
                return Err(LoadError::input(
                    format!("the suites planned {} checks when the run began and {} while it ran", expected, made.count),
                    Some("a file the suites read changed during the run; run again"),
                ));
            }
            Ok(())
        });
        match planner {
            Ok(h) => Checks { held, rx: Some(rx), planner: Some(h), failed: None },
            Err(e) => Checks {
                held,
                rx: None,
                planner: None,
                failed: Some(LoadError::input(
                    format!("cannot start the planning thread: {e}"),
                    Some("the system is out of threads or memory"),
                )),
            },
        }
    }
}

/// A plan's checks as the run consumes them, in plan order ([`Plan::take_checks`]).
#[derive(Debug)]
pub struct Checks {
    held: std::vec::IntoIter<PlannedCheck>,
    rx: Option<tokio::sync::mpsc::Receiver<PlannedCheck>>,
    planner: Option<std::thread::JoinHandle<Result<(), LoadError>>>,
    /// Why the stream could not start (no check of it ran).
    failed: Option<LoadError>,
}

impl Checks {
    /// The next check; `None` after the last.
    pub async fn next(&mut self) -> Option<PlannedCheck> {
        if let Some(c) = self.held.next() {
            return Some(c);
        }
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => None,
        }
    }

    /// Ends the stream: whether the checks were the plan that was validated.
    ///
    /// Errors: a streamed plan whose files changed or could not be read again, or that made
    /// another number of checks (the run's results are then not the suite's: exit code 2).
    pub fn finish(mut self) -> Result<(), LoadError> {
        // Unblocks a planner still sending to a run that stopped early.
        self.rx = None;
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.planner.take() {
            None => Ok(()),
            Some(h) => h.join().unwrap_or_else(|_| Err(LoadError::input("the planning thread panicked (a netspec bug)", None))),
        }
    }
}

fn json_to_value(v: &serde_json::Value) -> Value {
    Value::from_serialize(v)
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Builds the plan of several loaded suites.
///
/// Errors: every problem found, each located (exit code 2).
pub fn plan(loaded: &[Loaded], inputs: &Inputs) -> Result<Plan, LoadError> {
    let mut p = Planner::new(inputs, Keep::All, None)?;
    for l in loaded {
        p.add(l);
    }
    p.finish()
}

/// Loads and plans the suite files of `paths` (files, or directories of `*.yaml`/`*.yml`, as
/// [`suite::expand_paths`] finds them) one file at a time: each file's model is dropped once
/// it is planned, so memory holds one file's model beside the plan rather than every model
/// (a 100,000-check run in ten files: 264 → see BENCHMARKS.md).
///
/// Errors: as [`plan`] — when a file cannot be loaded, every load error and no plan error
/// (a plan error may come from a file that did not load).
///
/// `keep` says how many checks the plan holds ([`Keep`]); with [`Keep::UpTo`] a larger plan
/// streams into the run ([`Plan::take_checks`]).
pub fn load_and_plan(paths: &[PathBuf], inputs: &Inputs, keep: Keep) -> Result<Plan, LoadError> {
    let (plan, read, digests) = suite::recording_digests(|| -> Result<Plan, LoadError> {
        let mut p = Planner::new(inputs, keep, None)?;
        plan_files_into(&mut p, paths)?;
        p.finish()
    });
    let mut plan = plan?;
    if matches!(keep, Keep::UpTo(n) if plan.count > n) {
        plan.replan = Some(Replan { paths: paths.to_vec(), inputs: inputs.clone(), digests: Arc::new(digests) });
    }
    plan.inputs = read;
    plan.inputs.extend(std::mem::take(&mut plan.ca_files));
    Ok(plan)
}

/// How many checks `netspec run` holds for these inputs: [`HELD_CHECKS`] (a larger plan is
/// read again while it runs) when every suite path and vars file can be read twice — a regular
/// file or a directory —, else all of them: a FIFO such as `<(generate-suite)` gives its
/// content once, and a plan made from it again would be empty (and refused as changed).
pub fn keep_for_run(paths: &[PathBuf], inputs: &Inputs) -> Keep {
    let rereadable = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.is_file() || m.is_dir());
    if paths.iter().chain(&inputs.vars_files).all(rereadable) { Keep::UpTo(HELD_CHECKS) } else { Keep::All }
}

/// Whether the suites of `paths` may hold more than [`HELD_CHECKS`] checks written out, so that
/// a run of them may stream (memory first: `util::memory_first` before planning). Counted
/// cheaply before parsing: every check written out is a list entry, a line whose text starts
/// with `- ` (a dns check's `name:` keys would count it twice), so more than [`HELD_CHECKS`] such
/// lines is the sign; files smaller than that many shortest entries are not read at all. A
/// matrix or templates can expand a few lines past the count: such a run still streams, only
/// it puts memory first after planning. Only regular files are read (`suite::read_regular`:
/// a FIFO is neither blocked on nor drained here); other and unreadable files count 0 (planning
/// reports them).
pub fn may_stream(paths: &[PathBuf]) -> bool {
    /// Bytes of the shortest list entry, `- x` and its newline.
    const SHORTEST_ENTRY: u64 = 4;
    let Ok(files) = suite::expand_paths(paths) else { return false };
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    if total <= HELD_CHECKS as u64 * SHORTEST_ENTRY {
        return false;
    }
    let mut entries = 0;
    for f in files {
        if let Ok(text) = suite::read_regular(&f) {
            entries += text.lines().filter(|l| l.trim_start().starts_with("- ")).count();
            if entries > HELD_CHECKS {
                return true;
            }
        }
    }
    false
}

/// Loads and plans each file of `paths` in turn into `p`.
///
/// Errors: every load error (the files that loaded are then not planned further).
fn plan_files_into(p: &mut Planner, paths: &[PathBuf]) -> Result<(), LoadError> {
    let files = suite::expand_paths(paths)?;
    let mut load_errors = Vec::new();
    for f in files {
        match suite::load_file(&f) {
            // Each file's model is dropped once planned: the next one reuses its memory.
            Ok(l) if load_errors.is_empty() => p.add(&l),
            Ok(_) => {}
            Err(e) => load_errors.push(e),
        }
    }
    if !load_errors.is_empty() {
        return Err(LoadError::many(load_errors));
    }
    Ok(())
}

/// Plans suites one at a time into one [`Plan`].
struct Planner<'i> {
    inputs: &'i Inputs,
    tpl: Templater,
    file_vars: Vec<IndexMap<String, serde_json::Value>>,
    out: Plan,
    errors: Vec<LoadError>,
    missing_env: template::MissingEnv,
}

impl<'i> Planner<'i> {
    /// A planner holding checks as `keep` says; `secrets`: those of a first planning of the
    /// same suites (a plan made again), so that the run's reports redact one set.
    fn new(inputs: &'i Inputs, keep: Keep, secrets: Option<Secrets>) -> Result<Planner<'i>, LoadError> {
        let secrets = secrets.unwrap_or_default();
        let mut tpl = Templater::new(secrets.clone());
        let missing_env = template::MissingEnv::default();
        if inputs.tolerate_missing_env {
            tpl.tolerate_missing_env(missing_env.clone());
        }
        // Vars files are read once and shared by every suite.
        let mut file_vars: Vec<IndexMap<String, serde_json::Value>> = Vec::new();
        for f in &inputs.vars_files {
            file_vars.push(parse_vars_file(f)?);
        }
        Ok(Planner { inputs, tpl, file_vars, out: Plan { secrets, keep, ..Default::default() }, errors: Vec::new(), missing_env })
    }

    fn add(&mut self, l: &Loaded) {
        // A plan made again stops at its first error (a changed file).
        if self.out.sink.is_some() && !self.errors.is_empty() {
            return;
        }
        match plan_suite(l, self.inputs, &self.file_vars, &self.tpl, &mut self.out) {
            Ok(()) => {}
            Err(LoadError::Many(v)) => self.errors.extend(v),
            Err(e) => self.errors.push(e),
        }
    }

    /// The plan, or every error found, secrets redacted (errors quote rendered values).
    fn finish(mut self) -> Result<Plan, LoadError> {
        let secrets = self.out.secrets.clone();
        if !self.errors.is_empty() {
            return Err(LoadError::many(dedupe(self.errors)).redact(&secrets));
        }
        check_selection(self.inputs, &self.out).map_err(|e| e.redact(&secrets))?;
        self.out.missing_env = self.missing_env.names();
        // The run holds the plan throughout: no spare capacity (up to half of it after growth).
        self.out.checks.shrink_to_fit();
        Ok(self.out)
    }
}

/// Whether `pattern` has glob characters (`*`, `?`, `[`, `{`).
fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Whether a `--scenario` value selects the instance `name`: a glob when it has glob
/// characters, otherwise the exact name, or — when `exact_exists` is false (no instance of the
/// suite has exactly that name) — a prefix of it: `--scenario arc-sql` selects
/// `arc-sql eastus`, while `--scenario "tls inspection"` selects only that scenario when the
/// suite also has `tls inspection over https`.
pub fn selects(pattern: &str, name: &str, exact_exists: bool) -> bool {
    if is_glob(pattern) {
        glob_match(pattern, name)
    } else if exact_exists {
        name == pattern
    } else {
        name.starts_with(pattern)
    }
}

/// A selection (`--tag`, `--scenario`, `--check`) that matches no check, or a `--matrix` axis
/// no suite has, is an error: a gate that tests nothing must not pass.
///
/// Errors: [`LoadError::Input`] naming each value that matched nothing, with the tags,
/// scenarios or axes there are (and a did-you-mean for a close one).
fn check_selection(inputs: &Inputs, plan: &Plan) -> Result<(), LoadError> {
    let seen = &plan.seen;
    let mut errors = Vec::new();
    for (axis, _) in &inputs.matrix {
        if !seen.axes.contains(axis) {
            let known = seen.axes.iter().map(String::as_str).collect::<Vec<_>>();
            let hint = match did_you_mean(axis, known.iter().copied()) {
                Some(c) => format!("did you mean `{c}`? The suites' axes: {}", list_or_none(&known)),
                None => format!("the suites' axes: {}", list_or_none(&known)),
            };
            errors.push(LoadError::input(format!("--matrix {axis}: no suite has a matrix axis `{axis}`"), Some(&hint)));
        }
    }
    let tags = seen.tags.iter().map(String::as_str).collect::<Vec<_>>();
    for t in &inputs.tags {
        if !seen.tags.contains(t) {
            let hint = match did_you_mean(t, tags.iter().copied()) {
                Some(c) => format!("did you mean `{c}`? Tags: {}", list_or_none(&tags)),
                None => format!("tags: {}", list_or_none(&tags)),
            };
            errors.push(LoadError::input(format!("--tag {t} matches no check"), Some(&hint)));
        }
    }
    let scenarios = scenario_list(seen);
    for (g, hit) in inputs.scenarios.iter().zip(&seen.scenario_hit) {
        if !hit {
            let hint = match did_you_mean(g, seen.scenarios.iter().map(String::as_str)) {
                Some(c) => format!("did you mean `{c}`? Scenarios: {scenarios}"),
                None => format!("scenarios: {scenarios}"),
            };
            errors.push(LoadError::input(format!("--scenario {g} matches no scenario"), Some(&hint)));
        }
    }
    for (g, hit) in inputs.checks.iter().zip(&seen.check_hit) {
        if !hit {
            errors.push(LoadError::input(
                format!("--check {g} matches no check name or id"),
                Some("`netspec plan` lists the check ids (suite/scenario/check); a value without * or ? matches a name or id exactly"),
            ));
        }
    }
    if errors.is_empty() && plan.count == 0 && !(inputs.tags.is_empty() && inputs.scenarios.is_empty() && inputs.checks.is_empty()) {
        errors.push(LoadError::input(
            "the selection (--tag, --scenario, --check together) matches no check",
            Some(&format!(
                "each value matches something, but no check matches all of them; tags: {}; scenarios: {scenarios}",
                list_or_none(&tags)
            )),
        ));
    }
    if errors.is_empty() { Ok(()) } else { Err(LoadError::many(errors)) }
}

fn list_or_none(v: &[&str]) -> String {
    if v.is_empty() { "(none)".into() } else { v.join(", ") }
}

fn scenario_list(seen: &Seen) -> String {
    let shown = seen.scenarios.iter().map(String::as_str).collect::<Vec<_>>();
    let more = seen.scenario_count.saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { list_or_none(&shown) }
}

/// Where a definition was written: its file, the file's text (for snippets) and directory
/// (relative paths in it start there).
#[derive(Debug)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// The file's path as text, as it was given (shared by every check defined in it).
    pub display: Arc<str>,
    /// Its text.
    pub source: String,
    /// Its directory.
    pub base: PathBuf,
}

impl Origin {
    /// The origin of a loaded suite.
    pub fn of(l: &Loaded) -> Arc<Origin> {
        Arc::new(Origin {
            path: l.path.clone(),
            display: Arc::from(l.path.display().to_string()),
            source: l.source.clone(),
            base: l.path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        })
    }
}

struct Ctx<'a> {
    origin: Arc<Origin>,
    tpl: &'a Templater,
    errors: Vec<LoadError>,
    /// Index in `errors` of the first failed include: errors that follow from the missing
    /// definitions (unknown templates, proxies, resolvers, undefined variables) are then dropped.
    failed_include: Option<usize>,
    /// Per variable (and template parameter) in scope: the directory of the file it was written
    /// in, which a relative path taken from it starts at (empty: the current directory, for
    /// `--var`, `NETSPEC_VAR_*` and `{{ env.NAME }}`).
    var_bases: HashMap<String, PathBuf>,
}

pub use crate::util::did_you_mean;

impl Ctx<'_> {
    fn err(&mut self, line: u32, column: u32, msg: impl Into<String>, hint: Option<&str>) {
        let mut e = LoadError::at(&self.origin.path, Some(&self.origin.source), line, column, msg);
        if let Some(h) = hint {
            e = e.with_hint(h);
        }
        self.errors.push(e);
    }

    fn render(&mut self, t: &Text, scope: &Scope) -> Option<String> {
        self.render_at(&t.value, (t.line, t.column), scope)
    }

    /// Renders a string located at `(line, column)` (its own, or the enclosing value's).
    fn render_at(&mut self, text: &str, (line, column): (u32, u32), scope: &Scope) -> Option<String> {
        match self.tpl.render(text, scope) {
            Ok(s) => Some(s),
            Err(m) => {
                let hint = if let Some(var) = m.strip_prefix("undefined variable `").and_then(|r| r.strip_suffix('`')) {
                    let where_from = "define it in the suite's `vars`, a `--vars-file`, `NETSPEC_VAR_<NAME>` or `--var NAME=VALUE`";
                    match did_you_mean(var, scope.keys().map(String::as_str)) {
                        Some(c) => format!("did you mean `{c}`? Otherwise {where_from}"),
                        None => where_from.to_owned(),
                    }
                } else if m.starts_with("environment variable") {
                    "export it, or write `{{ env.NAME | default('') }}` to make it optional".to_owned()
                } else {
                    String::new()
                };
                self.err(line, column, m, (!hint.is_empty()).then_some(hint.as_str()));
                None
            }
        }
    }
}

impl Ctx<'_> {
    /// Renders a path and resolves it where it was written: a path that starts with a variable
    /// (`"{{ ca }}"`, `"{{ certs }}/ca.pem"`) starts at the directory of the file that defined
    /// the variable (the suite for a suite variable used in a library's template; the current
    /// directory for `--var`); any other relative path at the file that holds the text.
    fn render_path(&mut self, t: &str, at: (u32, u32), scope: &Scope) -> Option<PathBuf> {
        let rendered = self.render_at(t, at, scope)?;
        let base = self.base_for(t);
        // The current directory is made explicit: the path may be joined to another base later.
        let base = if base.as_os_str().is_empty() { std::env::current_dir().unwrap_or_default() } else { base };
        Some(base.join(rendered))
    }

    /// The directory a relative path written as `text` starts at (see [`Ctx::render_path`]).
    fn base_for(&self, text: &str) -> PathBuf {
        if let Some(rest) = text.trim_start().strip_prefix("{{") {
            let name: String = rest.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name == "env" {
                return PathBuf::new();
            }
            if let Some(b) = self.var_bases.get(&name) {
                return b.clone();
            }
        }
        self.origin.base.clone()
    }

    /// Renders every template string in `v`; a rendered string is then read as a YAML scalar,
    /// so `"{{ port }}"` giving `443` is the number 443 and `"{{ on }}"` giving `true` a boolean.
    fn render_value(&mut self, v: &serde_json::Value, at: (u32, u32), scope: &Scope) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match v {
            J::String(s) if template::is_template(s) => {
                let r = self.render_at(s, at, scope)?;
                match serde_saphyr::from_str::<J>(&r) {
                    Ok(J::Null) | Err(_) => J::String(r),
                    Ok(scalar @ (J::Bool(_) | J::Number(_) | J::String(_))) => scalar,
                    // A rendered value is one scalar: flow lists and maps are not re-read.
                    Ok(J::Array(_) | J::Object(_)) => J::String(r),
                }
            }
            J::Array(a) => J::Array(a.iter().map(|x| self.render_value(x, at, scope)).collect::<Option<_>>()?),
            J::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.render_value(x, at, scope)?);
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    /// The value of a templatable typed field: as written, or rendered and read as `T`.
    ///
    /// Errors (located at the template): the rendered text is not a `T`; `accepts` says what is.
    fn typed<T: serde::de::DeserializeOwned + Clone>(&mut self, t: &Tpl<T>, accepts: &str, scope: &Scope) -> Option<T> {
        match t {
            Tpl::Value(v) => Some(v.clone()),
            Tpl::Invalid(m) => {
                self.err(m.line, m.column, m.value.clone(), Some(&format!("write {accepts}")));
                None
            }
            Tpl::Template(w) => {
                let at = (w.line, w.column);
                let v = self.render_value(&w.value, at, scope)?;
                match T::deserialize(&v) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        self.err(at.0, at.1, rendered_type_error(&w.value, &v, &e), Some(&format!("write {accepts}")));
                        None
                    }
                }
            }
        }
    }
}

/// "`{{ port }}` gives `70000`: invalid value …" for a rendered value that is not of its type.
fn rendered_type_error(written: &serde_json::Value, rendered: &serde_json::Value, e: &serde_json::Error) -> String {
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("`{}` gives `{}`: {e}", show(written), show(rendered))
}

/// What a port accepts, for messages.
const PORT_ACCEPTS: &str = "a port number from 1 to 65535";
/// What a duration accepts, for messages.
const DUR_ACCEPTS: &str = "a duration such as 500ms, 5s, 2m or 14d";

/// Definitions a suite can use: its own and those of its included libraries, each with the
/// file it was written in.
#[derive(Default)]
struct Defs {
    vars: IndexMap<String, serde_json::Value>,
    /// The directory of the file each variable was defined in.
    var_bases: HashMap<String, PathBuf>,
    resolvers: IndexMap<String, (Arc<Origin>, ResolverDef)>,
    proxies: IndexMap<String, (Arc<Origin>, ProxyDef)>,
    templates: IndexMap<String, (Arc<Origin>, CheckTemplate)>,
}

impl Defs {
    #[allow(clippy::too_many_arguments)]
    fn absorb(
        &mut self,
        origin: &Arc<Origin>,
        vars: &IndexMap<String, serde_json::Value>,
        resolvers: &IndexMap<String, ResolverDef>,
        proxies: &IndexMap<String, ProxyDef>,
        templates: &IndexMap<String, CheckTemplate>,
    ) {
        for (k, v) in vars {
            self.vars.insert(k.clone(), v.clone());
            self.var_bases.insert(k.clone(), origin.base.clone());
        }
        for (k, v) in resolvers {
            self.resolvers.insert(k.clone(), (origin.clone(), v.clone()));
        }
        for (k, v) in proxies {
            self.proxies.insert(k.clone(), (origin.clone(), v.clone()));
        }
        for (k, v) in templates {
            self.templates.insert(k.clone(), (origin.clone(), v.clone()));
        }
    }
}

/// Renders the templates in a suite's or library's `vars` values (`tok: "{{ env.TOKEN }}"`), in
/// file order: a value may use the environment, the variables of the libraries included before
/// and the variables written above it in the same file. Values read from the environment are
/// secrets like any other `{{ env.NAME }}`. A value that cannot be rendered is an error located
/// at its key (the variable is then left out).
fn render_vars(
    cx: &mut Ctx,
    origin: &Arc<Origin>,
    vars: &IndexMap<String, serde_json::Value>,
    before: &IndexMap<String, serde_json::Value>,
) -> IndexMap<String, serde_json::Value> {
    if !vars.values().any(has_template) {
        return vars.clone();
    }
    let saved = std::mem::replace(&mut cx.origin, origin.clone());
    let mut scope: Scope = before.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect();
    let mut out = IndexMap::new();
    for (k, v) in vars {
        let at = key_position(&origin.source, k);
        if let Some(r) = cx.render_value(v, at, &scope) {
            scope.insert(k.clone(), json_to_value(&r));
            out.insert(k.clone(), r);
        }
    }
    cx.origin = saved;
    out
}

/// Whether a JSON value holds a template string anywhere.
fn has_template(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => template::is_template(s),
        serde_json::Value::Array(a) => a.iter().any(has_template),
        serde_json::Value::Object(m) => m.values().any(has_template),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => false,
    }
}

/// The 1-based line and column of the first `key:` in `source` (where a `vars` entry is
/// written), or `(0, 0)` when it cannot be found (the error then names the file only).
fn key_position(source: &str, key: &str) -> (u32, u32) {
    for pat in [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")] {
        for (i, line) in source.lines().enumerate() {
            if let Some(c) = line.find(&pat)
                && line[..c].chars().last().is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '-'))
            {
                return (i as u32 + 1, line[..c].chars().count() as u32 + 1);
            }
        }
    }
    (0, 0)
}

/// Most nested includes followed before the chain is reported as too deep.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Reads the libraries `includes` (written in `origin`), depth first, into `defs`.
fn include_all(cx: &mut Ctx, origin: &Arc<Origin>, includes: &[Text], stack: &mut Vec<PathBuf>, defs: &mut Defs) {
    for inc in includes {
        let saved = std::mem::replace(&mut cx.origin, origin.clone());
        let path = origin.base.join(&inc.value);
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if stack.contains(&canon) {
            let chain: Vec<String> = stack.iter().chain(std::iter::once(&canon)).map(|p| p.display().to_string()).collect();
            cx.err(
                inc.line,
                inc.column,
                format!("cyclic include: {}", chain.join(" -> ")),
                Some("a library must not include itself, directly or through others"),
            );
        } else if stack.len() > MAX_INCLUDE_DEPTH {
            cx.err(inc.line, inc.column, format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"), None);
        } else {
            match suite::load_library(&path) {
                Err(e) => {
                    // One error: the library's own, located in the library, saying where it was
                    // included from; or, when it cannot be read, the include line with the reason.
                    let from = format!("included from {}:{}:{}", cx.origin.path.display(), inc.line, inc.column);
                    let e = match e {
                        LoadError::Read { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput => LoadError::at(
                            &cx.origin.path,
                            Some(&cx.origin.source),
                            inc.line,
                            inc.column,
                            format!("cannot include {}: {source}", inc.value),
                        )
                        .with_hint("include a library file: a FIFO, a device or a /proc or /sys entry is never read"),
                        LoadError::Located(mut l) => {
                            // The library may be any file: its text is shown no further than the
                            // offending line, cut (the snippet is cut already).
                            l.message = crate::util::one_line(&l.message, crate::suite::error::SNIPPET_WIDTH);
                            l.hint = Some(match l.hint.take() {
                                Some(h) => format!("{h}\n  = note: {from}"),
                                None => from,
                            });
                            LoadError::Located(l)
                        }
                        other => {
                            let why = other.read_reason();
                            LoadError::at(
                                &cx.origin.path,
                                Some(&cx.origin.source),
                                inc.line,
                                inc.column,
                                format!("cannot include {}: {why}", inc.value),
                            )
                            .with_hint(format!("the path is relative to {}", cx.origin.base.display()))
                        }
                    };
                    cx.failed_include.get_or_insert(cx.errors.len());
                    cx.errors.push(e);
                }
                Ok((lib, source)) => {
                    let lib_origin = Arc::new(Origin {
                        path: path.clone(),
                        display: Arc::from(path.display().to_string()),
                        source,
                        base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                    });
                    stack.push(canon);
                    include_all(cx, &lib_origin, &lib.include, stack, defs);
                    stack.pop();
                    let vars = render_vars(cx, &lib_origin, &lib.vars, &defs.vars);
                    defs.absorb(&lib_origin, &vars, &lib.resolvers, &lib.proxies, &lib.templates);
                }
            }
        }
        cx.origin = saved;
    }
}

fn plan_suite(
    l: &Loaded,
    inputs: &Inputs,
    file_vars: &[IndexMap<String, serde_json::Value>],
    tpl: &Templater,
    out: &mut Plan,
) -> Result<(), LoadError> {
    let s: &SuiteFile = &l.suite;
    let origin = Origin::of(l);
    let mut cx = Ctx { origin: origin.clone(), tpl, errors: Vec::new(), failed_include: None, var_bases: HashMap::new() };
    let base = origin.base.clone();

    // Definitions: included libraries first, then the suite's own.
    let mut defs = Defs::default();
    let canon = std::fs::canonicalize(&l.path).unwrap_or_else(|_| l.path.clone());
    include_all(&mut cx, &origin, &s.include, &mut vec![canon], &mut defs);
    let own_vars = render_vars(&mut cx, &origin, &s.vars, &defs.vars);
    defs.absorb(&origin, &own_vars, &s.resolvers, &s.proxies, &s.templates);

    // Variables, lowest precedence first.
    let mut vars: IndexMap<String, serde_json::Value> = std::mem::take(&mut defs.vars);
    cx.var_bases = std::mem::take(&mut defs.var_bases);
    for (fv, path) in file_vars.iter().zip(&inputs.vars_files) {
        for (k, v) in fv {
            vars.insert(k.clone(), v.clone());
            cx.var_bases.insert(k.clone(), path.parent().map(Path::to_path_buf).unwrap_or_default());
        }
    }
    for (k, v) in &inputs.typed_vars {
        vars.insert(k.clone(), v.clone());
        cx.var_bases.insert(k.clone(), PathBuf::new());
    }
    for (k, v) in inputs.env_vars.iter().chain(inputs.vars.iter()) {
        vars.insert(k.clone(), serde_json::Value::String(v.clone()));
        cx.var_bases.insert(k.clone(), PathBuf::new());
    }
    let base_scope: Scope = vars.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect();
    let suite_name = cx.render(&s.name, &base_scope).unwrap_or_else(|| s.name.value.clone());
    let suite_name: Arc<str> = Arc::from(suite_name.as_str());
    out.suites.push(suite_name.to_string());
    out.vars.insert(suite_name.to_string(), vars.clone());

    // Matrix axes.
    let mut axes: IndexMap<String, Vec<String>> = IndexMap::new();
    for (name, axis) in &s.matrix {
        let values = match axis {
            Axis::List(v) => v.clone(),
            Axis::Var(var) => match vars.get(var) {
                Some(serde_json::Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
                Some(v) => scalar_text(v).map(|t| split_list(&t)).unwrap_or_default(),
                None => {
                    let mut e = LoadError::input(
                        format!("{}: matrix axis `{name}` takes variable `{var}`, which is not defined", l.path.display()),
                        None,
                    );
                    e = match did_you_mean(var, vars.keys().map(String::as_str)) {
                        Some(c) => e.with_hint(format!(
                            "did you mean `{c}`? Otherwise define it in `vars`, a `--vars-file` or with `--var {var}=a,b`"
                        )),
                        None => e.with_hint(format!("define it in `vars`, a `--vars-file` or with `--var {var}=a,b`")),
                    };
                    cx.errors.push(e);
                    Vec::new()
                }
            },
            Axis::File(f) => {
                let p = base.join(f);
                match suite::read_regular(&p) {
                    Ok(t) => t.lines().map(|l| l.split('#').next().unwrap_or("").trim().to_owned()).filter(|l| !l.is_empty()).collect(),
                    Err(e) => {
                        cx.errors.push(LoadError::input(
                            format!("{}: cannot read matrix file {}: {}", l.path.display(), p.display(), e.read_reason()),
                            None,
                        ));
                        Vec::new()
                    }
                }
            }
        };
        axes.insert(name.clone(), values);
    }
    out.seen.axes.extend(axes.keys().cloned());
    for sc in &s.scenarios {
        out.seen.axes.extend(tpl.variables(&sc.name.value));
    }
    for (name, values) in &inputs.matrix {
        axes.insert(name.clone(), values.clone());
    }
    out.seen.scenario_hit.resize(inputs.scenarios.len(), false);
    out.seen.check_hit.resize(inputs.checks.len(), false);

    let mut st = SuiteState {
        suite_name: suite_name.clone(),
        defs,
        resolver_cache: HashMap::new(),
        plain_resolvers: HashMap::new(),
        proxy_cache: HashMap::new(),
        system: Arc::new(ResolverSpec::system()),
        default_timeout: inputs.timeout.or(s.defaults.timeout.map(|d| d.0)).unwrap_or(DEFAULT_TIMEOUT),
        default_retry: s.defaults.retry,
    };

    // Every tag there is, whatever the selection (for the error when a `--tag` matches nothing).
    for sc in &s.scenarios {
        out.seen.tags.extend(sc.tags.iter().cloned());
        for c in &sc.checks {
            out.seen.tags.extend(c.tags.iter().cloned());
            if let CheckKind::Use(u) = &c.kind
                && let Some((_, t)) = st.defs.templates.get(&u.template.value)
            {
                out.seen.tags.extend(t.checks.iter().flat_map(|tc| tc.tags.iter().cloned()));
            }
        }
    }
    // Per `--scenario` value without glob characters: whether an instance has exactly that name
    // (then it selects only that one, not others it is a prefix of).
    let mut exact = vec![false; inputs.scenarios.len()];
    if inputs.scenarios.iter().any(|g| !is_glob(g)) {
        for sc in &s.scenarios {
            let used: Vec<String> = tpl.variables(&sc.name.value).into_iter().filter(|v| axes.contains_key(v)).collect();
            let used: Vec<String> = axes.keys().filter(|k| used.contains(k)).cloned().collect();
            let count = used.iter().map(|a| axes[a].len()).try_fold(1usize, |acc, n| acc.checked_mul(n)).unwrap_or(usize::MAX);
            if count > MAX_INSTANCES {
                continue;
            }
            for combo in combinations(&used, &axes) {
                let mut scope = base_scope.clone();
                scope.extend(combo.into_iter().map(|(k, v)| (k, Value::from(v))));
                if let Ok(inst) = tpl.render(&sc.name.value, &scope) {
                    for (g, e) in inputs.scenarios.iter().zip(exact.iter_mut()) {
                        *e |= *g == inst;
                    }
                }
            }
        }
    }
    // The global budget, counted before anything is built: instances × checks per instance.
    let mut budget = out.count;
    for sc in &s.scenarios {
        let used: Vec<String> = tpl.variables(&sc.name.value).into_iter().filter(|v| axes.contains_key(v)).collect();
        let instances = axes
            .iter()
            .filter(|(k, _)| used.contains(k))
            .map(|(_, v)| v.len())
            .try_fold(1usize, |acc, n| acc.checked_mul(n))
            .unwrap_or(usize::MAX);
        if instances > MAX_INSTANCES {
            // Reported below as a scenario with too many instances.
            continue;
        }
        let per_instance: usize = sc
            .checks
            .iter()
            .map(|c| match &c.kind {
                CheckKind::Use(u) => st.defs.templates.get(&u.template.value).map_or(1, |(_, t)| t.checks.len().max(1)),
                CheckKind::Dns(_) | CheckKind::Tcp(_) | CheckKind::Tls(_) | CheckKind::Http(_) => 1,
            })
            .fold(0usize, usize::saturating_add);
        budget = budget.saturating_add(instances.saturating_mul(per_instance));
        if budget > MAX_PLANNED_CHECKS {
            let shown = |n: usize| if n == usize::MAX { "too many".to_owned() } else { n.to_string() };
            cx.err(
                sc.name.line,
                sc.name.column,
                format!(
                    "the plan would hold more than the {MAX_PLANNED_CHECKS} checks allowed (all suites together): this scenario expands to {instances} instances of {per_instance} check(s), bringing the plan to {}",
                    shown(budget)
                ),
                Some("narrow the matrix (--matrix NAME=V1,V2) or split the suites into several runs"),
            );
            return Err(LoadError::many(cx.errors));
        }
    }
    let mut seen_instances: HashMap<String, (u32, u32)> = HashMap::new();
    for sc in &s.scenarios {
        let used: Vec<String> = tpl.variables(&sc.name.value).into_iter().filter(|v| axes.contains_key(v)).collect();
        let used: Vec<String> = axes.keys().filter(|k| used.contains(k)).cloned().collect();
        let count = used.iter().map(|a| axes[a].len()).try_fold(1usize, |acc, n| acc.checked_mul(n)).unwrap_or(usize::MAX);
        if count > MAX_INSTANCES {
            cx.err(
                sc.name.line,
                sc.name.column,
                format!(
                    "scenario expands to {} instances, more than the {MAX_INSTANCES} allowed",
                    if count == usize::MAX { "too many".to_string() } else { count.to_string() }
                ),
                Some("use fewer matrix axes in the scenario's name, or narrow an axis with --matrix NAME=V1,V2"),
            );
            continue;
        }
        for combo in combinations(&used, &axes) {
            let mut scope = base_scope.clone();
            for (k, v) in &combo {
                scope.insert(k.clone(), Value::from(v.as_str()));
            }
            let Some(inst) = cx.render(&sc.name, &scope) else {
                continue;
            };
            if let Some((pl, pc)) = seen_instances.insert(inst.clone(), (sc.name.line, sc.name.column)) {
                cx.err(
                    sc.name.line,
                    sc.name.column,
                    format!("scenario instance name `{inst}` is not unique (also at line {pl}, column {pc})"),
                    Some("put every matrix axis the scenario uses in its name, e.g. \"arc-sql {{ region }}\""),
                );
                continue;
            }
            out.seen.scenario_count += 1;
            if out.seen.scenarios.len() < SEEN_LISTED {
                out.seen.scenarios.push(inst.clone());
            }
            let mut selected = inputs.scenarios.is_empty();
            for ((g, hit), exact) in inputs.scenarios.iter().zip(out.seen.scenario_hit.iter_mut()).zip(&exact) {
                if selects(g, &inst, *exact) {
                    *hit = true;
                    selected = true;
                }
            }
            if !selected {
                continue;
            }
            if sc.checks.is_empty() {
                cx.err(sc.name.line, sc.name.column, format!("scenario `{inst}` has no checks"), Some("add checks or remove the scenario"));
                continue;
            }
            // The scenario's default resolver, rendered in the suite's file.
            let scen_resolver = match &sc.resolver {
                None => Some(st.system.clone()),
                Some(t) => match cx.render(t, &scope) {
                    Some(rn) => resolve_named(&mut cx, &mut st, &rn, t, &scope),
                    None => None,
                },
            };
            let Some(scen_resolver) = scen_resolver else { continue };
            let mut inst_ctx = Instance {
                name: Arc::from(inst.as_str()),
                combo: combo.clone().into(),
                tags: sc.tags.clone(),
                resolver: scen_resolver,
                seen: HashSet::new(),
                path: sc.path.unwrap_or(true),
            };
            for c in &sc.checks {
                let Some(name) = cx.render(&c.name, &scope) else {
                    continue;
                };
                match &c.kind {
                    CheckKind::Use(u) => expand_template(&mut cx, &mut st, &mut inst_ctx, c, u, name, &scope, inputs, out),
                    CheckKind::Dns(_) | CheckKind::Tcp(_) | CheckKind::Tls(_) | CheckKind::Http(_) => {
                        plan_check(&mut cx, &mut st, &mut inst_ctx, c, name, &c.tags, &scope, inputs, out)
                    }
                }
            }
        }
    }
    if let Some(at) = cx.failed_include {
        drop_cascade(&mut cx.errors, at);
    }
    if cx.errors.is_empty() { Ok(()) } else { Err(LoadError::many(cx.errors)) }
}

/// Whether an error may only follow from definitions a failed include would have given.
fn is_cascade(e: &LoadError) -> bool {
    let m = match e {
        LoadError::Located(l) => l.message.as_str(),
        LoadError::Input { message, .. } => message.as_str(),
        LoadError::Read { .. } | LoadError::Many(_) => return false,
    };
    ["unknown template `", "unknown proxy `", "unknown resolver `", "undefined variable `"].iter().any(|p| m.starts_with(p))
        || (m.starts_with("template `") && m.contains("` needs parameter"))
        || m.contains(", which is not defined")
}

/// Drops the errors after a failed include (at index `at`) that follow from it, and says how
/// many on the include's error.
fn drop_cascade(errors: &mut Vec<LoadError>, at: usize) {
    let before = errors.len();
    let mut i = 0;
    errors.retain(|e| {
        let keep = i <= at || !is_cascade(e);
        i += 1;
        keep
    });
    let dropped = before - errors.len();
    if dropped > 0
        && let Some(LoadError::Located(l)) = errors.get_mut(at)
    {
        let note = format!("{dropped} error(s) about unknown templates, proxies, resolvers or variables that follow from it are not shown");
        l.hint = Some(match l.hint.take() {
            Some(h) => format!("{h}\n  = note: {note}"),
            None => format!("fix this include first; {note}"),
        });
    }
}

/// One error per source location and message: the same mistake in a scenario that expands over a matrix
/// (or a template used many times) is reported once, saying how many instances it affects.
fn dedupe(errors: Vec<LoadError>) -> Vec<LoadError> {
    let mut out: Vec<LoadError> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for e in errors {
        let key = match &e {
            LoadError::Located(l) if l.line > 0 => format!("{}\0{}\0{}\0{}", l.path.display(), l.line, l.column, l.message),
            other => other.to_string(),
        };
        match index.get(&key) {
            Some(&i) => counts[i] += 1,
            None => {
                index.insert(key, out.len());
                out.push(e);
                counts.push(1);
            }
        }
    }
    for (e, n) in out.iter_mut().zip(counts) {
        if n > 1
            && let LoadError::Located(l) = e
        {
            l.message = format!("{} (in {n} instances: matrix values or template uses)", l.message);
        }
    }
    out
}

/// Per-suite planning state.
struct SuiteState {
    suite_name: Arc<str>,
    defs: Defs,
    resolver_cache: HashMap<String, Arc<ResolverSpec>>,
    /// Resolvers whose servers hold no template, by name: the same for every check.
    plain_resolvers: HashMap<String, Arc<ResolverSpec>>,
    proxy_cache: HashMap<String, Arc<ProxySpec>>,
    system: Arc<ResolverSpec>,
    default_timeout: Duration,
    default_retry: Option<crate::suite::model::Retry>,
}

/// Per-scenario-instance planning state.
struct Instance {
    name: Arc<str>,
    combo: Arc<[(String, String)]>,
    tags: Vec<String>,
    resolver: Arc<ResolverSpec>,
    seen: HashSet<String>,
    /// The scenario's `path` (or a `use` site's, while its template expands).
    path: bool,
}

#[allow(clippy::too_many_arguments)]
fn expand_template(
    cx: &mut Ctx,
    st: &mut SuiteState,
    inst: &mut Instance,
    c: &Check,
    u: &UseSpec,
    use_name: String,
    scope: &Scope,
    inputs: &Inputs,
    out: &mut Plan,
) {
    // A `use` entry holds no kind or expectation of its own: the loader rejects them.
    let t = &u.template;
    let Some(tname) = cx.render(t, scope) else { return };
    let Some((torigin, tmpl)) = st.defs.templates.get(&tname).cloned() else {
        let hint = match did_you_mean(&tname, st.defs.templates.keys().map(String::as_str)) {
            Some(c) => format!("did you mean `{c}`?"),
            None if st.defs.templates.is_empty() => "define it under `templates:` here or in an included library".to_owned(),
            None => format!("known templates: {}", st.defs.templates.keys().cloned().collect::<Vec<_>>().join(", ")),
        };
        cx.err(t.line, t.column, format!("unknown template `{tname}`"), Some(&hint));
        return;
    };
    // Parameters: `with` values (templated in the scenario's scope), then the template's defaults.
    let mut tscope = scope.clone();
    let mut ok = true;
    // Where a relative path given as a parameter starts: the file the `with` is written in
    // (or, for a value taken from a variable, that variable's file).
    let mut param_bases: Vec<(String, PathBuf)> = Vec::new();
    for (k, v) in &u.with {
        if !tmpl.params.contains(k) {
            let hint = match did_you_mean(k, tmpl.params.iter().map(String::as_str)) {
                Some(p) => format!("did you mean `{p}`?"),
                None => format!("`{tname}` takes: {}", tmpl.params.join(", ")),
            };
            cx.err(t.line, t.column, format!("template `{tname}` has no parameter `{k}`"), Some(&hint));
            ok = false;
            continue;
        }
        let value = match v {
            serde_json::Value::String(s) => match cx.render_at(s, (t.line, t.column), scope) {
                Some(r) => {
                    param_bases.push((k.clone(), cx.base_for(s)));
                    Value::from(r)
                }
                None => {
                    ok = false;
                    continue;
                }
            },
            other => json_to_value(other),
        };
        tscope.insert(k.clone(), value);
    }
    for p in &tmpl.params {
        if !u.with.contains_key(p) {
            match tmpl.defaults.get(p) {
                Some(d) => {
                    tscope.insert(p.clone(), json_to_value(d));
                    param_bases.push((p.clone(), torigin.base.clone()));
                }
                None => {
                    cx.err(
                        t.line,
                        t.column,
                        format!("template `{tname}` needs parameter `{p}`"),
                        Some(&format!("add `{p}: ...` under `with:`")),
                    );
                    ok = false;
                }
            }
        }
    }
    if !ok {
        return;
    }
    // The template's checks are located in the file that defines it.
    let replaced: Vec<(String, Option<PathBuf>)> = param_bases.into_iter().map(|(k, b)| (k.clone(), cx.var_bases.insert(k, b))).collect();
    let saved = std::mem::replace(&mut cx.origin, torigin);
    let saved_path = inst.path;
    inst.path = c.path.unwrap_or(inst.path);
    for tc in &tmpl.checks {
        match &tc.kind {
            CheckKind::Use(_) => {
                cx.err(tc.name.line, tc.name.column, "a template's checks cannot use other templates", None);
                continue;
            }
            CheckKind::Dns(_) | CheckKind::Tcp(_) | CheckKind::Tls(_) | CheckKind::Http(_) => {}
        }
        let Some(tc_name) = cx.render(&tc.name, &tscope) else { continue };
        let mut tags = c.tags.clone();
        tags.extend(tc.tags.iter().cloned());
        plan_check(cx, st, inst, tc, format!("{use_name}: {tc_name}"), &tags, &tscope, inputs, out);
    }
    inst.path = saved_path;
    cx.origin = saved;
    for (k, old) in replaced.into_iter().rev() {
        match old {
            Some(b) => cx.var_bases.insert(k, b),
            None => cx.var_bases.remove(&k),
        };
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_check(
    cx: &mut Ctx,
    st: &mut SuiteState,
    inst: &mut Instance,
    c: &Check,
    name: String,
    check_tags: &[String],
    scope: &Scope,
    inputs: &Inputs,
    out: &mut Plan,
) {
    if !inst.seen.insert(name.clone()) {
        cx.err(
            c.name.line,
            c.name.column,
            format!("check name `{name}` is used twice in scenario `{}`", inst.name),
            Some("check ids (suite/scenario/check) must be unique"),
        );
        return;
    }
    let mut tags: Vec<String> = inst.tags.clone();
    tags.extend(check_tags.iter().cloned());
    let mut id = String::with_capacity(st.suite_name.len() + inst.name.len() + name.len() + 2);
    id.push_str(&st.suite_name);
    id.push('/');
    id.push_str(&inst.name);
    id.push('/');
    id.push_str(&name);
    let mut check_selected = inputs.checks.is_empty();
    for (g, hit) in inputs.checks.iter().zip(out.seen.check_hit.iter_mut()) {
        if glob_match(g, &name) || glob_match(g, &id) {
            *hit = true;
            check_selected = true;
        }
    }
    if !check_selected || (!inputs.tags.is_empty() && !tags.iter().any(|t| inputs.tags.contains(t))) {
        return;
    }
    let resolver = match c.kind.resolver() {
        None => Some(inst.resolver.clone()),
        Some(t) => match cx.render(t, scope) {
            Some(rn) => resolve_named(cx, st, &rn, t, scope),
            None => None,
        },
    };
    let Some(resolver) = resolver else { return };
    let base = cx.origin.base.clone();
    let Some(mut target) = build_target(cx, c, scope, st) else {
        return;
    };
    let kind = target.kind();
    let expect_at = c.expect.as_ref().map(|e| (e.line, e.column)).unwrap_or((c.name.line, c.name.column));
    let rendered = match &c.expect {
        None => None,
        Some(e) => match render_expect(cx, &e.value, expect_at, scope) {
            Some(r) => Some(r),
            None => return,
        },
    };
    if let (Some(versions), Target::Tls { refuse_versions, .. }) =
        (rendered.as_ref().and_then(|e| e.refuses_versions.as_ref()), &mut target)
    {
        for v in versions {
            match v.value.testable() {
                Some(t) => refuse_versions.push(t),
                None => {
                    let (line, column) = if v.line > 0 { (v.line, v.column) } else { expect_at };
                    cx.err(
                        line,
                        column,
                        format!("{} cannot be tested: netspec's TLS library (rustls) offers only TLS 1.2 and 1.3", v.value),
                        Some("remove it: netspec can expect `refuses_versions: [\"1.2\"]` and `min_version: \"1.3\"`; to prove that TLS 1.0/1.1 are off, use a tool that still speaks them (`openssl s_client -tls1_1`)"),
                    );
                    return;
                }
            }
        }
        refuse_versions.sort();
        refuse_versions.dedup();
    }
    let (dns_name, compared) = match &target {
        Target::Dns { name, compare, .. } => (Some(name.as_str()), !compare.is_empty()),
        _ => (None, false),
    };
    if rendered.as_ref().is_some_and(|e| e.agree.is_some()) && !compared {
        cx.err(
            expect_at.0,
            expect_at.1,
            "`agree` needs resolvers to compare with",
            Some("add `compare: [other-resolver]` to the dns check"),
        );
        return;
    }
    let expect = match expect::compile(rendered.as_ref(), kind, &base, dns_name) {
        Ok(e) => e,
        Err(m) => {
            cx.err(expect_at.0, expect_at.1, m, None);
            return;
        }
    };
    let hint = match &c.hint {
        Some(h) => match cx.render_at(h, (c.name.line, c.name.column), scope) {
            Some(h) => Some(h),
            None => return,
        },
        None => None,
    };
    let timeout = match &c.timeout {
        None => None,
        Some(t) => match cx.typed(t, DUR_ACCEPTS, scope) {
            Some(d) => Some(d.0),
            None => return,
        },
    };
    let retry = c.retry.or(st.default_retry);
    let attempts = retry.map(|r| r.attempts.max(1)).unwrap_or(1);
    let index = out.count;
    let meta = Arc::new(CheckMeta {
        index,
        id,
        suite: st.suite_name.clone(),
        scenario: inst.name.clone(),
        name,
        kind: target.kind(),
        target: target.describe(),
        resolver: resolver.name.clone(),
        hint,
        tags,
        vars: inst.combo.clone(),
        insecure: matches!(&target, Target::Http(h) if h.insecure),
        defined: Some((cx.origin.display.clone(), c.name.line)),
    });
    let hold = cx.errors.is_empty();
    let planned = PlannedCheck {
        meta,
        target,
        expect,
        resolver,
        timeout: inputs.timeout.or(timeout).unwrap_or(st.default_timeout),
        attempts,
        retry_delay: retry.map(|r| r.delay.0).unwrap_or(Duration::from_secs(1)).max(MIN_RETRY_DELAY),
        retry_backoff: retry.map(|r| r.backoff).filter(|b| b.is_finite() && *b >= 1.0).unwrap_or(1.0),
        path: c.path.unwrap_or(inst.path),
    };
    out.emit(planned, hold);
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' ', '\n']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

/// Whether `name` matches a simple glob (`*`, `?`, classes), as `--scenario` takes.
pub fn glob_match(glob: &str, name: &str) -> bool {
    globset::Glob::new(glob).map(|g| g.compile_matcher().is_match(name)).unwrap_or(glob == name)
}

fn combinations(used: &[String], axes: &IndexMap<String, Vec<String>>) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for a in used {
        let values = &axes[a];
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in values {
                let mut c2 = c.clone();
                c2.push((a.clone(), v.clone()));
                next.push(c2);
            }
        }
        combos = next;
    }
    combos
}

/// Parses `IP`, `IP:PORT` or `[v6]:PORT` (port 53 by default).
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    t.parse::<SocketAddr>()
        .map_err(|_| format!("`{t}` is not a DNS server address: write IP or IP:PORT (e.g. 10.0.0.53 or 10.0.0.53:5353)"))
}

fn resolve_named(cx: &mut Ctx, st: &mut SuiteState, name: &str, at: &Text, scope: &Scope) -> Option<Arc<ResolverSpec>> {
    if name == "system" {
        return Some(st.system.clone());
    }
    if let Some(r) = st.plain_resolvers.get(name) {
        return Some(r.clone());
    }
    let Some((rorigin, def)) = st.defs.resolvers.get(name).cloned() else {
        let known: Vec<&str> = std::iter::once("system").chain(st.defs.resolvers.keys().map(String::as_str)).collect();
        let hint = match did_you_mean(name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? Known resolvers: {}", known.join(", ")),
            None => format!("known resolvers: {}", known.join(", ")),
        };
        cx.err(at.line, at.column, format!("unknown resolver `{name}`"), Some(&hint));
        return None;
    };
    // Servers are located in the file that defines the resolver.
    let saved = std::mem::replace(&mut cx.origin, rorigin);
    let mut servers = Vec::new();
    let mut key = name.to_owned();
    let mut failed = false;
    for t in &def.servers {
        let Some(v) = cx.render(t, scope) else {
            failed = true;
            break;
        };
        key.push('|');
        key.push_str(&v);
        match parse_server(&v) {
            Ok(a) => servers.push(a),
            Err(m) => {
                cx.err(t.line, t.column, m, None);
                failed = true;
                break;
            }
        }
    }
    cx.origin = saved;
    if failed {
        return None;
    }
    if servers.is_empty() {
        cx.err(at.line, at.column, format!("resolver `{name}` has no servers"), None);
        return None;
    }
    let spec = st
        .resolver_cache
        .entry(key)
        .or_insert_with(|| Arc::new(ResolverSpec { name: name.to_owned(), servers: Some(servers), protocol: def.protocol }))
        .clone();
    if !def.servers.iter().any(|t| template::is_template(&t.value)) {
        // The same servers for every check and scope: later checks skip rendering them.
        st.plain_resolvers.insert(name.to_owned(), spec.clone());
    }
    Some(spec)
}

/// What a check probes, rendered in `scope`. A `use` entry is expanded before (by
/// [`expand_template`]), never probed: reaching here with one is reported, not ignored.
fn build_target(cx: &mut Ctx, c: &Check, scope: &Scope, st: &mut SuiteState) -> Option<Target> {
    match &c.kind {
        CheckKind::Dns(d) => dns_target(cx, d, scope, st),
        CheckKind::Tcp(t) => tcp_target(cx, t, scope),
        CheckKind::Tls(t) => tls_target(cx, t, scope),
        CheckKind::Http(h) => http_target(cx, h, scope, st),
        CheckKind::Use(u) => {
            cx.err(u.template.line, u.template.column, format!("check `{}` uses a template where a probe is needed", c.name.value), None);
            None
        }
    }
}

/// A path option (`ca_file`), rendered and resolved against where it was written.
fn path_of(cx: &mut Ctx, t: &Option<Text>, scope: &Scope) -> Option<Option<PathBuf>> {
    match t {
        None => Some(None),
        Some(t) => Some(Some(cx.render_path(&t.value, (t.line, t.column), scope)?)),
    }
}

/// The target of a `dns:` check.
fn dns_target(cx: &mut Ctx, d: &DnsSpec, scope: &Scope, st: &mut SuiteState) -> Option<Target> {
    let name = cx.render(&d.name, scope)?;
    if name.is_empty() {
        cx.err(d.name.line, d.name.column, "empty DNS name", None);
        return None;
    }
    let mut compare = Vec::new();
    for t in &d.compare {
        let rn = cx.render(t, scope)?;
        compare.push(resolve_named(cx, st, &rn, t, scope)?);
    }
    Some(Target::Dns { name, record_type: d.record_type, compare })
}

/// The target of a `tcp:` check.
fn tcp_target(cx: &mut Ctx, t: &TcpSpec, scope: &Scope) -> Option<Target> {
    let host = host_of(cx, &t.host, scope)?;
    let source = match &t.source {
        None => None,
        Some(src) => {
            let v = cx.render(src, scope)?;
            match v.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    cx.err(src.line, src.column, format!("`{v}` is not an IP address"), None);
                    return None;
                }
            }
        }
    };
    let port = cx.typed(&t.port, PORT_ACCEPTS, scope)?.0;
    Some(Target::Tcp { host, port, source })
}

/// The target of a `tls:` check.
fn tls_target(cx: &mut Ctx, t: &TlsSpec, scope: &Scope) -> Option<Target> {
    let host = host_of(cx, &t.host, scope)?;
    let sni = match &t.sni {
        Some(s) => cx.render(s, scope)?,
        None => host.clone(),
    };
    let ca_file = path_of(cx, &t.ca_file, scope)?;
    let port = cx.typed(&t.port, PORT_ACCEPTS, scope)?.0;
    Some(Target::Tls { host, port, sni, ca_file, refuse_versions: Vec::new() })
}

/// The target of an `http:` check.
fn http_target(cx: &mut Ctx, h: &HttpSpec, scope: &Scope, st: &mut SuiteState) -> Option<Target> {
    let raw = cx.render(&h.url, scope)?;
    // The password is a secret before the URL is known to be valid: errors quote the URL.
    if let Some(pw) = template::userinfo_password(&raw) {
        cx.tpl.secrets().add_url_password(pw);
    }
    let url = match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        Ok(_) => {
            cx.err(h.url.line, h.url.column, format!("`{raw}` is not an http:// or https:// URL with a host"), None);
            return None;
        }
        Err(e) => {
            cx.err(h.url.line, h.url.column, format!("invalid URL `{raw}`: {e}"), Some("write an absolute URL such as https://host/path"));
            return None;
        }
    };
    if let Some(pw) = url.password() {
        cx.tpl.secrets().add_url_password(pw);
    }
    let at = (h.url.line, h.url.column);
    let method_s = match &h.method {
        Some(m) => cx.render_at(m, at, scope)?,
        None => "GET".into(),
    };
    let method = match http::Method::from_bytes(method_s.to_ascii_uppercase().as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            cx.err(at.0, at.1, format!("invalid HTTP method `{method_s}`"), None);
            return None;
        }
    };
    let mut headers = Vec::new();
    for (k, v) in &h.headers {
        let v = cx.render_at(v, at, scope)?;
        if http::header::HeaderName::from_bytes(k.as_bytes()).is_err() || http::header::HeaderValue::from_str(&v).is_err() {
            cx.err(at.0, at.1, format!("invalid header `{k}`"), None);
            return None;
        }
        // Credentials in headers are secrets wherever they would be printed.
        if SECRET_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            cx.tpl.secrets().add_header_value(&v);
        }
        headers.push((k.clone(), v));
    }
    let body = match &h.body {
        Some(b) => Some(cx.render_at(b, at, scope)?),
        None => None,
    };
    let proxy = match &h.proxy {
        None => None,
        Some(p) => {
            let pn = cx.render(p, scope)?;
            match pn.as_str() {
                "none" => None,
                "env" => env_proxy(cx, &url, p),
                _ => Some(resolve_proxy(cx, st, &pn, p, scope)?),
            }
        }
    };
    let connect_to = match &h.connect_to {
        None => None,
        Some(t) => {
            let v = cx.render(t, scope)?;
            match v.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    cx.err(t.line, t.column, format!("`{v}` is not an IP address"), None);
                    return None;
                }
            }
        }
    };
    let ca_file = path_of(cx, &h.ca_file, scope)?;
    Some(Target::Http(Box::new(HttpTarget {
        url,
        method,
        headers,
        body,
        proxy,
        follow_redirects: h.follow_redirects,
        ca_file,
        insecure: h.insecure,
        connect_to,
    })))
}

/// `proxy: env`: the proxy the environment names for this URL (`HTTPS_PROXY`/`https_proxy` for
/// https, `HTTP_PROXY`/`http_proxy` for http), unless `NO_PROXY`/`no_proxy` exempts the host
/// (`*`, exact names or IPs, and domain suffixes with or without a leading dot), as curl does.
/// Credentials in the proxy URL's userinfo become Basic credentials and are secrets.
fn env_proxy(cx: &mut Ctx, url: &url::Url, at: &Text) -> Option<Arc<ProxySpec>> {
    let var = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
    let raw = if url.scheme() == "https" { var(&["HTTPS_PROXY", "https_proxy"]) } else { var(&["HTTP_PROXY", "http_proxy"]) }?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if let Some(no) = var(&["NO_PROXY", "no_proxy"]) {
        let exempt = no.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).any(|e| {
            let d = e.trim_start_matches("*.").trim_start_matches('.');
            e == "*" || host == d || host.ends_with(&format!(".{d}"))
        });
        if exempt {
            return None;
        }
    }
    if let Some(pw) = template::userinfo_password(&raw) {
        cx.tpl.secrets().add_url_password(pw);
    }
    let with_scheme = if raw.contains("://") { raw.clone() } else { format!("http://{raw}") };
    let mut purl = match url::Url::parse(&with_scheme) {
        Ok(u) if u.host_str().is_some() => u,
        _ => {
            cx.err(
                at.line,
                at.column,
                format!("the environment's proxy `{raw}` is not a URL"),
                Some("fix HTTPS_PROXY / HTTP_PROXY, or use a named proxy"),
            );
            return None;
        }
    };
    let username = (!purl.username().is_empty()).then(|| purl.username().to_owned());
    let password = purl.password().map(str::to_owned);
    if let Some(pw) = &password {
        cx.tpl.secrets().add_url_password(pw);
    }
    let _ = purl.set_username("");
    let _ = purl.set_password(None);
    Some(Arc::new(ProxySpec { name: "env".into(), url: purl, username, password }))
}

fn resolve_proxy(cx: &mut Ctx, st: &mut SuiteState, pn: &str, at: &Text, scope: &Scope) -> Option<Arc<ProxySpec>> {
    let Some((porigin, def)) = st.defs.proxies.get(pn).cloned() else {
        let known: Vec<&str> = ["none", "env"].into_iter().chain(st.defs.proxies.keys().map(String::as_str)).collect();
        let hint = match did_you_mean(pn, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? Known proxies: {}", known.join(", ")),
            None => format!("known proxies: {} (define it under `proxies:`)", known.join(", ")),
        };
        cx.err(at.line, at.column, format!("unknown proxy `{pn}`"), Some(&hint));
        return None;
    };
    // The proxy's fields are located in the file that defines it.
    let saved = std::mem::replace(&mut cx.origin, porigin);
    let spec = proxy_spec(cx, st, pn, &def, scope);
    cx.origin = saved;
    spec
}

fn proxy_spec(cx: &mut Ctx, st: &mut SuiteState, pn: &str, def: &ProxyDef, scope: &Scope) -> Option<Arc<ProxySpec>> {
    let pu = cx.render(&def.url, scope)?;
    let at = (def.url.line, def.url.column);
    let username = match &def.username {
        Some(u) => Some(cx.render_at(u, at, scope)?),
        None => None,
    };
    let password = match &def.password {
        Some(u) => Some(cx.render_at(u, at, scope)?),
        None => None,
    };
    if let Some(pw) = &password {
        cx.tpl.secrets().add(pw);
    }
    if let Some(pw) = template::userinfo_password(&pu) {
        cx.tpl.secrets().add_url_password(pw);
    }
    let key = format!("{pn}|{pu}|{username:?}|{password:?}");
    if let Some(p) = st.proxy_cache.get(&key) {
        return Some(p.clone());
    }
    let url = match url::Url::parse(&pu) {
        Ok(u) if u.host_str().is_some() && u.scheme() == "http" => u,
        Ok(u) if u.host_str().is_some() && u.scheme() == "https" => {
            cx.err(
                at.0,
                at.1,
                format!("proxy URL `{pu}`: TLS to the proxy itself is not supported"),
                Some("write http://host:port: https URLs still go through the proxy encrypted, by CONNECT"),
            );
            return None;
        }
        _ => {
            cx.err(at.0, at.1, format!("invalid proxy URL `{pu}`"), Some("write http://host:port"));
            return None;
        }
    };
    let spec = Arc::new(ProxySpec { name: pn.to_owned(), url, username, password });
    st.proxy_cache.insert(key, spec.clone());
    Some(spec)
}

fn host_of(cx: &mut Ctx, t: &Text, scope: &Scope) -> Option<String> {
    let h = cx.render(t, scope)?;
    if h.is_empty() || h.contains('/') || h.contains(' ') {
        cx.err(t.line, t.column, format!("`{h}` is not a host name or IP address"), Some("write the host only, without scheme or path"));
        return None;
    }
    Some(h)
}

fn render_terms(cx: &mut Ctx, t: &Option<Terms>, at: (u32, u32), scope: &Scope) -> Option<Option<Terms>> {
    match t {
        None => Some(None),
        Some(t) => {
            let mut v = Vec::new();
            for s in &t.0 {
                let r = cx.render_at(s, at, scope)?;
                if !r.is_empty() && !r.contains([',', ' ', '\n']) && r.trim().len() == r.len() {
                    v.push(r); // one term, as split_list would give it
                } else {
                    v.extend(split_list(&r));
                }
            }
            Some(Some(Terms(v)))
        }
    }
}

fn render_sm(cx: &mut Ctx, m: &StringMatcher, at: (u32, u32), scope: &Scope) -> Option<StringMatcher> {
    let mut f = |o: &Option<String>| -> Option<Option<String>> {
        match o {
            None => Some(None),
            Some(s) => Some(Some(cx.render_at(s, at, scope)?)),
        }
    };
    Some(StringMatcher {
        equals: f(&m.equals)?,
        contains: f(&m.contains)?,
        not_contains: f(&m.not_contains)?,
        starts_with: f(&m.starts_with)?,
        ends_with: f(&m.ends_with)?,
        matches: f(&m.matches)?,
        glob: f(&m.glob)?,
    })
}

fn render_am(
    cx: &mut Ctx,
    m: &crate::suite::model::AddressMatcher,
    at: (u32, u32),
    scope: &Scope,
) -> Option<crate::suite::model::AddressMatcher> {
    Some(crate::suite::model::AddressMatcher {
        all: render_terms(cx, &m.all, at, scope)?,
        any: render_terms(cx, &m.any, at, scope)?,
        none: render_terms(cx, &m.none, at, scope)?,
        contains: render_terms(cx, &m.contains, at, scope)?,
        equals: render_terms(cx, &m.equals, at, scope)?,
        from_hosts_file: match &m.from_hosts_file {
            None => None,
            // Compiling resolves it against the file holding the text; a path taken from a
            // variable defined elsewhere is resolved here, against that variable's file.
            Some(p) if cx.base_for(p) != cx.origin.base => Some(cx.render_path(p, at, scope)?.to_string_lossy().into_owned()),
            Some(p) => Some(cx.render_at(p, at, scope)?),
        },
    })
}

fn render_expect(cx: &mut Ctx, spec: &ExpectSpec, at: (u32, u32), scope: &Scope) -> Option<Expect> {
    if let Some((key, m)) = spec.invalid.first() {
        cx.err(m.line, m.column, m.value.clone(), Some(&format!("`{}` takes {}", key.name(), key.accepts())));
        return None;
    }
    let e = &spec.typed;
    let mut r = e.clone();
    for (key, w) in &spec.templated {
        let wat = (w.line, w.column);
        let v = cx.render_value(&w.value, wat, scope)?;
        if let Err(err) = key.set(&mut r, v.clone()) {
            cx.err(
                wat.0,
                wat.1,
                format!("{}: {}", key.name(), rendered_type_error(&w.value, &v, &err)),
                Some(&format!("write {}", key.accepts())),
            );
            return None;
        }
    }
    if let Some(a) = &e.addresses {
        r.addresses = Some(Box::new(render_am(cx, a, at, scope)?));
    }
    if let Some(a) = &e.remote_address {
        r.remote_address = Some(Box::new(render_am(cx, a, at, scope)?));
    }
    for (slot, src) in [(&mut r.cname, &e.cname), (&mut r.san, &e.san), (&mut r.issuer, &e.issuer), (&mut r.body, &e.body)] {
        if let Some(m) = src {
            *slot = Some(Box::new(render_sm(cx, m, at, scope)?));
        }
    }
    let mut headers = IndexMap::new();
    for (k, m) in &e.headers {
        headers.insert(k.clone(), render_sm(cx, m, at, scope)?);
    }
    r.headers = headers;
    Some(r)
}

/// The plan as rows for `netspec plan` and the JSON report's check list.
#[derive(Debug, Serialize)]
pub struct PlanRow {
    /// Check id.
    pub id: String,
    /// Scenario instance.
    pub scenario: String,
    /// Kind.
    pub kind: Kind,
    /// Target description.
    pub target: String,
    /// Resolver name.
    pub resolver: String,
    /// Proxy name (http through a proxy).
    pub proxy: Option<String>,
    /// The expectations, described.
    pub expect: Vec<String>,
    /// Attempts.
    pub attempts: u32,
    /// Timeout, ms.
    pub timeout_ms: u128,
    /// Matrix values.
    pub vars: BTreeMap<String, String>,
}

impl Plan {
    /// The plan rows of `netspec plan`, every text redacted (before any wrapping or
    /// serialization, so a secret is never printed split in pieces).
    pub fn rows(&self) -> Vec<PlanRow> {
        let r = |s: &str| self.secrets.redact(s);
        self.checks
            .iter()
            .map(|c| {
                let mut row = c.row();
                if !self.secrets.is_empty() {
                    row.id = r(&row.id);
                    row.scenario = r(&row.scenario);
                    row.target = r(&row.target);
                    row.resolver = r(&row.resolver);
                    row.proxy = row.proxy.as_deref().map(r);
                    row.expect = row.expect.iter().map(|e| r(e)).collect();
                    row.vars = row.vars.iter().map(|(k, v)| (r(k), r(v))).collect();
                }
                row
            })
            .collect()
    }
}

impl PlannedCheck {
    /// The CA file the check reads (tls and http checks with `ca_file`).
    pub fn ca_file(&self) -> Option<&Path> {
        match &self.target {
            Target::Tls { ca_file, .. } => ca_file.as_deref(),
            Target::Http(h) => h.ca_file.as_deref(),
            Target::Dns { .. } | Target::Tcp { .. } => None,
        }
    }

    /// The plan row of this check (not redacted: see [`Plan::rows`]).
    pub fn row(&self) -> PlanRow {
        PlanRow {
            id: self.meta.id.clone(),
            scenario: self.meta.scenario.to_string(),
            kind: self.target.kind(),
            target: self.target.describe(),
            resolver: self.resolver.name.clone(),
            proxy: match &self.target {
                Target::Http(h) => h.proxy.as_ref().map(|p| p.name.clone()),
                _ => None,
            },
            expect: self.expect.describe(),
            attempts: self.attempts,
            timeout_ms: self.timeout.as_millis(),
            vars: self.meta.vars.iter().cloned().collect(),
        }
    }
}
