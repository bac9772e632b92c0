//! The one integration-test binary: CLI contract tests, probe tests against in-process loopback
//! servers (no root), reports and `netspec merge` (with headless Chromium for the HTML page),
//! the container/Kubernetes/CI recipes, and the network-namespace lab end-to-end tests (root;
//! see tests/lab).

mod authoring;
mod cli;
mod common;
mod deploy;
mod drift;
mod faults;
mod first_hour;
mod fixtures;
mod hardening;
mod lab;
mod layers;
mod merge;
mod path;
mod pipeline;
mod probes;
mod props;
mod reports;
mod safety;
mod streaming;
mod verdicts;
