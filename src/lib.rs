//! corekv: an in-memory key/value cache server, "one Redis per core" inside
//! one process.
//!
//! A request flows through the modules in this order:
//!
//! * [`listener`] — the sockets: a `SO_REUSEPORT` socket per worker on the
//!   shared port, plus each worker's own core port.
//! * [`worker`] — a pinned thread with a single-threaded runtime: accepts,
//!   spawns connections, serves its inbox.
//! * [`connection`] — bytes → lines, batching, routing, and responses back
//!   in command order.
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

pub mod alloc;
pub mod clients;
pub mod config;
pub mod connection;
pub mod glob;
pub mod listener;
pub mod mesh;
pub mod partition;
pub mod protocol;
pub mod reply;
pub mod resp;
pub mod response;
pub mod server;
pub mod txn;
pub mod worker;

pub use config::Config;
pub use server::{Error, Server};
