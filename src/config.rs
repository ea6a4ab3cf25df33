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
    /// At most 2gb (batch offsets are 32-bit).
    #[arg(long, env = "COREKV_MAX_REQUEST_BYTES", default_value = "64mb", value_parser = parse_size_2g)]
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
    /// At most 2gb (batch offsets are 32-bit).
    #[arg(long, env = "COREKV_MAX_TXN_BYTES", default_value = "64mib", value_parser = parse_size_2g)]
    pub max_txn_bytes: usize,

    /// Most clients connected at once (Redis `maxclients`); past it a new
    /// client gets `-ERR max number of clients reached` and is closed. The
    /// open-file limit is raised to fit at start (the value obtained is logged,
    /// and maxclients lowered if it cannot be).
    #[arg(long, env = "COREKV_MAXCLIENTS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub maxclients: u64,

    /// Close a client idle (no command, no write progress) for this many
    /// seconds (Redis `timeout`); 0 = never.
    #[arg(long, env = "COREKV_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,

    /// Output limit per client, as Redis's `client-output-buffer-limit normal`:
    /// "HARD SOFT SOFT-SECONDS". A client whose queued replies (forwarded
    /// ones included) pass HARD, or stay above SOFT for SOFT-SECONDS, is
    /// disconnected. 0 disables a part. Default "256mb 64mb 60" (Redis: no limit).
    #[arg(long, env = "COREKV_CLIENT_OUTPUT_BUFFER_LIMIT", default_value = "256mb 64mb 60", value_parser = crate::clients::OutputLimit::parse)]
    pub client_output_buffer_limit: crate::clients::OutputLimit,

    /// Largest value (and RESP bulk argument): SET, APPEND and INCR results
    /// included (Redis `proto-max-bulk-len`, default 512mb, at least 1mb).
    #[arg(long, env = "COREKV_PROTO_MAX_BULK_LEN", default_value = "512mb", value_parser = parse_bulk_len)]
    pub proto_max_bulk_len: usize,

    /// Seconds SIGTERM/SIGINT waits for clients to finish (blocked writes
    /// included) before closing the rest; a second signal exits at once.
    #[arg(long, env = "COREKV_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,

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

/// A size of at most 2 GiB: what one request or transaction may carry,
/// so that an `OpBatch`'s `u32` offsets can never wrap.
pub fn parse_size_2g(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n > 2 << 30 {
        return Err(format!("'{s}' is over the maximum, 2gb"));
    }
    Ok(n)
}

/// A `proto-max-bulk-len`: a size of at least 1 MiB, as Redis requires.
pub fn parse_bulk_len(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n < crate::clients::MIN_PROTO_MAX_BULK_LEN {
        return Err(format!("'{s}' is under the minimum, 1mb"));
    }
    Ok(n)
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
        assert_eq!(parse_size_2g("2gb"), Ok(2 << 30));
        assert!(parse_size_2g("3gb").is_err());
        assert!(parse_bulk_len("1000").is_err());
    }

    #[test]
    fn defaults() {
        let c = Config::parse_from(["corekv"]);
        assert_eq!(c.port, 9888);
        assert_eq!(c.core_port_base, 9889);
        assert_eq!(c.max_line_bytes, 1 << 20);
        assert_eq!(c.bind.to_string(), "0.0.0.0");
        assert!(!c.no_pin);
        assert!(c.worker_count() >= 1);
        assert_eq!(c.maxclients, 10_000);
        assert_eq!(c.timeout, 0);
        assert_eq!(c.client_output_buffer_limit.hard, 256 << 20);
        assert_eq!(c.proto_max_bulk_len, 512 << 20);
        assert_eq!(c.shutdown_timeout, 10);
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
