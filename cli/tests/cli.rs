//! `corekv-cli` against an in-process corekv server: `--eval`, `--raw`,
//! scripts on stdin, and connection failures.

use corekv::{Config, Server};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_corekv-cli");

fn start(workers: u16) -> Server {
    let mut config = Config::ephemeral(workers);
    config.no_pin = true;
    Server::start(&config).expect("server starts")
}

/// The CLI with `--port` set to the server's shared port and a clean
/// environment for the settings it reads.
fn cli(server: &Server) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("COREKV_HOST")
        .env_remove("COREKV_PORT")
        .env_remove("COREKV_PASSWORD")
        .env_remove("COREKV_USER")
        .env_remove("NO_COLOR")
        .args(["--port", &server.shared_addr().port().to_string()]);
    cmd
}

fn eval(server: &Server, commands: &[&str], extra: &[&str]) -> Output {
    let mut cmd = cli(server);
    for c in commands {
        cmd.args(["--eval", c]);
    }
    cmd.args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("corekv-cli runs")
}

fn script(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corekv-cli runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn eval_prints_readable_replies() {
    let server = start(2);
    let out = eval(
        &server,
        &[
            "PUT greeting hello   world",
            "GET greeting",
            "PING",
            "DEL greeting",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "OK\nhello   world\nPONG\nOK\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn eval_exits_1_on_an_error_reply_but_runs_every_command() {
    let server = start(2);
    let out = eval(&server, &["GET missing", "FROB x", "PUT k v", "GET k"], &[]);
    assert_eq!(
        stdout(&out),
        "(error) key not found\n(error) unknown command 'FROB' (try HELP)\nOK\nv\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn json_values_and_topology_are_pretty_printed() {
    let server = start(2);
    let out = eval(
        &server,
        &[
            r#"PUT georgew {"first_name": "George", "last_name": "Washington", "terms": [1, 2]}"#,
            "GET georgew",
        ],
        &[],
    );
    assert_eq!(
        stdout(&out),
        "OK\n{\n  \"first_name\": \"George\",\n  \"last_name\": \"Washington\",\n  \"terms\": [1, 2]\n}\n"
    );

    let out = eval(&server, &["TOPOLOGY"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("{\n  \"slots\": 16384,\n"), "{text}");
    assert!(text.contains("\"slots\": [[0, 8191]]"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["shared_port"], server.shared_addr().port());
    let ports: Vec<u64> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = server
        .core_addrs()
        .iter()
        .map(|a| u64::from(a.port()))
        .collect();
    assert_eq!(ports, expected);
}

#[test]
fn raw_prints_the_json_lines() {
    let server = start(2);
    let out = eval(&server, &["PUT a 1", "GET a", "GET b"], &["--raw"]);
    assert_eq!(
        stdout(&out),
        "{\"status\": \"Ok\"}\n{\"status\": \"Ok\", \"result\": \"1\"}\n{\"status\": \"Error\", \"mesg\": \"key not found\"}\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn script_mode_reads_stdin_line_by_line() {
    let server = start(4);
    let input = "\
# a comment, then a blank line

PUT a 1\r
put b two words
START
PUT a 2
GET a
COMMIT
GET a
GET b
DEL b
GET b
";
    let out = script(cli(&server), input);
    assert_eq!(
        stdout(&out),
        "OK\nOK\nOK\nOK\n2\nOK\n2\ntwo words\nOK\n(error) key not found\n"
    );
    assert_eq!(out.status.code(), Some(1), "one error reply");

    // No error reply: exit 0. A script without a final newline works too.
    let out = script(cli(&server), "PING\nGET a");
    assert_eq!(stdout(&out), "PONG\n2\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn quit_and_exit_end_the_session() {
    let server = start(2);
    let out = script(cli(&server), "PUT q 1\nQUIT\nPUT q 2\n");
    assert_eq!(stdout(&out), "OK\nOK\n");
    assert_eq!(out.status.code(), Some(0));
    let out = script(cli(&server), "GET q\nexit\nPUT q 3\n");
    assert_eq!(stdout(&out), "1\n");
    assert_eq!(out.status.code(), Some(0));
    let out = eval(&server, &["quit", "GET q"], &[]);
    assert_eq!(stdout(&out), "OK\n");
}

#[test]
fn eval_ignores_stdin() {
    let server = start(2);
    let mut cmd = cli(&server);
    cmd.args(["--eval", "PING"]);
    let out = script(cmd, "PUT never 1\n");
    assert_eq!(stdout(&out), "PONG\n");
    let out = eval(&server, &["GET never"], &[]);
    assert_eq!(stdout(&out), "(error) key not found\n");
}

#[test]
fn host_and_port_come_from_the_environment() {
    let server = start(2);
    let out = Command::new(BIN)
        .env("COREKV_HOST", "127.0.0.1")
        .env("COREKV_PORT", server.core_addrs()[1].port().to_string())
        .args(["--eval", "PING"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "PONG\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn connection_errors_exit_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(BIN)
        .env_remove("COREKV_HOST")
        .args(["--port", &port.to_string(), "--eval", "PING"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["--host", "no-such-host.invalid", "--eval", "PING"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot connect to no-such-host.invalid"));
}

#[test]
fn a_lost_connection_exits_2() {
    use std::io::{BufRead, BufReader, Read};
    let server = start(1);
    let mut child = cli(&server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"PING\n").unwrap();
    stdin.flush().unwrap();
    // Once the first reply is out, stop the server under the CLI.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "PONG\n");
    drop(server);
    stdin.write_all(b"PING\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(rest, "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("connection to"), "{}", stderr(&out));
}

#[test]
fn pass_and_user_authenticate_first() {
    let mut config = Config::ephemeral(1);
    config.no_pin = true;
    config.requirepass = Some("s3cret".into());
    let server = Server::start(&config).expect("server starts");
    let refused = eval(&server, &["GET k"], &[]);
    assert!(stdout(&refused).contains("NOAUTH"), "{}", stdout(&refused));
    let ok = eval(&server, &["PUT k v", "GET k"], &["--pass", "s3cret"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok), "OK\nv\n");
    let mut by_env = cli(&server);
    by_env
        .env("COREKV_PASSWORD", "s3cret")
        .env("COREKV_USER", "default");
    let out = script(by_env, "GET k\n");
    assert_eq!(stdout(&out), "v\n", "{}", stderr(&out));
    let bad = eval(&server, &["GET k"], &["-a", "wrong"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("WRONGPASS"), "{}", stderr(&bad));
    assert!(stdout(&bad).is_empty());
}
