//! `INFO`: the server's numbers in Redis's `section` / `field:value` text.
//!
//! Each section lists Redis 7.0's fields in Redis's order (those corekv has
//! no counterpart for hold the value of an instance without that feature:
//! no persistence, no replicas, no scripts), then corekv's own fields.

use crate::introspect::{Introspect, Runtime};
use crate::partition::Stats;
use std::fmt::{Display, Write};
use std::sync::OnceLock;

/// What `INFO` reports, gathered from every worker.
pub struct InfoInput<'a> {
    pub workers: &'a [Stats],
    /// Every worker's command and error counters, merged.
    pub commands: &'a Introspect,
    pub port: u16,
    pub uptime_secs: u64,
    pub connected_clients: u64,
    /// Clients waiting in a blocking command, over all workers.
    pub blocked_clients: u64,
    pub policy: &'static str,
    pub maxmemory: u64,
    pub runtime: &'a Runtime,
    pub maxclients: usize,
}

/// Every section, in Redis's order, then corekv's `workers`; whether
/// `INFO` without arguments (Redis's `default`) includes it.
const SECTIONS: [(&str, bool); 14] = [
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("cluster", true),
    ("keyspace", true),
    ("workers", false),
    // Redis's `latencystats` is not kept (no per-command histograms).
    ("latencystats", false),
];

/// The requested sections, in Redis's order whatever the order asked:
/// none asked is `default`; `all` and `everything` are every section.
pub fn render(input: &InfoInput<'_>, wanted: &[String]) -> String {
    let asked = |name: &str| wanted.iter().any(|w| w == name);
    let all = asked("all") || asked("everything");
    let default = wanted.is_empty() || asked("default");
    let mut total = Stats::default();
    for w in input.workers {
        total += w;
    }
    let mut s = String::new();
    for (section, in_default) in SECTIONS {
        if !(all || (default && in_default) || asked(section)) {
            continue;
        }
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        section_text(&mut s, section, input, &total);
    }
    s
}

fn line(s: &mut String, k: &str, v: impl Display) {
    let _ = write!(s, "{k}:{v}\r\n");
}

fn section_text(s: &mut String, section: &str, input: &InfoInput<'_>, total: &Stats) {
    match section {
        "server" => server(s, input),
        "clients" => clients(s, input),
        "memory" => memory(s, input, total),
        "persistence" => persistence(s, input),
        "stats" => stats(s, input, total),
        "replication" => replication(s),
        "cpu" => cpu(s),
        "modules" => s.push_str("# Modules\r\n"),
        "commandstats" => {
            s.push_str("# Commandstats\r\n");
            input.commands.commandstats(s);
        }
        "errorstats" => {
            s.push_str("# Errorstats\r\n");
            input.commands.errorstats(s);
        }
        "cluster" => {
            s.push_str("# Cluster\r\n");
            line(s, "cluster_enabled", 1);
        }
        "keyspace" => {
            s.push_str("# Keyspace\r\n");
            if total.keys > 0 {
                let db = format!("keys={},expires={},avg_ttl=0", total.keys, total.expires);
                line(s, "db0", db);
            }
        }
        "workers" => workers(s, input),
        _ => {}
    }
}

fn server(s: &mut String, input: &InfoInput<'_>) {
    let now = unix_micros();
    s.push_str("# Server\r\n");
    line(s, "redis_version", "7.2.0");
    line(s, "redis_git_sha1", "00000000");
    line(s, "redis_git_dirty", 0);
    line(s, "redis_build_id", "0");
    line(s, "redis_mode", "cluster");
    line(s, "os", os());
    line(s, "arch_bits", usize::BITS);
    line(s, "monotonic_clock", "POSIX clock_gettime");
    line(s, "multiplexing_api", "epoll");
    line(s, "atomicvar_api", "c11-builtin");
    line(s, "gcc_version", "0.0.0");
    line(s, "process_id", std::process::id());
    line(s, "process_supervised", "no");
    line(s, "run_id", run_id());
    line(s, "tcp_port", input.port);
    line(s, "server_time_usec", now);
    line(s, "uptime_in_seconds", input.uptime_secs);
    line(s, "uptime_in_days", input.uptime_secs / 86400);
    line(s, "hz", 10);
    line(s, "configured_hz", 10);
    line(s, "lru_clock", (now / 1_000_000) & ((1 << 24) - 1));
    let exe = std::env::current_exe().unwrap_or_default();
    line(s, "executable", exe.display());
    line(s, "config_file", "");
    line(s, "io_threads_active", 0);
    line(s, "corekv_version", env!("CARGO_PKG_VERSION"));
    line(s, "workers", input.workers.len());
}

fn clients(s: &mut String, input: &InfoInput<'_>) {
    s.push_str("# Clients\r\n");
    line(s, "connected_clients", input.connected_clients);
    line(s, "cluster_connections", 0);
    line(s, "maxclients", input.maxclients);
    line(s, "client_recent_max_input_buffer", 0);
    line(s, "client_recent_max_output_buffer", 0);
    line(s, "blocked_clients", input.blocked_clients);
    for k in ["tracking_clients", "clients_in_timeout_table"] {
        line(s, k, 0);
    }
}

fn memory(s: &mut String, input: &InfoInput<'_>, total: &Stats) {
    let used = total.memory;
    let rss = resident_bytes();
    let peak = input.runtime.peak_memory(used);
    let clients = total.client_buffers + total.replies_in_flight;
    let dataset = used.saturating_sub(clients);
    let system = total_system_memory();
    s.push_str("# Memory\r\n");
    line(s, "used_memory", used);
    line(s, "used_memory_human", human(used));
    line(s, "used_memory_rss", rss);
    line(s, "used_memory_rss_human", human(rss));
    line(s, "used_memory_peak", peak);
    line(s, "used_memory_peak_human", human(peak));
    line(
        s,
        "used_memory_peak_perc",
        format!("{:.2}%", percent(used, peak)),
    );
    line(s, "used_memory_overhead", clients);
    line(s, "used_memory_startup", 0);
    line(s, "used_memory_dataset", dataset);
    line(
        s,
        "used_memory_dataset_perc",
        format!("{:.2}%", percent(dataset, used)),
    );
    line(s, "allocator_allocated", used);
    line(s, "allocator_active", used);
    line(s, "allocator_resident", rss);
    line(s, "total_system_memory", system);
    line(s, "total_system_memory_human", human(system));
    for k in ["used_memory_lua", "used_memory_vm_eval"] {
        line(s, k, 0);
    }
    line(s, "used_memory_lua_human", "0B");
    for k in [
        "used_memory_scripts_eval",
        "number_of_cached_scripts",
        "number_of_functions",
        "number_of_libraries",
        "used_memory_vm_functions",
        "used_memory_vm_total",
    ] {
        line(s, k, 0);
    }
    line(s, "used_memory_vm_total_human", "0B");
    line(s, "used_memory_functions", 0);
    line(s, "used_memory_scripts", 0);
    line(s, "used_memory_scripts_human", "0B");
    line(s, "maxmemory", input.maxmemory);
    line(s, "maxmemory_human", human(input.maxmemory));
    line(s, "maxmemory_policy", input.policy);
    let ratio = ratio(rss, used);
    line(s, "allocator_frag_ratio", "1.00");
    line(s, "allocator_frag_bytes", 0);
    line(s, "allocator_rss_ratio", &ratio);
    line(s, "allocator_rss_bytes", rss as i64 - used as i64);
    line(s, "rss_overhead_ratio", "1.00");
    line(s, "rss_overhead_bytes", 0);
    line(s, "mem_fragmentation_ratio", &ratio);
    line(s, "mem_fragmentation_bytes", rss as i64 - used as i64);
    for k in [
        "mem_not_counted_for_evict",
        "mem_replication_backlog",
        "mem_total_replication_buffers",
        "mem_clients_slaves",
    ] {
        line(s, k, 0);
    }
    line(s, "mem_clients_normal", clients);
    line(s, "mem_cluster_links", 0);
    line(s, "mem_aof_buffer", 0);
    line(s, "mem_allocator", "mimalloc");
    for k in [
        "active_defrag_running",
        "lazyfree_pending_objects",
        "lazyfreed_objects",
    ] {
        line(s, k, 0);
    }
    line(s, "mem_client_replies_in_flight", total.replies_in_flight);
    line(s, "mem_client_buffer_pool", total.buffer_pool);
    line(s, "mem_slot_index", total.slot_index);
    line(s, "mem_entry_pages", total.entry_pages);
    line(s, "mem_entry_pages_used", total.entry_pages_used);
}

fn persistence(s: &mut String, input: &InfoInput<'_>) {
    let started = unix_micros() / 1_000_000 - input.uptime_secs;
    s.push_str("# Persistence\r\n");
    for k in [
        "loading",
        "async_loading",
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
    ] {
        line(s, k, 0);
    }
    line(s, "current_fork_perc", "0.00");
    line(s, "current_save_keys_processed", 0);
    line(s, "current_save_keys_total", 0);
    line(
        s,
        "rdb_changes_since_last_save",
        input.commands.write_calls(),
    );
    line(s, "rdb_bgsave_in_progress", 0);
    line(s, "rdb_last_save_time", started);
    line(s, "rdb_last_bgsave_status", "ok");
    line(s, "rdb_last_bgsave_time_sec", -1);
    line(s, "rdb_current_bgsave_time_sec", -1);
    for k in [
        "rdb_saves",
        "rdb_last_cow_size",
        "rdb_last_load_keys_expired",
        "rdb_last_load_keys_loaded",
        "aof_enabled",
        "aof_rewrite_in_progress",
        "aof_rewrite_scheduled",
    ] {
        line(s, k, 0);
    }
    line(s, "aof_last_rewrite_time_sec", -1);
    line(s, "aof_current_rewrite_time_sec", -1);
    line(s, "aof_last_bgrewrite_status", "ok");
    line(s, "aof_rewrites", 0);
    line(s, "aof_rewrites_consecutive_failures", 0);
    line(s, "aof_last_write_status", "ok");
    for k in [
        "aof_last_cow_size",
        "module_fork_in_progress",
        "module_fork_last_cow_size",
    ] {
        line(s, k, 0);
    }
}

fn stats(s: &mut String, input: &InfoInput<'_>, total: &Stats) {
    s.push_str("# Stats\r\n");
    line(s, "total_connections_received", total.connections_total);
    line(s, "total_commands_processed", total.commands);
    for k in [
        "instantaneous_ops_per_sec",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "total_net_repl_input_bytes",
        "total_net_repl_output_bytes",
    ] {
        line(s, k, 0);
    }
    for k in [
        "instantaneous_input_kbps",
        "instantaneous_output_kbps",
        "instantaneous_input_repl_kbps",
        "instantaneous_output_repl_kbps",
    ] {
        line(s, k, "0.00");
    }
    line(s, "rejected_connections", total.rejected_connections);
    for k in ["sync_full", "sync_partial_ok", "sync_partial_err"] {
        line(s, k, 0);
    }
    line(s, "expired_keys", total.expired);
    line(s, "expired_stale_perc", "0.00");
    line(s, "expired_time_cap_reached_count", 0);
    line(s, "expire_cycle_cpu_milliseconds", 0);
    line(s, "evicted_keys", total.evictions);
    line(s, "evicted_clients", total.evicted_clients);
    line(s, "total_eviction_exceeded_time", 0);
    line(s, "current_eviction_exceeded_time", 0);
    line(s, "keyspace_hits", total.hits);
    line(s, "keyspace_misses", total.misses);
    for k in [
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
    ] {
        line(s, k, 0);
    }
    line(s, "total_error_replies", input.commands.total_errors());
    for k in [
        "dump_payload_sanitizations",
        "total_reads_processed",
        "total_writes_processed",
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
    ] {
        line(s, k, 0);
    }
    line(
        s,
        "client_output_buffer_limit_disconnections",
        total.output_limit_disconnections,
    );
    line(s, "client_idle_timeouts", total.idle_timeouts);
    line(s, "forwarded_commands", total.forwarded_out);
    line(s, "partition_ops", total.ops);
    line(s, "txn_single_partition", total.txn_single);
    line(s, "txn_prepared", total.txn_prepared);
    line(s, "txn_aborted", total.txn_aborted);
    line(s, "txn_committed_single", total.txn_commits_single);
    line(s, "txn_committed_cross", total.txn_commits_cross);
    line(s, "txn_aborted_single", total.txn_aborted_single);
    line(s, "txn_aborted_cross", total.txn_aborted_cross);
}

fn replication(s: &mut String) {
    s.push_str("# Replication\r\n");
    line(s, "role", "master");
    line(s, "connected_slaves", 0);
    line(s, "master_failover_state", "no-failover");
    line(s, "master_replid", run_id());
    line(s, "master_replid2", "0".repeat(40));
    line(s, "master_repl_offset", 0);
    line(s, "second_repl_offset", -1);
    line(s, "repl_backlog_active", 0);
    line(s, "repl_backlog_size", 1_048_576);
    line(s, "repl_backlog_first_byte_offset", 0);
    line(s, "repl_backlog_histlen", 0);
}

/// CPU time from `getrusage`: the process, its children, and the thread
/// answering (Redis's "main thread"; corekv has one per worker).
fn cpu(s: &mut String) {
    s.push_str("# CPU\r\n");
    for (suffix, who) in [
        ("", libc::RUSAGE_SELF),
        ("_children", libc::RUSAGE_CHILDREN),
        ("_main_thread", libc::RUSAGE_THREAD),
    ] {
        let (sys, user) = rusage(who);
        line(s, &format!("used_cpu_sys{suffix}"), sys);
        line(s, &format!("used_cpu_user{suffix}"), user);
    }
}

fn rusage(who: libc::c_int) -> (String, String) {
    // SAFETY: getrusage writes a `rusage` into the zeroed value it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `who` is one of the RUSAGE_* constants.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    (tv(ru.ru_stime), tv(ru.ru_utime))
}

fn workers(s: &mut String, input: &InfoInput<'_>) {
    s.push_str("# Workers\r\n");
    for (i, w) in input.workers.iter().enumerate() {
        line(
            s,
            &format!("worker_{i}"),
            format_args!(
                "keys={},commands={},forwarded_out={},forwarded_in={},ops={},connections={},migrated_in={},pinned={},contended={}",
                w.keys,
                w.commands,
                w.forwarded_out,
                w.forwarded_in,
                w.ops,
                w.connections_open,
                w.connections_migrated_in,
                w.pinned,
                w.contended
            ),
        );
    }
}

/// The process's resident set size, from `/proc/self/statm`.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn total_system_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `uname -s -r -m`, as Redis's `os` field.
fn os() -> &'static str {
    static OS: OnceLock<String> = OnceLock::new();
    OS.get_or_init(|| {
        // SAFETY: uname fills the zeroed struct with NUL-terminated fields.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::uname(&mut u) } != 0 {
            return std::env::consts::OS.to_string();
        }
        let field = |f: &[libc::c_char]| {
            let bytes: Vec<u8> = f
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        format!(
            "{} {} {}",
            field(&u.sysname),
            field(&u.release),
            field(&u.machine)
        )
    })
}

/// A random 40-hex-digit id for this process (`run_id`, `master_replid`).
fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut id = String::new();
        for i in 0..3u64 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i ^ unix_micros());
            let _ = write!(id, "{:016x}", h.finish());
        }
        id.truncate(40);
        id
    })
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "0.00".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// Redis's `bytesToHuman`: `B` below 1 KiB, then `K`, `M`, `G`, `T`, `P`
/// with two decimals.
pub fn human(bytes: u64) -> String {
    let n = bytes as f64;
    let units = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut scaled = n / 1024.0;
    for unit in units {
        if scaled < 1024.0 || unit == "P" {
            return format!("{scaled:.2}{unit}");
        }
        scaled /= 1024.0;
    }
    unreachable!()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with('#')).collect()
    }

    #[test]
    fn sections_and_totals() {
        let workers = [
            Stats {
                keys: 2,
                commands: 5,
                ..Stats::default()
            },
            Stats {
                keys: 3,
                commands: 7,
                forwarded_out: 1,
                ..Stats::default()
            },
        ];
        let commands = Introspect::default();
        let runtime = Runtime::new(0, crate::config::EvictionPolicy::Noeviction);
        let input = InfoInput {
            workers: &workers,
            commands: &commands,
            port: 9888,
            uptime_secs: 10,
            connected_clients: 1,
            blocked_clients: 0,
            policy: "sieve",
            maxmemory: 0,
            runtime: &runtime,
            maxclients: 10_000,
        };
        let default = render(&input, &[]);
        assert!(
            default.starts_with("# Server\r\nredis_version:7.2.0\r\n"),
            "{default}"
        );
        assert_eq!(
            headers(&default),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert!(default.contains("\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n"));
        assert!(default.contains("total_commands_processed:12\r\n"));
        let all = render(&input, &["all".into()]);
        assert!(all.contains("# Commandstats\r\n"));
        assert!(all.contains("worker_1:keys=3,commands=7,forwarded_out=1,"));
        let ks = render(&input, &["keyspace".into()]);
        assert_eq!(ks, "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n");
        let two = render(&input, &["cpu".into(), "memory".into()]);
        assert_eq!(headers(&two), ["# Memory", "# CPU"]);
        assert_eq!(render(&input, &["nosuch".into()]), "");
    }

    #[test]
    fn human_as_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(200), "200B");
        assert_eq!(human(965_928), "943.29K");
        assert_eq!(human(6_713_344), "6.40M");
        assert_eq!(human(25_276_502_016), "23.54G");
    }
}
