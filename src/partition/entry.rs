//! One key/value pair in one allocation behind one tagged word.
//!
//! Two forms, told apart by bit 0 of the word:
//!
//! * **short** (keys under 256 bytes, values under 1 KiB, the common cache
//!   entry): the allocation is just `[key bytes][value bytes]`, and the
//!   word packs the address with both lengths:
//!   `[value_len: 10][key_len: 8][address >> 3: 45][1]`. A 16-byte key with
//!   a 32-byte value is one 48-byte allocation.
//! * **long** (anything else, or an address the short form cannot pack:
//!   not 8-aligned or above 2^48): the word is the address shifted left by
//!   one, bit 0 clear, and the allocation starts with a header,
//!   `[key_len: u32][value_len: u32][key bytes][value bytes]`.
//!
//! Allocations ask for alignment 1 (nothing in them needs more): every
//! allocator serves that from its exact size classes. mimalloc's small
//! blocks are 8-aligned anyway, which the short form checks rather than
//! assumes.
//!
//! The slab holds the 8-byte word: no second allocation, no pointers for
//! the lengths. This is the only `unsafe` code of the partition.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::num::NonZeroUsize;

const HEADER: usize = 8;
const ALIGN: usize = 1;
const SHORT: usize = 1;
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

/// An owned key/value pair. Not `Send`: it never leaves its partition.
pub struct Entry {
    word: NonZeroUsize,
    _not_send: PhantomData<*mut u8>,
}

/// Where an entry's bytes are and how they are laid out.
struct Parts {
    ptr: *mut u8,
    /// Bytes before the key (the long form's header).
    header: usize,
    key_len: usize,
    value_len: usize,
}

impl Entry {
    /// A new entry holding copies of `key` and `value`.
    ///
    /// Panics if either is 4 GiB or longer (far above any request limit).
    pub fn new(key: &[u8], value: &[u8]) -> Self {
        let short = key.len() < SHORT_KEY_LIMIT && value.len() < SHORT_VALUE_LIMIT;
        if short {
            let raw = allocate(layout(0, key.len(), value.len()));
            let addr = raw.expose_provenance();
            if addr & 7 == 0 && addr >> (ADDR_BITS + 3) == 0 {
                // SAFETY: `raw` is valid for key.len() + value.len() bytes
                // (at least 1); the sources do not overlap it.
                unsafe { fill(raw, key, value) };
                let word =
                    SHORT | (addr >> 3) << 1 | key.len() << KEY_SHIFT | value.len() << VALUE_SHIFT;
                return Self::from_word(word);
            }
            // An address the word cannot pack (not seen with mimalloc on
            // 48-bit address spaces): give it back, use the long form.
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(raw, layout(0, key.len(), value.len())) };
        }
        let key_len = u32::try_from(key.len()).expect("key under 4 GiB");
        let value_len = u32::try_from(value.len()).expect("value under 4 GiB");
        let raw = allocate(layout(HEADER, key.len(), value.len()));
        // SAFETY: `raw` is valid for the header plus both byte strings (the
        // header is written as byte arrays: no alignment needed); the
        // sources do not overlap it.
        unsafe {
            raw.cast::<[u8; 4]>().write(key_len.to_ne_bytes());
            raw.add(4).cast::<[u8; 4]>().write(value_len.to_ne_bytes());
            fill(raw.add(HEADER), key, value);
        }
        let addr = raw.expose_provenance();
        assert!(addr >> (usize::BITS - 1) == 0, "user-space address");
        Self::from_word(addr << 1)
    }

    fn from_word(word: usize) -> Self {
        Self {
            word: NonZeroUsize::new(word).expect("allocations are not null"),
            _not_send: PhantomData,
        }
    }

    fn parts(&self) -> Parts {
        let word = self.word.get();
        if word & SHORT != 0 {
            let addr = ((word >> 1) & ((1 << ADDR_BITS) - 1)) << 3;
            return Parts {
                ptr: std::ptr::with_exposed_provenance_mut(addr),
                header: 0,
                key_len: (word >> KEY_SHIFT) & ((1 << KEY_BITS) - 1),
                value_len: word >> VALUE_SHIFT,
            };
        }
        let ptr: *mut u8 = std::ptr::with_exposed_provenance_mut(word >> 1);
        // SAFETY: a long entry starts with its 8-byte header.
        let header = unsafe { ptr.cast::<[u8; 8]>().read() };
        let key = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        let value = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
        Parts {
            ptr,
            header: HEADER,
            key_len: key as usize,
            value_len: value as usize,
        }
    }

    pub fn key(&self) -> &[u8] {
        let p = self.parts();
        // SAFETY: the key bytes follow the header and live as long as self.
        unsafe { std::slice::from_raw_parts(p.ptr.add(p.header), p.key_len) }
    }

    pub fn value(&self) -> &[u8] {
        let p = self.parts();
        // SAFETY: the value bytes follow the key and live as long as self.
        unsafe { std::slice::from_raw_parts(p.ptr.add(p.header + p.key_len), p.value_len) }
    }

    /// The value, writable in place (its length cannot change).
    pub fn value_mut(&mut self) -> &mut [u8] {
        let p = self.parts();
        // SAFETY: as `value`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(p.ptr.add(p.header + p.key_len), p.value_len) }
    }

    /// True if this entry uses the short form (no header in the allocation).
    #[cfg(test)]
    fn is_short(&self) -> bool {
        self.word.get() & SHORT != 0
    }

    /// Bytes the allocation really takes: rounded up to the allocator's size
    /// class (mimalloc's: 8, then 16-byte steps up to 128 bytes, then four
    /// classes per doubling), so the memory budget matches resident memory.
    pub fn footprint(&self) -> usize {
        let p = self.parts();
        size_class(layout(p.header, p.key_len, p.value_len).size())
    }
}

/// Upper bound of the footprint of an entry holding a `key_len`-byte key
/// and a `value_len`-byte value, in either form (the header counted even
/// where the short form would not need it).
pub fn max_footprint(key_len: usize, value_len: usize) -> usize {
    size_class(HEADER.saturating_add(key_len).saturating_add(value_len))
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

/// The allocation of an entry: `header` bytes, then key and value; never
/// empty (an empty key with an empty value still takes one byte).
fn layout(header: usize, key_len: usize, value_len: usize) -> Layout {
    Layout::from_size_align((header + key_len + value_len).max(1), ALIGN).expect("entry layout")
}

fn allocate(layout: Layout) -> *mut u8 {
    // SAFETY: `layout` has a non-zero size.
    let raw = unsafe { alloc(layout) };
    if raw.is_null() {
        handle_alloc_error(layout);
    }
    raw
}

/// Copies `key` then `value` to `dst`.
///
/// # Safety
/// `dst` must be valid for `key.len() + value.len()` bytes of writes and
/// not overlap either source.
unsafe fn fill(dst: *mut u8, key: &[u8], value: &[u8]) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        dst.copy_from_nonoverlapping(key.as_ptr(), key.len());
        dst.add(key.len())
            .copy_from_nonoverlapping(value.as_ptr(), value.len());
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let p = self.parts();
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { dealloc(p.ptr, layout(p.header, p.key_len, p.value_len)) }
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
            assert_eq!(e.footprint(), size_class((header + k + v).max(1)));
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

    #[test]
    fn many_entries_drop_cleanly() {
        let v: Vec<Entry> = (0..10_000)
            .map(|i| Entry::new(format!("k{i}").as_bytes(), &vec![b'v'; i % 3000]))
            .collect();
        for (i, e) in v.iter().enumerate() {
            assert_eq!(e.value().len(), i % 3000);
        }
    }
}
