//! The big form of a hash or a set (and a sorted set's members): pairs
//! in a slab that never moves them, found through a table of slab
//! positions, as the partition's own store keeps its keys ([`Store`]).
//!
//! Each pair is one `Entry` (a field with its value, a member with an
//! empty value or its score): a 6-byte field with a 10-byte value is one
//! 16-byte allocation. Per pair the table adds a `u32` and a control byte
//! (at 7/8 load at most) and the slab an 8-byte word. Walking slab
//! positions upward gives `HSCAN`/`SSCAN` Redis's guarantee: every pair
//! present for the whole walk is returned.
//!
//! [`Store`]: super::super::store::Store

use super::super::entry::{size_class, Entry};
use super::super::index::Index;
use super::super::slab::Slab;

pub struct Dict {
    index: Index,
    slab: Slab<Entry>,
    free: Vec<u32>,
    hasher: ahash::RandomState,
    /// Bytes of the pairs' allocations.
    entry_bytes: usize,
}

impl Default for Dict {
    fn default() -> Self {
        Self {
            index: Index::default(),
            slab: Slab::default(),
            free: Vec::new(),
            hasher: ahash::RandomState::new(),
            entry_bytes: 0,
        }
    }
}

fn key_of(slab: &Slab<Entry>, i: u32) -> &[u8] {
    match &slab[i as usize] {
        Some(e) => e.key(),
        None => unreachable!("the index only points at live pairs"),
    }
}

impl Dict {
    /// A dict with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::default();
        d.index.reserve_empty(n);
        d
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn position(&self, field: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        self.index
            .find(self.hasher.hash_one(field), |i| key_of(slab, i) == field)
    }

    /// Starts loading what looking up each of `fields` will read
    /// (through the store's `prefetch_lookups`).
    pub fn prefetch<'a>(&self, fields: impl Iterator<Item = &'a [u8]>) {
        let hasher = &self.hasher;
        super::super::store::prefetch_lookups(
            &self.index,
            &self.slab,
            fields.map(|f| hasher.hash_one(f)),
        );
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let i = self.position(field)?;
        self.slab[i as usize].as_ref().map(Entry::value)
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.position(field).is_some()
    }

    /// The pair at slab position `pos`, if one lives there.
    pub fn at(&self, pos: usize) -> Option<(&[u8], &[u8])> {
        if pos >= self.slab.len() {
            return None;
        }
        self.slab[pos].as_ref().map(|e| (e.key(), e.value()))
    }

    /// Slab positions `0..slots()` may hold pairs.
    pub fn slots(&self) -> usize {
        self.slab.len()
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(i) = self.position(field) {
            let slot = &mut self.slab[i as usize];
            match slot {
                Some(e) if e.value().len() == value.len() && !e.is_grown() => {
                    e.value_mut().copy_from_slice(value)
                }
                _ => {
                    let new = Entry::new(field, value);
                    self.entry_bytes += new.footprint();
                    if let Some(old) = slot.replace(new) {
                        self.entry_bytes -= old.footprint();
                    }
                }
            }
            return false;
        }
        self.insert_new(field, value);
        true
    }

    /// Adds a field known to be absent; returns its slab position.
    pub fn insert_new(&mut self, field: &[u8], value: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(field);
        let entry = Entry::new(field, value);
        self.entry_bytes += entry.footprint();
        let pos = match self.free.pop() {
            Some(pos) => {
                self.slab[pos as usize] = Some(entry);
                pos
            }
            None => {
                self.slab.push(Some(entry));
                u32::try_from(self.slab.len() - 1).expect("under 2^32 pairs")
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index
            .insert_unique(hash, pos, |i| hasher.hash_one(key_of(slab, i)));
        pos
    }

    /// The slab position of `field`.
    pub fn position_of(&self, field: &[u8]) -> Option<u32> {
        self.position(field)
    }

    /// The value of the pair at `pos`, writable in place.
    pub fn value_mut_at(&mut self, pos: u32) -> Option<&mut [u8]> {
        self.slab[pos as usize].as_mut().map(Entry::value_mut)
    }

    /// Removes `field`; its slab position if it was there.
    pub fn remove(&mut self, field: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        let pos = self
            .index
            .remove_key(&self.hasher, field, |i| key_of(slab, i))?;
        if let Some(old) = self.slab[pos as usize].take() {
            self.entry_bytes -= old.footprint();
        }
        if self.free.len() == self.free.capacity() {
            let room = self.slab.capacity() - self.free.len();
            self.free
                .reserve_exact(self.free.capacity().max(4).min(room));
        }
        self.free.push(pos);
        if self.index.is_empty() {
            *self = Self::default();
        }
        Some(pos)
    }

    /// Every pair, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.slab.iter().flatten().map(|e| (e.key(), e.value()))
    }

    /// A random occupied slab position, from `seed` (the dict must not be
    /// empty): random probes, then a walk from the last probe.
    pub fn random(&self, seed: u64) -> u32 {
        let n = self.slab.len();
        let mut x = seed | 1;
        let mut at = 0;
        for _ in 0..64 {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            at = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16) as usize % n;
            if self.slab[at].is_some() {
                return at as u32;
            }
        }
        (0..n)
            .map(|i| (at + i) % n)
            .find(|&p| self.slab[p].is_some())
            .expect("a non-empty dict has a pair") as u32
    }

    /// Bytes this dict holds, as the allocator sizes them.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.entry_bytes
            + self.slab.memory()
            + size_class(self.free.capacity() * 4)
            + self.index.allocation_size()
    }

    /// Frees up to `max` pairs from the end of the slab; the number freed.
    /// The dict is being thrown away: its index is dropped first.
    pub fn drain_some(&mut self, max: usize) -> usize {
        self.index = Index::default();
        self.free = Vec::new();
        let mut freed = 0;
        while freed < max {
            let Some(chunk) = self.slab.pop_chunk() else {
                break;
            };
            freed += chunk.len();
            let bytes: usize = chunk.iter().flatten().map(Entry::footprint).sum();
            self.entry_bytes = self.entry_bytes.saturating_sub(bytes);
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_accounting() {
        let mut d = Dict::default();
        let empty = d.memory();
        for i in 0..10_000u32 {
            assert!(d.insert(format!("f{i}").as_bytes(), &i.to_le_bytes()));
        }
        assert!(!d.insert(b"f7", b"seven"));
        assert_eq!(d.get(b"f7"), Some(&b"seven"[..]));
        assert_eq!(d.len(), 10_000);
        assert!(d.memory() > empty + 10_000 * 16);
        for i in 0..10_000u32 {
            assert!(d.remove(format!("f{i}").as_bytes()).is_some());
        }
        assert!(d.remove(b"f1").is_none());
        assert_eq!(d.len(), 0);
        assert_eq!(d.memory(), empty);
        let recount: usize = d.slab.iter().flatten().map(Entry::footprint).sum();
        assert_eq!(recount, d.entry_bytes);
    }

    #[test]
    fn random_finds_only_live_pairs() {
        let mut d = Dict::default();
        for i in 0..1000u32 {
            d.insert(format!("m{i}").as_bytes(), b"");
        }
        for i in 0..990u32 {
            d.remove(format!("m{i}").as_bytes());
        }
        let mut seen = std::collections::HashSet::new();
        for seed in 0..2000u64 {
            let pos = d.random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            seen.insert(d.at(pos as usize).expect("live").0.to_vec());
        }
        assert_eq!(seen.len(), 10);
    }
}
