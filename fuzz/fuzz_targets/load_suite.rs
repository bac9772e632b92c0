//! Fuzz target for the suite loader: arbitrary bytes → `suite::parse` → (when it parses)
//! `suite::plan::plan` with empty inputs. No network: parsing and planning never open sockets.
//!
//! Run: see docs/fuzzing.md.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use netspec::suite::{self, plan};

fuzz_target!(|data: &[u8]| {
    // The loader rejects non-UTF-8 before parsing (`read_text`); `parse` takes text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = suite::parse(Path::new("fuzz.yaml"), text.to_owned()) else {
        return;
    };
    let _ = plan::plan(&[loaded], &plan::Inputs::default());
});
