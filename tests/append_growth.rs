//! Repeated `APPEND`s cost amortized O(appended bytes): a counting
//! allocator measures the bytes allocated (and so at most copied) while a
//! value is built by appends, rather than timing it.

use corekv::partition::{OpKind, OpRef, Partition};
use corekv::reply::Dialect;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the bytes this thread asks for
/// (`alloc`, and the new size of a `realloc`, which may copy the old
/// block: an upper bound of what is copied).
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|n| n.set(n.get() + bytes));
}

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

// SAFETY: forwards to `System`; counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: usize = 1 << 20;

fn execute(p: &mut Partition, kind: OpKind, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    p.execute(Dialect::Resp, OpRef { kind, key, value }, out);
}

/// Appends `chunks` chunks of `size` bytes to one key; returns the bytes
/// allocated meanwhile, and checks the replies and the final value.
fn build_by_appends(chunks: usize, size: usize) -> usize {
    let mut p = Partition::default();
    let mut out = Vec::with_capacity(64);
    let tails: Vec<Vec<u8>> = (0..chunks)
        .map(|i| vec![b'a' + (i % 26) as u8; size])
        .collect();
    let before = allocated();
    for (i, tail) in tails.iter().enumerate() {
        execute(&mut p, OpKind::Append, b"big", tail, &mut out);
        assert_eq!(out, format!(":{}\r\n", (i + 1) * size).as_bytes());
    }
    let spent = allocated() - before;
    execute(&mut p, OpKind::Get, b"big", b"", &mut out);
    let header = format!("${}\r\n", chunks * size);
    assert!(out.starts_with(header.as_bytes()));
    let body = &out[header.len()..out.len() - 2];
    for (i, chunk) in body.chunks(size).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == b'a' + (i % 26) as u8),
            "chunk {i}"
        );
    }
    spent
}

#[test]
fn sixty_four_appends_of_a_mebibyte_allocate_a_bounded_multiple_of_the_value() {
    let appended = 64 * MIB;
    let spent = build_by_appends(64, MIB);
    eprintln!(
        "64 x 1 MiB APPENDs allocated {} MiB ({:.1} x the value)",
        spent / MIB,
        spent as f64 / appended as f64
    );
    // Copying the whole value on every append (the value copied out, then
    // into a new entry) allocated 8129 MiB here, 127 times the value;
    // geometric growth, 324 MiB (5.1 times).
    assert!(spent <= 8 * appended, "{} MiB allocated", spent / MIB);
}

#[test]
fn many_small_appends_allocate_a_bounded_multiple_of_the_value() {
    let (chunks, size) = (20_000, 100);
    let spent = build_by_appends(chunks, size);
    assert!(spent <= 8 * chunks * size, "{spent} bytes allocated");
}
