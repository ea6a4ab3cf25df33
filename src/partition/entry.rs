//! One key/value pair in one allocation behind a thin pointer.
//!
//! Layout: `[key_len: u32][value_len: u32][key bytes][value bytes]`. A 16-byte
//! key with a 32-byte value is one 56-byte allocation, and the slab holds an
//! 8-byte pointer to it (instead of two boxed slices: 32 bytes of pointers
//! and two allocations). This is the only `unsafe` code of the partition.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

const HEADER: usize = 8;

/// An owned key/value pair. Not `Send`: it never leaves its partition.
pub struct Entry {
    ptr: NonNull<u8>,
}

impl Entry {
    /// A new entry holding copies of `key` and `value`.
    ///
    /// Panics if either is 4 GiB or longer (far above any request limit).
    pub fn new(key: &[u8], value: &[u8]) -> Self {
        let key_len = u32::try_from(key.len()).expect("key under 4 GiB");
        let value_len = u32::try_from(value.len()).expect("value under 4 GiB");
        let layout = layout(key.len(), value.len());
        // SAFETY: the layout has a non-zero size (the header alone is 8).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout);
        };
        // SAFETY: `raw` is valid for `layout.size()` bytes, which is exactly
        // the header plus both byte strings; the sources do not overlap it.
        unsafe {
            raw.cast::<[u8; 4]>().write(key_len.to_ne_bytes());
            raw.add(4).cast::<[u8; 4]>().write(value_len.to_ne_bytes());
            raw.add(HEADER)
                .copy_from_nonoverlapping(key.as_ptr(), key.len());
            raw.add(HEADER + key.len())
                .copy_from_nonoverlapping(value.as_ptr(), value.len());
        }
        Self { ptr }
    }

    fn lens(&self) -> (usize, usize) {
        // SAFETY: every entry starts with its 8-byte header.
        let header = unsafe { self.ptr.as_ptr().cast::<[u8; 8]>().read() };
        let key = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        let value = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
        (key as usize, value as usize)
    }

    pub fn key(&self) -> &[u8] {
        let (key_len, _) = self.lens();
        // SAFETY: the key bytes follow the header and live as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER), key_len) }
    }

    pub fn value(&self) -> &[u8] {
        let (key_len, value_len) = self.lens();
        // SAFETY: the value bytes follow the key and live as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER + key_len), value_len) }
    }

    /// The value, writable in place (its length cannot change).
    pub fn value_mut(&mut self) -> &mut [u8] {
        let (key_len, value_len) = self.lens();
        // SAFETY: as `value`, and `&mut self` makes the access unique.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HEADER + key_len), value_len)
        }
    }
}

impl Entry {
    /// Bytes the allocation really takes: rounded up to the allocator's size
    /// class (8-byte steps up to 64 bytes, then four classes per doubling,
    /// as mimalloc's bins), so the memory budget matches resident memory.
    pub fn footprint(&self) -> usize {
        let (k, v) = self.lens();
        size_class(HEADER + k + v)
    }
}

/// The size class an allocation of `n` bytes lands in.
pub fn size_class(n: usize) -> usize {
    if n <= 64 {
        return n.next_multiple_of(8);
    }
    let power = 1usize << (usize::BITS - 1 - n.leading_zeros());
    n.next_multiple_of(power / 4)
}

fn layout(key_len: usize, value_len: usize) -> Layout {
    Layout::from_size_align(HEADER + key_len + value_len, 4).expect("entry layout")
}

impl Drop for Entry {
    fn drop(&mut self) {
        let (k, v) = self.lens();
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout(k, v)) }
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
        assert_eq!(size_class(56), 56);
        assert_eq!(size_class(57), 64);
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
    fn many_entries_drop_cleanly() {
        let v: Vec<Entry> = (0..10_000)
            .map(|i| Entry::new(format!("k{i}").as_bytes(), &vec![b'v'; i % 300]))
            .collect();
        for (i, e) in v.iter().enumerate() {
            assert_eq!(e.value().len(), i % 300);
        }
    }
}
