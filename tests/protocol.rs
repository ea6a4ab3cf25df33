//! The text protocol end to end, against an in-process 4-worker server:
//! byte-exact responses, every kind of bad input, whitespace/case/CRLF
//! rules, JSON escaping, QUIT, deep pipelining, and every port serving
//! every key.

mod common;

use common::{error, error_mesg, ok_result, Client, NOT_FOUND, OK, PONG};
use corekv::Server;
use std::io::Write;
use std::time::Duration;

const WORKERS: u16 = 4;
/// `--max-line-bytes` of the servers started here.
const MAX_LINE: usize = 1024;

fn server() -> Server {
    let mut config = common::config(WORKERS);
    config.max_line_bytes = MAX_LINE;
    common::start_with(&config)
}

fn client(server: &Server) -> Client {
    Client::connect(server.shared_addr())
}

#[test]
fn readme_transcript_byte_for_byte() {
    let server = server();
    let mut c = client(&server);
    let transcript: [(&str, &str); 4] = [
        ("PUT a 1", r#"{"status": "Ok"}"#),
        ("GET a", r#"{"status": "Ok", "result": "1"}"#),
        (
            r#"PUT georgew {"first_name": "George", "last_name": "Washington", "role": "President"}"#,
            r#"{"status": "Ok"}"#,
        ),
        (
            "GET georgew",
            r#"{"status": "Ok", "result": "{\"first_name\": \"George\", \"last_name\": \"Washington\", \"role\": \"President\"}"}"#,
        ),
    ];
    for (command, expected) in transcript {
        assert_eq!(c.cmd(command), expected, "response to {command}");
    }
    // And the whole transcript again as one pipelined write: the raw bytes
    // of the responses, newlines included, are exactly the transcript's.
    let mut c = client(&server);
    let mut input = String::new();
    let mut expected = String::new();
    for (command, response) in transcript {
        input.push_str(command);
        input.push('\n');
        expected.push_str(response);
        expected.push('\n');
    }
    c.send(input.as_bytes());
    let mut got = String::new();
    for _ in 0..transcript.len() {
        got.push_str(&c.read_response());
        got.push('\n');
    }
    assert_eq!(got, expected);
}

#[test]
fn basic_commands() {
    let server = server();
    let mut c = client(&server);
    assert_eq!(c.cmd("GET nothing"), NOT_FOUND);
    assert_eq!(c.cmd("DEL nothing"), OK, "DEL of an absent key is Ok");
    assert_eq!(c.cmd("PUT k v1"), OK);
    assert_eq!(c.cmd("PUT k v2"), OK, "PUT overwrites");
    assert_eq!(c.cmd("GET k"), r#"{"status": "Ok", "result": "v2"}"#);
    assert_eq!(c.cmd("DEL k"), OK);
    assert_eq!(c.cmd("GET k"), NOT_FOUND);
    assert_eq!(c.cmd("DEL k"), OK);
    assert_eq!(c.cmd("PING"), PONG);
    let help = c.cmd("HELP");
    let v: serde_json::Value = serde_json::from_str(&help).unwrap();
    assert_eq!(v["status"], "Ok", "{help}");
    let text = v["result"].as_str().expect("HELP result is a string");
    for word in ["PUT", "GET", "DEL", "START", "COMMIT", "ROLLBACK", "QUIT"] {
        assert!(text.contains(word), "HELP mentions {word}: {text}");
    }
    // Values written on one connection are seen on another.
    let mut other = client(&server);
    assert_eq!(c.cmd("PUT shared yes"), OK);
    assert_eq!(other.cmd("GET shared"), ok_result("yes"));
}

#[test]
fn bad_commands_get_one_error_each_and_store_nothing() {
    let server = server();
    let mut c = client(&server);
    let cases: &[(&str, &str)] = &[
        ("FROB", "unknown command 'FROB' (try HELP)"),
        ("frob a b", "unknown command 'frob' (try HELP)"),
        (
            "PUT k",
            "wrong number of arguments for 'PUT' (usage: PUT key value)",
        ),
        (
            "PUT k   \t ",
            "wrong number of arguments for 'PUT' (usage: PUT key value)",
        ),
        (
            "PUT",
            "wrong number of arguments for 'PUT' (usage: PUT key value)",
        ),
        (
            "put k",
            "wrong number of arguments for 'PUT' (usage: PUT key value)",
        ),
        (
            "GET",
            "wrong number of arguments for 'GET' (usage: GET key)",
        ),
        (
            "GET a b",
            "wrong number of arguments for 'GET' (usage: GET key)",
        ),
        (
            "DEL",
            "wrong number of arguments for 'DEL' (usage: DEL key)",
        ),
        (
            "DEL k x",
            "wrong number of arguments for 'DEL' (usage: DEL key)",
        ),
        (
            "START x",
            "wrong number of arguments for 'START' (usage: START)",
        ),
        (
            "COMMIT now",
            "wrong number of arguments for 'COMMIT' (usage: COMMIT)",
        ),
        (
            "ROLLBACK x",
            "wrong number of arguments for 'ROLLBACK' (usage: ROLLBACK)",
        ),
        (
            "PING x",
            "wrong number of arguments for 'PING' (usage: PING)",
        ),
        (
            "HELP me",
            "wrong number of arguments for 'HELP' (usage: HELP)",
        ),
        (
            "QUIT x",
            "wrong number of arguments for 'QUIT' (usage: QUIT)",
        ),
        ("COMMIT", "no transaction in progress (use START)"),
        ("ROLLBACK", "no transaction in progress (use START)"),
    ];
    for (line, mesg) in cases {
        assert_eq!(c.cmd(line), error(mesg), "response to {line:?}");
    }
    // Nothing was stored, nothing was deleted, and the connection (QUIT x
    // included) is still open and in sync.
    assert_eq!(c.cmd("GET k"), NOT_FOUND);
    assert_eq!(c.cmd("PING"), PONG);

    // The same lines pipelined in one write: one error each, in order.
    let mut input = String::new();
    for (line, _) in cases {
        input.push_str(line);
        input.push('\n');
    }
    input.push_str("PING\n");
    c.send(input.as_bytes());
    for (line, mesg) in cases {
        assert_eq!(c.read_response(), error(mesg), "pipelined {line:?}");
    }
    assert_eq!(c.read_response(), PONG);
    assert_eq!(c.cmd("GET k"), NOT_FOUND);
}

#[test]
fn unknown_command_word_is_cut_in_the_error() {
    let server = server();
    let mut c = client(&server);
    let word = "X".repeat(500);
    let mesg = error_mesg(&c.cmd(&word));
    assert_eq!(
        mesg,
        format!("unknown command '{}' (try HELP)", "X".repeat(64))
    );
    assert_eq!(c.cmd("PING"), PONG);
    // The word is JSON-escaped inside the message.
    assert_eq!(
        c.cmd("FR\u{1}\"OB"),
        r#"{"status": "Error", "mesg": "unknown command 'FR\u0001\"OB' (try HELP)"}"#
    );
}

#[test]
fn invalid_utf8_is_one_error_and_stores_nothing() {
    let server = server();
    let mut c = client(&server);
    let utf8_error = error("invalid UTF-8 in command line");
    assert_eq!(c.cmd_bytes(b"PUT badutf8 \xff\xfe"), utf8_error);
    assert_eq!(c.cmd_bytes(b"\xc3"), utf8_error);
    assert_eq!(c.cmd_bytes(b"GET \xc3\x28"), utf8_error);
    assert_eq!(c.cmd_bytes(b"PUT \xe2\x82 v"), utf8_error);
    assert_eq!(c.cmd("GET badutf8"), NOT_FOUND);
    assert_eq!(c.cmd("PING"), PONG);
}

#[test]
fn line_over_the_limit_is_one_error_and_stores_nothing() {
    let server = server();
    let mut c = client(&server);
    let too_long = format!("line too long (max {MAX_LINE} bytes)");

    // Exactly at the limit (the line ending not counted): accepted, with
    // `\n` and with `\r\n`.
    let at_limit = format!("PUT edge {}", "v".repeat(MAX_LINE - 9));
    assert_eq!(at_limit.len(), MAX_LINE);
    assert_eq!(c.cmd(&at_limit), OK);
    assert_eq!(c.get("edge").unwrap().len(), MAX_LINE - 9);
    assert_eq!(c.cmd("DEL edge"), OK);
    assert_eq!(c.cmd(&format!("{at_limit}\r")), OK);
    assert_eq!(c.get("edge").unwrap().len(), MAX_LINE - 9);

    // One byte over, in one write with the next command: one error, then
    // the next command is served normally.
    let over = format!("PUT over1 {}", "v".repeat(MAX_LINE - 9));
    assert_eq!(over.len(), MAX_LINE + 1);
    c.send(format!("{over}\nPING\n").as_bytes());
    let mesg = error_mesg(&c.read_response());
    assert!(mesg.starts_with(&too_long), "{mesg}");
    assert_eq!(c.read_response(), PONG);
    assert_eq!(c.cmd("GET over1"), NOT_FOUND);

    // About twice the limit: still one error.
    let over = format!("PUT over2 {}", "w".repeat(2 * MAX_LINE));
    let mesg = error_mesg(&c.cmd(&over));
    assert!(mesg.starts_with(&too_long), "{mesg}");
    assert_eq!(c.cmd("GET over2"), NOT_FOUND);
    assert_eq!(c.cmd("PING"), PONG);
}

#[test]
fn huge_streamed_line_is_one_error_and_stores_nothing() {
    const TOTAL: usize = 5 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let server = server();
    let mut c = client(&server);
    let mut writer = c.writer();
    // Stream the line in chunks from another thread while this one reads:
    // the server answers as soon as the line passes the limit.
    let streamer = std::thread::spawn(move || {
        writer.write_all(b"PUT huge ").unwrap();
        let chunk = vec![b'x'; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            writer.write_all(&chunk).unwrap();
        }
        writer
            .write_all(b"\nPUT after ok\nGET huge\nPING\n")
            .unwrap();
    });
    let mesg = error_mesg(&c.read_response());
    assert!(
        mesg.starts_with(&format!("line too long (max {MAX_LINE} bytes)")),
        "{mesg}"
    );
    assert_eq!(c.read_response(), OK, "the command after the long line");
    assert_eq!(c.read_response(), NOT_FOUND, "nothing of the long line");
    assert_eq!(c.read_response(), PONG);
    streamer.join().unwrap();
    assert_eq!(c.cmd("GET after"), ok_result("ok"));
}

/// A line of exactly `--max-line-bytes` whose `\r\n` ending arrives in two
/// pieces (`…\r`, then `\n`) must be accepted like the same line sent in
/// one piece: the limit excludes the line ending.
#[test]
fn line_at_limit_with_crlf_split_across_reads_is_accepted() {
    let server = server();
    let mut c = client(&server);
    let at_limit = format!("PUT splitcr {}", "v".repeat(MAX_LINE - 12));
    assert_eq!(at_limit.len(), MAX_LINE);
    c.send(format!("{at_limit}\r").as_bytes());
    // A correct server has nothing to say yet; give it the time to read the
    // partial line (a short read timeout, not a sleep: any answer now is the
    // failure this test is about).
    c.set_read_timeout(Duration::from_millis(300));
    match c.try_read_response() {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Ok(Some(line)) => panic!("answered a line that has not ended yet: {line}"),
        other => panic!("unexpected: {other:?}"),
    }
    c.set_read_timeout(common::IO_TIMEOUT);
    c.send(b"\n");
    assert_eq!(c.read_response(), OK);
    assert_eq!(c.get("splitcr").unwrap().len(), MAX_LINE - 12);
}

#[test]
fn whitespace_case_and_crlf_rules() {
    let server = server();
    let mut c = client(&server);
    // PUT's value is the rest of the line, trailing blanks trimmed, inner
    // blanks kept.
    assert_eq!(c.cmd("PUT   a    3 * 3 = 9 "), OK);
    assert_eq!(c.cmd("GET a"), r#"{"status": "Ok", "result": "3 * 3 = 9"}"#);
    assert_eq!(c.cmd("PUT k a\t b  \t\r"), OK);
    assert_eq!(c.cmd("GET k"), r#"{"status": "Ok", "result": "a\t b"}"#);
    // Leading/trailing blanks around any command, tabs as separators.
    assert_eq!(c.cmd(" \t GET \t a \t"), ok_result("3 * 3 = 9"));
    assert_eq!(c.cmd("\tPUT\tb\t2\t"), OK);
    assert_eq!(c.cmd("GET b"), ok_result("2"));
    // CRLF everywhere.
    assert_eq!(c.cmd("PUT crlf 1\r"), OK);
    assert_eq!(c.cmd("GET crlf\r"), ok_result("1"));
    assert_eq!(c.cmd("PING\r"), PONG);
    assert_eq!(c.cmd("  PING  \r"), PONG);
    // Command words are case-insensitive ...
    for word in ["ping", "Ping", "pInG"] {
        assert_eq!(c.cmd(word), PONG);
    }
    assert_eq!(c.cmd("put Case lower"), OK);
    assert_eq!(c.cmd("gEt Case"), ok_result("lower"));
    assert_eq!(c.cmd("start"), OK);
    assert_eq!(c.cmd("Commit"), OK);
    assert_eq!(c.cmd("StArT"), OK);
    assert_eq!(c.cmd("rollback"), OK);
    // ... keys and values are not.
    assert_eq!(c.cmd("GET case"), NOT_FOUND);
    assert_eq!(c.cmd("PUT Case MiXeD"), OK);
    assert_eq!(c.cmd("GET Case"), ok_result("MiXeD"));
    assert_eq!(c.cmd("del case"), OK);
    assert_eq!(c.cmd("GET Case"), ok_result("MiXeD"));
}

#[test]
fn empty_lines_get_no_response() {
    let server = server();
    let mut c = client(&server);
    c.send(b"\n\n \t \r\n\r\n\t\nPING\n\n");
    assert_eq!(c.read_response(), PONG);
    // If any empty line had been answered, this would read that answer
    // instead of the sentinel's.
    c.send(b"\n   \nPUT sentinel 1\n\n");
    assert_eq!(c.read_response(), OK);
    assert_eq!(c.cmd("GET sentinel"), ok_result("1"));
}

#[test]
fn values_are_json_escaped() {
    let server = server();
    let mut c = client(&server);
    // Quotes, backslashes, tab, an inner CR, control characters, DEL.
    let line = b"PUT esc q\"b\\c\td\re\x01f\x1fg\x08h\x0ci\x00j\x7fk";
    assert_eq!(c.cmd_bytes(line), OK);
    let expected = "{\"status\": \"Ok\", \"result\": \
                    \"q\\\"b\\\\c\\td\\re\\u0001f\\u001fg\\bh\\fi\\u0000j\x7fk\"}";
    let got = c.cmd("GET esc");
    assert_eq!(got, expected);
    // And it is JSON that decodes to the stored bytes.
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        v["result"],
        "q\"b\\c\td\re\u{1}f\u{1f}g\u{8}h\u{c}i\u{0}j\u{7f}k"
    );

    assert_eq!(c.cmd(r#"PUT path C:\dir\file "quoted""#), OK);
    assert_eq!(
        c.cmd("GET path"),
        r#"{"status": "Ok", "result": "C:\\dir\\file \"quoted\""}"#
    );
    // Keys may hold such bytes too.
    assert_eq!(c.cmd(r#"PUT k\"1 v"#), OK);
    assert_eq!(c.cmd(r#"GET k\"1"#), ok_result("v"));
}

#[test]
fn utf8_passes_through_unescaped() {
    let server = server();
    let mut c = client(&server);
    assert_eq!(c.cmd("PUT clé été ☀ 🦀 日本語"), OK);
    // Raw UTF-8 in the response, not \u escapes.
    assert_eq!(
        c.cmd("GET clé"),
        "{\"status\": \"Ok\", \"result\": \"été ☀ 🦀 日本語\"}"
    );
    assert_eq!(c.cmd("GET cle"), NOT_FOUND);
    assert_eq!(c.cmd("PUT 🔑 ключ"), OK);
    assert_eq!(c.cmd("get 🔑"), ok_result("ключ"));
}

#[test]
fn quit_answers_ok_then_closes() {
    let server = server();
    let mut c = client(&server);
    assert_eq!(c.cmd("PUT beforequit 1"), OK);
    assert_eq!(c.cmd("QUIT"), OK);
    c.expect_eof();

    // Lower case, with CRLF, and pipelined after other commands in one
    // write: everything before QUIT is answered, then EOF.
    let mut c = client(&server);
    c.send(b"PUT q 1\r\nGET q\r\nquit\r\n");
    assert_eq!(c.read_response(), OK);
    assert_eq!(c.read_response(), ok_result("1"));
    assert_eq!(c.read_response(), OK);
    c.expect_eof();

    // QUIT after writes to every partition in the same write: they are all
    // answered and applied before the connection closes.
    let keys = common::keys_by_partition(server.topology(), "quitpipe", 2);
    let mut input = String::new();
    for keys in &keys {
        for key in keys {
            input.push_str(&format!("PUT {key} {key}\n"));
        }
    }
    input.push_str("QUIT\n");
    let mut c = client(&server);
    c.send(input.as_bytes());
    for _ in 0..keys.len() * 2 + 1 {
        assert_eq!(c.read_response(), OK);
    }
    c.expect_eof();
    let mut o = client(&server);
    for keys in &keys {
        for key in keys {
            assert_eq!(o.get(key).as_deref(), Some(key.as_str()));
        }
    }

    // Commands after QUIT in the same write are not executed.
    let mut c = client(&server);
    c.send(b"PING\nQUIT\nPUT afterquit 1\n");
    assert_eq!(c.read_response(), PONG);
    assert_eq!(c.read_response(), OK);
    c.expect_eof();
    assert_eq!(client(&server).cmd("GET afterquit"), NOT_FOUND);

    // QUIT inside a transaction discards it.
    let mut c = client(&server);
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT quitintxn 1"), OK);
    assert_eq!(c.cmd("QUIT"), OK);
    c.expect_eof();
    let mut c = client(&server);
    assert_eq!(c.cmd("GET quitintxn"), NOT_FOUND);
    assert_eq!(c.cmd("GET beforequit"), ok_result("1"));
}

#[test]
fn ten_thousand_pipelined_commands_answered_in_order() {
    const N: usize = 10_000;
    let server = server();
    let mut c = client(&server);
    let mut input = String::with_capacity(N * 32);
    for i in 0..N {
        input.push_str(&format!("PUT k{i} v{i}\nGET k{i}\n"));
    }
    input.push_str("PING\n");
    let mut writer = c.writer();
    // One write, from another thread: the responses may fill the socket
    // buffers long before the server has read all the commands.
    let sender = std::thread::spawn(move || writer.write_all(input.as_bytes()).unwrap());
    for i in 0..N {
        assert_eq!(c.read_response(), OK, "PUT k{i}");
        assert_eq!(
            c.read_response(),
            format!(r#"{{"status": "Ok", "result": "v{i}"}}"#),
            "GET k{i}"
        );
    }
    assert_eq!(c.read_response(), PONG);
    sender.join().unwrap();

    // Mixed pipelining: overwrite, delete and read back in one write, with
    // keys on every partition, from a second connection.
    let mut c2 = client(&server);
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..N {
        if i % 3 == 0 {
            input.push_str(&format!("DEL k{i}\nGET k{i}\n"));
            expected.push(OK.to_string());
            expected.push(NOT_FOUND.to_string());
        } else {
            input.push_str(&format!("PUT k{i} w{i}\nGET k{i}\n"));
            expected.push(OK.to_string());
            expected.push(format!(r#"{{"status": "Ok", "result": "w{i}"}}"#));
        }
    }
    let mut writer = c2.writer();
    let sender = std::thread::spawn(move || writer.write_all(input.as_bytes()).unwrap());
    for (n, want) in expected.iter().enumerate() {
        assert_eq!(&c2.read_response(), want, "response #{n}");
    }
    sender.join().unwrap();
}

#[test]
fn every_core_port_serves_every_key() {
    let server = server();
    let cores = server.core_addrs().to_vec();
    assert_eq!(cores.len(), usize::from(WORKERS));
    assert_eq!(server.topology().len(), usize::from(WORKERS));
    let keys = common::keys_by_partition(server.topology(), "anyport", 16);
    let mut clients: Vec<Client> = cores.iter().map(|&a| Client::connect(a)).collect();
    let mut shared = Client::connect(server.shared_addr());
    // Write through core port i a key of every partition p ...
    for (i, c) in clients.iter_mut().enumerate() {
        for (p, keys) in keys.iter().enumerate() {
            let key = &keys[i];
            assert_eq!(c.cmd(&format!("PUT {key} via{i}-p{p}")), OK);
        }
    }
    // ... and read each through every core port j and the shared port.
    for (j, c) in clients.iter_mut().chain([&mut shared]).enumerate() {
        for i in 0..cores.len() {
            for (p, keys) in keys.iter().enumerate() {
                let key = &keys[i];
                assert_eq!(
                    c.cmd(&format!("GET {key}")),
                    ok_result(&format!("via{i}-p{p}")),
                    "key {key} (partition {p}) written via core port {i}, read via port #{j}"
                );
            }
        }
    }
    // Deletes through any port are seen through every port.
    for (i, c) in clients.iter_mut().enumerate() {
        for keys in &keys {
            assert_eq!(c.cmd(&format!("DEL {}", keys[i])), OK);
        }
    }
    for c in clients.iter_mut() {
        for keys in &keys {
            for key in &keys[..cores.len()] {
                assert_eq!(c.cmd(&format!("GET {key}")), NOT_FOUND);
            }
        }
    }
}

#[test]
fn many_connections_on_the_shared_port_all_work() {
    let server = server();
    // The kernel spreads shared-port connections over the workers; whoever
    // accepts, every connection sees the same data.
    let mut writer = client(&server);
    let keys = common::keys_by_partition(server.topology(), "spread", 2);
    for (p, keys) in keys.iter().enumerate() {
        for key in keys {
            writer.put(key, &format!("p{p}"));
        }
    }
    for _ in 0..32 {
        let mut c = client(&server);
        for (p, keys) in keys.iter().enumerate() {
            for key in keys {
                assert_eq!(c.get(key).as_deref(), Some(format!("p{p}").as_str()));
            }
        }
        c.close();
    }
}

#[test]
fn input_in_tiny_fragments_is_reassembled() {
    let server = server();
    let mut c = client(&server);
    let keys = common::keys_by_partition(server.topology(), "frag", 8);
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (p, keys) in keys.iter().enumerate() {
        for key in keys {
            input.extend_from_slice(format!("PUT {key} \t{p} {key}\r\n\nget {key}\n").as_bytes());
            expected.push(OK.to_string());
            expected.push(ok_result(&format!("{p} {key}")));
        }
    }
    input.extend_from_slice("PUT utf8 ☀🦀\nGET utf8\n".as_bytes());
    expected.push(OK.to_string());
    expected.push(ok_result("☀🦀"));
    let mut writer = c.writer();
    // Fragments of 1 to 7 bytes, each its own write (no Nagle delay), so
    // lines, CRLFs and multi-byte characters are split everywhere.
    let sender = std::thread::spawn(move || {
        let mut rng = common::Rng::new(42);
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(7)).min(rest.len());
            writer.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
    });
    for (n, want) in expected.iter().enumerate() {
        assert_eq!(&c.read_response(), want, "response #{n}");
    }
    sender.join().unwrap();
}

#[test]
fn large_values_round_trip() {
    // The default limit (1 MiB) for this one.
    let server = common::start(WORKERS);
    let mut c = client(&server);
    let keys = common::keys_by_partition(server.topology(), "large", 1);
    let mut values = Vec::new();
    for (p, keys) in keys.iter().enumerate() {
        let value: String = (0..900_000 + p * 1000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        assert_eq!(c.cmd(&format!("PUT {} {value}", keys[0])), OK);
        values.push(value);
    }
    // Read them back pipelined, from another port, twice.
    let mut o = Client::connect(server.core_addrs()[1]);
    let mut input = String::new();
    for _ in 0..2 {
        for keys in &keys {
            input.push_str(&format!("GET {}\n", keys[0]));
        }
    }
    o.send(input.as_bytes());
    for _ in 0..2 {
        for (p, value) in values.iter().enumerate() {
            assert!(
                o.read_response() == ok_result(value),
                "value of partition {p}"
            );
        }
    }
    // Small traffic afterwards still works on both connections.
    assert_eq!(c.cmd("PING"), PONG);
    assert_eq!(o.cmd("PUT small 1"), OK);
    assert_eq!(c.cmd("GET small"), ok_result("1"));
}

#[test]
fn pipelined_transaction_answers_in_order() {
    let server = server();
    let keys = common::keys_by_partition(server.topology(), "ptx", 2);
    let mut setup = client(&server);
    for keys in &keys {
        setup.put(&keys[1], "committed");
    }
    // Everything in one write: plain writes before START, buffered writes
    // and reads (own buffered values answered at once, others by their
    // partitions) interleaved, COMMIT, and reads after it.
    let mut input = String::new();
    let mut expected: Vec<String> = Vec::new();
    let mut push = |line: String, want: String| {
        input.push_str(&line);
        input.push('\n');
        expected.push(want);
    };
    for keys in &keys {
        push(format!("PUT {} plain", keys[0]), OK.into());
    }
    push("START".into(), OK.into());
    for keys in &keys {
        push(format!("GET {}", keys[1]), ok_result("committed"));
        push("FROB".into(), error("unknown command 'FROB' (try HELP)"));
        push(format!("PUT {} txn", keys[0]), OK.into());
        push(format!("GET {}", keys[0]), ok_result("txn"));
        push(format!("DEL {}", keys[1]), OK.into());
        push(format!("GET {}", keys[1]), NOT_FOUND.into());
    }
    for keys in &keys {
        push(format!("GET {}", keys[0]), ok_result("txn"));
    }
    push("COMMIT".into(), OK.into());
    for keys in &keys {
        push(format!("GET {}", keys[0]), ok_result("txn"));
        push(format!("GET {}", keys[1]), NOT_FOUND.into());
        push(format!("PUT {} after", keys[1]), OK.into());
        push(format!("GET {}", keys[1]), ok_result("after"));
    }
    let mut c = client(&server);
    c.send(input.as_bytes());
    for (n, want) in expected.iter().enumerate() {
        assert_eq!(&c.read_response(), want, "response #{n}");
    }
}

/// Any key token and any value without a line break: GET returns the value
/// with its leading and trailing spaces/tabs removed, as JSON that decodes
/// to exactly those bytes.
#[test]
fn put_get_round_trip_property() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let server = server();
    let c = std::cell::RefCell::new(client(&server));
    let strategy = (
        "[^ \t\r\n]{1,24}",
        "[^\r\n]{0,64}[^ \t\r\n]",
        "[ \t]{1,3}",
        "[ \t]{0,3}",
    );
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&strategy, |(key, value, lead, trail)| {
            let mut c = c.borrow_mut();
            let put = c.cmd(&format!("PUT {key}{lead}{value}{trail}"));
            if put != OK {
                return Err(TestCaseError::fail(format!("PUT answered {put}")));
            }
            let line = c.cmd(&format!("GET {key}"));
            let want = value.trim_matches(|ch| ch == ' ' || ch == '\t');
            if line != ok_result(want) {
                return Err(TestCaseError::fail(format!("GET answered {line}")));
            }
            let decoded = common::parse_get(&line);
            if decoded.as_deref() != Some(want) {
                return Err(TestCaseError::fail(format!("decoded {decoded:?}")));
            }
            Ok(())
        })
        .unwrap();
}
