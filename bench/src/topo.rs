//! Reading a server's topology once, before the load starts: `TOPOLOGY` on
//! the text protocol, `CLUSTER SLOTS` on RESP. Blocking std I/O; set-up only.

use crate::proto::{decode_resp, Protocol, Value};
use anyhow::{anyhow, bail, Context, Result};
use corekv_router::resp::request;
use corekv_router::{PartitionInfo, SlotRange, Topology};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Asks `host:port` for its topology. Every partition of the result has a port.
pub fn fetch(host: &str, port: u16, protocol: Protocol) -> Result<Topology> {
    let mut stream =
        TcpStream::connect((host, port)).with_context(|| format!("connect to {host}:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    match protocol {
        Protocol::Text => {
            stream.write_all(b"TOPOLOGY\n")?;
            let mut line = String::new();
            BufReader::new(stream)
                .read_line(&mut line)
                .context("read TOPOLOGY response")?;
            parse_topology_json(&line)
        }
        Protocol::Resp => {
            stream.write_all(&request(&[b"CLUSTER", b"SLOTS"]))?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                if let Some((_, value)) = decode_resp(&buf)? {
                    return parse_cluster_slots(&value);
                }
                let n = stream
                    .read(&mut chunk)
                    .context("read CLUSTER SLOTS reply")?;
                if n == 0 {
                    bail!("connection closed before the CLUSTER SLOTS reply");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        Protocol::Memcache => bail!("memcached has no topology"),
    }
}

/// Parses a `TOPOLOGY` response line.
pub fn parse_topology_json(line: &str) -> Result<Topology> {
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).with_context(|| format!("TOPOLOGY answered {line:?}"))?;
    if v["status"] != "Ok" {
        bail!("TOPOLOGY answered {}", line.trim());
    }
    let parts = v["result"]["partitions"]
        .as_array()
        .ok_or_else(|| anyhow!("TOPOLOGY has no partitions: {}", line.trim()))?;
    let mut infos = Vec::with_capacity(parts.len());
    for p in parts {
        let num = |v: &serde_json::Value, what: &str| {
            v.as_u64()
                .ok_or_else(|| anyhow!("TOPOLOGY partition without a numeric {what}: {p}"))
        };
        let id = num(&p["id"], "id")? as usize;
        let port = u16::try_from(num(&p["port"], "port")?)?;
        let mut slots = Vec::new();
        for r in p["slots"].as_array().into_iter().flatten() {
            let start = u16::try_from(num(&r[0], "slot range")?)?;
            let end = u16::try_from(num(&r[1], "slot range")?)?;
            slots.push(SlotRange { start, end });
        }
        infos.push(PartitionInfo {
            id,
            slots,
            port: Some(port),
        });
    }
    Ok(Topology::from_partitions(infos)?)
}

/// Builds a topology from a `CLUSTER SLOTS` reply: one partition per master
/// port, numbered in port order.
pub fn parse_cluster_slots(value: &Value) -> Result<Topology> {
    let entries = match value {
        Value::Array(Some(e)) => e,
        Value::Error(e) => {
            bail!("CLUSTER SLOTS answered {e} (smart routing needs a cluster-mode server)")
        }
        other => bail!("unexpected CLUSTER SLOTS reply {other:?}"),
    };
    // (port, ranges)
    let mut masters: Vec<(u16, Vec<SlotRange>)> = Vec::new();
    for e in entries {
        let Value::Array(Some(fields)) = e else {
            bail!("bad CLUSTER SLOTS entry {e:?}");
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(Some(node)))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            bail!("bad CLUSTER SLOTS entry {e:?}");
        };
        let Some(Value::Int(port)) = node.get(1) else {
            bail!("CLUSTER SLOTS node without a port: {e:?}");
        };
        let range = SlotRange {
            start: u16::try_from(*start)?,
            end: u16::try_from(*end)?,
        };
        let port = u16::try_from(*port)?;
        match masters.iter_mut().find(|(p, _)| *p == port) {
            Some((_, ranges)) => ranges.push(range),
            None => masters.push((port, vec![range])),
        }
    }
    masters.sort_by_key(|(p, _)| *p);
    let infos = masters
        .into_iter()
        .enumerate()
        .map(|(id, (port, slots))| PartitionInfo {
            id,
            slots,
            port: Some(port),
        })
        .collect();
    Ok(Topology::from_partitions(infos)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_json() {
        let t = parse_topology_json(
            r#"{"status": "Ok", "result": {"slots": 16384, "hash": "crc16-xmodem", "shared_port": 9888, "partitions": [{"id": 1, "port": 9890, "slots": [[8192, 16383]]}, {"id": 0, "port": 9889, "slots": [[0, 8191]]}]}}"#,
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.partition(0).unwrap().port, Some(9889));
        assert_eq!(t.partition(1).unwrap().port, Some(9890));
        assert_eq!(t.partition_of_slot(8192), 1);
        assert!(parse_topology_json(r#"{"status": "Error", "mesg": "unknown command"}"#).is_err());
        assert!(parse_topology_json("garbage").is_err());
    }

    #[test]
    fn cluster_slots() {
        let node = |port| {
            Value::Array(Some(vec![
                Value::Bulk(Some(b"127.0.0.1".to_vec())),
                Value::Int(port),
                Value::Bulk(Some(b"x".to_vec())),
            ]))
        };
        let entry = |a, b, port| Value::Array(Some(vec![Value::Int(a), Value::Int(b), node(port)]));
        let t = parse_cluster_slots(&Value::Array(Some(vec![
            entry(8192, 16383, 7001),
            entry(0, 99, 7000),
            entry(100, 8191, 7000),
        ])))
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.partition(0).unwrap().port, Some(7000));
        assert_eq!(t.partition_of_slot(150), 0);
        assert_eq!(t.partition_of_slot(9000), 1);
        let err = parse_cluster_slots(&Value::Error(
            "ERR This instance has cluster support disabled".into(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("cluster"));
    }
}
