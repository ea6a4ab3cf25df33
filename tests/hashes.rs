//! Hashes end to end against in-process 4-worker servers (keys spread over
//! the partitions): every hash command through the Rust `redis` crate in
//! RESP2 and RESP3, the listpack → hashtable conversions and their
//! `CONFIG` settings, `WRONGTYPE` both ways, the text protocol on a hash
//! key, `RENAME`/`COPY` of small and big hashes within and across
//! partitions, TTLs, `MULTI`/`EXEC` and `WATCH`, `--maxmemory` under
//! `noeviction` and `sieve`, the lazy free of a million-field hash, and a
//! redis-py object cache (`tests/python/test_hash_cache.py`).
//!
//! Every wait is a poll with a generous hang guard, never a time bound.

mod common;

use common::collections::{info, limited};
use common::resp::{describe, run_with_timeout, tool, RespConn, Value as Raw};
use common::{Client, OK};
use corekv::config::EvictionPolicy;
use corekv::Server;
use redis::{Connection, RedisResult, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WORKERS: u16 = 4;
/// Guard against a reply that never comes (turns a hang into a failure).
const TIMEOUT: Duration = Duration::from_secs(60);
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn connect_with(addr: SocketAddr, resp3: bool) -> Connection {
    let proto = if resp3 { "?protocol=resp3" } else { "" };
    let client = redis::Client::open(format!("redis://{addr}/{proto}")).expect("client");
    let con = client
        .get_connection_with_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    con.set_read_timeout(Some(TIMEOUT)).unwrap();
    con.set_write_timeout(Some(TIMEOUT)).unwrap();
    con
}

fn connect(addr: SocketAddr) -> Connection {
    connect_with(addr, false)
}

/// One key per partition, `prefix<n>`, in partition order.
fn one_per_partition(server: &Server, prefix: &str) -> Vec<String> {
    common::keys_by_partition(server.topology(), prefix, 1)
        .into_iter()
        .map(|mut k| k.remove(0))
        .collect()
}

fn partition(server: &Server, key: &str) -> usize {
    server.topology().partition_of_key(key.as_bytes())
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

/// A `WRONGTYPE` error with Redis's text (the crate splits off the code).
#[track_caller]
fn expect_wrongtype<T: std::fmt::Debug>(r: RedisResult<T>) {
    match r {
        Ok(v) => panic!("expected WRONGTYPE, got {v:?}"),
        Err(e) => {
            assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
            let text = format!("WRONGTYPE {}", e.detail().unwrap_or_default());
            assert_eq!(text, WRONGTYPE);
        }
    }
}

/// Runs one command built from `args`.
fn q<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

/// [`q`], panicking on an error reply.
#[track_caller]
fn ok<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    q(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `HSET key f0 v0 … f(n-1) v(n-1)` (values `value(i)`) in pipelined
/// batches of `batch` fields.
fn fill(con: &mut Connection, key: &str, n: usize, batch: usize, value: impl Fn(usize) -> String) {
    let mut pipe = redis::pipe();
    let mut queued = 0;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let pairs: Vec<(String, String)> = (i..end).map(|j| (format!("f{j}"), value(j))).collect();
        pipe.cmd("HSET").arg(key).arg(&pairs).ignore();
        queued += 1;
        i = end;
        if queued == 64 || i == n {
            let () = pipe
                .query(con)
                .unwrap_or_else(|e| panic!("fill {key}: {e}"));
            pipe = redis::pipe();
            queued = 0;
        }
    }
}

fn encoding(con: &mut Connection, key: &str) -> String {
    ok(con, &["OBJECT", "ENCODING", key])
}

/// `HSCAN key` to the end (cursor 0 again), with optional `MATCH`.
fn hscan_all(con: &mut Connection, key: &str, pattern: Option<&str>) -> HashMap<String, String> {
    let mut cursor = "0".to_string();
    let mut got = HashMap::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut cmd = redis::cmd("HSCAN");
        cmd.arg(key).arg(&cursor).arg("COUNT").arg(50);
        if let Some(p) = pattern {
            cmd.arg("MATCH").arg(p);
        }
        let (next, items): (String, Vec<String>) = cmd.query(con).unwrap();
        assert_eq!(items.len() % 2, 0, "HSCAN returns pairs");
        for pair in items.chunks(2) {
            got.insert(pair[0].clone(), pair[1].clone());
        }
        if next == "0" {
            return got;
        }
        cursor = next;
        assert!(Instant::now() < deadline, "HSCAN {key} never ended");
    }
}

#[test]
fn every_hash_command_over_resp2() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    // One hash on each partition, so that every worker runs the commands.
    for key in one_per_partition(&server, "cmd:") {
        let k = key.as_str();
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "a", "1", "b", "2"]), 2);
        assert_eq!(
            ok::<i64>(&mut con, &["HSET", k, "a", "10", "c", "3"]),
            1,
            "HSET counts new fields only"
        );
        assert_eq!(
            ok::<String>(&mut con, &["HMSET", k, "d", "4", "e", "5"]),
            "OK"
        );
        assert_eq!(ok::<i64>(&mut con, &["HSETNX", k, "a", "x"]), 0);
        assert_eq!(ok::<i64>(&mut con, &["HSETNX", k, "f", "6"]), 1);
        assert_eq!(
            ok::<Option<String>>(&mut con, &["HGET", k, "a"]),
            Some("10".into())
        );
        assert_eq!(ok::<Option<String>>(&mut con, &["HGET", k, "zz"]), None);
        assert_eq!(
            ok::<Option<String>>(&mut con, &["HGET", "cmd:none", "a"]),
            None
        );
        assert_eq!(
            ok::<Vec<Option<String>>>(&mut con, &["HMGET", k, "a", "zz", "f"]),
            vec![Some("10".into()), None, Some("6".into())]
        );
        assert_eq!(
            ok::<Vec<Option<String>>>(&mut con, &["HMGET", "cmd:none", "a", "b"]),
            vec![None, None]
        );
        assert_eq!(ok::<i64>(&mut con, &["HLEN", k]), 6);
        assert_eq!(ok::<i64>(&mut con, &["HLEN", "cmd:none"]), 0);
        assert_eq!(ok::<i64>(&mut con, &["HEXISTS", k, "b"]), 1);
        assert_eq!(ok::<i64>(&mut con, &["HEXISTS", k, "zz"]), 0);
        assert_eq!(ok::<i64>(&mut con, &["HSTRLEN", k, "a"]), 2);
        assert_eq!(ok::<i64>(&mut con, &["HSTRLEN", k, "zz"]), 0);
        // Insertion order in the listpack, as Redis keeps it.
        assert_eq!(
            ok::<Vec<String>>(&mut con, &["HKEYS", k]),
            ["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(
            ok::<Vec<String>>(&mut con, &["HVALS", k]),
            ["10", "2", "3", "4", "5", "6"]
        );
        let all: Vec<String> = ok(&mut con, &["HGETALL", k]);
        assert_eq!(
            all,
            ["a", "10", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"],
            "RESP2 HGETALL is a flat array"
        );
        let as_map: HashMap<String, i64> = ok(&mut con, &["HGETALL", k]);
        assert_eq!(as_map.len(), 6);
        assert_eq!(as_map["a"], 10);
        assert_eq!(
            ok::<Vec<String>>(&mut con, &["HGETALL", "cmd:none"]).len(),
            0
        );
        assert_eq!(ok::<i64>(&mut con, &["HDEL", k, "e", "zz", "d"]), 2);
        assert_eq!(ok::<i64>(&mut con, &["HDEL", "cmd:none", "a"]), 0);
        assert_eq!(ok::<i64>(&mut con, &["HINCRBY", k, "a", "5"]), 15);
        assert_eq!(ok::<i64>(&mut con, &["HINCRBY", k, "n", "-3"]), -3);
        assert_eq!(
            ok::<String>(&mut con, &["HINCRBYFLOAT", k, "fl", "1.5"]),
            "1.5"
        );
        assert_eq!(
            ok::<String>(&mut con, &["HINCRBYFLOAT", k, "fl", "2.25"]),
            "3.75"
        );
        assert_eq!(
            ok::<String>(&mut con, &["HINCRBYFLOAT", k, "a", "0.5"]),
            "15.5"
        );
        expect_err(
            q::<i64>(&mut con, &["HINCRBY", k, "a", "1"]),
            "hash value is not an integer",
        );
        expect_err(
            q::<i64>(&mut con, &["HINCRBY", k, "b", "x"]),
            "value is not an integer or out of range",
        );
        assert_eq!(
            ok::<i64>(&mut con, &["HSET", k, "big", &i64::MAX.to_string()]),
            1
        );
        expect_err(
            q::<i64>(&mut con, &["HINCRBY", k, "big", "1"]),
            "increment or decrement would overflow",
        );
        assert_eq!(ok::<i64>(&mut con, &["HDEL", k, "big"]), 1);
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "word", "abc"]), 1);
        expect_err(
            q::<String>(&mut con, &["HINCRBYFLOAT", k, "word", "1"]),
            "hash value is not a float",
        );
        expect_err(
            q::<i64>(&mut con, &["HSET", k, "a"]),
            "wrong number of arguments for 'hset' command",
        );
        // The fields now: a b c f n fl word.
        let fields: Vec<String> = ok(&mut con, &["HKEYS", k]);
        assert_eq!(fields, ["a", "b", "c", "f", "n", "fl", "word"]);
        // HRANDFIELD: one field; distinct fields for a positive count
        // (all of them when it is larger); repeats for a negative one.
        let one: String = ok(&mut con, &["HRANDFIELD", k]);
        assert!(fields.contains(&one), "{one}");
        assert_eq!(
            ok::<Option<String>>(&mut con, &["HRANDFIELD", "cmd:none"]),
            None
        );
        let three: Vec<String> = ok(&mut con, &["HRANDFIELD", k, "3"]);
        assert_eq!(three.len(), 3);
        let distinct: std::collections::HashSet<&String> = three.iter().collect();
        assert_eq!(distinct.len(), 3, "{three:?}");
        let mut every: Vec<String> = ok(&mut con, &["HRANDFIELD", k, "100"]);
        every.sort();
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(every, sorted);
        let repeats: Vec<String> = ok(&mut con, &["HRANDFIELD", k, "-20"]);
        assert_eq!(repeats.len(), 20);
        assert!(repeats.iter().all(|f| fields.contains(f)));
        let with: Vec<String> = ok(&mut con, &["HRANDFIELD", k, "2", "WITHVALUES"]);
        assert_eq!(with.len(), 4, "RESP2: field, value, field, value");
        for pair in with.chunks(2) {
            let v: Option<String> = ok(&mut con, &["HGET", k, &pair[0]]);
            assert_eq!(v.as_deref(), Some(pair[1].as_str()));
        }
        assert_eq!(
            ok::<Vec<String>>(&mut con, &["HRANDFIELD", "cmd:none", "3"]).len(),
            0
        );
        // HSCAN: a small hash in one step.
        let (cursor, items): (String, Vec<String>) = ok(&mut con, &["HSCAN", k, "0"]);
        assert_eq!(cursor, "0");
        assert_eq!(items.len(), 2 * fields.len());
        let matched = hscan_all(&mut con, k, Some("f*"));
        let mut names: Vec<&String> = matched.keys().collect();
        names.sort();
        assert_eq!(names, ["f", "fl"]);
        // Deleting the last field deletes the key.
        let all: Vec<String> = ok(&mut con, &["HKEYS", k]);
        let mut del = vec!["HDEL", k];
        del.extend(all.iter().map(String::as_str));
        assert_eq!(ok::<i64>(&mut con, &del), all.len() as i64);
        assert_eq!(ok::<i64>(&mut con, &["EXISTS", k]), 0);
        assert_eq!(ok::<String>(&mut con, &["TYPE", k]), "none");
    }
    // HSCAN of a big hash, with MATCH, over several steps.
    let big = "cmd:big";
    fill(&mut con, big, 2000, 500, |i| format!("v{i}"));
    assert_eq!(encoding(&mut con, big), "hashtable");
    let all = hscan_all(&mut con, big, None);
    assert_eq!(all.len(), 2000);
    assert_eq!(all["f1999"], "v1999");
    let some = hscan_all(&mut con, big, Some("f1*"));
    assert_eq!(some.len(), 1111, "f1, f10-19, f100-199, f1000-1999");
    let got: HashMap<String, String> = ok(&mut con, &["HGETALL", big]);
    assert_eq!(got, all);
    let r: Vec<String> = ok(&mut con, &["HRANDFIELD", big, "5", "WITHVALUES"]);
    for pair in r.chunks(2) {
        assert_eq!(all[&pair[0]], pair[1]);
    }
}

#[test]
fn resp3_reply_shapes() {
    let server = common::start(WORKERS);
    let mut con = connect_with(server.shared_addr(), true);
    for key in one_per_partition(&server, "r3:") {
        let k = key.as_str();
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "a", "1", "b", "2"]), 2);
        let all: Value = ok(&mut con, &["HGETALL", k]);
        assert_eq!(
            all,
            Value::Map(vec![
                (
                    Value::BulkString(b"a".to_vec()),
                    Value::BulkString(b"1".to_vec())
                ),
                (
                    Value::BulkString(b"b".to_vec()),
                    Value::BulkString(b"2".to_vec())
                ),
            ]),
            "RESP3 HGETALL is a map"
        );
        let empty: Value = ok(&mut con, &["HGETALL", "r3:none"]);
        assert_eq!(empty, Value::Map(vec![]));
        let missing: Value = ok(&mut con, &["HGET", k, "zz"]);
        assert_eq!(missing, Value::Nil);
        let with: Value = ok(&mut con, &["HRANDFIELD", k, "2", "WITHVALUES"]);
        let Value::Array(pairs) = with else {
            panic!("HRANDFIELD WITHVALUES is an array: {with:?}");
        };
        assert_eq!(pairs.len(), 2, "two [field, value] pairs");
        for pair in pairs {
            let Value::Array(fv) = &pair else {
                panic!("RESP3 HRANDFIELD WITHVALUES pairs are arrays: {pair:?}");
            };
            let expect = match &fv[0] {
                Value::BulkString(f) if f == b"a" => b"1",
                Value::BulkString(f) if f == b"b" => b"2",
                other => panic!("not a field: {other:?}"),
            };
            assert_eq!(fv[1], Value::BulkString(expect.to_vec()));
        }
        let negative: Value = ok(&mut con, &["HRANDFIELD", k, "-3", "WITHVALUES"]);
        assert!(
            matches!(&negative, Value::Array(p) if p.len() == 3
                && p.iter().all(|x| matches!(x, Value::Array(fv) if fv.len() == 2))),
            "{negative:?}"
        );
        let float: Value = ok(&mut con, &["HINCRBYFLOAT", k, "a", "0.5"]);
        assert_eq!(
            float,
            Value::BulkString(b"1.5".to_vec()),
            "a bulk, as Redis"
        );
        let none: Value = ok(&mut con, &["HMGET", k, "zz", "b"]);
        assert_eq!(
            none,
            Value::Array(vec![Value::Nil, Value::BulkString(b"2".to_vec())])
        );
    }
    let config: Value = ok(&mut con, &["CONFIG", "GET", "hash-max-listpack-entries"]);
    assert_eq!(
        config,
        Value::Map(vec![(
            Value::BulkString(b"hash-max-listpack-entries".to_vec()),
            Value::BulkString(b"512".to_vec())
        )])
    );
}

#[test]
fn listpack_becomes_hashtable_by_count_and_by_length_with_config() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let defaults: Vec<String> = ok(&mut con, &["CONFIG", "GET", "hash-max-listpack-*"]);
    let defaults: HashMap<String, String> = defaults
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    assert_eq!(defaults["hash-max-listpack-entries"], "512");
    assert_eq!(defaults["hash-max-listpack-value"], "64");
    for key in one_per_partition(&server, "enc:") {
        let k = key.as_str();
        // By count: 512 fields stay packed, the 513th converts.
        fill(&mut con, k, 512, 100, |i| format!("v{i}"));
        assert_eq!(encoding(&mut con, k), "listpack");
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "one-more", "x"]), 1);
        assert_eq!(encoding(&mut con, k), "hashtable");
        assert_eq!(ok::<i64>(&mut con, &["HLEN", k]), 513);
        assert_eq!(
            ok::<Option<String>>(&mut con, &["HGET", k, "f7"]),
            Some("v7".into())
        );
        // It stays a hashtable when it shrinks (Redis does not go back).
        let fields: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
        let mut del = vec!["HDEL", k];
        del.extend(fields.iter().map(String::as_str));
        assert_eq!(ok::<i64>(&mut con, &del), 500);
        assert_eq!(encoding(&mut con, k), "hashtable");
        // By length: a 64-byte value is packed, a 65-byte one converts,
        // as does a 65-byte field; HINCRBYFLOAT and HSETNX too.
        let v = format!("{k}-v");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &v, "f", &"x".repeat(64)]), 1);
        assert_eq!(encoding(&mut con, &v), "listpack");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &v, "g", &"x".repeat(65)]), 1);
        assert_eq!(encoding(&mut con, &v), "hashtable");
        assert_eq!(
            ok::<Option<String>>(&mut con, &["HGET", &v, "f"]),
            Some("x".repeat(64))
        );
        let f = format!("{k}-f");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &f, &"y".repeat(65), "1"]), 1);
        assert_eq!(encoding(&mut con, &f), "hashtable");
        let nx = format!("{k}-nx");
        assert_eq!(
            ok::<i64>(&mut con, &["HSETNX", &nx, "a", &"z".repeat(100)]),
            1
        );
        assert_eq!(encoding(&mut con, &nx), "hashtable");
        // A value that grows past the limit in place (HSET over it).
        let grow = format!("{k}-grow");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &grow, "a", "1"]), 1);
        assert_eq!(
            ok::<i64>(&mut con, &["HSET", &grow, "a", &"w".repeat(70)]),
            0
        );
        assert_eq!(encoding(&mut con, &grow), "hashtable");
    }
    // CONFIG SET reaches every partition.
    assert_eq!(
        ok::<String>(
            &mut con,
            &[
                "CONFIG",
                "SET",
                "hash-max-listpack-entries",
                "4",
                "hash-max-listpack-value",
                "8"
            ]
        ),
        "OK"
    );
    let now: Vec<String> = ok(&mut con, &["CONFIG", "GET", "hash-max-listpack-entries"]);
    assert_eq!(now, ["hash-max-listpack-entries", "4"]);
    let now: Vec<String> = ok(&mut con, &["CONFIG", "GET", "hash-max-listpack-value"]);
    assert_eq!(now, ["hash-max-listpack-value", "8"]);
    for key in one_per_partition(&server, "small:") {
        let k = key.as_str();
        fill(&mut con, k, 4, 4, |i| format!("{i}"));
        assert_eq!(encoding(&mut con, k), "listpack");
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "e", "5"]), 1);
        assert_eq!(encoding(&mut con, k), "hashtable");
        let v = format!("{k}-v");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &v, "a", "12345678"]), 1);
        assert_eq!(encoding(&mut con, &v), "listpack");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &v, "b", "123456789"]), 1);
        assert_eq!(encoding(&mut con, &v), "hashtable");
    }
    expect_err(
        q::<String>(
            &mut con,
            &["CONFIG", "SET", "hash-max-listpack-entries", "x"],
        ),
        "hash-max-listpack-entries",
    );
}

#[test]
fn wrongtype_both_ways_type_scan_and_mget() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let hashes = one_per_partition(&server, "wt:h");
    let strings = one_per_partition(&server, "wt:s");
    for (h, s) in hashes.iter().zip(&strings) {
        assert_eq!(ok::<i64>(&mut con, &["HSET", h, "a", "1"]), 1);
        assert_eq!(ok::<String>(&mut con, &["SET", s, "5"]), "OK");
        for cmd in [
            &["GET", h][..],
            &["INCR", h],
            &["APPEND", h, "x"],
            &["STRLEN", h],
            &["GETRANGE", h, "0", "1"],
            &["SETRANGE", h, "0", "x"],
            &["GETDEL", h],
            &["INCRBYFLOAT", h, "1"],
        ] {
            expect_wrongtype(q::<Value>(&mut con, cmd));
        }
        for cmd in [
            &["HSET", s, "a", "1"][..],
            &["HGET", s, "a"],
            &["HGETALL", s],
            &["HLEN", s],
            &["HDEL", s, "a"],
            &["HINCRBY", s, "a", "1"],
            &["HSCAN", s, "0"],
            &["HRANDFIELD", s],
        ] {
            expect_wrongtype(q::<Value>(&mut con, cmd));
        }
        // Nothing was changed by the refused commands.
        assert_eq!(ok::<String>(&mut con, &["GET", s]), "5");
        assert_eq!(ok::<Vec<String>>(&mut con, &["HGETALL", h]), ["a", "1"]);
        assert_eq!(ok::<String>(&mut con, &["TYPE", h]), "hash");
        assert_eq!(ok::<String>(&mut con, &["TYPE", s]), "string");
        // SET overwrites whatever the key holds, as in Redis.
        let t = format!("{h}-over");
        assert_eq!(ok::<i64>(&mut con, &["HSET", &t, "a", "1"]), 1);
        assert_eq!(ok::<String>(&mut con, &["SET", &t, "now-a-string"]), "OK");
        assert_eq!(ok::<String>(&mut con, &["TYPE", &t]), "string");
        assert_eq!(ok::<i64>(&mut con, &["DEL", &t]), 1);
    }
    // MGET of a hash key answers nil for it (no WRONGTYPE), across
    // partitions.
    let mut asked: Vec<&str> = Vec::new();
    for (h, s) in hashes.iter().zip(&strings) {
        asked.push(h);
        asked.push(s);
    }
    let mut cmd = vec!["MGET"];
    cmd.extend(&asked);
    let got: Vec<Option<String>> = ok(&mut con, &cmd);
    let want: Vec<Option<String>> = hashes
        .iter()
        .flat_map(|_| [None, Some("5".to_string())])
        .collect();
    assert_eq!(got, want);
    // SCAN … TYPE sees each type on every partition.
    let scan = |con: &mut Connection, ty: &str| -> Vec<String> {
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let (next, found): (String, Vec<String>) =
                ok(con, &["SCAN", &cursor, "COUNT", "100", "TYPE", ty]);
            keys.extend(found);
            if next == "0" {
                break;
            }
            cursor = next;
            assert!(Instant::now() < deadline, "SCAN never ended");
        }
        keys.sort();
        keys
    };
    let mut want_h = hashes.clone();
    want_h.sort();
    let mut want_s = strings.clone();
    want_s.sort();
    assert_eq!(scan(&mut con, "hash"), want_h);
    assert_eq!(scan(&mut con, "string"), want_s);
    assert_eq!(
        scan(&mut con, "HASH"),
        want_h,
        "the type is case-insensitive"
    );
    assert!(scan(&mut con, "list").is_empty());
}

#[test]
fn the_text_protocol_names_the_type_and_put_overwrites() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let mut text = Client::connect(server.shared_addr());
    for key in one_per_partition(&server, "txt:") {
        assert_eq!(ok::<i64>(&mut con, &["HSET", &key, "a", "1"]), 1);
        let mesg = common::error_mesg(&text.cmd(&format!("GET {key}")));
        assert!(mesg.contains("hash"), "the error names the type: {mesg}");
        assert!(mesg.contains("wrong type"), "{mesg}");
        // The hash is still there.
        assert_eq!(ok::<i64>(&mut con, &["HLEN", &key]), 1);
        // PUT overwrites it with a string.
        assert_eq!(text.cmd(&format!("PUT {key} plain")), OK);
        assert_eq!(text.get(&key).as_deref(), Some("plain"));
        assert_eq!(ok::<String>(&mut con, &["TYPE", &key]), "string");
        // DEL removes a hash.
        assert_eq!(
            ok::<i64>(&mut con, &["HSET", &format!("{key}b"), "a", "1"]),
            1
        );
        text.del(&format!("{key}b"));
        assert_eq!(ok::<i64>(&mut con, &["EXISTS", &format!("{key}b")]), 0);
    }
}

/// A hash of `n` fields under `key`, with a TTL of 1000 s.
fn make_hash(con: &mut Connection, key: &str, n: usize) -> HashMap<String, String> {
    fill(con, key, n, 200, |i| format!("value-{i}"));
    assert_eq!(ok::<i64>(con, &["EXPIRE", key, "1000"]), 1);
    ok(con, &["HGETALL", key])
}

#[track_caller]
fn assert_ttl_carried(con: &mut Connection, key: &str) {
    let ttl: i64 = ok(con, &["TTL", key]);
    assert!((900..=1000).contains(&ttl), "TTL of {key}: {ttl}");
}

#[test]
fn rename_and_copy_small_and_big_hashes_within_and_across_partitions() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    for (n, enc) in [(5, "listpack"), (600, "hashtable")] {
        for across in [false, true] {
            let tag = format!("n{n}-a{across}");
            let src = format!("{{{tag}}}src");
            let (dst, copy) = if across {
                // Destinations on two other partitions than the source's.
                let p = partition(&server, &src);
                let mut pick = common::keys_by_partition(server.topology(), &format!("{tag}-"), 1)
                    .into_iter()
                    .enumerate()
                    .filter(|(q, _)| *q != p)
                    .map(|(_, mut k)| k.remove(0));
                (pick.next().unwrap(), pick.next().unwrap())
            } else {
                (format!("{{{tag}}}dst"), format!("{{{tag}}}copy"))
            };
            let what = format!("{n} fields, across={across}: {src} -> {dst}, {copy}");
            if across {
                assert_ne!(partition(&server, &src), partition(&server, &dst), "{what}");
                assert_ne!(
                    partition(&server, &dst),
                    partition(&server, &copy),
                    "{what}"
                );
            } else {
                assert_eq!(partition(&server, &src), partition(&server, &dst), "{what}");
                assert_eq!(
                    partition(&server, &dst),
                    partition(&server, &copy),
                    "{what}"
                );
            }
            let want = make_hash(&mut con, &src, n);
            assert_eq!(want.len(), n);
            assert_eq!(encoding(&mut con, &src), enc, "{what}");
            // RENAME: the hash, its encoding and its TTL move.
            assert_eq!(
                ok::<String>(&mut con, &["RENAME", &src, &dst]),
                "OK",
                "{what}"
            );
            assert_eq!(ok::<i64>(&mut con, &["EXISTS", &src]), 0, "{what}");
            assert_eq!(
                ok::<HashMap<String, String>>(&mut con, &["HGETALL", &dst]),
                want
            );
            assert_eq!(encoding(&mut con, &dst), enc, "{what}");
            assert_ttl_carried(&mut con, &dst);
            // COPY: an independent hash with the same fields and TTL.
            assert_eq!(ok::<i64>(&mut con, &["COPY", &dst, &copy]), 1, "{what}");
            assert_eq!(
                ok::<HashMap<String, String>>(&mut con, &["HGETALL", &copy]),
                want
            );
            assert_eq!(encoding(&mut con, &copy), enc, "{what}");
            assert_ttl_carried(&mut con, &copy);
            assert_eq!(ok::<i64>(&mut con, &["HSET", &copy, "f0", "changed"]), 0);
            assert_eq!(ok::<i64>(&mut con, &["HDEL", &copy, "f1"]), 1);
            assert_eq!(
                ok::<Option<String>>(&mut con, &["HGET", &dst, "f0"]),
                Some("value-0".into()),
                "the copy is independent: {what}"
            );
            assert_eq!(ok::<i64>(&mut con, &["HLEN", &dst]), n as i64);
            // COPY onto an existing key: 0 without REPLACE; with it, the
            // destination (here a string) is replaced.
            assert_eq!(ok::<i64>(&mut con, &["COPY", &dst, &copy]), 0);
            assert_eq!(ok::<i64>(&mut con, &["HLEN", &copy]), n as i64 - 1);
            assert_eq!(ok::<String>(&mut con, &["SET", &copy, "str"]), "OK");
            assert_eq!(ok::<i64>(&mut con, &["COPY", &dst, &copy, "REPLACE"]), 1);
            assert_eq!(ok::<String>(&mut con, &["TYPE", &copy]), "hash");
            assert_eq!(ok::<i64>(&mut con, &["HLEN", &copy]), n as i64);
            // RENAME back over an existing key replaces it.
            assert_eq!(ok::<String>(&mut con, &["SET", &src, "str"]), "OK");
            assert_eq!(ok::<String>(&mut con, &["RENAME", &copy, &src]), "OK");
            assert_eq!(ok::<String>(&mut con, &["TYPE", &src]), "hash");
            assert_eq!(
                ok::<HashMap<String, String>>(&mut con, &["HGETALL", &src]),
                want
            );
            assert_ttl_carried(&mut con, &src);
            // RENAMENX onto an existing hash refuses.
            assert_eq!(ok::<i64>(&mut con, &["RENAMENX", &src, &dst]), 0);
            assert_eq!(ok::<i64>(&mut con, &["DEL", &src, &dst]), 2, "{what}");
        }
    }
}

#[test]
fn del_unlink_expire_persist_and_memory_usage() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let keys = one_per_partition(&server, "life:");
    for k in &keys {
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "a", "1"]), 1);
    }
    // A multi-key DEL/UNLINK across partitions counts hashes.
    let mut del = vec!["DEL", keys[0].as_str(), keys[1].as_str(), "life:none"];
    assert_eq!(ok::<i64>(&mut con, &del), 2);
    del[0] = "UNLINK";
    del[1] = keys[2].as_str();
    del[2] = keys[3].as_str();
    assert_eq!(ok::<i64>(&mut con, &del), 2);
    let mut exists = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    assert_eq!(ok::<i64>(&mut con, &exists), 0);
    // UNLINK of a big hash.
    fill(&mut con, &keys[0], 5000, 500, |i| format!("{i}"));
    assert_eq!(ok::<i64>(&mut con, &["UNLINK", &keys[0]]), 1);
    assert_eq!(ok::<i64>(&mut con, &["HLEN", &keys[0]]), 0);
    // EXPIRE / TTL / PERSIST, and expiry deletes the hash.
    for k in &keys {
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "a", "1", "b", "2"]), 2);
        assert_eq!(ok::<i64>(&mut con, &["TTL", k]), -1);
        assert_eq!(ok::<i64>(&mut con, &["EXPIRE", k, "100"]), 1);
        let ttl: i64 = ok(&mut con, &["TTL", k]);
        assert!((90..=100).contains(&ttl), "{ttl}");
        // Writing fields keeps the TTL (a hash write is not a SET).
        assert_eq!(ok::<i64>(&mut con, &["HSET", k, "c", "3"]), 1);
        assert_eq!(ok::<i64>(&mut con, &["HDEL", k, "a"]), 1);
        let ttl: i64 = ok(&mut con, &["TTL", k]);
        assert!(ttl > 0, "HSET/HDEL keep the TTL: {ttl}");
        assert_eq!(ok::<i64>(&mut con, &["PERSIST", k]), 1);
        assert_eq!(ok::<i64>(&mut con, &["TTL", k]), -1);
        assert_eq!(ok::<i64>(&mut con, &["PEXPIRE", k, "50"]), 1);
    }
    let deadline = Instant::now() + TIMEOUT;
    while ok::<i64>(&mut con, &exists) > 0 {
        assert!(Instant::now() < deadline, "the hashes never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
    for k in &keys {
        assert_eq!(ok::<Option<String>>(&mut con, &["HGET", k, "b"]), None);
        assert_eq!(ok::<String>(&mut con, &["TYPE", k]), "none");
    }
    // An expired hash no longer blocks a string, nor its expired TTL a
    // new hash.
    assert_eq!(ok::<String>(&mut con, &["SET", &keys[0], "s"]), "OK");
    assert_eq!(ok::<i64>(&mut con, &["HSET", &keys[1], "x", "y"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["TTL", &keys[1]]), -1);
    // MEMORY USAGE grows with the fields, in both encodings.
    let m = |con: &mut Connection, k: &str| -> i64 { ok(con, &["MEMORY", "USAGE", k]) };
    let k = keys[2].as_str();
    fill(&mut con, k, 10, 10, |i| format!("value-{i}"));
    let m10 = m(&mut con, k);
    fill(&mut con, k, 100, 100, |i| format!("value-{i}"));
    let m100 = m(&mut con, k);
    fill(&mut con, k, 1000, 200, |i| format!("value-{i}"));
    let m1000 = m(&mut con, k);
    fill(&mut con, k, 10_000, 500, |i| format!("value-{i}"));
    let m10000 = m(&mut con, k);
    assert!(
        m10 > 0 && m10 < m100 && m100 < m1000 && m1000 < m10000,
        "MEMORY USAGE: {m10} {m100} {m1000} {m10000}"
    );
    // At least the bytes of the fields and values.
    assert!(m10000 > 10_000 * 10, "{m10000}");
    assert_eq!(
        ok::<Option<i64>>(&mut con, &["MEMORY", "USAGE", "life:none"]),
        None
    );
}

#[test]
fn multi_exec_mixes_hashes_and_strings_across_partitions_and_watch() {
    let server = common::start(WORKERS);
    let mut a = connect(server.core_addrs()[0]);
    let mut b = connect(server.core_addrs()[2]);
    let k = one_per_partition(&server, "tx:");
    let (h1, h2, s1, s2) = (&k[0], &k[1], &k[2], &k[3]);
    let (n, got, s, all): (i64, Option<String>, String, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg(h1)
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .ignore()
        .cmd("SET")
        .arg(s1)
        .arg("x")
        .ignore()
        .cmd("HSET")
        .arg(h2)
        .arg("c")
        .arg("3")
        .ignore()
        .cmd("HINCRBY")
        .arg(h1)
        .arg("a")
        .arg(41)
        .cmd("HGET")
        .arg(h1)
        .arg("a")
        .cmd("GET")
        .arg(s1)
        .cmd("HGETALL")
        .arg(h2)
        .query(&mut a)
        .unwrap();
    assert_eq!(n, 42);
    assert_eq!(
        got.as_deref(),
        Some("42"),
        "reads see the transaction's writes"
    );
    assert_eq!(s, "x");
    assert_eq!(all, ["c", "3"]);
    let (n, got, s, all): (i64, Option<String>, String, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("HINCRBY")
        .arg(h1)
        .arg("a")
        .arg(1)
        .cmd("HGET")
        .arg(h1)
        .arg("a")
        .cmd("GET")
        .arg(s1)
        .cmd("HGETALL")
        .arg(h2)
        .query(&mut a)
        .unwrap();
    assert_eq!(n, 43);
    assert_eq!(got.as_deref(), Some("43"));
    assert_eq!(s, "x");
    assert_eq!(all, ["c", "3"]);
    // Another connection saw all of it.
    assert_eq!(
        ok::<Option<String>>(&mut b, &["HGET", h1, "a"]),
        Some("43".into())
    );
    assert_eq!(ok::<i64>(&mut b, &["HLEN", h2]), 1);
    // A WRONGTYPE inside EXEC fails that command only, as in Redis.
    let mut raw = RespConn::connect(server.core_addrs()[1]);
    assert_eq!(raw.cmd(&["MULTI"]), Raw::ok());
    assert_eq!(
        raw.cmd(&["HSET", s1, "f", "v"]),
        Raw::Simple("QUEUED".into())
    );
    assert_eq!(raw.cmd(&["SET", s2, "y"]), Raw::Simple("QUEUED".into()));
    assert_eq!(raw.cmd(&["HGET", h2, "c"]), Raw::Simple("QUEUED".into()));
    assert_eq!(
        raw.cmd(&["EXEC"]),
        Raw::Array(vec![
            Raw::Error(WRONGTYPE.into()),
            Raw::ok(),
            Raw::bulk("3")
        ])
    );
    assert_eq!(ok::<String>(&mut b, &["GET", s2]), "y");
    assert_eq!(ok::<String>(&mut b, &["GET", s1]), "x");

    // WATCH on a hash: HSET from another connection aborts EXEC.
    let exec_after = |a: &mut Connection, b: &mut Connection, change: &[&str]| -> bool {
        let () = ok(a, &["WATCH", h1]);
        let _: Value = ok(b, change);
        let r: Option<(i64,)> = redis::pipe()
            .atomic()
            .cmd("HINCRBY")
            .arg(h1)
            .arg("n")
            .arg(1)
            .cmd("SET")
            .arg(s2)
            .arg("from-a")
            .ignore()
            .query(a)
            .unwrap();
        r.is_some()
    };
    assert!(
        !exec_after(&mut a, &mut b, &["HSET", h1, "z", "1"]),
        "HSET aborts"
    );
    assert!(
        !exec_after(&mut a, &mut b, &["HDEL", h1, "z"]),
        "HDEL aborts"
    );
    assert!(
        !exec_after(&mut a, &mut b, &["HINCRBY", h1, "a", "1"]),
        "HINCRBY aborts"
    );
    // Reads and no-op writes do not (Redis signals no change for them).
    assert!(exec_after(&mut a, &mut b, &["HGETALL", h1]), "a read");
    assert!(
        exec_after(&mut a, &mut b, &["HDEL", h1, "no-such-field"]),
        "HDEL of a missing field changes nothing"
    );
    assert!(
        exec_after(&mut a, &mut b, &["HSETNX", h1, "a", "9"]),
        "HSETNX of an existing field changes nothing"
    );
    assert_eq!(
        ok::<Option<String>>(&mut b, &["HGET", h1, "n"]),
        Some("3".into())
    );
    // Deleting the watched hash's last field deletes it: that aborts too.
    let () = ok(&mut a, &["WATCH", h2]);
    assert_eq!(ok::<i64>(&mut b, &["HDEL", h2, "c"]), 1);
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(s2)
        .arg("late")
        .query(&mut a)
        .unwrap();
    assert_eq!(r, None);
    assert_eq!(ok::<String>(&mut b, &["GET", s2]), "from-a");
}

#[test]
fn noeviction_hsets_into_big_hashes_end_in_oom_and_the_server_keeps_serving() {
    const LIMIT: usize = 16 * 1024 * 1024;
    let server = limited(WORKERS, LIMIT, EvictionPolicy::Noeviction);
    let mut con = connect(server.shared_addr());
    let keys = one_per_partition(&server, "oom:");
    // Grow one hash per partition, 100 fields a command, until refused.
    let mut fields = vec![0usize; keys.len()];
    let mut refused_at = None;
    'grow: for round in 0.. {
        assert!(round < 10_000, "never refused: {fields:?}");
        for (p, key) in keys.iter().enumerate() {
            let pairs: Vec<(String, String)> = (fields[p]..fields[p] + 100)
                .map(|i| (format!("field:{i:08}"), format!("value:{i:032}")))
                .collect();
            match redis::cmd("HSET")
                .arg(key)
                .arg(&pairs)
                .query::<i64>(&mut con)
            {
                Ok(n) => {
                    assert_eq!(n, 100);
                    fields[p] += 100;
                }
                Err(e) => {
                    assert_eq!(e.code(), Some("OOM"), "{e}");
                    assert!(e.to_string().contains("maxmemory"), "{e}");
                    refused_at = Some(p);
                    break 'grow;
                }
            }
        }
    }
    let p = refused_at.expect("refused");
    let used = info(&mut con, "memory", "used_memory") as usize;
    assert_eq!(info(&mut con, "memory", "maxmemory") as usize, LIMIT);
    let slack = LIMIT / 10;
    assert!(
        used <= LIMIT + slack,
        "used_memory {used} > {LIMIT} + {slack}"
    );
    // The refusal comes near the limit, not far before it: the partition
    // holds at least half of its share (each partition gets LIMIT / 4).
    let mut per_partition = vec![0usize; keys.len()];
    for (i, key) in keys.iter().enumerate() {
        per_partition[i] = ok::<i64>(&mut con, &["MEMORY", "USAGE", key]) as usize;
    }
    let share = LIMIT / WORKERS as usize;
    assert!(
        per_partition[p] >= share / 2,
        "partition {p} refused HSET holding {} bytes of its {share} (fields {fields:?}, \
         usage {per_partition:?}, used_memory {used})",
        per_partition[p]
    );
    println!(
        "HSET refused on partition {p} at {} of {share} bytes (fields {fields:?}, used_memory {used})",
        per_partition[p]
    );
    // The refused HSET changed nothing; the server keeps serving.
    assert_eq!(ok::<i64>(&mut con, &["HLEN", &keys[p]]), fields[p] as i64);
    assert_eq!(
        ok::<Option<String>>(&mut con, &["HGET", &keys[p], "field:00000000"]),
        Some(format!("value:{:032}", 0))
    );
    assert_eq!(ok::<String>(&mut con, &["PING"]), "PONG");
    let again: Vec<(String, String)> = (fields[p]..fields[p] + 100)
        .map(|i| (format!("field:{i:08}"), format!("value:{i:032}")))
        .collect();
    expect_err(
        redis::cmd("HSET")
            .arg(&keys[p])
            .arg(&again)
            .query::<i64>(&mut con),
        "OOM",
    );
    // Deletes make room again (after the lazy free, polled).
    assert_eq!(ok::<i64>(&mut con, &["DEL", &keys[p]]), 1);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match q::<i64>(&mut con, &["HSET", &keys[p], "again", "1"]) {
            Ok(1) => break,
            Ok(n) => panic!("HSET answered {n}"),
            Err(e) => assert_eq!(e.code(), Some("OOM"), "{e}"),
        }
        assert!(Instant::now() < deadline, "DEL never made room");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut raw = RespConn::connect(server.shared_addr());
    assert_eq!(raw.cmd(&["HGET", &keys[p], "again"]), Raw::bulk("1"));
    // A new big HSET past the limit: Redis's text, exactly.
    let mut fill_up = vec!["HSET".to_string(), "oom:fresh".to_string()];
    for i in 0..2000 {
        fill_up.push(format!("f{i}"));
        fill_up.push("v".repeat(2000));
    }
    let args: Vec<&str> = fill_up.iter().map(String::as_str).collect();
    assert_eq!(raw.cmd(&args), Raw::Error(OOM.into()));
}

#[test]
fn evicting_policy_evicts_big_hashes_and_memory_holds() {
    const LIMIT: usize = 16 * 1024 * 1024;
    let server = limited(WORKERS, LIMIT, EvictionPolicy::Sieve);
    let mut con = connect(server.shared_addr());
    let policy: Vec<String> = ok(&mut con, &["CONFIG", "GET", "maxmemory-policy"]);
    assert_eq!(policy, ["maxmemory-policy", "sieve"]);
    // About 3x the limit in 1000-field hashes (hashtable encoding).
    let hashes = 600;
    for h in 0..hashes {
        let key = format!("ev:{h}");
        fill(&mut con, &key, 1000, 500, |i| format!("value:{i:032}"));
        if h % 100 == 0 {
            let used = info(&mut con, "memory", "used_memory") as usize;
            assert!(used <= LIMIT + LIMIT / 10, "after {h} hashes: {used}");
        }
    }
    let used = info(&mut con, "memory", "used_memory") as usize;
    assert!(used <= LIMIT + LIMIT / 10, "used_memory {used}");
    let evicted = info(&mut con, "stats", "evicted_keys");
    assert!(evicted > 0, "nothing evicted");
    let left: i64 = ok(&mut con, &["DBSIZE"]);
    assert!(
        left > 0 && (left as u64) + evicted == hashes,
        "{left} + {evicted}"
    );
    // The newest hash is whole; every hash left is whole (whole keys are
    // evicted, never fields).
    let last = format!("ev:{}", hashes - 1);
    assert_eq!(ok::<i64>(&mut con, &["HLEN", &last]), 1000);
    assert_eq!(encoding(&mut con, &last), "hashtable");
    for h in 0..hashes {
        let n: i64 = ok(&mut con, &["HLEN", &format!("ev:{h}")]);
        assert!(n == 0 || n == 1000, "ev:{h} has {n} fields");
    }
}

#[test]
fn del_of_a_million_field_hash_answers_and_memory_falls_after_the_lazy_free() {
    let server = common::start(WORKERS);
    let mut con = connect(server.shared_addr());
    let before = info(&mut con, "memory", "used_memory");
    let key = "lazy:big";
    fill(&mut con, key, 1_000_000, 1000, |i| format!("{i}"));
    assert_eq!(ok::<i64>(&mut con, &["HLEN", key]), 1_000_000);
    let full = info(&mut con, "memory", "used_memory");
    assert!(
        full > before + 1_000_000 * 16,
        "a million fields: {before} -> {full}"
    );
    // Another key on the same partition, to show the worker serves it
    // right after the DEL.
    let p = partition(&server, key);
    let neighbour = common::keys_by_partition(server.topology(), "lazy:n", 1)[p][0].clone();
    assert_eq!(ok::<String>(&mut con, &["SET", &neighbour, "1"]), "OK");
    let t = Instant::now();
    assert_eq!(ok::<i64>(&mut con, &["DEL", key]), 1);
    let del_took = t.elapsed();
    assert_eq!(ok::<String>(&mut con, &["GET", &neighbour]), "1");
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", key]), 0);
    assert_eq!(ok::<i64>(&mut con, &["HLEN", key]), 0);
    // The key is free at once for a new value of any type.
    assert_eq!(ok::<String>(&mut con, &["SET", key, "reborn"]), "OK");
    // Memory falls back once the lazy free is done (polled; the guard
    // only turns a hang into a failure).
    let deadline = Instant::now() + Duration::from_secs(120);
    let slack = 2 * 1024 * 1024;
    loop {
        let now = info(&mut con, "memory", "used_memory");
        if now <= before + slack {
            println!(
                "DEL of 1,000,000 fields answered in {del_took:?}; memory {before} -> {full} -> {now}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "used_memory stayed at {now} (before {before}, full {full})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_py_hash_backed_object_cache() {
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let probe = Command::new(&python)
        .args(["-c", "import redis; print(redis.__version__)"])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "the python package `redis` is missing: install it with \
         `python3 -m pip install 'redis>=5'`\n{}",
        describe("python3 -c 'import redis'", &probe)
    );
    let server = common::start(WORKERS);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_hash_cache.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .env(
            "COREKV_SHARED_PORT",
            server.shared_addr().port().to_string(),
        )
        .env("PYTHONUNBUFFERED", "1");
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("python3 {}", script.display()), &out)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
}
