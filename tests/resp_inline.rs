//! Inline commands on RESP connections and the RESP port (`--resp-port`),
//! over raw sockets (as `printf … | nc` would send them) and through
//! `redis-cli --pipe`. The expected bytes are what redis-server 7.0.15
//! answered to the same input.

mod common;

use common::resp::{describe, redis_cli_path, run_with_timeout, RespConn, Value, TOOL_TIMEOUT};
use common::IO_TIMEOUT;
use corekv::Server;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;

/// `--max-line-bytes` of the servers started here.
const MAX_LINE: usize = 1024;

fn server() -> Server {
    let mut config = common::config(2);
    config.resp_port = Some(0);
    config.max_line_bytes = MAX_LINE;
    common::start_with(&config)
}

fn resp_addr(server: &Server) -> SocketAddr {
    server.resp_addr().expect("the RESP port is on")
}

/// Sends `input`, closes the sending side (as `nc` does at the end of its
/// input), and returns everything the server answered before it closed.
fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(input).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read to the server's close");
    out
}

#[track_caller]
fn answers(addr: SocketAddr, input: &[u8], want: &[u8]) {
    let got = exchange(addr, input);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "input {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn the_resp_port_takes_an_inline_command_as_its_first_bytes() {
    let server = server();
    let resp = resp_addr(&server);
    answers(resp, b"SET a 1\r\nGET a\r\n", b"+OK\r\n$1\r\n1\r\n");
    answers(resp, b"PING\n", b"+PONG\r\n");
    // The shared port still chooses by the first byte: this is the text
    // protocol there.
    answers(
        server.shared_addr(),
        b"PING\n",
        b"{\"status\": \"Ok\", \"result\": \"PONG\"}\n",
    );
}

#[test]
fn quotes_and_escapes_split_as_in_redis() {
    let server = server();
    for addr in [resp_addr(&server), server.shared_addr()] {
        // On the shared port a RESP request comes first, then inline ones.
        let mut input = common::resp::request(&[b"PING"]);
        input.extend_from_slice(b"SET k \"a b\\x41\"\r\nGET k\r\nECHO 'it\\'s'\r\n");
        input
            .extend_from_slice(b"MSET x 1 \"y z\" '2'\r\nMGET x \"y z\" nope\r\nDEL x \"y z\"\r\n");
        let want: &[u8] = b"+PONG\r\n+OK\r\n$4\r\na bA\r\n$4\r\nit's\r\n\
            +OK\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n:2\r\n";
        answers(addr, &input, want);
    }
}

#[test]
fn blank_lines_are_skipped_and_requests_of_both_kinds_mix() {
    let server = server();
    let resp = resp_addr(&server);
    answers(resp, b"\r\n\n   \r\nPING\r\n", b"+PONG\r\n");
    answers(
        resp,
        b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n+PONG\r\n+PONG\r\n",
    );
    answers(
        resp,
        b"ping x y\r\nECHO\r\n",
        b"-ERR wrong number of arguments for 'ping' command\r\n\
          -ERR wrong number of arguments for 'echo' command\r\n",
    );
    answers(
        resp,
        b"NOSUCH a \"b c\"\r\n",
        b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b c' \r\n",
    );
}

#[test]
fn unbalanced_quotes_are_a_protocol_error_that_closes() {
    let server = server();
    answers(
        resp_addr(&server),
        b"PING\r\nSET k \"a\r\nPING\r\n",
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    answers(
        resp_addr(&server),
        b"ECHO \"a\"b\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn an_inline_line_over_max_line_bytes_is_too_big() {
    let server = server();
    // Refused before its end arrives, as Redis does past 64 KiB.
    let mut input = b"ECHO ".to_vec();
    input.extend(std::iter::repeat_n(b'A', 2 * MAX_LINE));
    answers(
        resp_addr(&server),
        &input,
        b"-ERR Protocol error: too big inline request\r\n",
    );
    // At the limit it is served.
    let mut input = b"ECHO ".to_vec();
    input.extend(std::iter::repeat_n(b'A', MAX_LINE - 5));
    input.extend_from_slice(b"\r\n");
    let mut want = format!("${}\r\n", MAX_LINE - 5).into_bytes();
    want.extend(std::iter::repeat_n(b'A', MAX_LINE - 5));
    want.extend_from_slice(b"\r\n");
    answers(resp_addr(&server), &input, &want);
}

#[test]
fn an_inline_pipeline_sent_byte_by_byte_is_answered_whole() {
    let server = server();
    let mut s = TcpStream::connect(resp_addr(&server)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    for b in b"SET 'k 2' \"v\\tw\"\r\nGET 'k 2'\r\n" {
        s.write_all(&[*b]).unwrap();
    }
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"+OK\r\n$3\r\nv\tw\r\n");
}

/// `n` `SET <prefix><i> v<i>` requests, RESP-encoded, as `--pipe` expects.
fn set_commands(prefix: &str, n: usize) -> String {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}{i}");
        let value = format!("v{i}");
        out.extend(common::resp::request(&[
            b"SET",
            key.as_bytes(),
            value.as_bytes(),
        ]));
    }
    String::from_utf8(out).unwrap()
}

/// `redis-cli --pipe` ends its input with `\r\n` and an `ECHO` of a random
/// marker: the empty line must be skipped, not refused.
#[test]
fn redis_cli_pipe_loads_keys_on_the_shared_and_the_resp_port() {
    const N: usize = 3000;
    let server = server();
    let ports = [
        ("shared:", server.shared_addr().port()),
        ("resp:", resp_addr(&server).port()),
    ];
    for (prefix, port) in ports {
        let input = set_commands(prefix, N);
        let out = run_with_timeout(
            Command::new(redis_cli_path()).args(["-p", &port.to_string(), "--pipe"]),
            Some(&input),
            TOOL_TIMEOUT,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            describe("redis-cli --pipe", &out)
        );
        assert!(
            stdout.contains(&format!("errors: 0, replies: {N}")),
            "{}",
            describe("redis-cli --pipe", &out)
        );
    }
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(c.cmd(&["DBSIZE"]), Value::Int(2 * N as i64));
    for (prefix, _) in ports {
        let last = format!("{prefix}{}", N - 1);
        assert_eq!(c.cmd(&["GET", &last]), Value::bulk(&format!("v{}", N - 1)));
    }
}

#[test]
fn the_resp_port_advertises_the_core_ports_in_cluster_slots() {
    let server = server();
    let mut via_resp = RespConn::connect(resp_addr(&server));
    let mut via_shared = RespConn::connect(server.shared_addr());
    let slots = via_resp.cmd(&["CLUSTER", "SLOTS"]);
    assert_eq!(slots, via_shared.cmd(&["CLUSTER", "SLOTS"]));
    let text = format!("{slots:?}");
    for core in server.core_addrs() {
        assert!(text.contains(&format!("Int({})", core.port())), "{text}");
    }
    let resp_port = resp_addr(&server).port();
    assert!(!text.contains(&format!("Int({resp_port})")), "{text}");
}

#[test]
fn a_resp_port_in_use_is_refused() {
    let first = server();
    let port = resp_addr(&first).port();
    let mut config = common::config(2);
    config.resp_port = Some(port);
    let err = Server::start(&config).err().expect("the port is taken");
    let text = err.to_string();
    assert!(text.contains(&format!(":{port}")), "{text}");
    assert!(text.contains("another corekv"), "{text}");
}

#[test]
fn protected_mode_and_maxclients_hold_on_the_resp_port() {
    let mut config = common::config(2);
    config.resp_port = Some(0);
    config.protected_mode_all_remote = true;
    let server = common::start_with(&config);
    answers(
        resp_addr(&server),
        b"PING\r\n",
        format!("-{}\r\n", corekv::acl::DENIED).as_bytes(),
    );

    let mut config = common::config(2);
    config.resp_port = Some(0);
    config.maxclients = 1;
    let server = common::start_with(&config);
    let mut first = RespConn::connect(server.shared_addr());
    assert_eq!(first.cmd(&["PING"]), Value::Simple("PONG".into()));
    // Refused at accept, before it sends anything.
    let mut second = RespConn::connect(resp_addr(&server));
    assert_eq!(
        second.read(),
        Value::Error("ERR max number of clients reached".into())
    );
    assert!(second.is_closed());
}
