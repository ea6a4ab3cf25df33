//! Memory used by clients: `maxmemory-clients` (client eviction, `CLIENT
//! NO-EVICT`), the spare-buffer pool and replies in flight in the figures
//! the server reports, and transaction replies bounded by the output limit
//! while they are built.

mod common;

use common::resp::{info_field, RespConn, Value};
use common::{total_stat, wait_stat, Client};
use corekv::clients::{MaxmemoryClients, OutputLimit};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a test waits for the server to act (a hang guard only).
const GUARD: Duration = Duration::from_secs(30);

/// Opens a `SET key <len bytes>` request and sends `sent` bytes of its
/// value: the server holds them in the connection's read buffer.
fn partial_set(addr: SocketAddr, key: &str, len: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let head = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${len}\r\n", key.len());
    s.write_all(head.as_bytes()).unwrap();
    // The server may close this client while it sends: that is the point.
    let _ = s.write_all(&vec![b'v'; sent]);
    s
}

/// Sends the rest of a [`partial_set`] and reads the reply.
fn finish_set(mut s: TcpStream, len: usize, sent: usize) -> String {
    let mut rest = vec![b'v'; len - sent];
    rest.extend_from_slice(b"\r\n");
    s.write_all(&rest).unwrap();
    let mut reply = [0u8; 5];
    std::io::Read::read_exact(&mut s, &mut reply).unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

/// True once the server closed `s` (reads EOF or a reset).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match std::io::Read::read(s, &mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("the client was not closed: {e}"),
        }
    }
}

/// Waits until `mem_clients_normal` reaches `at_least`.
fn wait_clients_memory(c: &mut RespConn, at_least: u64) {
    let deadline = Instant::now() + GUARD;
    while info_field(c, "memory", "mem_clients_normal") < at_least {
        assert!(Instant::now() < deadline, "the clients never held it");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn maxmemory_clients_evicts_the_biggest_client_and_serves_the_others() {
    let server = common::start(1);
    let addr = server.shared_addr();
    let mut admin = RespConn::connect(addr);
    assert_eq!(admin.cmd(&["CLIENT", "NO-EVICT", "on"]), Value::ok());
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "4mb"]),
        Value::ok()
    );
    // Two modest clients with partial requests, well under the limit…
    let (small_len, small_sent) = (512 * 1024, 256 * 1024);
    let (tiny_len, tiny_sent) = (256 * 1024, 128 * 1024);
    let small = partial_set(addr, "small", small_len, small_sent);
    let tiny = partial_set(addr, "tiny", tiny_len, tiny_sent);
    wait_clients_memory(&mut admin, (small_sent + tiny_sent) as u64);
    assert_eq!(total_stat(addr, "evicted_clients"), 0);
    // … then one that grows past it alone.
    let mut big = partial_set(addr, "big", 32 << 20, 8 << 20);
    assert!(closed(&mut big), "the biggest client is disconnected");
    wait_stat(addr, "evicted_clients", 1);
    // The others are served as before.
    assert_eq!(finish_set(small, small_len, small_sent), "+OK\r\n");
    assert_eq!(finish_set(tiny, tiny_len, tiny_sent), "+OK\r\n");
    assert_eq!(
        admin.cmd(&["STRLEN", "small"]),
        Value::Int(small_len as i64)
    );
    assert_eq!(admin.cmd(&["EXISTS", "big"]), Value::Int(0));
    assert_eq!(info_field(&mut admin, "stats", "evicted_clients"), 1);
    assert_eq!(total_stat(addr, "evicted_clients"), 1);
}

#[test]
fn client_no_evict_protects_a_client_and_the_next_biggest_goes() {
    let mut config = common::config(2);
    config.client_output_buffer_limit = OutputLimit::parse("0 0 0").unwrap();
    config.maxmemory_clients = MaxmemoryClients::Bytes(48 << 20);
    let server = common::start_with(&config);
    let key = common::keys_by_partition(server.topology(), "big", 1)[1][0].clone();
    let mut admin = RespConn::connect(server.core_addrs()[0]);
    assert_eq!(admin.cmd(&["CLIENT", "NO-EVICT", "on"]), Value::ok());
    let value = "v".repeat(1 << 20);
    assert_eq!(admin.cmd(&["SET", &key, &value]), Value::ok());
    // Two clients on worker 0 that never read their forwarded replies:
    // 30 MiB (protected) and 20 MiB blocked, more than the socket buffers
    // take, in buffers of 32 MiB each. Together they pass 48 MiB; only the
    // unprotected one goes, which brings the total back under.
    let gets = |n: usize| {
        let one = common::resp::request(&[b"GET", key.as_bytes()]);
        one.repeat(n)
    };
    let mut protected = RespConn::connect(server.core_addrs()[0]);
    assert_eq!(protected.cmd(&["CLIENT", "NO-EVICT", "on"]), Value::ok());
    protected.send_raw(&gets(30));
    wait_clients_memory(&mut admin, 24 << 20);
    let mut greedy = RespConn::connect(server.core_addrs()[0]);
    greedy.send_raw(&gets(20));
    wait_stat(server.shared_addr(), "evicted_clients", 1);
    assert!(greedy.is_closed(), "the unprotected client is evicted");
    // The protected one still gets every reply.
    for _ in 0..30 {
        assert_eq!(protected.read(), Value::Bulk(value.clone().into_bytes()));
    }
    assert_eq!(protected.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(total_stat(server.shared_addr(), "evicted_clients"), 1);
}

#[test]
fn maxmemory_clients_config_and_client_no_evict_errors_match_redis() {
    let mut config = common::config(1);
    config.maxmemory = 100 << 20;
    let server = common::start_with(&config);
    let mut c = RespConn::connect(server.shared_addr());
    let get = |c: &mut RespConn| c.cmd(&["CONFIG", "GET", "maxmemory-clients"]);
    let pair = |v: &str| Value::Array(vec![Value::bulk("maxmemory-clients"), Value::bulk(v)]);
    assert_eq!(get(&mut c), pair("0"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-clients", "10%"]),
        Value::ok()
    );
    assert_eq!(get(&mut c), pair("10%"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-clients", "1mb"]),
        Value::ok()
    );
    assert_eq!(get(&mut c), pair("1048576"));
    let failed = |why: &str| {
        Value::Error(format!(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - {why}"
        ))
    };
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-clients", "101%"]),
        failed("percentage argument must be less or equal to 100")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-clients", "-1"]),
        failed("argument must be a memory or percent value")
    );
    assert_eq!(
        get(&mut c),
        pair("1048576"),
        "a refused SET changes nothing"
    );
    assert_eq!(
        c.cmd(&["CLIENT", "NO-EVICT", "maybe"]),
        Value::Error("ERR syntax error".into())
    );
    assert_eq!(
        c.cmd(&["CLIENT", "NO-EVICT"]),
        Value::Error("ERR wrong number of arguments for 'client|no-evict' command".into())
    );
    assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "ON"]), Value::ok());
    assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "off"]), Value::ok());
}

#[test]
fn the_spare_buffer_pool_shows_in_info_and_stats() {
    let server = common::start(1);
    let addr = server.shared_addr();
    let deadline = Instant::now() + GUARD;
    loop {
        // Two clients hold buffers at once (one mid-line), then both go
        // idle: their buffers wait in the pool. A third asks.
        let mut a = Client::connect(addr);
        a.send(b"PI");
        let mut b = Client::connect(addr);
        assert_eq!(b.cmd("PING"), common::ok_result("PONG"));
        a.send(b"NG\n");
        assert_eq!(a.read_response(), common::ok_result("PONG"));
        let pool = total_stat(addr, "client_buffer_pool_bytes");
        let mut r = RespConn::connect(addr);
        let info = info_field(&mut r, "memory", "mem_client_buffer_pool");
        // The idle release may empty the pool between two steps: retry.
        if pool >= 16 * 1024 && info >= 16 * 1024 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool never showed: {pool} {info}"
        );
    }
    let text = RespConn::connect(addr).cmd(&["INFO", "memory"]).text();
    assert!(text.contains("mem_client_replies_in_flight:"), "{text}");
}

#[test]
fn exec_of_many_big_gets_is_cut_at_the_output_limit_while_built() {
    let mut config = common::config(2);
    config.client_output_buffer_limit = OutputLimit::parse("1mb 0 0").unwrap();
    let server = common::start_with(&config);
    let keys = common::keys_by_partition(server.topology(), "big", 1);
    let addr = server.core_addrs()[0];
    let mut setup = RespConn::connect(addr);
    let value = "v".repeat(1 << 20);
    for k in [&keys[0][0], &keys[1][0]] {
        assert_eq!(setup.cmd(&["SET", k, &value]), Value::ok());
    }
    let peak_before = total_stat(addr, "client_replies_in_flight_peak_bytes");
    assert!(peak_before < 4 << 20, "{peak_before}");
    // One partition (a single apply), then two (two-phase commit, the
    // reads run at prepare): 64 MiB of replies against a 1 MiB limit.
    for (round, parts) in [vec![&keys[1][0]], vec![&keys[0][0], &keys[1][0]]]
        .into_iter()
        .enumerate()
    {
        let mut c = RespConn::connect(addr);
        assert_eq!(c.cmd(&["MULTI"]), Value::ok());
        for i in 0..64 {
            let k = parts[i % parts.len()];
            assert_eq!(c.cmd(&["GET", k]), Value::Simple("QUEUED".into()));
        }
        let marker = format!("after{round}");
        assert_eq!(
            c.cmd(&["SET", &marker, "1"]),
            Value::Simple("QUEUED".into())
        );
        c.send(&["EXEC"]);
        assert!(c.is_closed(), "the client past its limit is closed");
        wait_stat(
            server.shared_addr(),
            "client_output_limit_disconnections",
            round as u64 + 1,
        );
        // The transaction ran whole, as in Redis.
        assert_eq!(setup.cmd(&["GET", &marker]), Value::bulk("1"));
    }
    // No partition ever held more than about the limit in replies.
    let peak = total_stat(addr, "client_replies_in_flight_peak_bytes");
    assert!(
        peak < 8 << 20,
        "replies held at once peaked at {peak} bytes"
    );
}
