//! Redis compatibility through redis-py: starts a 4-worker server and runs
//! `tests/python/test_clients.py` against it (plain client, pipelines,
//! transactions with WATCH, `RedisCluster` routing checked with
//! `INFO workers`). Needs `python3` with the PyPI package `redis` (>= 5):
//! without them the test fails and says how to install them.

mod common;

use common::resp::{describe, run_with_timeout, tool};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The script's own socket timeouts are 5 s; this only stops a hang.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(25);

/// `start-end=partition,…` for every slot, from the server's topology.
fn slot_owners(server: &corekv::Server) -> String {
    let topo = server.topology();
    let mut ranges: Vec<(u16, u16, usize)> = Vec::new();
    for slot in 0..16384u16 {
        let p = topo.partition_of_slot(slot);
        match ranges.last_mut() {
            Some((_, end, owner)) if *owner == p && *end + 1 == slot => *end = slot,
            _ => ranges.push((slot, slot, p)),
        }
    }
    ranges
        .iter()
        .map(|(s, e, p)| format!("{s}-{e}={p}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn redis_py_clients() {
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let probe = Command::new(&python)
        .args([
            "-c",
            "import redis, redis.cluster; print(redis.__version__)",
        ])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "the python package `redis` is missing: install it with \
         `python3 -m pip install 'redis>=5'`\n{}",
        describe("python3 -c 'import redis'", &probe)
    );

    let server = common::start(4);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_clients.py");
    let cores: Vec<String> = server
        .core_addrs()
        .iter()
        .map(|a| a.port().to_string())
        .collect();
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .env(
            "COREKV_SHARED_PORT",
            server.shared_addr().port().to_string(),
        )
        .env("COREKV_CORE_PORTS", cores.join(","))
        .env("COREKV_SLOT_OWNERS", slot_owners(&server))
        .env("PYTHONUNBUFFERED", "1");
    let out = run_with_timeout(&mut cmd, None, SCRIPT_TIMEOUT);
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("python3 {}", script.display()), &out)
    );
    // Show which checks ran (visible with --nocapture).
    println!("{}", String::from_utf8_lossy(&out.stdout));
}
