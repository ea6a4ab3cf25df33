//! Hashes, lists, sets and sorted sets in a partition against a model of
//! Rust collections: random command sequences over a few keys, with
//! strings among them (WRONGTYPE both ways), elements short and long (past
//! `*-max-listpack-value`), integer set members (intsets), Redis's default
//! `*-max-*` limits or tiny ones (so small forms convert to big ones all
//! the time, and lists span many quicklist nodes), under a memory budget
//! with `noeviction`, SIEVE or sampled-LRU eviction, or none.
//!
//! Checks after every step: each reply (RESP, decoded) is the model's; a
//! write refused for memory changed nothing; keys vanish only by counted
//! evictions (the written key never), and then the model forgets them
//! too; the key count is the model's; `memory()` never exceeds the
//! budget; and the written key holds exactly the model's collection
//! (every field, element, member and score read back one by one, and the
//! length).
#![no_main]

mod shared;

use arbitrary::Arbitrary;
use corekv::partition::coll::hash::HashCmd;
use corekv::partition::coll::list::ListCmd;
use corekv::partition::coll::set::SetCmd;
use corekv::partition::coll::zset::ZSetCmd;
use corekv::partition::coll::{pack, Limits};
use corekv::partition::{OpKind, OpRef, Partition};
use corekv::reply::Dialect;
use libfuzzer_sys::fuzz_target;
use shared::{decode, evicted, Reply};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: no limit; else the budget in 64-byte steps, up to 64 KiB.
    budget: u16,
    policy: u8,
    /// Tiny `*-max-*` limits instead of Redis's defaults.
    tiny: bool,
    ops: Vec<Op>,
}

/// An element: `e<id>`, or the same padded past 64 bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Elem {
    id: u8,
    long: bool,
}

impl Elem {
    fn bytes(self) -> Vec<u8> {
        let mut e = format!("e{}", self.id % 32).into_bytes();
        if self.long {
            e.resize(70, b'.');
        }
        e
    }
}

/// A set member: an integer (intsets hold these) or an element.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Member {
    Int(i8),
    Elem(Elem),
}

impl Member {
    fn bytes(self) -> Vec<u8> {
        match self {
            Self::Int(n) => n.to_string().into_bytes(),
            Self::Elem(e) => e.bytes(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    HSet(u8, Elem, Elem),
    HDel(u8, Elem),
    HGet(u8, Elem),
    HLen(u8),
    Push { key: u8, left: bool, value: Elem },
    Pop { key: u8, left: bool },
    LLen(u8),
    LIndex(u8, i8),
    SAdd(u8, Member),
    SRem(u8, Member),
    SIsMember(u8, Member),
    SCard(u8),
    ZAdd(u8, i8, Elem),
    ZRem(u8, Elem),
    ZScore(u8, Elem),
    ZCard(u8),
    Get(u8),
    Put(u8, Elem),
    Del(u8),
    Type(u8),
    Exists(u8),
}

fn key(i: u8) -> Vec<u8> {
    format!("k{}", i % 6).into_bytes()
}

#[derive(Debug, Clone)]
enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, i64>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Str(_) => "string",
            Self::Hash(_) => "hash",
            Self::List(_) => "list",
            Self::Set(_) => "set",
            Self::ZSet(_) => "zset",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Str(_) => false,
            Self::Hash(h) => h.is_empty(),
            Self::List(l) => l.is_empty(),
            Self::Set(s) => s.is_empty(),
            Self::ZSet(z) => z.is_empty(),
        }
    }
}

/// What a command does to the model: read or write the key's value of one
/// type, made on the first write (`make`).
fn typed<T>(
    map: &mut HashMap<Vec<u8>, Value>,
    k: &[u8],
    make: Option<fn() -> Value>,
    get: fn(&mut Value) -> Option<&mut T>,
    f: impl FnOnce(Option<&mut T>) -> Reply,
) -> Reply {
    if !map.contains_key(k) {
        match make {
            Some(make) => {
                map.insert(k.to_vec(), make());
            }
            None => return f(None),
        }
    }
    let v = map.get_mut(k).expect("present");
    let Some(t) = get(v) else {
        if v.is_empty() {
            map.remove(k);
        }
        return Reply::Error(WRONGTYPE.into());
    };
    let reply = f(Some(t));
    if map.get(k).is_some_and(Value::is_empty) {
        map.remove(k);
    }
    reply
}

fn hash(v: &mut Value) -> Option<&mut BTreeMap<Vec<u8>, Vec<u8>>> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

fn list(v: &mut Value) -> Option<&mut VecDeque<Vec<u8>>> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

fn set(v: &mut Value) -> Option<&mut BTreeSet<Vec<u8>>> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn zset(v: &mut Value) -> Option<&mut BTreeMap<Vec<u8>, i64>> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

fn int(n: usize) -> Reply {
    Reply::Int(n as i64)
}

fn bulk(v: Option<&Vec<u8>>) -> Reply {
    v.map_or(Reply::Nil, |v| Reply::Bulk(v.clone()))
}

/// The operation `op` stands for (kind, key, value) and the model's
/// answer, applied to `map`.
fn step(map: &mut HashMap<Vec<u8>, Value>, op: &Op) -> ((OpKind, Vec<u8>, Vec<u8>), Reply) {
    let new_hash = || Value::Hash(BTreeMap::new());
    let new_list = || Value::List(VecDeque::new());
    let new_set = || Value::Set(BTreeSet::new());
    let new_zset = || Value::ZSet(BTreeMap::new());
    match *op {
        Op::HSet(k, f, v) => {
            let (k, f, v) = (key(k), f.bytes(), v.bytes());
            let args = pack::pack([f.as_slice(), v.as_slice()]);
            let r = typed(map, &k, Some(new_hash), hash, |h| {
                int(usize::from(h.expect("made").insert(f, v).is_none()))
            });
            ((OpKind::Hash(HashCmd::Set { ok: false }), k, args), r)
        }
        Op::HDel(k, f) => {
            let (k, f) = (key(k), f.bytes());
            let args = pack::pack([f.as_slice()]);
            let r = typed(map, &k, None, hash, |h| {
                int(h.map_or(0, |h| usize::from(h.remove(&f).is_some())))
            });
            ((OpKind::Hash(HashCmd::Del), k, args), r)
        }
        Op::HGet(k, f) => {
            let (k, f) = (key(k), f.bytes());
            let r = typed(map, &k, None, hash, |h| bulk(h.and_then(|h| h.get(&f))));
            ((OpKind::Hash(HashCmd::Get), k, f), r)
        }
        Op::HLen(k) => {
            let k = key(k);
            let r = typed(map, &k, None, hash, |h| int(h.map_or(0, |h| h.len())));
            ((OpKind::Hash(HashCmd::Len), k, vec![]), r)
        }
        Op::Push {
            key: k,
            left,
            value,
        } => {
            let (k, v) = (key(k), value.bytes());
            let args = pack::pack([v.as_slice()]);
            let r = typed(map, &k, Some(new_list), list, |l| {
                let l = l.expect("made");
                if left {
                    l.push_front(v);
                } else {
                    l.push_back(v);
                }
                int(l.len())
            });
            let kind = ListCmd::Push {
                left,
                existing: false,
            };
            ((OpKind::List(kind), k, args), r)
        }
        Op::Pop { key: k, left } => {
            let k = key(k);
            let r = typed(map, &k, None, list, |l| {
                let popped = l.and_then(|l| if left { l.pop_front() } else { l.pop_back() });
                bulk(popped.as_ref())
            });
            let kind = ListCmd::Pop { left, count: None };
            ((OpKind::List(kind), k, vec![]), r)
        }
        Op::LLen(k) => {
            let k = key(k);
            let r = typed(map, &k, None, list, |l| int(l.map_or(0, |l| l.len())));
            ((OpKind::List(ListCmd::Len), k, vec![]), r)
        }
        Op::LIndex(k, i) => {
            let k = key(k);
            let r = typed(map, &k, None, list, |l| {
                bulk(l.and_then(|l| {
                    let i = i64::from(i);
                    let at = if i < 0 { l.len() as i64 + i } else { i };
                    usize::try_from(at).ok().and_then(|at| l.get(at))
                }))
            });
            (
                (OpKind::List(ListCmd::Index), k, i.to_string().into_bytes()),
                r,
            )
        }
        Op::SAdd(k, m) => {
            let (k, m) = (key(k), m.bytes());
            let args = pack::pack([m.as_slice()]);
            let r = typed(map, &k, Some(new_set), set, |s| {
                int(usize::from(s.expect("made").insert(m)))
            });
            ((OpKind::SetType(SetCmd::Add), k, args), r)
        }
        Op::SRem(k, m) => {
            let (k, m) = (key(k), m.bytes());
            let args = pack::pack([m.as_slice()]);
            let r = typed(map, &k, None, set, |s| {
                int(s.map_or(0, |s| usize::from(s.remove(&m))))
            });
            ((OpKind::SetType(SetCmd::Rem), k, args), r)
        }
        Op::SIsMember(k, m) => {
            let (k, m) = (key(k), m.bytes());
            let r = typed(map, &k, None, set, |s| {
                int(s.map_or(0, |s| usize::from(s.contains(&m))))
            });
            ((OpKind::SetType(SetCmd::IsMember), k, m), r)
        }
        Op::SCard(k) => {
            let k = key(k);
            let r = typed(map, &k, None, set, |s| int(s.map_or(0, |s| s.len())));
            ((OpKind::SetType(SetCmd::Card), k, vec![]), r)
        }
        Op::ZAdd(k, score, m) => {
            let (k, m) = (key(k), m.bytes());
            let score = i64::from(score);
            let s = (score as f64).to_le_bytes();
            let args = pack::pack([&s[..], m.as_slice()]);
            let r = typed(map, &k, Some(new_zset), zset, |z| {
                int(usize::from(z.expect("made").insert(m, score).is_none()))
            });
            ((OpKind::ZSetType(ZSetCmd::Add { flags: 0 }), k, args), r)
        }
        Op::ZRem(k, m) => {
            let (k, m) = (key(k), m.bytes());
            let args = pack::pack([m.as_slice()]);
            let r = typed(map, &k, None, zset, |z| {
                int(z.map_or(0, |z| usize::from(z.remove(&m).is_some())))
            });
            ((OpKind::ZSetType(ZSetCmd::Rem), k, args), r)
        }
        Op::ZScore(k, m) => {
            let (k, m) = (key(k), m.bytes());
            let r = typed(map, &k, None, zset, |z| {
                let score = z
                    .and_then(|z| z.get(&m))
                    .map(|s| s.to_string().into_bytes());
                bulk(score.as_ref())
            });
            ((OpKind::ZSetType(ZSetCmd::Score), k, m), r)
        }
        Op::ZCard(k) => {
            let k = key(k);
            let r = typed(map, &k, None, zset, |z| int(z.map_or(0, |z| z.len())));
            ((OpKind::ZSetType(ZSetCmd::Card), k, vec![]), r)
        }
        Op::Get(k) => {
            let k = key(k);
            let r = match map.get(&k) {
                None => Reply::Nil,
                Some(Value::Str(s)) => Reply::Bulk(s.clone()),
                Some(_) => Reply::Error(WRONGTYPE.into()),
            };
            ((OpKind::Get, k, vec![]), r)
        }
        Op::Put(k, v) => {
            let (k, v) = (key(k), v.bytes());
            map.insert(k.clone(), Value::Str(v.clone()));
            ((OpKind::Put, k, v), Reply::Ok)
        }
        Op::Del(k) => {
            let k = key(k);
            let r = int(usize::from(map.remove(&k).is_some()));
            ((OpKind::Del, k, vec![]), r)
        }
        Op::Type(k) => {
            let k = key(k);
            let r = Reply::Status(map.get(&k).map_or("none", Value::type_name).into());
            ((OpKind::Type, k, vec![]), r)
        }
        Op::Exists(k) => {
            let k = key(k);
            let r = int(usize::from(map.contains_key(&k)));
            ((OpKind::Exists, k, vec![]), r)
        }
    }
}

fn run(p: &mut Partition, kind: OpKind, k: &[u8], value: &[u8]) -> Reply {
    let mut out = Vec::new();
    p.execute(
        Dialect::Resp,
        OpRef {
            kind,
            key: k,
            value,
        },
        &mut out,
    );
    decode(&out)
}

/// The partition holds exactly `want` (or nothing) under `k`: its type,
/// its length, and every element read back.
fn check_key(p: &mut Partition, k: &[u8], want: Option<&Value>) {
    let ty = want.map_or("none", Value::type_name);
    assert_eq!(
        run(p, OpKind::Type, k, b""),
        Reply::Status(ty.into()),
        "TYPE"
    );
    match want {
        None => {}
        Some(Value::Str(s)) => assert_eq!(run(p, OpKind::Get, k, b""), Reply::Bulk(s.clone())),
        Some(Value::Hash(h)) => {
            assert_eq!(run(p, OpKind::Hash(HashCmd::Len), k, b""), int(h.len()));
            for (f, v) in h {
                let got = run(p, OpKind::Hash(HashCmd::Get), k, f);
                assert_eq!(got, Reply::Bulk(v.clone()), "HGET {f:?}");
            }
        }
        Some(Value::List(l)) => {
            assert_eq!(run(p, OpKind::List(ListCmd::Len), k, b""), int(l.len()));
            for (i, v) in l.iter().enumerate() {
                let index = i.to_string().into_bytes();
                let got = run(p, OpKind::List(ListCmd::Index), k, &index);
                assert_eq!(got, Reply::Bulk(v.clone()), "LINDEX {i}");
            }
        }
        Some(Value::Set(s)) => {
            assert_eq!(run(p, OpKind::SetType(SetCmd::Card), k, b""), int(s.len()));
            for m in s {
                let got = run(p, OpKind::SetType(SetCmd::IsMember), k, m);
                assert_eq!(got, Reply::Int(1), "SISMEMBER {m:?}");
            }
        }
        Some(Value::ZSet(z)) => {
            assert_eq!(
                run(p, OpKind::ZSetType(ZSetCmd::Card), k, b""),
                int(z.len())
            );
            for (m, s) in z {
                let got = run(p, OpKind::ZSetType(ZSetCmd::Score), k, m);
                assert_eq!(got, Reply::Bulk(s.to_string().into_bytes()), "ZSCORE {m:?}");
            }
        }
    }
}

fuzz_target!(|input: Input| {
    // Replaying an artifact with FUZZ_DEBUG=1 prints the decoded input.
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{input:?}");
    }
    let budget = usize::from(input.budget % 1024) * 64;
    let evicting = budget != 0 && !input.policy.is_multiple_of(3);
    let mut p = match (budget, input.policy % 3) {
        (0, _) => Partition::default(),
        (_, 0) => Partition::with_budget(budget),
        (_, n) => Partition::evicting(budget, n == 2),
    };
    if input.tiny {
        p.set_collection_limits(Limits {
            hash_entries: 3,
            hash_value: 8,
            set_intset_entries: 3,
            set_entries: 3,
            set_value: 8,
            list_size: 2,
            zset_entries: 3,
            zset_value: 8,
        });
    }
    let mut model: HashMap<Vec<u8>, Value> = HashMap::new();
    for op in input.ops.iter().take(1_000) {
        let evictions = p.stats.evictions;
        let before = model.clone();
        let ((kind, k, value), want) = step(&mut model, op);
        let got = run(&mut p, kind, &k, &value);
        if got == Reply::Error(OOM.into()) {
            assert!(budget != 0 && !kind.is_read(), "OOM for {op:?}");
            // Refused: nothing changed.
            model = before;
        } else {
            assert_eq!(got, want, "{op:?}");
        }
        for x in evicted(&p, model.keys(), evictions, evicting, Some(&k), op) {
            model.remove(&x);
        }
        assert_eq!(p.store().len(), model.len(), "DBSIZE after {op:?}");
        if budget != 0 {
            assert!(
                p.memory() <= budget,
                "memory {} > budget {budget} after {op:?}",
                p.memory()
            );
        }
        check_key(&mut p, &k, model.get(&k));
    }
    for (k, v) in &model {
        check_key(&mut p, k, Some(v));
    }
});
