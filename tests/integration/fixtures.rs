//! Hostile input: every suite in `tests/fixtures/invalid/` must make `netspec validate` exit 2
//! with exactly its snapshot diagnostic (`tests/fixtures/invalid/snapshots/`), without panicking,
//! hanging or using unbounded memory. Large and deep inputs are generated here, not committed.
//!
//! Messages changed on purpose? `cargo insta test --accept` (or `cargo insta review`) rewrites the
//! snapshots; read every changed one before committing (tests/fixtures/README.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Hard bound on the address space of one `netspec validate` (a crash, not a slow test, when
/// exceeded: allocation fails and the process aborts).
const MEMORY_LIMIT_KIB: u64 = 500 * 1024;

/// Longest one validation may take before it counts as a hang.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// What one `netspec validate FILE` did.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set in KiB, when `/usr/bin/time` is there to measure it.
    peak_rss_kib: Option<u64>,
}

/// Runs `netspec validate <file>` from the crate root under the memory and time limits.
fn validate(file: &Path) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let time = Path::new("/usr/bin/time");
    let mut script = format!("ulimit -v {MEMORY_LIMIT_KIB}; exec ");
    if time.exists() {
        script.push_str(&format!("{} -f %M -o '{}' ", time.display(), rss_file.display()));
    }
    // --strict: a missing environment variable is an error, as in a run.
    script.push_str("\"$0\" validate --strict \"$1\"");
    let start = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_netspec"), file.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CI")
        .env_remove("NETSPEC_FIXTURE_UNSET_PASSWORD")
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    // Read stderr on a thread so a chatty child cannot block on a full pipe.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            child.kill().ok();
            child.wait().ok();
            panic!("{}: netspec validate did not finish within {TIME_LIMIT:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stderr = reader.join().unwrap();
    // `/usr/bin/time` writes "Command exited with non-zero status 2" before the number.
    let peak_rss_kib = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    Outcome { code: status.code(), stderr, elapsed, peak_rss_kib }
}

/// The checks every hostile input must pass: exit 2, a diagnostic, no panic or crash, bounded memory.
fn assert_refused(name: &str, o: &Outcome) {
    assert!(!o.stderr.contains("panicked"), "{name}: netspec panicked:\n{}", o.stderr);
    assert!(!o.stderr.contains("stack overflow"), "{name}: stack overflow:\n{}", o.stderr);
    assert_eq!(o.code, Some(2), "{name}: expected exit code 2 (None: killed by a signal, e.g. out of memory):\n{}", o.stderr);
    assert!(!o.stderr.trim().is_empty(), "{name}: exit 2 without a diagnostic");
    if let Some(kib) = o.peak_rss_kib {
        assert!(kib < MEMORY_LIMIT_KIB, "{name}: peak RSS {kib} KiB");
    }
}

/// The first line of a fixture, `# what is wrong`, becomes the snapshot's description.
fn description(text: &[u8]) -> String {
    let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(first).trim_start_matches('#').trim().to_owned()
}

#[test]
fn invalid_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../fixtures/invalid", "*.yaml", |path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let o = validate(rel);
        assert_refused(&rel.display().to_string(), &o);
        let stderr = o.stderr.replace(&format!("{}/", root.display()), "");
        insta::with_settings!({
            snapshot_path => "../fixtures/invalid/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => description(&std::fs::read(path).unwrap()),
        }, {
            insta::assert_snapshot!(stderr);
        });
    });
}

/// Writes a generated input in pieces (no 50 MB string in the test's own memory).
fn generate(dir: &Path, name: &str, parts: impl IntoIterator<Item = String>) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for p in parts {
        f.write_all(p.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    path
}

const HEAD: &str = "netspec: 1\nname: generated\n";

#[test]
fn generated_hostile_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let check = |i: usize| format!("      - {{ name: c{i}, tcp: {{ host: h{i}.example, port: 443 }} }}\n");
    let cases: Vec<(&str, PathBuf)> = vec![
        // 50 MB of checks: refused by size before parsing.
        (
            "large-50mb",
            generate(
                d,
                "large.yaml",
                [HEAD.into(), "scenarios:\n  - name: s\n    checks:\n".into()].into_iter().chain((0..800_000).map(check)),
            ),
        ),
        // Just under the size limit and dense: the parser's value budget stops it.
        (
            "dense-under-size-limit",
            generate(
                d,
                "dense.yaml",
                [HEAD.into(), "scenarios:\n  - name: s\n    checks:\n".into()].into_iter().chain((0..200_000).map(check)),
            ),
        ),
        // 10,000-deep nesting, flow and block.
        (
            "deep-flow-lists",
            generate(d, "deep-lists.yaml", [HEAD.into(), "vars:\n  v: ".into(), "[".repeat(10_000), "]".repeat(10_000), "\n".into()]),
        ),
        (
            "deep-flow-mappings",
            generate(
                d,
                "deep-maps.yaml",
                [HEAD.into(), "vars:\n  v: ".into(), "{a: ".repeat(10_000), "1".into(), "}".repeat(10_000), "\n".into()],
            ),
        ),
        (
            "deep-block-mappings",
            generate(
                d,
                "deep-block.yaml",
                [HEAD.into(), "vars:\n".into()].into_iter().chain((1..5_000).map(|i| format!("{}a:\n", " ".repeat(i)))),
            ),
        ),
        ("deep-top-level-list", generate(d, "deep-top.yaml", ["[".repeat(10_000), "]".repeat(10_000)])),
        // 100,000 keys, the last one a duplicate of the first.
        (
            "wide-100k-keys",
            generate(
                d,
                "wide.yaml",
                [HEAD.into(), "vars:\n".into()]
                    .into_iter()
                    .chain((0..100_000).map(|i| format!("  k{i}: v{i}\n")))
                    .chain(["  k0: again\n".into()]),
            ),
        ),
        // An endless device is read at most up to the size limit.
        ("dev-zero", PathBuf::from("/dev/zero")),
    ];
    let mut report = String::new();
    for (name, path) in &cases {
        let o = validate(path);
        assert_refused(name, &o);
        // A hang guard, not a speed target (the times are printed): a debug build on a loaded
        // 2-core machine took 12 s for the 16 MiB case; a hang never ends.
        assert!(o.elapsed < Duration::from_secs(60), "{name}: took {:?}", o.elapsed);
        report.push_str(&format!("{name}: {:?}, peak RSS {:?} KiB\n", o.elapsed, o.peak_rss_kib));
        let stderr = o.stderr.replace(&format!("{}/", d.display()), "");
        insta::with_settings!({
            snapshot_path => "../fixtures/invalid/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            snapshot_suffix => *name,
        }, {
            insta::assert_snapshot!(stderr);
        });
    }
    eprintln!("{report}");
}
