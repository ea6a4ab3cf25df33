//! Slots over several hosts: which pod owns which slots when `size` corekv
//! processes (pods) act as one Redis-Cluster-compatible cache.
//!
//! The assignment is a pure function of the pod count, so every pod (and
//! every client that wants to) computes the same map with no protocol:
//!
//! * One pod owns every slot.
//! * Going from `n` pods to `n + 1`, each pod keeps its lowest slots up to
//!   its new quota (`16384 / (n + 1)`, the first `16384 % (n + 1)` pods one
//!   more) and hands the rest to the new pod.
//!
//! So growing by one pod moves only the slots the new pod must own (the
//! fewest possible), all of them to the new pod; shrinking by one moves
//! only the last pod's slots. Within a pod, its slots (ascending) are cut
//! into one contiguous run per worker, sizes differing by at most one.

use crate::{PartitionInfo, Slot, SlotRange, Topology, TopologyError, SLOT_COUNT};

/// Most pods a cluster may have (each needs at least one slot per worker).
pub const MAX_PODS: usize = 1024;

/// The pod owning each slot, for `pods` pods (`1..=MAX_PODS`).
pub fn pod_of_slots(pods: usize) -> Vec<u16> {
    assert!((1..=MAX_PODS).contains(&pods), "1..={MAX_PODS} pods");
    let total = usize::from(SLOT_COUNT);
    let mut owner = vec![0u16; total];
    // Slots of each pod, ascending.
    let mut held: Vec<Vec<Slot>> = vec![(0..SLOT_COUNT).collect()];
    for n in 1..pods {
        let quota = |i: usize| total / (n + 1) + usize::from(i < total % (n + 1));
        let mut new = Vec::with_capacity(quota(n));
        for (i, slots) in held.iter_mut().enumerate() {
            new.extend(slots.drain(quota(i)..));
        }
        new.sort_unstable();
        held.push(new);
    }
    for (pod, slots) in held.iter().enumerate() {
        for &s in slots {
            owner[usize::from(s)] = pod as u16;
        }
    }
    owner
}

/// Ascending slots as the fewest inclusive ranges.
pub fn ranges(slots: &[Slot]) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(r) if r.end + 1 == s => r.end = s,
            _ => out.push(SlotRange { start: s, end: s }),
        }
    }
    out
}

/// The whole cluster as one topology of `pods * workers` partitions:
/// partition `pod * workers + w` is worker `w` of pod `pod`. Every pod
/// must run `workers` workers.
pub fn layout(pods: usize, workers: usize) -> Result<Topology, TopologyError> {
    if workers == 0 {
        return Err(TopologyError::NoPartitions);
    }
    if pods * workers > usize::from(SLOT_COUNT) || pods > MAX_PODS {
        return Err(TopologyError::TooManyPartitions(pods * workers));
    }
    let owner = pod_of_slots(pods);
    let mut partitions = Vec::with_capacity(pods * workers);
    for pod in 0..pods {
        let slots: Vec<Slot> = (0..SLOT_COUNT)
            .filter(|&s| usize::from(owner[usize::from(s)]) == pod)
            .collect();
        let n = slots.len();
        for w in 0..workers {
            let run = &slots[w * n / workers..(w + 1) * n / workers];
            partitions.push(PartitionInfo {
                id: pod * workers + w,
                slots: ranges(run),
                port: None,
            });
        }
    }
    Topology::from_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pod_owns_everything() {
        assert!(pod_of_slots(1).iter().all(|&p| p == 0));
    }

    #[test]
    fn pods_are_balanced() {
        for pods in [2, 3, 5, 7, 16, 100] {
            let owner = pod_of_slots(pods);
            let mut counts = vec![0usize; pods];
            owner.iter().for_each(|&p| counts[usize::from(p)] += 1);
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{pods} pods: {counts:?}");
        }
    }

    #[test]
    fn growing_moves_only_the_new_pods_slots() {
        for n in 1..40 {
            let (a, b) = (pod_of_slots(n), pod_of_slots(n + 1));
            let moved: Vec<usize> = (0..a.len()).filter(|&s| a[s] != b[s]).collect();
            assert!(moved.iter().all(|&s| usize::from(b[s]) == n), "n={n}");
            let quota = usize::from(SLOT_COUNT) / (n + 1);
            assert!(moved.len() <= quota + 1, "n={n}: moved {}", moved.len());
        }
    }

    #[test]
    fn three_pods_by_two_workers() {
        let t = layout(3, 2).unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(
            t.partitions()[0].slots,
            vec![SlotRange {
                start: 0,
                end: 2730
            }]
        );
        // Every slot has one owner; pod 2's keys go to partitions 4 and 5.
        let owner = pod_of_slots(3);
        for s in 0..SLOT_COUNT {
            assert_eq!(
                t.partition_of_slot(s) / 2,
                usize::from(owner[usize::from(s)])
            );
        }
        let sizes: Vec<usize> = t
            .partitions()
            .iter()
            .map(|p| p.slots.iter().map(SlotRange::len).sum())
            .collect();
        assert!(
            sizes.iter().all(|&n| (2730..=2731).contains(&n)),
            "{sizes:?}"
        );
    }

    #[test]
    fn the_assignment_never_changes() {
        // Clients and pods of different builds must agree: pin the map.
        let owner = pod_of_slots(3);
        assert_eq!(owner[0], 0);
        assert_eq!(owner[5461], 0);
        assert_eq!(owner[5462], 2);
        assert_eq!(owner[8192], 1);
        assert_eq!(owner[13653], 2);
        assert_eq!(owner[16383], 2);
        assert_eq!(
            ranges(
                &(0..SLOT_COUNT)
                    .filter(|&s| owner[usize::from(s)] == 2)
                    .collect::<Vec<_>>()
            )
            .len(),
            2
        );
    }

    #[test]
    fn too_many_partitions() {
        assert!(layout(2, 8193).is_err());
        assert!(layout(1, 0).is_err());
    }
}
