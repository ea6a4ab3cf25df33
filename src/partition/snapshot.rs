//! The participant side of a handoff transaction (`txn::handoff`): a
//! prepared part that reads its keys' values and TTLs under exclusive
//! locks and hands them to the coordinator (`snapshot`), the coordinator's
//! scratch partition that runs the commands on them (`scratch`,
//! `changes`), and the writes it sends back (`fill`), checked against the
//! memory budget before the commit point.

use super::{coll, OpBatch, OpKind, Partition, SetCond, TtlMode};
use crate::reply::Dialect;
use crate::txn::{TxnId, TxnPart};
use corekv_router::Topology;

/// One key as a handoff transaction sees it: its live value (or none) and
/// its deadline (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub key: Box<[u8]>,
    /// A string's value, or a collection written out by `coll::dump`.
    pub value: Option<Box<[u8]>>,
    /// The value is a collection's dump.
    pub collection: bool,
    pub deadline: Option<u64>,
}

/// A partition's answer to `Fill`.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    /// The writes are staged; the part commits them.
    Ready,
    /// They would pass the memory budget (`noeviction`); nothing changed.
    OutOfMemory,
    /// Nothing is prepared here for the transaction any more (its lock
    /// lease ran out).
    Gone,
}

impl Partition {
    /// The live state of every key of `part` (locked by it).
    pub(super) fn snapshot(&mut self, part: &TxnPart) -> Vec<KeyState> {
        let now = self.now();
        part.ops
            .ops()
            .map(|op| {
                self.expire_if_due(op.key, now);
                let entry = self.store.entry(op.key);
                let collection = entry.is_some_and(|e| e.is_collection());
                let value = entry.map(|e| match collection {
                    true => coll::dump(e.value()).into(),
                    false => Box::from(e.value()),
                });
                KeyState {
                    key: op.key.into(),
                    value,
                    collection,
                    deadline: self.expiry.deadline(op.key),
                }
            })
            .collect()
    }

    /// Replaces the operations of `txn`'s prepared part with `ops` (writes
    /// of keys it holds exclusively), unless they may not fit the budget.
    pub(super) fn fill(&mut self, txn: TxnId, ops: OpBatch) -> Filled {
        let Some(mut staged) = self.staged.remove(&txn) else {
            return Filled::Gone;
        };
        let old = std::mem::replace(&mut staged.part.ops, ops);
        let filled = if self.part_over_budget(&staged.part) {
            staged.part.ops = old;
            Filled::OutOfMemory
        } else {
            staged.ran = false;
            Filled::Ready
        };
        self.staged.insert(txn, staged);
        filled
    }

    /// A partition holding just `states`, on which a coordinator runs a
    /// transaction's commands with the same code as a real partition.
    pub fn scratch(states: &[KeyState]) -> Self {
        let mut p = Self::default();
        for (i, s) in states.iter().enumerate() {
            if let Some(value) = &s.value {
                if s.collection {
                    p.store.insert_entry(&s.key, coll::restore(&s.key, value));
                } else {
                    p.store.put(&s.key, value);
                }
                if let Some(at) = s.deadline {
                    p.expiry.set(&s.key, at);
                }
            }
            // A watch per key records which keys the commands wrote.
            p.watches.watch(i as u64, &s.key);
        }
        p
    }

    /// Makes collections change form as `limits` say (a scratch partition
    /// follows the server's `*-max-*` settings, as its workers do).
    pub fn set_coll_limits(&mut self, limits: coll::Limits) {
        self.limits = limits;
    }

    /// The writes that give each key of `states` that the commands run on
    /// this scratch partition wrote its final state, per partition in
    /// ascending order.
    pub fn changes(&mut self, states: &[KeyState], topology: &Topology) -> Vec<(usize, OpBatch)> {
        let now = self.now();
        let mut parts: Vec<(usize, OpBatch)> = Vec::new();
        for (i, s) in states.iter().enumerate() {
            if !self.watches.is_dirty(i as u64) {
                continue;
            }
            self.expire_if_due(&s.key, now);
            let p = topology.partition_of_key(&s.key);
            let at = match parts.iter().position(|(id, _)| *id == p) {
                Some(at) => at,
                None => {
                    parts.push((p, OpBatch::new(Dialect::Resp)));
                    parts.len() - 1
                }
            };
            let ops = &mut parts[at].1;
            if let Some(e) = self.store.entry(&s.key).filter(|e| e.is_collection()) {
                let ttl = self
                    .expiry
                    .deadline(&s.key)
                    .map_or(TtlMode::Clear, TtlMode::At);
                ops.push(OpKind::Restore(ttl), &s.key, &coll::dump(e.value()));
                continue;
            }
            match self.store.get(&s.key) {
                None => ops.push(OpKind::Remove, &s.key, b""),
                Some(value) => {
                    let ttl = self
                        .expiry
                        .deadline(&s.key)
                        .map_or(TtlMode::Clear, TtlMode::At);
                    let kind = OpKind::Set {
                        cond: SetCond::Always,
                        get: false,
                        ttl,
                    };
                    ops.push(kind, &s.key, value);
                }
            }
        }
        parts.sort_unstable_by_key(|(p, _)| *p);
        parts
    }
}
