//! corekv-bench: a load generator for corekv and other key/value servers.
//!
//! A small hand-written async client on tokio: every client keeps up to
//! `--pipeline` requests in flight per batch (written in one write, then all
//! responses read), over one connection (shared routing) or one connection
//! per partition (smart routing, each key sent to the worker that owns it).
//! Keys are pre-generated (`key:%012d`, 16 bytes), buffers are reused, and
//! responses are framed, not decoded. Latencies go into an HDR histogram.
//!
//! [`run`] is the whole benchmark as a library call: it returns a [`Report`]
//! that prints as a table ([`Report::to_table`]) or JSON ([`Report::to_json`]).

pub mod dist;
pub mod engine;
pub mod opts;
pub mod proto;
pub mod sys;
pub mod topo;

pub use dist::Distribution;
pub use opts::{Opts, Ratio, Routing};
pub use proto::Protocol;

use anyhow::{anyhow, Result};
use engine::{Plan, Shared, Stats, Timing};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Latency percentiles, in microseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// What a run measured, with the settings that produced it.
#[derive(Clone, Debug)]
pub struct Report {
    pub opts: Opts,
    /// Partitions seen in the topology (1 when not read).
    pub partitions: usize,
    /// Measured seconds (first measured send to last response).
    pub elapsed_secs: f64,
    /// Measured operations (a transaction counts once).
    pub ops: u64,
    pub gets: u64,
    pub puts: u64,
    pub txns: u64,
    pub errors: u64,
    pub misses: u64,
    pub first_error: Option<String>,
    pub ops_per_sec: f64,
    pub latency_us: Latency,
    /// CPU seconds this process used while measuring.
    pub client_cpu_secs: f64,
    pub server_cpu_secs: Option<f64>,
}

impl Report {
    /// Generator CPU per operation, in microseconds.
    pub fn client_cpu_us_per_op(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            self.client_cpu_secs * 1e6 / self.ops as f64
        }
    }

    /// Server CPU seconds per million operations (with --server-pid).
    pub fn server_cpu_secs_per_mop(&self) -> Option<f64> {
        let s = self.server_cpu_secs?;
        (self.ops > 0).then(|| s * 1e6 / self.ops as f64)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let o = &self.opts;
        let l = &self.latency_us;
        serde_json::json!({
            "protocol": o.protocol.to_string(),
            "routing": o.routing.to_string(),
            "host": o.host,
            "port": o.port,
            "partitions": self.partitions,
            "connections": o.connections,
            "pipeline": o.pipeline,
            "threads": o.threads,
            "keyspace": o.keyspace,
            "value_size": o.value_size,
            "ratio": o.ratio.to_string(),
            "distribution": o.distribution.to_string(),
            "txn_size": o.txn_size,
            "cross_fraction": o.cross_fraction,
            "rate": o.rate,
            "load": o.load,
            "warmup_secs": o.effective_warmup(),
            "elapsed_secs": self.elapsed_secs,
            "ops": self.ops,
            "gets": self.gets,
            "puts": self.puts,
            "txns": self.txns,
            "errors": self.errors,
            "misses": self.misses,
            "first_error": self.first_error,
            "ops_per_sec": self.ops_per_sec,
            "latency_us": {
                "p50": l.p50, "p90": l.p90, "p99": l.p99, "p99_9": l.p999,
                "max": l.max, "mean": l.mean,
            },
            "client_cpu_secs": self.client_cpu_secs,
            "client_cpu_us_per_op": self.client_cpu_us_per_op(),
            "server_pid": o.server_pid,
            "server_cpu_secs": self.server_cpu_secs,
            "server_cpu_secs_per_mop": self.server_cpu_secs_per_mop(),
        })
    }

    pub fn to_table(&self) -> String {
        let o = &self.opts;
        let l = &self.latency_us;
        let mut s = String::new();
        let mode = if o.load {
            "load".to_string()
        } else if o.txn_size > 0 {
            format!(
                "{}-PUT transactions, {:.0}% cross-partition",
                o.txn_size,
                o.cross_fraction * 100.0
            )
        } else {
            format!("get:put {}", o.ratio)
        };
        let _ = writeln!(
            s,
            "corekv-bench  {} protocol, {} routing, {}:{} ({} partition{})",
            o.protocol,
            o.routing,
            o.host,
            o.port,
            self.partitions,
            if self.partitions == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "  {} clients x pipeline {}, {} thread{}; {} keys, {}-byte values; {}, {}{}",
            o.connections,
            o.pipeline,
            o.threads,
            if o.threads == 1 { "" } else { "s" },
            o.keyspace,
            o.value_size,
            mode,
            o.distribution,
            o.rate
                .map(|r| format!("; target {r:.0} ops/s"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  measured {:.2} s after {:.1} s warmup\n",
            self.elapsed_secs,
            o.effective_warmup()
        );
        let _ = writeln!(
            s,
            "  {:<14}{:.0} ops/s  ({} ops: {} GET, {} PUT, {} txn)",
            "throughput", self.ops_per_sec, self.ops, self.gets, self.puts, self.txns
        );
        let _ = writeln!(s, "  {:<14}{}", "errors", self.errors);
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "  {:<14}{}", "first error", e);
        }
        let _ = writeln!(s, "  {:<14}{}", "misses", self.misses);
        let _ = writeln!(
            s,
            "  {:<14}p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
            "latency (µs)", l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(
            s,
            "  {:<14}{:.2} µs/op ({:.2} s)",
            "client CPU",
            self.client_cpu_us_per_op(),
            self.client_cpu_secs
        );
        if let (Some(total), Some(per)) = (self.server_cpu_secs, self.server_cpu_secs_per_mop()) {
            let _ = writeln!(
                s,
                "  {:<14}{:.2} s per million ops ({:.2} s)",
                "server CPU", per, total
            );
        }
        s
    }
}

/// A CPU-time snapshot of this process and the server.
#[derive(Clone, Copy)]
struct CpuSample {
    me: Duration,
    server: Option<Duration>,
}

fn cpu_sample(server_pid: Option<u32>) -> CpuSample {
    CpuSample {
        me: sys::self_cpu(),
        server: server_pid.and_then(sys::process_cpu),
    }
}

/// Runs the benchmark described by `opts` and returns what it measured.
/// Prints a progress line on stderr once a second unless `opts.quiet`.
pub fn run(opts: &Opts) -> Result<Report> {
    opts.validate().map_err(|e| anyhow!(e))?;
    let quiet = opts.quiet;
    let mut warn = |m: String| {
        if !quiet {
            eprintln!("corekv-bench: {m}");
        }
    };
    let plan = Arc::new(Plan::new(opts, &mut warn)?);
    let threads = opts.threads.min(opts.connections);
    let shared = Arc::new(Shared {
        budget: if opts.load { None } else { opts.requests },
        ..Shared::default()
    });
    let ready = Arc::new(Barrier::new(threads + 1));
    let go = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let clients: Vec<usize> = (t..opts.connections).step_by(threads).collect();
        let (plan, shared, ready, go) = (
            Arc::clone(&plan),
            Arc::clone(&shared),
            Arc::clone(&ready),
            Arc::clone(&go),
        );
        let h = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || engine::thread_main(plan, shared, clients, ready, go))?;
        handles.push(h);
    }
    ready.wait();
    let start = Instant::now();
    let measure_start = start + Duration::from_secs_f64(opts.effective_warmup());
    let end = opts
        .measured_duration()
        .map(|d| measure_start + Duration::from_secs_f64(d));
    let timing = Timing {
        start,
        measure_start,
        end,
    };
    shared
        .timing
        .set(timing)
        .map_err(|_| anyhow!("timing set twice"))?;
    let mut cpu_start = (measure_start <= start).then(|| cpu_sample(opts.server_pid));
    go.wait();

    let mut next_tick = start + Duration::from_secs(1);
    let mut last_completed = 0;
    while !handles.iter().all(|h| h.is_finished()) {
        let now = Instant::now();
        if cpu_start.is_none() && now >= measure_start {
            cpu_start = Some(cpu_sample(opts.server_pid));
        }
        if now >= next_tick {
            let completed = shared.completed.load(Relaxed);
            if !quiet {
                eprintln!(
                    "[{:>4.0}s] {:<6} {:>10.0} ops/s  total {}  errors {}  misses {}",
                    (now - start).as_secs_f64(),
                    if next_tick <= measure_start {
                        "warmup"
                    } else {
                        "run"
                    },
                    (completed - last_completed) as f64,
                    completed,
                    shared.errors.load(Relaxed),
                    shared.misses.load(Relaxed)
                );
            }
            last_completed = completed;
            next_tick += Duration::from_secs(1);
        }
        let mut wait = Duration::from_millis(10);
        if cpu_start.is_none() {
            wait = wait.min(measure_start.saturating_duration_since(now));
        }
        std::thread::sleep(wait);
    }
    let cpu_end = cpu_sample(opts.server_pid);
    let cpu_start = cpu_start.unwrap_or(cpu_end);
    let finished = Instant::now();

    let mut stats = Stats::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => stats.merge(&s),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(anyhow!("a client thread panicked"));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let until = stats.last_done.unwrap_or(finished);
    let elapsed = until.saturating_duration_since(measure_start).as_secs_f64();
    let h = &stats.hist;
    let us = |ns: u64| ns as f64 / 1000.0;
    let latency_us = if h.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    };
    let server_cpu_secs = match (cpu_start.server, cpu_end.server) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    Ok(Report {
        opts: opts.clone(),
        partitions: plan.partitions,
        elapsed_secs: elapsed,
        ops: stats.ops,
        gets: stats.gets,
        puts: stats.puts,
        txns: stats.txns,
        errors: stats.errors,
        misses: stats.misses,
        first_error: stats.first_error,
        ops_per_sec: if elapsed > 0.0 {
            stats.ops as f64 / elapsed
        } else {
            0.0
        },
        latency_us,
        client_cpu_secs: cpu_end.me.saturating_sub(cpu_start.me).as_secs_f64(),
        server_cpu_secs,
    })
}
