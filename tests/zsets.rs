//! Sorted sets end to end, through the Rust `redis` crate (RESP2 and
//! RESP3) against a 4-worker server: the reply types of every sorted-set
//! command (scores as bulk strings or RESP3 doubles, WITHSCORES pairs flat
//! or nested), WRONGTYPE both ways, `TYPE`/`OBJECT ENCODING`/`SCAN …
//! TYPE`, the commands on several keys with keys on different partitions
//! (handoff transactions) and TTLs, `MULTI`/`EXEC` and `WATCH`,
//! `RENAME`/`COPY` of a big sorted set across partitions, `ZMPOP` and
//! `BZMPOP` across partitions (a waiter woken through another partition),
//! a redis-py leaderboard, and `--maxmemory` over big sorted sets (refused
//! near the limit with `noeviction`, evicted whole with SIEVE).

mod common;

use common::collections::{connect, err, info, int, limited, raw, spread, TIMEOUT, WRONGTYPE};
use common::resp::{describe, run_with_timeout, tool};
use corekv::config::EvictionPolicy;
use redis::{Commands, Connection, Value};
use std::time::Duration;

const WORKERS: u16 = 4;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// A score as the protocol sends it: a bulk string in RESP2, a double in
/// RESP3.
fn score(s: &str, resp3: bool) -> Value {
    if resp3 {
        Value::Double(s.parse().unwrap())
    } else {
        bulk(s)
    }
}

/// Members with scores: a flat array in RESP2, pairs in RESP3.
fn pairs(items: &[(&str, &str)], resp3: bool) -> Value {
    if resp3 {
        Value::Array(
            items
                .iter()
                .map(|(m, s)| Value::Array(vec![bulk(m), score(s, true)]))
                .collect(),
        )
    } else {
        Value::Array(items.iter().flat_map(|(m, s)| [bulk(m), bulk(s)]).collect())
    }
}

fn members(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|m| bulk(m)).collect())
}

#[test]
fn every_sorted_set_command_over_resp2_and_resp3() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let k = if resp3 { "z3" } else { "z2" };
        assert_eq!(int(&mut c, &["ZADD", k, "1", "a", "2", "b", "0.1", "c"]), 3);
        assert_eq!(
            raw(&mut c, &["ZSCORE", k, "c"]),
            score("0.10000000000000001", resp3)
        );
        assert_eq!(raw(&mut c, &["ZSCORE", k, "nope"]), Value::Nil);
        assert_eq!(
            raw(&mut c, &["ZMSCORE", k, "a", "nope"]),
            Value::Array(vec![score("1", resp3), Value::Nil])
        );
        assert_eq!(
            raw(&mut c, &["ZINCRBY", k, "1e20", "a"]),
            score("1e+20", resp3)
        );
        assert_eq!(
            raw(&mut c, &["ZADD", k, "INCR", "1", "b"]),
            score("3", resp3)
        );
        assert_eq!(
            raw(&mut c, &["ZADD", k, "NX", "INCR", "1", "b"]),
            Value::Nil
        );
        assert_eq!(int(&mut c, &["ZCARD", k]), 3);
        assert_eq!(int(&mut c, &["ZRANK", k, "b"]), 1);
        assert_eq!(int(&mut c, &["ZREVRANK", k, "b"]), 1);
        assert_eq!(raw(&mut c, &["ZRANK", k, "nope"]), Value::Nil);
        assert_eq!(
            raw(&mut c, &["ZRANGE", k, "0", "-1", "WITHSCORES"]),
            pairs(
                &[("c", "0.10000000000000001"), ("b", "3"), ("a", "1e+20")],
                resp3
            )
        );
        assert_eq!(
            raw(&mut c, &["ZREVRANGE", k, "0", "1"]),
            members(&["a", "b"])
        );
        assert_eq!(
            raw(
                &mut c,
                &["ZRANGEBYSCORE", k, "(0.1", "+inf", "LIMIT", "0", "1"]
            ),
            members(&["b"])
        );
        assert_eq!(int(&mut c, &["ZCOUNT", k, "-inf", "(3"]), 1);
        assert_eq!(int(&mut c, &["ZLEXCOUNT", k, "-", "+"]), 3);
        // ZPOPMIN: a flat pair without a count, pairs with one (RESP3).
        assert_eq!(
            raw(&mut c, &["ZPOPMIN", k]),
            Value::Array(vec![bulk("c"), score("0.10000000000000001", resp3)])
        );
        assert_eq!(
            raw(&mut c, &["ZPOPMAX", k, "1"]),
            pairs(&[("a", "1e+20")], resp3)
        );
        // ZRANDMEMBER WITHSCORES: pairs in RESP3, flat in RESP2.
        assert_eq!(
            raw(&mut c, &["ZRANDMEMBER", k, "-2", "WITHSCORES"]),
            pairs(&[("b", "3"), ("b", "3")], resp3)
        );
        assert_eq!(raw(&mut c, &["ZRANDMEMBER", k]), bulk("b"));
        match raw(&mut c, &["ZSCAN", k, "0"]) {
            Value::Array(parts) => {
                assert_eq!(parts[0], bulk("0"));
                assert_eq!(parts[1], members(&["b", "3"]), "scores as text");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(int(&mut c, &["ZREM", k, "b", "nope"]), 1);
        assert_eq!(int(&mut c, &["EXISTS", k]), 0, "emptied: deleted");
        assert_eq!(
            err(&mut c, &["ZADD", k, "NX", "XX", "1", "a"]),
            "ERR XX and NX options at the same time are not compatible"
        );
        assert_eq!(
            err(&mut c, &["ZRANGE", k, "0", "1", "LIMIT", "0", "1"]),
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        );
    }
}

#[test]
fn wrongtype_both_ways_type_encoding_and_scan_type() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let _: () = c.set("str", "v").unwrap();
    for args in [
        vec!["ZADD", "str", "1", "a"],
        vec!["ZSCORE", "str", "a"],
        vec!["ZRANGE", "str", "0", "-1"],
        vec!["ZPOPMIN", "str"],
        vec!["ZUNION", "2", "nokey", "str"],
        vec!["ZRANGESTORE", "dst", "str", "0", "-1"],
    ] {
        assert_eq!(err(&mut c, &args), WRONGTYPE, "{args:?}");
    }
    int(&mut c, &["ZADD", "zs", "1", "a"]);
    for args in [
        vec!["GET", "zs"],
        vec!["APPEND", "zs", "x"],
        vec!["SADD", "zs", "x"],
        vec!["HGET", "zs", "f"],
        vec!["SUNION", "zs"],
    ] {
        assert_eq!(err(&mut c, &args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(
        raw(&mut c, &["TYPE", "zs"]),
        Value::SimpleString("zset".into())
    );
    assert_eq!(raw(&mut c, &["OBJECT", "ENCODING", "zs"]), bulk("listpack"));
    let long = "m".repeat(65);
    int(&mut c, &["ZADD", "zs", "2", &long]);
    assert_eq!(raw(&mut c, &["OBJECT", "ENCODING", "zs"]), bulk("skiplist"));
    // SCAN walks the partitions one after another: to the end.
    let (mut cursor, mut keys) = (0u64, Vec::<String>::new());
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .arg("TYPE")
            .arg("zset")
            .query(&mut c)
            .unwrap();
        keys.extend(found);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(keys, ["zs"]);
    // MEMORY USAGE counts the big form.
    let usage = int(&mut c, &["MEMORY", "USAGE", "zs"]);
    assert!(usage > 100, "{usage}");
}

#[test]
fn store_commands_across_partitions_replace_the_destination_and_its_ttl() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "st:", 4);
    int(&mut c, &["ZADD", &k[0], "1", "a", "2", "b", "3", "c"]);
    int(&mut c, &["ZADD", &k[1], "10", "b", "20", "c", "30", "d"]);
    int(&mut c, &["SADD", &k[2], "c", "d"]);
    let _: () = c.set(&k[3], "old").unwrap();
    let _: () = c.expire(&k[3], 1000).unwrap();
    assert_eq!(
        int(
            &mut c,
            &[
                "ZUNIONSTORE",
                &k[3],
                "3",
                &k[0],
                &k[1],
                &k[2],
                "WEIGHTS",
                "1",
                "2",
                "100"
            ]
        ),
        4
    );
    assert_eq!(int(&mut c, &["TTL", &k[3]]), -1, "the store clears the TTL");
    assert_eq!(
        raw(&mut c, &["ZRANGE", &k[3], "0", "-1", "WITHSCORES"]),
        pairs(
            &[("a", "1"), ("b", "22"), ("c", "143"), ("d", "160")],
            false
        )
    );
    assert_eq!(
        int(
            &mut c,
            &["ZINTERSTORE", &k[3], "2", &k[0], &k[1], "AGGREGATE", "MAX"]
        ),
        2
    );
    assert_eq!(
        raw(&mut c, &["ZINTER", "2", &k[0], &k[1], "WITHSCORES"]),
        pairs(&[("b", "12"), ("c", "23")], false)
    );
    assert_eq!(raw(&mut c, &["ZDIFF", "2", &k[0], &k[1]]), members(&["a"]));
    assert_eq!(int(&mut c, &["ZDIFFSTORE", &k[3], "2", &k[0], &k[0]]), 0);
    assert_eq!(
        int(&mut c, &["EXISTS", &k[3]]),
        0,
        "an empty result deletes"
    );
    assert_eq!(int(&mut c, &["ZINTERCARD", "3", &k[0], &k[1], &k[2]]), 1);
    assert_eq!(
        int(
            &mut c,
            &["ZRANGESTORE", &k[3], &k[1], "(10", "+inf", "BYSCORE"]
        ),
        2
    );
    assert_eq!(
        raw(&mut c, &["ZRANGE", &k[3], "0", "-1"]),
        members(&["c", "d"])
    );
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", &k[3]]),
        bulk("listpack")
    );
    assert_eq!(
        err(
            &mut c,
            &["ZUNIONSTORE", &k[3], "2", &k[0], &k[1], "WEIGHTS", "1", "x"]
        ),
        "ERR weight value is not a float"
    );
}

#[test]
fn multi_exec_and_watch_with_sorted_set_commands() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        let k = spread(&server, if resp3 { "tx3:" } else { "tx2:" }, 3);
        let results: Vec<Value> = redis::pipe()
            .atomic()
            .zadd(&k[0], "a", 1)
            .zadd(&k[1], "a", 2)
            .cmd("ZUNIONSTORE")
            .arg(&k[2])
            .arg(2)
            .arg(&k[0])
            .arg(&k[1])
            .cmd("ZSCORE")
            .arg(&k[2])
            .arg("a")
            .cmd("ZPOPMIN")
            .arg(&k[0])
            .query(&mut c)
            .unwrap();
        assert_eq!(results[2], Value::Int(1));
        assert_eq!(results[3], score("3", resp3));
        assert_eq!(results[4], Value::Array(vec![bulk("a"), score("1", resp3)]));
        assert_eq!(int(&mut c, &["EXISTS", &k[0]]), 0);
    }
    // WATCH: ZADD of a new member or a new score invalidates; one that
    // changes nothing does not.
    let mut c = connect(server.shared_addr(), false);
    let mut other = connect(server.shared_addr(), false);
    let k = spread(&server, "w:", 2);
    int(&mut c, &["ZADD", &k[0], "1", "a"]);
    for (change, fails) in [
        (vec!["ZADD", k[0].as_str(), "1", "a"], false),
        (vec!["ZADD", k[0].as_str(), "2", "a"], true),
        (vec!["ZINCRBY", k[0].as_str(), "1", "b"], true),
        (vec!["ZREM", k[0].as_str(), "nope"], false),
        (vec!["ZUNIONSTORE", k[0].as_str(), "1", k[1].as_str()], true),
    ] {
        let _: () = redis::cmd("WATCH").arg(&k[0]).query(&mut c).unwrap();
        raw(&mut other, &change);
        let result: Option<(i64,)> = redis::pipe().atomic().zcard(&k[1]).query(&mut c).unwrap();
        assert_eq!(result.is_none(), fails, "{change:?}");
    }
}

#[test]
fn rename_and_copy_of_a_big_sorted_set_across_partitions() {
    let server = common::start(WORKERS);
    let mut c = connect(server.shared_addr(), false);
    let k = spread(&server, "big:", 3);
    let n = 20_000;
    for start in (0..n).step_by(1000) {
        let mut args: Vec<String> = vec!["ZADD".into(), k[0].clone()];
        for i in start..start + 1000 {
            args.extend([format!("{}", i % 977), format!("member:{i}")]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int(&mut c, &refs), 1000);
    }
    let _: () = c.expire(&k[0], 5000).unwrap();
    let before = raw(&mut c, &["ZRANGE", &k[0], "0", "-1", "WITHSCORES"]);
    let _: () = c.rename(&k[0], &k[1]).unwrap();
    assert_eq!(int(&mut c, &["EXISTS", &k[0]]), 0);
    assert_eq!(int(&mut c, &["ZCARD", &k[1]]), n);
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", &k[1]]),
        bulk("skiplist")
    );
    let ttl = int(&mut c, &["TTL", &k[1]]);
    assert!((4990..=5000).contains(&ttl), "RENAME keeps the TTL: {ttl}");
    assert_eq!(
        raw(&mut c, &["ZRANGE", &k[1], "0", "-1", "WITHSCORES"]),
        before
    );
    assert_eq!(int(&mut c, &["COPY", &k[1], &k[2]]), 1);
    assert_eq!(int(&mut c, &["ZREM", &k[1], "member:0"]), 1);
    assert_eq!(int(&mut c, &["ZCARD", &k[2]]), n, "the copy is its own set");
    assert_eq!(
        raw(&mut c, &["ZRANGE", &k[2], "0", "-1", "WITHSCORES"]),
        before
    );
    // Score 976 is the highest; among its 20 members, by bytes, "member:976"
    // comes before "member:9769" only.
    assert_eq!(int(&mut c, &["ZRANK", &k[2], "member:976"]), n - 2);
    assert_eq!(int(&mut c, &["ZREVRANK", &k[2], "member:9769"]), 0);
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", &k[2]]),
        bulk("skiplist")
    );
}

/// A leaderboard through redis-py: players scored with ZADD, bumped with
/// ZINCRBY, the top three with ZREVRANGE WITHSCORES, a player's rank with
/// ZREVRANK/ZRANK, on keys of several partitions, in RESP2 and RESP3.
const LEADERBOARD: &str = r#"
import os, redis
port = int(os.environ["PORT"])
# RESP3 answers [member, score] pairs as lists, RESP2 as tuples.
pairs = lambda xs: [tuple(x) for x in xs]
for protocol in (2, 3):
    r = redis.Redis(port=port, socket_timeout=10, protocol=protocol, decode_responses=True)
    board, week = f"py{protocol}:board", f"py{protocol}:week"
    r.delete(board, week, f"py{protocol}:total")
    assert r.zadd(board, {"alice": 120, "bob": 95, "carol": 130, "dave": 40}) == 4
    assert r.zincrby(board, 50, "bob") == 145.0
    assert r.zadd(board, {"erin": 10}, nx=True) == 1
    assert r.zadd(board, {"alice": 100}, gt=True, ch=True) == 0
    top = pairs(r.zrevrange(board, 0, 2, withscores=True))
    assert top == [("bob", 145.0), ("carol", 130.0), ("alice", 120.0)], top
    assert r.zrevrank(board, "bob") == 0
    assert r.zrank(board, "erin") == 0
    assert r.zscore(board, "dave") == 40.0
    assert r.zcard(board) == 5
    assert r.zcount(board, 100, "+inf") == 3
    assert r.zrangebyscore(board, 0, 50) == ["erin", "dave"]
    r.zadd(week, {"dave": 500, "zoe": 1})
    assert r.zunionstore(f"py{protocol}:total", [board, week]) == 6
    assert pairs(r.zrevrange(f"py{protocol}:total", 0, 0, withscores=True)) == [("dave", 540.0)]
    assert pairs(r.zpopmin(board, 1)) == [("erin", 10.0)]
    assert r.type(board) == "zset"
    with r.pipeline(transaction=True) as pipe:
        pipe.zincrby(board, 1, "dave").zrevrank(board, "dave")
        assert pipe.execute() == [41.0, 3]
print("ok")
"#;

#[test]
fn redis_py_leaderboard() {
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let server = common::start(WORKERS);
    let out = run_with_timeout(
        std::process::Command::new(&python)
            .args(["-c", LEADERBOARD])
            .env("PORT", server.shared_addr().port().to_string())
            .env("PYTHONUNBUFFERED", "1"),
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}\n(the python package `redis` >= 5 is needed: `python3 -m pip install 'redis>=5'`)",
        describe("python3 (leaderboard)", &out)
    );
}

/// `ZMPOP`'s reply: `[key, [[member, score], …]]` (scores as doubles in
/// RESP3).
fn mpopped(key: &str, items: &[(&str, &str)], resp3: bool) -> Value {
    let items = items
        .iter()
        .map(|(m, s)| Value::Array(vec![bulk(m), score(s, resp3)]))
        .collect();
    Value::Array(vec![bulk(key), Value::Array(items)])
}

/// Polls `INFO clients` until `want` clients wait in a blocking command
/// (a hang guard: [`TIMEOUT`]).
fn wait_blocked(c: &mut Connection, want: usize) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    let line = format!("blocked_clients:{want}\r\n");
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
        if info.contains(&line) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn zmpop_and_bzmpop_across_partitions() {
    let server = common::start(WORKERS);
    for resp3 in [false, true] {
        let mut c = connect(server.shared_addr(), resp3);
        // k[0] missing, k[1] and k[2] sorted sets, k[3] a string: each on
        // its own partition.
        let k = spread(&server, if resp3 { "mp3:" } else { "mp2:" }, 4);
        let (k0, k1, k2, k3) = (k[0].as_str(), k[1].as_str(), k[2].as_str(), k[3].as_str());
        int(&mut c, &["ZADD", k1, "1", "a", "2", "b", "3", "c"]);
        int(&mut c, &["ZADD", k2, "5", "x"]);
        let _: () = c.set(k3, "v").unwrap();
        assert_eq!(
            raw(&mut c, &["ZMPOP", "3", k0, k1, k2, "MIN", "COUNT", "2"]),
            mpopped(k1, &[("a", "1"), ("b", "2")], resp3)
        );
        assert_eq!(
            raw(&mut c, &["zmpop", "2", k0, k1, "max", "count", "5"]),
            mpopped(k1, &[("c", "3")], resp3)
        );
        assert_eq!(int(&mut c, &["EXISTS", k1]), 0, "an emptied set is deleted");
        assert_eq!(raw(&mut c, &["ZMPOP", "2", k0, k1, "MIN"]), Value::Nil);
        // Keys are type-checked up to the first non-empty one only.
        assert_eq!(err(&mut c, &["ZMPOP", "2", k3, k2, "MIN"]), WRONGTYPE);
        assert_eq!(int(&mut c, &["ZCARD", k2]), 1);
        assert_eq!(
            raw(&mut c, &["ZMPOP", "2", k2, k3, "MAX"]),
            mpopped(k2, &[("x", "5")], resp3)
        );
        // Nothing there: BZMPOP's timeout answers the null array.
        assert_eq!(
            raw(&mut c, &["BZMPOP", "0.01", "2", k1, k2, "MIN"]),
            Value::Nil
        );
        for (args, want) in [
            (
                &["ZMPOP", "0", k1, "MIN"][..],
                "numkeys should be greater than 0",
            ),
            (
                &["ZMPOP", "1", k1, "MIN", "COUNT", "0"],
                "count should be greater than 0",
            ),
            (&["ZMPOP", "1", k1, "FOO"], "syntax error"),
            (&["ZMPOP", "2", k1, "MIN"], "syntax error"),
            (
                &["ZMPOP", "1", k1, "MIN", "COUNT", "1", "COUNT", "1"],
                "syntax error",
            ),
            // BZMPOP reads its timeout last, as Redis does.
            (&["BZMPOP", "x", "1", k1, "FOO"], "syntax error"),
            (
                &["BZMPOP", "x", "1", k1, "MIN"],
                "timeout is not a float or out of range",
            ),
            (&["BZMPOP", "-1", "1", k1, "MIN"], "timeout is negative"),
        ] {
            assert_eq!(err(&mut c, args), format!("ERR {want}"), "{args:?}");
        }
        // A waiter on worker 0 for k1 and k2, woken by a ZADD to k2 from a
        // connection on worker 3.
        let addr = server.core_addrs()[0];
        let (w1, w2) = (k1.to_string(), k2.to_string());
        let waiter = std::thread::spawn(move || {
            let mut w = connect(addr, resp3);
            raw(&mut w, &["BZMPOP", "0", "2", &w1, &w2, "MAX", "COUNT", "2"])
        });
        wait_blocked(&mut c, 1);
        let mut other = connect(server.core_addrs()[3], resp3);
        int(&mut other, &["ZADD", k2, "1", "p", "2", "q", "3", "r"]);
        assert_eq!(
            waiter.join().unwrap(),
            mpopped(k2, &[("r", "3"), ("q", "2")], resp3)
        );
        assert_eq!(int(&mut c, &["ZCARD", k2]), 1);
        wait_blocked(&mut c, 0);
        let _: () = c.del(&k).unwrap();
    }
}

/// `ZADD key` members `m{from}` … `m{from + n - 1}` (score = index), in
/// pipelined commands of 100 members; the first error, if any.
fn zadd_range(c: &mut Connection, key: &str, from: usize, n: usize) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for start in (from..from + n).step_by(100) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(key);
        for i in start..(start + 100).min(from + n) {
            cmd.arg(i).arg(format!("member:{i:012}"));
        }
        pipe.add_command(cmd).ignore();
    }
    pipe.query(c)
}

#[test]
fn noeviction_zadds_into_big_sorted_sets_end_in_oom_near_the_limit() {
    const LIMIT: usize = 16 * 1024 * 1024;
    let server = limited(WORKERS, LIMIT, EvictionPolicy::Noeviction);
    let mut c = connect(server.shared_addr(), false);
    let keys = spread(&server, "zoom:", WORKERS as usize);
    // One sorted set per partition grows 1,000 members a turn until refused.
    let mut sizes = vec![0usize; keys.len()];
    let refused = 'grow: loop {
        for (p, key) in keys.iter().enumerate() {
            assert!(sizes[p] < 2_000_000, "never refused: {sizes:?}");
            match zadd_range(&mut c, key, sizes[p], 1000) {
                Ok(()) => sizes[p] += 1000,
                Err(e) => {
                    // A pipeline's error names the command that failed.
                    let e = e.to_string();
                    assert!(e.contains("OOM") && e.contains("maxmemory"), "{e}");
                    break 'grow p;
                }
            }
        }
    };
    let used = info(&mut c, "memory", "used_memory") as usize;
    assert!(
        used <= LIMIT + LIMIT / 10,
        "used_memory {used} > {LIMIT} + 10%"
    );
    // Refused near its share (LIMIT / WORKERS), not far before it. The
    // refused pipeline may have added some of its commands first.
    let usage = int(&mut c, &["MEMORY", "USAGE", &keys[refused]]) as usize;
    let share = LIMIT / WORKERS as usize;
    assert!(
        usage >= share / 2,
        "refused at {usage} of {share} bytes ({sizes:?})"
    );
    let card = int(&mut c, &["ZCARD", &keys[refused]]) as usize;
    assert!(
        card >= sizes[refused] && card < sizes[refused] + 1000,
        "{card} vs {sizes:?}"
    );
    assert_eq!(
        raw(&mut c, &["ZSCORE", &keys[refused], "member:000000000007"]),
        bulk("7")
    );
    // Refused again; then a delete makes room (after the lazy free).
    let again = zadd_range(&mut c, &keys[refused], sizes[refused], 1000).unwrap_err();
    assert!(again.to_string().contains("OOM"), "{again}");
    assert_eq!(int(&mut c, &["DEL", &keys[refused]]), 1);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while zadd_range(&mut c, &keys[refused], sizes[refused], 1000).is_err() {
        assert!(std::time::Instant::now() < deadline, "DEL never made room");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(int(&mut c, &["ZCARD", &keys[refused]]), 1000);
}

#[test]
fn evicting_policy_evicts_whole_big_sorted_sets_and_memory_holds() {
    const LIMIT: usize = 16 * 1024 * 1024;
    let server = limited(WORKERS, LIMIT, EvictionPolicy::Sieve);
    let mut c = connect(server.shared_addr(), false);
    // About three times the limit in sorted sets of 1,000 members (the
    // skip-list-like encoding past zset-max-listpack-entries).
    let sets = 700;
    for z in 0..sets {
        zadd_range(&mut c, &format!("zev:{z}"), 0, 1000).expect("ZADD under an evicting policy");
        if z % 100 == 0 {
            let used = info(&mut c, "memory", "used_memory") as usize;
            assert!(used <= LIMIT + LIMIT / 10, "after {z} sets: {used}");
        }
    }
    let used = info(&mut c, "memory", "used_memory") as usize;
    assert!(used <= LIMIT + LIMIT / 10, "used_memory {used}");
    let evicted = info(&mut c, "stats", "evicted_keys");
    let left = int(&mut c, &["DBSIZE"]) as u64;
    assert!(
        evicted > 0 && left > 0 && left + evicted == sets,
        "{left} + {evicted}"
    );
    // Whole keys go, never members.
    let last = format!("zev:{}", sets - 1);
    assert_eq!(int(&mut c, &["ZCARD", &last]), 1000);
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", &last]),
        bulk("skiplist")
    );
    for z in 0..sets {
        let n = int(&mut c, &["ZCARD", &format!("zev:{z}")]);
        assert!(n == 0 || n == 1000, "zev:{z} has {n} members");
    }
}
