//! The text protocol from the client's side: command lines out, one-line
//! JSON replies in, and the `TOPOLOGY` result turned into a [`Topology`].

use super::error::{Error, Result};
use crate::{PartitionInfo, SlotRange, Topology, HASH_NAME, SLOT_COUNT};
use serde_json::{Map, Value};

/// The server's error message for a `GET` of an absent key.
pub(crate) const NOT_FOUND: &str = "key not found";

/// Appends `WORD key[ value]\n` to `buf`. Key and value are already checked.
pub(crate) fn push_command(buf: &mut Vec<u8>, word: &str, key: &str, value: Option<&str>) {
    buf.reserve(word.len() + key.len() + value.map_or(0, |v| v.len() + 1) + 2);
    buf.extend_from_slice(word.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(key.as_bytes());
    if let Some(v) = value {
        buf.push(b' ');
        buf.extend_from_slice(v.as_bytes());
    }
    buf.push(b'\n');
}

/// One reply line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// `{"status": "Ok"}`, with its `result` if it has one.
    Ok(Option<Value>),
    /// `{"status": "Error", "mesg": ...}`
    Error(String),
}

impl Reply {
    /// Parses one reply line (without its `\n`).
    pub(crate) fn parse(line: &[u8]) -> Result<Self> {
        let bad = |why: &str| {
            let text = String::from_utf8_lossy(line);
            let shown: String = text.chars().take(200).collect();
            Error::Protocol(format!("{why}: {shown:?}"))
        };
        let value: Value = serde_json::from_slice(line).map_err(|e| bad(&e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(bad("reply is not a JSON object"));
        };
        match obj.get("status").and_then(Value::as_str) {
            Some("Ok") => Ok(Self::Ok(obj.remove("result"))),
            Some("Error") => match obj.remove("mesg") {
                Some(Value::String(mesg)) => Ok(Self::Error(mesg)),
                _ => Err(bad("error reply without a string \"mesg\"")),
            },
            _ => Err(bad("reply without \"status\": \"Ok\" or \"Error\"")),
        }
    }

    /// Success with or without a result; a server error is [`Error::Server`].
    pub(crate) fn into_unit(self) -> Result<()> {
        match self {
            Self::Ok(_) => Ok(()),
            Self::Error(mesg) => Err(Error::Server(mesg)),
        }
    }

    /// A `GET`'s answer: the value, or `None` for "key not found".
    pub(crate) fn into_value(self) -> Result<Option<String>> {
        match self {
            Self::Ok(Some(Value::String(s))) => Ok(Some(s)),
            Self::Ok(other) => Err(Error::Protocol(format!(
                "expected a string result, got {}",
                other.map_or_else(|| "none".to_string(), |v| v.to_string())
            ))),
            Self::Error(mesg) if mesg == NOT_FOUND => Ok(None),
            Self::Error(mesg) => Err(Error::Server(mesg)),
        }
    }

    /// The result object of `TOPOLOGY`.
    pub(crate) fn into_object(self) -> Result<Map<String, Value>> {
        match self {
            Self::Ok(Some(Value::Object(obj))) => Ok(obj),
            Self::Ok(other) => Err(Error::Protocol(format!(
                "expected an object result, got {}",
                other.map_or_else(|| "none".to_string(), |v| v.to_string())
            ))),
            Self::Error(mesg) => Err(Error::Server(mesg)),
        }
    }
}

/// Builds the routing table from a `TOPOLOGY` result:
/// `{"slots": 16384, "hash": "crc16-xmodem", "shared_port": 9888,
///   "partitions": [{"id": 0, "port": 9889, "slots": [[0, 8191]]}, …]}`.
/// Every partition must have a core port. A cluster of pods
/// (`--cluster-size`) also names each partition's `"host"`; the second
/// result holds them (`None` where a partition names none: reached at the
/// host the client connected to).
pub(crate) fn parse_topology(obj: &Map<String, Value>) -> Result<(Topology, Vec<Option<String>>)> {
    let bad = |why: String| Error::Protocol(format!("TOPOLOGY: {why}"));
    let slots = obj.get("slots").and_then(Value::as_u64);
    if slots != Some(u64::from(SLOT_COUNT)) {
        return Err(bad(format!(
            "the server has {} slots; this client knows {SLOT_COUNT}",
            obj.get("slots")
                .map_or_else(|| "no".into(), Value::to_string)
        )));
    }
    let hash = obj.get("hash").and_then(Value::as_str);
    if hash != Some(HASH_NAME) {
        return Err(bad(format!(
            "the server hashes keys with {}; this client knows {HASH_NAME:?}",
            obj.get("hash")
                .map_or_else(|| "an unnamed function".into(), Value::to_string)
        )));
    }
    let list = obj
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"partitions\" array".into()))?;
    let mut partitions = Vec::with_capacity(list.len());
    let mut hosts = Vec::with_capacity(list.len());
    for p in list {
        let id = p
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| usize::try_from(id).ok())
            .ok_or_else(|| bad(format!("partition without a valid \"id\": {p}")))?;
        let port = p
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .filter(|&port| port != 0)
            .ok_or_else(|| bad(format!("partition {id} has no core port: {p}")))?;
        let ranges = p
            .get("slots")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("partition {id} has no \"slots\" array")))?;
        let slots = ranges
            .iter()
            .map(|r| {
                let bound = |i: usize| {
                    r.get(i)
                        .and_then(Value::as_u64)
                        .and_then(|s| u16::try_from(s).ok())
                };
                match (r.as_array().map(Vec::len), bound(0), bound(1)) {
                    (Some(2), Some(start), Some(end)) => Ok(SlotRange { start, end }),
                    _ => Err(bad(format!("partition {id} has a bad slot range {r}"))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        hosts.push((id, p.get("host").and_then(Value::as_str).map(String::from)));
        partitions.push(PartitionInfo {
            id,
            slots,
            port: Some(port),
        });
    }
    let topology = Topology::from_partitions(partitions)?;
    // Partition ids are 0..n (checked above), so every id has its place.
    let mut by_id = vec![None; hosts.len()];
    for (id, host) in hosts {
        by_id[id] = host;
    }
    Ok((topology, by_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TopologyError;

    fn reply(line: &str) -> Result<Reply> {
        Reply::parse(line.as_bytes())
    }

    #[test]
    fn replies() {
        assert_eq!(reply(r#"{"status": "Ok"}"#).unwrap(), Reply::Ok(None));
        assert_eq!(
            reply(r#"{"status": "Ok", "result": "a\"b"}"#).unwrap(),
            Reply::Ok(Some(Value::String("a\"b".into())))
        );
        assert_eq!(
            reply(r#"{"status": "Error", "mesg": "nope"}"#).unwrap(),
            Reply::Error("nope".into())
        );
        for bad in [
            "",
            "PONG",
            "[1]",
            r#"{"status": "Maybe"}"#,
            r#"{"result": "x"}"#,
            r#"{"status": "Error"}"#,
            r#"{"status": "Error", "mesg": 3}"#,
        ] {
            assert!(matches!(reply(bad), Err(Error::Protocol(_))), "{bad:?}");
        }
        assert!(matches!(
            Reply::parse(b"{\"status\": \"Ok\", \"result\": \"\xff\"}"),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn reply_conversions() {
        let ok = |v: Option<Value>| Reply::Ok(v);
        assert_eq!(ok(Some("v".into())).into_value().unwrap(), Some("v".into()));
        assert_eq!(Reply::Error(NOT_FOUND.into()).into_value().unwrap(), None);
        assert!(matches!(
            Reply::Error("boom".into()).into_value(),
            Err(Error::Server(m)) if m == "boom"
        ));
        assert!(matches!(ok(None).into_value(), Err(Error::Protocol(_))));
        assert!(matches!(
            ok(Some(1.into())).into_value(),
            Err(Error::Protocol(_))
        ));
        ok(Some("x".into())).into_unit().unwrap();
        assert!(matches!(
            Reply::Error(NOT_FOUND.into()).into_unit(),
            Err(Error::Server(_))
        ));
        assert!(matches!(ok(None).into_object(), Err(Error::Protocol(_))));
    }

    #[test]
    fn commands() {
        let mut buf = Vec::new();
        push_command(&mut buf, "PUT", "k", Some("a b"));
        push_command(&mut buf, "GET", "k", None);
        assert_eq!(buf, b"PUT k a b\nGET k\n");
    }

    fn topology(json: &str) -> Result<Topology> {
        let v: Value = serde_json::from_str(json).unwrap();
        parse_topology(v.as_object().unwrap()).map(|(t, _)| t)
    }

    #[test]
    fn the_servers_topology() {
        let t = topology(
            r#"{"slots": 16384, "hash": "crc16-xmodem", "shared_port": 9888, "partitions": [
                {"id": 0, "port": 9889, "slots": [[0, 8191]]},
                {"id": 1, "port": 9890, "slots": [[8192, 16383]]}]}"#,
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.partition(1).unwrap().port, Some(9890));
        assert_eq!(t.partition_of_key(b"foo"), 1); // slot 12182
        assert_eq!(t.partition_of_key(b"bar"), 0); // slot 5061
    }

    /// A server with TLS adds `tls_shared_port` and per-partition
    /// `tls_port`; this (plain-text) client routes by the plain ports.
    #[test]
    fn tls_fields_are_tolerated() {
        let t = topology(
            r#"{"slots": 16384, "hash": "crc16-xmodem", "shared_port": 9888,
                "tls_shared_port": 6380, "partitions": [
                {"id": 0, "port": 9889, "tls_port": 6381, "slots": [[0, 8191]]},
                {"id": 1, "port": 9890, "tls_port": 6382, "slots": [[8192, 16383]]}]}"#,
        )
        .unwrap();
        assert_eq!(t.partition(1).unwrap().port, Some(9890));
    }

    #[test]
    fn bad_topologies() {
        let protocol = |json: &str| matches!(topology(json), Err(Error::Protocol(_)));
        assert!(protocol(
            r#"{"slots": 1024, "hash": "crc16-xmodem", "partitions": []}"#
        ));
        assert!(protocol(
            r#"{"slots": 16384, "hash": "md5", "partitions": []}"#
        ));
        assert!(protocol(r#"{"slots": 16384, "hash": "crc16-xmodem"}"#));
        assert!(protocol(
            r#"{"slots": 16384, "hash": "crc16-xmodem", "partitions": [{"id": 0, "port": null, "slots": [[0, 16383]]}]}"#
        ));
        assert!(protocol(
            r#"{"slots": 16384, "hash": "crc16-xmodem", "partitions": [{"id": 0, "port": 1, "slots": [[0]]}]}"#
        ));
        assert!(protocol(
            r#"{"slots": 16384, "hash": "crc16-xmodem", "partitions": [{"id": 0, "port": 1, "slots": [[0, 70000]]}]}"#
        ));
        assert!(matches!(
            topology(
                r#"{"slots": 16384, "hash": "crc16-xmodem", "partitions": [{"id": 0, "port": 1, "slots": [[0, 100]]}]}"#
            ),
            Err(Error::Topology(TopologyError::SlotUncovered(101)))
        ));
        assert!(matches!(
            topology(r#"{"slots": 16384, "hash": "crc16-xmodem", "partitions": []}"#),
            Err(Error::Topology(TopologyError::NoPartitions))
        ));
    }
}
