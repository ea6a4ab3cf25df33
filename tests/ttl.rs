//! Time to live, in real time, over both protocols: commands, expired keys
//! never served, and background reclaim of keys nobody reads again.

mod common;

use common::resp::{RespConn, Value};
use common::{error, ok_result, Client, OK};
use std::time::{Duration, Instant};

/// Polls `f` until it returns true or `within` passes.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn stats_total(c: &mut Client) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&c.cmd("STATS")).unwrap();
    v["result"]["total"].clone()
}

fn dbsize(r: &mut RespConn) -> i64 {
    match r.cmd(&["DBSIZE"]) {
        Value::Int(n) => n,
        other => panic!("DBSIZE: {other:?}"),
    }
}

fn info_field(r: &mut RespConn, section: &str, field: &str) -> String {
    let text = r.cmd(&["INFO", section]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .to_string()
}

#[test]
fn text_protocol_ttl_commands() {
    let server = common::start(4);
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("PUTEX s 100 3 * 3 = 9"), OK);
    assert_eq!(c.cmd("GET s"), ok_result("3 * 3 = 9"));
    let ttl = c.cmd("TTL s");
    assert!(ttl == ok_result("100") || ttl == ok_result("99"), "{ttl}");
    assert_eq!(c.cmd("PERSIST s"), ok_result("1"));
    assert_eq!(c.cmd("TTL s"), ok_result("-1"));
    assert_eq!(c.cmd("PERSIST s"), ok_result("0"));
    assert_eq!(c.cmd("EXPIRE s 50"), ok_result("1"));
    assert_eq!(c.cmd("PUT s plain"), OK);
    assert_eq!(c.cmd("TTL s"), ok_result("-1"), "PUT clears the TTL");
    assert_eq!(c.cmd("TTL nokey"), error("key not found"));
    assert_eq!(c.cmd("EXPIRE nokey 5"), error("key not found"));
    assert_eq!(c.cmd("PEXPIRE s 0"), ok_result("1"));
    assert_eq!(
        c.cmd("GET s"),
        error("key not found"),
        "a non-positive TTL deletes"
    );
    assert!(c.cmd("PUTEX k 0 v").contains("invalid expire time"));
    assert!(c.cmd("EXPIRE k soon").contains("invalid time to live"));
    // Not inside a transaction (it would act outside it).
    assert_eq!(c.cmd("START"), OK);
    assert!(c
        .cmd("PUTEX k 10 v")
        .contains("not allowed inside a transaction"));
    assert_eq!(c.cmd("ROLLBACK"), OK);
}

#[test]
fn short_ttls_expire_on_read_and_in_the_background() {
    let server = common::start(4);
    let mut c = Client::connect(server.shared_addr());
    let mut r = RespConn::connect(server.shared_addr());
    // Keys on every partition, expiring in 300 ms, and one that stays.
    let mut lines = String::new();
    for i in 0..400 {
        lines.push_str(&format!("PUT t{i} v\nPEXPIRE t{i} 300\n"));
    }
    lines.push_str("PUT stays v\n");
    c.send(lines.as_bytes());
    for _ in 0..801 {
        let line = c.read_response();
        assert!(line == OK || line == ok_result("1"), "{line}");
    }
    assert_eq!(dbsize(&mut r), 401);
    let memory_before = stats_total(&mut c)["memory_bytes"].as_u64().unwrap();
    assert_eq!(
        info_field(&mut r, "keyspace", "db0"),
        "keys=401,expires=400,avg_ttl=0"
    );
    // Read one after expiry: never served.
    assert!(eventually(Duration::from_secs(3), || c.cmd("GET t0")
        == error("key not found")));
    // The others are never read again, yet their memory is reclaimed.
    assert!(
        eventually(Duration::from_secs(5), || dbsize(&mut r) == 1),
        "dbsize stayed at {}",
        dbsize(&mut r)
    );
    assert_eq!(info_field(&mut r, "stats", "expired_keys"), "400");
    let total = stats_total(&mut c);
    assert_eq!(total["expired"], 400, "STATS counts the expirations");
    assert_eq!(total["keys_with_ttl"], 0);
    let memory_after = total["memory_bytes"].as_u64().unwrap();
    // The 400 entries' allocations (24 bytes each here) are given back;
    // table capacity stays, as a hash table's does.
    assert!(
        memory_before - memory_after >= 400 * 24,
        "memory returns: {memory_before} -> {memory_after}"
    );
    assert_eq!(c.cmd("GET stays"), ok_result("v"));
}

#[test]
fn resp_ttl_commands_follow_redis() {
    let server = common::start(4);
    let mut r = RespConn::connect(server.shared_addr());
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "100"]), Value::ok());
    assert!(matches!(r.cmd(&["TTL", "k"]), Value::Int(99 | 100)));
    assert!(matches!(r.cmd(&["PTTL", "k"]), Value::Int(n) if n > 99_000 && n <= 100_000));
    assert_eq!(r.cmd(&["SET", "k", "w", "KEEPTTL"]), Value::ok());
    assert!(matches!(r.cmd(&["TTL", "k"]), Value::Int(99 | 100)));
    assert_eq!(r.cmd(&["SET", "k", "x"]), Value::ok());
    assert_eq!(r.cmd(&["TTL", "k"]), Value::Int(-1));
    assert_eq!(r.cmd(&["TTL", "none"]), Value::Int(-2));
    assert_eq!(r.cmd(&["EXPIRE", "none", "10"]), Value::Int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "10"]), Value::Int(1));
    assert_eq!(r.cmd(&["PERSIST", "k"]), Value::Int(1));
    assert_eq!(r.cmd(&["PERSIST", "k"]), Value::Int(0));
    assert_eq!(r.cmd(&["SETEX", "s", "100", "v"]), Value::ok());
    assert!(matches!(r.cmd(&["TTL", "s"]), Value::Int(99 | 100)));
    assert_eq!(r.cmd(&["PSETEX", "p", "100000", "v"]), Value::ok());
    assert!(matches!(r.cmd(&["TTL", "p"]), Value::Int(99 | 100)));
    assert_eq!(r.cmd(&["GETEX", "s", "PERSIST"]), Value::bulk("v"));
    assert_eq!(r.cmd(&["TTL", "s"]), Value::Int(-1));
    assert_eq!(r.cmd(&["GETEX", "s", "PX", "50000"]), Value::bulk("v"));
    assert!(matches!(r.cmd(&["TTL", "s"]), Value::Int(49 | 50)));
    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000;
    assert_eq!(
        r.cmd(&["SET", "at", "v", "EXAT", &future.to_string()]),
        Value::ok()
    );
    assert!(matches!(r.cmd(&["TTL", "at"]), Value::Int(999 | 1000)));
    assert_eq!(r.cmd(&["GETEX", "nokey"]), Value::Nil);
    // Errors, as Redis words them.
    let err = |v: Value| match v {
        Value::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(
        err(r.cmd(&["SET", "k", "v", "EX", "0"])),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(r.cmd(&["SET", "k", "v", "EX", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(r.cmd(&["SET", "k", "v", "EX", "5", "KEEPTTL"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(r.cmd(&["SETEX", "k", "-1", "v"])),
        "ERR invalid expire time in 'setex' command"
    );
    // A past deadline deletes at once.
    assert_eq!(r.cmd(&["EXPIRE", "at", "-1"]), Value::Int(1));
    assert_eq!(r.cmd(&["EXISTS", "at"]), Value::Int(0));
    // TTLs work inside MULTI, atomically with the rest.
    assert_eq!(r.cmd(&["MULTI"]), Value::ok());
    assert_eq!(
        r.cmd(&["SET", "m1", "v", "PX", "100000"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        r.cmd(&["EXEC"]),
        Value::Array(vec![Value::ok(), Value::Int(1)])
    );
    assert!(matches!(r.cmd(&["TTL", "k"]), Value::Int(99 | 100)));
}
