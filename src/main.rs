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
/// the parsing thread's garbage and each runtime worker's buffers added up to ~7 MiB of a
/// W-mixed run's 40 MiB peak (bench/run: 40 → 33 MiB with two arenas, 31 with one, wall time
/// unchanged on W-dns, W-tcp, W-https). A user's own `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES`
/// is left to win.
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
