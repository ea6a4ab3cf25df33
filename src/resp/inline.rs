//! Inline requests: one line of arguments separated by spaces, as typed into
//! `telnet` or sent by `redis-cli --pipe` (its final `\r\n`). Redis reads a
//! request as inline when its first byte is not `*`, and splits the line with
//! `sdssplitargs`; [`split`] is that function, quirks included.
//!
//! Splitting rules (checked against redis-server 7.0.15): arguments are
//! separated by blanks (space, `\t`, `\r`, `\n`, `\v`, `\f`; but only space,
//! `\t`, `\r` and `\n` *end* an unquoted argument, so `a\vb` is one
//! argument). `"…"` takes `\n \r \t \b \a`, `\xHH`, and `\` before any other
//! byte as that byte; `'…'` takes only `\'`. A quote may start in the middle
//! of an argument (`foo"bar baz"` is `foobar baz`), and a closing quote must
//! be followed by a blank or the end of the line, else the request is
//! refused: `ERR Protocol error: unbalanced quotes in request`.
//!
//! A line without quotes is split without copying: its arguments are ranges
//! of the line. With quotes, they are ranges of a copy with the escapes
//! resolved.

use super::ProtocolError;
use std::ops::Range;

/// Where a complete inline request's arguments lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Ranges of the request's own bytes (no quotes: nothing to unescape).
    Line,
    /// Ranges of the `unescaped` buffer the caller passed.
    Unescaped,
}

/// The outcome of looking for an inline request at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Inline {
    /// No complete line yet, and what is buffered is within the limit.
    Incomplete,
    /// The connection answers it and closes, as Redis does.
    Invalid(ProtocolError),
    /// A line of `consumed` bytes, its line ending included. No arguments
    /// (an empty or blank line): no command, as in Redis.
    Complete { consumed: usize, source: Source },
}

/// Parses the inline request at the front of `buf`: a line ending in `\n`
/// (a `\r` before it is dropped) of at most `max_line` bytes. `scanned` is
/// how much of `buf` an earlier call already searched for the `\n`, so a
/// long line arriving in many reads costs its length once; it is reset
/// once a request completes or fails.
pub fn parse(
    buf: &[u8],
    max_line: usize,
    scanned: &mut usize,
    args: &mut Vec<Range<usize>>,
    unescaped: &mut Vec<u8>,
) -> Inline {
    let from = (*scanned).min(buf.len());
    let Some(nl) = memchr::memchr(b'\n', &buf[from..]).map(|i| from + i) else {
        // A trailing `\r` may be the start of this line's `\r\n`.
        if buf.strip_suffix(b"\r").unwrap_or(buf).len() > max_line {
            *scanned = 0;
            return Inline::Invalid(ProtocolError::TooBigInline);
        }
        *scanned = buf.len();
        return Inline::Incomplete;
    };
    *scanned = 0;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    if line.len() > max_line {
        return Inline::Invalid(ProtocolError::TooBigInline);
    }
    match split(line, args, unescaped) {
        Ok(source) => Inline::Complete {
            consumed: nl + 1,
            source,
        },
        Err(e) => Inline::Invalid(e),
    }
}

/// Splits `line` (without its line ending) into arguments, as Redis's
/// `sdssplitargs`. `args` and `unescaped` are cleared first. A line without
/// quotes gives ranges of `line` (nothing copied); otherwise the unescaped
/// arguments are appended to `unescaped` and the ranges are of it.
pub fn split(
    line: &[u8],
    args: &mut Vec<Range<usize>>,
    unescaped: &mut Vec<u8>,
) -> Result<Source, ProtocolError> {
    args.clear();
    unescaped.clear();
    if memchr::memchr2(b'"', b'\'', line).is_none() {
        split_plain(line, args);
        return Ok(Source::Line);
    }
    let mut i = 0;
    loop {
        i = skip_blanks(line, i);
        if i == line.len() {
            return Ok(Source::Unescaped);
        }
        let start = unescaped.len();
        i = argument(line, i, unescaped)?;
        args.push(start..unescaped.len());
    }
}

/// `isspace` in the C locale: what separates arguments.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What ends an unquoted argument (`\v` and `\f` do not, as in Redis).
fn ends_argument(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    i
}

/// The fast path: no quotes, so every argument is a range of the line.
fn split_plain(line: &[u8], args: &mut Vec<Range<usize>>) {
    let mut i = 0;
    loop {
        i = skip_blanks(line, i);
        if i == line.len() {
            return;
        }
        let start = i;
        while i < line.len() && !ends_argument(line[i]) {
            i += 1;
        }
        args.push(start..i);
    }
}

/// Reads the argument that starts at `line[i]` into `out`; returns where
/// the next one may start.
fn argument(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(i) {
            None => return Ok(i),
            Some(&b) if ends_argument(b) => return Ok(i + 1),
            Some(b'"') => return double_quoted(line, i + 1, out),
            Some(b'\'') => return single_quoted(line, i + 1, out),
            Some(&b) => out.push(b),
        }
        i += 1;
    }
}

/// The rest of a `"…"` argument from `line[i]`, escapes resolved.
fn double_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match &line[i..] {
            [b'\\', b'x', hi, lo, ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                out.push((hex(*hi) << 4) | hex(*lo));
                i += 4;
            }
            [b'\\', escaped, ..] => {
                out.push(match escaped {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => *other,
                });
                i += 2;
            }
            [b'"', rest @ ..] => return closed(rest, i + 1),
            [] => return Err(ProtocolError::UnbalancedQuotes),
            [b, ..] => {
                out.push(*b);
                i += 1;
            }
        }
    }
}

/// The rest of a `'…'` argument from `line[i]`: only `\'` is an escape.
fn single_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match &line[i..] {
            [b'\\', b'\'', ..] => {
                out.push(b'\'');
                i += 2;
            }
            [b'\'', rest @ ..] => return closed(rest, i + 1),
            [] => return Err(ProtocolError::UnbalancedQuotes),
            [b, ..] => {
                out.push(*b);
                i += 1;
            }
        }
    }
}

/// A closing quote must be followed by a blank or the end of the line.
fn closed(rest: &[u8], next: usize) -> Result<usize, ProtocolError> {
    match rest.first() {
        Some(&b) if !is_blank(b) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(next),
    }
}

fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Quotes `arg` so that [`split`] gives it back: `"…"` with `\\`, `\"` and
/// `\xHH` for every byte outside printable ASCII. What the fuzz target and
/// tests use to build inline requests from arbitrary arguments.
pub fn quote(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let hex = [
                    b'\\',
                    b'x',
                    DIGITS[usize::from(b >> 4)],
                    DIGITS[usize::from(b & 15)],
                ];
                out.extend_from_slice(&hex);
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
