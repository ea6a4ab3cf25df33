//! Wire formats: request encoding (appending to a reused buffer, no
//! allocation) and minimal response framing.
//!
//! Responses are only framed and classified, never decoded: a text response
//! is one line, `Ok` when it starts with `{"status": "Ok"`; a RESP reply is
//! skipped structurally (nested arrays included); a memcached reply is a line
//! or a `VALUE` block. Every parser works on a buffer that may end anywhere,
//! returning `Ok(None)` until a whole response is there.

use clap::ValueEnum;
use std::fmt;

/// The protocol spoken to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// corekv's line protocol with JSON responses.
    Text,
    /// RESP2, the Redis protocol.
    Resp,
    /// memcached's text protocol (GET/SET only; for reference runs).
    Memcache,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Resp => "resp",
            Self::Memcache => "memcache",
        })
    }
}

/// What one response says, as far as the load generator cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Success.
    Ok,
    /// A read of a missing key (`key not found`, `$-1`, memcached `END`).
    Miss,
    /// Anything else: an error reply, an aborted `EXEC` (`*-1`).
    Error,
}

/// A malformed response: the stream cannot be framed any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed response: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

/// Pre-built request fragments for one protocol, key length and value.
#[derive(Clone, Debug)]
pub struct Encoder {
    protocol: Protocol,
    value: Vec<u8>,
    /// RESP: `$<key len>\r\n`.
    key_header: Vec<u8>,
    /// RESP: `$<value len>\r\n`; memcached: ` 0 0 <value len>\r\n`.
    value_header: Vec<u8>,
}

impl Encoder {
    pub fn new(protocol: Protocol, key_len: usize, value: Vec<u8>) -> Self {
        let (key_header, value_header) = match protocol {
            Protocol::Text => (Vec::new(), Vec::new()),
            Protocol::Resp => (
                format!("${key_len}\r\n").into_bytes(),
                format!("${}\r\n", value.len()).into_bytes(),
            ),
            Protocol::Memcache => (Vec::new(), format!(" 0 0 {}\r\n", value.len()).into_bytes()),
        };
        Self {
            protocol,
            value,
            key_header,
            value_header,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    #[inline]
    pub fn get(&self, out: &mut Vec<u8>, key: &[u8]) {
        match self.protocol {
            Protocol::Text => {
                out.extend_from_slice(b"GET ");
                out.extend_from_slice(key);
                out.push(b'\n');
            }
            Protocol::Resp => {
                out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
                out.extend_from_slice(&self.key_header);
                out.extend_from_slice(key);
                out.extend_from_slice(b"\r\n");
            }
            Protocol::Memcache => {
                out.extend_from_slice(b"get ");
                out.extend_from_slice(key);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    #[inline]
    pub fn put(&self, out: &mut Vec<u8>, key: &[u8]) {
        match self.protocol {
            Protocol::Text => {
                out.extend_from_slice(b"PUT ");
                out.extend_from_slice(key);
                out.push(b' ');
                out.extend_from_slice(&self.value);
                out.push(b'\n');
            }
            Protocol::Resp => {
                out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
                out.extend_from_slice(&self.key_header);
                out.extend_from_slice(key);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&self.value_header);
                out.extend_from_slice(&self.value);
                out.extend_from_slice(b"\r\n");
            }
            Protocol::Memcache => {
                out.extend_from_slice(b"set ");
                out.extend_from_slice(key);
                out.extend_from_slice(&self.value_header);
                out.extend_from_slice(&self.value);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Opens a transaction (`START` / `MULTI`). One reply.
    #[inline]
    pub fn begin(&self, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Text => out.extend_from_slice(b"START\n"),
            Protocol::Resp => out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n"),
            Protocol::Memcache => unreachable!("memcached has no transactions"),
        }
    }

    /// Commits a transaction (`COMMIT` / `EXEC`). One reply.
    #[inline]
    pub fn commit(&self, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Text => out.extend_from_slice(b"COMMIT\n"),
            Protocol::Resp => out.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n"),
            Protocol::Memcache => unreachable!("memcached has no transactions"),
        }
    }

    /// Frames the first response in `buf`: `(bytes used, what it says)`.
    #[inline]
    pub fn parse(&self, buf: &[u8]) -> Result<Option<(usize, Reply)>, FrameError> {
        match self.protocol {
            Protocol::Text => Ok(parse_text(buf)),
            Protocol::Resp => parse_resp(buf),
            Protocol::Memcache => parse_memcache(buf),
        }
    }
}

const TEXT_OK: &[u8] = b"{\"status\": \"Ok\"";
const TEXT_NOT_FOUND: &[u8] = b"{\"status\": \"Error\", \"mesg\": \"key not found\"}";

/// One text-protocol response line.
#[inline]
pub fn parse_text(buf: &[u8]) -> Option<(usize, Reply)> {
    let end = memchr::memchr(b'\n', buf)?;
    let line = &buf[..end];
    let reply = if line.starts_with(TEXT_OK) {
        Reply::Ok
    } else if line.starts_with(TEXT_NOT_FOUND) {
        Reply::Miss
    } else {
        Reply::Error
    };
    Some((end + 1, reply))
}

/// The line at the start of `buf` without its `\r\n`, and the bytes after it.
#[inline]
fn crlf_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    match memchr::memchr(b'\n', buf) {
        None => Ok(None),
        Some(end) if end > 0 && buf[end - 1] == b'\r' => Ok(Some((&buf[..end - 1], end + 1))),
        Some(_) => Err(FrameError("line not ended by CRLF".into())),
    }
}

#[inline]
fn parse_int(digits: &[u8]) -> Result<i64, FrameError> {
    let (neg, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return Err(FrameError("bad length".into()));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(FrameError(format!(
                "bad number {:?}",
                String::from_utf8_lossy(digits)
            )));
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Ok(if neg { -n } else { n })
}

/// Deepest array nesting accepted in a reply.
const MAX_DEPTH: usize = 16;

/// One RESP2 reply. Arrays are skipped element by element; an array is an
/// error if any element is one (an `EXEC` whose commands failed).
#[inline]
pub fn parse_resp(buf: &[u8]) -> Result<Option<(usize, Reply)>, FrameError> {
    skip_resp(buf, 0)
}

fn skip_resp(buf: &[u8], depth: usize) -> Result<Option<(usize, Reply)>, FrameError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((line, used)) = crlf_line(buf)? else {
        return Ok(None);
    };
    let body = &line[1..];
    match kind {
        b'+' | b':' => Ok(Some((used, Reply::Ok))),
        b'-' => Ok(Some((used, Reply::Error))),
        b'$' => {
            let len = parse_int(body)?;
            if len < 0 {
                return Ok(Some((used, Reply::Miss)));
            }
            let total = used + len as usize + 2;
            if buf.len() < total {
                return Ok(None);
            }
            if &buf[total - 2..total] != b"\r\n" {
                return Err(FrameError("bulk string not ended by CRLF".into()));
            }
            Ok(Some((total, Reply::Ok)))
        }
        b'*' => {
            let count = parse_int(body)?;
            if count < 0 {
                // A nil array: an EXEC aborted by WATCH.
                return Ok(Some((used, Reply::Error)));
            }
            if depth >= MAX_DEPTH {
                return Err(FrameError("arrays nested too deep".into()));
            }
            let mut at = used;
            let mut reply = Reply::Ok;
            for _ in 0..count {
                match skip_resp(&buf[at..], depth + 1)? {
                    None => return Ok(None),
                    Some((n, r)) => {
                        at += n;
                        if r == Reply::Error {
                            reply = Reply::Error;
                        }
                    }
                }
            }
            Ok(Some((at, reply)))
        }
        other => Err(FrameError(format!("unknown RESP type byte {other:#04x}"))),
    }
}

/// One memcached text-protocol reply: `STORED`, `END` (a miss), a `VALUE`
/// block ending in `END`, or an error line.
pub fn parse_memcache(buf: &[u8]) -> Result<Option<(usize, Reply)>, FrameError> {
    let Some((line, used)) = crlf_line(buf)? else {
        return Ok(None);
    };
    if let Some(rest) = line.strip_prefix(b"VALUE ") {
        let len = rest
            .rsplit(|&b| b == b' ')
            .next()
            .ok_or_else(|| FrameError("VALUE without a length".into()))?;
        let len = parse_int(len)?;
        if len < 0 {
            return Err(FrameError("negative VALUE length".into()));
        }
        let data_end = used + len as usize + 2;
        let total = data_end + b"END\r\n".len();
        if buf.len() < total {
            return Ok(None);
        }
        if &buf[data_end..total] != b"END\r\n" {
            return Err(FrameError("VALUE block not ended by END".into()));
        }
        return Ok(Some((total, Reply::Ok)));
    }
    let reply = match line {
        b"END" => Reply::Miss,
        b"STORED" | b"DELETED" | b"NOT_FOUND" | b"OK" => Reply::Ok,
        _ => Reply::Error,
    };
    Ok(Some((used, reply)))
}

/// A fully decoded RESP2 value, for the few set-up commands
/// (`CLUSTER SLOTS`); the load path never builds these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

/// Decodes the first RESP2 value in `buf`.
pub fn decode_resp(buf: &[u8]) -> Result<Option<(usize, Value)>, FrameError> {
    decode_at(buf, 0)
}

fn decode_at(buf: &[u8], depth: usize) -> Result<Option<(usize, Value)>, FrameError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((line, used)) = crlf_line(buf)? else {
        return Ok(None);
    };
    let body = &line[1..];
    let text = || String::from_utf8_lossy(body).into_owned();
    Ok(Some(match kind {
        b'+' => (used, Value::Simple(text())),
        b'-' => (used, Value::Error(text())),
        b':' => (used, Value::Int(parse_int(body)?)),
        b'$' => {
            let len = parse_int(body)?;
            if len < 0 {
                (used, Value::Bulk(None))
            } else {
                let total = used + len as usize + 2;
                if buf.len() < total {
                    return Ok(None);
                }
                (total, Value::Bulk(Some(buf[used..total - 2].to_vec())))
            }
        }
        b'*' => {
            let count = parse_int(body)?;
            if count < 0 {
                (used, Value::Array(None))
            } else {
                if depth >= MAX_DEPTH {
                    return Err(FrameError("arrays nested too deep".into()));
                }
                let mut at = used;
                let mut items = Vec::with_capacity(count.min(1024) as usize);
                for _ in 0..count {
                    let Some((n, v)) = decode_at(&buf[at..], depth + 1)? else {
                        return Ok(None);
                    };
                    at += n;
                    items.push(v);
                }
                (at, Value::Array(Some(items)))
            }
        }
        other => return Err(FrameError(format!("unknown RESP type byte {other:#04x}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corekv_router::resp::request;

    /// Feeds `stream` to `parse` one byte at a time and returns the replies
    /// found, checking that no prefix of a response is taken for a whole one.
    fn frame_bytewise(
        parse: impl Fn(&[u8]) -> Result<Option<(usize, Reply)>, FrameError>,
        stream: &[u8],
    ) -> Vec<Reply> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for &b in stream {
            buf.push(b);
            while let Some((n, r)) = parse(&buf).unwrap() {
                buf.drain(..n);
                out.push(r);
            }
        }
        assert!(
            buf.is_empty(),
            "left over: {:?}",
            String::from_utf8_lossy(&buf)
        );
        out
    }

    #[test]
    fn text_responses() {
        let stream = b"{\"status\": \"Ok\"}\n\
            {\"status\": \"Ok\", \"result\": \"v a l\"}\n\
            {\"status\": \"Error\", \"mesg\": \"key not found\"}\n\
            {\"status\": \"Error\", \"mesg\": \"unknown command\"}\n";
        let want = vec![Reply::Ok, Reply::Ok, Reply::Miss, Reply::Error];
        assert_eq!(frame_bytewise(|b| Ok(parse_text(b)), stream), want);
        // All at once.
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((n, r)) = parse_text(&stream[at..]) {
            at += n;
            got.push(r);
        }
        assert_eq!(got, want);
        assert_eq!(at, stream.len());
        // A partial line is not a response.
        assert_eq!(parse_text(b"{\"status\": \"Ok\""), None);
    }

    #[test]
    fn resp_replies() {
        let stream = b"+OK\r\n$3\r\nabc\r\n$-1\r\n-ERR no\r\n:42\r\n$0\r\n\r\n\
            *3\r\n+OK\r\n$2\r\nhi\r\n*2\r\n:1\r\n:2\r\n\
            *2\r\n+OK\r\n-ERR inside\r\n*-1\r\n*0\r\n";
        let want = vec![
            Reply::Ok,
            Reply::Ok,
            Reply::Miss,
            Reply::Error,
            Reply::Ok,
            Reply::Ok,
            Reply::Ok,
            Reply::Error,
            Reply::Error,
            Reply::Ok,
        ];
        assert_eq!(frame_bytewise(parse_resp, stream), want);
    }

    #[test]
    fn resp_bulk_may_contain_crlf() {
        let stream = b"$4\r\n\r\n\r\n\r\n+OK\r\n";
        assert_eq!(
            frame_bytewise(parse_resp, stream),
            vec![Reply::Ok, Reply::Ok]
        );
    }

    #[test]
    fn resp_malformed() {
        assert!(parse_resp(b"?what\r\n").is_err());
        assert!(parse_resp(b"$x\r\n").is_err());
        assert!(parse_resp(b"+OK\n").is_err());
        assert!(parse_resp(b"$3\r\nabcXY").is_err());
        assert_eq!(parse_resp(b"$3\r\nab").unwrap(), None);
        assert_eq!(parse_resp(b"").unwrap(), None);
    }

    #[test]
    fn memcache_replies() {
        let stream = b"STORED\r\nEND\r\nVALUE key:1 0 5\r\nhe\r\nl\r\nEND\r\nERROR\r\n";
        assert_eq!(
            frame_bytewise(parse_memcache, stream),
            vec![Reply::Ok, Reply::Miss, Reply::Ok, Reply::Error]
        );
    }

    #[test]
    fn decode_cluster_slots() {
        let buf = b"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n";
        let (n, v) = decode_resp(buf).unwrap().unwrap();
        assert_eq!(n, buf.len());
        let Value::Array(Some(slots)) = v else {
            panic!()
        };
        assert_eq!(
            slots[0],
            Value::Array(Some(vec![
                Value::Int(0),
                Value::Int(16383),
                Value::Array(Some(vec![
                    Value::Bulk(Some(b"127.0.0.1".to_vec())),
                    Value::Int(7000),
                    Value::Bulk(Some(b"id".to_vec())),
                ])),
            ]))
        );
        for cut in 0..buf.len() {
            assert_eq!(decode_resp(&buf[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn encodes_requests() {
        let key = b"key:000000000042";
        let mut out = Vec::new();
        let text = Encoder::new(Protocol::Text, key.len(), b"vvv".to_vec());
        text.get(&mut out, key);
        text.put(&mut out, key);
        text.begin(&mut out);
        text.commit(&mut out);
        assert_eq!(
            out,
            b"GET key:000000000042\nPUT key:000000000042 vvv\nSTART\nCOMMIT\n"
        );
        out.clear();
        let resp = Encoder::new(Protocol::Resp, key.len(), b"vvv".to_vec());
        resp.get(&mut out, key);
        resp.put(&mut out, key);
        resp.begin(&mut out);
        resp.commit(&mut out);
        // The precomputed fast paths match the one shared encoder.
        let mut want = request(&[b"GET", key]);
        want.extend(request(&[b"SET", key, b"vvv"]));
        want.extend(request(&[b"MULTI"]));
        want.extend(request(&[b"EXEC"]));
        assert_eq!(out, want);
        out.clear();
        let mc = Encoder::new(Protocol::Memcache, key.len(), b"vvv".to_vec());
        mc.get(&mut out, key);
        mc.put(&mut out, key);
        assert_eq!(
            out,
            b"get key:000000000042\r\nset key:000000000042 0 0 3\r\nvvv\r\n"
        );
    }
}
