//! `netspec demo`: runs the three shipped suites (embedded in the binary) against the loopback
//! world of [`crate::loopback::world`], which plays the seeds' endpoints healthy and broken.
//! The run is confined by the sandbox: DNS goes to the world's server on 127.0.0.1, and every
//! connection to a lab address is translated to the loopback listener playing it; anything else
//! is refused before a packet is sent. No network, no root.

use std::path::Path;
use std::time::Duration;

use crate::cli::{DemoArgs, EXIT_INVALID, Reports, execute};
use crate::loopback::DemoWorld;
use crate::plan::{self, Inputs};
use crate::probe::{ContextOptions, Sandbox};
use crate::run::RunOptions;

/// The shipped suites, as the repository has them.
pub const SUITES: &[(&str, &str)] = &[
    ("suites/arc-sql.yaml", include_str!("../suites/arc-sql.yaml")),
    ("suites/migrate-private-endpoints.yaml", include_str!("../suites/migrate-private-endpoints.yaml")),
    ("suites/adf-shir.yaml", include_str!("../suites/adf-shir.yaml")),
];

/// Attempt deadline in the demo: the dropped endpoints cost this once, concurrently.
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the demo; returns the exit code (1: the demo's planted faults fail, as they should).
pub fn main(a: DemoArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the runtime: {e}");
            return crate::cli::EXIT_FAILED;
        }
    };
    rt.block_on(crate::cli::on_worker(async move {
        let world = match DemoWorld::start().await {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: failed to start the loopback lab: {e}");
                return crate::cli::EXIT_FAILED;
            }
        };
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
            match crate::suite::parse(Path::new(path), (*text).to_owned()) {
                Ok(l) => loaded.push(l),
                Err(e) => {
                    eprintln!("{e}");
                    return EXIT_INVALID;
                }
            }
        }
        let inputs = Inputs {
            typed_vars: world.vars().into_iter().collect(),
            matrix: vec![("region".into(), world.regions())],
            timeout: Some(DEMO_TIMEOUT),
            ..Default::default()
        };
        let plan = match plan::plan(&loaded, &inputs) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_INVALID;
            }
        };
        let ctx = ContextOptions {
            extra_roots: vec![world.ca_der()],
            no_system_roots: true,
            system_servers: Some(vec![world.dns_addr()]),
            sandbox: Some(Sandbox { map: world.address_map().clone() }),
        };
        let name = "netspec-demo".to_string();
        execute(
            plan,
            ctx,
            RunOptions::default(),
            Reports { outputs: a.reports.outputs(), verbose: a.verbose, name, vantage: "demo".into() },
        )
        .await
    }))
}
