//! The `netspec` binary: all logic lives in the library; this maps it to an exit code.

fn main() {
    limit_malloc_arenas();
    std::process::exit(netspec::cli::main());
}

/// Arenas glibc's malloc may create (`M_ARENA_MAX`, mallopt(3)).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc at [`MALLOC_ARENAS`] arenas (its default is 8 per core). Every thread
/// that allocates gets an arena of its own, and memory freed in one is not reused by another:
/// the suites are parsed on the main thread and the run allocates on the runtime's workers, so
/// the parse's freed memory and the run's buffers added up. Measured on 2 cores (bench/run,
/// bench/memory): W-mixed peak 40 → 34 MiB, 100,000 checks 97.8 → 90.9 MiB, wall time
/// unchanged. One arena saves another 2–3 MiB but costs W-dns up to 20 % more CPU on a loaded
/// machine (threads wait on the arena's lock). A user's own `MALLOC_ARENA_MAX` or
/// `GLIBC_TUNABLES` is left to win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() && std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
