//! The allocator: mimalloc, called the way its size classes pay off.
//!
//! The `mimalloc` crate's `GlobalAlloc` sends every request through
//! `mi_malloc_aligned`, even for the 1–16 byte alignments `mi_malloc`
//! guarantees anyway. On mimalloc 3 that path is a slow one for a fresh
//! size class and rounds small blocks up: a 48-byte, 8-aligned request gets
//! a 64-byte block, a third more memory per cache entry. [`CoreAlloc`] calls
//! `mi_malloc` whenever its guarantee covers the alignment (as the standard
//! library's `System` allocator does with `malloc`) and the aligned
//! functions only for larger alignments.
//!
//! It also exposes [`release_free_memory`], with which an idle worker hands
//! freed pages back to the OS.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment `mi_malloc` gives any block of at least that many bytes
/// (`MI_MAX_ALIGN_SIZE`; blocks under 16 bytes come from 8-byte classes
/// aligned to their size).
const MALLOC_ALIGN: usize = 16;

/// The global allocator of the `corekv` binary (see the module docs).
pub struct CoreAlloc;

#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every function forwards to mimalloc, which returns blocks of at
// least the requested size: `mi_malloc`/`mi_zalloc`/`mi_realloc` only when
// their alignment guarantee (16 bytes, or the block size below 16) covers
// `layout.align()`, the `_aligned` variants otherwise. `mi_free` frees
// blocks from either.
unsafe impl GlobalAlloc for CoreAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls; mimalloc accepts any size.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe {
            if plain(layout.align(), new_size) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

/// Returns the calling thread's freed allocator memory to the OS: the old
/// arrays a growing index left behind, closed connections' buffers.
/// mimalloc purges such memory only lazily, from later allocation calls, so
/// a worker that goes quiet after a load would otherwise keep it resident.
/// Not forced: a forced collect also frees every page emptied by millions
/// of deletes at once (measured 8.5 ms after 1.25M frees, a pause for the
/// next request), while this one costs microseconds and leaves that to
/// mimalloc's own pace; workers call it only when idle.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks and purges the calling thread's own heap
    // and the process's free arena memory; it is safe at any time, whichever
    // global allocator the binary uses (then it has nothing to do).
    unsafe { mi::mi_collect(false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_sized_and_reusable() {
        let a = CoreAlloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 9, 15, 16, 24, 40, 48, 56, 100, 129, 1000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    assert!(mi::mi_usable_size(p.cast()) >= size);
                    p.write_bytes(0xAB, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc {size} align {align}");
                    assert_eq!(*q.add(size - 1), 0xAB, "realloc keeps the bytes");
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }

    #[test]
    fn small_aligned_requests_use_the_exact_size_class() {
        let a = CoreAlloc;
        let layout = Layout::from_size_align(48, 8).unwrap();
        // SAFETY: freed with its layout.
        unsafe {
            let p = a.alloc(layout);
            assert_eq!(mi::mi_usable_size(p.cast()), 48, "not rounded up to 64");
            a.dealloc(p, layout);
        }
        release_free_memory();
    }
}
