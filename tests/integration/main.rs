//! The one integration-test binary: CLI contract tests, probe tests against in-process loopback
//! servers (no root), and the network-namespace lab end-to-end tests (root; see tests/lab).

mod authoring;
mod cli;
mod fixtures;
mod lab;
mod probes;
