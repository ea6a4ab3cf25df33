//! Sorted-set scores read and printed as Redis 7.0 does (`score.c`: the
//! C library's `strtod` and `%.17g`, whose exact digits Rust's own
//! conversions do not promise to match), and the RESP double reply.

use crate::resp::encode::{self as enc, Proto};
use std::ffi::c_char;

extern "C" {
    fn corekv_score_parse(s: *const c_char, len: usize, out: *mut f64) -> i32;
    fn corekv_score_parse_bound(s: *const c_char, len: usize, out: *mut f64) -> i32;
    fn corekv_score_format(d: f64, out: *mut c_char) -> usize;
}

pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const NAN: &str = "ERR resulting score is not a number (NaN)";
pub const BAD_RANGE: &str = "ERR min or max is not a float";
pub const BAD_LEX: &str = "ERR min or max not valid string range item";

/// A score argument (`ZADD`, `ZINCRBY`, `WEIGHTS`), as Redis's
/// `getDoubleFromObject` accepts it: never NaN.
pub fn parse(arg: &[u8]) -> Option<f64> {
    let mut out = 0.0;
    // SAFETY: `arg` is a live slice; the C side reads `len` bytes of it
    // and writes `out` only on success.
    let ok = unsafe { corekv_score_parse(arg.as_ptr().cast(), arg.len(), &mut out) };
    (ok == 1).then_some(out)
}

/// A score bound of `ZRANGEBYSCORE`/`ZCOUNT` (`x` or `(x`): the number and
/// whether it is exclusive, as Redis's `zslParseRange` reads it.
pub fn parse_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, ex) = match arg.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (arg, false),
    };
    let mut out = 0.0;
    // SAFETY: as in `parse`.
    let ok = unsafe { corekv_score_parse_bound(text.as_ptr().cast(), text.len(), &mut out) };
    (ok == 1).then_some((out, ex))
}

/// A score's text (`%.17g`): `0.10000000000000001`, `1e+20`, `inf`, `-0`.
pub fn text(d: f64, buf: &mut [u8; 32]) -> &[u8] {
    // SAFETY: `buf` has the 32 bytes the C side may write.
    let n = unsafe { corekv_score_format(d, buf.as_mut_ptr().cast()) };
    &buf[..n.min(32)]
}

/// A score reply: a bulk string in RESP2, a double (`,`) in RESP3.
pub fn reply(out: &mut Vec<u8>, d: f64, proto: Proto) {
    let mut buf = [0u8; 32];
    let t = text(d, &mut buf);
    match proto {
        Proto::V2 => enc::bulk(out, t),
        Proto::V3 => {
            out.push(b',');
            out.extend_from_slice(t);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A lexicographic bound (`-`, `+`, `[m`, `(m`), as Redis's
/// `zslParseLexRangeItem` reads it.
pub(crate) fn parse_lex(arg: &[u8]) -> Option<super::super::zindex::LexBound<'_>> {
    use super::super::zindex::LexBound;
    // Redis reads a C string: `+` and `-` may be followed by a NUL only.
    let alone = || arg.get(1).is_none_or(|&b| b == 0);
    match arg.first()? {
        b'+' if alone() => Some(LexBound::Max),
        b'-' if alone() => Some(LexBound::Min),
        b'(' => Some(LexBound::Exclusive(&arg[1..])),
        b'[' => Some(LexBound::Inclusive(&arg[1..])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(d: f64) -> String {
        String::from_utf8(text(d, &mut [0; 32]).to_vec()).unwrap()
    }

    #[test]
    fn prints_as_redis_7_0() {
        // Checked against redis-server 7.0.15.
        assert_eq!(shown(0.1), "0.10000000000000001");
        assert_eq!(shown(1e20), "1e+20");
        assert_eq!(shown(1e16), "10000000000000000");
        assert_eq!(shown(1e17), "1e+17");
        assert_eq!(shown(f64::INFINITY), "inf");
        assert_eq!(shown(f64::NEG_INFINITY), "-inf");
        assert_eq!(shown(-0.0), "-0");
        assert_eq!(shown(2.5), "2.5");
        assert_eq!(shown(5e-324), "4.9406564584124654e-324");
        assert_eq!(shown(1e-6), "9.9999999999999995e-07");
        assert_eq!(shown(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn parses_as_redis_7_0() {
        assert_eq!(parse(b"0x10"), Some(16.0));
        assert_eq!(parse(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse(b"5e-324"), Some(5e-324));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"-1e-400",
            b"1\x00",
            b"x",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_bound(b""), Some((0.0, false)));
        assert_eq!(parse_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_bound(b"3\x00x"), Some((3.0, false)));
        assert_eq!(parse_bound(b"nan"), None);
        assert_eq!(parse_bound(b"1x"), None);
    }
}
