//! ACL users: restricted users over RESP and text, changes reaching
//! connections on every worker, `ACL LOAD` from a file, and the replies of
//! the `ACL` subcommands (texts as Redis 7.0.15 gives them).

mod common;

use common::resp::{RespConn, Value};
use common::{error, Client, NOT_FOUND, OK};
use corekv::Server;
use std::path::PathBuf;

const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

fn noperm(cmd: &str) -> Value {
    Value::Error(format!(
        "NOPERM this user has no permissions to run the '{cmd}' command"
    ))
}

fn noperm_text(cmd: &str) -> String {
    error(&format!(
        "NOPERM this user has no permissions to run the '{cmd}' command"
    ))
}

fn admin(server: &Server) -> RespConn {
    RespConn::connect(server.shared_addr())
}

fn setuser(c: &mut RespConn, args: &[&str]) {
    let mut full = vec!["ACL", "SETUSER"];
    full.extend_from_slice(args);
    assert_eq!(c.cmd(&full), Value::ok(), "ACL SETUSER {args:?}");
}

/// A temporary ACL file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("corekv-{}-{name}.acl", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn read_only_user_on_a_key_prefix_over_resp() {
    let server = common::start(2);
    let mut a = admin(&server);
    assert_eq!(a.cmd(&["SET", "cache:1", "v"]), Value::ok());
    setuser(&mut a, &["reader", "on", ">rpw", "~cache:*", "+@read"]);
    let mut r = RespConn::connect(server.shared_addr());
    assert_eq!(
        r.cmd(&["AUTH", "reader", "wrong"]),
        Value::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(r.cmd(&["AUTH", "reader", "rpw"]), Value::ok());
    assert_eq!(r.cmd(&["GET", "cache:1"]), Value::bulk("v"));
    assert_eq!(r.cmd(&["GET", "other"]), Value::Error(NOPERM_KEY.into()));
    assert_eq!(
        r.cmd(&["MGET", "cache:1", "other"]),
        Value::Error(NOPERM_KEY.into())
    );
    assert_eq!(r.cmd(&["EXISTS", "cache:1", "cache:2"]), Value::Int(1));
    assert_eq!(r.cmd(&["SET", "cache:1", "x"]), noperm("set"));
    assert_eq!(r.cmd(&["DEL", "cache:1"]), noperm("del"));
    assert_eq!(r.cmd(&["FLUSHALL"]), noperm("flushall"));
    assert_eq!(r.cmd(&["ACL", "WHOAMI"]), noperm("acl|whoami"));
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), noperm("config|get"));
    // A refused command inside MULTI aborts the transaction, as in Redis.
    setuser(&mut a, &["reader", "+multi", "+exec"]);
    assert_eq!(r.cmd(&["MULTI"]), Value::ok());
    assert_eq!(r.cmd(&["SET", "cache:1", "x"]), noperm("set"));
    assert!(matches!(r.cmd(&["EXEC"]), Value::Error(e) if e.starts_with("EXECABORT")));
    assert_eq!(a.cmd(&["GET", "cache:1"]), Value::bulk("v"));
    // Rights taken away between queueing and EXEC: that command fails in
    // place, the others run (Redis checks again at EXEC).
    setuser(&mut a, &["reader", "+set"]);
    assert_eq!(r.cmd(&["MULTI"]), Value::ok());
    assert_eq!(
        r.cmd(&["SET", "cache:1", "new"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(r.cmd(&["GET", "cache:1"]), Value::Simple("QUEUED".into()));
    setuser(&mut a, &["reader", "-set"]);
    let changed = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand";
    assert_eq!(
        r.cmd(&["EXEC"]),
        Value::Array(vec![Value::Error(changed.into()), Value::bulk("v")])
    );
}

#[test]
fn read_only_user_on_a_key_prefix_over_text() {
    let server = common::start(2);
    let mut a = admin(&server);
    setuser(&mut a, &["reader", "on", ">rpw", "~cache:*", "+@read"]);
    let mut t = Client::connect(server.shared_addr());
    assert_eq!(t.cmd("AUTH reader rpw"), OK);
    assert_eq!(t.cmd("GET cache:1"), NOT_FOUND);
    assert_eq!(t.cmd("GET other"), error(NOPERM_KEY));
    assert_eq!(t.cmd("PUT cache:1 v"), noperm_text("set"));
    assert_eq!(t.cmd("DEL cache:1"), noperm_text("del"));
    assert_eq!(t.cmd("FLUSH"), noperm_text("flushall"));
    assert_eq!(t.cmd("STATS"), noperm_text("info"));
    assert_eq!(t.cmd("TTL cache:1"), NOT_FOUND);
    // The writer may write only its own prefix.
    setuser(
        &mut a,
        &["writer", "on", ">wpw", "~cache:*", "+@write", "+@read"],
    );
    let mut w = Client::connect(server.shared_addr());
    assert_eq!(w.cmd("AUTH writer wpw"), OK);
    w.put("cache:1", "v");
    assert_eq!(w.cmd("PUT other v"), error(NOPERM_KEY));
    assert_eq!(t.get("cache:1").as_deref(), Some("v"));
}

/// One authenticated connection per worker (each core port) plus the
/// shared port.
fn connections_on_every_worker(server: &Server, user: &str, pw: &str) -> Vec<RespConn> {
    let mut conns: Vec<RespConn> = common::all_addrs(server)
        .into_iter()
        .map(RespConn::connect)
        .collect();
    for c in &mut conns {
        assert_eq!(c.cmd(&["AUTH", user, pw]), Value::ok());
    }
    conns
}

#[test]
fn setuser_reaches_connections_on_every_worker() {
    let server = common::start(4);
    let mut a = admin(&server);
    setuser(&mut a, &["app", "on", ">pw", "~*", "+@all"]);
    let mut conns = connections_on_every_worker(&server, "app", "pw");
    for (i, c) in conns.iter_mut().enumerate() {
        let key = format!("k{i}");
        assert_eq!(c.cmd(&["SET", &key, "1"]), Value::ok());
    }
    setuser(&mut a, &["app", "-set", "resetkeys", "~k*"]);
    for c in &mut conns {
        assert_eq!(c.cmd(&["SET", "k0", "2"]), noperm("set"));
        assert_eq!(c.cmd(&["GET", "k0"]), Value::bulk("1"));
    }
    setuser(&mut a, &["app", "resetkeys", "~x*"]);
    for c in &mut conns {
        assert_eq!(c.cmd(&["GET", "k0"]), Value::Error(NOPERM_KEY.into()));
    }
    // Disabling keeps existing connections (Redis does too), but no new AUTH.
    setuser(&mut a, &["app", "off"]);
    assert_eq!(conns[1].cmd(&["GET", "x1"]), Value::Nil);
    let mut late = RespConn::connect(server.shared_addr());
    assert!(
        matches!(late.cmd(&["AUTH", "app", "pw"]), Value::Error(e) if e.starts_with("WRONGPASS"))
    );
    // Deleting closes every connection of the user at its next command.
    assert_eq!(a.cmd(&["ACL", "DELUSER", "app", "nobody"]), Value::Int(1));
    for mut c in conns {
        c.send(&["GET", "x1"]);
        assert!(c.is_closed(), "a deleted user's connection stays open");
    }
    assert_eq!(a.cmd(&["PING"]), Value::Simple("PONG".into()));
}

#[test]
fn restricting_the_default_user_applies_to_open_connections() {
    let server = common::start(2);
    let mut a = admin(&server);
    let mut other = RespConn::connect(server.core_addrs()[1]);
    assert_eq!(other.cmd(&["FLUSHALL"]), Value::ok());
    setuser(&mut a, &["default", "-flushall"]);
    assert_eq!(other.cmd(&["FLUSHALL"]), noperm("flushall"));
    let mut text = Client::connect(server.core_addrs()[0]);
    assert_eq!(text.cmd("FLUSH"), noperm_text("flushall"));
    setuser(&mut a, &["default", "+@all"]);
    assert_eq!(other.cmd(&["FLUSHALL"]), Value::ok());
    // A password for the default user: open connections stay
    // authenticated, new ones must AUTH.
    setuser(&mut a, &["default", ">newpw"]);
    assert_eq!(other.cmd(&["GET", "k"]), Value::Nil);
    let mut fresh = RespConn::connect(server.shared_addr());
    assert_eq!(
        fresh.cmd(&["GET", "k"]),
        Value::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(fresh.cmd(&["AUTH", "newpw"]), Value::ok());
}

#[test]
fn acl_replies_match_redis() {
    let server = common::start(1);
    let mut a = admin(&server);
    setuser(&mut a, &["alice", "on", ">p1", "~cache:*", "+@read"]);
    let alice = "user alice on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~cache:* resetchannels -@all +@read";
    let default = "user default on nopass ~* &* +@all";
    assert_eq!(
        a.cmd(&["ACL", "LIST"]),
        Value::Array(vec![Value::bulk(alice), Value::bulk(default)])
    );
    assert_eq!(
        a.cmd(&["ACL", "USERS"]),
        Value::Array(vec![Value::bulk("alice"), Value::bulk("default")])
    );
    let getuser = a.cmd(&["ACL", "GETUSER", "alice"]);
    let expected = Value::Array(vec![
        Value::bulk("flags"),
        Value::Array(vec![Value::bulk("on")]),
        Value::bulk("passwords"),
        Value::Array(vec![Value::bulk(
            "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a",
        )]),
        Value::bulk("commands"),
        Value::bulk("-@all +@read"),
        Value::bulk("keys"),
        Value::bulk("~cache:*"),
        Value::bulk("channels"),
        Value::bulk(""),
        Value::bulk("selectors"),
        Value::Array(vec![]),
    ]);
    assert_eq!(getuser, expected);
    assert_eq!(a.cmd(&["ACL", "GETUSER", "nobody"]), Value::Nil);
    let e = |s: &str| Value::Error(s.into());
    assert_eq!(
        a.cmd(&["ACL", "SETUSER", "alice", "+@nosuch"]),
        e("ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL")
    );
    assert_eq!(
        a.cmd(&["ACL", "SETUSER", "alice", "on", "bogus"]),
        e("ERR Error in ACL SETUSER modifier 'bogus': Syntax error")
    );
    assert_eq!(
        a.cmd(&["ACL", "DELUSER", "alice", "default"]),
        e("ERR The 'default' user cannot be removed")
    );
    assert_eq!(
        a.cmd(&["ACL", "WHOAMI", "x"]),
        e("ERR wrong number of arguments for 'acl|whoami' command")
    );
    assert_eq!(
        a.cmd(&["ACL", "NOPE"]),
        e("ERR unknown subcommand 'NOPE'. Try ACL HELP.")
    );
    assert_eq!(
        a.cmd(&["ACL", "CAT", "nosuch"]),
        e("ERR Unknown category 'nosuch'")
    );
    assert!(
        matches!(a.cmd(&["ACL", "LOAD"]), Value::Error(m) if m.starts_with("ERR This Redis instance is not configured to use an ACL file."))
    );
    let Value::Array(cats) = a.cmd(&["ACL", "CAT"]) else {
        panic!("ACL CAT");
    };
    assert_eq!(cats.len(), 21);
    assert_eq!(cats[0], Value::bulk("keyspace"));
    let Value::Array(dangerous) = a.cmd(&["ACL", "CAT", "dangerous"]) else {
        panic!("ACL CAT dangerous");
    };
    for cmd in ["flushall", "keys", "info", "config", "acl|setuser"] {
        assert!(dangerous.contains(&Value::bulk(cmd)), "{cmd} in @dangerous");
    }
    assert!(!dangerous.contains(&Value::bulk("get")));
    assert_eq!(a.cmd(&["ACL", "DELUSER", "alice"]), Value::Int(1));
}

#[test]
fn users_from_an_acl_file_and_acl_load() {
    let file = TempFile::new(
        "load",
        "user alice on >p1 ~cache:* +@read\n\nuser admin on >adm ~* +@all\n",
    );
    let mut config = common::config(2);
    config.aclfile = Some(file.0.clone());
    config.requirepass = Some("dpw".into());
    let server = common::start_with(&config);
    let mut adm = RespConn::connect(server.shared_addr());
    assert_eq!(
        adm.cmd(&["GET", "k"]),
        Value::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(adm.cmd(&["AUTH", "admin", "adm"]), Value::ok());
    let mut alice = RespConn::connect(server.core_addrs()[1]);
    assert_eq!(alice.cmd(&["AUTH", "alice", "p1"]), Value::ok());
    assert_eq!(alice.cmd(&["SET", "cache:1", "v"]), noperm("set"));
    // --requirepass still sets the default user's password (the file does
    // not define it).
    let mut d = RespConn::connect(server.shared_addr());
    assert_eq!(d.cmd(&["AUTH", "dpw"]), Value::ok());

    std::fs::write(
        &file.0,
        "user alice on >p1 ~cache:* +@read +@write\nuser admin on >adm ~* +@all\n",
    )
    .unwrap();
    assert_eq!(adm.cmd(&["ACL", "LOAD"]), Value::ok());
    assert_eq!(alice.cmd(&["SET", "cache:1", "v"]), Value::ok());

    // A bad file changes nothing and says where the error is.
    std::fs::write(&file.0, "user alice on\nuser bob +@nosuch\n").unwrap();
    let Value::Error(mesg) = adm.cmd(&["ACL", "LOAD"]) else {
        panic!("a bad ACL file was loaded");
    };
    assert!(
        mesg.contains(":2: Error in applying operation '+@nosuch'"),
        "{mesg}"
    );
    assert!(
        mesg.ends_with("no change to the previously active ACL rules was performed"),
        "{mesg}"
    );
    assert_eq!(alice.cmd(&["SET", "cache:2", "v"]), Value::ok());

    // Reloading a file without a user closes that user's connections.
    std::fs::write(&file.0, "user admin on >adm ~* +@all\n").unwrap();
    assert_eq!(adm.cmd(&["ACL", "LOAD"]), Value::ok());
    alice.send(&["GET", "cache:1"]);
    assert!(alice.is_closed());
}

#[test]
fn a_bad_acl_file_stops_start_up_with_its_line() {
    let file = TempFile::new("bad", "user ok on\n\nnot-a-user-line\n");
    let mut config = common::config(1);
    config.aclfile = Some(file.0.clone());
    let e = Server::start(&config).err().expect("start-up fails");
    let text = e.to_string();
    assert!(
        text.contains(":3: should start with user keyword"),
        "{text}"
    );
    config.aclfile = Some("/nonexistent/users.acl".into());
    assert!(Server::start(&config).is_err());
}
