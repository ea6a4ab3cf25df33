//! A skip list with spans as Redis builds it (`t_zset.c`: p = 1/4, up to
//! 32 levels, a backward link), only to measure the B+tree against (the
//! parent module's docs). Nodes live in an arena of 64-byte slots with
//! their first 4 levels inline (all but 1/256 of nodes), so a hop costs one
//! cache miss, as in Redis's one-allocation `zskiplistNode`.

use super::tests::Rng;
use super::*;
use std::hint::black_box;
use std::time::Instant;

const NIL: u32 = u32::MAX;
const MAX_LEVEL: usize = 32;
/// The header's slot in the arena.
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Level {
    forward: u32,
    span: u32,
}

/// Levels kept in the node itself.
const INLINE: usize = 4;

struct SkipNode {
    score: f64,
    handle: u32,
    backward: u32,
    levels: [Level; INLINE],
    /// Levels from `INLINE` on.
    more: Option<Box<[Level]>>,
}

impl SkipNode {
    fn new(score: f64, handle: u32, backward: u32, height: usize) -> Self {
        let empty = Level {
            forward: NIL,
            span: 0,
        };
        SkipNode {
            score,
            handle,
            backward,
            levels: [empty; INLINE],
            more: (height > INLINE).then(|| vec![empty; height - INLINE].into_boxed_slice()),
        }
    }
}

pub(super) struct SkipList {
    nodes: Vec<SkipNode>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
    rng: Rng,
    /// Bytes of the live nodes' level arrays, in size classes.
    level_bytes: usize,
    /// What the nodes inserted would take as Redis lays them out (an `sds`
    /// pointer, score, backward pointer, 16 bytes a level, one malloc);
    /// removals do not count down.
    redis_bytes: usize,
}

impl SkipList {
    pub(super) fn new() -> Self {
        let head = SkipNode::new(0.0, NIL, NIL, MAX_LEVEL);
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
            rng: Rng(0x2545_f491),
            level_bytes: 0,
            redis_bytes: 0,
        }
    }

    /// Bytes allocated: the arena, the overflow level arrays, the free list.
    pub(super) fn memory(&self) -> usize {
        size_class(self.nodes.capacity() * std::mem::size_of::<SkipNode>())
            + self.level_bytes
            + self.free.capacity() * 4
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        while level < MAX_LEVEL && self.rng.next() & 0xffff < 0xffff / 4 {
            level += 1;
        }
        level
    }

    #[inline]
    fn lv(&self, x: u32, i: usize) -> Level {
        let n = &self.nodes[x as usize];
        match &n.more {
            Some(more) if i >= INLINE => more[i - INLINE],
            _ => n.levels[i],
        }
    }

    #[inline]
    fn lv_mut(&mut self, x: u32, i: usize) -> &mut Level {
        let n = &mut self.nodes[x as usize];
        match &mut n.more {
            Some(more) if i >= INLINE => &mut more[i - INLINE],
            _ => &mut n.levels[i],
        }
    }

    /// Whether node `x` sorts before the key (`or_equal`: or is it).
    #[inline]
    fn before<'m>(
        &self,
        x: u32,
        score: f64,
        member: &[u8],
        or_equal: bool,
        of: &impl Fn(u32) -> &'m [u8],
    ) -> bool {
        let n = &self.nodes[x as usize];
        n.score < score
            || (n.score == score && {
                let m = of(n.handle);
                m < member || (or_equal && m == member)
            })
    }

    /// The last node before the key at each level, and its rank.
    fn path<'m>(
        &self,
        score: f64,
        member: &[u8],
        of: &impl Fn(u32) -> &'m [u8],
    ) -> ([u32; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let (mut update, mut rank) = ([HEAD; MAX_LEVEL], [0usize; MAX_LEVEL]);
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let f = self.lv(x, i).forward;
                if f == NIL || !self.before(f, score, member, false, of) {
                    break;
                }
                rank[i] += self.lv(x, i).span as usize;
                x = f;
            }
            update[i] = x;
        }
        (update, rank)
    }

    pub(super) fn insert<'m>(&mut self, score: f64, handle: u32, of: impl Fn(u32) -> &'m [u8]) {
        let member = of(handle);
        let (mut update, mut rank) = self.path(score, member, &of);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                (rank[i], update[i]) = (0, HEAD);
                self.lv_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = SkipNode::new(
            score,
            handle,
            if update[0] == HEAD { NIL } else { update[0] },
            level,
        );
        if level > INLINE {
            self.level_bytes += size_class((level - INLINE) * 8);
        }
        self.redis_bytes += size_class(24 + level * 16);
        let x = match self.free.pop() {
            Some(x) => {
                self.nodes[x as usize] = node;
                x
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let prev = self.lv(update[i], i);
            let gap = (rank[0] - rank[i]) as u32;
            *self.lv_mut(x, i) = Level {
                forward: prev.forward,
                span: prev.span - gap,
            };
            *self.lv_mut(update[i], i) = Level {
                forward: x,
                span: gap + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.lv_mut(u, i).span += 1;
        }
        match self.lv(x, 0).forward {
            NIL => self.tail = x,
            f => self.nodes[f as usize].backward = x,
        }
        self.len += 1;
    }

    pub(super) fn remove<'m>(
        &mut self,
        score: f64,
        member: &[u8],
        of: impl Fn(u32) -> &'m [u8],
    ) -> Option<u32> {
        let (update, _) = self.path(score, member, &of);
        let x = self.lv(update[0], 0).forward;
        if x == NIL
            || self.nodes[x as usize].score != score
            || of(self.nodes[x as usize].handle) != member
        {
            return None;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let at = self.lv(u, i);
            if at.forward == x {
                let gone = self.lv(x, i);
                *self.lv_mut(u, i) = Level {
                    forward: gone.forward,
                    span: at.span + gone.span - 1,
                };
            } else {
                self.lv_mut(u, i).span -= 1;
            }
        }
        let back = self.nodes[x as usize].backward;
        match self.lv(x, 0).forward {
            NIL => self.tail = back,
            f => self.nodes[f as usize].backward = back,
        }
        while self.level > 1 && self.lv(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        if let Some(more) = self.nodes[x as usize].more.take() {
            self.level_bytes -= size_class(more.len() * 8);
        }
        self.free.push(x);
        self.len -= 1;
        Some(self.nodes[x as usize].handle)
    }

    pub(super) fn rank<'m>(
        &self,
        score: f64,
        member: &[u8],
        of: impl Fn(u32) -> &'m [u8],
    ) -> Option<usize> {
        let (mut x, mut rank) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let f = self.lv(x, i).forward;
                if f == NIL || !self.before(f, score, member, true, &of) {
                    break;
                }
                rank += self.lv(x, i).span as usize;
                x = f;
            }
            let n = &self.nodes[x as usize];
            if x != HEAD && n.score == score && of(n.handle) == member {
                return Some(rank - 1);
            }
        }
        None
    }

    /// The node of 0-based `rank`.
    fn node_at(&self, rank: usize) -> Option<u32> {
        let (mut x, mut traversed, want) = (HEAD, 0usize, rank + 1);
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.forward == NIL || traversed + l.span as usize > want {
                    break;
                }
                traversed += l.span as usize;
                x = l.forward;
            }
            if traversed == want {
                return Some(x);
            }
        }
        None
    }

    /// Up to `k` elements from `rank` on.
    pub(super) fn range(&self, rank: usize, k: usize) -> impl Iterator<Item = (f64, u32)> + '_ {
        let mut x = self.node_at(rank).unwrap_or(NIL);
        std::iter::from_fn(move || {
            let n = self.nodes.get(x as usize)?;
            x = n.levels[0].forward;
            Some((n.score, n.handle))
        })
        .take(k)
    }
}

#[test]
fn skiplist_matches_the_btree() {
    let members: Vec<Vec<u8>> = (0..3_000).map(super::tests::member).collect();
    let of = |h: u32| members[h as usize].as_slice();
    let (mut sl, mut ix) = (SkipList::new(), ZIndex::new());
    let mut rng = Rng(3);
    for h in 0..3_000u32 {
        let s = (rng.next() % 50) as f64;
        sl.insert(s, h, of);
        ix.insert(s, h, of);
    }
    for r in (0..3_000).step_by(7) {
        let (s, h) = ix.get(r).unwrap();
        assert_eq!(sl.rank(s, of(h), of), Some(r));
        let want: Vec<_> = ix.iter_from(r).take(10).collect();
        assert_eq!(sl.range(r, 10).collect::<Vec<_>>(), want);
    }
    for h in (0..3_000u32).step_by(2) {
        let (s, _) = ix.iter().find(|e| e.1 == h).unwrap();
        assert_eq!(sl.remove(s, of(h), of), Some(h));
        assert_eq!(ix.remove(s, of(h), of), Some(h));
    }
    assert_eq!(sl.len, ix.len());
    let all: Vec<_> = ix.iter().collect();
    assert_eq!(sl.range(0, usize::MAX).collect::<Vec<_>>(), all);
}

/// One structure's timings, in ns per operation, and bytes per element.
struct Figures {
    insert: f64,
    rank: f64,
    range: f64,
    remove: f64,
    bytes: f64,
}

/// The operations both structures offer the measurement.
trait Ordered {
    fn put(&mut self, score: f64, h: u32, ms: &[[u8; 16]]);
    fn take(&mut self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<u32>;
    fn rank_of(&self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<usize>;
    fn read(&self, rank: usize, k: usize) -> u64;
    fn bytes(&self) -> usize;
}

impl<const L: usize, const F: usize> Ordered for Tree<L, F> {
    fn put(&mut self, score: f64, h: u32, ms: &[[u8; 16]]) {
        self.insert(score, h, |h| &ms[h as usize][..])
    }
    fn take(&mut self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<u32> {
        self.remove(score, m, |h| &ms[h as usize][..])
    }
    fn rank_of(&self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<usize> {
        self.rank(score, m, |h| &ms[h as usize][..])
    }
    fn read(&self, rank: usize, k: usize) -> u64 {
        self.iter_from(rank).take(k).map(|e| u64::from(e.1)).sum()
    }
    fn bytes(&self) -> usize {
        self.memory()
    }
}

impl Ordered for SkipList {
    fn put(&mut self, score: f64, h: u32, ms: &[[u8; 16]]) {
        self.insert(score, h, |h| &ms[h as usize][..])
    }
    fn take(&mut self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<u32> {
        self.remove(score, m, |h| &ms[h as usize][..])
    }
    fn rank_of(&self, score: f64, m: &[u8], ms: &[[u8; 16]]) -> Option<usize> {
        self.rank(score, m, |h| &ms[h as usize][..])
    }
    fn read(&self, rank: usize, k: usize) -> u64 {
        self.range(rank, k).map(|e| u64::from(e.1)).sum()
    }
    fn bytes(&self) -> usize {
        self.memory()
    }
}

fn ns_per(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Inserts `scores` (handle = index) in random order, looks up every
/// rank, reads 100k runs of 10, removes everything in another order.
fn measure(s: &mut dyn Ordered, scores: &[f64], members: &[[u8; 16]]) -> Figures {
    let of = |h: u32| &members[h as usize][..];
    let n = scores.len();
    let mut rng = Rng(11);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let t = Instant::now();
    for &h in &order {
        s.put(scores[h as usize], h, members);
    }
    let insert = ns_per(t, n);
    let bytes = s.bytes() as f64 / n as f64;
    let probes: Vec<u32> = (0..n).map(|_| rng.below(n) as u32).collect();
    let t = Instant::now();
    for &h in &probes {
        black_box(s.rank_of(scores[h as usize], of(h), members));
    }
    let rank = ns_per(t, n);
    let starts: Vec<usize> = (0..100_000).map(|_| rng.below(n - 10)).collect();
    let t = Instant::now();
    for &r in &starts {
        black_box(s.read(r, 10));
    }
    let range = ns_per(t, starts.len());
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let t = Instant::now();
    for &h in &order {
        black_box(s.take(scores[h as usize], of(h), members));
    }
    let remove = ns_per(t, n);
    Figures {
        insert,
        rank,
        range,
        remove,
        bytes,
    }
}

/// The figures of the module docs: `cargo test --release --lib zindex --
/// --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn measure_btree_against_skiplist() {
    const N: usize = 1_000_000;
    let members: Vec<[u8; 16]> = (0..N)
        .map(|i| {
            let mut m = *b"member:000000000";
            m[7..].copy_from_slice(format!("{i:09}").as_bytes());
            m
        })
        .collect();
    let mut rng = Rng(5);
    let random: Vec<f64> = (0..N).map(|_| (rng.next() >> 11) as f64).collect();
    let ties: Vec<f64> = (0..N).map(|_| rng.below(1000) as f64).collect();
    println!(
        "1M elements, 16-byte members; ns per operation (range: 10 elements from a random rank)"
    );
    println!(
        "{:<34} {:>8} {:>8} {:>10} {:>8} {:>12}",
        "structure, scores", "insert", "rank", "range 10", "remove", "bytes/elem"
    );
    for (name, scores) in [("random", &random), ("1000 distinct (ties)", &ties)] {
        let mut sl = SkipList::new();
        let f = measure(&mut sl, scores, &members);
        // The arena's figure, and what Redis's node layout would take.
        let redis = {
            let mut sl = SkipList::new();
            for (h, &s) in scores.iter().enumerate() {
                sl.insert(s, h as u32, |h| &members[h as usize][..]);
            }
            sl.redis_bytes as f64 / N as f64
        };
        let rows = [
            (
                format!("B+tree {LEAF_CAP}/{INNER_CAP}, {name}"),
                measure(&mut ZIndex::new(), scores, &members),
                String::new(),
            ),
            (
                format!("B+tree 63/63, {name}"),
                measure(&mut Tree::<63, 63>::new(), scores, &members),
                String::new(),
            ),
            (
                format!("skip list, {name}"),
                f,
                format!(" (Redis layout {redis:.1})"),
            ),
        ];
        for (label, f, note) in rows {
            println!(
                "{label:<34} {:>8.0} {:>8.0} {:>10.0} {:>8.0} {:>12.1}{note}",
                f.insert, f.rank, f.range, f.remove, f.bytes
            );
        }
    }
}
