//! The Rust `redis` crate over RESP3 (`?protocol=resp3`: it sends
//! `HELLO 3` on connect) against a 4-worker server: plain commands,
//! pipelines, `MULTI`/`EXEC` and `WATCH` across partitions, and the cluster
//! client, all decoding RESP3 replies (nulls, maps, verbatim strings).

mod common;

use corekv::Server;
use redis::cluster::ClusterClient;
use redis::{Commands, Connection, ProtocolVersion, Value};
use std::net::SocketAddr;
use std::time::Duration;

const WORKERS: u16 = 4;
/// Guard against a reply that never comes (turns a hang into a failure).
const TIMEOUT: Duration = Duration::from_secs(30);

fn connect(addr: SocketAddr) -> Connection {
    let client = redis::Client::open(format!("redis://{addr}/?protocol=resp3")).expect("client");
    let con = client
        .get_connection_with_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    con.set_read_timeout(Some(TIMEOUT)).unwrap();
    con.set_write_timeout(Some(TIMEOUT)).unwrap();
    con
}

/// Two keys on every partition.
fn keys(server: &Server, prefix: &str) -> Vec<String> {
    common::keys_by_partition(server.topology(), prefix, 2)
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn the_connection_speaks_resp3() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    // HELLO without a version reports the current one, as a map.
    let hello: Value = redis::cmd("HELLO").query(&mut con).unwrap();
    let Value::Map(fields) = hello else {
        panic!("HELLO over RESP3 is a map: {hello:?}");
    };
    let proto = fields
        .iter()
        .find(|(k, _)| matches!(k, Value::BulkString(b) if b == b"proto"))
        .map(|(_, v)| v.clone());
    assert_eq!(proto, Some(Value::Int(3)));
    // A null is RESP3's null, which the crate decodes as Nil.
    let missing: Value = redis::cmd("GET")
        .arg("no-such-key")
        .query(&mut con)
        .unwrap();
    assert_eq!(missing, Value::Nil);
    let config: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert!(matches!(config, Value::Map(_)), "{config:?}");
    let info: Value = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(matches!(info, Value::VerbatimString { .. }), "{info:?}");
}

#[test]
fn strings_and_multi_key_commands_across_partitions() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let k = keys(&server, "r3:");
    let pairs: Vec<(&str, String)> = k
        .iter()
        .map(|key| (key.as_str(), format!("v-{key}")))
        .collect();
    let () = con.mset(&pairs).unwrap();
    let mut asked: Vec<&str> = k.iter().map(String::as_str).collect();
    asked.push("r3:missing");
    let got: Vec<Option<String>> = con.mget(&asked).unwrap();
    assert_eq!(got.len(), k.len() + 1);
    for (key, value) in k.iter().zip(&got) {
        assert_eq!(value.as_deref(), Some(format!("v-{key}").as_str()));
    }
    assert_eq!(got.last(), Some(&None));
    assert_eq!(con.exists::<_, usize>(&asked).unwrap(), k.len());
    assert_eq!(con.incr::<_, _, i64>("r3:n", 5).unwrap(), 5);
    let () = con.expire("r3:n", 100).unwrap();
    let ttl: i64 = con.ttl("r3:n").unwrap();
    assert!((1..=100).contains(&ttl), "{ttl}");
    let old: Option<String> = redis::cmd("SET")
        .arg("r3:n")
        .arg("x")
        .arg("NX")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    assert_eq!(old.as_deref(), Some("5"));
    assert_eq!(con.del::<_, usize>(&asked).unwrap(), k.len());
}

#[test]
fn pipelines_transactions_and_watch() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let k = keys(&server, "r3t:");
    // A pipeline over every partition.
    let mut pipe = redis::pipe();
    for key in &k {
        pipe.set(key, 1).ignore().incr(key, 1);
    }
    let counts: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(counts, vec![2; k.len()]);
    // MULTI/EXEC across partitions.
    let mut tx = redis::pipe();
    tx.atomic();
    for key in &k {
        tx.incr(key, 10);
    }
    tx.get("r3t:none");
    let (values, none): (Vec<i64>, Option<String>) = {
        let mut all: Vec<Value> = tx.query(&mut con).unwrap();
        let none = redis::from_redis_value(all.pop().unwrap()).unwrap();
        (redis::from_redis_value(Value::Array(all)).unwrap(), none)
    };
    assert_eq!(values, vec![12; k.len()]);
    assert_eq!(none, None);
    // WATCH: a write from another connection makes EXEC answer null.
    let mut other = connect(server.shared_addr());
    let () = redis::cmd("WATCH")
        .arg(&k[0])
        .arg(&k[k.len() - 1])
        .query(&mut con)
        .unwrap();
    let () = other.set(&k[k.len() - 1], "changed").unwrap();
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr(&k[0], 1)
        .query(&mut con)
        .unwrap();
    assert_eq!(result, None, "EXEC after a watched key changed");
    assert_eq!(con.get::<_, i64>(&k[0]).unwrap(), 12, "nothing applied");
}

#[test]
fn cluster_client_over_resp3() {
    let server = common::start(WORKERS);
    let seeds: Vec<String> = server
        .core_addrs()
        .iter()
        .map(|a| format!("redis://{a}/"))
        .collect();
    let client = ClusterClient::builder(seeds)
        .use_protocol(ProtocolVersion::RESP3)
        .connection_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .build()
        .expect("cluster client");
    let mut con = client.get_connection().expect("cluster connection");
    let k = keys(&server, "r3c:");
    for key in &k {
        let () = con.set(key, key).unwrap();
    }
    for key in &k {
        assert_eq!(con.get::<_, String>(key).unwrap(), *key);
    }
    assert_eq!(con.get::<_, Option<String>>("r3c:missing").unwrap(), None);
}
