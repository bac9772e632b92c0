//! Fuzz target for the suite loader: arbitrary bytes → `suite::parse` → (when it parses)
//! `plan::plan` with empty inputs. No network: parsing and planning never open sockets.
//!
//! Run: see docs/fuzzing.md.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use netspec::suite::model::{Axis, SuiteFile};
use netspec::plan;
use netspec::suite;

/// Matrix sizes above this are not planned: planning caps expansion at 100,000 instances per
/// scenario, but inputs near the cap are slow per execution and teach the fuzzer nothing new.
const MAX_FUZZ_MATRIX: usize = 10_000;

/// Whether planning this input is quick: large matrices and reads of devices or files the input
/// names are bounded (docs/fuzzing.md) but slow per execution.
fn plannable(text: &str, suite: &SuiteFile) -> bool {
    if text.contains("/dev/") || text.contains("/proc/") {
        return false;
    }
    let mut product: usize = 1;
    for axis in suite.matrix.values() {
        let n = match axis {
            Axis::List(v) => v.len(),
            Axis::Var(name) => match suite.vars.get(name) {
                Some(serde_json::Value::Array(a)) => a.len(),
                Some(serde_json::Value::String(s)) => s.split([',', ' ', '\n']).count(),
                _ => 1,
            },
            Axis::File(_) => return false,
        };
        product = product.saturating_mul(n.max(1));
    }
    product <= MAX_FUZZ_MATRIX
}

fuzz_target!(|data: &[u8]| {
    // The loader rejects non-UTF-8 before parsing (`read_text`); `parse` takes text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = suite::parse(Path::new("fuzz.yaml"), text.to_owned()) else {
        return;
    };
    if plannable(text, &loaded.suite) {
        let _ = plan::plan(&[loaded], &plan::Inputs::default());
    }
});
