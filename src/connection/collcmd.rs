//! RESP commands on hashes (and, as they come, the other collection
//! types) → partition operations: the key, the command, and its other
//! arguments packed as the operation's value (`coll::pack`), or passed
//! as they are when there is one. Checks Redis makes before it looks the
//! key up are made here, in Redis's order; the rest are the partition's.

use super::keycmd::{KeyCmd, Parsed, NOT_INTEGER, SYNTAX};
use super::resp::Args;
use crate::partition::coll::{hash::HashCmd, list::ListCmd, pack, set::SetCmd};
use crate::partition::{parse_i64, OpKind};

/// Parses a collection command (arity already checked); `None` if `name`
/// is not one.
pub(super) fn coll_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    if !name.starts_with(['h', 's', 'l', 'r']) || args.len() < 2 {
        return None;
    }
    if name.starts_with('s') {
        return set_command(name, args);
    }
    if name.starts_with(['l', 'r']) {
        return list_command(name, args);
    }
    let key = args.get(1);
    // One argument after the key travels as it is; several, packed.
    let raw = |cmd| Ok(KeyCmd::One(OpKind::Hash(cmd), key, args.get(2)));
    let bare = |cmd| Ok(KeyCmd::One(OpKind::Hash(cmd), key, &b""[..]));
    let packed = |cmd, from: usize| {
        Ok(KeyCmd::Packed(
            OpKind::Hash(cmd),
            key,
            pack::pack_reusing(args.iter_from(from)),
        ))
    };
    Some(match name {
        "hget" => raw(HashCmd::Get),
        "hset" | "hmset" => {
            if args.len() % 2 == 1 {
                return Some(Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                )
                .into()));
            }
            packed(
                HashCmd::Set {
                    ok: name == "hmset",
                },
                2,
            )
        }
        "hsetnx" => packed(HashCmd::SetNx, 2),
        "hmget" => packed(HashCmd::MGet, 2),
        "hdel" => packed(HashCmd::Del, 2),
        "hexists" => raw(HashCmd::Exists),
        "hstrlen" => raw(HashCmd::Strlen),
        "hlen" => bare(HashCmd::Len),
        "hkeys" => bare(HashCmd::Keys),
        "hvals" => bare(HashCmd::Vals),
        "hgetall" => bare(HashCmd::GetAll),
        // The increment travels in the operation, the field as it is.
        "hincrby" => match parse_i64(args.get(3)) {
            Some(by) => raw(HashCmd::IncrBy(by)),
            None => Err(NOT_INTEGER.into()),
        },
        "hincrbyfloat" => match crate::partition::float_arg(args.get(3)) {
            Ok(()) => packed(HashCmd::IncrByFloat, 2),
            Err(e) => Err(e.into()),
        },
        "hrandfield" => rand_field(args),
        "hscan" => match scan_cursor(args.get(2)) {
            Some(cursor) => packed(HashCmd::Scan { cursor }, 3),
            None => Err("ERR invalid cursor".into()),
        },
        _ => return None,
    })
}

/// The single-key list commands (`movecmd` parses `LMOVE`, `RPOPLPUSH`
/// and `LMPOP`).
fn list_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    let key = args.get(1);
    let op = |cmd| OpKind::List(cmd);
    let one = |cmd, value: &'a [u8]| Ok(KeyCmd::One(op(cmd), key, value));
    let int = |i: usize| parse_i64(args.get(i)).ok_or(std::borrow::Cow::from(NOT_INTEGER));
    let push = |left, existing| {
        Ok(KeyCmd::Packed(
            op(ListCmd::Push { left, existing }),
            key,
            pack::pack_reusing(args.iter_from(2)),
        ))
    };
    Some(match name {
        "lpush" => push(true, false),
        "rpush" => push(false, false),
        "lpushx" => push(true, true),
        "rpushx" => push(false, true),
        "lpop" | "rpop" => {
            let left = name == "lpop";
            match args.len() {
                2 => one(ListCmd::Pop { left, count: None }, b""),
                3 => match parse_i64(args.get(2)).and_then(|n| u64::try_from(n).ok()) {
                    Some(n) => one(
                        ListCmd::Pop {
                            left,
                            count: Some(n),
                        },
                        b"",
                    ),
                    None => Err("ERR value is out of range, must be positive".into()),
                },
                _ => Err(format!("ERR wrong number of arguments for '{name}' command").into()),
            }
        }
        "llen" => one(ListCmd::Len, b""),
        "lindex" => one(ListCmd::Index, args.get(2)),
        "lset" => Ok(KeyCmd::Packed(
            op(ListCmd::Set),
            key,
            pack::pack([args.get(2), args.get(3)]),
        )),
        "lrange" => int(2)
            .and_then(|a| Ok((a, int(3)?)))
            .and_then(|(a, b)| one(ListCmd::Range(a, b), b"")),
        "ltrim" => int(2)
            .and_then(|a| Ok((a, int(3)?)))
            .and_then(|(a, b)| one(ListCmd::Trim(a, b), b"")),
        "lrem" => int(2).and_then(|n| one(ListCmd::Rem(n), args.get(3))),
        "linsert" => {
            let before = if args.get(2).eq_ignore_ascii_case(b"before") {
                true
            } else if args.get(2).eq_ignore_ascii_case(b"after") {
                false
            } else {
                return Some(Err(SYNTAX.into()));
            };
            Ok(KeyCmd::Packed(
                op(ListCmd::Insert { before }),
                key,
                pack::pack([args.get(3), args.get(4)]),
            ))
        }
        "lpos" => lpos(args),
        _ => return None,
    })
}

/// `LPOS key element [RANK r] [COUNT c] [MAXLEN m]`: the options are
/// checked before the key is looked up, in Redis 7.0's words.
fn lpos(args: Args<'_>) -> Parsed<'_> {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let more = j + 1 < args.len();
        let positive = |msg: &'static str| {
            parse_i64(args.get(j + 1))
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(msg)
        };
        if opt.eq_ignore_ascii_case(b"rank") && more {
            rank = match parse_i64(args.get(j + 1)) {
                None => return Err(NOT_INTEGER.into()),
                Some(i64::MIN) => return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into()),
                Some(0) => return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into()),
                Some(r) => r,
            };
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            count = Some(positive("ERR COUNT can't be negative")?);
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            maxlen = positive("ERR MAXLEN can't be negative")?;
        } else {
            return Err(SYNTAX.into());
        }
        j += 2;
    }
    Ok(KeyCmd::One(
        OpKind::List(ListCmd::Pos {
            rank,
            count,
            maxlen,
        }),
        args.get(1),
        args.get(2),
    ))
}

/// The single-key set commands (`movecmd` parses those on several keys).
fn set_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    let key = args.get(1);
    let op = |cmd| OpKind::SetType(cmd);
    let bare = |cmd| Ok(KeyCmd::One(op(cmd), key, &b""[..]));
    let packed = |cmd, from: usize| {
        Ok(KeyCmd::Packed(
            op(cmd),
            key,
            pack::pack_reusing(args.iter_from(from)),
        ))
    };
    Some(match name {
        "sadd" => packed(SetCmd::Add, 2),
        "srem" => packed(SetCmd::Rem, 2),
        "sismember" => Ok(KeyCmd::One(op(SetCmd::IsMember), key, args.get(2))),
        "smismember" => packed(SetCmd::MIsMember, 2),
        "scard" => bare(SetCmd::Card),
        "smembers" => bare(SetCmd::Members),
        "spop" => match args.len() {
            2 => bare(SetCmd::Pop(None)),
            3 => match parse_i64(args.get(2)).and_then(|n| u64::try_from(n).ok()) {
                Some(n) => bare(SetCmd::Pop(Some(n))),
                None => Err("ERR value is out of range, must be positive".into()),
            },
            _ => Err(SYNTAX.into()),
        },
        "srandmember" => match args.len() {
            2 => bare(SetCmd::RandMember(None)),
            3 => match parse_i64(args.get(2)) {
                Some(i64::MIN) => Err(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                        .into(),
                ),
                Some(n) => bare(SetCmd::RandMember(Some(n))),
                None => Err(NOT_INTEGER.into()),
            },
            _ => Err(SYNTAX.into()),
        },
        "sscan" => match scan_cursor(args.get(2)) {
            Some(cursor) => packed(SetCmd::Scan { cursor }, 3),
            None => Err("ERR invalid cursor".into()),
        },
        _ => return None,
    })
}

/// `HRANDFIELD key [count [WITHVALUES]]`: the count first, then the
/// syntax, as Redis 7.0 checks them.
fn rand_field(args: Args<'_>) -> Parsed<'_> {
    let key = args.get(1);
    if args.len() == 2 {
        let cmd = HashCmd::RandField {
            count: None,
            values: false,
        };
        return Ok(KeyCmd::One(OpKind::Hash(cmd), key, b""));
    }
    let count = parse_i64(args.get(2)).ok_or(NOT_INTEGER)?;
    if count == i64::MIN {
        return Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                .into(),
        );
    }
    let values = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(SYNTAX.into()),
    };
    if values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err("ERR value is out of range".into());
    }
    let cmd = HashCmd::RandField {
        count: Some(count),
        values,
    };
    Ok(KeyCmd::One(OpKind::Hash(cmd), key, b""))
}

/// A `SCAN`-family cursor as Redis's `parseScanCursorOrReply` reads it
/// (`strtoul`: a leading `-` wraps around).
pub(super) fn scan_cursor(arg: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(if neg { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::scan_cursor;

    #[test]
    fn cursors_as_strtoul_reads_them() {
        assert_eq!(scan_cursor(b"0"), Some(0));
        assert_eq!(scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551616"), None);
        assert_eq!(scan_cursor(b"-1"), Some(u64::MAX));
        for bad in [&b""[..], b"abc", b" 1", b"1 ", b"-", b"1.5"] {
            assert_eq!(scan_cursor(bad), None, "{bad:?}");
        }
    }
}
