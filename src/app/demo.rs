//! `netspec demo`: runs the three shipped suites (embedded in the binary) against the loopback
//! world of [`crate::loopback::world`], which plays the seeds' endpoints healthy and broken.
//! The run is confined by the sandbox: DNS goes to the world's server on 127.0.0.1, and every
//! connection to a lab address is translated to the loopback listener playing it; anything else
//! is refused before a packet is sent. No network, no root.

use std::path::Path;
use std::time::Duration;

use super::{AppError, Done, DriftOptions, Reports, baseline_gate, execute, on_worker, runtime};
use crate::loopback::DemoWorld;
use crate::plan::{self, Inputs};
use crate::probe::{ContextOptions, Sandbox};
use crate::run::RunOptions;

/// The shipped suites, as the repository has them.
pub const SUITES: &[(&str, &str)] = &[
    ("suites/arc-sql.yaml", include_str!("../../suites/arc-sql.yaml")),
    ("suites/migrate-private-endpoints.yaml", include_str!("../../suites/migrate-private-endpoints.yaml")),
    ("suites/adf-shir.yaml", include_str!("../../suites/adf-shir.yaml")),
];

/// Attempt deadline in the demo: the dropped endpoints cost this once, concurrently.
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(2);

/// `netspec demo`'s request.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    /// Report files and CI annotations.
    pub outputs: crate::report::Outputs,
    /// Print passing checks too.
    pub verbose: bool,
    /// An earlier demo's JSON results to compare with.
    pub baseline: Option<std::path::PathBuf>,
    /// Fail checks on unexpected drift.
    pub fail_on_drift: bool,
    /// Drift thresholds and expected changes.
    pub drift: DriftOptions,
}

/// Runs the demo: starts the loopback lab, prints what it plants, runs the shipped suites in
/// its sandbox and writes the reports. Failed is the expected status: the planted faults fail.
///
/// Errors: the runtime or the lab cannot start (exit 1), a shipped suite does not plan or the
/// baseline cannot be read (exit 2).
pub fn run(req: DemoRequest) -> Result<Done, AppError> {
    let rt = runtime()?;
    rt.block_on(on_worker(async move {
        let world = DemoWorld::start().await.map_err(AppError::Lab)?;
        let mut intro = format!(
            "netspec demo: the shipped suites against a loopback lab (DNS on {}, no traffic leaves 127.0.0.1)\nplanted faults:\n",
            world.dns_addr()
        );
        for (suite, what, fault) in world.scenarios() {
            intro.push_str(&format!("  {suite:<28} {what:<40} {fault}\n"));
        }
        intro.push('\n');
        crate::util::out(&intro);
        let mut loaded = Vec::new();
        for (path, text) in SUITES {
            loaded.push(crate::suite::parse(Path::new(path), (*text).to_owned())?);
        }
        let inputs = Inputs {
            typed_vars: world.vars().into_iter().collect(),
            matrix: vec![("region".into(), world.regions())],
            timeout: Some(DEMO_TIMEOUT),
            ..Default::default()
        };
        let plan = plan::plan(&loaded, &inputs)?;
        let ctx = ContextOptions {
            extra_roots: vec![world.ca_der()],
            no_system_roots: true,
            system_servers: Some(vec![world.dns_addr()]),
            sandbox: Some(Sandbox { map: world.address_map().clone() }),
        };
        let name = "netspec-demo".to_string();
        let drift = baseline_gate(req.baseline.as_deref(), &req.drift, req.fail_on_drift, "demo", &plan)?;
        execute(
            plan,
            ctx,
            RunOptions::default(),
            Reports { outputs: req.outputs, verbose: req.verbose, name, vantage: "demo".into(), drift },
        )
        .await
    }))?
}
