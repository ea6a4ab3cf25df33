//! Per-client limits shared by every worker: how many clients, how long
//! one may idle, how much output may queue for one, how large a value may
//! grow. They start from the flags and `CONFIG SET` changes them live, so
//! they are atomics read with `Relaxed` ordering: each is an independent
//! number, read at most once per batch or accept, never a lock. Each
//! worker's client memory is published here too (`WorkerMemory`), for
//! `maxmemory-clients` and the partitions' budgets.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

pub mod fd_limit;

/// Redis's `client-output-buffer-limit` for the `normal` class: a client
/// whose queued replies pass `hard` bytes, or stay above `soft` bytes for
/// `soft_secs` seconds, is disconnected. 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_secs: u64,
}

impl OutputLimit {
    /// Parses `"HARD SOFT SOFT-SECONDS"` (sizes as `--maxmemory`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let [hard, soft, secs] = words[..] else {
            return Err(format!(
                "'{s}': expected '<hard> <soft> <soft-seconds>', e.g. '256mb 64mb 60'"
            ));
        };
        let soft_secs = secs
            .parse()
            .map_err(|_| format!("'{secs}' is not a number of seconds"))?;
        Ok(Self {
            hard: crate::config::parse_size(hard)?,
            soft: crate::config::parse_size(soft)?,
            soft_secs,
        })
    }
}

/// The live limits. One per server, shared by every worker.
#[derive(Debug)]
pub struct ClientLimits {
    maxclients: AtomicUsize,
    timeout_secs: AtomicU64,
    output_hard: AtomicUsize,
    output_soft: AtomicUsize,
    output_soft_secs: AtomicU64,
    /// Largest value anyone can store; shared with every partition.
    max_value: Arc<AtomicUsize>,
    /// Connections open now, over all workers.
    open: AtomicUsize,
    /// `maxmemory-clients` as Redis keeps it: bytes, or minus a percentage
    /// of `maxmemory` (0: off).
    maxmemory_clients: AtomicI64,
    /// `--maxmemory` (fixed at start), for a percentage.
    maxmemory: usize,
    /// Each worker's client memory, published for the others (one cell a
    /// worker, written by its owner; replies in flight are taken off by
    /// the worker that receives them).
    workers: Vec<Arc<WorkerMemory>>,
    /// Descriptors kept besides clients ([`fd_limit::reserved`]).
    fd_reserve: u64,
}

/// Redis never lets client eviction act under 128 KiB, so that a bad
/// setting cannot cut off every client.
pub const MIN_MAXMEMORY_CLIENTS: usize = 128 * 1024;

/// `maxmemory-clients`: a byte size or a percentage of `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryClients {
    Bytes(usize),
    Percent(u8),
}

impl MaxmemoryClients {
    /// Parses Redis's forms (`0`, `1mb`, `10%`); the error is Redis's.
    pub fn parse(s: &str) -> Result<Self, String> {
        const BAD: &str = "argument must be a memory or percent value";
        let s = s.trim();
        if let Some(digits) = s.strip_suffix('%') {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BAD.into());
            }
            return match digits.parse::<u64>() {
                Ok(n) if n <= 100 => Ok(Self::Percent(n as u8)),
                _ => Err("percentage argument must be less or equal to 100".into()),
            };
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(BAD.into());
        }
        crate::config::parse_size(s)
            .map(Self::Bytes)
            .map_err(|_| BAD.into())
    }

    fn encode(self) -> i64 {
        match self {
            Self::Bytes(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Self::Percent(p) => -i64::from(p),
        }
    }

    fn decode(n: i64) -> Self {
        if n < 0 {
            Self::Percent(u8::try_from(-n).unwrap_or(100))
        } else {
            Self::Bytes(usize::try_from(n).unwrap_or(usize::MAX))
        }
    }
}

impl std::fmt::Display for MaxmemoryClients {
    /// As `CONFIG GET` shows it: bytes, or `N%` (`0%` shows as `0`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Percent(p) if *p > 0 => write!(f, "{p}%"),
            Self::Percent(_) => f.write_str("0"),
            Self::Bytes(n) => write!(f, "{n}"),
        }
    }
}

/// One worker's client memory, in bytes, as atomics other workers may
/// read (and, for replies in flight, decrease). The owner writes with
/// plain relaxed stores; nothing here is a lock.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerMemory {
    /// Read, write and side buffers, open transactions and `MULTI` queues
    /// of the worker's connections.
    pub connections: AtomicUsize,
    /// Replies the worker's partition built for other workers' clients and
    /// that were not delivered yet. On its own cache line: other workers
    /// decrease it, and the owner writes the other two on every batch.
    pub in_flight: Padded,
    /// The worker's spare connection buffers.
    pub pool: AtomicUsize,
}

/// An atomic alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Padded(AtomicUsize);

impl std::ops::Deref for Padded {
    type Target = AtomicUsize;

    fn deref(&self) -> &AtomicUsize {
        &self.0
    }
}

impl WorkerMemory {
    /// Everything the worker holds for clients, replies in flight and the
    /// spare pool included (what counts toward its `--maxmemory` share).
    pub fn total(&self) -> usize {
        self.connections.load(Relaxed) + self.in_flight.load(Relaxed) + self.pool.load(Relaxed)
    }
}

/// Redis refuses a `proto-max-bulk-len` under 1 MiB.
pub const MIN_PROTO_MAX_BULK_LEN: usize = 1 << 20;
/// Redis's default `proto-max-bulk-len`.
pub const DEFAULT_PROTO_MAX_BULK_LEN: usize = 512 << 20;

impl ClientLimits {
    pub fn new(
        maxclients: usize,
        timeout_secs: u64,
        output: OutputLimit,
        max_value: usize,
    ) -> Self {
        Self {
            maxclients: AtomicUsize::new(maxclients),
            timeout_secs: AtomicU64::new(timeout_secs),
            output_hard: AtomicUsize::new(output.hard),
            output_soft: AtomicUsize::new(output.soft),
            output_soft_secs: AtomicU64::new(output.soft_secs),
            max_value: Arc::new(AtomicUsize::new(max_value)),
            open: AtomicUsize::new(0),
            maxmemory_clients: AtomicI64::new(0),
            maxmemory: 0,
            workers: Vec::new(),
            fd_reserve: 0,
        }
    }

    /// Sets `maxmemory` (for a percentage) and makes one memory cell per
    /// worker.
    pub fn with_memory(mut self, maxmemory: usize, workers: usize) -> Self {
        self.maxmemory = maxmemory;
        self.workers = (0..workers).map(|_| Arc::default()).collect();
        self
    }

    /// Worker `id`'s memory cell (a detached one for a worker unknown
    /// here, as in unit tests).
    pub fn worker_memory(&self, id: usize) -> Arc<WorkerMemory> {
        self.workers.get(id).cloned().unwrap_or_default()
    }

    /// Memory the clients' connections use over all workers (what
    /// `maxmemory-clients` limits): one relaxed load per worker, so a
    /// slightly stale sum. Replies in flight are not in it: they belong
    /// to the worker that built them, which cannot evict for them, and
    /// they live only until the client's worker serves its inbox.
    pub fn connections_memory(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.connections.load(Relaxed))
            .sum()
    }

    pub fn maxmemory_clients(&self) -> MaxmemoryClients {
        MaxmemoryClients::decode(self.maxmemory_clients.load(Relaxed))
    }

    pub fn set_maxmemory_clients(&self, m: MaxmemoryClients) {
        self.maxmemory_clients.store(m.encode(), Relaxed);
    }

    /// The client eviction threshold in bytes, as Redis computes it (at
    /// least 128 KiB); `None` when client eviction is off.
    pub fn client_eviction_limit(&self) -> Option<usize> {
        let bytes = match self.maxmemory_clients() {
            MaxmemoryClients::Bytes(0) | MaxmemoryClients::Percent(0) => return None,
            MaxmemoryClients::Percent(_) if self.maxmemory == 0 => return None,
            MaxmemoryClients::Bytes(n) => n,
            MaxmemoryClients::Percent(p) => (self.maxmemory as u128 * u128::from(p) / 100) as usize,
        };
        Some(bytes.max(MIN_MAXMEMORY_CLIENTS))
    }

    /// Sets the descriptors kept besides clients, counted when `CONFIG
    /// SET maxclients` raises the open-files limit.
    #[must_use]
    pub fn with_fd_reserve(mut self, reserve: u64) -> Self {
        self.fd_reserve = reserve;
        self
    }

    pub fn fd_reserve(&self) -> u64 {
        self.fd_reserve
    }

    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Relaxed)
    }

    pub fn set_maxclients(&self, n: usize) {
        self.maxclients.store(n, Relaxed);
    }

    /// The idle timeout; `None` when off (0).
    pub fn timeout(&self) -> Option<Duration> {
        match self.timeout_secs.load(Relaxed) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    pub fn timeout_secs(&self) -> u64 {
        self.timeout_secs.load(Relaxed)
    }

    pub fn set_timeout_secs(&self, secs: u64) {
        self.timeout_secs.store(secs, Relaxed);
    }

    pub fn output(&self) -> OutputLimit {
        OutputLimit {
            hard: self.output_hard.load(Relaxed),
            soft: self.output_soft.load(Relaxed),
            soft_secs: self.output_soft_secs.load(Relaxed),
        }
    }

    pub fn set_output(&self, limit: OutputLimit) {
        self.output_hard.store(limit.hard, Relaxed);
        self.output_soft.store(limit.soft, Relaxed);
        self.output_soft_secs.store(limit.soft_secs, Relaxed);
    }

    pub fn max_value(&self) -> usize {
        self.max_value.load(Relaxed)
    }

    pub fn set_max_value(&self, n: usize) {
        self.max_value.store(n, Relaxed);
    }

    /// The cell partitions read `proto-max-bulk-len` from.
    pub fn max_value_cell(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.max_value)
    }

    /// Counts a new connection in; `None` when `maxclients` are open
    /// already (nothing counted then).
    pub fn admit(self: &Arc<Self>) -> Option<ClientSlot> {
        let max = self.maxclients();
        let taken = self
            .open
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1));
        taken.ok().map(|_| ClientSlot(Arc::clone(self)))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Relaxed)
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ClientSlot(Arc<ClientLimits>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// Redis's reply to a client past `maxclients` (sent before the dialect
/// is known, so in RESP for everyone, as Redis does).
pub const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Redis's error for a value that would pass `proto-max-bulk-len`.
pub const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> Arc<ClientLimits> {
        Arc::new(ClientLimits::new(
            max,
            0,
            OutputLimit::parse("1mb 0 0").unwrap(),
            DEFAULT_PROTO_MAX_BULK_LEN,
        ))
    }

    #[test]
    fn admits_up_to_maxclients_and_frees_on_drop() {
        let l = limits(2);
        let a = l.admit().expect("first");
        let _b = l.admit().expect("second");
        assert!(l.admit().is_none(), "third is over the limit");
        assert_eq!(l.open(), 2);
        drop(a);
        assert!(l.admit().is_some(), "a place was freed");
        l.set_maxclients(0);
        assert!(l.admit().is_none());
    }

    #[test]
    fn maxmemory_clients_parses_and_resolves_as_redis() {
        use MaxmemoryClients::*;
        assert_eq!(MaxmemoryClients::parse("0"), Ok(Bytes(0)));
        assert_eq!(MaxmemoryClients::parse("1mb"), Ok(Bytes(1 << 20)));
        assert_eq!(MaxmemoryClients::parse("10%"), Ok(Percent(10)));
        let bad = "argument must be a memory or percent value";
        for s in ["-1", "abc", "5.5%", "-5%", "%", ""] {
            assert_eq!(MaxmemoryClients::parse(s), Err(bad.into()), "{s}");
        }
        assert_eq!(
            MaxmemoryClients::parse("101%"),
            Err("percentage argument must be less or equal to 100".into())
        );
        assert_eq!(Percent(10).to_string(), "10%");
        assert_eq!(Percent(0).to_string(), "0");
        let l = ClientLimits::new(1, 0, OutputLimit::parse("0 0 0").unwrap(), 1 << 20)
            .with_memory(100 << 20, 2);
        assert_eq!(l.client_eviction_limit(), None, "off by default");
        l.set_maxmemory_clients(Percent(10));
        assert_eq!(l.client_eviction_limit(), Some(10 << 20));
        l.set_maxmemory_clients(Bytes(1000));
        assert_eq!(l.client_eviction_limit(), Some(MIN_MAXMEMORY_CLIENTS));
        let unlimited = ClientLimits::new(1, 0, OutputLimit::parse("0 0 0").unwrap(), 1 << 20);
        unlimited.set_maxmemory_clients(Percent(10));
        assert_eq!(unlimited.client_eviction_limit(), None, "no maxmemory");
    }

    #[test]
    fn output_limit_parses_redis_form() {
        let o = OutputLimit::parse("256mb 64mb 60").unwrap();
        assert_eq!((o.hard, o.soft, o.soft_secs), (256 << 20, 64 << 20, 60));
        assert_eq!(
            OutputLimit::parse("0 0 0").unwrap(),
            OutputLimit {
                hard: 0,
                soft: 0,
                soft_secs: 0
            }
        );
        assert!(OutputLimit::parse("1mb").is_err());
        assert!(OutputLimit::parse("1mb 1mb x").is_err());
    }
}
