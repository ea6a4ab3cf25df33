//! `CLUSTER …` replies: every worker presented as a master node that owns
//! its partition's slots and listens on its core port, so cluster-aware
//! clients send each key straight to the core that owns it. With several
//! pods (`--cluster-size`), every pod's workers are nodes, each at its
//! pod's address (`--cluster-peers`).
//!
//! With TLS core ports (`--tls-cluster`), SLOTS and NODES give a client the
//! ports of its own kind (TLS to TLS clients, plain to plain ones), and
//! SHARDS lists both as `port` and `tls-port`, as Redis 7 does.

use super::encode::{self, Proto};
use corekv_router::{PartitionInfo, SlotRange, Topology, SLOT_COUNT};

/// One node (a worker of some pod) as the `CLUSTER` replies show it.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub host: String,
    /// The port for this client's kind of connection (0: none).
    pub port: u16,
    /// The plain and TLS core ports, when on.
    pub plain: Option<u16>,
    pub tls: Option<u16>,
    pub slots: Vec<SlotRange>,
    /// Its config epoch (its global index + 1).
    pub epoch: usize,
    pub myself: bool,
}

/// A stable 40-hex-digit node id for worker `p` of pod `pod`: derived from
/// the pod, its core port and index, so it survives restarts with the same
/// configuration and every pod computes the same id for it.
pub fn node_id(pod: usize, p: &PartitionInfo) -> String {
    format!("c07e{:020x}{:08x}{:08x}", pod, p.port.unwrap_or(0), p.id)
}

/// The nodes of a single-pod server: its workers, at `host`; `mine` are
/// the core ports for this client's kind of connection.
pub fn local_nodes(
    topology: &Topology,
    host: &str,
    mine: &[u16],
    plain: &[u16],
    tls: &[u16],
    myself: usize,
) -> Vec<Node> {
    topology
        .partitions()
        .iter()
        .map(|p| Node {
            id: node_id(0, p),
            host: host.to_string(),
            port: mine.get(p.id).copied().unwrap_or(0),
            plain: plain.get(p.id).copied(),
            tls: tls.get(p.id).copied(),
            slots: p.slots.clone(),
            epoch: p.id + 1,
            myself: p.id == myself,
        })
        .collect()
}

/// The nodes of a cluster of pods: every pod's workers at their pod's
/// address; `myself` is this connection's worker, as a global index.
pub fn cluster_nodes(map: &crate::cluster::ClusterMap, myself: usize) -> Vec<Node> {
    map.global
        .partitions()
        .iter()
        .map(|p| {
            let (host, port) = map.addr_of(p.id);
            let local = PartitionInfo {
                id: p.id % map.workers,
                slots: Vec::new(),
                port: p.port,
            };
            Node {
                id: node_id(p.id / map.workers, &local),
                host: host.to_string(),
                port,
                plain: Some(port),
                tls: None,
                slots: p.slots.clone(),
                epoch: p.id + 1,
                myself: p.id == myself,
            }
        })
        .collect()
}

/// `CLUSTER SLOTS`: `[start, end, [host, port, id]]` per slot range.
pub fn slots(out: &mut Vec<u8>, nodes: &[Node]) {
    let ranges: usize = nodes.iter().map(|n| n.slots.len()).sum();
    encode::array(out, ranges);
    for n in nodes {
        for r in &n.slots {
            encode::array(out, 3);
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
            encode::array(out, 3);
            encode::bulk(out, n.host.as_bytes());
            encode::int(out, i64::from(n.port));
            encode::bulk(out, n.id.as_bytes());
        }
    }
}

/// `CLUSTER SHARDS`: one shard (one master, no replicas) per node; `port`
/// is the plain core port (left out when the plain ports are off),
/// `tls-port` the TLS one (only with TLS core ports).
pub fn shards(out: &mut Vec<u8>, proto: Proto, nodes: &[Node]) {
    encode::array(out, nodes.len());
    for n in nodes {
        encode::map(out, 2, proto);
        encode::bulk(out, b"slots");
        encode::array(out, n.slots.len() * 2);
        for r in &n.slots {
            encode::int(out, i64::from(r.start));
            encode::int(out, i64::from(r.end));
        }
        encode::bulk(out, b"nodes");
        encode::array(out, 1);
        let mut fields: Vec<(&str, NodeField)> = vec![("id", NodeField::Str(n.id.clone()))];
        if let Some(port) = n.plain {
            fields.push(("port", NodeField::Int(i64::from(port))));
        }
        if let Some(port) = n.tls {
            fields.push(("tls-port", NodeField::Int(i64::from(port))));
        }
        fields.extend([
            ("ip", NodeField::Str(n.host.clone())),
            ("endpoint", NodeField::Str(n.host.clone())),
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

/// `CLUSTER NODES`: the text table, one line per node.
pub fn nodes(nodes: &[Node]) -> String {
    let mut s = String::new();
    for n in nodes {
        let flags = if n.myself { "myself,master" } else { "master" };
        let bus = u32::from(n.port) + 10000;
        let bus = if bus > 65535 { 0 } else { bus };
        let ranges: Vec<String> = n
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
            "{} {}:{}@{bus} {flags} - 0 0 {} connected {}\n",
            n.id,
            n.host,
            n.port,
            n.epoch,
            ranges.join(" ")
        ));
    }
    s
}

/// `CLUSTER INFO`.
pub fn info(nodes: &[Node]) -> String {
    let n = nodes.len();
    let mine = nodes.iter().find(|n| n.myself).map_or(0, |n| n.epoch);
    format!(
        "cluster_state:ok\r\ncluster_slots_assigned:{SLOT_COUNT}\r\ncluster_slots_ok:{SLOT_COUNT}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{n}\r\n\
         cluster_size:{n}\r\ncluster_current_epoch:{n}\r\ncluster_my_epoch:{mine}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n"
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

    fn two(mine: &[u16], plain: &[u16], tls: &[u16], myself: usize) -> Vec<Node> {
        local_nodes(&topo(), "h", mine, plain, tls, myself)
    }

    #[test]
    fn ids_are_stable_40_hex() {
        let t = topo();
        let id = node_id(0, &t.partitions()[1]);
        assert_eq!(id.len(), 40);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, node_id(0, &topo().partitions()[1]));
        assert_ne!(id, node_id(0, &t.partitions()[0]));
        assert_ne!(id, node_id(1, &t.partitions()[1]));
    }

    #[test]
    fn nodes_table() {
        let s = nodes(&local_nodes(
            &topo(),
            "127.0.0.1",
            &[7001, 7002],
            &[7001, 7002],
            &[],
            1,
        ));
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
        slots(&mut out, &two(&[7001, 7002], &[7001, 7002], &[], 0));
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("*2\r\n*3\r\n:0\r\n:8191\r\n*3\r\n$1\r\nh\r\n:7001\r\n$40\r\n"),
            "{s}"
        );
        let mut out = Vec::new();
        slots(
            &mut out,
            &two(&[8001, 8002], &[7001, 7002], &[8001, 8002], 0),
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains(":8002\r\n") && !s.contains(":7002"), "{s}");
    }

    #[test]
    fn shards_list_plain_and_tls_ports() {
        let text = |plain: &[u16], tls: &[u16]| {
            let mut out = Vec::new();
            shards(&mut out, Proto::V2, &two(plain, plain, tls, 0));
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

    #[test]
    fn a_cluster_lists_every_pods_workers() {
        let map = crate::cluster::ClusterMap::new(3, Some(1), Some("a:7000,b:7100,c:7200"), 2, 1)
            .unwrap()
            .unwrap();
        let all = cluster_nodes(&map, 3);
        assert_eq!(all.len(), 6);
        assert_eq!((all[5].host.as_str(), all[5].port), ("c", 7201));
        assert!(all[3].myself && !all[2].myself);
        let ids: std::collections::HashSet<_> = all.iter().map(|n| n.id.clone()).collect();
        assert_eq!(ids.len(), 6);
        let text = info(&all);
        assert!(
            text.contains("cluster_known_nodes:6\r\n") && text.contains("cluster_my_epoch:4\r\n")
        );
    }
}
