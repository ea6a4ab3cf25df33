//! Handoff transactions: multi-key commands whose result on one partition
//! depends on values held by another (`RENAME`, `COPY`, `BITOP` across
//! partitions, and an `EXEC` that queues one of them).
//!
//! Two-phase commit with a read step between the phases:
//! 1. **Prepare** (as in [`coordinator`](super::coordinator), wait-die and
//!    retries included): every part locks its keys *exclusively* and,
//!    instead of staging writes, answers the keys' values and TTLs
//!    (`Vote::Snapshot`).
//! 2. **Compute**: the coordinator loads the states into a scratch
//!    partition and runs the commands there with the partition's own code,
//!    so replies and results are exactly what one partition would give.
//!    The keys the commands wrote become writes of their final state
//!    (value and deadline, or a delete).
//! 3. **Fill**: each partition with writes replaces its staged part with
//!    them and checks its memory budget; `OutOfMemory` (or a part whose
//!    lock lease ran out) aborts everywhere.
//! 4. **Commit** as usual: the commit point is the shared decision.
//!
//! Nothing is written before the commit point, so an abort (a failed
//! watch, out of memory, the coordinator lost: its guard aborts) leaves
//! every key as it was: a moved value is never lost nor duplicated.
//! Readers never see the move half done: every key stays locked from its
//! snapshot until its partition applied the commit.

use super::coordinator::{backoff, commit_prepared, prepare, Guard, Participants, Parts, Round};
use super::{Outcome, TxnError, TxnPart};
use crate::partition::{Filled, KeyState, OpBatch, OpKind, Request};
use corekv_router::Topology;
use tokio::sync::oneshot;

/// How a handoff transaction ended, when it did not fail outright.
#[derive(Debug)]
pub enum Handoff<R> {
    /// Applied everywhere; what the computation returned (its replies).
    Committed(R),
    /// Nothing applied: a watched key changed.
    WatchFailed,
    /// Nothing applied: the writes would pass a partition's memory budget.
    OutOfMemory,
}

/// The parts that lock and read `keys` (duplicates allowed), in ascending
/// partition order.
pub fn parts<'k>(
    topology: &Topology,
    keys: impl IntoIterator<Item = &'k [u8]>,
    dialect: crate::reply::Dialect,
) -> Vec<(usize, TxnPart)> {
    let mut parts: Vec<(usize, TxnPart)> = Vec::new();
    let mut seen = hashbrown::HashSet::<&[u8]>::new();
    for key in keys {
        if !seen.insert(key) {
            continue;
        }
        let p = topology.partition_of_key(key);
        let at = match parts.iter().position(|(id, _)| *id == p) {
            Some(at) => at,
            None => {
                let mut part = TxnPart::new(dialect);
                part.snapshot = true;
                parts.push((p, part));
                parts.len() - 1
            }
        };
        parts[at].1.ops.push(OpKind::Lock, key, b"");
    }
    parts.sort_unstable_by_key(|(p, _)| *p);
    parts
}

/// Runs a handoff transaction: locks and reads the keys of `parts`, runs
/// `compute` on their states (it returns the writes per partition and its
/// result), writes them, commits.
pub async fn run<R>(
    api: &impl Participants,
    parts: Vec<(usize, TxnPart)>,
    compute: impl FnOnce(&[KeyState]) -> (Vec<(usize, OpBatch)>, R),
) -> Result<Handoff<R>, TxnError> {
    let mut parts: Parts = parts.into_iter().map(|(p, t)| (p, Box::new(t))).collect();
    let mut guard = Guard::new(api, api.next_txn_id());
    let mut attempt = 0u32;
    let (prepared, states) = loop {
        match prepare(&mut guard, parts).await? {
            Round::Prepared(prepared, states) => break (prepared, states),
            Round::Retry(returned) => parts = returned,
            Round::Failed(Outcome::WatchFailed) => return Ok(Handoff::WatchFailed),
            Round::Failed(_) => return Ok(Handoff::OutOfMemory),
        }
        backoff(attempt).await;
        attempt += 1;
    };
    let (writes, result) = compute(&states);
    crate::fail_point_async!("handoff::before_fill", return Err(TxnError::Unavailable));
    if let Some(refused) = fill(&mut guard, writes).await? {
        guard.abort_all();
        return match refused {
            Filled::OutOfMemory => Ok(Handoff::OutOfMemory),
            _ => Err(TxnError::LeaseExpired),
        };
    }
    commit_prepared(&mut guard, prepared).await?;
    Ok(Handoff::Committed(result))
}

/// Sends every partition its writes at once, then collects the answers:
/// the first refusal, if any.
async fn fill<A: Participants>(
    guard: &mut Guard<'_, A>,
    writes: Vec<(usize, OpBatch)>,
) -> Result<Option<Filled>, TxnError> {
    let mut pending = Vec::with_capacity(writes.len());
    for (partition, ops) in writes {
        let (tx, rx) = oneshot::channel();
        let request = Request::Fill(guard.txn, Box::new(ops), tx);
        guard.api.send(partition, request).await?;
        pending.push(rx);
    }
    let mut refused = None;
    for rx in pending {
        match rx.await.map_err(|_| TxnError::Unavailable)? {
            Filled::Ready => {}
            other => refused = refused.or(Some(other)),
        }
    }
    Ok(refused)
}
