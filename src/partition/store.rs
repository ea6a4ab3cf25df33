//! The partition's key/value map. Plain data: no locks, no channels.
//!
//! Entries (key and value in one allocation, see [`Entry`]) live in a slab
//! (chunks of 8-byte words that never move, see [`Slab`], with a free list)
//! and an index maps each key's aHash to its slab position. Entries never
//! move in the slab, which gives `SCAN` the Redis guarantee for free:
//! walking slab positions upward returns every key that was present for
//! the whole walk, whatever was inserted, deleted or rehashed meanwhile.
//! The index stores only a `u32` per key. A count of keys per hash slot
//! that holds keys (a small map: a partition owns a range of slots) makes
//! `CLUSTER COUNTKEYSINSLOT` O(1); it costs a CRC16 of the key and a map
//! update when a key is added or removed. The keys of each slot, for
//! `CLUSTER GETKEYSINSLOT`, are listed only once one was asked for (see
//! [`SlotIndex`]).

use super::coll;
use super::entry::Entry;
use super::lru::SampledLru;
use super::ops::Outcome;
use super::sieve::Sieve;
use super::slab::Slab;
use super::slot_index::{SlotIndex, SlotWalk};

/// The order in which keys are evicted, when a policy evicts.
pub enum Order {
    Sieve(Sieve),
    Lru(SampledLru),
}

impl Order {
    fn insert(&mut self, pos: u32, slots: usize) {
        match self {
            Self::Sieve(s) => s.insert(pos, slots),
            Self::Lru(l) => l.insert(pos, slots),
        }
    }

    fn slot_bytes(&self) -> usize {
        match self {
            Self::Sieve(_) => Sieve::SLOT_BYTES,
            Self::Lru(_) => SampledLru::SLOT_BYTES,
        }
    }

    fn touch(&self, pos: u32) {
        match self {
            Self::Sieve(s) => s.touch(pos),
            Self::Lru(l) => l.touch(pos),
        }
    }

    fn remove(&mut self, pos: u32) {
        if let Self::Sieve(s) = self {
            s.remove(pos);
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Sieve(s) => s.clear(),
            Self::Lru(l) => l.clear(),
        }
    }

    fn memory(&self) -> usize {
        match self {
            Self::Sieve(s) => s.memory(),
            Self::Lru(l) => l.memory(),
        }
    }
}
use super::index::Index;

/// Bytes the accounting charges each slab slot for the free list.
const FREE_SLOT_BYTES: usize = std::mem::size_of::<u32>();

/// Upper bound of what `n` more inserts add to the allocation of a hashbrown
/// table of `T` holding `len` items with room for `capacity` and
/// `allocation` bytes now. A full table doubles its buckets (allocation at
/// most doubles); an empty one starts at 4 buckets: `4 * (T + 1)` bytes
/// plus a control group (16) and alignment (under 16).
pub fn table_growth<T>(len: usize, capacity: usize, allocation: usize, n: usize) -> usize {
    let need = len.saturating_add(n);
    if need <= capacity {
        return 0;
    }
    let first = 4 * (std::mem::size_of::<T>() + 1) + 32;
    let (mut cap, mut size) = (capacity.max(3), allocation.max(first));
    while cap < need {
        cap = cap.saturating_mul(2);
        size = size.saturating_mul(2);
    }
    size - allocation
}

pub struct Store {
    index: Index,
    slab: Slab<Entry>,
    free: Vec<u32>,
    hasher: ahash::RandomState,
    /// Bytes of all entry allocations, as the allocator sizes them.
    entry_bytes: usize,
    /// The eviction order, when a policy that evicts is on.
    order: Option<Order>,
    /// Keys per hash slot, for the slots that hold any.
    slot_keys: hashbrown::HashMap<u16, u32, ahash::RandomState>,
    /// The keys of each slot, once `GETKEYSINSLOT` asked for them.
    slot_index: Option<Box<SlotIndex>>,
    /// The last walk id of slot indexes dropped before (ids stay unique).
    last_walk: u64,
    /// Most slab positions: they are `u32`, so never past `u32::MAX`
    /// (lowered by tests).
    max_positions: usize,
    /// Keys holding collections (string-only paths skip type checks
    /// while there are none).
    collections: usize,
    /// Big collections removed but not yet freed: freed in bounded steps
    /// ([`free_lazy`](Self::free_lazy)), counted in memory until then.
    #[allow(clippy::vec_box)] // moved in and out as the boxes entries own
    lazy: Vec<Box<coll::Big>>,
    lazy_bytes: usize,
}

/// Slab positions are `u32` (the index stores them); `u32::MAX` itself is
/// left unused.
pub const MAX_POSITIONS: usize = u32::MAX as usize;

impl Default for Store {
    fn default() -> Self {
        Self {
            index: Index::default(),
            slab: Slab::default(),
            free: Vec::new(),
            hasher: ahash::RandomState::new(),
            entry_bytes: 0,
            order: None,
            slot_keys: hashbrown::HashMap::default(),
            slot_index: None,
            last_walk: 0,
            max_positions: MAX_POSITIONS,
            collections: 0,
            lazy: Vec::new(),
            lazy_bytes: 0,
        }
    }
}

#[derive(Debug)]
/// One step of a scan: the keys found and where to continue (`None` at the
/// end of the store).
pub struct ScanStep {
    pub keys: Vec<Box<[u8]>>,
    pub next: Option<usize>,
}

/// A string entry's value (`None` for a collection).
#[inline]
fn string_value(e: &Entry) -> Option<&[u8]> {
    (!e.is_collection()).then(|| e.value())
}

fn key_of(slab: &Slab<Entry>, i: u32) -> &[u8] {
    match &slab[i as usize] {
        Some(e) => e.key(),
        None => unreachable!("the index only points at live entries"),
    }
}

/// Starts loading what looking up each of `hashes` in `index` (slab
/// positions into `slab`) will read: the index's probes
/// ([`Index::prefetch_probes`]), each candidate's slab word, then the
/// entries those words point at, every pass's loads overlapping across
/// hashes. At most 64 hashes and 64 candidates per call. Shared by
/// [`Store::prefetch`] and [`coll::Dict::prefetch`].
pub(super) fn prefetch_lookups(
    index: &Index,
    slab: &Slab<Entry>,
    hashes: impl Iterator<Item = u64>,
) {
    const MAX: usize = 64;
    let mut todo = [0u64; MAX];
    let mut m = 0;
    for (slot, hash) in todo.iter_mut().zip(hashes) {
        *slot = hash;
        m += 1;
    }
    let mut found = [0u32; MAX];
    let mut n = 0;
    index.prefetch_probes(&todo[..m], |i| {
        if n < MAX {
            super::entry::prefetch(slab.slot_ptr(i as usize).cast());
            found[n] = i;
            n += 1;
        }
    });
    for &i in &found[..n] {
        if let Some(e) = &slab[i as usize] {
            e.prefetch();
        }
    }
}

impl Store {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Keys stored in hash slot `slot`: O(1).
    pub fn keys_in_slot(&self, slot: u16) -> usize {
        self.slot_keys.get(&slot).map_or(0, |&n| n as usize)
    }

    /// Counts a key of `slot` in (`added`) or out.
    fn count_in_slot(&mut self, slot: u16, added: bool) {
        if added {
            *self.slot_keys.entry(slot).or_insert(0) += 1;
        } else if let hashbrown::hash_map::Entry::Occupied(mut n) = self.slot_keys.entry(slot) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Starts loading what looking up each of `keys` will read, so that
    /// lookups that follow find it in cache instead of waiting for memory
    /// one miss at a time: first every key's index group and slab word
    /// (the probes of different keys overlap), then the entries the
    /// candidates' words point at. Worth it for a batch of several keys in
    /// a store larger than the caches; a hint, changing nothing.
    pub fn prefetch<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) {
        prefetch_lookups(&self.index, &self.slab, keys.map(|k| self.hash(k)));
    }

    /// The table of `key`'s hash or set when it has one (its big form),
    /// without marking the key used or checking its TTL: for prefetching.
    pub fn big_dict(&self, key: &[u8]) -> Option<&coll::Dict> {
        let entry = self.entry(key)?;
        if !entry.is_collection() {
            return None;
        }
        match coll::view(entry.value()) {
            coll::View::Big(coll::Big::Hash(d) | coll::Big::Set(d)) => Some(d),
            _ => None,
        }
    }

    fn position(&self, key: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        self.index.find(self.hash(key), |i| key_of(slab, i) == key)
    }

    /// True when a new key has no slab position left (the partition holds
    /// 2^32 - 1 keys): an insert must be refused, never wrap.
    pub fn is_full(&self) -> bool {
        self.free.is_empty() && self.slab.len() >= self.max_positions
    }

    /// Lowers the position cap (tests of the full store).
    #[cfg(test)]
    pub fn set_max_positions(&mut self, n: usize) {
        self.max_positions = n.min(MAX_POSITIONS);
    }

    /// The value's length, without marking the key as used.
    pub fn value_len(&self, key: &[u8]) -> Option<usize> {
        self.get_untouched(key).map(<[u8]>::len)
    }

    /// The value, without marking the key as used (a size estimate).
    pub fn get_untouched(&self, key: &[u8]) -> Option<&[u8]> {
        self.entry(key).and_then(string_value)
    }

    /// The string value of `key` (`None` for a collection: its payload is
    /// never a string), marking the key as used.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let i = self.position(key)?;
        if let Some(order) = &self.order {
            order.touch(i);
        }
        self.slab[i as usize].as_ref().and_then(string_value)
    }

    /// Marks `key` as used, whatever it holds; true if it exists.
    pub fn touch(&self, key: &[u8]) -> bool {
        let Some(i) = self.position(key) else {
            return false;
        };
        if let Some(order) = &self.order {
            order.touch(i);
        }
        true
    }

    /// The entry of `key`, whatever it holds, without marking it used.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        let i = self.position(key)?;
        self.slab[i as usize].as_ref()
    }

    /// True once a key holds a collection (until they are all gone).
    #[inline]
    pub fn has_collections(&self) -> bool {
        self.collections > 0
    }

    /// The type of `key`'s value.
    pub fn kind(&self, key: &[u8]) -> Option<coll::Kind> {
        let e = self.entry(key)?;
        Some(if e.is_collection() {
            coll::kind(e.value())
        } else {
            coll::Kind::String
        })
    }

    /// True if `key` holds a collection.
    #[inline]
    pub fn is_collection(&self, key: &[u8]) -> bool {
        self.has_collections() && self.entry(key).is_some_and(Entry::is_collection)
    }

    /// The payload of `key` if it holds a collection of type `code` (see
    /// `coll`), marking it used; `None` without a key; the WRONGTYPE error
    /// for a value of another type.
    pub fn collection(&self, key: &[u8], code: u8) -> Result<Option<&[u8]>, Outcome<'static>> {
        let Some(i) = self.position(key) else {
            return Ok(None);
        };
        if let Some(order) = &self.order {
            order.touch(i);
        }
        match self.slab[i as usize].as_ref() {
            Some(e) if e.is_collection() && e.value()[0] == code => Ok(Some(e.value())),
            Some(_) => Err(Outcome::Error(coll::WRONGTYPE)),
            None => Ok(None),
        }
    }

    /// Runs `f` on `key`'s entry (a collection being edited), keeping the
    /// byte count true; `None` without a key.
    pub fn update<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let i = self.position(key)?;
        let e = self.slab[i as usize].as_mut()?;
        let before = e.footprint();
        let r = f(e);
        self.entry_bytes = self.entry_bytes - before + e.footprint();
        Some(r)
    }

    /// Stores a collection `payload` under `key` (replacing any value).
    pub fn insert_collection(&mut self, key: &[u8], payload: &[u8]) {
        self.insert_entry(key, Entry::collection(key, payload));
    }

    /// Stores `entry` (made for `key`) under `key`, replacing any value.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        debug_assert_eq!(entry.key(), key);
        if entry.is_collection() {
            self.collections += 1;
        }
        match self.position(key) {
            Some(i) => {
                self.entry_bytes += entry.footprint();
                if let Some(old) = self.slab[i as usize].replace(entry) {
                    self.dispose(old);
                }
            }
            None => self.insert_new_entry(key, entry),
        }
    }

    /// Takes `key`'s entry out of the store (the key is removed); its
    /// bytes leave the count with it.
    pub fn take(&mut self, key: &[u8]) -> Option<Entry> {
        let pos = self.unlink(key)?;
        let e = self.slab[pos as usize].take()?;
        self.entry_bytes -= e.footprint();
        if e.is_collection() {
            self.collections -= 1;
        }
        self.push_free(pos);
        self.release_tail();
        Some(e)
    }

    /// Gives up a removed entry: its bytes leave the count, and a big
    /// collection goes to the lazy free queue instead of being freed now.
    fn dispose(&mut self, mut old: Entry) {
        self.entry_bytes -= old.footprint();
        if !old.is_collection() {
            return;
        }
        self.collections -= 1;
        if coll::len(old.value()) > coll::FREE_AT_ONCE {
            if let Some(big) = coll::detach(old.value_mut()) {
                self.lazy_bytes += big.memory();
                self.lazy.push(big);
            }
        }
    }

    /// Frees up to about `max` elements of removed big collections; true
    /// while some remain.
    pub fn free_lazy(&mut self, max: usize) -> bool {
        let mut left = max;
        while left > 0 {
            let Some(big) = self.lazy.last_mut() else {
                break;
            };
            let before = big.memory();
            let freed = big.drain_some(left);
            let after = big.memory();
            self.lazy_bytes -= before - after;
            if freed == 0 {
                let big = self.lazy.pop().expect("checked above");
                self.lazy_bytes -= big.memory();
            }
            left = left.saturating_sub(freed.max(1));
        }
        if self.lazy.is_empty() {
            self.lazy_bytes = 0;
        }
        !self.lazy.is_empty()
    }

    /// Keeps an eviction order (`lru`: sampled LRU, else SIEVE) from now on.
    pub fn enable_eviction(&mut self, lru: bool) {
        let mut order = if lru {
            Order::Lru(SampledLru::default())
        } else {
            Order::Sieve(Sieve::default())
        };
        let slots = self.slab.capacity();
        for (pos, e) in self.slab.iter().enumerate() {
            if e.is_some() {
                order.insert(pos as u32, slots);
            }
        }
        self.order = Some(order);
    }

    /// Drops the eviction order (`CONFIG SET` to a policy that does not
    /// evict, or no `maxmemory`).
    pub fn disable_eviction(&mut self) {
        self.order = None;
    }

    /// The eviction order kept now: `None`, or whether it is sampled LRU.
    pub fn eviction_order(&self) -> Option<bool> {
        self.order.as_ref().map(|o| matches!(o, Order::Lru(_)))
    }

    /// The key the eviction order would evict next, skipping keys for which
    /// `skip` says so; `None` when there is none.
    pub fn victim(&mut self, mut skip: impl FnMut(&[u8]) -> bool) -> Option<Box<[u8]>> {
        let len = self.len();
        let slab = &self.slab;
        let pos = match self.order.as_mut()? {
            Order::Sieve(s) => s.victim(len, |p| skip(key_of(slab, p)))?,
            Order::Lru(l) => l.victim(
                slab.len(),
                |p| slab[p as usize].is_some(),
                |p| skip(key_of(slab, p)),
            )?,
        };
        Some(key_of(&self.slab, pos).into())
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    /// Stores a copy of `value` under `key`, in place when the length is
    /// unchanged (and the entry exact: a value `APPEND` grew is replaced
    /// by an exact one, giving its spare room back).
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        match self.position(key) {
            Some(i) => {
                let slot = &mut self.slab[i as usize];
                match slot {
                    Some(e)
                        if e.value().len() == value.len()
                            && !e.is_grown()
                            && !e.is_collection() =>
                    {
                        e.value_mut().copy_from_slice(value)
                    }
                    _ => {
                        let new = Entry::new(key, value);
                        self.entry_bytes += new.footprint();
                        if let Some(old) = slot.replace(new) {
                            self.dispose(old);
                        }
                    }
                }
            }
            None => self.insert_new(key, value),
        }
    }

    /// Appends `tail` to `key`'s value (an absent key gets `tail`, exact)
    /// and returns the new length. A value that grows keeps room to grow
    /// further (`Entry::append`), counted in [`memory`](Self::memory).
    /// Marks the key as used, as a read would.
    pub fn append(&mut self, key: &[u8], tail: &[u8]) -> usize {
        let Some(i) = self.position(key) else {
            self.insert_new(key, tail);
            return tail.len();
        };
        if let Some(order) = &self.order {
            order.touch(i);
        }
        let Some(e) = &mut self.slab[i as usize] else {
            unreachable!("the index only points at live entries")
        };
        let before = e.footprint();
        e.append(tail);
        self.entry_bytes = self.entry_bytes - before + e.footprint();
        e.value().len()
    }

    /// Writes `bytes` at `offset` of `key`'s value (`SETRANGE`), zero
    /// filling any gap past its end; an absent key starts empty. Returns
    /// the new length. Bytes inside the value are written in place; a
    /// value that grows takes the `APPEND` form (`Entry::append`), with
    /// room to grow further. Marks the key as used. `bytes` must not be
    /// empty for an absent key (that would store an empty value).
    pub fn write_at(&mut self, key: &[u8], offset: usize, bytes: &[u8]) -> usize {
        let Some(i) = self.position(key) else {
            let mut value = vec![0; offset + bytes.len()];
            value[offset..].copy_from_slice(bytes);
            self.insert_new(key, &value);
            return value.len();
        };
        if let Some(order) = &self.order {
            order.touch(i);
        }
        let Some(e) = &mut self.slab[i as usize] else {
            unreachable!("the index only points at live entries")
        };
        let len = e.value().len();
        let inside = len.saturating_sub(offset).min(bytes.len());
        if inside > 0 {
            e.value_mut()[offset..offset + inside].copy_from_slice(&bytes[..inside]);
        }
        let rest = &bytes[inside..];
        if rest.is_empty() {
            return len;
        }
        let before = e.footprint();
        if offset > len {
            let mut tail = vec![0; offset - len];
            tail.extend_from_slice(rest);
            e.append(&tail);
        } else {
            e.append(rest);
        }
        self.entry_bytes = self.entry_bytes - before + e.footprint();
        e.value().len()
    }

    /// `key`'s value, writable in place (its length cannot change).
    pub fn value_mut(&mut self, key: &[u8]) -> Option<&mut [u8]> {
        let i = self.position(key)?;
        self.slab[i as usize]
            .as_mut()
            .filter(|e| !e.is_collection())
            .map(Entry::value_mut)
    }

    fn insert_new(&mut self, key: &[u8], value: &[u8]) {
        self.insert_new_entry(key, Entry::new(key, value));
    }

    fn insert_new_entry(&mut self, key: &[u8], entry: Entry) {
        let hash = self.hash(key);
        self.entry_bytes += entry.footprint();
        let entry = Some(entry);
        let pos = match self.free.pop() {
            Some(pos) => {
                self.slab[pos as usize] = entry;
                pos
            }
            None => {
                assert!(!self.is_full(), "slab positions exhausted");
                self.slab.push(entry);
                u32::try_from(self.slab.len() - 1).expect("position under u32::MAX")
            }
        };
        if let Some(order) = &mut self.order {
            order.insert(pos, self.slab.capacity());
        }
        let slot = corekv_router::hash_slot(key);
        self.count_in_slot(slot, true);
        if let Some(ix) = &mut self.slot_index {
            ix.reserve(self.slot_keys.len());
            ix.added(pos, slot);
        }
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index
            .insert_unique(hash, pos, |i| hasher.hash_one(key_of(slab, i)));
    }

    /// Removes `key`; true if it existed.
    pub fn del(&mut self, key: &[u8]) -> bool {
        let Some(pos) = self.unlink(key) else {
            return false;
        };
        if let Some(old) = self.slab[pos as usize].take() {
            self.dispose(old);
        }
        self.push_free(pos);
        self.release_tail();
        true
    }

    /// Removes `key` from the index, the eviction order and the slot
    /// counts; its slab position (still holding the entry).
    fn unlink(&mut self, key: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        let pos = self
            .index
            .remove_key(&self.hasher, key, |i| key_of(slab, i))?;
        if let Some(order) = &mut self.order {
            order.remove(pos);
        }
        let slot = corekv_router::hash_slot(key);
        self.count_in_slot(slot, false);
        if let Some(ix) = &mut self.slot_index {
            ix.removed(pos, slot);
        }
        Some(pos)
    }

    /// Records a free slot. The list grows by doubling but never past the
    /// slab's capacity, which the accounting charges it for in advance
    /// ([`FREE_SLOT_BYTES`] a slot): so a delete never adds memory.
    fn push_free(&mut self, pos: u32) {
        if self.free.len() == self.free.capacity() {
            let room = self.slab.capacity() - self.free.len();
            self.free
                .reserve_exact(self.free.capacity().max(4).min(room));
        }
        self.free.push(pos);
    }

    /// Gives back slab space at the end once it is all free. A slot index
    /// stays (empty and complete): whoever asked for it will again.
    fn release_tail(&mut self) {
        if self.index.is_empty() {
            let keep = self.slot_index.is_some();
            self.clear();
            if keep {
                self.slot_index = Some(Box::new(SlotIndex::new(0, self.last_walk)));
            }
        }
    }

    /// Bytes this store holds: entries (rounded as the allocator does), the
    /// slab, the free list (charged for every slot: see `push_free`), the
    /// index, the eviction order, the per-slot counts and the slot index.
    /// Close to what the allocator really uses, and never more after a
    /// delete than before.
    pub fn memory(&self) -> usize {
        self.entry_bytes
            + self.lazy_bytes
            + self.slab.memory()
            + self.slab.capacity() * FREE_SLOT_BYTES
            + self.index.allocation_size()
            + self.order.as_ref().map_or(0, Order::memory)
            + self.slot_keys.allocation_size()
            + self.slot_index_memory()
    }

    /// Bytes of the slot index (0 without one).
    pub fn slot_index_memory(&self) -> usize {
        let (slots, table) = (self.slab.capacity(), self.slab.table_memory());
        self.slot_index
            .as_ref()
            .map_or(0, |ix| ix.memory(slots, table))
    }

    /// Upper bound of the bytes besides the entries that `n` more keys add
    /// to [`memory`](Self::memory): the slab chunks they need (with each
    /// slot's free-list and eviction-order bytes), the index's growth and
    /// the per-slot counts' (at most one new slot per key), and with a
    /// slot index its links for those slab chunks and its heads.
    pub fn insert_growth(&self, n: usize) -> usize {
        let (slots, slab) = self.slab.growth_for(n.saturating_sub(self.free.len()));
        let per_slot = FREE_SLOT_BYTES + self.order.as_ref().map_or(0, Order::slot_bytes);
        let (sk_len, sk_cap) = (self.slot_keys.len(), self.slot_keys.capacity());
        let slot_counts =
            table_growth::<(u16, u32)>(sk_len, sk_cap, self.slot_keys.allocation_size(), n);
        let slot_index = self.slot_index.as_ref().map_or(0, |ix| {
            // The links' chunk table grows as the slab's does.
            let table = slab - slots * std::mem::size_of::<Option<Entry>>();
            slots * SlotIndex::LINK_BYTES + table + ix.heads_growth(sk_len, n)
        });
        slab + slots * per_slot + self.index.growth(n) + slot_counts + slot_index
    }

    /// True while a slot index exists (built or being built).
    pub fn has_slot_index(&self) -> bool {
        self.slot_index.is_some()
    }

    /// Starts a slot index (nothing linked yet: see
    /// [`build_slot_index`](Self::build_slot_index)); its bytes count in
    /// [`memory`](Self::memory) at once, for all of the slab.
    pub fn start_slot_index(&mut self) {
        if self.slot_index.is_none() {
            let ix = SlotIndex::new(self.slot_keys.len(), self.last_walk);
            self.slot_index = Some(Box::new(ix));
        }
    }

    /// True once the slot index links every key.
    #[cfg(test)]
    pub fn slot_index_complete(&self) -> bool {
        let len = self.slab.len();
        self.slot_index
            .as_ref()
            .is_some_and(|ix| ix.is_complete(len))
    }

    /// Forgets the slot index (and its bytes).
    pub fn drop_slot_index(&mut self) {
        if let Some(ix) = self.slot_index.take() {
            self.last_walk = ix.last_walk();
        }
    }

    /// Links up to `max` more slab positions into the slot index; true once
    /// it is complete (false if there is none).
    pub fn build_slot_index(&mut self, max: usize) -> bool {
        let Some(ix) = &mut self.slot_index else {
            return false;
        };
        let slab = &self.slab;
        ix.build(slab.len(), max, |pos| {
            slab[pos]
                .as_ref()
                .map(|e| corekv_router::hash_slot(e.key()))
        })
    }

    /// Up to `count` keys of `slot` that `keep` accepts, at most one
    /// step's worth, from the complete slot index: from the start, or where
    /// `walk` stopped. `None` if the index is missing or incomplete or the
    /// walk was dropped.
    pub fn walk_slot(
        &mut self,
        slot: u16,
        walk: Option<u64>,
        count: usize,
        keep: impl FnMut(&[u8]) -> bool,
    ) -> Option<SlotWalk> {
        let slab = &self.slab;
        let ix = self.slot_index.as_mut()?;
        if !ix.is_complete(slab.len()) {
            return None;
        }
        ix.walk(slot, walk, count, |pos| key_of(slab, pos), keep)
    }

    /// Removes every key like [`clear`](Self::clear), but hands the
    /// entries back instead of freeing them (a million frees is a stall;
    /// `FLUSHALL` frees them in steps), with the bytes they hold.
    /// Queues a removed big collection for [`free_lazy`](Self::free_lazy).
    pub fn adopt_lazy(&mut self, big: Box<coll::Big>) {
        self.lazy_bytes += big.memory();
        self.lazy.push(big);
    }

    pub fn take_entries(&mut self) -> (Slab<Entry>, usize) {
        let bytes = self.entry_bytes + self.slab.memory();
        let slab = std::mem::take(&mut self.slab);
        self.clear();
        (slab, bytes)
    }

    /// Removes every key and returns the memory; forgets the slot index.
    pub fn clear(&mut self) {
        if let Some(order) = &mut self.order {
            order.clear();
        }
        self.entry_bytes = 0;
        self.collections = 0;
        self.index = Index::default();
        self.slab = Slab::default();
        self.free = Vec::new();
        self.slot_keys = hashbrown::HashMap::default();
        self.drop_slot_index();
    }

    /// Up to `count` keys from slab position `from` on, visiting at most
    /// `count * 10` positions so a sparse slab cannot stall the worker.
    pub fn scan(&self, from: usize, count: usize, mut keep: impl FnMut(&[u8]) -> bool) -> ScanStep {
        let count = count.max(1);
        let mut keys = Vec::new();
        let end = self
            .slab
            .len()
            .min(from.saturating_add(count.saturating_mul(10)));
        let mut pos = from.min(self.slab.len());
        while pos < end && keys.len() < count {
            if let Some(e) = &self.slab[pos] {
                if keep(e.key()) {
                    keys.push(e.key().into());
                }
            }
            pos += 1;
        }
        let next = (pos < self.slab.len()).then_some(pos);
        ScanStep { keys, next }
    }

    /// Every key, in slab order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.slab.iter().flatten().map(Entry::key)
    }

    /// A random key for which `live` holds (`RANDOMKEY`), from `seed`: a
    /// few random slab positions first; when they all miss (a sparse slab,
    /// many keys past their TTL) one walk round the slab from the last,
    /// so a live key is always found if there is one.
    pub fn random_key(&self, seed: u64, mut live: impl FnMut(&[u8]) -> bool) -> Option<&[u8]> {
        const PROBES: usize = 32;
        let n = self.slab.len();
        if self.is_empty() || n == 0 {
            return None;
        }
        let mut x = seed | 1;
        let mut at = 0;
        for _ in 0..PROBES {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            at = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16) as usize % n;
            if let Some(e) = &self.slab[at] {
                if live(e.key()) {
                    return Some(self.slab[at].as_ref()?.key());
                }
            }
        }
        let found = (at..n)
            .chain(0..at)
            .find(|&p| self.slab[p].as_ref().is_some_and(|e| live(e.key())))?;
        self.slab[found].as_ref().map(Entry::key)
    }

    /// `key`'s value, whether `APPEND` grew its entry, and the bytes the
    /// key costs the partition (`MEMORY USAGE`): its entry as the
    /// allocator sizes it, its slab word and free-list slot, its index
    /// slot (a `u32` and a control byte) and its eviction-order slot.
    pub fn usage(&self, key: &[u8]) -> Option<(&Entry, usize)> {
        let i = self.position(key)?;
        let e = self.slab[i as usize].as_ref()?;
        let fixed = std::mem::size_of::<usize>()
            + FREE_SLOT_BYTES
            + std::mem::size_of::<u32>()
            + 1
            + self.order.as_ref().map_or(0, Order::slot_bytes);
        Some((e, e.footprint() + fixed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_key_finds_every_key_and_only_live_ones() {
        let mut s = Store::default();
        assert_eq!(s.random_key(1, |_| true), None);
        for i in 0..50u32 {
            s.put(&i.to_be_bytes(), b"v");
        }
        let mut seen = std::collections::HashSet::new();
        for seed in 0..5000u64 {
            seen.insert(
                s.random_key(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), |_| true)
                    .unwrap()
                    .to_vec(),
            );
        }
        assert_eq!(seen.len(), 50);
        // Only one live key: found even when every probe misses.
        let only = 7u32.to_be_bytes();
        for seed in 0..100 {
            assert_eq!(s.random_key(seed, |k| k == only), Some(&only[..]));
        }
        assert_eq!(s.random_key(3, |_| false), None);
    }

    #[test]
    fn usage_grows_with_the_value() {
        let mut s = Store::default();
        s.put(b"k", b"1");
        let small = s.usage(b"k").unwrap().1;
        s.put(b"k", &[b'x'; 5000]);
        let (e, big) = s.usage(b"k").unwrap();
        let (value, grown) = (e.value(), e.is_grown());
        assert!(
            value.len() == 5000 && !grown && big >= small + 5000,
            "{small} {big}"
        );
        assert!(s.usage(b"nope").is_none());
    }

    #[test]
    fn put_get_overwrite_del() {
        let mut s = Store::default();
        assert_eq!(s.get(b"a"), None);
        s.put(b"a", b"1");
        assert_eq!(s.get(b"a"), Some(&b"1"[..]));
        s.put(b"a", b"2");
        assert_eq!(s.get(b"a"), Some(&b"2"[..]));
        s.put(b"a", b"longer");
        assert_eq!(s.get(b"a"), Some(&b"longer"[..]));
        s.put(b"b", b"x");
        assert_eq!(s.len(), 2);
        assert!(s.contains(b"b"));
        assert!(s.del(b"a"));
        assert!(!s.del(b"a"));
        assert_eq!(s.get(b"a"), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn memory_accounting_follows_the_data() {
        let mut s = Store::default();
        assert_eq!(s.memory(), 0);
        for i in 0..1000u32 {
            s.put(format!("key:{i:012}").as_bytes(), &[b'v'; 32]);
        }
        let full = s.memory();
        // 16-byte keys, 32-byte values: 48-byte entries (no header), plus
        // the slab's 1024 slots (8 bytes, and 4 of free list) and its chunk
        // table, and an index of 2048 buckets (4-byte positions and 1-byte
        // tags).
        assert!(full >= 1000 * (48 + 8 + 4 + 4), "{full}");
        assert!(
            full <= 1000 * 48 + 1024 * 12 + 256 + 2048 * 5 + 64 + 2048 * 9 + 64,
            "{full}"
        );
        s.put(b"key:000000000001", &[b'w'; 100]);
        assert_eq!(
            s.memory(),
            full + 128 - 48,
            "a bigger value costs its bytes"
        );
        for i in 0..1000u32 {
            s.del(format!("key:{i:012}").as_bytes());
        }
        assert_eq!(s.memory(), 0, "all returned once empty");
    }

    /// The bytes the entries hold, recounted one by one.
    fn recount_entry_bytes(s: &Store) -> usize {
        s.slab.iter().flatten().map(Entry::footprint).sum()
    }

    #[test]
    fn appends_and_sets_keep_values_and_exact_accounting() {
        let mut s = Store::default();
        s.enable_eviction(false);
        let mut model: std::collections::HashMap<Vec<u8>, Vec<u8>> = Default::default();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for step in 0..6_000u32 {
            let key = format!("k{}", next(12)).into_bytes();
            let key = if key.len() % 2 == 0 {
                key.repeat(100)
            } else {
                key
            };
            let len = [next(40), next(1100), next(5000)][next(3) as usize] as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (i as u32 + step) as u8).collect();
            match next(10) {
                0..=5 => {
                    let got = s.append(&key, &bytes);
                    let want = model.entry(key.clone()).or_default();
                    want.extend_from_slice(&bytes);
                    assert_eq!(got, want.len());
                }
                6 | 7 => {
                    s.put(&key, &bytes);
                    model.insert(key.clone(), bytes);
                    let i = s.position(&key).unwrap();
                    let e = s.slab[i as usize].as_ref().unwrap();
                    assert!(!e.is_grown(), "a SET makes an exact entry");
                }
                8 => assert_eq!(s.del(&key), model.remove(&key).is_some()),
                _ => {
                    // A GETRANGE-like read of a slice of the value.
                    let (a, b) = (next(6000) as usize, next(6000) as usize);
                    let range = |v: &[u8]| {
                        let a = a.min(v.len());
                        v[a..b.clamp(a, v.len())].to_vec()
                    };
                    let want = model.get(&key).map(|v| range(v));
                    assert_eq!(s.get(&key).map(range), want);
                }
            }
            assert_eq!(s.entry_bytes, recount_entry_bytes(&s), "step {step}");
            assert_eq!(s.value_len(&key), model.get(&key).map(Vec::len));
        }
        for (k, v) in &model {
            assert_eq!(s.get(k), Some(&v[..]));
        }
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for k in keys {
            s.del(&k);
        }
        assert_eq!(s.memory(), 0, "all returned once empty");
    }

    #[test]
    fn an_overwrite_gives_the_spare_room_back() {
        let mut s = Store::default();
        s.put(b"k", &[b'a'; 2000]);
        let exact = s.memory();
        assert_eq!(s.append(b"k", &[b'b'; 10]), 2010);
        assert!(s.memory() > exact + 1500, "room for as much again");
        s.put(b"k", &[b'c'; 2000]);
        assert_eq!(s.memory(), exact, "exact again after a SET");
        s.append(b"k", &[b'd'; 10]);
        // Same length as the grown value: replaced, not written in place.
        s.put(b"k", &[b'e'; 2010]);
        assert_eq!(s.entry_bytes, super::super::entry::size_class(8 + 1 + 2010));
    }

    #[test]
    fn deleting_a_missing_key_never_grows_the_index() {
        let mut s = Store::default();
        // Fill the index to its capacity: the next insert would grow it.
        let mut i = 0;
        while s.len() < s.index.capacity() || i < 10 {
            s.put(format!("k{i}").as_bytes(), b"v");
            i += 1;
        }
        let before = s.memory();
        for j in 0..100 {
            assert!(!s.del(format!("missing{j}").as_bytes()));
        }
        assert_eq!(s.memory(), before);
    }

    #[test]
    fn insert_growth_bounds_what_new_keys_add() {
        let cases = [None, Some(false), Some(true)].into_iter();
        for (lru, indexed) in cases.flat_map(|l| [(l, false), (l, true)]) {
            let mut s = Store::default();
            if let Some(lru) = lru {
                s.enable_eviction(lru);
            }
            if indexed {
                s.start_slot_index();
            }
            for i in 0..10_000u32 {
                let (n, before) = (1 + i as usize % 7, s.memory());
                let (bound, entries) = (s.insert_growth(n), s.entry_bytes);
                for j in 0..n {
                    s.put(format!("k{i}:{j}").as_bytes(), b"");
                }
                // (Less, when an insert finished moving a growing index
                // and freed its old table.)
                let added = s.memory().saturating_sub(before + s.entry_bytes - entries);
                assert!(added <= bound, "{lru:?} {indexed} {i}: {added} > {bound}");
                if i % 3 == 0 {
                    s.del(format!("k{}:0", i / 2).as_bytes());
                }
                // Building links keys and allocates links, but adds no
                // bytes: they were counted when the index started.
                let before = s.memory();
                s.build_slot_index(5);
                assert_eq!(s.memory(), before);
            }
        }
    }

    #[test]
    fn many_keys_with_churn() {
        let mut s = Store::default();
        for i in 0..10_000u32 {
            s.put(format!("k{i}").as_bytes(), &i.to_le_bytes());
        }
        for i in (0..10_000u32).step_by(2) {
            assert!(s.del(format!("k{i}").as_bytes()));
        }
        for i in 0..10_000u32 {
            let got = s.get(format!("k{i}").as_bytes());
            assert_eq!(got, (i % 2 == 1).then_some(&i.to_le_bytes()[..]));
        }
        // Freed slots are reused.
        let slab_len = s.slab.len();
        for i in 0..5_000u32 {
            s.put(format!("n{i}").as_bytes(), b"v");
        }
        assert_eq!(s.slab.len(), slab_len);
        assert_eq!(s.len(), 10_000);
    }

    #[test]
    fn scan_returns_every_key_present_throughout() {
        let mut s = Store::default();
        for i in 0..1000 {
            s.put(format!("stay{i}").as_bytes(), b"v");
        }
        let mut seen = std::collections::HashSet::new();
        let mut pos = 0;
        let mut round = 0;
        loop {
            let step = s.scan(pos, 17, |_| true);
            seen.extend(step.keys);
            // Churn during the scan: inserts (reusing freed slots and
            // growing the table), deletes.
            for j in 0..5 {
                s.put(format!("new{round}-{j}").as_bytes(), b"v");
            }
            s.del(format!("new{round}-0").as_bytes());
            s.del(format!("new{round}-1").as_bytes());
            round += 1;
            match step.next {
                Some(p) => pos = p,
                None => break,
            }
        }
        for i in 0..1000 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "stay{i} missed"
            );
        }
    }

    #[test]
    fn slot_counts_follow_inserts_deletes_and_clear() {
        let mut s = Store::default();
        let slot = |k: &str| corekv_router::hash_slot(k.as_bytes());
        for i in 0..300 {
            s.put(format!("{{tag}}{i}").as_bytes(), b"v");
            s.put(format!("k{i}").as_bytes(), b"v");
        }
        s.put(b"{tag}0", b"overwrite: no new key");
        assert_eq!(s.keys_in_slot(slot("{tag}")), 300);
        for i in 0..100 {
            assert!(s.del(format!("{{tag}}{i}").as_bytes()));
        }
        assert!(!s.del(b"{tag}0"), "already gone: not counted twice");
        assert_eq!(s.keys_in_slot(slot("{tag}")), 200);
        // Every slot's count matches a full recount.
        let mut recount = vec![0usize; 16384];
        for k in s.keys() {
            recount[usize::from(corekv_router::hash_slot(k))] += 1;
        }
        for (slot, n) in recount.iter().enumerate() {
            assert_eq!(s.keys_in_slot(slot as u16), *n, "slot {slot}");
        }
        s.clear();
        assert_eq!(s.keys_in_slot(slot("{tag}")), 0);
        s.put(b"{tag}x", b"v");
        assert_eq!(s.keys_in_slot(slot("{tag}")), 1);
    }

    #[test]
    fn scan_filter_and_bounded_work() {
        let mut s = Store::default();
        for i in 0..100 {
            s.put(format!("k{i}").as_bytes(), b"v");
        }
        let step = s.scan(0, 5, |k| k == b"k99");
        assert!(step.keys.is_empty(), "only 50 positions visited");
        assert_eq!(step.next, Some(50));
        assert_eq!(s.keys().count(), 100);
        s.clear();
        assert!(s.is_empty());
        assert!(s.scan(0, 10, |_| true).next.is_none());
    }

    /// Every key of each slot, by a full recount.
    fn recount(s: &Store) -> std::collections::HashMap<u16, Vec<Vec<u8>>> {
        let mut slots: std::collections::HashMap<u16, Vec<Vec<u8>>> = Default::default();
        for k in s.keys() {
            slots
                .entry(corekv_router::hash_slot(k))
                .or_default()
                .push(k.to_vec());
        }
        slots.values_mut().for_each(|keys| keys.sort());
        slots
    }

    /// Every key the slot index lists for `slot`, following walks.
    fn walk_all(s: &mut Store, slot: u16) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut walk = None;
        loop {
            let step = s.walk_slot(slot, walk, usize::MAX, |_| true).unwrap();
            keys.extend(step.keys.iter().map(|k| k.to_vec()));
            walk = step.walk;
            if walk.is_none() {
                keys.sort();
                return keys;
            }
        }
    }

    /// The model check: inserts, overwrites and deletes (keys of a few
    /// hash-tagged slots and scattered ones, free slab slots reused, the
    /// store emptied now and then) interleaved with build steps of a few
    /// positions; once complete, the index lists exactly each slot's keys,
    /// and its memory stays what the accounting says.
    #[test]
    fn prefetch_is_only_a_hint() {
        let mut s = Store::default();
        s.prefetch([&b"a"[..], b"b"].into_iter());
        for i in 0..5_000u32 {
            s.put(format!("k{i}").as_bytes(), &i.to_le_bytes());
        }
        s.put(b"long", &[7u8; 5_000]);
        // Present, absent, repeated, and more keys than one pass notes.
        let keys: Vec<Vec<u8>> = (0..200u32)
            .map(|i| format!("k{}", i * 37 % 6_000).into_bytes())
            .chain([b"long".to_vec(), b"long".to_vec(), Vec::new()])
            .collect();
        s.prefetch(keys.iter().map(Vec::as_slice));
        for k in &keys {
            let want = std::str::from_utf8(k)
                .ok()
                .and_then(|k| k.strip_prefix('k'))
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n < 5_000)
                .map(u32::to_le_bytes);
            match (k.as_slice(), s.get(k)) {
                (b"long", got) => assert_eq!(got, Some(&[7u8; 5_000][..])),
                (_, got) => assert_eq!(got, want.as_ref().map(|w| &w[..])),
            }
        }
        assert_eq!(s.len(), 5_001);
    }

    #[test]
    fn the_slot_index_lists_exactly_each_slots_keys() {
        let mut s = Store::default();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |below: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % below
        };
        let key = |i: u64| match i % 3 {
            0 => format!("{{t{}}}{i}", i % 4),
            _ => format!("k{i}"),
        };
        let mut checked = 0;
        for round in 0..20_000u32 {
            let k = key(next(3_000));
            match next(10) {
                0..=5 => s.put(k.as_bytes(), b"v"),
                6..=8 => _ = s.del(k.as_bytes()),
                _ if round % 500 == 0 => {
                    // Empty the store: a started index survives it.
                    let keys: Vec<Vec<u8>> = s.keys().map(<[u8]>::to_vec).collect();
                    keys.iter().for_each(|k| _ = s.del(k));
                }
                _ => {}
            }
            if round == 3_000 {
                s.start_slot_index();
            }
            s.build_slot_index(next(4) as usize);
            if round % 1_000 == 999 && s.slot_index_complete() {
                checked += 1;
                let model = recount(&s);
                for (&slot, keys) in &model {
                    assert_eq!(&walk_all(&mut s, slot), keys, "slot {slot}, round {round}");
                    assert_eq!(s.keys_in_slot(slot), keys.len());
                }
                let ix = s.slot_index.as_ref().unwrap();
                assert!(
                    ix.listed_slots().all(|slot| model.contains_key(&slot)),
                    "stale head"
                );
            }
        }
        assert!(s.slot_index_complete() && checked >= 10, "{checked} checks");
        let with_index = s.memory();
        s.drop_slot_index();
        assert!(with_index - s.memory() >= s.slab.capacity() * SlotIndex::LINK_BYTES);
    }
}
