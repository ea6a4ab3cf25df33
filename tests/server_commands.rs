//! Server and keyspace commands over several workers: `CLIENT LIST/KILL`
//! see every worker's connections, `RANDOMKEY` reaches every key, `MEMORY
//! USAGE` and `OBJECT` answer from the key's partition, `SHUTDOWN` ends
//! the process as SIGTERM does.

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::resp::{RespConn, Value};
use std::collections::HashSet;
use std::net::SocketAddr;

/// One connection per worker (worker i's core port), named `w<i>`.
fn one_per_worker(server: &corekv::Server) -> Vec<RespConn> {
    server
        .core_addrs()
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let mut c = RespConn::connect(*addr);
            let name = format!("w{i}");
            assert_eq!(
                c.cmd(&["CLIENT", "SETNAME", &name]),
                Value::Simple("OK".into())
            );
            c
        })
        .collect()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn list(c: &mut RespConn, args: &[&str]) -> Vec<String> {
    let mut req = vec!["CLIENT", "LIST"];
    req.extend_from_slice(args);
    c.cmd(&req).text().lines().map(str::to_string).collect()
}

fn addr(a: SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

#[test]
fn client_list_shows_every_workers_connections() {
    let server = common::start(4);
    let mut conns = one_per_worker(&server);
    let lines = list(&mut conns[0], &[]);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| field(l, "id").parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id: {ids:?}");
    for (i, c) in conns.iter().enumerate() {
        let name = format!("w{i}");
        let line = lines
            .iter()
            .find(|l| field(l, "name") == name)
            .unwrap_or_else(|| panic!("{name} missing: {lines:#?}"));
        assert_eq!(field(line, "addr"), addr(c.local_addr()));
        assert_eq!(field(line, "laddr"), addr(server.core_addrs()[i]));
        assert_eq!(field(line, "user"), "default");
        assert_eq!(field(line, "flags"), "N");
    }
    let me = lines.iter().find(|l| field(l, "name") == "w0").unwrap();
    assert_eq!(field(me, "cmd"), "client|list");
    let other = lines.iter().find(|l| field(l, "name") == "w2").unwrap();
    assert_eq!(field(other, "cmd"), "client|setname");
    // Filters: ID (several), TYPE.
    let w2 = field(other, "id").to_string();
    let only = list(&mut conns[0], &["ID", &w2, "999999"]);
    assert_eq!(only.len(), 1);
    assert_eq!(field(&only[0], "name"), "w2");
    assert!(list(&mut conns[0], &["TYPE", "pubsub"]).is_empty());
    assert_eq!(list(&mut conns[0], &["type", "NORMAL"]).len(), 4);
    // CLIENT INFO: the same line for the asker.
    let info = conns[1].cmd(&["CLIENT", "INFO"]).text();
    assert_eq!(field(&info, "name"), "w1");
    assert_eq!(field(&info, "cmd"), "client|info");
    assert!(info.ends_with("resp=2\n"), "{info}");
    // A MULTI in progress shows.
    conns[3].cmd(&["MULTI"]);
    conns[3].cmd(&["SET", "a", "1"]);
    let lines = list(&mut conns[0], &[]);
    let w3 = lines.iter().find(|l| field(l, "name") == "w3").unwrap();
    assert_eq!((field(w3, "multi"), field(w3, "flags")), ("1", "x"));
    server.shutdown();
}

#[test]
fn client_kill_closes_connections_on_other_workers() {
    let server = common::start(4);
    let mut conns = one_per_worker(&server);
    let id_of = |c: &mut RespConn| match c.cmd(&["CLIENT", "ID"]) {
        Value::Int(n) => n.to_string(),
        other => panic!("{other:?}"),
    };
    let victim = id_of(&mut conns[3]);
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "ID", &victim]),
        Value::Int(1)
    );
    assert!(conns[3].is_closed(), "the killed connection closes");
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "ID", &victim]),
        Value::Int(0)
    );
    assert_eq!(list(&mut conns[0], &[]).len(), 3);
    // Old form: by address, +OK or an error.
    let w2 = addr(conns[2].local_addr());
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", &w2]),
        Value::Simple("OK".into())
    );
    assert!(conns[2].is_closed());
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", &w2]),
        Value::Error("ERR No such client".into())
    );
    // SKIPME yes (the default) spares the asker; no kills it, after the reply.
    let me = addr(conns[0].local_addr());
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "ADDR", &me]),
        Value::Int(0)
    );
    let w1 = addr(server.core_addrs()[1]);
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "LADDR", &w1, "USER", "default"]),
        Value::Int(1)
    );
    assert!(conns[1].is_closed());
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "USER", "nobody"]),
        Value::Error("ERR No such user 'nobody'".into())
    );
    assert_eq!(
        conns[0].cmd(&["CLIENT", "KILL", "ADDR", &me, "SKIPME", "no"]),
        Value::Int(1)
    );
    assert!(conns[0].is_closed());
    server.shutdown();
}

#[test]
fn client_list_and_kill_need_admin_rights() {
    let server = common::start(2);
    let mut admin = RespConn::connect(server.shared_addr());
    let ok = Value::Simple("OK".into());
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            "nopass",
            "+@all",
            "-@dangerous",
            "~*"
        ]),
        ok
    );
    let mut app = RespConn::connect(server.shared_addr());
    assert_eq!(app.cmd(&["AUTH", "app", "x"]), ok);
    assert!(matches!(app.cmd(&["CLIENT", "ID"]), Value::Int(_)));
    for sub in ["LIST", "KILL"] {
        let reply = app.cmd(&["CLIENT", sub, "ID", "1"]);
        let want = format!(
            "NOPERM this user has no permissions to run the 'client|{}' command",
            sub.to_lowercase()
        );
        assert_eq!(reply, Value::Error(want));
    }
    let reply = app.cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(matches!(reply, Value::Error(e) if e.starts_with("NOPERM")));
    let line = admin.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).text();
    assert!(line.contains("user=app"), "{line}");
    server.shutdown();
}

#[test]
fn randomkey_returns_every_key_eventually() {
    let server = common::start(4);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["RANDOMKEY"]), Value::Nil);
    let keys: HashSet<String> = (0..40).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        c.cmd(&["SET", k, "v"]);
    }
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        let Value::Bulk(k) = c.cmd(&["RANDOMKEY"]) else {
            panic!("a key")
        };
        seen.insert(String::from_utf8(k).unwrap());
        if seen.len() == keys.len() {
            break;
        }
    }
    assert_eq!(seen, keys);
    c.cmd(&["FLUSHALL"]);
    c.cmd(&["SET", "only", "1"]);
    assert_eq!(c.cmd(&["RANDOMKEY"]), Value::Bulk(b"only".to_vec()));
    server.shutdown();
}

#[test]
fn memory_usage_and_object_answer_from_the_keys_partition() {
    let server = common::start(4);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "nokey"]), Value::Nil);
    c.cmd(&["SET", "k", "v"]);
    let usage = |c: &mut RespConn| match c.cmd(&["MEMORY", "USAGE", "k", "SAMPLES", "0"]) {
        Value::Int(n) => n,
        other => panic!("{other:?}"),
    };
    let small = usage(&mut c);
    c.cmd(&["SET", "k", &"x".repeat(10_000)]);
    let big = usage(&mut c);
    assert!(small > 0 && big >= small + 10_000, "{small} then {big}");
    let encoding = |c: &mut RespConn, v: &str| {
        c.cmd(&["SET", "e", v]);
        c.cmd(&["OBJECT", "ENCODING", "e"]).text()
    };
    assert_eq!(encoding(&mut c, "12345"), "int");
    assert_eq!(encoding(&mut c, "-9223372036854775808"), "int");
    assert_eq!(encoding(&mut c, "007"), "embstr");
    assert_eq!(encoding(&mut c, &"a".repeat(44)), "embstr");
    assert_eq!(encoding(&mut c, &"a".repeat(45)), "raw");
    c.cmd(&["SET", "n", "100"]);
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "n"]), Value::Int(2147483647));
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "e"]), Value::Int(1));
    assert!(matches!(c.cmd(&["OBJECT", "FREQ", "n"]), Value::Error(e) if e.contains("LFU")));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "nokey"]), Value::Nil);
    assert_eq!(c.cmd(&["WAIT", "1", "0"]), Value::Int(0));
    server.shutdown();
}

/// The regression behind `Entry::is_grown`: under the binary's allocator
/// (mimalloc) a short entry's packed address can set the bit that tags a
/// grown entry, and `APPEND` past 1 KiB then mangled the value.
#[test]
fn append_past_1kib_to_short_values_keeps_them() {
    let mut kv = Corekv::spawn(EPHEMERAL_2);
    let ready = kv.wait_ready();
    let mut c = RespConn::connect(ready.shared);
    let tail = "y".repeat(1100);
    for i in 0..200 {
        let (k, v) = (format!("ap{i}"), "x".repeat(i % 20));
        c.cmd(&["SET", &k, &v]);
        c.cmd(&["APPEND", &k, &tail]);
        assert_eq!(c.cmd(&["GET", &k]).text(), format!("{v}{tail}"), "{k}");
    }
}

#[test]
fn shutdown_ends_the_process_as_sigterm_does() {
    let mut kv = Corekv::spawn(EPHEMERAL_2);
    let ready = kv.wait_ready();
    let mut c = RespConn::connect(ready.shared);
    let mut other = RespConn::connect(ready.shared);
    assert_eq!(
        c.cmd(&["SHUTDOWN", "SAVE"]),
        Value::Error("ERR Errors trying to SHUTDOWN. Check logs.".into())
    );
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        Value::Error("ERR No shutdown in progress.".into())
    );
    assert_eq!(
        c.cmd(&["SHUTDOWN", "NOSAVE", "SAVE"]),
        Value::Error("ERR syntax error".into())
    );
    c.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(c.is_closed(), "no reply: the connection closes");
    assert!(other.is_closed(), "every connection closes");
    assert!(kv.wait_exit().success());
    let log = kv.read_to_eof();
    assert!(log.contains("SHUTDOWN requested"), "{log}");
}
