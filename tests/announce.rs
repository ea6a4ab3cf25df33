//! What the server advertises to cluster-aware clients behind address or
//! port translation (published container ports, NodePorts, NAT):
//! `--announce-host` and `--announce-port-base`.

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::resp::{RespConn, Value};

#[test]
fn cluster_replies_advertise_the_announced_host_and_ports() {
    let mut config = common::config(2);
    config.announce_host = Some("10.1.2.3".into());
    config.announce_port_base = Some(30000);
    let server = common::start_with(&config);
    let mut c = RespConn::connect(server.shared_addr());
    let Value::Array(ranges) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS is an array");
    };
    let nodes: Vec<(String, i64)> = ranges
        .iter()
        .map(|r| match r {
            Value::Array(r) => match &r[2] {
                Value::Array(node) => match (&node[0], &node[1]) {
                    (Value::Bulk(h), Value::Int(p)) => (String::from_utf8_lossy(h).into(), *p),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("10.1.2.3".to_string(), 30000),
            ("10.1.2.3".to_string(), 30001)
        ]
    );
    let Value::Bulk(text) = c.cmd(&["CLUSTER", "NODES"]) else {
        panic!("CLUSTER NODES is a bulk string");
    };
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("10.1.2.3:30000@") && text.contains("10.1.2.3:30001@"),
        "{text}"
    );
    // The bound core ports still serve.
    let mut direct = RespConn::connect(server.core_addrs()[1]);
    assert_eq!(direct.cmd(&["PING"]), Value::Simple("PONG".into()));
}

#[test]
fn topology_advertises_the_announced_shared_port() {
    let mut config = common::config(2);
    config.announce_shared_port = Some(31888);
    config.announce_port_base = Some(31889);
    let server = common::start_with(&config);
    let mut c = common::Client::connect(server.shared_addr());
    let v: serde_json::Value = serde_json::from_str(&c.cmd("TOPOLOGY")).unwrap();
    assert_eq!(v["result"]["shared_port"], 31888, "{v}");
    assert_eq!(v["result"]["partitions"][1]["port"], 31890, "{v}");
}

#[test]
fn an_announced_port_range_past_65535_is_refused_at_start() {
    let mut args = EPHEMERAL_2.to_vec();
    args.extend(["--announce-port-base", "65535"]);
    let mut kv = Corekv::spawn(&args);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("--announce-port-base 65535 with 2 workers passes port 65535"),
        "{log}"
    );
}
