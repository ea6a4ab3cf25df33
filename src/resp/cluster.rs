//! `CLUSTER …` replies: every worker presented as a master node that owns
//! its partition's slots and listens on its core port, so cluster-aware
//! clients send each key straight to the core that owns it.
//!
//! With TLS core ports (`--tls-cluster`), SLOTS and NODES give a client the
//! ports of its own kind (TLS to TLS clients, plain to plain ones), and
//! SHARDS lists both as `port` and `tls-port`, as Redis 7 does.

use super::encode::{self, Proto};
use corekv_router::{PartitionInfo, Topology, SLOT_COUNT};

/// A stable 40-hex-digit node id for a partition: derived from its core
/// port and index, so it survives restarts with the same configuration.
pub fn node_id(p: &PartitionInfo) -> String {
    format!("c07e{:020x}{:08x}{:08x}", 0, p.port.unwrap_or(0), p.id)
}

/// Partition `p`'s port in `ports` (one per partition), 0 if none.
fn port(ports: &[u16], p: &PartitionInfo) -> u16 {
    ports.get(p.id).copied().unwrap_or(0)
}

/// `CLUSTER SLOTS`: `[start, end, [host, port, id]]` per slot range, with
/// `ports` the core ports for this client's kind of connection.
pub fn slots(out: &mut Vec<u8>, topology: &Topology, host: &str, ports: &[u16]) {
    let ranges: usize = topology.partitions().iter().map(|p| p.slots.len()).sum();
    encode::array(out, ranges);
    for p in topology.partitions() {
        for r in &p.slots {
            encode::array(out, 3);
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
            encode::array(out, 3);
            encode::bulk(out, host.as_bytes());
            encode::int(out, i64::from(port(ports, p)));
            encode::bulk(out, node_id(p).as_bytes());
        }
    }
}

/// `CLUSTER SHARDS`: one shard (one master, no replicas) per partition;
/// `port` is the plain core port (left out when the plain ports are off),
/// `tls-port` the TLS one (only with TLS core ports).
pub fn shards(
    out: &mut Vec<u8>,
    proto: Proto,
    topology: &Topology,
    host: &str,
    plain: &[u16],
    tls: &[u16],
) {
    encode::array(out, topology.len());
    for p in topology.partitions() {
        encode::map(out, 2, proto);
        encode::bulk(out, b"slots");
        encode::array(out, p.slots.len() * 2);
        for r in &p.slots {
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
        }
        encode::bulk(out, b"nodes");
        encode::array(out, 1);
        let mut fields: Vec<(&str, NodeField)> = vec![("id", NodeField::Str(node_id(p)))];
        if let Some(&port) = plain.get(p.id) {
            fields.push(("port", NodeField::Int(i64::from(port))));
        }
        if let Some(&port) = tls.get(p.id) {
            fields.push(("tls-port", NodeField::Int(i64::from(port))));
        }
        fields.extend([
            ("ip", NodeField::Str(host.to_string())),
            ("endpoint", NodeField::Str(host.to_string())),
            ("role", NodeField::Str("master".into())),
            ("replication-offset", NodeField::Int(0)),
            ("health", NodeField::Str("online".into())),
            ("hostname", NodeField::Str(String::new())),
        ]);
        encode::map(out, fields.len(), proto);
        for (name, value) in fields {
            encode::bulk(out, name.as_bytes());
            match value {
                NodeField::Str(s) => encode::bulk(out, s.as_bytes()),
                NodeField::Int(n) => encode::int(out, n),
            }
        }
    }
}

enum NodeField {
    Str(String),
    Int(i64),
}

/// `CLUSTER NODES`: the text table, one line per node, with `ports` the
/// core ports for this client's kind of connection; `myself` marks the
/// worker serving this connection.
pub fn nodes(topology: &Topology, host: &str, ports: &[u16], myself: usize) -> String {
    let mut s = String::new();
    for p in topology.partitions() {
        let flags = if p.id == myself {
            "myself,master"
        } else {
            "master"
        };
        let bus = u32::from(port(ports, p)) + 10000;
        let bus = if bus > 65535 { 0 } else { bus };
        let ranges: Vec<String> = p
            .slots
            .iter()
            .map(|r| {
                if r.start == r.end {
                    r.start.to_string()
                } else {
                    r.to_string()
                }
            })
            .collect();
        s.push_str(&format!(
            "{} {host}:{}@{bus} {flags} - 0 0 {} connected {}\n",
            node_id(p),
            port(ports, p),
            p.id + 1,
            ranges.join(" ")
        ));
    }
    s
}

/// `CLUSTER INFO`.
pub fn info(topology: &Topology, myself: usize) -> String {
    let n = topology.len();
    format!(
        "cluster_state:ok\r\ncluster_slots_assigned:{SLOT_COUNT}\r\ncluster_slots_ok:{SLOT_COUNT}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{n}\r\n\
         cluster_size:{n}\r\ncluster_current_epoch:{n}\r\ncluster_my_epoch:{}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        myself + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology::even(2)
            .unwrap()
            .with_ports(&[7001, 7002])
            .unwrap()
    }

    #[test]
    fn ids_are_stable_40_hex() {
        let t = topo();
        let id = node_id(&t.partitions()[1]);
        assert_eq!(id.len(), 40);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, node_id(&topo().partitions()[1]));
        assert_ne!(id, node_id(&t.partitions()[0]));
    }

    #[test]
    fn nodes_table() {
        let s = nodes(&topo(), "127.0.0.1", &[7001, 7002], 1);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with(" 127.0.0.1:7001@17001 master - 0 0 1 connected 0-8191"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains(" myself,master "), "{}", lines[1]);
    }

    #[test]
    fn slots_reply() {
        let mut out = Vec::new();
        slots(&mut out, &topo(), "h", &[7001, 7002]);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("*2\r\n*3\r\n:0\r\n:8191\r\n*3\r\n$1\r\nh\r\n:7001\r\n$40\r\n"),
            "{s}"
        );
        let mut out = Vec::new();
        slots(&mut out, &topo(), "h", &[8001, 8002]);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains(":8002\r\n") && !s.contains(":7002"), "{s}");
    }

    #[test]
    fn shards_list_plain_and_tls_ports() {
        let text = |plain: &[u16], tls: &[u16]| {
            let mut out = Vec::new();
            shards(&mut out, Proto::V2, &topo(), "h", plain, tls);
            String::from_utf8(out).unwrap()
        };
        let both = text(&[7001, 7002], &[8001, 8002]);
        assert!(
            both.contains("$4\r\nport\r\n:7002\r\n$8\r\ntls-port\r\n:8002\r\n$2\r\nip\r\n"),
            "{both}"
        );
        assert!(both.contains("*18\r\n"), "nine fields: {both}");
        let plain = text(&[7001, 7002], &[]);
        assert!(
            !plain.contains("tls-port") && plain.contains("*16\r\n"),
            "{plain}"
        );
        let tls_only = text(&[], &[8001, 8002]);
        assert!(!tls_only.contains("$4\r\nport"), "{tls_only}");
    }
}
