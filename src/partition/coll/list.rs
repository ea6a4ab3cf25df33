//! List commands on a partition's store, with Redis's replies and errors.
//!
//! A list that fits one node under `list-max-listpack-size` (8 KiB of
//! packed elements by default) is packed in the key's own allocation
//! (`listpack`, as Redis 7.2 keeps small lists); past it, a
//! [`QuickList`] (`quicklist`). A command on a small list runs on a
//! temporary `QuickList` of its elements (at most one node's worth) and
//! packs the result back, so both forms share one implementation of
//! Redis's list semantics.

use super::super::ops::{parse_i64, Env, Outcome, NOT_INTEGER};
use super::super::quicklist::{fits_one_node, QuickList};
use super::super::store::Store;
use super::{big_mut, big_payload, header, pack, view, Big, View, LIST, PACK};
use crate::resp::encode as enc;

pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR index out of range";

/// A list command (other arguments packed beside the key, or as they are
/// when there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCmd {
    /// `LPUSH`/`RPUSH` (`left`), `LPUSHX`/`RPUSHX` (`existing`).
    Push {
        left: bool,
        existing: bool,
    },
    /// `LPOP`/`RPOP key [count]`.
    Pop {
        left: bool,
        count: Option<u64>,
    },
    Len,
    /// `LINDEX key index`: the index travels as it is (Redis reads it
    /// only once it found the list).
    Index,
    /// `LSET key index value`: index and value packed (the index read
    /// once the list is found, as Redis does).
    Set,
    Range(i64, i64),
    Trim(i64, i64),
    /// `LREM key count value`: the value travels as it is.
    Rem(i64),
    /// `LINSERT key BEFORE|AFTER pivot value`: pivot and value packed.
    Insert {
        before: bool,
    },
    /// `LPOS key element [RANK r] [COUNT c] [MAXLEN m]`: the element as it
    /// is; `count` is `None` without `COUNT`.
    Pos {
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    },
    /// `LMOVE src dst from to` / `RPOPLPUSH`: the key is the source, the
    /// value packs the destination (`movekey::pack_keys`).
    Move {
        from_left: bool,
        to_left: bool,
    },
    /// `LMPOP numkeys key … LEFT|RIGHT [COUNT n]`: the key is the first,
    /// the value packs the others.
    MPop {
        left: bool,
        count: u64,
    },
    /// `BLPOP`/`BRPOP`'s attempt: one element from the first non-empty of
    /// the keys (the key, then the others packed), answered as `[key,
    /// element]` or a null array.
    BPop {
        left: bool,
    },
}

impl ListCmd {
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::Len | Self::Index | Self::Range(..) | Self::Pos { .. }
        )
    }

    pub fn is_quick(self) -> bool {
        matches!(
            self,
            Self::Len | Self::Pop { count: None, .. } | Self::Move { .. }
        )
    }

    /// Commands on several keys (the others packed in the value).
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            Self::Move { .. } | Self::MPop { .. } | Self::BPop { .. }
        )
    }

    /// The one argument after the key (or after its numbers) travels as
    /// it is.
    pub fn raw_arg(self) -> bool {
        matches!(self, Self::Index | Self::Rem(_) | Self::Pos { .. })
    }
}

/// The payload of a list holding `q`: packed if it fits one node, else
/// the big form (which takes `q`).
fn payload_of(q: QuickList, fill: i64) -> Vec<u8> {
    let bytes: usize = q.iter().map(|e| pack::encoded_len(e.len())).sum();
    if fits_one_node(fill, bytes, q.len()) {
        let mut p = header(LIST, PACK, q.len()).to_vec();
        p.reserve(bytes);
        for e in q.iter() {
            pack::push(&mut p, e);
        }
        p
    } else {
        big_payload(LIST, Box::new(Big::List(q))).to_vec()
    }
}

/// A temporary list of a small payload's elements.
fn unpacked(body: &[u8], fill: i64) -> QuickList {
    let mut q = QuickList::new(fill);
    for e in pack::Iter::new(body) {
        q.push_back(e);
    }
    q
}

/// Runs `f` on the list at `key` (which exists), in whichever form it is.
fn edit<R>(store: &mut Store, key: &[u8], fill: i64, f: impl FnOnce(&mut QuickList) -> R) -> R {
    store
        .update(key, |e| {
            if let Some(Big::List(q)) = big_mut(e.value_mut()) {
                return f(q);
            }
            let View::Pack { body, .. } = view(e.value()) else {
                unreachable!("a list payload is packed or big")
            };
            let mut q = unpacked(body, fill);
            let r = f(&mut q);
            let p = payload_of(q, fill);
            e.replace_payload(&p);
            r
        })
        .expect("the caller checked the key")
}

/// Runs `f` on the list of `payload`.
fn read<R>(payload: &[u8], fill: i64, f: impl FnOnce(&QuickList) -> R) -> R {
    match view(payload) {
        View::Big(Big::List(q)) => f(q),
        View::Pack { body, .. } => f(&unpacked(body, fill)),
        _ => f(&QuickList::new(fill)),
    }
}

/// Deletes the list at `key` if it is empty now.
fn drop_if_empty(store: &mut Store, env: &mut Env<'_>, key: &[u8]) {
    let empty = store
        .collection(key, LIST)
        .ok()
        .flatten()
        .is_some_and(|p| super::len(p) == 0);
    if empty {
        store.del(key);
        env.expiry.clear(key);
    }
}

/// Pushes `values` to the list at `key`, creating it; its new length.
pub fn push(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    left: bool,
    values: &[&[u8]],
) -> usize {
    let fill = env.limits.list_size;
    if !store.contains(key) {
        store.insert_collection(key, &header(LIST, PACK, 0));
    }
    let len = edit(store, key, fill, |q| {
        for v in values {
            if left {
                q.push_front(v);
            } else {
                q.push_back(v);
            }
        }
        q.len()
    });
    // Tells watchers, and wakes clients blocked on the key.
    (env.touched)(key);
    len
}

/// Pops up to `n` elements from one end of the list at `key` (which
/// exists), deleting it once empty.
pub fn pop_n(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    left: bool,
    n: usize,
) -> Vec<Vec<u8>> {
    let fill = env.limits.list_size;
    let out = edit(store, key, fill, |q| {
        let mut out = Vec::with_capacity(n.min(q.len()));
        while out.len() < n {
            let e = if left { q.pop_front() } else { q.pop_back() };
            match e {
                Some(e) => out.push(e),
                None => break,
            }
        }
        out
    });
    if !out.is_empty() {
        (env.touched)(key);
    }
    drop_if_empty(store, env, key);
    out
}

/// Runs `cmd` on `key`.
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: ListCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    if cmd.is_multi() {
        return multi(store, env, cmd, key, args);
    }
    if let Some(done) = fast(store, env, cmd, key, args) {
        return done;
    }
    let items: Vec<&[u8]> = if cmd.raw_arg() {
        vec![args]
    } else {
        pack::Iter::new(args).collect()
    };
    let payload = match store.collection(key, LIST) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let fill = env.limits.list_size;
    let (out, proto) = (&mut *env.reply, env.proto);
    match cmd {
        ListCmd::Push { left, existing } => {
            if existing && payload.is_none() {
                return Outcome::Int(0);
            }
            Outcome::Int(push(store, env, key, left, &items) as i64)
        }
        ListCmd::Pop { left, count } => {
            let Some(_) = payload else {
                match count {
                    None => enc::null(out, proto),
                    Some(_) => enc::null_array(out, proto),
                }
                return Outcome::Raw;
            };
            let n = match count {
                None => 1,
                Some(0) => {
                    enc::array(out, 0);
                    return Outcome::Raw;
                }
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            };
            let popped = pop_n(store, env, key, left, n);
            let out = &mut *env.reply;
            match count {
                None => enc::bulk_or_nil(out, popped.first().map(Vec::as_slice)),
                Some(_) => enc::bulk_array(out, popped.iter().map(Vec::as_slice)),
            }
            Outcome::Raw
        }
        ListCmd::Len => Outcome::Int(payload.map_or(0, super::len) as i64),
        ListCmd::Index => {
            let Some(p) = payload else {
                return Outcome::Value(None);
            };
            let Some(i) = parse_i64(args) else {
                return Outcome::Error(NOT_INTEGER);
            };
            read(p, fill, |q| match q.get(i) {
                Some(v) => enc::bulk(out, v),
                None => enc::null(out, proto),
            });
            Outcome::Raw
        }
        ListCmd::Range(start, stop) => {
            match payload {
                None => enc::array(out, 0),
                Some(p) => read(p, fill, |q| enc::bulk_array(out, q.range(start, stop))),
            }
            Outcome::Raw
        }
        ListCmd::Set => {
            if payload.is_none() {
                return Outcome::Error(NO_SUCH_KEY);
            }
            let Some(i) = parse_i64(items[0]) else {
                return Outcome::Error(NOT_INTEGER);
            };
            let value = items.get(1).copied().unwrap_or_default();
            if !edit(store, key, fill, |q| q.set(i, value)) {
                return Outcome::Error(OUT_OF_RANGE);
            }
            (env.touched)(key);
            Outcome::Ok
        }
        ListCmd::Trim(start, stop) => {
            if payload.is_none() {
                return Outcome::Ok;
            }
            edit(store, key, fill, |q| q.trim(start, stop));
            (env.touched)(key);
            drop_if_empty(store, env, key);
            Outcome::Ok
        }
        ListCmd::Rem(count) => {
            if payload.is_none() {
                return Outcome::Int(0);
            }
            let removed = edit(store, key, fill, |q| q.remove(count, args));
            if removed > 0 {
                (env.touched)(key);
                drop_if_empty(store, env, key);
            }
            Outcome::Int(removed as i64)
        }
        ListCmd::Insert { before } => {
            if payload.is_none() {
                return Outcome::Int(0);
            }
            let (pivot, value) = (items[0], items.get(1).copied().unwrap_or_default());
            match edit(store, key, fill, |q| q.insert(pivot, before, value)) {
                Some(len) => {
                    (env.touched)(key);
                    Outcome::Int(len as i64)
                }
                None => Outcome::Int(-1),
            }
        }
        ListCmd::Pos {
            rank,
            count,
            maxlen,
        } => {
            let Some(p) = payload else {
                match count {
                    Some(_) => enc::array(out, 0),
                    None => enc::null(out, proto),
                }
                return Outcome::Raw;
            };
            let want = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
            let maxlen = usize::try_from(maxlen).unwrap_or(usize::MAX);
            let found = read(p, fill, |q| q.position(args, rank, want, maxlen));
            match count {
                Some(_) => {
                    enc::array(out, found.len());
                    for i in found {
                        enc::int(out, i as i64);
                    }
                }
                None => match found.first() {
                    Some(&i) => enc::int(out, i as i64),
                    None => enc::null(out, proto),
                },
            }
            Outcome::Raw
        }
        ListCmd::Move { .. } | ListCmd::MPop { .. } | ListCmd::BPop { .. } => {
            unreachable!("handled by multi")
        }
    }
}

/// The queue commands on a big list, with one lookup and no temporary:
/// a push of one element and a pop without a count. `None` for anything
/// else (a small list, another type, no key: the general path).
fn fast<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    cmd: ListCmd,
    key: &[u8],
    args: &[u8],
) -> Option<Outcome<'s>> {
    let one = match cmd {
        ListCmd::Push { .. } => {
            let mut it = pack::Iter::new(args);
            match (it.next(), it.next()) {
                (Some(v), None) => Some(v),
                _ => return None,
            }
        }
        ListCmd::Pop { count: None, .. } => None,
        _ => return None,
    };
    let done = store.update(key, |e| {
        if !e.is_collection() || e.value()[0] != LIST {
            return None;
        }
        let Some(Big::List(q)) = big_mut(e.value_mut()) else {
            return None;
        };
        Some(match (cmd, one) {
            (ListCmd::Push { left, .. }, Some(v)) => {
                if left {
                    q.push_front(v);
                } else {
                    q.push_back(v);
                }
                (None, q.len())
            }
            (ListCmd::Pop { left, .. }, _) => {
                let v = if left { q.pop_front() } else { q.pop_back() };
                (Some(v), q.len())
            }
            _ => unreachable!("filtered above"),
        })
    })??;
    (env.touched)(key);
    Some(match done {
        (None, len) => Outcome::Int(len as i64),
        (Some(popped), len) => {
            enc::bulk_or_nil(env.reply, popped.as_deref());
            if len == 0 {
                store.del(key);
                env.expiry.clear(key);
            }
            Outcome::Raw
        }
    })
}

/// `LMOVE`/`RPOPLPUSH` and `LMPOP` (all keys on this partition).
fn multi<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: ListCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    let others: Vec<&[u8]> = super::super::movekey::unpack(args).collect();
    match cmd {
        ListCmd::Move { from_left, to_left } => {
            let dst = others.first().copied().unwrap_or_default();
            match lmove(store, env, key, dst, from_left, to_left) {
                Ok(Some(v)) => enc::bulk(env.reply, &v),
                Ok(None) => enc::null(env.reply, env.proto),
                Err(e) => return e,
            }
            Outcome::Raw
        }
        ListCmd::MPop { left, count } => {
            match mpop(store, env, std::iter::once(key).chain(others), left, count) {
                Ok(Some((k, popped))) => {
                    let out = &mut *env.reply;
                    enc::array(out, 2);
                    enc::bulk(out, &k);
                    enc::bulk_array(out, popped.iter().map(Vec::as_slice));
                }
                Ok(None) => enc::null_array(env.reply, env.proto),
                Err(e) => return e,
            }
            Outcome::Raw
        }
        ListCmd::BPop { left } => {
            match mpop(store, env, std::iter::once(key).chain(others), left, 1) {
                Ok(Some((k, popped))) => {
                    let out = &mut *env.reply;
                    enc::array(out, 2);
                    enc::bulk(out, &k);
                    enc::bulk(out, popped.first().map_or(&[][..], Vec::as_slice));
                }
                Ok(None) => enc::null_array(env.reply, env.proto),
                Err(e) => return e,
            }
            Outcome::Raw
        }
        _ => unreachable!("single-key commands are handled by execute"),
    }
}

/// `LMOVE src dst`: the element moved, `None` if `src` is empty; Redis's
/// order of checks (the source's type, then the destination's).
pub fn lmove(
    store: &mut Store,
    env: &mut Env<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Vec<u8>>, Outcome<'static>> {
    if store.collection(src, LIST)?.is_none() {
        return Ok(None);
    }
    store.collection(dst, LIST)?;
    if src == dst {
        // A rotation: the list never empties, so it keeps its key and TTL
        // (popping first would delete a one-element list).
        let v = edit(store, src, env.limits.list_size, |q| {
            let v = if from_left {
                q.pop_front()
            } else {
                q.pop_back()
            }?;
            if to_left {
                q.push_front(&v);
            } else {
                q.push_back(&v);
            }
            Some(v)
        });
        if v.is_some() {
            (env.touched)(src);
        }
        return Ok(v);
    }
    let Some(v) = pop_n(store, env, src, from_left, 1).pop() else {
        return Ok(None);
    };
    push(store, env, dst, to_left, &[&v]);
    Ok(Some(v))
}

/// The key `LMPOP` popped from, and the elements.
pub type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// `LMPOP`'s core: pops up to `count` from the first non-empty list of
/// `keys`; every key up to it is type-checked, as Redis does.
pub fn mpop<'k>(
    store: &mut Store,
    env: &mut Env<'_>,
    keys: impl IntoIterator<Item = &'k [u8]>,
    left: bool,
    count: u64,
) -> Result<Option<Popped>, Outcome<'static>> {
    for k in keys {
        if store.collection(k, LIST)?.is_none() {
            continue;
        }
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        let popped = pop_n(store, env, k, left, n);
        return Ok(Some((k.to_vec(), popped)));
    }
    Ok(None)
}

/// Upper bound of the bytes a list write adds: the arguments with a node's
/// worth of slack (a small list rewritten, or a new node).
pub fn growth(args: &[u8], sources: usize) -> usize {
    let items = pack::Iter::new(args).count().max(1);
    args.len()
        .saturating_mul(2)
        .saturating_add(items * 16)
        .saturating_add(sources.saturating_mul(2))
        .saturating_add(64 * 1024 + 256)
}
