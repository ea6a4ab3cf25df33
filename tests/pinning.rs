//! `--pin auto` pins a worker to its core only while the core is the
//! worker's: when another busy thread shares it, the worker waits for its
//! CPU, notices (`pinning::CoreWatch`) and lets go of the core, while a
//! worker whose core stays free keeps its pin.

mod common;

use common::resp::{worker_stats, RespConn, Value};
use common::{config, start_with};
use corekv::pinning::{thread_wait_ns, Cpus, PinMode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hang guard: how long worker 0 may take to let go of its core (it needs
/// two contended seconds; a loaded CI machine may take longer).
const RELEASE_BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_pinned_worker_lets_go_of_a_core_another_thread_keeps_busy() {
    let cpus = Cpus::detect();
    if cpus.allowed.len() < 2 || thread_wait_ns().is_none() {
        eprintln!(
            "skipped: needs 2 or more CPUs ({:?}) and the kernel's run-queue delay \
             (/proc/thread-self/schedstat)",
            cpus.allowed
        );
        return;
    }
    let mut c = config(cpus.allowed.len() as u16);
    c.no_pin = false;
    c.pin = PinMode::Auto;
    let server = start_with(&c);
    let before = worker_stats(server.shared_addr());
    if before.iter().any(|w| w.pinned != 1) {
        eprintln!("skipped: --pin auto did not pin here (a CPU quota?): {before:?}");
        return;
    }
    // A thread that never sleeps on worker 0's core, and requests for
    // worker 0 on its core port: the worker now waits for its CPU.
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = common::hog(Some(cpus.allowed[0]), Arc::clone(&stop), RELEASE_BOUND);
    let mut conn = RespConn::connect(server.core_addrs()[0]);
    let start = Instant::now();
    let released = loop {
        for _ in 0..200 {
            assert_eq!(conn.cmd(&["SET", "k", "v"]), Value::ok());
        }
        let now = worker_stats(server.shared_addr());
        if now[0].pinned == 0 {
            break Some(now);
        }
        if start.elapsed() > RELEASE_BOUND {
            break None;
        }
    };
    stop.store(true, Ordering::Relaxed);
    spinner.join().expect("spinner");
    let now = released.unwrap_or_else(|| {
        panic!("worker 0 still pinned after {RELEASE_BOUND:?} sharing its core")
    });
    // Its peers owe nothing to worker 0's neighbour; the server serves on.
    assert_eq!(
        now.iter().map(|w| w.pinned).sum::<u64>(),
        now.len() as u64 - 1,
        "only worker 0 let go: {now:?}"
    );
    assert_eq!(conn.cmd(&["GET", "k"]), Value::bulk("v"));
    assert_eq!(
        common::total_stat(server.shared_addr(), "workers_pinned"),
        now.len() as u64 - 1
    );
}
