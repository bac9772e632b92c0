//! netspec: prove that a network behaves as intended.
//!
//! YAML suites describe expected DNS answers, open and blocked ports, trusted TLS and HTTP
//! statuses, per scenario and per region. Data flows one way:
//!
//! ```text
//! suite files → suite::load → suite::plan → run (schedule, deadline, retry, cancel)
//!                                             │ probe (network I/O) → Observation
//!                                             │ expect (pure) → assertions
//!                                             ▼
//!                                   RunEvent stream → report (console, junit, json, html, prometheus, CI)
//!
//! results.json from many vantage points → merge → one check × vantage report
//! ```

pub mod app;
pub mod cli;
pub mod drift;
pub mod expect;
pub mod facts;
pub mod import;
pub mod loopback;
pub mod merge;
pub mod model;
pub mod path;
pub mod plan;
pub mod probe;
pub mod report;
pub mod run;
pub mod suite;
pub mod util;
