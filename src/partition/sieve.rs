//! SIEVE (NSDI'24), the eviction order: one FIFO queue of the partition's
//! keys (newest at the head), a visited bit per key, and a hand that moves
//! from the tail towards the head. A hit only sets the bit: no list work,
//! unlike LRU. To evict, the hand clears visited bits until it finds an
//! unvisited key, which goes; new keys enter at the head. Keys that are
//! read again survive a pass of the hand, one-hit wonders leave quickly.
//!
//! The queue is threaded through slab positions (`prev`/`next` arrays), so
//! it costs 8 bytes and one bit per key and never allocates per operation.

use std::cell::Cell;

const NIL: u32 = u32::MAX;

#[derive(Default)]
pub struct Sieve {
    prev: Vec<u32>,
    next: Vec<u32>,
    visited: Vec<Cell<bool>>,
    head: Option<u32>,
    tail: Option<u32>,
    hand: Option<u32>,
}

fn opt(i: u32) -> Option<u32> {
    (i != NIL).then_some(i)
}

impl Sieve {
    /// Bytes per slab slot.
    pub const SLOT_BYTES: usize = 9;

    /// A new key at slab position `pos` enters at the head, unvisited. The
    /// arrays grow to `slots` (the slab's capacity) exactly, so the memory
    /// they take is known before an insert (see `Store::insert_growth`).
    pub fn insert(&mut self, pos: u32, slots: usize) {
        let i = pos as usize;
        if self.prev.len() <= i {
            let n = slots.max(i + 1);
            let more = n - self.prev.len();
            self.prev.reserve_exact(more);
            self.next.reserve_exact(more);
            self.visited.reserve_exact(more);
            self.prev.resize(n, NIL);
            self.next.resize(n, NIL);
            self.visited.resize_with(n, Cell::default);
        }
        self.prev[i] = NIL;
        self.next[i] = self.head.unwrap_or(NIL);
        self.visited[i].set(false);
        match self.head {
            Some(h) => self.prev[h as usize] = pos,
            None => self.tail = Some(pos),
        }
        self.head = Some(pos);
    }

    /// A hit: remember the key was used since the hand last passed.
    #[inline]
    pub fn touch(&self, pos: u32) {
        if let Some(v) = self.visited.get(pos as usize) {
            v.set(true);
        }
    }

    /// The key at `pos` leaves (deleted, expired or evicted).
    pub fn remove(&mut self, pos: u32) {
        let i = pos as usize;
        let (p, n) = (opt(self.prev[i]), opt(self.next[i]));
        match p {
            Some(p) => self.next[p as usize] = n.unwrap_or(NIL),
            None => self.head = n,
        }
        match n {
            Some(n) => self.prev[n as usize] = p.unwrap_or(NIL),
            None => self.tail = p,
        }
        if self.hand == Some(pos) {
            self.hand = p;
        }
        self.prev[i] = NIL;
        self.next[i] = NIL;
    }

    /// The next victim, moving the hand; `skip` keys (locked ones) are
    /// passed over like visited keys. `None` if every key is skipped.
    pub fn victim(&mut self, len: usize, mut skip: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut at = self.hand.or(self.tail)?;
        // Two passes clear every bit; a third finds a victim unless all skip.
        for _ in 0..len.saturating_mul(3).max(1) {
            let i = at as usize;
            let older_to_newer = opt(self.prev[i]);
            if self.visited[i].replace(false) || skip(at) {
                at = older_to_newer.or(self.tail)?;
                continue;
            }
            self.hand = older_to_newer;
            return Some(at);
        }
        None
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Bytes of the queue.
    pub fn memory(&self) -> usize {
        self.prev.capacity() * 4 + self.next.capacity() * 4 + self.visited.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unvisited_oldest_goes_first_and_visited_keys_get_a_second_chance() {
        let mut s = Sieve::default();
        for pos in 0..5 {
            s.insert(pos, 0);
        }
        // Oldest is 0. Touch 0 and 1: the hand clears them and takes 2.
        s.touch(0);
        s.touch(1);
        assert_eq!(s.victim(5, |_| false), Some(2));
        s.remove(2);
        // The hand continues towards the head: 3 next.
        assert_eq!(s.victim(4, |_| false), Some(3));
        s.remove(3);
        assert_eq!(s.victim(3, |_| false), Some(4));
        s.remove(4);
        // Wraps to the tail: 0 and 1 lost their bits on the first pass.
        assert_eq!(s.victim(2, |_| false), Some(0));
    }

    #[test]
    fn skipped_keys_are_passed_over_and_all_skipped_means_none() {
        let mut s = Sieve::default();
        for pos in 0..3 {
            s.insert(pos, 0);
        }
        assert_eq!(s.victim(3, |p| p == 0), Some(1));
        assert_eq!(s.victim(3, |_| true), None);
        s.remove(1);
        s.remove(0);
        s.remove(2);
        assert_eq!(s.victim(0, |_| false), None);
        s.insert(7, 0);
        assert_eq!(s.victim(1, |_| false), Some(7));
    }
}
