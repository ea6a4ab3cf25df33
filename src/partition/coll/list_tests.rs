//! Unit tests of the list commands on a partition's store: every command
//! against a `VecDeque` model over random sequences (several fill
//! settings, both forms), the listpack → quicklist change at
//! `list-max-listpack-size`, deletion of an emptied list (its TTL too),
//! WRONGTYPE, `LMOVE`/`RPOPLPUSH` on one key, `LMPOP` and the blocking
//! pop's attempt over several keys, and exact memory accounting (lazy
//! freeing included).

use super::super::ops::NOT_INTEGER;
use super::list::{execute, ListCmd, NO_SUCH_KEY, OUT_OF_RANGE};
use super::testing::{bulks, error, harness_type, Harness, Reply, Shape};
use super::{encoding, Limits, LIST, WRONGTYPE};
use crate::resp::encode::Proto;
use std::collections::VecDeque;

harness_type!(
    Lists,
    "A partition's store with what list commands need around it."
);

impl Lists {
    fn new() -> Self {
        Self::with_fill(Limits::default().list_size)
    }

    fn with_fill(list_size: i64) -> Self {
        Self(Harness::new(Limits {
            list_size,
            ..Limits::default()
        }))
    }

    fn run(&mut self, cmd: ListCmd, key: &str, items: &[&[u8]]) -> Reply {
        let shape = Shape::of(cmd.raw_arg(), cmd.is_multi());
        self.0.run(cmd, cmd.is_read(), shape, key, items, execute)
    }

    fn int(&mut self, cmd: ListCmd, key: &str, items: &[&[u8]]) -> i64 {
        match self.run(cmd, key, items) {
            Reply::Int(n) => n,
            other => panic!("{cmd:?} {key}: not an integer: {other:?}"),
        }
    }

    fn rpush(&mut self, key: &str, values: &[&[u8]]) -> i64 {
        let push = ListCmd::Push {
            left: false,
            existing: false,
        };
        self.int(push, key, values)
    }

    fn lpush(&mut self, key: &str, values: &[&[u8]]) -> i64 {
        let push = ListCmd::Push {
            left: true,
            existing: false,
        };
        self.int(push, key, values)
    }

    fn all(&mut self, key: &str) -> Vec<Vec<u8>> {
        self.run(ListCmd::Range(0, -1), key, &[]).items()
    }

    fn len(&mut self, key: &str) -> i64 {
        self.int(ListCmd::Len, key, &[])
    }

    /// `OBJECT ENCODING`'s answer for `key`, `None` without the key.
    fn encoding(&self, key: &str) -> Option<&'static str> {
        let payload = self.store.collection(key.as_bytes(), LIST).ok()??;
        Some(encoding(payload))
    }

    fn exists(&self, key: &str) -> bool {
        self.store.contains(key.as_bytes())
    }
}

fn strs(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(|n| format!("{prefix}{n}").into_bytes()).collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

const LPOP: ListCmd = ListCmd::Pop {
    left: true,
    count: None,
};
const RPOP: ListCmd = ListCmd::Pop {
    left: false,
    count: None,
};

fn pop(left: bool, count: u64) -> ListCmd {
    ListCmd::Pop {
        left,
        count: Some(count),
    }
}

fn lmove(from_left: bool, to_left: bool) -> ListCmd {
    ListCmd::Move { from_left, to_left }
}

// ---------------------------------------------------------------- the model

/// A small deterministic generator (xorshift64*).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 11) % n
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// An element: mostly a few short values (so that LREM, LINSERT and
    /// LPOS find matches), now and then an empty or a long one.
    fn element(&mut self) -> Vec<u8> {
        match self.below(20) {
            0 => Vec::new(),
            1 => {
                let c = b"xyz"[self.below(3) as usize];
                vec![c; self.between(200, 3000) as usize]
            }
            _ => vec![b"abcdef"[self.below(6) as usize]],
        }
    }

    /// An index or range bound, in and out of range, both signs.
    fn index(&mut self, len: usize) -> i64 {
        let len = len as i64;
        match self.below(10) {
            0 => i64::MAX - self.below(2) as i64,
            1 => i64::MIN + self.below(2) as i64,
            _ => self.between(-len - 3, len + 3),
        }
    }
}

/// Redis's `start..=stop` of LRANGE and LTRIM over `len` elements.
fn model_range(start: i64, stop: i64, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let start = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    }
    .max(0);
    let stop = if stop < 0 {
        stop.saturating_add(len)
    } else {
        stop
    };
    if start > stop || start >= len {
        return 0..0;
    }
    start as usize..(stop.min(len - 1) + 1) as usize
}

fn model_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// `LPOS`'s matches, written from its documentation.
fn model_pos(
    m: &VecDeque<Vec<u8>>,
    value: &[u8],
    rank: i64,
    count: usize,
    maxlen: usize,
) -> Vec<usize> {
    let order: Vec<usize> = if rank < 0 {
        (0..m.len()).rev().collect()
    } else {
        (0..m.len()).collect()
    };
    let compared = if maxlen == 0 { order.len() } else { maxlen };
    let want = if count == 0 { usize::MAX } else { count };
    order
        .into_iter()
        .take(compared)
        .filter(|&i| m[i] == value)
        .skip(rank.unsigned_abs() as usize - 1)
        .take(want)
        .collect()
}

/// One random command on `key`, checked against `m`.
fn step(l: &mut Lists, g: &mut Gen, m: &mut VecDeque<Vec<u8>>, key: &str) {
    let op = g.below(15);
    let len = m.len();
    let (cmd, items, want): (ListCmd, Vec<Vec<u8>>, Reply) = match op {
        0 | 1 => {
            let left = op == 0;
            let values: Vec<Vec<u8>> = (0..g.between(1, 6)).map(|_| g.element()).collect();
            for v in &values {
                if left {
                    m.push_front(v.clone());
                } else {
                    m.push_back(v.clone());
                }
            }
            let existing = g.below(4) == 0;
            if existing && len == 0 {
                m.clear();
                let cmd = ListCmd::Push { left, existing };
                (cmd, values, Reply::Int(0))
            } else {
                let cmd = ListCmd::Push { left, existing };
                (cmd, values, Reply::Int(m.len() as i64))
            }
        }
        2 | 3 => {
            let left = op == 2;
            let one = if left { m.pop_front() } else { m.pop_back() };
            let cmd = if left { LPOP } else { RPOP };
            (cmd, vec![], one.map_or(Reply::Null, Reply::Bulk))
        }
        4 => {
            let left = g.below(2) == 0;
            let n = g.below(8);
            let want = if len == 0 {
                Reply::NullArray
            } else {
                let take = (n as usize).min(len);
                let popped: Vec<Vec<u8>> = (0..take)
                    .map(|_| if left { m.pop_front() } else { m.pop_back() })
                    .map(|e| e.expect("counted"))
                    .collect();
                bulks(&popped)
            };
            (pop(left, n), vec![], want)
        }
        5 => {
            let i = g.index(len);
            let v = g.element();
            let want = if len == 0 {
                error(NO_SUCH_KEY)
            } else if let Some(at) = model_index(i, len) {
                m[at] = v.clone();
                Reply::Ok
            } else {
                error(OUT_OF_RANGE)
            };
            (ListCmd::Set, vec![i.to_string().into_bytes(), v], want)
        }
        6 => {
            let before = g.below(2) == 0;
            let (pivot, v) = (g.element(), g.element());
            let want = if len == 0 {
                Reply::Int(0)
            } else if let Some(at) = m.iter().position(|e| *e == pivot) {
                m.insert(if before { at } else { at + 1 }, v.clone());
                Reply::Int(m.len() as i64)
            } else {
                Reply::Int(-1)
            };
            (ListCmd::Insert { before }, vec![pivot, v], want)
        }
        7 => {
            let count = g.between(-3, 3);
            let v = g.element();
            let mut left = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut hits: Vec<usize> = Vec::new();
            let order: Vec<usize> = if count < 0 {
                (0..len).rev().collect()
            } else {
                (0..len).collect()
            };
            for i in order {
                if left > 0 && m[i] == v {
                    hits.push(i);
                    left -= 1;
                }
            }
            hits.sort_unstable();
            for i in hits.iter().rev() {
                m.remove(*i);
            }
            (ListCmd::Rem(count), vec![v], Reply::Int(hits.len() as i64))
        }
        8 => {
            let (start, stop) = (g.index(len), g.index(len));
            let keep = model_range(start, stop, len);
            *m = m.range(keep).cloned().collect();
            (ListCmd::Trim(start, stop), vec![], Reply::Ok)
        }
        9 => {
            let (start, stop) = (g.index(len), g.index(len));
            let want: Vec<Vec<u8>> = m.range(model_range(start, stop, len)).cloned().collect();
            (ListCmd::Range(start, stop), vec![], bulks(&want))
        }
        10 => {
            let i = g.index(len);
            let want = model_index(i, len).map_or(Reply::Null, |at| Reply::Bulk(m[at].clone()));
            (ListCmd::Index, vec![i.to_string().into_bytes()], want)
        }
        11 | 12 => {
            let v = g.element();
            let rank = match g.between(-3, 3) {
                0 => 1,
                r => r,
            };
            let count = (op == 12).then(|| g.below(4));
            let maxlen = if g.below(2) == 0 {
                0
            } else {
                g.below(len as u64 + 3)
            };
            let found = model_pos(m, &v, rank, count.unwrap_or(1) as usize, maxlen as usize);
            let want = match count {
                Some(_) => Reply::Array(found.iter().map(|&i| Reply::Int(i as i64)).collect()),
                None => found.first().map_or(Reply::Null, |&i| Reply::Int(i as i64)),
            };
            let cmd = ListCmd::Pos {
                rank,
                count,
                maxlen,
            };
            (cmd, vec![v], want)
        }
        13 => (ListCmd::Len, vec![], Reply::Int(len as i64)),
        _ => {
            // LMOVE on the key itself: a rotation.
            let (from_left, to_left) = (g.below(2) == 0, g.below(2) == 0);
            let want = match if from_left {
                m.pop_front()
            } else {
                m.pop_back()
            } {
                None => Reply::Null,
                Some(e) => {
                    if to_left {
                        m.push_front(e.clone());
                    } else {
                        m.push_back(e.clone());
                    }
                    Reply::Bulk(e)
                }
            };
            (
                lmove(from_left, to_left),
                vec![key.as_bytes().to_vec()],
                want,
            )
        }
    };
    let got = l.run(cmd, key, &refs(&items));
    assert_eq!(got, want, "{cmd:?} {items:?} on a list of {len}");
    assert_eq!(
        l.exists(key),
        !m.is_empty(),
        "{cmd:?}: exists iff not empty"
    );
}

#[test]
fn random_sequences_match_a_vecdeque_model_under_every_fill() {
    for (fill, seed) in [(-2, 1), (-1, 2), (-5, 3), (4, 4), (1, 5), (0, 6), (128, 7)] {
        let mut l = Lists::with_fill(fill);
        let mut g = Gen(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut forms = std::collections::HashSet::new();
        // The list has the TTL it was given while it is not emptied.
        let mut ttl = None;
        for n in 0..6000 {
            if m.is_empty() && g.below(4) != 0 {
                // A fresh list (now and then a long one), with a TTL that
                // must survive every write that leaves it non-empty.
                let many = if g.below(4) == 0 { 2000 } else { 40 };
                let values: Vec<Vec<u8>> = (0..g.between(1, many)).map(|_| g.element()).collect();
                l.rpush("k", &refs(&values));
                m.extend(values);
                l.expiry.set(b"k", 1_000_000);
                ttl = Some(1_000_000);
            }
            step(&mut l, &mut g, &mut m, "k");
            if m.is_empty() {
                ttl = None;
            }
            assert_eq!(l.expiry.deadline(b"k"), ttl, "fill {fill}, step {n}");
            if let Some(form) = l.encoding("k") {
                forms.insert(form);
            }
            if n % 97 == 0 {
                assert_eq!(
                    l.all("k"),
                    m.iter().cloned().collect::<Vec<_>>(),
                    "fill {fill}"
                );
            }
        }
        assert_eq!(l.all("k"), m.iter().cloned().collect::<Vec<_>>());
        assert!(forms.contains("quicklist"), "fill {fill}: {forms:?}");
        if fill != 0 && fill != 1 {
            assert!(forms.contains("listpack"), "fill {fill}: {forms:?}");
        }
    }
}

#[test]
fn a_big_list_matches_the_model_under_many_end_operations() {
    // Thousands of elements over hundreds of nodes: pushes and pops at
    // both ends, with counts, then a range at a time.
    let mut l = Lists::new();
    let mut g = Gen(77);
    let mut m: VecDeque<Vec<u8>> = VecDeque::new();
    for round in 0..400 {
        let left = g.below(2) == 0;
        let values = strs(&format!("r{round}:"), 0..g.between(0, 60) as usize);
        if !values.is_empty() {
            let cmd = ListCmd::Push {
                left,
                existing: false,
            };
            l.int(cmd, "big", &refs(&values));
            for v in values {
                if left {
                    m.push_front(v);
                } else {
                    m.push_back(v);
                }
            }
        }
        let left = g.below(2) == 0;
        let n = g.below(40);
        let got = l.run(pop(left, n), "big", &[]);
        if m.is_empty() {
            assert_eq!(got, Reply::NullArray);
            continue;
        }
        let want: Vec<Vec<u8>> = (0..(n as usize).min(m.len()))
            .map(|_| if left { m.pop_front() } else { m.pop_back() }.expect("counted"))
            .collect();
        assert_eq!(got.items(), want, "round {round}");
        let (start, stop) = (g.index(m.len()), g.index(m.len()));
        let want: Vec<Vec<u8>> = m
            .range(model_range(start, stop, m.len()))
            .cloned()
            .collect();
        assert_eq!(l.run(ListCmd::Range(start, stop), "big", &[]).items(), want);
    }
    assert_eq!(l.len("big"), m.len() as i64);
    assert_eq!(l.all("big"), m.into_iter().collect::<Vec<_>>());
}

// ---------------------------------------------------------------- forms

#[test]
fn a_listpack_becomes_a_quicklist_past_8_kib_by_default() {
    // 64 elements of 127 bytes pack to exactly 8192 bytes (a byte of
    // length each): they fit one node, one more does not.
    let mut l = Lists::new();
    let e = vec![b'e'; 127];
    for n in 1..=64 {
        assert_eq!(l.rpush("k", &[&e]), n);
        assert_eq!(l.encoding("k"), Some("listpack"), "{n} elements");
    }
    assert_eq!(l.lpush("k", &[b"x"]), 65);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    assert_eq!(l.len("k"), 65);
    assert_eq!(l.all("k")[0], b"x".to_vec());
    // It stays a quicklist when small again (corekv converts one way).
    assert_eq!(l.run(ListCmd::Trim(0, 1), "k", &[]), Reply::Ok);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    assert_eq!(l.all("k"), vec![b"x".to_vec(), e.clone()]);

    // Growing one element past the limit by LSET or LINSERT converts too.
    let mut l = Lists::new();
    let many: Vec<&[u8]> = vec![&e; 64];
    l.rpush("k", &many);
    assert_eq!(l.encoding("k"), Some("listpack"));
    let longer = vec![b'f'; 128];
    assert_eq!(l.run(ListCmd::Set, "k", &[b"3", &longer]), Reply::Ok);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    assert_eq!(l.run(ListCmd::Index, "k", &[b"3"]), Reply::Bulk(longer));
    let mut l = Lists::new();
    l.rpush("k", &many[..63]);
    l.rpush("k", &[b"pivot"]);
    assert_eq!(l.encoding("k"), Some("listpack"));
    let insert = ListCmd::Insert { before: true };
    assert_eq!(l.int(insert, "k", &[b"pivot", &e]), 65);
    assert_eq!(l.encoding("k"), Some("quicklist"));

    // Many elements at once, on a new key: a quicklist at once.
    let mut l = Lists::new();
    let many: Vec<&[u8]> = vec![&e; 65];
    l.rpush("k", &many);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    // One element alone always fits one node, however long.
    let mut l = Lists::new();
    l.rpush("k", &[&[b'L'; 20_000][..]]);
    assert_eq!(l.encoding("k"), Some("listpack"));
    l.rpush("k", &[b"x"]);
    assert_eq!(l.encoding("k"), Some("quicklist"));
}

#[test]
fn size_classes_and_positive_counts_set_where_a_listpack_ends() {
    // -1: 4 KiB; -3: 16 KiB (one byte of length per 127-byte element).
    for (fill, fits) in [
        (-1, 32),
        (-2, 64),
        (-3, 128),
        (-4, 256),
        (-5, 512),
        (-9, 512),
    ] {
        let mut l = Lists::with_fill(fill);
        let e = vec![b'e'; 127];
        let many: Vec<&[u8]> = vec![&e; fits];
        l.rpush("k", &many);
        assert_eq!(l.encoding("k"), Some("listpack"), "fill {fill}");
        l.rpush("k", &[b""]);
        assert_eq!(l.encoding("k"), Some("quicklist"), "fill {fill}");
    }
    // A positive fill counts elements...
    for fill in [1, 2, 5, 128] {
        let mut l = Lists::with_fill(fill);
        for n in 1..=fill {
            l.rpush("k", &[n.to_string().as_bytes()]);
        }
        assert_eq!(l.encoding("k"), Some("listpack"), "fill {fill}");
        l.lpush("k", &[b"one more"]);
        assert_eq!(l.encoding("k"), Some("quicklist"), "fill {fill}");
        assert_eq!(l.len("k"), fill + 1);
    }
    // ... and still stops at 8 KiB (Redis's safety limit).
    let mut l = Lists::with_fill(1000);
    let e = [b'e'; 127];
    l.rpush("k", &vec![&e[..]; 64]);
    assert_eq!(l.encoding("k"), Some("listpack"));
    l.rpush("k", &[b"x"]);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    // 0: every element its own node; a single element is still packed.
    let mut l = Lists::with_fill(0);
    l.rpush("k", &[b"a"]);
    assert_eq!(l.encoding("k"), Some("listpack"));
    l.rpush("k", &[b"b"]);
    assert_eq!(l.encoding("k"), Some("quicklist"));
    assert_eq!(l.all("k"), vec![b"a".to_vec(), b"b".to_vec()]);
}

// ---------------------------------------------------------------- emptied lists

#[test]
fn a_list_emptied_by_any_command_is_deleted_with_its_ttl() {
    type Empty = fn(&mut Lists) -> Reply;
    let mpop: Empty = |l| {
        let cmd = ListCmd::MPop {
            left: false,
            count: 100_000,
        };
        l.run(cmd, "missing", &[b"k"])
    };
    // (name, takes one element at a time, the command)
    let cases: [(&str, bool, Empty); 9] = [
        ("LPOP", true, |l| l.run(LPOP, "k", &[])),
        ("RPOP count", false, |l| {
            l.run(pop(false, 100_000), "k", &[])
        }),
        ("LTRIM", false, |l| l.run(ListCmd::Trim(5, 2), "k", &[])),
        ("LREM", false, |l| l.run(ListCmd::Rem(0), "k", &[b"v"])),
        ("LMOVE", true, |l| l.run(lmove(true, true), "k", &[b"dst"])),
        ("RPOPLPUSH", true, |l| {
            l.run(lmove(false, true), "k", &[b"dst"])
        }),
        ("LMPOP", false, mpop),
        ("BLPOP attempt", true, |l| {
            l.run(ListCmd::BPop { left: true }, "k", &[b"other"])
        }),
        ("BRPOP attempt", true, |l| {
            l.run(ListCmd::BPop { left: false }, "k", &[])
        }),
    ];
    let filler = vec![b'f'; 100];
    for (what, one_at_a_time, empty) in cases {
        for big in [false, true] {
            let mut l = Lists::new();
            // "v" alone, or after 2000 long elements: a quicklist.
            let mut items: Vec<&[u8]> = if big { vec![&filler; 2000] } else { vec![] };
            items.push(b"v");
            l.rpush("k", &items);
            let form = if big { "quicklist" } else { "listpack" };
            assert_eq!(l.encoding("k"), Some(form));
            l.expiry.set(b"k", 9_000);
            if one_at_a_time {
                while l.len("k") > 1 {
                    empty(&mut l);
                }
            }
            if what == "LREM" {
                l.run(ListCmd::Rem(0), "k", &[&filler]);
            }
            assert!(l.exists("k"), "{what}");
            assert_eq!(l.expiry.deadline(b"k"), Some(9_000), "{what}: kept so far");
            let reply = empty(&mut l);
            assert!(!matches!(reply, Reply::Error(_)), "{what}: {reply:?}");
            assert!(
                !l.exists("k"),
                "{what} (big: {big}): the emptied list is gone"
            );
            assert_eq!(l.expiry.deadline(b"k"), None, "{what}: its TTL too");
            assert!(l.touched.contains(&b"k".to_vec()), "{what}");
            assert_eq!(l.len("k"), 0);
            assert_eq!(l.run(ListCmd::Range(0, -1), "k", &[]), Reply::Array(vec![]));
        }
    }
}

#[test]
fn commands_on_a_missing_key_answer_redis_nulls_and_create_nothing() {
    for proto in [Proto::V2, Proto::V3] {
        let mut l = Lists::new();
        l.proto = proto;
        let null_array = match proto {
            Proto::V2 => Reply::NullArray,
            Proto::V3 => Reply::Null,
        };
        assert_eq!(l.run(LPOP, "none", &[]), Reply::Null);
        assert_eq!(l.run(pop(true, 2), "none", &[]), null_array);
        assert_eq!(l.run(pop(false, 0), "none", &[]), null_array);
        assert_eq!(l.run(ListCmd::Index, "none", &[b"0"]), Reply::Null);
        assert_eq!(
            l.run(ListCmd::Index, "none", &[b"x"]),
            Reply::Null,
            "the index is read later"
        );
        assert_eq!(
            l.run(ListCmd::Set, "none", &[b"0", b"v"]),
            error(NO_SUCH_KEY)
        );
        assert_eq!(
            l.run(ListCmd::Range(0, -1), "none", &[]),
            Reply::Array(vec![])
        );
        assert_eq!(l.run(ListCmd::Trim(0, 1), "none", &[]), Reply::Ok);
        assert_eq!(l.run(ListCmd::Rem(0), "none", &[b"v"]), Reply::Int(0));
        assert_eq!(
            l.run(ListCmd::Insert { before: true }, "none", &[b"p", b"v"]),
            Reply::Int(0)
        );
        let pos = |count| ListCmd::Pos {
            rank: 1,
            count,
            maxlen: 0,
        };
        assert_eq!(l.run(pos(None), "none", &[b"v"]), Reply::Null);
        assert_eq!(l.run(pos(Some(2)), "none", &[b"v"]), Reply::Array(vec![]));
        assert_eq!(l.run(lmove(true, false), "none", &[b"dst"]), Reply::Null);
        let mpop = ListCmd::MPop {
            left: true,
            count: 3,
        };
        assert_eq!(l.run(mpop, "none", &[b"none2"]), null_array);
        assert_eq!(l.run(ListCmd::BPop { left: true }, "none", &[]), null_array);
        for left in [true, false] {
            let pushx = ListCmd::Push {
                left,
                existing: true,
            };
            assert_eq!(l.run(pushx, "none", &[b"v"]), Reply::Int(0));
        }
        assert!(l.touched.is_empty());
        assert!(!l.exists("none") && !l.exists("dst"));
    }
}

#[test]
fn pop_with_count_zero_and_lset_lindex_errors_on_an_existing_list() {
    let mut l = Lists::new();
    l.rpush("k", &[b"a", b"b"]);
    assert_eq!(l.run(pop(true, 0), "k", &[]), Reply::Array(vec![]));
    assert!(l.touched.is_empty(), "popping nothing touches nothing");
    assert_eq!(l.run(ListCmd::Index, "k", &[b"x"]), error(NOT_INTEGER));
    assert_eq!(l.run(ListCmd::Set, "k", &[b"x", b"v"]), error(NOT_INTEGER));
    assert_eq!(l.run(ListCmd::Set, "k", &[b"2", b"v"]), error(OUT_OF_RANGE));
    assert_eq!(
        l.run(ListCmd::Set, "k", &[b"-3", b"v"]),
        error(OUT_OF_RANGE)
    );
    assert_eq!(l.run(ListCmd::Set, "k", &[b"-2", b"A"]), Reply::Ok);
    assert_eq!(l.touched, vec![b"k".to_vec()]);
    assert_eq!(l.all("k"), vec![b"A".to_vec(), b"b".to_vec()]);
    // Pushing an element equal to one there, or an empty one.
    assert_eq!(l.rpush("k", &[b"", b"A"]), 4);
    assert_eq!(l.run(ListCmd::Index, "k", &[b"-2"]), Reply::Bulk(vec![]));
    // LREM and LINSERT that find nothing touch nothing.
    assert_eq!(l.run(ListCmd::Rem(0), "k", &[b"zz"]), Reply::Int(0));
    assert!(l.touched.is_empty());
    assert_eq!(
        l.run(ListCmd::Insert { before: false }, "k", &[b"zz", b"v"]),
        Reply::Int(-1)
    );
    assert!(l.touched.is_empty());
    assert_eq!(l.len("k"), 4);
}

#[test]
fn lpos_rank_count_and_maxlen() {
    for big in [false, true] {
        let mut l = Lists::new();
        // a b a c a … : "a" at 0, 2, 4, …, 2n-2.
        let n = if big { 3000 } else { 10 };
        let mut items = Vec::new();
        for i in 0..n {
            items.push(b"a".to_vec());
            items.push(format!("x{i}").into_bytes());
        }
        l.rpush("k", &refs(&items));
        let form = if big { "quicklist" } else { "listpack" };
        assert_eq!(l.encoding("k"), Some(form));
        let pos = |rank, count, maxlen| ListCmd::Pos {
            rank,
            count,
            maxlen,
        };
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&i| Reply::Int(i)).collect());
        let last = 2 * n as i64 - 2;
        assert_eq!(l.run(pos(1, None, 0), "k", &[b"a"]), Reply::Int(0));
        assert_eq!(l.run(pos(2, None, 0), "k", &[b"a"]), Reply::Int(2));
        assert_eq!(l.run(pos(-1, None, 0), "k", &[b"a"]), Reply::Int(last));
        assert_eq!(l.run(pos(-2, None, 0), "k", &[b"a"]), Reply::Int(last - 2));
        assert_eq!(l.run(pos(1, Some(3), 0), "k", &[b"a"]), ints(&[0, 2, 4]));
        assert_eq!(
            l.run(pos(-1, Some(2), 0), "k", &[b"a"]),
            ints(&[last, last - 2])
        );
        assert_eq!(l.run(pos(2, Some(2), 0), "k", &[b"a"]), ints(&[2, 4]));
        let all = l.run(pos(1, Some(0), 0), "k", &[b"a"]);
        assert_eq!(all, ints(&(0..n as i64).map(|i| 2 * i).collect::<Vec<_>>()));
        // MAXLEN compares that many elements from where the search starts.
        assert_eq!(l.run(pos(1, Some(0), 3), "k", &[b"a"]), ints(&[0, 2]));
        assert_eq!(l.run(pos(-1, Some(0), 3), "k", &[b"a"]), ints(&[last]));
        assert_eq!(l.run(pos(3, None, 4), "k", &[b"a"]), Reply::Null);
        assert_eq!(l.run(pos(1, None, 0), "k", &[b"x1"]), Reply::Int(3));
        assert_eq!(l.run(pos(1, None, 0), "k", &[b"nope"]), Reply::Null);
        assert_eq!(l.run(pos(1, Some(5), 0), "k", &[b"nope"]), ints(&[]));
        let past = n as i64 + 1;
        assert_eq!(l.run(pos(past, None, 0), "k", &[b"a"]), Reply::Null);
        assert_eq!(l.run(pos(-past, Some(0), 0), "k", &[b"a"]), ints(&[]));
        assert_eq!(l.run(pos(i64::MAX, None, 0), "k", &[b"a"]), Reply::Null);
        assert_eq!(l.run(pos(-i64::MAX, None, 0), "k", &[b"a"]), Reply::Null);
    }
}

#[test]
fn list_commands_on_another_type_answer_wrongtype() {
    let mut l = Lists::new();
    l.store.put(b"str", b"x");
    let wrong = error(WRONGTYPE);
    let cmds: Vec<(ListCmd, Vec<&[u8]>)> = vec![
        (
            ListCmd::Push {
                left: true,
                existing: false,
            },
            vec![b"v"],
        ),
        (
            ListCmd::Push {
                left: false,
                existing: true,
            },
            vec![b"v"],
        ),
        (LPOP, vec![]),
        (pop(false, 2), vec![]),
        (pop(true, 0), vec![]),
        (ListCmd::Len, vec![]),
        (ListCmd::Index, vec![b"0"]),
        (ListCmd::Set, vec![b"0", b"v"]),
        (ListCmd::Range(0, -1), vec![]),
        (ListCmd::Trim(0, -1), vec![]),
        (ListCmd::Rem(0), vec![b"v"]),
        (ListCmd::Insert { before: true }, vec![b"p", b"v"]),
        (
            ListCmd::Pos {
                rank: 1,
                count: None,
                maxlen: 0,
            },
            vec![b"v"],
        ),
        (lmove(true, true), vec![b"dst"]),
        (
            ListCmd::MPop {
                left: true,
                count: 1,
            },
            vec![],
        ),
        (ListCmd::BPop { left: false }, vec![]),
    ];
    for (cmd, items) in &cmds {
        assert_eq!(l.run(*cmd, "str", items), wrong, "{cmd:?}");
    }
    assert_eq!(l.store.get(b"str"), Some(&b"x"[..]));
    // A string destination of LMOVE, a string among LMPOP's keys before
    // the first list.
    l.rpush("k", &[b"a", b"b"]);
    for (from_left, to_left) in [(true, true), (false, true), (true, false)] {
        assert_eq!(l.run(lmove(from_left, to_left), "k", &[b"str"]), wrong);
    }
    assert_eq!(
        l.all("k"),
        vec![b"a".to_vec(), b"b".to_vec()],
        "nothing popped"
    );
    let mpop = ListCmd::MPop {
        left: true,
        count: 1,
    };
    assert_eq!(l.run(mpop, "missing", &[b"str", b"k"]), wrong);
    assert_eq!(
        l.run(ListCmd::BPop { left: true }, "missing", &[b"str", b"k"]),
        wrong
    );
    assert_eq!(l.len("k"), 2);
    // A missing source answers nil before the destination's type is
    // looked at (Redis's order).
    assert_eq!(l.run(lmove(true, true), "missing", &[b"str"]), Reply::Null);
}

// ---------------------------------------------------------------- several keys

#[test]
fn lmove_and_rpoplpush_on_one_key_rotate_it() {
    for big in [false, true] {
        let mut l = Lists::new();
        let n = if big { 3000 } else { 5 };
        let items = strs("e", 0..n);
        l.rpush("k", &refs(&items));
        let mut m: VecDeque<Vec<u8>> = items.into_iter().collect();
        for (from_left, to_left) in [(true, false), (false, true), (true, true), (false, false)] {
            for _ in 0..7 {
                let e = if from_left {
                    m.pop_front()
                } else {
                    m.pop_back()
                }
                .expect("full");
                if to_left {
                    m.push_front(e.clone());
                } else {
                    m.push_back(e.clone());
                }
                assert_eq!(
                    l.run(lmove(from_left, to_left), "k", &[b"k"]),
                    Reply::Bulk(e)
                );
                assert_eq!(l.touched.first(), Some(&b"k".to_vec()));
            }
            assert_eq!(l.all("k"), m.iter().cloned().collect::<Vec<_>>());
        }
        // A full rotation with RPOPLPUSH gives the list back.
        let before = l.all("k");
        for _ in 0..n {
            l.run(lmove(false, true), "k", &[b"k"]);
        }
        assert_eq!(l.all("k"), before);
    }
}

#[test]
fn lmove_on_a_one_element_list_keeps_its_key_and_ttl() {
    // Redis pops and pushes the same list: it never becomes empty, so it
    // is neither deleted nor loses its TTL.
    for (from_left, to_left) in [(true, false), (false, true), (true, true), (false, false)] {
        let mut l = Lists::new();
        l.rpush("k", &[b"only"]);
        l.expiry.set(b"k", 9_000);
        let got = l.run(lmove(from_left, to_left), "k", &[b"k"]);
        assert_eq!(got, Reply::Bulk(b"only".to_vec()));
        assert_eq!(l.all("k"), vec![b"only".to_vec()]);
        assert_eq!(
            l.expiry.deadline(b"k"),
            Some(9_000),
            "LMOVE k k {from_left} {to_left} keeps the TTL"
        );
    }
}

#[test]
fn lmove_between_keys_creates_converts_and_keeps_the_destination_ttl() {
    let mut l = Lists::new();
    let e = vec![b'e'; 127];
    l.rpush("src", &vec![&e[..]; 70]);
    l.rpush("dst", &vec![&e[..]; 64]);
    l.expiry.set(b"dst", 7_000);
    assert_eq!(l.encoding("dst"), Some("listpack"));
    assert_eq!(
        l.run(lmove(true, false), "src", &[b"dst"]),
        Reply::Bulk(e.clone())
    );
    let mut touched = l.touched.clone();
    touched.sort();
    touched.dedup();
    assert_eq!(touched, vec![b"dst".to_vec(), b"src".to_vec()]);
    assert_eq!(l.encoding("dst"), Some("quicklist"), "the 65th element");
    assert_eq!(l.expiry.deadline(b"dst"), Some(7_000));
    assert_eq!(l.len("src"), 69);
    // A new destination.
    assert_eq!(l.run(lmove(false, true), "src", &[b"new"]), Reply::Bulk(e));
    assert_eq!(l.encoding("new"), Some("listpack"));
    assert_eq!(l.len("new"), 1);
}

#[test]
fn lmpop_takes_from_the_first_non_empty_list_only() {
    let mut l = Lists::new();
    l.rpush("b", &[b"b1", b"b2", b"b3"]);
    l.rpush("c", &[b"c1"]);
    let mpop = |left, count| ListCmd::MPop { left, count };
    let got = l.run(mpop(true, 2), "a", &[b"b", b"c"]);
    assert_eq!(
        got,
        Reply::Array(vec![
            Reply::Bulk(b"b".to_vec()),
            bulks(&[b"b1".to_vec(), b"b2".to_vec()])
        ])
    );
    assert_eq!(l.touched, vec![b"b".to_vec()]);
    assert_eq!(l.len("c"), 1, "the next list is untouched");
    // A count past its length: what it has, and it is deleted.
    l.expiry.set(b"b", 5_000);
    let got = l.run(mpop(false, 10), "a", &[b"b", b"c"]);
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Bulk(b"b".to_vec()), bulks(&[b"b3".to_vec()])])
    );
    assert!(!l.exists("b"));
    assert_eq!(l.expiry.deadline(b"b"), None);
    // Then the next one; RIGHT pops from the tail.
    l.rpush("c", &[b"c2", b"c3"]);
    let got = l.run(mpop(false, 2), "a", &[b"b", b"c"]);
    assert_eq!(
        got,
        Reply::Array(vec![
            Reply::Bulk(b"c".to_vec()),
            bulks(&[b"c3".to_vec(), b"c2".to_vec()])
        ])
    );
    // The first key itself, and a string after the first list is never
    // looked at.
    l.store.put(b"str", b"x");
    assert_eq!(
        l.run(mpop(true, 1), "c", &[b"str"]),
        Reply::Array(vec![Reply::Bulk(b"c".to_vec()), bulks(&[b"c1".to_vec()])])
    );
    assert_eq!(l.run(mpop(true, 1), "a", &[b"b", b"c"]), Reply::NullArray);
    // The blocking pop's attempt: [key, element].
    l.rpush("c", &[b"x", b"y"]);
    assert_eq!(
        l.run(ListCmd::BPop { left: false }, "a", &[b"c"]),
        Reply::Array(vec![Reply::Bulk(b"c".to_vec()), Reply::Bulk(b"y".to_vec())])
    );
    assert_eq!(
        l.run(ListCmd::BPop { left: true }, "c", &[]),
        Reply::Array(vec![Reply::Bulk(b"c".to_vec()), Reply::Bulk(b"x".to_vec())])
    );
    assert!(!l.exists("c"));
}

// ---------------------------------------------------------------- memory

/// A store holding one other key, warmed so that adding and removing `k`
/// and `tmp` grows none of its tables.
fn warmed() -> Lists {
    let mut l = Lists::new();
    l.store.put(b"anchor", b"value");
    l.store.put(b"k", b"warm");
    l.store.put(b"tmp", b"warm");
    l.store.del(b"k");
    l.store.del(b"tmp");
    l
}

#[test]
fn memory_returns_to_the_start_once_everything_is_popped() {
    let mut l = warmed();
    let base = l.store.memory();
    // A listpack that grows and shrinks.
    l.rpush("k", &[b"a", b"b"]);
    let two = l.store.memory();
    assert!(two > base);
    l.rpush("k", &[b"c"]);
    l.run(RPOP, "k", &[]);
    assert_eq!(l.store.memory(), two, "a listpack shrinks back exactly");
    l.run(pop(true, 2), "k", &[]);
    assert!(!l.exists("k"));
    assert_eq!(l.store.memory(), base);
    // Through a quicklist, emptied by every command that can.
    type Empty = fn(&mut Lists);
    let ways: [(&str, Empty); 7] = [
        ("LPOP", |l| while l.run(LPOP, "k", &[]) != Reply::Null {}),
        ("RPOP count", |l| drop(l.run(pop(false, 5000), "k", &[]))),
        ("LTRIM", |l| drop(l.run(ListCmd::Trim(1, 0), "k", &[]))),
        ("LREM", |l| {
            let e = vec![b'e'; 100];
            l.run(ListCmd::Rem(0), "k", &[&e]);
        }),
        ("LMPOP", |l| {
            let mpop = ListCmd::MPop {
                left: true,
                count: 100_000,
            };
            l.run(mpop, "missing", &[b"k"]);
        }),
        ("LMOVE", |l| {
            while l.run(lmove(true, false), "k", &[b"tmp"]) != Reply::Null {}
            while l.run(RPOP, "tmp", &[]) != Reply::Null {}
        }),
        ("BRPOP attempt", |l| {
            while l.run(ListCmd::BPop { left: false }, "k", &[]) != Reply::NullArray {}
        }),
    ];
    let e = vec![b'e'; 100];
    for (how, empty) in ways {
        for chunk in 0..10 {
            let values: Vec<&[u8]> = vec![&e; 100];
            if chunk % 2 == 0 {
                l.rpush("k", &values);
            } else {
                l.lpush("k", &values);
            }
        }
        assert_eq!(l.encoding("k"), Some("quicklist"));
        assert!(l.store.memory() > base + 100_000, "{how}");
        empty(&mut l);
        assert!(!l.exists("k") && !l.exists("tmp"), "{how}");
        while l.store.free_lazy(4096) {}
        assert_eq!(l.store.memory(), base, "{how}: back to the start");
    }
}

#[test]
fn a_big_list_is_freed_lazily_in_steps_until_memory_is_back() {
    let mut l = warmed();
    let base = l.store.memory();
    let items = strs("element:", 0..50_000);
    for chunk in items.chunks(1000) {
        l.rpush("k", &refs(chunk));
    }
    assert_eq!(l.encoding("k"), Some("quicklist"));
    let full = l.store.memory();
    assert!(full > base + 50_000 * 10, "{full} against {base}");
    assert!(l.store.del(b"k"));
    assert!(!l.exists("k"));
    // Removed, but its elements are still held until freed in steps.
    let mut last = l.store.memory();
    assert!(last > base, "a big list is not freed at once");
    let mut steps = 0;
    while l.store.free_lazy(4096) {
        let now = l.store.memory();
        assert!(now <= last, "memory only goes down while freeing");
        last = now;
        steps += 1;
        assert!(steps < 1000);
    }
    assert!(steps > 1, "freed in several steps ({steps})");
    assert_eq!(l.store.memory(), base);
    assert!(!l.store.free_lazy(4096), "nothing left");
    // A small list is freed at once.
    l.rpush("k", &refs(&items[..100]));
    l.store.del(b"k");
    assert!(!l.store.free_lazy(4096));
    assert_eq!(l.store.memory(), base);
}
