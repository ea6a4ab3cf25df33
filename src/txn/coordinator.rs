//! The coordinator: commits a transaction's buffered writes, run by the
//! worker of the connection that issued `COMMIT`.
//!
//! * One partition: one `Apply` message; the partition applies every write
//!   in one step once none of the keys is locked.
//! * Several partitions: two-phase commit.
//!   1. **Prepare** (all partitions at once): each partition checks its locks
//!      *before touching anything* and either locks all of this
//!      transaction's keys there and stages the writes (`Prepared`), waits
//!      (the holders are younger), or answers `Conflict` (a holder is older:
//!      wait-die says the younger dies).
//!   2. **Commit** if every vote is `Prepared`: each partition applies its
//!      staged writes and unlocks. No partition can refuse at this point.
//!   3. **Abort** otherwise: prepared partitions unlock and hand the writes
//!      back; the coordinator backs off and retries with the *same* id, so
//!      it only grows older relative to newcomers and eventually wins.
//!
//! Atomicity for readers: between prepare and commit every key of the
//! transaction is locked, and a locked key cannot be read; so a reader that
//! saw one of the transaction's values (after its partition committed) and
//! then reads another key either finds it committed or waits for it.
//!
//! Freedom from deadlock: wait-die only lets an older transaction wait for
//! a younger one, so waits cannot form a cycle; plain reads and writes wait
//! but hold no locks.

use super::{TxnBuffer, TxnError, TxnId, Vote, WriteSet};
use crate::partition::Request;
use corekv_router::Topology;
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

/// How the coordinator reaches partitions: the worker's own directly, the
/// others through the mesh.
pub trait Participants {
    fn send(
        &self,
        partition: usize,
        request: Request,
    ) -> impl Future<Output = Result<(), TxnError>>;
    /// A fresh transaction id, unique and increasing across all workers.
    fn next_txn_id(&self) -> TxnId;
}

/// Commits `txn` atomically across whatever partitions it touches.
pub async fn commit(
    parts: &impl Participants,
    topology: &Topology,
    txn: TxnBuffer,
) -> Result<(), TxnError> {
    let mut groups = txn.into_partitions(topology)?;
    match groups.len() {
        0 => Ok(()),
        1 => {
            let (partition, writes) = groups.pop().expect("one group");
            apply_single(parts, partition, writes).await
        }
        _ => two_phase(parts, groups).await,
    }
}

async fn apply_single(
    parts: &impl Participants,
    partition: usize,
    writes: WriteSet,
) -> Result<(), TxnError> {
    let (tx, rx) = oneshot::channel();
    parts.send(partition, Request::Apply(writes, tx)).await?;
    rx.await.map_err(|_| TxnError::Unavailable)
}

async fn two_phase(
    parts: &impl Participants,
    mut groups: Vec<(usize, WriteSet)>,
) -> Result<(), TxnError> {
    let txn = parts.next_txn_id();
    for attempt in 0u32.. {
        match prepare(parts, txn, groups).await? {
            Ok(prepared) => return commit_prepared(parts, txn, &prepared).await,
            Err(returned) => groups = returned,
        }
        backoff(attempt).await;
    }
    unreachable!("the retry loop only ends by returning")
}

/// Phase one. `Ok(partitions)` if all voted `Prepared`; otherwise every
/// prepared partition has been aborted and `Err(groups)` holds all the
/// writes again, ready for a retry.
async fn prepare(
    parts: &impl Participants,
    txn: TxnId,
    groups: Vec<(usize, WriteSet)>,
) -> Result<Result<Vec<usize>, Vec<(usize, WriteSet)>>, TxnError> {
    let mut votes = Vec::with_capacity(groups.len());
    for (partition, writes) in groups {
        let (tx, rx) = oneshot::channel();
        parts
            .send(partition, Request::Prepare(txn, writes, tx))
            .await?;
        votes.push((partition, rx));
    }
    let mut prepared = Vec::with_capacity(votes.len());
    let mut returned = Vec::new();
    for (partition, rx) in votes {
        match rx.await {
            Ok(Vote::Prepared) => prepared.push(partition),
            Ok(Vote::Conflict(writes)) => returned.push((partition, writes)),
            Err(_) => {
                abort(parts, txn, &prepared).await;
                return Err(TxnError::Unavailable);
            }
        }
    }
    if returned.is_empty() {
        return Ok(Ok(prepared));
    }
    for partition in prepared {
        let (tx, rx) = oneshot::channel();
        parts.send(partition, Request::Abort(txn, Some(tx))).await?;
        let writes = rx.await.map_err(|_| TxnError::Unavailable)?;
        returned.push((partition, writes));
    }
    returned.sort_unstable_by_key(|(p, _)| *p);
    Ok(Err(returned))
}

/// Phase two. Commit messages need no answer: a partition cannot refuse
/// one, its inbox is FIFO, and the keys stay locked (so unreadable) until it
/// is applied.
async fn commit_prepared(
    parts: &impl Participants,
    txn: TxnId,
    prepared: &[usize],
) -> Result<(), TxnError> {
    for &partition in prepared {
        parts.send(partition, Request::Commit(txn)).await?;
    }
    Ok(())
}

async fn abort(parts: &impl Participants, txn: TxnId, prepared: &[usize]) {
    for &partition in prepared {
        let _ = parts.send(partition, Request::Abort(txn, None)).await;
    }
}

/// After a conflict: yield a few times (the older transaction usually
/// finishes within microseconds), then sleep, growing to 8 ms.
async fn backoff(attempt: u32) {
    if attempt < 4 {
        tokio::task::yield_now().await;
    } else {
        let ms = 1u64 << (attempt - 4).min(3);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests;
