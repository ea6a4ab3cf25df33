//! Several pods as one cache (`--cluster-size`): three in-process servers
//! on loopback, two workers each, started with the same peer list.
//!
//! Checked: every pod answers the same `CLUSTER SLOTS`, listing all six
//! workers; a cluster client (the `redis` crate's, and redis-py's
//! `RedisCluster` when python3 has `redis`) stores keys on the pods that
//! own them; a core port answers `MOVED` for another pod's key (inside
//! `MULTI` too, then `EXECABORT`); the shared and RESP ports forward
//! commands, pipelines and whole transactions to the owner (RESP2, RESP3
//! and the text protocol); keys on several pods get `CROSSSLOT`; a pod
//! that is down gets `CLUSTERDOWN` while local keys keep being served.

mod common;

use common::resp::{RespConn, Value};
use common::Client;
use corekv::{Config, Server};
use corekv_router::{cluster, hash_slot, Topology};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

const PODS: usize = 3;
/// Every pod's password: links between pods authenticate with it.
const PASSWORD: &str = "pod-secret";
const WORKERS: usize = 2;

/// Ports of one pod: shared, core (WORKERS), RESP.
#[derive(Clone, Copy)]
struct Ports {
    shared: u16,
    core: u16,
    resp: u16,
}

impl Ports {
    fn at(base: u16) -> Self {
        Self {
            shared: base,
            core: base + 1,
            resp: base + 1 + WORKERS as u16,
        }
    }

    fn all(self) -> impl Iterator<Item = u16> {
        [self.shared, self.resp]
            .into_iter()
            .chain((0..WORKERS as u16).map(move |w| self.core + w))
    }
}

struct Pods {
    servers: Vec<Option<Server>>,
    ports: Vec<Ports>,
    global: Topology,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn free(ports: Ports) -> bool {
    ports.all().all(|p| TcpListener::bind(addr(p)).is_ok())
}

/// A block of free ports per pod (a random start, retried when taken).
fn pick_ports(seed: u64) -> Vec<Ports> {
    let mut rng = common::Rng::new(seed);
    loop {
        let base = 20_000 + (rng.below(4_000) as u16) * 10;
        let ports: Vec<Ports> = (0..PODS).map(|i| Ports::at(base + 10 * i as u16)).collect();
        if ports.iter().all(|&p| free(p)) {
            return ports;
        }
    }
}

fn pod_config(ports: &[Ports], index: usize, start: bool) -> Config {
    let mut config = common::config(WORKERS as u16);
    config.ephemeral_ports = false;
    config.port = ports[index].shared;
    config.core_port_base = ports[index].core;
    config.resp_port = Some(ports[index].resp);
    config.cluster_size = PODS as u16;
    config.cluster_index = Some(index as u16);
    let peers: Vec<String> = ports
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.core))
        .collect();
    config.cluster_peers = Some(peers.join(","));
    config.requirepass = Some(PASSWORD.into());
    let _ = start;
    config
}

/// Starts the pods in `up` (the others stay down).
fn start_pods(up: &[usize]) -> Pods {
    let seed = u64::from(std::process::id()) ^ (up.len() as u64) << 32;
    for attempt in 0..20 {
        let ports = pick_ports(seed + attempt);
        let mut servers = Vec::new();
        let mut failed = false;
        for i in 0..PODS {
            if !up.contains(&i) {
                servers.push(None);
                continue;
            }
            match Server::start(&pod_config(&ports, i, true)) {
                Ok(s) => servers.push(Some(s)),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            let global = cluster::layout(PODS, WORKERS)
                .unwrap()
                .with_ports(
                    &ports
                        .iter()
                        .flat_map(|p| (0..WORKERS as u16).map(move |w| p.core + w))
                        .collect::<Vec<_>>(),
                )
                .unwrap();
            return Pods {
                servers,
                ports,
                global,
            };
        }
    }
    panic!("no free ports for {PODS} pods");
}

impl Pods {
    fn pod_of(&self, key: &str) -> usize {
        self.global.partition_of_key(key.as_bytes()) / WORKERS
    }

    /// The owner's advertised core port.
    fn core_port_of(&self, key: &str) -> u16 {
        let p = self.global.partition_of_key(key.as_bytes());
        self.global.partitions()[p].port.unwrap()
    }

    /// A key (with `prefix`) on each pod, in pod order.
    fn key_on(&self, pod: usize, prefix: &str) -> String {
        (0..)
            .map(|i| format!("{prefix}{i}"))
            .find(|k| self.pod_of(k) == pod)
            .unwrap()
    }

    fn resp(&self, pod: usize) -> RespConn {
        resp_conn(self.ports[pod].resp)
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        for s in self.servers.iter_mut().filter_map(Option::take) {
            s.shutdown();
        }
    }
}

/// A RESP connection to `port`, authenticated.
fn resp_conn(port: u16) -> RespConn {
    let mut c = RespConn::connect(addr(port));
    assert_eq!(c.cmd(&["AUTH", PASSWORD]), Value::ok());
    c
}

/// A text-protocol connection to `port`, authenticated.
fn text_conn(port: u16) -> Client {
    let mut c = Client::connect(addr(port));
    assert_eq!(c.cmd(&format!("AUTH {PASSWORD}")), r#"{"status": "Ok"}"#);
    c
}

fn err(v: &Value) -> &str {
    match v {
        Value::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn every_pod_lists_the_same_six_nodes() {
    let pods = start_pods(&[0, 1, 2]);
    let slots: Vec<Value> = (0..PODS)
        .map(|i| pods.resp(i).cmd(&["CLUSTER", "SLOTS"]))
        .collect();
    assert_eq!(slots[0], slots[1]);
    assert_eq!(slots[0], slots[2]);
    let Value::Array(ranges) = &slots[0] else {
        panic!("{:?}", slots[0])
    };
    let mut covered = 0;
    let mut ports = std::collections::BTreeSet::new();
    for r in ranges {
        let Value::Array(r) = r else { panic!() };
        let (Value::Int(start), Value::Int(end)) = (&r[0], &r[1]) else {
            panic!()
        };
        covered += end - start + 1;
        let Value::Array(node) = &r[2] else { panic!() };
        let Value::Int(port) = node[1] else { panic!() };
        // The range's owner, by the same map a client computes.
        let owner = pods.global.partition_of_slot(*start as u16);
        assert_eq!(pods.global.partitions()[owner].port, Some(port as u16));
        ports.insert(port);
    }
    assert_eq!(covered, 16384);
    assert_eq!(ports.len(), PODS * WORKERS);
    let nodes = pods.resp(1).cmd(&["CLUSTER", "NODES"]).text();
    assert_eq!(nodes.lines().count(), 6);
    assert_eq!(nodes.matches("myself").count(), 1);
    let info = pods.resp(2).cmd(&["CLUSTER", "INFO"]).text();
    assert!(info.contains("cluster_known_nodes:6\r\n"), "{info}");
}

#[test]
fn core_ports_redirect_and_the_shared_ports_forward() {
    let pods = start_pods(&[0, 1, 2]);
    let (k0, k1, k2) = (
        pods.key_on(0, "a"),
        pods.key_on(1, "a"),
        pods.key_on(2, "a"),
    );
    // A core port of pod 0: its own key is served, pod 2's is redirected.
    let mut core0 = resp_conn(pods.ports[0].core);
    assert_eq!(core0.cmd(&["SET", &k0, "v0"]), Value::ok());
    let moved = core0.cmd(&["SET", &k2, "v2"]);
    let expected = format!(
        "MOVED {} 127.0.0.1:{}",
        hash_slot(k2.as_bytes()),
        pods.core_port_of(&k2)
    );
    assert_eq!(err(&moved), expected);
    // Inside MULTI the redirection fails the transaction, as in Redis.
    assert_eq!(core0.cmd(&["MULTI"]), Value::ok());
    assert!(err(&core0.cmd(&["GET", &k2])).starts_with("MOVED "));
    assert!(err(&core0.cmd(&["EXEC"])).starts_with("EXECABORT"));

    // The RESP port of pod 1 serves every key: pod 2's is forwarded.
    let mut r1 = pods.resp(1);
    assert_eq!(r1.cmd(&["SET", &k2, "v2"]), Value::ok());
    assert_eq!(r1.cmd(&["GET", &k0]), Value::bulk("v0"));
    assert_eq!(r1.cmd(&["INCR", &format!("{{{k2}}}n")]), Value::Int(1));
    // A pipeline mixing local and forwarded commands keeps its order.
    let mut pipeline = Vec::new();
    for i in 0..50 {
        let key = [&k0, &k1, &k2][i % 3];
        corekv_router::resp::push_request(
            &mut pipeline,
            &[
                b"APPEND",
                format!("{{{key}}}log").as_bytes(),
                format!("{i},").as_bytes(),
            ],
        );
    }
    r1.send_raw(&pipeline);
    let mut lens = [0i64; 3];
    for i in 0..50 {
        let n = (i.to_string().len() + 1) as i64;
        lens[i % 3] += n;
        assert_eq!(r1.read(), Value::Int(lens[i % 3]), "reply {i}");
    }
    let expected: String = (0..50)
        .filter(|i| i % 3 == 2)
        .map(|i| format!("{i},"))
        .collect();
    assert_eq!(
        r1.cmd(&["GET", &format!("{{{k2}}}log")]),
        Value::bulk(&expected)
    );
    // The key really lives on pod 2: its own DBSIZE counts it.
    assert_eq!(pods.resp(2).cmd(&["EXISTS", &k2]), Value::Int(1));
    assert_eq!(
        resp_conn(pods.ports[2].core + 1).cmd(&["DBSIZE"]),
        pods.resp(2).cmd(&["DBSIZE"])
    );

    // Keys of two pods in one command: CROSSSLOT; one pod (hash tags): OK.
    assert_eq!(
        err(&r1.cmd(&["MSET", &k0, "1", &k2, "2"])),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    let (t1, t2) = (format!("{{{k2}}}x"), format!("{{{k2}}}y"));
    assert_eq!(r1.cmd(&["MSET", &t1, "1", &t2, "2"]), Value::ok());
    assert_eq!(
        r1.cmd(&["MGET", &t1, &t2]),
        Value::Array(vec![Value::bulk("1"), Value::bulk("2")])
    );

    // A transaction on pod 2's keys, sent through pod 1, runs whole there.
    assert_eq!(r1.cmd(&["MULTI"]), Value::ok());
    assert_eq!(r1.cmd(&["INCR", &t1]), Value::Simple("QUEUED".into()));
    assert_eq!(
        r1.cmd(&["RENAME", &t2, &format!("{{{k2}}}z")]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        r1.cmd(&["EXEC"]),
        Value::Array(vec![Value::Int(2), Value::ok()])
    );
    // A transaction over two pods is refused when queued, and aborts.
    assert_eq!(r1.cmd(&["MULTI"]), Value::ok());
    assert_eq!(r1.cmd(&["GET", &k2]), Value::Simple("QUEUED".into()));
    assert!(err(&r1.cmd(&["GET", &k1])).starts_with("CROSSSLOT"));
    assert!(err(&r1.cmd(&["EXEC"])).starts_with("EXECABORT"));
    // WATCH of another pod's key is refused on this port.
    assert!(err(&r1.cmd(&["WATCH", &k2])).contains("another pod"));
    assert_eq!(r1.cmd(&["PING"]), Value::Simple("PONG".into()));

    // RESP3 connections get RESP3 replies through the link.
    let mut r3 = pods.resp(1);
    r3.send(&["HELLO", "3"]);
    // A map whose last field is `modules`, an empty array.
    assert_eq!(r3.read_line(), "%7");
    while r3.read_line() != "modules" {}
    assert_eq!(r3.read_line(), "*0");
    r3.send(&["GET", &pods.key_on(2, "missing")]);
    assert_eq!(r3.read_line(), "_");

    // The text protocol on the shared port forwards too.
    let mut text = text_conn(pods.ports[1].shared);
    assert_eq!(
        text.cmd(&format!("PUT {k2} hello world")),
        r#"{"status": "Ok"}"#
    );
    assert_eq!(text.get(&k2).as_deref(), Some("hello world"));
    assert_eq!(text.get(&k0).as_deref(), Some("v0"));
    assert!(text.cmd("START").contains("Ok"));
    assert!(text.cmd(&format!("PUT {k2} x")).contains("CROSSSLOT"));
    // On a core port, the text protocol redirects.
    let mut text_core = text_conn(pods.ports[1].core);
    assert!(text_core.cmd(&format!("GET {k2}")).contains("MOVED "));
}

#[test]
fn the_redis_crate_cluster_client_spreads_keys_over_the_pods() {
    use redis::Commands;
    let pods = start_pods(&[0, 1, 2]);
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/", pods.ports[1].core);
    let client = redis::cluster::ClusterClient::builder(vec![url])
        .connection_timeout(Duration::from_secs(30))
        .response_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..300 {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    for i in 0..300 {
        let v: i64 = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, i);
    }
    let mut per_pod = [0i64; PODS];
    for (i, n) in per_pod.iter_mut().enumerate() {
        let Value::Int(size) = pods.resp(i).cmd(&["DBSIZE"]) else {
            panic!()
        };
        *n = size;
    }
    let expected: Vec<i64> = (0..PODS)
        .map(|pod| {
            (0..300)
                .filter(|i| pods.pod_of(&format!("key:{i}")) == pod)
                .count() as i64
        })
        .collect();
    assert_eq!(per_pod.to_vec(), expected);
    assert!(per_pod.iter().all(|&n| n > 50), "{per_pod:?}");
}

#[test]
fn a_pod_that_is_down_fails_only_its_keys() {
    let pods = start_pods(&[0, 1]);
    let (k0, k2) = (pods.key_on(0, "b"), pods.key_on(2, "b"));
    let mut r0 = pods.resp(0);
    let down = r0.cmd(&["GET", &k2]);
    assert!(
        err(&down).starts_with("CLUSTERDOWN pod 2 unreachable"),
        "{down:?}"
    );
    assert_eq!(r0.cmd(&["SET", &k0, "1"]), Value::ok());
    assert_eq!(r0.cmd(&["GET", &k0]), Value::bulk("1"));
    let mut text = text_conn(pods.ports[0].shared);
    assert!(text.cmd(&format!("GET {k2}")).contains("CLUSTERDOWN"));
    assert_eq!(text.get(&k0).as_deref(), Some("1"));
}

#[test]
fn misconfigured_clusters_do_not_start() {
    let ports = pick_ports(7);
    let mut config = pod_config(&ports, 0, true);
    config.cluster_peers = Some("127.0.0.1:1,127.0.0.1:2".into());
    let e = Server::start(&config)
        .err()
        .expect("two peers for three pods");
    assert!(e.to_string().contains("lists 2 addresses"), "{e}");
    config.cluster_peers = None;
    assert!(Server::start(&config).is_err());
    let mut config = pod_config(&ports, 0, true);
    config.cluster_index = Some(3);
    assert!(Server::start(&config).is_err());
}

/// redis-py's `RedisCluster` with default settings (RESP3), its cluster
/// pipeline, and a plain `Redis` on one pod's RESP port (transactions and
/// `WATCH` on that pod's keys, forwarding for the rest); then `redis-cli
/// -c`, which follows `MOVED` from a core port.
#[test]
fn redis_py_and_redis_cli_use_the_cluster() {
    use common::resp::{cli_with, describe, run_with_timeout, tool};
    let pods = start_pods(&[0, 1, 2]);
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let script = r#"
import os, redis
from redis.cluster import RedisCluster
core, resp = int(os.environ["CORE"]), int(os.environ["RESP"])
rc = RedisCluster(host="127.0.0.1", port=core, password=os.environ["PASS"], socket_timeout=10)
assert len(rc.get_nodes()) == 6, rc.get_nodes()
for i in range(200):
    rc.set(f"py:{i}", i)
assert [int(rc.get(f"py:{i}")) for i in range(200)] == list(range(200))
pipe = rc.pipeline()
for i in range(50):
    pipe.incr(f"py:{i}")
assert pipe.execute() == [i + 1 for i in range(50)]
r = redis.Redis(port=resp, password=os.environ["PASS"], socket_timeout=10)
assert r.get("py:7") == b"8"
assert r.mget("{t}a", "{t}b") == [None, None]
with r.pipeline(transaction=True) as p:
    p.set("{t}a", 1).incr("{t}a")
    assert p.execute() == [True, 2]
mine = os.environ["LOCAL_KEY"]
with r.pipeline() as p:
    p.watch(mine)
    p.multi()
    p.set(mine, "w")
    assert p.execute() == [True]
print("ok")
"#;
    let out = run_with_timeout(
        std::process::Command::new(&python)
            .args(["-c", script])
            .env("CORE", pods.ports[0].core.to_string())
            .env("RESP", pods.ports[1].resp.to_string())
            .env("LOCAL_KEY", pods.key_on(1, "w"))
            .env("PASS", PASSWORD),
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        describe("python3 (RedisCluster)", &out)
    );
    let k2 = pods.key_on(2, "cli");
    let core0 = pods.ports[0].core;
    let auth = ["-a", PASSWORD, "--no-auth-warning"];
    let cluster = ["-c", "-a", PASSWORD, "--no-auth-warning"];
    assert_eq!(cli_with(core0, &cluster, &["SET", &k2, "x"]), "OK");
    assert_eq!(cli_with(core0, &cluster, &["GET", &k2]), "x");
    assert!(cli_with(core0, &auth, &["GET", &k2]).starts_with("MOVED "));
}
