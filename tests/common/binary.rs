//! The `corekv` binary as a child process, for the tests that need the
//! real process (signals, exit codes, start-up log, resource limits): its
//! stderr is read line by line on a thread, with a hang guard on every wait.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long start-up or exit may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Two workers on free loopback ports (the hidden `--ephemeral-ports`
/// makes `--port 0` pick free ports instead of turning them off).
pub const EPHEMERAL_2: &[&str] = &[
    "--ephemeral-ports",
    "--port",
    "0",
    "--core-port-base",
    "0",
    "--workers",
    "2",
    "--bind",
    "127.0.0.1",
];

/// A spawned `corekv`; killed (if still running) when dropped.
pub struct Corekv {
    pub child: Child,
    /// stderr, line by line, from a thread; disconnects at EOF.
    stderr: Receiver<String>,
    /// Every stderr line received so far.
    pub log: Vec<String>,
}

/// What the ready line says.
pub struct Ready {
    pub shared: SocketAddr,
    pub core_ports: Vec<u16>,
    /// The RESP port (`--resp-port`), from its log line before the ready one.
    pub resp_port: Option<u16>,
}

impl Corekv {
    /// Starts the binary with `args` (and `--log info`).
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_cmd(Command::new(env!("CARGO_BIN_EXE_corekv")), args)
    }

    /// [`spawn`](Self::spawn) with a prepared command (environment,
    /// resource limits).
    pub fn spawn_cmd(mut cmd: Command, args: &[&str]) -> Self {
        let mut child = cmd
            .args(args)
            .args(["--log", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn corekv");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).trim_end().to_string();
                        if tx.send(text).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Self {
            child,
            stderr: rx,
            log: Vec::new(),
        }
    }

    /// The next stderr line; `None` at EOF. Panics after [`DEADLINE`].
    pub fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.stderr.recv_timeout(left) {
            Ok(line) => {
                self.log.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "corekv said nothing new in time; log so far:\n{}",
                    self.log()
                )
            }
        }
    }

    /// Reads stderr up to the ready line and parses it.
    pub fn wait_ready(&mut self) -> Ready {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let Some(line) = self.next_line(deadline) else {
                panic!("corekv exited before it was ready:\n{}", self.log());
            };
            if let Some(mut ready) = parse_ready(&line) {
                ready.resp_port = self.log.iter().find_map(|l| parse_resp_port(l));
                return ready;
            }
        }
    }

    /// Reads stderr until a line contains `text`; returns that line.
    pub fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.next_line(deadline) {
                Some(line) if line.contains(text) => return line,
                Some(_) => {}
                None => panic!("corekv exited before saying {text:?}:\n{}", self.log()),
            }
        }
    }

    /// Reads stderr to EOF (the process closed it, normally by exiting).
    pub fn read_to_eof(&mut self) -> String {
        let deadline = Instant::now() + DEADLINE;
        while self.next_line(deadline).is_some() {}
        self.log()
    }

    pub fn log(&self) -> String {
        self.log.join("\n")
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits for the process to exit; panics after [`DEADLINE`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "corekv did not exit in time; log:\n{}",
                self.log()
            );
            // Polling interval of the exit check, not synchronisation.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Corekv {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses `corekv ready: N workers, shared port IP:PORT, core ports P1,P2,…`.
pub fn parse_ready(line: &str) -> Option<Ready> {
    let rest = &line[line.find("corekv ready: ")?..];
    let shared = rest.split("shared port ").nth(1)?.split(',').next()?;
    let core = rest.split("core ports ").nth(1)?;
    Some(Ready {
        shared: shared.trim().parse().ok()?,
        core_ports: core
            .trim()
            .split(',')
            .map(|p| p.parse().expect("core port"))
            .collect(),
        resp_port: None,
    })
}

/// Parses `RESP port N (…)`.
pub fn parse_resp_port(line: &str) -> Option<u16> {
    let rest = line.split("RESP port ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}
