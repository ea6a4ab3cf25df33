//! Sets end to end, through the Rust `redis` crate (RESP2 and RESP3)
//! against a 4-worker server: every set command and its reply types,
//! WRONGTYPE both ways, `TYPE`/`OBJECT ENCODING`/`SCAN … TYPE`, the
//! commands on several sets with keys on different partitions (handoff
//! transactions), `SINTERCARD`'s errors, `MULTI`/`EXEC` and `WATCH`,
//! `RENAME`/`COPY` of a big set across partitions, and a redis-py
//! seen-set / tags example.

mod common;

use common::collections::{connect, err, int, raw, spread, text, WRONGTYPE};
use common::resp::{describe, run_with_timeout, tool};
use redis::{Commands, RedisResult, Value};
use std::time::Duration;

const WORKERS: u16 = 4;

/// The members of an array or set reply, sorted; checks that the reply is
/// RESP3's set (`~`) when `set` and the connection speaks RESP3, else an
/// array.
#[track_caller]
fn members_of(v: &Value, resp3: bool, set: bool) -> Vec<String> {
    let items = match (v, resp3 && set) {
        (Value::Set(items), true) | (Value::Array(items), false) => items,
        (other, want_set) => panic!(
            "expected a {}: {other:?}",
            if want_set { "set" } else { "array" }
        ),
    };
    let mut out: Vec<String> = items.iter().map(text).collect();
    out.sort();
    out
}

fn strings(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[test]
fn every_set_command_over_resp2_and_resp3() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let p = if resp3 { "r3" } else { "r2" };
        // Keys of one partition (a hash tag), then keys of several.
        let (a, b, d) = (
            format!("{{{p}}}a"),
            format!("{{{p}}}b"),
            format!("{{{p}}}d"),
        );
        assert_eq!(int(&mut c, &["SADD", &a, "1", "2", "3", "x"]), 4);
        assert_eq!(int(&mut c, &["SADD", &a, "1", "y"]), 1);
        assert_eq!(int(&mut c, &["SADD", &b, "2", "3", "z"]), 3);
        assert_eq!(int(&mut c, &["SREM", &a, "y", "nope"]), 1);
        assert_eq!(int(&mut c, &["SISMEMBER", &a, "x"]), 1);
        assert_eq!(int(&mut c, &["SISMEMBER", &a, "nope"]), 0);
        assert_eq!(int(&mut c, &["SISMEMBER", "missing", "x"]), 0);
        assert_eq!(
            raw(&mut c, &["SMISMEMBER", &a, "1", "nope", "x"]),
            Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(1)])
        );
        assert_eq!(int(&mut c, &["SCARD", &a]), 4);
        assert_eq!(int(&mut c, &["SCARD", "missing"]), 0);
        let all = raw(&mut c, &["SMEMBERS", &a]);
        assert_eq!(
            members_of(&all, resp3, true),
            strings(&["1", "2", "3", "x"])
        );
        let none = raw(&mut c, &["SMEMBERS", "missing"]);
        assert!(members_of(&none, resp3, true).is_empty());
        // Random members.
        let one = text(&raw(&mut c, &["SRANDMEMBER", &a]));
        assert!(["1", "2", "3", "x"].contains(&one.as_str()));
        assert_eq!(raw(&mut c, &["SRANDMEMBER", "missing"]), Value::Nil);
        let two = members_of(&raw(&mut c, &["SRANDMEMBER", &a, "2"]), resp3, false);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let many = members_of(&raw(&mut c, &["SRANDMEMBER", &a, "-9"]), resp3, false);
        assert_eq!(many.len(), 9);
        // Algebra.
        let inter = raw(&mut c, &["SINTER", &a, &b]);
        assert_eq!(members_of(&inter, resp3, true), strings(&["2", "3"]));
        let union = raw(&mut c, &["SUNION", &a, &b]);
        assert_eq!(
            members_of(&union, resp3, true),
            strings(&["1", "2", "3", "x", "z"])
        );
        let diff = raw(&mut c, &["SDIFF", &a, &b]);
        assert_eq!(members_of(&diff, resp3, true), strings(&["1", "x"]));
        assert_eq!(int(&mut c, &["SINTERCARD", "2", &a, &b]), 2);
        assert_eq!(int(&mut c, &["SINTERCARD", "2", &a, &b, "LIMIT", "1"]), 1);
        assert_eq!(int(&mut c, &["SINTERSTORE", &d, &a, &b]), 2);
        assert_eq!(int(&mut c, &["SUNIONSTORE", &d, &a, &b]), 5);
        assert_eq!(int(&mut c, &["SDIFFSTORE", &d, &a, &b]), 2);
        assert_eq!(int(&mut c, &["SMOVE", &a, &b, "x"]), 1);
        assert_eq!(int(&mut c, &["SMOVE", &a, &b, "x"]), 0);
        // SSCAN: a cursor and an array, in both protocols.
        let Value::Array(scan) = raw(&mut c, &["SSCAN", &a, "0", "COUNT", "100"]) else {
            panic!("SSCAN answers an array");
        };
        assert_eq!(text(&scan[0]), "0");
        assert_eq!(
            members_of(&scan[1], resp3, false),
            strings(&["1", "2", "3"])
        );
        // SPOP: a member, then a set of them; the key goes with the last.
        let popped = text(&raw(&mut c, &["SPOP", &a]));
        assert!(["1", "2", "3"].contains(&popped.as_str()));
        let rest = members_of(&raw(&mut c, &["SPOP", &a, "10"]), resp3, true);
        assert_eq!(rest.len(), 2);
        assert!(!rest.contains(&popped));
        assert_eq!(int(&mut c, &["EXISTS", &a]), 0);
        assert_eq!(raw(&mut c, &["SPOP", &a]), Value::Nil);
        assert!(members_of(&raw(&mut c, &["SPOP", &a, "3"]), resp3, true).is_empty());
        let _: () = c.del(&[&b, &d]).unwrap();
    }
}

#[test]
fn wrongtype_both_ways() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let keys = spread(&server, "wt:", 3);
    let (set, string, other) = (&keys[0], &keys[1], &keys[2]);
    let _: () = c.set(string, "text").unwrap();
    let _: () = c.hset(other, "f", "v").unwrap();
    assert_eq!(int(&mut c, &["SADD", set, "m"]), 1);
    for cmd in [
        vec!["SADD", string, "m"],
        vec!["SREM", string, "m"],
        vec!["SISMEMBER", string, "m"],
        vec!["SMISMEMBER", string, "m"],
        vec!["SCARD", string],
        vec!["SMEMBERS", string],
        vec!["SPOP", string],
        vec!["SPOP", string, "2"],
        vec!["SRANDMEMBER", string],
        vec!["SRANDMEMBER", string, "-2"],
        vec!["SSCAN", string, "0"],
        vec!["SADD", other, "m"],
        vec!["SCARD", other],
        // Several keys on several partitions: any one of another type.
        vec!["SINTER", set, string],
        vec!["SUNION", set, other],
        vec!["SDIFF", set, string],
        vec!["SINTERCARD", "2", set, string],
        vec!["SINTERSTORE", "{wt}dst", set, string],
        vec!["SUNIONSTORE", "{wt}dst", string, set],
        vec!["SDIFFSTORE", "{wt}dst", set, other],
        vec!["SMOVE", set, string, "m"],
        vec!["SMOVE", string, set, "m"],
        // The set under string and hash commands.
        vec!["GET", set],
        vec!["APPEND", set, "x"],
        vec!["INCR", set],
        vec!["STRLEN", set],
        vec!["GETRANGE", set, "0", "1"],
        vec!["HGET", set, "f"],
        vec!["HSET", set, "f", "v"],
        vec!["HLEN", set],
    ] {
        assert_eq!(err(&mut c, &cmd), WRONGTYPE, "{cmd:?}");
    }
    // Nothing changed, and SET replaces a set (no type check).
    assert_eq!(int(&mut c, &["SCARD", set]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "{wt}dst"]), 0);
    assert_eq!(c.get::<_, String>(string).unwrap(), "text");
    let _: () = c.set(set, "now a string").unwrap();
    assert_eq!(c.get::<_, String>(set).unwrap(), "now a string");
}

#[test]
fn type_object_encoding_and_scan_type() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let keys = spread(&server, "enc:", 4);
    let big: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    int(&mut c, &["SADD", &keys[0], "1", "2"]);
    int(&mut c, &["SADD", &keys[1], "a", "1"]);
    let mut args = vec!["SADD", keys[2].as_str()];
    args.extend(big.iter().map(String::as_str));
    int(&mut c, &args);
    let _: () = c.set(&keys[3], "s").unwrap();
    for (key, enc) in [
        (&keys[0], "intset"),
        (&keys[1], "listpack"),
        (&keys[2], "hashtable"),
    ] {
        assert_eq!(text(&raw(&mut c, &["TYPE", key])), "set");
        assert_eq!(
            text(&raw(&mut c, &["OBJECT", "ENCODING", key])),
            enc,
            "{key}"
        );
    }
    // The conversions as a client sees them.
    int(&mut c, &["SADD", &keys[0], "str"]);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &keys[0]])),
        "listpack"
    );
    int(&mut c, &["SADD", &keys[0], &"v".repeat(65)]);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &keys[0]])),
        "hashtable"
    );
    // An intset takes a string of set-max-listpack-value bytes as a
    // listpack (Redis 7.2), one byte more as a hashtable.
    for (len, enc) in [(64, "listpack"), (65, "hashtable")] {
        let key = format!("{}:{len}", keys[1]);
        int(&mut c, &["SADD", &key, "1"]);
        int(&mut c, &["SADD", &key, &"v".repeat(len)]);
        assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", &key])), enc);
        int(&mut c, &["DEL", &key]);
    }
    assert_eq!(text(&raw(&mut c, &["TYPE", &keys[3]])), "string");
    // SCAN … TYPE set over every partition.
    let mut found = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(step) = raw(&mut c, &["SCAN", &cursor, "COUNT", "3", "TYPE", "set"])
        else {
            panic!("SCAN answers an array");
        };
        found.extend(members_of(&step[1], false, false));
        cursor = text(&step[0]);
        if cursor == "0" {
            break;
        }
    }
    found.sort();
    let mut want = keys[..3].to_vec();
    want.sort();
    assert_eq!(found, want);
}

#[test]
fn store_commands_and_smove_across_partitions() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "x:", 4);
    let (a, b, dst, other) = (&k[0], &k[1], &k[2], &k[3]);
    int(&mut c, &["SADD", a, "1", "2", "3", "x"]);
    int(&mut c, &["SADD", b, "2", "3", "4", "y"]);
    for (cmd, want) in [
        ("SINTERSTORE", strings(&["2", "3"])),
        ("SUNIONSTORE", strings(&["1", "2", "3", "4", "x", "y"])),
        ("SDIFFSTORE", strings(&["1", "x"])),
    ] {
        // The destination holds something with a TTL: replaced, TTL gone.
        let _: () = c.set(dst, "old").unwrap();
        let _: () = c.expire(dst, 1000).unwrap();
        assert_eq!(int(&mut c, &[cmd, dst, a, b]), want.len() as i64, "{cmd}");
        assert_eq!(
            members_of(&raw(&mut c, &["SMEMBERS", dst]), false, true),
            want
        );
        assert_eq!(int(&mut c, &["TTL", dst]), -1, "{cmd} clears the TTL");
        assert_eq!(text(&raw(&mut c, &["TYPE", dst])), "set");
        // An existing set destination with a TTL, too.
        let _: () = c.expire(dst, 1000).unwrap();
        assert_eq!(int(&mut c, &[cmd, dst, a, b]), want.len() as i64);
        assert_eq!(int(&mut c, &["TTL", dst]), -1, "{cmd} over a set");
    }
    // An empty result deletes the destination; sources are untouched.
    assert_eq!(int(&mut c, &["SINTERSTORE", dst, a, "x:missing"]), 0);
    assert_eq!(int(&mut c, &["EXISTS", dst]), 0);
    assert_eq!(int(&mut c, &["SCARD", a]), 4);
    // A destination that is also a source, across partitions.
    assert_eq!(int(&mut c, &["SUNIONSTORE", a, a, b]), 6);
    assert_eq!(int(&mut c, &["SCARD", a]), 6);
    // Reads across partitions.
    let union = raw(&mut c, &["SUNION", a, b, other]);
    assert_eq!(members_of(&union, false, true).len(), 6);
    assert_eq!(int(&mut c, &["SINTERCARD", "3", a, b, dst]), 0);

    // SMOVE between partitions; the destination keeps its TTL.
    int(&mut c, &["SADD", dst, "d"]);
    let _: () = c.expire(dst, 1000).unwrap();
    assert_eq!(int(&mut c, &["SMOVE", a, dst, "x"]), 1);
    assert_eq!(int(&mut c, &["SISMEMBER", dst, "x"]), 1);
    assert_eq!(int(&mut c, &["SISMEMBER", a, "x"]), 0);
    let ttl = int(&mut c, &["TTL", dst]);
    assert!(
        (1..=1000).contains(&ttl),
        "SMOVE keeps the destination's TTL: {ttl}"
    );
    assert_eq!(int(&mut c, &["SMOVE", a, dst, "nope"]), 0);
    assert_eq!(int(&mut c, &["SMOVE", "x:missing", dst, "d"]), 0);
    // The last member moved: the source is gone, a new destination made.
    int(&mut c, &["DEL", other]);
    int(&mut c, &["SADD", b, "only"]);
    int(&mut c, &["SREM", b, "2", "3", "4", "y"]);
    assert_eq!(int(&mut c, &["SMOVE", b, other, "only"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", b]), 0);
    assert_eq!(
        members_of(&raw(&mut c, &["SMEMBERS", other]), false, true),
        strings(&["only"])
    );
    assert_eq!(int(&mut c, &["TTL", other]), -1);
}

#[test]
fn sintercard_limit_and_its_errors() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "ic:", 3);
    let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for key in &k {
        let mut args = vec!["SADD", key.as_str()];
        args.extend(members.iter().map(String::as_str));
        int(&mut c, &args);
    }
    int(&mut c, &["SADD", &k[0], "only0"]);
    let (a, b, d) = (k[0].as_str(), k[1].as_str(), k[2].as_str());
    assert_eq!(int(&mut c, &["SINTERCARD", "3", a, b, d]), 50);
    for (limit, want) in [("0", 50), ("1", 1), ("10", 10), ("50", 50), ("1000", 50)] {
        assert_eq!(
            int(&mut c, &["SINTERCARD", "3", a, b, d, "LIMIT", limit]),
            want,
            "LIMIT {limit}"
        );
    }
    assert_eq!(int(&mut c, &["SINTERCARD", "1", a, "limit", "5"]), 5);
    assert_eq!(int(&mut c, &["SINTERCARD", "2", a, "ic:missing"]), 0);
    for (args, want) in [
        (
            vec!["SINTERCARD", "0", a],
            "ERR numkeys should be greater than 0",
        ),
        (
            vec!["SINTERCARD", "-1", a],
            "ERR numkeys should be greater than 0",
        ),
        (
            vec!["SINTERCARD", "x", a],
            "ERR numkeys should be greater than 0",
        ),
        (
            vec!["SINTERCARD", "3", a, b],
            "ERR Number of keys can't be greater than number of args",
        ),
        (
            vec!["SINTERCARD", "2", a, b, "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            vec!["SINTERCARD", "2", a, b, "LIMIT", "x"],
            "ERR LIMIT can't be negative",
        ),
        (vec!["SINTERCARD", "2", a, b, "LIMIT"], "ERR syntax error"),
        (
            vec!["SINTERCARD", "2", a, b, "FOO", "1"],
            "ERR syntax error",
        ),
        (
            vec!["SINTERCARD", "1"],
            "ERR wrong number of arguments for 'sintercard' command",
        ),
    ] {
        assert_eq!(err(&mut c, &args), want, "{args:?}");
    }
}

#[test]
fn multi_exec_with_set_commands_across_partitions() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let k = spread(&server, if resp3 { "tx3:" } else { "tx2:" }, 4);
        let results: Vec<Value> = redis::pipe()
            .atomic()
            .sadd(&k[0], &["a", "b", "c"])
            .sadd(&k[1], &["b", "c", "d"])
            .cmd("SINTERSTORE")
            .arg(&k[2])
            .arg(&k[0])
            .arg(&k[1])
            .cmd("SMOVE")
            .arg(&k[0])
            .arg(&k[3])
            .arg("a")
            .smembers(&k[2])
            .cmd("SPOP")
            .arg(&k[3])
            .arg(5)
            .cmd("SRANDMEMBER")
            .arg(&k[1])
            .arg(-4)
            .scard(&k[0])
            .query(&mut c)
            .unwrap();
        assert_eq!(results.len(), 8);
        assert_eq!(results[0], Value::Int(3));
        assert_eq!(results[1], Value::Int(3));
        assert_eq!(results[2], Value::Int(2));
        assert_eq!(results[3], Value::Int(1));
        assert_eq!(members_of(&results[4], resp3, true), strings(&["b", "c"]));
        assert_eq!(members_of(&results[5], resp3, true), strings(&["a"]));
        assert_eq!(members_of(&results[6], resp3, false).len(), 4);
        assert_eq!(results[7], Value::Int(2));
        assert_eq!(int(&mut c, &["EXISTS", &k[3]]), 0, "SPOP emptied it");
        // An error inside EXEC leaves the other commands applied.
        let _: () = c.set(&k[3], "str").unwrap();
        let results: Vec<RedisResult<i64>> = redis::pipe()
            .atomic()
            .ignore_errors()
            .sadd(&k[0], "z")
            .cmd("SUNIONSTORE")
            .arg(&k[2])
            .arg(&k[0])
            .arg(&k[3])
            .scard(&k[0])
            .query(&mut c)
            .unwrap();
        assert_eq!(results[0].as_ref().ok(), Some(&1));
        match &results[1] {
            Err(e) => assert_eq!(e.code(), Some("WRONGTYPE"), "{e}"),
            Ok(v) => panic!("SUNIONSTORE over a string: {v}"),
        }
        assert_eq!(results[2].as_ref().ok(), Some(&3));
        assert_eq!(
            int(&mut c, &["SCARD", &k[2]]),
            2,
            "the failed store changed nothing"
        );
        let _: () = c.del(&k).unwrap();
    }
}

#[test]
fn watch_on_a_set_key_is_invalidated_by_sadd() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let mut other = connect(server.shared_addr(), false);
    let k = spread(&server, "w:", 2);
    int(&mut c, &["SADD", &k[0], "a"]);
    // SADD of a new member from another connection: EXEC answers null.
    let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["SADD", &k[0], "b"]), 1);
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .sadd(&k[1], "x")
        .query(&mut c)
        .unwrap();
    assert_eq!(result, None, "EXEC after SADD to a watched set");
    assert_eq!(int(&mut c, &["EXISTS", &k[1]]), 0, "nothing applied");
    // SADD of members already there changes nothing: the watch holds.
    let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["SADD", &k[0], "a", "b"]), 0);
    assert_eq!(int(&mut other, &["SREM", &k[0], "nope"]), 0);
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .sadd(&k[1], "x")
        .query(&mut c)
        .unwrap();
    assert_eq!(result, Some((1,)));
    // SREM and a cross-partition SMOVE into the watched key invalidate it.
    for change in [
        vec!["SREM", k[0].as_str(), "b"],
        vec!["SMOVE", k[1].as_str(), k[0].as_str(), "x"],
    ] {
        let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
        assert_eq!(int(&mut other, &change), 1);
        let result: Option<(i64,)> = redis::pipe().atomic().scard(&k[0]).query(&mut c).unwrap();
        assert_eq!(result, None, "{change:?}");
    }
}

#[test]
fn rename_and_copy_of_a_big_set_across_partitions() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "big:", 4);
    let members: Vec<String> = (0..20_000).map(|i| format!("member:{i}")).collect();
    for chunk in members.chunks(1000) {
        let mut args = vec!["SADD", k[0].as_str()];
        args.extend(chunk.iter().map(String::as_str));
        assert_eq!(int(&mut c, &args), chunk.len() as i64);
    }
    let _: () = c.expire(&k[0], 5000).unwrap();
    let _: () = c.rename(&k[0], &k[1]).unwrap();
    assert_eq!(int(&mut c, &["EXISTS", &k[0]]), 0);
    assert_eq!(int(&mut c, &["SCARD", &k[1]]), 20_000);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &k[1]])),
        "hashtable"
    );
    let ttl = int(&mut c, &["TTL", &k[1]]);
    assert!((4990..=5000).contains(&ttl), "RENAME keeps the TTL: {ttl}");
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[2]]), 1);
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[2]]), 0, "no REPLACE");
    // The copy is its own set.
    assert_eq!(int(&mut c, &["SREM", &k[1], "member:0"]), 1);
    assert_eq!(int(&mut c, &["SCARD", &k[2]]), 20_000);
    assert_eq!(int(&mut c, &["SISMEMBER", &k[2], "member:0"]), 1);
    assert_eq!(int(&mut c, &["SISMEMBER", &k[2], "member:19999"]), 1);
    let got = members_of(&raw(&mut c, &["SMEMBERS", &k[2]]), false, true);
    let mut want = members.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        text(&raw(&mut c, &["OBJECT", "ENCODING", &k[2]])),
        "hashtable"
    );
    // COPY … REPLACE over a string; the algebra agrees on all three.
    let _: () = c.set(&k[3], "s").unwrap();
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[3], "REPLACE"]), 1);
    assert_eq!(
        int(&mut c, &["SINTERCARD", "3", &k[1], &k[2], &k[3]]),
        19_999
    );
    assert_eq!(int(&mut c, &["SDIFFSTORE", &k[0], &k[2], &k[3]]), 1);
    // A small set crosses partitions in its own form.
    assert_eq!(int(&mut c, &["DEL", &k[0]]), 1);
    int(&mut c, &["SADD", &k[0], "1", "2"]);
    let _: () = c.rename(&k[0], &k[1]).unwrap();
    assert_eq!(text(&raw(&mut c, &["OBJECT", "ENCODING", &k[1]])), "intset");
    assert_eq!(int(&mut c, &["SCARD", &k[1]]), 2);
}

/// A seen-set (deduplicating events) and tags (article ids per tag,
/// intersected) through redis-py, on keys of several partitions, in
/// RESP2 and RESP3.
const SEEN_AND_TAGS: &str = r#"
import os, redis
port = int(os.environ["PORT"])
for protocol in (2, 3):
    r = redis.Redis(port=port, socket_timeout=10, protocol=protocol)
    p = f"py{protocol}:"
    r.delete(*[p + k for k in ("seen", "tag:python", "tag:redis", "tag:rust", "both")])
    processed = []
    for event in ["e1", "e2", "e1", "e3", "e2", "e4"]:
        if r.sadd(p + "seen", event) == 1:
            processed.append(event)
    assert processed == ["e1", "e2", "e3", "e4"], processed
    assert r.sismember(p + "seen", "e3") and not r.sismember(p + "seen", "e9")
    assert r.smismember(p + "seen", ["e1", "e9"]) == [1, 0]
    assert r.smembers(p + "seen") == {b"e1", b"e2", b"e3", b"e4"}
    assert r.scard(p + "seen") == 4
    articles = {"a1": ["python", "redis"], "a2": ["rust"], "a3": ["python", "redis", "rust"], "a4": ["python"]}
    for article, tags in articles.items():
        for tag in tags:
            r.sadd(p + "tag:" + tag, article)
    assert r.sinter(p + "tag:python", p + "tag:redis") == {b"a1", b"a3"}
    assert r.sinter(p + "tag:python", p + "tag:redis", p + "tag:rust") == {b"a3"}
    assert r.sunion(p + "tag:redis", p + "tag:rust") == {b"a1", b"a2", b"a3"}
    assert r.sdiff(p + "tag:python", p + "tag:rust") == {b"a1", b"a4"}
    assert r.sintercard(2, [p + "tag:python", p + "tag:redis"]) == 2
    assert r.sinterstore(p + "both", [p + "tag:python", p + "tag:redis"]) == 2
    assert r.smembers(p + "both") == {b"a1", b"a3"}
    assert r.type(p + "both") == b"set"
    r.srem(p + "tag:rust", "a2", "a3")
    assert r.exists(p + "tag:rust") == 0
    with r.pipeline(transaction=True) as pipe:
        pipe.sadd(p + "tag:go", "a5").sismember(p + "tag:go", "a5").smembers(p + "tag:go")
        assert pipe.execute() == [1, 1, {b"a5"}]
print("ok")
"#;

#[test]
fn redis_py_seen_set_and_tags() {
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let server = common::start(WORKERS);
    let out = run_with_timeout(
        std::process::Command::new(&python)
            .args(["-c", SEEN_AND_TAGS])
            .env("PORT", server.shared_addr().port().to_string())
            .env("PYTHONUNBUFFERED", "1"),
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}\n(the python package `redis` >= 5 is needed: `python3 -m pip install 'redis>=5'`)",
        describe("python3 (seen-set and tags)", &out)
    );
}
