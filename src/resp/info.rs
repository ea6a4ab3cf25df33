//! `INFO`: the server's numbers in Redis's `section` / `field:value` text.

use crate::partition::Stats;
use std::fmt::Write;

/// What `INFO` reports, gathered from every worker.
pub struct InfoInput<'a> {
    pub workers: &'a [Stats],
    pub port: u16,
    pub uptime_secs: u64,
    pub connected_clients: u64,
    pub policy: &'static str,
    pub maxclients: usize,
}

const SECTIONS: [&str; 7] = [
    "server", "clients", "memory", "stats", "keyspace", "cluster", "workers",
];

/// The requested sections (all when `wanted` is empty, `all` or `everything`).
pub fn render(input: &InfoInput<'_>, wanted: &[String]) -> String {
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let mut total = Stats::default();
    for w in input.workers {
        total += w;
    }
    let mut s = String::new();
    for section in SECTIONS {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        section_text(&mut s, section, input, &total);
    }
    s
}

fn section_text(s: &mut String, section: &str, input: &InfoInput<'_>, total: &Stats) {
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    match section {
        "server" => {
            line("# Server", &"");
            line("redis_version", &"7.2.0");
            line("corekv_version", &env!("CARGO_PKG_VERSION"));
            line("redis_mode", &"cluster");
            line("os", &std::env::consts::OS);
            line("arch_bits", &(usize::BITS));
            line("process_id", &std::process::id());
            line("tcp_port", &input.port);
            line("uptime_in_seconds", &input.uptime_secs);
            line("uptime_in_days", &(input.uptime_secs / 86400));
            line("workers", &input.workers.len());
        }
        "clients" => {
            line("# Clients", &"");
            line("connected_clients", &input.connected_clients);
            line("cluster_connections", &0);
            line("maxclients", &input.maxclients);
        }
        "memory" => {
            let rss = resident_bytes();
            line("# Memory", &"");
            line("used_memory", &total.memory);
            line("used_memory_human", &human(total.memory));
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            line(
                "mem_clients_normal",
                &(total.client_buffers + total.replies_in_flight),
            );
            line("mem_client_replies_in_flight", &total.replies_in_flight);
            line("mem_client_buffer_pool", &total.buffer_pool);
            line("mem_slot_index", &total.slot_index);
            line("maxmemory", &total.memory_limit);
            line("maxmemory_human", &human(total.memory_limit));
            line("maxmemory_policy", &input.policy);
        }
        "stats" => {
            line("# Stats", &"");
            line("total_connections_received", &total.connections_total);
            line("total_commands_processed", &total.commands);
            line("rejected_connections", &total.rejected_connections);
            line(
                "client_output_buffer_limit_disconnections",
                &total.output_limit_disconnections,
            );
            line("client_idle_timeouts", &total.idle_timeouts);
            line("expired_keys", &total.expired);
            line("evicted_keys", &total.evictions);
            line("evicted_clients", &total.evicted_clients);
            line("keyspace_hits", &total.hits);
            line("keyspace_misses", &total.misses);
            line("forwarded_commands", &total.forwarded_out);
            line("partition_ops", &total.ops);
            line("txn_single_partition", &total.txn_single);
            line("txn_prepared", &total.txn_prepared);
            line("txn_aborted", &total.txn_aborted);
            line("txn_committed_single", &total.txn_commits_single);
            line("txn_committed_cross", &total.txn_commits_cross);
            line("txn_aborted_single", &total.txn_aborted_single);
            line("txn_aborted_cross", &total.txn_aborted_cross);
        }
        "keyspace" => {
            line("# Keyspace", &"");
            if total.keys > 0 {
                let db = format!("keys={},expires={},avg_ttl=0", total.keys, total.expires);
                line("db0", &db);
            }
        }
        "cluster" => {
            line("# Cluster", &"");
            line("cluster_enabled", &1);
        }
        "workers" => {
            line("# Workers", &"");
            for (i, w) in input.workers.iter().enumerate() {
                line(
                    &format!("worker_{i}"),
                    &format!(
                        "keys={},commands={},forwarded_out={},forwarded_in={},ops={},connections={}",
                        w.keys, w.commands, w.forwarded_out, w.forwarded_in, w.ops, w.connections_open
                    ),
                );
            }
        }
        _ => {}
    }
    // The section header was written as "# Name:" by `line`; fix it up.
    *s = s.replace(":\r\n", "\r\n");
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

fn human(bytes: u64) -> String {
    format!("{:.2}M", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let input = InfoInput {
            workers: &workers,
            port: 9888,
            uptime_secs: 10,
            connected_clients: 1,
            policy: "sieve",
            maxclients: 10_000,
        };
        let all = render(&input, &[]);
        assert!(
            all.starts_with("# Server\r\nredis_version:7.2.0\r\n"),
            "{all}"
        );
        assert!(all.contains("\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n"));
        assert!(all.contains("total_commands_processed:12\r\n"));
        assert!(all.contains("worker_1:keys=3,commands=7,forwarded_out=1,"));
        let ks = render(&input, &["keyspace".into()]);
        assert_eq!(ks, "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n");
    }
}
