//! The topology: which partition owns which slots, and where it listens.

use crate::{hash_slot, Slot, SLOT_COUNT};
use std::fmt;

/// An inclusive range of slots, `start..=end`, as Redis Cluster writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: Slot,
    pub end: Slot,
}

impl SlotRange {
    pub fn contains(&self, slot: Slot) -> bool {
        self.start <= slot && slot <= self.end
    }

    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// One partition: its id (the index of the worker that owns it), its slot
/// ranges and, once the server has bound it, its core port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    pub id: usize,
    pub slots: Vec<SlotRange>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyError {
    NoPartitions,
    TooManyPartitions(usize),
    PortCount { partitions: usize, ports: usize },
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPartitions => write!(f, "a topology needs at least one partition"),
            Self::TooManyPartitions(n) => {
                write!(f, "{n} partitions is more than the {SLOT_COUNT} slots")
            }
            Self::PortCount { partitions, ports } => {
                write!(f, "{ports} ports given for {partitions} partitions")
            }
        }
    }
}

impl std::error::Error for TopologyError {}

/// Slot ownership for every slot, with an O(1) slot → partition table.
#[derive(Clone, Debug)]
pub struct Topology {
    partitions: Vec<PartitionInfo>,
    owner: Box<[u16]>,
}

impl Topology {
    /// Splits the slots into `n` contiguous ranges whose sizes differ by at
    /// most one; partition `i` owns the `i`-th range.
    pub fn even(n: usize) -> Result<Self, TopologyError> {
        if n == 0 {
            return Err(TopologyError::NoPartitions);
        }
        let total = usize::from(SLOT_COUNT);
        if n > total {
            return Err(TopologyError::TooManyPartitions(n));
        }
        let mut owner = vec![0u16; total].into_boxed_slice();
        let partitions = (0..n)
            .map(|id| {
                let (start, end) = (id * total / n, (id + 1) * total / n - 1);
                owner[start..=end].fill(id as u16);
                PartitionInfo {
                    id,
                    slots: vec![SlotRange {
                        start: start as Slot,
                        end: end as Slot,
                    }],
                    port: None,
                }
            })
            .collect();
        Ok(Self { partitions, owner })
    }

    /// Records the core port of each partition, in partition order.
    pub fn with_ports(mut self, ports: &[u16]) -> Result<Self, TopologyError> {
        if ports.len() != self.partitions.len() {
            return Err(TopologyError::PortCount {
                partitions: self.partitions.len(),
                ports: ports.len(),
            });
        }
        for (p, &port) in self.partitions.iter_mut().zip(ports) {
            p.port = Some(port);
        }
        Ok(self)
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    pub fn partitions(&self) -> &[PartitionInfo] {
        &self.partitions
    }

    pub fn partition(&self, id: usize) -> Option<&PartitionInfo> {
        self.partitions.get(id)
    }

    /// The partition that owns `slot`. `slot` must be `< SLOT_COUNT`.
    #[inline]
    pub fn partition_of_slot(&self, slot: Slot) -> usize {
        usize::from(self.owner[usize::from(slot)])
    }

    /// The partition that owns `key`.
    #[inline]
    pub fn partition_of_key(&self, key: &[u8]) -> usize {
        self.partition_of_slot(hash_slot(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_partition_owns_everything() {
        let t = Topology::even(1).unwrap();
        assert_eq!(
            t.partitions()[0].slots,
            vec![SlotRange {
                start: 0,
                end: 16383
            }]
        );
        assert_eq!(t.partition_of_key(b"foo"), 0);
    }

    #[test]
    fn four_partitions_split_evenly() {
        let t = Topology::even(4).unwrap();
        let ranges: Vec<_> = t.partitions().iter().map(|p| p.slots[0]).collect();
        assert_eq!(
            ranges,
            [(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]
                .map(|(start, end)| SlotRange { start, end })
        );
        // foo is slot 12182.
        assert_eq!(t.partition_of_key(b"foo"), 2);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(Topology::even(0).unwrap_err(), TopologyError::NoPartitions);
        assert!(Topology::even(16385).is_err());
        assert!(Topology::even(2).unwrap().with_ports(&[1]).is_err());
        let t = Topology::even(2)
            .unwrap()
            .with_ports(&[7000, 7001])
            .unwrap();
        assert_eq!(t.partition(1).unwrap().port, Some(7001));
    }

    proptest! {
        #[test]
        fn ranges_are_contiguous_even_and_cover_all_slots(n in 1usize..=600) {
            let t = Topology::even(n).unwrap();
            let mut next = 0usize;
            let (mut min, mut max) = (usize::MAX, 0);
            for p in t.partitions() {
                let r = p.slots[0];
                prop_assert_eq!(usize::from(r.start), next);
                next = usize::from(r.end) + 1;
                min = min.min(r.len());
                max = max.max(r.len());
                prop_assert_eq!(t.partition_of_slot(r.start), p.id);
                prop_assert_eq!(t.partition_of_slot(r.end), p.id);
            }
            prop_assert_eq!(next, usize::from(SLOT_COUNT));
            prop_assert!(max - min <= 1);
        }

        #[test]
        fn every_slot_owner_contains_it(n in 1usize..=64, slot in 0u16..SLOT_COUNT) {
            let t = Topology::even(n).unwrap();
            let owner = t.partition_of_slot(slot);
            prop_assert!(t.partitions()[owner].slots.iter().any(|r| r.contains(slot)));
        }
    }
}
