//! Helpers shared by the CLI test modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the netspec binary in the repository root, outside CI mode, and returns its output.
pub fn netspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CI")
        .output()
        .expect("netspec runs")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
