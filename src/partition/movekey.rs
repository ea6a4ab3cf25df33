//! Operations on two or more keys of one partition that move or combine
//! values: `RENAME`, `RENAMENX`, `COPY`, `BITOP`. An operation still
//! travels as one key and one value: the value carries the other keys
//! (the destination of a move; `BITOP`'s source keys, length-prefixed),
//! and [`extra_keys`] gives them back, so the partition locks, waits for
//! and expires every key an operation touches. Across partitions the
//! connection runs them through a handoff transaction instead (see
//! `txn::handoff`).

use super::coll::set::SetCmd;
use super::ops::{Env, OpKind, Outcome};
use super::store::Store;
use super::{coll, entry, Partition};

pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// `BITOP`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    /// The operation named `name` (any case), as Redis accepts it.
    pub fn parse(name: &[u8]) -> Option<Self> {
        [
            (&b"and"[..], Self::And),
            (b"or", Self::Or),
            (b"xor", Self::Xor),
            (b"not", Self::Not),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, op)| op)
    }
}

/// Packs `BITOP`'s source keys into one operation value.
pub fn pack_keys<'k>(keys: impl IntoIterator<Item = &'k [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        let len = u32::try_from(k.len()).expect("a key is shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(k);
    }
    out
}

/// The keys (or other arguments) packed by [`pack_keys`].
pub fn unpack(packed: &[u8]) -> impl Iterator<Item = &[u8]> {
    unpack_keys(packed)
}

/// The keys packed by [`pack_keys`].
fn unpack_keys(mut packed: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = packed.split_first_chunk::<4>()?;
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        let (key, rest) = rest.split_at(len);
        packed = rest;
        Some(key)
    })
}

/// The keys an operation touches besides its own `key`: the destination
/// of `RENAME`/`COPY`, the sources of `BITOP`; none for the others.
pub fn extra_keys(kind: OpKind, value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (one, many, limit) = match kind {
        OpKind::Rename { .. } | OpKind::Copy { .. } => (Some(value), &b""[..], 0),
        OpKind::BitOp(_) => (None, value, usize::MAX),
        // SMOVE's value packs the destination, then the member.
        OpKind::SetType(SetCmd::Move) => (None, value, 1),
        OpKind::SetType(cmd) if cmd.is_multi() => (None, value, usize::MAX),
        OpKind::List(cmd) if cmd.is_multi() => (None, value, usize::MAX),
        // ZRANGESTORE's source; the sources of ZUNION and its kin, before
        // their weights.
        OpKind::ZSetType(cmd) if cmd.is_multi() => (None, value, cmd.extra_keys()),
        _ => (None, &b""[..], 0),
    };
    one.into_iter().chain(unpack_keys(many).take(limit))
}

/// Runs a move or combine operation (`kind` is one of them).
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    kind: OpKind,
    key: &[u8],
    value: &[u8],
) -> Outcome<'s> {
    match kind {
        OpKind::Rename { nx } => rename(store, env, key, value, nx),
        OpKind::Copy { replace } => copy(store, env, key, value, replace),
        OpKind::BitOp(op) => bitop(store, env, key, value, op),
        // A key held for a handoff transaction: nothing to do here.
        _ => Outcome::Ok,
    }
}

/// Redis's `renameGenericCommand`: the value and its TTL move to `dst`
/// (replacing it unless `nx`); a missing source is an error, also when
/// renaming a key to itself.
fn rename<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    src: &[u8],
    dst: &[u8],
    nx: bool,
) -> Outcome<'s> {
    if !store.contains(src) {
        return Outcome::Error(NO_SUCH_KEY);
    }
    let done = if nx { Outcome::Int(1) } else { Outcome::Ok };
    if src == dst {
        return if nx { Outcome::Int(0) } else { Outcome::Ok };
    }
    if nx && store.contains(dst) {
        return Outcome::Int(0);
    }
    if store.is_collection(src) {
        // The collection moves (a big form by its pointer), not copied.
        let deadline = env.expiry.deadline(src);
        let entry = store.take(src).expect("checked above");
        (env.touched)(src);
        env.expiry.clear(src);
        (env.touched)(dst);
        store.insert_entry(dst, coll::rekey(dst, entry));
        env.expiry.clear(dst);
        if let Some(at) = deadline {
            env.expiry.set(dst, at);
        }
        return done;
    }
    duplicate(store, env, src, dst);
    remove(store, env, src);
    done
}

/// Redis's `copyCommand` within one database: 1 if copied (with the TTL),
/// 0 if the source is missing or the destination exists without `replace`.
fn copy<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    src: &[u8],
    dst: &[u8],
    replace: bool,
) -> Outcome<'s> {
    if src == dst {
        return Outcome::Error(SAME_OBJECT);
    }
    if !store.contains(src) || (!replace && store.contains(dst)) {
        return Outcome::Int(0);
    }
    duplicate(store, env, src, dst);
    Outcome::Int(1)
}

/// Writes `src`'s value and TTL under `dst`, replacing it.
fn duplicate(store: &mut Store, env: &mut Env<'_>, src: &[u8], dst: &[u8]) {
    if let Some(e) = store.entry(src).filter(|e| e.is_collection()) {
        let dump = coll::dump(e.value());
        let deadline = env.expiry.deadline(src);
        (env.touched)(dst);
        store.insert_entry(dst, coll::restore(dst, &dump));
        env.expiry.clear(dst);
        if let Some(at) = deadline {
            env.expiry.set(dst, at);
        }
        return;
    }
    let Some(value) = store.get(src) else {
        return;
    };
    let value: Box<[u8]> = value.into();
    let deadline = env.expiry.deadline(src);
    write(store, env, dst, &value, deadline);
}

/// Stores `value` under `key` with exactly `deadline` as its TTL.
fn write(store: &mut Store, env: &mut Env<'_>, key: &[u8], value: &[u8], deadline: Option<u64>) {
    (env.touched)(key);
    store.put(key, value);
    env.expiry.clear(key);
    if let Some(at) = deadline {
        env.expiry.set(key, at);
    }
}

/// Removes `key` and its TTL (watchers told if it existed).
fn remove(store: &mut Store, env: &mut Env<'_>, key: &[u8]) {
    if store.del(key) {
        (env.touched)(key);
        env.expiry.clear(key);
    }
}

/// Redis 7.0's `BITOP`: missing keys are empty, shorter values are
/// zero-padded to the longest; an empty result deletes `dst`. Answers the
/// result's length.
fn bitop<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    dst: &[u8],
    sources: &[u8],
    op: BitOp,
) -> Outcome<'s> {
    if unpack_keys(sources).any(|k| store.is_collection(k)) {
        return Outcome::Error(coll::WRONGTYPE);
    }
    let values: Vec<&[u8]> = unpack_keys(sources)
        .map(|k| store.get(k).unwrap_or(b""))
        .collect();
    let result = combine(op, &values);
    if result.is_empty() {
        remove(store, env, dst);
        return Outcome::Int(0);
    }
    write(store, env, dst, &result, None);
    Outcome::Int(result.len() as i64)
}

/// The bitwise combination of `values`, zero-padded to the longest.
pub fn combine(op: BitOp, values: &[&[u8]]) -> Vec<u8> {
    let len = values.iter().map(|v| v.len()).max().unwrap_or(0);
    let byte = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
    let Some((first, rest)) = values.split_first() else {
        return Vec::new();
    };
    (0..len)
        .map(|i| {
            let start = byte(first, i);
            match op {
                BitOp::Not => !start,
                BitOp::And => rest.iter().fold(start, |acc, v| acc & byte(v, i)),
                BitOp::Or => rest.iter().fold(start, |acc, v| acc | byte(v, i)),
                BitOp::Xor => rest.iter().fold(start, |acc, v| acc ^ byte(v, i)),
            }
        })
        .collect()
}

impl Partition {
    /// Upper bound of the entry (and TTL bookkeeping) a move or combine
    /// operation may leave under its destination; `None` for other kinds.
    pub(super) fn move_entry_growth(
        &self,
        kind: OpKind,
        key: &[u8],
        value: &[u8],
    ) -> Option<usize> {
        let (dst, len) = match kind {
            OpKind::Rename { .. } | OpKind::Copy { .. } => {
                let len = self.store.value_len(key).or_else(|| {
                    // A collection's copy: at most its bytes again.
                    self.store.entry(key).map(|e| e.footprint())
                })?;
                (value, len)
            }
            OpKind::BitOp(_) => {
                let longest = extra_keys(kind, value)
                    .filter_map(|k| self.store.value_len(k))
                    .max()?;
                (key, longest)
            }
            _ => return None,
        };
        Some(entry::max_footprint(dst.len(), len) + self.expiry.set_growth(1, dst.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::expiry::Expiry;

    fn run(
        store: &mut Store,
        expiry: &mut Expiry,
        kind: OpKind,
        key: &str,
        value: &[u8],
    ) -> (String, Vec<Vec<u8>>) {
        let mut touched = Vec::new();
        let mut on_touch = |k: &[u8]| touched.push(k.to_vec());
        let (mut reply, mut rng) = (Vec::new(), 1);
        let mut env = Env {
            expiry,
            now: 1_000,
            touched: &mut on_touch,
            reply: &mut reply,
            proto: crate::resp::encode::Proto::V2,
            limits: super::super::coll::Limits::default(),
            rng: &mut rng,
        };
        let out = format!(
            "{:?}",
            execute(store, &mut env, kind, key.as_bytes(), value)
        );
        touched.sort();
        (out, touched)
    }

    #[test]
    fn rename_moves_value_and_ttl_and_touches_both() {
        let (s, e) = (&mut Store::default(), &mut Expiry::default());
        let rename = OpKind::Rename { nx: false };
        assert_eq!(
            run(s, e, rename, "a", b"b").0,
            format!("Error({NO_SUCH_KEY:?})")
        );
        s.put(b"a", b"1");
        e.set(b"a", 9_000);
        s.put(b"b", b"old");
        let (out, touched) = run(s, e, rename, "a", b"b");
        assert_eq!(out, "Ok");
        assert_eq!(touched, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!((s.get(b"a"), s.get(b"b")), (None, Some(&b"1"[..])));
        assert_eq!((e.deadline(b"a"), e.deadline(b"b")), (None, Some(9_000)));
        // To itself: nothing changes, nothing is touched.
        assert_eq!(run(s, e, rename, "b", b"b"), ("Ok".into(), vec![]));
        let nx = OpKind::Rename { nx: true };
        assert_eq!(run(s, e, nx, "b", b"b"), ("Int(0)".into(), vec![]));
        s.put(b"c", b"2");
        assert_eq!(run(s, e, nx, "b", b"c"), ("Int(0)".into(), vec![]));
        assert_eq!(run(s, e, nx, "b", b"d").0, "Int(1)");
        assert_eq!(s.get(b"d"), Some(&b"1"[..]));
        assert_eq!(e.deadline(b"d"), Some(9_000));
        // A TTL on the destination goes when the source had none.
        e.set(b"c", 5_000);
        assert_eq!(run(s, e, rename, "d", b"c").0, "Ok");
        assert_eq!(e.deadline(b"c"), Some(9_000));
        s.put(b"x", b"v");
        assert_eq!(run(s, e, rename, "x", b"c").0, "Ok");
        assert_eq!(e.deadline(b"c"), None);
    }

    #[test]
    fn copy_keeps_the_source_and_copies_the_ttl() {
        let (s, e) = (&mut Store::default(), &mut Expiry::default());
        let copy = OpKind::Copy { replace: false };
        assert_eq!(
            run(s, e, copy, "a", b"a").0,
            format!("Error({SAME_OBJECT:?})")
        );
        assert_eq!(run(s, e, copy, "a", b"b"), ("Int(0)".into(), vec![]));
        s.put(b"a", b"1");
        e.set(b"a", 7_000);
        assert_eq!(
            run(s, e, copy, "a", b"b"),
            ("Int(1)".into(), vec![b"b".to_vec()])
        );
        assert_eq!(
            (s.get(b"a"), s.get(b"b")),
            (Some(&b"1"[..]), Some(&b"1"[..]))
        );
        assert_eq!(e.deadline(b"b"), Some(7_000));
        s.put(b"a", b"2");
        assert_eq!(run(s, e, copy, "a", b"b"), ("Int(0)".into(), vec![]));
        assert_eq!(s.get(b"b"), Some(&b"1"[..]));
        let replace = OpKind::Copy { replace: true };
        assert_eq!(run(s, e, replace, "a", b"b").0, "Int(1)");
        assert_eq!(s.get(b"b"), Some(&b"2"[..]));
    }

    #[test]
    fn bitop_pads_to_the_longest_and_deletes_on_empty() {
        assert_eq!(combine(BitOp::And, &[b"\xff\x0f", b"\x0f"]), b"\x0f\x00");
        assert_eq!(
            combine(BitOp::Or, &[b"\x01", b"", b"\x02\x80"]),
            b"\x03\x80"
        );
        assert_eq!(combine(BitOp::Xor, &[b"\xff\xff", b"\x0f"]), b"\xf0\xff");
        assert_eq!(combine(BitOp::Not, &[b"\x0f\x00"]), b"\xf0\xff");
        let (s, e) = (&mut Store::default(), &mut Expiry::default());
        s.put(b"x", b"\x0f");
        s.put(b"y", b"\xf0\x01");
        s.put(b"d", b"old");
        e.set(b"d", 9_000);
        let packed = pack_keys([&b"x"[..], b"y", b"missing"]);
        assert_eq!(
            extra_keys(OpKind::BitOp(BitOp::Or), &packed).collect::<Vec<_>>(),
            [&b"x"[..], b"y", b"missing"]
        );
        let (out, touched) = run(s, e, OpKind::BitOp(BitOp::Or), "d", &packed);
        assert_eq!((out.as_str(), touched), ("Int(2)", vec![b"d".to_vec()]));
        assert_eq!(s.get(b"d"), Some(&b"\xff\x01"[..]));
        assert_eq!(e.deadline(b"d"), None, "the result has no TTL");
        let none = pack_keys([&b"missing"[..]]);
        assert_eq!(run(s, e, OpKind::BitOp(BitOp::And), "d", &none).0, "Int(0)");
        assert_eq!(s.get(b"d"), None, "an empty result deletes the destination");
        assert_eq!(
            run(s, e, OpKind::BitOp(BitOp::And), "d", &none),
            ("Int(0)".into(), vec![])
        );
        assert_eq!(BitOp::parse(b"xOr"), Some(BitOp::Xor));
        assert_eq!(BitOp::parse(b"nand"), None);
    }

    use crate::partition::{Filled, OpBatch, OpRef, ReplyTo, Request, SetCond, TtlMode, Vote};
    use crate::reply::Dialect;
    use crate::txn::TxnPart;
    use tokio::sync::oneshot;

    fn lock_part(keys: &[&str]) -> Box<TxnPart> {
        let mut part = TxnPart::new(Dialect::Resp);
        part.snapshot = true;
        for k in keys {
            part.ops.push(OpKind::Lock, k.as_bytes(), b"");
        }
        Box::new(part)
    }

    fn one(kind: OpKind, key: &[u8], value: &[u8]) -> Box<OpBatch> {
        let mut b = OpBatch::new(Dialect::Resp);
        b.push(kind, key, value);
        Box::new(b)
    }

    #[test]
    fn a_rename_waits_for_a_lock_on_its_destination() {
        let mut p = Partition::default();
        p.store.put(b"a", b"1");
        let mut locker = TxnPart::new(Dialect::Resp);
        locker.ops.push(OpKind::Put, b"b", b"t1");
        let (vote, _vote_rx) = oneshot::channel();
        p.handle(Request::Prepare(1, Box::new(locker), vote));
        let rename = OpRef {
            kind: OpKind::Rename { nx: false },
            key: b"a",
            value: b"b",
        };
        assert!(p.op_blocks(&rename), "its destination is locked");
        let (tx, mut rx) = oneshot::channel();
        let batch = one(rename.kind, b"a", b"b");
        p.handle(Request::Batch(batch, ReplyTo::Local(tx)));
        assert!(rx.try_recv().is_err(), "waits");
        assert_eq!(p.store.get(b"a"), Some(&b"1"[..]));
        p.handle(Request::Commit(1, None));
        assert!(rx.try_recv().is_ok());
        assert_eq!(
            (p.store.get(b"a"), p.store.get(b"b")),
            (None, Some(&b"1"[..]))
        );
    }

    #[test]
    fn a_snapshot_part_locks_and_reads_and_its_fill_commits() {
        let mut p = Partition::default();
        let at = crate::partition::unix_ms() + 100_000;
        p.store.put(b"a", b"1");
        p.expiry.set(b"a", at);
        let (tx, mut rx) = oneshot::channel();
        p.handle(Request::Prepare(7, lock_part(&["a", "b"]), tx));
        match rx.try_recv() {
            Ok(Vote::Snapshot(states)) => {
                assert_eq!(states.len(), 2);
                assert_eq!(states[0].value.as_deref(), Some(&b"1"[..]));
                assert_eq!(states[0].deadline, Some(at));
                assert_eq!((&states[1].value, states[1].deadline), (&None, None));
            }
            other => panic!("{other:?}"),
        }
        assert!(p.blocks(OpKind::Get, b"a"), "read-locked out: exclusive");
        let mut writes = OpBatch::new(Dialect::Resp);
        writes.push(OpKind::Remove, b"a", b"");
        let set = OpKind::Set {
            cond: SetCond::Always,
            get: false,
            ttl: TtlMode::At(at),
        };
        writes.push(set, b"b", b"1");
        assert_eq!(p.fill(7, writes), Filled::Ready);
        assert_eq!(p.store.get(b"b"), None, "nothing before the commit");
        p.handle(Request::Commit(7, None));
        assert_eq!(
            (p.store.get(b"a"), p.store.get(b"b")),
            (None, Some(&b"1"[..]))
        );
        assert_eq!(p.expiry.deadline(b"b"), Some(at));
        assert!(p.is_idle());
        assert_eq!(p.fill(7, OpBatch::new(Dialect::Resp)), Filled::Gone);
    }

    #[test]
    fn a_fill_past_the_budget_is_refused_and_changes_nothing() {
        let mut p = Partition::with_budget(16 * 1024);
        let (tx, _rx) = oneshot::channel();
        p.handle(Request::Prepare(9, lock_part(&["b"]), tx));
        let mut writes = OpBatch::new(Dialect::Resp);
        writes.push(OpKind::Put, b"b", &[b'x'; 64 * 1024]);
        assert_eq!(p.fill(9, writes), Filled::OutOfMemory);
        p.handle(Request::Abort(9, None));
        assert_eq!(p.store.get(b"b"), None);
        assert!(p.is_idle());
    }
}

#[cfg(test)]
mod collection_handoff_tests {
    use super::super::snapshot::KeyState;
    use super::*;
    use crate::partition::coll::list::ListCmd;
    use crate::partition::OpRef;
    use crate::reply::Dialect;

    /// A list moved across partitions: the scratch run writes both keys.
    #[test]
    fn a_list_move_on_a_scratch_partition_writes_both_keys() {
        let mut src = Partition::default();
        let op = OpRef {
            kind: OpKind::List(ListCmd::Push {
                left: false,
                existing: false,
            }),
            key: b"p1",
            value: &coll::pack::pack([&b"1"[..], b"2"]),
        };
        src.execute(Dialect::Resp, op, &mut Vec::new());
        let e = src.store.entry(b"p1").unwrap();
        let states = vec![
            KeyState {
                key: b"p1"[..].into(),
                value: Some(coll::dump(e.value()).into()),
                collection: true,
                deadline: None,
            },
            KeyState {
                key: b"p2"[..].into(),
                value: None,
                collection: false,
                deadline: None,
            },
        ];
        let mut scratch = Partition::scratch(&states);
        let mut reply = Vec::new();
        let lmove = OpRef {
            kind: OpKind::List(ListCmd::Move {
                from_left: true,
                to_left: true,
            }),
            key: b"p1",
            value: &pack_keys([&b"p2"[..]]),
        };
        scratch.execute(Dialect::Resp, lmove, &mut reply);
        assert_eq!(reply, b"$1\r\n1\r\n");
        let topo = corekv_router::Topology::even(1).unwrap();
        let changes = scratch.changes(&states, &topo);
        let ops: Vec<_> = changes[0]
            .1
            .ops()
            .map(|o| (o.kind, o.key.to_vec()))
            .collect();
        assert_eq!(ops.len(), 2, "{ops:?}");
    }
}
