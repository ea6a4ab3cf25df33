//! The `corekv` binary: start-up log, serving, clean exit on SIGTERM and
//! SIGINT, and refusing ports that something else (another corekv
//! included, despite `SO_REUSEPORT`) already holds.

mod common;

use common::binary::{Corekv, EPHEMERAL_2};
use common::{ok_result, Client, OK, PONG};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

fn args_with(extra: &[&str]) -> Vec<String> {
    EPHEMERAL_2
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

fn spawn_with(extra: &[&str]) -> Corekv {
    let args = args_with(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Corekv::spawn(&refs)
}

#[test]
fn serves_then_exits_zero_on_sigterm() {
    let mut kv = Corekv::spawn(EPHEMERAL_2);
    let ready = kv.wait_ready();
    assert_eq!(
        ready.shared.ip(),
        std::net::IpAddr::from(Ipv4Addr::LOCALHOST)
    );
    assert_ne!(ready.shared.port(), 0);
    assert_eq!(ready.core_ports.len(), 2);
    let mut c = Client::connect(ready.shared);
    assert_eq!(c.cmd("PING"), PONG);
    assert_eq!(c.cmd("PUT a 1"), OK);
    assert_eq!(c.cmd("GET a"), ok_result("1"));
    for port in &ready.core_ports {
        let mut c = Client::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, *port)));
        assert_eq!(c.cmd("GET a"), ok_result("1"), "via core port {port}");
    }
    c.close();
    kv.signal(libc::SIGTERM);
    let status = kv.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", kv.read_to_eof());
}

#[test]
fn exits_zero_on_sigint_and_closes_open_connections() {
    let mut kv = Corekv::spawn(EPHEMERAL_2);
    let ready = kv.wait_ready();
    // Idle connections on every port, one inside a transaction.
    let mut clients: Vec<Client> = std::iter::once(ready.shared)
        .chain(
            ready
                .core_ports
                .iter()
                .map(|&p| SocketAddr::from((Ipv4Addr::LOCALHOST, p))),
        )
        .map(Client::connect)
        .collect();
    for c in &mut clients {
        assert_eq!(c.cmd("PING"), PONG);
    }
    assert_eq!(clients[0].cmd("START"), OK);
    assert_eq!(clients[0].cmd("PUT open txn"), OK);
    kv.signal(libc::SIGINT);
    let status = kv.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", kv.read_to_eof());
    for c in &mut clients {
        c.expect_eof();
    }
}

#[test]
fn logs_one_line_per_worker_then_ready() {
    // `--pin always`: the machine's CPU set decides `auto`.
    let mut kv = spawn_with(&["--pin", "always"]);
    let ready = kv.wait_ready();
    let topology = corekv_router::Topology::even(2).unwrap();
    for (i, partition) in topology.partitions().iter().enumerate() {
        let prefix = format!("worker {i}: ");
        let lines: Vec<&String> = kv.log.iter().filter(|l| l.contains(&prefix)).collect();
        assert_eq!(lines.len(), 1, "one line for worker {i}:\n{}", kv.log());
        let line = lines[0];
        let core = line
            .split("pinned to core ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or_else(|| panic!("no core in {line}"));
        assert!(
            core.parse::<usize>().is_ok(),
            "with --pin always a core number: {line}"
        );
        let slots: Vec<String> = partition.slots.iter().map(ToString::to_string).collect();
        assert!(
            line.contains(&format!("owns slots {}", slots.join(","))),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "listens on ports {}, {}",
                ready.shared.port(),
                ready.core_ports[i]
            )),
            "{line}"
        );
    }
    assert_eq!(
        kv.log.iter().filter(|l| l.contains("worker ")).count(),
        2,
        "{}",
        kv.log()
    );
    let ready_line = kv.log.last().unwrap();
    assert!(
        ready_line.contains("corekv ready: 2 workers"),
        "{ready_line}"
    );
    // The slot ranges of the two workers are 0-8191 and 8192-16383.
    assert!(kv.log().contains("owns slots 0-8191,"), "{}", kv.log());
    assert!(kv.log().contains("owns slots 8192-16383,"), "{}", kv.log());
}

/// Once the ready line is out, SIGTERM must mean a clean shutdown (exit 0),
/// however soon it comes: supervisors send it as soon as they like.
#[test]
fn sigterm_right_after_the_ready_line_exits_zero() {
    for attempt in 0..5 {
        let mut kv = Corekv::spawn(EPHEMERAL_2);
        kv.wait_ready();
        kv.signal(libc::SIGTERM);
        let status = kv.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "attempt {attempt}: {status} (killed by the signal instead of shutting down?); log:\n{}",
            kv.read_to_eof()
        );
    }
}

#[test]
fn no_pin_flag_is_logged() {
    for flags in [&["--no-pin"][..], &["--pin", "never"]] {
        let mut kv = spawn_with(flags);
        kv.wait_ready();
        assert!(
            kv.log().contains("workers not pinned: --pin never"),
            "{flags:?}:\n{}",
            kv.log()
        );
        assert_unpinned(&kv, 2);
    }
}

fn assert_unpinned(kv: &Corekv, workers: usize) {
    for i in 0..workers {
        let line = kv
            .log
            .iter()
            .find(|l| l.contains(&format!("worker {i}: ")))
            .unwrap_or_else(|| panic!("no line for worker {i}:\n{}", kv.log()));
        assert!(
            line.contains("not pinned") && !line.contains("pinned to core"),
            "an unpinned worker names no core: {line}"
        );
    }
}

/// `--pin auto` (the default) never pins more workers than the process
/// has CPUs: two containers with a CPU quota would otherwise stack on the
/// same first cores.
#[test]
fn auto_pinning_leaves_workers_unpinned_when_they_do_not_match_the_cpus() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = (cpus + 1).to_string();
    let args: Vec<&str> = EPHEMERAL_2
        .iter()
        .map(|a| if *a == "2" { workers.as_str() } else { a })
        .collect();
    let mut kv = Corekv::spawn(&args);
    kv.wait_ready();
    assert!(kv.log().contains("workers not pinned: "), "{}", kv.log());
    assert_unpinned(&kv, cpus + 1);
}

#[test]
fn size_flags_are_honoured() {
    let mut kv = spawn_with(&["--max-line-bytes", "1kb", "--max-txn-bytes", "2kb"]);
    let ready = kv.wait_ready();
    let mut c = Client::connect(ready.shared);
    let mesg = common::error_mesg(&c.cmd(&format!("PUT k {}", "v".repeat(1100))));
    assert!(mesg.starts_with("line too long (max 1024 bytes)"), "{mesg}");
    assert_eq!(c.cmd(&format!("PUT k {}", "v".repeat(1000))), OK);
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd(&format!("PUT t1 {}", "v".repeat(1000))), OK);
    let mesg = common::error_mesg(&c.cmd(&format!("PUT t2 {}", "v".repeat(1000))));
    assert!(mesg.starts_with("transaction too large"), "{mesg}");
    assert_eq!(c.cmd("ROLLBACK"), OK);
}

#[test]
fn refuses_a_port_in_use_with_exit_1() {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let mut kv = Corekv::spawn(&[
        "--ephemeral-ports",
        "--port",
        &port,
        "--core-port-base",
        "0",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1",
    ]);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert_refusal_message(&log, &port);
    drop(holder);
}

/// Exit 1 and a message naming the port, "in use" and "another corekv".
fn assert_refusal_message(log: &str, port: &str) {
    let lower = log.to_lowercase();
    assert!(lower.contains("in use"), "mentions 'in use':\n{log}");
    assert!(
        lower.contains(&format!(":{port}")),
        "names the port:\n{log}"
    );
    assert!(
        lower.contains("another corekv"),
        "hints at another corekv:\n{log}"
    );
    assert!(!lower.contains("corekv ready"), "never ready:\n{log}");
}

/// The `SO_REUSEPORT` trap: a second corekv must not silently join the
/// first one's shared port (and take part of its connections).
#[test]
fn second_corekv_on_the_same_port_is_refused() {
    let mut first = Corekv::spawn(EPHEMERAL_2);
    let ready = first.wait_ready();
    let port = ready.shared.port().to_string();
    let mut second = Corekv::spawn(&[
        "--ephemeral-ports",
        "--port",
        &port,
        "--core-port-base",
        "0",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1",
    ]);
    let status = second.wait_exit();
    let log = second.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert_refusal_message(&log, &port);
    // The first one still owns every shared-port connection.
    for i in 0..20 {
        let mut c = Client::connect(ready.shared);
        assert_eq!(c.cmd(&format!("PUT first{i} {i}")), OK);
        assert_eq!(c.cmd("GET first0"), ok_result("0"));
    }
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit().code(), Some(0));
}

/// The same trap with a foreign listener that set `SO_REUSEPORT`.
#[test]
fn port_held_by_a_reuseport_listener_is_refused() {
    let (holder, port) = reuseport_listener();
    let port = port.to_string();
    let mut kv = Corekv::spawn(&[
        "--ephemeral-ports",
        "--port",
        &port,
        "--core-port-base",
        "0",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1",
    ]);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert_refusal_message(&log, &port);
    drop(holder);
}

/// A listener on 127.0.0.1 with `SO_REUSEADDR` and `SO_REUSEPORT` set, as
/// another corekv (or any reuseport server) would have.
fn reuseport_listener() -> (TcpListener, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket syscalls on a fresh fd that we own; the structs
    // passed are fully initialised and their sizes given correctly.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let listener = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            let rc = libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
        }
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let rc = libc::listen(fd, 16);
        assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }
}

#[test]
fn invalid_flags_are_rejected() {
    let mut kv = Corekv::spawn(&["--workers", "0", "--port", "0", "--core-port-base", "0"]);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert!(!status.success(), "--workers 0 must fail:\n{log}");
    assert!(log.contains("--workers"), "{log}");
}

/// Without `--bind` the server listens on loopback only: 127.0.0.1, and
/// ::1 where the machine has IPv6 (skipped with a log line where not).
#[test]
fn binds_loopback_by_default() {
    let mut kv = Corekv::spawn(&[
        "--ephemeral-ports",
        "--port",
        "0",
        "--core-port-base",
        "0",
        "--workers",
        "1",
    ]);
    let ready = kv.wait_ready();
    assert_eq!(
        ready.shared.ip(),
        std::net::IpAddr::from(Ipv4Addr::LOCALHOST)
    );
    let listening = kv
        .log
        .iter()
        .find_map(|l| l.split("listening on ").nth(1))
        .unwrap_or_else(|| panic!("no 'listening on' line:\n{}", kv.log()))
        .trim()
        .to_string();
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, ready.shared.port()));
    if listening == "127.0.0.1, ::1" {
        assert_eq!(Client::connect(v6).cmd("PING"), PONG);
        let core = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, ready.core_ports[0]));
        assert_eq!(Client::connect(core).cmd("PING"), PONG);
    } else {
        assert_eq!(listening, "127.0.0.1", "{}", kv.log());
        assert!(kv.log().contains("not listening on ::1"), "{}", kv.log());
    }
    assert_eq!(Client::connect(ready.shared).cmd("PING"), PONG);
}

/// `--port 0` turns the plain ports off; with nothing else to listen on the
/// server refuses to start.
#[test]
fn port_0_turns_the_plain_ports_off() {
    let mut kv = Corekv::spawn(&["--port", "0", "--workers", "1", "--bind", "127.0.0.1"]);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert!(log.contains("nothing to listen on"), "{log}");
    let mut kv = Corekv::spawn(&[
        "--port",
        "7000",
        "--core-port-base",
        "0",
        "--bind",
        "127.0.0.1",
    ]);
    let status = kv.wait_exit();
    let log = kv.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert!(log.contains("--core-port-base 0"), "{log}");
}

/// The TLS flags on the command line: a shared TLS port and TLS core ports
/// (free ports here), served next to the plain ones.
#[test]
fn tls_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("corekv-binary-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let certified = rcgen::generate_simple_self_signed(sans).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let mut kv = spawn_with(&[
        "--tls-cluster",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let ready = kv.wait_ready();
    let _ = std::fs::remove_dir_all(&dir);
    let tls_line = kv
        .log
        .iter()
        .find_map(|l| l.split("TLS port ").nth(1))
        .unwrap_or_else(|| panic!("no TLS line:\n{}", kv.log()))
        .to_string();
    let (shared, cores) = tls_line.split_once(", TLS core ports ").unwrap();
    let mut ports: Vec<&str> = vec![shared];
    ports.extend(cores.trim().split(','));
    assert_eq!(ports.len(), 3, "{tls_line}");
    let tls = ["--tls", "--insecure"];
    for port in &ports {
        let port: u16 = port.parse().unwrap();
        assert_eq!(
            common::resp::cli_with(port, &tls, &["PING"]),
            "PONG",
            "{port}"
        );
    }
    let slots = common::resp::cli_with(ports[1].parse().unwrap(), &tls, &["CLUSTER", "SLOTS"]);
    assert!(slots.contains(ports[2]), "{slots}");
    assert_eq!(Client::connect(ready.shared).cmd("PING"), PONG);
}

/// The process's resident memory, from `/proc/<pid>/status`, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Filled far beyond `--maxmemory 64mb` (4x, with 1 KB values), the process
/// stays within the documented margin: 1.3x the limit plus a fixed 32 MiB
/// for the runtime, buffers and allocator caches (README "Memory and
/// eviction").
#[test]
fn rss_stays_within_the_documented_margin_of_maxmemory() {
    for policy in ["sieve", "allkeys-lru", "noeviction"] {
        fill_far_beyond_maxmemory(policy);
    }
}

fn fill_far_beyond_maxmemory(policy: &str) {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let mut kv = spawn_with(&["--maxmemory", "64mb", "--eviction-policy", policy]);
    let ready = kv.wait_ready();
    let base = rss_bytes(kv.child.id());
    let value = "v".repeat(1000);
    let mut c = Client::connect(ready.shared);
    let total = 4 * LIMIT as usize / 1000;
    let batch = 2_000;
    let mut refused = 0;
    for start in (0..total).step_by(batch) {
        let mut lines = String::with_capacity(batch * 1024);
        for i in start..(start + batch).min(total) {
            lines.push_str(&format!("PUT fill:{i:09} {value}\n"));
        }
        c.send(lines.as_bytes());
        for _ in start..(start + batch).min(total) {
            let reply = c.read_response();
            if reply != OK {
                assert!(
                    policy == "noeviction" && reply.contains("out of memory"),
                    "{policy}: {reply}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused > 0,
        policy == "noeviction",
        "{policy}: {refused} refused"
    );
    let rss = rss_bytes(kv.child.id());
    let stats: serde_json::Value = serde_json::from_str(&c.cmd("STATS")).unwrap();
    let used = stats["result"]["total"]["memory_bytes"].as_u64().unwrap();
    println!(
        "{policy}: maxmemory 64 MiB, accounted {used} B, RSS {rss} B, base {base} B, (RSS - base) / limit = {:.3}",
        (rss - base) as f64 / LIMIT as f64
    );
    assert!(used <= LIMIT, "{policy}: accounting {used} > limit");
    let fixed = 32 * 1024 * 1024;
    assert!(
        rss <= LIMIT * 13 / 10 + fixed,
        "{policy}: RSS {rss} > 1.3 x {LIMIT} + {fixed} (started at {base})"
    );
    // Still serving.
    assert_eq!(c.cmd("PING"), PONG);
}

/// Sends `input` on a fresh connection, closes the sending side and reads
/// the answer up to the server's close.
fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    s.write_all(input).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    out
}

/// `--resp-port` (a free one here, with `--ephemeral-ports`), and
/// `COREKV_RESP_PORT`: every connection there speaks RESP, so a first
/// line without `*` is an inline command; a second corekv is refused it.
#[test]
fn resp_port_speaks_resp_from_the_first_byte() {
    let mut kv = spawn_with(&["--resp-port", "0"]);
    let ready = kv.wait_ready();
    let port = ready.resp_port.expect("the RESP port is logged");
    let resp = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert_eq!(
        exchange(resp, b"SET a 1\r\nGET a\r\n"),
        b"+OK\r\n$1\r\n1\r\n"
    );
    let text = exchange(ready.shared, b"GET a\n");
    assert_eq!(String::from_utf8_lossy(&text), ok_result("1") + "\n");
    let mut second = spawn_with(&["--resp-port", &port.to_string()]);
    let status = second.wait_exit();
    let log = second.read_to_eof();
    assert_eq!(status.code(), Some(1), "log:\n{log}");
    assert_refusal_message(&log, &port.to_string());
    kv.signal(libc::SIGTERM);
    assert_eq!(kv.wait_exit().code(), Some(0));

    // Without the flag there is none; the variable sets it as well.
    let mut kv = Corekv::spawn(EPHEMERAL_2);
    assert_eq!(kv.wait_ready().resp_port, None);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_corekv"));
    cmd.env("COREKV_RESP_PORT", "0");
    let mut kv = Corekv::spawn_cmd(cmd, EPHEMERAL_2);
    let port = kv.wait_ready().resp_port.expect("from COREKV_RESP_PORT");
    let resp = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert_eq!(exchange(resp, b"PING\r\n"), b"+PONG\r\n");
}
