//! Crash and delay tests of the two-phase commit, through failpoints
//! (`src/failpoint.rs`): a coordinator that panics, returns early or stalls
//! at each step of the protocol, a participant that stalls before applying
//! a commit, a worker whose inbox dies. For each: the client gets an answer
//! or a clean close (never a hang), afterwards no key is locked, and no
//! transaction is ever seen half-applied.
//!
//! Failpoints are process-wide, so the tests run one at a time (`SERIAL`).
//! Run with `cargo test --features failpoints --test failpoints`.

#![cfg(feature = "failpoints")]

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::resp::{RespConn, Value};
use common::{error_mesg, keys_by_partition, Client, IO_TIMEOUT, OK};
use corekv::failpoint;
use corekv::Server;
use corekv_router::resp::{push_request, request};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the test lock; disarms every failpoint when the test ends.
struct Armed(#[allow(dead_code)] MutexGuard<'static, ()>);

fn exclusive() -> Armed {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    failpoint::clear_all();
    Armed(guard)
}

impl Drop for Armed {
    fn drop(&mut self) {
        failpoint::clear_all();
    }
}

fn arm(name: &str, spec: &str) {
    failpoint::set(name, spec).expect("valid failpoint");
}

/// A 4-worker server and one key per partition, set to "old".
fn setup() -> (Server, Vec<String>) {
    let server = common::start(4);
    let keys = one_key_per_partition(&server, "fp");
    let mut c = Client::connect(server.core_addrs()[0]);
    for k in &keys {
        c.put(k, "old");
    }
    (server, keys)
}

fn one_key_per_partition(server: &Server, prefix: &str) -> Vec<String> {
    keys_by_partition(server.topology(), prefix, 1)
        .into_iter()
        .flatten()
        .collect()
}

/// Sends `request` on a fresh connection and reads until the server closes
/// it. A read timeout means the server hung: the test fails.
fn send_until_close(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request).expect("write");
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the connection hung instead of answering or closing ({e}); got {:?}",
            String::from_utf8_lossy(&got)
        ),
    }
    String::from_utf8(got).expect("UTF-8")
}

fn text_txn(keys: &[String], value: &str) -> Vec<u8> {
    let mut request = String::from("START\n");
    for k in keys {
        request.push_str(&format!("PUT {k} {value}\n"));
    }
    request.push_str("COMMIT\n");
    request.into_bytes()
}

fn resp_mset(keys: &[String], value: &str) -> Vec<u8> {
    let mut args: Vec<&[u8]> = vec![b"MSET"];
    for k in keys {
        args.push(k.as_bytes());
        args.push(value.as_bytes());
    }
    request(&args)
}

fn resp_multi_exec(keys: &[String], value: &str) -> Vec<u8> {
    let mut out = request(&[b"MULTI"]);
    for k in keys {
        push_request(&mut out, &[b"SET", k.as_bytes(), value.as_bytes()]);
    }
    push_request(&mut out, &[b"EXEC"]);
    out
}

/// The transaction's values: all "old" or all `new`, never a mix; every
/// `GET` answers (a locked key would time out), and `FLUSHALL` completes.
fn assert_whole_and_unlocked(server: &Server, keys: &[String], new: &str) -> bool {
    let mut c = Client::connect(server.core_addrs()[1]);
    let values: Vec<Option<String>> = keys.iter().map(|k| c.get(k)).collect();
    let committed = values.iter().all(|v| v.as_deref() == Some(new));
    let untouched = values.iter().all(|v| v.as_deref() == Some("old"));
    assert!(committed || untouched, "half-applied: {values:?}");
    let mut r = RespConn::connect(server.core_addrs()[2]);
    assert_eq!(r.cmd(&["FLUSHALL"]), Value::ok(), "FLUSHALL completes");
    committed
}

type Request = fn(&[String], &str) -> Vec<u8>;

const DIALECTS: [(&str, Request); 3] = [
    ("text START/COMMIT", text_txn),
    ("RESP MSET", resp_mset),
    ("RESP MULTI/EXEC", resp_multi_exec),
];

/// Runs a cross-partition transaction in each dialect with `point` armed
/// once with `spec`; returns, per dialect, whether it committed.
fn crash_at(point: &str, spec: &str) -> Vec<bool> {
    let _serial = exclusive();
    let mut committed = Vec::new();
    for (name, request) in DIALECTS {
        let (server, keys) = setup();
        arm(point, &format!("1*{spec}"));
        let answer = send_until_close(server.core_addrs()[0], &request(&keys, "new"));
        if spec == "error" {
            assert!(
                answer.contains("a worker is unavailable"),
                "{point} {name}: the client is told: {answer:?}"
            );
        }
        committed.push(assert_whole_and_unlocked(&server, &keys, "new"));
        assert_eq!(failpoint::eval(point), None, "{point} {name}: fired");
    }
    committed
}

#[test]
fn panic_after_a_prepare_was_sent_aborts_everywhere() {
    assert_eq!(crash_at("2pc::after_prepare_sent", "panic"), [false; 3]);
}

#[test]
fn early_return_after_a_prepare_was_sent_aborts_everywhere() {
    assert_eq!(crash_at("2pc::after_prepare_sent", "error"), [false; 3]);
}

#[test]
fn panic_between_votes_aborts_everywhere() {
    assert_eq!(crash_at("2pc::between_votes", "panic"), [false; 3]);
}

#[test]
fn early_return_between_votes_aborts_everywhere() {
    assert_eq!(crash_at("2pc::between_votes", "error"), [false; 3]);
}

#[test]
fn panic_before_commit_aborts_everywhere() {
    assert_eq!(crash_at("2pc::before_commit", "panic"), [false; 3]);
}

#[test]
fn early_return_before_commit_aborts_everywhere() {
    assert_eq!(crash_at("2pc::before_commit", "error"), [false; 3]);
}

#[test]
fn panic_during_commit_commits_everywhere() {
    assert_eq!(crash_at("2pc::between_commits", "panic"), [true; 3]);
}

#[test]
fn early_return_during_commit_commits_everywhere() {
    assert_eq!(crash_at("2pc::between_commits", "error"), [true; 3]);
}

/// Reads the keys in order, over and over, until `done`: within one round,
/// once a key shows `new`, every later key must too (it is committed, or
/// locked and the read waits); an `MGET` round is all old or all new.
fn watch_for_torn_reads(server: &Server, keys: &[String], new: &str, done: &dyn Fn() -> bool) {
    let mut text = Client::connect(server.core_addrs()[3]);
    let mut resp = RespConn::connect(server.core_addrs()[2]);
    let mut rounds = 0;
    while !done() || rounds == 0 {
        rounds += 1;
        let mut seen_new = false;
        for k in keys {
            let is_new = text.get(k).as_deref() == Some(new);
            assert!(
                is_new || !seen_new,
                "round {rounds}: {k} old after a new one"
            );
            seen_new |= is_new;
        }
        let mut mget = vec!["MGET"];
        mget.extend(keys.iter().map(String::as_str));
        let Value::Array(values) = resp.cmd(&mget) else {
            panic!("MGET answers an array")
        };
        let news = values.iter().filter(|v| **v == Value::bulk(new)).count();
        assert!(news == 0 || news == keys.len(), "MGET saw {values:?}");
    }
}

/// A transaction that stalls at `point` (armed with `spec`) on worker 0
/// while a reader on other workers keeps reading its keys.
fn stall_with_reader(point: &str, spec: &str) {
    let _serial = exclusive();
    let (server, keys) = setup();
    arm(point, spec);
    let addr = server.core_addrs()[0];
    let request = text_txn(&keys, "new");
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.send(&request);
        (0..lines(&request))
            .map(|_| c.read_response())
            .collect::<Vec<_>>()
    });
    watch_for_torn_reads(&server, &keys, "new", &|| writer.is_finished());
    let answers = writer.join().expect("writer");
    assert!(answers.iter().all(|a| a == OK), "{answers:?}");
    assert!(assert_whole_and_unlocked(&server, &keys, "new"));
}

/// Lines in a text request (one answer each).
fn lines(request: &[u8]) -> usize {
    request.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn readers_never_see_a_commit_half_sent() {
    // Unlimited: the reader's cross-partition MGETs stall there too.
    stall_with_reader("2pc::between_commits", "sleep(300)");
}

#[test]
fn readers_never_see_a_participant_half_committed() {
    stall_with_reader("partition::before_commit", "sleep(200)");
}

/// A counter of `INFO stats`, summed over the partitions.
fn txn_stat(conn: &mut RespConn, name: &str) -> u64 {
    let Value::Bulk(text) = conn.cmd(&["INFO", "stats"]) else {
        panic!("INFO answers a bulk string")
    };
    let text = String::from_utf8(text).expect("UTF-8");
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in INFO: {text}"))
}

#[test]
fn lease_frees_the_keys_of_a_stalled_coordinator() {
    let _serial = exclusive();
    let mut config = common::config(4);
    config.txn_lease_ms = 200;
    let server = common::start_with(&config);
    let keys = one_key_per_partition(&server, "lease");
    let mut c = Client::connect(server.core_addrs()[0]);
    for k in &keys {
        c.put(k, "old");
    }
    arm("2pc::before_commit", "1*sleep(3000)");
    let started = Instant::now();
    let addr = server.core_addrs()[0];
    let request = text_txn(&keys, "new");
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.send(&request);
        let answers: Vec<String> = (0..lines(&request)).map(|_| c.read_response()).collect();
        // The connection goes on serving.
        c.put("after", "1");
        answers
    });
    // Once it prepared everywhere, read: the keys are unlocked by the lease
    // long before the coordinator wakes up.
    let mut info = RespConn::connect(server.core_addrs()[3]);
    while txn_stat(&mut info, "txn_prepared") < keys.len() as u64 {
        assert!(
            started.elapsed() < IO_TIMEOUT,
            "the transaction never prepared"
        );
        // Polling interval, not synchronisation.
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut reader = Client::connect(server.core_addrs()[1]);
    for k in &keys {
        assert_eq!(reader.get(k).as_deref(), Some("old"), "{k}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(2800),
        "the reads waited for the stalled coordinator, not the lease"
    );
    assert_eq!(
        txn_stat(&mut info, "txn_aborted"),
        keys.len() as u64,
        "lease aborts"
    );
    let answers = writer.join().expect("writer");
    let commit = error_mesg(answers.last().expect("COMMIT answered"));
    assert!(commit.contains("lock lease expired"), "{answers:?}");
    // RESP: `EXEC` is answered with the error, and the connection goes on.
    arm("2pc::before_commit", "1*sleep(1500)");
    let mut r = RespConn::connect(server.core_addrs()[0]);
    r.send_bytes(&[b"MULTI"]);
    for k in &keys {
        r.send(&["SET", k, "new"]);
    }
    r.send(&["EXEC"]);
    assert_eq!(r.read(), Value::ok());
    for _ in &keys {
        assert_eq!(r.read(), Value::Simple("QUEUED".into()));
    }
    match r.read() {
        Value::Error(e) => assert!(
            e.starts_with("ERR transaction aborted: its lock lease"),
            "{e}"
        ),
        other => panic!("EXEC answered {other:?}"),
    }
    assert_eq!(r.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert!(!assert_whole_and_unlocked(&server, &keys, "new"));
}

#[test]
fn requests_to_a_worker_whose_inbox_died_fail_instead_of_hanging() {
    let _serial = exclusive();
    let (server, keys) = setup();
    // The next letter any worker receives kills that worker's inbox task:
    // the GET's letter to worker 1.
    arm("worker::receive", "1*panic");
    let answer = send_until_close(
        server.core_addrs()[0],
        format!("GET {}\n", keys[1]).as_bytes(),
    );
    let mesg = error_mesg(answer.trim_end());
    assert!(mesg.contains("a worker is unavailable"), "{mesg}");
    // Later letters to it fail at once.
    let answer = send_until_close(
        server.core_addrs()[0],
        format!("GET {}\n", keys[1]).as_bytes(),
    );
    assert!(answer.contains("a worker is unavailable"), "{answer:?}");
    // A transaction that needs it fails whole, and locks nothing elsewhere.
    let answer = send_until_close(server.core_addrs()[0], &text_txn(&keys, "new"));
    assert!(answer.contains("a worker is unavailable"), "{answer:?}");
    let answer = send_until_close(server.core_addrs()[2], &resp_mset(&keys, "new"));
    assert!(answer.contains("ERR a worker is unavailable"), "{answer:?}");
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| *i != 1) {
        let mut c = Client::connect(server.core_addrs()[i]);
        assert_eq!(c.get(k).as_deref(), Some("old"), "{k}");
    }
}

/// The `corekv` binary with failpoints armed through `COREKV_FAILPOINTS`,
/// for the panic policy (which only the binary installs), and its shared
/// address.
fn spawn_binary(failpoints: &str) -> (Corekv, SocketAddr) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_corekv"));
    cmd.env("COREKV_FAILPOINTS", failpoints);
    let mut args = EPHEMERAL_2.to_vec();
    args.push("--no-pin");
    let mut corekv = Corekv::spawn_cmd(cmd, &args);
    let shared = corekv.wait_ready().shared;
    (corekv, shared)
}

/// One key on each partition of a 2-worker server.
fn two_keys(prefix: &str) -> Vec<String> {
    let topology = corekv_router::Topology::even(2).unwrap();
    keys_by_partition(&topology, prefix, 1)
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn binary_aborts_on_a_panic_inside_a_partition() {
    let (mut corekv, shared) = spawn_binary("partition::before_commit=panic");
    // The process dies mid-commit: the connection just closes.
    send_until_close(shared, &text_txn(&two_keys("abort"), "v"));
    corekv.wait_for("aborting the process");
    let status = corekv.wait_exit();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status}");
}

#[test]
fn binary_survives_a_panic_in_a_connection_task() {
    let (mut corekv, shared) = spawn_binary("2pc::between_votes=1*panic");
    let keys = two_keys("survive");
    let answer = send_until_close(shared, &text_txn(&keys, "v1"));
    assert!(
        !answer.contains("Error"),
        "closed without an answer: {answer:?}"
    );
    corekv.wait_for("a connection task panicked");
    let mut c = Client::connect(shared);
    for k in &keys {
        assert_eq!(c.get(k), None, "rolled back and unlocked: {k}");
    }
    c.send(&text_txn(&keys, "v2"));
    for _ in 0..lines(&text_txn(&keys, "v2")) {
        assert_eq!(c.read_response(), OK);
    }
    for k in &keys {
        assert_eq!(c.get(k).as_deref(), Some("v2"));
    }
    assert_eq!(corekv.child.try_wait().unwrap(), None, "still running");
}

/// A cross-partition `RENAME` (a handoff transaction) whose coordinator
/// panics or returns early at `point`: the value ends in exactly one of
/// the two keys (moved only past the commit point), no key stays locked.
/// Returns whether it moved.
fn rename_crash_at(point: &str, spec: &str) -> bool {
    let _serial = exclusive();
    let (server, keys) = setup();
    let (src, dst) = (&keys[0], &keys[1]);
    let mut r = RespConn::connect(server.core_addrs()[1]);
    assert_eq!(r.cmd(&["DEL", dst]), Value::Int(1));
    arm(point, &format!("1*{spec}"));
    let rename = request(&[b"RENAME", src.as_bytes(), dst.as_bytes()]);
    let answer = send_until_close(server.core_addrs()[0], &rename);
    if spec == "error" {
        assert!(
            answer.contains("a worker is unavailable"),
            "{point}: {answer:?}"
        );
    }
    assert_eq!(failpoint::eval(point), None, "{point}: fired");
    let old = Value::bulk("old");
    let found = r.cmd(&["MGET", src, dst]);
    let moved = match &found {
        Value::Array(v) if v[..] == [old.clone(), Value::Nil] => false,
        Value::Array(v) if v[..] == [Value::Nil, old.clone()] => true,
        other => panic!("{point} {spec}: lost or duplicated: {other:?}"),
    };
    assert_eq!(r.cmd(&["FLUSHALL"]), Value::ok(), "FLUSHALL completes");
    moved
}

#[test]
fn rename_crash_before_the_writes_keeps_the_source() {
    for spec in ["panic", "error"] {
        assert!(!rename_crash_at("handoff::before_fill", spec));
        assert!(!rename_crash_at("2pc::before_commit", spec));
    }
}

#[test]
fn rename_crash_during_commit_moves_the_value() {
    for spec in ["panic", "error"] {
        assert!(rename_crash_at("2pc::between_commits", spec));
    }
}
