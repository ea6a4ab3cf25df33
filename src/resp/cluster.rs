//! `CLUSTER …` replies: every worker presented as a master node that owns
//! its partition's slots and listens on its core port, so cluster-aware
//! clients send each key straight to the core that owns it.

use super::encode;
use corekv_router::{PartitionInfo, Topology, SLOT_COUNT};

/// A stable 40-hex-digit node id for a partition: derived from its core
/// port and index, so it survives restarts with the same configuration.
pub fn node_id(p: &PartitionInfo) -> String {
    format!("c07e{:020x}{:08x}{:08x}", 0, p.port.unwrap_or(0), p.id)
}

fn port(p: &PartitionInfo) -> u16 {
    p.port.unwrap_or(0)
}

/// `CLUSTER SLOTS`: `[start, end, [host, port, id]]` per slot range.
pub fn slots(out: &mut Vec<u8>, topology: &Topology, host: &str) {
    let ranges: usize = topology.partitions().iter().map(|p| p.slots.len()).sum();
    encode::array(out, ranges);
    for p in topology.partitions() {
        for r in &p.slots {
            encode::array(out, 3);
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
            encode::array(out, 3);
            encode::bulk(out, host.as_bytes());
            encode::int(out, i64::from(port(p)));
            encode::bulk(out, node_id(p).as_bytes());
        }
    }
}

/// `CLUSTER SHARDS`: one shard (one master, no replicas) per partition.
pub fn shards(out: &mut Vec<u8>, topology: &Topology, host: &str) {
    encode::array(out, topology.len());
    for p in topology.partitions() {
        encode::array(out, 4);
        encode::bulk(out, b"slots");
        encode::array(out, p.slots.len() * 2);
        for r in &p.slots {
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
        }
        encode::bulk(out, b"nodes");
        encode::array(out, 1);
        let fields: [(&str, NodeField); 8] = [
            ("id", NodeField::Str(node_id(p))),
            ("port", NodeField::Int(i64::from(port(p)))),
            ("ip", NodeField::Str(host.to_string())),
            ("endpoint", NodeField::Str(host.to_string())),
            ("role", NodeField::Str("master".into())),
            ("replication-offset", NodeField::Int(0)),
            ("health", NodeField::Str("online".into())),
            ("hostname", NodeField::Str(String::new())),
        ];
        encode::array(out, fields.len() * 2);
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

/// `CLUSTER NODES`: the text table, one line per node; `myself` marks the
/// worker serving this connection.
pub fn nodes(topology: &Topology, host: &str, myself: usize) -> String {
    let mut s = String::new();
    for p in topology.partitions() {
        let flags = if p.id == myself {
            "myself,master"
        } else {
            "master"
        };
        let bus = u32::from(port(p)) + 10000;
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
            port(p),
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
        let s = nodes(&topo(), "127.0.0.1", 1);
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
        slots(&mut out, &topo(), "h");
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("*2\r\n*3\r\n:0\r\n:8191\r\n*3\r\n$1\r\nh\r\n:7001\r\n$40\r\n"),
            "{s}"
        );
    }
}
