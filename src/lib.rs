//! corekv: an in-memory key/value cache server, "one Redis per core" inside
//! one process.
//!
//! A request flows through the modules in this order:
//!
//! * [`listener`] — the sockets: a `SO_REUSEPORT` socket per worker on the
//!   shared port (and the RESP port), plus each worker's own core port
//!   (plain and TLS), on every `--bind` address.
//! * [`worker`] — a pinned thread with a single-threaded runtime: accepts,
//!   spawns connections (after the TLS handshake, [`tls`], on TLS ports),
//!   serves its inbox.
//! * [`connection`] — bytes → lines, batching, routing, and responses back
//!   in command order; the authentication and ACL gate per command.
//! * [`resp`] — the RESP2 codec: requests (arrays, and inline commands
//!   split as Redis does) → arguments, results → reply bytes.
//! * [`acl`] — users, passwords, command categories and key patterns
//!   (immutable snapshots, swapped by version), protected mode.
//! * [`protocol`] — lines → [`protocol::Command`]s (the text protocol).
//! * routing — [`corekv_router`]: key → slot (CRC16, hash tags) → partition.
//! * [`mesh`] — batched messages to the workers that own other partitions.
//! * [`partition`] — commands → results on the data a worker owns, plus key
//!   locks for two-phase commit.
//! * [`txn`] — transaction buffers and the two-phase-commit coordinator.
//! * [`response`] — results → bytes (one-line JSON).
//!
//! ```text
//!                    clients (shared port 9888, or core port 9889+i)
//!                         │ SO_REUSEPORT spreads shared-port connections
//!        ┌────────────────┼─────────────────────┐
//!        ▼                ▼                     ▼
//!  ┌───────────┐    ┌───────────┐         ┌───────────┐
//!  │ worker 0  │    │ worker 1  │   …     │ worker N-1│   one thread each,
//!  │ core 0    │    │ core 1    │         │ core N-1  │   pinned, own tokio
//!  │ partition │◀──▶│ partition │◀──────▶ │ partition │   runtime
//!  │ slots 0-… │mesh│ slots …   │  mesh   │ … -16383  │
//!  └───────────┘    └───────────┘         └───────────┘
//!   connection → router: key → slot → owner; own partition: run in place;
//!   other partition: one batched message per owner, reply by oneshot.
//! ```

/// A failpoint in synchronous code: with the `failpoints` feature, panics,
/// sleeps the thread, or (action `error`) evaluates the optional second
/// argument, typically an early `return`. Without the feature: nothing.
#[macro_export]
macro_rules! fail_point {
    ($name:literal) => {
        $crate::fail_point!($name, ())
    };
    ($name:literal, $on_error:expr) => {
        #[cfg(feature = "failpoints")]
        match $crate::failpoint::eval($name) {
            Some($crate::failpoint::Action::Error) => {
                $on_error;
            }
            Some(action) => $crate::failpoint::sleep(action),
            None => {}
        }
    };
}

/// [`fail_point!`] for async code: a `sleep` awaits instead of blocking the
/// worker thread.
#[macro_export]
macro_rules! fail_point_async {
    ($name:literal) => {
        $crate::fail_point_async!($name, ())
    };
    ($name:literal, $on_error:expr) => {
        #[cfg(feature = "failpoints")]
        match $crate::failpoint::eval($name) {
            Some($crate::failpoint::Action::Error) => {
                $on_error;
            }
            Some(action) => $crate::failpoint::sleep_async(action).await,
            None => {}
        }
    };
}

pub mod acl;
pub mod alloc;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod connection;
#[cfg(feature = "failpoints")]
pub mod failpoint;
pub mod glob;
pub mod introspect;
pub mod listener;
pub mod mesh;
pub mod panic_policy;
pub mod partition;
pub mod pinning;
pub mod protocol;
pub mod reply;
pub mod resp;
pub mod response;
pub mod server;
pub mod tls;
pub mod txn;
pub mod worker;

pub use config::Config;
pub use server::{Error, Server};
