//! `START` … `COMMIT` / `ROLLBACK` on one connection.

use super::conn::Conn;
use super::error::{Error, Result};
use super::validate::{check_key, check_value};
use super::wire::{push_command, Reply};
use super::Client;
use std::{fmt, io, mem};

/// A transaction: writes buffered by the server on one connection until
/// [`commit`](Self::commit) applies them all at once (atomically, across
/// partitions too) or [`rollback`](Self::rollback) discards them.
///
/// Made by [`Client::transaction`]. The first operation sends `START` on a
/// connection of its key's owner (all keys sharing a hash tag, such as
/// `{user42}.name` and `{user42}.email`, make a transaction that never
/// leaves one worker) and the whole transaction stays on that connection,
/// taken for itself. [`get`](Self::get) sees the transaction's own writes
/// (the server reads its buffer first).
///
/// Dropping a transaction without committing closes its connection, which
/// discards it on the server. So does an I/O error: after one, every call
/// fails and nothing was committed.
///
/// ```no_run
/// # async fn f(client: &corekv_router::Client) -> corekv_router::client::Result<()> {
/// let mut tx = client.transaction();
/// tx.put("{cart7}.items", "3").await?;
/// tx.del("{cart7}.coupon").await?;
/// assert_eq!(tx.get("{cart7}.items").await?.as_deref(), Some("3"));
/// tx.commit().await?; // both writes, or neither
/// # Ok(())
/// # }
/// ```
pub struct Transaction<'c> {
    client: &'c Client,
    state: State,
}

enum State {
    /// Nothing sent yet.
    Idle,
    /// `START` done on this partition's connection.
    Open { partition: usize, conn: Conn },
    /// The connection was lost (or a call on it cancelled).
    Broken,
}

impl<'c> Transaction<'c> {
    pub(super) fn new(client: &'c Client) -> Self {
        Self {
            client,
            state: State::Idle,
        }
    }

    /// The partition whose connection the transaction runs on, once it has
    /// started.
    pub fn partition(&self) -> Option<usize> {
        match self.state {
            State::Open { partition, .. } => Some(partition),
            _ => None,
        }
    }

    /// Buffers `PUT key value`.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.send(key, "PUT", Some(value)).await?.into_unit()
    }

    /// Buffers `DEL key`.
    pub async fn del(&mut self, key: &str) -> Result<()> {
        check_key(key)?;
        self.send(key, "DEL", None).await?.into_unit()
    }

    /// The value of `key` as this transaction sees it: its own write if it
    /// made one, else the committed value.
    pub async fn get(&mut self, key: &str) -> Result<Option<String>> {
        check_key(key)?;
        self.send(key, "GET", None).await?.into_value()
    }

    /// Applies every buffered write atomically. A transaction with no
    /// operation commits without a round trip.
    pub async fn commit(self) -> Result<()> {
        self.finish(b"COMMIT\n").await
    }

    /// Discards every buffered write.
    pub async fn rollback(self) -> Result<()> {
        self.finish(b"ROLLBACK\n").await
    }

    /// One operation; the first also opens the transaction on its key's
    /// owner, with `START` pipelined in the same write.
    async fn send(&mut self, key: &str, word: &str, value: Option<&str>) -> Result<Reply> {
        let (partition, conn, mut request, n) = match mem::replace(&mut self.state, State::Broken) {
            State::Open { partition, conn } => (partition, conn, Vec::new(), 1),
            State::Idle => {
                let partition = self.client.partition_of_key(key);
                // If no connection can be had the transaction is broken
                // too: a later commit must not report success.
                let conn = self.client.checkout(partition).await?;
                (partition, conn, b"START\n".to_vec(), 2)
            }
            State::Broken => return Err(broken()),
        };
        let mut conn = conn;
        push_command(&mut request, word, key, value);
        self.client.count(partition, n);
        let mut replies = conn.pipeline(&request, n).await?;
        let reply = replies.pop().expect("a reply per line");
        if let Some(start) = replies.pop() {
            if let Err(e) = start.into_unit() {
                // The server refused START: nothing is open, the
                // connection is in step.
                self.client.checkin(partition, conn);
                self.state = State::Idle;
                return Err(e);
            }
        }
        self.state = State::Open { partition, conn };
        Ok(reply)
    }

    async fn finish(mut self, line: &[u8]) -> Result<()> {
        match mem::replace(&mut self.state, State::Broken) {
            State::Idle => Ok(()),
            State::Broken => Err(broken()),
            State::Open {
                partition,
                mut conn,
            } => {
                self.client.count(partition, 1);
                let reply = conn.call(line).await?;
                // COMMIT and ROLLBACK end the transaction even when they
                // fail, so the connection is reusable.
                self.client.checkin(partition, conn);
                reply.into_unit()
            }
        }
    }
}

fn broken() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::NotConnected,
        "the transaction's connection was lost; nothing of it was committed",
    ))
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle => "not started",
            State::Open { .. } => "open",
            State::Broken => "broken",
        };
        f.debug_struct("Transaction")
            .field("state", &state)
            .field("partition", &self.partition())
            .finish()
    }
}
