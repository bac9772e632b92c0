//! Fuzz target for the paths a suite names (issue 14): `include:` libraries, matrix `file:`s,
//! `from_hosts_file`, and report paths. Arbitrary text is parsed as a suite located in a sandbox
//! directory that holds every kind of file a path can meet — a library, a hosts file, a matrix
//! file, a FIFO nobody writes to, a directory, a symlink loop, links to `/dev/null`,
//! `/proc/self/environ` and `/dev/zero` — then planned (reading what it includes), and the lines
//! `#report PATH` of the text are checked as report paths against the files the plan read.
//!
//! What must hold: no panic, no hang (a FIFO or device is refused without blocking), no read of
//! kernel state. Report paths are kept inside the sandbox (`..` and the root are dropped): the
//! check creates and removes a temporary file next to each. No network: planning opens no socket.
//!
//! Run: see docs/fuzzing.md.

#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netspec::suite::model::Axis;
use netspec::{plan, report, suite};

/// Matrix sizes above this are not planned (slow per execution, nothing new to learn).
const MAX_FUZZ_MATRIX: usize = 10_000;

/// The sandbox directory, made once per fuzzing process.
fn sandbox() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netspec-fuzz-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dir")).expect("sandbox");
        let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("sandbox file");
        w("lib.yaml", "netspec: 1\nvars: { region: eastus }\ntemplates:\n  t:\n    params: [h]\n    checks:\n      - { name: c, tcp: { host: \"{{ h }}\", port: 443 } }\n");
        w("nested.yaml", "netspec: 1\ninclude: [lib.yaml]\n");
        w("self.yaml", "netspec: 1\ninclude: [self.yaml]\n");
        w("hosts.txt", "10.0.0.1 a.example.test\n::1 b.example.test\n");
        w("matrix.txt", "eastus\nwestus2 # comment\n");
        w("notyaml.txt", &format!("root:{}:0:0\nsecond line\n", "x".repeat(400)));
        let fifo = std::ffi::CString::new(dir.join("fifo").into_os_string().into_encoded_bytes()).expect("path");
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
        for (link, target) in [
            ("link-lib.yaml", "lib.yaml"),
            ("loop1", "loop2"),
            ("loop2", "loop1"),
            ("null", "/dev/null"),
            ("zero", "/dev/zero"),
            ("environ", "/proc/self/environ"),
            ("dangling", "missing.yaml"),
        ] {
            let _ = std::os::unix::fs::symlink(target, dir.join(link));
        }
        dir
    })
}

/// `p` made relative and confined to the sandbox: no root, no `..`.
fn confined(p: &str) -> PathBuf {
    let rel: PathBuf = Path::new(p).components().filter(|c| matches!(c, Component::Normal(_))).collect();
    sandbox().join(rel)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = sandbox();
    let Ok(loaded) = suite::parse(&dir.join("fuzz.yaml"), text.to_owned()) else {
        return;
    };
    let mut product: usize = 1;
    for axis in loaded.suite.matrix.values() {
        let n = match axis {
            Axis::List(v) => v.len(),
            Axis::Var(_) | Axis::File(_) => 2,
        };
        product = product.saturating_mul(n.max(1));
    }
    if product > MAX_FUZZ_MATRIX {
        return;
    }
    // Every path the suite names is followed: includes, matrix files, hosts files.
    let (_, read) = suite::recording(|| plan::plan(&[loaded], &plan::Inputs::default()));
    let reports: Vec<PathBuf> = text.lines().filter_map(|l| l.strip_prefix("#report ")).map(confined).collect();
    let refs: Vec<&Path> = reports.iter().map(PathBuf::as_path).collect();
    let _ = report::paths::check(&refs, &read);
});
