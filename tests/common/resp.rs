//! RESP helpers for the Redis-compatibility tests: finding the external
//! tools (`redis-cli`, `redis-benchmark`, `python3`), running them, a
//! minimal blocking RESP2 client that shows the raw reply structure, and
//! `INFO workers` parsing.
//!
//! A missing tool is a test failure with an install hint, never a skip.

use super::IO_TIMEOUT;
pub use corekv_router::resp::request;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The path of `name` on `PATH`; panics with `install` as the hint if it is
/// not there.
pub fn tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{name}` is not on PATH; these tests need it: {install}");
}

pub fn redis_cli_path() -> PathBuf {
    tool(
        "redis-cli",
        "install Debian's redis-tools (apt-get install redis-tools)",
    )
}

pub fn redis_benchmark_path() -> PathBuf {
    tool(
        "redis-benchmark",
        "install Debian's redis-tools (apt-get install redis-tools)",
    )
}

/// Shows a finished process's output for a failure message.
pub fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How long one external tool run may take before the test fails (a
/// guard against a server reply that leaves the tool waiting).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` with `input` on its stdin (or none), collecting its output;
/// kills it and panics if it is still running after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let feeder = child.stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default().to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        })
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{what} did not finish within {timeout:?} (killed)\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p port <flags> <args>` (the command in the
/// arguments, so one connection per call) and returns the process output.
pub fn redis_cli_output(port: u16, flags: &[&str], args: &[&str]) -> Output {
    let mut cmd = Command::new(redis_cli_path());
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(flags)
        .args(args);
    run_with_timeout(&mut cmd, None, TOOL_TIMEOUT)
}

/// `redis-cli --no-raw -p port args…`: its stdout without the final
/// newline; panics if redis-cli fails or writes to stderr.
pub fn cli(port: u16, args: &[&str]) -> String {
    cli_with(port, &["--no-raw"], args)
}

/// `redis-cli --raw -p port args…`.
pub fn cli_raw(port: u16, args: &[&str]) -> String {
    cli_with(port, &["--raw"], args)
}

pub fn cli_with(port: u16, flags: &[&str], args: &[&str]) -> String {
    let out = redis_cli_output(port, flags, args);
    let what = format!("redis-cli {flags:?} {args:?}");
    checked_stdout(&what, out)
}

/// Feeds `input` (one command per line) to one `redis-cli` process, so
/// that all the commands share one connection; returns stdout without the
/// final newline.
pub fn cli_stdin(port: u16, flags: &[&str], input: &str) -> String {
    let mut cmd = Command::new(redis_cli_path());
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(flags);
    let out = run_with_timeout(&mut cmd, Some(input), TOOL_TIMEOUT);
    let what = format!("redis-cli {flags:?} with stdin {input:?}");
    checked_stdout(&what, out)
}

fn checked_stdout(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{}", describe(what, &out));
    assert!(out.stderr.is_empty(), "{}", describe(what, &out));
    let mut s = String::from_utf8(out.stdout).expect("redis-cli prints UTF-8");
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// A RESP2 reply, keeping the distinctions a client library would blur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    Array(Vec<Value>),
    /// `*-1`
    NilArray,
}

impl Value {
    pub fn bulk(s: &str) -> Self {
        Self::Bulk(s.as_bytes().to_vec())
    }

    pub fn ok() -> Self {
        Self::Simple("OK".into())
    }

    /// The text of a bulk or simple string; panics otherwise.
    pub fn text(&self) -> String {
        match self {
            Self::Bulk(b) => String::from_utf8(b.clone()).expect("UTF-8 bulk"),
            Self::Simple(s) => s.clone(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }
}

/// A numeric `field` of `INFO section`.
pub fn info_field(c: &mut RespConn, section: &str, field: &str) -> u64 {
    let text = c.cmd(&["INFO", section]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// A blocking RESP2 client: one request out, one reply in, raw structure.
pub struct RespConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RespConn {
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

    pub fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_bytes(&args);
    }

    pub fn send_bytes(&mut self, args: &[&[u8]]) {
        self.writer
            .write_all(&request(args))
            .expect("write to server");
    }

    pub fn cmd(&mut self, args: &[&str]) -> Value {
        self.send(args);
        self.read()
    }

    /// Reads one reply; panics on EOF, timeout or a malformed reply.
    pub fn read(&mut self) -> Value {
        let line = self.line();
        let (tag, rest) = line.split_at(1);
        match tag {
            "+" => Value::Simple(rest.to_string()),
            "-" => Value::Error(rest.to_string()),
            ":" => Value::Int(rest.parse().unwrap_or_else(|_| panic!("bad int {line:?}"))),
            "$" => {
                let n: i64 = rest.parse().unwrap_or_else(|_| panic!("bad bulk {line:?}"));
                if n < 0 {
                    return Value::Nil;
                }
                let mut buf = vec![0; n as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk body");
                assert_eq!(&buf[n as usize..], b"\r\n", "bulk not CRLF-terminated");
                buf.truncate(n as usize);
                Value::Bulk(buf)
            }
            "*" => {
                let n: i64 = rest
                    .parse()
                    .unwrap_or_else(|_| panic!("bad array {line:?}"));
                if n < 0 {
                    return Value::NilArray;
                }
                Value::Array((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("not a RESP reply: {line:?}"),
        }
    }

    /// Reads one raw reply line (without its CRLF), e.g. an array header.
    pub fn read_line(&mut self) -> String {
        self.line()
    }

    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => panic!("server closed the connection instead of answering"),
            Ok(_) => {}
            Err(e) => panic!("no reply from the server: {e}"),
        }
        assert!(
            buf.ends_with(b"\r\n"),
            "reply line not CRLF-terminated: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).expect("UTF-8 reply line")
    }

    /// This client's end of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.writer.local_addr().expect("local address")
    }

    /// Writes raw bytes (a pipeline of encoded requests).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to server");
    }

    /// Reads until the server closes; the number of bytes read.
    pub fn read_rest(&mut self) -> usize {
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        rest.len()
    }

    /// True if the server closed the connection (after any pending bytes
    /// were read by earlier calls).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// One `worker_<i>:` line of `INFO workers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub keys: u64,
    pub commands: u64,
    pub forwarded_out: u64,
    pub forwarded_in: u64,
    pub ops: u64,
    pub connections: u64,
    pub migrated_in: u64,
    pub pinned: u64,
    pub contended: u64,
}

/// Parses the `worker_<i>:k=v,…` lines of an `INFO` text, in worker order.
pub fn parse_info_workers(text: &str) -> Vec<WorkerStats> {
    let mut workers = Vec::new();
    for line in text.lines() {
        let Some((name, fields)) = line.trim_end().split_once(':') else {
            continue;
        };
        let Some(i) = name.strip_prefix("worker_") else {
            continue;
        };
        let i: usize = i.parse().unwrap_or_else(|_| panic!("bad line {line:?}"));
        assert_eq!(i, workers.len(), "workers out of order in {text:?}");
        let mut w = WorkerStats::default();
        for field in fields.split(',') {
            let (k, v) = field
                .split_once('=')
                .unwrap_or_else(|| panic!("bad field {field:?} in {line:?}"));
            let v: u64 = v
                .parse()
                .unwrap_or_else(|_| panic!("bad number {v:?} in {line:?}"));
            match k {
                "keys" => w.keys = v,
                "commands" => w.commands = v,
                "forwarded_out" => w.forwarded_out = v,
                "forwarded_in" => w.forwarded_in = v,
                "ops" => w.ops = v,
                "connections" => w.connections = v,
                "migrated_in" => w.migrated_in = v,
                "pinned" => w.pinned = v,
                "contended" => w.contended = v,
                _ => {}
            }
        }
        workers.push(w);
    }
    workers
}

/// `INFO workers` over a fresh RESP connection to `addr`.
pub fn worker_stats(addr: SocketAddr) -> Vec<WorkerStats> {
    let mut c = RespConn::connect(addr);
    let text = c.cmd(&["INFO", "workers"]).text();
    let workers = parse_info_workers(&text);
    assert!(!workers.is_empty(), "no worker lines in {text:?}");
    workers
}
