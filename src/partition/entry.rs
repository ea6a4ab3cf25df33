//! One key/value pair in one allocation behind one tagged word.
//!
//! Three forms, told apart by the word's two low bits:
//!
//! * **short** (bit 0 set; keys under 256 bytes, values under 1 KiB, the
//!   common cache entry): the allocation is just `[key bytes][value bytes]`,
//!   and the word packs the address with both lengths:
//!   `[value_len: 10][key_len: 8][address >> 3: 45][1]`. A 16-byte key with
//!   a 32-byte value is one 48-byte allocation.
//! * **long** (bits `00`; anything else, or an address the short form
//!   cannot pack: not 8-aligned or above 2^48): the word is the address
//!   shifted left by one, and the allocation starts with a header,
//!   `[key_len: u32][value_len: u32][key bytes][value bytes]`.
//! * **collection** (bits `100`): as long, but the value bytes are a
//!   hash's, set's, sorted set's or list's payload (`coll`), which may
//!   own a big form elsewhere: dropping the entry drops it.
//! * **grown** (bits `10`; a value that `APPEND` made long): as long, with
//!   room for the value to grow in place: `[key_len: u32][value_len: u32]
//!   [capacity: u32][key bytes][value bytes][spare]`. Its capacity grows
//!   geometrically ([`grown_capacity`]: doubling up to 1 MiB as Redis's
//!   strings do, then by a quarter), so repeated appends copy each byte a
//!   bounded number of times. Any other write (`SET`, `INCR`) makes an
//!   exact entry again.
//!
//! Short allocations ask for alignment 1 (nothing in them needs more):
//! every allocator serves that from its exact size classes. mimalloc's
//! small blocks are 8-aligned anyway, which the short form checks rather
//! than assumes. Long and grown allocations ask for 8 (their size classes
//! are 8-aligned already), which keeps bit 1 of their word free for the tag.
//!
//! The slab holds the 8-byte word: no second allocation, no pointers for
//! the lengths. This is the only `unsafe` code of the partition.

use super::arena;
use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::marker::PhantomData;
use std::num::NonZeroUsize;

const HEADER: usize = 8;
const GROWN_HEADER: usize = 12;
const SHORT_ALIGN: usize = 1;
const LONG_ALIGN: usize = 8;
const SHORT: usize = 1;
const GROWN: usize = 2;
const COLL: usize = 4;
const ADDR_BITS: u32 = 45;
const KEY_BITS: u32 = 8;
const VALUE_BITS: u32 = 10;
const KEY_SHIFT: u32 = 1 + ADDR_BITS;
const VALUE_SHIFT: u32 = KEY_SHIFT + KEY_BITS;
const _: () = assert!(VALUE_SHIFT + VALUE_BITS == usize::BITS);

/// Longest key the short form holds, plus one.
pub const SHORT_KEY_LIMIT: usize = 1 << KEY_BITS;
/// Longest value the short form holds, plus one.
pub const SHORT_VALUE_LIMIT: usize = 1 << VALUE_BITS;
/// Longest value any entry holds (lengths are `u32`).
pub const MAX_VALUE: usize = u32::MAX as usize;
/// A grown value's capacity doubles up to this (Redis's
/// `SDS_MAX_PREALLOC`), then grows by a quarter, at least this much.
const MAX_PREALLOC: usize = 1 << 20;

/// Starts loading the cache line at `p` (a hint: `p` need not be valid,
/// nothing is read through it).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// An owned key/value pair. Not `Send`: it never leaves its partition.
pub struct Entry {
    word: NonZeroUsize,
    _not_send: PhantomData<*mut u8>,
}

/// Where an entry's bytes are and how they are laid out.
struct Parts {
    ptr: *mut u8,
    /// Bytes before the key (0, [`HEADER`] or [`GROWN_HEADER`]).
    header: usize,
    key_len: usize,
    value_len: usize,
    /// Room for the value: `value_len` but in the grown form.
    capacity: usize,
}

impl Parts {
    fn layout(&self) -> Layout {
        layout(self.header, self.key_len, self.capacity)
    }

    /// Where the value starts.
    fn value_ptr(&self) -> *mut u8 {
        // SAFETY: the value follows the header and key in the allocation.
        unsafe { self.ptr.add(self.header + self.key_len) }
    }
}

impl Entry {
    /// A new entry holding copies of `key` and `value`.
    ///
    /// Panics if the key or value is 4 GiB or longer (far above any
    /// request limit; `APPEND` is refused before it gets there).
    pub fn new(key: &[u8], value: &[u8]) -> Self {
        Self::joined(key, value, b"")
    }

    /// A new exact entry holding `key` and the value `head` + `tail`.
    fn joined(key: &[u8], head: &[u8], tail: &[u8]) -> Self {
        let value_len = head.len() + tail.len();
        if key.len() < SHORT_KEY_LIMIT && value_len < SHORT_VALUE_LIMIT {
            let raw = allocate(layout(0, key.len(), value_len));
            let addr = raw.expose_provenance();
            if addr & 7 == 0 && addr >> (ADDR_BITS + 3) == 0 {
                // SAFETY: `raw` is valid for the key and both value parts
                // (at least 1 byte); the sources do not overlap it.
                unsafe { fill(raw, &[key, head, tail]) };
                let word =
                    SHORT | (addr >> 3) << 1 | key.len() << KEY_SHIFT | value_len << VALUE_SHIFT;
                return Self::from_word(word);
            }
            // An address the word cannot pack (not seen with mimalloc on
            // 48-bit address spaces): give it back, use the long form.
            // SAFETY: allocated just above with this layout.
            unsafe { free(raw, layout(0, key.len(), value_len)) };
        }
        Self::long(key, head, tail, None)
    }

    /// A long entry (`capacity`: grown, with room for that much value)
    /// holding `key` and the value `head` + `tail`.
    fn long(key: &[u8], head: &[u8], tail: &[u8], capacity: Option<usize>) -> Self {
        let value_len = head.len() + tail.len();
        let header = if capacity.is_some() {
            GROWN_HEADER
        } else {
            HEADER
        };
        let raw = allocate(layout(header, key.len(), capacity.unwrap_or(value_len)));
        // SAFETY: `raw` is valid for the header, the key and at least
        // `value_len` value bytes; the sources do not overlap it.
        unsafe {
            write_header(raw, key.len(), value_len, capacity);
            fill(raw.add(header), &[key, head, tail]);
        }
        Self {
            word: long_word(raw, capacity.is_some()),
            _not_send: PhantomData,
        }
    }

    /// A new collection entry: `key` with the collection `payload` (see
    /// `coll`), which it owns from now on.
    pub fn collection(key: &[u8], payload: &[u8]) -> Self {
        let e = Self::long(key, payload, b"", None);
        let word = e.word.get() | COLL;
        std::mem::forget(e);
        Self::from_word(word)
    }

    /// True if the entry holds a collection's payload, not a string.
    #[inline]
    pub fn is_collection(&self) -> bool {
        self.word.get() & (SHORT | COLL) == COLL
    }

    /// Replaces a collection entry's payload (the old one must have been
    /// given up: a big form it pointed at belongs to the new payload or
    /// was freed).
    pub fn replace_payload(&mut self, payload: &[u8]) {
        debug_assert!(self.is_collection());
        let p = self.parts();
        let new = layout(HEADER, p.key_len, payload.len());
        // SAFETY: the block was allocated with `p.layout()` (a collection
        // is long and exact); the new size is not zero and fits `isize`.
        let raw = unsafe { reallocate(p.ptr, p.layout(), new) };
        // SAFETY: `raw` holds the header and key (moved by realloc) and
        // room for the payload, which the caller borrows from elsewhere.
        unsafe {
            write_header(raw, p.key_len, payload.len(), None);
            raw.add(HEADER + p.key_len)
                .copy_from_nonoverlapping(payload.as_ptr(), payload.len());
        }
        self.word = NonZeroUsize::new(long_word(raw, false).get() | COLL).expect("not null");
    }

    fn from_word(word: usize) -> Self {
        Self {
            word: NonZeroUsize::new(word).expect("allocations are not null"),
            _not_send: PhantomData,
        }
    }

    /// The address of the allocation, whatever the form.
    #[inline]
    fn addr(&self) -> usize {
        let word = self.word.get();
        if word & SHORT != 0 {
            ((word >> 1) & ((1 << ADDR_BITS) - 1)) << 3
        } else {
            (word & !(GROWN | COLL)) >> 1
        }
    }

    fn parts(&self) -> Parts {
        let word = self.word.get();
        if word & SHORT != 0 {
            let value_len = word >> VALUE_SHIFT;
            return Parts {
                ptr: std::ptr::with_exposed_provenance_mut(self.addr()),
                header: 0,
                key_len: (word >> KEY_SHIFT) & ((1 << KEY_BITS) - 1),
                value_len,
                capacity: value_len,
            };
        }
        let ptr: *mut u8 = std::ptr::with_exposed_provenance_mut(self.addr());
        // SAFETY: a long or grown entry starts with its header.
        let [key_len, value_len] = unsafe { [read_u32(ptr), read_u32(ptr.add(4))] };
        let (header, capacity) = if word & GROWN != 0 {
            // SAFETY: a grown entry's header holds its capacity third.
            (GROWN_HEADER, unsafe { read_u32(ptr.add(8)) })
        } else {
            (HEADER, value_len)
        };
        Parts {
            ptr,
            header,
            key_len,
            value_len,
            capacity,
        }
    }

    /// Asks the CPU to start loading the entry's first bytes (its key), so
    /// that a lookup coming soon does not wait for them: a hint, with no
    /// effect on what any code reads.
    #[inline]
    pub fn prefetch(&self) {
        prefetch(std::ptr::with_exposed_provenance(self.addr()));
    }

    pub fn key(&self) -> &[u8] {
        let p = self.parts();
        // SAFETY: the key bytes follow the header and live as long as self.
        unsafe { std::slice::from_raw_parts(p.ptr.add(p.header), p.key_len) }
    }

    pub fn value(&self) -> &[u8] {
        let p = self.parts();
        // SAFETY: the value bytes follow the key and live as long as self.
        unsafe { std::slice::from_raw_parts(p.value_ptr(), p.value_len) }
    }

    /// The value, writable in place (its length cannot change).
    pub fn value_mut(&mut self) -> &mut [u8] {
        let p = self.parts();
        // SAFETY: as `value`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(p.value_ptr(), p.value_len) }
    }

    /// True if the entry has room past its value (`APPEND` grew it): a
    /// write that replaces the value makes an exact entry instead.
    pub fn is_grown(&self) -> bool {
        // Both low bits: in a short word bit 1 is part of the address.
        self.word.get() & (SHORT | GROWN) == GROWN
    }

    /// Appends `tail` to the value: in place when the grown form has room;
    /// else a small result is copied into an exact entry, and a larger one
    /// moves to the grown form with room to spare (see
    /// [`grown_capacity`]), so repeated appends cost amortized O(appended
    /// bytes).
    ///
    /// Panics if the value would reach 4 GiB (the partition refuses that
    /// first).
    pub fn append(&mut self, tail: &[u8]) {
        if tail.is_empty() {
            return;
        }
        let p = self.parts();
        let value_len = p.value_len + tail.len();
        assert!(value_len <= MAX_VALUE, "value under 4 GiB");
        if self.is_grown() && value_len <= p.capacity {
            // SAFETY: the allocation has `capacity` value bytes, the first
            // `p.value_len` in use; `tail` is not inside them (the caller
            // borrows it from elsewhere while `self` is borrowed mutably).
            unsafe {
                p.value_ptr()
                    .add(p.value_len)
                    .copy_from_nonoverlapping(tail.as_ptr(), tail.len());
                p.ptr.add(4).cast::<[u8; 4]>().write(len32(value_len));
            }
            return;
        }
        let grown = if p.key_len < SHORT_KEY_LIMIT && value_len < SHORT_VALUE_LIMIT {
            // At most 1 KiB to copy: stay exact (and headerless).
            Self::joined(self.key(), self.value(), tail)
        } else if self.is_grown() {
            // SAFETY: `p` describes this grown entry.
            return unsafe { self.regrow(&p, tail) };
        } else {
            let cap = grown_capacity(value_len);
            Self::long(self.key(), self.value(), tail, Some(cap))
        };
        *self = grown;
    }

    /// Moves a grown entry to a bigger block (`realloc`: in place when the
    /// allocator can) and appends `tail`.
    ///
    /// # Safety
    /// `self` must be grown and `p` its parts.
    unsafe fn regrow(&mut self, p: &Parts, tail: &[u8]) {
        let value_len = p.value_len + tail.len();
        let cap = grown_capacity(value_len);
        let new = layout(GROWN_HEADER, p.key_len, cap);
        // SAFETY: the block was allocated with `p.layout()`; the new size
        // is not zero and fits `isize` (checked by `layout`).
        let raw = unsafe { reallocate(p.ptr, p.layout(), new) };
        // SAFETY: `raw` holds the header, key and old value (moved by
        // realloc) with room for `cap` value bytes; `tail` is elsewhere.
        unsafe {
            let end = raw.add(GROWN_HEADER + p.key_len + p.value_len);
            end.copy_from_nonoverlapping(tail.as_ptr(), tail.len());
            write_header(raw, p.key_len, value_len, Some(cap));
        }
        // The old word is stale (the block may have moved and is no longer
        // ours to free): replaced, not dropped.
        self.word = long_word(raw, true);
    }

    /// True if this entry uses the short form (no header in the allocation).
    #[cfg(test)]
    fn is_short(&self) -> bool {
        self.word.get() & SHORT != 0
    }

    /// Bytes the allocation really takes: rounded up to the allocator's size
    /// class (mimalloc's: 8, then 16-byte steps up to 128 bytes, then four
    /// classes per doubling), so the memory budget matches resident memory.
    /// A grown entry's spare room counts.
    /// A collection's big form (`coll::Big`) counts too.
    pub fn footprint(&self) -> usize {
        let own = block_size(self.parts().layout());
        if self.is_collection() {
            own + super::coll::heap_bytes(self.value())
        } else {
            own
        }
    }
}

/// The word of a long (or grown) entry at `raw`.
fn long_word(raw: *mut u8, grown: bool) -> NonZeroUsize {
    let addr = raw.expose_provenance();
    assert!(addr >> (usize::BITS - 1) == 0, "user-space address");
    debug_assert!(addr % LONG_ALIGN == 0);
    let word = addr << 1 | if grown { GROWN } else { 0 };
    NonZeroUsize::new(word).expect("allocations are not null")
}

/// Upper bound of the footprint of an entry holding a `key_len`-byte key
/// and a `value_len`-byte value, in either exact form (the header counted
/// even where the short form would not need it).
pub fn max_footprint(key_len: usize, value_len: usize) -> usize {
    block_of(
        HEADER.saturating_add(key_len).saturating_add(value_len),
        LONG_ALIGN,
    )
}

/// Upper bound of the footprint of an entry after an `APPEND` leaves a
/// `value_len`-byte value in it, whatever its form: the grown form's
/// capacity is at most [`grown_capacity`] of the length it was grown at,
/// which is at most `value_len`.
pub fn max_append_footprint(key_len: usize, value_len: usize) -> usize {
    let cap = grown_capacity(value_len);
    block_of(
        GROWN_HEADER.saturating_add(key_len).saturating_add(cap),
        LONG_ALIGN,
    )
}

/// The room a value grown to `len` bytes gets: twice that under 1 MiB (as
/// Redis's `sdsMakeRoomFor`), else a quarter more, at least 1 MiB more
/// (Redis adds 1 MiB, which its allocator's in-place growth makes cheap;
/// mimalloc's `realloc` copies, so the step must stay proportional for
/// the copies to be amortized O(appended bytes)); at most [`MAX_VALUE`].
/// Monotonic, which the memory bound relies on.
pub fn grown_capacity(len: usize) -> usize {
    let cap = if len < MAX_PREALLOC {
        len.saturating_mul(2)
    } else {
        len.saturating_add((len / 4).max(MAX_PREALLOC))
    };
    cap.min(MAX_VALUE).max(len)
}

/// The size class an allocation of `n` bytes lands in.
pub fn size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.next_multiple_of(16);
    }
    let power = 1usize << (usize::BITS - 1 - n.leading_zeros());
    n.next_multiple_of(power / 4)
}

/// The allocation of an entry: `header` bytes, then key and room for the
/// value; never empty (an empty key with an empty value still takes one
/// byte). Forms with a header are 8-aligned.
fn layout(header: usize, key_len: usize, value_cap: usize) -> Layout {
    let align = if header == 0 { SHORT_ALIGN } else { LONG_ALIGN };
    Layout::from_size_align((header + key_len + value_cap).max(1), align).expect("entry layout")
}

/// The bytes an entry's block of `layout` takes.
fn block_size(layout: Layout) -> usize {
    block_of(layout.size(), layout.align())
}

/// The bytes a block of `size` with alignment `align` takes: the arena's
/// classes from 129 bytes to 2 KiB (see `arena`), mimalloc's elsewhere.
fn block_of(size: usize, align: usize) -> usize {
    if arena::serves(size, align) {
        arena::block_size(size)
    } else {
        size_class(size)
    }
}

fn allocate(layout: Layout) -> *mut u8 {
    if arena::serves(layout.size(), layout.align()) {
        return arena::alloc(layout.size());
    }
    // SAFETY: `layout` has a non-zero size.
    let raw = unsafe { alloc(layout) };
    if raw.is_null() {
        handle_alloc_error(layout);
    }
    raw
}

/// Frees a block [`allocate`] returned.
///
/// # Safety
/// `raw` must come from [`allocate`] (or [`reallocate`]) with `layout`,
/// on this thread, and not be freed already.
unsafe fn free(raw: *mut u8, layout: Layout) {
    // SAFETY: guaranteed by the caller; the layout decides which allocator
    // the block came from, as in `allocate`.
    unsafe {
        if arena::serves(layout.size(), layout.align()) {
            arena::free(raw, layout.size());
        } else {
            dealloc(raw, layout);
        }
    }
}

/// Moves the block at `raw` (allocated with `old`) to one of `new`'s size
/// (same alignment), keeping the bytes both have: in place when both sizes
/// take the same block.
///
/// # Safety
/// As [`free`] for `raw` and `old`; `new` has `old`'s alignment.
unsafe fn reallocate(raw: *mut u8, old: Layout, new: Layout) -> *mut u8 {
    debug_assert_eq!(old.align(), new.align());
    let (was, will) = (
        arena::serves(old.size(), old.align()),
        arena::serves(new.size(), new.align()),
    );
    if !was && !will {
        // SAFETY: guaranteed by the caller; `new` has a non-zero size.
        let moved = unsafe { realloc(raw, old, new.size()) };
        if moved.is_null() {
            handle_alloc_error(new);
        }
        return moved;
    }
    if was && will && arena::block_size(old.size()) == arena::block_size(new.size()) {
        return raw;
    }
    let moved = allocate(new);
    // SAFETY: two distinct blocks, each valid for the bytes copied; the
    // old one is then given back (guaranteed by the caller).
    unsafe {
        moved.copy_from_nonoverlapping(raw, old.size().min(new.size()));
        free(raw, old);
    }
    moved
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).expect("under 4 GiB").to_ne_bytes()
}

/// Writes a long header, or a grown one with `capacity`.
///
/// # Safety
/// `dst` must be valid for 8 (12 with a capacity) bytes of writes.
unsafe fn write_header(dst: *mut u8, key_len: usize, value_len: usize, capacity: Option<usize>) {
    // SAFETY: guaranteed by the caller; written as byte arrays (no
    // alignment needed).
    unsafe {
        dst.cast::<[u8; 4]>().write(len32(key_len));
        dst.add(4).cast::<[u8; 4]>().write(len32(value_len));
        if let Some(cap) = capacity {
            dst.add(8).cast::<[u8; 4]>().write(len32(cap));
        }
    }
}

/// Reads a header field.
///
/// # Safety
/// `src` must be valid for 4 bytes of reads.
unsafe fn read_u32(src: *const u8) -> usize {
    // SAFETY: guaranteed by the caller.
    u32::from_ne_bytes(unsafe { src.cast::<[u8; 4]>().read() }) as usize
}

/// Copies `parts` one after another to `dst`.
///
/// # Safety
/// `dst` must be valid for writes of all the parts' bytes together and
/// overlap none of them.
unsafe fn fill(dst: *mut u8, parts: &[&[u8]]) {
    let mut at = 0;
    for part in parts {
        // SAFETY: guaranteed by the caller.
        unsafe {
            dst.add(at)
                .copy_from_nonoverlapping(part.as_ptr(), part.len())
        };
        at += part.len();
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.is_collection() {
            super::coll::release(self.value_mut());
        }
        let p = self.parts();
        // SAFETY: allocated with exactly this layout (`new`, `append`).
        unsafe { free(p.ptr, p.layout()) }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value_len", &self.value().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_edits_in_place() {
        let mut e = Entry::new(b"key:0000000000001", b"0123456789abcdef0123456789abcdef");
        assert_eq!(e.key(), b"key:0000000000001");
        assert_eq!(e.value(), b"0123456789abcdef0123456789abcdef");
        e.value_mut().copy_from_slice(&[b'z'; 32]);
        assert_eq!(e.value(), &[b'z'; 32]);
        assert_eq!(e.key(), b"key:0000000000001");
    }

    #[test]
    fn size_classes() {
        assert_eq!(size_class(1), 8);
        assert_eq!(size_class(9), 16);
        assert_eq!(size_class(48), 48);
        assert_eq!(size_class(56), 64);
        assert_eq!(size_class(57), 64);
        assert_eq!(size_class(128), 128);
        assert_eq!(size_class(129), 160);
        assert_eq!(size_class(65), 80);
        assert_eq!(size_class(1032), 1280);
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(2049), 2560);
    }

    #[test]
    fn empty_parts_and_odd_bytes() {
        let e = Entry::new(b"", b"");
        assert_eq!((e.key(), e.value()), (&b""[..], &b""[..]));
        let e = Entry::new(b"\0\xff", b"\r\n\0");
        assert_eq!(e.key(), b"\0\xff");
        assert_eq!(e.value(), b"\r\n\0");
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 8);
    }

    #[test]
    fn short_and_long_forms_at_the_limits() {
        let cases = [
            (0, 0, true),
            (16, 32, true),
            (SHORT_KEY_LIMIT - 1, SHORT_VALUE_LIMIT - 1, true),
            (SHORT_KEY_LIMIT, 0, false),
            (0, SHORT_VALUE_LIMIT, false),
            (300, 5000, false),
        ];
        for (k, v, short) in cases {
            let key: Vec<u8> = (0..k).map(|i| (i * 7) as u8).collect();
            let value: Vec<u8> = (0..v).map(|i| (i * 13 + 1) as u8).collect();
            let mut e = Entry::new(&key, &value);
            assert_eq!(e.is_short(), short, "{k}/{v}");
            assert_eq!((e.key(), e.value()), (&key[..], &value[..]), "{k}/{v}");
            let header = if short { 0 } else { HEADER };
            let size = (header + k + v).max(1);
            let align = if short { SHORT_ALIGN } else { LONG_ALIGN };
            assert_eq!(
                e.footprint(),
                block_size(Layout::from_size_align(size, align).unwrap())
            );
            e.value_mut().fill(b'x');
            assert!(e.value().iter().all(|&b| b == b'x'));
            assert_eq!(e.key(), &key[..], "editing the value keeps the key");
        }
    }

    #[test]
    fn a_small_entry_is_just_its_bytes() {
        // 16-byte key + 32-byte value: one 48-byte allocation, no header.
        let e = Entry::new(&[b'k'; 16], &[b'v'; 32]);
        assert_eq!(e.footprint(), 48);
    }

    /// `value` as an entry grown by appends of `step` bytes from empty.
    fn appended(key: &[u8], value: &[u8], step: usize) -> Entry {
        let mut e = Entry::new(key, b"");
        for chunk in value.chunks(step.max(1)) {
            e.append(chunk);
        }
        e
    }

    #[test]
    fn small_appends_stay_exact_and_headerless() {
        let mut e = Entry::new(b"k", b"ab");
        e.append(b"cd");
        e.append(b"");
        assert!(e.is_short() && !e.is_grown());
        assert_eq!((e.key(), e.value()), (&b"k"[..], &b"abcd"[..]));
        assert_eq!(e.footprint(), size_class(5));
        let e = appended(b"k", &[b'x'; SHORT_VALUE_LIMIT - 1], 10);
        assert!(e.is_short(), "up to the short form's limit");
    }

    #[test]
    fn appends_past_the_short_form_grow_with_room_to_spare() {
        let value: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut e = Entry::new(b"key", &value[..1000]);
        e.append(&value[1000..1100]);
        assert!(e.is_grown());
        assert_eq!(e.value(), &value[..1100]);
        assert_eq!(e.footprint(), size_class(GROWN_HEADER + 3 + 2200));
        // Fits the spare room: in place, same block.
        let (fp, at) = (e.footprint(), e.value().as_ptr());
        e.append(&value[1100..2200]);
        assert_eq!((e.footprint(), e.value().as_ptr()), (fp, at));
        // Past it: a bigger block, twice the new length.
        e.append(&value[2200..2201]);
        assert_eq!(e.footprint(), size_class(GROWN_HEADER + 3 + 4402));
        e.append(&value[2201..]);
        assert_eq!((e.key(), e.value()), (&b"key"[..], &value[..]));
        e.value_mut()[0] = b'!';
        assert_eq!(e.value()[0], b'!');
    }

    #[test]
    fn long_keys_and_long_values_grow_too() {
        let key = vec![b'k'; SHORT_KEY_LIMIT + 10];
        for (start, step) in [(0, 1), (5, 7), (3000, 1000)] {
            let value: Vec<u8> = (0..start + 10_000).map(|i| i as u8).collect();
            let mut e = Entry::new(&key, &value[..start]);
            for chunk in value[start..].chunks(step) {
                e.append(chunk);
            }
            assert!(e.is_grown(), "{start}/{step}");
            assert_eq!(
                (e.key(), e.value()),
                (&key[..], &value[..]),
                "{start}/{step}"
            );
        }
    }

    #[test]
    fn capacity_doubles_then_grows_by_a_quarter() {
        assert_eq!(grown_capacity(0), 0);
        assert_eq!(grown_capacity(1500), 3000);
        assert_eq!(grown_capacity(MAX_PREALLOC - 1), 2 * MAX_PREALLOC - 2);
        assert_eq!(grown_capacity(MAX_PREALLOC), 2 * MAX_PREALLOC);
        assert_eq!(grown_capacity(8 << 20), 10 << 20);
        assert_eq!(grown_capacity(MAX_VALUE - 5), MAX_VALUE);
        let mut last = 0;
        for len in (0..64 << 20).step_by(4099) {
            let cap = grown_capacity(len);
            assert!(cap >= len && cap >= last, "monotonic at {len}");
            last = cap;
        }
    }

    #[test]
    fn append_footprint_bounds_every_form() {
        for (key_len, step) in [(1, 1), (16, 100), (255, 333), (300, 1000), (10, 70_000)] {
            let key = vec![b'k'; key_len];
            let mut e = Entry::new(&key, b"");
            for _ in 0..40 {
                e.append(&vec![b'v'; step]);
                let bound = max_append_footprint(key_len, e.value().len());
                assert!(
                    e.footprint() <= bound,
                    "{key_len}/{step} at {}",
                    e.value().len()
                );
            }
        }
    }

    #[test]
    fn a_ten_field_hash_entry_takes_288_bytes_not_320() {
        // 8-byte header + 19-byte key + 256-byte payload: mimalloc's class
        // would be 320 bytes; the arena's is the next 16-byte step.
        let e = Entry::new(&[b'k'; 19], &[b'v'; 264]);
        assert_eq!(e.footprint(), 288);
        assert_eq!(max_footprint(19, 256), 288);
    }

    #[test]
    fn reallocation_crosses_between_the_arena_and_mimalloc_keeping_bytes() {
        let sizes = [40, 200, 210, 300, 1024, 2000, 150, 129, 128, 5000, 5];
        let mut old = layout(HEADER, 0, sizes[0]);
        let mut raw = allocate(old);
        // SAFETY: `raw` holds `old.size()` bytes.
        unsafe { std::ptr::write_bytes(raw, 0xa5, old.size()) };
        for &size in &sizes[1..] {
            let new = layout(HEADER, 0, size);
            // SAFETY: `raw` came from `allocate`/`reallocate` with `old`.
            raw = unsafe { reallocate(raw, old, new) };
            let kept = old.size().min(new.size());
            // SAFETY: `raw` holds `new.size()` bytes, the first `kept` set.
            let bytes = unsafe { std::slice::from_raw_parts(raw, kept) };
            assert!(bytes.iter().all(|&b| b == 0xa5), "{} -> {size}", old.size());
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(raw, 0xa5, new.size()) };
            old = new;
        }
        // SAFETY: the last block, with its layout.
        unsafe { free(raw, old) };
    }

    #[test]
    fn many_entries_drop_cleanly() {
        let v: Vec<Entry> = (0..10_000)
            .map(|i| match i % 3 {
                0 => Entry::new(format!("k{i}").as_bytes(), &vec![b'v'; i % 3000]),
                _ => appended(format!("k{i}").as_bytes(), &vec![b'v'; i % 3000], i % 500),
            })
            .collect();
        for (i, e) in v.iter().enumerate() {
            assert_eq!(e.value().len(), i % 3000);
        }
    }
}
