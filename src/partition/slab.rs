//! The store's slots: a segmented array that never moves or copies what it
//! holds.
//!
//! A `Vec` grows by doubling: right after it grows, half its capacity is
//! unused, and each growth copies everything and frees the old array (at
//! millions of keys, megabytes the allocator may keep resident). Here the
//! slots live in chunks instead: the first ones double (64, 64, 128, …,
//! 2048 slots, so a small store stays small), then every chunk holds
//! [`CHUNK`] slots. Growing allocates one chunk and touches nothing else,
//! and at most one chunk is partly unused.

use std::ops::{Index, IndexMut};

/// Slots of every chunk after the doubling ones.
const CHUNK: usize = 4096;
/// Slots of the first chunk (the second has as many, then they double).
const FIRST: usize = 64;
const FIRST_BITS: u32 = FIRST.trailing_zeros();
/// Chunks before the fixed-size ones: 64 + 64 + 128 + … + 2048 = 4096.
const DOUBLING_CHUNKS: usize = (CHUNK.trailing_zeros() - FIRST_BITS) as usize + 1;

pub struct Slab<T> {
    chunks: Vec<Box<[Option<T>]>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

/// The chunk holding slot `pos`, and the slot's offset in it.
#[inline]
fn locate(pos: usize) -> (usize, usize) {
    if pos < FIRST {
        (0, pos)
    } else if pos < CHUNK {
        let top = usize::BITS - 1 - pos.leading_zeros();
        ((top - FIRST_BITS) as usize + 1, pos - (1 << top))
    } else {
        (DOUBLING_CHUNKS - 1 + pos / CHUNK, pos % CHUNK)
    }
}

/// Slots of chunk number `chunk`.
fn chunk_len(chunk: usize) -> usize {
    match chunk {
        0 => FIRST,
        c if c < DOUBLING_CHUNKS => FIRST << (c - 1),
        _ => CHUNK,
    }
}

impl<T> Slab<T> {
    /// Slots in use or freed: positions `0..len` are valid.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated: O(1), as the write path's budget checks ask for it.
    pub fn capacity(&self) -> usize {
        match self.chunks.len() {
            0 => 0,
            // The doubling chunks sum to twice the last one.
            n if n <= DOUBLING_CHUNKS => FIRST << (n - 1),
            n => CHUNK + (n - DOUBLING_CHUNKS) * CHUNK,
        }
    }

    /// Bytes the slab holds: the slots and the chunk table.
    pub fn memory(&self) -> usize {
        self.capacity() * std::mem::size_of::<Option<T>>()
            + self.chunks.capacity() * std::mem::size_of::<Box<[Option<T>]>>()
    }

    /// Slots and bytes the next `n` [`push`](Self::push)es add: whole
    /// chunks, and the chunk table when it must grow (it doubles, to at
    /// least 4 entries, exactly: see `push`).
    pub fn growth_for(&self, n: usize) -> (usize, usize) {
        let need = self.len.saturating_add(n);
        let (mut chunks, mut table, mut cap) =
            (self.chunks.len(), self.chunks.capacity(), self.capacity());
        let (mut slots, mut table_bytes) = (0, 0);
        while cap < need {
            if chunks == table {
                let more = table.max(4);
                table_bytes += more * std::mem::size_of::<Box<[Option<T>]>>();
                table += more;
            }
            let c = chunk_len(chunks);
            (cap, slots, chunks) = (cap + c, slots + c, chunks + 1);
        }
        (
            slots,
            slots * std::mem::size_of::<Option<T>>() + table_bytes,
        )
    }

    pub fn push(&mut self, value: Option<T>) {
        let (chunk, offset) = locate(self.len);
        if chunk == self.chunks.len() {
            // Grow the table by doubling, exactly, so `growth_for` knows
            // what the memory accounting will see.
            if self.chunks.len() == self.chunks.capacity() {
                self.chunks.reserve_exact(self.chunks.capacity().max(4));
            }
            self.chunks
                .push((0..chunk_len(chunk)).map(|_| None).collect());
        }
        self.chunks[chunk][offset] = value;
        self.len += 1;
    }

    /// Takes the last chunk off (its slots are no longer positions): lets
    /// a big slab be freed a chunk at a time.
    pub fn pop_chunk(&mut self) -> Option<Box<[Option<T>]>> {
        let chunk = self.chunks.pop()?;
        self.len = self.len.min(self.capacity());
        Some(chunk)
    }

    /// Every slot in position order.
    pub fn iter(&self) -> impl Iterator<Item = &Option<T>> {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.len)
    }
}

impl<T> Slab<T> {
    /// Bytes of the chunk table alone (what a [`Column`] beside this slab
    /// needs for its own table, at most).
    pub fn table_memory(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Box<[Option<T>]>>()
    }
}

/// Plain values beside a slab, one per position, in the slab's chunk
/// layout (so they never move either). Chunks are allocated on demand
/// ([`cover`](Self::cover)); the owner charges the accounting for a whole
/// column up front, so allocating one never surprises the budget.
pub struct Column<T> {
    chunks: Vec<Box<[T]>>,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Self { chunks: Vec::new() }
    }
}

impl<T: Copy> Column<T> {
    /// Allocates chunks, filled with `fill`, until positions `0..len` exist.
    pub fn cover(&mut self, len: usize, fill: T) {
        let Some(last) = len.checked_sub(1) else {
            return;
        };
        let need = locate(last).0 + 1;
        while self.chunks.len() < need {
            if self.chunks.len() == self.chunks.capacity() {
                self.chunks.reserve_exact(self.chunks.capacity().max(4));
            }
            let n = chunk_len(self.chunks.len());
            self.chunks.push(vec![fill; n].into_boxed_slice());
        }
    }

    /// Positions allocated.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }
}

impl<T> Index<usize> for Column<T> {
    type Output = T;

    #[inline]
    fn index(&self, pos: usize) -> &T {
        let (chunk, offset) = locate(pos);
        &self.chunks[chunk][offset]
    }
}

impl<T> IndexMut<usize> for Column<T> {
    #[inline]
    fn index_mut(&mut self, pos: usize) -> &mut T {
        let (chunk, offset) = locate(pos);
        &mut self.chunks[chunk][offset]
    }
}

impl<T> Slab<T> {
    /// Where slot `pos` lives (for a prefetch; `pos` must be below
    /// [`len`](Self::len)).
    #[inline]
    pub fn slot_ptr(&self, pos: usize) -> *const Option<T> {
        let (chunk, offset) = locate(pos);
        self.chunks[chunk].as_ptr().wrapping_add(offset)
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = Option<T>;

    #[inline]
    fn index(&self, pos: usize) -> &Option<T> {
        assert!(pos < self.len, "slab position {pos} out of {}", self.len);
        let (chunk, offset) = locate(pos);
        &self.chunks[chunk][offset]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, pos: usize) -> &mut Option<T> {
        assert!(pos < self.len, "slab position {pos} out of {}", self.len);
        let (chunk, offset) = locate(pos);
        &mut self.chunks[chunk][offset]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_consecutive_slots() {
        // Every position lands in its own slot, chunk by chunk, in order.
        let mut expected = (0, 0);
        for pos in 0..3 * CHUNK + 7 {
            assert_eq!(locate(pos), expected, "position {pos}");
            expected.1 += 1;
            if expected.1 == chunk_len(expected.0) {
                expected = (expected.0 + 1, 0);
            }
        }
        assert_eq!(locate(CHUNK), (DOUBLING_CHUNKS, 0));
        assert_eq!((0..DOUBLING_CHUNKS).map(chunk_len).sum::<usize>(), CHUNK);
    }

    #[test]
    fn capacity_is_the_sum_of_the_chunks() {
        let mut s = Slab::default();
        for pos in 0..3 * CHUNK + 5 {
            let chunks = s.chunks.len();
            assert_eq!(
                s.capacity(),
                (0..chunks).map(chunk_len).sum::<usize>(),
                "{pos}"
            );
            s.push(Some(pos));
        }
    }

    #[test]
    fn push_index_iterate() {
        let mut s = Slab::default();
        assert_eq!((s.len(), s.capacity(), s.memory()), (0, 0, 0));
        let table = 4 * std::mem::size_of::<Box<[Option<u64>]>>();
        let first = FIRST * std::mem::size_of::<Option<u64>>();
        assert_eq!(s.growth_for(1), (FIRST, first + table));
        for i in 0..10_000u64 {
            s.push(Some(i));
        }
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.capacity(), 3 * CHUNK, "three chunks' worth, no doubling");
        assert_eq!(s.growth_for(1), (0, 0));
        for i in 0..10_000u64 {
            assert_eq!(s[i as usize], Some(i));
        }
        s[77] = None;
        s[9_999] = Some(1);
        let all: Vec<_> = s.iter().collect();
        assert_eq!(all.len(), 10_000);
        assert_eq!((all[77], all[9_999], all[5]), (&None, &Some(1), &Some(5)));
    }

    #[test]
    fn growth_is_one_chunk() {
        let mut s = Slab::default();
        let mut pushes = 0;
        while s.len() < 5 * CHUNK {
            let (cap, memory, (slots, growth)) = (s.capacity(), s.memory(), s.growth_for(1));
            s.push(Some(0u32));
            pushes += 1;
            assert_eq!(s.capacity() - cap, slots, "after {pushes} pushes");
            assert_eq!(s.memory() - memory, growth, "after {pushes} pushes");
            assert!(slots <= CHUNK);
        }
    }

    #[test]
    fn popping_chunks_empties_the_slab() {
        let mut s = Slab::default();
        for i in 0..2 * CHUNK + 10 {
            s.push(Some(i));
        }
        let mut slots = 0;
        while let Some(chunk) = s.pop_chunk() {
            slots += chunk.len();
            assert!(s.len() <= s.capacity());
        }
        assert_eq!((slots, s.len(), s.capacity()), (3 * CHUNK, 0, 0));
    }

    #[test]
    fn a_column_follows_the_slab_layout() {
        let mut s = Slab::default();
        let mut c = Column::default();
        for pos in 0..2 * CHUNK + 3 {
            s.push(Some(pos));
            c.cover(s.len(), usize::MAX);
            c[pos] = pos;
        }
        assert_eq!(c.capacity(), s.capacity(), "the same chunks");
        assert!(s.table_memory() >= c.chunks.capacity() * 16);
        assert!((0..s.len()).all(|p| c[p] == p && s[p] == Some(p)));
        c.cover(0, 0);
        assert_eq!(c.capacity(), s.capacity());
    }

    #[test]
    #[should_panic(expected = "out of")]
    fn reading_past_the_end_panics() {
        let mut s = Slab::default();
        s.push(Some(1u8));
        let _ = &s[1];
    }
}
