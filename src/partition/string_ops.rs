//! The string operations that read or write part of a value (ranges and
//! bits), `INCRBYFLOAT` and `TOUCH`, with Redis 7.0's index arithmetic.
//! Writes here keep the key's TTL, as Redis's do.

use super::float;
use super::ops::{Env, OpKind, Outcome, BIT_VALUE};
use super::store::Store;

/// Runs the operations of this module (see [`OpKind`]).
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    kind: OpKind,
    key: &[u8],
    value: &[u8],
) -> Outcome<'s> {
    match kind {
        OpKind::GetRange(start, end) => {
            let v = store.get(key).unwrap_or_default();
            Outcome::Bulk(byte_range(v, start, end).map_or(&[][..], |r| &v[r]))
        }
        OpKind::SetRange(offset) => set_range(store, env, key, offset, value),
        OpKind::IncrByFloat => match float::incr_by_float(store.get(key), value) {
            Ok(text) => {
                (env.touched)(key);
                store.put(key, text.as_bytes());
                Outcome::Bulk(store.get(key).unwrap_or_default())
            }
            Err(e) => Outcome::Error(e),
        },
        OpKind::SetBit { offset, on } => match on {
            Some(on) => Outcome::Int(i64::from(set_bit(store, env, key, offset, on))),
            None => Outcome::Error(BIT_VALUE),
        },
        OpKind::GetBit(offset) => {
            let v = store.get(key).unwrap_or_default();
            Outcome::Int(i64::from(bit_at(v, offset)))
        }
        OpKind::BitCount { start, end, bits } => Outcome::Int(match store.get(key) {
            None => 0,
            Some(v) => {
                bit_range(v.len(), start, end, bits).map_or(0, |(from, to)| count_ones(v, from, to))
            }
        }),
        OpKind::BitPos {
            bit,
            start,
            end,
            bits,
            end_given,
        } => Outcome::Int(match store.get(key) {
            None => -i64::from(bit),
            Some(v) => bit_pos(v, bit, bit_range(v.len(), start, end, bits), end_given),
        }),
        OpKind::BitRefused { missing, error } => match store.get(key) {
            None => Outcome::Int(missing),
            Some(_) => Outcome::Error(error),
        },
        OpKind::Touch => Outcome::Int(i64::from(store.touch(key))),
        _ => unreachable!("{kind:?} is not a string-part operation"),
    }
}

/// Redis's `GETRANGE` arithmetic (wrapping as its C does): the byte range
/// of a `len`-byte value, or `None` if it is empty.
fn byte_range(v: &[u8], start: i64, end: i64) -> Option<std::ops::Range<usize>> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let (start, end) = clamp(v.len() as i64, start, end)?;
    Some(start as usize..end as usize + 1)
}

/// Negative indexes from the end of `len`, clamped into it; `None` when
/// the range is empty. (`GETRANGE` and `BITCOUNT`, not `BITPOS`, first
/// answer an empty range for `start < 0 && end < 0 && start > end`.)
fn clamp(len: i64, mut start: i64, mut end: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start = len.wrapping_add(start);
    }
    if end < 0 {
        end = len.wrapping_add(end);
    }
    let (start, end) = (start.max(0), end.max(0).min(len - 1));
    (start <= end && len > 0).then_some((start, end))
}

/// `BITCOUNT`/`BITPOS` ranges: the first and last bit positions (both
/// included) of a `len`-byte value, or `None` if the range is empty.
fn bit_range(len: usize, start: i64, end: i64, bits: bool) -> Option<(u64, u64)> {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let (start, end) = clamp(total, start, end)?;
    let (start, end) = (start as u64, end as u64);
    Some(if bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

fn bit_at(v: &[u8], offset: u64) -> bool {
    usize::try_from(offset >> 3)
        .ok()
        .and_then(|byte| v.get(byte))
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Set bits from bit `from` to bit `to`, both included.
fn count_ones(v: &[u8], from: u64, to: u64) -> i64 {
    let (first, last) = ((from / 8) as usize, (to / 8) as usize);
    let inner: u32 = v[first..=last].iter().map(|b| b.count_ones()).sum();
    // The bits of the first byte before `from`, of the last after `to`.
    let head = u32::from(v[first]) & !(0xff >> (from % 8));
    let tail = u32::from(v[last]) & (0xff >> (to % 8 + 1));
    let (head, tail) = (head.count_ones(), tail.count_ones());
    i64::from(inner - head - tail)
}

/// Redis's `BITPOS` answer: the first `bit` in `range`; not found, -1, or
/// for a 0 searched without an end, the first bit past the value (Redis
/// sees the value as padded with zeros).
fn bit_pos(v: &[u8], bit: bool, range: Option<(u64, u64)>, end_given: bool) -> i64 {
    let Some((from, to)) = range else {
        return -1;
    };
    let skip = if bit { 0x00 } else { 0xff };
    let mut pos = from;
    while pos <= to {
        if pos % 8 == 0 && pos + 7 <= to && v[(pos / 8) as usize] == skip {
            pos += 8;
            continue;
        }
        if bit_at(v, pos) == bit {
            return pos as i64;
        }
        pos += 1;
    }
    if bit || end_given {
        -1
    } else {
        to as i64 + 1
    }
}

/// `SETRANGE` (the partition refused offsets past the size limit).
fn set_range<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    offset: u64,
    bytes: &[u8],
) -> Outcome<'s> {
    if bytes.is_empty() {
        return Outcome::Int(store.value_len(key).unwrap_or(0) as i64);
    }
    let offset = usize::try_from(offset).expect("offset under the size limit");
    (env.touched)(key);
    Outcome::Int(store.write_at(key, offset, bytes) as i64)
}

/// `SETBIT`: the old bit. As Redis 7.0, the key counts as modified (for
/// `WATCH`) only if it was created or grown or the bit changed.
fn set_bit(store: &mut Store, env: &mut Env<'_>, key: &[u8], offset: u64, on: bool) -> bool {
    let byte = usize::try_from(offset >> 3).expect("offset under the size limit");
    let mask = 0x80u8 >> (offset & 7);
    let len = store.value_len(key);
    if len.is_none_or(|len| len <= byte) {
        store.write_at(key, byte, &[0]);
        (env.touched)(key);
    }
    let Some(value) = store.value_mut(key) else {
        unreachable!("the key was just written")
    };
    let old = value[byte] & mask != 0;
    if old != on {
        value[byte] ^= mask;
        (env.touched)(key);
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_indexes_as_redis() {
        let v = b"This is a string";
        let r = |s, e| byte_range(v, s, e).map_or(&b""[..], |r| &v[r]);
        assert_eq!(r(0, 3), b"This");
        assert_eq!(r(-3, -1), b"ing");
        assert_eq!(r(0, -1), &v[..]);
        assert_eq!(r(10, 100), b"string");
        assert_eq!(r(-1, -5), b"");
        assert_eq!(r(5, 3), b"");
        assert_eq!(r(i64::MIN, i64::MAX), &v[..]);
        assert_eq!(r(-100, 0), b"T");
        assert_eq!(byte_range(b"", 0, -1), None);
    }

    #[test]
    fn bitcount_and_bitpos_ranges() {
        let v = b"foobar";
        let count =
            |s, e, bits| bit_range(v.len(), s, e, bits).map_or(0, |(f, t)| count_ones(v, f, t));
        assert_eq!(count(0, -1, false), 26);
        assert_eq!(count(1, 1, false), 6);
        assert_eq!(count(5, 30, true), 17);
        assert_eq!(count(-1, -2, false), 0);
        let pos = |v: &[u8], bit, s, e, bits, given| {
            bit_pos(v, bit, bit_range(v.len(), s, e, bits), given)
        };
        assert_eq!(pos(b"\xff\xf0\x00", false, 0, -1, false, false), 12);
        assert_eq!(pos(b"\x00\xff\xf0", true, 2, -1, false, true), 16);
        assert_eq!(pos(b"\x00\xff\xf0", true, 7, 15, true, true), 8);
        assert_eq!(pos(b"\xff\xff", false, 0, -1, false, false), 16);
        assert_eq!(pos(b"\xff\xff", false, 0, -1, false, true), -1);
        assert_eq!(pos(b"\x00", true, 0, -1, false, false), -1);
    }
}
