//! A partition against a `HashMap` model: random command sequences (writes
//! of every size class, SET's NX/XX/GET and TTL options, INCRBY, APPEND,
//! EXPIRE/PERSIST/TTL/GETEX, clock steps and expiry ticks, and
//! `GETKEYSINSLOT` steps, which build and read the slot index) under a
//! memory budget with `noeviction`, SIEVE or sampled-LRU eviction, or none.
//!
//! Checks after every step: each reply (RESP, decoded) is the model's; a
//! key the partition holds has the model's value; keys vanish only by
//! expiry or by counted evictions (the written key never), and then the
//! model forgets them too; the key count (`DBSIZE`) is the model's;
//! `GETKEYSINSLOT` answers the model's live keys of the slot (as many as
//! asked, or all); a
//! write refused for memory changed nothing; and `memory()` never exceeds
//! the budget.
#![no_main]

mod shared;

use arbitrary::Arbitrary;
use corekv::partition::{ExpireCond, OpKind, OpRef, Partition, SetCond, SlotStep, TtlMode};
use corekv::reply::Dialect;
use libfuzzer_sys::fuzz_target;
use shared::{decode, evicted, Reply};
use std::collections::HashMap;

const START: u64 = 1_000_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: no limit; else the budget in 32-byte steps, up to 32 KiB (small,
    /// so the limit is reached often).
    budget: u16,
    policy: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ttl {
    Clear,
    Keep,
    /// Milliseconds from now; zero or less deletes at once.
    In(i16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Get(u8),
    Put(u8, Value),
    PutNumber(u8, i64),
    Set {
        key: u8,
        value: Value,
        cond: u8,
        get: bool,
        ttl: Ttl,
    },
    SetNx(u8, Value),
    Del(u8),
    GetDel(u8),
    Exists(u8),
    Strlen(u8),
    Type(u8),
    IncrBy(u8, i64),
    Append(u8, Value),
    Expire(u8, i16),
    Persist(u8),
    Ttl(u8, bool),
    GetEx(u8, Ttl),
    Advance(u16),
    Reclaim(u8),
    /// `CLUSTER GETKEYSINSLOT` of the key's slot, at most `count` keys.
    KeysInSlot(u8, u8),
    SetRange(u8, u16, Value),
    SetBit(u8, u16, bool),
    GetBit(u8, u16),
    Touch(u8),
}

/// A value: some bytes, padded to sizes around the size classes.
#[derive(Arbitrary, Debug)]
struct Value {
    bytes: Vec<u8>,
    pad: u8,
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        let mut v = self.bytes.clone();
        v.truncate(64);
        // 0, then up to ~4 KiB in 16-byte steps.
        v.resize(v.len() + usize::from(self.pad) * 16, b'p');
        v
    }
}

/// Key `i`: short ones, and some across the short form's 256-byte limit;
/// the last eight share a hash slot.
fn key(i: u8) -> Vec<u8> {
    let i = i % 24;
    let tag = if i >= 16 { "{s}" } else { "" };
    let mut k = format!("{tag}k{i}").into_bytes();
    let len = [0, 0, 0, 0, 0, 0, 40, 255, 256, 300][usize::from(i) % 10];
    k.resize(len.max(k.len()), b'.');
    k
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    deadline: Option<u64>,
}

/// What the partition should hold: every stored key, including expired
/// ones not yet removed (as `DBSIZE` counts them).
#[derive(Default)]
struct Model {
    map: HashMap<Vec<u8>, Entry>,
    now: u64,
}

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// Redis's rule for INCR (`string2ll`), written from its definition rather
/// than from corekv's code, so the model checks the server instead of
/// mirroring it: an optional `-`, then `0` alone or a digit 1-9 followed by
/// digits, nothing else (no `+`, no spaces, no leading zeros, no `-0`), and
/// the value must fit an i64. Digits are accumulated downwards so that
/// i64::MIN, whose magnitude has no positive i64, is reached exactly.
fn parse_i64(v: &[u8]) -> Option<i64> {
    let (negative, digits) = match v {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, v),
    };
    match digits {
        [b'0'] => return (!negative).then_some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut below = 0i64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        below = below.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(below)
    } else {
        below.checked_neg()
    }
}

impl Model {
    fn at(&self, ms: i16) -> u64 {
        self.now.saturating_add_signed(i64::from(ms))
    }

    /// Removes `k` if its deadline passed, as the partition does first.
    fn expire_if_due(&mut self, k: &[u8]) {
        if self
            .map
            .get(k)
            .and_then(|e| e.deadline)
            .is_some_and(|d| d <= self.now)
        {
            self.map.remove(k);
        }
    }

    fn value(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.map.get(k).map(|e| e.value.clone())
    }

    fn bulk(v: Option<Vec<u8>>) -> Reply {
        v.map_or(Reply::Nil, Reply::Bulk)
    }

    /// Applies a TTL choice to a key that exists.
    fn apply_ttl(&mut self, k: &[u8], ttl: Ttl) {
        match ttl {
            Ttl::Keep => {}
            Ttl::Clear => self.map.get_mut(k).expect("present").deadline = None,
            Ttl::In(ms) => {
                let at = self.at(ms);
                if at <= self.now {
                    self.map.remove(k);
                } else {
                    self.map.get_mut(k).expect("present").deadline = Some(at);
                }
            }
        }
    }

    fn put(&mut self, k: &[u8], value: Vec<u8>, keep_ttl: bool) {
        let deadline = if keep_ttl {
            self.map.get(k).and_then(|e| e.deadline)
        } else {
            None
        };
        self.map.insert(k.to_vec(), Entry { value, deadline });
    }

    /// The reply `op` gets, applying it; the key was expired first.
    fn run(&mut self, kind: OpKind, k: &[u8], v: &[u8], ttl: Ttl) -> Reply {
        let old = self.value(k);
        match kind {
            OpKind::Get => Self::bulk(old),
            OpKind::Put => {
                self.put(k, v.to_vec(), false);
                Reply::Ok
            }
            OpKind::Set { cond, get, .. } => {
                let allowed = match cond {
                    SetCond::Always => true,
                    SetCond::IfAbsent => old.is_none(),
                    SetCond::IfPresent => old.is_some(),
                };
                if allowed {
                    self.put(k, v.to_vec(), true);
                    self.apply_ttl(k, ttl);
                }
                match (get, allowed) {
                    (true, _) => Self::bulk(old),
                    (false, true) => Reply::Ok,
                    (false, false) => Reply::Nil,
                }
            }
            OpKind::SetNx => {
                if old.is_some() {
                    return Reply::Int(0);
                }
                self.put(k, v.to_vec(), false);
                Reply::Int(1)
            }
            OpKind::Del => Reply::Int(i64::from(self.map.remove(k).is_some())),
            OpKind::GetDel => {
                self.map.remove(k);
                Self::bulk(old)
            }
            OpKind::Exists => Reply::Int(i64::from(old.is_some())),
            OpKind::Strlen => Reply::Int(old.map_or(0, |v| v.len() as i64)),
            OpKind::Type => Reply::Status(if old.is_some() { "string" } else { "none" }.into()),
            OpKind::IncrBy(by) => {
                let current = match old.as_deref().map(parse_i64) {
                    None => 0,
                    Some(Some(n)) => n,
                    Some(None) => return Reply::Error(NOT_INTEGER.into()),
                };
                let Some(new) = current.checked_add(by) else {
                    return Reply::Error(OVERFLOW.into());
                };
                self.put(k, new.to_string().into_bytes(), true);
                Reply::Int(new)
            }
            OpKind::SetRange(_) if v.is_empty() => Reply::Int(old.map_or(0, |o| o.len() as i64)),
            OpKind::SetRange(offset) => {
                let mut new = old.unwrap_or_default();
                let (from, to) = (offset as usize, offset as usize + v.len());
                new.resize(new.len().max(to), 0);
                new[from..to].copy_from_slice(v);
                let len = new.len() as i64;
                self.put(k, new, true);
                Reply::Int(len)
            }
            OpKind::SetBit { offset, on } => {
                let mut new = old.unwrap_or_default();
                let (byte, mask) = ((offset >> 3) as usize, 0x80u8 >> (offset & 7));
                new.resize(new.len().max(byte + 1), 0);
                let was = new[byte] & mask != 0;
                new[byte] = if on == Some(true) {
                    new[byte] | mask
                } else {
                    new[byte] & !mask
                };
                self.put(k, new, true);
                Reply::Int(i64::from(was))
            }
            OpKind::GetBit(offset) => {
                let byte = old
                    .as_deref()
                    .and_then(|o| o.get((offset >> 3) as usize))
                    .copied();
                Reply::Int(i64::from(byte.unwrap_or(0) & (0x80u8 >> (offset & 7)) != 0))
            }
            OpKind::Touch => Reply::Int(i64::from(old.is_some())),
            OpKind::Append => {
                let mut new = old.unwrap_or_default();
                new.extend_from_slice(v);
                let len = new.len() as i64;
                self.put(k, new, true);
                Reply::Int(len)
            }
            OpKind::Expire(..) => {
                if old.is_none() {
                    return Reply::Int(0);
                }
                self.apply_ttl(k, ttl);
                Reply::Int(1)
            }
            OpKind::Persist => match self.map.get_mut(k) {
                None => Reply::Int(0),
                Some(e) => Reply::Int(i64::from(e.deadline.take().is_some())),
            },
            OpKind::Ttl { ms } => match self.map.get(k) {
                None => Reply::Int(-2),
                Some(Entry { deadline: None, .. }) => Reply::Int(-1),
                Some(Entry {
                    deadline: Some(at), ..
                }) => {
                    let left = at.saturating_sub(self.now);
                    Reply::Int(if ms { left } else { (left + 500) / 1000 } as i64)
                }
            },
            OpKind::GetEx(_) => {
                if old.is_some() {
                    self.apply_ttl(k, ttl);
                }
                Self::bulk(old)
            }
            other => unreachable!("{other:?} is not generated"),
        }
    }

    /// The partition's `reclaim_expired(max)`: due keys, earliest
    /// deadline first (ties by key).
    fn reclaim(&mut self, max: usize) -> usize {
        let mut due: Vec<(u64, Vec<u8>)> = self
            .map
            .iter()
            .filter_map(|(k, e)| {
                e.deadline
                    .filter(|&d| d <= self.now)
                    .map(|d| (d, k.clone()))
            })
            .collect();
        due.sort();
        due.truncate(max);
        for (_, k) in &due {
            self.map.remove(k);
        }
        due.len()
    }
}

fn to_mode(model: &Model, ttl: Ttl) -> TtlMode {
    match ttl {
        Ttl::Clear => TtlMode::Clear,
        Ttl::Keep => TtlMode::Keep,
        Ttl::In(ms) => TtlMode::At(model.at(ms)),
    }
}

/// The operation `op` stands for: kind, key, value, and the TTL choice the
/// model applies.
fn lower(model: &Model, op: &Op) -> Option<(OpKind, Vec<u8>, Vec<u8>, Ttl)> {
    let none = Ttl::Keep;
    Some(match op {
        Op::Get(k) => (OpKind::Get, key(*k), vec![], none),
        Op::Put(k, v) => (OpKind::Put, key(*k), v.bytes(), none),
        Op::PutNumber(k, n) => (OpKind::Put, key(*k), n.to_string().into_bytes(), none),
        Op::Set {
            key: k,
            value,
            cond,
            get,
            ttl,
        } => {
            let cond = match cond % 3 {
                0 => SetCond::Always,
                1 => SetCond::IfAbsent,
                _ => SetCond::IfPresent,
            };
            let kind = OpKind::Set {
                cond,
                get: *get,
                ttl: to_mode(model, *ttl),
            };
            (kind, key(*k), value.bytes(), *ttl)
        }
        Op::SetNx(k, v) => (OpKind::SetNx, key(*k), v.bytes(), none),
        Op::Del(k) => (OpKind::Del, key(*k), vec![], none),
        Op::GetDel(k) => (OpKind::GetDel, key(*k), vec![], none),
        Op::Exists(k) => (OpKind::Exists, key(*k), vec![], none),
        Op::Strlen(k) => (OpKind::Strlen, key(*k), vec![], none),
        Op::Type(k) => (OpKind::Type, key(*k), vec![], none),
        Op::IncrBy(k, by) => (OpKind::IncrBy(*by), key(*k), vec![], none),
        Op::Append(k, v) => (OpKind::Append, key(*k), v.bytes(), none),
        Op::Expire(k, ms) => (
            OpKind::Expire(model.at(*ms), ExpireCond::ALWAYS),
            key(*k),
            vec![],
            Ttl::In(*ms),
        ),
        Op::Persist(k) => (OpKind::Persist, key(*k), vec![], none),
        Op::Ttl(k, ms) => (OpKind::Ttl { ms: *ms }, key(*k), vec![], none),
        Op::GetEx(k, ttl) => (OpKind::GetEx(to_mode(model, *ttl)), key(*k), vec![], *ttl),
        Op::SetRange(k, o, v) => (OpKind::SetRange(u64::from(*o)), key(*k), v.bytes(), none),
        Op::SetBit(k, o, on) => {
            let kind = OpKind::SetBit {
                offset: u64::from(*o),
                on: Some(*on),
            };
            (kind, key(*k), vec![], none)
        }
        Op::GetBit(k, o) => (OpKind::GetBit(u64::from(*o)), key(*k), vec![], none),
        Op::Touch(k) => (OpKind::Touch, key(*k), vec![], none),
        Op::Advance(_) | Op::Reclaim(_) | Op::KeysInSlot(..) => return None,
    })
}

/// `GETKEYSINSLOT` of `k`'s slot: the model's live keys there, `count` of
/// them at most (or all, where the partition scans instead: no index
/// within the budget).
fn keys_in_slot(p: &mut Partition, model: &Model, k: &[u8], count: u8) {
    let slot = corekv_router::hash_slot(k);
    let count = usize::from(count.max(1));
    let mut live: Vec<Vec<u8>> = model
        .map
        .iter()
        .filter(|(k, e)| {
            corekv_router::hash_slot(k) == slot && e.deadline.is_none_or(|d| d > model.now)
        })
        .map(|(k, _)| k.clone())
        .collect();
    live.sort();
    let (mut got, mut walk) = (Vec::new(), None);
    loop {
        match p.keys_in_slot(slot, count - got.len(), walk) {
            SlotStep::Building => assert!(walk.is_none(), "a walk waits for a build"),
            SlotStep::Scan => return,
            SlotStep::Keys(step) => {
                got.extend(step.keys.iter().map(|k| k.to_vec()));
                walk = step.walk;
                if walk.is_none() {
                    break;
                }
            }
        }
    }
    got.sort();
    assert_eq!(got.len(), live.len().min(count), "GETKEYSINSLOT {got:?}");
    assert!(
        got.iter().all(|k| live.contains(k)),
        "GETKEYSINSLOT {got:?}"
    );
    assert!(got.windows(2).all(|w| w[0] != w[1]), "a key twice");
}

fn is_write(kind: OpKind) -> bool {
    !kind.is_read() && !matches!(kind, OpKind::Del | OpKind::GetDel | OpKind::Persist)
}

fuzz_target!(|input: Input| {
    let budget = usize::from(input.budget % 1024) * 32;
    let evicting = budget != 0 && !input.policy.is_multiple_of(3);
    let mut p = match (budget, input.policy % 3) {
        (0, _) => Partition::default(),
        (_, 0) => Partition::with_budget(budget),
        (_, n) => Partition::evicting(budget, n == 2),
    };
    let mut model = Model {
        now: START,
        ..Model::default()
    };
    p.freeze_clock(model.now);
    let oom = Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into());
    for op in input.ops.iter().take(2_000) {
        let evictions = p.stats.evictions;
        let mut written = None;
        match op {
            Op::Advance(ms) => {
                model.now += u64::from(*ms);
                p.freeze_clock(model.now);
            }
            Op::Reclaim(max) => {
                let max = usize::from(*max % 16);
                assert_eq!(p.reclaim_expired(max), model.reclaim(max), "reclaimed");
            }
            Op::KeysInSlot(k, count) => keys_in_slot(&mut p, &model, &key(*k), *count),
            _ => {
                let (kind, k, v, ttl) = lower(&model, op).expect("a key operation");
                let mut out = Vec::new();
                p.execute(
                    Dialect::Resp,
                    OpRef {
                        kind,
                        key: &k,
                        value: &v,
                    },
                    &mut out,
                );
                let got = decode(&out);
                model.expire_if_due(&k);
                if got == oom {
                    assert!(budget != 0 && is_write(kind), "OOM for {op:?}");
                    // Refused: the key is as it was.
                    let now = p.store().keys().any(|x| x == k.as_slice());
                    assert_eq!(now, model.map.contains_key(&k), "OOM changed {op:?}");
                } else {
                    let want = model.run(kind, &k, &v, ttl);
                    assert_eq!(got, want, "{op:?}");
                }
                written = Some(k);
            }
        }
        let gone = evicted(
            &p,
            model.map.keys(),
            evictions,
            evicting,
            written.as_deref(),
            op,
        );
        for k in &gone {
            model.map.remove(k);
        }
        assert_eq!(p.store().len(), model.map.len(), "DBSIZE after {op:?}");
        if budget != 0 {
            assert!(
                p.memory() <= budget,
                "memory {} > budget {budget} after {op:?}",
                p.memory()
            );
        }
    }
    // Every value the partition holds is the model's.
    for (k, e) in &model.map {
        let mut out = Vec::new();
        p.execute(
            Dialect::Resp,
            OpRef {
                kind: OpKind::Strlen,
                key: k,
                value: b"",
            },
            &mut out,
        );
        let live = e.deadline.is_none_or(|d| d > model.now);
        let want = if live { e.value.len() as i64 } else { 0 };
        assert_eq!(
            decode(&out),
            Reply::Int(want),
            "{:?}",
            String::from_utf8_lossy(k)
        );
    }
});
