//! The binary's process-level limits. Shutdown always finishes: SIGTERM
//! drains for at most `--shutdown-timeout`, blocked writes included, then
//! exits 0; a second signal exits at once. The open-files limit is raised
//! for `--maxclients` or lowers it, and a client past the descriptors left
//! gets Redis's error instead of a hang. Runs the real binary (as
//! `tests/binary.rs` does).

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::resp::{RespConn, Value};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

/// Hang guard for waits in these tests.
const GUARD: Duration = Duration::from_secs(20);

/// Two workers on free loopback ports, plus `extra`.
fn spawn(extra: &[&str]) -> Corekv {
    spawn_cmd(Command::new(env!("CARGO_BIN_EXE_corekv")), extra)
}

/// [`spawn`] with the open-files limit (soft and hard) set to `nofile`.
fn spawn_with_nofile(nofile: u64, extra: &[&str]) -> Corekv {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corekv"));
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    spawn_cmd(cmd, extra)
}

fn spawn_cmd(cmd: Command, extra: &[&str]) -> Corekv {
    let mut args = EPHEMERAL_2.to_vec();
    args.push("--no-pin");
    args.extend_from_slice(extra);
    Corekv::spawn_cmd(cmd, &args)
}

/// The core ports, from the ready line.
fn core_addrs(kv: &mut Corekv) -> Vec<SocketAddr> {
    let ready = kv.wait_ready();
    ready
        .core_ports
        .iter()
        .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect()
}

/// A client on worker 0 that asks for 64 MiB of replies forwarded from
/// worker 1 and never reads them, returned once the server is writing.
fn blocked_reader(core: &[SocketAddr]) -> RespConn {
    // The server splits the slots evenly, as `Topology::even` does.
    let topology = corekv_router::Topology::even(2).unwrap();
    let key = common::keys_by_partition(&topology, "big", 1)[1][0].clone();
    let mut owner = RespConn::connect(core[1]);
    let value = vec![b'v'; 1 << 20];
    owner.send_bytes(&[b"SET", key.as_bytes(), &value]);
    assert_eq!(owner.read(), Value::ok());
    let mut greedy = RespConn::connect(core[0]);
    let one = RespConn::encode(&[b"GET", key.as_bytes()]);
    greedy.send_raw(&one.repeat(64));
    // The batch is counted once processed, just before it is written.
    let deadline = Instant::now() + GUARD;
    while forwarded(&mut owner) < 64 {
        assert!(Instant::now() < deadline, "the pipeline was never served");
        std::thread::sleep(Duration::from_millis(20));
    }
    greedy
}

fn forwarded(c: &mut RespConn) -> u64 {
    let text = c.cmd(&["INFO", "stats"]).text();
    text.lines()
        .find_map(|l| l.strip_prefix("forwarded_commands:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn sigterm_with_a_client_that_never_reads_exits_after_the_drain_window() {
    let mut kv = spawn(&[
        "--shutdown-timeout",
        "1",
        "--client-output-buffer-limit",
        "0 0 0",
    ]);
    let core = core_addrs(&mut kv);
    let _greedy = blocked_reader(&core);
    kv.signal(libc::SIGTERM);
    kv.wait_for("drain window over");
    let status = kv.wait_exit();
    assert!(status.success(), "{status}");
}

#[test]
fn second_signal_exits_at_once() {
    let mut kv = spawn(&[
        "--shutdown-timeout",
        "600",
        "--client-output-buffer-limit",
        "0 0 0",
    ]);
    let core = core_addrs(&mut kv);
    let _greedy = blocked_reader(&core);
    kv.signal(libc::SIGTERM);
    kv.wait_for("shutting down");
    kv.signal(libc::SIGINT);
    let status = kv.wait_exit();
    assert_eq!(status.code(), Some(1), "{status}");
    kv.wait_for("second signal");
}

#[test]
fn open_files_limit_lowers_maxclients_and_refuses_past_it() {
    let mut kv = spawn_with_nofile(100, &["--maxclients", "10000"]);
    let lowered = kv.wait_for("maxclients lowered");
    assert!(lowered.contains("to 52 "), "{lowered}");
    let core = core_addrs(&mut kv);
    let mut admin = RespConn::connect(core[0]);
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("52")])
    );
    // Past the descriptors left (maxclients raised live beyond them), a
    // client is refused with the error, not left hanging.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxclients", "1000"]),
        Value::ok()
    );
    let mut held = Vec::new();
    let refused = (0..200).find_map(|_| {
        let mut c = RespConn::connect(core[0]);
        c.send(&["PING"]);
        match c.read() {
            Value::Simple(_) => {
                held.push(c);
                None
            }
            other => Some(other),
        }
    });
    assert_eq!(
        refused,
        Some(Value::Error("ERR max number of clients reached".into()))
    );
    assert!(
        held.len() < 100,
        "{} clients on 100 descriptors",
        held.len()
    );
    assert_eq!(admin.cmd(&["PING"]), Value::Simple("PONG".into()));
    kv.wait_for("out of file descriptors");
}
