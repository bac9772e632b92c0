//! The `netspec` binary: all logic lives in the library; this maps it to an exit code.

/// The allocator: mimalloc 3 rather than glibc's malloc. Parsing a suite and running its
/// checks allocate and free many small blocks (a YAML event, a key, an answer record), from
/// several threads: glibc's malloc spent about a fifth of a run's instructions on them, and its
/// per-thread arenas needed capping (BENCHMARKS.md, "mimalloc 3"). A run that streams trades
/// speed for memory with [`netspec::util::memory_first`].
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = netspec::cli::main();
    // What Rust's standard streams hold is written first (`std::process::exit` would do the
    // same); then the process ends without C's exit-time work (`atexit` handlers and
    // destructors). Among it is mimalloc's `mi_process_done`, which collects every heap and
    // returns its memory page by page (~1 ms after every run, measured with uprobes) for a
    // process the kernel is about to take down whole.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; every file netspec writes is complete by now
    // (reports are renamed into place before the run returns) and no other thread runs.
    unsafe { libc::_exit(code) }
}
