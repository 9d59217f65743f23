//! `sandbox`: the local region. See `sandbox --help` and docs/sandbox.md; every subcommand is a
//! module of the library's `cli`.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    steadfast_sandbox::cli::main()
}
