//! The smart client: an async (tokio) corekv client that sends every key
//! straight to the worker that owns it (feature `client`).
//!
//! Any port of the server answers any key, but a command sent to the owning
//! worker's *core port* runs in place, without a hop between workers. The
//! client asks the server for its [`Topology`] once, with `TOPOLOGY`, and from
//! then on computes each key's partition itself (`CRC16-XMODEM(hash tag or
//! key) mod 16384` → slot → partition) and uses that partition's connection.
//!
//! * [`Client::get`], [`Client::put`], [`Client::del`]: one key, one round
//!   trip to its owner.
//! * [`Client::get_many`], [`Client::put_many`], [`Client::del_many`]: keys
//!   are grouped by owner; each group is pipelined on its owner's connection
//!   (all its lines in one write, then all its replies) and the groups run
//!   concurrently. Results come back in input order.
//! * [`Client::transaction`]: `START` … `COMMIT`/`ROLLBACK` on one
//!   connection, see [`Transaction`]. The server applies a commit atomically,
//!   across partitions too.
//!
//! Keys are single tokens and values the rest of a line, so the client
//! refuses keys that are empty or contain whitespace, and values that are
//! empty, contain `\n`/`\r` or start or end with whitespace
//! ([`Error::InvalidKey`], [`Error::InvalidValue`]) before sending anything.
//!
//! # Connections
//!
//! Connections are opened lazily, on a partition's first use (or all at once
//! by [`Client::ping`]), and kept for reuse. A `Client` is `Send + Sync`:
//! share it (e.g. in an `Arc`) between tasks. When several tasks use the same
//! partition at once each gets a connection of its own, so one task's
//! pipeline never waits behind another's; a task working alone uses one
//! connection per partition. A connection on which anything went wrong
//! (I/O error, unparsable reply, or a call cancelled half-way) is closed and
//! replaced on next use, so replies never get out of step with requests.
//!
//! The topology is read once, at [`Client::connect`]; a server's topology is
//! fixed for its lifetime, so reconnect the client if the server restarts
//! with another worker count.
//!
//! With a password or ACL users on the server, use
//! [`Client::connect_with_auth`]: every connection the client opens (the
//! first, and every pooled one after it) sends `AUTH` before anything else.
//! The client speaks plain TCP only: TLS ports are not supported.
//!
//! # Example
//!
//! ```no_run
//! use corekv_router::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), corekv_router::client::Error> {
//! let client = Client::connect("127.0.0.1", 9888).await?;
//! client.put("greeting", "hello world").await?;
//! assert_eq!(client.get("greeting").await?.as_deref(), Some("hello world"));
//!
//! client.put_many(&[("a", "1"), ("b", "2")]).await?;
//! let values = client.get_many(&["a", "b", "missing"]).await?;
//! assert_eq!(values, [Some("1".into()), Some("2".into()), None]);
//!
//! let mut tx = client.transaction();
//! tx.put("{acct}.alice", "90").await?;
//! tx.put("{acct}.bob", "110").await?;
//! tx.commit().await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod conn;
mod error;
mod transaction;
mod validate;
mod wire;

pub use auth::Auth;
pub use error::{Error, Result};
pub use transaction::Transaction;

use crate::Topology;
use conn::Conn;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use validate::{check_key, check_value};
use wire::{push_command, Reply};

/// Idle connections kept per partition for reuse.
const MAX_IDLE: usize = 16;

/// A corekv client that routes each key to its owning partition's core port.
/// See the [module documentation](self).
pub struct Client {
    host: String,
    topology: Topology,
    ports: Vec<u16>,
    /// Each partition's host: its pod's, in a cluster of pods; else `host`.
    hosts: Vec<String>,
    /// Idle connections per partition.
    idle: Vec<Mutex<Vec<Conn>>>,
    /// Commands sent per partition.
    sent: Vec<AtomicU64>,
    /// Sent with `AUTH` on every new connection.
    auth: Option<Auth>,
}

/// One partition's share of a multi-key call.
struct Group {
    partition: usize,
    /// Positions in the caller's input, in sending order.
    indices: Vec<usize>,
    request: Vec<u8>,
}

impl Client {
    /// Connects to a corekv server at `host:port` (the shared port or any
    /// core port), reads its topology with `TOPOLOGY`, and returns a client
    /// that will talk to each partition on its own core port at `host`.
    pub async fn connect(host: &str, port: u16) -> Result<Self> {
        Self::open(host, port, None).await
    }

    /// [`connect`](Self::connect) to a server with a password or ACL users:
    /// every connection the client opens, the first one included, sends
    /// `AUTH` with `auth` before anything else. A refused `AUTH` fails the
    /// call that opened the connection with [`Error::Server`]
    /// (`WRONGPASS …`).
    pub async fn connect_with_auth(host: &str, port: u16, auth: Auth) -> Result<Self> {
        Self::open(host, port, Some(auth)).await
    }

    async fn open(host: &str, port: u16, auth: Option<Auth>) -> Result<Self> {
        let mut conn = Conn::connect(host, port, auth.as_ref()).await?;
        let obj = conn.call(b"TOPOLOGY\n").await?.into_object()?;
        let (topology, hosts) = wire::parse_topology(&obj)?;
        let hosts = hosts
            .into_iter()
            .map(|h| h.unwrap_or_else(|| host.to_string()))
            .collect();
        let ports = topology
            .partitions()
            .iter()
            .map(|p| p.port.expect("parse_topology requires ports"))
            .collect();
        let n = topology.len();
        Ok(Self {
            host: host.to_string(),
            topology,
            ports,
            hosts,
            idle: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            auth,
        })
    }

    /// The host given to [`connect`](Self::connect); every partition's core
    /// port is reached on it, except in a cluster of pods, where each
    /// partition is reached at its pod's host ([`host_of_partition`](Self::host_of_partition)).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's topology, as read at connect time.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The partition that owns `key`.
    pub fn partition_of_key(&self, key: &str) -> usize {
        self.topology.partition_of_key(key.as_bytes())
    }

    /// The host `partition` is reached at. Panics if there is no such
    /// partition.
    pub fn host_of_partition(&self, partition: usize) -> &str {
        &self.hosts[partition]
    }

    /// The core port of `partition`. Panics if there is no such partition.
    pub fn port_of_partition(&self, partition: usize) -> u16 {
        self.ports[partition]
    }

    /// The port the client sends `key`'s commands to: its owner's core port.
    pub fn port_of_key(&self, key: &str) -> u16 {
        self.ports[self.partition_of_key(key)]
    }

    /// How many commands this client has sent to each partition's core port,
    /// indexed by partition (transactions' `START`/`COMMIT`/`ROLLBACK`
    /// included; the initial `TOPOLOGY` not).
    pub fn commands_sent(&self) -> Vec<u64> {
        self.sent
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect()
    }

    /// The value of `key`, or `None` if it has none.
    pub async fn get(&self, key: &str) -> Result<Option<String>> {
        check_key(key)?;
        self.one(key, "GET", None).await?.into_value()
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &str, value: &str) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.one(key, "PUT", Some(value)).await?.into_unit()
    }

    /// Deletes `key` (deleting an absent key is no error).
    pub async fn del(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.one(key, "DEL", None).await?.into_unit()
    }

    /// Pings every partition, concurrently, opening any connection not yet
    /// open: a quick check that the whole server is reachable.
    pub async fn ping(&self) -> Result<()> {
        let calls = (0..self.topology.len()).map(|p| self.exchange(p, b"PING\n", 1));
        for replies in join_all(calls.collect()).await {
            match replies?.pop().expect("one reply").into_value()? {
                Some(pong) if pong == "PONG" => {}
                other => {
                    return Err(Error::Protocol(format!(
                        "PING answered {other:?} instead of \"PONG\""
                    )))
                }
            }
        }
        Ok(())
    }

    /// The values of `keys`, in the same order (`None` for absent keys).
    /// Keys are grouped by owner and each group is pipelined on its owner's
    /// connection, all partitions concurrently. Every key is checked before
    /// anything is sent.
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<String>>> {
        for key in keys {
            check_key(key.as_ref())?;
        }
        let groups = self.group(keys.iter().map(AsRef::as_ref), |buf, i| {
            push_command(buf, "GET", keys[i].as_ref(), None);
        });
        let replies = self.run(groups, keys.len()).await?;
        replies.into_iter().map(Reply::into_value).collect()
    }

    /// Sets each `(key, value)`, pipelined per owning partition like
    /// [`get_many`](Self::get_many); pairs for the same key apply in input
    /// order. Every pair is checked before anything is sent. Not atomic: on
    /// an error some pairs may have been applied (use a
    /// [`transaction`](Self::transaction) for all-or-nothing).
    pub async fn put_many<K: AsRef<str>, V: AsRef<str>>(&self, pairs: &[(K, V)]) -> Result<()> {
        for (key, value) in pairs {
            check_key(key.as_ref())?;
            check_value(value.as_ref())?;
        }
        let groups = self.group(pairs.iter().map(|(k, _)| k.as_ref()), |buf, i| {
            let (key, value) = &pairs[i];
            push_command(buf, "PUT", key.as_ref(), Some(value.as_ref()));
        });
        let replies = self.run(groups, pairs.len()).await?;
        replies.into_iter().try_for_each(Reply::into_unit)
    }

    /// Deletes `keys`, pipelined per owning partition like
    /// [`get_many`](Self::get_many). Not atomic.
    pub async fn del_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<()> {
        for key in keys {
            check_key(key.as_ref())?;
        }
        let groups = self.group(keys.iter().map(AsRef::as_ref), |buf, i| {
            push_command(buf, "DEL", keys[i].as_ref(), None);
        });
        let replies = self.run(groups, keys.len()).await?;
        replies.into_iter().try_for_each(Reply::into_unit)
    }

    /// Starts a transaction. Nothing is sent until its first operation,
    /// which opens it (`START`) on the connection of that operation key's
    /// owner; see [`Transaction`].
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction::new(self)
    }

    /// One command for `key` on its owner's connection.
    async fn one(&self, key: &str, word: &str, value: Option<&str>) -> Result<Reply> {
        let mut request = Vec::new();
        push_command(&mut request, word, key, value);
        let mut replies = self
            .exchange(self.partition_of_key(key), &request, 1)
            .await?;
        Ok(replies.pop().expect("one reply"))
    }

    /// Splits a multi-key call by owner: `encode(buf, i)` appends the
    /// command for the `i`-th key to its partition's request.
    fn group<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
        mut encode: impl FnMut(&mut Vec<u8>, usize),
    ) -> Vec<Group> {
        let mut slot_of: Vec<Option<usize>> = vec![None; self.topology.len()];
        let mut groups: Vec<Group> = Vec::new();
        for (i, key) in keys.enumerate() {
            let partition = self.partition_of_key(key);
            let g = *slot_of[partition].get_or_insert_with(|| {
                groups.push(Group {
                    partition,
                    indices: Vec::new(),
                    request: Vec::new(),
                });
                groups.len() - 1
            });
            groups[g].indices.push(i);
            encode(&mut groups[g].request, i);
        }
        groups
    }

    /// Pipelines every group on its partition, all concurrently, and puts
    /// the `total` replies back in input order.
    async fn run(&self, groups: Vec<Group>, total: usize) -> Result<Vec<Reply>> {
        let calls = groups
            .iter()
            .map(|g| self.exchange(g.partition, &g.request, g.indices.len()));
        let results = join_all(calls.collect()).await;
        let mut replies: Vec<Option<Reply>> = vec![None; total];
        for (g, result) in groups.iter().zip(results) {
            for (&i, reply) in g.indices.iter().zip(result?) {
                replies[i] = Some(reply);
            }
        }
        Ok(replies
            .into_iter()
            .map(|r| r.expect("one reply per command"))
            .collect())
    }

    /// Sends `n` command lines to `partition` and reads their replies, on a
    /// connection that goes back to the pool only if all went well.
    async fn exchange(&self, partition: usize, request: &[u8], n: usize) -> Result<Vec<Reply>> {
        let mut conn = self.checkout(partition).await?;
        self.count(partition, n);
        let replies = if n == 1 {
            vec![conn.call(request).await?]
        } else {
            conn.pipeline(request, n).await?
        };
        self.checkin(partition, conn);
        Ok(replies)
    }

    /// An idle connection to `partition`'s core port, or a new one.
    async fn checkout(&self, partition: usize) -> Result<Conn> {
        let idle = self.idle[partition]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let host = &self.hosts[partition];
                Conn::connect(host, self.ports[partition], self.auth.as_ref()).await
            }
        }
    }

    /// Returns a connection that is in step with the server to the pool.
    fn checkin(&self, partition: usize, conn: Conn) {
        let mut idle = self.idle[partition]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn count(&self, partition: usize, commands: usize) {
        self.sent[partition].fetch_add(commands as u64, Ordering::Relaxed);
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("ports", &self.ports)
            .field("commands_sent", &self.commands_sent())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Polls all `futures` concurrently (on the calling task) until every one
/// is done; outputs in input order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_all_keeps_order_and_handles_none() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let empty: Vec<std::future::Ready<u8>> = Vec::new();
            assert!(join_all(empty).await.is_empty());
            let futures = (0..5u32).map(|i| async move {
                for _ in 0..(5 - i) {
                    tokio::task::yield_now().await;
                }
                i
            });
            assert_eq!(join_all(futures.collect()).await, [0, 1, 2, 3, 4]);
        });
    }

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
        check::<Transaction<'static>>();
    }
}
