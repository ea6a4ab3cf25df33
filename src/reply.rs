//! Outcomes → bytes in the connection's dialect: the text protocol's JSON
//! lines ([`crate::response`]) or RESP2/RESP3 ([`crate::resp::encode`]).

use crate::partition::Outcome;
use crate::resp::encode as resp;
use crate::response as text;

/// A write refused by the memory limit, in each dialect.
pub const OOM_TEXT: &str =
    "out of memory: the write would exceed this partition's share of --maxmemory; nothing was changed";
pub const OOM_RESP: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The protocol a connection speaks: fixed by its first byte (text or
/// RESP2), then `HELLO 3`/`HELLO 2` switch a RESP connection's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Text,
    /// RESP2.
    Resp,
    Resp3,
}

impl Dialect {
    /// The RESP version of a RESP dialect (`V2` for text, which has none).
    pub fn proto(self) -> resp::Proto {
        match self {
            Self::Resp3 => resp::Proto::V3,
            _ => resp::Proto::V2,
        }
    }

    pub fn is_resp(self) -> bool {
        self != Self::Text
    }
}

/// Encodes one operation's outcome.
pub fn encode(dialect: Dialect, outcome: &Outcome<'_>, out: &mut Vec<u8>) {
    match dialect {
        Dialect::Text => encode_text(outcome, out),
        Dialect::Resp | Dialect::Resp3 => encode_resp(outcome, out, dialect.proto()),
    }
}

fn encode_text(outcome: &Outcome<'_>, out: &mut Vec<u8>) {
    match outcome {
        Outcome::Ok => text::ok(out),
        Outcome::Value(Some(v)) => text::ok_value(out, v),
        Outcome::Owned(Some(v)) => text::ok_value(out, v),
        Outcome::Bulk(v) => text::ok_value(out, v),
        Outcome::Value(None) | Outcome::Owned(None) => text::error(out, text::NOT_FOUND),
        Outcome::Int(n) => text::ok_value(out, itoa::Buffer::new().format(*n).as_bytes()),
        Outcome::Status(s) => text::ok_value(out, s.as_bytes()),
        Outcome::Error(e) => text::error(out, e.strip_prefix("ERR ").unwrap_or(e)),
        Outcome::NotSet => text::error(out, "not set"),
        Outcome::Absent(_) => text::error(out, text::NOT_FOUND),
        Outcome::OutOfMemory => text::error(out, OOM_TEXT),
        Outcome::WrongType(kind) => text::error(
            out,
            &format!(
                "wrong type: the key holds a {}; the text protocol reads strings only (use a Redis client)",
                kind.name()
            ),
        ),
        // Collection replies are RESP: the text protocol sends no
        // collection command.
        Outcome::Raw => text::error(out, "not a text protocol command"),
    }
}

fn encode_resp(outcome: &Outcome<'_>, out: &mut Vec<u8>, proto: resp::Proto) {
    match outcome {
        Outcome::Ok => resp::ok(out),
        Outcome::Value(Some(v)) => resp::bulk(out, v),
        Outcome::Owned(Some(v)) => resp::bulk(out, v),
        Outcome::Bulk(v) => resp::bulk(out, v),
        Outcome::Value(None) | Outcome::Owned(None) | Outcome::NotSet => resp::null(out, proto),
        Outcome::Int(n) => resp::int(out, *n),
        Outcome::Status(s) => resp::simple(out, s),
        Outcome::Error(e) => resp::error(out, e),
        Outcome::Absent(n) => resp::int(out, *n),
        Outcome::OutOfMemory => resp::error(out, OOM_RESP),
        Outcome::WrongType(_) => resp::error(out, crate::partition::coll::WRONGTYPE),
        // Encoded by the partition; `Partition::execute` copies it.
        Outcome::Raw => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(d: Dialect, o: Outcome<'_>) -> String {
        let mut out = Vec::new();
        encode(d, &o, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn both_dialects() {
        assert_eq!(enc(Dialect::Text, Outcome::Ok), "{\"status\": \"Ok\"}\n");
        assert_eq!(enc(Dialect::Resp, Outcome::Ok), "+OK\r\n");
        assert_eq!(
            enc(Dialect::Text, Outcome::Value(None)),
            "{\"status\": \"Error\", \"mesg\": \"key not found\"}\n"
        );
        assert_eq!(enc(Dialect::Resp, Outcome::Value(None)), "$-1\r\n");
        assert_eq!(
            enc(Dialect::Resp, Outcome::Value(Some(b"v"))),
            "$1\r\nv\r\n"
        );
        assert_eq!(enc(Dialect::Resp, Outcome::Int(3)), ":3\r\n");
        assert_eq!(enc(Dialect::Resp3, Outcome::Value(None)), "_\r\n");
        assert_eq!(enc(Dialect::Resp3, Outcome::NotSet), "_\r\n");
        assert_eq!(enc(Dialect::Resp3, Outcome::Int(3)), ":3\r\n");
        assert_eq!(
            enc(
                Dialect::Text,
                Outcome::Error("ERR value is not an integer or out of range")
            ),
            "{\"status\": \"Error\", \"mesg\": \"value is not an integer or out of range\"}\n"
        );
    }
}
