//! Hash commands on a partition's store, as Redis 7.0 runs them.
//!
//! The small form (`listpack` to `OBJECT ENCODING`) keeps fields and
//! values alternating in insertion order, edited in place as Redis edits
//! its listpack; past `hash-max-listpack-entries` fields, or a field or
//! value longer than `hash-max-listpack-value`, the hash becomes a
//! [`Dict`] (`hashtable`) for good.

use super::super::ops::{Env, Outcome};
use super::super::store::Store;
use super::{big_mut, big_payload, header, pack, view, Big, Dict, View, HASH, HEADER, PACK};
use crate::resp::encode as enc;

pub const NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const NOT_FLOAT: &str = "ERR hash value is not a float";

/// A hash command (the arguments after the key travel packed beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCmd {
    /// `HSET`/`HMSET` (`ok`: answer `+OK`): field value pairs.
    Set {
        ok: bool,
    },
    SetNx,
    Get,
    MGet,
    Del,
    Exists,
    Len,
    Strlen,
    Keys,
    Vals,
    GetAll,
    IncrBy(i64),
    /// The increment (already checked to be a float) is the argument.
    IncrByFloat,
    /// `HRANDFIELD key [count [WITHVALUES]]`.
    RandField {
        count: Option<i64>,
        values: bool,
    },
    /// `HSCAN key cursor [MATCH pattern] [COUNT n]`: the options travel
    /// packed (Redis checks them only once it found the hash).
    Scan {
        cursor: u64,
    },
}

impl HashCmd {
    pub fn is_read(self) -> bool {
        !matches!(
            self,
            Self::Set { .. } | Self::SetNx | Self::Del | Self::IncrBy(_) | Self::IncrByFloat
        )
    }

    /// True if the one argument after the key travels as it is, not
    /// packed.
    pub fn raw_arg(self) -> bool {
        matches!(
            self,
            Self::Get | Self::Exists | Self::Strlen | Self::IncrBy(_)
        )
    }

    /// Bounded work apart from copying the arguments in or out.
    pub fn is_quick(self) -> bool {
        matches!(
            self,
            Self::SetNx | Self::Get | Self::Exists | Self::Len | Self::Strlen | Self::IncrBy(_)
        )
    }
}

/// Finds `field` in a small body: (value start, value end) offsets and the
/// value.
fn find<'b>(body: &'b [u8], field: &[u8]) -> Option<(usize, usize, &'b [u8])> {
    let mut it = pack::Iter::new(body);
    loop {
        let f = it.next()?;
        let start = it.offset();
        let v = it.next()?;
        if f == field {
            return Some((start, it.offset(), v));
        }
    }
}

/// The value of `field` in a hash payload.
fn get<'p>(payload: &'p [u8], field: &[u8]) -> Option<&'p [u8]> {
    match view(payload) {
        View::Pack { body, .. } => find(body, field).map(|(_, _, v)| v),
        View::Big(Big::Hash(d)) => d.get(field),
        _ => None,
    }
}

/// Every (field, value) pair, in the hash's order.
fn pairs(payload: &[u8]) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
    match view(payload) {
        View::Pack { body, .. } => {
            let mut it = pack::Iter::new(body);
            Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
        }
        View::Big(Big::Hash(d)) => Box::new(d.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

/// The hash's payload, `None` if there is no key, or WRONGTYPE.
fn read<'s>(store: &'s Store, key: &[u8]) -> Result<Option<&'s [u8]>, Outcome<'static>> {
    store.collection(key, HASH)
}

/// Runs `cmd` on `key`.
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: HashCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    let items = pack::Items::of(args, cmd.raw_arg());
    if !cmd.is_read() {
        return write(store, env, cmd, key, &items);
    }
    let payload = match read(store, key) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (out, proto) = (&mut *env.reply, env.proto);
    match cmd {
        HashCmd::Get => Outcome::Value(payload.and_then(|p| get(p, args))),
        HashCmd::MGet => {
            enc::array(out, items.len());
            for &f in items.iter() {
                match payload.and_then(|p| get(p, f)) {
                    Some(v) => enc::bulk(out, v),
                    None => enc::null(out, proto),
                }
            }
            Outcome::Raw
        }
        HashCmd::Exists => Outcome::Int(i64::from(payload.and_then(|p| get(p, args)).is_some())),
        HashCmd::Len => Outcome::Int(payload.map_or(0, super::len) as i64),
        HashCmd::Strlen => Outcome::Int(
            payload
                .and_then(|p| get(p, args))
                .map_or(0, |v| v.len() as i64),
        ),
        HashCmd::Keys | HashCmd::Vals | HashCmd::GetAll => {
            let Some(p) = payload else {
                if cmd == HashCmd::GetAll {
                    enc::map(out, 0, proto);
                } else {
                    enc::array(out, 0);
                }
                return Outcome::Raw;
            };
            let n = super::len(p);
            match cmd {
                HashCmd::Keys => enc::array(out, n),
                HashCmd::Vals => enc::array(out, n),
                _ => enc::map(out, n, proto),
            }
            for (f, v) in pairs(p) {
                if cmd != HashCmd::Vals {
                    enc::bulk(out, f);
                }
                if cmd != HashCmd::Keys {
                    enc::bulk(out, v);
                }
            }
            Outcome::Raw
        }
        HashCmd::RandField { count, values } => {
            rand_field(payload, count, values, env);
            Outcome::Raw
        }
        HashCmd::Scan { cursor } => {
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
        _ => unreachable!("writes are handled above"),
    }
}

/// `HSCAN`: a small hash whole in one step (cursor 0), as Redis does; a
/// big one by slab position, about `count` positions a step.
fn scan(payload: &[u8], cursor: u64, count: usize, pattern: Option<&[u8]>, out: &mut Vec<u8>) {
    let keep = |f: &[u8]| pattern.is_none_or(|p| crate::glob::matches(p, f));
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let mut next = 0u64;
    match view(payload) {
        View::Big(Big::Hash(d)) => {
            let mut pos = usize::try_from(cursor).unwrap_or(usize::MAX);
            let end = d.slots().min(pos.saturating_add(count.max(1)));
            while pos < end {
                if let Some((f, v)) = d.at(pos) {
                    if keep(f) {
                        found.push((f, v));
                    }
                }
                pos += 1;
            }
            if pos < d.slots() {
                next = pos as u64;
            }
        }
        _ => found.extend(pairs(payload).filter(|(f, _)| keep(f))),
    }
    enc::array(out, 2);
    enc::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    enc::array(out, found.len() * 2);
    for (f, v) in found {
        enc::bulk(out, f);
        enc::bulk(out, v);
    }
}

/// `HRANDFIELD`, with Redis's rules: no count, one field or nil; a
/// positive count, distinct fields (all of them if fewer); a negative
/// one, that many fields that may repeat.
fn rand_field(payload: Option<&[u8]>, count: Option<i64>, values: bool, env: &mut Env<'_>) {
    let (out, proto) = (&mut *env.reply, env.proto);
    let Some(p) = payload else {
        match count {
            None => enc::null(out, proto),
            Some(_) => enc::array(out, 0),
        }
        return;
    };
    let all: Vec<(&[u8], &[u8])> = pairs(p).collect();
    let mut rng = super::Rng(env.rng);
    let Some(count) = count else {
        let (f, _) = all[rng.below(all.len())];
        enc::bulk(out, f);
        return;
    };
    let chosen: Vec<usize> = if count >= 0 {
        rng.distinct(all.len(), count as usize)
    } else {
        let n = count.unsigned_abs() as usize;
        if n > super::MAX_REPEATS {
            *out =
                b"-ERR count is too large: corekv answers at most 16777216 repeated elements\r\n"
                    .to_vec();
            return;
        }
        (0..n).map(|_| rng.below(all.len())).collect()
    };
    let pair_arrays = values && proto == enc::Proto::V3;
    enc::array(
        out,
        chosen.len() * if values && !pair_arrays { 2 } else { 1 },
    );
    for i in chosen {
        let (f, v) = all[i];
        if pair_arrays {
            enc::array(out, 2);
        }
        enc::bulk(out, f);
        if values {
            enc::bulk(out, v);
        }
    }
}

/// True if a small hash must become big to hold values of these lengths.
fn too_long(env: &Env<'_>, items: &[&[u8]]) -> bool {
    items.iter().any(|i| i.len() > env.limits.hash_value)
}

/// The writes: `HSET`/`HMSET`/`HSETNX`/`HDEL`/`HINCRBY`/`HINCRBYFLOAT`.
fn write<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: HashCmd,
    key: &[u8],
    items: &[&[u8]],
) -> Outcome<'s> {
    let exists = match read(store, key) {
        Ok(p) => p.is_some(),
        Err(e) => return e,
    };
    if !exists {
        if cmd == HashCmd::Del {
            return Outcome::Int(0);
        }
        store.insert_collection(key, &header(HASH, PACK, 0));
    }
    // What the command writes: (field, new value) pairs, or removals.
    let outcome = match cmd {
        HashCmd::Set { ok } => {
            if too_long(env, items) {
                make_big(store, key);
            }
            let mut added = 0;
            for pair in items.chunks_exact(2) {
                added += i64::from(set(store, key, pair[0], pair[1]));
            }
            if ok {
                Outcome::Ok
            } else {
                Outcome::Int(added)
            }
        }
        HashCmd::SetNx => {
            let current = store.collection(key, HASH).ok().flatten();
            if current.and_then(|p| get(p, items[0])).is_some() {
                Outcome::Int(0)
            } else {
                if too_long(env, items) {
                    make_big(store, key);
                }
                set(store, key, items[0], items[1]);
                Outcome::Int(1)
            }
        }
        HashCmd::Del => {
            let mut removed = 0;
            for f in items {
                removed += i64::from(del(store, key, f));
            }
            Outcome::Int(removed)
        }
        HashCmd::IncrBy(by) => {
            let current = store.collection(key, HASH).ok().flatten();
            let n = match current.and_then(|p| get(p, items[0])) {
                None => 0,
                Some(v) => match super::super::ops::parse_i64(v) {
                    Some(n) => n,
                    None => return done(store, env, cmd, key, exists, Outcome::Error(NOT_INTEGER)),
                },
            };
            let Some(new) = n.checked_add(by) else {
                let overflow = Outcome::Error(super::super::ops::OVERFLOW);
                return done(store, env, cmd, key, exists, overflow);
            };
            if too_long(env, &items[..1]) {
                make_big(store, key);
            }
            set(
                store,
                key,
                items[0],
                itoa::Buffer::new().format(new).as_bytes(),
            );
            Outcome::Int(new)
        }
        HashCmd::IncrByFloat => {
            let current = store.collection(key, HASH).ok().flatten();
            let old = current.and_then(|p| get(p, items[0]));
            match super::super::float::incr_by_float(old, items[1]) {
                Ok(text) => {
                    // The result counts too (Redis's `hashTypeSet`): a
                    // long one makes the hash a hashtable.
                    if too_long(env, &[items[0], text.as_bytes()]) {
                        make_big(store, key);
                    }
                    set(store, key, items[0], text.as_bytes());
                    enc::bulk(env.reply, text.as_bytes());
                    Outcome::Raw
                }
                Err(super::super::float::NOT_FLOAT) => Outcome::Error(NOT_FLOAT),
                Err(e) => Outcome::Error(e),
            }
        }
        _ => unreachable!("reads are handled by execute"),
    };
    done(store, env, cmd, key, exists, outcome)
}

/// Ends a write: converts a small hash past its limits, deletes an empty
/// one (also one this command created and then did not fill), and tells
/// watchers if anything changed.
fn done<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    cmd: HashCmd,
    key: &[u8],
    existed: bool,
    outcome: Outcome<'s>,
) -> Outcome<'s> {
    let len = store
        .collection(key, HASH)
        .ok()
        .flatten()
        .map_or(0, super::len);
    let changed = !matches!(
        (&outcome, cmd),
        (Outcome::Error(_), _) | (Outcome::Int(0), HashCmd::SetNx | HashCmd::Del)
    );
    if len == 0 {
        store.del(key);
        if existed {
            (env.touched)(key);
            env.expiry.clear(key);
        }
        return outcome;
    }
    if len > env.limits.hash_entries {
        make_big(store, key);
    }
    if changed {
        (env.touched)(key);
    }
    outcome
}

/// Converts the hash at `key` to its big form (nothing if it is big).
fn make_big(store: &mut Store, key: &[u8]) {
    store.update(key, |e| {
        let View::Pack { count, body } = view(e.value()) else {
            return;
        };
        let mut d = Dict::with_capacity(count);
        let mut it = pack::Iter::new(body);
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            d.insert(f, v);
        }
        e.replace_payload(&big_payload(HASH, Box::new(Big::Hash(d))));
    });
}

/// Sets `field` of the hash at `key`; true if the field is new.
fn set(store: &mut Store, key: &[u8], field: &[u8], value: &[u8]) -> bool {
    store
        .update(key, |e| {
            if let Some(Big::Hash(d)) = big_mut(e.value_mut()) {
                return d.insert(field, value);
            }
            let p = e.value();
            let View::Pack { count, body } = view(p) else {
                return false;
            };
            let mut new = Vec::with_capacity(p.len() + value.len() + field.len() + 4);
            let added = match find(body, field) {
                Some((start, end, _)) => {
                    new.extend_from_slice(&header(HASH, PACK, count));
                    new.extend_from_slice(&body[..start]);
                    pack::push(&mut new, value);
                    new.extend_from_slice(&body[end..]);
                    false
                }
                None => {
                    new.extend_from_slice(&header(HASH, PACK, count + 1));
                    new.extend_from_slice(body);
                    pack::push(&mut new, field);
                    pack::push(&mut new, value);
                    true
                }
            };
            e.replace_payload(&new);
            added
        })
        .unwrap_or(false)
}

/// Removes `field`; true if it was there.
fn del(store: &mut Store, key: &[u8], field: &[u8]) -> bool {
    store
        .update(key, |e| {
            if let Some(Big::Hash(d)) = big_mut(e.value_mut()) {
                return d.remove(field).is_some();
            }
            let p = e.value();
            let View::Pack { count, body } = view(p) else {
                return false;
            };
            let mut it = pack::Iter::new(body);
            loop {
                let start = it.offset();
                let (Some(f), Some(_)) = (it.next(), it.next()) else {
                    return false;
                };
                if f == field {
                    let mut new = Vec::with_capacity(p.len());
                    new.extend_from_slice(&header(HASH, PACK, count - 1));
                    new.extend_from_slice(&body[..start]);
                    new.extend_from_slice(&body[it.offset()..]);
                    e.replace_payload(&new);
                    return true;
                }
            }
        })
        .unwrap_or(false)
}

/// Upper bound of the bytes a write of these arguments adds to a hash
/// holding `count` pairs now (its conversion to the big form included).
///
/// Only a hash of at most `hash-max-listpack-entries` pairs may still be
/// small and convert (copying every pair); a bigger one is big already and
/// at most grows its table. (A hash packed under a larger limit that
/// `CONFIG SET` lowered since is the exception: its conversion is not
/// counted here, as Redis does not count it either.)
pub fn growth(count: usize, args: &[u8], limits: &super::Limits) -> usize {
    let items = pack::Iter::new(args).count().max(1);
    let pairs = items / 2 + 1;
    // Each pair: its own allocation (or its bytes in the small form), a
    // table slot and a slab word, all at most doubling on growth.
    let per_pair = 64;
    let total = count.saturating_add(pairs);
    // A field or value past hash-max-listpack-value converts a small hash
    // whatever its length.
    let long = pack::Iter::new(args).any(|e| e.len() > limits.hash_value);
    // Big: its table's growth; small: a conversion, if one may happen.
    let big = count > limits.hash_entries;
    let convert = if big || long || total > limits.hash_entries.min(64) {
        super::convert_growth(total, per_pair + 48, big)
    } else {
        0
    };
    args.len()
        .saturating_mul(2)
        .saturating_add(pairs * per_pair)
        .saturating_add(convert)
        .saturating_add(HEADER + 256)
}

#[cfg(test)]
mod tests {
    use super::super::{pack, Dict, Limits};
    use super::growth;

    #[test]
    fn growth_of_a_big_hash_does_not_count_a_conversion() {
        let limits = Limits::default();
        let args = pack::pack([&b"field"[..], b"value"]);
        // A small hash about to convert: every pair is copied.
        assert!(growth(512, &args, &limits) >= 512 * 64);
        // A big one only adds its pair and may double its table (the
        // old one kept while its positions move).
        let big = growth(1_000_000, &args, &limits);
        assert!(big <= 1_000_000 * 36, "{big}");
        assert!(big >= 1_000_000 * 30, "{big}");
    }

    /// The fuzz target `collections_model` found a new hash, made big by
    /// one value past `hash-max-listpack-value`, growing past a small
    /// budget: the bound did not count the big form's first allocation.
    #[test]
    fn growth_of_a_hash_a_long_value_converts_counts_the_big_form() {
        let limits = Limits {
            hash_value: 8,
            ..Limits::default()
        };
        let long = [b'.'; 70];
        let args = pack::pack([&b"e0"[..], &long]);
        let mut d = Dict::default();
        d.insert(b"e0", &long);
        let big = super::super::Big::Hash(d).memory();
        let bound = growth(0, &args, &limits);
        assert!(bound >= big, "bound {bound} < big form {big}");
    }

    #[test]
    fn growth_bounds_what_a_big_hash_adds() {
        let limits = Limits::default();
        let mut d = Dict::default();
        let mut n = 0usize;
        for i in 0..limits.hash_entries + 1 {
            d.insert(format!("field:{i:08}").as_bytes(), b"value:0123456789");
            n += 1;
        }
        // Single pairs and batches of 100, across many table and slab
        // growths.
        while n < 150_000 {
            let batch = if n % 2 == 0 { 1 } else { 100 };
            let names: Vec<String> = (n..n + batch).map(|i| format!("field:{i:08}")).collect();
            let mut items: Vec<&[u8]> = Vec::new();
            for f in &names {
                items.push(f.as_bytes());
                items.push(b"value:0123456789");
            }
            let args = pack::pack(items.iter().copied());
            let bound = growth(n, &args, &limits);
            let before = d.memory();
            for f in &names {
                d.insert(f.as_bytes(), b"value:0123456789");
            }
            n += batch;
            let added = d.memory().saturating_sub(before);
            assert!(added <= bound, "{n} pairs: added {added} > bound {bound}");
        }
    }
}
