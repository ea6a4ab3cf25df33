//! The `corekv` binary: parse the configuration, start the server, wait for
//! SIGINT/SIGTERM, shut down cleanly. Errors become a message and exit 1.

use clap::Parser;
use corekv::{Config, Server};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// mimalloc: fast small allocations, no per-object header (entries are one
/// allocation each), and memory handed back to the OS as pages empty;
/// called through `corekv::alloc::CoreAlloc` so small blocks keep their
/// exact size class.
#[global_allocator]
static GLOBAL: corekv::alloc::CoreAlloc = corekv::alloc::CoreAlloc;

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = match EnvFilter::try_new(&config.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("corekv: invalid --log filter '{}': {e}", config.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // A panic in a partition (or any worker loop) aborts the process with
    // one log line; one in a connection task closes that connection.
    corekv::panic_policy::install();
    #[cfg(feature = "failpoints")]
    if let Err(e) = corekv::failpoint::set_from_env() {
        eprintln!("corekv: COREKV_FAILPOINTS: {e}");
        return ExitCode::from(2);
    }
    match Server::run_until_signal(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("corekv: {e}");
            ExitCode::from(1)
        }
    }
}
