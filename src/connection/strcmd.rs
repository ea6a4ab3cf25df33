//! RESP string commands that read or write part of a value, `GETSET`,
//! `INCRBYFLOAT` and `TOUCH` → partition operations, with Redis 7.0's
//! argument checks in its order. Checks that need the key (`BITCOUNT` and
//! `BITPOS` look it up before their range) or the live
//! `proto-max-bulk-len` (bit offsets) are made by the partition.

use super::keycmd::{KeyCmd, Parsed, NOT_INTEGER, SYNTAX};
use super::plan::Combine;
use super::resp::Args;
use crate::partition::{parse_i64, OpKind, SetCond, TtlMode, BIT_OFFSET};

/// Parses one of these commands (arity already checked); `None` if `name`
/// is not one.
pub(super) fn string_command<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    let one = |kind| Ok(KeyCmd::One(kind, args.get(1), &b""[..]));
    Some(match name {
        "getset" => {
            let kind = OpKind::Set {
                cond: SetCond::Always,
                get: true,
                ttl: TtlMode::Clear,
            };
            Ok(KeyCmd::One(kind, args.get(1), args.get(2)))
        }
        "getrange" | "substr" => get_range(args),
        "setrange" => set_range(args),
        "incrbyfloat" => Ok(KeyCmd::One(OpKind::IncrByFloat, args.get(1), args.get(2))),
        "setbit" => set_bit(args),
        "getbit" => bit_offset(args.get(2)).and_then(|offset| one(OpKind::GetBit(offset))),
        "bitcount" => one(bit_count(args)),
        "bitpos" => bit_pos(args).and_then(one),
        "touch" => Ok(KeyCmd::Many {
            kind: OpKind::Touch,
            pairs: args.iter().skip(1).map(|k| (k, &b""[..])).collect(),
            combine: Combine::Sum,
            header: false,
            then_ok: false,
        }),
        _ => return None,
    })
}

fn integer(arg: &[u8]) -> Result<i64, &'static str> {
    parse_i64(arg).ok_or(NOT_INTEGER)
}

/// `GETRANGE key start end` (and its old name `SUBSTR`).
fn get_range(args: Args<'_>) -> Parsed<'_> {
    let (start, end) = (integer(args.get(2))?, integer(args.get(3))?);
    Ok(KeyCmd::One(OpKind::GetRange(start, end), args.get(1), b""))
}

/// `SETRANGE key offset value`.
fn set_range(args: Args<'_>) -> Parsed<'_> {
    let offset = integer(args.get(2))?;
    let offset = u64::try_from(offset).map_err(|_| "ERR offset is out of range")?;
    Ok(KeyCmd::One(
        OpKind::SetRange(offset),
        args.get(1),
        args.get(3),
    ))
}

/// A bit offset as Redis's `getBitOffsetFromArgument` reads it: a
/// non-negative integer. (Its bound, `proto-max-bulk-len` bytes, is
/// checked by the partition.)
fn bit_offset(arg: &[u8]) -> Result<u64, std::borrow::Cow<'static, str>> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(BIT_OFFSET.into())
}

/// `SETBIT key offset 0|1`. A bad bit is an error only once the offset
/// passed all its checks, the partition's included.
fn set_bit(args: Args<'_>) -> Parsed<'_> {
    let offset = bit_offset(args.get(2))?;
    let on = match parse_i64(args.get(3)) {
        Some(0) => Some(false),
        Some(1) => Some(true),
        _ => None,
    };
    Ok(KeyCmd::One(OpKind::SetBit { offset, on }, args.get(1), b""))
}

/// `BYTE` or `BIT` (any case): true for bits.
fn unit(arg: &[u8]) -> Result<bool, &'static str> {
    match &arg.to_ascii_lowercase()[..] {
        b"bit" => Ok(true),
        b"byte" => Ok(false),
        _ => Err(SYNTAX),
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`. Redis 7.0 answers 0 for a
/// missing key before it looks at the range, so a bad one becomes
/// [`OpKind::BitRefused`].
fn bit_count(args: Args<'_>) -> OpKind {
    let range = || -> Result<OpKind, &'static str> {
        if args.len() == 2 {
            return Ok(OpKind::BitCount {
                start: 0,
                end: -1,
                bits: false,
            });
        }
        if !(4..=5).contains(&args.len()) {
            return Err(SYNTAX);
        }
        let (start, end) = (integer(args.get(2))?, integer(args.get(3))?);
        if start < 0 && end < 0 && start > end {
            // Empty whatever the unit: Redis answers 0 before reading it.
            return Ok(OpKind::BitCount {
                start: 1,
                end: 0,
                bits: false,
            });
        }
        let bits = args.len() == 5 && unit(args.get(4))?;
        Ok(OpKind::BitCount { start, end, bits })
    };
    range().unwrap_or_else(|error| OpKind::BitRefused { missing: 0, error })
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the bit is checked before
/// the key is looked up, the range after (a missing key answers -1 when
/// looking for a 1, else 0).
fn bit_pos(args: Args<'_>) -> Result<OpKind, std::borrow::Cow<'static, str>> {
    let bit = match integer(args.get(2))? {
        0 => false,
        1 => true,
        _ => return Err("ERR The bit argument must be 1 or 0.".into()),
    };
    let range = || -> Result<OpKind, &'static str> {
        if args.len() > 6 {
            return Err(SYNTAX);
        }
        let start = if args.len() > 3 {
            integer(args.get(3))?
        } else {
            0
        };
        let bits = args.len() == 6 && unit(args.get(5))?;
        let end = if args.len() > 4 {
            integer(args.get(4))?
        } else {
            -1
        };
        Ok(OpKind::BitPos {
            bit,
            start,
            end,
            bits,
            end_given: args.len() > 4,
        })
    };
    Ok(range().unwrap_or_else(|error| OpKind::BitRefused {
        missing: -i64::from(bit),
        error,
    }))
}
