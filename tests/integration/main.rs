//! The one integration-test binary: CLI contract tests, probe tests against in-process loopback
//! servers (no root), and the network-namespace lab end-to-end tests (root; see tests/lab).

mod cli;
mod lab;
mod probes;
