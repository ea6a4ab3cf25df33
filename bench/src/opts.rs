//! Command-line options.

use crate::dist::Distribution;
use crate::proto::Protocol;
use clap::{Parser, ValueEnum};
use std::fmt;
use std::str::FromStr;

/// How connections reach the partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Routing {
    /// Every connection goes to --port; the server forwards.
    Shared,
    /// Read the topology once (TOPOLOGY or CLUSTER SLOTS); each client holds
    /// one connection per partition and sends each key to its owner (a
    /// pipelined batch is split between them).
    Smart,
    /// Smart routing by an asynchronous client that groups its requests by
    /// owner: each client holds one connection, to one partition's core
    /// port (clients spread over the partitions in turn), and asks only for
    /// that partition's keys, a full pipeline per connection.
    Pinned,
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Shared => "shared",
            Self::Smart => "smart",
            Self::Pinned => "pinned",
        })
    }
}

/// The share of GETs and PUTs, `get:put`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    pub get: u32,
    pub put: u32,
}

impl Ratio {
    /// The fraction of operations that are GETs.
    pub fn get_fraction(&self) -> f64 {
        f64::from(self.get) / (f64::from(self.get) + f64::from(self.put))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.get, self.put)
    }
}

impl FromStr for Ratio {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (g, p) = s
            .split_once(':')
            .ok_or_else(|| format!("expected get:put (like 9:1), got {s:?}"))?;
        let num = |x: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|e| format!("bad ratio part {x:?}: {e}"))
        };
        let r = Ratio {
            get: num(g)?,
            put: num(p)?,
        };
        if r.get == 0 && r.put == 0 {
            return Err("ratio 0:0 has no operations".into());
        }
        Ok(r)
    }
}

/// Load generator for corekv (text protocol or RESP) and any Redis- or
/// memcached-protocol server.
#[derive(Parser, Debug, Clone)]
#[command(name = "corekv-bench", version, about, long_about = None)]
pub struct Opts {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Server port (corekv: the shared port; with --routing smart, any port
    /// that answers TOPOLOGY / CLUSTER SLOTS).
    #[arg(long, short = 'p', default_value_t = 9888)]
    pub port: u16,

    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Text)]
    pub protocol: Protocol,

    /// shared: all connections to --port; smart: one connection per
    /// partition per client, each key sent to its owner's core port;
    /// pinned: one connection per client, to one partition's core port,
    /// carrying only that partition's keys.
    #[arg(long, value_enum, default_value_t = Routing::Shared)]
    pub routing: Routing,

    /// Concurrent clients (with smart routing each holds one connection per partition).
    #[arg(long, short = 'c', default_value_t = 50)]
    pub connections: usize,

    /// Requests per batch: a client writes this many in one write, then reads as many responses.
    #[arg(long, short = 'P', default_value_t = 1)]
    pub pipeline: usize,

    /// Client threads (one single-threaded async runtime each).
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,

    /// Measured seconds (after --warmup). Default 10 unless --requests is given.
    #[arg(long, short = 'd', conflicts_with = "requests")]
    pub duration: Option<f64>,

    /// Measured operations (after --warmup), instead of --duration.
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,

    /// Seconds of load before measuring (excluded from all statistics).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,

    /// Number of distinct keys (`key:%012d`, 16 bytes).
    #[arg(long, short = 'k', default_value_t = 1_000_000)]
    pub keyspace: u64,

    /// Bytes per PUT value.
    #[arg(long, default_value_t = 32)]
    pub value_size: usize,

    /// GETs to PUTs, `get:put`.
    #[arg(long, default_value = "1:1")]
    pub ratio: Ratio,

    /// Key popularity.
    #[arg(long, value_enum, default_value_t = Distribution::Uniform)]
    pub distribution: Distribution,

    /// Exponent of the zipfian distribution, in (0, 1).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_exponent: f64,

    /// Every operation is a transaction of this many PUTs (START … COMMIT,
    /// or MULTI … EXEC with RESP), sent as one pipelined unit. 0: no transactions.
    #[arg(long, default_value_t = 0)]
    pub txn_size: usize,

    /// Fraction of transactions whose keys span several partitions; the
    /// others keep all keys on one partition (chosen via the topology).
    #[arg(long, default_value_t = 0.0)]
    pub cross_fraction: f64,

    /// Fixed total request rate (operations per second), paced per client.
    /// Latency is then measured from each batch's scheduled send time
    /// whenever the client was still busy at that time (no coordinated omission).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Just PUT every key of the keyspace once, then exit (for memory measurements).
    #[arg(long)]
    pub load: bool,

    /// Also report this process's CPU seconds per million operations (Linux /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,

    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Seed for the key and operation choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The largest keyspace `key:%012d` can name.
pub const MAX_KEYSPACE: u64 = 1_000_000_000_000;

impl Opts {
    /// Checks combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.keyspace == 0 || self.keyspace > MAX_KEYSPACE {
            return Err(format!("--keyspace must be in 1..={MAX_KEYSPACE}"));
        }
        if self.keyspace > u64::from(u32::MAX) && self.txn_size > 0 {
            return Err("--txn-size needs --keyspace below 2^32".into());
        }
        if let Some(d) = self.duration {
            if !(d > 0.0 && d.is_finite()) {
                return Err("--duration must be a positive number of seconds".into());
            }
        }
        if self.requests == Some(0) {
            return Err("--requests must be at least 1".into());
        }
        if !(self.warmup >= 0.0 && self.warmup.is_finite()) {
            return Err("--warmup must be zero or more seconds".into());
        }
        if !(self.zipf_exponent > 0.0 && self.zipf_exponent < 1.0) {
            return Err("--zipf-exponent must be in (0, 1)".into());
        }
        if !(0.0..=1.0).contains(&self.cross_fraction) {
            return Err("--cross-fraction must be in [0, 1]".into());
        }
        if let Some(r) = self.rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err("--rate must be a positive number of operations per second".into());
            }
        }
        if self.value_size == 0 {
            return Err("--value-size must be at least 1".into());
        }
        if self.protocol == Protocol::Memcache {
            if self.txn_size > 0 {
                return Err("memcache has no transactions (--txn-size)".into());
            }
            if self.routing != Routing::Shared {
                return Err(format!(
                    "memcache has no topology (--routing {})",
                    self.routing
                ));
            }
        }
        if self.load && self.txn_size > 0 {
            return Err("--load and --txn-size do not mix".into());
        }
        Ok(())
    }

    /// Measured seconds, when the run is time-bound.
    pub fn measured_duration(&self) -> Option<f64> {
        match (self.duration, self.requests, self.load) {
            (_, _, true) => None,
            (Some(d), _, _) => Some(d),
            (None, Some(_), _) => None,
            (None, None, _) => Some(10.0),
        }
    }

    /// Seconds of warmup actually used (`--load` has none).
    pub fn effective_warmup(&self) -> f64 {
        if self.load {
            0.0
        } else {
            self.warmup
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, String> {
        let mut v = vec!["corekv-bench"];
        v.extend_from_slice(args);
        let o = Opts::try_parse_from(v).map_err(|e| e.to_string())?;
        o.validate()?;
        Ok(o)
    }

    #[test]
    fn defaults() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!(o.port, 9888);
        assert_eq!(o.protocol, Protocol::Text);
        assert_eq!(o.routing, Routing::Shared);
        assert_eq!(o.connections, 50);
        assert_eq!(o.pipeline, 1);
        assert_eq!(o.threads, 1);
        assert_eq!(o.keyspace, 1_000_000);
        assert_eq!(o.value_size, 32);
        assert_eq!(o.ratio, Ratio { get: 1, put: 1 });
        assert_eq!(o.distribution, Distribution::Uniform);
        assert_eq!(o.warmup, 1.0);
        assert_eq!(o.measured_duration(), Some(10.0));
        assert_eq!(o.txn_size, 0);
        assert!(!o.json && !o.quiet && !o.load);
    }

    #[test]
    fn full_command_line() {
        let o = parse(&[
            "--host",
            "localhost",
            "--port",
            "6379",
            "--protocol",
            "resp",
            "--routing",
            "smart",
            "-c",
            "8",
            "-P",
            "16",
            "--threads",
            "2",
            "--requests",
            "1000",
            "--keyspace",
            "500",
            "--value-size",
            "100",
            "--ratio",
            "9:1",
            "--distribution",
            "zipfian",
            "--txn-size",
            "4",
            "--cross-fraction",
            "0.5",
            "--rate",
            "2000",
            "--server-pid",
            "42",
            "--json",
            "--quiet",
            "--warmup",
            "0",
        ])
        .unwrap();
        assert_eq!(o.protocol, Protocol::Resp);
        assert_eq!(o.routing, Routing::Smart);
        assert_eq!((o.connections, o.pipeline, o.threads), (8, 16, 2));
        assert_eq!(o.requests, Some(1000));
        assert_eq!(o.measured_duration(), None);
        assert_eq!(o.ratio, Ratio { get: 9, put: 1 });
        assert!((o.ratio.get_fraction() - 0.9).abs() < 1e-12);
        assert_eq!(o.distribution, Distribution::Zipfian);
        assert_eq!((o.txn_size, o.cross_fraction), (4, 0.5));
        assert_eq!(o.rate, Some(2000.0));
        assert_eq!(o.server_pid, Some(42));
        assert!(o.json && o.quiet);
        assert_eq!(o.effective_warmup(), 0.0);
    }

    #[test]
    fn ratios() {
        assert_eq!("3:1".parse::<Ratio>().unwrap(), Ratio { get: 3, put: 1 });
        assert_eq!("0:1".parse::<Ratio>().unwrap().get_fraction(), 0.0);
        assert_eq!("1:0".parse::<Ratio>().unwrap().get_fraction(), 1.0);
        assert!("0:0".parse::<Ratio>().is_err());
        assert!("1".parse::<Ratio>().is_err());
        assert!("a:b".parse::<Ratio>().is_err());
        assert!(parse(&["--ratio", "x"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["--duration", "1", "--requests", "5"][..],
            &["--pipeline", "0"],
            &["--connections", "0"],
            &["--threads", "0"],
            &["--keyspace", "0"],
            &["--keyspace", "1000000000001"],
            &["--cross-fraction", "1.5"],
            &["--rate", "0"],
            &["--duration", "0"],
            &["--requests", "0"],
            &["--protocol", "memcache", "--txn-size", "2"],
            &["--protocol", "memcache", "--routing", "smart"],
            &["--protocol", "memcache", "--routing", "pinned"],
            &["--protocol", "http"],
            &["--distribution", "normal"],
            &["--load", "--txn-size", "2"],
            &["--zipf-exponent", "1.0"],
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn routing_modes() {
        for (arg, routing) in [
            ("shared", Routing::Shared),
            ("smart", Routing::Smart),
            ("pinned", Routing::Pinned),
        ] {
            let o = parse(&["--routing", arg]).unwrap();
            assert_eq!(
                (o.routing, o.routing.to_string()),
                (routing, arg.to_string())
            );
        }
    }

    #[test]
    fn load_mode_has_no_warmup_or_duration() {
        let o = parse(&["--load", "--keyspace", "10"]).unwrap();
        assert_eq!(o.effective_warmup(), 0.0);
        assert_eq!(o.measured_duration(), None);
    }
}
