//! The index against a model (a sorted `Vec`), with structural invariants
//! checked after every step.

use super::*;
use proptest::prelude::*;

/// The caller's side: members by handle, handles reused after removal (a
/// freed handle's member is overwritten, so a stale separator shows).
#[derive(Default)]
struct Members {
    slab: Vec<Vec<u8>>,
    free: Vec<u32>,
}

impl Members {
    fn add(&mut self, member: Vec<u8>) -> u32 {
        match self.free.pop() {
            Some(h) => {
                self.slab[h as usize] = member;
                h
            }
            None => {
                self.slab.push(member);
                (self.slab.len() - 1) as u32
            }
        }
    }

    fn free(&mut self, h: u32) {
        self.slab[h as usize] = b"\xfe\xfe freed".to_vec();
        self.free.push(h);
    }

    fn of<'a>(&'a self) -> impl Fn(u32) -> &'a [u8] + 'a {
        move |h| self.slab[h as usize].as_slice()
    }
}

/// Distinct members with long shared prefixes and prefix relations: `k`
/// times `x` (k < 7), then a bijective base-3 numeral over `\0`, `a`,
/// `\xff`.
pub(super) fn member(i: usize) -> Vec<u8> {
    let mut m = vec![b'x'; (i % 7) * 6];
    let mut n = i / 7;
    while n > 0 {
        let d = (n - 1) % 3;
        m.push([0u8, b'a', 0xff][d]);
        n = (n - 1) / 3;
    }
    m
}

const SCORES: [f64; 9] = [
    f64::NEG_INFINITY,
    -1.5,
    -0.0,
    0.0,
    1.0,
    2.0,
    2.5,
    1e300,
    f64::INFINITY,
];

/// The model: (score, handle) sorted as Redis sorts.
struct Model<const L: usize, const F: usize> {
    ix: Tree<L, F>,
    members: Members,
    sorted: Vec<(f64, u32)>,
}

impl<const L: usize, const F: usize> Model<L, F> {
    fn new() -> Self {
        Model {
            ix: Tree::new(),
            members: Members::default(),
            sorted: Vec::new(),
        }
    }

    fn key_cmp(&self, a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
        a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(b.1))
    }

    fn position(&self, score: f64, m: &[u8]) -> Result<usize, usize> {
        self.sorted.binary_search_by(|&(s, h)| {
            self.key_cmp((s, &self.members.slab[h as usize]), (score, m))
        })
    }

    fn find_member(&self, m: &[u8]) -> Option<(f64, u32)> {
        self.sorted
            .iter()
            .copied()
            .find(|&(_, h)| self.members.slab[h as usize] == m)
    }

    fn insert(&mut self, score: f64, m: Vec<u8>) {
        if let Some((old, h)) = self.find_member(&m) {
            self.remove(old, &m, Some(h));
        }
        let pos = self.position(score, &m).unwrap_err();
        let h = self.members.add(m);
        self.ix.insert(score, h, self.members.of());
        self.sorted.insert(pos, (score + 0.0, h));
        assert_eq!(self.ix.len(), self.sorted.len());
    }

    fn remove(&mut self, score: f64, m: &[u8], expect: Option<u32>) {
        let got = self.ix.remove(score, m, self.members.of());
        assert_eq!(got, expect, "remove {score} {m:?}");
        if let Ok(pos) = self.position(score, m) {
            let (_, h) = self.sorted.remove(pos);
            self.members.free(h);
        }
    }

    fn forget(&mut self, handles: &[u32]) {
        for &h in handles {
            self.members.free(h);
        }
    }

    fn pick(&self, i: usize) -> Option<(f64, u32)> {
        (!self.sorted.is_empty()).then(|| self.sorted[i % self.sorted.len()])
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Insert(s, m) => self.insert(SCORES[s], member(m)),
            Op::Remove(i) => {
                if let Some((s, h)) = self.pick(i) {
                    let m = self.members.slab[h as usize].clone();
                    let s = if s == 0.0 && i % 2 == 0 { -0.0 } else { s };
                    self.remove(s, &m, Some(h));
                }
            }
            Op::RemoveAbsent(s, m) => {
                let m = member(m);
                if self.position(SCORES[s], &m).is_err() {
                    self.remove(SCORES[s], &m, None);
                }
            }
            Op::Rank(i) => {
                if let Some((s, h)) = self.pick(i) {
                    let m = &self.members.slab[h as usize];
                    let want = self.position(s, m).ok();
                    let of = self.members.of();
                    assert_eq!(self.ix.rank(s, m, &of), want);
                    assert_eq!(self.ix.rank(-s, m, &of).is_some(), s == 0.0);
                }
            }
            Op::RankAbsent(s, m) => {
                let m = member(m);
                let want = self.position(SCORES[s], &m).ok();
                assert_eq!(self.ix.rank(SCORES[s], &m, self.members.of()), want);
            }
            Op::Get(r) => {
                assert_eq!(self.ix.get(r), self.sorted.get(r).copied());
                assert_eq!(self.ix.get(self.sorted.len() + r), None);
            }
            Op::Iter(r, take) => {
                let got: Vec<_> = self.ix.iter_from(r).take(take).collect();
                let want: Vec<_> = self.sorted.iter().skip(r).take(take).copied().collect();
                assert_eq!(got, want);
                assert_eq!(
                    self.ix.iter_from(r).len(),
                    self.sorted.len().saturating_sub(r)
                );
            }
            Op::Rev(r, take) => {
                let got: Vec<_> = self.ix.iter_rev_from(r).take(take).collect();
                let want: Vec<_> = if r < self.sorted.len() {
                    self.sorted[..=r].iter().rev().take(take).copied().collect()
                } else {
                    Vec::new()
                };
                assert_eq!(got, want);
            }
            Op::Score(a, ax, b, bx) => {
                let (lo, hi) = (SCORES[a], SCORES[b]);
                let min = if ax {
                    ScoreBound::Exclusive(lo)
                } else {
                    ScoreBound::Inclusive(lo)
                };
                let max = if bx {
                    ScoreBound::Exclusive(hi)
                } else {
                    ScoreBound::Inclusive(hi)
                };
                let inside = |s: f64| {
                    (if ax { s > lo } else { s >= lo }) && (if bx { s < hi } else { s <= hi })
                };
                let want: Vec<usize> = (0..self.sorted.len())
                    .filter(|&i| inside(self.sorted[i].0))
                    .collect();
                let got = self.ix.score_range(min, max);
                assert_eq!(got.clone().collect::<Vec<_>>(), want, "{min:?} {max:?}");
            }
            Op::Lex(a, b) => {
                // Valid when all scores are equal: check on the elements of
                // one score, in an index of their own.
                let of = self.members.of();
                let score = self.sorted.first().map_or(0.0, |e| e.0);
                let mut same = Tree::<L, F>::new();
                let mut ms: Vec<(Vec<u8>, u32)> = Vec::new();
                for &(s, h) in &self.sorted {
                    if s == score {
                        same.insert(s, h, &of);
                        ms.push((self.members.slab[h as usize].clone(), h));
                    }
                }
                let (ma, mb) = (member(a.1), member(b.1));
                let (min, max) = (lex_bound(a.0, &ma), lex_bound(b.0, &mb));
                let above = |m: &[u8]| match min {
                    LexBound::Min => true,
                    LexBound::Max => false,
                    LexBound::Inclusive(x) => m >= x,
                    LexBound::Exclusive(x) => m > x,
                };
                let below = |m: &[u8]| match max {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::Inclusive(x) => m <= x,
                    LexBound::Exclusive(x) => m < x,
                };
                let want: Vec<u32> = ms
                    .iter()
                    .filter(|(m, _)| above(m) && below(m))
                    .map(|e| e.1)
                    .collect();
                let r = same.lex_range(min, max, &of);
                let got: Vec<u32> = same.iter_from(r.start).take(r.len()).map(|e| e.1).collect();
                assert_eq!(got, want, "{min:?} {max:?}");
                check(&same, &of);
                // Mixed scores break ZRANGEBYLEX's contract: any answer, no
                // panic.
                let r = self.ix.lex_range(min, max, &of);
                assert!(r.start <= r.end && r.end <= self.ix.len());
            }
            Op::PopFirst => {
                let want = (!self.sorted.is_empty()).then(|| self.sorted.remove(0));
                assert_eq!(self.ix.pop_first(), want);
                self.forget(
                    want.as_slice()
                        .iter()
                        .map(|e| e.1)
                        .collect::<Vec<_>>()
                        .as_slice(),
                );
            }
            Op::PopLast => {
                let want = self.sorted.pop();
                assert_eq!(self.ix.pop_last(), want);
                self.forget(
                    want.as_slice()
                        .iter()
                        .map(|e| e.1)
                        .collect::<Vec<_>>()
                        .as_slice(),
                );
            }
            Op::RemoveRange(a, k) => {
                let n = self.sorted.len();
                let start = a.min(n);
                let end = (start + k).min(n);
                let want: Vec<u32> = self.sorted.drain(start..end).map(|e| e.1).collect();
                assert_eq!(self.ix.remove_range(a..a + k), want);
                self.forget(&want);
            }
        }
        check(&self.ix, &self.members.of());
        assert_eq!(self.ix.len(), self.sorted.len());
    }
}

fn lex_bound(kind: u8, m: &[u8]) -> LexBound<'_> {
    match kind % 4 {
        0 => LexBound::Min,
        1 => LexBound::Max,
        2 => LexBound::Inclusive(m),
        _ => LexBound::Exclusive(m),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, usize),
    Remove(usize),
    RemoveAbsent(usize, usize),
    Rank(usize),
    RankAbsent(usize, usize),
    Get(usize),
    Iter(usize, usize),
    Rev(usize, usize),
    Score(usize, bool, usize, bool),
    Lex((u8, usize), (u8, usize)),
    PopFirst,
    PopLast,
    RemoveRange(usize, usize),
}

fn op(members: usize) -> impl Strategy<Value = Op> {
    let s = 0..SCORES.len();
    let m = 0..members;
    prop_oneof![
        12 => (s.clone(), m.clone()).prop_map(|(s, m)| Op::Insert(s, m)),
        4 => any::<usize>().prop_map(Op::Remove),
        1 => (s.clone(), m.clone()).prop_map(|(s, m)| Op::RemoveAbsent(s, m)),
        2 => any::<usize>().prop_map(Op::Rank),
        1 => (s.clone(), m.clone()).prop_map(|(s, m)| Op::RankAbsent(s, m)),
        1 => (0..300usize).prop_map(Op::Get),
        1 => (0..300usize, 0..40usize).prop_map(|(r, k)| Op::Iter(r, k)),
        1 => (0..300usize, 0..40usize).prop_map(|(r, k)| Op::Rev(r, k)),
        1 => (s.clone(), any::<bool>(), s, any::<bool>()).prop_map(|(a, ax, b, bx)| Op::Score(a, ax, b, bx)),
        1 => ((any::<u8>(), m.clone()), (any::<u8>(), m)).prop_map(|(a, b)| Op::Lex(a, b)),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        1 => (0..300usize, 0..30usize).prop_map(|(a, k)| Op::RemoveRange(a, k)),
    ]
}

/// Checks the structure: order, counts, separators, equal leaf depth,
/// capacities, the census and `memory()`; returns nothing, panics on a
/// violation.
fn check<'m, const L: usize, const F: usize>(ix: &Tree<L, F>, of: &impl Fn(u32) -> &'m [u8]) {
    let mut census = Census::default();
    let mut depth = None;
    if let Some(root) = &ix.root {
        let n = walk(root, 0, &mut depth, &mut census);
        assert_eq!(n, ix.len);
    } else {
        assert_eq!(ix.len, 0);
    }
    assert_eq!(census, ix.census);
    let leaf = size_class(std::mem::size_of::<Leaf<L>>());
    let inner = size_class((F + 1) * std::mem::size_of::<Child<L, F>>());
    assert_eq!(ix.memory(), census.leaves * leaf + census.inners * inner);
    let all: Vec<_> = ix.iter().collect();
    assert_eq!(all.len(), ix.len);
    for w in all.windows(2) {
        let ((s, h), (t, g)) = (w[0], w[1]);
        assert_eq!(
            cmp_entry(s, h, t, of(g), of),
            Ordering::Less,
            "out of order"
        );
    }
    for &(s, _) in &all {
        assert!(
            !s.is_nan() && (s != 0.0 || s.is_sign_positive()),
            "score {s}"
        );
    }
}

fn walk<const L: usize, const F: usize>(
    node: &Node<L, F>,
    level: usize,
    depth: &mut Option<usize>,
    census: &mut Census,
) -> usize {
    match node {
        Node::Leaf(leaf) => {
            census.leaves += 1;
            assert!(leaf.len() > 0 && leaf.len() <= L, "leaf of {}", leaf.len());
            assert_eq!(*depth.get_or_insert(level), level, "leaves at one depth");
            leaf.len()
        }
        Node::Inner(children) => {
            census.inners += 1;
            assert!(!children.is_empty() && children.len() <= F);
            assert_eq!(children.capacity(), F + 1, "child array never reallocated");
            for c in children {
                assert_eq!(walk(&c.node, level + 1, depth, census), c.count);
                let (s, h) = c.node.first();
                assert!(
                    s.to_bits() == c.min_score.to_bits() && h == c.min_handle,
                    "separator"
                );
            }
            total(children)
        }
    }
}

fn run<const L: usize, const F: usize>(ops: &[Op]) {
    let mut model = Model::<L, F>::new();
    for op in ops {
        model.step(op);
    }
    while let Some(e) = model.ix.pop_first() {
        assert_eq!(e, model.sorted.remove(0));
    }
    assert_eq!(model.ix.memory(), 0, "memory returns to 0 when empty");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tiny_nodes_match_the_model(ops in prop::collection::vec(op(120), 1..600)) {
        run::<4, 4>(&ops);
    }

    #[test]
    fn small_nodes_match_the_model(ops in prop::collection::vec(op(400), 1..600)) {
        run::<6, 5>(&ops);
    }

    #[test]
    fn default_nodes_match_the_model(ops in prop::collection::vec(op(400), 1..400)) {
        run::<LEAF_CAP, INNER_CAP>(&ops);
    }
}

/// xorshift64*, for long seeded runs.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn long_seeded_run_grows_deep_trees_and_drains() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model = Model::<4, 4>::new();
    for round in 0..4 {
        let (grow, shrink) = (3_000, if round == 3 { 10_000 } else { 1_500 });
        for _ in 0..grow {
            let op = Op::Insert(rng.below(SCORES.len()), rng.below(5_000));
            model.step(&op);
        }
        for _ in 0..shrink {
            let op = match rng.below(4) {
                0 => Op::Remove(rng.below(1 << 20)),
                1 => Op::RemoveRange(rng.below(model.sorted.len() + 1), rng.below(50)),
                2 => Op::PopLast,
                _ => Op::Rank(rng.below(1 << 20)),
            };
            model.step(&op);
        }
    }
    assert!(model.ix.is_empty());
    assert_eq!(model.ix.memory(), 0);
}

#[test]
fn ascending_and_descending_scores_fill_leaves() {
    let members: Vec<Vec<u8>> = (0..10_000).map(member).collect();
    let of = |h: u32| members[h as usize].as_slice();
    let full = size_class(std::mem::size_of::<Leaf<LEAF_CAP>>()) as f64 / LEAF_CAP as f64;
    for descending in [false, true] {
        let mut ix = ZIndex::new();
        for h in 0..10_000u32 {
            let s = if descending {
                -f64::from(h)
            } else {
                f64::from(h)
            };
            ix.insert(s, h, of);
        }
        check(&ix, &of);
        let per = ix.memory() as f64 / ix.len() as f64;
        assert!(
            per < full * 1.15,
            "{per} bytes per element, full leaves {full}"
        );
    }
}

#[test]
fn memory_follows_the_elements() {
    let members: Vec<Vec<u8>> = (0..20_000).map(member).collect();
    let of = |h: u32| members[h as usize].as_slice();
    let mut rng = Rng(7);
    let mut ix = ZIndex::new();
    assert_eq!(ix.memory(), 0);
    let mut last = 0;
    for h in 0..20_000u32 {
        ix.insert((rng.next() % 1000) as f64, h, of);
        // Grows by whole nodes only, and never shrinks while inserting.
        assert!(ix.memory() >= last);
        last = ix.memory();
    }
    let per = ix.memory() as f64 / ix.len() as f64;
    assert!((12.0..30.0).contains(&per), "{per} bytes per element");
    let removed = ix.remove_range(1_000..19_000);
    assert_eq!(removed.len(), 18_000);
    check(&ix, &of);
    assert!(ix.memory() < last / 5, "{} after removing 90%", ix.memory());
    assert_eq!(ix.remove_range(0..usize::MAX).len(), 2_000);
    assert_eq!(ix.memory(), 0);
}

#[test]
fn negative_zero_is_zero() {
    let members = [b"a".to_vec(), b"b".to_vec()];
    let of = |h: u32| members[h as usize].as_slice();
    let mut ix = ZIndex::new();
    ix.insert(-0.0, 1, of);
    ix.insert(0.0, 0, of);
    assert_eq!(ix.rank(0.0, b"b", of), Some(1));
    assert_eq!(ix.rank(-0.0, b"a", of), Some(0));
    assert_eq!(ix.get(1).map(|e| e.0.is_sign_positive()), Some(true));
    assert_eq!(
        ix.score_range(ScoreBound::Inclusive(-0.0), ScoreBound::Inclusive(0.0)),
        0..2
    );
    assert_eq!(
        ix.score_range(ScoreBound::Exclusive(-0.0), ScoreBound::Inclusive(0.0)),
        2..2
    );
    assert_eq!(ix.remove(-0.0, b"b", of), Some(1));
}

#[test]
fn an_empty_index_answers_nothing() {
    let of = |_: u32| -> &'static [u8] { b"m" };
    let mut ix = ZIndex::new();
    assert_eq!((ix.len(), ix.memory()), (0, 0));
    assert_eq!(ix.get(0), None);
    assert_eq!(ix.rank(1.0, b"m", of), None);
    assert_eq!(ix.remove(1.0, b"m", of), None);
    assert_eq!(ix.iter_from(0).count(), 0);
    assert_eq!(ix.iter_rev_from(0).count(), 0);
    assert_eq!((ix.pop_first(), ix.pop_last()), (None, None));
    assert_eq!(ix.remove_range(0..10), Vec::<u32>::new());
    let all = (
        ScoreBound::Inclusive(f64::NEG_INFINITY),
        ScoreBound::Inclusive(f64::INFINITY),
    );
    assert_eq!(ix.score_range(all.0, all.1), 0..0);
    assert_eq!(ix.lex_range(LexBound::Min, LexBound::Max, of), 0..0);
    ix.insert(1.0, 0, of);
    assert_eq!(ix.score_range(all.0, all.1), 0..1);
    assert_eq!(ix.lex_range(LexBound::Max, LexBound::Min, of), 1..1);
    assert_eq!(ix.iter_rev_from(5).count(), 0, "a rank past the end");
}
