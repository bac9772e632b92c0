//! The `netspec` binary: all logic lives in the library; this maps it to an exit code.

/// The allocator: mimalloc 3 rather than glibc's malloc. Parsing a suite and running its
/// checks allocate and free many small blocks (a YAML event, a key, an answer record), from
/// several threads: glibc's malloc spent about a fifth of a run's instructions on them, and its
/// per-thread arenas needed capping (BENCHMARKS.md, "mimalloc 3"). A run that streams trades
/// speed for memory with [`netspec::util::memory_first`].
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(netspec::cli::main());
}
