//! `INCRBYFLOAT`'s number: parsed, added and printed exactly as Redis 7.0
//! does, with the C library's `long double` (see `long_double.c`).

use std::ffi::{c_char, c_int};

/// The longest text an `INCRBYFLOAT` result (or operand) may have: Redis's
/// `MAX_LONG_DOUBLE_CHARS`.
pub const MAX_LEN: usize = 5 * 1024;

pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";

extern "C" {
    fn corekv_timeout_ms(s: *const c_char, len: usize, ms: *mut i64) -> c_int;
    fn corekv_incr_by_float(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_len: *mut usize,
    ) -> c_int;
}

/// A result's text, on the stack.
pub struct FloatText {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl FloatText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `current` (absent: 0) plus `incr`, as the text Redis stores and
/// answers; or Redis's error.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<FloatText, &'static str> {
    let mut text = FloatText {
        buf: [0; MAX_LEN],
        len: 0,
    };
    let (cur, cur_len) = current.map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    // SAFETY: the pointers and lengths describe live slices (`cur` may be
    // null: no current value); `out` has MAX_LEN bytes, the most the C
    // side writes, and `len` is set only on success.
    let code = unsafe {
        corekv_incr_by_float(
            cur.cast(),
            cur_len,
            incr.as_ptr().cast(),
            incr.len(),
            text.buf.as_mut_ptr().cast(),
            &mut text.len,
        )
    };
    match code {
        0 => Ok(text),
        1 => Err(NOT_FLOAT),
        _ => Err(NAN_OR_INF),
    }
}

/// A blocking command's timeout argument (seconds) in ms, rounded up, as
/// Redis 7.0 converts it (`long double`, then `long long`: past that range
/// the conversion of the platform decides; see `long_double.c`); or
/// Redis's error.
pub fn timeout_ms(arg: &[u8]) -> Result<i64, &'static str> {
    let mut ms = 0;
    // SAFETY: `arg` is a live slice; the C side reads `len` bytes of it
    // and writes `ms` only on success.
    let code = unsafe { corekv_timeout_ms(arg.as_ptr().cast(), arg.len(), &mut ms) };
    match code {
        0 => Ok(ms),
        1 => Err("ERR timeout is not a float or out of range"),
        _ => Err("ERR timeout is negative"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(cur: Option<&str>, incr: &str) -> Result<String, &'static str> {
        incr_by_float(cur.map(str::as_bytes), incr.as_bytes())
            .map(|t| String::from_utf8(t.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn formats_as_redis() {
        // Values checked against redis-server 7.0.15 on x86-64.
        assert_eq!(add(None, "0.1").unwrap(), "0.1");
        assert_eq!(add(Some("10.5"), "0.1").unwrap(), "10.6");
        assert_eq!(add(Some("5.0e3"), "2.0e2").unwrap(), "5200");
        assert_eq!(add(Some("-1"), "1").unwrap(), "0");
        assert_eq!(add(None, "-0.0").unwrap(), "0");
        assert_eq!(add(None, "0x10").unwrap(), "16");
        assert!(add(None, "1e308")
            .unwrap()
            .starts_with("99999999999999999996685879655845"));
        assert_eq!(add(None, "1e308").unwrap().len(), 308);
    }

    #[test]
    fn refuses_what_redis_refuses() {
        for bad in ["", " 1", "1 ", "abc", "nan", "1e99999", "1\x001"] {
            assert_eq!(add(None, bad), Err(NOT_FLOAT), "{bad:?}");
            assert_eq!(add(Some(bad), "1"), Err(NOT_FLOAT), "{bad:?}");
        }
        assert_eq!(add(None, "inf"), Err(NAN_OR_INF));
        assert_eq!(add(Some("inf"), "-inf"), Err(NAN_OR_INF));
        assert_eq!(add(None, &"1".repeat(MAX_LEN)), Err(NOT_FLOAT));
    }
}
