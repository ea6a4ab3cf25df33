//! Lists end to end against a 4-worker server: every list command and
//! its reply types through the Rust `redis` crate (RESP2 and RESP3),
//! WRONGTYPE and the argument errors, `LMOVE`/`RPOPLPUSH`/`LMPOP` with keys
//! on different partitions, `RENAME`/`COPY` of a big list across
//! partitions, `MULTI`/`EXEC` and `WATCH`; the blocking commands through a
//! raw client that keeps RESP2's and RESP3's nulls apart (wake-ups across
//! partitions, exactly-once delivery, timeouts, `CLIENT UNBLOCK`, `MULTI`,
//! a disconnected waiter, pipelining); and a redis-py worker queue.
//!
//! Waits are bounded by generous hang guards only: nothing asserts how
//! long anything took.

mod common;

use common::collections::{connect, err, int, raw, spread, text, TIMEOUT, WRONGTYPE};
use common::resp::{describe, run_with_timeout, tool};
use corekv::Server;
use redis::{Commands, Connection, RedisResult, Value};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WORKERS: u16 = 4;

/// The strings of an array reply, in order.
#[track_caller]
fn list_of(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().map(text).collect(),
        other => panic!("expected an array: {other:?}"),
    }
}

fn lrange(con: &mut Connection, key: &str) -> Vec<String> {
    list_of(&raw(con, &["LRANGE", key, "0", "-1"]))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn ints(v: &[i64]) -> Value {
    Value::Array(v.iter().map(|&i| Value::Int(i)).collect())
}

fn push_all(con: &mut Connection, cmd: &str, key: &str, items: &[String]) -> i64 {
    let mut args = vec![cmd, key];
    args.extend(items.iter().map(String::as_str));
    int(con, &args)
}

#[test]
fn every_list_command_over_resp2_and_resp3() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let p = if resp3 { "r3" } else { "r2" };
        let (a, b, d) = (
            format!("{{{p}}}a"),
            format!("{{{p}}}b"),
            format!("{{{p}}}d"),
        );
        assert_eq!(int(&mut c, &["RPUSH", &a, "x", "y", "z"]), 3);
        assert_eq!(int(&mut c, &["LPUSH", &a, "w", "v"]), 5);
        assert_eq!(lrange(&mut c, &a), strings(&["v", "w", "x", "y", "z"]));
        assert_eq!(int(&mut c, &["LPUSHX", &a, "u"]), 6);
        assert_eq!(int(&mut c, &["RPUSHX", &a, "zz"]), 7);
        assert_eq!(int(&mut c, &["LPUSHX", "missing", "u"]), 0);
        assert_eq!(int(&mut c, &["RPUSHX", "missing", "u"]), 0);
        assert_eq!(int(&mut c, &["EXISTS", "missing"]), 0);
        assert_eq!(int(&mut c, &["LLEN", &a]), 7);
        assert_eq!(int(&mut c, &["LLEN", "missing"]), 0);
        assert_eq!(raw(&mut c, &["LINDEX", &a, "0"]), bulk("u"));
        assert_eq!(raw(&mut c, &["LINDEX", &a, "-1"]), bulk("zz"));
        assert_eq!(raw(&mut c, &["LINDEX", &a, "7"]), Value::Nil);
        assert_eq!(raw(&mut c, &["LINDEX", "missing", "0"]), Value::Nil);
        assert_eq!(
            list_of(&raw(&mut c, &["LRANGE", &a, "-3", "100"])),
            strings(&["y", "z", "zz"])
        );
        assert!(list_of(&raw(&mut c, &["LRANGE", &a, "5", "2"])).is_empty());
        assert!(list_of(&raw(&mut c, &["LRANGE", "missing", "0", "-1"])).is_empty());
        assert_eq!(raw(&mut c, &["LSET", &a, "-1", "Z"]), Value::Okay);
        assert_eq!(
            err(&mut c, &["LSET", &a, "7", "v"]),
            "ERR index out of range"
        );
        assert_eq!(
            err(&mut c, &["LSET", "missing", "0", "v"]),
            "ERR no such key"
        );
        assert_eq!(int(&mut c, &["LINSERT", &a, "BEFORE", "x", "x0"]), 8);
        assert_eq!(int(&mut c, &["LINSERT", &a, "after", "x", "x1"]), 9);
        assert_eq!(int(&mut c, &["LINSERT", &a, "AFTER", "nope", "v"]), -1);
        assert_eq!(int(&mut c, &["LINSERT", "missing", "AFTER", "x", "v"]), 0);
        assert_eq!(
            lrange(&mut c, &a),
            strings(&["u", "v", "w", "x0", "x", "x1", "y", "z", "Z"])
        );
        // LPOS over repeated elements.
        assert_eq!(int(&mut c, &["RPUSH", &b, "a", "b", "a", "c", "a"]), 5);
        assert_eq!(int(&mut c, &["LPOS", &b, "a"]), 0);
        assert_eq!(int(&mut c, &["LPOS", &b, "a", "RANK", "2"]), 2);
        assert_eq!(int(&mut c, &["LPOS", &b, "a", "RANK", "-1"]), 4);
        assert_eq!(
            raw(&mut c, &["LPOS", &b, "a", "COUNT", "0"]),
            ints(&[0, 2, 4])
        );
        assert_eq!(
            raw(&mut c, &["LPOS", &b, "a", "RANK", "-1", "COUNT", "2"]),
            ints(&[4, 2])
        );
        assert_eq!(
            raw(&mut c, &["LPOS", &b, "a", "COUNT", "0", "MAXLEN", "3"]),
            ints(&[0, 2])
        );
        assert_eq!(raw(&mut c, &["LPOS", &b, "nope"]), Value::Nil);
        assert_eq!(raw(&mut c, &["LPOS", &b, "nope", "COUNT", "1"]), ints(&[]));
        assert_eq!(raw(&mut c, &["LPOS", "missing", "a"]), Value::Nil);
        // LREM from the head, the tail, all.
        assert_eq!(int(&mut c, &["LREM", &b, "1", "a"]), 1);
        assert_eq!(int(&mut c, &["LREM", &b, "-1", "a"]), 1);
        assert_eq!(lrange(&mut c, &b), strings(&["b", "a", "c"]));
        assert_eq!(int(&mut c, &["RPUSH", &b, "a", "a"]), 5);
        assert_eq!(int(&mut c, &["LREM", &b, "0", "a"]), 3);
        assert_eq!(int(&mut c, &["LREM", "missing", "0", "a"]), 0);
        // LTRIM, then one that empties and deletes.
        assert_eq!(raw(&mut c, &["LTRIM", &a, "1", "-2"]), Value::Okay);
        assert_eq!(
            lrange(&mut c, &a),
            strings(&["v", "w", "x0", "x", "x1", "y", "z"])
        );
        assert_eq!(raw(&mut c, &["LTRIM", &b, "2", "1"]), Value::Okay);
        assert_eq!(int(&mut c, &["EXISTS", &b]), 0);
        assert_eq!(raw(&mut c, &["LTRIM", "missing", "0", "1"]), Value::Okay);
        // Pops: a bulk string, or an array with a count.
        assert_eq!(raw(&mut c, &["LPOP", &a]), bulk("v"));
        assert_eq!(raw(&mut c, &["RPOP", &a]), bulk("z"));
        assert_eq!(
            list_of(&raw(&mut c, &["LPOP", &a, "2"])),
            strings(&["w", "x0"])
        );
        assert_eq!(
            list_of(&raw(&mut c, &["RPOP", &a, "2"])),
            strings(&["y", "x1"])
        );
        assert!(list_of(&raw(&mut c, &["LPOP", &a, "0"])).is_empty());
        assert_eq!(raw(&mut c, &["LPOP", "missing"]), Value::Nil);
        assert_eq!(raw(&mut c, &["LPOP", "missing", "2"]), Value::Nil);
        // Moves within one partition (a hash tag).
        assert_eq!(int(&mut c, &["RPUSH", &b, "1", "2", "3"]), 3);
        assert_eq!(raw(&mut c, &["LMOVE", &b, &d, "LEFT", "RIGHT"]), bulk("1"));
        assert_eq!(raw(&mut c, &["RPOPLPUSH", &b, &d]), bulk("3"));
        assert_eq!(lrange(&mut c, &d), strings(&["3", "1"]));
        assert_eq!(
            raw(&mut c, &["LMOVE", "missing", &d, "LEFT", "LEFT"]),
            Value::Nil
        );
        assert_eq!(raw(&mut c, &["RPOPLPUSH", &d, &d]), bulk("1"));
        assert_eq!(lrange(&mut c, &d), strings(&["1", "3"]));
        assert_eq!(
            raw(
                &mut c,
                &["LMPOP", "3", "missing", &b, &d, "RIGHT", "COUNT", "5"]
            ),
            Value::Array(vec![bulk(&b), Value::Array(vec![bulk("2")])])
        );
        assert_eq!(int(&mut c, &["EXISTS", &b]), 0);
        assert_eq!(
            raw(&mut c, &["LMPOP", "2", &b, &d, "LEFT"]),
            Value::Array(vec![bulk(&d), Value::Array(vec![bulk("1")])])
        );
        assert_eq!(raw(&mut c, &["LMPOP", "1", &b, "LEFT"]), Value::Nil);
        // TYPE and OBJECT ENCODING, small and big.
        assert_eq!(text(&raw(&mut c, &["TYPE", &d])), "list");
        assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", &d])), "listpack");
        let long = "e".repeat(127);
        let many: Vec<String> = vec![long; 64];
        push_all(&mut c, "RPUSH", &b, &many);
        assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", &b])), "listpack");
        int(&mut c, &["RPUSH", &b, "one more"]);
        assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", &b])), "quicklist");
        let _: () = c.del(&[&a, &b, &d]).unwrap();
    }
}

#[test]
fn list_max_listpack_size_is_configurable() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    assert_eq!(
        list_of(&raw(&mut c, &["CONFIG", "GET", "list-max-listpack-size"])),
        strings(&["list-max-listpack-size", "-2"])
    );
    assert_eq!(
        raw(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "4"]),
        Value::Okay
    );
    let keys = spread(&server, "cfg:", 4);
    for key in &keys {
        int(&mut c, &["RPUSH", key, "1", "2", "3", "4"]);
        assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", key])), "listpack");
        int(&mut c, &["RPUSH", key, "5"]);
        assert_eq!(
            text(&raw(&mut c, &["OBJECT", "ENCODING", key])),
            "quicklist",
            "every partition follows CONFIG SET"
        );
    }
    raw(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "-2"]);
}

#[test]
fn wrongtype_and_argument_errors() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let keys = spread(&server, "wt:", 3);
    let (list, string, other) = (&keys[0], &keys[1], &keys[2]);
    let _: () = c.set(string, "text").unwrap();
    let _: () = c.sadd(other, "m").unwrap();
    assert_eq!(int(&mut c, &["RPUSH", list, "a"]), 1);
    for cmd in [
        vec!["LPUSH", string, "v"],
        vec!["RPUSH", other, "v"],
        vec!["LPUSHX", string, "v"],
        vec!["RPUSHX", string, "v"],
        vec!["LPOP", string],
        vec!["RPOP", string, "2"],
        vec!["LLEN", string],
        vec!["LRANGE", string, "0", "-1"],
        vec!["LINDEX", string, "0"],
        vec!["LSET", string, "0", "v"],
        vec!["LINSERT", string, "BEFORE", "a", "v"],
        vec!["LREM", string, "0", "v"],
        vec!["LTRIM", string, "0", "1"],
        vec!["LPOS", string, "v"],
        // Several keys on several partitions: any one of another type.
        vec!["LMOVE", list, string, "LEFT", "LEFT"],
        vec!["LMOVE", string, list, "LEFT", "LEFT"],
        vec!["RPOPLPUSH", list, other],
        vec!["LMPOP", "2", "wt:missing", string, "LEFT"],
        // Blocking commands answer at once.
        vec!["BLPOP", "wt:missing", string, "0"],
        vec!["BRPOP", other, "0"],
        vec!["BLMOVE", list, string, "LEFT", "LEFT", "0"],
        vec!["BRPOPLPUSH", string, list, "0"],
        vec!["BLMPOP", "0", "1", string, "LEFT"],
        // The list under other types' commands.
        vec!["GET", list],
        vec!["INCR", list],
        vec!["SADD", list, "m"],
        vec!["HGET", list, "f"],
    ] {
        assert_eq!(err(&mut c, &cmd), WRONGTYPE, "{cmd:?}");
    }
    assert_eq!(lrange(&mut c, list), strings(&["a"]), "nothing changed");
    for (args, want) in [
        (vec!["LPOP", list, "-1"], "ERR value is out of range, must be positive"),
        (vec!["LPOP", list, "x"], "ERR value is out of range, must be positive"),
        (vec!["LRANGE", list, "x", "1"], "ERR value is not an integer or out of range"),
        (vec!["LTRIM", list, "0", "x"], "ERR value is not an integer or out of range"),
        (vec!["LREM", list, "x", "a"], "ERR value is not an integer or out of range"),
        (vec!["LINDEX", list, "x"], "ERR value is not an integer or out of range"),
        (vec!["LSET", list, "x", "v"], "ERR value is not an integer or out of range"),
        (vec!["LINSERT", list, "MIDDLE", "a", "v"], "ERR syntax error"),
        (
            vec!["LPOS", list, "a", "RANK", "0"],
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        ),
        (vec!["LPOS", list, "a", "COUNT", "-1"], "ERR COUNT can't be negative"),
        (vec!["LPOS", list, "a", "MAXLEN", "-1"], "ERR MAXLEN can't be negative"),
        (vec!["LPOS", list, "a", "BOGUS", "1"], "ERR syntax error"),
        (vec!["LMOVE", list, other, "UP", "LEFT"], "ERR syntax error"),
        (vec!["LMPOP", "0", list, "LEFT"], "ERR numkeys should be greater than 0"),
        (vec!["LMPOP", "1", list, "MIDDLE"], "ERR syntax error"),
        (vec!["LMPOP", "1", list, "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
        (vec!["LMPOP", "3", list, "LEFT"], "ERR syntax error"),
        (vec!["BLPOP", list, "-1"], "ERR timeout is negative"),
        // Past i64 ms, Redis 7.0's conversion turns the timeout negative.
        (vec!["BLPOP", list, "1e16"], "ERR timeout is negative"),
        (vec!["BRPOP", list, "inf"], "ERR timeout is negative"),
        (vec!["BLPOP", list, "1e300"], "ERR timeout is negative"),
        (vec!["BLPOP", list, "abc"], "ERR timeout is not a float or out of range"),
        (vec!["BRPOP", list, ""], "ERR timeout is not a float or out of range"),
        (vec!["BLMOVE", list, other, "LEFT", "UP", "0"], "ERR syntax error"),
        (vec!["BRPOPLPUSH", list, other, "-0.5"], "ERR timeout is negative"),
        (vec!["BLMPOP", "x", "1", list, "LEFT"], "ERR timeout is not a float or out of range"),
        (vec!["BLMPOP", "0", "0", list, "LEFT"], "ERR numkeys should be greater than 0"),
        (vec!["LPUSH", list], "ERR wrong number of arguments for 'lpush' command"),
        (vec!["BLPOP", list], "ERR wrong number of arguments for 'blpop' command"),
    ] {
        assert_eq!(err(&mut c, &args), want, "{args:?}");
    }
    assert_eq!(lrange(&mut c, list), strings(&["a"]));
}

#[test]
fn lmove_rpoplpush_and_lmpop_across_partitions() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let k = spread(&server, if resp3 { "x3:" } else { "x2:" }, 4);
        let (src, dst, third, fourth) = (&k[0], &k[1], &k[2], &k[3]);
        int(&mut c, &["RPUSH", src, "1", "2", "3", "4"]);
        int(&mut c, &["RPUSH", dst, "d"]);
        let _: () = c.expire(dst, 1000).unwrap();
        assert_eq!(
            raw(&mut c, &["LMOVE", src, dst, "LEFT", "RIGHT"]),
            bulk("1")
        );
        assert_eq!(
            raw(&mut c, &["LMOVE", src, dst, "RIGHT", "LEFT"]),
            bulk("4")
        );
        assert_eq!(raw(&mut c, &["RPOPLPUSH", src, dst]), bulk("3"));
        assert_eq!(lrange(&mut c, dst), strings(&["3", "4", "d", "1"]));
        assert_eq!(lrange(&mut c, src), strings(&["2"]));
        let ttl = int(&mut c, &["TTL", dst]);
        assert!(
            (1..=1000).contains(&ttl),
            "the destination keeps its TTL: {ttl}"
        );
        // The last element: the source is deleted, a new destination made.
        assert_eq!(
            raw(&mut c, &["LMOVE", src, third, "LEFT", "LEFT"]),
            bulk("2")
        );
        assert_eq!(int(&mut c, &["EXISTS", src]), 0);
        assert_eq!(lrange(&mut c, third), strings(&["2"]));
        assert_eq!(int(&mut c, &["TTL", third]), -1);
        assert_eq!(raw(&mut c, &["RPOPLPUSH", src, third]), Value::Nil);
        // LMPOP over four partitions: the first non-empty list only.
        let got = raw(
            &mut c,
            &["LMPOP", "4", src, fourth, dst, third, "LEFT", "COUNT", "3"],
        );
        assert_eq!(
            got,
            Value::Array(vec![
                bulk(dst),
                Value::Array(vec![bulk("3"), bulk("4"), bulk("d")])
            ])
        );
        assert_eq!(lrange(&mut c, third), strings(&["2"]), "not reached");
        let got = raw(
            &mut c,
            &["LMPOP", "4", src, fourth, dst, third, "RIGHT", "COUNT", "9"],
        );
        assert_eq!(
            got,
            Value::Array(vec![bulk(dst), Value::Array(vec![bulk("1")])])
        );
        assert_eq!(int(&mut c, &["EXISTS", dst]), 0);
        let got = raw(&mut c, &["LMPOP", "3", src, fourth, dst, "LEFT"]);
        assert_eq!(got, Value::Nil);
        // A rotation of one element keeps its TTL (Redis pops and pushes
        // the same list).
        let _: () = c.expire(third, 1000).unwrap();
        assert_eq!(
            raw(&mut c, &["LMOVE", third, third, "LEFT", "RIGHT"]),
            bulk("2")
        );
        let ttl = int(&mut c, &["TTL", third]);
        assert!((1..=1000).contains(&ttl), "LMOVE k k keeps the TTL: {ttl}");
        let _: () = c.del(&k).unwrap();
    }
}

#[test]
fn rename_and_copy_of_a_big_list_across_partitions() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "big:", 4);
    let items: Vec<String> = (0..20_000).map(|i| format!("element:{i}")).collect();
    for chunk in items.chunks(1000) {
        push_all(&mut c, "RPUSH", &k[0], chunk);
    }
    let _: () = c.expire(&k[0], 5000).unwrap();
    let _: () = c.rename(&k[0], &k[1]).unwrap();
    assert_eq!(int(&mut c, &["EXISTS", &k[0]]), 0);
    assert_eq!(int(&mut c, &["LLEN", &k[1]]), 20_000);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &k[1]])),
        "quicklist"
    );
    let ttl = int(&mut c, &["TTL", &k[1]]);
    assert!((4990..=5000).contains(&ttl), "RENAME keeps the TTL: {ttl}");
    assert_eq!(lrange(&mut c, &k[1]), items, "in order");
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[2]]), 1);
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[2]]), 0, "no REPLACE");
    // The copy is its own list.
    assert_eq!(raw(&mut c, &["LPOP", &k[1]]), bulk("element:0"));
    assert_eq!(int(&mut c, &["LLEN", &k[2]]), 20_000);
    assert_eq!(raw(&mut c, &["LINDEX", &k[2], "0"]), bulk("element:0"));
    assert_eq!(raw(&mut c, &["LINDEX", &k[2], "-1"]), bulk("element:19999"));
    assert_eq!(lrange(&mut c, &k[2]), items);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &k[2]])),
        "quicklist"
    );
    // COPY … REPLACE over a string; the copy then moves across partitions.
    let _: () = c.set(&k[3], "s").unwrap();
    assert_eq!(int(&mut c, &["COPY", &k[2], &k[3], "REPLACE"]), 1);
    assert_eq!(
        raw(&mut c, &["LMOVE", &k[3], &k[0], "RIGHT", "LEFT"]),
        bulk("element:19999")
    );
    assert_eq!(int(&mut c, &["LLEN", &k[3]]), 19_999);
    // A small list crosses partitions in its own form.
    let _: () = c.del(&k[0]).unwrap();
    int(&mut c, &["RPUSH", &k[0], "a", "b"]);
    let _: () = c.rename(&k[0], &k[1]).unwrap();
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &k[1]])),
        "listpack"
    );
    assert_eq!(lrange(&mut c, &k[1]), strings(&["a", "b"]));
}

#[test]
fn multi_exec_with_list_commands_across_partitions() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let k = spread(&server, if resp3 { "tx3:" } else { "tx2:" }, 4);
        let results: Vec<Value> = redis::pipe()
            .atomic()
            .rpush(&k[0], &["a", "b", "c"])
            .lpush(&k[1], "z")
            .cmd("LMOVE")
            .arg(&k[0])
            .arg(&k[1])
            .arg("LEFT")
            .arg("RIGHT")
            .cmd("RPOPLPUSH")
            .arg(&k[0])
            .arg(&k[2])
            .cmd("LMPOP")
            .arg(3)
            .arg(&k[3])
            .arg(&k[2])
            .arg(&k[1])
            .arg("LEFT")
            .arg("COUNT")
            .arg(2)
            .lrange(&k[1], 0, -1)
            .llen(&k[0])
            .query(&mut c)
            .unwrap();
        assert_eq!(results.len(), 7);
        assert_eq!(results[0], Value::Int(3));
        assert_eq!(results[1], Value::Int(1));
        assert_eq!(results[2], bulk("a"));
        assert_eq!(results[3], bulk("c"));
        assert_eq!(
            results[4],
            Value::Array(vec![bulk(&k[2]), Value::Array(vec![bulk("c")])])
        );
        assert_eq!(list_of(&results[5]), strings(&["z", "a"]));
        assert_eq!(results[6], Value::Int(1));
        assert_eq!(int(&mut c, &["EXISTS", &k[2]]), 0, "LMPOP emptied it");
        // An error inside EXEC leaves the other commands applied.
        let _: () = c.set(&k[3], "str").unwrap();
        let results: Vec<RedisResult<Value>> = redis::pipe()
            .atomic()
            .ignore_errors()
            .rpush(&k[0], "x")
            .cmd("LMOVE")
            .arg(&k[0])
            .arg(&k[3])
            .arg("LEFT")
            .arg("LEFT")
            .llen(&k[0])
            .query(&mut c)
            .unwrap();
        assert_eq!(results[0].as_ref().ok(), Some(&Value::Int(2)));
        match &results[1] {
            Err(e) => assert_eq!(e.code(), Some("WRONGTYPE"), "{e}"),
            Ok(v) => panic!("LMOVE onto a string: {v:?}"),
        }
        assert_eq!(
            results[2].as_ref().ok(),
            Some(&Value::Int(2)),
            "nothing popped"
        );
        let _: () = c.del(&k).unwrap();
    }
}

#[test]
fn watch_on_a_list_key_is_invalidated_by_lpush() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let mut other = connect(server.core_addrs()[3], false);
    let k = spread(&server, "w:", 2);
    int(&mut c, &["RPUSH", &k[0], "a"]);
    let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["LPUSH", &k[0], "b"]), 2);
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .rpush(&k[1], "x")
        .query(&mut c)
        .unwrap();
    assert_eq!(result, None, "EXEC after LPUSH to a watched list");
    assert_eq!(int(&mut c, &["EXISTS", &k[1]]), 0, "nothing applied");
    // Writes that change nothing leave the watch alone.
    let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["LREM", &k[0], "0", "nope"]), 0);
    assert_eq!(raw(&mut other, &["LPOP", &k[0], "0"]), Value::Array(vec![]));
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .rpush(&k[1], "x")
        .query(&mut c)
        .unwrap();
    assert_eq!(result, Some((1,)));
    // Every list write invalidates it, a cross-partition LMOVE into it too.
    for change in [
        vec!["RPUSH", k[0].as_str(), "c"],
        vec!["LPUSHX", k[0].as_str(), "c"],
        vec!["LPOP", k[0].as_str()],
        vec!["LSET", k[0].as_str(), "0", "s"],
        vec!["LINSERT", k[0].as_str(), "BEFORE", "s", "t"],
        vec!["LREM", k[0].as_str(), "1", "t"],
        vec!["LTRIM", k[0].as_str(), "0", "-1"],
        vec!["LMOVE", k[1].as_str(), k[0].as_str(), "LEFT", "LEFT"],
        vec!["LMOVE", k[0].as_str(), k[0].as_str(), "LEFT", "RIGHT"],
    ] {
        let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
        raw(&mut other, &change);
        let result: Option<(i64,)> = redis::pipe().atomic().llen(&k[0]).query(&mut c).unwrap();
        assert_eq!(result, None, "{change:?}");
    }
}

// ---------------------------------------------------------------- blocking

/// A reply as sent: RESP2's and RESP3's nulls kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*-1`
    NilArray,
    /// RESP3's `_`
    Null,
    Array(Vec<Reply>),
    /// RESP3's `%` (its pairs flattened)
    Map(Vec<Reply>),
}

fn b(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// `[key, element]`, as BLPOP/BRPOP answer.
fn popped(key: &str, element: &str) -> Reply {
    Reply::Array(vec![b(key), b(element)])
}

/// A raw RESP client whose sends may hold several commands in one write
/// (so that a blocking command after a `PING` is parsed in the same batch
/// as it: its `PONG` comes once it waits).
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    resp3: bool,
}

impl Raw {
    fn connect(addr: SocketAddr, resp3: bool) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut c = Self {
            reader: BufReader::new(stream),
            writer,
            resp3,
        };
        if resp3 {
            assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
        }
        c
    }

    /// Writes `cmds` at once.
    fn send(&mut self, cmds: &[&[&str]]) {
        let mut out = Vec::new();
        for args in cmds {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in *args {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        self.writer.write_all(&out).expect("write to server");
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send(&[args]);
        self.read()
    }

    fn id(&mut self) -> i64 {
        match self.cmd(&["CLIENT", "ID"]) {
            Reply::Int(id) => id,
            other => panic!("CLIENT ID: {other:?}"),
        }
    }

    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => panic!("server closed the connection instead of answering"),
            Ok(_) => {}
            Err(e) => panic!("no reply from the server: {e}"),
        }
        assert!(
            buf.ends_with(b"\r\n"),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).expect("UTF-8 reply line")
    }

    /// Reads one reply (hang guard: [`TIMEOUT`]).
    fn read(&mut self) -> Reply {
        let line = self.line();
        let (tag, rest) = line.split_at(1);
        let n = || {
            rest.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad line {line:?}"))
        };
        match tag {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(n()),
            "_" => Reply::Null,
            "$" if n() < 0 => Reply::Nil,
            "*" if n() < 0 => Reply::NilArray,
            "$" => {
                let len = n() as usize;
                let mut buf = vec![0; len + 2];
                self.reader.read_exact(&mut buf).expect("bulk body");
                buf.truncate(len);
                Reply::Bulk(buf)
            }
            "*" => Reply::Array((0..n()).map(|_| self.read()).collect()),
            "%" => Reply::Map((0..2 * n()).map(|_| self.read()).collect()),
            _ => panic!("unexpected reply {line:?}"),
        }
    }

    /// A reply if one arrives within `wait`, else `None` (only to check
    /// that nothing came: a correct server is never failed by it).
    fn poll(&mut self, wait: Duration) -> Option<Reply> {
        if self.reader.buffer().is_empty() {
            self.reader.get_ref().set_read_timeout(Some(wait)).unwrap();
            let ready = match self.reader.fill_buf() {
                Ok(buf) => !buf.is_empty(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
                Err(e) => panic!("read: {e}"),
            };
            self.reader
                .get_ref()
                .set_read_timeout(Some(TIMEOUT))
                .unwrap();
            if !ready {
                return None;
            }
        }
        Some(self.read())
    }

    /// The null a blocking command answers at its timeout.
    fn timed_out(&self) -> Reply {
        if self.resp3 {
            Reply::Null
        } else {
            Reply::NilArray
        }
    }
}

/// A connection on worker `worker` that sent `cmd` (a blocking command)
/// and, as far as the client can tell, waits in it; and its client id.
fn park(server: &Server, worker: usize, resp3: bool, cmd: &[&str]) -> (Raw, i64) {
    let mut c = Raw::connect(server.core_addrs()[worker], resp3);
    let id = c.id();
    c.send(&[&["PING"], cmd]);
    assert_eq!(c.read(), Reply::Simple("PONG".into()), "{cmd:?}");
    (c, id)
}

/// Polls `CLIENT UNBLOCK id reason` until it answers 1 (the client waits),
/// within the hang guard.
fn unblock(c: &mut Raw, id: i64, reason: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let id = id.to_string();
    loop {
        match c.cmd(&["CLIENT", "UNBLOCK", &id, reason]) {
            Reply::Int(1) => return,
            Reply::Int(0) => {}
            other => panic!("CLIENT UNBLOCK: {other:?}"),
        }
        assert!(Instant::now() < deadline, "client {id} never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_blocking_command_wakes_on_a_push_through_another_partition() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let p = if resp3 { "b3:" } else { "b2:" };
        // Keys of partitions 1 and 2; the waiter on worker 0, the pusher
        // on worker 3.
        let k = spread(&server, p, 4);
        let (first, second, dst) = (k[1].as_str(), k[2].as_str(), k[3].as_str());
        let mut pusher = Raw::connect(server.core_addrs()[3], resp3);
        // (the wait, the push, the waiter's answer)
        let cases: Vec<(Vec<&str>, Vec<&str>, Reply)> = vec![
            (
                vec!["BLPOP", first, second, "0"],
                vec!["RPUSH", second, "a", "b"],
                popped(second, "a"),
            ),
            (
                vec!["BRPOP", first, second, "0"],
                vec!["RPUSH", second, "a", "b"],
                popped(second, "b"),
            ),
            (
                vec!["BLPOP", first, second, "0"],
                vec!["LPUSH", first, "f"],
                popped(first, "f"),
            ),
            (
                vec!["BLMOVE", second, dst, "RIGHT", "LEFT", "0"],
                vec!["RPUSH", second, "m", "n"],
                b("n"),
            ),
            (
                vec!["BRPOPLPUSH", first, dst, "0"],
                vec!["RPUSH", first, "r", "s"],
                b("s"),
            ),
            (
                vec!["BLMPOP", "0", "2", first, second, "LEFT", "COUNT", "2"],
                vec!["RPUSH", second, "x", "y", "z"],
                Reply::Array(vec![b(second), Reply::Array(vec![b("x"), b("y")])]),
            ),
        ];
        for (wait, push, want) in cases {
            pusher.cmd(&["DEL", first, second, dst]);
            let (mut waiter, _) = park(&server, 0, resp3, &wait);
            assert_eq!(
                waiter.poll(Duration::from_millis(100)),
                None,
                "{wait:?} waits"
            );
            assert!(matches!(pusher.cmd(&push), Reply::Int(_)));
            assert_eq!(waiter.read(), want, "{wait:?} after {push:?}");
            // The waiter serves commands again.
            assert_eq!(waiter.cmd(&["PING"]), Reply::Simple("PONG".into()));
            // What BLMOVE/BRPOPLPUSH moved is in the destination.
            let moved = match &want {
                Reply::Bulk(_) => vec![want.clone()],
                _ => vec![],
            };
            let in_dst = pusher.cmd(&["LRANGE", dst, "0", "-1"]);
            assert_eq!(in_dst, Reply::Array(moved), "{wait:?}");
        }
        // A list already there: answered at once, RESP2 and RESP3 alike.
        pusher.cmd(&["DEL", first, second, dst]);
        pusher.cmd(&["RPUSH", second, "ready"]);
        let mut c = Raw::connect(server.core_addrs()[0], resp3);
        assert_eq!(
            c.cmd(&["BLPOP", first, second, "0"]),
            popped(second, "ready")
        );
        pusher.cmd(&["DEL", first, second, dst]);
    }
}

#[test]
fn exactly_once_delivery_to_many_waiters() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let k = spread(&server, if resp3 { "once3:" } else { "once2:" }, 4);
        let key = k[2].as_str();
        const WAITERS: usize = 8;
        const PUSHES: usize = 5;
        // Waiters on every worker, with a timeout long past the pushes.
        let mut waiters: Vec<Raw> = (0..WAITERS)
            .map(|i| {
                let cmd = if i % 2 == 0 {
                    vec!["BLPOP", k[0].as_str(), key, "5"]
                } else {
                    vec!["BRPOP", key, "5"]
                };
                park(&server, i % WORKERS as usize, resp3, &cmd).0
            })
            .collect();
        let mut pusher = Raw::connect(server.core_addrs()[1], resp3);
        for i in 0..PUSHES {
            let job = format!("job{i}");
            assert!(matches!(pusher.cmd(&["RPUSH", key, &job]), Reply::Int(_)));
        }
        let mut got = Vec::new();
        let mut timed_out = 0;
        for w in &mut waiters {
            let null = w.timed_out();
            match w.read() {
                Reply::Array(kv) if kv.len() == 2 => {
                    assert_eq!(kv[0], b(key));
                    got.push(kv[1].clone());
                }
                r if r == null => timed_out += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            pusher.cmd(&["LLEN", key]),
            Reply::Int(0),
            "nothing left over"
        );
        got.sort_by_key(|r| format!("{r:?}"));
        let want: Vec<Reply> = (0..PUSHES).map(|i| b(&format!("job{i}"))).collect();
        assert_eq!(got, want, "each element delivered exactly once");
        assert_eq!(timed_out, WAITERS - PUSHES);
    }
}

#[test]
fn timeouts_zero_and_fractional() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let k = spread(&server, if resp3 { "t3:" } else { "t2:" }, 3);
        let mut c = Raw::connect(server.core_addrs()[0], resp3);
        let null = c.timed_out();
        // A fractional timeout: the null array (RESP3: `_`) for every one.
        for cmd in [
            vec!["BLPOP", k[1].as_str(), k[2].as_str(), "0.05"],
            vec!["BRPOP", k[1].as_str(), "0.01"],
            vec![
                "BLMOVE",
                k[1].as_str(),
                k[2].as_str(),
                "LEFT",
                "LEFT",
                "0.02",
            ],
            vec!["BRPOPLPUSH", k[1].as_str(), k[2].as_str(), ".03"],
            vec!["BLMPOP", "0.05", "2", k[1].as_str(), k[2].as_str(), "RIGHT"],
        ] {
            assert_eq!(c.cmd(&cmd), null, "{cmd:?}");
        }
        assert_eq!(c.cmd(&["EXISTS", &k[1], &k[2]]), Reply::Int(0));
        // Timeout 0 waits until a push, however long.
        let (mut w, _) = park(&server, 1, resp3, &["BLPOP", &k[1], "0"]);
        assert_eq!(w.poll(Duration::from_millis(300)), None, "still waiting");
        c.cmd(&["LPUSH", &k[1], "late"]);
        assert_eq!(w.read(), popped(&k[1], "late"));
        assert_eq!(c.cmd(&["EXISTS", &k[1]]), Reply::Int(0));
    }
}

#[test]
fn client_unblock_timeout_and_error() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let k = spread(&server, if resp3 { "u3:" } else { "u2:" }, 2);
        let mut admin = Raw::connect(server.core_addrs()[3], resp3);
        for (reason, cmd) in [
            ("TIMEOUT", vec!["BLPOP", k[0].as_str(), k[1].as_str(), "0"]),
            (
                "timeout",
                vec!["BLMOVE", k[0].as_str(), k[1].as_str(), "LEFT", "RIGHT", "0"],
            ),
            ("ERROR", vec!["BRPOP", k[1].as_str(), "0"]),
            ("error", vec!["BLMPOP", "0", "1", k[0].as_str(), "LEFT"]),
        ] {
            let (mut w, id) = park(&server, 1, resp3, &cmd);
            unblock(&mut admin, id, reason);
            let want = if reason.eq_ignore_ascii_case("error") {
                Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
            } else {
                w.timed_out()
            };
            assert_eq!(w.read(), want, "{cmd:?} {reason}");
            // No longer blocked: 0, and it serves commands again.
            let id = id.to_string();
            assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));
            assert_eq!(w.cmd(&["PING"]), Reply::Simple("PONG".into()));
        }
        // Not blocked, unknown, and bad arguments.
        let own = admin.id().to_string();
        assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &own]), Reply::Int(0));
        assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", "999999"]), Reply::Int(0));
        assert_eq!(
            admin.cmd(&["CLIENT", "UNBLOCK", &own, "LATER"]),
            Reply::Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
        );
        assert_eq!(
            admin.cmd(&["CLIENT", "UNBLOCK", "x"]),
            Reply::Error("ERR value is not an integer or out of range".into())
        );
        // An unblocked waiter left no registration behind: a push is still
        // there for the next reader.
        admin.cmd(&["RPUSH", &k[1], "kept"]);
        assert_eq!(
            admin.cmd(&["LRANGE", &k[1], "0", "-1"]),
            Reply::Array(vec![b("kept")])
        );
        admin.cmd(&["DEL", &k[0], &k[1]]);
    }
}

#[test]
fn blocking_commands_inside_multi_answer_at_once() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let k = spread(&server, if resp3 { "m3:" } else { "m2:" }, 3);
        let mut c = Raw::connect(server.core_addrs()[0], resp3);
        let null = c.timed_out();
        c.cmd(&["RPUSH", &k[2], "here"]);
        assert_eq!(c.cmd(&["MULTI"]), Reply::Simple("OK".into()));
        for cmd in [
            vec!["BLPOP", k[0].as_str(), "0"],
            vec!["BRPOP", k[0].as_str(), k[1].as_str(), "0"],
            vec!["BLMOVE", k[0].as_str(), k[1].as_str(), "LEFT", "LEFT", "0"],
            vec!["BRPOPLPUSH", k[0].as_str(), k[1].as_str(), "0"],
            vec!["BLMPOP", "0", "2", k[0].as_str(), k[1].as_str(), "LEFT"],
            vec!["BLPOP", k[0].as_str(), k[2].as_str(), "0"],
        ] {
            assert_eq!(c.cmd(&cmd), Reply::Simple("QUEUED".into()));
        }
        // Empty lists answer at once: the null array, but BLMOVE and
        // BRPOPLPUSH a null bulk string (as Redis 7.0 does in MULTI).
        let nil = if resp3 { Reply::Null } else { Reply::Nil };
        let want = Reply::Array(vec![
            null.clone(),
            null.clone(),
            nil.clone(),
            nil,
            null,
            popped(&k[2], "here"),
        ]);
        assert_eq!(c.cmd(&["EXEC"]), want);
        assert_eq!(c.cmd(&["EXISTS", &k[2]]), Reply::Int(0));
    }
}

#[test]
fn a_waiter_that_disconnects_leaves_the_element_to_a_live_one() {
    let server = common::start(WORKERS);
    let k = spread(&server, "dc:", 2);
    let key = k[1].as_str();
    let mut admin = Raw::connect(server.core_addrs()[0], false);
    let (gone, gone_id) = park(&server, 2, false, &["BLPOP", key, "0"]);
    drop(gone);
    // Wait (hang guard) until the server saw the client go.
    let deadline = Instant::now() + TIMEOUT;
    let gone_id = format!("id={gone_id} ");
    loop {
        let Reply::Bulk(list) = admin.cmd(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST answers a bulk string");
        };
        if !String::from_utf8_lossy(&list)
            .lines()
            .any(|l| l.starts_with(&gone_id))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the closed client stays listed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut live, _) = park(&server, 3, false, &["BLPOP", key, "0"]);
    admin.cmd(&["RPUSH", key, "only"]);
    assert_eq!(live.read(), popped(key, "only"));
    assert_eq!(admin.cmd(&["EXISTS", key]), Reply::Int(0));
}

#[test]
fn pipelined_commands_after_a_blocked_command_run_after_it_wakes() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let k = spread(&server, if resp3 { "pl3:" } else { "pl2:" }, 3);
        let (key, other) = (k[1].as_str(), k[2].as_str());
        let mut c = Raw::connect(server.core_addrs()[0], resp3);
        // The RPUSH would feed the BLPOP if it ran first.
        c.send(&[
            &["PING"],
            &["BLPOP", key, "0"],
            &["RPUSH", key, "mine"],
            &["LLEN", key],
            &["INCR", other],
        ]);
        assert_eq!(c.read(), Reply::Simple("PONG".into()));
        assert_eq!(
            c.poll(Duration::from_millis(200)),
            None,
            "BLPOP waits first"
        );
        let mut pusher = Raw::connect(server.core_addrs()[3], resp3);
        assert_eq!(
            pusher.cmd(&["GET", other]),
            if resp3 { Reply::Null } else { Reply::Nil }
        );
        pusher.cmd(&["RPUSH", key, "theirs"]);
        assert_eq!(c.read(), popped(key, "theirs"));
        assert_eq!(c.read(), Reply::Int(1));
        assert_eq!(c.read(), Reply::Int(1));
        assert_eq!(c.read(), Reply::Int(1));
        assert_eq!(
            pusher.cmd(&["LRANGE", key, "0", "-1"]),
            Reply::Array(vec![b("mine")])
        );
        pusher.cmd(&["DEL", key, other]);
    }
}

#[test]
fn redis_py_worker_queue_fed_through_another_partition() {
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
    // The consumer's connection on worker 0, the producer's on worker 1,
    // the queue's keys on partitions 2 and 3.
    let k = spread(&server, "queue:", 4);
    let ports: Vec<String> = server
        .core_addrs()
        .iter()
        .map(|a| a.port().to_string())
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_list_queue.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .env("COREKV_CONSUMER_PORT", &ports[0])
        .env("COREKV_PRODUCER_PORT", &ports[1])
        .env("COREKV_QUEUE", &k[2])
        .env("COREKV_PROCESSING", &k[3])
        .env("PYTHONUNBUFFERED", "1");
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("python3 {}", script.display()), &out)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
}
