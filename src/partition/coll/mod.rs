//! Hashes, sets, sorted sets and lists: collection values in the
//! partition's store.
//!
//! A collection lives in the store like a string: one `Entry` holding
//! the key, marked as a collection (see `entry.rs`), whose value bytes are
//! the collection's *payload*:
//!
//! * `[type][enc][count: u32 LE][body]` for the small forms, self-contained
//!   bytes inside the key's own allocation: `PACK` (elements one after
//!   another, see [`pack`]; a hash's fields alternate with their values,
//!   a sorted set's members with their scores) and `INTSET` (a set of
//!   integers, sorted, 8 bytes each);
//! * `[type][BIG][address: 8 bytes]` for the big forms, a pointer to a
//!   boxed [`Big`] (a [`Dict`] for hashes and sets, a [`zset::ZSet`] for
//!   sorted sets) that the entry owns:
//!   dropping the entry drops it ([`release`]).
//!
//! A small form becomes big past the `*-max-*` limits ([`Limits`]), as
//! Redis converts a listpack to a hashtable, and never goes back (Redis
//! does not either). Because a small payload has no pointers, a copy of
//! its bytes is a copy of the collection; a big one is written out as a
//! *dump* (`[type][DUMP][count][elements]`) to cross partitions or to be
//! copied ([`dump`], [`restore`]).

pub mod dict;
pub mod hash;
pub mod list;
#[cfg(test)]
mod list_tests;
pub mod pack;
pub mod set;
#[cfg(test)]
mod set_tests;
#[cfg(test)]
mod testing;
// Sorted sets.
pub mod score;
pub mod zset;
#[cfg(test)]
mod zset_tests;

use super::entry::Entry;
pub use dict::Dict;

pub const HASH: u8 = 1;
pub const SET: u8 = 2;
pub const LIST: u8 = 4;
pub const ZSET: u8 = 3;

pub const PACK: u8 = 0;
pub const INTSET: u8 = 1;
pub const BIG: u8 = 2;
/// A big collection written out as elements (never stored).
pub const DUMP: u8 = 3;
/// A big collection whose structure was handed to the lazy free queue:
/// the entry owns nothing any more.
pub const DETACHED: u8 = 4;

/// Bytes before the body of a small form (or of a dump).
pub const HEADER: usize = 6;
const BIG_LEN: usize = 2 + 8;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The value types a key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Hash,
    Set,
    List,
    ZSet,
}

impl Kind {
    /// `TYPE`'s answer.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Hash => "hash",
            Self::Set => "set",
            Self::List => "list",
            Self::ZSet => "zset",
        }
    }

    fn of(code: u8) -> Self {
        match code {
            HASH => Self::Hash,
            LIST => Self::List,
            ZSET => Self::ZSet,
            _ => Self::Set,
        }
    }
}

/// When a small form becomes big: Redis's `*-max-*` settings (its
/// defaults, as `CONFIG GET` on redis-server 7.0 answers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
    /// `list-max-listpack-size`: a negative size class (-2: 8 KiB) or a
    /// count of elements.
    pub list_size: i64,
    /// `zset-max-listpack-entries`, `zset-max-listpack-value`.
    pub zset_entries: usize,
    pub zset_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            hash_entries: 512,
            hash_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
            list_size: -2,
            zset_entries: 128,
            zset_value: 64,
        }
    }
}

/// The partition's random numbers (xorshift64*), for `HRANDFIELD`,
/// `SRANDMEMBER`, `SPOP`.
pub struct Rng<'a>(pub &'a mut u64);

impl Rng<'_> {
    pub fn draw(&mut self) -> u64 {
        let mut x = *self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.draw() >> 11) % n as u64) as usize
    }

    /// `min(k, n)` distinct numbers of `0..n`, in random order.
    pub fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// The big form of a collection.
pub enum Big {
    Hash(Dict),
    Set(Dict),
    List(super::quicklist::QuickList),
    /// A sorted set's dict and index, boxed (the others stay small).
    ZSet(Box<zset::ZSet>),
}

impl Big {
    pub fn len(&self) -> usize {
        match self {
            Self::Hash(d) | Self::Set(d) => d.len(),
            Self::List(q) => q.len(),
            Self::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                Self::Hash(d) | Self::Set(d) => d.memory(),
                Self::List(q) => std::mem::size_of_val(q) + q.memory(),
                Self::ZSet(z) => z.memory(),
            }
    }

    /// Frees up to `max` elements; the number freed (0 once empty).
    pub fn drain_some(&mut self, max: usize) -> usize {
        match self {
            Self::Hash(d) | Self::Set(d) => d.drain_some(max),
            Self::List(q) => q.drain_some(max),
            Self::ZSet(z) => z.drain_some(max),
        }
    }
}

/// A payload read for what it holds.
pub enum View<'a> {
    Pack { count: usize, body: &'a [u8] },
    IntSet { body: &'a [u8] },
    Big(&'a Big),
}

fn count_of(payload: &[u8]) -> usize {
    u32::from_le_bytes(payload[2..6].try_into().expect("4 bytes")) as usize
}

fn big_ptr(payload: &[u8]) -> *mut Big {
    let addr = usize::from_le_bytes(payload[2..BIG_LEN].try_into().expect("8 bytes"));
    std::ptr::with_exposed_provenance_mut(addr)
}

/// The type of a collection payload.
pub fn kind(payload: &[u8]) -> Kind {
    Kind::of(payload[0])
}

pub fn view(payload: &[u8]) -> View<'_> {
    match payload[1] {
        BIG => {
            // SAFETY: a BIG payload holds the address of a live boxed Big
            // that its entry owns; the borrow of the payload keeps the
            // entry (and so the Big) alive and unchanged.
            View::Big(unsafe { &*big_ptr(payload) })
        }
        INTSET => View::IntSet {
            body: &payload[HEADER..],
        },
        DETACHED => View::Pack {
            count: 0,
            body: &[],
        },
        _ => View::Pack {
            count: count_of(payload),
            body: &payload[HEADER..],
        },
    }
}

/// The big form behind a BIG payload, writable.
pub fn big_mut(payload: &mut [u8]) -> Option<&mut Big> {
    (payload[1] == BIG).then(|| {
        // SAFETY: as in `view`; `&mut` to the payload makes this unique.
        unsafe { &mut *big_ptr(payload) }
    })
}

/// True if the payload is a big form (a table, an index, a quicklist).
pub fn is_big(payload: &[u8]) -> bool {
    payload[1] == BIG
}

/// Bytes a big form takes when it is made, beyond what its elements take:
/// the box, a table's first slab chunk and buckets, a sorted set's first
/// index node (`big_base_bounds_a_new_big_form` checks it).
pub const BIG_BASE: usize = 4096;

/// What a write to a hash, set or sorted set of `total` elements (after it) may
/// add beyond its new elements' own bytes: a small one may convert (the
/// big form's [`BIG_BASE`], and every element then taking `per_element`
/// bytes); a big one only
/// grows its table, which may double (a `u32` and a control byte per
/// bucket, buckets at most 7/8 full: under 6 bytes an element) while its
/// slab adds a chunk (at most 8 bytes an element, or a fixed chunk of 4096
/// words) and grows its chunk table.
pub fn convert_growth(total: usize, per_element: usize, big: bool) -> usize {
    if big {
        // A big table grows incrementally: the old one stays until its
        // positions moved (`partition/index.rs`), so both count.
        total.saturating_mul(32).saturating_add(40 * 1024)
    } else {
        total.saturating_mul(per_element).saturating_add(BIG_BASE)
    }
}

/// Elements (pairs for hashes) in the collection.
pub fn len(payload: &[u8]) -> usize {
    match view(payload) {
        View::Pack { count, .. } => count,
        View::IntSet { body } => body.len() / 8,
        View::Big(b) => b.len(),
    }
}

/// Redis's name for the encoding (`OBJECT ENCODING`).
pub fn encoding(payload: &[u8]) -> &'static str {
    match (payload[0], payload[1]) {
        (_, INTSET) => "intset",
        (LIST, BIG) => "quicklist",
        (ZSET, BIG) => "skiplist",
        (_, BIG) => "hashtable",
        _ => "listpack",
    }
}

/// Heap bytes the payload owns outside its entry (a big form's).
pub fn heap_bytes(payload: &[u8]) -> usize {
    match view(payload) {
        View::Big(b) => b.memory(),
        _ => 0,
    }
}

/// The payload header of a small form.
pub fn header(kind: u8, enc: u8, count: usize) -> [u8; HEADER] {
    let n = u32::try_from(count)
        .expect("under 2^32 elements")
        .to_le_bytes();
    [kind, enc, n[0], n[1], n[2], n[3]]
}

/// Sets the count of a small payload.
pub fn set_count(payload: &mut [u8], count: usize) {
    payload[2..6].copy_from_slice(&u32::try_from(count).expect("count").to_le_bytes());
}

/// The payload of a big form: the entry takes ownership of `big`.
pub fn big_payload(kind: u8, big: Box<Big>) -> [u8; BIG_LEN] {
    let addr = Box::into_raw(big).expose_provenance();
    let mut p = [0; BIG_LEN];
    p[0] = kind;
    p[1] = BIG;
    p[2..].copy_from_slice(&addr.to_le_bytes());
    p
}

/// Drops what a payload owns (its entry is being dropped).
pub fn release(payload: &mut [u8]) {
    drop(detach(payload));
}

/// Takes the big form out of a payload (which then owns nothing), to be
/// freed elsewhere in steps.
pub fn detach(payload: &mut [u8]) -> Option<Box<Big>> {
    if payload.len() < BIG_LEN || payload[1] != BIG {
        return None;
    }
    let ptr = big_ptr(payload);
    payload[1] = DETACHED;
    // SAFETY: the payload owned this box (made by `big_payload`); marking
    // it detached above makes this the only owner.
    Some(unsafe { Box::from_raw(ptr) })
}

/// The collection written as self-contained bytes: the small forms as
/// they are, a big one as its elements (`DUMP`). [`restore`] reads it
/// back.
pub fn dump(payload: &[u8]) -> Vec<u8> {
    let View::Big(big) = view(payload) else {
        return payload.to_vec();
    };
    let mut out = header(payload[0], DUMP, big.len()).to_vec();
    match big {
        Big::Hash(d) => {
            for (f, v) in d.iter() {
                pack::push(&mut out, f);
                pack::push(&mut out, v);
            }
        }
        Big::Set(d) => {
            for (m, _) in d.iter() {
                pack::push(&mut out, m);
            }
        }
        Big::List(q) => {
            for e in q.iter() {
                pack::push(&mut out, e);
            }
        }
        Big::ZSet(z) => zset::dump_into(z, &mut out),
    }
    out
}

/// True if `bytes` is a well-formed dump or small payload (a handoff
/// transaction's states come from this process, but a check is cheap).
pub fn is_dump(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER
        && matches!(bytes[0], HASH | SET | LIST | ZSET)
        && matches!(bytes[1], PACK | INTSET | DUMP)
}

/// A new entry for `key` holding the collection a [`dump`] wrote, in the
/// form it had (a dump of a big form makes a big form again).
pub fn restore(key: &[u8], dump: &[u8]) -> Entry {
    if dump[1] != DUMP {
        return Entry::collection(key, dump);
    }
    let items = pack::Iter::new(&dump[HEADER..]);
    let big = match dump[0] {
        HASH => {
            let mut d = Dict::with_capacity(count_of(dump));
            let mut it = items;
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                d.insert(f, v);
            }
            Big::Hash(d)
        }
        LIST => {
            let mut q = super::quicklist::QuickList::new(Limits::default().list_size);
            for e in items {
                q.push_back(e);
            }
            Big::List(q)
        }
        ZSET => zset::restore_big(count_of(dump), &dump[HEADER..]),
        _ => {
            let mut d = Dict::with_capacity(count_of(dump));
            for m in items {
                d.insert(m, b"");
            }
            Big::Set(d)
        }
    };
    Entry::collection(key, &big_payload(dump[0], Box::new(big)))
}

/// `old`'s collection under a new key (`RENAME`): a big form moves by
/// its pointer.
pub fn rekey(key: &[u8], mut old: Entry) -> Entry {
    let kind = old.value()[0];
    match detach(old.value_mut()) {
        Some(big) => Entry::collection(key, &big_payload(kind, big)),
        None => Entry::collection(key, old.value()),
    }
}

/// Upper bound of the bytes storing a [`dump`] under a `key_len`-byte
/// key adds: the payload, and per element an allocation, a table slot
/// and a slab word if it becomes big again.
pub fn restore_growth(key_len: usize, dump: &[u8]) -> usize {
    let elements = if dump.len() >= HEADER {
        count_of(dump)
    } else {
        0
    };
    dump.len()
        .saturating_mul(2)
        .saturating_add(elements.saturating_mul(64))
        .saturating_add(key_len + 256)
}

/// `[cursor "0", []]`: a scan of a missing key.
pub fn empty_scan(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*2\r\n$1\r\n0\r\n*0\r\n");
}

/// The options of `HSCAN`/`SSCAN`/`ZSCAN` after the cursor, as Redis's
/// `scanGenericCommand` reads them: the count (default 10) and the
/// pattern (`*` alone is none).
pub fn scan_options<'a>(opts: &[&'a [u8]]) -> Result<(usize, Option<&'a [u8]>), &'static str> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 0;
    while i < opts.len() {
        let more = i + 1 < opts.len();
        if opts[i].eq_ignore_ascii_case(b"count") && more {
            let n = super::ops::parse_i64(opts[i + 1]).ok_or(super::ops::NOT_INTEGER)?;
            if n < 1 {
                return Err("ERR syntax error");
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opts[i].eq_ignore_ascii_case(b"match") && more {
            pattern = (opts[i + 1] != b"*").then_some(opts[i + 1]);
        } else {
            return Err("ERR syntax error");
        }
        i += 2;
    }
    Ok((count, pattern))
}

/// Most elements a negative count (`HRANDFIELD`, `SRANDMEMBER`) may ask
/// for: Redis would build any size of reply; corekv refuses one that
/// could only exhaust memory (README, "What differs from Redis").
pub const MAX_REPEATS: usize = 1 << 24;

/// Elements a lazy free step may free at once (about 0.3 ms).
pub const FREE_STEP: usize = 16_384;
/// A big form of at most this many elements is freed at once.
pub const FREE_AT_ONCE: usize = 1024;
