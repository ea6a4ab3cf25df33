//! The load itself: client threads, each a single-threaded tokio runtime
//! running its share of the clients; each client owns one connection (shared
//! routing) or one per partition (smart routing) and loops over batches:
//! build P requests into per-connection buffers, write them, read every
//! response, record latencies.

use crate::dist::{probability_threshold, KeySampler, Rng};
use crate::opts::{Opts, Routing};
use crate::proto::{Encoder, Reply};
use crate::topo;
use anyhow::{anyhow, Context as _, Result};
use corekv_router::Topology;
use hdrhistogram::Histogram;
use std::cell::RefCell;
use std::future::poll_fn;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Length of every generated key: `key:` and 12 digits.
pub const KEY_LEN: usize = 16;

/// Highest latency the histograms hold (larger values are clamped).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Everything the clients share, read-only.
pub struct Plan {
    pub encoder: Encoder,
    /// All keys back to back, `KEY_LEN` bytes each.
    keys: Vec<u8>,
    pub keyspace: u64,
    sampler: KeySampler,
    get_threshold: u64,
    /// Partition of each key (empty when there is a single partition or the
    /// topology is unknown).
    owners: Vec<u16>,
    /// Keys of each partition (transactions on several partitions only).
    by_partition: Vec<Vec<u32>>,
    pub partitions: usize,
    /// Where each client connects: one address (shared) or one per partition.
    pub addrs: Vec<SocketAddr>,
    smart: bool,
    /// Routing::Pinned: client `i` talks to partition `i % partitions` only.
    pinned: bool,
    txn_size: usize,
    cross_threshold: u64,
    pipeline: usize,
    load: bool,
    /// Time between two batches of one client, with --rate.
    rate_interval: Option<Duration>,
    connections: usize,
    seed: u64,
}

/// Writes `key:%012d` for every index into one buffer.
pub fn generate_keys(n: u64) -> Vec<u8> {
    let mut keys = vec![0u8; n as usize * KEY_LEN];
    for (i, key) in keys.chunks_exact_mut(KEY_LEN).enumerate() {
        key[..4].copy_from_slice(b"key:");
        let mut v = i as u64;
        for d in key[4..].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    keys
}

/// A printable value of `size` bytes (no whitespace, so the text protocol
/// stores it unchanged).
pub fn make_value(size: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..size).map(|i| ALPHABET[i % ALPHABET.len()]).collect()
}

impl Plan {
    /// Resolves the server, reads the topology when needed and pre-generates
    /// the keys. `warn` receives non-fatal notes.
    pub fn new(opts: &Opts, warn: &mut dyn FnMut(String)) -> Result<Self> {
        let shared_addr = resolve(&opts.host, opts.port)?;
        let routed = matches!(opts.routing, Routing::Smart | Routing::Pinned);
        let needs_topology = routed || opts.txn_size > 1;
        let topology: Option<Topology> = if needs_topology {
            match topo::fetch(&opts.host, opts.port, opts.protocol) {
                Ok(t) => Some(t),
                Err(e) if routed => {
                    return Err(e.context(format!(
                        "{} routing needs the server's topology",
                        opts.routing
                    )))
                }
                Err(e) => {
                    if opts.cross_fraction > 0.0 || opts.txn_size > 1 {
                        warn(format!(
                            "no topology ({e:#}); transaction keys are chosen without regard to partitions"
                        ));
                    }
                    None
                }
            }
        } else {
            None
        };
        let partitions = topology.as_ref().map_or(1, Topology::len);
        let keys = generate_keys(opts.keyspace);
        let owners: Vec<u16> = match &topology {
            Some(t) if t.len() > 1 => keys
                .chunks_exact(KEY_LEN)
                .map(|k| t.partition_of_key(k) as u16)
                .collect(),
            _ => Vec::new(),
        };
        let mut by_partition = Vec::new();
        let pinned = opts.routing == Routing::Pinned;
        if (opts.txn_size > 1 || pinned) && partitions > 1 {
            by_partition = vec![Vec::new(); partitions];
            for (i, &p) in owners.iter().enumerate() {
                by_partition[usize::from(p)].push(i as u32);
            }
        }
        let smart = opts.routing == Routing::Smart;
        let addrs = match (&topology, routed) {
            (Some(t), true) => t
                .partitions()
                .iter()
                .map(|p| {
                    let port = p
                        .port
                        .ok_or_else(|| anyhow!("partition {} has no port", p.id))?;
                    resolve(&opts.host, port)
                })
                .collect::<Result<Vec<_>>>()?,
            _ => vec![shared_addr],
        };
        let rate_interval = opts.rate.map(|rate| {
            Duration::from_secs_f64(opts.pipeline as f64 * opts.connections as f64 / rate)
        });
        Ok(Self {
            encoder: Encoder::new(opts.protocol, KEY_LEN, make_value(opts.value_size)),
            keys,
            keyspace: opts.keyspace,
            sampler: KeySampler::new(opts.distribution, opts.keyspace, opts.zipf_exponent),
            get_threshold: if opts.load {
                0
            } else {
                probability_threshold(opts.ratio.get_fraction())
            },
            owners,
            by_partition,
            partitions,
            addrs,
            smart,
            pinned,
            txn_size: opts.txn_size,
            cross_threshold: probability_threshold(opts.cross_fraction),
            pipeline: opts.pipeline,
            load: opts.load,
            rate_interval,
            connections: opts.connections,
            seed: opts.seed,
        })
    }

    #[inline]
    fn key(&self, i: u64) -> &[u8] {
        let at = i as usize * KEY_LEN;
        &self.keys[at..at + KEY_LEN]
    }

    #[inline]
    fn owner(&self, i: u64) -> usize {
        if self.owners.is_empty() {
            0
        } else {
            usize::from(self.owners[i as usize])
        }
    }

    /// The partition client `index` sticks to (Routing::Pinned).
    fn home_of(&self, index: usize) -> Option<usize> {
        (self.pinned && self.partitions > 1).then(|| index % self.partitions)
    }

    /// The connection (index into a client's connections) for key `i`.
    #[inline]
    fn route(&self, i: u64) -> usize {
        if self.smart {
            self.owner(i)
        } else {
            0
        }
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolve {host}:{port}"))?
        .next()
        .ok_or_else(|| anyhow!("{host}:{port} resolves to no address"))
}

/// When the phases start and end.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub start: Instant,
    pub measure_start: Instant,
    pub end: Option<Instant>,
}

/// Live counters shared by all threads (for the progress line and budgets).
#[derive(Default)]
pub struct Shared {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    pub misses: AtomicU64,
    /// Measured operations handed out (--requests) or keys loaded (--load).
    pub claimed: AtomicU64,
    pub abort: AtomicBool,
    pub timing: OnceLock<Timing>,
    /// --requests budget.
    pub budget: Option<u64>,
}

/// What one thread measured.
pub struct Stats {
    pub hist: Histogram<u64>,
    pub ops: u64,
    pub gets: u64,
    pub puts: u64,
    pub txns: u64,
    pub errors: u64,
    pub misses: u64,
    pub first_error: Option<String>,
    pub last_done: Option<Instant>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("histogram bounds"),
            ops: 0,
            gets: 0,
            puts: 0,
            txns: 0,
            errors: 0,
            misses: 0,
            first_error: None,
            last_done: None,
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.hist.add(&other.hist).expect("same histogram bounds");
        self.ops += other.ops;
        self.gets += other.gets;
        self.puts += other.puts;
        self.txns += other.txns;
        self.errors += other.errors;
        self.misses += other.misses;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Get,
    Put,
    Txn,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    kind: OpKind,
    replies: u32,
}

/// One connection with its reused buffers and the operations in flight.
struct Conn {
    stream: TcpStream,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    ops: Vec<Pending>,
    cursor: usize,
    /// Replies still expected by `ops[cursor]`.
    remaining: u32,
    failed: bool,
    missed: bool,
    read_at: Instant,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connect to {addr}: timed out"))?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            wbuf: Vec::with_capacity(16 * 1024),
            rbuf: vec![0; 64 * 1024],
            rstart: 0,
            rend: 0,
            ops: Vec::with_capacity(64),
            cursor: 0,
            remaining: 0,
            failed: false,
            missed: false,
            read_at: Instant::now(),
        })
    }

    fn push(&mut self, kind: OpKind, replies: u32) {
        self.ops.push(Pending { kind, replies });
    }
}

/// Where a batch's completions go.
struct Sink<'a> {
    stats: &'a RefCell<Stats>,
    reference: Instant,
    measured: bool,
    done: u64,
    errors: u64,
    misses: u64,
}

impl Sink<'_> {
    fn complete(&mut self, kind: OpKind, failed: bool, missed: bool, at: Instant) {
        self.done += 1;
        self.errors += u64::from(failed);
        self.misses += u64::from(missed && !failed);
        if !self.measured {
            return;
        }
        let mut s = self.stats.borrow_mut();
        let ns = at.saturating_duration_since(self.reference).as_nanos() as u64;
        s.hist.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
        s.ops += 1;
        match kind {
            OpKind::Get => s.gets += 1,
            OpKind::Put => s.puts += 1,
            OpKind::Txn => s.txns += 1,
        }
        if failed {
            s.errors += 1;
        } else if missed {
            s.misses += 1;
        }
        s.last_done = Some(s.last_done.map_or(at, |t| t.max(at)));
    }
}

/// Reads until every connection has all its responses.
fn poll_batch(
    cx: &mut Context<'_>,
    conns: &mut [Conn],
    encoder: &Encoder,
    sink: &mut Sink<'_>,
) -> Poll<Result<()>> {
    let mut waiting = false;
    for conn in conns.iter_mut() {
        loop {
            // Frame whatever is buffered.
            while conn.cursor < conn.ops.len() {
                let Some((n, reply)) = encoder.parse(&conn.rbuf[conn.rstart..conn.rend])? else {
                    break;
                };
                let text = &conn.rbuf[conn.rstart..conn.rstart + n];
                let op = conn.ops[conn.cursor];
                match reply {
                    Reply::Ok => {}
                    Reply::Miss => conn.missed |= op.kind == OpKind::Get,
                    Reply::Error => {
                        if !conn.failed {
                            conn.failed = true;
                            let mut s = sink.stats.borrow_mut();
                            if sink.measured && s.first_error.is_none() {
                                let text = &text[..text.len().min(300)];
                                s.first_error =
                                    Some(String::from_utf8_lossy(text).trim_end().to_string());
                            }
                        }
                    }
                }
                conn.rstart += n;
                conn.remaining -= 1;
                if conn.remaining == 0 {
                    sink.complete(op.kind, conn.failed, conn.missed, conn.read_at);
                    conn.cursor += 1;
                    conn.failed = false;
                    conn.missed = false;
                    if let Some(next) = conn.ops.get(conn.cursor) {
                        conn.remaining = next.replies;
                    }
                }
            }
            if conn.cursor == conn.ops.len() {
                if conn.rstart != conn.rend {
                    return Poll::Ready(Err(anyhow!(
                        "unexpected data after the last response: {:?}",
                        String::from_utf8_lossy(&conn.rbuf[conn.rstart..conn.rend])
                    )));
                }
                conn.rstart = 0;
                conn.rend = 0;
                break;
            }
            // Need more bytes: make room, then read.
            if conn.rstart == conn.rend {
                conn.rstart = 0;
                conn.rend = 0;
            } else if conn.rend == conn.rbuf.len() {
                if conn.rstart > 0 {
                    conn.rbuf.copy_within(conn.rstart..conn.rend, 0);
                    conn.rend -= conn.rstart;
                    conn.rstart = 0;
                } else {
                    let len = conn.rbuf.len();
                    conn.rbuf.resize(len * 2, 0);
                }
            }
            let mut rb = ReadBuf::new(&mut conn.rbuf[conn.rend..]);
            match Pin::new(&mut conn.stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        return Poll::Ready(Err(anyhow!("server closed the connection")));
                    }
                    conn.rend += n;
                    conn.read_at = Instant::now();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {
                    waiting = true;
                    break;
                }
            }
        }
    }
    if waiting {
        Poll::Pending
    } else {
        Poll::Ready(Ok(()))
    }
}

/// One client: its connections and its random stream.
struct Client {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    conns: Vec<Conn>,
    rng: Rng,
    /// The only partition this client asks for (Routing::Pinned).
    home: Option<usize>,
    /// Scratch for transaction keys.
    txn_keys: Vec<u64>,
}

impl Client {
    /// Samples a key whose partition satisfies `want` (tries, then falls back
    /// to the partition lists).
    fn key_where(&mut self, want: impl Fn(usize) -> bool) -> u64 {
        for _ in 0..32 {
            let k = self.plan.sampler.sample(&mut self.rng);
            if want(self.plan.owner(k)) {
                return k;
            }
        }
        let plan = &self.plan;
        let parts: Vec<usize> = (0..plan.by_partition.len())
            .filter(|&p| want(p) && !plan.by_partition[p].is_empty())
            .collect();
        if parts.is_empty() {
            return plan.sampler.sample(&mut self.rng);
        }
        let p = parts[self.rng.below(parts.len() as u64) as usize];
        let list = &plan.by_partition[p];
        u64::from(list[self.rng.below(list.len() as u64) as usize])
    }

    /// A key for the next operation: any key, or one of the home
    /// partition's for a pinned client.
    fn next_key(&mut self) -> u64 {
        match self.home {
            Some(home) => self.key_where(|p| p == home),
            None => self.plan.sampler.sample(&mut self.rng),
        }
    }

    fn add_txn(&mut self) {
        let k = self.plan.txn_size;
        let first = self.next_key();
        let home = self.plan.owner(first);
        let cross = self.plan.partitions > 1 && k > 1 && self.rng.chance(self.plan.cross_threshold);
        self.txn_keys.clear();
        self.txn_keys.push(first);
        for j in 1..k {
            let key = if self.plan.partitions <= 1 {
                self.plan.sampler.sample(&mut self.rng)
            } else if cross && j == 1 {
                self.key_where(|p| p != home)
            } else if cross {
                self.plan.sampler.sample(&mut self.rng)
            } else {
                self.key_where(|p| p == home)
            };
            self.txn_keys.push(key);
        }
        let plan = &*self.plan;
        let conn = &mut self.conns[plan.route(first)];
        plan.encoder.begin(&mut conn.wbuf);
        for &key in &self.txn_keys {
            plan.encoder.put(&mut conn.wbuf, plan.key(key));
        }
        plan.encoder.commit(&mut conn.wbuf);
        conn.push(OpKind::Txn, k as u32 + 2);
    }

    /// Appends `n` operations (for --load: keys `first..first + n`).
    fn build(&mut self, n: usize, first: u64) {
        for i in 0..n {
            if self.plan.txn_size > 0 {
                self.add_txn();
                continue;
            }
            let (key, get) = if self.plan.load {
                (first + i as u64, false)
            } else {
                let key = self.next_key();
                (key, self.rng.chance(self.plan.get_threshold))
            };
            let plan = &*self.plan;
            let conn = &mut self.conns[plan.route(key)];
            if get {
                plan.encoder.get(&mut conn.wbuf, plan.key(key));
                conn.push(OpKind::Get, 1);
            } else {
                plan.encoder.put(&mut conn.wbuf, plan.key(key));
                conn.push(OpKind::Put, 1);
            }
        }
    }

    async fn run(mut self, index: usize, stats: Rc<RefCell<Stats>>) -> Result<()> {
        let timing = *self.shared.timing.get().expect("timing set before start");
        let pipeline = self.plan.pipeline;
        let interval = self.plan.rate_interval;
        // Stagger the clients' schedules over one interval.
        let mut next_due = interval
            .map(|iv| timing.start + iv.mul_f64(index as f64 / self.plan.connections as f64));
        loop {
            if self.shared.abort.load(Relaxed) {
                return Ok(());
            }
            let mut now = Instant::now();
            if timing.end.is_some_and(|end| now >= end) {
                return Ok(());
            }
            // With --rate: wait for this batch's slot. If the client was idle
            // at the slot, latency counts from the actual send (the timer's
            // lateness is ours, not the server's); if it was still busy with
            // the previous batch, from the slot itself.
            let mut reference = None;
            if let (Some(due), Some(iv)) = (next_due, interval) {
                if due > now {
                    tokio::time::sleep_until(due.into()).await;
                    now = Instant::now();
                    if timing.end.is_some_and(|end| now >= end) {
                        return Ok(());
                    }
                } else {
                    reference = Some(due);
                }
                next_due = Some(due + iv);
            }
            let measured = now >= timing.measure_start;
            // How many operations, and (--load) which keys.
            let (n, first) = if self.plan.load {
                let first = self.shared.claimed.fetch_add(pipeline as u64, Relaxed);
                if first >= self.plan.keyspace {
                    return Ok(());
                }
                (
                    (self.plan.keyspace - first).min(pipeline as u64) as usize,
                    first,
                )
            } else if let (Some(budget), true) = (self.shared.budget, measured) {
                let claimed = self.shared.claimed.fetch_add(pipeline as u64, Relaxed);
                if claimed >= budget {
                    return Ok(());
                }
                ((budget - claimed).min(pipeline as u64) as usize, 0)
            } else {
                (pipeline, 0)
            };
            for c in &mut self.conns {
                c.wbuf.clear();
                c.ops.clear();
                c.cursor = 0;
            }
            self.build(n, first);
            let sent = Instant::now();
            for c in &mut self.conns {
                if c.ops.is_empty() {
                    continue;
                }
                c.remaining = c.ops[0].replies;
                c.stream.write_all(&c.wbuf).await.context("write")?;
            }
            let mut sink = Sink {
                stats: &stats,
                reference: reference.unwrap_or(sent),
                measured,
                done: 0,
                errors: 0,
                misses: 0,
            };
            let conns = &mut self.conns;
            let encoder = &self.plan.encoder;
            poll_fn(|cx| poll_batch(cx, conns, encoder, &mut sink)).await?;
            self.shared.completed.fetch_add(sink.done, Relaxed);
            if sink.errors > 0 {
                self.shared.errors.fetch_add(sink.errors, Relaxed);
            }
            if sink.misses > 0 {
                self.shared.misses.fetch_add(sink.misses, Relaxed);
            }
        }
    }
}

/// Runs the clients `clients` (indexes) on this thread. Waits at `ready`
/// once connected, and at `go` for the start signal.
pub fn thread_main(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    clients: Vec<usize>,
    ready: Arc<Barrier>,
    go: Arc<Barrier>,
) -> Result<Stats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("build the runtime")?;
    let connected: Result<Vec<Vec<Conn>>> = rt.block_on(async {
        let mut all = Vec::with_capacity(clients.len());
        for &index in &clients {
            let mut conns = Vec::with_capacity(plan.addrs.len());
            match plan.home_of(index) {
                Some(home) => conns.push(Conn::connect(plan.addrs[home]).await?),
                None => {
                    for &addr in &plan.addrs {
                        conns.push(Conn::connect(addr).await?);
                    }
                }
            }
            all.push(conns);
        }
        Ok(all)
    });
    if connected.is_err() {
        shared.abort.store(true, Relaxed);
    }
    ready.wait();
    go.wait();
    let connected = connected?;
    let stats = Rc::new(RefCell::new(Stats::new()));
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = clients
        .iter()
        .zip(connected)
        .map(|(&index, conns)| {
            let client = Client {
                plan: Arc::clone(&plan),
                shared: Arc::clone(&shared),
                conns,
                rng: Rng::new(plan.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64),
                home: plan.home_of(index),
                txn_keys: Vec::with_capacity(plan.txn_size),
            };
            local.spawn_local(client.run(index, Rc::clone(&stats)))
        })
        .collect();
    let result: Result<()> = rt.block_on(local.run_until(async {
        let mut first_err = None;
        for h in handles {
            let r = match h.await {
                Ok(r) => r,
                Err(e) => Err(anyhow!("client task failed: {e}")),
            };
            if let Err(e) = r {
                shared.abort.store(true, Relaxed);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }));
    result?;
    let stats = Rc::try_unwrap(stats)
        .map_err(|_| anyhow!("client tasks still hold the stats"))?
        .into_inner();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_16_bytes() {
        let keys = generate_keys(1001);
        assert_eq!(keys.len(), 1001 * KEY_LEN);
        assert_eq!(&keys[..KEY_LEN], b"key:000000000000");
        assert_eq!(&keys[1000 * KEY_LEN..], b"key:000000001000");
    }

    #[test]
    fn values_are_printable() {
        let v = make_value(100);
        assert_eq!(v.len(), 100);
        assert!(v.iter().all(|b| b.is_ascii_alphanumeric()));
    }
}
