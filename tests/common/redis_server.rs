//! A real `redis-server` as a child process, for differential tests: corekv
//! and Redis get the same commands and must give the same bytes back.
//!
//! A missing `redis-server` is a failure with an install hint, never a skip.

use super::resp::tool;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on a free loopback port, with persistence off; killed
/// when dropped.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    pub fn start() -> Self {
        let path = tool(
            "redis-server",
            "install Debian's redis-server (apt-get install redis-server)",
        );
        // A free port, then a retry if another process took it meanwhile.
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&path)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args([
                    "--loglevel",
                    "warning",
                    "--dir",
                    &std::env::temp_dir().to_string_lossy(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("redis-server starts");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            if wait_listening(&mut child, addr) {
                return Self { child, addr };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on a free port in 10 tries");
    }
}

/// Waits until `addr` accepts connections, or the child exits (port taken).
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            if let Some(err) = child.stderr.take() {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("redis-server: {line}");
                }
            }
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
