//! Results → bytes: the text protocol's one-line JSON responses.
//!
//! Every response is a JSON object with keys in the order `status`, `result`,
//! `mesg`, written with `", "` and `": "` separators and ending in `\n`:
//! `{"status": "Ok", "result": "1"}`. Encoders append straight to the
//! connection's (or a batch's) output buffer; nothing is built as a `String`
//! first.

/// `{"status": "Ok"}`
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"status\": \"Ok\"}\n");
}

/// `{"status": "Ok", "result": "<value>"}` with `value` JSON-escaped.
pub fn ok_value(out: &mut Vec<u8>, value: &[u8]) {
    out.reserve(value.len() + 33);
    out.extend_from_slice(b"{\"status\": \"Ok\", \"result\": \"");
    escape_into(out, value);
    out.extend_from_slice(b"\"}\n");
}

/// `{"status": "Ok", "result": <json>}` where `json` is already a JSON value
/// (an object, for commands whose result is structured).
pub fn ok_json(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(b"{\"status\": \"Ok\", \"result\": ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
}

/// `{"status": "Error", "mesg": "<mesg>"}` with `mesg` JSON-escaped.
pub fn error(out: &mut Vec<u8>, mesg: &str) {
    out.extend_from_slice(b"{\"status\": \"Error\", \"mesg\": \"");
    escape_into(out, mesg.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// The `TOPOLOGY` result object: how keys map to partitions and where each
/// partition's worker listens, for clients that route keys themselves.
pub fn topology_json(
    topology: &corekv_router::Topology,
    cluster: Option<&crate::cluster::ClusterMap>,
    shared_port: u16,
    tls: Option<&crate::tls::TlsSetup>,
) -> String {
    if let Some(map) = cluster {
        return cluster_json(map, shared_port);
    }
    use std::fmt::Write;
    let mut s = format!(
        "{{\"slots\": {}, \"hash\": \"{}\", \"shared_port\": {shared_port}, ",
        corekv_router::SLOT_COUNT,
        corekv_router::HASH_NAME
    );
    if let Some(tls) = tls {
        let _ = write!(s, "\"tls_shared_port\": {}, ", tls.shared_port);
    }
    s.push_str("\"partitions\": [");
    for (i, p) in topology.partitions().iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let port = p.port.map_or("null".to_string(), |p| p.to_string());
        let _ = write!(s, "{sep}{{\"id\": {}, \"port\": {port}, ", p.id);
        if let Some(tls_port) = tls.and_then(|t| t.core_ports.get(p.id)) {
            let _ = write!(s, "\"tls_port\": {tls_port}, ");
        }
        s.push_str("\"slots\": [");
        for (j, r) in p.slots.iter().enumerate() {
            let sep = if j == 0 { "" } else { ", " };
            let _ = write!(s, "{sep}[{}, {}]", r.start, r.end);
        }
        s.push_str("]}");
    }
    s.push_str("]}");
    s
}

/// `TOPOLOGY` of a cluster of pods: every pod's workers, each with the
/// host it is reached at (`--cluster-peers`); ids are global
/// (`pod * workers + worker`).
fn cluster_json(map: &crate::cluster::ClusterMap, shared_port: u16) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{{\"slots\": {}, \"hash\": \"{}\", \"shared_port\": {shared_port}, \"pods\": {}, \"pod\": {}, \"partitions\": [",
        corekv_router::SLOT_COUNT,
        corekv_router::HASH_NAME,
        map.size(),
        map.index,
    );
    for (i, p) in map.global.partitions().iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let (host, port) = map.addr_of(p.id);
        let mut quoted = vec![b'"'];
        escape_into(&mut quoted, host.as_bytes());
        quoted.push(b'"');
        let host = String::from_utf8_lossy(&quoted);
        let _ = write!(
            s,
            "{sep}{{\"id\": {}, \"host\": {host}, \"port\": {port}, \"slots\": [",
            p.id
        );
        for (j, r) in p.slots.iter().enumerate() {
            let sep = if j == 0 { "" } else { ", " };
            let _ = write!(s, "{sep}[{}, {}]", r.start, r.end);
        }
        s.push_str("]}");
    }
    s.push_str("]}");
    s
}

/// The `STATS` result object: totals and one object per partition.
pub fn stats_json(partitions: &[crate::partition::Stats]) -> String {
    let mut total = crate::partition::Stats::default();
    for p in partitions {
        total += p;
    }
    let mut s = String::from("{\"total\": ");
    stats_object(&mut s, None, &total);
    s.push_str(", \"partitions\": [");
    for (i, p) in partitions.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        stats_object(&mut s, Some(i), p);
    }
    s.push_str("]}");
    s
}

fn stats_object(s: &mut String, id: Option<usize>, st: &crate::partition::Stats) {
    use std::fmt::Write;
    s.push('{');
    if let Some(id) = id {
        let _ = write!(s, "\"id\": {id}, ");
    }
    let fields: [(&str, u64); 30] = [
        ("keys", st.keys),
        ("keys_with_ttl", st.expires),
        ("memory_bytes", st.memory),
        ("memory_limit_bytes", st.memory_limit),
        ("slot_index_bytes", st.slot_index),
        ("hits", st.hits),
        ("misses", st.misses),
        ("expired", st.expired),
        ("evictions", st.evictions),
        ("commands", st.commands),
        ("operations", st.ops),
        ("forwarded_out", st.forwarded_out),
        ("forwarded_in", st.forwarded_in),
        ("txn_committed_single", st.txn_commits_single),
        ("txn_committed_cross", st.txn_commits_cross),
        ("txn_aborted_single", st.txn_aborted_single),
        ("txn_aborted_cross", st.txn_aborted_cross),
        ("connections", st.connections_open),
        ("connections_total", st.connections_total),
        ("connections_migrated", st.connections_migrated_in),
        ("workers_pinned", st.pinned),
        ("workers_contended", st.contended),
        ("rejected_connections", st.rejected_connections),
        (
            "client_output_limit_disconnections",
            st.output_limit_disconnections,
        ),
        ("client_idle_timeouts", st.idle_timeouts),
        ("client_buffer_bytes", st.client_buffers),
        ("client_replies_in_flight_bytes", st.replies_in_flight),
        (
            "client_replies_in_flight_peak_bytes",
            st.replies_in_flight_peak,
        ),
        ("client_buffer_pool_bytes", st.buffer_pool),
        ("evicted_clients", st.evicted_clients),
    ];
    for (i, (name, value)) in fields.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(s, "{sep}\"{name}\": {value}");
    }
    s.push('}');
}

/// The error for `GET` on an absent key.
pub const NOT_FOUND: &str = "key not found";

/// Bytes that need escaping inside a JSON string: `"`, `\` and the control
/// characters below 0x20. Everything else (UTF-8 included) passes through.
const fn needs_escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}

static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// Appends `bytes` JSON-escaped, copying unescaped runs whole.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        push_escape(out, b);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        _ => {
            let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&hex);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn byte_exact_shapes() {
        assert_eq!(enc(ok), "{\"status\": \"Ok\"}\n");
        assert_eq!(
            enc(|o| ok_value(o, b"1")),
            "{\"status\": \"Ok\", \"result\": \"1\"}\n"
        );
        assert_eq!(
            enc(|o| error(o, NOT_FOUND)),
            "{\"status\": \"Error\", \"mesg\": \"key not found\"}\n"
        );
        assert_eq!(
            enc(|o| ok_json(o, b"{\"a\": 1}")),
            "{\"status\": \"Ok\", \"result\": {\"a\": 1}}\n"
        );
    }

    #[test]
    fn the_georgew_transcript_value() {
        let v = br#"{"first_name": "George", "last_name": "Washington", "role": "President"}"#;
        assert_eq!(
            enc(|o| ok_value(o, v)),
            "{\"status\": \"Ok\", \"result\": \"{\\\"first_name\\\": \\\"George\\\", \\\"last_name\\\": \\\"Washington\\\", \\\"role\\\": \\\"President\\\"}\"}\n"
        );
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(
            enc(|o| escape_into(o, b"a\"b\\c\nd\re\tf\x08g\x0ch\x00i\x1fj\x7f")),
            "a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0000i\\u001fj\x7f"
        );
    }

    #[test]
    fn topology_object() {
        let t = corekv_router::Topology::even(2)
            .unwrap()
            .with_ports(&[7001, 7002])
            .unwrap();
        let json = topology_json(&t, None, 7000, None);
        assert_eq!(
            json,
            "{\"slots\": 16384, \"hash\": \"crc16-xmodem\", \"shared_port\": 7000, \"partitions\": [\
             {\"id\": 0, \"port\": 7001, \"slots\": [[0, 8191]]}, \
             {\"id\": 1, \"port\": 7002, \"slots\": [[8192, 16383]]}]}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["partitions"][1]["slots"][0][1], 16383);
    }

    #[test]
    fn stats_object_totals_partitions() {
        let a = crate::partition::Stats {
            keys: 2,
            hits: 1,
            ..Default::default()
        };
        let b = crate::partition::Stats {
            keys: 3,
            misses: 4,
            ..Default::default()
        };
        let json = stats_json(&[a, b]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["total"]["keys"], 5);
        assert_eq!(v["total"]["misses"], 4);
        assert_eq!(v["partitions"][1]["id"], 1);
        assert_eq!(v["partitions"][0]["hits"], 1);
        assert_eq!(v["partitions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(enc(|o| escape_into(o, "été ☀ 🦀".as_bytes())), "été ☀ 🦀");
    }

    #[test]
    fn every_encoding_is_valid_json_that_round_trips() {
        let samples: [&[u8]; 5] = [b"", b"plain", b"\x01\x02\"\\", "π\n".as_bytes(), b"}{"];
        for s in samples {
            let line = enc(|o| ok_value(o, s));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["result"].as_str().unwrap().as_bytes(), s);
        }
    }
}
