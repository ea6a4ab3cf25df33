//! `RENAME`, `RENAMENX`, `COPY` and `BITOP` on a real server with 4
//! workers: across partitions (handoff transactions) and on one partition
//! (in place), inside `MULTI`/`EXEC`, with `WATCH`, under `--maxmemory`, and
//! under concurrency (a key renamed back and forth never disappears or
//! doubles for a reader).

mod common;

use common::resp::{RespConn, Value};
use corekv_router::Topology;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

fn int(n: i64) -> Value {
    Value::Int(n)
}

/// Two keys that live on different partitions of 4, and two that share one.
fn keys() -> ((&'static str, &'static str), (&'static str, &'static str)) {
    let topo = Topology::even(4).unwrap();
    let p = |k: &str| topo.partition_of_key(k.as_bytes());
    assert_ne!(p("a"), p("b"));
    assert_eq!(p("{t}a"), p("{t}b"));
    (("a", "b"), ("{t}a", "{t}b"))
}

#[test]
fn rename_copy_bitop_across_and_within_partitions() {
    let server = common::start(4);
    let mut c = RespConn::connect(server.shared_addr());
    let (across, within) = keys();
    for (a, b) in [across, within] {
        assert_eq!(c.cmd(&["FLUSHALL"]), Value::ok());
        assert_eq!(
            c.cmd(&["RENAME", a, b]),
            Value::Error("ERR no such key".into())
        );
        assert_eq!(c.cmd(&["SET", a, "v", "EX", "1000"]), Value::ok());
        assert_eq!(c.cmd(&["RENAME", a, b]), Value::ok());
        assert_eq!(c.cmd(&["GET", a]), Value::Nil);
        assert_eq!(c.cmd(&["GET", b]), Value::bulk("v"));
        let Value::Int(ttl) = c.cmd(&["TTL", b]) else {
            panic!("TTL")
        };
        assert!((990..=1000).contains(&ttl), "the TTL moved: {ttl}");
        assert_eq!(c.cmd(&["RENAME", b, b]), Value::ok());
        assert_eq!(c.cmd(&["RENAMENX", b, b]), int(0));
        assert_eq!(c.cmd(&["COPY", b, a]), int(1));
        assert_eq!(c.cmd(&["GET", a]), Value::bulk("v"));
        let Value::Int(ttl) = c.cmd(&["TTL", a]) else {
            panic!("TTL")
        };
        assert!((990..=1000).contains(&ttl), "the TTL was copied: {ttl}");
        assert_eq!(c.cmd(&["SET", a, "w"]), Value::ok());
        assert_eq!(c.cmd(&["COPY", a, b]), int(0), "no REPLACE");
        assert_eq!(c.cmd(&["GET", b]), Value::bulk("v"));
        assert_eq!(c.cmd(&["COPY", a, b, "REPLACE"]), int(1));
        assert_eq!(c.cmd(&["GET", b]), Value::bulk("w"));
        assert_eq!(c.cmd(&["TTL", b]), int(-1));
        assert_eq!(c.cmd(&["RENAMENX", a, b]), int(0));
        assert_eq!(c.cmd(&["DEL", b]), int(1));
        assert_eq!(c.cmd(&["RENAMENX", a, b]), int(1));
        assert_eq!(
            c.cmd(&["COPY", a, b, "DB", "1"]),
            Value::Error("ERR DB index is out of range".into())
        );
        assert_eq!(c.cmd(&["SET", a, "\x0f\x0f"]), Value::ok());
        assert_eq!(c.cmd(&["SET", b, "\x01"]), Value::ok());
        assert_eq!(c.cmd(&["BITOP", "AND", b, a, b]), int(2));
        assert_eq!(c.cmd(&["GET", b]), Value::bulk("\x01\x00"));
        assert_eq!(c.cmd(&["BITOP", "OR", a, "nosuch"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", a]), int(0), "an empty result deletes");
    }
}

#[test]
fn multi_exec_with_a_cross_partition_rename_is_one_transaction() {
    let server = common::start(4);
    let mut c = RespConn::connect(server.shared_addr());
    let ((a, b), _) = keys();
    assert_eq!(c.cmd(&["SET", a, "1"]), Value::ok());
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    for cmd in [
        &["APPEND", a, "2"][..],
        &["RENAME", a, b],
        &["GET", b],
        &["RENAME", "nosuch", a],
        &["COPY", b, "c"],
        &["INCR", "c"],
    ] {
        assert_eq!(c.cmd(cmd), Value::Simple("QUEUED".into()));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        Value::Array(vec![
            int(2),
            Value::ok(),
            Value::bulk("12"),
            Value::Error("ERR no such key".into()),
            int(1),
            int(13),
        ])
    );
    assert_eq!(c.cmd(&["MGET", a, b, "c"]), {
        Value::Array(vec![Value::Nil, Value::bulk("12"), Value::bulk("13")])
    });
}

#[test]
fn renames_invalidate_watches_of_both_keys_and_copy_of_the_destination() {
    let server = common::start(4);
    let mut w = RespConn::connect(server.shared_addr());
    let mut c = RespConn::connect(server.shared_addr());
    let ((a, b), _) = keys();
    // (watched key, command, does the EXEC fail)
    let cases: [(&str, &[&str], bool); 6] = [
        (a, &["RENAME", a, b], true),
        (b, &["RENAME", a, b], true),
        (b, &["COPY", a, b], true),
        (a, &["COPY", a, b], false),
        (b, &["RENAMENX", a, b], false),
        (b, &["BITOP", "NOT", b, a], true),
    ];
    for (watched, cmd, fails) in cases {
        assert_eq!(c.cmd(&["FLUSHALL"]), Value::ok());
        assert_eq!(c.cmd(&["SET", a, "1"]), Value::ok());
        if cmd[0] == "RENAMENX" {
            assert_eq!(c.cmd(&["SET", b, "taken"]), Value::ok());
        }
        assert_eq!(w.cmd(&["WATCH", watched]), Value::ok());
        c.cmd(cmd);
        assert_eq!(w.cmd(&["MULTI"]), Value::ok());
        assert_eq!(w.cmd(&["PING"]), Value::Simple("QUEUED".into()));
        let expected = if fails {
            Value::NilArray
        } else {
            Value::Array(vec![Value::Simple("PONG".into())])
        };
        assert_eq!(w.cmd(&["EXEC"]), expected, "WATCH {watched}, {cmd:?}");
    }
}

#[test]
fn cross_partition_rename_respects_maxmemory() {
    let mut config = common::config(4);
    config.maxmemory = 32 * 1024 * 1024;
    config.eviction_policy = corekv::config::EvictionPolicy::Noeviction;
    let server = common::start_with(&config);
    let mut c = RespConn::connect(server.shared_addr());
    let ((a, b), _) = keys();
    let big = "x".repeat(2 * 1024 * 1024);
    assert_eq!(c.cmd(&["SET", a, &big]), Value::ok());
    // Fill b's partition until one more big value cannot fit there.
    let topo = Topology::even(4).unwrap();
    let pb = topo.partition_of_key(b.as_bytes());
    let fillers = (0..)
        .map(|i| format!("fill:{i}"))
        .filter(|k| topo.partition_of_key(k.as_bytes()) == pb);
    for key in fillers.take(200) {
        if c.cmd(&["SET", &key, &"f".repeat(256 * 1024)]) != Value::ok() {
            break;
        }
    }
    assert_eq!(
        c.cmd(&["RENAME", a, b]),
        Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    );
    assert_eq!(
        c.cmd(&["STRLEN", a]),
        int(big.len() as i64),
        "nothing moved"
    );
    assert_eq!(c.cmd(&["EXISTS", b]), int(0));
    assert_eq!(
        c.cmd(&["COPY", a, b]),
        Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    );
    // The keys are not left locked (FLUSHALL waits for every lock).
    assert_eq!(c.cmd(&["FLUSHALL"]), Value::ok());
    assert_eq!(c.cmd(&["SET", a, "small"]), Value::ok());
    assert_eq!(c.cmd(&["RENAME", a, b]), Value::ok());
    assert_eq!(c.cmd(&["GET", b]), Value::bulk("small"));
}

/// Many clients rename one key back and forth between two partitions while
/// others read both names: a reader always finds exactly one of them, with
/// the value, and at the end exactly one exists.
#[test]
fn a_key_renamed_back_and_forth_never_disappears_or_doubles() {
    let server = common::start(4);
    let addr = server.shared_addr();
    let ((a, b), _) = keys();
    let mut c = RespConn::connect(addr);
    assert_eq!(c.cmd(&["SET", a, "payload"]), Value::ok());
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..6)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut c = RespConn::connect(addr);
                let (mut moved, mut missed) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = if (moved + missed + i) % 2 == 0 {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    let cmd = if i % 3 == 0 { "RENAMENX" } else { "RENAME" };
                    match c.cmd(&[cmd, from, to]) {
                        Value::Error(e) => {
                            assert_eq!(e, "ERR no such key");
                            missed += 1;
                        }
                        _ => moved += 1,
                    }
                }
                moved
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let mut c = RespConn::connect(addr);
                for _ in 0..2_000 {
                    let found = c.cmd(&["MGET", a, b]);
                    let Value::Array(values) = &found else {
                        panic!("{found:?}")
                    };
                    let present: Vec<&Value> =
                        values.iter().filter(|v| **v != Value::Nil).collect();
                    assert_eq!(present, [&Value::bulk("payload")], "{found:?}");
                    assert_eq!(c.cmd(&["EXISTS", a, b]), int(1));
                }
            })
        })
        .collect();
    for r in readers {
        r.join().expect("reader");
    }
    stop.store(true, Ordering::Relaxed);
    let moved: usize = movers.into_iter().map(|m| m.join().expect("mover")).sum();
    assert!(moved > 100, "the key moved {moved} times");
    assert_eq!(c.cmd(&["EXISTS", a, b]), int(1));
    assert_eq!(c.cmd(&["DBSIZE"]), int(1));
}
