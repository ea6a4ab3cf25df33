//! Transactions: the per-connection write buffer (`START` … `COMMIT`) and the
//! coordinator that commits it, by one message for a single partition or by
//! two-phase commit across partitions (see [`coordinator`]).

pub mod coordinator;
pub mod handoff;

use crate::partition::{BatchReply, KeyState, OpBatch, OpKind, WatchId};
use crate::reply::Dialect;
use corekv_router::Topology;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// A transaction's identity and its wait-die priority: smaller is older.
pub type TxnId = u64;

/// A condition checked on every partition once the keys are locked; if it
/// fails anywhere, nothing is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// `MSETNX`: none of the keys may exist.
    AllAbsent,
}

/// A transaction's share on one partition: its operations in order, plus the
/// watches and condition to validate there.
#[derive(Debug)]
pub struct TxnPart {
    pub ops: OpBatch,
    /// The connection's watches, validated (and their keys share-locked)
    /// during prepare.
    pub watch: Option<WatchId>,
    pub check: Check,
    /// Whether the coordinator needs the encoded replies of the operations.
    pub want_reply: bool,
    /// The transaction's shared decision (two-phase commit only): lets a
    /// participant whose lock lease ran out settle the transaction without
    /// its coordinator (see [`Decision`]). `None`: the lease never expires.
    pub decision: Option<std::sync::Arc<Decision>>,
    /// A handoff part (see [`handoff`]): once its keys are locked
    /// (exclusively), the partition answers their values and TTLs
    /// ([`Vote::Snapshot`]) and waits for the writes to commit (`Fill`).
    pub snapshot: bool,
}

impl TxnPart {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            ops: OpBatch::new(dialect),
            watch: None,
            check: Check::None,
            want_reply: false,
            decision: None,
            snapshot: false,
        }
    }
}

/// The one decision of a cross-partition transaction, shared by its
/// coordinator and every participant: undecided, then commit or abort,
/// exactly once (compare-and-swap). The coordinator decides commit before
/// it sends the first `Commit`; a participant whose lock lease ran out
/// decides abort, unless commit was decided already, in which case it
/// commits its staged part itself. Whoever loses the race follows the
/// winner, so a lease can never half-apply a transaction.
#[derive(Debug, Default)]
pub struct Decision(AtomicU8);

const UNDECIDED: u8 = 0;
const COMMIT: u8 = 1;
const ABORT: u8 = 2;

impl Decision {
    /// Decides `commit` (or abort) unless already decided; returns the
    /// decision in force afterwards: true for commit.
    pub fn decide(&self, commit: bool) -> bool {
        let want = if commit { COMMIT } else { ABORT };
        match self
            .0
            .compare_exchange(UNDECIDED, want, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => commit,
            Err(current) => current == COMMIT,
        }
    }

    /// True once commit has been decided.
    pub fn is_commit(&self) -> bool {
        self.0.load(Ordering::Acquire) == COMMIT
    }
}

/// A partition's answer to `Prepare`.
#[derive(Debug)]
pub enum Vote {
    /// The keys are locked for this transaction and its part is staged. A
    /// read-only part has already run: its replies come with the vote.
    Prepared(Option<BatchReply>),
    /// A handoff part is prepared: its keys are locked and these are their
    /// states.
    Snapshot(Vec<KeyState>),
    /// An older transaction holds one of the keys: this one must die (abort
    /// and retry). The part comes back so the retry needs no copy.
    Conflict(Box<TxnPart>),
    /// A watched key changed; nothing is locked.
    WatchFailed,
    /// The `Check` failed; nothing is locked.
    CheckFailed,
    /// The part's writes would not fit under the memory limit (policy
    /// `noeviction`); nothing is locked.
    OutOfMemory,
}

/// A single-partition transaction's result.
#[derive(Debug)]
pub enum Applied {
    Done(BatchReply),
    WatchFailed,
    CheckFailed,
    OutOfMemory,
}

/// How a committed-or-not transaction ended, when it did not fail outright.
#[derive(Debug)]
pub enum Outcome {
    /// Applied everywhere; replies per partition (when asked for).
    Committed(Vec<(usize, BatchReply)>),
    /// Nothing applied: a watched key changed.
    WatchFailed,
    /// Nothing applied: the `Check` failed.
    CheckFailed,
    /// Nothing applied: a partition's writes would exceed its memory limit.
    OutOfMemory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnError {
    /// The buffered writes passed `--max-txn-bytes`; the transaction can
    /// only be rolled back.
    TooLarge(usize),
    /// A worker stopped (shutdown) or failed while serving the request;
    /// a transaction was rolled back (or, past its commit point, finished).
    Unavailable,
    /// A participant's lock lease (`--txn-lease-ms`) ran out before the
    /// transaction could commit; nothing was applied.
    LeaseExpired,
    /// Buffering the transaction's writes would pass the worker's share of
    /// `--maxmemory` (client buffers count there); it can only be rolled
    /// back.
    OutOfMemory,
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(max) => write!(
                f,
                "transaction too large (max {max} bytes); it can only be rolled back"
            ),
            Self::Unavailable => write!(
                f,
                "a worker is unavailable (shutting down or failed); request not completed"
            ),
            Self::LeaseExpired => write!(
                f,
                "transaction aborted: its lock lease expired before commit; nothing was applied"
            ),
            Self::OutOfMemory => write!(
                f,
                "out of memory: the transaction's buffer would exceed --maxmemory; it can only be rolled back"
            ),
        }
    }
}

/// What a transaction's buffer says about a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Buffered<'a> {
    /// Written by this transaction: `Some(value)` or deleted (`None`).
    Written(Option<&'a [u8]>),
    /// Not touched: read the committed data.
    Untouched,
}

type Writes = hashbrown::HashMap<Box<[u8]>, Option<Box<[u8]>>, ahash::RandomState>;

/// The writes of an open transaction, last write per key wins.
#[derive(Default)]
pub struct TxnBuffer {
    writes: Writes,
    bytes: usize,
    failed: Option<TxnError>,
}

/// Bookkeeping cost per buffered key, on top of its bytes.
const ENTRY_OVERHEAD: usize = 48;

impl TxnBuffer {
    pub fn put(&mut self, key: &[u8], value: &[u8], max_bytes: usize) -> Result<(), TxnError> {
        self.write(key, Some(value), max_bytes)
    }

    pub fn del(&mut self, key: &[u8], max_bytes: usize) -> Result<(), TxnError> {
        self.write(key, None, max_bytes)
    }

    fn write(&mut self, key: &[u8], value: Option<&[u8]>, max: usize) -> Result<(), TxnError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let added = Self::cost(key, value);
        if self.bytes + added > max {
            self.writes = Writes::default();
            self.bytes = 0;
            self.failed = Some(TxnError::TooLarge(max));
            return Err(TxnError::TooLarge(max));
        }
        self.bytes += added;
        self.writes.insert(key.into(), value.map(Into::into));
        Ok(())
    }

    /// Bytes the buffered writes hold (with their bookkeeping): client
    /// memory that counts toward `--maxmemory`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What buffering `key` = `value` would add to [`bytes`](Self::bytes).
    pub fn cost(key: &[u8], value: Option<&[u8]>) -> usize {
        key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
    }

    /// Dooms the transaction (out of memory): its writes are dropped, and
    /// later writes and the commit fail with `error`.
    pub fn doom(&mut self, error: TxnError) {
        self.writes = Writes::default();
        self.bytes = 0;
        self.failed = Some(error);
    }

    pub fn lookup(&self, key: &[u8]) -> Buffered<'_> {
        match self.writes.get(key) {
            Some(v) => Buffered::Written(v.as_deref()),
            None => Buffered::Untouched,
        }
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes as per-partition parts, in ascending partition order; or
    /// the error that doomed the transaction.
    pub fn into_parts(self, topology: &Topology) -> Result<Vec<(usize, TxnPart)>, TxnError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut parts: Vec<(usize, TxnPart)> = Vec::new();
        for (key, value) in &self.writes {
            let p = topology.partition_of_key(key);
            let i = match parts.iter().position(|(id, _)| *id == p) {
                Some(i) => i,
                None => {
                    parts.push((p, TxnPart::new(Dialect::Text)));
                    parts.len() - 1
                }
            };
            let ops = &mut parts[i].1.ops;
            match value {
                Some(v) => ops.push(OpKind::Put, key, v),
                None => ops.push(OpKind::Remove, key, b""),
            }
        }
        parts.sort_unstable_by_key(|(p, _)| *p);
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn last_write_wins_and_deletes_hide() {
        let mut t = TxnBuffer::default();
        assert_eq!(t.lookup(b"a"), Buffered::Untouched);
        t.put(b"a", b"1", MAX).unwrap();
        t.put(b"a", b"2", MAX).unwrap();
        assert_eq!(t.lookup(b"a"), Buffered::Written(Some(b"2")));
        t.del(b"a", MAX).unwrap();
        assert_eq!(t.lookup(b"a"), Buffered::Written(None));
        t.put(b"a", b"3", MAX).unwrap();
        assert_eq!(t.lookup(b"a"), Buffered::Written(Some(b"3")));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn groups_by_partition_in_order() {
        let topo = Topology::even(4).unwrap();
        let mut t = TxnBuffer::default();
        let keys: Vec<String> = (0..40).map(|i| format!("key{i}")).collect();
        for k in &keys {
            t.put(k.as_bytes(), b"v", MAX).unwrap();
        }
        t.del(b"gone", MAX).unwrap();
        let parts = t.into_parts(&topo).unwrap();
        let ids: Vec<usize> = parts.iter().map(|(p, _)| *p).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let total: usize = parts.iter().map(|(_, part)| part.ops.len()).sum();
        assert_eq!(total, 41);
        for (p, part) in &parts {
            for op in part.ops.ops() {
                assert_eq!(topo.partition_of_key(op.key), *p);
                let expected = if op.key == b"gone" {
                    OpKind::Remove
                } else {
                    OpKind::Put
                };
                assert_eq!(op.kind, expected);
            }
        }
    }

    #[test]
    fn too_large_dooms_the_transaction() {
        let mut t = TxnBuffer::default();
        t.put(b"a", b"1", 100).unwrap();
        let e = t.put(b"b", &[b'x'; 100], 100).unwrap_err();
        assert_eq!(e, TxnError::TooLarge(100));
        // Later writes fail too, and commit refuses, even if they are small.
        assert!(t.put(b"c", b"1", 100).is_err());
        assert_eq!(t.into_parts(&Topology::even(1).unwrap()).unwrap_err(), e);
    }

    #[test]
    fn decision_is_taken_once() {
        let d = Decision::default();
        assert!(!d.is_commit());
        assert!(d.decide(true), "first decision wins");
        assert!(d.decide(false), "a later abort follows the commit");
        assert!(d.is_commit());
        let d = Decision::default();
        assert!(!d.decide(false));
        assert!(!d.decide(true), "a later commit follows the abort");
        assert!(!d.is_commit());
    }
}
