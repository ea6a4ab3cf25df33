//! Configuration: command-line flags, each also settable as `COREKV_<NAME>`.

use clap::{Parser, ValueEnum};

/// What a partition does when its memory budget is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvictionPolicy {
    /// Evict keys in SIEVE order (NSDI'24): keys read since the hand last
    /// passed survive; one-hit wonders leave first.
    Sieve,
    /// Evict the least recently used of a few sampled keys, like Redis.
    AllkeysLru,
    /// Refuse writes that would pass the limit.
    Noeviction,
}

impl EvictionPolicy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sieve => "sieve",
            Self::AllkeysLru => "allkeys-lru",
            Self::Noeviction => "noeviction",
        }
    }
}
use std::net::IpAddr;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "corekv",
    version,
    about = "In-memory key/value cache server: one pinned worker per core, each owning a hash partition"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "COREKV_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// The shared port, served by every worker (SO_REUSEPORT). 0 picks a free port.
    #[arg(long, env = "COREKV_PORT", default_value_t = 9888)]
    pub port: u16,

    /// Worker i also listens on core-port-base + i. 0 gives each worker a free port.
    #[arg(long, env = "COREKV_CORE_PORT_BASE", default_value_t = 9889)]
    pub core_port_base: u16,

    /// Number of workers (= partitions). Default: the CPUs this process may use.
    #[arg(long, env = "COREKV_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,

    /// Do not pin workers to cores.
    #[arg(long, env = "COREKV_NO_PIN")]
    pub no_pin: bool,

    /// Longest accepted command line, in bytes (suffixes as in Redis: k/m/g = 1000^n, kb/mb/gb = 1024^n).
    #[arg(long, env = "COREKV_MAX_LINE_BYTES", default_value = "1mib", value_parser = parse_size)]
    pub max_line_bytes: usize,

    /// Largest RESP request (all its arguments together).
    #[arg(long, env = "COREKV_MAX_REQUEST_BYTES", default_value = "64mb", value_parser = parse_size)]
    pub max_request_bytes: usize,

    /// Host name or address that CLUSTER SLOTS/NODES/SHARDS advertise for the
    /// core ports. Default: the bind address, or the address the client reached.
    #[arg(long, env = "COREKV_ANNOUNCE_HOST")]
    pub announce_host: Option<String>,

    /// Memory limit for the data, split evenly over the partitions (suffixes
    /// as for sizes: 64mb, 4gb). 0 means no limit; setting one is recommended.
    #[arg(long, env = "COREKV_MAXMEMORY", default_value = "0", value_parser = parse_size)]
    pub maxmemory: usize,

    /// What happens at the memory limit. `sieve`: evict keys (SIEVE order) to
    /// make room. `allkeys-lru`: evict by sampled LRU, as Redis.
    /// `noeviction`: refuse writes that would pass it
    /// (transactions fail whole); reads and deletes still work.
    #[arg(
        long,
        env = "COREKV_EVICTION_POLICY",
        value_enum,
        default_value = "sieve"
    )]
    pub eviction_policy: EvictionPolicy,

    /// Most bytes one open transaction may buffer before it must be rolled back.
    #[arg(long, env = "COREKV_MAX_TXN_BYTES", default_value = "64mib", value_parser = parse_size)]
    pub max_txn_bytes: usize,

    /// Lock lease of a prepared cross-partition transaction, in milliseconds
    /// (default 30000; 0: no lease). A transaction still holding locks on a
    /// partition this long after it prepared there is settled by that
    /// partition: aborted, or committed if its coordinator had already
    /// decided to commit; a coordinator that was merely slow then gets an
    /// error. A safety net: a healthy transaction holds locks for
    /// microseconds.
    #[arg(long, env = "COREKV_TXN_LEASE_MS", default_value_t = 30_000)]
    pub txn_lease_ms: u64,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `corekv=debug`.
    #[arg(long, env = "COREKV_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// Defaults for an embedded or test server: loopback, free ports.
    pub fn ephemeral(workers: u16) -> Self {
        let mut config = Self::parse_from(["corekv", "--bind", "127.0.0.1"]);
        config.port = 0;
        config.core_port_base = 0;
        config.workers = Some(workers);
        config
    }

    /// The number of workers to start: `--workers`, else the CPUs available
    /// to this process (affinity mask and cgroup quota respected).
    pub fn worker_count(&self) -> usize {
        match self.workers {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Parses a byte size as Redis's config does: `k`/`m`/`g` are powers of
/// 1000, `kb`/`mb`/`gb` (and `kib`/`mib`/`gib`) powers of 1024.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 1048576, 64kb, 1mb)"))?;
    let mult: usize = match unit.trim() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" | "kib" => 1 << 10,
        "m" => 1000 * 1000,
        "mb" | "mib" => 1 << 20,
        "g" => 1000 * 1000 * 1000,
        "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' in '{s}'")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2_000_000_000));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert!(parse_size("12parsecs").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn defaults() {
        let c = Config::parse_from(["corekv"]);
        assert_eq!(c.port, 9888);
        assert_eq!(c.core_port_base, 9889);
        assert_eq!(c.max_line_bytes, 1 << 20);
        assert_eq!(c.txn_lease_ms, 30_000);
        assert_eq!(c.bind.to_string(), "0.0.0.0");
        assert!(!c.no_pin);
        assert!(c.worker_count() >= 1);
    }

    #[test]
    fn flags() {
        let c = Config::parse_from(["corekv", "--workers", "4", "--no-pin", "--port", "7000"]);
        assert_eq!(c.worker_count(), 4);
        assert!(c.no_pin);
        assert_eq!(c.port, 7000);
        assert!(Config::try_parse_from(["corekv", "--workers", "0"]).is_err());
    }
}
