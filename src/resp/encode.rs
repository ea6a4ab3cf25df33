//! Results → bytes for RESP2 and RESP3, appended straight to an output
//! buffer. Most types are the same in both; the aggregate and null types
//! that RESP3 adds take the connection's [`Proto`] and fall back to their
//! RESP2 shapes (a map is a flat array of pairs, a set an array, a null a
//! nil bulk string or nil array, verbatim text a bulk string).

/// The RESP version a connection speaks (`HELLO 2|3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    V2,
    V3,
}

/// A null: `_` in RESP3, the nil bulk string in RESP2.
pub fn null(out: &mut Vec<u8>, proto: Proto) {
    match proto {
        Proto::V2 => nil(out),
        Proto::V3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// A null where RESP2 has the nil array (`EXEC` after a failed `WATCH`).
pub fn null_array(out: &mut Vec<u8>, proto: Proto) {
    match proto {
        Proto::V2 => nil_array(out),
        Proto::V3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// A map of `n` pairs (`%n`), or in RESP2 an array of `2n` elements; the
/// keys and values follow, alternating.
pub fn map(out: &mut Vec<u8>, n: usize, proto: Proto) {
    match proto {
        Proto::V2 => array(out, n * 2),
        Proto::V3 => header(out, b'%', n),
    }
}

/// A set of `n` elements (`~n`), or in RESP2 an array.
pub fn set(out: &mut Vec<u8>, n: usize, proto: Proto) {
    match proto {
        Proto::V2 => array(out, n),
        Proto::V3 => header(out, b'~', n),
    }
}

/// Verbatim text (`=<len>\r\ntxt:<text>`), or in RESP2 a bulk string.
pub fn verbatim(out: &mut Vec<u8>, text: &[u8], proto: Proto) {
    match proto {
        Proto::V2 => bulk(out, text),
        Proto::V3 => {
            header(out, b'=', text.len() + 4);
            out.extend_from_slice(b"txt:");
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `+<s>\r\n`
pub fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `+OK\r\n`
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `-<message>\r\n`; `message` starts with its code (`ERR …`, `WRONGTYPE …`).
/// Line breaks inside become spaces, as RESP errors are one line.
pub fn error(out: &mut Vec<u8>, message: &str) {
    out.push(b'-');
    out.extend(
        message
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `:<n>\r\n`
pub fn int(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$<len>\r\n<bytes>\r\n`
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string or the nil bulk string.
pub fn bulk_or_nil(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => bulk(out, b),
        None => nil(out),
    }
}

/// `$-1\r\n`, the nil bulk string.
pub fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*-1\r\n`, the nil array (`EXEC` after a failed `WATCH`).
pub fn nil_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `*<n>\r\n`; the `n` elements follow.
pub fn array(out: &mut Vec<u8>, n: usize) {
    header(out, b'*', n);
}

/// An array of bulk strings.
pub fn bulk_array<'a>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a [u8]>) {
    array(out, items.len());
    for item in items {
        bulk(out, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn resp3_types_and_their_resp2_shapes() {
        assert_eq!(enc(|o| null(o, Proto::V3)), b"_\r\n");
        assert_eq!(enc(|o| null(o, Proto::V2)), b"$-1\r\n");
        assert_eq!(enc(|o| null_array(o, Proto::V2)), b"*-1\r\n");
        assert_eq!(enc(|o| map(o, 2, Proto::V3)), b"%2\r\n");
        assert_eq!(enc(|o| map(o, 2, Proto::V2)), b"*4\r\n");
        assert_eq!(enc(|o| set(o, 3, Proto::V3)), b"~3\r\n");
        assert_eq!(enc(|o| set(o, 3, Proto::V2)), b"*3\r\n");
        assert_eq!(
            enc(|o| verbatim(o, b"a\r\nb", Proto::V3)),
            b"=8\r\ntxt:a\r\nb\r\n"
        );
        assert_eq!(enc(|o| verbatim(o, b"ab", Proto::V2)), b"$2\r\nab\r\n");
    }

    #[test]
    fn shapes() {
        assert_eq!(enc(ok), b"+OK\r\n");
        assert_eq!(enc(|o| simple(o, "PONG")), b"+PONG\r\n");
        assert_eq!(
            enc(|o| error(o, "ERR bad\r\nthing")),
            b"-ERR bad  thing\r\n"
        );
        assert_eq!(enc(|o| int(o, -42)), b":-42\r\n");
        assert_eq!(enc(|o| bulk(o, b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(enc(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(enc(nil), b"$-1\r\n");
        assert_eq!(enc(nil_array), b"*-1\r\n");
        assert_eq!(
            enc(|o| bulk_array(o, [&b"a"[..], b"bc"].into_iter())),
            b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"
        );
    }
}
