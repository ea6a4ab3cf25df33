//! A connection whose keys all live on another worker moves there
//! (`--migrate-after`): it keeps its id, name, protocol and place in the
//! command order, and its operations stop crossing threads. Most tests
//! here move with `--migrate always`; the default (`auto`) moves only
//! while the worker waits for a CPU, which one test makes happen.

mod common;

use common::resp::{worker_stats, RespConn, Value, WorkerStats};
use common::{config, keys_by_partition, start_with, Client};
use corekv::config::MigrateMode;
use corekv::Server;
use std::net::SocketAddr;
use std::time::Duration;

/// After this many forwarded operations in a row the tests' servers move
/// a connection.
const AFTER: u64 = 16;

fn server(workers: u16, migrate_after: u64) -> Server {
    server_moving(workers, migrate_after, MigrateMode::Always)
}

fn server_moving(workers: u16, migrate_after: u64, mode: MigrateMode) -> Server {
    let mut c = config(workers);
    c.migrate_after = migrate_after;
    c.migrate = mode;
    start_with(&c)
}

/// A server of `workers` workers moving connections after `after`
/// operations, its shared port, and `per` keys `<prefix><n>` per partition.
fn setup(
    workers: u16,
    after: u64,
    prefix: &str,
    per: usize,
) -> (Server, SocketAddr, Vec<Vec<String>>) {
    let server = server(workers, after);
    let keys = keys_by_partition(server.topology(), prefix, per);
    let addr = server.shared_addr();
    (server, addr, keys)
}

fn workers(addr: SocketAddr) -> Vec<WorkerStats> {
    worker_stats(addr)
}

fn forwarded(addr: SocketAddr) -> u64 {
    workers(addr).iter().map(|w| w.forwarded_out).sum()
}

fn migrated_to(addr: SocketAddr, worker: usize) -> u64 {
    workers(addr)[worker].migrated_in
}

/// `INCR`s `key` `n` times in one pipeline, checking the replies count on
/// from `from`.
fn incr_pipeline(c: &mut RespConn, key: &str, n: i64, from: i64) {
    let mut bytes = Vec::new();
    for _ in 0..n {
        bytes.extend(common::resp::request(&[b"INCR", key.as_bytes()]));
    }
    c.send_raw(&bytes);
    for i in 1..=n {
        assert_eq!(c.read(), Value::Int(from + i), "reply {i} of the pipeline");
    }
}

#[test]
fn a_connection_follows_its_keys_and_keeps_its_state() {
    let (_server, addr, keys) = setup(4, AFTER, "m", 2);
    let mut c = RespConn::connect(addr);
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "mover"]), Value::ok());
    let id = c.cmd(&["CLIENT", "ID"]);

    // Partition 0's keys, more than enough times: the connection ends on
    // worker 0, having moved there unless it was accepted there.
    let (a, b) = (&keys[0][0], &keys[1][0]);
    incr_pipeline(&mut c, a, 3 * AFTER as i64, 0);
    let on_zero = c.cmd(&["INCR", a]);
    assert_eq!(on_zero, Value::Int(3 * AFTER as i64 + 1));
    let before = forwarded(addr);
    incr_pipeline(&mut c, a, AFTER as i64, 3 * AFTER as i64 + 1);
    assert_eq!(forwarded(addr), before, "on worker 0 nothing is forwarded");

    // Then partition 1's: it must move from worker 0 to worker 1, in the
    // middle of a pipeline whose replies stay in order.
    let moved_before = migrated_to(addr, 1);
    incr_pipeline(&mut c, b, 5 * AFTER as i64, 0);
    assert_eq!(c.cmd(&["INCR", b]), Value::Int(5 * AFTER as i64 + 1));
    assert_eq!(migrated_to(addr, 1), moved_before + 1);
    let before = forwarded(addr);
    assert_eq!(
        c.cmd(&["GET", a]),
        Value::bulk(&(4 * AFTER + 1).to_string())
    );
    assert_eq!(c.cmd(&["INCR", b]), Value::Int(5 * AFTER as i64 + 2));
    assert_eq!(
        forwarded(addr),
        before + 1,
        "only partition 0's GET crossed"
    );

    // The same client: id, name, one entry in CLIENT LIST.
    assert_eq!(c.cmd(&["CLIENT", "ID"]), id);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Value::bulk("mover"));
    let list = c.cmd(&["CLIENT", "LIST"]).text();
    let Value::Int(id) = id else {
        panic!("CLIENT ID: {id:?}")
    };
    let mine: Vec<_> = list
        .lines()
        .filter(|l| l.starts_with(&format!("id={id} ")))
        .collect();
    assert_eq!(mine.len(), 1, "{list}");
    assert!(mine[0].contains(" name=mover "), "{}", mine[0]);
    let info = common::resp::info_field(&mut c, "clients", "connected_clients");
    assert!(info >= 1);
}

/// With two workers: the partition that is not the connection's own,
/// found by whether `op` on partition 0's key was forwarded.
fn remote_of(addr: SocketAddr, keys: &[Vec<String>], op: impl FnOnce(&str)) -> usize {
    let before = forwarded(addr);
    op(&keys[0][0]);
    if forwarded(addr) > before {
        0
    } else {
        1
    }
}

#[test]
fn resp3_and_the_text_protocol_survive_the_move() {
    let (_server, addr, keys) = setup(2, AFTER, "r", 1);

    let mut c = RespConn::connect(addr);
    c.send(&["HELLO", "3"]);
    let header = c.read_line();
    let pairs: usize = header[1..].parse().expect("HELLO's map");
    for _ in 0..2 * pairs {
        let _ = c.read();
    }
    let p = remote_of(addr, &keys, |k| {
        assert_eq!(c.cmd(&["SET", k, "x"]), Value::ok());
    });
    let key = format!("h{{{}}}", keys[p][0]);
    let moved = migrated_to(addr, p);
    for i in 0..2 * AFTER {
        assert_eq!(c.cmd(&["HSET", &key, &format!("f{i}"), "v"]), Value::Int(1));
    }
    assert_eq!(migrated_to(addr, p), moved + 1);
    // Still RESP3: a map, not a flat array.
    c.send(&["HGETALL", &key]);
    assert_eq!(c.read_line(), format!("%{}", 2 * AFTER));
    for _ in 0..4 * AFTER {
        let _ = c.read();
    }

    let mut t = Client::connect(addr);
    let p = remote_of(addr, &keys, |k| {
        assert_eq!(t.cmd(&format!("PUT {k} 0")), common::OK);
    });
    let moved = migrated_to(addr, p);
    for i in 0..2 * AFTER {
        assert_eq!(t.cmd(&format!("PUT {} {i}", keys[p][0])), common::OK);
    }
    assert_eq!(migrated_to(addr, p), moved + 1);
    assert_eq!(
        t.cmd(&format!("GET {}", keys[p][0])),
        common::ok_result(&(2 * AFTER - 1).to_string())
    );
}

#[test]
fn mixed_keys_core_ports_migrate_after_0_and_never_keep_connections_in_place() {
    let (server, addr, keys) = setup(2, AFTER, "x", 1);
    // Alternating partitions: every batch has an operation here.
    let mut c = RespConn::connect(addr);
    for i in 0..10 * AFTER {
        let key = &keys[(i % 2) as usize][0];
        assert_eq!(c.cmd(&["SET", key, "v"]), Value::ok());
    }
    // A core port names its worker: worker 0's port with worker 1's key.
    let mut core = RespConn::connect(server.core_addrs()[0]);
    for _ in 0..10 * AFTER {
        assert_eq!(core.cmd(&["SET", &keys[1][0], "v"]), Value::ok());
    }
    assert_eq!(migrated_to(addr, 0) + migrated_to(addr, 1), 0);

    for (off, what) in [
        (self::server(2, 0), "--migrate-after 0"),
        (
            server_moving(2, AFTER, MigrateMode::Never),
            "--migrate never",
        ),
    ] {
        let keys = keys_by_partition(off.topology(), "x", 1);
        let mut c = RespConn::connect(off.shared_addr());
        for p in [0, 1, 0] {
            for _ in 0..10 * AFTER {
                assert_eq!(c.cmd(&["SET", &keys[p][0], "v"]), Value::ok());
            }
        }
        let w = workers(off.shared_addr());
        assert_eq!(w[0].migrated_in + w[1].migrated_in, 0, "{what}: never");
        assert!(w[0].forwarded_out + w[1].forwarded_out >= 10 * AFTER);
    }
}

/// Threads that keep every CPU of this machine busy (two per CPU, so the
/// server's workers wait for one) until dropped, or for 60 s at most.
struct Burners {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Burners {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let n = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..n)
            .map(|_| common::hog(None, std::sync::Arc::clone(&stop), Duration::from_secs(60)))
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn auto_moves_a_connection_once_its_worker_waits_for_a_cpu() {
    if corekv::pinning::thread_wait_ns().is_none() {
        eprintln!("skipped: this kernel keeps no run-queue delay (schedstat)");
        return;
    }
    let server = server_moving(2, AFTER, MigrateMode::Auto);
    let addr = server.shared_addr();
    let keys = keys_by_partition(server.topology(), "a", 1);
    let mut c = RespConn::connect(addr);
    let p = remote_of(addr, &keys, |k| {
        assert_eq!(c.cmd(&["SET", k, "0"]), Value::ok());
    });
    let key = &keys[p][0];
    let burners = Burners::start();
    // Pipelines to the other worker's key until the connection moves: its
    // worker waits for a CPU behind the burners within a window or two
    // (100 ms each). The deadline is a hang guard only.
    let deadline = std::time::Instant::now() + Duration::from_secs(50);
    let mut count = 0;
    let mut seen_contended = false;
    while migrated_to(addr, p) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no move in 50 s of CPU contention"
        );
        incr_pipeline(&mut c, key, 4 * AFTER as i64, count);
        count += 4 * AFTER as i64;
        seen_contended |= common::total_stat(addr, "workers_contended") > 0;
    }
    drop(burners);
    assert_eq!(c.cmd(&["INCR", key]), Value::Int(count + 1));
    assert!(
        seen_contended || workers(addr).iter().any(|w| w.contended > 0),
        "a worker reported it waits for a CPU"
    );
}

#[test]
fn an_open_multi_or_watch_keeps_the_connection_until_it_ends() {
    let (_server, addr, keys) = setup(2, AFTER, "w", 1);
    // Find which worker this connection is on: its first forwarded
    // operation shows it.
    let mut c = RespConn::connect(addr);
    let other = remote_of(addr, &keys, |k| {
        assert_eq!(c.cmd(&["SET", k, "0"]), Value::ok());
    });
    let key = &keys[other][0];
    assert_eq!(c.cmd(&["WATCH", key]), Value::ok());
    let moved = migrated_to(addr, other);
    for i in 0..4 * AFTER {
        assert_eq!(c.cmd(&["SET", key, &i.to_string()]), Value::ok());
    }
    assert_eq!(migrated_to(addr, other), moved, "WATCH holds it");
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["INCR", key]), Value::Simple("QUEUED".into()));
    // The watched key changed (by this same client): EXEC fails, as in
    // Redis.
    assert_eq!(c.cmd(&["EXEC"]), Value::NilArray);
    for i in 0..2 * AFTER {
        assert_eq!(c.cmd(&["SET", key, &i.to_string()]), Value::ok());
    }
    assert_eq!(
        migrated_to(addr, other),
        moved + 1,
        "free to move after EXEC"
    );
}

#[test]
fn clients_moving_back_and_forth_lose_and_reorder_nothing() {
    // Four workers, a move after 4 operations: eight clients each switch
    // between the partitions' counters every 8 pipelined INCRs, so they
    // move all the time, while each checks every reply.
    let (_server, addr, keys) = setup(4, 4, "c", 8);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let keys = keys.clone();
            std::thread::spawn(move || {
                let mut c = RespConn::connect(addr);
                let mut done = [0i64; 4];
                for round in 0..100 {
                    let p = (round * 3 + t) % 4;
                    // One counter per client and partition: each reply is
                    // known in advance.
                    let key = &keys[p][t];
                    incr_pipeline(&mut c, key, 8, done[p]);
                    done[p] += 8;
                }
                done
            })
        })
        .collect();
    let mut expected = vec![vec![0i64; 8]; 4];
    for (t, th) in threads.into_iter().enumerate() {
        let done = th.join().expect("client thread");
        for p in 0..4 {
            expected[p][t] = done[p];
        }
    }
    let mut c = RespConn::connect(addr);
    for p in 0..4 {
        for t in 0..8 {
            let got = c.cmd(&["GET", &keys[p][t]]);
            let want = expected[p][t];
            if want == 0 {
                assert_eq!(got, Value::Nil);
            } else {
                assert_eq!(got, Value::bulk(&want.to_string()), "counter {p}/{t}");
            }
        }
    }
    let moved: u64 = workers(addr).iter().map(|w| w.migrated_in).sum();
    assert!(moved >= 8 * 50, "clients moved {moved} times");
    // The eight clients hung up: their connections close wherever they
    // moved (a hang guard, not a timing assertion).
    let deadline = std::time::Instant::now() + common::IO_TIMEOUT;
    while common::resp::info_field(&mut c, "clients", "connected_clients") != 1 {
        assert!(std::time::Instant::now() < deadline, "clients left open");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
