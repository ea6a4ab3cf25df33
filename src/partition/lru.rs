//! Sampled LRU, as Redis's `allkeys-lru`: every key remembers when it was
//! last used (a 32-bit tick), and eviction looks at a few random keys and
//! evicts the least recently used of them. Kept beside SIEVE so users can
//! compare the two on their own workload.

use std::cell::Cell;

/// Keys sampled per eviction (Redis's default `maxmemory-samples`).
const SAMPLES: usize = 5;

#[derive(Default)]
pub struct SampledLru {
    tick: Cell<u32>,
    last: Vec<Cell<u32>>,
    rng: Cell<u64>,
}

impl SampledLru {
    fn now(&self) -> u32 {
        let t = self.tick.get().wrapping_add(1);
        self.tick.set(t);
        t
    }

    /// Bytes per slab slot.
    pub const SLOT_BYTES: usize = 4;

    /// A new key at slab position `pos`; the array grows to `slots` (the
    /// slab's capacity) exactly, as SIEVE's does.
    pub fn insert(&mut self, pos: u32, slots: usize) {
        let i = pos as usize;
        if self.last.len() <= i {
            let n = slots.max(i + 1);
            self.last.reserve_exact(n - self.last.len());
            self.last.resize_with(n, Cell::default);
        }
        let now = self.now();
        self.last[i].set(now);
    }

    #[inline]
    pub fn touch(&self, pos: u32) {
        if let Some(t) = self.last.get(pos as usize) {
            t.set(self.now());
        }
    }

    fn random(&self, below: usize) -> usize {
        // xorshift64*: cheap, good enough to pick samples.
        let mut x = self.rng.get() | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % below.max(1)
    }

    /// The least recently used of a few random live positions (`live`
    /// tells which slab positions hold a key; `skip` excludes some).
    pub fn victim(
        &self,
        slots: usize,
        live: impl Fn(u32) -> bool,
        mut skip: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut best: Option<(u32, u32)> = None;
        let mut found = 0;
        let now = self.tick.get();
        for _ in 0..SAMPLES * 20 {
            if found == SAMPLES || slots == 0 {
                break;
            }
            let pos = self.random(slots) as u32;
            if !live(pos) || skip(pos) {
                continue;
            }
            found += 1;
            let age = now.wrapping_sub(self.last[pos as usize].get());
            if best.is_none_or(|(_, a)| age > a) {
                best = Some((pos, age));
            }
        }
        best.map(|(pos, _)| pos)
    }

    pub fn clear(&mut self) {
        self.last = Vec::new();
    }

    pub fn memory(&self) -> usize {
        self.last.capacity() * 4
    }
}
