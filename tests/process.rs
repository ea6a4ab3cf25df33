//! The binary's process-level limits. Shutdown always finishes: SIGTERM
//! drains for at most `--shutdown-timeout`, blocked writes included, then
//! exits 0; a second signal exits at once. The open-files limit is raised
//! for `--maxclients` or lowers it, `CONFIG SET maxclients` raises it or
//! fails as Redis's does, and a client past the descriptors left gets
//! Redis's error instead of a hang. Runs the real binary (as
//! `tests/binary.rs` does).

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::resp::{request, RespConn, Value};
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
    spawn_with_nofile_limits(nofile, nofile, extra)
}

/// [`spawn`] with the open-files limit set to `soft` and `hard`.
fn spawn_with_nofile_limits(soft: u64, hard: u64, extra: &[&str]) -> Corekv {
    spawn_cmd(
        with_nofile(Command::new(env!("CARGO_BIN_EXE_corekv")), soft, hard),
        extra,
    )
}

/// `cmd` with the open-files limit set to `soft` and `hard` in the child.
fn with_nofile(mut cmd: Command, soft: u64, hard: u64) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child between fork and exec.
    unsafe {
        cmd.pre_exec(move || set_nofile(0, soft, hard));
    }
    cmd
}

/// Sets the open-files limit of process `pid` (0: this one).
fn set_nofile(pid: libc::pid_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: prlimit reads one rlimit through a valid pointer and writes
    // nothing (null old limit); async-signal-safe (a system call).
    if unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The soft open-files limit of process `pid`.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Whether a process may raise its hard open-files limit (privileged:
/// `CAP_SYS_RESOURCE`); a child tries, after lowering it.
fn can_raise_hard_nofile() -> bool {
    use std::os::unix::process::CommandExt;
    let mut probe = with_nofile(Command::new("true"), 100, 200);
    // SAFETY: as in `with_nofile`; this second hook runs after it.
    unsafe {
        probe.pre_exec(|| match set_nofile(0, 100, 300) {
            Ok(()) => Err(std::io::Error::other("raised")),
            Err(_) => Ok(()),
        });
    }
    probe.status().is_err()
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
    let one = request(&[b"GET", key.as_bytes()]);
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
    let mut kv = spawn_with_nofile(200, &["--maxclients", "10000"]);
    let lowered = kv.wait_for("maxclients lowered");
    assert!(lowered.contains("to 152 "), "{lowered}");
    let core = core_addrs(&mut kv);
    let mut admin = RespConn::connect(core[0]);
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("152")])
    );
    // Past the descriptors left (the limit lowered to 100 under the
    // running process, as if something else held descriptors; maxclients
    // stays 152), a client is refused with the error, not left hanging.
    let pid = libc::pid_t::try_from(kv.child.id()).unwrap();
    set_nofile(pid, 100, 100).expect("prlimit on the child");
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

/// What `CONFIG SET maxclients` answers, through the `redis` crate.
fn config_set_maxclients(con: &mut redis::Connection, n: u64) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(n)
        .query(con)
}

#[test]
fn config_set_maxclients_raises_the_open_files_limit_or_refuses_as_redis() {
    if can_raise_hard_nofile() {
        eprintln!("skipped: this process may raise its hard open-files limit");
        return;
    }
    // Soft 100, hard 200; 20 clients fit without raising anything.
    let mut kv = spawn_with_nofile_limits(100, 200, &["--maxclients", "20"]);
    let shared = kv.wait_ready().shared;
    let pid = kv.child.id();
    assert_eq!(soft_nofile(pid), 100);
    let client = redis::Client::open(format!("redis://{shared}/")).unwrap();
    let mut con = client.get_connection_with_timeout(GUARD).unwrap();
    con.set_read_timeout(Some(GUARD)).unwrap();
    // The server keeps 48 descriptors (2 workers, 4 listening sockets):
    // 100 clients need 148, which the hard limit allows.
    config_set_maxclients(&mut con, 100).expect("fits under the hard limit");
    assert_eq!(soft_nofile(pid), 148);
    // 1000 clients need 1048: refused with Redis's error, naming what fits
    // under the hard limit, and the old value stays.
    let err = config_set_maxclients(&mut con, 1000).unwrap_err();
    assert_eq!(err.code(), Some("ERR"), "{err}");
    assert_eq!(
        err.detail(),
        Some(
            "CONFIG SET failed (possibly related to argument 'maxclients') - The operating system \
             is not able to handle the specified number of clients, try with 152"
        ),
        "{err}"
    );
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, ["maxclients", "100"]);
    assert_eq!(soft_nofile(pid), 200, "raised as far as it could go");
    config_set_maxclients(&mut con, 152).expect("what the error offered fits");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}
