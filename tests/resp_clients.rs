//! Redis compatibility through the Rust `redis` crate (sync API) against an
//! in-process 4-worker server: plain commands, pipelines, MULTI/EXEC,
//! WATCH across partitions, the cluster client's routing (checked with
//! `INFO workers`), and the atomicity of multi-key commands that span every
//! partition under concurrent readers.

mod common;

use common::resp::{worker_stats, RespConn, Value, WorkerStats};
use common::Rng;
use corekv::Server;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Commands, Connection, RedisResult};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: u16 = 4;
/// Guard against a reply that never comes (turns a hang into a failure).
const TIMEOUT: Duration = Duration::from_secs(30);

fn url(addr: SocketAddr) -> String {
    format!("redis://{addr}/")
}

fn connect(addr: SocketAddr) -> Connection {
    let client = redis::Client::open(url(addr)).expect("client");
    let con = client
        .get_connection_with_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    con.set_read_timeout(Some(TIMEOUT)).unwrap();
    con.set_write_timeout(Some(TIMEOUT)).unwrap();
    con
}

fn keys(server: &Server, prefix: &str, per: usize) -> Vec<Vec<String>> {
    common::keys_by_partition(server.topology(), prefix, per)
}

fn flat(keys: &[Vec<String>]) -> Vec<String> {
    keys.iter().flatten().cloned().collect()
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: RedisResult<T>, contains: &str) {
    match r {
        Ok(v) => panic!("expected an error containing {contains:?}, got {v:?}"),
        Err(e) => assert!(
            e.to_string().contains(contains),
            "expected an error containing {contains:?}, got {e}"
        ),
    }
}

#[test]
fn plain_commands() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let k = flat(&keys(&server, "plain:", 2));

    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = redis::cmd("ECHO").arg("hi").query(&mut con).unwrap();
    assert_eq!(echo, "hi");

    let () = con.set(&k[0], "v0").unwrap();
    assert_eq!(
        con.get::<_, Option<String>>(&k[0]).unwrap().as_deref(),
        Some("v0")
    );
    assert_eq!(con.get::<_, Option<String>>("plain:none").unwrap(), None);
    // Binary values round-trip.
    let bin: Vec<u8> = (0..=255).collect();
    let () = con.set(&k[1], &bin[..]).unwrap();
    assert_eq!(con.get::<_, Vec<u8>>(&k[1]).unwrap(), bin);

    assert!(!con.set_nx::<_, _, bool>(&k[0], "x").unwrap());
    assert!(con.set_nx::<_, _, bool>(&k[2], "nx").unwrap());
    let opts = redis::SetOptions::default()
        .conditional_set(redis::ExistenceCheck::XX)
        .get(true);
    let old: Option<String> = con.set_options(&k[2], "xx", opts).unwrap();
    assert_eq!(old.as_deref(), Some("nx"));
    let opts = redis::SetOptions::default().conditional_set(redis::ExistenceCheck::XX);
    let set: Option<String> = con.set_options("plain:absent", "xx", opts).unwrap();
    assert_eq!(set, None, "SET XX on an absent key");
    let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::EX(10));
    let set: Option<String> = con.set_options(&k[0], "ttl", opts).unwrap();
    assert_eq!(set.as_deref(), Some("OK"));
    let ttl: i64 = con.ttl(&k[0]).unwrap();
    assert!((9..=10).contains(&ttl), "TTL {ttl}");
    assert_eq!(
        con.get_del::<_, Option<String>>(&k[2]).unwrap().as_deref(),
        Some("xx")
    );
    assert_eq!(con.get_del::<_, Option<String>>(&k[2]).unwrap(), None);

    // Multi-key commands over every partition.
    let pairs: Vec<(String, String)> = k.iter().map(|k| (k.clone(), format!("m-{k}"))).collect();
    let () = con.mset(&pairs).unwrap();
    let got: Vec<Option<String>> = con.mget(&k).unwrap();
    assert_eq!(
        got,
        pairs.iter().map(|p| Some(p.1.clone())).collect::<Vec<_>>()
    );
    assert_eq!(con.exists::<_, usize>(&k).unwrap(), k.len());
    let fresh = flat(&keys(&server, "plainnx:", 1));
    let fresh_pairs: Vec<(&str, &str)> = fresh.iter().map(|k| (k.as_str(), "1")).collect();
    assert!(con.mset_nx::<_, _, bool>(&fresh_pairs).unwrap());
    let mut blocked = vec![("plainnx:other", "2")];
    blocked.push((&fresh[3], "2"));
    assert!(!con.mset_nx::<_, _, bool>(&blocked).unwrap());
    assert!(!con.exists::<_, bool>("plainnx:other").unwrap());
    assert_eq!(con.del::<_, usize>(&k[..4]).unwrap(), 4);
    assert_eq!(con.unlink::<_, usize>(&k).unwrap(), k.len() - 4);
    assert_eq!(con.exists::<_, usize>(&k).unwrap(), 0);

    // Counters.
    assert_eq!(con.incr::<_, _, i64>("plain:ctr", 1).unwrap(), 1);
    assert_eq!(con.incr::<_, _, i64>("plain:ctr", 41).unwrap(), 42);
    assert_eq!(con.decr::<_, _, i64>("plain:ctr", 50).unwrap(), -8);
    let () = con.set("plain:str", "abc").unwrap();
    expect_err(
        con.incr::<_, _, i64>("plain:str", 1),
        "value is not an integer or out of range",
    );
    let () = con.set("plain:max", i64::MAX).unwrap();
    expect_err(con.incr::<_, _, i64>("plain:max", 1), "overflow");

    // APPEND / STRLEN / TYPE.
    assert_eq!(con.append::<_, _, usize>("plain:app", "Hello").unwrap(), 5);
    assert_eq!(
        con.append::<_, _, usize>("plain:app", " World").unwrap(),
        11
    );
    assert_eq!(con.strlen::<_, usize>("plain:app").unwrap(), 11);
    let t: String = redis::cmd("TYPE").arg("plain:app").query(&mut con).unwrap();
    assert_eq!(t, "string");
    let t: String = redis::cmd("TYPE")
        .arg("plain:none")
        .query(&mut con)
        .unwrap();
    assert_eq!(t, "none");

    // Keyspace: DBSIZE, KEYS, SCAN through the crate's iterator.
    let () = con.flushall().unwrap();
    let many: Vec<(String, usize)> = (0..300).map(|i| (format!("scanme:{i}"), i)).collect();
    let () = con.mset(&many).unwrap();
    let () = con.set("other", 1).unwrap();
    let n: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 301);
    let listed: HashSet<String> = con.keys("scanme:*").unwrap();
    assert_eq!(listed.len(), 300);
    let scanned: HashSet<String> = con
        .scan_match::<_, String>("scanme:*")
        .unwrap()
        .map(|k| k.expect("scan item"))
        .collect();
    assert_eq!(scanned, listed);

    // CLIENT
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("rust-client")
        .query(&mut con)
        .unwrap();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name.as_deref(), Some("rust-client"));
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert!(id > 0);
}

#[test]
fn pipelines() {
    let server = common::start(WORKERS);
    let k = flat(&keys(&server, "pipe:", 3));
    for addr in common::all_addrs(&server) {
        let mut con = connect(addr);
        let mut pipe = redis::pipe();
        for (i, key) in k.iter().enumerate() {
            pipe.set(key, i).ignore();
        }
        pipe.get(&k[0])
            .incr(&k[1], 10)
            .mget(&k)
            .exists(&k)
            .del(&k[..2])
            .get(&k[0])
            .cmd("PING");
        #[allow(clippy::type_complexity)]
        let (g0, inc, all, exists, deleted, gone, pong): (
            String,
            i64,
            Vec<i64>,
            usize,
            usize,
            Option<String>,
            String,
        ) = pipe.query(&mut con).unwrap();
        assert_eq!(g0, "0");
        assert_eq!(inc, 11);
        let mut want: Vec<i64> = (0..k.len() as i64).collect();
        want[1] = 11;
        assert_eq!(all, want);
        assert_eq!(exists, k.len());
        assert_eq!(deleted, 2);
        assert_eq!(gone, None);
        assert_eq!(pong, "PONG");
    }

    // A deep pipeline: 5000 commands in one write, answered in order.
    let mut con = connect(server.shared_addr());
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("SET").arg(format!("deep:{i}")).arg(i).ignore();
    }
    for i in 0..5000 {
        pipe.get(format!("deep:{i}"));
    }
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(got, (0..5000).collect::<Vec<_>>());
}

#[test]
fn multi_exec_via_atomic_pipelines() {
    let server = common::start(WORKERS);
    let k = flat(&keys(&server, "atomic:", 1));
    let mut con = connect(server.shared_addr());
    let (a, b, got, n): (String, i64, Vec<Option<String>>, usize) = redis::pipe()
        .atomic()
        .set(&k[0], "a")
        .ignore()
        .set(&k[1], 5)
        .ignore()
        .mset(&[(&k[2], "c"), (&k[3], "d")])
        .ignore()
        .get(&k[0])
        .incr(&k[1], 2)
        .mget(&k)
        .exists(&k)
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b, n), ("a", 7, 4));
    assert_eq!(
        got,
        vec![
            Some("a".to_string()),
            Some("7".into()),
            Some("c".into()),
            Some("d".into())
        ]
    );
    // A command that fails at EXEC time does not undo the others (Redis
    // has no rollback); the crate reports the error.
    let r: RedisResult<()> = redis::pipe()
        .atomic()
        .set(&k[0], "x")
        .incr(&k[0], 1)
        .set(&k[3], "y")
        .query(&mut con);
    expect_err(r, "not an integer");
    let got: Vec<Option<String>> = con.mget(&[&k[0], &k[3]]).unwrap();
    assert_eq!(got, vec![Some("x".to_string()), Some("y".into())]);
    // The connection is still in sync afterwards.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// Two keys on different partitions, plus a third on yet another one.
fn watch_keys(server: &Server) -> (String, String, String) {
    let k = keys(server, "watch:", 1);
    (k[0][0].clone(), k[1][0].clone(), k[2][0].clone())
}

#[test]
fn watch_conflict_across_partitions_aborts_exec() {
    let server = common::start(WORKERS);
    let (k1, k2, k3) = watch_keys(&server);
    let topo = server.topology();
    assert_ne!(
        topo.partition_of_key(k1.as_bytes()),
        topo.partition_of_key(k2.as_bytes())
    );
    let mut a = connect(server.core_addrs()[3]);
    let mut b = connect(server.core_addrs()[1]);
    let () = b.set(&k2, "before").unwrap();
    let () = redis::cmd("WATCH").arg(&k1).arg(&k2).query(&mut a).unwrap();
    let () = b.set(&k2, "changed").unwrap();
    let r: Option<(String, String)> = redis::pipe()
        .atomic()
        .set(&k1, "from-a")
        .set(&k3, "from-a")
        .query(&mut a)
        .expect("EXEC after a conflicting write (a read timeout means a malformed EXEC reply)");
    assert_eq!(r, None, "EXEC must return nil when a watched key changed");
    let got: Vec<Option<String>> = b.mget(&[&k1, &k2, &k3]).unwrap();
    assert_eq!(got, vec![None, Some("changed".to_string()), None]);
    let pong: String = redis::cmd("PING").query(&mut a).unwrap();
    assert_eq!(pong, "PONG", "connection A still in sync");
}

#[test]
fn watch_without_conflict_applies_exec() {
    let server = common::start(WORKERS);
    let (k1, k2, k3) = watch_keys(&server);
    let mut a = connect(server.shared_addr());
    let mut b = connect(server.shared_addr());
    let () = redis::cmd("WATCH").arg(&k1).arg(&k2).query(&mut a).unwrap();
    // B writes keys that A does not watch, and reads the watched ones.
    let () = b.set(&k3, "from-b").unwrap();
    let _: Vec<Option<String>> = b.mget(&[&k1, &k2]).unwrap();
    let r: Option<(String, String)> = redis::pipe()
        .atomic()
        .set(&k1, "from-a")
        .set(&k3, "from-a")
        .query(&mut a)
        .unwrap();
    assert_eq!(r, Some(("OK".to_string(), "OK".to_string())));
    let got: Vec<Option<String>> = b.mget(&[&k1, &k3]).unwrap();
    assert_eq!(got, vec![Some("from-a".to_string()), Some("from-a".into())]);
    // EXEC forgot the watches: a later change does not affect A.
    let () = b.set(&k2, "later").unwrap();
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .set(&k1, "again")
        .query(&mut a)
        .unwrap();
    assert_eq!(r, Some(("OK".to_string(),)));
}

/// The raw bytes of the reply to an `EXEC` whose watch failed: Redis
/// answers a nil array, `*-1\r\n`, and nothing else.
#[test]
fn watch_conflict_exec_reply_is_a_nil_array() {
    let server = common::start(WORKERS);
    let (k1, k2, k3) = watch_keys(&server);
    let mut a = RespConn::connect(server.shared_addr());
    let mut b = RespConn::connect(server.core_addrs()[0]);
    assert_eq!(a.cmd(&["WATCH", &k1, &k2]), Value::ok());
    assert_eq!(b.cmd(&["SET", &k2, "changed"]), Value::ok());
    assert_eq!(a.cmd(&["MULTI"]), Value::ok());
    assert_eq!(a.cmd(&["SET", &k1, "x"]), Value::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["SET", &k3, "x"]), Value::Simple("QUEUED".into()));
    a.send(&["EXEC"]);
    a.send(&["PING"]);
    let header = a.read_line();
    assert_eq!(
        header, "*-1",
        "EXEC after a conflicting write must reply *-1"
    );
    assert_eq!(a.read(), Value::Simple("PONG".into()));
    assert_eq!(
        b.cmd(&["MGET", &k1, &k3]),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
}

/// What `MULTI` queues: key commands (moves included), `PING`, `ECHO`,
/// `UNWATCH`. The commands that need every partition at once, `MSETNX`,
/// and the server and connection commands are refused (README's
/// "Differences from Redis"; Redis queues them), `SHUTDOWN` with Redis's
/// own refusal; any refusal makes `EXEC` abort.
#[test]
fn multi_queues_key_commands_and_refuses_the_rest() {
    let server = common::start(WORKERS);
    let mut c = RespConn::connect(server.shared_addr());
    let queued = Value::Simple("QUEUED".into());
    let allowed: &[&[&str]] = &[
        &["PING"],
        &["ECHO", "x"],
        &["UNWATCH"],
        &["GET", "a"],
        &["MSET", "a", "1", "b", "2"],
        &["DEL", "a", "b"],
        &["RENAME", "a", "b"],
        &["COPY", "a", "b"],
        &["BITOP", "OR", "a", "b"],
    ];
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    for args in allowed {
        assert_eq!(c.cmd(args), queued, "{args:?}");
    }
    assert_eq!(c.cmd(&["DISCARD"]), Value::ok());
    let refused: &[&[&str]] = &[
        &["KEYS", "*"],
        &["DBSIZE"],
        &["FLUSHALL"],
        &["FLUSHDB"],
        &["SCAN", "0"],
        &["RANDOMKEY"],
        &["MSETNX", "a", "1"],
        &["AUTH", "x"],
        &["HELLO", "2"],
        &["SELECT", "0"],
        &["ACL", "WHOAMI"],
        &["CLIENT", "ID"],
        &["COMMAND", "COUNT"],
        &["CONFIG", "GET", "maxmemory"],
        &["INFO"],
        &["SLOWLOG", "LEN"],
        &["TIME"],
        &["MEMORY", "USAGE", "a"],
        &["OBJECT", "ENCODING", "a"],
        &["WAIT", "0", "0"],
        &["CLUSTER", "INFO"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
    ];
    for args in refused {
        assert_eq!(c.cmd(&["MULTI"]), Value::ok());
        let name = args[0].to_ascii_lowercase();
        let mesg = format!("ERR '{name}' is not allowed inside MULTI");
        assert_eq!(c.cmd(args), Value::Error(mesg), "{args:?}");
        assert_eq!(c.cmd(&["PING"]), queued);
        let abort = "EXECABORT Transaction discarded because of previous errors.";
        assert_eq!(c.cmd(&["EXEC"]), Value::Error(abort.into()), "{args:?}");
    }
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(
        c.cmd(&["SHUTDOWN", "NOSAVE"]),
        Value::Error("ERR Command not allowed inside a transaction".into())
    );
    assert_eq!(c.cmd(&["DISCARD"]), Value::ok());
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
}

/// Which writes by another connection abort a transaction watching a key,
/// as Redis decides it: any command that modified the key (even to the
/// same value, even through another partition's port or inside another
/// transaction) aborts; reads and writes that changed nothing do not.
#[test]
fn watch_is_invalidated_by_modifications_only() {
    let server = common::start(WORKERS);
    let by_part = keys(&server, "wsem:", 2);
    let wk = by_part[1][0].clone();
    let other1 = by_part[0][0].clone();
    let other2 = by_part[2][0].clone();
    let res = by_part[3][0].clone();
    type Cmds<'a> = Vec<Vec<&'a str>>;
    let cases: Vec<(&str, Cmds, Cmds, bool)> = vec![
        ("set absent key", vec![], vec![vec!["SET", &wk, "1"]], true),
        (
            "set same value",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["SET", &wk, "1"]],
            true,
        ),
        (
            "failed SETNX",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["SETNX", &wk, "2"]],
            false,
        ),
        ("DEL of absent key", vec![], vec![vec!["DEL", &wk]], false),
        (
            "MSET across partitions",
            vec![],
            vec![vec!["MSET", &other1, "x", &wk, "2", &other2, "y"]],
            true,
        ),
        (
            "another EXEC",
            vec![],
            vec![vec!["MULTI"], vec!["SET", &wk, "3"], vec!["EXEC"]],
            true,
        ),
        (
            "GETDEL",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["GETDEL", &wk]],
            true,
        ),
        (
            "INCR",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["INCR", &wk]],
            true,
        ),
        (
            "APPEND of nothing",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["APPEND", &wk, ""]],
            true,
        ),
        (
            "reads",
            vec![vec!["SET", &wk, "1"]],
            vec![
                vec!["GET", &wk],
                vec!["MGET", &other1, &wk],
                vec!["EXISTS", &wk],
            ],
            false,
        ),
        (
            "failed MSETNX",
            vec![vec!["SET", &wk, "1"], vec!["SET", &other2, "1"]],
            vec![vec!["MSETNX", &wk, "9", &other2, "9"]],
            false,
        ),
        (
            "failed SET XX",
            vec![],
            vec![vec!["SET", &wk, "1", "XX"]],
            false,
        ),
        (
            "FLUSHALL of the key",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["FLUSHALL"]],
            true,
        ),
        (
            "write to another key",
            vec![vec!["SET", &wk, "1"]],
            vec![vec!["SET", &other1, "1"], vec!["DEL", &other2]],
            false,
        ),
    ];
    let addrs = common::all_addrs(&server);
    for (i, (name, setup, others, aborts)) in cases.iter().enumerate() {
        let mut b = RespConn::connect(addrs[i % addrs.len()]);
        assert_eq!(b.cmd(&["FLUSHALL"]), Value::ok());
        for c in setup {
            b.cmd(c);
        }
        let mut a = RespConn::connect(addrs[(i + 2) % addrs.len()]);
        assert_eq!(a.cmd(&["WATCH", &wk]), Value::ok());
        for c in others {
            b.cmd(c);
        }
        assert_eq!(a.cmd(&["MULTI"]), Value::ok(), "{name}");
        assert_eq!(
            a.cmd(&["SET", &res, "done"]),
            Value::Simple("QUEUED".into())
        );
        let exec = a.cmd(&["EXEC"]);
        let applied = b.cmd(&["GET", &res]);
        if *aborts {
            assert_eq!(exec, Value::NilArray, "{name}: EXEC must abort");
            assert_eq!(applied, Value::Nil, "{name}: nothing applied");
        } else {
            assert_eq!(
                exec,
                Value::Array(vec![Value::ok()]),
                "{name}: EXEC must apply"
            );
            assert_eq!(applied, Value::bulk("done"), "{name}");
        }
    }
}

#[test]
fn binary_keys_and_large_values() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let mut key: Vec<u8> = (0..=255).collect();
    key.extend_from_slice(b"\r\n*1\r\n$3\r\nGET\r\n");
    let value: Vec<u8> = (0..=255u8).cycle().take(1000 * 1000).collect();
    let () = con.set(&key, &value).unwrap();
    assert_eq!(con.get::<_, Vec<u8>>(&key).unwrap(), value);
    assert_eq!(con.strlen::<_, usize>(&key).unwrap(), value.len());
    assert_eq!(
        con.append::<_, _, usize>(&key, b"\r\n").unwrap(),
        value.len() + 2
    );
    // Through every port, and inside MGET with keys of other partitions.
    let others = flat(&keys(&server, "bin:", 1));
    for addr in common::all_addrs(&server) {
        let mut c = connect(addr);
        let got: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&others[0])
            .arg(&key)
            .arg(&others[3])
            .query(&mut c)
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].as_ref().map(Vec::len), Some(value.len() + 2));
    }
    let t: String = redis::cmd("TYPE").arg(&key).query(&mut con).unwrap();
    assert_eq!(t, "string");
    assert_eq!(con.del::<_, usize>(&key).unwrap(), 1);
}

fn cluster_connection(server: &Server) -> ClusterConnection {
    let seeds: Vec<String> = server.core_addrs().iter().map(|a| url(*a)).collect();
    let client = ClusterClient::builder(seeds)
        .connection_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .build()
        .expect("cluster client");
    client.get_connection().expect("cluster connection")
}

/// `INFO workers` through every core port: the snapshots agree on the
/// forwarding totals; returns the one taken through core port 0.
fn snapshot(server: &Server) -> Vec<WorkerStats> {
    let first = worker_stats(server.core_addrs()[0]);
    for addr in &server.core_addrs()[1..] {
        let other = worker_stats(*addr);
        assert_eq!(other.len(), first.len());
        let sum = |s: &[WorkerStats]| s.iter().map(|w| w.forwarded_out).sum::<u64>();
        assert_eq!(sum(&other), sum(&first), "INFO via {addr}");
    }
    first
}

#[test]
fn cluster_client_routes_each_key_to_its_owner() {
    let server = common::start(WORKERS);
    let topo = server.topology();
    let keys: Vec<String> = (0..1000).map(|i| format!("cluster:{i}")).collect();
    let mut owned = vec![0u64; WORKERS as usize];
    for k in &keys {
        owned[topo.partition_of_key(k.as_bytes())] += 1;
    }
    assert!(owned.iter().all(|&n| n > 150), "{owned:?}");

    let before = snapshot(&server);
    let mut con = cluster_connection(&server);
    for (i, k) in keys.iter().enumerate() {
        let () = con.set(k, i).unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        let v: usize = con.get(k).unwrap();
        assert_eq!(v, i, "{k}");
    }
    let after = snapshot(&server);

    let forwarded: u64 = after.iter().map(|w| w.forwarded_out).sum::<u64>()
        - before.iter().map(|w| w.forwarded_out).sum::<u64>();
    let mut report = String::new();
    for i in 0..WORKERS as usize {
        report.push_str(&format!(
            "worker {i}: owns {} keys, commands +{}, forwarded_out +{}, keys {}\n",
            owned[i],
            after[i].commands - before[i].commands,
            after[i].forwarded_out - before[i].forwarded_out,
            after[i].keys
        ));
    }
    eprintln!("{report}");
    assert_eq!(
        forwarded, 0,
        "the cluster client's commands should arrive at the owning worker:\n{report}"
    );
    for i in 0..WORKERS as usize {
        let delta = after[i].commands - before[i].commands;
        // SET + GET per owned key, plus a few connection set-up commands
        // (CLUSTER SLOTS, CLIENT SETINFO, …) and our own INFO.
        assert!(
            delta >= 2 * owned[i] && delta <= 2 * owned[i] + 20,
            "worker {i} should have received exactly its keys' commands:\n{report}"
        );
        assert_eq!(after[i].keys, owned[i], "{report}");
    }

    // The cluster client sees the same data as plain clients.
    let mut plain = connect(server.shared_addr());
    let got: Vec<Option<usize>> = plain.mget(&keys[..10]).unwrap();
    assert_eq!(got, (0..10).map(Some).collect::<Vec<_>>());
}

#[test]
fn cluster_client_multi_slot_and_pipelines() {
    let server = common::start(WORKERS);
    let mut con = cluster_connection(&server);
    // Keys sharing a hash tag: one slot, so multi-key commands are routed
    // as one.
    let pairs: Vec<(String, usize)> = (0..10).map(|i| (format!("{{tag}}:{i}"), i)).collect();
    let () = con.mset(&pairs).unwrap();
    let names: Vec<&String> = pairs.iter().map(|p| &p.0).collect();
    let got: Vec<usize> = con.mget(&names).unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let n: usize = con.exists(&names).unwrap();
    assert_eq!(n, 10);
    let n: usize = con.del(&names).unwrap();
    assert_eq!(n, 10);
    // A cluster pipeline over keys of every worker.
    let keys = flat(&keys(&server, "cpipe:", 5));
    let mut pipe = redis::cluster::cluster_pipe();
    for (i, k) in keys.iter().enumerate() {
        pipe.set(k, i).ignore();
    }
    for k in &keys {
        pipe.get(k);
    }
    let got: Vec<usize> = pipe.query(&mut con).unwrap();
    assert_eq!(got, (0..keys.len()).collect::<Vec<_>>());
}

/// Keys on every partition, written together by MSET and DEL while readers
/// on random ports check that MGET and EXISTS never see a partial write.
#[test]
fn multi_key_commands_are_atomic_across_partitions() {
    let server = common::start(WORKERS);
    let keys = Arc::new(flat(&keys(&server, "atom:", 4)));
    assert_eq!(keys.len(), 16);
    let addrs = Arc::new(common::all_addrs(&server));

    for phase in ["mset", "mset+del"] {
        // The previous phase's values (its last n) would look like time
        // going back when this phase's writer starts again at 1.
        let _: usize = connect(server.shared_addr()).del(&keys[..]).unwrap();
        let deadline = Instant::now() + Duration::from_millis(1000);
        let writer = {
            let keys = Arc::clone(&keys);
            let addr = server.shared_addr();
            std::thread::spawn(move || {
                let mut con = connect(addr);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let pairs: Vec<(&String, u64)> = keys.iter().map(|k| (k, n)).collect();
                    let () = con.mset(&pairs).unwrap();
                    if phase == "mset+del" {
                        let deleted: usize = con.del(&keys[..]).unwrap();
                        assert_eq!(deleted, 16, "DEL right after MSET");
                    }
                }
                n
            })
        };
        let readers: Vec<_> = (0..3)
            .map(|r| {
                let keys = Arc::clone(&keys);
                let addrs = Arc::clone(&addrs);
                std::thread::spawn(move || {
                    let mut cons: Vec<Connection> = addrs.iter().map(|a| connect(*a)).collect();
                    let mut rng = Rng::new(r + 1);
                    let mut last = 0u64;
                    let mut reads = 0u64;
                    while Instant::now() < deadline {
                        let con = &mut cons[rng.below(addrs.len())];
                        let got: Vec<Option<u64>> = con.mget(&keys[..]).unwrap();
                        reads += 1;
                        let first = got[0];
                        assert!(
                            got.iter().all(|v| *v == first),
                            "{phase}: one MGET saw a partial write: {got:?}"
                        );
                        if let Some(v) = first {
                            assert!(
                                v >= last,
                                "{phase}: MGET went back in time: {v} after {last}"
                            );
                            last = v;
                        }
                        if phase == "mset+del" {
                            let con = &mut cons[rng.below(addrs.len())];
                            let n: usize = con.exists(&keys[..]).unwrap();
                            assert!(n == 0 || n == 16, "{phase}: EXISTS saw {n} of 16 keys");
                        }
                    }
                    reads
                })
            })
            .collect();
        let writes = writer.join().expect("writer");
        let mut reads = 0;
        for r in readers {
            reads += r.join().expect("reader");
        }
        eprintln!("{phase}: {writes} writes, {reads} reads");
        assert!(
            writes > 10 && reads > 30,
            "{phase}: too little traffic to mean anything ({writes} writes, {reads} reads)"
        );
    }
}

/// Concurrent MSETNX calls over the same keys (on every partition): in each
/// round exactly one wins, and every key holds the winner's value.
#[test]
fn concurrent_msetnx_has_exactly_one_winner() {
    let server = common::start(WORKERS);
    let keys = Arc::new(flat(&keys(&server, "race:", 2)));
    let addrs = common::all_addrs(&server);
    const THREADS: usize = 4;
    const ROUNDS: usize = 40;
    let barrier = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let keys = Arc::clone(&keys);
            let barrier = Arc::clone(&barrier);
            let addr = addrs[t % addrs.len()];
            std::thread::spawn(move || {
                let mut con = connect(addr);
                let mut wins = Vec::new();
                for _ in 0..ROUNDS {
                    barrier.wait();
                    let pairs: Vec<(&String, usize)> = keys.iter().map(|k| (k, t)).collect();
                    wins.push(con.mset_nx::<_, _, bool>(&pairs).unwrap());
                    barrier.wait();
                    barrier.wait(); // the checker has looked and cleaned up
                }
                wins
            })
        })
        .collect();
    let mut checker = connect(server.shared_addr());
    let mut values_per_round = Vec::new();
    for _ in 0..ROUNDS {
        barrier.wait();
        barrier.wait();
        let got: Vec<Option<usize>> = checker.mget(&keys[..]).unwrap();
        values_per_round.push(got);
        let n: usize = checker.del(&keys[..]).unwrap();
        assert_eq!(n, keys.len());
        barrier.wait();
    }
    let wins: Vec<Vec<bool>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (round, values) in values_per_round.iter().enumerate() {
        let winners: Vec<usize> = (0..THREADS).filter(|&t| wins[t][round]).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners {winners:?}, values {values:?}"
        );
        assert!(
            values.iter().all(|v| *v == Some(winners[0])),
            "round {round}: thread {} won but the keys hold {values:?}",
            winners[0]
        );
    }
}

/// INCR from many connections on every port loses no update.
#[test]
fn concurrent_incr_loses_nothing() {
    let server = common::start(WORKERS);
    let addrs = common::all_addrs(&server);
    let handles: Vec<_> = addrs
        .iter()
        .map(|&addr| {
            std::thread::spawn(move || {
                let mut con = connect(addr);
                for _ in 0..300 {
                    let _: i64 = con.incr("counter", 1).unwrap();
                }
                // And one pipelined burst.
                let mut pipe = redis::pipe();
                for _ in 0..300 {
                    pipe.incr("counter", 1).ignore();
                }
                let () = pipe.query(&mut con).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut con = connect(server.shared_addr());
    let n: usize = con.get("counter").unwrap();
    assert_eq!(n, addrs.len() * 600);
}

fn keys_in_slot(con: &mut Connection, slot: u16, count: usize) -> Vec<String> {
    redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(count)
        .query(con)
        .unwrap()
}

/// `INFO memory`'s `mem_slot_index`: bytes of the per-slot key indexes.
fn slot_index_bytes(con: &mut Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    let line = info.lines().find_map(|l| l.strip_prefix("mem_slot_index:"));
    line.expect("mem_slot_index in INFO memory")
        .parse()
        .unwrap()
}

/// What a resharding tool does, slot by slot: `GETKEYSINSLOT slot n`, move
/// (here: delete) those keys, again until the slot is empty. The first
/// call builds the owner's slot index (visible in `INFO memory`); every
/// key comes exactly once; a big answer (several steps) stays exact while
/// another client writes and deletes in the same slot.
#[test]
fn getkeysinslot_drains_slots_from_an_index_built_on_first_use() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let (slot, w_slot) = (
        corekv_router::hash_slot(b"{t}"),
        corekv_router::hash_slot(b"{w}"),
    );
    let mut pipe = redis::pipe();
    for i in 0..3_000 {
        pipe.set(format!("{{t}}{i}"), "v").ignore();
        let other = format!("scattered{i}");
        if ![slot, w_slot].contains(&corekv_router::hash_slot(other.as_bytes())) {
            pipe.set(other, "v").ignore();
        }
    }
    pipe.query::<()>(&mut con).unwrap();
    assert_eq!(
        slot_index_bytes(&mut con),
        0,
        "no index before it is asked for"
    );
    let first = keys_in_slot(&mut con, slot, 10);
    assert_eq!(first.len(), 10);
    assert!(first.iter().all(|k| k.starts_with("{t}")), "{first:?}");
    // The owner holds at least 3,000 keys: 8 bytes each, at least.
    assert!(slot_index_bytes(&mut con) >= 3_000 * 8);

    let mut drained = HashSet::new();
    loop {
        let keys = keys_in_slot(&mut con, slot, 100);
        if keys.is_empty() {
            break;
        }
        assert!(keys.len() == 100 || drained.len() + keys.len() == 3_000);
        let _: () = con.del(&keys).unwrap();
        for k in keys {
            assert!(drained.insert(k), "a key came twice");
        }
    }
    assert_eq!(drained.len(), 3_000);
    let left: u64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut con)
        .unwrap();
    assert_eq!(left, 0);

    // 5,000 keys in one slot (several steps of the walk) while another
    // client deletes half of them and adds new ones to the same slot.
    let mut pipe = redis::pipe();
    for i in 0..5_000 {
        pipe.set(format!("{{w}}{i}"), "v").ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let slot = w_slot;
    let addr = server.shared_addr();
    let writer = std::thread::spawn(move || {
        let mut con = connect(addr);
        for i in (1..5_000).step_by(2) {
            let _: () = con.del(format!("{{w}}{i}")).unwrap();
            let _: () = con.set(format!("{{w}}new{i}"), "v").unwrap();
        }
    });
    let mut seen = HashSet::new();
    while !writer.is_finished() {
        let keys = keys_in_slot(&mut con, slot, 100_000);
        seen.clear();
        for k in &keys {
            assert!(seen.insert(k.clone()), "{k} twice in one answer");
        }
        for i in (0..5_000).step_by(2) {
            assert!(seen.contains(&format!("{{w}}{i}")), "{{w}}{i} missed");
        }
    }
    writer.join().unwrap();
    let keys = keys_in_slot(&mut con, slot, 100_000);
    assert_eq!(keys.len(), 5_000, "2,500 kept and 2,500 new");
}
