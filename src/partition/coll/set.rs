//! Set commands on a partition's store, with Redis's replies and errors.
//!
//! Three forms, as Redis 7.2 keeps sets: `intset` (integers only, sorted,
//! 8 bytes each, up to `set-max-intset-entries`), `listpack` (members
//! packed in insertion order, up to `set-max-listpack-entries` members of
//! at most `set-max-listpack-value` bytes) and `hashtable` (a [`Dict`]).
//! Redis 7.0 has no listpack sets (a small set of strings is a
//! `hashtable` there): README lists this.

use super::super::ops::{parse_i64, Env, Outcome};
use super::super::store::Store;
use super::{big_mut, big_payload, header, pack, view, Big, Dict, Limits, View, INTSET, PACK, SET};
use crate::resp::encode as enc;

/// A set command (its other arguments travel packed beside the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCmd {
    Add,
    Rem,
    /// The member travels as it is.
    IsMember,
    MIsMember,
    Card,
    Members,
    /// `SPOP key [count]`.
    Pop(Option<u64>),
    /// `SRANDMEMBER key [count]`.
    RandMember(Option<i64>),
    /// `SSCAN key cursor [MATCH p] [COUNT n]`: the options packed.
    Scan {
        cursor: u64,
    },
    /// `SMOVE src dst member`: the key is the source; the value packs the
    /// destination and the member (`movekey::pack_keys`).
    Move,
    /// `SINTER`/`SUNION`/`SDIFF` and `SINTERCARD`: the key is the first
    /// set, the value packs the others (`movekey::pack_keys`).
    Inter,
    InterCard {
        limit: u64,
    },
    Union,
    Diff,
    /// The `*STORE` commands: the key is the destination, the value packs
    /// the sources.
    InterStore,
    UnionStore,
    DiffStore,
}

impl SetCmd {
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::IsMember
                | Self::MIsMember
                | Self::Card
                | Self::Members
                | Self::RandMember(_)
                | Self::Scan { .. }
                | Self::Inter
                | Self::InterCard { .. }
                | Self::Union
                | Self::Diff
        )
    }

    pub fn is_quick(self) -> bool {
        matches!(
            self,
            Self::IsMember | Self::Card | Self::Pop(None) | Self::RandMember(None)
        )
    }

    /// Commands on several keys (the others packed in the value).
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            Self::Move
                | Self::Inter
                | Self::InterCard { .. }
                | Self::Union
                | Self::Diff
                | Self::InterStore
                | Self::UnionStore
                | Self::DiffStore
        )
    }

    /// The one argument after the key travels as it is.
    pub fn raw_arg(self) -> bool {
        matches!(self, Self::IsMember)
    }
}

/// A member of a set, as bytes (an intset's integers formatted).
fn int_text(n: i64, buf: &mut itoa::Buffer) -> &[u8] {
    buf.format(n).as_bytes()
}

fn ints(body: &[u8]) -> impl Iterator<Item = i64> + '_ {
    body.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
}

/// Binary search of a sorted intset body: `Ok(index)` if `n` is there,
/// else `Err(where it would go)`.
fn find_int(body: &[u8], n: i64) -> Result<usize, usize> {
    let at = |i: usize| i64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (mut lo, mut hi) = (0, body.len() / 8);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match at(mid).cmp(&n) {
            std::cmp::Ordering::Equal => return Ok(mid),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    Err(lo)
}

/// Calls `f` with every member, in the set's order.
pub fn each(payload: &[u8], mut f: impl FnMut(&[u8])) {
    match view(payload) {
        View::IntSet { body } => {
            let mut buf = itoa::Buffer::new();
            for n in ints(body) {
                f(int_text(n, &mut buf));
            }
        }
        View::Pack { body, .. } => pack::Iter::new(body).for_each(f),
        View::Big(Big::Set(d)) => d.iter().for_each(|(m, _)| f(m)),
        View::Big(_) => {}
    }
}

/// Every member, owned.
fn members(payload: &[u8]) -> Vec<Box<[u8]>> {
    let mut out = Vec::with_capacity(super::len(payload));
    each(payload, |m| out.push(m.into()));
    out
}

/// True if `member` is in the set.
pub fn contains(payload: &[u8], member: &[u8]) -> bool {
    match view(payload) {
        View::IntSet { body } => parse_i64(member).is_some_and(|n| find_int(body, n).is_ok()),
        View::Pack { body, .. } => pack::Iter::new(body).any(|m| m == member),
        View::Big(Big::Set(d)) => d.contains(member),
        View::Big(_) => false,
    }
}

/// Adds `member` to the set at `key` (which exists); true if it is new.
/// The form changes as Redis 7.2 changes it.
fn add(store: &mut Store, key: &[u8], member: &[u8], limits: &Limits) -> bool {
    store
        .update(key, |e| {
            if let Some(Big::Set(d)) = big_mut(e.value_mut()) {
                return d.insert(member, b"");
            }
            let p = e.value();
            match view(p) {
                View::IntSet { body } => {
                    let count = body.len() / 8;
                    if let Some(n) = parse_i64(member) {
                        let Err(at) = find_int(body, n) else {
                            return false;
                        };
                        if count < limits.set_intset_entries {
                            let mut new = header(SET, INTSET, count + 1).to_vec();
                            new.extend_from_slice(&body[..at * 8]);
                            new.extend_from_slice(&n.to_le_bytes());
                            new.extend_from_slice(&body[at * 8..]);
                            e.replace_payload(&new);
                            return true;
                        }
                        // A full intset becomes a hashtable, never a
                        // listpack (Redis's `maybeConvertIntset`).
                        let mut all = members(p);
                        all.push(member.into());
                        e.replace_payload(&big(&all));
                        return true;
                    }
                    // A string: a listpack if it fits (the longest
                    // integer is at most 20 bytes), else a hashtable.
                    let longest = v_longest(body);
                    let fits = count < limits.set_entries
                        && member.len() <= limits.set_value
                        && longest <= limits.set_value;
                    let mut all = members(p);
                    all.push(member.into());
                    let new = if fits {
                        packed(&all)
                    } else {
                        big(&all).to_vec()
                    };
                    e.replace_payload(&new);
                    true
                }
                View::Pack { count, body } => {
                    if pack::Iter::new(body).any(|m| m == member) {
                        return false;
                    }
                    if count < limits.set_entries && member.len() <= limits.set_value {
                        let mut new = header(SET, PACK, count + 1).to_vec();
                        new.extend_from_slice(body);
                        pack::push(&mut new, member);
                        e.replace_payload(&new);
                    } else {
                        let mut all = members(p);
                        all.push(member.into());
                        e.replace_payload(&big(&all));
                    }
                    true
                }
                View::Big(_) => false,
            }
        })
        .unwrap_or(false)
}

/// Redis 7.2's `setTypeMaybeConvert`: a small set that `SADD` names
/// more members than its form holds (new or not) becomes a hashtable
/// before any is added.
fn convert_for(store: &mut Store, key: &[u8], hint: usize, limits: &Limits) {
    store.update(key, |e| {
        let p = e.value();
        let over = match view(p) {
            View::IntSet { .. } => hint > limits.set_intset_entries,
            View::Pack { .. } => hint > limits.set_entries,
            View::Big(_) => false,
        };
        if over {
            let new = big(&members(p));
            e.replace_payload(&new);
        }
    });
}

/// Digits of the longest integer of an intset body.
fn v_longest(body: &[u8]) -> usize {
    let mut buf = itoa::Buffer::new();
    ints(body).map(|n| buf.format(n).len()).max().unwrap_or(0)
}

/// A listpack payload of `all`.
fn packed(all: &[Box<[u8]>]) -> Vec<u8> {
    let mut new = header(SET, PACK, all.len()).to_vec();
    for m in all {
        pack::push(&mut new, m);
    }
    new
}

/// A hashtable payload of `all`.
fn big(all: &[Box<[u8]>]) -> [u8; 10] {
    let mut d = Dict::with_capacity(all.len());
    for m in all {
        d.insert(m, b"");
    }
    big_payload(SET, Box::new(Big::Set(d)))
}

/// Removes `member`; true if it was there.
fn rem(store: &mut Store, key: &[u8], member: &[u8]) -> bool {
    store
        .update(key, |e| {
            if let Some(Big::Set(d)) = big_mut(e.value_mut()) {
                return d.remove(member).is_some();
            }
            let p = e.value();
            match view(p) {
                View::IntSet { body } => {
                    let Some(n) = parse_i64(member) else {
                        return false;
                    };
                    let Ok(at) = find_int(body, n) else {
                        return false;
                    };
                    let mut new = header(SET, INTSET, body.len() / 8 - 1).to_vec();
                    new.extend_from_slice(&body[..at * 8]);
                    new.extend_from_slice(&body[(at + 1) * 8..]);
                    e.replace_payload(&new);
                    true
                }
                View::Pack { count, body } => {
                    let mut it = pack::Iter::new(body);
                    loop {
                        let start = it.offset();
                        let Some(m) = it.next() else {
                            return false;
                        };
                        if m == member {
                            let mut new = header(SET, PACK, count - 1).to_vec();
                            new.extend_from_slice(&body[..start]);
                            new.extend_from_slice(&body[it.offset()..]);
                            e.replace_payload(&new);
                            return true;
                        }
                    }
                }
                View::Big(_) => false,
            }
        })
        .unwrap_or(false)
}

/// A new empty set payload for a set about to receive `first` (and
/// `hint` members in all), in the form Redis 7.2 would start with.
fn new_set(first: &[u8], hint: usize, limits: &Limits) -> Vec<u8> {
    if parse_i64(first).is_some() && hint <= limits.set_intset_entries {
        header(SET, INTSET, 0).to_vec()
    } else if hint <= limits.set_entries {
        header(SET, PACK, 0).to_vec()
    } else {
        big(&[]).to_vec()
    }
}

/// Removes an emptied set, telling watchers.
fn drop_if_empty(store: &mut Store, env: &mut Env<'_>, key: &[u8]) {
    let empty = store
        .collection(key, SET)
        .ok()
        .flatten()
        .is_some_and(|p| super::len(p) == 0);
    if empty {
        store.del(key);
        env.expiry.clear(key);
    }
}

/// Runs `cmd` on `key`.
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: SetCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    if cmd.is_multi() {
        return multi(store, env, cmd, key, args);
    }
    let items = pack::Items::of(args, cmd.raw_arg());
    let payload = match store.collection(key, SET) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (out, proto) = (&mut *env.reply, env.proto);
    match cmd {
        SetCmd::Add => {
            let limits = env.limits;
            if payload.is_none() {
                let p = new_set(items[0], items.len(), &limits);
                store.insert_collection(key, &p);
            } else {
                convert_for(store, key, items.len(), &limits);
            }
            let added = items.iter().filter(|m| add(store, key, m, &limits)).count();
            if added > 0 {
                (env.touched)(key);
            }
            Outcome::Int(added as i64)
        }
        SetCmd::Rem => {
            if payload.is_none() {
                return Outcome::Int(0);
            }
            let removed = items.iter().filter(|m| rem(store, key, m)).count();
            if removed > 0 {
                (env.touched)(key);
                drop_if_empty(store, env, key);
            }
            Outcome::Int(removed as i64)
        }
        SetCmd::IsMember => Outcome::Int(i64::from(payload.is_some_and(|p| contains(p, args)))),
        SetCmd::MIsMember => {
            enc::array(out, items.len());
            for &m in items.iter() {
                enc::int(out, i64::from(payload.is_some_and(|p| contains(p, m))));
            }
            Outcome::Raw
        }
        SetCmd::Card => Outcome::Int(payload.map_or(0, super::len) as i64),
        SetCmd::Members => {
            let Some(p) = payload else {
                enc::set(out, 0, proto);
                return Outcome::Raw;
            };
            enc::set(out, super::len(p), proto);
            each(p, |m| enc::bulk(out, m));
            Outcome::Raw
        }
        SetCmd::RandMember(count) => {
            rand_member(payload, count, env);
            Outcome::Raw
        }
        SetCmd::Pop(count) => pop(store, env, key, count),
        SetCmd::Scan { cursor } => {
            let Some(p) = payload else {
                super::empty_scan(out);
                return Outcome::Raw;
            };
            match super::scan_options(&items) {
                Ok((count, pattern)) => scan(p, cursor, count, pattern, out),
                Err(e) => return Outcome::Error(e),
            }
            Outcome::Raw
        }
        _ => unreachable!("multi-key commands are handled above"),
    }
}

/// `SSCAN`: a small set whole in one step, a big one by slab position.
fn scan(payload: &[u8], cursor: u64, count: usize, pattern: Option<&[u8]>, out: &mut Vec<u8>) {
    let keep = |m: &[u8]| pattern.is_none_or(|p| crate::glob::matches(p, m));
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let mut next = 0u64;
    match view(payload) {
        View::Big(Big::Set(d)) => {
            let mut pos = usize::try_from(cursor).unwrap_or(usize::MAX);
            let end = d.slots().min(pos.saturating_add(count.max(1)));
            while pos < end {
                if let Some((m, _)) = d.at(pos) {
                    if keep(m) {
                        found.push(m.into());
                    }
                }
                pos += 1;
            }
            if pos < d.slots() {
                next = pos as u64;
            }
        }
        _ => each(payload, |m| {
            if keep(m) {
                found.push(m.into());
            }
        }),
    }
    enc::array(out, 2);
    enc::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    enc::bulk_array(out, found.iter().map(|m| &**m));
}

/// A random member's position among `n`: a big set samples its dict.
fn random_members(
    payload: &[u8],
    rng: &mut super::Rng<'_>,
    k: usize,
    distinct: bool,
) -> Vec<Box<[u8]>> {
    if let View::Big(Big::Set(d)) = view(payload) {
        if !distinct {
            return (0..k)
                .map(|_| {
                    let pos = d.random(rng.draw());
                    d.at(pos as usize).expect("live").0.into()
                })
                .collect();
        }
        if k * 4 < d.len() {
            // Few of many: sample until `k` distinct.
            let mut seen = hashbrown::HashSet::new();
            while seen.len() < k {
                seen.insert(d.random(rng.draw()));
            }
            return seen
                .into_iter()
                .map(|pos| d.at(pos as usize).expect("live").0.into())
                .collect();
        }
    }
    let all = members(payload);
    if distinct {
        rng.distinct(all.len(), k)
            .into_iter()
            .map(|i| all[i].clone())
            .collect()
    } else {
        (0..k).map(|_| all[rng.below(all.len())].clone()).collect()
    }
}

/// `SRANDMEMBER`: Redis's cases (no count: one or nil; a positive one,
/// distinct members; a negative one, members that may repeat).
fn rand_member(payload: Option<&[u8]>, count: Option<i64>, env: &mut Env<'_>) {
    let (out, proto) = (&mut *env.reply, env.proto);
    let Some(p) = payload else {
        match count {
            None => enc::null(out, proto),
            Some(_) => enc::array(out, 0),
        }
        return;
    };
    let mut rng = super::Rng(env.rng);
    let chosen = match count {
        None => {
            let m = random_members(p, &mut rng, 1, false);
            enc::bulk(out, &m[0]);
            return;
        }
        Some(n) if n >= 0 => random_members(
            p,
            &mut rng,
            (n as u64).min(super::len(p) as u64) as usize,
            true,
        ),
        Some(n) => {
            let k = n.unsigned_abs() as usize;
            if k > super::MAX_REPEATS {
                *out = b"-ERR count is too large: corekv answers at most 16777216 repeated elements\r\n".to_vec();
                return;
            }
            random_members(p, &mut rng, k, false)
        }
    };
    enc::bulk_array(out, chosen.iter().map(|m| &**m));
}

/// `SPOP key [count]`.
fn pop<'s>(store: &mut Store, env: &mut Env<'_>, key: &[u8], count: Option<u64>) -> Outcome<'s> {
    let proto = env.proto;
    let Some(p) = store.collection(key, SET).ok().flatten() else {
        match count {
            None => enc::null(env.reply, proto),
            Some(_) => enc::set(env.reply, 0, proto),
        }
        return Outcome::Raw;
    };
    let len = super::len(p);
    let k = match count {
        None => 1,
        Some(0) => {
            enc::set(env.reply, 0, proto);
            return Outcome::Raw;
        }
        Some(n) => (n.min(len as u64)) as usize,
    };
    let chosen = if k >= len {
        members(p)
    } else {
        random_members(p, &mut super::Rng(env.rng), k, true)
    };
    for m in &chosen {
        rem(store, key, m);
    }
    (env.touched)(key);
    drop_if_empty(store, env, key);
    match count {
        None => enc::bulk(env.reply, &chosen[0]),
        Some(_) => {
            enc::set(env.reply, chosen.len(), proto);
            for m in &chosen {
                enc::bulk(env.reply, m);
            }
        }
    }
    Outcome::Raw
}

/// The commands on several sets (all on this partition).
fn multi<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: SetCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    let others: Vec<&[u8]> = super::super::movekey::unpack(args).collect();
    if cmd == SetCmd::Move {
        return smove(
            store,
            env,
            key,
            others[0],
            others.get(1).copied().unwrap_or_default(),
        );
    }
    let (dst, sources): (Option<&[u8]>, Vec<&[u8]>) = match cmd {
        SetCmd::InterStore | SetCmd::UnionStore | SetCmd::DiffStore => (Some(key), others),
        _ => (None, std::iter::once(key).chain(others).collect()),
    };
    // Every source is type-checked, missing ones included, as Redis does.
    let mut sets: Vec<Option<&[u8]>> = Vec::with_capacity(sources.len());
    for k in &sources {
        match store.collection(k, SET) {
            Ok(p) => sets.push(p),
            Err(e) => return e,
        }
    }
    let result: Vec<Box<[u8]>> = match cmd {
        SetCmd::Inter | SetCmd::InterCard { .. } | SetCmd::InterStore => {
            if sets.iter().any(Option::is_none) {
                Vec::new()
            } else {
                let mut sets: Vec<&[u8]> = sets.into_iter().flatten().collect();
                sets.sort_by_key(|p| super::len(p));
                let limit = match cmd {
                    SetCmd::InterCard { limit } if limit > 0 => limit as usize,
                    _ => usize::MAX,
                };
                let mut found = Vec::new();
                each(sets[0], |m| {
                    if found.len() < limit && sets[1..].iter().all(|s| contains(s, m)) {
                        found.push(m.into());
                    }
                });
                found
            }
        }
        SetCmd::Union | SetCmd::UnionStore => {
            let mut seen = hashbrown::HashSet::new();
            let mut found = Vec::new();
            for p in sets.into_iter().flatten() {
                each(p, |m| {
                    if seen.insert(m.to_vec()) {
                        found.push(m.into());
                    }
                });
            }
            found
        }
        _ => {
            let mut found = Vec::new();
            if let Some(Some(first)) = sets.first() {
                each(first, |m| {
                    if !sets[1..].iter().flatten().any(|s| contains(s, m)) {
                        found.push(m.into());
                    }
                });
            }
            found
        }
    };
    let (out, proto) = (&mut *env.reply, env.proto);
    match (cmd, dst) {
        (SetCmd::InterCard { .. }, _) => Outcome::Int(result.len() as i64),
        (_, None) => {
            enc::set(out, result.len(), proto);
            for m in &result {
                enc::bulk(out, m);
            }
            Outcome::Raw
        }
        (_, Some(dst)) => {
            let existed = store.del(dst);
            env.expiry.clear(dst);
            if !result.is_empty() {
                let limits = env.limits;
                store.insert_collection(dst, &new_set(&result[0], result.len(), &limits));
                for m in &result {
                    add(store, dst, m, &limits);
                }
            }
            if existed || !result.is_empty() {
                (env.touched)(dst);
            }
            Outcome::Int(result.len() as i64)
        }
    }
}

/// `SMOVE src dst member`, with Redis 7.0's order of checks: a missing
/// source answers 0, then both types are checked.
fn smove<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    src: &[u8],
    dst: &[u8],
    member: &[u8],
) -> Outcome<'s> {
    if !store.contains(src) {
        return Outcome::Int(0);
    }
    let src_set = match store.collection(src, SET) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = store.collection(dst, SET) {
        return e;
    }
    let Some(src_set) = src_set else {
        return Outcome::Int(0);
    };
    if src == dst {
        return Outcome::Int(i64::from(contains(src_set, member)));
    }
    if !rem(store, src, member) {
        return Outcome::Int(0);
    }
    (env.touched)(src);
    drop_if_empty(store, env, src);
    let limits = env.limits;
    if !store.contains(dst) {
        store.insert_collection(dst, &new_set(member, 1, &limits));
    }
    add(store, dst, member, &limits);
    (env.touched)(dst);
    Outcome::Int(1)
}

/// Upper bound of the bytes a set write adds: the arguments' bytes with
/// per-member overhead, a conversion of the whole set (when it is still
/// small: `big` false) or the growth of its table (when it is big), or a
/// stored result as big as the sources (`sources`: their footprints).
pub fn growth(count: usize, args: &[u8], sources: usize, big: bool) -> usize {
    let items = pack::Iter::new(args).count().max(1);
    let convert = super::convert_growth(count.saturating_add(items), 64 + 48, big);
    args.len()
        .saturating_mul(2)
        .saturating_add(items * 64)
        .saturating_add(convert)
        .saturating_add(sources.saturating_mul(3))
        .saturating_add(256)
}
