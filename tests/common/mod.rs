//! Shared helpers for the integration tests: an in-process server on
//! ephemeral ports, a small blocking line client, key pickers that use the
//! server's topology, and a tiny deterministic RNG.
//!
//! Every socket gets a read/write timeout: it is only a guard that turns a
//! hang into a failure, never a way to wait for the server.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod binary;
pub mod collections;
pub mod redis_server;
pub mod resp;

use corekv::{Config, Server};
use corekv_router::Topology;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// `{"status": "Ok"}`
pub const OK: &str = r#"{"status": "Ok"}"#;
/// The answer to `GET` on an absent key.
pub const NOT_FOUND: &str = r#"{"status": "Error", "mesg": "key not found"}"#;
/// The answer to `PING`.
pub const PONG: &str = r#"{"status": "Ok", "result": "PONG"}"#;

/// Failure guard for socket reads and writes.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A test configuration: loopback, ephemeral ports, no core pinning (the
/// tests run many servers side by side).
pub fn config(workers: u16) -> Config {
    let mut config = Config::ephemeral(workers);
    config.no_pin = true;
    config
}

/// Starts an in-process server with [`config`].
pub fn start(workers: u16) -> Server {
    start_with(&config(workers))
}

/// A thread that spins (on `cpu` when given, else wherever it runs) until
/// `stop` is set or `bound` has passed: CPU contention for the tests of
/// what the workers do when they wait for a CPU.
pub fn hog(
    cpu: Option<usize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    bound: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Some(id) = cpu {
            assert!(core_affinity::set_for_current(core_affinity::CoreId { id }));
        }
        let end = std::time::Instant::now() + bound;
        let mut x = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < end {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
    })
}

pub fn start_with(config: &Config) -> Server {
    Server::start(config).expect("server starts")
}

/// Every address a client may use: the shared port, then each core port.
pub fn all_addrs(server: &Server) -> Vec<SocketAddr> {
    let mut addrs = vec![server.shared_addr()];
    addrs.extend_from_slice(server.core_addrs());
    addrs
}

/// A total of the text protocol's `STATS` (summed over the workers).
pub fn total_stat(addr: SocketAddr, name: &str) -> u64 {
    let mut c = Client::connect(addr);
    let line = c.cmd("STATS");
    let v: serde_json::Value = serde_json::from_str(&line).expect("STATS is JSON");
    v["result"]["total"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// Polls `STATS` until `name` reaches `want` ([`IO_TIMEOUT`]: a hang
/// guard).
pub fn wait_stat(addr: SocketAddr, name: &str, want: u64) {
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        let got = total_stat(addr, name);
        if got >= want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} stayed at {got}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `{"status": "Ok", "result": "<value JSON-escaped>"}`
pub fn ok_result(value: &str) -> String {
    format!(
        r#"{{"status": "Ok", "result": {}}}"#,
        serde_json::to_string(value).unwrap()
    )
}

/// `{"status": "Error", "mesg": "<mesg JSON-escaped>"}`
pub fn error(mesg: &str) -> String {
    format!(
        r#"{{"status": "Error", "mesg": {}}}"#,
        serde_json::to_string(mesg).unwrap()
    )
}

/// The `mesg` of an error response; panics if `line` is not one.
pub fn error_mesg(line: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    assert_eq!(v["status"], "Error", "expected an error: {line}");
    v["mesg"]
        .as_str()
        .unwrap_or_else(|| panic!("no mesg: {line}"))
        .to_string()
}

/// A blocking line client: one command line out, one response line in.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let writer = stream.try_clone().unwrap();
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// A second handle on the socket, for a writer thread.
    pub fn writer(&self) -> TcpStream {
        self.writer.try_clone().unwrap()
    }

    /// Sets the read timeout (the default is [`IO_TIMEOUT`]).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to server");
    }

    /// Sends `line` plus `\n` and returns the one response line, without
    /// its `\n`.
    pub fn cmd(&mut self, line: &str) -> String {
        self.cmd_bytes(line.as_bytes())
    }

    /// [`cmd`](Self::cmd) for a line that need not be UTF-8.
    pub fn cmd_bytes(&mut self, line: &[u8]) -> String {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        self.send(&bytes);
        self.read_response()
    }

    /// Reads one response line; checks it ends in exactly `\n` and returns
    /// it without. Panics on EOF or timeout.
    pub fn read_response(&mut self) -> String {
        match self.try_read_response() {
            Ok(Some(line)) => line,
            Ok(None) => panic!("server closed the connection instead of answering"),
            Err(e) => panic!("no response from the server: {e}"),
        }
    }

    /// One response line, `Ok(None)` on EOF, `Err` on timeout or error.
    pub fn try_read_response(&mut self) -> std::io::Result<Option<String>> {
        let mut buf = Vec::new();
        self.reader.read_until(b'\n', &mut buf)?;
        if buf.is_empty() {
            return Ok(None);
        }
        assert_eq!(
            buf.last(),
            Some(&b'\n'),
            "response cut short: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.pop();
        assert_ne!(buf.last(), Some(&b'\r'), "responses end in \\n only");
        Ok(Some(String::from_utf8(buf).expect("responses are UTF-8")))
    }

    /// Asserts that the server closed the connection with nothing more to
    /// say.
    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "unexpected bytes before EOF: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            // A reset also means the server closed the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected EOF, got {e}"),
        }
    }

    /// Closes the connection (both directions).
    pub fn close(self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }

    pub fn put(&mut self, key: &str, value: &str) {
        assert_eq!(self.cmd(&format!("PUT {key} {value}")), OK, "PUT {key}");
    }

    pub fn del(&mut self, key: &str) {
        assert_eq!(self.cmd(&format!("DEL {key}")), OK, "DEL {key}");
    }

    /// `GET key`: `Some(value)`, or `None` for "key not found"; panics on
    /// any other answer.
    pub fn get(&mut self, key: &str) -> Option<String> {
        let line = self.cmd(&format!("GET {key}"));
        parse_get(&line)
    }
}

/// Decodes a `GET` response: `Some(value)` or `None` for "key not found".
pub fn parse_get(line: &str) -> Option<String> {
    if line == NOT_FOUND {
        return None;
    }
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    assert_eq!(v["status"], "Ok", "GET failed: {line}");
    Some(
        v["result"]
            .as_str()
            .unwrap_or_else(|| panic!("no result: {line}"))
            .to_string(),
    )
}

/// `per` keys owned by each partition: `result[p]` are keys `prefix<n>`
/// that `topology` places on partition `p`.
pub fn keys_by_partition(topology: &Topology, prefix: &str, per: usize) -> Vec<Vec<String>> {
    let mut keys = vec![Vec::new(); topology.len()];
    for n in 0.. {
        if keys.iter().all(|k: &Vec<String>| k.len() >= per) {
            break;
        }
        let key = format!("{prefix}{n}");
        let p = topology.partition_of_key(key.as_bytes());
        if keys[p].len() < per {
            keys[p].push(key);
        }
    }
    keys
}

/// A small deterministic xorshift generator (no extra dependency).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
