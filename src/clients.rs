//! Per-client limits shared by every worker: how many clients, how long
//! one may idle, how much output may queue for one, how large a value may
//! grow. They start from the flags and `CONFIG SET` changes them live, so
//! they are atomics read with `Relaxed` ordering: each is an independent
//! number, read at most once per batch or accept, never a lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
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
    /// Descriptors kept besides clients ([`fd_limit::reserved`]).
    fd_reserve: u64,
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
            fd_reserve: 0,
        }
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
