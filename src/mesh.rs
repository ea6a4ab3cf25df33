//! The mesh: one bounded inbox per worker, through which workers reach each
//! other's partitions. The only way state crosses threads.
//!
//! Each message is already a batch (a connection's operations for one
//! partition, or one transaction step), so a pipelined burst costs one
//! message and one wake-up per destination, not per command. Inboxes are
//! bounded: a sender that finds one full awaits (its task yields, the worker
//! thread keeps running), which is backpressure, never a blocked thread.
//! Replies never go through an inbox (they use the oneshot in each request),
//! so a full inbox cannot deadlock two workers.

use crate::partition::Request;
use crate::txn::TxnError;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages an inbox holds before senders wait.
pub const INBOX_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct Mesh {
    inboxes: Arc<[mpsc::Sender<Request>]>,
}

impl Mesh {
    /// A mesh of `n` inboxes and their receiving ends, in worker order.
    pub fn new(n: usize) -> (Self, Vec<mpsc::Receiver<Request>>) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..n).map(|_| mpsc::channel(INBOX_CAPACITY)).unzip();
        let mesh = Self {
            inboxes: senders.into(),
        };
        (mesh, receivers)
    }

    pub fn len(&self) -> usize {
        self.inboxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inboxes.is_empty()
    }

    /// Delivers `request` to worker `to`'s inbox.
    pub async fn send(&self, to: usize, request: Request) -> Result<(), TxnError> {
        self.inboxes[to]
            .send(request)
            .await
            .map_err(|_| TxnError::Unavailable)
    }
}
