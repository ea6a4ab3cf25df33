//! The coordinator: commits a transaction's buffered writes, run by the
//! worker of the connection that issued `COMMIT`.
//!
//! * One partition: one `Apply` message; the partition validates watches
//!   and checks and runs every operation in one step once none of the keys
//!   is locked.
//! * Several partitions: two-phase commit.
//!   1. **Prepare** (all partitions at once): each partition checks its locks
//!      *before touching anything* and either locks all of this
//!      transaction's keys there (shared for a read-only part, exclusive
//!      otherwise, plus shared locks on the connection's watched keys),
//!      validates its watches and check, and stages the part (`Prepared`;
//!      a read-only part runs right away, under its locks); or waits (the
//!      holders are younger); or answers `Conflict` (a holder is older:
//!      wait-die says the younger dies); or `WatchFailed`/`CheckFailed`.
//!   2. **Commit** if every vote is `Prepared`: each partition runs its
//!      staged operations and unlocks. No partition can refuse now.
//!   3. **Abort** otherwise: prepared partitions unlock. After a conflict
//!      they hand the part back and the coordinator retries with the *same*
//!      id, so it only grows older relative to newcomers and eventually
//!      wins; after a failed watch or check the transaction ends, unapplied.
//!
//! Atomicity for readers: between prepare and commit every key of the
//! transaction is locked, and a locked key cannot be read; so a reader that
//! saw one of the transaction's values (after its partition committed) and
//! then reads another key either finds it committed or waits for it.
//!
//! Freedom from deadlock: wait-die only lets an older transaction wait for
//! a younger one, so waits cannot form a cycle; plain reads and writes wait
//! but hold no locks.

use super::{Applied, Outcome, TxnError, TxnId, TxnPart, Vote};
use crate::partition::{BatchReply, Request};
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

/// Runs a transaction given as per-partition parts (ascending partition
/// order) atomically: all of it or, if a watch or check fails, none of it.
pub async fn run(
    api: &impl Participants,
    mut parts: Vec<(usize, TxnPart)>,
) -> Result<Outcome, TxnError> {
    match parts.len() {
        0 => Ok(Outcome::Committed(Vec::new())),
        1 => {
            let (partition, part) = parts.pop().expect("one part");
            apply_single(api, partition, part).await
        }
        _ => {
            let parts = parts
                .into_iter()
                .map(|(p, part)| (p, Box::new(part)))
                .collect();
            two_phase(api, parts).await
        }
    }
}

async fn apply_single(
    api: &impl Participants,
    partition: usize,
    part: TxnPart,
) -> Result<Outcome, TxnError> {
    let (tx, rx) = oneshot::channel();
    api.send(partition, Request::Apply(Box::new(part), tx))
        .await?;
    Ok(match rx.await.map_err(|_| TxnError::Unavailable)? {
        Applied::Done(reply) => Outcome::Committed(vec![(partition, reply)]),
        Applied::WatchFailed => Outcome::WatchFailed,
        Applied::CheckFailed => Outcome::CheckFailed,
        Applied::OutOfMemory => Outcome::OutOfMemory,
    })
}

type Parts = Vec<(usize, Box<TxnPart>)>;

/// The result of one prepare round.
enum Round {
    /// Every partition prepared: `(partition, wants reply, early reply)`.
    Prepared(Vec<(usize, bool, Option<BatchReply>)>),
    /// Someone must die: everything was aborted; the parts, for a retry.
    Retry(Parts),
    /// A watch or check failed: everything was aborted.
    Failed(Outcome),
}

async fn two_phase(api: &impl Participants, mut parts: Parts) -> Result<Outcome, TxnError> {
    let txn = api.next_txn_id();
    for attempt in 0u32.. {
        match prepare(api, txn, parts).await? {
            Round::Prepared(prepared) => return commit_prepared(api, txn, prepared).await,
            Round::Retry(returned) => parts = returned,
            Round::Failed(outcome) => return Ok(outcome),
        }
        backoff(attempt).await;
    }
    unreachable!("the retry loop only ends by returning")
}

/// Phase one: prepare everywhere at once, then collect the votes.
async fn prepare(api: &impl Participants, txn: TxnId, parts: Parts) -> Result<Round, TxnError> {
    let mut votes = Vec::with_capacity(parts.len());
    for (partition, part) in parts {
        let want = part.want_reply;
        let (tx, rx) = oneshot::channel();
        api.send(partition, Request::Prepare(txn, part, tx)).await?;
        votes.push((partition, want, rx));
    }
    let mut prepared = Vec::with_capacity(votes.len());
    let mut returned = Vec::new();
    let mut failed = None;
    for (partition, want, rx) in votes {
        match rx.await {
            Ok(Vote::Prepared(early)) => prepared.push((partition, want, early)),
            Ok(Vote::Conflict(part)) => returned.push((partition, part)),
            Ok(Vote::WatchFailed) => failed = Some(Outcome::WatchFailed),
            Ok(Vote::CheckFailed) => failed = failed.or(Some(Outcome::CheckFailed)),
            Ok(Vote::OutOfMemory) => failed = failed.or(Some(Outcome::OutOfMemory)),
            Err(_) => {
                abort(api, txn, &prepared).await;
                return Err(TxnError::Unavailable);
            }
        }
    }
    if let Some(outcome) = failed {
        abort(api, txn, &prepared).await;
        return Ok(Round::Failed(outcome));
    }
    if returned.is_empty() {
        return Ok(Round::Prepared(prepared));
    }
    for (partition, _, _) in prepared {
        let (tx, rx) = oneshot::channel();
        api.send(partition, Request::Abort(txn, Some(tx))).await?;
        let part = rx.await.map_err(|_| TxnError::Unavailable)?;
        returned.push((partition, part.ok_or(TxnError::Unavailable)?));
    }
    returned.sort_unstable_by_key(|(p, _)| *p);
    Ok(Round::Retry(returned))
}

/// Phase two. Where no reply is wanted the commit message needs no answer:
/// a partition cannot refuse one, its inbox is FIFO, and the keys stay
/// locked (so unreadable) until it is applied.
async fn commit_prepared(
    api: &impl Participants,
    txn: TxnId,
    prepared: Vec<(usize, bool, Option<BatchReply>)>,
) -> Result<Outcome, TxnError> {
    let mut replies = Vec::new();
    let mut pending = Vec::new();
    for (partition, want, early) in prepared {
        let late = want && early.is_none();
        let (tx, rx) = oneshot::channel();
        api.send(partition, Request::Commit(txn, late.then_some(tx)))
            .await?;
        match early {
            Some(reply) if want => replies.push((partition, reply)),
            _ if late => pending.push((partition, rx)),
            _ => {}
        }
    }
    for (partition, rx) in pending {
        replies.push((partition, rx.await.map_err(|_| TxnError::Unavailable)?));
    }
    replies.sort_unstable_by_key(|(p, _)| *p);
    Ok(Outcome::Committed(replies))
}

async fn abort(
    api: &impl Participants,
    txn: TxnId,
    prepared: &[(usize, bool, Option<BatchReply>)],
) {
    for &(partition, _, _) in prepared {
        let _ = api.send(partition, Request::Abort(txn, None)).await;
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
