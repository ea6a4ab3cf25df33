//! The quicklist against a `VecDeque<Vec<u8>>` model (Redis list semantics
//! written out plainly), its node bounds, and its memory accounting.

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

impl QuickList {
    /// Checks the structure: counts, no empty node, limits, heap total.
    fn check(&self) {
        let counted: usize = self.nodes.iter().map(|n| n.count as usize).sum();
        assert_eq!(counted, self.len, "node counts");
        let capacity: usize = self.nodes.iter().map(|n| n.buf.capacity()).sum();
        assert_eq!(capacity, self.heap, "heap total");
        for (i, node) in self.nodes.iter().enumerate() {
            assert!(node.count > 0, "empty node {i}");
            assert_eq!(
                node.elements().count(),
                node.count as usize,
                "node {i} decodes"
            );
            assert!(
                self.limits.fits(node.bytes(), node.count as usize),
                "node {i} over the limit: {} bytes, {} elements",
                node.bytes(),
                node.count
            );
        }
        if let Some(starts) = &self.back_starts {
            let last = self.nodes.back().expect("a pop_back index without nodes");
            assert_eq!(*starts, last.starts(), "pop_back index");
        }
        if self.nodes.is_empty() {
            assert_eq!(self.memory(), 0, "an empty list holds nothing");
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    PushBack(Vec<u8>),
    PushFront(Vec<u8>),
    /// `n` small elements cycling over three values, to make many nodes.
    PushMany(bool, usize, usize),
    PopFront,
    PopBack,
    Get(i64),
    Set(i64, Vec<u8>),
    Insert(Vec<u8>, bool, Vec<u8>),
    Remove(i64, Vec<u8>),
    Trim(i64, i64),
    Range(i64, i64),
    Position(Vec<u8>, i64, usize, usize),
    DrainSome(usize),
}

/// Mostly tiny values over a small alphabet (so LREM/LINSERT/LPOS match),
/// some medium, some bigger than every node byte limit below 16 KiB.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (0u8..3, 0usize..4).prop_map(|(b, n)| vec![b'a' + b; n]),
        3 => (0u8..3, 4usize..400).prop_map(|(b, n)| vec![b'a' + b; n]),
        1 => (0u8..2, 3_000usize..10_000).prop_map(|(b, n)| vec![b'a' + b; n]),
    ]
}

fn index() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -20i64..20,
        2 => -2_000i64..2_000,
        1 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => value().prop_map(Op::PushBack),
        4 => value().prop_map(Op::PushFront),
        1 => (any::<bool>(), 1usize..700, 0usize..20).prop_map(|(b, n, l)| Op::PushMany(b, n, l)),
        2 => Just(Op::PopFront),
        2 => Just(Op::PopBack),
        2 => index().prop_map(Op::Get),
        2 => (index(), value()).prop_map(|(i, v)| Op::Set(i, v)),
        2 => (value(), any::<bool>(), value()).prop_map(|(p, b, v)| Op::Insert(p, b, v)),
        2 => (prop_oneof![-5i64..5, Just(i64::MIN), Just(i64::MAX)], value())
            .prop_map(|(c, v)| Op::Remove(c, v)),
        1 => (index(), index()).prop_map(|(a, b)| Op::Trim(a, b)),
        2 => (index(), index()).prop_map(|(a, b)| Op::Range(a, b)),
        2 => (value(), prop_oneof![-4i64..4, Just(i64::MIN)], 0usize..4, 0usize..50)
            .prop_map(|(v, r, c, m)| Op::Position(v, r, c, m)),
        1 => (0usize..800).prop_map(Op::DrainSome),
    ]
}

fn cycled(i: usize, len: usize) -> Vec<u8> {
    vec![b'a' + (i % 3) as u8; len]
}

/// Redis's index rule: negative counts from the end; `None` out of range.
fn model_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 {
        len as i128 + index as i128
    } else {
        index as i128
    };
    (0..len as i128).contains(&i).then_some(i as usize)
}

/// LRANGE/LTRIM's rule, as Redis's `ltrimCommand` writes it.
fn model_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i128;
    let (mut start, mut stop) = (start as i128, stop as i128);
    if start < 0 {
        start += len;
    }
    if stop < 0 {
        stop += len;
    }
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

fn model_remove(m: &mut VecDeque<Vec<u8>>, count: i64, v: &[u8]) -> usize {
    let hits: Vec<usize> = (0..m.len()).filter(|&i| m[i] == v).collect();
    let limit = if count == 0 {
        hits.len()
    } else {
        (count.unsigned_abs() as usize).min(hits.len())
    };
    let chosen: Vec<usize> = if count < 0 {
        hits[hits.len() - limit..].to_vec()
    } else {
        hits[..limit].to_vec()
    };
    for &i in chosen.iter().rev() {
        m.remove(i);
    }
    chosen.len()
}

fn model_position(
    m: &VecDeque<Vec<u8>>,
    v: &[u8],
    rank: i64,
    count: usize,
    maxlen: usize,
) -> Vec<usize> {
    let order: Vec<usize> = if rank < 0 {
        (0..m.len()).rev().collect()
    } else {
        (0..m.len()).collect()
    };
    let mut skip = rank.unsigned_abs().max(1) - 1;
    let mut out = Vec::new();
    for (compared, i) in order.into_iter().enumerate() {
        if maxlen != 0 && compared >= maxlen {
            break;
        }
        if m[i] != v {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        out.push(i);
        if count != 0 && out.len() == count {
            break;
        }
    }
    out
}

/// Runs one op on both; fails on any difference in what it returns.
fn apply(q: &mut QuickList, m: &mut VecDeque<Vec<u8>>, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::PushBack(v) => {
            q.push_back(v);
            m.push_back(v.clone());
        }
        Op::PushFront(v) => {
            q.push_front(v);
            m.push_front(v.clone());
        }
        Op::PushMany(back, n, len) => {
            for i in 0..*n {
                let v = cycled(i, *len);
                if *back {
                    q.push_back(&v);
                    m.push_back(v);
                } else {
                    q.push_front(&v);
                    m.push_front(v);
                }
            }
        }
        Op::PopFront => prop_assert_eq!(q.pop_front(), m.pop_front()),
        Op::PopBack => prop_assert_eq!(q.pop_back(), m.pop_back()),
        Op::Get(i) => {
            let want = model_index(m.len(), *i).map(|i| m[i].as_slice());
            prop_assert_eq!(q.get(*i), want);
        }
        Op::Set(i, v) => {
            let want = model_index(m.len(), *i);
            if let Some(i) = want {
                m[i] = v.clone();
            }
            prop_assert_eq!(q.set(*i, v), want.is_some());
        }
        Op::Insert(pivot, before, v) => {
            let want = m.iter().position(|e| e == pivot).map(|i| {
                m.insert(if *before { i } else { i + 1 }, v.clone());
                m.len()
            });
            prop_assert_eq!(q.insert(pivot, *before, v), want);
        }
        Op::Remove(count, v) => prop_assert_eq!(q.remove(*count, v), model_remove(m, *count, v)),
        Op::Trim(start, stop) => {
            q.trim(*start, *stop);
            match model_range(m.len(), *start, *stop) {
                None => m.clear(),
                Some((s, e)) => {
                    m.truncate(e + 1);
                    m.drain(..s);
                }
            }
        }
        Op::Range(start, stop) => {
            let got: Vec<&[u8]> = q.range(*start, *stop).collect();
            let want: Vec<&[u8]> = match model_range(m.len(), *start, *stop) {
                None => Vec::new(),
                Some((s, e)) => m.range(s..=e).map(|v| v.as_slice()).collect(),
            };
            prop_assert_eq!(q.range(*start, *stop).len(), want.len());
            prop_assert_eq!(got, want);
        }
        Op::Position(v, rank, count, maxlen) => {
            let want = model_position(m, v, *rank, *count, *maxlen);
            prop_assert_eq!(q.position(v, *rank, *count, *maxlen), want);
        }
        Op::DrainSome(max) => {
            let n = (*max).min(m.len());
            m.drain(..n);
            prop_assert_eq!(q.drain_some(*max), n);
        }
    }
    Ok(())
}

fn run_against_model(fill: i64, cases: u32) {
    let strategy = proptest::collection::vec(op(), 1..120);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    runner
        .run(&strategy, |ops| {
            let mut q = QuickList::new(fill);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in &ops {
                apply(&mut q, &mut m, op)?;
                q.check();
                prop_assert_eq!(q.len(), m.len());
                prop_assert!(
                    q.iter().eq(m.iter().map(|v| v.as_slice())),
                    "iter after {:?}",
                    op
                );
                prop_assert!(
                    q.iter_rev().eq(m.iter().rev().map(|v| v.as_slice())),
                    "iter_rev after {:?}",
                    op
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn matches_the_model_fill_minus_2() {
    run_against_model(-2, 96);
}

#[test]
fn matches_the_model_fill_minus_1() {
    run_against_model(-1, 96);
}

#[test]
fn matches_the_model_fill_1() {
    run_against_model(1, 48);
}

#[test]
fn matches_the_model_fill_3() {
    run_against_model(3, 64);
}

#[test]
fn matches_the_model_fill_128() {
    run_against_model(128, 96);
}

#[test]
fn matches_the_model_fill_0_and_minus_5() {
    run_against_model(0, 24);
    run_against_model(-5, 48);
}

#[test]
fn fill_means_what_list_max_listpack_size_means() {
    let mut q = QuickList::new(3);
    (0..10).for_each(|i| q.push_back(&cycled(i, 5)));
    assert_eq!(q.node_count(), 4, "3 + 3 + 3 + 1");
    let mut q = QuickList::new(0);
    (0..10).for_each(|i| q.push_front(&cycled(i, 5)));
    assert_eq!(q.node_count(), 10, "fill 0: one element a node");
    for fill in -5..=-1i64 {
        let mut q = QuickList::new(fill);
        (0..20_000).for_each(|_| q.push_back(&[7u8; 15]));
        let limit = 4096 << (-fill - 1);
        assert_eq!(
            q.node_count(),
            20_000usize.div_ceil(limit / 16),
            "fill {fill}"
        );
        assert!(q.nodes.iter().all(|n| n.bytes() <= limit));
    }
    assert_eq!(
        QuickList::new(-100).limits.bytes,
        64 * 1024,
        "below -5 counts as -5"
    );
    assert_eq!(QuickList::new(1 << 40).limits.count, 32767, "FILL_MAX");
}

#[test]
fn an_element_bigger_than_the_limit_gets_its_own_node() {
    let mut q = QuickList::new(-1);
    q.push_back(b"a");
    q.push_back(&[b'b'; 5000]);
    q.push_back(b"c");
    q.push_front(&[b'd'; 5000]);
    q.push_front(b"e");
    assert_eq!(q.node_count(), 5);
    assert!(q.set(2, &[b'f'; 9000]));
    q.check();
    assert_eq!(q.insert(b"c", true, &[b'g'; 4090]), Some(6));
    q.check();
    assert_eq!(q.get(4), Some(&[b'g'; 4090][..]));
}

/// The finding this guards: LREM in the middle must merge what it thins
/// out, or a big list keeps thousands of near-empty nodes.
#[test]
fn lrem_and_ltrim_merge_thinned_nodes() {
    let mut q = QuickList::new(-2);
    for i in 0..100_000 {
        q.push_back(if i % 10 == 0 {
            b"keep-me-please!"
        } else {
            b"drop-me-please!"
        });
    }
    let before = q.node_count();
    assert_eq!(q.remove(0, b"drop-me-please!"), 90_000);
    q.check();
    // 10 000 × 16 packed bytes in 8 KiB nodes: about 20, not `before`.
    assert!(
        q.node_count() <= 30,
        "{} nodes left of {before}",
        q.node_count()
    );
    assert!(q.memory() < 10_000 * 16 * 2, "memory {}", q.memory());
    q.trim(1, -2);
    q.check();
    assert_eq!(q.len(), 9_998);
}

#[test]
fn insert_splits_a_full_node_in_halves() {
    let mut q = QuickList::new(4);
    (0..4).for_each(|i| q.push_back(&[i]));
    assert_eq!(q.insert(&[1], false, b"x"), Some(5));
    assert_eq!(q.node_count(), 2);
    assert_eq!(
        q.iter().collect::<Vec<_>>(),
        [&[0u8][..], &[1], b"x", &[2], &[3]]
    );
    q.check();
}

#[test]
fn lpos_examples_from_the_redis_docs() {
    let mut q = QuickList::new(-2);
    for v in ["a", "b", "c", "1", "2", "3", "c", "c"] {
        q.push_back(v.as_bytes());
    }
    assert_eq!(q.position(b"c", 1, 1, 0), [2]);
    assert_eq!(q.position(b"c", 2, 1, 0), [6]);
    assert_eq!(q.position(b"c", -1, 1, 0), [7]);
    assert_eq!(q.position(b"c", 1, 2, 0), [2, 6]);
    assert_eq!(q.position(b"c", -1, 2, 0), [7, 6]);
    assert_eq!(q.position(b"c", 1, 0, 0), [2, 6, 7]);
    assert_eq!(q.position(b"c", 1, 0, 2), Vec::<usize>::new());
    assert_eq!(q.position(b"c", 1, 0, 3), [2]);
    assert_eq!(q.position(b"z", 1, 0, 0), Vec::<usize>::new());
}

#[test]
fn range_starts_at_any_index() {
    let mut q = QuickList::new(-1);
    (0..50_000u32).for_each(|i| q.push_back(&i.to_be_bytes()));
    let got: Vec<u32> = q
        .range(31_337, 31_339)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(got, [31_337, 31_338, 31_339]);
    assert_eq!(q.range(-2, 100_000).count(), 2);
    assert_eq!(q.range(5, 4).count(), 0);
    assert_eq!(q.get(-50_000), Some(&0u32.to_be_bytes()[..]));
    assert_eq!(q.get(-50_001), None);
}

#[test]
fn memory_returns_to_zero_when_emptied() {
    let fill_list = |q: &mut QuickList| (0..100_000).for_each(|i| q.push_back(&cycled(i, 16)));
    let mut q = QuickList::new(-2);
    fill_list(&mut q);
    while q.pop_front().is_some() {}
    assert_eq!(q.memory(), 0, "pop_front");
    fill_list(&mut q);
    while q.pop_back().is_some() {}
    assert_eq!(q.memory(), 0, "pop_back");
    fill_list(&mut q);
    while q.drain_some(1_000) > 0 {}
    assert_eq!(q.memory(), 0, "drain_some");
    fill_list(&mut q);
    q.trim(1, 0);
    assert_eq!(q.memory(), 0, "trim");
    fill_list(&mut q);
    for i in 0..3 {
        q.remove(0, &cycled(i, 16));
    }
    assert_eq!((q.len(), q.memory()), (0, 0), "remove");
    q.check();
}

#[test]
fn memory_grows_linearly_and_close_to_the_payload() {
    for (fill, front) in [(-2, false), (-2, true), (128, false), (-5, true)] {
        let mut q = QuickList::new(fill);
        let push = |q: &mut QuickList, i| {
            let v = cycled(i, 16);
            if front {
                q.push_front(&v)
            } else {
                q.push_back(&v)
            }
        };
        (0..100_000).for_each(|i| push(&mut q, i));
        let half = q.memory();
        (0..100_000).for_each(|i| push(&mut q, i));
        let full = q.memory();
        let per = full as f64 / 200_000.0;
        // 17 packed bytes an element, plus node headers and one partial node.
        assert!(
            (17.0..18.0).contains(&per),
            "fill {fill} front {front}: {per} bytes/element"
        );
        let ratio = full as f64 / half as f64;
        assert!(
            (1.9..2.1).contains(&ratio),
            "fill {fill} front {front}: ratio {ratio}"
        );
        q.check();
    }
}

/// The figures asked for in issue 13:
/// `cargo test --release --lib quicklist -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_one_million_16_byte_elements() {
    use std::time::Instant;
    const N: usize = 1_000_000;
    let values: Vec<[u8; 16]> = (0..N)
        .map(|i| format!("{i:016}").as_bytes().try_into().unwrap())
        .collect();
    let mut q = QuickList::new(-2);
    let t = Instant::now();
    values.iter().for_each(|v| q.push_back(v));
    let push = t.elapsed();
    let mem = q.memory();
    let t = Instant::now();
    let mut popped = 0;
    while let Some(v) = q.pop_front() {
        popped += v.len();
    }
    let pop = t.elapsed();
    assert_eq!(popped, 16 * N);
    println!(
        "quicklist fill -2: {N} push_back {:?} ({:.1} ns/op), memory {mem} B = {:.2} B/element, {} pop_front {:?} ({:.1} ns/op), memory after {}",
        push,
        push.as_nanos() as f64 / N as f64,
        mem as f64 / N as f64,
        N,
        pop,
        pop.as_nanos() as f64 / N as f64,
        q.memory()
    );
    // The other ends, for LPUSH + RPOP queues (pop_back scans one node).
    let t = Instant::now();
    values.iter().for_each(|v| q.push_front(v));
    let push = t.elapsed();
    let mem = q.memory();
    let t = Instant::now();
    while q.pop_back().is_some() {}
    let pop = t.elapsed();
    println!(
        "quicklist fill -2: {N} push_front {:?} ({:.1} ns/op), {:.2} B/element, {N} pop_back {:?} ({:.1} ns/op)",
        push,
        push.as_nanos() as f64 / N as f64,
        mem as f64 / N as f64,
        pop,
        pop.as_nanos() as f64 / N as f64,
    );
    values.iter().for_each(|v| q.push_back(v));
    let t = Instant::now();
    let mut seen = 0;
    for k in 0..1_000i64 {
        seen += q.range(k * 997, k * 997 + 99).count();
    }
    let range = t.elapsed();
    println!(
        "quicklist fill -2: 1000 × LRANGE of 100 at spread starts {range:?} ({seen} elements)"
    );
}

/// The finding this guards: a short queue (RPUSH + LPOP, or LPUSH + RPOP)
/// lives in one node for ever; its popped bytes must be reused, not grown.
#[test]
fn a_steady_queue_stays_small() {
    for front in [false, true] {
        let mut q = QuickList::new(-2);
        let mut peak = 0;
        for i in 0..200_000 {
            let v = cycled(i, 16);
            if front {
                q.push_front(&v);
            } else {
                q.push_back(&v);
            }
            if q.len() > 10 {
                let got = if front { q.pop_back() } else { q.pop_front() };
                assert_eq!(got, Some(cycled(i - 10, 16)));
            }
            peak = peak.max(q.memory());
        }
        assert!(
            peak < 1_024,
            "front {front}: peak {peak} bytes for 10 elements"
        );
        q.check();
    }
}
