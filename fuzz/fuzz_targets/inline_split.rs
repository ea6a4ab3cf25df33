//! The inline request splitter (`corekv::resp::inline::split` and `parse`)
//! on arbitrary bytes.
//!
//! Checks: it never panics; it gives the same arguments (or the same
//! error) as a literal transliteration of Redis's `sdssplitargs`; the
//! arguments, quoted again with `inline::quote` and split, come back
//! unchanged; a line without quotes is split in place, into non-empty
//! arguments with no separator in them; nothing is invented (the
//! arguments together are no longer than the line). A stream of lines fed
//! in two reads (split where the input says) parses exactly as fed whole.
//! Also: any argument list, quoted, splits back to itself.
#![no_main]

use corekv::resp::inline::{parse, quote, split, Inline, Source};
use corekv::resp::ProtocolError;
use libfuzzer_sys::fuzz_target;
use std::ops::Range;

type Args = Vec<Vec<u8>>;

/// `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).map_or(0, |d| d as u8)
}

/// Redis 7's `sdssplitargs`, statement by statement, over a slice: `at(p)`
/// is `*p` (0 past the end, where C has its terminator); a NUL byte inside
/// the line is an ordinary byte, as in corekv (in Redis it never arrives:
/// the inline reader looks for `\n` with `strchr`).
fn sdssplitargs(line: &[u8]) -> Option<Args> {
    let at = |p: usize| line.get(p).copied();
    let mut p = 0;
    let mut vector = Vec::new();
    loop {
        while at(p).is_some_and(is_space) {
            p += 1;
        }
        if at(p).is_none() {
            return Some(vector);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut current = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                if c == Some(b'\\')
                    && at(p + 1) == Some(b'x')
                    && at(p + 2).is_some_and(|b| b.is_ascii_hexdigit())
                    && at(p + 3).is_some_and(|b| b.is_ascii_hexdigit())
                {
                    let byte = hex_value(line[p + 2]) * 16 + hex_value(line[p + 3]);
                    current.push(byte);
                    p += 3;
                } else if c == Some(b'\\') && at(p + 1).is_some() {
                    p += 1;
                    current.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == Some(b'"') {
                    if at(p + 1).is_some_and(|b| !is_space(b)) {
                        return None;
                    }
                    done = true;
                } else if c.is_none() {
                    return None;
                } else {
                    current.push(line[p]);
                }
            } else if insq {
                if c == Some(b'\\') && at(p + 1) == Some(b'\'') {
                    p += 1;
                    current.push(b'\'');
                } else if c == Some(b'\'') {
                    if at(p + 1).is_some_and(|b| !is_space(b)) {
                        return None;
                    }
                    done = true;
                } else if c.is_none() {
                    return None;
                } else {
                    current.push(line[p]);
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => done = true,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(b) => current.push(b),
                }
            }
            if at(p).is_some() {
                p += 1;
            }
        }
        vector.push(current);
    }
}

/// Splits `line` and returns the arguments as owned bytes, checking the
/// in-place case on the way.
fn split_owned(line: &[u8]) -> Result<Args, ProtocolError> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut unescaped = Vec::new();
    let source = split(line, &mut ranges, &mut unescaped)?;
    let from = match source {
        Source::Line => {
            assert!(!line.contains(&b'"') && !line.contains(&b'\''));
            assert!(unescaped.is_empty());
            for r in &ranges {
                let arg = &line[r.clone()];
                assert!(!arg.is_empty(), "an empty unquoted argument");
                assert!(
                    !arg.iter()
                        .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
                    "a separator inside {arg:?}"
                );
                assert!(!is_space(arg[0]), "a leading blank in {arg:?}");
            }
            line
        }
        Source::Unescaped => &unescaped[..],
    };
    let mut at = 0;
    for r in &ranges {
        assert!(r.start >= at && r.end <= from.len(), "{r:?}");
        at = r.end;
    }
    Ok(ranges.into_iter().map(|r| from[r].to_vec()).collect())
}

fn requote(args: &Args) -> Vec<u8> {
    let mut line = Vec::new();
    for a in args {
        if !line.is_empty() {
            line.push(b' ');
        }
        quote(a, &mut line);
    }
    line
}

/// How a stream of inline requests ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Waiting,
    Invalid(ProtocolError),
}

/// The requests of `data` fed in reads of `reads` bytes, then the rest.
fn parse_stream(data: &[u8], reads: &[usize], max_line: usize) -> (Vec<Args>, End) {
    let mut buf: Vec<u8> = Vec::new();
    let (mut scanned, mut ranges, mut unescaped) = (0, Vec::new(), Vec::new());
    let mut requests = Vec::new();
    let mut fed = 0;
    for &n in reads.iter().chain(std::iter::once(&usize::MAX)) {
        let take = n.min(data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + take]);
        fed += take;
        loop {
            match parse(&buf, max_line, &mut scanned, &mut ranges, &mut unescaped) {
                Inline::Complete { consumed, source } => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    assert_eq!(buf[consumed - 1], b'\n');
                    let from = match source {
                        Source::Line => &buf[..consumed],
                        Source::Unescaped => &unescaped[..],
                    };
                    let args: Args = ranges.iter().map(|r| from[r.clone()].to_vec()).collect();
                    if !args.is_empty() {
                        requests.push(args);
                    }
                    buf.drain(..consumed);
                }
                Inline::Incomplete => break,
                Inline::Invalid(e) => return (requests, End::Invalid(e)),
            }
        }
        if fed == data.len() {
            break;
        }
    }
    (requests, End::Waiting)
}

fuzz_target!(|input: &[u8]| {
    let [mode, cut, rest @ ..] = input else {
        return;
    };
    match mode % 3 {
        0 => {
            let got = split_owned(rest);
            let want = sdssplitargs(rest).ok_or(ProtocolError::UnbalancedQuotes);
            assert_eq!(got, want);
            if let Ok(args) = got {
                assert!(args.iter().map(Vec::len).sum::<usize>() <= rest.len());
                assert!(args.len() <= rest.len().div_ceil(2));
                assert_eq!(split_owned(&requote(&args)), Ok(args));
            }
        }
        1 => {
            let max_line = 16 + usize::from(*cut);
            let whole = parse_stream(rest, &[], max_line);
            let at = usize::from(*cut) * rest.len() / 255;
            assert_eq!(whole, parse_stream(rest, &[at], max_line), "split at {at}");
            let bytewise = vec![1; rest.len().min(200)];
            assert_eq!(
                whole,
                parse_stream(rest, &bytewise, max_line),
                "byte by byte"
            );
        }
        _ => {
            // The input as an argument list: split at each 0xFF byte.
            let args: Args = rest.split(|&b| b == 0xFF).map(<[u8]>::to_vec).collect();
            assert_eq!(split_owned(&requote(&args)), Ok(args));
        }
    }
});
