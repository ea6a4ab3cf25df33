//! RESP2, the Redis protocol: the request parser and the reply encoder.
//!
//! A request is an array of bulk strings: `*<n>\r\n` then `n` times
//! `$<len>\r\n<bytes>\r\n`. [`parse`] checks that a whole request is
//! buffered before it reports one, never allocates (arguments are ranges of
//! the read buffer), and refuses declared sizes over the limits *before*
//! waiting for (or allocating) the bytes.

pub mod cluster;
pub mod commands;
pub mod encode;
pub mod info;

use std::fmt;
use std::ops::Range;

/// Most arguments in one request, as in Redis.
pub const MAX_ARGS: usize = 1024 * 1024;
/// Longest `*<n>` / `$<len>` header line we read before calling it garbage.
const MAX_HEADER: usize = 32;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest single argument (`--max-line-bytes`).
    pub max_bulk: usize,
    /// Largest whole request (`--max-request-bytes`).
    pub max_request: usize,
}

/// A protocol error: the stream cannot be trusted after it, so the
/// connection answers it and closes, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    ExpectedArray(u8),
    ExpectedBulk(u8),
    BadCount,
    BadLength,
    TooBig(usize),
    MissingCrlf,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR Protocol error: ")?;
        match self {
            Self::ExpectedArray(b) => write!(f, "expected '*', got '{}'", char::from(*b)),
            Self::ExpectedBulk(b) => write!(f, "expected '$', got '{}'", char::from(*b)),
            Self::BadCount => write!(f, "invalid multibulk length"),
            Self::BadLength => write!(f, "invalid bulk length"),
            Self::TooBig(max) => write!(f, "request larger than {max} bytes"),
            Self::MissingCrlf => write!(f, "expected CRLF after bulk string"),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; at least `need` in total if known.
    Incomplete {
        need: Option<usize>,
    },
    Invalid(ProtocolError),
    /// A request of `consumed` bytes; its arguments are in `args`. An empty
    /// array (`*0`) yields no arguments and is skipped by the caller.
    Complete {
        consumed: usize,
    },
}

/// Parses one request from the front of `buf` into `args` (cleared first).
pub fn parse(buf: &[u8], limits: Limits, args: &mut Vec<Range<usize>>) -> Parsed {
    args.clear();
    let Some(&first) = buf.first() else {
        return Parsed::Incomplete { need: None };
    };
    if first != b'*' {
        return Parsed::Invalid(ProtocolError::ExpectedArray(first));
    }
    let (count, mut pos) = match header(buf, 1) {
        Header::Incomplete => return Parsed::Incomplete { need: None },
        Header::Invalid => return Parsed::Invalid(ProtocolError::BadCount),
        Header::Done(n, pos) => (n, pos),
    };
    if count <= 0 {
        return Parsed::Complete { consumed: pos };
    }
    if count as usize > MAX_ARGS {
        return Parsed::Invalid(ProtocolError::BadCount);
    }
    for _ in 0..count {
        let Some(&tag) = buf.get(pos) else {
            return Parsed::Incomplete { need: None };
        };
        if tag != b'$' {
            return Parsed::Invalid(ProtocolError::ExpectedBulk(tag));
        }
        let (len, start) = match header(buf, pos + 1) {
            Header::Incomplete => return Parsed::Incomplete { need: None },
            Header::Invalid => return Parsed::Invalid(ProtocolError::BadLength),
            Header::Done(n, p) => (n, p),
        };
        if len < 0 || len as usize > limits.max_bulk {
            return Parsed::Invalid(ProtocolError::BadLength);
        }
        let end = start + len as usize;
        if end + 2 > limits.max_request {
            return Parsed::Invalid(ProtocolError::TooBig(limits.max_request));
        }
        if buf.len() < end + 2 {
            return Parsed::Incomplete {
                need: Some(end + 2),
            };
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Invalid(ProtocolError::MissingCrlf);
        }
        args.push(start..end);
        pos = end + 2;
    }
    Parsed::Complete { consumed: pos }
}

enum Header {
    Incomplete,
    Invalid,
    /// The number and the position after its `\r\n`.
    Done(i64, usize),
}

/// Reads a decimal number terminated by `\r\n` starting at `at`.
fn header(buf: &[u8], at: usize) -> Header {
    let rest = &buf[at.min(buf.len())..];
    let window = &rest[..rest.len().min(MAX_HEADER)];
    let Some(cr) = memchr::memchr(b'\r', window) else {
        return if rest.len() >= MAX_HEADER {
            Header::Invalid
        } else {
            Header::Incomplete
        };
    };
    if rest.len() < cr + 2 {
        return Header::Incomplete;
    }
    if rest[cr + 1] != b'\n' {
        return Header::Invalid;
    }
    let digits = std::str::from_utf8(&rest[..cr]).ok();
    match digits.and_then(|d| d.parse::<i64>().ok()) {
        Some(n) => Header::Done(n, at + cr + 2),
        None => Header::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bulk: 1024,
        max_request: 4096,
    };

    fn args_of(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
        let mut args = Vec::new();
        match parse(buf, LIMITS, &mut args) {
            Parsed::Complete { consumed } => (
                args.into_iter().map(|r| buf[r].to_vec()).collect(),
                consumed,
            ),
            other => panic!("{other:?}"),
        }
    }

    fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn complete_request() {
        let buf = encode(&[b"SET", b"k", b"v"]);
        let (args, used) = args_of(&buf);
        assert_eq!(args, [b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]);
        assert_eq!(used, buf.len());
    }

    #[test]
    fn bulk_strings_may_hold_crlf_and_binary() {
        let buf = encode(&[b"SET", b"k", b"a\r\nb\0\xff"]);
        assert_eq!(args_of(&buf).0[2], b"a\r\nb\0\xff");
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let buf = encode(&[b"GET", b"key"]);
        let mut args = Vec::new();
        for cut in 0..buf.len() {
            assert!(
                matches!(
                    parse(&buf[..cut], LIMITS, &mut args),
                    Parsed::Incomplete { .. }
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn incomplete_bulk_says_how_much_it_needs() {
        let buf = b"*2\r\n$3\r\nGET\r\n$10\r\nabc";
        let mut args = Vec::new();
        assert_eq!(
            parse(buf, LIMITS, &mut args),
            Parsed::Incomplete {
                need: Some(buf.len() - 3 + 12)
            }
        );
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let mut buf = encode(&[b"PING"]);
        let first = buf.len();
        buf.extend(encode(&[b"GET", b"a"]));
        let (args, used) = args_of(&buf);
        assert_eq!((args.len(), used), (1, first));
        assert_eq!(args_of(&buf[used..]).0[1], b"a");
    }

    #[test]
    fn empty_arrays_are_skipped() {
        let mut args = Vec::new();
        assert_eq!(
            parse(b"*0\r\n", LIMITS, &mut args),
            Parsed::Complete { consumed: 4 }
        );
        assert_eq!(
            parse(b"*-1\r\n", LIMITS, &mut args),
            Parsed::Complete { consumed: 5 }
        );
        assert!(args.is_empty());
    }

    #[test]
    fn bad_lengths_are_protocol_errors() {
        let mut args = Vec::new();
        let bad = |buf: &[u8], args: &mut Vec<_>| parse(buf, LIMITS, args);
        assert_eq!(
            bad(b"*x\r\n", &mut args),
            Parsed::Invalid(ProtocolError::BadCount)
        );
        assert_eq!(
            bad(b"*1\r\n$-5\r\n", &mut args),
            Parsed::Invalid(ProtocolError::BadLength)
        );
        assert_eq!(
            bad(b"*1\r\n$abc\r\n", &mut args),
            Parsed::Invalid(ProtocolError::BadLength)
        );
        assert_eq!(
            bad(b"*1\r\n+OK\r\n", &mut args),
            Parsed::Invalid(ProtocolError::ExpectedBulk(b'+'))
        );
        assert_eq!(
            bad(b"GET a\r\n", &mut args),
            Parsed::Invalid(ProtocolError::ExpectedArray(b'G'))
        );
        assert_eq!(
            bad(b"*1\r\n$1\r\nab\r\n", &mut args),
            Parsed::Invalid(ProtocolError::MissingCrlf)
        );
        assert_eq!(bad(b"*1\n", &mut args), Parsed::Incomplete { need: None });
        let long = [b'1'; 40];
        let mut garbage = b"*".to_vec();
        garbage.extend_from_slice(&long);
        assert_eq!(
            bad(&garbage, &mut args),
            Parsed::Invalid(ProtocolError::BadCount)
        );
    }

    #[test]
    fn huge_declared_sizes_fail_before_any_data_arrives() {
        let mut args = Vec::new();
        // Bulk over max_bulk: refused on the header alone.
        assert_eq!(
            parse(b"*2\r\n$3\r\nSET\r\n$999999999\r\n", LIMITS, &mut args),
            Parsed::Invalid(ProtocolError::BadLength)
        );
        // Too many arguments.
        assert_eq!(
            parse(b"*99999999\r\n", LIMITS, &mut args),
            Parsed::Invalid(ProtocolError::BadCount)
        );
        // Each bulk fine, the request as a whole too large.
        let mut buf = b"*5\r\n".to_vec();
        for _ in 0..4 {
            buf.extend_from_slice(b"$1000\r\n");
            buf.extend_from_slice(&[b'x'; 1000]);
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"$1000\r\n");
        assert_eq!(
            parse(&buf, LIMITS, &mut args),
            Parsed::Invalid(ProtocolError::TooBig(4096))
        );
    }
}
