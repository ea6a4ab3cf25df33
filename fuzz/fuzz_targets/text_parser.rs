//! The text protocol's parser (`corekv::protocol::parse`) on arbitrary
//! bytes.
//!
//! Checks: it never panics; what it consumes is one whole line (through
//! its `\n`) and nothing past it, so the result depends only on that line;
//! without a `\n` it waits (or reports an overlong line past the limit);
//! the slices of a command lie inside the line.
#![no_main]

use corekv::protocol::{parse, Command, Parsed};
use libfuzzer_sys::fuzz_target;

fn inside(buf: &[u8], part: &[u8], consumed: usize) {
    let (start, base) = (part.as_ptr() as usize, buf.as_ptr() as usize);
    assert!(
        start >= base && start + part.len() <= base + consumed,
        "a slice outside the line"
    );
}

fn check_command(buf: &[u8], command: &Command<'_>, consumed: usize) {
    match *command {
        Command::Get { key }
        | Command::Del { key }
        | Command::Watch { key }
        | Command::Ttl { key }
        | Command::Persist { key }
        | Command::Expire { key, .. } => {
            assert!(!key.is_empty());
            inside(buf, key, consumed);
        }
        Command::Put { key, value } | Command::PutEx { key, value, .. } => {
            assert!(!key.is_empty() && !value.is_empty());
            inside(buf, key, consumed);
            inside(buf, value, consumed);
        }
        _ => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&max, buf)) = input.split_first() else {
        return;
    };
    let max_line = usize::from(max) * 4;
    let parsed = parse(buf, max_line);
    let newline = buf.iter().position(|&b| b == b'\n');
    let consumed = match &parsed {
        Parsed::Incomplete | Parsed::Overlong => {
            assert!(newline.is_none(), "a complete line was not parsed");
            let pending = buf.strip_suffix(b"\r").unwrap_or(buf).len();
            assert_eq!(matches!(parsed, Parsed::Overlong), pending > max_line);
            return;
        }
        Parsed::Empty { consumed } | Parsed::Invalid { consumed, .. } => *consumed,
        Parsed::Complete { command, consumed } => {
            check_command(buf, command, *consumed);
            *consumed
        }
    };
    assert_eq!(Some(consumed - 1), newline, "consumed one whole line");
    // The bytes after the line do not change how it parses.
    assert_eq!(parse(&buf[..consumed], max_line), parsed);
    let mut more = buf[..consumed].to_vec();
    more.extend_from_slice(b"GET x\n");
    assert_eq!(parse(&more, max_line), parsed);
});
