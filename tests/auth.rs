//! Authentication: `--requirepass`, `AUTH`/`HELLO … AUTH` over RESP,
//! `AUTH` in the text protocol, the `NOAUTH` gate, and protected mode.
//! Replies are compared with Redis 7.0's byte for byte (the texts below
//! were taken from a real redis-server 7.0.15).

mod common;

use common::resp::{cli_with, redis_cli_output, run_with_timeout, tool, RespConn, Value};
use common::{error, Client, OK, PONG};
use corekv::{Config, Server};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

fn err(s: &str) -> Value {
    Value::Error(s.into())
}

fn with_password(workers: u16, password: &str) -> Server {
    let mut config = common::config(workers);
    config.requirepass = Some(password.into());
    common::start_with(&config)
}

#[test]
fn resp_commands_are_refused_until_auth() {
    let server = with_password(2, "s3cret");
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["GET", "k"]), err(NOAUTH));
    assert_eq!(c.cmd(&["SET", "k", "v"]), err(NOAUTH));
    assert_eq!(c.cmd(&["ECHO", "x"]), err(NOAUTH));
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), err(NOAUTH));
    // Unknown commands and wrong arity are reported first, as Redis does.
    assert!(matches!(c.cmd(&["NOPE"]), Value::Error(e) if e.starts_with("ERR unknown command")));
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(c.cmd(&["HELLO"]), err(NOAUTH_HELLO));
    assert_eq!(c.cmd(&["HELLO", "2", "SETNAME", "x"]), err(NOAUTH_HELLO));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), err(WRONGPASS));
    assert_eq!(c.cmd(&["AUTH", "default", "wrong"]), err(WRONGPASS));
    assert_eq!(c.cmd(&["AUTH", "nobody", "s3cret"]), err(WRONGPASS));
    assert_eq!(c.cmd(&["AUTH", "a", "b", "c"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["GET", "k"]), err(NOAUTH));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "k"]), Value::bulk("v"));
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Value::bulk("default"));
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" user=default "), "{info}");

    let mut named = RespConn::connect(server.shared_addr());
    assert_eq!(named.cmd(&["AUTH", "default", "s3cret"]), Value::ok());
    assert_eq!(named.cmd(&["GET", "k"]), Value::bulk("v"));

    let mut quitter = RespConn::connect(server.shared_addr());
    assert_eq!(quitter.cmd(&["QUIT"]), Value::ok());
    assert!(quitter.is_closed());
}

#[test]
fn hello_authenticates_and_names_the_connection() {
    let server = with_password(1, "s3cret");
    let mut c = RespConn::connect(server.shared_addr());
    let bad = c.cmd(&["HELLO", "2", "AUTH", "default", "nope", "SETNAME", "app"]);
    assert_eq!(bad, err(WRONGPASS));
    assert_eq!(c.cmd(&["GET", "k"]), err(NOAUTH));
    let hello = c.cmd(&["HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "app"]);
    let Value::Array(fields) = hello else {
        panic!("HELLO: {hello:?}");
    };
    assert_eq!(fields[0], Value::bulk("server"));
    assert_eq!(fields[4], Value::bulk("proto"));
    assert_eq!(fields[5], Value::Int(2));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Value::bulk("app"));
    assert_eq!(c.cmd(&["GET", "k"]), Value::Nil);
    let syntax = c.cmd(&["HELLO", "2", "SETNAME", "bad", "name"]);
    assert_eq!(syntax, err("ERR Syntax error in HELLO option 'name'"));
}

#[test]
fn auth_without_a_configured_password() {
    let server = common::start(1);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["AUTH", "anything"]), err(NO_PASSWORD));
    // The default user has `nopass`: any password logs in, as in Redis.
    assert_eq!(c.cmd(&["AUTH", "default", "anything"]), Value::ok());
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Value::bulk("default"));
    let mut t = Client::connect(server.shared_addr());
    assert_eq!(
        t.cmd("AUTH anything"),
        error(NO_PASSWORD.strip_prefix("ERR ").unwrap())
    );
}

#[test]
fn text_commands_are_refused_until_auth() {
    let server = with_password(2, "s3cret");
    let mut t = Client::connect(server.shared_addr());
    assert_eq!(t.cmd("GET k"), error(NOAUTH));
    assert_eq!(t.cmd("PUT k v"), error(NOAUTH));
    assert_eq!(t.cmd("STATS"), error(NOAUTH));
    assert_eq!(t.cmd("PING"), PONG);
    assert_eq!(t.cmd("AUTH wrong"), error(WRONGPASS));
    assert_eq!(t.cmd("AUTH default wrong"), error(WRONGPASS));
    assert_eq!(t.cmd("AUTH s3cret"), OK);
    t.put("k", "v");
    assert_eq!(t.get("k").as_deref(), Some("v"));

    let mut u = Client::connect(server.shared_addr());
    assert_eq!(u.cmd("AUTH default s3cret"), OK);
    assert_eq!(u.get("k").as_deref(), Some("v"));

    let mut q = Client::connect(server.shared_addr());
    assert_eq!(q.cmd("QUIT"), OK);
    q.expect_eof();
}

#[test]
fn text_auth_inside_a_pipeline_gates_what_follows() {
    let server = with_password(1, "pw");
    let mut t = Client::connect(server.shared_addr());
    t.send(b"PUT a 1\nAUTH pw\nPUT a 2\nGET a\n");
    assert_eq!(t.read_response(), error(NOAUTH));
    assert_eq!(t.read_response(), OK);
    assert_eq!(t.read_response(), OK);
    assert_eq!(t.read_response(), common::ok_result("2"));
}

#[test]
fn requirepass_file_keeps_the_password_out_of_argv() {
    let path = std::env::temp_dir().join(format!("corekv-auth-{}.pass", std::process::id()));
    std::fs::write(&path, "from-file\n").unwrap();
    let mut config = common::config(1);
    config.requirepass_file = Some(path.clone());
    let server = common::start_with(&config);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["GET", "k"]), err(NOAUTH));
    assert_eq!(c.cmd(&["AUTH", "from-file\n"]), err(WRONGPASS));
    assert_eq!(c.cmd(&["AUTH", "from-file"]), Value::ok());
    let _ = std::fs::remove_file(path);

    let mut missing = common::config(1);
    missing.requirepass_file = Some("/nonexistent/corekv.pass".into());
    let e = Server::start(&missing)
        .err()
        .expect("a missing file stops start-up");
    assert!(e.to_string().contains("requirepass-file"), "{e}");
}

#[test]
fn redis_cli_authenticates_with_a_and_user_pass() {
    let server = with_password(2, "s3cret");
    let port = server.shared_addr().port();
    let quiet = "--no-auth-warning";
    let set = cli_with(port, &["-a", "s3cret", quiet], &["SET", "k", "v"]);
    assert_eq!(set, "OK");
    let get = cli_with(
        port,
        &["--user", "default", "--pass", "s3cret", quiet],
        &["GET", "k"],
    );
    assert_eq!(get, "v");
    let out = redis_cli_output(port, &[], &["GET", "k"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains(NOAUTH), "without -a: {shown:?}");
    let out = redis_cli_output(port, &["-a", "wrong", quiet], &["GET", "k"]);
    let shown =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(shown.contains("WRONGPASS"), "wrong -a: {shown:?}");
}

#[test]
fn redis_py_authenticates_with_password() {
    let python = tool(
        "python3",
        "install python3 and `python3 -m pip install redis`",
    );
    let server = with_password(2, "s3cret");
    let script = r#"
import os, redis
port = int(os.environ["PORT"])
r = redis.Redis(host="127.0.0.1", port=port, password="s3cret", protocol=2, socket_timeout=5)
assert r.set("py", "1")
assert r.get("py") == b"1"
u = redis.Redis(host="127.0.0.1", port=port, username="default", password="s3cret", protocol=2, socket_timeout=5)
assert u.get("py") == b"1"
try:
    redis.Redis(host="127.0.0.1", port=port, password="wrong", protocol=2, socket_timeout=5).get("py")
    raise SystemExit("a wrong password was accepted")
except redis.AuthenticationError:
    pass
try:
    redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=5).get("py")
    raise SystemExit("no password was accepted")
except redis.AuthenticationError:
    pass
print("ok")
"#;
    let mut cmd = Command::new(python);
    cmd.args(["-c", script])
        .env("PORT", server.shared_addr().port().to_string());
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(25));
    assert!(
        out.status.success(),
        "{}",
        common::resp::describe("redis-py", &out)
    );
}

/// A server on every interface with protected mode as given; clients use
/// loopback.
fn open_server(protected: bool, all_remote: bool, password: Option<&str>) -> (Server, SocketAddr) {
    let mut config: Config = common::config(2);
    config.set_bind(&["0.0.0.0".parse().unwrap()]);
    config.protected_mode = protected;
    config.protected_mode_all_remote = all_remote;
    config.requirepass = password.map(str::to_string);
    let server = common::start_with(&config);
    let addr = SocketAddr::from(([127, 0, 0, 1], server.shared_addr().port()));
    (server, addr)
}

#[test]
fn protected_mode_serves_loopback_clients() {
    let (_server, addr) = open_server(true, false, None);
    assert_eq!(
        RespConn::connect(addr).cmd(&["PING"]),
        Value::Simple("PONG".into())
    );
    assert_eq!(Client::connect(addr).cmd("PING"), PONG);
}

#[test]
fn protected_mode_refuses_remote_clients_in_their_dialect() {
    let (_server, addr) = open_server(true, true, None);
    let mut c = RespConn::connect(addr);
    let Value::Error(denied) = c.cmd(&["PING"]) else {
        panic!("expected DENIED");
    };
    assert_eq!(denied, corekv::acl::DENIED);
    assert!(denied.starts_with("DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."));
    assert!(c.is_closed());
    let mut t = Client::connect(addr);
    assert_eq!(t.cmd("PING"), error(corekv::acl::DENIED_TEXT));
    t.expect_eof();
}

#[test]
fn protected_mode_steps_aside_for_a_password_or_when_off() {
    let (_server, addr) = open_server(true, true, Some("pw"));
    let mut c = RespConn::connect(addr);
    assert_eq!(c.cmd(&["GET", "k"]), err(NOAUTH));
    assert_eq!(c.cmd(&["AUTH", "pw"]), Value::ok());
    let (_server, addr) = open_server(false, true, None);
    assert_eq!(
        RespConn::connect(addr).cmd(&["PING"]),
        Value::Simple("PONG".into())
    );
}
