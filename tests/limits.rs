//! Per-client limits: the output limit (forwarded replies included), the
//! soft limit's window, maxclients, the idle timeout, proto-max-bulk-len,
//! idle connections holding no buffers, and CONFIG GET/SET of all of them.

mod common;

use common::resp::{info_field, request, RespConn, Value};
use common::{total_stat, wait_stat, Client};
use corekv::clients::OutputLimit;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a test waits for the server to act before failing (a hang
/// guard, not a performance bound).
const GUARD: Duration = Duration::from_secs(20);

/// A key owned by `partition`.
fn key_on(server: &corekv::Server, partition: usize) -> String {
    common::keys_by_partition(server.topology(), "big", 1)[partition][0].clone()
}

/// Sends `n` pipelined `GET key` and never reads.
fn pipeline_gets(addr: SocketAddr, key: &str, n: usize) -> RespConn {
    let mut c = RespConn::connect(addr);
    let one = request(&[b"GET", key.as_bytes()]);
    let mut all = Vec::with_capacity(one.len() * n);
    for _ in 0..n {
        all.extend_from_slice(&one);
    }
    c.send_raw(&all);
    c
}

fn store_big(addr: SocketAddr, key: &str, len: usize) {
    let mut c = RespConn::connect(addr);
    let value = vec![b'v'; len];
    c.send_bytes(&[b"SET", key.as_bytes(), &value]);
    assert_eq!(c.read(), Value::ok());
}

#[test]
fn output_limit_disconnects_a_client_that_never_reads_forwarded_replies() {
    let mut config = common::config(2);
    config.client_output_buffer_limit = OutputLimit::parse("4mb 0 0").unwrap();
    let server = common::start_with(&config);
    let key = key_on(&server, 1);
    store_big(server.core_addrs()[1], &key, 1 << 20);
    // On worker 0, every GET is forwarded to partition 1: 64 MiB of replies
    // that the client never reads.
    let mut greedy = pipeline_gets(server.core_addrs()[0], &key, 64);
    wait_stat(
        server.shared_addr(),
        "client_output_limit_disconnections",
        1,
    );
    assert!(greedy.is_closed(), "the client past its limit is closed");
    // Everyone else is served as before.
    let mut other = RespConn::connect(server.core_addrs()[0]);
    assert_eq!(other.cmd(&["STRLEN", &key]), Value::Int(1 << 20));
    let mut info = RespConn::connect(server.shared_addr());
    let text = info.cmd(&["INFO", "stats"]).text();
    assert!(
        text.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{text}"
    );
}

#[test]
fn soft_limit_disconnects_a_client_that_stays_above_it() {
    let mut config = common::config(2);
    config.client_output_buffer_limit = OutputLimit::parse("0 1mb 1").unwrap();
    let server = common::start_with(&config);
    let key = key_on(&server, 1);
    store_big(server.core_addrs()[1], &key, 1 << 20);
    // 48 MiB of forwarded replies in one batch: more than the kernel's
    // socket buffers hold, so the write blocks with more than 1 MiB queued.
    let mut slow = pipeline_gets(server.core_addrs()[0], &key, 48);
    wait_stat(
        server.shared_addr(),
        "client_output_limit_disconnections",
        1,
    );
    let rest = slow.read_rest();
    assert!(rest < 48 << 20, "the queue was dropped, not sent");
}

#[test]
fn maxclients_refuses_with_redis_error_and_frees_places() {
    let mut config = common::config(2);
    config.maxclients = 5;
    let server = common::start_with(&config);
    let addr = server.shared_addr();
    let mut clients: Vec<RespConn> = (0..5).map(|_| RespConn::connect(addr)).collect();
    for c in &mut clients {
        assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    }
    let mut sixth = RespConn::connect(addr);
    assert_eq!(
        sixth.read(),
        Value::Error("ERR max number of clients reached".into())
    );
    assert!(sixth.is_closed());
    let stats = clients[0].cmd(&["INFO", "stats"]).text();
    assert!(stats.contains("rejected_connections:1\r\n"), "{stats}");
    drop(clients.pop());
    // The freed place is noticed once the server sees the close.
    let deadline = Instant::now() + GUARD;
    loop {
        let mut c = RespConn::connect(addr);
        c.send(&["PING"]);
        if c.read() == Value::Simple("PONG".into()) {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in &mut clients {
        assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    }
}

#[test]
fn config_set_maxclients_applies_to_new_connections() {
    let server = common::start(2);
    let addr = server.shared_addr();
    let mut admin = RespConn::connect(addr);
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("10000")])
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxclients", "2"]),
        Value::ok()
    );
    let mut second = RespConn::connect(addr);
    assert_eq!(second.cmd(&["PING"]), Value::Simple("PONG".into()));
    let mut third = RespConn::connect(addr);
    assert_eq!(
        third.read(),
        Value::Error("ERR max number of clients reached".into())
    );
    let info = admin.cmd(&["INFO", "clients"]).text();
    assert!(info.contains("maxclients:2\r\n"), "{info}");
}

#[test]
fn idle_timeout_closes_idle_clients_only() {
    let mut config = common::config(2);
    config.timeout = 1;
    let server = common::start_with(&config);
    let addr = server.shared_addr();
    let mut idle = RespConn::connect(addr);
    assert_eq!(idle.cmd(&["PING"]), Value::Simple("PONG".into()));
    let mut busy = RespConn::connect(addr);
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert_eq!(busy.cmd(&["PING"]), Value::Simple("PONG".into()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(idle.is_closed(), "idle for 2.5 s with timeout 1");
    assert!(total_stat(addr, "client_idle_timeouts") >= 1);
}

#[test]
fn config_set_timeout_and_output_limit_read_back() {
    let server = common::start(1);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        Value::Array(vec![
            Value::bulk("client-output-buffer-limit"),
            Value::bulk(
                "normal 268435456 67108864 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            ),
        ])
    );
    let set = [
        "CONFIG",
        "SET",
        "timeout",
        "30",
        "client-output-buffer-limit",
        "normal 1mb 512kb 10",
    ];
    assert_eq!(c.cmd(&set), Value::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]),
        Value::Array(vec![Value::bulk("timeout"), Value::bulk("30")])
    );
    let got = c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]);
    let Value::Array(got) = got else {
        panic!("{got:?}")
    };
    assert!(got[1].text().starts_with("normal 1048576 524288 10 "));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "-1"]),
        Value::Error("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive".into())
    );
}

#[test]
fn proto_max_bulk_len_caps_set_and_append_with_redis_errors() {
    let server = common::start(2);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        Value::ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "proto-max-bulk-len"]),
        Value::Array(vec![
            Value::bulk("proto-max-bulk-len"),
            Value::bulk("1048576")
        ])
    );
    let part = vec![b'a'; 700 * 1024];
    c.send_bytes(&[b"APPEND", b"grow", &part]);
    assert_eq!(c.read(), Value::Int(700 * 1024));
    c.send_bytes(&[b"APPEND", b"grow", &part]);
    assert_eq!(
        c.read(),
        Value::Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into())
    );
    assert_eq!(c.cmd(&["STRLEN", "grow"]), Value::Int(700 * 1024));
    // A bulk argument past the limit is refused on its header, as Redis
    // does: the header alone gets the error (sending the megabyte after it
    // would race the server's close, a reset, with the client's write).
    let mut big = RespConn::connect(server.shared_addr());
    big.send_raw(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\nbbbb", (1 << 20) + 1).as_bytes());
    let Value::Error(e) = big.read() else {
        panic!("a bulk over proto-max-bulk-len was accepted")
    };
    assert!(e.contains("bulk"), "{e}");
}

#[test]
fn idle_connections_hold_no_buffers() {
    let server = common::start(2);
    let addr = server.shared_addr();
    let mut idle: Vec<RespConn> = Vec::new();
    for _ in 0..200 {
        let mut c = RespConn::connect(addr);
        assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
        idle.push(c);
    }
    // Only the connection asking holds buffers (two of 16 KiB, or so);
    // eager buffers would be 200 × 32 KiB.
    let held = total_stat(addr, "client_buffer_bytes");
    assert!(
        held <= 64 * 1024,
        "{held} bytes of buffers for idle clients"
    );
    let mut busy = Client::connect(addr);
    busy.writer().write_all(b"PING\n").unwrap();
    assert_eq!(busy.read_response(), common::PONG);
}

#[test]
fn blocked_client_output_counts_toward_maxmemory() {
    let mut config = common::config(1);
    config.maxmemory = 2250 * 1024;
    config.eviction_policy = corekv::config::EvictionPolicy::Noeviction;
    config.client_output_buffer_limit = OutputLimit::parse("0 0 0").unwrap();
    let server = common::start_with(&config);
    let addr = server.shared_addr();
    // Just under 1 MiB, so the entry's size class is exactly 1 MiB (the
    // budget check rounds a write up to the allocator's class).
    store_big(addr, "big", (1 << 20) - 64);
    let mut c = RespConn::connect(addr);
    assert_eq!(c.cmd(&["SET", "small", "1"]), Value::ok());
    // A client that never reads holds a blocked reply of over 1 MiB.
    let greedy = pipeline_gets(addr, "big", 64);
    let deadline = Instant::now() + GUARD;
    while info_field(&mut c, "memory", "mem_clients_normal") < 1 << 20 {
        assert!(Instant::now() < deadline, "the reply never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mem = c.cmd(&["INFO", "memory"]).text();
    assert_eq!(
        c.cmd(&["SET", "small2", "1"]),
        Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into()),
        "{mem}"
    );
    drop(greedy);
    let deadline = Instant::now() + GUARD;
    while c.cmd(&["SET", "small2", "1"]) != Value::ok() {
        assert!(
            Instant::now() < deadline,
            "client memory was never given back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_finishes_while_a_client_floods_commands() {
    let server = common::start(1);
    let addr = server.shared_addr();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = stream;
    std::thread::spawn(move || {
        let pings = b"PING\n".repeat(4096);
        while writer.write_all(&pings).is_ok() {}
    });
    std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        while matches!(std::io::Read::read(&mut reader, &mut buf), Ok(n) if n > 0) {}
    });
    // The flood is being served…
    let deadline = Instant::now() + GUARD;
    while total_stat(addr, "commands") < 100_000 {
        assert!(Instant::now() < deadline, "the flood was never served");
        std::thread::sleep(Duration::from_millis(20));
    }
    // …and shutdown still ends: the connection stops after its batch.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.shutdown();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(GUARD).is_ok(),
        "shutdown hung behind a client that never stops sending"
    );
}

#[test]
fn escaped_text_replies_count_at_their_encoded_size() {
    let mut config = common::config(2);
    config.client_output_buffer_limit = OutputLimit::parse("1mb 0 0").unwrap();
    let server = common::start_with(&config);
    let key = key_on(&server, 1);
    // 256 KiB of control bytes: each is `\u0001` (6 bytes) in a JSON reply.
    let mut owner = RespConn::connect(server.core_addrs()[1]);
    owner.send_bytes(&[b"SET", key.as_bytes(), &vec![1u8; 256 * 1024]]);
    assert_eq!(owner.read(), Value::ok());
    let mut text = Client::connect(server.core_addrs()[0]);
    text.send(format!("GET {key}\n").repeat(4).as_bytes());
    wait_stat(
        server.shared_addr(),
        "client_output_limit_disconnections",
        1,
    );
    text.expect_eof();
}

/// The finding: 200 open text transactions, each under
/// --max-txn-bytes, grew RSS far past --maxmemory. Their buffers are client
/// memory now: past the worker's share a buffered write dooms its
/// transaction (nothing is applied), and the memory comes back with it.
#[test]
fn open_transactions_count_toward_maxmemory() {
    let mut config = common::config(1);
    config.maxmemory = 4 << 20;
    config.eviction_policy = corekv::config::EvictionPolicy::Noeviction;
    let server = common::start_with(&config);
    let addr = server.shared_addr();
    let value = "v".repeat(256 * 1024);
    let mut clients: Vec<Client> = Vec::new();
    let mut refused = None;
    'fill: for i in 0..40 {
        let mut c = Client::connect(addr);
        assert_eq!(c.cmd("START"), common::OK);
        for j in 0..4 {
            let reply = c.cmd(&format!("PUT k{i}-{j} {value}"));
            if reply != common::OK {
                refused = Some((i, reply));
                clients.push(c);
                break 'fill;
            }
        }
        clients.push(c);
    }
    let (at, reply) = refused.expect("open transactions never hit --maxmemory");
    assert!(at >= 2, "refused too early, at client {at}");
    assert!(
        common::error_mesg(&reply).starts_with("out of memory"),
        "{reply}"
    );
    let last = clients.last_mut().unwrap();
    // The doomed transaction applies nothing and can only be rolled back.
    assert!(common::error_mesg(&last.cmd("COMMIT")).starts_with("out of memory"));
    // MULTI queues count too: a refused queueing aborts the EXEC.
    let mut r = RespConn::connect(addr);
    assert_eq!(r.cmd(&["MULTI"]), Value::ok());
    let mut oom = false;
    for j in 0..40 {
        match r.cmd(&["SET", &format!("m{j}"), &value]) {
            Value::Simple(q) if q == "QUEUED" => {}
            Value::Error(e) => {
                assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
                oom = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(oom, "MULTI queues never hit --maxmemory");
    assert!(matches!(r.cmd(&["EXEC"]), Value::Error(e) if e.starts_with("EXECABORT")));
    // Closing the transactions gives the memory back: writes work again.
    drop(clients);
    let mut c = Client::connect(addr);
    let deadline = Instant::now() + GUARD;
    while c.cmd(&format!("PUT after {value}")) != common::OK {
        assert!(Instant::now() < deadline, "client memory never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.cmd("DBSIZE"), common::ok_result("1"));
}
