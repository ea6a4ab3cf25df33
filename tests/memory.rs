//! `--maxmemory` with the `noeviction` policy on a real server: writes past
//! the limit are refused with a clear error, nothing is half-applied, the
//! accounting stays under the limit, and deletes make room again.

mod common;

use common::resp::{RespConn, Value};
use common::{Client, OK};

const LIMIT: usize = 2 * 1024 * 1024;

fn stats_total(c: &mut Client) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&c.cmd("STATS")).unwrap();
    v["result"]["total"].clone()
}

#[test]
fn writes_past_maxmemory_are_refused_and_deletes_make_room() {
    let mut config = common::config(2);
    config.maxmemory = LIMIT;
    config.eviction_policy = corekv::config::EvictionPolicy::Noeviction;
    let server = common::start_with(&config);
    let mut c = Client::connect(server.shared_addr());
    let value = "v".repeat(1000);
    let mut refused = 0;
    let mut stored = 0;
    // Far beyond the limit: 4x its size in values.
    for i in 0..(4 * LIMIT / 1000) {
        let reply = c.cmd(&format!("PUT big:{i} {value}"));
        if reply == OK {
            stored += 1;
        } else {
            assert!(reply.contains("out of memory"), "{reply}");
            refused += 1;
        }
    }
    assert!(
        refused > 0 && stored > 1000,
        "stored {stored}, refused {refused}"
    );
    let total = stats_total(&mut c);
    assert_eq!(total["memory_limit_bytes"].as_u64(), Some(LIMIT as u64));
    assert!(
        total["memory_bytes"].as_u64().unwrap() <= LIMIT as u64,
        "{total}"
    );
    assert_eq!(total["keys"].as_u64(), Some(stored));
    // A cross-partition transaction that cannot fit fails whole: its
    // buffer is client memory, so with the partitions full it is doomed
    // while buffering (or, had it fit, refused at commit).
    assert_eq!(c.cmd("START"), OK);
    for i in 0..200 {
        let reply = c.cmd(&format!("PUT txn:{i} {value}"));
        assert!(reply == OK || reply.contains("out of memory"), "{reply}");
    }
    let commit = c.cmd("COMMIT");
    assert!(commit.contains("out of memory"), "{commit}");
    assert_eq!(c.cmd("GET txn:0"), common::error("key not found"));
    // RESP says it as Redis does.
    let mut r = RespConn::connect(server.shared_addr());
    assert_eq!(
        r.cmd(&["SET", "resp:x", &value]),
        Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    );
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "maxmemory"]),
        Value::Array(vec![
            Value::bulk("maxmemory"),
            Value::bulk(&LIMIT.to_string())
        ])
    );
    // Reads still work; deletes make room again.
    assert_eq!(c.cmd("GET big:0"), common::ok_result(&value));
    for i in 0..stored {
        c.cmd(&format!("DEL big:{i}"));
    }
    assert_eq!(c.cmd(&format!("PUT big:again {value}")), OK);
    assert_eq!(r.cmd(&["SET", "resp:x", "1"]), Value::ok());
}

#[test]
fn sieve_is_the_default_and_keeps_memory_under_the_limit() {
    evicting_policy_keeps_memory_under_the_limit(None, "sieve");
}

#[test]
fn allkeys_lru_keeps_memory_under_the_limit() {
    let lru = Some(corekv::config::EvictionPolicy::AllkeysLru);
    evicting_policy_keeps_memory_under_the_limit(lru, "allkeys-lru");
}

fn evicting_policy_keeps_memory_under_the_limit(
    policy: Option<corekv::config::EvictionPolicy>,
    name: &str,
) {
    let mut config = common::config(2);
    config.maxmemory = LIMIT;
    if let Some(policy) = policy {
        config.eviction_policy = policy;
    }
    let server = common::start_with(&config);
    let mut c = Client::connect(server.shared_addr());
    let value = "v".repeat(1000);
    let mut lines = String::new();
    for i in 0..(4 * LIMIT / 1000) {
        lines.push_str(&format!("PUT big:{i} {value}\n"));
    }
    let n = 4 * LIMIT / 1000;
    let mut writer = c.writer();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(lines.as_bytes()).unwrap();
    });
    for _ in 0..n {
        assert_eq!(c.read_response(), OK, "every write succeeds by evicting");
    }
    sender.join().unwrap();
    let total = stats_total(&mut c);
    assert!(
        total["memory_bytes"].as_u64().unwrap() <= LIMIT as u64,
        "{total}"
    );
    assert!(total["evictions"].as_u64().unwrap() > 1000, "{total}");
    assert_eq!(
        c.cmd(&format!("GET big:{}", n - 1)),
        common::ok_result(&value),
        "the newest key is there"
    );
    let mut r = RespConn::connect(server.shared_addr());
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        Value::Array(vec![Value::bulk("maxmemory-policy"), Value::bulk(name)])
    );
}

/// `INFO memory`'s `mem_entry_pages_used` (the arena's blocks in use,
/// over all workers) and `mem_entry_pages` (its resident pages).
fn entry_pages(c: &mut RespConn) -> (u64, u64) {
    let used = common::resp::info_field(c, "memory", "mem_entry_pages_used");
    let pages = common::resp::info_field(c, "memory", "mem_entry_pages");
    (used, pages)
}

#[test]
fn entries_of_129_bytes_to_1_kib_take_16_byte_classes_and_their_pages_go_back() {
    let server = common::start(2);
    let mut c = RespConn::connect(server.shared_addr());
    assert_eq!(entry_pages(&mut c).0, 0, "a fresh server has no such entry");
    // 10-field hashes as compare.sh loads them: a 19-byte key and 250
    // bytes of elements make a 283-byte entry, which takes 288 bytes (not
    // mimalloc's 320) and counts so in used_memory.
    const N: u64 = 5_000;
    let mut pipeline = Vec::new();
    for h in 0..N {
        let key = format!("object:{h:012}");
        let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), key.into_bytes()];
        for f in 0..10 {
            args.push(format!("field:{f}").into_bytes());
            args.push(format!("v:{:014}", h * 10 + f).into_bytes());
        }
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        pipeline.extend(common::resp::request(&args));
    }
    c.send_raw(&pipeline);
    for _ in 0..N {
        assert_eq!(c.read(), Value::Int(10));
    }
    // MEMORY USAGE adds the key's index bytes to its entry: a string
    // whose entry is 48 bytes (1 + 47, headerless) shows them.
    assert_eq!(c.cmd(&["SET", "k", &"v".repeat(47)]), Value::ok());
    let Value::Int(string) = c.cmd(&["MEMORY", "USAGE", "k"]) else {
        panic!("MEMORY USAGE of a string")
    };
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "object:000000000007"]),
        Value::Int(288 + string - 48)
    );
    let (used, pages) = entry_pages(&mut c);
    assert_eq!(used, N * 288);
    assert!(
        pages >= used && pages < used + 2 * 4 * 65536,
        "{pages} bytes of pages for {used} of blocks"
    );
    // Freed (FLUSHALL frees in the background): the pages go back, but
    // for at most one spare page per worker.
    assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]), Value::ok());
    let deadline = std::time::Instant::now() + common::IO_TIMEOUT;
    loop {
        let (used, pages) = entry_pages(&mut c);
        if used == 0 {
            assert!(pages <= 2 * 65536, "{pages} bytes of pages kept");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{used} still used");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
