//! RESP2, the Redis protocol: the request parser and the reply encoder.
//!
//! A request is an array of bulk strings: `*<n>\r\n` then `n` times
//! `$<len>\r\n<bytes>\r\n`. [`parse`] checks that a whole request is
//! buffered before it reports one, never allocates (arguments are ranges of
//! the read buffer), and refuses declared sizes over the limits *before*
//! waiting for (or allocating) the bytes. A request that does not start
//! with `*` is an inline command, one line: [`inline`] finds and splits it.

pub mod cluster;
pub mod commands;
pub mod encode;
pub mod info;
pub mod inline;

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
    /// An inline request whose quotes do not close (or close inside an
    /// argument).
    UnbalancedQuotes,
    /// An inline request longer than `--max-line-bytes`.
    TooBigInline,
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
            Self::UnbalancedQuotes => write!(f, "unbalanced quotes in request"),
            Self::TooBigInline => write!(f, "too big inline request"),
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

/// How far an unfinished request has been parsed, so the next read resumes
/// there instead of starting over: parsing a request that arrives in many
/// pieces costs O(its bytes), not O(pieces × bytes). Positions are relative
/// to the start of the request, which the caller keeps at the front of what
/// it passes in until the request completes.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Arguments the array header declared; 0 while it is not read yet.
    count: usize,
    /// Where the next bulk header starts.
    pos: usize,
    /// Bytes of headers and CRLFs the parser has looked at (never reset):
    /// what the linear-cost tests count.
    examined: usize,
}

impl Progress {
    /// True while a request is half parsed.
    pub fn is_started(&self) -> bool {
        self.count != 0
    }

    /// Bytes of framing the parser has examined so far.
    pub fn examined(&self) -> usize {
        self.examined
    }

    fn finish(&mut self, parsed: Parsed) -> Parsed {
        self.count = 0;
        self.pos = 0;
        parsed
    }
}

/// Parses one request from the front of `buf` into `args` (cleared first).
/// Stateless: every call starts over (see [`parse_resume`]).
pub fn parse(buf: &[u8], limits: Limits, args: &mut Vec<Range<usize>>) -> Parsed {
    parse_resume(buf, limits, args, &mut Progress::default())
}

/// Parses one request from the front of `buf`, resuming where `progress`
/// stopped: `args` must hold the arguments that call returned, and `buf`
/// the same request at its front with more bytes after. On `Complete` and
/// `Invalid` the progress is reset for the next request.
pub fn parse_resume(
    buf: &[u8],
    limits: Limits,
    args: &mut Vec<Range<usize>>,
    progress: &mut Progress,
) -> Parsed {
    // Locals in the loop; `progress` is written once, on the way out.
    let mut examined = progress.examined;
    let (count, mut pos) = if progress.is_started() {
        (progress.count, progress.pos)
    } else {
        args.clear();
        match array_header(buf, &mut examined) {
            Ok(header) => header,
            Err(parsed) => {
                progress.examined = examined;
                return parsed;
            }
        }
    };
    let mut result = Parsed::Complete { consumed: 0 };
    while args.len() < count {
        match bulk(buf, limits, pos, &mut examined) {
            Ok(range) => {
                pos = range.end + 2;
                args.push(range);
            }
            Err(stop) => {
                result = stop;
                break;
            }
        }
    }
    progress.examined = examined;
    match result {
        Parsed::Incomplete { .. } => {
            (progress.count, progress.pos) = (count, pos);
            result
        }
        Parsed::Invalid(_) => progress.finish(result),
        Parsed::Complete { .. } => progress.finish(Parsed::Complete { consumed: pos }),
    }
}

/// Reads `*<n>\r\n`: the argument count and where the first bulk starts;
/// an empty array comes back as `Err(Complete)`, as do errors and
/// incompleteness.
fn array_header(buf: &[u8], examined: &mut usize) -> Result<(usize, usize), Parsed> {
    let Some(&first) = buf.first() else {
        return Err(Parsed::Incomplete { need: None });
    };
    if first != b'*' {
        return Err(Parsed::Invalid(ProtocolError::ExpectedArray(first)));
    }
    let (count, pos) = match header(buf, 1, examined) {
        Header::Incomplete => return Err(Parsed::Incomplete { need: None }),
        Header::Invalid => return Err(Parsed::Invalid(ProtocolError::BadCount)),
        Header::Done(n, pos) => (n, pos),
    };
    if count <= 0 {
        return Err(Parsed::Complete { consumed: pos });
    }
    if count as usize > MAX_ARGS {
        return Err(Parsed::Invalid(ProtocolError::BadCount));
    }
    Ok((count as usize, pos))
}

/// Reads one `$<len>\r\n<bytes>\r\n` at `pos`; its bytes' range, or why not.
#[inline]
fn bulk(
    buf: &[u8],
    limits: Limits,
    pos: usize,
    examined: &mut usize,
) -> Result<Range<usize>, Parsed> {
    let Some(&tag) = buf.get(pos) else {
        return Err(Parsed::Incomplete { need: None });
    };
    if tag != b'$' {
        return Err(Parsed::Invalid(ProtocolError::ExpectedBulk(tag)));
    }
    let (len, start) = match header(buf, pos + 1, examined) {
        Header::Incomplete => return Err(Parsed::Incomplete { need: None }),
        Header::Invalid => return Err(Parsed::Invalid(ProtocolError::BadLength)),
        Header::Done(n, p) => (n, p),
    };
    if len < 0 || len as usize > limits.max_bulk {
        return Err(Parsed::Invalid(ProtocolError::BadLength));
    }
    let end = start + len as usize;
    if end + 2 > limits.max_request {
        return Err(Parsed::Invalid(ProtocolError::TooBig(limits.max_request)));
    }
    if buf.len() < end + 2 {
        return Err(Parsed::Incomplete {
            need: Some(end + 2),
        });
    }
    *examined += 2;
    if &buf[end..end + 2] != b"\r\n" {
        return Err(Parsed::Invalid(ProtocolError::MissingCrlf));
    }
    Ok(start..end)
}

enum Header {
    Incomplete,
    Invalid,
    /// The number and the position after its `\r\n`.
    Done(i64, usize),
}

/// Reads a decimal number terminated by `\r\n` starting at `at`.
fn header(buf: &[u8], at: usize, examined: &mut usize) -> Header {
    let rest = &buf[at.min(buf.len())..];
    let window = &rest[..rest.len().min(MAX_HEADER)];
    *examined += window.len();
    // What every client sends: up to 18 digits (no overflow) and `\r\n`.
    let mut n: i64 = 0;
    for (i, &b) in window.iter().enumerate() {
        match b {
            b'0'..=b'9' if i < 18 => n = n * 10 + i64::from(b - b'0'),
            b'\r' if i > 0 => {
                return match rest.get(i + 1) {
                    Some(b'\n') => Header::Done(n, at + i + 2),
                    Some(_) => Header::Invalid,
                    None => Header::Incomplete,
                };
            }
            _ => break,
        }
    }
    // Anything else (a sign, a long number, garbage) as `i64::from_str`.
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

    use corekv_router::resp::request as encode;

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

    /// Feeds `stream` to the resuming parser `chunk` bytes at a time, as a
    /// connection would (consumed bytes leave the front); returns every
    /// request's arguments and the parser's progress.
    fn parse_in_pieces(
        stream: &[u8],
        chunk: usize,
        limits: Limits,
    ) -> (Vec<Vec<Vec<u8>>>, Progress) {
        let mut progress = Progress::default();
        let mut args = Vec::new();
        let mut requests = Vec::new();
        let mut buf = Vec::new();
        for piece in stream.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match parse_resume(&buf, limits, &mut args, &mut progress) {
                    Parsed::Complete { consumed } => {
                        requests.push(args.iter().map(|r| buf[r.clone()].to_vec()).collect());
                        buf.drain(..consumed);
                    }
                    Parsed::Incomplete { .. } => break,
                    Parsed::Invalid(e) => panic!("{e}"),
                }
            }
        }
        assert!(buf.is_empty() && !progress.is_started(), "left over");
        (requests, progress)
    }

    #[test]
    fn a_request_in_pieces_costs_its_bytes_not_pieces_times_bytes() {
        // 20,000 arguments fed 3 bytes per read: the old parser restarted at
        // the request's start on every read (~0.7 M reads × ~half the
        // headers each). Resuming looks at each header a bounded number of
        // times.
        let limits = Limits {
            max_bulk: 1024,
            max_request: 1 << 30,
        };
        let keys: Vec<Vec<u8>> = (0..20_000)
            .map(|i| format!("key:{i}").into_bytes())
            .collect();
        let mut request: Vec<&[u8]> = vec![b"MSET"];
        request.extend(keys.iter().map(|k| &k[..]));
        let stream = encode(&request);
        let (requests, progress) = parse_in_pieces(&stream, 3, limits);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].len(), 20_001);
        assert_eq!(requests[0][20_000], b"key:19999");
        assert!(
            progress.examined() <= 8 * stream.len(),
            "examined {} bytes of framing for a {}-byte request",
            progress.examined(),
            stream.len()
        );
        // The counter does see a restart-per-read parser's cost: starting
        // over on each of the last 1000 reads alone costs far more.
        let mut restarts = Progress::default();
        let mut args = Vec::new();
        for cut in (stream.len() - 3000..stream.len()).step_by(3) {
            let mut fresh = Progress {
                examined: restarts.examined,
                ..Progress::default()
            };
            let _ = parse_resume(&stream[..cut], limits, &mut args, &mut fresh);
            restarts.examined = fresh.examined;
        }
        assert!(restarts.examined() > 100 * stream.len());
    }

    #[test]
    fn resumed_parse_keeps_the_limits_and_errors() {
        let mut progress = Progress::default();
        let mut args = Vec::new();
        let mut buf = b"*3\r\n$3\r\nSET\r\n".to_vec();
        let parsed = parse_resume(&buf, LIMITS, &mut args, &mut progress);
        assert_eq!(parsed, Parsed::Incomplete { need: None });
        assert!(progress.is_started());
        // A size over the limit is refused on its header, mid-request.
        buf.extend_from_slice(b"$99999\r\n");
        let parsed = parse_resume(&buf, LIMITS, &mut args, &mut progress);
        assert_eq!(parsed, Parsed::Invalid(ProtocolError::BadLength));
        assert!(!progress.is_started(), "an error resets the progress");
        // The next request starts afresh.
        let buf = encode(&[b"GET", b"k"]);
        assert_eq!(
            parse_resume(&buf, LIMITS, &mut args, &mut progress),
            Parsed::Complete {
                consumed: buf.len()
            }
        );
        assert_eq!(args.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn any_split_of_a_pipeline_parses_like_the_whole(
            requests in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..20), 0..6),
                1..8,
            ),
            chunk in 1usize..40,
        ) {
            let mut stream = Vec::new();
            for r in &requests {
                let args: Vec<&[u8]> = r.iter().map(|a| &a[..]).collect();
                stream.extend(encode(&args));
            }
            let (whole, _) = parse_in_pieces(&stream, stream.len(), LIMITS);
            let (split, _) = parse_in_pieces(&stream, chunk, LIMITS);
            // Empty arrays complete with no arguments.
            proptest::prop_assert_eq!(&whole, &requests);
            proptest::prop_assert_eq!(split, whole);
        }
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

    /// The digits-only fast path of `header` answers as `i64::from_str`
    /// over the bytes before `\r` does.
    #[test]
    fn header_numbers_parse_as_from_str() {
        fn reference(buf: &[u8]) -> Option<(i64, usize)> {
            let cr = memchr::memchr(b'\r', &buf[..buf.len().min(MAX_HEADER)])?;
            if buf.get(cr + 1) != Some(&b'\n') {
                return None;
            }
            let n = std::str::from_utf8(&buf[..cr]).ok()?.parse().ok()?;
            Some((n, cr + 2))
        }
        let cases: &[&[u8]] = &[
            b"0\r\n",
            b"7\r\n",
            b"42\r\n",
            b"00012\r\n",
            b"-1\r\n",
            b"+5\r\n",
            b"\r\n",
            b"1 \r\n",
            b" 1\r\n",
            b"1x\r\n",
            b"12\rx",
            b"999999999999999999\r\n",
            b"9999999999999999999\r\n",
            b"9223372036854775807\r\n",
            b"9223372036854775808\r\n",
            b"123456789012345678901234567890\r\n",
        ];
        for &case in cases {
            let mut examined = 0;
            let got = match header(case, 0, &mut examined) {
                Header::Done(n, at) => Some((n, at)),
                Header::Invalid => None,
                Header::Incomplete => panic!("{case:?} is complete"),
            };
            assert_eq!(got, reference(case), "{:?}", String::from_utf8_lossy(case));
            assert_eq!(examined, case.len().min(MAX_HEADER));
        }
        for incomplete in [&b"12"[..], b"12\r", b"", b"-"] {
            assert!(matches!(header(incomplete, 0, &mut 0), Header::Incomplete));
        }
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
