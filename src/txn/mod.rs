//! Transactions: the per-connection write buffer (`START` … `COMMIT`) and the
//! coordinator that commits it, by one message for a single partition or by
//! two-phase commit across partitions (see [`coordinator`]).

pub mod coordinator;

use corekv_router::Topology;
use std::fmt;

/// A transaction's identity and its wait-die priority: smaller is older.
pub type TxnId = u64;

/// Writes for one partition: `Some(value)` puts, `None` deletes. Owned, so a
/// committed write moves into the map without a copy.
pub type WriteSet = Vec<(Box<[u8]>, Option<Box<[u8]>>)>;

/// A partition's answer to `Prepare`.
#[derive(Debug)]
pub enum Vote {
    /// The keys are locked for this transaction and its writes are staged.
    Prepared,
    /// An older transaction holds one of the keys: this one must die (abort
    /// and retry). The writes come back so the retry needs no copy.
    Conflict(WriteSet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnError {
    /// The buffered writes passed `--max-txn-bytes`; the transaction can
    /// only be rolled back.
    TooLarge(usize),
    /// A worker stopped while the transaction was committing.
    Unavailable,
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(max) => write!(
                f,
                "transaction too large (max {max} bytes); it can only be rolled back"
            ),
            Self::Unavailable => write!(f, "server is shutting down; transaction not applied"),
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
        let added = key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        if self.bytes + added > max {
            self.writes = Writes::default();
            self.failed = Some(TxnError::TooLarge(max));
            return Err(TxnError::TooLarge(max));
        }
        self.bytes += added;
        self.writes.insert(key.into(), value.map(Into::into));
        Ok(())
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

    /// The writes grouped by owning partition, in ascending partition order;
    /// or the error that doomed the transaction.
    pub fn into_partitions(self, topology: &Topology) -> Result<Vec<(usize, WriteSet)>, TxnError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut groups: Vec<(usize, WriteSet)> = Vec::new();
        for (key, value) in self.writes {
            let p = topology.partition_of_key(&key);
            match groups.iter_mut().find(|(id, _)| *id == p) {
                Some((_, ws)) => ws.push((key, value)),
                None => groups.push((p, vec![(key, value)])),
            }
        }
        groups.sort_unstable_by_key(|(p, _)| *p);
        Ok(groups)
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
        let groups = t.into_partitions(&topo).unwrap();
        let ids: Vec<usize> = groups.iter().map(|(p, _)| *p).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let total: usize = groups.iter().map(|(_, ws)| ws.len()).sum();
        assert_eq!(total, 41);
        for (p, ws) in &groups {
            for (k, _) in ws {
                assert_eq!(topo.partition_of_key(k), *p);
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
        assert_eq!(
            t.into_partitions(&Topology::even(1).unwrap()).unwrap_err(),
            e
        );
    }
}
