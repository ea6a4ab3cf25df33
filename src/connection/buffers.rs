//! A worker's spare connection buffers. An idle connection holds no
//! buffer: it gives its read and write buffers back here when a read finds
//! nothing to do, and takes them again when the socket becomes readable. A
//! busy client therefore reuses warm buffers without allocating, and ten
//! thousand idle clients cost no buffer memory at all.

use crate::clients::WorkerMemory;
use bytes::BytesMut;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The size a fresh buffer starts with.
pub const BUFFER_SIZE: usize = 16 * 1024;
/// Spare buffers a worker keeps of each kind; more are freed.
const KEEP: usize = 64;

/// The spares, and the bytes they hold: published in the worker's memory
/// cell, so they count toward its `--maxmemory` share and show in `INFO`.
#[derive(Default)]
pub struct BufferPool {
    reads: Vec<BytesMut>,
    writes: Vec<Vec<u8>>,
    bytes: usize,
    cell: Option<Arc<WorkerMemory>>,
}

impl BufferPool {
    /// A pool whose bytes are reported in `cell`.
    pub fn new(cell: Arc<WorkerMemory>) -> Self {
        Self {
            cell: Some(cell),
            ..Self::default()
        }
    }

    /// Bytes the spare buffers hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn set_bytes(&mut self, bytes: usize) {
        self.bytes = bytes;
        if let Some(cell) = &self.cell {
            cell.pool.store(bytes, Relaxed);
        }
    }

    /// An empty read buffer with room for a read.
    pub fn take_read(&mut self) -> BytesMut {
        let mut buf = match self.reads.pop() {
            Some(buf) => {
                self.set_bytes(self.bytes - buf.capacity());
                buf
            }
            None => BytesMut::new(),
        };
        buf.reserve(BUFFER_SIZE);
        buf
    }

    /// An empty write buffer.
    pub fn take_write(&mut self) -> Vec<u8> {
        match self.writes.pop() {
            Some(buf) => {
                self.set_bytes(self.bytes - buf.capacity());
                buf
            }
            None => Vec::with_capacity(BUFFER_SIZE),
        }
    }

    /// Keeps `buf` for the next taker, unless it grew large or enough
    /// spares are kept already.
    pub fn give_read(&mut self, mut buf: BytesMut) {
        buf.clear();
        if self.reads.len() < KEEP && (1..=BUFFER_SIZE * 2).contains(&buf.capacity()) {
            self.set_bytes(self.bytes + buf.capacity());
            self.reads.push(buf);
        }
    }

    pub fn give_write(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if self.writes.len() < KEEP && (1..=BUFFER_SIZE * 2).contains(&buf.capacity()) {
            self.set_bytes(self.bytes + buf.capacity());
            self.writes.push(buf);
        }
    }

    /// Frees every spare buffer (the worker went idle).
    pub fn clear(&mut self) {
        self.reads = Vec::new();
        self.writes = Vec::new();
        self.set_bytes(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_and_drops_big_ones() {
        let mut pool = BufferPool::default();
        let r = pool.take_read();
        assert!(r.capacity() >= BUFFER_SIZE);
        let ptr = r.as_ptr();
        pool.give_read(r);
        assert_eq!(pool.take_read().as_ptr(), ptr, "the spare is reused");
        let mut w = pool.take_write();
        w.reserve(1 << 20);
        pool.give_write(w);
        assert!(pool.writes.is_empty(), "a grown buffer is freed");
        pool.give_write(Vec::new());
        assert!(pool.writes.is_empty(), "an unallocated one is not kept");
    }

    #[test]
    fn reports_its_bytes_in_the_worker_memory_cell() {
        let cell = Arc::new(WorkerMemory::default());
        let mut pool = BufferPool::new(Arc::clone(&cell));
        let (r, w) = (pool.take_read(), pool.take_write());
        let held = r.capacity() + w.capacity();
        assert_eq!(
            cell.pool.load(Relaxed),
            0,
            "taken buffers are the connection's"
        );
        pool.give_read(r);
        pool.give_write(w);
        assert_eq!(cell.pool.load(Relaxed), held);
        assert_eq!(pool.bytes(), held);
        let r = pool.take_read();
        assert_eq!(cell.pool.load(Relaxed), held - r.capacity());
        pool.clear();
        assert_eq!(cell.pool.load(Relaxed), 0);
        assert_eq!(cell.total(), 0);
    }
}
