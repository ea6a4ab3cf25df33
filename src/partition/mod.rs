//! Commands → results: one hash partition of the key space, owned by exactly
//! one worker thread.
//!
//! A partition holds the data ([`store`]), the key locks of prepared
//! cross-partition transactions, and the requests waiting for those locks.
//! It is the participant side of two-phase commit: `Prepare` locks keys (or
//! waits, or votes to die under wait-die), `Commit` applies and unlocks,
//! `Abort` unlocks. It never sees a socket; replies go back on the oneshot
//! channel each request carries.
//!
//! Invariants:
//! * Only the owning worker touches a partition (it lives in an `Rc`).
//! * A key locked by a prepared transaction is neither read nor written by
//!   anyone until that transaction commits or aborts: requests that need it
//!   wait in FIFO order. This is what makes commits atomic to readers.
//! * A transaction's locks on one partition are taken all at once or not at
//!   all, so a waiting `Prepare` holds nothing here.

mod batch;
mod store;

pub use batch::{BatchReply, OpBatch, OpKind};
pub use store::Store;

use crate::response;
use crate::txn::{TxnId, Vote, WriteSet};
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// What a partition can be asked, locally or by another worker's message.
#[derive(Debug)]
pub enum Request {
    /// Plain operations in order; the reply holds one response each.
    Batch(Box<OpBatch>, oneshot::Sender<BatchReply>),
    /// A single-partition transaction: apply all writes at once.
    Apply(WriteSet, oneshot::Sender<()>),
    /// Phase one of two-phase commit: lock the keys and stage the writes.
    Prepare(TxnId, WriteSet, oneshot::Sender<Vote>),
    /// Phase two: apply the staged writes and unlock.
    Commit(TxnId),
    /// Unlock and drop the staged writes, handing them back if asked.
    Abort(TxnId, Option<oneshot::Sender<WriteSet>>),
}

/// A request that needs a locked key.
#[derive(Debug)]
enum Waiter {
    Batch(Box<OpBatch>, oneshot::Sender<BatchReply>),
    Apply(WriteSet, oneshot::Sender<()>),
    Prepare(TxnId, WriteSet, oneshot::Sender<Vote>),
}

type Locks = hashbrown::HashMap<Box<[u8]>, TxnId, ahash::RandomState>;
type Staged = hashbrown::HashMap<TxnId, WriteSet, ahash::RandomState>;

/// How a `Prepare` fares against the current locks (wait-die).
enum Admission {
    Granted,
    /// Some key is held by a younger transaction: an older one may wait.
    Wait,
    /// Some key is held by an older transaction: the younger one dies.
    Die,
}

#[derive(Default)]
pub struct Partition {
    store: Store,
    locks: Locks,
    staged: Staged,
    waiters: VecDeque<Waiter>,
}

impl Partition {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// True when no transaction is prepared here and nothing waits.
    pub fn is_idle(&self) -> bool {
        self.locks.is_empty() && self.staged.is_empty() && self.waiters.is_empty()
    }

    /// True if `key` is locked by a prepared transaction.
    #[inline]
    pub fn is_locked(&self, key: &[u8]) -> bool {
        !self.locks.is_empty() && self.locks.contains_key(key)
    }

    /// Executes one unlocked plain operation, writing its response to `out`.
    /// The caller checks [`is_locked`](Self::is_locked) first.
    #[inline]
    pub fn execute(&mut self, kind: OpKind, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
        debug_assert!(!self.is_locked(key));
        match kind {
            OpKind::Get => match self.store.get(key) {
                Some(v) => response::ok_value(out, v),
                None => response::error(out, response::NOT_FOUND),
            },
            OpKind::Put => {
                self.store.put(key, value);
                response::ok(out);
            }
            OpKind::Del => {
                self.store.del(key);
                response::ok(out);
            }
        }
    }

    /// Serves one request now, or queues it until the keys it needs unlock.
    pub fn handle(&mut self, request: Request) {
        match request {
            Request::Batch(batch, reply) => self.run(Waiter::Batch(batch, reply)),
            Request::Apply(writes, reply) => self.run(Waiter::Apply(writes, reply)),
            Request::Prepare(txn, writes, reply) => self.run(Waiter::Prepare(txn, writes, reply)),
            Request::Commit(txn) => {
                self.commit(txn);
                self.wake();
            }
            Request::Abort(txn, reply) => {
                let writes = self.abort(txn);
                if let Some(reply) = reply {
                    let _ = reply.send(writes);
                }
                self.wake();
            }
        }
    }

    fn run(&mut self, waiter: Waiter) {
        if let Some(blocked) = self.try_run(waiter) {
            self.waiters.push_back(blocked);
        }
    }

    /// Runs `waiter` as far as the locks allow; gives it back if blocked.
    fn try_run(&mut self, waiter: Waiter) -> Option<Waiter> {
        match waiter {
            Waiter::Batch(mut batch, reply) => {
                if !self.run_batch(&mut batch) {
                    return Some(Waiter::Batch(batch, reply));
                }
                let _ = reply.send(batch.into_reply());
            }
            Waiter::Apply(writes, reply) => {
                if writes.iter().any(|(k, _)| self.is_locked(k)) {
                    return Some(Waiter::Apply(writes, reply));
                }
                self.apply(writes);
                let _ = reply.send(());
            }
            Waiter::Prepare(txn, writes, reply) => match self.admit(txn, &writes) {
                Admission::Granted => {
                    self.prepare(txn, writes);
                    let _ = reply.send(Vote::Prepared);
                }
                Admission::Wait => return Some(Waiter::Prepare(txn, writes, reply)),
                Admission::Die => {
                    let _ = reply.send(Vote::Conflict(writes));
                }
            },
        }
        None
    }

    /// Executes the batch's operations in order until one needs a locked
    /// key; true when all are done.
    fn run_batch(&mut self, batch: &mut OpBatch) -> bool {
        while let Some((kind, key, value, reply)) = batch.next_op() {
            if self.is_locked(key) {
                return false;
            }
            reply.push_with(|out| self.execute(kind, key, value, out));
            batch.next += 1;
        }
        true
    }

    /// Retries every waiter once, in arrival order, after locks were released.
    /// Running a waiter never releases a lock, so one pass suffices.
    fn wake(&mut self) {
        for waiter in std::mem::take(&mut self.waiters) {
            if let Some(blocked) = self.try_run(waiter) {
                self.waiters.push_back(blocked);
            }
        }
    }

    fn apply(&mut self, writes: WriteSet) {
        for (key, value) in writes {
            match value {
                Some(v) => self.store.put_owned(key, v),
                None => {
                    self.store.del(&key);
                }
            }
        }
    }

    /// Wait-die: a requester older than every holder of its keys waits; one
    /// younger than any holder dies. Waits only ever go from older to
    /// younger, so no cycle (deadlock) can form.
    fn admit(&self, txn: TxnId, writes: &WriteSet) -> Admission {
        let mut admission = Admission::Granted;
        for (key, _) in writes {
            match self.locks.get(key) {
                Some(&holder) if holder == txn => {}
                Some(&holder) if holder < txn => return Admission::Die,
                Some(_) => admission = Admission::Wait,
                None => {}
            }
        }
        admission
    }

    fn prepare(&mut self, txn: TxnId, writes: WriteSet) {
        for (key, _) in &writes {
            self.locks.insert(key.clone(), txn);
        }
        self.staged.insert(txn, writes);
    }

    fn commit(&mut self, txn: TxnId) {
        let Some(writes) = self.staged.remove(&txn) else {
            tracing::error!(txn, "commit for a transaction that is not prepared here");
            return;
        };
        for (key, _) in &writes {
            self.locks.remove(key);
        }
        self.apply(writes);
    }

    fn abort(&mut self, txn: TxnId) -> WriteSet {
        let writes = self.staged.remove(&txn).unwrap_or_default();
        for (key, _) in &writes {
            self.locks.remove(key);
        }
        writes
    }
}

#[cfg(test)]
mod tests;
