//! `INFO`, `SLOWLOG`, `CONFIG SET`/`RESETSTAT` over RESP: Redis 7's field
//! names and order, per-command statistics counted on every worker and
//! merged, the slow log, and runtime settings applied to every partition.

mod common;

use common::resp::{RespConn, Value};
use std::collections::HashMap;

/// The default `INFO` of redis-server 7.0.15: its sections in order, each
/// with its fields in order (`Errorstats` and `Keyspace` vary with use).
const REDIS_7_0_15: &[(&str, &[&str])] = &[
    (
        "Server",
        &[
            "redis_version",
            "redis_git_sha1",
            "redis_git_dirty",
            "redis_build_id",
            "redis_mode",
            "os",
            "arch_bits",
            "monotonic_clock",
            "multiplexing_api",
            "atomicvar_api",
            "gcc_version",
            "process_id",
            "process_supervised",
            "run_id",
            "tcp_port",
            "server_time_usec",
            "uptime_in_seconds",
            "uptime_in_days",
            "hz",
            "configured_hz",
            "lru_clock",
            "executable",
            "config_file",
            "io_threads_active",
        ],
    ),
    (
        "Clients",
        &[
            "connected_clients",
            "cluster_connections",
            "maxclients",
            "client_recent_max_input_buffer",
            "client_recent_max_output_buffer",
            "blocked_clients",
            "tracking_clients",
            "clients_in_timeout_table",
        ],
    ),
    (
        "Memory",
        &[
            "used_memory",
            "used_memory_human",
            "used_memory_rss",
            "used_memory_rss_human",
            "used_memory_peak",
            "used_memory_peak_human",
            "used_memory_peak_perc",
            "used_memory_overhead",
            "used_memory_startup",
            "used_memory_dataset",
            "used_memory_dataset_perc",
            "allocator_allocated",
            "allocator_active",
            "allocator_resident",
            "total_system_memory",
            "total_system_memory_human",
            "used_memory_lua",
            "used_memory_vm_eval",
            "used_memory_lua_human",
            "used_memory_scripts_eval",
            "number_of_cached_scripts",
            "number_of_functions",
            "number_of_libraries",
            "used_memory_vm_functions",
            "used_memory_vm_total",
            "used_memory_vm_total_human",
            "used_memory_functions",
            "used_memory_scripts",
            "used_memory_scripts_human",
            "maxmemory",
            "maxmemory_human",
            "maxmemory_policy",
            "allocator_frag_ratio",
            "allocator_frag_bytes",
            "allocator_rss_ratio",
            "allocator_rss_bytes",
            "rss_overhead_ratio",
            "rss_overhead_bytes",
            "mem_fragmentation_ratio",
            "mem_fragmentation_bytes",
            "mem_not_counted_for_evict",
            "mem_replication_backlog",
            "mem_total_replication_buffers",
            "mem_clients_slaves",
            "mem_clients_normal",
            "mem_cluster_links",
            "mem_aof_buffer",
            "mem_allocator",
            "active_defrag_running",
            "lazyfree_pending_objects",
            "lazyfreed_objects",
        ],
    ),
    (
        "Persistence",
        &[
            "loading",
            "async_loading",
            "current_cow_peak",
            "current_cow_size",
            "current_cow_size_age",
            "current_fork_perc",
            "current_save_keys_processed",
            "current_save_keys_total",
            "rdb_changes_since_last_save",
            "rdb_bgsave_in_progress",
            "rdb_last_save_time",
            "rdb_last_bgsave_status",
            "rdb_last_bgsave_time_sec",
            "rdb_current_bgsave_time_sec",
            "rdb_saves",
            "rdb_last_cow_size",
            "rdb_last_load_keys_expired",
            "rdb_last_load_keys_loaded",
            "aof_enabled",
            "aof_rewrite_in_progress",
            "aof_rewrite_scheduled",
            "aof_last_rewrite_time_sec",
            "aof_current_rewrite_time_sec",
            "aof_last_bgrewrite_status",
            "aof_rewrites",
            "aof_rewrites_consecutive_failures",
            "aof_last_write_status",
            "aof_last_cow_size",
            "module_fork_in_progress",
            "module_fork_last_cow_size",
        ],
    ),
    (
        "Stats",
        &[
            "total_connections_received",
            "total_commands_processed",
            "instantaneous_ops_per_sec",
            "total_net_input_bytes",
            "total_net_output_bytes",
            "total_net_repl_input_bytes",
            "total_net_repl_output_bytes",
            "instantaneous_input_kbps",
            "instantaneous_output_kbps",
            "instantaneous_input_repl_kbps",
            "instantaneous_output_repl_kbps",
            "rejected_connections",
            "sync_full",
            "sync_partial_ok",
            "sync_partial_err",
            "expired_keys",
            "expired_stale_perc",
            "expired_time_cap_reached_count",
            "expire_cycle_cpu_milliseconds",
            "evicted_keys",
            "evicted_clients",
            "total_eviction_exceeded_time",
            "current_eviction_exceeded_time",
            "keyspace_hits",
            "keyspace_misses",
            "pubsub_channels",
            "pubsub_patterns",
            "pubsubshard_channels",
            "latest_fork_usec",
            "total_forks",
            "migrate_cached_sockets",
            "slave_expires_tracked_keys",
            "active_defrag_hits",
            "active_defrag_misses",
            "active_defrag_key_hits",
            "active_defrag_key_misses",
            "total_active_defrag_time",
            "current_active_defrag_time",
            "tracking_total_keys",
            "tracking_total_items",
            "tracking_total_prefixes",
            "unexpected_error_replies",
            "total_error_replies",
            "dump_payload_sanitizations",
            "total_reads_processed",
            "total_writes_processed",
            "io_threaded_reads_processed",
            "io_threaded_writes_processed",
            "reply_buffer_shrinks",
            "reply_buffer_expands",
        ],
    ),
    (
        "Replication",
        &[
            "role",
            "connected_slaves",
            "master_failover_state",
            "master_replid",
            "master_replid2",
            "master_repl_offset",
            "second_repl_offset",
            "repl_backlog_active",
            "repl_backlog_size",
            "repl_backlog_first_byte_offset",
            "repl_backlog_histlen",
        ],
    ),
    (
        "CPU",
        &[
            "used_cpu_sys",
            "used_cpu_user",
            "used_cpu_sys_children",
            "used_cpu_user_children",
            "used_cpu_sys_main_thread",
            "used_cpu_user_main_thread",
        ],
    ),
    ("Modules", &[]),
    ("Errorstats", &[]),
    ("Cluster", &["cluster_enabled"]),
    ("Keyspace", &[]),
];

/// Section names and their field names, in order.
fn layout(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push((name.to_string(), Vec::new()));
        } else if let Some((field, _)) = line.split_once(':') {
            sections
                .last_mut()
                .expect("a header first")
                .1
                .push(field.into());
        }
    }
    sections
}

fn info(c: &mut RespConn, args: &[&str]) -> String {
    let mut cmd = vec!["INFO"];
    cmd.extend_from_slice(args);
    c.cmd(&cmd).text()
}

/// `field:value` of an INFO text.
fn fields(text: &str) -> HashMap<String, String> {
    text.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `calls=…,usec=…` of a `cmdstat_`/`errorstat_` line, as numbers.
fn counters(text: &str, name: &str) -> HashMap<String, f64> {
    let f = fields(text);
    let Some(line) = f.get(name) else {
        panic!("no {name} in {text}");
    };
    line.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn ok(c: &mut RespConn, args: &[&str]) {
    assert_eq!(c.cmd(args), Value::ok(), "{args:?}");
}

#[test]
fn info_sections_and_fields_follow_redis_7_0_15() {
    let server = common::start(2);
    let mut c = RespConn::connect(server.shared_addr());
    let got = layout(&info(&mut c, &[]));
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = REDIS_7_0_15.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, want, "INFO's default sections");
    for ((name, have), (_, redis)) in got.iter().zip(REDIS_7_0_15) {
        // Redis's fields first, in its order; corekv's own after them.
        assert!(have.len() >= redis.len(), "{name}: {have:?}");
        assert_eq!(&have[..redis.len()], *redis, "section {name}");
    }
    assert_eq!(layout(&info(&mut c, &["default"])), got);
    let everything = layout(&info(&mut c, &["everything"]));
    let names: Vec<&str> = everything.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Modules",
            "Commandstats",
            "Errorstats",
            "Cluster",
            "Keyspace",
            "Workers"
        ]
    );
    assert_eq!(layout(&info(&mut c, &["all"])), everything);
    // Several sections: in Redis's order, whatever the order asked.
    let two = layout(&info(&mut c, &["cpu", "MEMORY"]));
    assert_eq!(two[0].0, "Memory");
    assert_eq!(two[1].0, "CPU");
    assert_eq!(info(&mut c, &["nosuch"]), "");
    let f = fields(&info(&mut c, &["replication", "persistence", "cpu"]));
    assert_eq!(f["role"], "master");
    assert_eq!(f["connected_slaves"], "0");
    assert_eq!(f["master_repl_offset"], "0");
    assert_eq!(f["master_replid"].len(), 40);
    assert_eq!(f["loading"], "0");
    assert_eq!(f["aof_enabled"], "0");
    for k in ["used_cpu_sys", "used_cpu_user_main_thread"] {
        let (secs, micros) = f[k].split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{k}");
    }
}

#[test]
fn commandstats_count_calls_failures_and_rejections_on_every_worker() {
    let server = common::start(4);
    let addrs = common::all_addrs(&server);
    // Keys spread over the four partitions: most INCRs run on another
    // worker than the connection's, pipelined, so their errors come back
    // at the end of the batch.
    let mut c = RespConn::connect(addrs[1]);
    let mut d = RespConn::connect(addrs[2]);
    for i in 0..40 {
        c.send(&["SET", &format!("n{i}"), "1"]);
        c.send(&["SET", &format!("s{i}"), "text"]);
    }
    for i in 0..40 {
        c.send(&["INCR", &format!("n{i}")]);
        c.send(&["INCR", &format!("s{i}")]);
    }
    for _ in 0..160 {
        c.read();
    }
    for _ in 0..3 {
        assert!(matches!(d.cmd(&["GET"]), Value::Error(_)), "arity");
    }
    assert!(matches!(d.cmd(&["NOSUCH"]), Value::Error(_)));
    assert!(matches!(
        d.cmd(&["SET", "k", "v", "XX", "NX"]),
        Value::Error(_)
    ));
    // In a transaction: the queued commands count when EXEC runs them.
    ok(&mut d, &["MULTI"]);
    assert_eq!(d.cmd(&["INCR", "s1"]), Value::Simple("QUEUED".into()));
    assert_eq!(d.cmd(&["INCR", "t"]), Value::Simple("QUEUED".into()));
    assert!(matches!(d.cmd(&["EXEC"]), Value::Array(_)));
    // Subcommands apart; an unknown one counts nowhere; a subcommand's
    // arity is a rejection.
    assert!(matches!(
        d.cmd(&["CONFIG", "GET", "maxclients"]),
        Value::Array(_)
    ));
    assert!(matches!(d.cmd(&["CONFIG", "NOSUCH"]), Value::Error(_)));
    assert!(matches!(d.cmd(&["SLOWLOG", "LEN", "x"]), Value::Error(_)));
    let text = info(&mut d, &["commandstats"]);
    assert_eq!(
        counters(&text, "cmdstat_config|get")["calls"],
        1.0,
        "{text}"
    );
    assert_eq!(
        counters(&text, "cmdstat_slowlog|len")["rejected_calls"],
        1.0
    );
    assert!(
        !text.contains("cmdstat_config:") && !text.contains("nosuch"),
        "{text}"
    );
    let set = counters(&text, "cmdstat_set");
    assert_eq!(set["calls"], 81.0, "{text}");
    assert_eq!(set["failed_calls"], 1.0, "{text}");
    let incr = counters(&text, "cmdstat_incr");
    assert_eq!(incr["calls"], 82.0, "{text}");
    assert_eq!(incr["failed_calls"], 41.0, "{text}");
    assert_eq!(incr["rejected_calls"], 0.0, "{text}");
    let get = counters(&text, "cmdstat_get");
    assert_eq!((get["calls"], get["rejected_calls"]), (0.0, 3.0), "{text}");
    assert_eq!(counters(&text, "cmdstat_exec")["calls"], 1.0, "{text}");
    assert!(counters(&text, "cmdstat_multi")["usec_per_call"] >= 0.0);
    assert!(!text.contains("cmdstat_nosuch"));
    assert!(!text.contains("cmdstat_get:calls=1"));
    let errors = info(&mut d, &["errorstats"]);
    // 41 INCRs, 3 arity errors, one unknown command, one syntax error,
    // one unknown subcommand, one subcommand's arity.
    assert_eq!(
        counters(&errors, "errorstat_ERR")["count"],
        48.0,
        "{errors}"
    );
    let stats = fields(&info(&mut d, &["stats"]));
    assert_eq!(stats["total_error_replies"], "48");
}

#[test]
fn slowlog_logs_every_worker_newest_first() {
    let server = common::start(2);
    let addrs = common::all_addrs(&server);
    let mut a = RespConn::connect(addrs[1]);
    let mut b = RespConn::connect(addrs[2]);
    assert_eq!(a.cmd(&["SLOWLOG", "LEN"]), Value::Int(0));
    ok(&mut a, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut b, &["CLIENT", "SETNAME", "bee"]);
    ok(&mut a, &["SET", "one", "1"]);
    ok(&mut b, &["SET", "two", "2"]);
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let mut mget = vec!["MGET"];
    mget.extend(many.iter().map(String::as_str));
    b.cmd(&mget);
    ok(&mut a, &["SET", "long", &long]);
    let Value::Array(entries) = b.cmd(&["SLOWLOG", "GET", "4"]) else {
        panic!("SLOWLOG GET answers an array");
    };
    assert_eq!(entries.len(), 4);
    let fields = |e: &Value| match e {
        Value::Array(f) => f.clone(),
        other => panic!("{other:?}"),
    };
    let ids: Vec<i64> = entries
        .iter()
        .map(|e| match fields(e)[0] {
            Value::Int(id) => id,
            _ => panic!(),
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let newest = fields(&entries[0]);
    assert_eq!(newest.len(), 6);
    let Value::Array(args) = &newest[3] else {
        panic!()
    };
    let cut = format!("{}... (72 more bytes)", "x".repeat(128));
    assert_eq!(args[2], Value::bulk(&cut));
    assert_eq!(newest[5], Value::bulk(""), "no client name");
    let mget_entry = fields(&entries[1]);
    let Value::Array(args) = &mget_entry[3] else {
        panic!()
    };
    assert_eq!(args.len(), 32);
    assert_eq!(args[31], Value::bulk("... (10 more arguments)"));
    assert_eq!(mget_entry[5], Value::bulk("bee"));
    assert!(mget_entry[4].text().starts_with("127.0.0.1:"));
    assert_eq!(
        fields(&entries[2])[3],
        Value::Array(vec![
            Value::bulk("SET"),
            Value::bulk("two"),
            Value::bulk("2"),
        ])
    );
    ok(&mut a, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    assert_eq!(a.cmd(&["SLOWLOG", "LEN"]), Value::Int(3));
    ok(&mut a, &["SLOWLOG", "RESET"]);
    // The RESET itself is logged after it ran, as in Redis.
    assert_eq!(b.cmd(&["SLOWLOG", "LEN"]), Value::Int(1));
    ok(&mut a, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    ok(&mut a, &["SLOWLOG", "RESET"]);
    ok(&mut a, &["SET", "three", "3"]);
    assert_eq!(a.cmd(&["SLOWLOG", "GET"]), Value::Array(vec![]));
    assert_eq!(
        a.cmd(&["SLOWLOG", "GET", "-2"]),
        Value::Error("ERR count should be greater than or equal to -1".into())
    );
}

/// Single-key commands in a pipeline are timed as a run, one clock read
/// for many: the run's time still reaches their `usec`, and with a slow
/// log threshold below a millisecond each is timed (and logged) alone.
#[test]
fn pipelined_commands_are_timed_and_logged() {
    let server = common::start(1);
    let mut c = RespConn::connect(server.shared_addr());
    let n = 2_000;
    let mut pipeline = Vec::new();
    for i in 0..n {
        pipeline.extend(common::resp::request(&[
            b"SET",
            format!("k{i}").as_bytes(),
            b"v",
        ]));
    }
    for i in 0..n {
        pipeline.extend(common::resp::request(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.send_raw(&pipeline);
    for _ in 0..n {
        assert_eq!(c.read(), Value::ok());
    }
    for _ in 0..n {
        assert_eq!(c.read(), Value::bulk("v"));
    }
    let text = info(&mut c, &["commandstats"]);
    for name in ["cmdstat_set", "cmdstat_get"] {
        let stats = counters(&text, name);
        assert_eq!(stats["calls"], f64::from(n), "{name}");
        assert!(
            stats["usec"] > 0.0,
            "{name}: the runs' time is counted: {text}"
        );
    }
    // None of them passes the default 10 ms.
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Value::Int(0));
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut c, &["SLOWLOG", "RESET"]);
    let mut three = Vec::new();
    for key in ["a", "b", "c"] {
        three.extend(common::resp::request(&[b"GET", key.as_bytes()]));
    }
    c.send_raw(&three);
    for _ in 0..3 {
        assert_eq!(c.read(), Value::Nil);
    }
    let Value::Array(entries) = c.cmd(&["SLOWLOG", "GET", "-1"]) else {
        panic!("SLOWLOG GET answers an array");
    };
    let logged: Vec<Value> = entries
        .iter()
        .map(|e| match e {
            Value::Array(f) => f[3].clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let get = |k: &str| Value::Array(vec![Value::bulk("GET"), Value::bulk(k)]);
    // Newest first; the RESET is logged after it ran.
    assert_eq!(&logged[..3], &[get("c"), get("b"), get("a")]);
}

#[test]
fn config_set_maxmemory_applies_to_every_partition() {
    let server = common::start(2);
    let mut c = RespConn::connect(server.shared_addr());
    ok(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "2mb",
            "maxmemory-policy",
            "noeviction",
        ],
    );
    let Value::Array(got) = c.cmd(&["CONFIG", "GET", "maxmemory*"]) else {
        panic!()
    };
    assert!(got.contains(&Value::bulk("2097152")), "{got:?}");
    assert!(got.contains(&Value::bulk("noeviction")), "{got:?}");
    let value = "v".repeat(16 * 1024);
    let mut refused = 0;
    for i in 0..400 {
        match c.cmd(&["SET", &format!("key{i}"), &value]) {
            Value::Simple(_) => {}
            Value::Error(e) => {
                assert!(e.starts_with("OOM command not allowed"), "{e}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused > 200, "writes past 2mb are refused: {refused}");
    let text = info(&mut c, &["everything"]);
    assert_eq!(
        counters(&text, "errorstat_OOM")["count"],
        f64::from(refused),
        "{text}"
    );
    assert_eq!(
        counters(&text, "cmdstat_set")["rejected_calls"],
        f64::from(refused)
    );
    assert_eq!(fields(&text)["maxmemory"], "2097152");
    // Evicting instead, from now on.
    ok(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    ok(&mut c, &["SET", "after", &value]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    ok(&mut c, &["SET", "unlimited", &value]);
    for (args, want) in [
        (
            &["CONFIG", "SET", "port", "1"][..],
            "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config",
        ),
        (
            &["CONFIG", "SET", "nosuch", "1"],
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
        ),
        (
            &["CONFIG", "SET", "maxmemory", "lots"],
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
        ),
        (
            &["CONFIG", "SET", "slowlog-max-len", "-1"],
            "ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument must be between 0 and 9223372036854775807 inclusive",
        ),
    ] {
        assert_eq!(c.cmd(args), Value::Error(want.into()), "{args:?}");
    }
}

#[test]
fn config_resetstat_zeroes_the_counters_redis_resets() {
    let server = common::start(2);
    let mut c = RespConn::connect(server.shared_addr());
    ok(&mut c, &["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    c.cmd(&["INCR", "k"]);
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut c, &["CONFIG", "RESETSTAT"]);
    let text = info(&mut c, &["everything"]);
    let f = fields(&text);
    assert_eq!(f["keyspace_hits"], "0");
    assert_eq!(f["keyspace_misses"], "0");
    assert_eq!(f["total_error_replies"], "0");
    assert!(
        !text.contains("cmdstat_set") && !text.contains("errorstat_"),
        "{text}"
    );
    assert!(text.contains("db0:keys=1,"), "the data stays");
    assert!(
        matches!(c.cmd(&["SLOWLOG", "LEN"]), Value::Int(n) if n > 0),
        "the slow log stays"
    );
}
