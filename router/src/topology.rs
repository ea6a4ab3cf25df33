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
    PortCount {
        partitions: usize,
        ports: usize,
    },
    /// Partition ids must be `0..n`, each once; `found` was at `index` once
    /// the partitions were sorted by id.
    BadPartitionId {
        index: usize,
        found: usize,
    },
    /// A slot range with `start > end` or past the last slot.
    BadRange {
        partition: usize,
        start: Slot,
        end: Slot,
    },
    /// Two partitions (or one partition twice) claim `slot`.
    SlotOverlap {
        slot: Slot,
        first: usize,
        second: usize,
    },
    /// No partition owns `slot` (the first such slot).
    SlotUncovered(Slot),
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
            Self::BadPartitionId { index, found } => write!(
                f,
                "partition ids must be 0..n, each once: found id {found} where {index} belongs"
            ),
            Self::BadRange {
                partition,
                start,
                end,
            } => write!(
                f,
                "partition {partition} has an invalid slot range {start}-{end} (slots are 0-{})",
                SLOT_COUNT - 1
            ),
            Self::SlotOverlap {
                slot,
                first,
                second,
            } => {
                if first == second {
                    write!(f, "partition {first} claims slot {slot} twice")
                } else {
                    write!(
                        f,
                        "slot {slot} is claimed by both partition {first} and partition {second}"
                    )
                }
            }
            Self::SlotUncovered(slot) => write!(f, "slot {slot} is owned by no partition"),
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

    /// A topology from explicit partitions, as a server's `TOPOLOGY` reports
    /// them. Partitions may come in any order but their ids must be `0..n`,
    /// each once; their slot ranges must cover every slot exactly once. A
    /// partition may own several ranges, or none.
    pub fn from_partitions(mut partitions: Vec<PartitionInfo>) -> Result<Self, TopologyError> {
        let total = usize::from(SLOT_COUNT);
        match partitions.len() {
            0 => return Err(TopologyError::NoPartitions),
            n if n > total => return Err(TopologyError::TooManyPartitions(n)),
            _ => {}
        }
        partitions.sort_by_key(|p| p.id);
        const FREE: u16 = u16::MAX;
        let mut owner = vec![FREE; total].into_boxed_slice();
        for (index, p) in partitions.iter().enumerate() {
            if p.id != index {
                return Err(TopologyError::BadPartitionId { index, found: p.id });
            }
            for r in &p.slots {
                if r.start > r.end || r.end >= SLOT_COUNT {
                    return Err(TopologyError::BadRange {
                        partition: p.id,
                        start: r.start,
                        end: r.end,
                    });
                }
                let range = usize::from(r.start)..=usize::from(r.end);
                if let Some(i) = owner[range.clone()].iter().position(|&o| o != FREE) {
                    return Err(TopologyError::SlotOverlap {
                        slot: r.start + i as Slot,
                        first: usize::from(owner[usize::from(r.start) + i]),
                        second: p.id,
                    });
                }
                // Fewer than SLOT_COUNT partitions, so every id fits below FREE.
                owner[range].fill(p.id as u16);
            }
        }
        if let Some(slot) = owner.iter().position(|&o| o == FREE) {
            return Err(TopologyError::SlotUncovered(slot as Slot));
        }
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

    fn part(id: usize, ranges: &[(Slot, Slot)], port: u16) -> PartitionInfo {
        PartitionInfo {
            id,
            slots: ranges
                .iter()
                .map(|&(start, end)| SlotRange { start, end })
                .collect(),
            port: Some(port),
        }
    }

    #[test]
    fn from_partitions_matches_even() {
        let even = Topology::even(4)
            .unwrap()
            .with_ports(&[1, 2, 3, 4])
            .unwrap();
        // Given out of order: sorted by id.
        let mut parts = even.partitions().to_vec();
        parts.reverse();
        let t = Topology::from_partitions(parts).unwrap();
        assert_eq!(t.partitions(), even.partitions());
        for slot in 0..SLOT_COUNT {
            assert_eq!(t.partition_of_slot(slot), even.partition_of_slot(slot));
        }
        assert_eq!(t.partition_of_key(b"foo"), 2);
    }

    #[test]
    fn from_partitions_accepts_scattered_ranges() {
        let t = Topology::from_partitions(vec![
            part(0, &[(0, 99), (200, 16383)], 7001),
            part(1, &[(100, 199)], 7002),
            part(2, &[], 7003),
        ])
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.partition_of_slot(0), 0);
        assert_eq!(t.partition_of_slot(99), 0);
        assert_eq!(t.partition_of_slot(100), 1);
        assert_eq!(t.partition_of_slot(199), 1);
        assert_eq!(t.partition_of_slot(200), 0);
        assert_eq!(t.partition_of_slot(16383), 0);
        assert_eq!(t.partition(1).unwrap().port, Some(7002));
    }

    #[test]
    fn from_partitions_rejects_bad_layouts() {
        use TopologyError::*;
        let err = |parts| Topology::from_partitions(parts).unwrap_err();
        assert_eq!(err(vec![]), NoPartitions);
        assert_eq!(
            err(vec![part(0, &[(0, 100)], 1)]),
            SlotUncovered(101),
            "a gap"
        );
        assert_eq!(
            err(vec![part(0, &[(1, 16383)], 1)]),
            SlotUncovered(0),
            "slot 0 missing"
        );
        assert_eq!(
            err(vec![part(0, &[(0, 8191)], 1), part(1, &[(8000, 16383)], 2)]),
            SlotOverlap {
                slot: 8000,
                first: 0,
                second: 1
            }
        );
        assert_eq!(
            err(vec![part(0, &[(0, 16383), (5, 5)], 1)]),
            SlotOverlap {
                slot: 5,
                first: 0,
                second: 0
            }
        );
        assert_eq!(
            err(vec![part(0, &[(10, 9)], 1)]),
            BadRange {
                partition: 0,
                start: 10,
                end: 9
            }
        );
        assert_eq!(
            err(vec![part(0, &[(0, 16384)], 1)]),
            BadRange {
                partition: 0,
                start: 0,
                end: 16384
            }
        );
        assert_eq!(
            err(vec![part(0, &[(0, 8191)], 1), part(2, &[(8192, 16383)], 2)]),
            BadPartitionId { index: 1, found: 2 }
        );
        assert_eq!(
            err(vec![part(0, &[(0, 8191)], 1), part(0, &[(8192, 16383)], 2)]),
            BadPartitionId { index: 1, found: 0 }
        );
        for e in [
            SlotUncovered(3),
            BadPartitionId { index: 1, found: 0 },
            SlotOverlap {
                slot: 5,
                first: 0,
                second: 0,
            },
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn from_partitions_round_trips_even(n in 1usize..=300) {
            let even = Topology::even(n).unwrap();
            let t = Topology::from_partitions(even.partitions().to_vec()).unwrap();
            prop_assert_eq!(t.partitions(), even.partitions());
            for p in t.partitions() {
                let r = p.slots[0];
                prop_assert_eq!(t.partition_of_slot(r.start), p.id);
                prop_assert_eq!(t.partition_of_slot(r.end), p.id);
            }
        }

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
