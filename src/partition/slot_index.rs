//! The per-slot key index behind `CLUSTER GETKEYSINSLOT`, built on demand.
//!
//! For each hash slot that holds keys, a doubly linked list of its keys'
//! slab positions: `next`/`prev` links in a [`Column`] beside the slab (8
//! bytes a slab slot) and the head of each list in a small map. A store
//! that never sees `GETKEYSINSLOT` has none and pays nothing; the first one
//! creates it and links the existing keys in bounded steps (`build`), the
//! store links and unlinks every key added or removed from then on, so a
//! slot's keys are found in O(answer) instead of a scan of the partition.
//!
//! The build is a cursor over slab positions: positions below it are
//! linked and kept right by every insert and delete; positions above are
//! left to the build, which links whatever it finds there when it gets
//! there. New keys enter at the head of their slot's list (as in Redis),
//! so a walk from the head never meets a key added after it started.
//!
//! An answer bigger than one step ([`WALK_STEP`] keys) continues where it
//! stopped: the position is *pinned* (a walk), and unlinking a pinned
//! position moves the pin to its successor, so a key present for the whole
//! walk is returned exactly once. A few walks are kept at once; a walk
//! pushed out by newer ones (a client gone mid-walk leaks one) answers
//! `None` and the caller falls back to a scan.

use super::slab::Column;
use super::store::table_growth;

/// No position: the end of a list.
const NIL: u32 = u32::MAX;
/// Slab positions one build step visits: each a CRC16 of a key that is
/// likely not in cache, 1-2 ms in all (release build, 1M keys, a loaded
/// 2-core machine: 2.3 ms for 16,384 positions).
pub const BUILD_STEP: usize = 8_192;
/// Keys one answer step returns at most.
pub const WALK_STEP: usize = 1_000;
/// Positions one answer step visits at most (keys past their TTL are
/// visited but not returned).
const WALK_VISITS: usize = 4 * WALK_STEP;
/// Walks kept at once; the oldest gives way.
const MAX_WALKS: usize = 16;

#[derive(Clone, Copy)]
struct Link {
    next: u32,
    prev: u32,
}

const UNLINKED: Link = Link {
    next: NIL,
    prev: NIL,
};

/// A pinned walk: `id` 0 is a free place.
#[derive(Clone, Copy, Default)]
struct Walk {
    id: u64,
    next: u32,
}

pub struct SlotIndex {
    links: Column<Link>,
    /// The first position of each slot's list, for slots with linked keys.
    /// Its capacity covers every slot that holds a key ([`reserve`]), so
    /// the build never grows it.
    ///
    /// [`reserve`]: Self::reserve
    heads: hashbrown::HashMap<u16, u32, ahash::RandomState>,
    /// Positions below are linked.
    built: usize,
    walks: [Walk; MAX_WALKS],
    last_walk: u64,
}

/// One step of an answer: keys of the slot, and the walk that continues it
/// (`None`: the list ended or `count` keys were returned).
#[derive(Debug)]
pub struct SlotWalk {
    pub keys: Vec<Box<[u8]>>,
    pub walk: Option<u64>,
    /// Positions visited: what the step cost.
    pub visited: usize,
}

impl SlotIndex {
    /// Bytes a slab slot costs once the index exists.
    pub const LINK_BYTES: usize = std::mem::size_of::<Link>();

    /// An empty index (nothing linked yet) with room for `slots` heads;
    /// its walk ids follow `last_walk` (a walk of an index dropped before
    /// must never match one of this index).
    pub fn new(slots: usize, last_walk: u64) -> Self {
        Self {
            links: Column::default(),
            heads: hashbrown::HashMap::with_capacity_and_hasher(slots, Default::default()),
            built: 0,
            walks: [Walk::default(); MAX_WALKS],
            last_walk,
        }
    }

    /// The id of the latest walk.
    pub fn last_walk(&self) -> u64 {
        self.last_walk
    }

    /// True once every position of a slab of `slab_len` is linked.
    pub fn is_complete(&self, slab_len: usize) -> bool {
        self.built >= slab_len
    }

    /// The slots with a list.
    #[cfg(test)]
    pub fn listed_slots(&self) -> impl Iterator<Item = u16> + '_ {
        self.heads.keys().copied()
    }

    /// Bytes held beside a slab of `slab_slots` slots and `slab_table` bytes
    /// of chunk table: the links are charged for every slot from the start
    /// (the build allocates them as it goes), and the heads.
    pub fn memory(&self, slab_slots: usize, slab_table: usize) -> usize {
        std::mem::size_of::<Self>()
            + slab_slots * Self::LINK_BYTES
            + slab_table
            + self.heads.allocation_size()
    }

    /// Upper bound of what [`reserve`](Self::reserve) adds when `n` more
    /// slots than `slots` hold keys.
    pub fn heads_growth(&self, slots: usize, n: usize) -> usize {
        let (cap, size) = (self.heads.capacity(), self.heads.allocation_size());
        table_growth::<(u16, u32)>(slots, cap, size, n)
    }

    /// Makes room for the heads of `slots` slots (every slot that holds a
    /// key), so linking never allocates.
    pub fn reserve(&mut self, slots: usize) {
        self.heads.reserve(slots.saturating_sub(self.heads.len()));
    }

    /// A key of `slot` now sits at `pos`.
    pub fn added(&mut self, pos: u32, slot: u16) {
        let p = pos as usize;
        if p > self.built {
            return; // the build links it when it gets there
        }
        if p == self.built {
            self.built += 1;
            self.links.cover(self.built, UNLINKED);
        }
        self.link(pos, slot);
    }

    /// The key of `slot` at `pos` is gone.
    pub fn removed(&mut self, pos: u32, slot: u16) {
        if pos as usize >= self.built {
            return;
        }
        let Link { next, prev } = self.links[pos as usize];
        for w in &mut self.walks {
            if w.id != 0 && w.next == pos {
                w.next = next;
            }
        }
        if prev != NIL {
            self.links[prev as usize].next = next;
        } else if next == NIL {
            self.heads.remove(&slot);
        } else if let Some(head) = self.heads.get_mut(&slot) {
            *head = next;
        }
        if next != NIL {
            self.links[next as usize].prev = prev;
        }
        self.links[pos as usize] = UNLINKED;
    }

    fn link(&mut self, pos: u32, slot: u16) {
        // Replace a head in place: hashbrown's `insert` reserves room for
        // one more entry before it looks for the key, so on a full table
        // it would grow even when the key is there.
        let next = match self.heads.get_mut(&slot) {
            Some(head) => std::mem::replace(head, pos),
            None => {
                self.heads.insert(slot, pos);
                NIL
            }
        };
        if next != NIL {
            self.links[next as usize].prev = pos;
        }
        self.links[pos as usize] = Link { next, prev: NIL };
    }

    /// Links up to `max` more positions of a slab of `slab_len`;
    /// `slot_at(pos)` is the slot of the key there (`None`: a free slot).
    /// True when the index is complete.
    pub fn build(
        &mut self,
        slab_len: usize,
        max: usize,
        mut slot_at: impl FnMut(usize) -> Option<u16>,
    ) -> bool {
        let end = slab_len.min(self.built.saturating_add(max));
        self.links.cover(end, UNLINKED);
        for pos in self.built..end {
            if let Some(slot) = slot_at(pos) {
                let pos = u32::try_from(pos).expect("slab positions are u32");
                self.link(pos, slot);
            }
        }
        self.built = self.built.max(end);
        self.is_complete(slab_len)
    }

    /// Up to `count` keys of `slot` (at most [`WALK_STEP`]) that `keep`
    /// accepts, from the head of its list or where `walk` stopped;
    /// `key_at(pos)` is the key at a linked position. `None` if `walk` is
    /// no longer kept. The index must be complete.
    pub fn walk<'s>(
        &mut self,
        slot: u16,
        walk: Option<u64>,
        count: usize,
        key_at: impl Fn(u32) -> &'s [u8],
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Option<SlotWalk> {
        let mut at = match walk {
            None => self.heads.get(&slot).copied().unwrap_or(NIL),
            Some(id) => {
                let w = self.walks.iter_mut().find(|w| w.id == id && id != 0)?;
                std::mem::take(w).next
            }
        };
        let (mut keys, mut visited) = (Vec::new(), 0);
        let want = count.min(WALK_STEP);
        while at != NIL && keys.len() < want && visited < WALK_VISITS {
            let key = key_at(at);
            if keep(key) {
                keys.push(key.into());
            }
            at = self.links[at as usize].next;
            visited += 1;
        }
        let walk = (at != NIL && keys.len() < count).then(|| self.pin(at));
        Some(SlotWalk {
            keys,
            walk,
            visited,
        })
    }

    /// Keeps a walk that continues at `at`, in place of the oldest if all
    /// places are taken.
    fn pin(&mut self, at: u32) -> u64 {
        self.last_walk += 1;
        let place = self
            .walks
            .iter_mut()
            .min_by_key(|w| w.id)
            .expect("MAX_WALKS > 0");
        *place = Walk {
            id: self.last_walk,
            next: at,
        };
        self.last_walk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions of `slot`'s list, head first, checking the back links.
    fn list(ix: &SlotIndex, slot: u16) -> Vec<u32> {
        let (mut out, mut prev) = (Vec::new(), NIL);
        let mut at = ix.heads.get(&slot).copied().unwrap_or(NIL);
        while at != NIL {
            assert_eq!(ix.links[at as usize].prev, prev, "back link of {at}");
            out.push(at);
            (prev, at) = (at, ix.links[at as usize].next);
        }
        out
    }

    #[test]
    fn positions_above_the_build_cursor_wait_for_the_build() {
        let mut ix = SlotIndex::new(2, 0);
        // A slab of 6 positions: 0, 2, 4 in slot 7, 1, 3 in slot 9, 5 free.
        let slot_at = |p: usize| (p < 5).then_some(if p % 2 == 0 { 7 } else { 9 });
        assert!(!ix.build(6, 2, slot_at));
        assert_eq!((list(&ix, 7), list(&ix, 9)), (vec![0], vec![1]));
        ix.added(4, 7); // above the cursor: left to the build
        ix.removed(3, 9); // likewise
        ix.removed(1, 9); // below: unlinked at once
        assert!(list(&ix, 9).is_empty());
        ix.added(1, 9); // and linked again at once
        assert_eq!(list(&ix, 9), vec![1]);
        assert!(ix.build(6, 100, |p| slot_at(p).filter(|_| p != 3)));
        assert_eq!(list(&ix, 7), vec![4, 2, 0]);
        assert_eq!(list(&ix, 9), vec![1]);
        // Complete: a new slab position is linked and extends the cursor.
        ix.added(6, 9);
        assert!(ix.is_complete(7));
        assert_eq!(list(&ix, 9), vec![6, 1]);
        for (pos, slot) in [(6, 9), (1, 9)] {
            ix.removed(pos, slot);
        }
        assert!(list(&ix, 9).is_empty() && !ix.heads.contains_key(&9));
        ix.removed(2, 7);
        assert_eq!(list(&ix, 7), vec![4, 0]);
    }

    #[test]
    fn a_pinned_walk_moves_past_removed_keys_and_gives_way_to_newer_walks() {
        let mut ix = SlotIndex::new(1, 0);
        assert!(ix.build(5000, usize::MAX, |_| Some(3)));
        let key = |p: u32| -> &'static [u8] {
            if p % 2 == 0 {
                b"even"
            } else {
                b"odd"
            }
        };
        let first = ix.walk(3, None, 1500, key, |_| true).unwrap();
        assert_eq!((first.keys.len(), first.visited), (WALK_STEP, WALK_STEP));
        let id = first.walk.expect("more to come");
        // The pinned next position (3999: the list runs 4999 down to 0) goes.
        ix.removed(3999, 3);
        let rest = ix.walk(3, Some(id), 500, key, |_| true).unwrap();
        assert_eq!((rest.keys.len(), rest.walk), (500, None));
        assert_eq!(&*rest.keys[0], b"even", "3998 follows 4000");
        assert!(
            ix.walk(3, Some(id), 10, key, |_| true).is_none(),
            "walk ended"
        );
        // Only MAX_WALKS walks are kept.
        let walks: Vec<u64> = (0..=MAX_WALKS)
            .map(|_| ix.walk(3, None, 2000, key, |_| true).unwrap().walk.unwrap())
            .collect();
        assert!(ix.walk(3, Some(walks[0]), 10, key, |_| true).is_none());
        assert!(ix
            .walk(3, Some(walks[MAX_WALKS]), 10, key, |_| true)
            .is_some());
    }

    #[test]
    fn heads_grow_within_their_bound_and_never_while_linking() {
        let mut ix = SlotIndex::new(0, 0);
        for slots in 0..5_000u16 {
            let (bound, before) = (ix.heads_growth(usize::from(slots), 1), ix.memory(0, 0));
            ix.reserve(usize::from(slots) + 1);
            assert!(ix.memory(0, 0) - before <= bound, "{slots} slots");
            // Linking a key of the new slot allocates nothing more.
            let before = ix.memory(0, 0);
            ix.added(u32::from(slots), slots);
            assert_eq!(ix.memory(0, 0), before);
            if slots % 3 == 0 {
                ix.removed(u32::from(slots), slots);
            }
        }
    }
}
