//! Fine size classes for entries of 129 bytes to 2 KiB.
//!
//! mimalloc, like jemalloc (Redis's allocator), serves blocks above 128
//! bytes from four classes per doubling: a 283-byte entry (a hash of ten
//! short fields) takes 320 bytes, 13% more than it holds, and blocks of
//! these sizes waste 6% on average. Entries are most of a cache's memory,
//! so the partition serves these sizes itself, in 16-byte classes up to
//! 1 KiB and 32-byte ones up to 2 KiB: the 283-byte entry takes 288.
//!
//! Per thread (an entry never leaves its partition's thread: `Entry` is
//! not `Send`): pages of 64 KiB, aligned to 64 KiB so that a block's page
//! is its address rounded down, each carved into blocks of one class. A
//! class lists its pages that have a free block; the block comes from the
//! page's free list, else from its never-used tail. A page that empties is
//! kept as the thread's one spare, or its memory goes back to the OS
//! (`madvise(MADV_DONTNEED)`) and the page waits for any class to need one.
//! Pages are cut from 2 MiB regions mapped with `mmap`, whose address space
//! is kept (only their memory is given back, page by page), so the number
//! of mappings stays that of the regions.
//!
//! Freeing a block after the thread's arena is gone (an entry dropped by
//! another thread-local's destructor as the thread exits) leaks it: the
//! memory is the process's until it exits, which is then.

use std::alloc::{handle_alloc_error, Layout};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

/// Smallest block size served here; below it mimalloc's classes are
/// 16-byte steps already.
pub const MIN: usize = 129;
/// Largest block size served here.
pub const MAX: usize = 2048;
/// Class step up to [`FINE_MAX`], and the blocks' alignment.
const STEP: usize = 16;
/// Above this, classes step by [`WIDE_STEP`].
const FINE_MAX: usize = 1024;
const WIDE_STEP: usize = 32;
const FINE_CLASSES: usize = (FINE_MAX - (MIN - 1)) / STEP;
const CLASSES: usize = FINE_CLASSES + (MAX - FINE_MAX) / WIDE_STEP;
const PAGE: usize = 64 << 10;
const REGION: usize = 2 << 20;
/// Room for a page's header; blocks start after it, 16-aligned.
const HEAD: usize = 64;
const _: () = assert!(std::mem::size_of::<Page>() <= HEAD && HEAD % STEP == 0);

/// True if the arena serves a `size`-byte block with alignment `align`.
#[inline]
pub fn serves(size: usize, align: usize) -> bool {
    (MIN..=MAX).contains(&size) && align <= STEP
}

/// Bytes a block of `size` takes (for a size the arena serves).
#[inline]
pub fn block_size(size: usize) -> usize {
    if size <= FINE_MAX {
        size.next_multiple_of(STEP)
    } else {
        size.next_multiple_of(WIDE_STEP)
    }
}

fn class_of(size: usize) -> usize {
    if size <= FINE_MAX {
        (size - MIN) / STEP
    } else {
        FINE_CLASSES + (size - FINE_MAX - 1) / WIDE_STEP
    }
}

/// The block size of `class`.
fn class_block(class: usize) -> usize {
    if class < FINE_CLASSES {
        MIN - 1 + (class + 1) * STEP
    } else {
        FINE_MAX + (class - FINE_CLASSES + 1) * WIDE_STEP
    }
}

/// A page's header, at its start.
#[repr(C)]
struct Page {
    /// Neighbours in its class's list of pages with a free block.
    next: *mut Page,
    prev: *mut Page,
    /// Freed blocks, linked through their first word.
    free: *mut u8,
    /// The first never-used block.
    tail: *mut u8,
    used: u32,
    capacity: u32,
    class: u32,
    listed: bool,
}

struct Arena {
    /// Per class, its pages with a free block.
    partial: [*mut Page; CLASSES],
    /// One empty page kept resident, so that a class that keeps emptying
    /// and refilling one page does not pay a page fault each time.
    spare: *mut Page,
    /// Empty pages whose memory went back to the OS.
    released: Vec<*mut Page>,
    /// The current region (for its pointers' provenance) and its uncut
    /// pages.
    region: *mut u8,
    region_next: usize,
    region_end: usize,
    /// Pages holding at least one block.
    pages_in_use: usize,
    /// Bytes of the blocks handed out.
    used: usize,
}

thread_local! {
    static ARENA: UnsafeCell<Arena> = const {
        UnsafeCell::new(Arena {
            partial: [null_mut(); CLASSES],
            spare: null_mut(),
            released: Vec::new(),
            region: null_mut(),
            region_next: 0,
            region_end: 0,
            pages_in_use: 0,
            used: 0,
        })
    };
}

/// A block of `size` bytes (see [`serves`]), 16-aligned.
pub fn alloc(size: usize) -> *mut u8 {
    debug_assert!(serves(size, 1));
    // SAFETY: the arena is this thread's and nothing it calls re-enters it
    // (its own bookkeeping allocates from mimalloc, not from the arena).
    ARENA.with(|a| unsafe { (*a.get()).alloc(class_of(size)) })
}

/// Frees a block [`alloc`] returned for `size` bytes.
///
/// # Safety
/// `block` must come from [`alloc`] on this thread with a size of the same
/// class, and not be freed already.
pub unsafe fn free(block: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller; as in `alloc`. After the arena's
    // destructor ran the block is left alone (see the module's doc).
    let _ = ARENA.try_with(|a| unsafe { (*a.get()).free(block, class_of(size)) });
}

/// Pages of this thread's arena holding at least one block.
#[cfg(test)]
pub fn pages_in_use() -> usize {
    // SAFETY: a read of this thread's arena, not re-entered.
    ARENA.with(|a| unsafe { (*a.get()).pages_in_use })
}

/// This thread's arena: bytes of the pages it keeps resident (those in
/// use and the spare), and bytes of the blocks handed out (`INFO`'s
/// `mem_entry_pages`, `mem_entry_pages_used`: their difference is the
/// room free blocks take).
pub fn usage() -> (usize, usize) {
    // SAFETY: a read of this thread's arena, not re-entered.
    ARENA.with(|a| unsafe {
        let a = &*a.get();
        let spare = usize::from(!a.spare.is_null());
        ((a.pages_in_use + spare) * PAGE, a.used)
    })
}

impl Arena {
    /// # Safety
    /// The pages listed are this arena's.
    unsafe fn alloc(&mut self, class: usize) -> *mut u8 {
        let mut page = self.partial[class];
        if page.is_null() {
            page = self.new_page(class);
        }
        // SAFETY: a listed page is a live page of this class.
        let p = unsafe { &mut *page };
        let block = if p.free.is_null() {
            let block = p.tail;
            // SAFETY: `used < capacity` and no free block: the tail has one.
            p.tail = unsafe { block.add(class_block(class)) };
            block
        } else {
            let block = p.free;
            // SAFETY: a free block holds the next one's address.
            p.free = unsafe { block.cast::<*mut u8>().read() };
            block
        };
        p.used += 1;
        self.used += class_block(class);
        if p.used == p.capacity {
            // SAFETY: listed above.
            unsafe { self.unlist(page) };
        }
        block
    }

    /// # Safety
    /// As [`free`].
    unsafe fn free(&mut self, block: *mut u8, class: usize) {
        let page = block.map_addr(|a| a & !(PAGE - 1)).cast::<Page>();
        // SAFETY: `block` is in a live page of this arena, whose header
        // starts at the page's aligned start.
        let p = unsafe { &mut *page };
        debug_assert_eq!(p.class as usize, class, "freed with its class");
        // SAFETY: the block is ours again; it is at least 16-aligned and
        // bigger than a pointer.
        unsafe { block.cast::<*mut u8>().write(p.free) };
        p.free = block;
        p.used -= 1;
        self.used -= class_block(class);
        if p.used == 0 {
            if p.listed {
                // SAFETY: listed in this class.
                unsafe { self.unlist(page) };
            }
            // SAFETY: empty and unlisted.
            unsafe { self.retire(page) };
        } else if !p.listed {
            // SAFETY: a live page of this class with a free block now.
            unsafe { self.list(page, class) };
        }
    }

    /// A fresh page of `class`, listed.
    fn new_page(&mut self, class: usize) -> *mut Page {
        let page = if !self.spare.is_null() {
            std::mem::replace(&mut self.spare, null_mut())
        } else if let Some(page) = self.released.pop() {
            page
        } else {
            self.cut_page()
        };
        let size = class_block(class);
        // SAFETY: `page` is an unused 64 KiB page of this arena.
        unsafe {
            page.write(Page {
                next: null_mut(),
                prev: null_mut(),
                free: null_mut(),
                tail: page.cast::<u8>().add(HEAD),
                used: 0,
                capacity: ((PAGE - HEAD) / size) as u32,
                class: class as u32,
                listed: false,
            });
            self.list(page, class);
        }
        self.pages_in_use += 1;
        page
    }

    fn cut_page(&mut self) -> *mut Page {
        if self.region_next == self.region_end {
            let start = map_region();
            self.region_next = start.addr();
            self.region_end = start.addr() + REGION;
            self.region = start;
        }
        let at = self.region_next;
        self.region_next += PAGE;
        self.region.with_addr(at).cast()
    }

    /// # Safety
    /// `page` is an unlisted live page of `class`.
    unsafe fn list(&mut self, page: *mut Page, class: usize) {
        let head = self.partial[class];
        // SAFETY: `page` and the list's pages are live pages.
        unsafe {
            (*page).next = head;
            (*page).prev = null_mut();
            (*page).listed = true;
            if !head.is_null() {
                (*head).prev = page;
            }
        }
        self.partial[class] = page;
    }

    /// # Safety
    /// `page` is listed.
    unsafe fn unlist(&mut self, page: *mut Page) {
        // SAFETY: `page` and its neighbours are live listed pages.
        unsafe {
            let (next, prev) = ((*page).next, (*page).prev);
            if prev.is_null() {
                self.partial[(*page).class as usize] = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*page).listed = false;
        }
    }

    /// # Safety
    /// `page` is empty and unlisted; nothing points into it.
    unsafe fn retire(&mut self, page: *mut Page) {
        self.pages_in_use -= 1;
        if self.spare.is_null() {
            self.spare = page;
            return;
        }
        // SAFETY: the page is ours and unused; its contents may go.
        unsafe { libc::madvise(page.cast(), PAGE, libc::MADV_DONTNEED) };
        self.released.push(page);
    }
}

/// Maps a fresh region of `REGION` bytes aligned to `PAGE`.
fn map_region() -> *mut u8 {
    let len = REGION + PAGE;
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let raw = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        handle_alloc_error(Layout::from_size_align(REGION, PAGE).expect("region layout"));
    }
    let raw = raw.cast::<u8>();
    let head = raw.addr().next_multiple_of(PAGE) - raw.addr();
    // SAFETY: both trimmed ends are parts of the mapping just made, and
    // nothing uses them.
    unsafe {
        if head > 0 {
            libc::munmap(raw.cast(), head);
        }
        let tail = PAGE - head;
        if tail > 0 {
            libc::munmap(raw.add(head + REGION).cast(), tail);
        }
        raw.add(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `block` with a pattern of `id`, as an entry would.
    fn stamp(block: *mut u8, size: usize, id: usize) {
        // SAFETY: the block holds `size` bytes and is the test's.
        unsafe { std::ptr::write_bytes(block, (id % 251) as u8, size) };
    }

    fn intact(block: *mut u8, size: usize, id: usize) -> bool {
        // SAFETY: as `stamp`.
        let bytes = unsafe { std::slice::from_raw_parts(block, size) };
        bytes.iter().all(|&b| b == (id % 251) as u8)
    }

    #[test]
    fn classes_are_16_byte_steps_from_129_bytes_to_1_kib() {
        assert!(!serves(128, 1) && serves(129, 1) && serves(2048, 8) && !serves(2049, 1));
        assert!(!serves(256, 32), "stronger alignments go to mimalloc");
        assert_eq!(
            (block_size(129), block_size(144), block_size(145)),
            (144, 144, 160)
        );
        assert_eq!((block_size(283), block_size(1024)), (288, 1024));
        assert_eq!(
            (block_size(1025), block_size(1056), block_size(2047)),
            (1056, 1056, 2048)
        );
        for size in MIN..=MAX {
            assert_eq!(class_block(class_of(size)), block_size(size), "{size}");
        }
        assert_eq!(class_of(MAX), CLASSES - 1);
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_pages_go_back_when_empty() {
        let mut blocks = Vec::new();
        for (id, size) in (MIN..=MAX).step_by(7).cycle().take(20_000).enumerate() {
            let block = alloc(size);
            assert_eq!(block.addr() % STEP, 0);
            stamp(block, size, id);
            blocks.push((block, size, id));
        }
        let pages = pages_in_use();
        assert!(pages > 20_000 * 500 / PAGE, "{pages} pages hold ~10 MB");
        for &(block, size, id) in &blocks {
            assert!(intact(block, size, id), "block {id} overwritten");
        }
        for (block, size, _) in blocks {
            // SAFETY: allocated above with this size, freed once.
            unsafe { free(block, size) };
        }
        assert_eq!(pages_in_use(), 0);
        // Freed pages serve again (the spare first, then released ones).
        let again: Vec<_> = (0..20_000).map(|_| alloc(MAX)).collect();
        assert!(pages_in_use() >= 20_000 * MAX / PAGE);
        for block in again {
            // SAFETY: as above.
            unsafe { free(block, MAX) };
        }
        assert_eq!(pages_in_use(), 0);
    }

    #[test]
    fn random_allocations_and_frees_keep_every_live_block_intact() {
        // A deterministic xorshift: sizes across all classes, frees of
        // random live blocks, and a check of every block at the end.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let mut live: Vec<(*mut u8, usize, usize)> = Vec::new();
        for id in 0..200_000 {
            if live.is_empty() || next() % 5 < 3 {
                let size = MIN + next() % (MAX - MIN + 1);
                let block = alloc(size);
                stamp(block, size, id);
                live.push((block, size, id));
            } else {
                let (block, size, id) = live.swap_remove(next() % live.len());
                assert!(intact(block, size, id), "block {id}");
                // SAFETY: live, allocated with this size.
                unsafe { free(block, size) };
            }
        }
        for (block, size, id) in live.drain(..) {
            assert!(intact(block, size, id), "block {id}");
            // SAFETY: as above.
            unsafe { free(block, size) };
        }
        assert_eq!(pages_in_use(), 0);
    }
}
