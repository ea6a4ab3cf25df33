//! Unit tests of the sorted-set commands on a partition's store: the form
//! changes Redis 7.0 makes (listpack, skiplist), the order of members,
//! ranks and ranges read alike from both forms, `ZADD`'s options,
//! deletion of an emptied set, the commands on several keys, dump and
//! restore, `ZSCAN`'s guarantee and exact memory accounting (lazy freeing
//! included).

use super::super::expiry::Expiry;
use super::testing::{harness_type, Harness, Reply, Shape};
use super::zset::{execute, Aggregate, By, SetOp, ZSetCmd, CH, GT, INCR, LT, NX, XX};
use super::{encoding, pack, Limits, ZSET};
use crate::resp::encode::Proto;

harness_type!(
    ZSets,
    "A partition's store with what sorted-set commands need around it."
);

/// A range's min, max (ranks as 8 bytes), LIMIT offset and count.
fn range_args(by: By, min: &str, max: &str, offset: i64, count: i64) -> Vec<Vec<u8>> {
    let bound = |b: &str| match by {
        By::Rank => b.parse::<i64>().unwrap().to_le_bytes().to_vec(),
        _ => b.as_bytes().to_vec(),
    };
    vec![
        bound(min),
        bound(max),
        offset.to_le_bytes().to_vec(),
        count.to_le_bytes().to_vec(),
    ]
}

impl ZSets {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        Self(Harness::new(limits))
    }

    fn run(&mut self, cmd: ZSetCmd, key: &str, items: &[&[u8]]) -> Reply {
        let shape = Shape::of(cmd.raw_arg(), cmd.is_multi());
        self.0.run(cmd, cmd.is_read(), shape, key, items, execute)
    }

    /// `ZADD key [flags] score member …`.
    fn zadd_with(&mut self, key: &str, flags: u8, pairs: &[(f64, &[u8])]) -> Reply {
        let scores: Vec<[u8; 8]> = pairs.iter().map(|(s, _)| s.to_le_bytes()).collect();
        let mut items: Vec<&[u8]> = Vec::new();
        for (s, (_, m)) in scores.iter().zip(pairs) {
            items.push(s);
            items.push(m);
        }
        self.run(ZSetCmd::Add { flags }, key, &items)
    }

    fn zadd(&mut self, key: &str, pairs: &[(f64, &[u8])]) -> i64 {
        match self.zadd_with(key, 0, pairs) {
            Reply::Int(n) => n,
            other => panic!("ZADD: {other:?}"),
        }
    }

    fn int(&mut self, cmd: ZSetCmd, key: &str, items: &[&[u8]]) -> i64 {
        match self.run(cmd, key, items) {
            Reply::Int(n) => n,
            other => panic!("{cmd:?} {key}: not an integer: {other:?}"),
        }
    }

    fn card(&mut self, key: &str) -> i64 {
        self.int(ZSetCmd::Card, key, &[])
    }

    /// `ZRANGE` (as the connection packs it), replies as text.
    fn range(&mut self, key: &str, by: By, rev: bool, scores: bool, args: Vec<Vec<u8>>) -> Reply {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.run(ZSetCmd::Range { by, rev, scores }, key, &refs)
    }

    /// Every member with its score (as text), in order.
    fn all(&mut self, key: &str) -> Vec<(String, String)> {
        let r = self.range(
            key,
            By::Rank,
            false,
            true,
            range_args(By::Rank, "0", "-1", 0, -1),
        );
        r.items()
            .chunks(2)
            .map(|p| {
                (
                    String::from_utf8_lossy(&p[0]).into_owned(),
                    String::from_utf8_lossy(&p[1]).into_owned(),
                )
            })
            .collect()
    }

    fn encoding(&self, key: &str) -> Option<&'static str> {
        let payload = self.store.collection(key.as_bytes(), ZSET).ok()??;
        Some(encoding(payload))
    }

    fn exists(&self, key: &str) -> bool {
        self.store.contains(key.as_bytes())
    }
}

fn names(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

fn limits(entries: usize, value: usize) -> Limits {
    Limits {
        zset_entries: entries,
        zset_value: value,
        ..Limits::default()
    }
}

// ---------------------------------------------------------------- forms

#[test]
fn a_listpack_becomes_a_skiplist_past_its_entries_or_value() {
    let mut z = ZSets::with_limits(limits(4, 8));
    for (i, m) in names("m", 4).iter().enumerate() {
        z.zadd("k", &[(i as f64, m)]);
    }
    assert_eq!(z.encoding("k"), Some("listpack"));
    // An update of a present member changes nothing.
    z.zadd("k", &[(9.0, b"m0")]);
    assert_eq!(z.encoding("k"), Some("listpack"));
    z.zadd("k", &[(5.0, b"m4")]);
    assert_eq!(z.encoding("k"), Some("skiplist"));
    // Removing members never goes back.
    z.run(ZSetCmd::Rem, "k", &[b"m1", b"m2", b"m3"]);
    assert_eq!(z.encoding("k"), Some("skiplist"));

    z.zadd("v", &[(1.0, b"short")]);
    assert_eq!(z.encoding("v"), Some("listpack"));
    z.zadd("v", &[(1.0, b"longer-than-8")]);
    assert_eq!(z.encoding("v"), Some("skiplist"));
    // A new set starts big if its first member is too long.
    z.zadd("w", &[(1.0, b"longer-than-8"), (2.0, b"x")]);
    assert_eq!(z.encoding("w"), Some("skiplist"));
    let mut zero = ZSets::with_limits(limits(0, 64));
    zero.zadd("k", &[(1.0, b"a")]);
    assert_eq!(zero.encoding("k"), Some("skiplist"));
}

#[test]
fn members_order_by_score_then_bytes_and_small_sets_store_minus_zero_as_zero() {
    for entries in [128, 0] {
        let mut z = ZSets::with_limits(limits(entries, 64));
        z.zadd(
            "k",
            &[
                (2.0, b"b"),
                (1.0, b"z"),
                (2.0, b"a"),
                (f64::NEG_INFINITY, b"lo"),
                (f64::INFINITY, b"hi"),
                (2.0, b"ab"),
                (-0.0, b"nz"),
                (0.0, b"pz"),
            ],
        );
        let shown: Vec<(String, String)> = z.all("k");
        let zero = if entries == 0 { "-0" } else { "0" };
        let want = [
            ("lo", "-inf"),
            ("nz", zero),
            ("pz", "0"),
            ("z", "1"),
            ("a", "2"),
            ("ab", "2"),
            ("b", "2"),
            ("hi", "inf"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(m, s)| (m.to_string(), s.to_string()))
            .collect();
        assert_eq!(shown, want, "entries {entries}");
    }
}

/// The same members in both forms answer every read alike.
#[test]
fn both_forms_answer_ranks_and_ranges_alike() {
    let mut small = ZSets::new();
    let mut big = ZSets::with_limits(limits(0, 64));
    let members = names("m", 60);
    for (i, m) in members.iter().enumerate() {
        let s = ((i * 7) % 13) as f64 - 6.0;
        small.zadd("k", &[(s, m)]);
        big.zadd("k", &[(s, m)]);
        small.zadd("lex", &[(0.0, m)]);
        big.zadd("lex", &[(0.0, m)]);
    }
    assert_eq!(small.encoding("k"), Some("listpack"));
    assert_eq!(big.encoding("k"), Some("skiplist"));
    let ranks = ["0", "5", "-1", "-7", "59", "60", "100", "-100"];
    let scores = ["-inf", "+inf", "0", "(0", "-3", "(-3", "6", "(6", "2.5"];
    let lex = ["-", "+", "[m1", "(m1", "[m35", "(m5", "[m", "[n"];
    let mut checked = 0;
    for rev in [false, true] {
        for scores_too in [false, true] {
            for a in ranks {
                for b in ranks {
                    let args = range_args(By::Rank, a, b, 0, -1);
                    let want = small.range("k", By::Rank, rev, scores_too, args.clone());
                    assert_eq!(big.range("k", By::Rank, rev, scores_too, args), want);
                    checked += 1;
                }
            }
            for a in scores {
                for b in scores {
                    for (offset, count) in [(0, -1), (2, 3), (-1, 5), (0, 0), (50, 10)] {
                        let args = range_args(By::Score, a, b, offset, count);
                        let want = small.range("k", By::Score, rev, scores_too, args.clone());
                        assert_eq!(big.range("k", By::Score, rev, scores_too, args), want);
                        checked += 1;
                    }
                }
            }
        }
        for a in lex {
            for b in lex {
                let args = range_args(By::Lex, a, b, 1, 7);
                let want = small.range("lex", By::Lex, rev, false, args.clone());
                assert_eq!(big.range("lex", By::Lex, rev, false, args), want, "{a} {b}");
                let n = small.int(
                    ZSetCmd::Count(By::Lex),
                    "lex",
                    &[a.as_bytes(), b.as_bytes()],
                );
                assert_eq!(
                    big.int(
                        ZSetCmd::Count(By::Lex),
                        "lex",
                        &[a.as_bytes(), b.as_bytes()]
                    ),
                    n
                );
            }
        }
    }
    for a in scores {
        for b in scores {
            let n = small.int(
                ZSetCmd::Count(By::Score),
                "k",
                &[a.as_bytes(), b.as_bytes()],
            );
            assert_eq!(
                big.int(
                    ZSetCmd::Count(By::Score),
                    "k",
                    &[a.as_bytes(), b.as_bytes()]
                ),
                n
            );
        }
    }
    for m in &members {
        for rev in [false, true] {
            let want = small.run(ZSetCmd::Rank { rev }, "k", &[m]);
            assert_eq!(big.run(ZSetCmd::Rank { rev }, "k", &[m]), want);
        }
    }
    assert!(checked > 1000);
}

#[test]
fn zadd_options_as_redis() {
    let mut z = ZSets::new();
    z.zadd("k", &[(5.0, b"a")]);
    let int = |r: Reply| match r {
        Reply::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(int(z.zadd_with("k", NX, &[(1.0, b"a"), (1.0, b"b")])), 1);
    assert_eq!(
        int(z.zadd_with("k", XX | CH, &[(6.0, b"a"), (1.0, b"c")])),
        1
    );
    assert_eq!(
        int(z.zadd_with("k", GT | CH, &[(2.0, b"a"), (7.0, b"a")])),
        1
    );
    assert_eq!(int(z.zadd_with("k", LT | CH, &[(8.0, b"a")])), 0);
    assert_eq!(
        int(z.zadd_with("k", CH, &[(7.0, b"a")])),
        0,
        "the same score"
    );
    assert_eq!(
        z.zadd_with("k", INCR, &[(1.5, b"a")]),
        Reply::Bulk(b"8.5".to_vec())
    );
    assert_eq!(z.zadd_with("k", INCR | NX, &[(1.0, b"a")]), Reply::Null);
    assert_eq!(z.zadd_with("k", INCR | GT, &[(-1.0, b"a")]), Reply::Null);
    assert_eq!(z.zadd_with("missing", XX, &[(1.0, b"a")]), Reply::Int(0));
    assert!(!z.exists("missing"));
    z.zadd("k", &[(f64::INFINITY, b"inf")]);
    assert_eq!(
        z.zadd_with("k", INCR, &[(f64::NEG_INFINITY, b"inf")]),
        Reply::Error(super::score::NAN.trim_start_matches('-').to_string())
    );
    z.proto = Proto::V3;
    assert_eq!(
        z.run(ZSetCmd::Score, "k", &[b"a"]),
        Reply::Double("8.5".into())
    );
    assert_eq!(z.run(ZSetCmd::Score, "k", &[b"nope"]), Reply::Null);
}

#[test]
fn emptied_sets_are_deleted_by_every_removing_command() {
    for entries in [128, 0] {
        let mut z = ZSets::with_limits(limits(entries, 64));
        let fill = |z: &mut ZSets| {
            z.zadd("k", &[(1.0, b"a"), (2.0, b"b"), (3.0, b"c")]);
        };
        fill(&mut z);
        assert_eq!(z.int(ZSetCmd::Rem, "k", &[b"a", b"b", b"c", b"d"]), 3);
        assert!(!z.exists("k"));
        fill(&mut z);
        let rank = range_args(By::Rank, "0", "-1", 0, -1);
        let refs: Vec<&[u8]> = rank[..2].iter().map(Vec::as_slice).collect();
        assert_eq!(z.int(ZSetCmd::RemRange(By::Rank), "k", &refs), 3);
        assert!(!z.exists("k"));
        fill(&mut z);
        assert_eq!(
            z.int(ZSetCmd::RemRange(By::Score), "k", &[b"-inf", b"(3"]),
            2
        );
        assert_eq!(z.int(ZSetCmd::RemRange(By::Lex), "k", &[b"-", b"+"]), 1);
        assert!(!z.exists("k"));
        fill(&mut z);
        let popped = z.run(
            ZSetCmd::Pop {
                max: true,
                count: Some(10),
            },
            "k",
            &[],
        );
        assert_eq!(popped.items(), [&b"c"[..], b"3", b"b", b"2", b"a", b"1"]);
        assert!(!z.exists("k"));
        assert_eq!(z.card("k"), 0);
    }
}

#[test]
fn store_commands_write_small_results_small_and_delete_on_empty() {
    let mut z = ZSets::with_limits(limits(4, 64));
    z.zadd(
        "a",
        &[
            (1.0, b"x"),
            (2.0, b"y"),
            (3.0, b"z"),
            (4.0, b"w"),
            (5.0, b"v"),
        ],
    );
    assert_eq!(z.encoding("a"), Some("skiplist"));
    z.zadd("dst", &[(1.0, b"old")]);
    z.expiry.set(b"dst", 9_000);
    let combine = |op, store| ZSetCmd::Combine {
        op,
        store,
        scores: false,
        aggregate: Aggregate::Sum,
        weights: false,
        error: 0,
        keys: 1,
    };
    // ZRANGESTORE dst a 0 1: two members, a listpack, no TTL.
    let mut items: Vec<Vec<u8>> = vec![b"a".to_vec()];
    items.extend(range_args(By::Rank, "0", "1", 0, -1));
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let store = ZSetCmd::RangeStore {
        by: By::Rank,
        rev: false,
    };
    assert_eq!(z.int(store, "dst", &refs), 2);
    assert_eq!(z.encoding("dst"), Some("listpack"));
    assert_eq!(z.expiry.deadline(b"dst"), None);
    assert_eq!(z.int(combine(SetOp::Union, true), "dst", &[b"a"]), 5);
    assert_eq!(z.encoding("dst"), Some("skiplist"));
    assert_eq!(z.int(combine(SetOp::Diff, true), "dst", &[b"a"]), 5);
    // ZINTERSTORE with a missing source: empty, the destination goes.
    let inter = ZSetCmd::Combine {
        op: SetOp::Inter,
        store: true,
        scores: false,
        aggregate: Aggregate::Sum,
        weights: false,
        error: 0,
        keys: 2,
    };
    assert_eq!(z.int(inter, "dst", &[b"a", b"missing"]), 0);
    assert!(!z.exists("dst"));
    assert_eq!(z.touched, [b"dst".to_vec()]);
}

#[test]
fn zunion_reads_sets_as_scores_of_one_and_checks_types_first() {
    let mut z = ZSets::new();
    z.zadd("z", &[(2.0, b"a"), (5.0, b"c")]);
    let mut s = super::super::ops::Env {
        expiry: &mut Expiry::default(),
        now: 0,
        touched: &mut |_| {},
        reply: &mut Vec::new(),
        proto: Proto::V2,
        limits: Limits::default(),
        rng: &mut 1,
    };
    super::set::execute(
        &mut z.store,
        &mut s,
        super::set::SetCmd::Add,
        b"s",
        &pack::pack([&b"a"[..], b"b"]),
    );
    let union = ZSetCmd::Combine {
        op: SetOp::Union,
        store: false,
        scores: true,
        aggregate: Aggregate::Sum,
        weights: true,
        error: 0,
        keys: 1,
    };
    let (w1, w2) = (1.0f64.to_le_bytes(), 10.0f64.to_le_bytes());
    let r = z.run(union, "z", &[b"s", &w1, &w2]);
    assert_eq!(r.items(), [&b"c"[..], b"5", b"b", b"10", b"a", b"12"]);
    z.store.put(b"str", b"v");
    let bad = ZSetCmd::Combine {
        op: SetOp::Union,
        store: false,
        scores: true,
        aggregate: Aggregate::Sum,
        weights: true,
        error: 1,
        keys: 1,
    };
    assert_eq!(
        z.run(bad, "z", &[b"str", &w1, &w2]),
        Reply::Error(super::WRONGTYPE.to_string()),
        "WRONGTYPE before the options' syntax error"
    );
    assert_eq!(
        z.run(bad, "z", &[b"s", &w1, &w2]),
        Reply::Error("ERR syntax error".into())
    );
}

// ---------------------------------------------------- dump, scan, memory

#[test]
fn a_big_set_dumps_and_restores_to_the_same_set() {
    let mut z = ZSets::with_limits(limits(0, 64));
    for (i, m) in names("m", 500).iter().enumerate() {
        z.zadd("k", &[((i % 17) as f64 * 0.5, m)]);
    }
    z.zadd("k", &[(-0.0, b"nz")]);
    let before = z.all("k");
    let payload = z.store.collection(b"k", ZSET).unwrap().unwrap().to_vec();
    let dump = super::dump(&payload);
    assert!(super::is_dump(&dump));
    let entry = super::restore(b"copy", &dump);
    z.store.insert_entry(b"copy", entry);
    assert_eq!(z.encoding("copy"), Some("skiplist"));
    assert_eq!(z.all("copy"), before);
    let moved = z.store.take(b"copy").unwrap();
    z.store
        .insert_entry(b"moved", super::rekey(b"moved", moved));
    assert_eq!(z.all("moved"), before);
}

#[test]
fn zscan_of_a_big_set_returns_every_member_present_for_the_whole_walk() {
    let mut z = ZSets::with_limits(limits(0, 64));
    let members = names("m", 300);
    for (i, m) in members.iter().enumerate() {
        z.zadd("k", &[(i as f64, m)]);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0u64;
    let mut steps = 0;
    loop {
        let r = z.run(ZSetCmd::Scan { cursor }, "k", &[b"COUNT", b"25"]);
        let Reply::Array(parts) = r else { panic!() };
        let Reply::Bulk(next) = &parts[0] else {
            panic!()
        };
        for pair in parts[1].items().chunks(2) {
            seen.insert(pair[0].clone());
        }
        // Members come and go during the walk; the others all come back.
        if steps == 2 {
            z.int(ZSetCmd::Rem, "k", &[b"m299"]);
            z.zadd("k", &[(1.0, b"late")]);
        }
        steps += 1;
        cursor = String::from_utf8_lossy(next).parse().unwrap();
        if cursor == 0 {
            break;
        }
    }
    assert!(steps > 5);
    for m in &members[..299] {
        assert!(seen.contains(m), "{}", String::from_utf8_lossy(m));
    }
}

/// A store holding one other key, warmed so that adding and removing `k`
/// grows none of its tables.
fn warmed(limits: Limits) -> ZSets {
    let mut z = ZSets::with_limits(limits);
    z.store.put(b"anchor", b"value");
    z.store.put(b"k", b"warm");
    z.store.del(b"k");
    z
}

#[test]
fn memory_returns_to_the_start_through_every_form_change() {
    let mut z = warmed(limits(8, 64));
    let base = z.store.memory();
    z.zadd("k", &[(1.0, b"a"), (2.0, b"b")]);
    let small = z.store.memory();
    assert!(small > base);
    z.zadd("k", &[(3.0, b"c")]);
    z.int(ZSetCmd::Rem, "k", &[b"c"]);
    assert_eq!(z.store.memory(), small, "a listpack shrinks back exactly");
    let members = names("m", 200);
    for (i, m) in members.iter().enumerate() {
        z.zadd("k", &[(i as f64, m)]);
    }
    assert_eq!(z.encoding("k"), Some("skiplist"));
    let big = z.store.memory();
    assert!(big > small + 200 * 16);
    // Rescoring moves members within the index: the same bytes.
    for (i, m) in members.iter().enumerate() {
        z.zadd("k", &[(-(i as f64), m)]);
    }
    assert_eq!(z.store.memory(), big, "rescoring allocates nothing net");
    let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
    z.int(ZSetCmd::Rem, "k", &refs);
    z.int(ZSetCmd::Rem, "k", &[b"a", b"b"]);
    assert!(!z.exists("k"));
    assert_eq!(z.store.memory(), base, "deleted by ZREM: back to the start");
}

#[test]
fn a_big_set_is_freed_lazily_in_steps_until_memory_is_back() {
    let mut z = warmed(Limits::default());
    let base = z.store.memory();
    let members = names("member:", 50_000);
    for chunk in members.chunks(1000) {
        let pairs: Vec<(f64, &[u8])> = chunk.iter().map(|m| (m.len() as f64, &m[..])).collect();
        z.zadd("k", &pairs);
    }
    assert_eq!(z.encoding("k"), Some("skiplist"));
    let full = z.store.memory();
    assert!(full > base + 50_000 * 24, "{full} against {base}");
    assert!(z.store.del(b"k"));
    let mut last = z.store.memory();
    assert!(last > base, "a big set is not freed at once");
    let mut steps = 0;
    while z.store.free_lazy(4096) {
        let now = z.store.memory();
        assert!(now <= last, "memory only goes down while freeing");
        last = now;
        steps += 1;
        assert!(steps < 1000);
    }
    assert!(steps > 1, "freed in several steps ({steps})");
    assert_eq!(z.store.memory(), base);
}

#[test]
fn sorted_set_commands_on_another_type_answer_wrongtype() {
    let mut z = ZSets::new();
    z.store.put(b"str", b"v");
    let wrong = Reply::Error(super::WRONGTYPE.to_string());
    assert_eq!(z.zadd_with("str", 0, &[(1.0, b"a")]), wrong);
    assert_eq!(z.run(ZSetCmd::Score, "str", &[b"a"]), wrong);
    assert_eq!(z.run(ZSetCmd::Card, "str", &[]), wrong);
    assert_eq!(
        z.run(
            ZSetCmd::Pop {
                max: false,
                count: None
            },
            "str",
            &[]
        ),
        wrong
    );
    let all = range_args(By::Rank, "0", "-1", 0, -1);
    assert_eq!(z.range("str", By::Rank, false, false, all), wrong);
    assert_eq!(z.store.get(b"str"), Some(&b"v"[..]));
}

/// `[key, [[member, score], …]]` as text, from a `ZMPOP` reply.
fn mpop_reply(r: &Reply) -> (String, Vec<(String, String)>) {
    let text = |r: &Reply| match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Double(d) => format!("double:{d}"),
        other => panic!("not a string: {other:?}"),
    };
    let Reply::Array(outer) = r else {
        panic!("not an array: {r:?}");
    };
    let Reply::Array(pairs) = &outer[1] else {
        panic!("not an array of pairs: {r:?}");
    };
    let pairs = pairs
        .iter()
        .map(|p| match p {
            Reply::Array(p) => (text(&p[0]), text(&p[1])),
            other => panic!("not a pair: {other:?}"),
        })
        .collect();
    (text(&outer[0]), pairs)
}

#[test]
fn zmpop_pops_from_the_first_non_empty_set_only() {
    // Both forms: a listpack, and a skiplist past 2 entries.
    for lim in [Limits::default(), limits(2, 64)] {
        let mut z = ZSets::with_limits(lim);
        z.zadd("b", &[(1.0, b"x"), (2.0, b"y"), (3.0, b"z")]);
        z.zadd("c", &[(5.0, b"w")]);
        let mpop = |max, count| ZSetCmd::MPop { max, count };
        let got = z.run(mpop(false, 2), "a", &[b"b", b"c"]);
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(m, s)| (m.to_string(), s.to_string()))
                .collect()
        };
        assert_eq!(
            mpop_reply(&got),
            ("b".into(), pairs(&[("x", "1"), ("y", "2")]))
        );
        assert_eq!(z.touched, [b"b".to_vec()]);
        assert_eq!(z.card("c"), 1, "later keys are left alone");
        // A count past the set's size takes it all and deletes the key.
        let got = z.run(mpop(true, 10), "a", &[b"b", b"c"]);
        assert_eq!(mpop_reply(&got), ("b".into(), pairs(&[("z", "3")])));
        assert!(!z.exists("b"));
        z.proto = Proto::V3;
        let got = z.run(mpop(true, 1), "a", &[b"b", b"c"]);
        assert_eq!(mpop_reply(&got), ("c".into(), pairs(&[("w", "double:5")])));
        assert!(!z.exists("c"));
        assert_eq!(z.run(mpop(false, 1), "a", &[b"b", b"c"]), Reply::Null);
        assert!(z.touched.is_empty());
    }
}

#[test]
fn zmpop_and_bzpop_type_check_keys_up_to_the_popped_one() {
    let mut z = ZSets::new();
    z.store.put(b"str", b"v");
    z.zadd("k", &[(1.0, b"a"), (2.0, b"b")]);
    let wrong = Reply::Error(super::WRONGTYPE.to_string());
    let mpop = ZSetCmd::MPop {
        max: false,
        count: 1,
    };
    assert_eq!(z.run(mpop, "missing", &[b"str", b"k"]), wrong);
    assert_eq!(z.card("k"), 2, "nothing popped after an error");
    // A string after the popped key is never looked at.
    let got = z.run(mpop, "k", &[b"str"]);
    assert_eq!(mpop_reply(&got).0, "k");
    let bpop = ZSetCmd::BPop { max: true };
    assert_eq!(z.run(bpop, "missing", &[b"str", b"k"]), wrong);
    assert_eq!(z.run(bpop, "k", &[b"str"]).items(), [&b"k"[..], b"b", b"2"]);
    assert!(!z.exists("k"));
    assert_eq!(z.run(bpop, "k", &[b"missing"]), Reply::NullArray);
}

/// `zset::growth` bounds what `ZADD` adds to the store's memory while the
/// sorted set is small, as it converts, and once it is big, where it
/// charges the table's growth instead of a second conversion (which would
/// make a big sorted set refuse far below its share of `--maxmemory`).
#[test]
fn growth_bounds_what_zadd_adds_small_and_big() {
    let mut z = ZSets::new();
    let mut n = 0usize;
    while n < 150_000 {
        let batch = if n % 2 == 0 { 1 } else { 100 };
        let names: Vec<String> = (n..n + batch).map(|i| format!("member:{i:08}")).collect();
        let pairs: Vec<(f64, &[u8])> = names
            .iter()
            .enumerate()
            .map(|(j, m)| (((n + j) * 7919 % 1_000_003) as f64, m.as_bytes()))
            .collect();
        let scores: Vec<[u8; 8]> = pairs.iter().map(|(s, _)| s.to_le_bytes()).collect();
        let mut items: Vec<&[u8]> = Vec::new();
        for (s, (_, m)) in scores.iter().zip(&pairs) {
            items.push(s);
            items.push(m);
        }
        let args = pack::pack(items.iter().copied());
        let bound = z.write_bound(b"z", ZSET, |count, big| {
            super::zset::growth(count, &args, 0, big)
        });
        let before = z.store.memory();
        assert_eq!(z.zadd("z", &pairs), batch as i64);
        n += batch;
        let added = z.store.memory().saturating_sub(before);
        assert!(added <= bound, "{n} members: added {added} > bound {bound}");
    }
    let one = pack::pack([&1f64.to_le_bytes()[..], b"member"]);
    assert!(super::zset::growth(1_000_000, &one, 0, true) <= 1_000_000 * 36);
    assert!(super::zset::growth(100, &one, 0, false) >= 100 * 64);
}
