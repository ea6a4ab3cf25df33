//! The splitter against what redis-server 7.0.15 made of the same lines
//! (`RPUSH l <line>` then `LRANGE l 0 -1`, over a raw socket).

use super::*;

fn args_of(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut unescaped = Vec::new();
    let source = split(line, &mut args, &mut unescaped)?;
    let from = match source {
        Source::Line => line,
        Source::Unescaped => &unescaped[..],
    };
    Ok(args.into_iter().map(|r| from[r].to_vec()).collect())
}

#[track_caller]
fn splits(line: &[u8], want: &[&[u8]]) {
    let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
    assert_eq!(
        args_of(line),
        Ok(want),
        "{:?}",
        String::from_utf8_lossy(line)
    );
}

#[track_caller]
fn unbalanced(line: &[u8]) {
    assert_eq!(
        args_of(line),
        Err(ProtocolError::UnbalancedQuotes),
        "{:?}",
        String::from_utf8_lossy(line)
    );
}

#[test]
fn blanks_separate_arguments() {
    splits(b"a b c", &[b"a", b"b", b"c"]);
    splits(b"  a   b  ", &[b"a", b"b"]);
    splits(b"a\tb\t\tc", &[b"a", b"b", b"c"]);
    splits(b"a\rb", &[b"a", b"b"]);
    splits(b"", &[]);
    splits(b" \t ", &[]);
    splits(b"\xff\xfe", &[b"\xff\xfe"]);
    splits(b"a\\ b", &[b"a\\", b"b"]);
}

#[test]
fn vertical_tab_and_form_feed_are_skipped_but_do_not_end_an_argument() {
    splits(b"a\x0bb", &[b"a\x0bb"]);
    splits(b"a\x0cb", &[b"a\x0cb"]);
    splits(b"\x0ba", &[b"a"]);
    splits(b"a\x0b b", &[b"a\x0b", b"b"]);
    splits(b"\"a\"\x0bb", &[b"a", b"b"]);
    splits(b"\"a\"\x0cb", &[b"a", b"b"]);
}

#[test]
fn double_quotes_take_escapes() {
    splits(b"\"a b\" c", &[b"a b", b"c"]);
    splits(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\z\"", &[b"\n\r\t\x08\x07\\\"z"]);
    splits(b"\"\\x41\\x4a\\x4Z\\xg1\"", &[b"AJx4Zxg1"]);
    splits(b"\"\\xAf\"", &[b"\xaf"]);
    splits(b"\"\\x00z\"", &[b"\0z"]);
    splits(b"\"\\x\"", &[b"x"]);
    splits(b"\"a\\\"b\"", &[b"a\"b"]);
    splits(b"\"a\\\\\"", &[b"a\\"]);
    splits(b"\"'\"", &[b"'"]);
}

#[test]
fn single_quotes_take_only_an_escaped_quote() {
    splits(b"'a b'", &[b"a b"]);
    splits(b"'it\\'s'", &[b"it's"]);
    splits(b"'a\\nb'", &[b"a\\nb"]);
    splits(b"'a\\''", &[b"a'"]);
    splits(b"'\"'", &[b"\""]);
    splits(b"'a'\tb", &[b"a", b"b"]);
}

#[test]
fn quotes_may_start_inside_an_argument_and_be_empty() {
    splits(b"foo\"bar baz\"", &[b"foobar baz"]);
    splits(b"foo'bar'", &[b"foobar"]);
    splits(b"\"\"", &[b""]);
    splits(b"''", &[b""]);
    splits(b"x \"\" y", &[b"x", b"", b"y"]);
}

#[test]
fn quotes_that_do_not_close_cleanly_are_unbalanced() {
    for line in [
        &b"\"a\"b"[..],
        b"\"abc",
        b"'abc",
        b"\"abc\\",
        b"'\\\\'",
        b"a\"b\"c",
        b"\"a\"\"b\"",
        b"'a''b'",
        b"\"\\",
        b"'\\",
        b"SET k \"a",
    ] {
        unbalanced(line);
    }
    assert_eq!(
        ProtocolError::UnbalancedQuotes.to_string(),
        "ERR Protocol error: unbalanced quotes in request"
    );
}

#[test]
fn only_lines_with_quotes_are_copied() {
    let mut args = Vec::new();
    let mut unescaped = Vec::new();
    assert_eq!(
        split(b"SET key value", &mut args, &mut unescaped),
        Ok(Source::Line)
    );
    assert_eq!(args, [0..3, 4..7, 8..13]);
    assert!(unescaped.is_empty());
    assert_eq!(
        split(b"SET key 'a b'", &mut args, &mut unescaped),
        Ok(Source::Unescaped)
    );
    assert_eq!(unescaped, b"SETkeya b");
}

#[test]
fn quoting_round_trips() {
    let args: Vec<&[u8]> = vec![b"", b"a b", b"\"'\\", b"\0\r\n\xff", b"\\x41"];
    let mut line = Vec::new();
    for a in &args {
        quote(a, &mut line);
        line.push(b' ');
    }
    let want: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    assert_eq!(args_of(&line), Ok(want));
}

fn parse_all(stream: &[u8], chunk: usize, max_line: usize) -> (Vec<Vec<Vec<u8>>>, Option<Inline>) {
    let mut buf = Vec::new();
    let mut scanned = 0;
    let mut args = Vec::new();
    let mut unescaped = Vec::new();
    let mut requests = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match parse(&buf, max_line, &mut scanned, &mut args, &mut unescaped) {
                Inline::Complete { consumed, source } => {
                    let from = match source {
                        Source::Line => &buf[..],
                        Source::Unescaped => &unescaped[..],
                    };
                    if !args.is_empty() {
                        requests.push(args.iter().map(|r| from[r.clone()].to_vec()).collect());
                    }
                    buf.drain(..consumed);
                }
                Inline::Incomplete => break,
                invalid => return (requests, Some(invalid)),
            }
        }
    }
    (requests, None)
}

#[test]
fn lines_end_in_lf_or_crlf_and_blank_lines_are_no_request() {
    let (requests, end) = parse_all(b"\r\n\nPING\r\n   \r\nGET a\nx\r\r\n", 1000, 64);
    assert_eq!(end, None);
    assert_eq!(
        requests,
        [
            vec![b"PING".to_vec()],
            vec![b"GET".to_vec(), b"a".to_vec()],
            vec![b"x".to_vec()]
        ]
    );
}

#[test]
fn a_line_split_across_reads_parses_like_the_whole() {
    let stream = b"SET k \"a b\\x41\"\r\nGET 'k'\r\nMSET a 1 b 2\n";
    let (whole, _) = parse_all(stream, stream.len(), 1024);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0][2], b"a bA");
    for chunk in 1..stream.len() {
        assert_eq!(parse_all(stream, chunk, 1024).0, whole, "chunk {chunk}");
    }
}

#[test]
fn a_line_longer_than_the_limit_is_too_big() {
    // Refused as soon as the buffered part of the line passes the limit,
    // and also when it arrives whole.
    let (_, end) = parse_all(&[b'A'; 100], 7, 64);
    assert_eq!(end, Some(Inline::Invalid(ProtocolError::TooBigInline)));
    let mut line = vec![b'A'; 65];
    line.extend_from_slice(b"\r\n");
    let (_, end) = parse_all(&line, line.len(), 64);
    assert_eq!(end, Some(Inline::Invalid(ProtocolError::TooBigInline)));
    // At the limit, with or without its `\r` buffered yet, it is fine.
    line.remove(0);
    let (requests, end) = parse_all(&line, 65, 64);
    assert_eq!((requests.len(), end), (1, None));
    assert_eq!(
        ProtocolError::TooBigInline.to_string(),
        "ERR Protocol error: too big inline request"
    );
}

#[test]
fn searching_for_the_line_end_resumes() {
    let mut scanned = 0;
    let (mut args, mut unescaped) = (Vec::new(), Vec::new());
    let mut buf = b"ECHO aaaa".to_vec();
    assert_eq!(
        parse(&buf, 1024, &mut scanned, &mut args, &mut unescaped),
        Inline::Incomplete
    );
    assert_eq!(scanned, buf.len());
    buf.extend_from_slice(b"bbb\r\n");
    assert_eq!(
        parse(&buf, 1024, &mut scanned, &mut args, &mut unescaped),
        Inline::Complete {
            consumed: buf.len(),
            source: Source::Line
        }
    );
    assert_eq!(scanned, 0);
    assert_eq!(args, [0..4, 5..12]);
}
