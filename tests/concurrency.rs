//! Many clients at once against an in-process 4-worker server: independent
//! clients, cross-partition atomicity as seen by readers, and concurrent
//! overlapping transactions.

mod common;

use common::{all_addrs, Client, Rng, OK};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const WORKERS: u16 = 4;
/// Keys per partition in the atomicity tests (16 keys in all).
const KEYS_PER_PARTITION: usize = 4;

/// Joins every thread, re-raising the first panic after all have ended.
fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let results: Vec<_> = handles.into_iter().map(JoinHandle::join).collect();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect()
}

/// 16 keys, 4 on each partition, interleaved by partition.
fn spread_keys(server: &corekv::Server, prefix: &str) -> Vec<String> {
    let by_partition = common::keys_by_partition(server.topology(), prefix, KEYS_PER_PARTITION);
    assert_eq!(by_partition.len(), usize::from(WORKERS));
    let keys: Vec<String> = (0..KEYS_PER_PARTITION)
        .flat_map(|i| by_partition.iter().map(move |p| p[i].clone()))
        .collect();
    let mut partitions: Vec<usize> = keys
        .iter()
        .map(|k| server.topology().partition_of_key(k.as_bytes()))
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    assert_eq!(partitions, (0..usize::from(WORKERS)).collect::<Vec<_>>());
    keys
}

/// Sends START, a PUT per key (in the given order) and COMMIT; returns how
/// long the COMMIT took. Every response must be Ok.
fn commit_txn(c: &mut Client, keys: &[&str], value: &str) -> Duration {
    let mut input = String::from("START\n");
    for key in keys {
        input.push_str(&format!("PUT {key} {value}\n"));
    }
    c.send(input.as_bytes());
    for _ in 0..=keys.len() {
        assert_eq!(c.read_response(), OK);
    }
    let begun = Instant::now();
    let line = c.cmd("COMMIT");
    let took = begun.elapsed();
    assert_eq!(line, OK, "COMMIT of {value}");
    took
}

#[test]
fn three_hundred_concurrent_clients() {
    const CLIENTS: usize = 300;
    const ROUNDS: usize = 5;
    let server = common::start(WORKERS);
    let addrs = all_addrs(&server);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let addr = addrs[id % addrs.len()];
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                // Everyone connected before anyone starts.
                barrier.wait();
                for j in 0..ROUNDS {
                    let key = format!("c{id}-{j}");
                    c.put(&key, &format!("v{id}-{j}"));
                    assert_eq!(c.get(&key), Some(format!("v{id}-{j}")), "{key}");
                }
                // A pipelined round on the same keys.
                let mut input = String::new();
                for j in 0..ROUNDS {
                    input.push_str(&format!("PUT c{id}-{j} w{id}-{j}\nGET c{id}-{j}\n"));
                }
                input.push_str(&format!("DEL c{id}-0\nGET c{id}-0\n"));
                c.send(input.as_bytes());
                for j in 0..ROUNDS {
                    assert_eq!(c.read_response(), OK);
                    assert_eq!(
                        common::parse_get(&c.read_response()),
                        Some(format!("w{id}-{j}"))
                    );
                }
                assert_eq!(c.read_response(), OK);
                assert_eq!(common::parse_get(&c.read_response()), None);
            })
        })
        .collect();
    join_all(handles);
    // Everything is where it should be, seen from one place.
    let mut c = Client::connect(server.shared_addr());
    for id in 0..CLIENTS {
        assert_eq!(c.get(&format!("c{id}-0")), None);
        for j in 1..ROUNDS {
            assert_eq!(c.get(&format!("c{id}-{j}")), Some(format!("w{id}-{j}")));
        }
    }
}

/// One writer commits `counter` to 16 keys spread over all partitions,
/// again and again; readers read single keys through random ports. Because
/// a commit is atomic, once a reader has seen value `n` (of any key) no
/// later read of any key may return less than `n`, nor "key not found".
#[test]
fn cross_partition_commits_are_atomic_to_readers() {
    const READERS: usize = 4;
    const MAX_COMMITS: u64 = 300;
    const RUN_FOR: Duration = Duration::from_millis(1500);
    let server = common::start(WORKERS);
    let keys = Arc::new(spread_keys(&server, "atomic"));
    let addrs = all_addrs(&server);
    let done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(READERS + 1));

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (keys, addrs) = (Arc::clone(&keys), addrs.clone());
            let (done, barrier) = (Arc::clone(&done), Arc::clone(&barrier));
            thread::spawn(move || reader(r, &keys, &addrs, &done, &barrier))
        })
        .collect();

    let mut writer = Client::connect(server.shared_addr());
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    barrier.wait();
    let started = Instant::now();
    let mut last = 0;
    while last < MAX_COMMITS && started.elapsed() < RUN_FOR {
        last += 1;
        let took = commit_txn(&mut writer, &key_refs, &last.to_string());
        // A hang guard for wait-die (no commit waits forever), not a
        // latency bound: generous for a loaded machine and a debug build.
        assert!(
            took < Duration::from_secs(30),
            "COMMIT {last} took {took:?}"
        );
    }
    done.store(true, Ordering::SeqCst);
    let reads = join_all(readers);
    assert!(last > 0);
    for (r, (count, max_seen)) in reads.iter().enumerate() {
        assert!(*count > 0, "reader {r} read nothing");
        assert!(*max_seen <= last, "reader {r} saw {max_seen} > {last}");
    }
    // The end state: every key holds the last commit, through every port.
    for addr in &addrs {
        let mut c = Client::connect(*addr);
        for key in keys.iter() {
            assert_eq!(c.get(key), Some(last.to_string()), "{key} via {addr}");
        }
    }
}

/// Reads random keys through random ports until `done`; panics on a read
/// that goes back in time. Returns (reads, highest value seen).
fn reader(
    id: usize,
    keys: &[String],
    addrs: &[SocketAddr],
    done: &AtomicBool,
    barrier: &Barrier,
) -> (u64, u64) {
    let mut clients: Vec<Client> = addrs.iter().map(|&a| Client::connect(a)).collect();
    let mut rng = Rng::new(id as u64 + 1);
    let mut seen: u64 = 0;
    let mut seen_at = String::new();
    let mut reads = 0u64;
    barrier.wait();
    // One more pass after the writer stops, so even a slow start reads.
    let mut last_pass = false;
    loop {
        if done.load(Ordering::SeqCst) {
            if last_pass {
                break;
            }
            last_pass = true;
        }
        let port = rng.below(clients.len());
        let key = &keys[rng.below(keys.len())];
        match clients[port].get(key) {
            None => assert_eq!(
                seen, 0,
                "reader {id}: {key} not found via port #{port} after {seen_at} returned {seen}"
            ),
            Some(v) => {
                let v: u64 = v.parse().unwrap_or_else(|_| panic!("{key} = {v:?}"));
                assert!(
                    v >= seen,
                    "reader {id}: {key} = {v} via port #{port} after {seen_at} returned {seen}"
                );
                seen = v;
                seen_at = format!("{key} via port #{port}");
            }
        }
        reads += 1;
    }
    (reads, seen)
}

/// Four writers commit transactions over the same 16 keys, each in its own
/// random key order. Serializable commits leave all 16 keys holding the
/// same transaction's value: the last one of some writer.
#[test]
fn overlapping_transactions_leave_all_keys_from_one_commit() {
    const WRITERS: usize = 4;
    const COMMITS: usize = 100;
    let server = common::start(WORKERS);
    let keys = Arc::new(spread_keys(&server, "overlap"));
    let addrs = all_addrs(&server);
    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let keys = Arc::clone(&keys);
            let addr = addrs[w % addrs.len()];
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut rng = Rng::new(100 + w as u64);
                let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
                let mut slowest = Duration::ZERO;
                barrier.wait();
                for seq in 0..COMMITS {
                    rng.shuffle(&mut order);
                    let took = commit_txn(&mut c, &order, &format!("w{w}-{seq:04}"));
                    slowest = slowest.max(took);
                }
                slowest
            })
        })
        .collect();
    let slowest = join_all(writers);
    for (w, took) in slowest.iter().enumerate() {
        assert!(
            *took < common::IO_TIMEOUT,
            "writer {w}: slowest COMMIT took {took:?}"
        );
    }
    let last_values: Vec<String> = (0..WRITERS)
        .map(|w| format!("w{w}-{:04}", COMMITS - 1))
        .collect();
    for addr in &addrs {
        let mut c = Client::connect(*addr);
        let values: Vec<Option<String>> = keys.iter().map(|k| c.get(k)).collect();
        let first = values[0].clone().expect("key written");
        assert!(
            values.iter().all(|v| v.as_deref() == Some(first.as_str())),
            "keys from different commits via {addr}: {:?}",
            keys.iter().zip(&values).collect::<Vec<_>>()
        );
        assert!(
            last_values.contains(&first),
            "{first} is not the last commit of any writer"
        );
    }
}

/// Plain PUTs and GETs on keys that transactions keep locking must neither
/// deadlock nor starve, and every transaction commits whole.
#[test]
fn plain_operations_interleave_with_transactions() {
    const TXN_WRITERS: usize = 2;
    const PLAIN_CLIENTS: usize = 2;
    const COMMITS: usize = 60;
    let server = common::start(WORKERS);
    let keys = Arc::new(spread_keys(&server, "mixed"));
    let addrs = all_addrs(&server);
    let done = Arc::new(AtomicBool::new(false));
    let plain: Vec<_> = (0..PLAIN_CLIENTS)
        .map(|p| {
            let (keys, done) = (Arc::clone(&keys), Arc::clone(&done));
            let addr = addrs[(p + 1) % addrs.len()];
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut rng = Rng::new(7 + p as u64);
                let mut ops = 0u64;
                loop {
                    let key = &keys[rng.below(keys.len())];
                    c.put(key, &format!("plain{p}"));
                    assert!(c.get(key).is_some(), "{key} vanished");
                    ops += 1;
                    if done.load(Ordering::SeqCst) {
                        return ops;
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..TXN_WRITERS)
        .map(|w| {
            let keys = Arc::clone(&keys);
            let addr = addrs[(w + 3) % addrs.len()];
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut rng = Rng::new(50 + w as u64);
                let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
                for seq in 0..COMMITS {
                    rng.shuffle(&mut order);
                    let took = commit_txn(&mut c, &order, &format!("t{w}-{seq}"));
                    assert!(took < common::IO_TIMEOUT, "COMMIT took {took:?}");
                }
            })
        })
        .collect();
    join_all(writers);
    done.store(true, Ordering::SeqCst);
    // Each plain client's operations all completed (a stuck one would have
    // hit the read timeout).
    join_all(plain);
    // A final transaction still commits whole.
    let mut c = Client::connect(server.shared_addr());
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    commit_txn(&mut c, &key_refs, "final");
    for key in keys.iter() {
        assert_eq!(c.get(key).as_deref(), Some("final"));
    }
}

/// Single-partition transactions (applied in one step) and cross-partition
/// ones (two-phase commit) on overlapping keys: each stays whole.
#[test]
fn single_and_cross_partition_transactions_interleave() {
    const COMMITS: usize = 100;
    let server = common::start(WORKERS);
    let by_partition = common::keys_by_partition(server.topology(), "mix", KEYS_PER_PARTITION);
    let all: Arc<Vec<String>> = Arc::new(by_partition.concat());
    let local: Arc<Vec<String>> = Arc::new(by_partition[0].clone());
    let addrs = all_addrs(&server);
    let barrier = Arc::new(Barrier::new(2));
    let spawn_writer = |name: &'static str, keys: Arc<Vec<String>>, addr: SocketAddr| {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut rng = Rng::new(name.len() as u64);
            let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
            barrier.wait();
            for seq in 0..COMMITS {
                rng.shuffle(&mut order);
                let took = commit_txn(&mut c, &order, &format!("{name}{seq}"));
                assert!(took < common::IO_TIMEOUT, "{name}: COMMIT took {took:?}");
            }
        })
    };
    let cross = spawn_writer("cross", Arc::clone(&all), addrs[2]);
    let single = spawn_writer("single", Arc::clone(&local), addrs[1]);
    join_all(vec![cross, single]);
    let mut c = Client::connect(server.shared_addr());
    let last_cross = format!("cross{}", COMMITS - 1);
    let last_single = format!("single{}", COMMITS - 1);
    let on_p0: Vec<Option<String>> = local.iter().map(|k| c.get(k)).collect();
    assert!(
        on_p0.iter().all(|v| *v == Some(last_cross.clone()))
            || on_p0.iter().all(|v| *v == Some(last_single.clone())),
        "partition 0 keys mix commits: {on_p0:?}"
    );
    for keys in &by_partition[1..] {
        for key in keys {
            assert_eq!(c.get(key).as_deref(), Some(last_cross.as_str()), "{key}");
        }
    }
}
