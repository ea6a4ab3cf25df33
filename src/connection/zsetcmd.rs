//! RESP sorted-set commands → partition operations. Redis checks a sorted
//! set command's options, numbers and ranges before it looks the key up;
//! those checks are made here, in Redis 7.0's order and with its error
//! texts, and the partition gets the arguments it can trust: scores as 8
//! bytes, ranges as the client wrote them (`coll::zset` reads them again).
//! The commands on several keys (`ZRANGESTORE`, `ZUNION` and its kin) are
//! parsed here too and run by `movecmd`, in place or as a handoff.

use super::keycmd::{KeyCmd, Parsed, NOT_INTEGER, SYNTAX};
use super::resp::Args;
use crate::partition::coll::pack;
use crate::partition::coll::score::{self, BAD_LEX, BAD_RANGE, NOT_FLOAT};
use crate::partition::coll::zset::{Aggregate, By, SetOp, ZSetCmd, CH, GT, INCR, LT, NX, XX};
use crate::partition::{pack_keys, parse_i64, OpKind};
use std::borrow::Cow;

const POSITIVE: &str = "ERR value is out of range, must be positive";

/// Parses a single-key sorted-set command (arity already checked); `None`
/// if `name` is not one.
pub(super) fn zset_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    if !name.starts_with('z') || args.len() < 2 {
        return None;
    }
    let key = args.get(1);
    let op = OpKind::ZSetType;
    let raw = |cmd| Ok(KeyCmd::One(op(cmd), key, args.get(2)));
    let bare = |cmd| Ok(KeyCmd::One(op(cmd), key, &b""[..]));
    let packed = |cmd, from: usize| {
        Ok(KeyCmd::Packed(
            op(cmd),
            key,
            pack::pack_reusing(args.iter_from(from)),
        ))
    };
    Some(match name {
        "zadd" => zadd(args),
        "zincrby" => match score::parse(args.get(2)) {
            Some(by) => Ok(KeyCmd::Packed(
                op(ZSetCmd::Add { flags: INCR }),
                key,
                pack::pack([&by.to_le_bytes()[..], args.get(3)]),
            )),
            None => Err(NOT_FLOAT.into()),
        },
        "zrem" => packed(ZSetCmd::Rem, 2),
        "zscore" => raw(ZSetCmd::Score),
        "zmscore" => packed(ZSetCmd::MScore, 2),
        "zcard" => bare(ZSetCmd::Card),
        "zcount" | "zremrangebyscore" => match bounds(By::Score, args.get(2), args.get(3)) {
            Ok(()) if name == "zcount" => packed(ZSetCmd::Count(By::Score), 2),
            Ok(()) => packed(ZSetCmd::RemRange(By::Score), 2),
            Err(e) => Err(e.into()),
        },
        "zlexcount" | "zremrangebylex" => match bounds(By::Lex, args.get(2), args.get(3)) {
            Ok(()) if name == "zlexcount" => packed(ZSetCmd::Count(By::Lex), 2),
            Ok(()) => packed(ZSetCmd::RemRange(By::Lex), 2),
            Err(e) => Err(e.into()),
        },
        "zremrangebyrank" => match (parse_i64(args.get(2)), parse_i64(args.get(3))) {
            (Some(a), Some(b)) => Ok(KeyCmd::Packed(
                op(ZSetCmd::RemRange(By::Rank)),
                key,
                pack::pack([&a.to_le_bytes()[..], &b.to_le_bytes()]),
            )),
            _ => Err(NOT_INTEGER.into()),
        },
        "zrank" => raw(ZSetCmd::Rank { rev: false }),
        "zrevrank" => raw(ZSetCmd::Rank { rev: true }),
        "zrange" => range(args, None, None),
        "zrevrange" => range(args, Some(By::Rank), Some(true)),
        "zrangebyscore" => range(args, Some(By::Score), Some(false)),
        "zrevrangebyscore" => range(args, Some(By::Score), Some(true)),
        "zrangebylex" => range(args, Some(By::Lex), Some(false)),
        "zrevrangebylex" => range(args, Some(By::Lex), Some(true)),
        "zpopmin" | "zpopmax" => {
            let max = name == "zpopmax";
            match args.len() {
                2 => bare(ZSetCmd::Pop { max, count: None }),
                3 => match parse_i64(args.get(2)).and_then(|n| u64::try_from(n).ok()) {
                    Some(n) => bare(ZSetCmd::Pop {
                        max,
                        count: Some(n),
                    }),
                    None => Err(POSITIVE.into()),
                },
                _ => Err(SYNTAX.into()),
            }
        }
        "zrandmember" => rand_member(args),
        "zscan" => match super::collcmd::scan_cursor(args.get(2)) {
            Some(cursor) => packed(ZSetCmd::Scan { cursor }, 3),
            None => Err("ERR invalid cursor".into()),
        },
        _ => return None,
    })
}

/// Checks two score or lexicographic bounds as Redis does.
fn bounds(by: By, min: &[u8], max: &[u8]) -> Result<(), &'static str> {
    match by {
        By::Lex if score::parse_lex(min).is_none() || score::parse_lex(max).is_none() => {
            Err(BAD_LEX)
        }
        By::Score if score::parse_bound(min).is_none() || score::parse_bound(max).is_none() => {
            Err(BAD_RANGE)
        }
        _ => Ok(()),
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …`, with Redis
/// 7.0's checks in its order (every score before the key is looked up).
fn zadd(args: Args<'_>) -> Parsed<'_> {
    let mut flags = 0;
    let mut at = 2;
    while at < args.len() {
        let opt = args.get(at);
        let bit = [
            (&b"nx"[..], NX),
            (b"xx", XX),
            (b"ch", CH),
            (b"incr", INCR),
            (b"gt", GT),
            (b"lt", LT),
        ]
        .into_iter()
        .find(|(name, _)| opt.eq_ignore_ascii_case(name));
        match bit {
            Some((_, b)) => flags |= b,
            None => break,
        }
        at += 1;
    }
    let elements = args.len() - at;
    if elements == 0 || elements % 2 == 1 {
        return Err(SYNTAX.into());
    }
    let has = |b: u8| flags & b != 0;
    if has(NX) && has(XX) {
        return Err("ERR XX and NX options at the same time are not compatible".into());
    }
    if (has(GT) && has(NX)) || (has(LT) && has(NX)) || (has(GT) && has(LT)) {
        return Err("ERR GT, LT, and/or NX options at the same time are not compatible".into());
    }
    if has(INCR) && elements > 2 {
        return Err("ERR INCR option supports a single increment-element pair".into());
    }
    let mut value = Vec::new();
    for i in (at..args.len()).step_by(2) {
        let s = score::parse(args.get(i)).ok_or(NOT_FLOAT)?;
        pack::push(&mut value, &s.to_le_bytes());
        pack::push(&mut value, args.get(i + 1));
    }
    Ok(KeyCmd::Packed(
        OpKind::ZSetType(ZSetCmd::Add { flags }),
        args.get(1),
        value,
    ))
}

/// A range command's options, checked as Redis 7.0's
/// `zrangeGenericCommand`: `by` and `rev` are fixed by the older commands
/// (`ZRANGEBYSCORE` …), free for `ZRANGE`/`ZRANGESTORE`.
struct RangeArgs {
    by: By,
    rev: bool,
    scores: bool,
    /// min, max (rank bounds as 8 bytes), the LIMIT offset and count.
    items: [Vec<u8>; 4],
}

fn range_args(
    args: Args<'_>,
    start: usize,
    store: bool,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<RangeArgs, Cow<'static, str>> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut scores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = start + 3;
    while j < args.len() {
        let arg = args.get(j);
        let left = args.len() - j - 1;
        if !store && arg.eq_ignore_ascii_case(b"withscores") {
            scores = true;
        } else if arg.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = parse_i64(args.get(j + 1)).ok_or(NOT_INTEGER)?;
            limit = parse_i64(args.get(j + 2)).ok_or(NOT_INTEGER)?;
            j += 2;
        } else if rev_opt.is_none() && arg.eq_ignore_ascii_case(b"rev") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && arg.eq_ignore_ascii_case(b"bylex") {
            by_opt = Some(By::Lex);
        } else if by_opt.is_none() && arg.eq_ignore_ascii_case(b"byscore") {
            by_opt = Some(By::Score);
        } else {
            return Err(SYNTAX.into());
        }
        j += 1;
    }
    let (by, rev) = (by_opt.unwrap_or(By::Rank), rev_opt.unwrap_or(false));
    if limit != -1 && by == By::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .into(),
        );
    }
    if scores && by == By::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into());
    }
    let (mut min, mut max) = (args.get(start + 1), args.get(start + 2));
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let (min, max) = match by {
        By::Rank => match (parse_i64(min), parse_i64(max)) {
            (Some(a), Some(b)) => (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec()),
            _ => return Err(NOT_INTEGER.into()),
        },
        _ => {
            bounds(by, min, max)?;
            (min.to_vec(), max.to_vec())
        }
    };
    Ok(RangeArgs {
        by,
        rev,
        scores,
        items: [
            min,
            max,
            offset.to_le_bytes().to_vec(),
            limit.to_le_bytes().to_vec(),
        ],
    })
}

fn range<'a>(args: Args<'a>, by: Option<By>, rev: Option<bool>) -> Parsed<'a> {
    let r = range_args(args, 1, false, by, rev)?;
    let cmd = ZSetCmd::Range {
        by: r.by,
        rev: r.rev,
        scores: r.scores,
    };
    let value = pack::pack(r.items.iter().map(Vec::as_slice));
    Ok(KeyCmd::Packed(OpKind::ZSetType(cmd), args.get(1), value))
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: the count first, then the
/// syntax, as Redis 7.0 checks them.
fn rand_member(args: Args<'_>) -> Parsed<'_> {
    let key = args.get(1);
    let cmd = |count, scores| {
        Ok(KeyCmd::One(
            OpKind::ZSetType(ZSetCmd::RandMember { count, scores }),
            key,
            &b""[..],
        ))
    };
    if args.len() == 2 {
        return cmd(None, false);
    }
    let count = parse_i64(args.get(2)).ok_or(NOT_INTEGER)?;
    if count == i64::MIN {
        return Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                .into(),
        );
    }
    let scores = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"withscores") => true,
        _ => return Err(SYNTAX.into()),
    };
    if scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err("ERR value is out of range".into());
    }
    cmd(Some(count), scores)
}

// ------------------------------------------------ commands on several keys

/// A sorted-set command on several keys: its operation, the key it runs
/// on, its value (other keys packed by `pack_keys` first) and every key.
pub(super) struct ZMove<'a> {
    pub kind: OpKind,
    pub key: &'a [u8],
    pub value: Vec<u8>,
    pub keys: Vec<&'a [u8]>,
}

/// True if `name` is a sorted-set command on several keys.
pub(super) fn is_zset_move(name: &str) -> bool {
    matches!(
        name,
        "zrangestore"
            | "zunion"
            | "zinter"
            | "zdiff"
            | "zunionstore"
            | "zinterstore"
            | "zdiffstore"
            | "zintercard"
    )
}

/// Parses one of [`is_zset_move`]'s commands (arity already checked).
pub(super) fn zset_move<'a>(
    name: &str,
    args: Args<'a>,
) -> Option<Result<ZMove<'a>, Cow<'static, str>>> {
    Some(match name {
        "zrangestore" => range_store(args),
        "zunion" => combine(name, args, SetOp::Union, false),
        "zinter" => combine(name, args, SetOp::Inter, false),
        "zdiff" => combine(name, args, SetOp::Diff, false),
        "zunionstore" => combine(name, args, SetOp::Union, true),
        "zinterstore" => combine(name, args, SetOp::Inter, true),
        "zdiffstore" => combine(name, args, SetOp::Diff, true),
        "zintercard" => combine(name, args, SetOp::InterCard, false),
        _ => return None,
    })
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT o c]`.
fn range_store(args: Args<'_>) -> Result<ZMove<'_>, Cow<'static, str>> {
    let r = range_args(args, 2, true, None, None)?;
    let (dst, src) = (args.get(1), args.get(2));
    let mut items: Vec<&[u8]> = vec![src];
    items.extend(r.items.iter().map(Vec::as_slice));
    Ok(ZMove {
        kind: OpKind::ZSetType(ZSetCmd::RangeStore {
            by: r.by,
            rev: r.rev,
        }),
        key: dst,
        value: pack_keys(items),
        keys: vec![dst, src],
    })
}

/// `ZUNION`/`ZINTER`/`ZDIFF numkeys key … [WEIGHTS w …] [AGGREGATE a]
/// [WITHSCORES]`, their `*STORE dst numkeys …` and `ZINTERCARD numkeys
/// key … [LIMIT n]`: the key count is checked now; an error in the
/// options after the keys waits for their type checks (Redis reads the
/// keys first), in the operation.
fn combine<'a>(
    name: &str,
    args: Args<'a>,
    op: SetOp,
    store: bool,
) -> Result<ZMove<'a>, Cow<'static, str>> {
    let at = if store { 2 } else { 1 };
    let n = parse_i64(args.get(at)).ok_or(NOT_INTEGER)?;
    if n < 1 {
        return Err(format!("ERR at least 1 input key is needed for '{name}' command").into());
    }
    if n > (args.len() - at - 1) as i64 {
        return Err(SYNTAX.into());
    }
    let n = n as usize;
    let sources: Vec<&[u8]> = (at + 1..at + 1 + n).map(|i| args.get(i)).collect();
    let card = op == SetOp::InterCard;
    let (mut error, mut weights, mut aggregate, mut scores, mut limit) =
        (0u8, None, Aggregate::Sum, false, 0u64);
    let mut j = at + 1 + n;
    while j < args.len() && error == 0 {
        let (arg, remaining) = (args.get(j), args.len() - j);
        if op != SetOp::Diff && !card && remaining > n && arg.eq_ignore_ascii_case(b"weights") {
            let mut w = vec![1.0; n];
            for (i, slot) in w.iter_mut().enumerate() {
                match score::parse(args.get(j + 1 + i)) {
                    Some(x) => *slot = x,
                    None => {
                        error = 2;
                        break;
                    }
                }
            }
            weights = Some(w);
            j += 1 + n;
        } else if op != SetOp::Diff
            && !card
            && remaining >= 2
            && arg.eq_ignore_ascii_case(b"aggregate")
        {
            let how = args.get(j + 1);
            aggregate = if how.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if how.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if how.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                error = 1;
                aggregate
            };
            j += 2;
        } else if !store && !card && arg.eq_ignore_ascii_case(b"withscores") {
            scores = true;
            j += 1;
        } else if card && remaining >= 2 && arg.eq_ignore_ascii_case(b"limit") {
            match parse_i64(args.get(j + 1)).and_then(|l| u64::try_from(l).ok()) {
                Some(l) => limit = l,
                None => error = 3,
            }
            j += 2;
        } else {
            error = 1;
        }
    }
    let (key, packed_keys): (&[u8], &[&[u8]]) = if store {
        (args.get(1), &sources)
    } else {
        (sources[0], &sources[1..])
    };
    let mut value = pack_keys(packed_keys.iter().copied());
    if let Some(w) = &weights {
        let bytes: Vec<[u8; 8]> = w.iter().map(|x| x.to_le_bytes()).collect();
        value.extend(pack_keys(bytes.iter().map(|b| &b[..])));
    }
    if card {
        value.extend(pack_keys([&limit.to_le_bytes()[..]]));
    }
    let mut keys = Vec::with_capacity(n + 1);
    if store {
        keys.push(args.get(1));
    }
    keys.extend(&sources);
    Ok(ZMove {
        kind: OpKind::ZSetType(ZSetCmd::Combine {
            op,
            store,
            scores,
            aggregate,
            weights: weights.is_some(),
            error,
            keys: packed_keys.len() as u32,
        }),
        key,
        value,
        keys,
    })
}
