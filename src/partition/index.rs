//! The hash index of a store, or of a big hash or set: slab positions in a
//! hashbrown table that grows without stopping its worker.
//!
//! A hashbrown table grows all at once: past its capacity the next insert
//! allocates a table twice the size and rehashes every position into it,
//! reading every key (a cache miss each). At 917,504 keys (or members of
//! one set) that held the worker, and every client on it, for about
//! 100 ms: the slowest pipeline of 1,000 `SET`s (or one `SADD` of 1,000
//! new members) took 99–140 ms on the 2-core VM, Redis's (whose
//! dictionaries rehash incrementally) 6–16 ms. Here a big table grows as
//! Redis's do: the insert that finds it full moves it aside and starts an
//! empty one of twice the capacity; each write after that (insert or
//! remove) moves [`STEP`] positions from the old table to the new one,
//! and lookups try the table holding more positions first, then the
//! other (prefetching covers both). The new table has room
//! for the old one's positions plus as many new ones, so the move ends
//! long before it could fill. Tables under [`GROW_AT_ONCE`] positions (a
//! millisecond's rehash at most) grow as hashbrown does. What remains at
//! the growth is allocating the new table and writing its control bytes
//! (0.4–14 ms at 917,504 and 458,752 positions in one instrumented run;
//! with 16 positions moved per write the slowest such pipeline took
//! 8.7 ms for the set and 38 ms for the keys in one run).

use hashbrown::hash_table::HashTable;

/// Tables smaller than this grow all at once.
pub const GROW_AT_ONCE: usize = 1 << 13;
/// Positions a write moves from the old table while the index grows.
pub const STEP: usize = 16;

#[derive(Default)]
pub struct Index {
    table: HashTable<u32>,
    /// The table being emptied into `table`, and the next bucket to move.
    old: Option<(HashTable<u32>, usize)>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.table.len() + self.old.as_ref().map_or(0, |(t, _)| t.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions the (new) table holds before it grows.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// True while positions are being moved to a bigger table.
    #[cfg(test)]
    pub fn is_growing(&self) -> bool {
        self.old.is_some()
    }

    /// Starts loading each of `hashes`' probes, in both tables while the
    /// index grows: first each hash's home control group and bucket, by
    /// address alone ([`table_end`]), so that those misses overlap; then
    /// the probes themselves, without comparing keys, handing every
    /// candidate (control-byte match) to `candidate`.
    pub fn prefetch_probes(&self, hashes: &[u64], mut candidate: impl FnMut(u32)) {
        let tables = [Some(&self.table), self.old.as_ref().map(|(t, _)| t)];
        for table in tables.iter().flatten() {
            if let Some(end) = table_end(table) {
                let mask = table.num_buckets() - 1;
                for &hash in hashes {
                    // hashbrown's probe starts at `hash & mask`: control
                    // bytes from `end`, buckets (`u32`s) down from it.
                    let pos = hash as usize & mask;
                    super::entry::prefetch(end.wrapping_add(pos));
                    super::entry::prefetch(end.wrapping_sub((pos + 1) * 4));
                }
            }
        }
        for table in tables.iter().flatten() {
            for &hash in hashes {
                // Returning false keeps the probe from reading the entry.
                table.find(hash, |&i| {
                    candidate(i);
                    false
                });
            }
        }
    }

    /// Bytes of the tables' allocations.
    pub fn allocation_size(&self) -> usize {
        self.table.allocation_size() + self.old.as_ref().map_or(0, |(t, _)| t.allocation_size())
    }

    /// Makes room for `n` positions in an empty index.
    pub fn reserve_empty(&mut self, n: usize) {
        debug_assert!(self.is_empty());
        self.table.reserve(n, |_| 0);
    }

    /// Bytes the tables' allocations may grow by while `n` more positions
    /// go in: an incremental growth keeps the old table until the move
    /// ends, so it adds the whole new table.
    pub fn growth(&self, n: usize) -> usize {
        let (len, cap, alloc) = (
            self.table.len(),
            self.table.capacity(),
            self.table.allocation_size(),
        );
        let growth = super::store::table_growth::<u32>(len, cap, alloc, n);
        if growth == 0 || self.old.is_some() || cap < GROW_AT_ONCE {
            growth
        } else {
            growth + alloc
        }
    }

    /// The position `eq` accepts among those filed under `hash`.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let Some((old, _)) = &self.old else {
            return self.table.find(hash, |&i| eq(i)).copied();
        };
        // The table holding more positions first.
        let (a, b) = if old.len() > self.table.len() {
            (old, &self.table)
        } else {
            (&self.table, old)
        };
        a.find(hash, |&i| eq(i))
            .or_else(|| b.find(hash, |&i| eq(i)))
            .copied()
    }

    /// Files `pos` (known to be absent) under `hash`; `rehash` gives any
    /// position's hash.
    pub fn insert_unique(&mut self, hash: u64, pos: u32, rehash: impl Fn(u32) -> u64) {
        let cap = self.table.capacity();
        if self.old.is_none() && self.table.len() == cap && cap >= GROW_AT_ONCE {
            let bigger = HashTable::with_capacity(cap * 2);
            self.old = Some((std::mem::replace(&mut self.table, bigger), 0));
        }
        self.step(&rehash);
        self.table.insert_unique(hash, pos, |&i| rehash(i));
    }

    /// Removes the position `eq` accepts under `hash`, if any.
    fn remove(
        &mut self,
        hash: u64,
        mut eq: impl FnMut(u32) -> bool,
        rehash: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let found = match self.table.find_entry(hash, |&i| eq(i)) {
            Ok(entry) => Some(entry.remove().0),
            Err(_) => self.old.as_mut().and_then(|(old, _)| {
                old.find_entry(hash, |&i| eq(i))
                    .ok()
                    .map(|entry| entry.remove().0)
            }),
        };
        self.step(&rehash);
        found
    }

    /// Removes the position of `key`, where `key_of` gives the key at a
    /// position and `hasher` hashes keys (the store's and a dict's way).
    pub fn remove_key<'a>(
        &mut self,
        hasher: &ahash::RandomState,
        key: &[u8],
        key_of: impl Fn(u32) -> &'a [u8],
    ) -> Option<u32> {
        let hash = hasher.hash_one(key);
        self.remove(hash, |i| key_of(i) == key, |i| hasher.hash_one(key_of(i)))
    }

    /// Moves up to [`STEP`] positions (looking at up to 8 times as many
    /// buckets) from the old table to the new one; drops the old table
    /// once it is empty.
    fn step(&mut self, rehash: &impl Fn(u32) -> u64) {
        let Some((old, next)) = &mut self.old else {
            return;
        };
        let buckets = old.num_buckets();
        let (mut moved, mut looked) = (0, 0);
        while moved < STEP && looked < 8 * STEP && *next < buckets {
            looked += 1;
            match old.get_bucket_entry(*next) {
                Ok(entry) => {
                    let (pos, _) = entry.remove();
                    self.table.insert_unique(rehash(pos), pos, |&i| rehash(i));
                    moved += 1;
                }
                Err(_) => *next += 1,
            }
        }
        if old.is_empty() {
            self.old = None;
        }
    }
}

/// Where `table`'s buckets end and its control bytes begin: hashbrown
/// lays a table out as `[bucket n-1 … bucket 1, bucket 0][control bytes]`
/// in one allocation, so bucket `i` of a table of `u32`s starts `4 (i +
/// 1)` bytes before this address, and its control byte `i` bytes after.
/// Found from the first occupied bucket of the first 64 (`None` if they are
/// all empty). A prefetch hint only: were the layout ever different, the
/// prefetched addresses would be useless, never read.
fn table_end(table: &HashTable<u32>) -> Option<*const u8> {
    (0..table.num_buckets().min(64)).find_map(|i| {
        let bucket: *const u32 = table.get_bucket(i)?;
        Some(
            bucket
                .cast::<u8>()
                .wrapping_add((i + 1) * std::mem::size_of::<u32>()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Positions are their own keys here: position i's hash is hash(i).
    fn hash(i: u32) -> u64 {
        ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(i)
    }

    #[test]
    fn table_end_is_where_the_buckets_end() {
        // The layout `prefetch_probes` assumes: bucket i's u32 ends
        // 4 * i bytes before the end every occupied bucket agrees on.
        let mut t: HashTable<u32> = HashTable::new();
        assert_eq!(table_end(&t), None);
        let hasher = ahash::RandomState::new();
        for i in 0..10_000u32 {
            t.insert_unique(hasher.hash_one(i), i, |&v| hasher.hash_one(v));
        }
        let end = table_end(&t).expect("occupied buckets among the first 64");
        let mut checked = 0;
        for i in 0..t.num_buckets() {
            if let Some(b) = t.get_bucket(i) {
                let at: *const u8 = (b as *const u32).cast();
                assert_eq!(at, end.wrapping_sub((i + 1) * 4), "bucket {i}");
                checked += 1;
            }
        }
        assert_eq!(checked, 10_000);
    }

    #[test]
    fn a_big_index_grows_in_steps_and_finds_everything_meanwhile() {
        let mut ix = Index::default();
        let mut model = HashSet::new();
        let mut grew = 0;
        let mut next = 0u32;
        // Inserts, with removals mixed in, well past several growths.
        while next < 200_000 {
            let was_growing = ix.is_growing();
            ix.insert_unique(hash(next), next, hash);
            model.insert(next);
            if !was_growing && ix.is_growing() {
                grew += 1;
                // The move happens over later writes, not in this one.
                assert!(ix.old.as_ref().unwrap().0.len() > GROW_AT_ONCE / 2);
            }
            if next % 3 == 0 {
                let gone = next / 2;
                let removed = ix.remove(hash(gone), |i| i == gone, hash);
                assert_eq!(removed.is_some(), model.remove(&gone), "remove {gone}");
            }
            if next % 997 == 0 {
                for probe in [next, next / 2, next / 3, next + 1] {
                    let found = ix.find(hash(probe), |i| i == probe);
                    assert_eq!(found.is_some(), model.contains(&probe), "find {probe}");
                }
                assert_eq!(ix.len(), model.len());
            }
            next += 1;
        }
        assert!(grew >= 3, "grew incrementally {grew} times");
        for &i in &model {
            assert_eq!(ix.find(hash(i), |j| j == i), Some(i));
        }
        assert_eq!(ix.len(), model.len());
    }

    #[test]
    fn growth_accounts_for_the_old_table_kept_while_moving() {
        let mut ix = Index::default();
        let mut i = 0u32;
        while ix.table.capacity() < GROW_AT_ONCE || ix.table.len() < ix.table.capacity() {
            ix.insert_unique(hash(i), i, hash);
            i += 1;
        }
        let before = ix.allocation_size();
        let bound = ix.growth(1);
        ix.insert_unique(hash(i), i, hash);
        assert!(ix.is_growing());
        let grown = ix.allocation_size() - before;
        assert!(grown <= bound, "grew {grown}, bound {bound}");
        assert!(grown > before, "the new table is twice the old one");
    }
}
