//! Lines → commands: the text protocol's parser.
//!
//! A command is one line ending in `\n` (a `\r` before it is dropped), UTF-8,
//! with a case-insensitive command word. Leading and trailing spaces/tabs are
//! ignored; an empty line is no command. For `PUT` the value is the rest of
//! the line after the whitespace that follows the key.
//!
//! [`parse`] never allocates: commands borrow the connection's read buffer,
//! and it checks for a complete line before looking at anything else.

use memchr::memchr;
use std::fmt;

/// One text-protocol command, borrowing the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Get {
        key: &'a [u8],
    },
    Put {
        key: &'a [u8],
        value: &'a [u8],
    },
    Del {
        key: &'a [u8],
    },
    Watch {
        key: &'a [u8],
    },
    Unwatch,
    /// `EXPIRE key seconds` / `PEXPIRE key ms`, as milliseconds from now.
    Expire {
        key: &'a [u8],
        ttl_ms: i64,
    },
    Ttl {
        key: &'a [u8],
    },
    Persist {
        key: &'a [u8],
    },
    /// `PUTEX key seconds value`: a `PUT` with a time to live.
    PutEx {
        key: &'a [u8],
        secs: i64,
        value: &'a [u8],
    },
    /// `AUTH password` or `AUTH user password`.
    Auth {
        user: Option<&'a [u8]>,
        password: &'a [u8],
    },
    Start,
    Commit,
    Rollback,
    Ping,
    Help,
    Quit,
    Topology,
    Stats,
    Flush,
    Dbsize,
}

/// Why a line is not a valid command. The connection answers it with an
/// error response and keeps serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    UnknownCommand(String),
    WrongArity(&'static str),
    InvalidTtl(&'static str),
    InvalidUtf8,
    LineTooLong(usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCommand(word) => {
                write!(f, "unknown command '{word}' (try HELP)")
            }
            Self::WrongArity(usage) => {
                let name = usage.split(' ').next().unwrap_or(usage);
                write!(f, "wrong number of arguments for '{name}' (usage: {usage})")
            }
            Self::InvalidTtl(usage) => {
                write!(
                    f,
                    "invalid time to live: expected an integer (usage: {usage})"
                )
            }
            Self::InvalidUtf8 => write!(f, "invalid UTF-8 in command line"),
            Self::LineTooLong(max) => {
                write!(f, "line too long (max {max} bytes); line discarded")
            }
        }
    }
}

/// The outcome of looking at the front of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// No complete line yet, and the partial line is within the limit.
    Incomplete,
    /// No complete line yet and the partial line is already over the limit:
    /// the caller answers one error and discards up to the next `\n`.
    Overlong,
    /// A blank line of `consumed` bytes: no response.
    Empty { consumed: usize },
    /// An invalid line of `consumed` bytes.
    Invalid { error: ParseError, consumed: usize },
    /// A command and the number of bytes its line used.
    Complete {
        command: Command<'a>,
        consumed: usize,
    },
}

/// The text of `HELP`.
pub const HELP: &str = "commands: PUT key value | GET key | DEL key | START | COMMIT | ROLLBACK | \
PING | HELP | QUIT | TOPOLOGY | WATCH key | UNWATCH | PUTEX key seconds value | EXPIRE key seconds | \
PEXPIRE key ms | TTL key | PERSIST key | STATS | DBSIZE | FLUSH | AUTH [user] password. Keys are one token; a PUT value is the rest of the line. START buffers PUT/DEL until COMMIT applies them atomically or ROLLBACK discards them; \
COMMIT fails and applies nothing if a key WATCHed before it changed.";

/// Parses the first line of `buf`. Lines longer than `max_line` bytes
/// (excluding the line ending) are invalid.
pub fn parse(buf: &[u8], max_line: usize) -> Parsed<'_> {
    let Some(nl) = memchr(b'\n', buf) else {
        // A trailing `\r` may be the start of this line's `\r\n`.
        let pending = buf.strip_suffix(b"\r").unwrap_or(buf);
        return if pending.len() > max_line {
            Parsed::Overlong
        } else {
            Parsed::Incomplete
        };
    };
    let consumed = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    if line.len() > max_line {
        let error = ParseError::LineTooLong(max_line);
        return Parsed::Invalid { error, consumed };
    }
    match parse_line(line) {
        Ok(Some(command)) => Parsed::Complete { command, consumed },
        Ok(None) => Parsed::Empty { consumed },
        Err(error) => Parsed::Invalid { error, consumed },
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits off the first token: `(token, rest with leading blanks removed)`.
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&b| is_blank(b)).unwrap_or(s.len());
    let (tok, rest) = s.split_at(end);
    let skip = rest
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(rest.len());
    (tok, &rest[skip..])
}

fn parse_line(line: &[u8]) -> Result<Option<Command<'_>>, ParseError> {
    if std::str::from_utf8(line).is_err() {
        return Err(ParseError::InvalidUtf8);
    }
    let line = trim(line);
    if line.is_empty() {
        return Ok(None);
    }
    let (word, args) = token(line);
    let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
    let cmd = if is("GET") {
        Command::Get {
            key: single_key(args, "GET key")?,
        }
    } else if is("PUT") {
        let (key, value) = token(args);
        if key.is_empty() || value.is_empty() {
            return Err(ParseError::WrongArity("PUT key value"));
        }
        Command::Put { key, value }
    } else if is("DEL") {
        Command::Del {
            key: single_key(args, "DEL key")?,
        }
    } else if is("EXPIRE") || is("PEXPIRE") {
        let usage = if is("EXPIRE") {
            "EXPIRE key seconds"
        } else {
            "PEXPIRE key milliseconds"
        };
        let (key, n) = key_and_int(args, usage)?;
        let ttl_ms = if is("EXPIRE") {
            n.saturating_mul(1000)
        } else {
            n
        };
        Command::Expire { key, ttl_ms }
    } else if is("TTL") {
        Command::Ttl {
            key: single_key(args, "TTL key")?,
        }
    } else if is("PERSIST") {
        Command::Persist {
            key: single_key(args, "PERSIST key")?,
        }
    } else if is("PUTEX") {
        const USAGE: &str = "PUTEX key seconds value";
        let (key, rest) = token(args);
        let (secs, value) = token(rest);
        if key.is_empty() || secs.is_empty() || value.is_empty() {
            return Err(ParseError::WrongArity(USAGE));
        }
        let secs = parse_int(secs).ok_or(ParseError::InvalidTtl(USAGE))?;
        Command::PutEx { key, secs, value }
    } else if is("AUTH") {
        let (first, rest) = token(args);
        let (second, rest) = token(rest);
        match (first.is_empty(), second.is_empty(), rest.is_empty()) {
            (false, true, _) => Command::Auth {
                user: None,
                password: first,
            },
            (false, false, true) => Command::Auth {
                user: Some(first),
                password: second,
            },
            _ => return Err(ParseError::WrongArity("AUTH [user] password")),
        }
    } else if is("WATCH") {
        Command::Watch {
            key: single_key(args, "WATCH key")?,
        }
    } else {
        let (cmd, usage) = match () {
            _ if is("START") => (Command::Start, "START"),
            _ if is("COMMIT") => (Command::Commit, "COMMIT"),
            _ if is("ROLLBACK") => (Command::Rollback, "ROLLBACK"),
            _ if is("PING") => (Command::Ping, "PING"),
            _ if is("HELP") => (Command::Help, "HELP"),
            _ if is("QUIT") => (Command::Quit, "QUIT"),
            _ if is("TOPOLOGY") => (Command::Topology, "TOPOLOGY"),
            _ if is("UNWATCH") => (Command::Unwatch, "UNWATCH"),
            _ if is("STATS") => (Command::Stats, "STATS"),
            _ if is("FLUSH") => (Command::Flush, "FLUSH"),
            _ if is("DBSIZE") => (Command::Dbsize, "DBSIZE"),
            _ => return Err(unknown(word)),
        };
        if !args.is_empty() {
            return Err(ParseError::WrongArity(usage));
        }
        cmd
    };
    Ok(Some(cmd))
}

fn single_key<'a>(args: &'a [u8], usage: &'static str) -> Result<&'a [u8], ParseError> {
    let (key, rest) = token(args);
    if key.is_empty() || !rest.is_empty() {
        return Err(ParseError::WrongArity(usage));
    }
    Ok(key)
}

/// `key n`, exactly two tokens, `n` an integer.
fn key_and_int<'a>(args: &'a [u8], usage: &'static str) -> Result<(&'a [u8], i64), ParseError> {
    let (key, rest) = token(args);
    let (n, rest) = token(rest);
    if key.is_empty() || n.is_empty() || !rest.is_empty() {
        return Err(ParseError::WrongArity(usage));
    }
    Ok((key, parse_int(n).ok_or(ParseError::InvalidTtl(usage))?))
}

fn parse_int(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn unknown(word: &[u8]) -> ParseError {
    // Already valid UTF-8; cut long words so errors stay short.
    let word = String::from_utf8_lossy(word);
    let shown: String = word.chars().take(64).collect();
    ParseError::UnknownCommand(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1024;

    fn cmd(line: &[u8]) -> Command<'_> {
        match parse(line, MAX) {
            Parsed::Complete { command, consumed } => {
                assert_eq!(consumed, line.len());
                command
            }
            other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(line)),
        }
    }

    fn err(line: &[u8]) -> ParseError {
        match parse(line, MAX) {
            Parsed::Invalid { error, consumed } => {
                assert_eq!(consumed, line.len());
                error
            }
            other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn basic_commands() {
        assert_eq!(cmd(b"GET a\n"), Command::Get { key: b"a" });
        assert_eq!(
            cmd(b"PUT a 1\n"),
            Command::Put {
                key: b"a",
                value: b"1"
            }
        );
        assert_eq!(cmd(b"DEL a\n"), Command::Del { key: b"a" });
        assert_eq!(cmd(b"watch a\n"), Command::Watch { key: b"a" });
        assert_eq!(
            cmd(b"EXPIRE a 10\n"),
            Command::Expire {
                key: b"a",
                ttl_ms: 10_000
            }
        );
        assert_eq!(
            cmd(b"pexpire a -5\n"),
            Command::Expire {
                key: b"a",
                ttl_ms: -5
            }
        );
        assert_eq!(cmd(b"TTL a\n"), Command::Ttl { key: b"a" });
        assert_eq!(cmd(b"PERSIST a\n"), Command::Persist { key: b"a" });
        assert_eq!(
            cmd(b"PUTEX s 60 3 * 3 = 9 \n"),
            Command::PutEx {
                key: b"s",
                secs: 60,
                value: b"3 * 3 = 9"
            }
        );
        assert!(matches!(err(b"EXPIRE a soon\n"), ParseError::InvalidTtl(_)));
        assert!(matches!(err(b"PUTEX a x v\n"), ParseError::InvalidTtl(_)));
        for (line, c) in [
            (&b"START\n"[..], Command::Start),
            (b"COMMIT\n", Command::Commit),
            (b"ROLLBACK\n", Command::Rollback),
            (b"PING\n", Command::Ping),
            (b"HELP\n", Command::Help),
            (b"QUIT\n", Command::Quit),
            (b"topology\n", Command::Topology),
            (b"UNWATCH\n", Command::Unwatch),
            (b"stats\n", Command::Stats),
            (b"FLUSH\n", Command::Flush),
            (b"DBSIZE\n", Command::Dbsize),
        ] {
            assert_eq!(cmd(line), c);
        }
    }

    #[test]
    fn command_words_are_case_insensitive() {
        assert_eq!(cmd(b"get a\n"), Command::Get { key: b"a" });
        assert_eq!(cmd(b"gEt a\n"), Command::Get { key: b"a" });
        assert_eq!(cmd(b"Start\n"), Command::Start);
        // Keys keep their case.
        assert_eq!(cmd(b"get Ab\n"), Command::Get { key: b"Ab" });
    }

    #[test]
    fn crlf_and_surrounding_blanks_are_dropped() {
        assert_eq!(cmd(b"GET a\r\n"), Command::Get { key: b"a" });
        assert_eq!(cmd(b" \t GET \t a \t\r\n"), Command::Get { key: b"a" });
        assert_eq!(cmd(b"  PING  \n"), Command::Ping);
    }

    #[test]
    fn put_value_is_rest_of_line_trimmed_with_inner_whitespace_kept() {
        assert_eq!(
            cmd(b"PUT   a    3 * 3 = 9 \n"),
            Command::Put {
                key: b"a",
                value: b"3 * 3 = 9"
            }
        );
        assert_eq!(
            cmd(b"PUT k a\t b  \t\r\n"),
            Command::Put {
                key: b"k",
                value: b"a\t b"
            }
        );
        let json = b"PUT georgew {\"first_name\": \"George\"}\n";
        assert_eq!(
            cmd(json),
            Command::Put {
                key: b"georgew",
                value: b"{\"first_name\": \"George\"}"
            }
        );
    }

    #[test]
    fn utf8_keys_and_values_pass_through() {
        assert_eq!(
            cmd("PUT clé été ☀\n".as_bytes()),
            Command::Put {
                key: "clé".as_bytes(),
                value: "été ☀".as_bytes()
            }
        );
    }

    #[test]
    fn empty_lines_are_no_command() {
        assert_eq!(parse(b"\n", MAX), Parsed::Empty { consumed: 1 });
        assert_eq!(parse(b" \t\r\nGET a\n", MAX), Parsed::Empty { consumed: 4 });
    }

    #[test]
    fn incomplete_until_newline() {
        assert_eq!(parse(b"", MAX), Parsed::Incomplete);
        assert_eq!(parse(b"GET a", MAX), Parsed::Incomplete);
        assert_eq!(parse(b"GET a\r", MAX), Parsed::Incomplete);
    }

    #[test]
    fn only_the_first_line_is_consumed() {
        assert_eq!(
            parse(b"GET a\nGET b\n", MAX),
            Parsed::Complete {
                command: Command::Get { key: b"a" },
                consumed: 6
            }
        );
    }

    #[test]
    fn wrong_arity() {
        for (line, name) in [
            (&b"PUT k\n"[..], "PUT"),
            (b"PUT\n", "PUT"),
            (b"PUT k   \n", "PUT"),
            (b"GET\n", "GET"),
            (b"GET a b\n", "GET"),
            (b"DEL\n", "DEL"),
            (b"DEL a b\n", "DEL"),
            (b"START x\n", "START"),
            (b"COMMIT now\n", "COMMIT"),
            (b"ROLLBACK x\n", "ROLLBACK"),
            (b"PING x\n", "PING"),
            (b"HELP me\n", "HELP"),
            (b"QUIT x\n", "QUIT"),
            (b"TOPOLOGY x\n", "TOPOLOGY"),
            (b"WATCH\n", "WATCH"),
            (b"WATCH a b\n", "WATCH"),
            (b"EXPIRE a\n", "EXPIRE"),
            (b"EXPIRE a 1 2\n", "EXPIRE"),
            (b"TTL\n", "TTL"),
            (b"STATS all\n", "STATS"),
            (b"FLUSH now\n", "FLUSH"),
            (b"PERSIST a b\n", "PERSIST"),
            (b"PUTEX a 10\n", "PUTEX"),
        ] {
            let e = err(line);
            assert!(matches!(e, ParseError::WrongArity(_)), "{e:?}");
            assert!(e.to_string().contains(&format!("'{name}'")), "{e}");
        }
    }

    #[test]
    fn auth_with_and_without_user() {
        assert_eq!(
            cmd(b"AUTH s3cret\n"),
            Command::Auth {
                user: None,
                password: b"s3cret"
            }
        );
        assert_eq!(
            cmd(b"auth alice p1\r\n"),
            Command::Auth {
                user: Some(b"alice"),
                password: b"p1"
            }
        );
        for bad in [&b"AUTH\n"[..], b"AUTH a b c\n"] {
            assert!(matches!(
                parse(bad, MAX),
                Parsed::Invalid {
                    error: ParseError::WrongArity("AUTH [user] password"),
                    ..
                }
            ));
        }
    }

    #[test]
    fn unknown_command_names_the_word() {
        let e = err(b"FROB a\n");
        assert_eq!(e, ParseError::UnknownCommand("FROB".into()));
        assert_eq!(e.to_string(), "unknown command 'FROB' (try HELP)");
        // Long words are cut.
        let long = format!("{}\n", "X".repeat(500));
        let ParseError::UnknownCommand(w) = err(long.as_bytes()) else {
            panic!()
        };
        assert_eq!(w.len(), 64);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(err(b"PUT a \xff\xfe\n"), ParseError::InvalidUtf8);
        assert_eq!(err(b"\xc3\n"), ParseError::InvalidUtf8);
    }

    #[test]
    fn odd_bytes_are_not_a_crash() {
        for line in [&b"\0\n"[..], b"\x1b[A\n", b"{}\n", b"\r\r\n", b"GET \x00\n"] {
            assert!(!matches!(parse(line, MAX), Parsed::Incomplete));
        }
        assert_eq!(cmd(b"GET \x00\n"), Command::Get { key: b"\0" });
    }

    #[test]
    fn line_length_limit() {
        let ok = format!("PUT k {}\n", "v".repeat(MAX - 6));
        assert!(matches!(parse(ok.as_bytes(), MAX), Parsed::Complete { .. }));
        let long = format!("PUT k {}\n", "v".repeat(MAX - 5));
        assert_eq!(err(long.as_bytes()), ParseError::LineTooLong(MAX));
        // Without its newline yet: overlong as soon as it passes the limit.
        assert_eq!(parse(&long.as_bytes()[..MAX], MAX), Parsed::Incomplete);
        assert_eq!(parse(&long.as_bytes()[..MAX + 1], MAX), Parsed::Overlong);
        // A line of exactly the limit whose `\r` arrived before its `\n`.
        let exact = format!("PUT k {}\r", "v".repeat(MAX - 6));
        assert_eq!(parse(exact.as_bytes(), MAX), Parsed::Incomplete);
    }
}
