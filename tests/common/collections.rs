//! The `redis` crate helpers the collection tests share (`tests/sets.rs`,
//! `tests/lists.rs`, `tests/zsets.rs`): a connection with hang guards, one
//! key per partition, a command's raw reply, error or integer.

use corekv::Server;
use redis::{Connection, RedisResult, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// Guard against a reply that never comes (turns a hang into a failure).
pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

pub fn connect(addr: SocketAddr, resp3: bool) -> Connection {
    let proto = if resp3 { "?protocol=resp3" } else { "" };
    let client = redis::Client::open(format!("redis://{addr}/{proto}")).expect("client");
    let con = client
        .get_connection_with_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    con.set_read_timeout(Some(TIMEOUT)).unwrap();
    con.set_write_timeout(Some(TIMEOUT)).unwrap();
    con
}

/// One key on each of `n` different partitions, named `prefix…`: key `i`
/// is on partition `i`.
pub fn spread(server: &Server, prefix: &str, n: usize) -> Vec<String> {
    let keys: Vec<String> = super::keys_by_partition(server.topology(), prefix, 1)
        .into_iter()
        .flatten()
        .take(n)
        .collect();
    assert_eq!(keys.len(), n, "the server has {n} partitions");
    keys
}

/// Sends a command as it is, answering the raw reply.
#[track_caller]
pub fn raw(con: &mut Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(con) {
        Ok(v) => v,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// The error a command answers (panics if it succeeds).
#[track_caller]
pub fn err(con: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: RedisResult<Value> = cmd.query(con);
    match r {
        Ok(v) => panic!("{args:?}: expected an error, got {v:?}"),
        Err(e) => format!(
            "{} {}",
            e.code().unwrap_or_default(),
            e.detail().unwrap_or_default()
        ),
    }
}

#[track_caller]
pub fn int(con: &mut Connection, args: &[&str]) -> i64 {
    match raw(con, args) {
        Value::Int(n) => n,
        other => panic!("{args:?}: not an integer: {other:?}"),
    }
}

/// A server of `workers` workers with `maxmemory` bytes under `policy`.
pub fn limited(workers: u16, maxmemory: usize, policy: corekv::config::EvictionPolicy) -> Server {
    let mut config = super::config(workers);
    config.maxmemory = maxmemory;
    config.eviction_policy = policy;
    super::start_with(&config)
}

/// A numeric field of `INFO section`.
#[track_caller]
pub fn info(con: &mut Connection, section: &str, field: &str) -> u64 {
    let all = text(&raw(con, &["INFO", section]));
    all.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {all}"))
}

pub fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).expect("UTF-8"),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => panic!("not a string: {other:?}"),
    }
}
