//! The RESP request parser (`corekv::resp::parse`) on arbitrary bytes.
//!
//! Checks: it never panics; a complete request consumes at least one byte
//! and no more than it was given, and its arguments lie in order inside
//! what it consumed; `Incomplete { need }` asks for more than is there; and
//! a connection that receives the stream in two reads (split at a point the
//! input chooses) parses exactly the requests, and ends in exactly the
//! state, of one that receives it whole. Also: any argument list, encoded,
//! parses back to itself.
#![no_main]

use corekv::resp::{parse, Limits, Parsed, ProtocolError};
use libfuzzer_sys::fuzz_target;
use std::ops::Range;

/// How a stream ended: waiting for bytes, or a protocol error.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Incomplete,
    Invalid(ProtocolError),
}

/// Requests parsed from the stream, as a connection reads it: `reads`
/// gives the byte counts of successive reads.
fn parse_stream(data: &[u8], reads: &[usize], limits: Limits) -> (Vec<Vec<Vec<u8>>>, End) {
    let mut requests = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut args: Vec<Range<usize>> = Vec::new();
    for &n in reads.iter().chain(std::iter::once(&usize::MAX)) {
        let take = n.min(data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + take]);
        fed += take;
        loop {
            match parse(&buf, limits, &mut args) {
                Parsed::Complete { consumed } => {
                    check_complete(&buf, consumed, &args);
                    requests.push(args.iter().map(|r| buf[r.clone()].to_vec()).collect());
                    buf.drain(..consumed);
                }
                Parsed::Incomplete { need } => {
                    if let Some(need) = need {
                        assert!(need > buf.len(), "need {need} of {}", buf.len());
                    }
                    break;
                }
                Parsed::Invalid(e) => return (requests, End::Invalid(e)),
            }
        }
        if fed == data.len() {
            break;
        }
    }
    (requests, End::Incomplete)
}

fn check_complete(buf: &[u8], consumed: usize, args: &[Range<usize>]) {
    assert!(
        consumed > 0 && consumed <= buf.len(),
        "consumed {consumed} of {}",
        buf.len()
    );
    let mut at = 0;
    for r in args {
        assert!(
            r.start >= at && r.start <= r.end && r.end <= consumed,
            "{r:?}"
        );
        at = r.end;
    }
}

fuzz_target!(|input: &[u8]| {
    let [mode, split, bulk, rest @ ..] = input else {
        return;
    };
    // Small limits too, so the size checks are reached.
    let limits = Limits {
        max_bulk: if bulk & 1 == 0 {
            64 + usize::from(*bulk)
        } else {
            512 * 1024 * 1024
        },
        max_request: if bulk & 2 == 0 {
            256 + 4 * usize::from(*bulk)
        } else {
            1 << 30
        },
    };
    if mode & 1 == 0 {
        let whole = parse_stream(rest, &[], limits);
        let at = usize::from(*split) * rest.len() / 255;
        let split_reads = parse_stream(rest, &[at], limits);
        assert_eq!(whole, split_reads, "split at {at}");
        let bytewise: Vec<usize> = vec![1; rest.len().min(300)];
        assert_eq!(whole, parse_stream(rest, &bytewise, limits), "byte by byte");
    } else {
        // The input as an argument list: split at each 0xFF byte.
        let args: Vec<Vec<u8>> = rest.split(|&b| b == 0xFF).map(<[u8]>::to_vec).collect();
        let limits = Limits {
            max_bulk: usize::MAX / 4,
            max_request: usize::MAX / 4,
        };
        let slices: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let wire = corekv_router::resp::request(&slices);
        let (requests, end) = parse_stream(&wire, &[usize::from(*split)], limits);
        assert_eq!(end, End::Incomplete);
        assert_eq!(requests, [args]);
    }
});
