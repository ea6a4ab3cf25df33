//! Key expiry (TTLs) for one partition.
//!
//! Only keys that have a TTL cost anything: a map key → deadline (unix
//! milliseconds) and a min-heap of deadlines that the worker's reclaim tick
//! pops a bounded number of at a time, so expired keys give their memory back
//! even if nobody reads them again, without a full sweep. Heap entries go
//! stale when a TTL changes; they are checked against the map when popped,
//! and the heap is rebuilt when stale entries outnumber live ones, so it
//! cannot grow without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bytes the accounting charges per heap entry.
const HEAP_ENTRY_BYTES: usize = 32;

type Map = hashbrown::HashMap<Box<[u8]>, u64, ahash::RandomState>;

#[derive(Default)]
pub struct Expiry {
    deadlines: Map,
    heap: BinaryHeap<Reverse<(u64, Box<[u8]>)>>,
    /// Bytes of the keys copied into `deadlines`.
    key_bytes: usize,
}

/// Milliseconds since the Unix epoch, the unit of every deadline.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Expiry {
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Approximate bytes held: map and heap entries with their key copies.
    pub fn memory(&self) -> usize {
        self.deadlines.allocation_size()
            + 2 * self.key_bytes
            + self.heap.capacity() * HEAP_ENTRY_BYTES
    }

    pub fn deadline(&self, key: &[u8]) -> Option<u64> {
        if self.deadlines.is_empty() {
            return None;
        }
        self.deadlines.get(key).copied()
    }

    /// True if `key` has a deadline at or before `now`.
    #[inline]
    pub fn is_due(&self, key: &[u8], now: u64) -> bool {
        self.deadline(key).is_some_and(|at| at <= now)
    }

    /// Upper bound of what `n` calls of [`set`](Self::set) with keys of
    /// `key_bytes` bytes in all add to [`memory`](Self::memory).
    pub fn set_growth(&self, n: usize, key_bytes: usize) -> usize {
        let (len, cap) = (self.deadlines.len(), self.deadlines.capacity());
        let map = super::store::table_growth::<(Box<[u8]>, u64)>(
            len,
            cap,
            self.deadlines.allocation_size(),
            n,
        );
        let need = self.heap.len().saturating_add(n);
        let mut heap = self.heap.capacity();
        while heap < need {
            heap += heap.max(4);
        }
        2 * key_bytes + map + (heap - self.heap.capacity()) * HEAP_ENTRY_BYTES
    }

    pub fn set(&mut self, key: &[u8], at: u64) {
        match self.deadlines.get_mut(key) {
            Some(d) => *d = at,
            None => {
                self.key_bytes += key.len();
                self.deadlines.insert(key.into(), at);
            }
        }
        // Double the heap exactly, so `set_growth` knows what it adds.
        if self.heap.len() == self.heap.capacity() {
            self.heap.reserve_exact(self.heap.capacity().max(4));
        }
        self.heap.push(Reverse((at, key.into())));
        if self.heap.len() > 2 * self.deadlines.len() + 1024 {
            self.rebuild();
        }
    }

    /// Removes `key`'s TTL; true if it had one.
    pub fn clear(&mut self, key: &[u8]) -> bool {
        let removed = !self.deadlines.is_empty() && self.deadlines.remove(key).is_some();
        if removed {
            self.key_bytes -= key.len();
        }
        removed
    }

    pub fn clear_all(&mut self) {
        *self = Self::default();
    }

    fn rebuild(&mut self) {
        self.heap = self
            .deadlines
            .iter()
            .map(|(k, &at)| Reverse((at, k.clone())))
            .collect();
    }

    /// The next key whose deadline has passed (forgetting its TTL), if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Box<[u8]>> {
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                return None;
            }
            let Reverse((at, key)) = self.heap.pop()?;
            if self.deadlines.get(&key) == Some(&at) {
                self.deadlines.remove(&key);
                self.key_bytes -= key.len();
                return Some(key);
            }
        }
        None
    }

    /// Puts a due key back (it could not be removed yet, e.g. locked).
    pub fn defer(&mut self, key: &[u8], at: u64) {
        self.set(key, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_pop_in_deadline_order_and_stale_entries_are_skipped() {
        let mut e = Expiry::default();
        e.set(b"a", 30);
        e.set(b"b", 10);
        e.set(b"c", 20);
        e.set(b"c", 50); // the 20 entry is now stale
        assert!(e.clear(b"a"));
        assert!(!e.clear(b"a"));
        assert_eq!(e.pop_due(5), None);
        assert_eq!(e.pop_due(40).as_deref(), Some(&b"b"[..]));
        assert_eq!(e.pop_due(40), None, "stale c@20 and cleared a@30 skipped");
        assert!(e.is_due(b"c", 50) && !e.is_due(b"c", 49));
        assert_eq!(e.pop_due(100).as_deref(), Some(&b"c"[..]));
        assert!(e.is_empty());
    }

    #[test]
    fn heap_stays_bounded_under_repeated_updates() {
        let mut e = Expiry::default();
        for i in 0..100_000u64 {
            e.set(b"same", 1_000_000 + i);
        }
        assert_eq!(e.len(), 1);
        assert!(e.heap.len() <= 2 + 1024 + 1, "heap {}", e.heap.len());
        assert_eq!(e.deadline(b"same"), Some(1_000_000 + 99_999));
    }
}
