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
//! Failure (see `docs/ARCHITECTURE.md`, "Failure model of two-phase
//! commit"): a guard owned by the coordinator's future records every
//! partition a `Prepare` was sent to; however the coordinator stops (an
//! early return, a lost vote, a panic, its future dropped), dropping the
//! guard aborts them all, or commits them all once the commit point has
//! passed. The commit point is a shared [`Decision`], also carried by every
//! prepared part: a participant whose lock lease runs out decides abort
//! (or follows a commit already decided), so a lost coordinator never
//! holds keys forever and a lease never half-applies a transaction.
//!
//! Atomicity for readers: between prepare and commit every key of the
//! transaction is locked, and a locked key cannot be read; so a reader that
//! saw one of the transaction's values (after its partition committed) and
//! then reads another key either finds it committed or waits for it.
//!
//! Freedom from deadlock: wait-die only lets an older transaction wait for
//! a younger one, so waits cannot form a cycle; plain reads and writes wait
//! but hold no locks.

use super::{Applied, Decision, Outcome, TxnError, TxnId, TxnPart, Vote};
use crate::partition::{BatchReply, KeyState, Request};
use std::future::Future;
use std::sync::Arc;
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
    /// Delivers `request` without waiting: what a [`Drop`] may call. While
    /// a panic unwinds it must not touch even the worker's own partition in
    /// place (the panic may come from inside it): it posts the request.
    fn post(&self, partition: usize, request: Request);
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

pub(super) type Parts = Vec<(usize, Box<TxnPart>)>;

/// The result of one prepare round.
pub(super) enum Round {
    /// Every partition prepared: `(partition, wants reply, early reply)`,
    /// and the states handoff parts answered.
    Prepared(Vec<(usize, bool, Option<BatchReply>)>, Vec<KeyState>),
    /// Someone must die: everything was aborted; the parts, for a retry.
    Retry(Parts),
    /// A watch or check failed: everything was aborted.
    Failed(Outcome),
}

/// The partitions that may hold this transaction's locks: every one a
/// `Prepare` was *sent* to (voted or not) and that was not yet told the
/// outcome. However the coordinator stops (an early `?` return, a lost
/// vote, a panic unwinding through it, its future dropped by a closing
/// connection), dropping the guard tells each of them: `Abort` before the
/// commit point, `Commit` after it (every partition voted `Prepared` by
/// then, so the transaction must finish everywhere). Aborts are
/// idempotent and also cancel a prepare still waiting for locks.
pub(super) struct Guard<'a, A: Participants> {
    pub(super) api: &'a A,
    pub(super) txn: TxnId,
    decision: Arc<Decision>,
    open: Vec<usize>,
}

impl<'a, A: Participants> Guard<'a, A> {
    pub(super) fn new(api: &'a A, txn: TxnId) -> Self {
        Self {
            api,
            txn,
            decision: Arc::default(),
            open: Vec::new(),
        }
    }

    fn sent_prepare(&mut self, partition: usize) {
        if !self.open.contains(&partition) {
            self.open.push(partition);
        }
    }

    /// `partition` holds nothing of this transaction any more.
    fn closed(&mut self, partition: usize) {
        self.open.retain(|&p| p != partition);
    }

    /// Posts `Abort` to every open partition; the transaction holds nothing
    /// anywhere afterwards (once the mail is served).
    pub(super) fn abort_all(&mut self) {
        for partition in std::mem::take(&mut self.open) {
            self.api.post(partition, Request::Abort(self.txn, None));
        }
    }
}

impl<A: Participants> Drop for Guard<'_, A> {
    fn drop(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let commit = self.decision.decide(false);
        tracing::warn!(
            txn = self.txn,
            commit,
            partitions = self.open.len(),
            "transaction coordinator stopped early; finishing its participants"
        );
        for partition in std::mem::take(&mut self.open) {
            let request = if commit {
                Request::Commit(self.txn, None)
            } else {
                Request::Abort(self.txn, None)
            };
            self.api.post(partition, request);
        }
    }
}

async fn two_phase(api: &impl Participants, mut parts: Parts) -> Result<Outcome, TxnError> {
    let mut guard = Guard::new(api, api.next_txn_id());
    for attempt in 0u32.. {
        match prepare(&mut guard, parts).await? {
            Round::Prepared(prepared, _) => return commit_prepared(&mut guard, prepared).await,
            Round::Retry(returned) => parts = returned,
            Round::Failed(outcome) => return Ok(outcome),
        }
        backoff(attempt).await;
    }
    unreachable!("the retry loop only ends by returning")
}

/// Phase one: prepare everywhere at once, then collect the votes. Any
/// error leaves the still-open partitions to the guard.
pub(super) async fn prepare<A: Participants>(
    guard: &mut Guard<'_, A>,
    parts: Parts,
) -> Result<Round, TxnError> {
    let (api, txn) = (guard.api, guard.txn);
    let mut votes = Vec::with_capacity(parts.len());
    for (partition, mut part) in parts {
        let want = part.want_reply;
        part.decision = Some(Arc::clone(&guard.decision));
        let (tx, rx) = oneshot::channel();
        guard.sent_prepare(partition);
        api.send(partition, Request::Prepare(txn, part, tx)).await?;
        crate::fail_point_async!("2pc::after_prepare_sent", return Err(TxnError::Unavailable));
        votes.push((partition, want, rx));
    }
    let mut prepared = Vec::with_capacity(votes.len());
    let mut states = Vec::new();
    let mut returned = Vec::new();
    let mut failed = None;
    for (partition, want, rx) in votes {
        let vote = rx.await.map_err(|_| TxnError::Unavailable);
        crate::fail_point_async!("2pc::between_votes", return Err(TxnError::Unavailable));
        match vote? {
            Vote::Prepared(early) => {
                prepared.push((partition, want, early));
                continue;
            }
            Vote::Snapshot(found) => {
                prepared.push((partition, want, None));
                states.extend(found);
                continue;
            }
            Vote::Conflict(part) => returned.push((partition, part)),
            Vote::WatchFailed => failed = Some(Outcome::WatchFailed),
            Vote::CheckFailed => failed = failed.or(Some(Outcome::CheckFailed)),
            Vote::OutOfMemory => failed = failed.or(Some(Outcome::OutOfMemory)),
        }
        // A refusing partition locked nothing.
        guard.closed(partition);
    }
    if let Some(outcome) = failed {
        guard.abort_all();
        return Ok(Round::Failed(outcome));
    }
    if returned.is_empty() {
        return Ok(Round::Prepared(prepared, states));
    }
    abort_for_retry(guard, prepared, &mut returned).await?;
    returned.sort_unstable_by_key(|(p, _)| *p);
    Ok(Round::Retry(returned))
}

/// After a conflict: aborts every prepared partition at once and collects
/// the parts they hand back. A partition is closed only once its part is
/// back; on an error the guard aborts the rest (again: aborts are
/// idempotent).
async fn abort_for_retry<A: Participants>(
    guard: &mut Guard<'_, A>,
    prepared: Vec<(usize, bool, Option<BatchReply>)>,
    returned: &mut Parts,
) -> Result<(), TxnError> {
    // Read-only parts ran at prepare: what their replies took from the
    // client's output budget goes back, as the retry runs them again.
    let refunds: Vec<(usize, usize)> = prepared
        .iter()
        .filter_map(|(p, _, early)| early.as_ref().map(|r| (*p, r.charged())))
        .collect();
    let mut pending = Vec::with_capacity(prepared.len());
    for (partition, _, _) in prepared {
        let (tx, rx) = oneshot::channel();
        guard
            .api
            .send(partition, Request::Abort(guard.txn, Some(tx)))
            .await?;
        pending.push((partition, rx));
    }
    for (partition, rx) in pending {
        let part = rx.await.map_err(|_| TxnError::Unavailable)?;
        returned.push((partition, part.ok_or(TxnError::Unavailable)?));
        guard.closed(partition);
    }
    for (partition, n) in refunds {
        if let Some((_, part)) = returned.iter().find(|(p, _)| *p == partition) {
            part.ops.refund(n);
        }
    }
    Ok(())
}

/// Phase two. The commit point is the shared decision: once it says
/// commit, every partition commits (a guard dropped from here on sends the
/// remaining commits). If a participant's lease ran out first, it decided
/// abort, and the transaction aborts everywhere instead.
///
/// Where no reply is wanted the commit message needs no answer: a
/// partition cannot refuse one, its inbox is FIFO, and the keys stay
/// locked (so unreadable) until it is applied.
pub(super) async fn commit_prepared<A: Participants>(
    guard: &mut Guard<'_, A>,
    prepared: Vec<(usize, bool, Option<BatchReply>)>,
) -> Result<Outcome, TxnError> {
    crate::fail_point_async!("2pc::before_commit", return Err(TxnError::Unavailable));
    if !guard.decision.decide(true) {
        guard.abort_all();
        return Err(TxnError::LeaseExpired);
    }
    let (api, txn) = (guard.api, guard.txn);
    let mut replies = Vec::new();
    let mut pending = Vec::new();
    for (i, (partition, want, early)) in prepared.into_iter().enumerate() {
        if i > 0 {
            crate::fail_point_async!("2pc::between_commits", return Err(TxnError::Unavailable));
        }
        let late = want && early.is_none();
        let (tx, rx) = oneshot::channel();
        api.send(partition, Request::Commit(txn, late.then_some(tx)))
            .await?;
        guard.closed(partition);
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

/// After a conflict: yield a few times (the older transaction usually
/// finishes within microseconds), then sleep, growing to 8 ms.
pub(super) async fn backoff(attempt: u32) {
    if attempt < 4 {
        tokio::task::yield_now().await;
    } else {
        let ms = 1u64 << (attempt - 4).min(3);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests;
