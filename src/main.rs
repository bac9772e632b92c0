//! The `netspec` binary: all logic lives in the library; this maps it to an exit code.

fn main() {
    std::process::exit(netspec::cli::main());
}
