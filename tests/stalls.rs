//! No single command stalls a worker's other clients: while one client runs
//! `KEYS *` over a million keys, another client's `PING`s on the same worker
//! keep being answered within a bound far below what an atomic `KEYS`
//! costs. Also the commands that used to scan a partition in one go.

mod common;

use common::resp::{request, RespConn, Value};
use corekv::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Keys loaded for the latency test, all on worker 0.
const KEYS: usize = 1_000_000;
/// Worst `PING` round trip allowed on a worker serving `KEYS *` over
/// [`KEYS`] keys. An atomic `KEYS` stalled it for 1.0 s in a debug build
/// on a loaded 2-core machine (69 ms in release); stepped, the worst there
/// was 17 ms, mostly the machine's own scheduling.
const PING_BOUND: Duration = Duration::from_millis(50);

/// `n` keys that worker 0 owns, on a 2-worker server.
fn keys_of_worker_0(server: &Server, n: usize) -> Vec<String> {
    let topology = server.topology();
    (0..)
        .map(|i| format!("k:{i}"))
        .filter(|k| topology.partition_of_key(k.as_bytes()) == 0)
        .take(n)
        .collect()
}

/// Stores every key (value `v`) with pipelined `MSET`s of 1000 keys.
fn load(addr: SocketAddr, keys: &[String]) {
    let mut conn = RespConn::connect(addr);
    for round in keys.chunks(50_000) {
        let mut sent = 0;
        for batch in round.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"MSET"];
            for k in batch {
                args.extend([k.as_bytes(), b"v"]);
            }
            conn.send_bytes(&args);
            sent += 1;
        }
        for _ in 0..sent {
            assert_eq!(conn.read(), Value::ok());
        }
    }
}

/// The bytes of a `KEYS` reply holding exactly `keys`, in any order.
fn reply_len(keys: &[String]) -> usize {
    let bulks: usize = keys
        .iter()
        .map(|k| 1 + k.len().to_string().len() + 2 + k.len() + 2)
        .sum();
    format!("*{}\r\n", keys.len()).len() + bulks
}

/// Sends `KEYS *` and reads its reply, `len` bytes, with big reads (this
/// thread must not compete with the server for the CPU); checks that the
/// reply ends there (a `PING` after it answers next) and that it is an
/// array of `count` keys.
fn keys_star(addr: SocketAddr, len: usize, count: usize) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    let mut buf = vec![0; 1 << 20];
    let (mut got, mut head, mut tail) = (0, Vec::new(), Vec::new());
    while got < len + 7 {
        let n = stream.read(&mut buf).expect("KEYS reply");
        assert!(n > 0, "closed after {got} of {len} bytes");
        if head.len() < 32 {
            head.extend_from_slice(&buf[..n.min(32)]);
        }
        tail.extend_from_slice(&buf[n.saturating_sub(7)..n]);
        tail.drain(..tail.len().saturating_sub(7));
        got += n;
    }
    assert_eq!(got, len + 7, "the reply is {len} bytes, then +PONG");
    assert_eq!(tail, b"+PONG\r\n");
    assert!(head.starts_with(format!("*{count}\r\n").as_bytes()));
}

/// PINGs `addr` one at a time until `done`; the worst round trip and how
/// many were sent.
fn ping_until(addr: SocketAddr, done: &AtomicBool) -> (Duration, usize) {
    let mut conn = RespConn::connect(addr);
    let (mut worst, mut sent) = (Duration::ZERO, 0);
    while !done.load(Ordering::Acquire) {
        let start = Instant::now();
        assert_eq!(conn.cmd(&["PING"]), Value::Simple("PONG".into()));
        worst = worst.max(start.elapsed());
        sent += 1;
    }
    (worst, sent)
}

/// Runs `KEYS *` on `addr` while another client PINGs the same worker;
/// returns the worst PING round trip and how many PINGs were answered.
fn worst_ping_during_keys(addr: SocketAddr, keys: &[String]) -> (Duration, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let pinger = {
        let done = Arc::clone(&done);
        thread::spawn(move || ping_until(addr, &done))
    };
    let started = Instant::now();
    keys_star(addr, reply_len(keys), keys.len());
    let took = started.elapsed();
    done.store(true, Ordering::Release);
    let (worst, pings) = pinger.join().expect("pinger");
    eprintln!("KEYS * took {took:?}; {pings} PINGs meanwhile, worst {worst:?}");
    (worst, pings)
}

#[test]
fn keys_over_a_million_keys_does_not_stall_the_workers_other_clients() {
    let server = common::start(2);
    let addr = server.core_addrs()[0];
    let keys = keys_of_worker_0(&server, KEYS);
    let started = Instant::now();
    load(addr, &keys);
    eprintln!("loaded {KEYS} keys in {:?}", started.elapsed());
    eprintln!("idle: worst of 200 PINGs {:?}", ping_until_n(addr, 200));
    // A stall recurs on every try; the machine's own scheduling hiccups
    // (a loaded CI host) rarely hit them all.
    let mut tries = Vec::new();
    for _ in 0..5 {
        let (worst, pings) = worst_ping_during_keys(addr, &keys);
        assert!(pings > 10, "PINGs were not served during KEYS: {pings}");
        tries.push(worst);
        if worst < PING_BOUND {
            return;
        }
    }
    panic!("a PING waited at least {PING_BOUND:?} while KEYS ran, on every try: {tries:?}");
}

/// The worst of `n` PING round trips.
fn ping_until_n(addr: SocketAddr, n: usize) -> Duration {
    let mut conn = RespConn::connect(addr);
    (0..n)
        .map(|_| {
            let start = Instant::now();
            conn.cmd(&["PING"]);
            start.elapsed()
        })
        .max()
        .unwrap_or_default()
}

/// The keys of a `KEYS` reply, sorted.
fn keys_reply(conn: &mut RespConn, pattern: &str) -> Vec<String> {
    let Value::Array(items) = conn.cmd(&["KEYS", pattern]) else {
        panic!("KEYS did not answer an array");
    };
    let mut keys: Vec<String> = items.iter().map(Value::text).collect();
    keys.sort();
    keys
}

#[test]
fn keys_in_steps_returns_every_key_once_across_partitions() {
    let server = common::start(2);
    let mut conn = RespConn::connect(server.shared_addr());
    // Several steps' worth per partition, with holes from deletions.
    let mut expected = Vec::new();
    for i in 0..6000 {
        let key = format!("key:{i:05}");
        conn.cmd(&["SET", &key, "v"]);
        if i % 3 == 0 {
            conn.cmd(&["DEL", &key]);
        } else {
            expected.push(key);
        }
    }
    conn.cmd(&["SET", "other", "v"]);
    assert_eq!(keys_reply(&mut conn, "key:*"), expected);
    assert_eq!(keys_reply(&mut conn, "*").len(), expected.len() + 1);
    assert_eq!(
        keys_reply(&mut conn, "key:0000?"),
        [
            "key:00001",
            "key:00002",
            "key:00004",
            "key:00005",
            "key:00007",
            "key:00008"
        ]
    );
    assert!(keys_reply(&mut conn, "nothing*").is_empty());
}

fn error_of(v: Value) -> String {
    match v {
        Value::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn countkeysinslot_and_getkeysinslot_follow_writes_deletes_and_flush() {
    let server = common::start(2);
    let mut conn = RespConn::connect(server.shared_addr());
    let tag_slot = corekv_router::hash_slot(b"{t}");
    let slot = tag_slot.to_string();
    for i in 0..3000 {
        conn.cmd(&["SET", &format!("{{t}}{i}"), "v"]);
        let other = format!("other{i}");
        if corekv_router::hash_slot(other.as_bytes()) != tag_slot {
            conn.cmd(&["SET", &other, "v"]);
        }
    }
    for i in 0..1000 {
        conn.cmd(&["DEL", &format!("{{t}}{i}")]);
    }
    conn.cmd(&["SET", "{t}1500", "overwritten"]);
    let count = |conn: &mut RespConn| conn.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]);
    assert_eq!(count(&mut conn), Value::Int(2000));
    // Every key of the slot, each once, and nothing else.
    let Value::Array(all) = conn.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "100000"]) else {
        panic!("not an array");
    };
    let mut all: Vec<String> = all.iter().map(Value::text).collect();
    all.sort();
    let mut expected: Vec<String> = (1000..3000).map(|i| format!("{{t}}{i}")).collect();
    expected.sort();
    assert_eq!(all, expected);
    let Value::Array(some) = conn.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "7"]) else {
        panic!("not an array");
    };
    assert_eq!(some.len(), 7);
    assert_eq!(
        conn.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "0"]),
        Value::Array(vec![])
    );
    let used: std::collections::HashSet<u16> = (0..3000)
        .map(|i| corekv_router::hash_slot(format!("other{i}").as_bytes()))
        .collect();
    let empty = (0..16384u16).find(|s| !used.contains(s) && *s != tag_slot);
    let empty = empty.expect("a slot with no key").to_string();
    assert_eq!(
        conn.cmd(&["CLUSTER", "GETKEYSINSLOT", &empty, "10"]),
        Value::Array(vec![]),
        "an empty slot"
    );
    // Redis 7.0's errors, byte for byte.
    for (args, mesg) in [
        (["15495", "-1"], "ERR Invalid slot or number of keys"),
        (["16384", "1"], "ERR Invalid slot or number of keys"),
        (["-1", "1"], "ERR Invalid slot or number of keys"),
        (["x", "1"], "ERR value is not an integer or out of range"),
        (["1", "01"], "ERR value is not an integer or out of range"),
    ] {
        let reply = conn.cmd(&["CLUSTER", "GETKEYSINSLOT", args[0], args[1]]);
        assert_eq!(error_of(reply), mesg, "{args:?}");
    }
    let reply = conn.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "x"]);
    assert_eq!(
        error_of(reply),
        "ERR value is not an integer or out of range"
    );
    let reply = conn.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]);
    assert_eq!(error_of(reply), "ERR Invalid slot");
    assert!(error_of(conn.cmd(&["CLUSTER", "GETKEYSINSLOT", "1"]))
        .starts_with("ERR unknown subcommand"));
    conn.cmd(&["FLUSHALL"]);
    assert_eq!(count(&mut conn), Value::Int(0));
    conn.cmd(&["SET", "{t}again", "v"]);
    assert_eq!(count(&mut conn), Value::Int(1));
}

#[test]
fn a_big_request_arriving_in_small_pieces_is_parsed_whole() {
    let server = common::start(2);
    let addr = server.core_addrs()[0];
    let keys = keys_of_worker_0(&server, 50_000);
    let mut args: Vec<&[u8]> = vec![b"MSET"];
    for k in &keys {
        args.extend([k.as_bytes(), b"v"]);
    }
    let request = request(&args);
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.set_nodelay(true).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut other = RespConn::connect(addr);
    for (i, piece) in request.chunks(1000).enumerate() {
        slow.write_all(piece).unwrap();
        if i % 100 == 0 {
            // The half-sent request holds nobody else up.
            assert_eq!(other.cmd(&["PING"]), Value::Simple("PONG".into()));
        }
    }
    let mut reply = [0; 5];
    slow.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    assert_eq!(other.cmd(&["DBSIZE"]), Value::Int(50_000));
    assert_eq!(
        other.cmd(&["GET", &keys[49_999]]),
        Value::Bulk(b"v".to_vec())
    );
}

#[test]
fn a_scan_step_is_bounded_whatever_count_asks() {
    let server = common::start(1);
    let mut conn = RespConn::connect(server.shared_addr());
    let keys: Vec<String> = (0..30_000).map(|i| format!("s:{i}")).collect();
    for batch in keys.chunks(1000) {
        let mut args: Vec<&str> = vec!["MSET"];
        batch.iter().for_each(|k| args.extend([k.as_str(), "v"]));
        assert_eq!(conn.cmd(&args), Value::ok());
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let Value::Array(reply) = conn.cmd(&["SCAN", &cursor, "COUNT", "1000000"]) else {
            panic!("SCAN did not answer an array");
        };
        let Value::Array(found) = &reply[1] else {
            panic!("no keys array");
        };
        assert!(found.len() <= 10_000, "one step returned {}", found.len());
        seen.extend(found.iter().map(Value::text));
        cursor = reply[0].text();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), keys.len());
}

/// `used_memory` from `INFO memory`.
fn used_memory(conn: &mut RespConn) -> u64 {
    let text = conn.cmd(&["INFO", "memory"]).text();
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no used_memory in {text:?}"))
}

#[test]
fn flushall_of_many_keys_returns_their_memory_in_the_background() {
    let server = common::start(1);
    let mut conn = RespConn::connect(server.shared_addr());
    let keys: Vec<String> = (0..50_000).map(|i| format!("f:{i}")).collect();
    for batch in keys.chunks(1000) {
        let mut args: Vec<&str> = vec!["MSET"];
        batch
            .iter()
            .for_each(|k| args.extend([k.as_str(), "value"]));
        assert_eq!(conn.cmd(&args), Value::ok());
    }
    let full = used_memory(&mut conn);
    assert_eq!(conn.cmd(&["FLUSHALL"]), Value::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Value::Int(0));
    assert_eq!(conn.cmd(&["GET", "f:1"]), Value::Nil);
    let deadline = Instant::now() + Duration::from_secs(20);
    while used_memory(&mut conn) > 0 {
        assert!(Instant::now() < deadline, "flushed memory never returned");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(full > 50_000 * 16, "{full}");
}

/// A read that empties the socket clears its readiness, so the connection
/// waits for the next data without another `recv`. Whatever the split of
/// a request, the rest arriving after a pause must wake it.
#[test]
fn a_request_finished_after_a_pause_is_answered_at_every_split() {
    let server = common::start(1);
    let mut conn = TcpStream::connect(server.shared_addr()).expect("connect");
    conn.set_nodelay(true).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let message = b"a message".to_vec();
    let req = request(&[b"ECHO", &message]);
    let expected = format!("${}\r\na message\r\n", message.len());
    for split in 1..req.len() {
        conn.write_all(&req[..split]).unwrap();
        thread::sleep(Duration::from_millis(2));
        conn.write_all(&req[split..]).unwrap();
        let mut reply = vec![0; expected.len()];
        conn.read_exact(&mut reply).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&reply),
            expected,
            "split at {split}"
        );
    }
}
