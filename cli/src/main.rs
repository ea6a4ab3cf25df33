//! `corekv-cli`: talk to a corekv server from a terminal or a script.
//!
//! * interactive (stdin is a terminal): a `corekv HOST:PORT> ` prompt with
//!   line editing and history (`~/.corekv_history`);
//! * `--eval CMD` (repeatable): run those commands and exit;
//! * otherwise (stdin is a pipe or file): run each line of stdin.
//!
//! Replies are shown readably (`OK`, the value, pretty JSON, `(error) …`) or,
//! with `--raw`, as the server's JSON lines. Exit status: 0, or 1 if any
//! `--eval` or script command got an error reply, or 2 if the server could
//! not be reached or the connection was lost.

mod conn;
mod json;
mod render;

use anyhow::Result;
use clap::Parser;
use conn::Conn;
use render::{error_text, render};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "corekv-cli",
    version,
    about = "Command-line client for corekv",
    after_help = "Examples:\n  corekv-cli                                   interactive prompt\n  corekv-cli --eval 'PUT a 1' --eval 'GET a'   run commands and exit\n  corekv-cli < script.txt                      run a script (one command per line; # comments)"
)]
struct Args {
    /// Server host.
    #[arg(long, env = "COREKV_HOST", default_value = "127.0.0.1")]
    host: String,

    /// Server port: the shared port, or any worker's core port.
    #[arg(short, long, env = "COREKV_PORT", default_value_t = 9888)]
    port: u16,

    /// Run this command and print its reply (repeatable, in order); then
    /// exit, with status 1 if any reply was an error.
    #[arg(short, long = "eval", value_name = "CMD")]
    eval: Vec<String>,

    /// Print the server's raw JSON reply lines.
    #[arg(long)]
    raw: bool,

    /// Never color errors (also: the NO_COLOR environment variable).
    #[arg(long)]
    no_color: bool,

    /// Authenticate with this password first (`AUTH`). Prefer the
    /// environment variable: arguments are visible in `ps`.
    #[arg(
        short = 'a',
        long = "pass",
        env = "COREKV_PASSWORD",
        hide_env_values = true
    )]
    pass: Option<String>,

    /// Authenticate as this ACL user (with --pass); default: `default`.
    #[arg(long, env = "COREKV_USER")]
    user: Option<String>,
}

/// Exit status when the server cannot be reached or the connection drops.
const EXIT_CONNECTION: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal();
    let mut session = match Conn::connect(&args.host, args.port) {
        Ok(conn) => Session {
            conn,
            addr: format!("{}:{}", args.host, args.port),
            raw: args.raw,
            color,
            errors: 0,
        },
        Err(e) => {
            eprintln!(
                "corekv-cli: cannot connect to {}:{}: {e:#}",
                args.host, args.port
            );
            return ExitCode::from(EXIT_CONNECTION);
        }
    };
    if let Some(pass) = &args.pass {
        if let Err(code) = session.authenticate(args.user.as_deref(), pass) {
            return code;
        }
    }
    let result = if !args.eval.is_empty() {
        session.run_lines(args.eval.iter().map(|c| Ok(c.as_bytes().to_vec())))
    } else if io::stdin().is_terminal() {
        session.interactive()
    } else {
        session.run_lines(stdin_lines())
    };
    match result {
        Ok(()) if session.errors > 0 => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Output) => ExitCode::SUCCESS,
        Err(Stop::Connection(e)) => {
            eprintln!("corekv-cli: connection to {} lost: {e}", session.addr);
            ExitCode::from(EXIT_CONNECTION)
        }
        Err(Stop::Input(e)) => {
            eprintln!("corekv-cli: cannot read input: {e}");
            ExitCode::from(1)
        }
    }
}

/// Why a session ended early.
enum Stop {
    Connection(io::Error),
    Input(io::Error),
    /// Stdout is gone (e.g. piped into `head`).
    Output,
}

/// What to do with one input line.
enum Line<'a> {
    Skip,
    Exit,
    Send { command: &'a [u8], quit: bool },
}

/// Blank lines and `#` comments are skipped (the server sends no reply to a
/// blank line); `exit` leaves; `QUIT` is sent, then leaves.
fn classify(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() || trimmed.starts_with(b"#") {
        Line::Skip
    } else if trimmed.eq_ignore_ascii_case(b"exit") {
        Line::Exit
    } else {
        Line::Send {
            command: line,
            quit: trimmed.eq_ignore_ascii_case(b"quit"),
        }
    }
}

fn stdin_lines() -> impl Iterator<Item = io::Result<Vec<u8>>> {
    let mut stdin = io::stdin().lock();
    std::iter::from_fn(move || {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => Some(Ok(line)),
            Err(e) => Some(Err(e)),
        }
    })
}

struct Session {
    conn: Conn,
    addr: String,
    raw: bool,
    color: bool,
    /// Error replies so far.
    errors: usize,
}

impl Session {
    /// `AUTH [user] pass` before anything else; the exit code if refused.
    fn authenticate(&mut self, user: Option<&str>, pass: &str) -> Result<(), ExitCode> {
        let line = match user {
            Some(user) => format!("AUTH {user} {pass}"),
            None => format!("AUTH {pass}"),
        };
        let reply = match self.conn.request(line.as_bytes()) {
            Ok(reply) => reply,
            Err(e) => {
                eprintln!("corekv-cli: connection to {} lost: {e}", self.addr);
                return Err(ExitCode::from(EXIT_CONNECTION));
            }
        };
        let shown = render(&reply, false, false);
        if shown.is_error {
            eprintln!("corekv-cli: authentication failed: {}", shown.text);
            return Err(ExitCode::from(1));
        }
        Ok(())
    }

    /// Sends one command, prints its reply; false once the session is over.
    fn execute(&mut self, line: &[u8]) -> Result<bool, Stop> {
        let (command, quit) = match classify(line) {
            Line::Skip => return Ok(true),
            Line::Exit => return Ok(false),
            Line::Send { command, quit } => (command, quit),
        };
        let reply = self.conn.request(command).map_err(Stop::Connection)?;
        let shown = render(&reply, self.raw, self.color);
        if shown.is_error {
            self.errors += 1;
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{}", shown.text)
            .and_then(|()| out.flush())
            .map_err(|_| Stop::Output)?;
        Ok(!quit)
    }

    /// `--eval` commands or a script.
    fn run_lines(&mut self, lines: impl Iterator<Item = io::Result<Vec<u8>>>) -> Result<(), Stop> {
        for line in lines {
            if !self.execute(&line.map_err(Stop::Input)?)? {
                break;
            }
        }
        Ok(())
    }

    fn interactive(&mut self) -> Result<(), Stop> {
        let mut editor = match DefaultEditor::new() {
            Ok(editor) => editor,
            // No usable terminal after all: read stdin plainly.
            Err(_) => return self.run_lines(stdin_lines()),
        };
        let history = history_file();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        let prompt = format!("corekv {}> ", self.addr);
        let result = loop {
            match editor.readline(&prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    match self.execute(line.as_bytes()) {
                        Ok(true) => {}
                        Ok(false) => break Ok(()),
                        Err(stop) => break Err(stop),
                    }
                }
                // Ctrl-C drops the line being typed, as in a shell.
                Err(ReadlineError::Interrupted) => {}
                Err(ReadlineError::Eof) => break Ok(()),
                Err(e) => {
                    eprintln!("{}", error_text(&format!("terminal: {e}"), self.color));
                    break Ok(());
                }
            }
        };
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        // Interactive error replies were seen; they do not fail the exit.
        self.errors = 0;
        result
    }
}

/// `$HOME/.corekv_history`, if `HOME` is set.
fn history_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".corekv_history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(line: &str) -> Option<(String, bool)> {
        match classify(line.as_bytes()) {
            Line::Send { command, quit } => {
                Some((String::from_utf8(command.to_vec()).unwrap(), quit))
            }
            _ => None,
        }
    }

    #[test]
    fn line_classes() {
        assert!(matches!(classify(b""), Line::Skip));
        assert!(matches!(classify(b"  \t\r\n"), Line::Skip));
        assert!(matches!(classify(b"# a comment\n"), Line::Skip));
        assert!(matches!(classify(b"  # indented\n"), Line::Skip));
        assert!(matches!(classify(b"exit\n"), Line::Exit));
        assert!(matches!(classify(b" EXIT "), Line::Exit));
        assert_eq!(sent("GET a\r\n"), Some(("GET a".into(), false)));
        assert_eq!(sent("PUT a b c\n"), Some(("PUT a b c".into(), false)));
        assert_eq!(sent("quit\n"), Some(("quit".into(), true)));
        assert_eq!(sent(" QUIT "), Some((" QUIT ".into(), true)));
        assert_eq!(sent("QUIT now"), Some(("QUIT now".into(), false)));
    }

    #[test]
    fn args() {
        let a = Args::try_parse_from(["corekv-cli"]).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 9888));
        let a = Args::try_parse_from([
            "corekv-cli",
            "--host",
            "db",
            "-p",
            "7000",
            "--eval",
            "PUT a 1",
            "-e",
            "GET a",
            "--raw",
        ])
        .unwrap();
        assert_eq!(a.host, "db");
        assert_eq!(a.port, 7000);
        assert_eq!(a.eval, ["PUT a 1", "GET a"]);
        assert!(a.raw);
    }
}
