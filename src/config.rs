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
use std::path::PathBuf;

pub use crate::connection::migrate::MigrateMode;
pub use crate::pinning::PinMode;

/// Whether TLS clients must present a certificate (`--tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthClients {
    Yes,
    No,
    Optional,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "corekv",
    version,
    about = "In-memory key/value cache server: one pinned worker per core, each owning a hash partition"
)]
pub struct Config {
    /// Addresses to listen on: repeat the flag, or give a comma/space
    /// separated list (`COREKV_BIND="127.0.0.1 -::1"`). A leading `-` marks
    /// an address that is skipped (with a log line) when the machine lacks
    /// it, as in Redis. Default: loopback only, `127.0.0.1 -::1`; use
    /// `0.0.0.0` (and `::`) to serve other machines.
    #[arg(long, env = "COREKV_BIND", default_value = "127.0.0.1 -::1", value_parser = parse_bind_list)]
    pub bind: Vec<BindList>,

    /// The shared plain-text port, served by every worker (SO_REUSEPORT).
    /// 0 turns the plain ports off (shared and core ports), as Redis's `port 0`.
    #[arg(long, env = "COREKV_PORT", default_value_t = 9888)]
    pub port: u16,

    /// Worker i also listens on core-port-base + i (plain text). Must not be
    /// 0 while the plain ports are on.
    #[arg(long, env = "COREKV_CORE_PORT_BASE", default_value_t = 9889)]
    pub core_port_base: u16,

    /// A port on which every connection speaks RESP from its first byte,
    /// served by every worker (SO_REUSEPORT), as a Redis server's port: a
    /// first line that does not start with `*` is an inline command
    /// (`PING`), not the text protocol. Default: none (0 too).
    #[arg(long, env = "COREKV_RESP_PORT")]
    pub resp_port: Option<u16>,

    /// For tests: every port given as 0 picks a free port instead of
    /// turning its listeners off (the ready log line names the ports).
    #[arg(long, hide = true)]
    pub ephemeral_ports: bool,

    /// With `ephemeral_ports`: turn the plain ports off anyway (what `--port
    /// 0` means for the binary). Not a flag.
    #[arg(skip)]
    pub no_plain_ports: bool,

    /// The shared TLS port, served by every worker (SO_REUSEPORT). 0
    /// (default): no TLS. Needs --tls-cert-file and --tls-key-file.
    #[arg(long, env = "COREKV_TLS_PORT", default_value_t = 0)]
    pub tls_port: u16,

    /// Each worker also serves TLS on its own TLS core port, and CLUSTER
    /// SLOTS/NODES give TLS clients those ports (Redis's `tls-cluster yes`).
    #[arg(long, env = "COREKV_TLS_CLUSTER")]
    pub tls_cluster: bool,

    /// With --tls-cluster, worker i listens for TLS on tls-core-port-base + i.
    /// Default: tls-port + 1. These ports must not overlap the plain ones.
    #[arg(long, env = "COREKV_TLS_CORE_PORT_BASE")]
    pub tls_core_port_base: Option<u16>,

    /// The server's certificate chain (PEM), leaf first.
    #[arg(long, env = "COREKV_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "COREKV_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "COREKV_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// Client certificates: `yes` (required), `optional` (checked if sent)
    /// or `no`. Default: `yes` when --tls-ca-cert-file is given, else `no`.
    #[arg(long, env = "COREKV_TLS_AUTH_CLIENTS", value_enum)]
    pub tls_auth_clients: Option<AuthClients>,

    /// Number of workers (= partitions). Default: the CPUs this process may use.
    #[arg(long, env = "COREKV_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,

    /// When to pin workers to cores: `auto` pins only when the process owns
    /// exactly one CPU per worker (its CPU set has as many CPUs as workers
    /// and no CPU quota allows fewer), `always`, or `never`.
    #[arg(long, env = "COREKV_PIN", value_enum, default_value_t = PinMode::Auto)]
    pub pin: PinMode,

    /// Do not pin workers to cores (the same as `--pin never`).
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

    /// The port CLUSTER SLOTS/NODES/SHARDS (and TOPOLOGY) advertise for
    /// worker 0's core port; worker i's is this plus i. For clients that
    /// reach the core ports through other numbers (published container
    /// ports, Kubernetes NodePorts, NAT). Default: the bound core ports.
    #[arg(long, env = "COREKV_ANNOUNCE_PORT_BASE", value_parser = clap::value_parser!(u16).range(1..))]
    pub announce_port_base: Option<u16>,

    /// The shared port `TOPOLOGY` advertises (`shared_port`), for clients
    /// that reach it through another number. Default: the bound one.
    #[arg(long, env = "COREKV_ANNOUNCE_SHARED_PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub announce_shared_port: Option<u16>,

    /// Pods (corekv processes, one per host or Kubernetes pod) that act as
    /// one Redis-Cluster-compatible cache: the 16,384 slots are spread over
    /// every pod's workers (see `corekv_router::cluster`), a core port
    /// answers `-MOVED` for keys of another pod, and the shared and RESP
    /// ports forward them to their pod. Every pod must run the same number
    /// of workers. Default 1: this process owns every slot.
    #[arg(long, env = "COREKV_CLUSTER_SIZE", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub cluster_size: u16,

    /// This pod's place in the cluster, `0..cluster-size`. Default: the
    /// number that ends the host name (`corekv-2` → 2, as a StatefulSet
    /// names its pods).
    #[arg(long, env = "COREKV_CLUSTER_INDEX")]
    pub cluster_index: Option<u16>,

    /// Every pod's address, in index order, this one's included:
    /// `host[:port]` (comma or space separated), where port is the pod's
    /// first core port (default: --core-port-base). One entry containing
    /// `{i}` is a template expanded for i in 0..cluster-size, e.g.
    /// `corekv-{i}.corekv-headless.default.svc.cluster.local`. Pods forward
    /// to these addresses, and CLUSTER SLOTS/NODES/SHARDS advertise them,
    /// so clients must be able to reach them too.
    #[arg(long, env = "COREKV_CLUSTER_PEERS")]
    pub cluster_peers: Option<String>,

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

    /// Password of the default user: clients must `AUTH <password>` (RESP
    /// or text) before anything but AUTH, HELLO, PING and QUIT. Default:
    /// none. Prefer --requirepass-file or the environment variable, which
    /// stay out of `ps`.
    #[arg(
        long,
        env = "COREKV_REQUIREPASS",
        hide_env_values = true,
        conflicts_with = "requirepass_file"
    )]
    pub requirepass: Option<String>,

    /// Reads the default user's password from this file (one line; a
    /// trailing newline is ignored).
    #[arg(long, env = "COREKV_REQUIREPASS_FILE")]
    pub requirepass_file: Option<std::path::PathBuf>,

    /// ACL users in Redis's aclfile format (`user <name> <rules...>` per
    /// line), loaded at start (a bad file stops start-up) and by `ACL LOAD`.
    /// Default: none (only the `default` user).
    #[arg(long, env = "COREKV_ACLFILE")]
    pub aclfile: Option<std::path::PathBuf>,

    /// Protected mode (`yes`/`no`, default `yes`): while the default user
    /// has no password, clients from non-loopback addresses are refused.
    #[arg(long, env = "COREKV_PROTECTED_MODE", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub protected_mode: bool,

    /// Test hook: protected mode treats every client as non-loopback.
    #[arg(skip)]
    pub protected_mode_all_remote: bool,

    /// Lock lease of a prepared cross-partition transaction, in milliseconds
    /// (default 30000; 0: no lease). A transaction still holding locks on a
    /// partition this long after it prepared there is settled by that
    /// partition: aborted, or committed if its coordinator had already
    /// decided to commit; a coordinator that was merely slow then gets an
    /// error. A safety net: a healthy transaction holds locks for
    /// microseconds.
    #[arg(long, env = "COREKV_TXN_LEASE_MS", default_value_t = 30_000)]
    pub txn_lease_ms: u64,

    /// When a plain (not TLS) connection on the shared port whose
    /// operations all go to one other worker moves to that worker: `auto`
    /// (the default) while its worker waits for a CPU (run-queue delay of
    /// 5% or more over the last 100 ms: the cores are shared with clients
    /// or other processes, so every hop between threads waits too);
    /// `always`; `never`. On cores of their own the workers share a hot
    /// key's work by forwarding; a connection moved to its owner costs no
    /// hop (README "Design in brief").
    #[arg(long, env = "COREKV_MIGRATE", value_enum, default_value_t = MigrateMode::Auto)]
    pub migrate: MigrateMode,

    /// Operations in a row, all forwarded to one other worker, after which
    /// a connection may move there (see `--migrate`); 0: never.
    #[arg(long, env = "COREKV_MIGRATE_AFTER", default_value_t = 256)]
    pub migrate_after: u64,

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

    /// Memory all clients together may use (their buffers, queued and
    /// in-flight replies, transactions), as Redis 7's `maxmemory-clients`:
    /// a size (`64mb`) or a percentage of `--maxmemory` (`10%`); past it the
    /// clients using the most are disconnected. 0 = off (at least 128kb
    /// when on).
    #[arg(long, env = "COREKV_MAXMEMORY_CLIENTS", default_value = "0", value_parser = crate::clients::MaxmemoryClients::parse)]
    pub maxmemory_clients: crate::clients::MaxmemoryClients,

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
        config.ephemeral_ports = true;
        config.workers = Some(workers);
        config
    }

    /// The addresses to listen on, in the order given, without repeats.
    pub fn bind_addrs(&self) -> Vec<BindAddr> {
        let mut addrs: Vec<BindAddr> = Vec::new();
        for a in self.bind.iter().flat_map(|list| &list.0) {
            if !addrs.iter().any(|b| b.ip == a.ip) {
                addrs.push(*a);
            }
        }
        addrs
    }

    /// Listens on exactly these addresses (each one required).
    pub fn set_bind(&mut self, ips: &[IpAddr]) {
        let addrs = ips.iter().map(|&ip| BindAddr {
            ip,
            optional: false,
        });
        self.bind = vec![BindList(addrs.collect())];
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

/// One listen address; `optional` ones (written `-addr`) are skipped when
/// the machine does not have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddr {
    pub ip: IpAddr,
    pub optional: bool,
}

/// The addresses one `--bind` (or `COREKV_BIND`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindList(pub Vec<BindAddr>);

/// Parses `127.0.0.1,::1` or `127.0.0.1 -::1`: addresses separated by
/// commas and/or spaces, each optionally prefixed by `-`.
pub fn parse_bind_list(s: &str) -> Result<BindList, String> {
    let addrs = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (optional, ip) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let ip = ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("'{a}' is not an IP address"))?;
            Ok(BindAddr { ip, optional })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if addrs.is_empty() {
        return Err("no address given".into());
    }
    Ok(BindList(addrs))
}

/// `yes`/`no` (also `true`/`false`), as Redis's boolean options.
pub fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("'{s}' is not yes or no")),
    }
}

impl Config {
    /// The default user's password from --requirepass or
    /// --requirepass-file, if any.
    pub fn password(&self) -> std::io::Result<Option<Vec<u8>>> {
        if let Some(p) = &self.requirepass {
            return Ok(Some(p.as_bytes().to_vec()));
        }
        let Some(path) = &self.requirepass_file else {
            return Ok(None);
        };
        let mut bytes = std::fs::read(path)?;
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        Ok(Some(bytes))
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
        assert_eq!(c.resp_port, None);
        let ips: Vec<String> = c.bind_addrs().iter().map(|a| a.ip.to_string()).collect();
        assert_eq!(ips, ["127.0.0.1", "::1"]);
        assert!(!c.bind_addrs()[0].optional && c.bind_addrs()[1].optional);
        assert!(!c.ephemeral_ports);
        assert!(c.protected_mode);
        assert!(c.requirepass.is_none() && c.aclfile.is_none());
        assert_eq!(c.txn_lease_ms, 30_000);
        assert_eq!(c.migrate_after, 256);
        assert_eq!(
            c.migrate,
            MigrateMode::Auto,
            "connections move only while their worker waits for a CPU"
        );
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

    #[test]
    fn bind_lists() {
        let ips = |args: &[&str]| -> Vec<(String, bool)> {
            let mut argv = vec!["corekv"];
            argv.extend_from_slice(args);
            let c = Config::try_parse_from(argv).unwrap();
            c.bind_addrs()
                .iter()
                .map(|a| (a.ip.to_string(), a.optional))
                .collect()
        };
        let want = |list: &[(&str, bool)]| -> Vec<(String, bool)> {
            list.iter().map(|(ip, o)| (ip.to_string(), *o)).collect()
        };
        assert_eq!(
            ips(&["--bind", "127.0.0.1", "--bind", "::1"]),
            want(&[("127.0.0.1", false), ("::1", false)])
        );
        assert_eq!(
            ips(&["--bind", "127.0.0.1, -::1 10.0.0.1"]),
            want(&[("127.0.0.1", false), ("::1", true), ("10.0.0.1", false)])
        );
        assert_eq!(
            ips(&["--bind", "0.0.0.0", "--bind", "0.0.0.0,[::]"]),
            want(&[("0.0.0.0", false), ("::", false)])
        );
        assert!(parse_bind_list("localhost").is_err());
        assert!(parse_bind_list(" , ").is_err());
        assert!(parse_bind_list("-").is_err());
    }

    #[test]
    fn security_flags() {
        let c = Config::parse_from(["corekv", "--protected-mode", "no", "--requirepass", "pw"]);
        assert!(!c.protected_mode);
        assert_eq!(c.password().unwrap(), Some(b"pw".to_vec()));
        assert!(Config::try_parse_from(["corekv", "--protected-mode", "maybe"]).is_err());
        let both = ["corekv", "--requirepass", "a", "--requirepass-file", "/x"];
        assert!(Config::try_parse_from(both).is_err());
        let file = std::env::temp_dir().join(format!("corekv-pass-{}", std::process::id()));
        std::fs::write(&file, "s3cret\n").unwrap();
        let c = Config::parse_from(["corekv", "--requirepass-file", file.to_str().unwrap()]);
        assert_eq!(c.password().unwrap(), Some(b"s3cret".to_vec()));
        let _ = std::fs::remove_file(file);
    }
}
