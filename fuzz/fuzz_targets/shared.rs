//! What the model targets (`partition_model`, `collections_model`)
//! share: the scalar RESP replies they decode, and the check that keys
//! leave the partition only by counted evictions.

use corekv::partition::Partition;
use std::collections::HashSet;
use std::fmt::Debug;

/// A RESP reply, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Nil,
    Bulk(Vec<u8>),
    Int(i64),
    Status(String),
    Error(String),
}

pub fn decode(out: &[u8]) -> Reply {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 reply line");
    let line_end = out.windows(2).position(|w| w == b"\r\n").expect("CRLF");
    let (head, rest) = (&out[1..line_end], &out[line_end + 2..]);
    if out[0] == b'$' && head != b"-1" {
        let n: usize = text(head).parse().expect("bulk length");
        assert_eq!(rest.len(), n + 2, "one bulk string");
        assert_eq!(&rest[n..], b"\r\n");
        return Reply::Bulk(rest[..n].to_vec());
    }
    assert!(rest.is_empty(), "one reply");
    match out[0] {
        b'+' if head == b"OK" => Reply::Ok,
        b'+' => Reply::Status(text(head)),
        b'-' => Reply::Error(text(head)),
        b':' => Reply::Int(text(head).parse().expect("integer reply")),
        b'$' => Reply::Nil,
        other => panic!("unexpected reply type {other}"),
    }
}

/// After `op`: the keys of `model` the partition no longer holds, which
/// only evictions may have dropped (as many as it counted since
/// `evictions`, none without an evicting policy, never the key `written`).
/// Returns them, for the model to forget.
pub fn evicted<'a>(
    p: &Partition,
    model: impl Iterator<Item = &'a Vec<u8>>,
    evictions: u64,
    evicting: bool,
    written: Option<&[u8]>,
    op: &impl Debug,
) -> Vec<Vec<u8>> {
    let held: HashSet<&[u8]> = p.store().keys().collect();
    let gone: Vec<Vec<u8>> = model
        .filter(|k| !held.contains(k.as_slice()))
        .cloned()
        .collect();
    let evicted = (p.stats.evictions - evictions) as usize;
    assert!(
        evicting || evicted == 0,
        "evicted without an evicting policy"
    );
    assert_eq!(gone.len(), evicted, "keys lost: {gone:?} after {op:?}");
    for k in &gone {
        assert!(
            Some(k.as_slice()) != written,
            "evicted the key being written: {op:?}"
        );
    }
    gone
}
