//! Redis compatibility through the real `redis-cli` and `redis-benchmark`
//! (Debian's redis-tools) against an in-process 4-worker server: every
//! supported command, its reply as redis-cli prints it, cluster mode
//! (`redis-cli -c`, `redis-benchmark --cluster`).
//!
//! Replies are checked in `--no-raw` form, which shows their types:
//! `"bulk"`, `(integer) n`, `(nil)`, `(error) …`, `1) …` for arrays.
//! Transactions go through one redis-cli process reading commands from
//! stdin, so that they share one connection.

mod common;

use common::resp::{
    cli, cli_raw, cli_stdin, cli_with, describe, redis_benchmark_path, run_with_timeout,
    worker_stats, RespConn, Value, TOOL_TIMEOUT,
};
use corekv::Server;
use std::collections::{BTreeSet, HashSet};
use std::process::Command;

const WORKERS: u16 = 4;

struct Srv {
    server: Server,
    /// The shared port.
    port: u16,
    /// Each worker's core port, in partition order.
    cores: Vec<u16>,
}

fn start() -> Srv {
    let server = common::start(WORKERS);
    let port = server.shared_addr().port();
    let cores = server.core_addrs().iter().map(|a| a.port()).collect();
    Srv {
        server,
        port,
        cores,
    }
}

impl Srv {
    /// `per` keys named `prefix<n>` on each partition.
    fn keys(&self, prefix: &str, per: usize) -> Vec<Vec<String>> {
        common::keys_by_partition(self.server.topology(), prefix, per)
    }

    /// Every port a client may use: shared, then the core ports.
    fn ports(&self) -> Vec<u16> {
        let mut p = vec![self.port];
        p.extend(&self.cores);
        p
    }

    fn forwarded_out_total(&self) -> u64 {
        worker_stats(self.server.shared_addr())
            .iter()
            .map(|w| w.forwarded_out)
            .sum()
    }
}

/// Asserts that `redis-cli --no-raw -p port args` prints `expected`.
#[track_caller]
fn check(port: u16, args: &[&str], expected: &str) {
    let got = cli(port, args);
    assert_eq!(got, expected, "redis-cli {args:?}");
}

/// Asserts an error reply that starts with `prefix`; returns the message.
#[track_caller]
fn check_err(port: u16, args: &[&str], prefix: &str) -> String {
    let got = cli(port, args);
    let mesg = got
        .strip_prefix("(error) ")
        .unwrap_or_else(|| panic!("redis-cli {args:?}: expected an error, got {got:?}"));
    assert!(
        mesg.starts_with(prefix),
        "redis-cli {args:?}: expected an error starting with {prefix:?}, got {mesg:?}"
    );
    mesg.to_string()
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// The `--no-raw` rendering of a flat array of bulk strings / nils.
fn array(items: &[Option<&str>]) -> String {
    if items.is_empty() {
        return "(empty array)".into();
    }
    let width = items.len().to_string().len();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = format!("{:>width$}", i + 1);
            match item {
                Some(s) => format!("{n}) \"{s}\""),
                None => format!("{n}) (nil)"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn flat(keys: &[Vec<String>]) -> Vec<String> {
    keys.iter().flatten().cloned().collect()
}

#[test]
fn get_set_and_options() {
    let s = start();
    let p = s.port;
    check(p, &["GET", "str:a"], "(nil)");
    check(p, &["SET", "str:a", "hello world"], "OK");
    check(p, &["GET", "str:a"], "\"hello world\"");
    // Every port sees the same keyspace.
    for port in s.ports() {
        check(port, &["GET", "str:a"], "\"hello world\"");
    }
    check(p, &["SET", "str:a", "v2"], "OK");
    check(p, &["GET", "str:a"], "\"v2\"");

    // NX / XX.
    check(p, &["SET", "str:a", "nx", "NX"], "(nil)");
    check(p, &["GET", "str:a"], "\"v2\"");
    check(p, &["SET", "str:b", "nx", "NX"], "OK");
    check(p, &["GET", "str:b"], "\"nx\"");
    check(p, &["SET", "str:c", "xx", "XX"], "(nil)");
    check(p, &["EXISTS", "str:c"], "(integer) 0");
    check(p, &["SET", "str:b", "xx", "xx"], "OK");
    check(p, &["GET", "str:b"], "\"xx\"");

    // GET: the old value (nil if none), alone and with NX / XX.
    check(p, &["SET", "str:a", "v3", "GET"], "\"v2\"");
    check(p, &["GET", "str:a"], "\"v3\"");
    check(p, &["SET", "str:d", "v", "GET"], "(nil)");
    check(p, &["GET", "str:d"], "\"v\"");
    check(p, &["SET", "str:a", "no", "NX", "GET"], "\"v3\"");
    check(p, &["GET", "str:a"], "\"v3\"");
    check(p, &["SET", "str:e", "yes", "NX", "GET"], "(nil)");
    check(p, &["GET", "str:e"], "\"yes\"");
    check(p, &["SET", "str:a", "v4", "XX", "GET"], "\"v3\"");
    check(p, &["GET", "str:a"], "\"v4\"");
    check(p, &["SET", "str:f", "no", "XX", "GET"], "(nil)");
    check(p, &["EXISTS", "str:f"], "(integer) 0");

    // Bad option combinations.
    check_err(p, &["SET", "str:a", "x", "NX", "XX"], "ERR syntax error");
    check_err(p, &["SET", "str:a", "x", "BOGUS"], "ERR syntax error");
    check_err(
        p,
        &["SET", "str:a"],
        "ERR wrong number of arguments for 'set' command",
    );

    // TTL options: each sets (or keeps) a time to live, as in Redis.
    for (opts, ttl) in [
        (&["EX", "10"][..], "(integer) 10"),
        (&["PX", "20000"], "(integer) 20"),
        (&["EXAT", "9999999999"], "exat"),
        (&["PXAT", "9999999999000"], "exat"),
        (&["KEEPTTL"], "exat"),
    ] {
        let mut args = vec!["SET", "str:ttl", "ttl"];
        args.extend_from_slice(opts);
        check(p, &args, "OK");
        let got = cli(p, &["TTL", "str:ttl"]);
        if ttl == "exat" {
            let n: i64 = got.trim_start_matches("(integer) ").parse().unwrap();
            assert!(n > 1_000_000_000, "SET {opts:?}: TTL {got}");
        } else {
            assert!(
                got == ttl || got == ttl.replace("10", "9").replace("20", "19"),
                "SET {opts:?}: TTL {got}"
            );
        }
    }
    check(p, &["SET", "str:ttl", "x", "NX", "EX", "10"], "(nil)");
    check_err(
        p,
        &["SET", "str:ttl", "x", "EX", "0"],
        "ERR invalid expire time in 'set' command",
    );
    check_err(
        p,
        &["SET", "str:ttl", "x", "EX", "5", "PX", "5"],
        "ERR syntax error",
    );
    check(p, &["GET", "str:a"], "\"v4\"");

    // Binary-safe values, empty values.
    check(p, &["SET", "str:empty", ""], "OK");
    check(p, &["GET", "str:empty"], "\"\"");
    check(p, &["STRLEN", "str:empty"], "(integer) 0");
    check(p, &["EXISTS", "str:empty"], "(integer) 1");
    check(p, &["SET", "str:sp", "a b\tc"], "OK");
    check(p, &["GET", "str:sp"], "\"a b\\tc\"");

    // SETNX
    check(p, &["SETNX", "str:n", "1"], "(integer) 1");
    check(p, &["SETNX", "str:n", "2"], "(integer) 0");
    check(p, &["GET", "str:n"], "\"1\"");

    // GETDEL
    check(p, &["GETDEL", "str:n"], "\"1\"");
    check(p, &["GETDEL", "str:n"], "(nil)");
    check(p, &["EXISTS", "str:n"], "(integer) 0");

    // APPEND, STRLEN
    check(p, &["APPEND", "str:app", "Hello"], "(integer) 5");
    check(p, &["APPEND", "str:app", " World"], "(integer) 11");
    check(p, &["GET", "str:app"], "\"Hello World\"");
    check(p, &["STRLEN", "str:app"], "(integer) 11");
    check(p, &["STRLEN", "str:missing"], "(integer) 0");
    check(p, &["APPEND", "str:app", ""], "(integer) 11");

    // Wrong arity and unknown commands.
    check_err(
        p,
        &["GET"],
        "ERR wrong number of arguments for 'get' command",
    );
    check_err(
        p,
        &["GET", "a", "b"],
        "ERR wrong number of arguments for 'get' command",
    );
    check_err(
        p,
        &["NOSUCHCMD", "x"],
        "ERR unknown command 'NOSUCHCMD', with args beginning with: 'x'",
    );
}

/// Redis lets SET options repeat (`NX NX`, `GET GET`); only conflicting
/// ones (`NX XX`) are a syntax error.
#[test]
fn set_accepts_repeated_options() {
    let s = start();
    let p = s.port;
    check(p, &["SET", "rep", "1", "NX", "NX"], "OK");
    check(p, &["SET", "rep", "2", "GET", "GET"], "\"1\"");
    check(p, &["SET", "rep", "3", "XX", "xx", "GET"], "\"2\"");
    check(p, &["GET", "rep"], "\"3\"");
}

/// `PING` takes at most one argument.
#[test]
fn ping_with_two_arguments_is_an_arity_error() {
    let s = start();
    check_err(
        s.port,
        &["PING", "a", "b"],
        "ERR wrong number of arguments for 'ping' command",
    );
}

#[test]
fn multi_key_commands_across_partitions() {
    let s = start();
    let p = s.port;
    let keys = s.keys("mk:", 4);
    let all = flat(&keys);
    assert_eq!(all.len(), 16);

    // MSET over every partition, MGET through every port, in order, with
    // a missing key in the middle.
    let mut args = vec!["MSET".to_string()];
    for k in &all {
        args.push(k.clone());
        args.push(format!("v-{k}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    check(p, &args, "OK");
    let mut mget = vec!["MGET"];
    mget.extend(all[..8].iter().map(String::as_str));
    mget.push("mk:missing");
    mget.extend(all[8..].iter().map(String::as_str));
    let values: Vec<String> = all.iter().map(|k| format!("v-{k}")).collect();
    let mut expected: Vec<Option<&str>> = values[..8].iter().map(|v| Some(v.as_str())).collect();
    expected.push(None);
    expected.extend(values[8..].iter().map(|v| Some(v.as_str())));
    for port in s.ports() {
        check(port, &mget, &array(&expected));
    }
    check_err(
        p,
        &["MSET", "a", "1", "b"],
        "ERR wrong number of arguments for 'mset' command",
    );
    check(p, &["MGET", "mk:missing"], &array(&[None]));

    // MSET overwrites; a later MSET of the same key in one call wins.
    check(p, &["MSET", &all[0], "x", &all[5], "y", &all[0], "z"], "OK");
    check(
        p,
        &["MGET", &all[0], &all[5]],
        &array(&[Some("z"), Some("y")]),
    );

    // EXISTS counts every argument, repeats included.
    let mut exists = vec!["EXISTS"];
    exists.extend(all.iter().map(String::as_str));
    check(p, &exists, "(integer) 16");
    check(
        p,
        &["EXISTS", &all[0], &all[0], "mk:missing", &all[15]],
        "(integer) 3",
    );
    check(p, &["EXISTS", "mk:missing"], "(integer) 0");

    // MSETNX: all or nothing, across partitions.
    let fresh = s.keys("nx:", 2);
    let fresh = flat(&fresh);
    let mut msetnx = vec!["MSETNX".to_string()];
    for k in &fresh {
        msetnx.push(k.clone());
        msetnx.push("1".into());
    }
    let msetnx: Vec<&str> = msetnx.iter().map(String::as_str).collect();
    check(p, &msetnx, "(integer) 1");
    let mut mget_fresh = vec!["MGET"];
    mget_fresh.extend(fresh.iter().map(String::as_str));
    check(p, &mget_fresh, &array(&vec![Some("1"); fresh.len()]));
    let others = flat(&s.keys("nx2:", 2));
    // One existing key (on another partition than most) blocks them all.
    let mut blocked = vec!["MSETNX".to_string()];
    for k in &others {
        blocked.push(k.clone());
        blocked.push("2".into());
    }
    blocked.push(fresh[7].clone());
    blocked.push("2".into());
    let blocked: Vec<&str> = blocked.iter().map(String::as_str).collect();
    check(p, &blocked, "(integer) 0");
    let mut exists_others = vec!["EXISTS"];
    exists_others.extend(others.iter().map(String::as_str));
    check(p, &exists_others, "(integer) 0");
    check(p, &["GET", &fresh[7]], "\"1\"");
    check_err(
        p,
        &["MSETNX", "a", "1", "b"],
        "ERR wrong number of arguments for 'msetnx' command",
    );

    // DEL / UNLINK many keys across partitions, with repeats and misses.
    let mut del = vec!["DEL"];
    del.extend(all[..8].iter().map(String::as_str));
    del.push(&all[0]);
    del.push("mk:missing");
    check(p, &del, "(integer) 8");
    check(p, &exists, "(integer) 8");
    let mut unlink = vec!["UNLINK"];
    unlink.extend(all.iter().map(String::as_str));
    check(p, &unlink, "(integer) 8");
    check(p, &exists, "(integer) 0");
    check(p, &["DEL", "mk:missing"], "(integer) 0");
    check(p, &["UNLINK", "mk:missing"], "(integer) 0");
    check_err(
        p,
        &["DEL"],
        "ERR wrong number of arguments for 'del' command",
    );
}

#[test]
fn counters() {
    let s = start();
    let p = s.port;
    check(p, &["INCR", "ctr"], "(integer) 1");
    check(p, &["INCR", "ctr"], "(integer) 2");
    check(p, &["INCRBY", "ctr", "40"], "(integer) 42");
    check(p, &["INCRBY", "ctr", "-50"], "(integer) -8");
    check(p, &["DECR", "ctr"], "(integer) -9");
    check(p, &["DECRBY", "ctr", "-10"], "(integer) 1");
    check(p, &["DECRBY", "ctr", "11"], "(integer) -10");
    check(p, &["GET", "ctr"], "\"-10\"");
    check(p, &["DECR", "ctr2"], "(integer) -1");
    check(p, &["DECRBY", "ctr3", "5"], "(integer) -5");
    check(p, &["INCRBY", "ctr4", "0"], "(integer) 0");
    check(p, &["GET", "ctr4"], "\"0\"");

    // A value that is not a 64-bit integer in canonical form.
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    for bad in [
        "abc",
        "1.5",
        "",
        " 1",
        "1 ",
        "01",
        "+1",
        "-0",
        "9223372036854775808",
    ] {
        check(p, &["SET", "bad", bad], "OK");
        for cmd in [
            &["INCR", "bad"][..],
            &["DECR", "bad"],
            &["INCRBY", "bad", "1"],
            &["DECRBY", "bad", "1"],
        ] {
            let mesg = check_err(p, cmd, NOT_INT);
            assert_eq!(mesg, NOT_INT, "{cmd:?} on {bad:?}");
        }
        check(p, &["GET", "bad"], &quoted(bad));
    }
    // A bad increment.
    for bad in ["x", "1.5", "", "9223372036854775808"] {
        check_err(p, &["INCRBY", "ctr", bad], NOT_INT);
        check_err(p, &["DECRBY", "ctr", bad], NOT_INT);
    }
    check(p, &["GET", "ctr"], "\"-10\"");

    // Overflow leaves the value alone.
    check(p, &["SET", "big", "9223372036854775807"], "OK");
    check_err(
        p,
        &["INCR", "big"],
        "ERR increment or decrement would overflow",
    );
    check_err(
        p,
        &["INCRBY", "big", "1"],
        "ERR increment or decrement would overflow",
    );
    check_err(
        p,
        &["DECRBY", "big", "-1"],
        "ERR increment or decrement would overflow",
    );
    check(p, &["GET", "big"], "\"9223372036854775807\"");
    check(p, &["DECRBY", "big", "9223372036854775807"], "(integer) 0");
    check(p, &["SET", "small", "-9223372036854775808"], "OK");
    check_err(
        p,
        &["DECR", "small"],
        "ERR increment or decrement would overflow",
    );
    check(p, &["GET", "small"], "\"-9223372036854775808\"");
    check(p, &["INCR", "small"], "(integer) -9223372036854775807");
    // Negating i64::MIN itself overflows.
    check_err(
        p,
        &["DECRBY", "small", "-9223372036854775808"],
        "ERR decrement would overflow",
    );
    check(
        p,
        &["INCRBY", "huge", "9223372036854775807"],
        "(integer) 9223372036854775807",
    );
    check(
        p,
        &["INCRBY", "tiny", "-9223372036854775808"],
        "(integer) -9223372036854775808",
    );
}

#[test]
fn transactions_on_one_connection() {
    let s = start();
    let p = s.port;
    // Keys on every partition so that EXEC spans them all.
    let k = flat(&s.keys("tx:", 1));
    let script = format!(
        "MULTI\n\
         SET {k0} 1\n\
         INCR {k0}\n\
         SET {k1} a\n\
         APPEND {k1} b\n\
         MSET {k2} x {k3} y\n\
         MGET {k0} {k1} {k2} {k3}\n\
         PING\n\
         EXEC\n\
         EXEC\n\
         DISCARD\n\
         MULTI\n\
         SET {k0} discarded\n\
         DISCARD\n\
         GET {k0}\n\
         MULTI\n\
         MULTI\n\
         WATCH {k0}\n\
         SET {k0}\n\
         SET {k0} aborted\n\
         EXEC\n\
         GET {k0}\n\
         MULTI\n\
         NOSUCHCMD\n\
         SET {k0} aborted\n\
         EXEC\n\
         GET {k0}\n\
         MULTI\n\
         INCR {k1}\n\
         SET {k2} after\n\
         EXEC\n\
         GET {k2}\n",
        k0 = k[0],
        k1 = k[1],
        k2 = k[2],
        k3 = k[3],
    );
    let expected = "OK\nQUEUED\nQUEUED\nQUEUED\nQUEUED\nQUEUED\nQUEUED\nQUEUED\n\
        1) OK\n\
        2) (integer) 2\n\
        3) OK\n\
        4) (integer) 2\n\
        5) OK\n\
        6) 1) \"2\"\n   2) \"ab\"\n   3) \"x\"\n   4) \"y\"\n\
        7) PONG\n\
        (error) ERR EXEC without MULTI\n\
        (error) ERR DISCARD without MULTI\n\
        OK\nQUEUED\nOK\n\
        \"2\"\n\
        OK\n\
        (error) ERR MULTI calls can not be nested\n\
        (error) ERR WATCH inside MULTI is not allowed\n\
        (error) ERR wrong number of arguments for 'set' command\n\
        QUEUED\n\
        (error) EXECABORT Transaction discarded because of previous errors.\n\
        \"2\"\n\
        OK\n\
        (error) ERR unknown command 'NOSUCHCMD', with args beginning with: \n\
        QUEUED\n\
        (error) EXECABORT Transaction discarded because of previous errors.\n\
        \"2\"\n\
        OK\nQUEUED\nQUEUED\n\
        1) (error) ERR value is not an integer or out of range\n\
        2) OK\n\
        \"after\"";
    let got = cli_stdin(p, &["--no-raw"], &script);
    assert_eq!(got, expected, "script:\n{script}");
}

#[test]
fn watch_on_one_connection() {
    let s = start();
    let p = s.port;
    let k = flat(&s.keys("w:", 1));
    // Unchanged watched keys: EXEC applies. A watched key modified (by this
    // very connection, as in Redis) before EXEC: EXEC returns nil and
    // applies nothing. UNWATCH forgets the watches.
    let script = format!(
        "WATCH {k0} {k1}\n\
         MULTI\n\
         SET {k2} applied\n\
         EXEC\n\
         GET {k2}\n\
         WATCH {k0} {k1}\n\
         SET {k1} touched\n\
         MULTI\n\
         SET {k2} lost\n\
         SET {k3} lost\n\
         EXEC\n\
         MGET {k2} {k3}\n\
         WATCH {k0}\n\
         SET {k0} touched\n\
         UNWATCH\n\
         MULTI\n\
         SET {k3} kept\n\
         EXEC\n\
         GET {k3}\n\
         WATCH {k1}\n\
         MULTI\n\
         SET {k1} discarded\n\
         DISCARD\n\
         SET {k1} again\n\
         MULTI\n\
         GET {k1}\n\
         EXEC\n\
         PING\n",
        k0 = k[0],
        k1 = k[1],
        k2 = k[2],
        k3 = k[3],
    );
    let expected = "OK\nOK\nQUEUED\n1) OK\n\"applied\"\n\
        OK\nOK\nOK\nQUEUED\nQUEUED\n\
        (nil)\n\
        1) \"applied\"\n2) (nil)\n\
        OK\nOK\nOK\nOK\nQUEUED\n1) OK\n\"kept\"\n\
        OK\nOK\nQUEUED\nOK\nOK\nOK\nQUEUED\n1) \"again\"\n\
        PONG";
    let got = cli_stdin(p, &["--no-raw"], &script);
    assert_eq!(got, expected, "script:\n{script}");
}

#[test]
fn keyspace_commands() {
    let s = start();
    let p = s.port;
    check(p, &["DBSIZE"], "(integer) 0");
    check(p, &["KEYS", "*"], "(empty array)");
    let keys = flat(&s.keys("ks:", 5));
    let mut mset = vec!["MSET".to_string()];
    for k in &keys {
        mset.push(k.clone());
        mset.push("v".into());
    }
    mset.extend(["other:1".to_string(), "v".to_string()]);
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    check(p, &mset, "OK");
    for port in s.ports() {
        check(port, &["DBSIZE"], "(integer) 21");
    }

    // KEYS over every partition.
    let got: BTreeSet<String> = cli_raw(p, &["KEYS", "ks:*"])
        .lines()
        .map(String::from)
        .collect();
    let want: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(got, want);
    let got: BTreeSet<String> = cli_raw(p, &["KEYS", "*"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got.len(), 21);
    check(p, &["KEYS", "other:?"], &array(&[Some("other:1")]));
    check(p, &["KEYS", "nomatch*"], "(empty array)");

    // TYPE
    check(p, &["TYPE", &keys[0]], "string");
    check(p, &["TYPE", "ks:none"], "none");

    // INFO keyspace counts every partition.
    let info = cli_raw(p, &["INFO", "keyspace"]);
    assert!(info.contains("# Keyspace"), "{info}");
    assert!(info.contains("db0:keys=21,"), "{info}");

    // FLUSHDB / FLUSHALL (with their modes).
    check(p, &["FLUSHDB"], "OK");
    check(p, &["DBSIZE"], "(integer) 0");
    check(p, &["EXISTS", &keys[0], &keys[19]], "(integer) 0");
    let info = cli_raw(p, &["INFO", "keyspace"]);
    assert!(!info.contains("db0:"), "empty keyspace: {info}");
    check(p, &mset, "OK");
    check(p, &["FLUSHALL"], "OK");
    check(p, &["DBSIZE"], "(integer) 0");
    check(p, &mset, "OK");
    check(p, &["FLUSHALL", "ASYNC"], "OK");
    check(p, &["DBSIZE"], "(integer) 0");
    check(p, &mset, "OK");
    check(p, &["FLUSHDB", "SYNC"], "OK");
    check(p, &["DBSIZE"], "(integer) 0");
    check_err(p, &["FLUSHALL", "NOW"], "ERR syntax error");
}

/// Runs `SCAN` from cursor 0 until it returns 0, with `opts`; returns every
/// key seen (with multiplicity) and the number of calls.
fn scan_all(port: u16, opts: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    for calls in 1..=10_000 {
        let mut args = vec!["SCAN", &cursor];
        args.extend_from_slice(opts);
        let out = cli_raw(port, &args);
        let mut lines = out.lines();
        let next = lines.next().expect("a cursor").to_string();
        assert!(
            next.parse::<u64>().is_ok(),
            "SCAN {cursor}: cursor {next:?} is not a number"
        );
        keys.extend(lines.map(String::from));
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
    panic!("SCAN {opts:?} did not return to cursor 0 in 10000 calls");
}

#[test]
fn scan_visits_every_key() {
    let s = start();
    let p = s.port;
    let wanted: Vec<String> = (0..1000).map(|i| format!("scan:{i}")).collect();
    let mut mset = vec!["MSET".to_string()];
    for k in &wanted {
        mset.push(k.clone());
        mset.push("v".into());
    }
    for i in 0..50 {
        mset.push(format!("other:{i}"));
        mset.push("v".into());
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    check(p, &mset, "OK");
    // The keys really are spread over all partitions.
    let mut per = vec![0; WORKERS as usize];
    for k in &wanted {
        per[s.server.topology().partition_of_key(k.as_bytes())] += 1;
    }
    assert!(per.iter().all(|&n| n > 150), "{per:?}");
    let wanted: HashSet<String> = wanted.into_iter().collect();

    // MATCH + COUNT: every matching key at least once, nothing else.
    let (seen, calls) = scan_all(p, &["MATCH", "scan:*", "COUNT", "50"]);
    let distinct: HashSet<String> = seen.iter().cloned().collect();
    let missing: Vec<_> = wanted.difference(&distinct).take(10).collect();
    assert!(missing.is_empty(), "SCAN missed keys, e.g. {missing:?}");
    let extra: Vec<_> = distinct.difference(&wanted).take(10).collect();
    assert!(
        extra.is_empty(),
        "SCAN MATCH returned non-matching keys {extra:?}"
    );
    assert!(calls >= 4, "1000 keys in {calls} SCAN calls of COUNT 50");

    // No MATCH, a big COUNT, through a core port.
    let (seen, _) = scan_all(s.cores[2], &["COUNT", "1000"]);
    let distinct: HashSet<String> = seen.into_iter().collect();
    assert_eq!(distinct.len(), 1050);
    assert!(wanted.is_subset(&distinct));

    // Default COUNT, a narrower pattern, TYPE.
    let (seen, _) = scan_all(p, &["MATCH", "scan:1?"]);
    let distinct: BTreeSet<String> = seen.into_iter().collect();
    let want: BTreeSet<String> = (10..20).map(|i| format!("scan:{i}")).collect();
    assert_eq!(distinct, want);
    let (seen, _) = scan_all(p, &["MATCH", "other:*", "TYPE", "string"]);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 50);
    let (seen, _) = scan_all(p, &["TYPE", "hash"]);
    assert!(seen.is_empty(), "no hashes exist: {seen:?}");

    // redis-cli's own cursor loop.
    let out = cli_with(p, &["--scan", "--pattern", "scan:9*"], &[]);
    let distinct: BTreeSet<String> = out.lines().map(String::from).collect();
    let want: BTreeSet<String> = wanted
        .iter()
        .filter(|k| k.starts_with("scan:9"))
        .cloned()
        .collect();
    assert_eq!(distinct, want);

    // Bad arguments.
    check_err(p, &["SCAN", "notanumber"], "ERR invalid cursor");
    check_err(p, &["SCAN", "0", "COUNT", "0"], "ERR syntax error");
    check_err(p, &["SCAN", "0", "COUNT"], "ERR syntax error");
    check_err(p, &["SCAN", "0", "BOGUS", "1"], "ERR syntax error");
}

#[test]
fn connection_commands() {
    let s = start();
    let p = s.port;
    check(p, &["PING"], "PONG");
    check(p, &["PING", "hello there"], "\"hello there\"");
    check(p, &["ECHO", "echo me"], "\"echo me\"");
    check_err(
        p,
        &["ECHO"],
        "ERR wrong number of arguments for 'echo' command",
    );

    // HELLO: RESP2 only.
    let hello = cli_raw(p, &["HELLO"]);
    let lines: Vec<&str> = hello.lines().collect();
    let field = |name: &str| {
        let i = lines
            .iter()
            .position(|l| *l == name)
            .unwrap_or_else(|| panic!("HELLO has no {name}: {hello}"));
        lines[i + 1]
    };
    assert_eq!(field("server"), "redis");
    assert_eq!(field("proto"), "2");
    assert_eq!(field("mode"), "cluster");
    assert_eq!(field("role"), "master");
    assert!(field("id").parse::<u64>().is_ok(), "{hello}");
    assert!(field("version").starts_with('7'), "{hello}");
    let hello2 = cli_raw(p, &["HELLO", "2"]);
    assert!(hello2.starts_with("server\nredis\n"), "{hello2}");
    check_err(p, &["HELLO", "4"], "NOPROTO");
    // redis-cli -3 speaks RESP3 from its first command.
    let resp3 = cli_with(p, &["-3"], &["HELLO"]);
    assert!(resp3.contains("proto") && resp3.contains('3'), "{resp3}");
    // Not on a terminal, redis-cli prints a null as an empty line.
    assert_eq!(cli_with(p, &["-3"], &["GET", "no-such-key"]), "");
    check_err(p, &["HELLO", "notanumber"], "ERR");

    // SELECT: only database 0.
    check(p, &["SELECT", "0"], "OK");
    check_err(p, &["SELECT", "1"], "ERR");

    // CLIENT on one connection.
    let script = "CLIENT GETNAME\n\
                  CLIENT SETNAME my-client\n\
                  CLIENT GETNAME\n\
                  CLIENT ID\n\
                  CLIENT ID\n\
                  CLIENT SETINFO LIB-NAME corekv-tests\n\
                  CLIENT SETINFO LIB-VER 1.0.0\n\
                  CLIENT SETNAME \"bad name\"\n\
                  CLIENT GETNAME\n\
                  CLIENT SETNAME \"\"\n\
                  CLIENT GETNAME\n";
    let got = cli_stdin(p, &["--no-raw"], script);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 11, "{got}");
    assert_eq!(lines[..3], ["(nil)", "OK", "\"my-client\""], "{got}");
    let id = lines[3]
        .strip_prefix("(integer) ")
        .unwrap_or_else(|| panic!("CLIENT ID: {got}"));
    assert_eq!(lines[4], lines[3], "CLIENT ID is stable on a connection");
    assert_eq!(lines[5..7], ["OK", "OK"], "{got}");
    assert!(
        lines[7].starts_with("(error) ERR Client names cannot contain spaces"),
        "{got}"
    );
    assert_eq!(lines[8..], ["\"my-client\"", "OK", "(nil)"], "{got}");
    // Another connection has another id.
    let other = cli(p, &["CLIENT", "ID"]);
    assert_ne!(other, format!("(integer) {id}"));
    check_err(p, &["CLIENT", "NOSUCH"], "ERR unknown subcommand");

    // QUIT answers OK, then the server closes the connection.
    check(p, &["QUIT"], "OK");
    let mut c = RespConn::connect(s.server.shared_addr());
    c.send(&["QUIT"]);
    c.send(&["PING"]);
    assert_eq!(c.read(), Value::ok());
    assert!(c.is_closed(), "QUIT must close the connection");
}

/// Redis 7.2 accepts only `LIB-NAME` and `LIB-VER` attributes.
#[test]
fn client_setinfo_rejects_unknown_attributes() {
    let s = start();
    check(s.port, &["CLIENT", "SETINFO", "lib-name", "x"], "OK");
    check_err(
        s.port,
        &["CLIENT", "SETINFO", "BOGUS-ATTR", "x"],
        "ERR Unrecognized option 'BOGUS-ATTR'",
    );
}

#[test]
fn command_config_and_info() {
    let s = start();
    let p = s.port;
    let count = cli(p, &["COMMAND", "COUNT"]);
    let n: usize = count
        .strip_prefix("(integer) ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("COMMAND COUNT: {count:?}"));
    let mut c = RespConn::connect(s.server.shared_addr());
    let Value::Array(all) = c.cmd(&["COMMAND"]) else {
        panic!("COMMAND is an array");
    };
    assert_eq!(all.len(), n, "COMMAND COUNT vs COMMAND");
    let names: HashSet<String> = all
        .iter()
        .map(|e| match e {
            Value::Array(f) => f[0].text(),
            other => panic!("COMMAND entry {other:?}"),
        })
        .collect();
    for cmd in [
        "get",
        "set",
        "setnx",
        "getdel",
        "mget",
        "mset",
        "msetnx",
        "del",
        "unlink",
        "exists",
        "incr",
        "incrby",
        "decr",
        "decrby",
        "append",
        "strlen",
        "type",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
        "dbsize",
        "flushall",
        "flushdb",
        "scan",
        "keys",
        "ping",
        "echo",
        "hello",
        "select",
        "client",
        "quit",
        "command",
        "config",
        "info",
        "cluster",
        "readonly",
        "readwrite",
        "asking",
    ] {
        assert!(names.contains(cmd), "COMMAND lacks {cmd}");
    }

    // COMMAND INFO: arity and key positions, as cluster clients read them.
    for (name, arity, keys) in [
        ("mset", "-3", ["1", "-1", "2"]),
        ("get", "2", ["1", "1", "1"]),
    ] {
        let info = cli(p, &["COMMAND", "INFO", name]);
        let lines: Vec<&str> = info.lines().collect();
        assert_eq!(lines[0], format!("1)  1) \"{name}\""), "{info}");
        assert_eq!(lines[1], format!("    2) (integer) {arity}"), "{info}");
        let pos = lines
            .iter()
            .position(|l| l.starts_with("    4) "))
            .unwrap_or_else(|| panic!("{info}"));
        assert_eq!(
            lines[pos..pos + 3],
            [
                format!("    4) (integer) {}", keys[0]),
                format!("    5) (integer) {}", keys[1]),
                format!("    6) (integer) {}", keys[2]),
            ],
            "{name} keys: first, last, step\n{info}"
        );
    }
    let entry = |name: &str, c: &mut RespConn| match c.cmd(&["COMMAND", "INFO", name]) {
        Value::Array(mut v) if v.len() == 1 => v.remove(0),
        other => panic!("COMMAND INFO {name}: {other:?}"),
    };
    let keys_of = |v: &Value| match v {
        Value::Array(f) => (f[1].clone(), f[3].clone(), f[4].clone(), f[5].clone()),
        other => panic!("{other:?}"),
    };
    use Value::Int;
    for (name, arity, first, last, step) in [
        ("mset", -3, 1, -1, 2),
        ("msetnx", -3, 1, -1, 2),
        ("get", 2, 1, 1, 1),
        ("set", -3, 1, 1, 1),
        ("mget", -2, 1, -1, 1),
        ("del", -2, 1, -1, 1),
        ("exists", -2, 1, -1, 1),
        ("incrby", 3, 1, 1, 1),
        ("ping", -1, 0, 0, 0),
    ] {
        assert_eq!(
            keys_of(&entry(name, &mut c)),
            (Int(arity), Int(first), Int(last), Int(step)),
            "COMMAND INFO {name}"
        );
    }
    match c.cmd(&["COMMAND", "INFO", "get", "nosuchcommand"]) {
        Value::Array(v) => {
            assert_eq!(v.len(), 2);
            // As Redis 7.0.15: a nil bulk string (`_` in RESP3).
            assert_eq!(v[1], Value::Nil, "unknown command → nil");
        }
        other => panic!("{other:?}"),
    }
    let docs = cli_raw(p, &["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("get\n"), "{docs}");
    assert!(docs.contains("\nsummary\n"), "{docs}");
    let getkeys = cli_raw(p, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]);
    assert_eq!(getkeys, "a\nb");

    // CONFIG GET
    check(
        p,
        &["CONFIG", "GET", "maxmemory"],
        &array(&[Some("maxmemory"), Some("0")]),
    );
    let got = cli_raw(p, &["CONFIG", "GET", "maxmemory*"]);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.contains(&"maxmemory-policy"), "{got:?}");
    assert!(got.contains(&"maxmemory-clients"), "{got:?}");
    check(p, &["CONFIG", "GET", "nosuchsetting"], "(empty array)");
    check_err(p, &["CONFIG", "SET", "databases", "2"], "ERR");

    // INFO: the standard sections, and the key count of every partition.
    let keys = flat(&s.keys("info:", 3));
    let mut mset = vec!["MSET".to_string()];
    for k in &keys {
        mset.push(k.clone());
        mset.push("v".into());
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    check(p, &mset, "OK");
    let info = cli_raw(p, &["INFO"]);
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Stats",
        "# Keyspace",
        "# Cluster",
    ] {
        assert!(
            info.lines().any(|l| l.trim_end() == section),
            "INFO lacks {section}:\n{info}"
        );
    }
    for field in [
        "redis_version:",
        "connected_clients:",
        "used_memory:",
        "total_commands_processed:",
        "cluster_enabled:1",
        "db0:keys=12,",
    ] {
        assert!(info.contains(field), "INFO lacks {field}:\n{info}");
    }
    let server_only = cli_raw(p, &["INFO", "server"]);
    assert!(server_only.contains("redis_version:"), "{server_only}");
    assert!(!server_only.contains("# Keyspace"), "{server_only}");
    let workers = cli_raw(p, &["INFO", "workers"]);
    let stats = common::resp::parse_info_workers(&workers);
    assert_eq!(stats.len(), WORKERS as usize, "{workers}");
    assert_eq!(stats.iter().map(|w| w.keys).sum::<u64>(), 12, "{workers}");
    assert!(stats.iter().all(|w| w.keys == 3), "{workers}");
}

/// Parses `CLUSTER SLOTS` as `--raw` prints it (flattened): start, end,
/// host, port, id per range.
fn cluster_slots(port: u16) -> Vec<(u16, u16, String, u16, String)> {
    let out = cli_raw(port, &["CLUSTER", "SLOTS"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len() % 5, 0, "CLUSTER SLOTS:\n{out}");
    lines
        .chunks(5)
        .map(|c| {
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].to_string(),
                c[3].parse().unwrap(),
                c[4].to_string(),
            )
        })
        .collect()
}

#[test]
fn cluster_commands() {
    let s = start();
    let topo = s.server.topology();
    let mut ranges = cluster_slots(s.port);
    ranges.sort();
    assert_eq!(ranges.len(), WORKERS as usize, "{ranges:?}");
    // Contiguous, covering every slot, each owned by its worker's core port.
    let mut next = 0u32;
    for (start, end, host, port, id) in &ranges {
        assert_eq!(u32::from(*start), next, "{ranges:?}");
        assert!(end >= start);
        next = u32::from(*end) + 1;
        assert_eq!(host, "127.0.0.1");
        let owner = topo.partition_of_slot(*start);
        assert_eq!(*port, s.cores[owner], "slots {start}-{end}");
        assert_eq!(topo.partition_of_slot(*end), owner);
        assert_eq!(id.len(), 40, "node id {id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
    }
    assert_eq!(next, 16384);
    let ids: HashSet<&String> = ranges.iter().map(|r| &r.4).collect();
    assert_eq!(ids.len(), WORKERS as usize);
    // Every port reports the same map.
    for port in s.ports() {
        let mut r = cluster_slots(port);
        r.sort();
        assert_eq!(r, ranges, "CLUSTER SLOTS via port {port}");
    }

    // CLUSTER NODES / MYID / INFO per core port.
    for (i, &port) in s.cores.iter().enumerate() {
        let nodes = cli_raw(port, &["CLUSTER", "NODES"]);
        let lines: Vec<&str> = nodes.lines().collect();
        assert_eq!(lines.len(), WORKERS as usize, "{nodes}");
        let myid = cli_raw(port, &["CLUSTER", "MYID"]);
        let mine: Vec<&&str> = lines.iter().filter(|l| l.contains("myself")).collect();
        assert_eq!(mine.len(), 1, "{nodes}");
        let fields: Vec<&str> = mine[0].split(' ').collect();
        assert_eq!(fields[0], myid, "MYID vs NODES on port {port}");
        assert!(
            fields[1].starts_with(&format!("127.0.0.1:{port}@")),
            "{nodes}"
        );
        assert_eq!(fields[2], "myself,master", "{nodes}");
        assert_eq!(fields[7], "connected", "{nodes}");
        let (start, end, ..) = ranges
            .iter()
            .find(|r| r.3 == port)
            .expect("a range for this port");
        assert_eq!(fields[8], format!("{start}-{end}"), "{nodes}");
        assert_eq!(topo.partition_of_slot(*start), i);
        for line in &lines {
            let f: Vec<&str> = line.split(' ').collect();
            assert!(ids.contains(&f[0].to_string()), "{line}");
            assert!(f[2] == "master" || f[2] == "myself,master", "{line}");
        }
        let info = cli_raw(port, &["CLUSTER", "INFO"]);
        for field in [
            "cluster_state:ok",
            "cluster_slots_assigned:16384",
            "cluster_slots_ok:16384",
            "cluster_known_nodes:4",
            "cluster_size:4",
        ] {
            assert!(
                info.lines().any(|l| l.trim_end() == field),
                "CLUSTER INFO lacks {field}:\n{info}"
            );
        }
    }

    // CLUSTER SHARDS: one shard per worker, one master each.
    let shards = cli_raw(s.port, &["CLUSTER", "SHARDS"]);
    let lines: Vec<&str> = shards.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| **l == "slots").count(),
        4,
        "{shards}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == "nodes").count(),
        4,
        "{shards}"
    );
    for &port in &s.cores {
        let pos = lines
            .windows(2)
            .position(|w| w[0] == "port" && w[1] == port.to_string());
        assert!(pos.is_some(), "SHARDS lacks port {port}:\n{shards}");
    }
    assert_eq!(
        lines.iter().filter(|l| **l == "master").count(),
        4,
        "{shards}"
    );

    // KEYSLOT: CRC16, hash tags.
    check(s.port, &["CLUSTER", "KEYSLOT", "foo"], "(integer) 12182");
    check(s.port, &["CLUSTER", "KEYSLOT", "bar"], "(integer) 5061");
    check(
        s.port,
        &["CLUSTER", "KEYSLOT", "{user1000}.following"],
        "(integer) 3443",
    );
    check(
        s.port,
        &["CLUSTER", "KEYSLOT", "{user1000}.followers"],
        "(integer) 3443",
    );
    check(
        s.port,
        &["CLUSTER", "KEYSLOT", "foo{}{bar}"],
        "(integer) 8363",
    );

    // COUNTKEYSINSLOT, through any port.
    check(
        s.port,
        &["CLUSTER", "COUNTKEYSINSLOT", "12182"],
        "(integer) 0",
    );
    check(
        s.port,
        &["MSET", "foo", "1", "{foo}a", "2", "{foo}b", "3"],
        "OK",
    );
    for port in s.ports() {
        check(
            port,
            &["CLUSTER", "COUNTKEYSINSLOT", "12182"],
            "(integer) 3",
        );
    }
    check_err(s.port, &["CLUSTER", "COUNTKEYSINSLOT", "16384"], "ERR");
    check_err(s.port, &["CLUSTER", "COUNTKEYSINSLOT", "x"], "ERR");
    check_err(s.port, &["CLUSTER", "NOSUCH"], "ERR unknown subcommand");

    // The slot map agrees with where keys live.
    for (i, &port) in s.cores.iter().enumerate() {
        let key = &s.keys("slotmap:", 1)[i][0];
        let slot: u16 = cli_raw(s.port, &["CLUSTER", "KEYSLOT", key])
            .parse()
            .unwrap();
        let r = ranges.iter().find(|r| r.0 <= slot && slot <= r.1).unwrap();
        assert_eq!(r.3, port, "{key} (slot {slot})");
    }

    // Replica / migration commands are accepted.
    for cmd in ["READONLY", "READWRITE", "ASKING"] {
        check(s.cores[0], &[cmd], "OK");
    }
}

#[test]
fn redis_cli_cluster_mode() {
    let s = start();
    let core0 = s.cores[0];
    let keys = s.keys("cl:", 3);
    for (owner, keys) in keys.iter().enumerate() {
        for k in keys {
            let v = format!("{k}@{owner}");
            assert_eq!(cli_with(core0, &["-c", "--no-raw"], &["SET", k, &v]), "OK");
            assert_eq!(
                cli_with(core0, &["-c", "--no-raw"], &["GET", k]),
                quoted(&v)
            );
            // And through the owner's own core port, without -c.
            check(s.cores[owner], &["GET", k], &quoted(&v));
        }
    }
    let all = flat(&keys);
    let mut mget = vec!["MGET"];
    mget.extend(all.iter().map(String::as_str));
    let out = cli_with(s.cores[3], &["-c", "--raw"], &mget);
    let want: Vec<String> = keys
        .iter()
        .enumerate()
        .flat_map(|(o, ks)| ks.iter().map(move |k| format!("{k}@{o}")))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

/// Runs redis-benchmark with `args`; asserts it exits 0 and reports a rate
/// for each test in `tests`; returns its stdout.
fn benchmark(args: &[&str], tests: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new(redis_benchmark_path()).args(args),
        None,
        TOOL_TIMEOUT,
    );
    let what = format!("redis-benchmark {args:?}");
    assert!(out.status.success(), "{}", describe(&what, &out));
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    for t in tests {
        let line = stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{t}: ")) && l.contains("requests per second"))
            .unwrap_or_else(|| panic!("no {t} rate: {}", describe(&what, &out)));
        let rate: f64 = line[t.len() + 2..]
            .split_whitespace()
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("bad rate line {line:?}"));
        assert!(rate > 0.0, "{line}");
    }
    stdout
}

#[test]
fn redis_benchmark_cluster_mode() {
    let s = start();
    let port = s.cores[0].to_string();
    let before = s.forwarded_out_total();
    let out = benchmark(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--cluster",
            "-t",
            "get,set",
            "-n",
            "20000",
            "-q",
        ],
        &["SET", "GET"],
    );
    assert!(out.contains("Cluster has 4 master nodes"), "{out}");
    // redis-benchmark sent each key to the node that owns it: nothing was
    // forwarded between workers.
    assert_eq!(
        s.forwarded_out_total(),
        before,
        "cluster-mode traffic should arrive at the owning workers"
    );
    let keys: u64 = worker_stats(s.server.shared_addr())
        .iter()
        .map(|w| w.keys)
        .sum();
    assert!(keys >= 1, "SET stored keys");
}

#[test]
fn redis_benchmark_shared_port() {
    let s = start();
    let port = s.port.to_string();
    benchmark(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "get,set",
            "-n",
            "20000",
            "-q",
        ],
        &["SET", "GET"],
    );
    // Random keys and pipelining, for good measure.
    benchmark(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set,get,incr,mset",
            "-n",
            "2000",
            "-r",
            "1000",
            "-P",
            "16",
            "-q",
        ],
        &["SET", "GET", "INCR", "MSET (10 keys)"],
    );
    assert!(cli(s.port, &["DBSIZE"]).starts_with("(integer) "));
}
