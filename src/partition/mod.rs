//! Commands → results: one hash partition of the key space, owned by exactly
//! one worker thread.
//!
//! A partition holds the data (`store`), the key locks of prepared
//! transactions (`locks`), the watches of connections (`watch`), and the
//! requests waiting for locks. It is the participant side of two-phase
//! commit: `Prepare` locks keys (or waits, or votes to die under wait-die),
//! `Commit` runs the staged operations and unlocks, `Abort` unlocks. It
//! never sees a socket; replies go back on the oneshot each request carries.
//!
//! Invariants:
//! * Only the owning worker touches a partition (it lives in an `Rc`).
//! * A key locked exclusively by a prepared transaction is neither read nor
//!   written by anyone else until that transaction commits or aborts; a
//!   shared lock stops only writers. Requests that must wait queue in FIFO
//!   order. This is what makes commits atomic to readers.
//! * A transaction's locks on one partition are taken all at once or not at
//!   all, so a waiting `Prepare` holds nothing here.
//! * An atomic run of operations (a multi-key command) starts only when none
//!   of its keys is locked, and then runs whole.
//! * `Abort` is idempotent and also cancels the transaction's prepare still
//!   waiting here; a prepare whose coordinator is gone never locks; a
//!   prepared transaction never holds its locks past the lease
//!   ([`Partition::expire_leases`]).

pub(crate) mod arena;
mod batch;
pub mod coll;
mod entry;
mod expiry;
pub mod float;
mod index;
mod locks;
mod lru;
mod movekey;
mod ops;
mod prefetch;
pub mod quicklist;
mod sieve;
mod slab;
mod slot_index;
mod snapshot;
mod store;
mod string_ops;
mod watch;
pub(crate) mod zindex;

pub use batch::{BatchReply, OpBatch, OpRef, ReplyBudget};
pub use expiry::unix_ms;
pub use locks::LockMode;
pub use movekey::{pack_keys, BitOp};
/// Whether `HINCRBYFLOAT` takes `arg` as its increment: Redis's error if
/// not (checked before the key is looked up).
pub fn float_arg(arg: &[u8]) -> Result<(), &'static str> {
    match float::incr_by_float(None, arg) {
        Ok(_) => Ok(()),
        Err(float::NOT_FLOAT) => Err(float::NOT_FLOAT),
        Err(_) => Err("ERR value is NaN or Infinity"),
    }
}

pub use ops::{parse_i64, ExpireCond, OpKind, Outcome, SetCond, TtlMode, BIT_OFFSET};
pub use prefetch::{Ahead, PREFETCH_WINDOW};
pub use slot_index::SlotWalk;
pub use snapshot::{Filled, KeyState};
pub use store::{ScanStep, Store};
pub use watch::WatchId;

use crate::clients::WorkerMemory;
use crate::reply::{self, Dialect};
use crate::txn::{Applied, Check, TxnId, TxnPart, Vote};
use locks::{Admission, Locks};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use tokio::sync::oneshot;
use watch::Watches;

/// Most keys a `FLUSHALL` frees at once on a partition (about 0.1 ms);
/// more are freed in the worker's steps.
const FREE_AT_ONCE: usize = 8192;
/// Digits and sign of the longest `i64` ("-9223372036854775808").
const I64_MAX_LEN: usize = 20;

/// Where a batch's reply goes: a oneshot on this thread, or back to the
/// worker that sent it, batched with that worker's other replies.
#[derive(Debug)]
pub enum ReplyTo {
    Local(oneshot::Sender<BatchReply>),
    Remote { worker: usize, slot: u32 },
}

/// A finished batch for another worker: `(worker, slot, reply)`.
pub type Outgoing = (usize, u32, BatchReply);

/// What a partition can be asked, locally or by another worker's message.
#[derive(Debug)]
pub enum Request {
    /// Plain operations in order; the reply holds one response each.
    Batch(Box<OpBatch>, ReplyTo),
    /// A single-partition transaction: validate, then run all at once.
    Apply(Box<TxnPart>, oneshot::Sender<Applied>),
    /// Phase one of two-phase commit: lock the keys, validate, stage.
    Prepare(TxnId, Box<TxnPart>, oneshot::Sender<Vote>),
    /// Phase two: run the staged operations and unlock; replies if asked.
    Commit(TxnId, Option<oneshot::Sender<BatchReply>>),
    /// Unlock and drop the staged part, handing it back if asked.
    Abort(TxnId, Option<oneshot::Sender<Option<Box<TxnPart>>>>),
    /// A handoff transaction's writes, computed by its coordinator from
    /// the snapshot: they replace the prepared part's operations (see
    /// `txn::handoff`).
    Fill(TxnId, Box<OpBatch>, oneshot::Sender<Filled>),
    /// Forget a connection's watches here.
    Unwatch(WatchId),
    /// Keyspace-wide requests (`DBSIZE`, `FLUSHALL`, `SCAN`, `INFO`, …).
    Admin(Admin, oneshot::Sender<AdminReply>),
}

#[derive(Debug)]
pub enum Admin {
    Dbsize,
    Flush,
    /// Keys from slab position `from`; `pattern` is a glob, `slot` a
    /// hash slot they must be in.
    Scan {
        from: usize,
        count: usize,
        pattern: Option<Box<[u8]>>,
        slot: Option<u16>,
        /// `SCAN … TYPE t`: only keys of this type.
        kind: Option<Box<[u8]>>,
    },
    CountKeysInSlot(u16),
    /// This worker's command statistics and error counts, and its slow
    /// log if asked.
    Introspect {
        slowlog: bool,
    },
    /// `CONFIG RESETSTAT`: zero the counters (gauges stay).
    ResetStats,
    /// `SLOWLOG RESET`.
    SlowlogReset,
    /// `CONFIG SET` of `maxmemory`, `maxmemory-policy`, `slowlog-*`: the
    /// partition reads the live settings when the message arrives (so
    /// racing `CONFIG SET`s leave every partition with the last one), and
    /// takes its share of `maxmemory` among this many workers.
    Configure(Arc<crate::introspect::Runtime>, usize),
    /// One step of `CLUSTER GETKEYSINSLOT`: up to `count` keys of `slot`,
    /// from the start or where `walk` stopped.
    KeysInSlot {
        slot: u16,
        count: usize,
        walk: Option<u64>,
    },
    Stats,
    /// `RANDOMKEY`: a random live key here, chosen from `seed`.
    RandomKey(u64),
    /// `OBJECT`/`MEMORY USAGE`: what a key's value is and costs.
    KeyInfo(Box<[u8]>),
    /// A client blocked on `keys` (`BLPOP`, …): `notify` is signalled once
    /// when any of them is written, then forgotten here.
    Block {
        id: u64,
        keys: Vec<Box<[u8]>>,
        notify: Arc<tokio::sync::Notify>,
    },
    /// The client `id` no longer waits on `keys` here.
    Unblock {
        id: u64,
        keys: Vec<Box<[u8]>>,
    },
}

#[derive(Debug)]
pub enum AdminReply {
    Count(usize),
    Done,
    Scan(ScanStep),
    SlotKeys(SlotStep),
    Stats(Box<Stats>),
    Key(Option<Box<[u8]>>),
    KeyInfo(Option<KeyInfo>),
    Introspect(Box<crate::introspect::Introspect>),
}

/// Clients blocked on keys: per key, the clients' ids and signals, in the
/// order they blocked. A write of the key signals them all and forgets
/// them (each retries its command: one wins the element, the others block
/// again), so a wake-up is never lost and a key's entry never outlives
/// the next write of it or its clients' `Unblock`.
/// One blocked client: its id and its signal.
type BlockedClient = (u64, Arc<tokio::sync::Notify>);

#[derive(Default)]
pub struct Blocked {
    keys: hashbrown::HashMap<Box<[u8]>, Vec<BlockedClient>>,
}

impl Blocked {
    fn add(&mut self, key: Box<[u8]>, id: u64, notify: &Arc<tokio::sync::Notify>) {
        self.keys
            .entry(key)
            .or_default()
            .push((id, Arc::clone(notify)));
    }

    fn remove(&mut self, key: &[u8], id: u64) {
        if let Some(waiters) = self.keys.get_mut(key) {
            waiters.retain(|(w, _)| *w != id);
            if waiters.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Signals (and forgets) the clients blocked on `key`.
    #[inline]
    fn wake(&mut self, key: &[u8]) {
        if self.keys.is_empty() {
            return;
        }
        if let Some(waiters) = self.keys.remove(key) {
            for (_, notify) in waiters {
                notify.notify_one();
            }
        }
    }

    /// Keys with blocked clients.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A key as `OBJECT` and `MEMORY USAGE` see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Redis's encoding for the value: `int`, `embstr` or `raw`.
    pub encoding: &'static str,
    /// A small integer Redis would share (`OBJECT REFCOUNT`).
    pub shared: bool,
    /// Bytes the key costs its partition (`Store::usage`).
    pub memory: usize,
}

impl KeyInfo {
    /// As Redis 7 encodes a string value: `int` for an integer of at most
    /// 20 characters in canonical form, `embstr` up to 44 bytes, else
    /// `raw`; a value `APPEND` grew is `raw`, as Redis's appends make it.
    pub fn of(value: &[u8], grown: bool, memory: usize) -> Self {
        // `parse_i64` takes only the canonical form (no `+`, `007`, `-0`).
        let int = (value.len() <= 20).then(|| parse_i64(value)).flatten();
        let encoding = match int {
            Some(_) => "int",
            None if value.len() <= 44 && !grown => "embstr",
            None => "raw",
        };
        Self {
            encoding,
            shared: int.is_some_and(|n| (0..10_000).contains(&n)),
            memory,
        }
    }
}

/// A partition's answer to [`Admin::KeysInSlot`].
#[derive(Debug)]
pub enum SlotStep {
    /// The slot index is being built, a bounded step at a time: ask again.
    Building,
    /// Keys of the slot (past their TTL left out), and the walk that
    /// continues the answer.
    Keys(SlotWalk),
    /// No slot index here (it would pass the memory budget), or the walk
    /// was dropped: scan for the slot's keys instead.
    Scan,
}

/// Counters of one worker: its partition and its connections.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub keys: u64,
    /// Operations executed on this partition.
    pub ops: u64,
    /// Commands received by this worker's connections.
    pub commands: u64,
    /// Operations this worker's connections forwarded to other partitions.
    pub forwarded_out: u64,
    /// Operations other workers forwarded to this partition.
    pub forwarded_in: u64,
    pub hits: u64,
    pub misses: u64,
    /// Keys removed because their TTL passed.
    pub expired: u64,
    /// Keys evicted to stay under the memory limit.
    pub evictions: u64,
    /// Keys with a TTL now.
    pub expires: u64,
    pub txn_single: u64,
    pub txn_prepared: u64,
    pub txn_aborted: u64,
    /// Transactions this worker's connections committed on one partition.
    pub txn_commits_single: u64,
    /// … and across partitions (two-phase commit).
    pub txn_commits_cross: u64,
    /// … that applied nothing (a watched key changed, a check failed, out
    /// of memory), on one partition …
    pub txn_aborted_single: u64,
    /// … and across partitions.
    pub txn_aborted_cross: u64,
    /// Bytes of data this partition holds (entries, slab, index, TTLs).
    pub memory: u64,
    /// This partition's share of `--maxmemory` (0: no limit).
    pub memory_limit: u64,
    /// Bytes of the per-slot key index (part of `memory`; 0 until a
    /// `CLUSTER GETKEYSINSLOT` asked this partition).
    pub slot_index: u64,
    /// Resident pages of the worker's entry arena (`partition/arena.rs`),
    /// and the bytes of the blocks in use in them.
    pub entry_pages: u64,
    pub entry_pages_used: u64,
    pub connections_total: u64,
    pub connections_open: u64,
    /// Connections that moved to this worker from another, to be near the
    /// keys they use (`connection/migrate.rs`).
    pub connections_migrated_in: u64,
    /// 1 while this worker is pinned to its core (`--pin`), else 0: the
    /// number of pinned workers in totals.
    pub pinned: u64,
    /// 1 while this worker waits for a CPU (`--migrate auto` moves its
    /// connections), else 0: the number of such workers in totals.
    pub contended: u64,
    /// Connections waiting in a blocking command (`BLPOP`, …) now.
    pub blocked_clients: u64,
    /// Clients this worker disconnected for passing their output limit.
    pub output_limit_disconnections: u64,
    /// Forwarded batches this partition cut short at a client's output limit.
    pub output_limit_cuts: u64,
    /// Clients refused at accept (maxclients or no file descriptors).
    pub rejected_connections: u64,
    /// Clients closed by `--timeout`.
    pub idle_timeouts: u64,
    /// Bytes of read/write buffers this worker's connections hold now
    /// (idle connections hold none), their open transactions and `MULTI`
    /// queues.
    pub client_buffers: u64,
    /// Bytes of replies this partition built for other workers' clients,
    /// not delivered yet.
    pub replies_in_flight: u64,
    /// The most bytes of replies this partition held at once (the sum
    /// over partitions in totals).
    pub replies_in_flight_peak: u64,
    /// Bytes of the worker's spare connection buffers.
    pub buffer_pool: u64,
    /// Clients this worker disconnected for `maxmemory-clients`.
    pub evicted_clients: u64,
}

impl Stats {
    /// `CONFIG RESETSTAT`: zero the counters Redis resets; gauges (keys,
    /// memory, open connections, buffers) stay.
    pub fn reset_counters(&mut self) {
        *self = Stats {
            connections_open: self.connections_open,
            client_buffers: self.client_buffers,
            replies_in_flight: self.replies_in_flight,
            buffer_pool: self.buffer_pool,
            pinned: self.pinned,
            contended: self.contended,
            ..Stats::default()
        };
    }
}

impl std::ops::AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        self.keys += o.keys;
        self.ops += o.ops;
        self.commands += o.commands;
        self.forwarded_out += o.forwarded_out;
        self.forwarded_in += o.forwarded_in;
        self.hits += o.hits;
        self.misses += o.misses;
        self.expired += o.expired;
        self.evictions += o.evictions;
        self.expires += o.expires;
        self.txn_single += o.txn_single;
        self.txn_prepared += o.txn_prepared;
        self.txn_aborted += o.txn_aborted;
        self.txn_commits_single += o.txn_commits_single;
        self.txn_commits_cross += o.txn_commits_cross;
        self.txn_aborted_single += o.txn_aborted_single;
        self.txn_aborted_cross += o.txn_aborted_cross;
        self.memory += o.memory;
        self.memory_limit += o.memory_limit;
        self.slot_index += o.slot_index;
        self.entry_pages += o.entry_pages;
        self.entry_pages_used += o.entry_pages_used;
        self.connections_total += o.connections_total;
        self.connections_open += o.connections_open;
        self.connections_migrated_in += o.connections_migrated_in;
        self.pinned += o.pinned;
        self.contended += o.contended;
        self.output_limit_disconnections += o.output_limit_disconnections;
        self.output_limit_cuts += o.output_limit_cuts;
        self.rejected_connections += o.rejected_connections;
        self.idle_timeouts += o.idle_timeouts;
        self.client_buffers += o.client_buffers;
        self.replies_in_flight += o.replies_in_flight;
        self.buffer_pool += o.buffer_pool;
        self.replies_in_flight_peak += o.replies_in_flight_peak;
        self.evicted_clients += o.evicted_clients;
    }
}

/// The live `proto-max-bulk-len` (`None`: Redis's default, for partitions
/// made without a server, as in tests).
#[derive(Default)]
struct ValueCap(Option<Arc<AtomicUsize>>);

impl ValueCap {
    fn get(&self) -> usize {
        self.0
            .as_ref()
            .map_or(crate::clients::DEFAULT_PROTO_MAX_BULK_LEN, |c| {
                c.load(std::sync::atomic::Ordering::Relaxed)
            })
    }
}

/// A request that needs a locked key.
#[derive(Debug)]
enum Waiter {
    Batch(Box<OpBatch>, ReplyTo),
    Apply(Box<TxnPart>, oneshot::Sender<Applied>),
    Prepare(TxnId, Box<TxnPart>, oneshot::Sender<Vote>),
    Flush(oneshot::Sender<AdminReply>),
}

/// A prepared transaction's part, its lock mode, and the keys it locked.
struct Staged {
    part: Box<TxnPart>,
    locked: Vec<Box<[u8]>>,
    /// Read-only parts run at prepare time.
    ran: bool,
    /// When it was prepared (the partition's clock): the lock lease runs
    /// from here.
    prepared_at: u64,
}

#[derive(Default)]
pub struct Partition {
    store: Store,
    expiry: expiry::Expiry,
    /// A fixed clock for tests; `None` reads the system clock.
    frozen_now: Option<u64>,
    locks: Locks,
    watches: Watches,
    staged: hashbrown::HashMap<TxnId, Staged, ahash::RandomState>,
    waiters: VecDeque<Waiter>,
    /// This partition's share of `--maxmemory` in bytes; 0 means no limit.
    budget: usize,
    /// At the budget, evict (SIEVE) instead of refusing writes.
    evicting: bool,
    /// Replies to other workers' batches, for the worker to send on.
    outgoing: Vec<Outgoing>,
    /// How long a prepared transaction may hold its locks here before
    /// [`expire_leases`](Self::expire_leases) settles it (0: forever).
    lease_ms: u64,
    /// Entries a `FLUSHALL` removed, freed a chunk at a time
    /// ([`free_flushed`](Self::free_flushed)), and the bytes they hold.
    flushed: Vec<slab::Slab<entry::Entry>>,
    flushed_bytes: usize,
    /// Largest value a write may leave (`proto-max-bulk-len`).
    max_value: ValueCap,
    /// The worker's client memory (connection buffers, replies in flight,
    /// spare buffers): it counts toward the budget. `None` in tests.
    clients: Option<Arc<WorkerMemory>>,
    pub stats: Stats,
    /// Collection commands' encoded replies ([`Outcome::Raw`]).
    reply: Vec<u8>,
    /// Clients blocked on keys of this partition (`BLPOP`, …).
    blocked: Blocked,
    /// When collections change form (`hash-max-listpack-entries`, …).
    limits: coll::Limits,
    /// State of the random numbers of `HRANDFIELD`, `SPOP`, … (0 until
    /// first used: then seeded from the clock).
    rng: u64,
    /// The worker's per-command statistics and slow log (its connections
    /// write them; `INFO`/`SLOWLOG` read them by message).
    pub introspect: crate::introspect::Introspect,
}

impl Partition {
    /// Sets when small collections become big (the server's `CONFIG SET`
    /// of the `*-max-*` settings does it through `Admin::Configure`; the
    /// fuzz targets and tests call this).
    pub fn set_collection_limits(&mut self, limits: coll::Limits) {
        self.limits = limits;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A partition limited to `budget` bytes of data (0: unlimited). With
    /// the `noeviction` policy, writes that would pass it are refused.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// A partition limited to `budget` bytes that evicts keys to make room
    /// for writes: in SIEVE order, or (`lru`) by sampled LRU.
    pub fn evicting(budget: usize, lru: bool) -> Self {
        let mut p = Self::with_budget(budget);
        p.evicting = true;
        p.store.enable_eviction(lru);
        p
    }

    /// Evicts keys (SIEVE order; never a locked key nor one of `keep`)
    /// until `added` more bytes fit. False if they cannot be made to fit.
    /// `growth` recomputes `added` when the store empties: that gives its
    /// slab back, which a new key must then allocate again.
    fn make_room(
        &mut self,
        mut added: usize,
        keep: &[&[u8]],
        growth: impl Fn(&Self) -> usize,
    ) -> bool {
        // Flushed entries go first, as much as the write needs.
        while self.over_budget(added) && self.free_flushed(1) {}
        if !self.over_budget(added) {
            return true;
        }
        if !self.evicting {
            return false;
        }
        while self.over_budget(added) {
            let locks = &self.locks;
            let Some(victim) = self
                .store
                .victim(|k| locks.blocks(k, true) || keep.contains(&k))
            else {
                return false;
            };
            self.store.del(&victim);
            self.expiry.clear(&victim);
            self.watches.touch(&victim);
            self.stats.evictions += 1;
            if self.store.is_empty() {
                added = growth(self);
            }
        }
        true
    }

    /// Sets the lock lease of prepared transactions (0: no lease).
    pub fn set_lease(&mut self, ms: u64) {
        self.lease_ms = ms;
    }

    /// Bytes this partition accounts for: the store and the TTL bookkeeping.
    pub fn memory(&self) -> usize {
        self.store.memory() + self.expiry.memory() + self.flushed_bytes
    }

    /// Frees up to `chunks` slab chunks (4096 entries each) of flushed
    /// entries; true while some remain. The worker calls it in steps with
    /// yields between them.
    pub fn free_flushed(&mut self, chunks: usize) -> bool {
        for _ in 0..chunks {
            let Some(slab) = self.flushed.last_mut() else {
                break;
            };
            let Some(chunk) = slab.pop_chunk() else {
                self.flushed.pop();
                continue;
            };
            let mut chunk = chunk;
            let entries: usize = chunk.iter().flatten().map(entry::Entry::footprint).sum();
            // Big collections are freed in steps of their own.
            for e in chunk.iter_mut().flatten() {
                if e.is_collection() && coll::len(e.value()) > coll::FREE_AT_ONCE {
                    if let Some(big) = coll::detach(e.value_mut()) {
                        self.store.adopt_lazy(big);
                    }
                }
            }
            let slots = std::mem::size_of_val(&*chunk);
            self.flushed_bytes = self.flushed_bytes.saturating_sub(entries + slots);
        }
        while self.flushed.last().is_some_and(|s| s.capacity() == 0) {
            self.flushed.pop();
        }
        if self.flushed.is_empty() {
            self.flushed_bytes = 0;
        }
        let lazy = chunks > 0 && self.store.free_lazy(chunks * coll::FREE_STEP);
        !self.flushed.is_empty() || lazy
    }

    /// Makes room for `added` more bytes of client memory (a transaction's
    /// buffer), evicting data where the policy evicts, as a data write
    /// would; false if they cannot fit under the budget.
    pub fn reserve_client_bytes(&mut self, added: usize) -> bool {
        !self.over_budget(added) || self.make_room(added, &[], |_| added)
    }

    /// Makes the worker's client memory count toward the budget (and
    /// reports it in the stats).
    pub fn set_client_memory(&mut self, cell: Arc<WorkerMemory>) {
        self.clients = Some(cell);
    }

    /// The worker's client memory cell (a detached one in tests).
    pub fn client_memory(&mut self) -> &Arc<WorkerMemory> {
        self.clients.get_or_insert_with(Arc::default)
    }

    /// Bytes the worker holds for clients: connection buffers, replies in
    /// flight to other workers, spare buffers.
    fn client_bytes(&self) -> usize {
        self.clients.as_ref().map_or(0, |c| c.total())
    }

    /// True if writing `added` more bytes would pass the budget.
    /// The worker's client memory counts too (as Redis counts client
    /// buffers in `used_memory`).
    fn over_budget(&self, added: usize) -> bool {
        self.budget != 0 && self.memory() + self.client_bytes() + added > self.budget
    }

    /// Upper bound of the bytes `op` may add to [`memory`](Self::memory)
    /// (0 for operations that never grow it): its entry in the size class
    /// the accounting rounds it to, the slab and index growth of a new key,
    /// and the TTL bookkeeping of a deadline.
    fn growth(&self, op: &OpRef<'_>) -> usize {
        let ttl = if op.kind.sets_deadline() {
            self.expiry.set_growth(1, op.key.len())
        } else {
            0
        };
        match self.entry_growth(op, None) {
            // Saturating: a huge offset (`SETRANGE`, `SETBIT`) bounds its
            // entry at `usize::MAX`, which no budget admits.
            Some(entry) => entry
                .saturating_add(self.store.insert_growth(1))
                .saturating_add(ttl),
            None => ttl,
        }
    }

    /// The largest entry a write `op` may leave under its key, as the
    /// accounting sizes it (`None` if `op` writes no value). `before` bounds
    /// the value's length when earlier operations of the same transaction
    /// wrote the key; else the stored value's length is used.
    fn entry_growth(&self, op: &OpRef<'_>, before: Option<usize>) -> Option<usize> {
        let value_len = match op.kind {
            OpKind::Put | OpKind::Set { .. } | OpKind::SetNx => op.value.len(),
            OpKind::Append => {
                let old = before.or_else(|| self.store.value_len(op.key));
                let len = old.unwrap_or(0).saturating_add(op.value.len());
                // The value may grow with room to spare.
                return Some(entry::max_append_footprint(op.key.len(), len));
            }
            OpKind::IncrBy(_) => I64_MAX_LEN,
            OpKind::Rename { .. } | OpKind::Copy { .. } | OpKind::BitOp(_) => {
                return self.move_entry_growth(op.kind, op.key, op.value)
            }
            OpKind::Hash(cmd) if !cmd.is_read() => {
                let count = self
                    .store
                    .collection(op.key, coll::HASH)
                    .ok()
                    .flatten()
                    .map_or(0, coll::len);
                let bytes = coll::hash::growth(count, op.value, &self.limits);
                return Some(bytes.saturating_add(entry::max_footprint(op.key.len(), 0)));
            }
            OpKind::Restore(_) => return Some(coll::restore_growth(op.key.len(), op.value)),
            OpKind::List(cmd) if !cmd.is_read() => {
                let sources: usize = movekey::extra_keys(op.kind, op.value)
                    .chain(std::iter::once(op.key))
                    .filter_map(|k| self.store.entry(k).map(|e| e.footprint()))
                    .sum();
                let bytes = coll::list::growth(op.value, sources);
                return Some(bytes.saturating_add(entry::max_footprint(op.key.len(), 0)));
            }
            OpKind::SetType(cmd) if !cmd.is_read() => {
                let (count, big) = self
                    .store
                    .collection(op.key, coll::SET)
                    .ok()
                    .flatten()
                    .map_or((0, false), |c| (coll::len(c), coll::is_big(c)));
                let sources: usize = movekey::extra_keys(op.kind, op.value)
                    .filter_map(|k| self.store.entry(k).map(|e| e.footprint()))
                    .sum();
                let bytes = coll::set::growth(count, op.value, sources, big);
                return Some(bytes.saturating_add(entry::max_footprint(op.key.len(), 0)));
            }
            OpKind::ZSetType(cmd) if !cmd.is_read() => {
                let (count, big) = self
                    .store
                    .collection(op.key, coll::ZSET)
                    .ok()
                    .flatten()
                    .map_or((0, false), |c| (coll::len(c), coll::is_big(c)));
                let sources: usize = movekey::extra_keys(op.kind, op.value)
                    .filter_map(|k| self.store.entry(k).map(|e| e.footprint()))
                    .sum();
                let bytes = coll::zset::growth(count, op.value, sources, big);
                return Some(bytes.saturating_add(entry::max_footprint(op.key.len(), 0)));
            }
            OpKind::IncrByFloat => match before {
                // The result's exact length when it is computed now.
                None => float::incr_by_float(self.store.get_untouched(op.key), op.value)
                    .map_or(0, |t| t.as_bytes().len()),
                Some(_) => float::MAX_LEN,
            },
            _ => {
                let old = before.or_else(|| self.store.value_len(op.key));
                let len = written_len(op)?;
                // Written inside the value: no growth; past it, the value
                // may grow with room to spare, as by APPEND.
                return (len > old.unwrap_or(0))
                    .then(|| entry::max_append_footprint(op.key.len(), len));
            }
        };
        Some(entry::max_footprint(op.key.len(), value_len))
    }

    /// Upper bound of the bytes all writes of `part` may add together.
    fn part_growth(&self, part: &TxnPart) -> usize {
        // Per key, a bound of its value's length after the ops so far, for
        // APPENDs that follow other writes of the same key.
        let mut lengths: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
        let (mut entries, mut keys, mut ttls, mut ttl_key_bytes) = (0usize, 0, 0, 0);
        for op in part.ops.ops() {
            let before = lengths
                .get(op.key)
                .copied()
                .or_else(|| self.store.value_len(op.key));
            if let Some(entry) = self.entry_growth(&op, before) {
                let base = before.unwrap_or(0);
                // A conditional write may not happen: keep the longer.
                let after = match op.kind {
                    OpKind::Append => base.saturating_add(op.value.len()),
                    OpKind::IncrBy(_) => I64_MAX_LEN,
                    OpKind::IncrByFloat => float::MAX_LEN,
                    OpKind::SetRange(_) | OpKind::SetBit { .. } => written_len(&op).unwrap_or(0),
                    _ => op.value.len(),
                };
                lengths.insert(op.key, after.max(base));
                entries = entries.saturating_add(entry);
                keys += 1;
            }
            if op.kind.sets_deadline() {
                ttls += 1;
                ttl_key_bytes += op.key.len();
            }
        }
        if keys + ttls == 0 {
            return 0;
        }
        entries
            .saturating_add(self.store.insert_growth(keys))
            .saturating_add(self.expiry.set_growth(ttls, ttl_key_bytes))
    }

    /// Refuses a write whose value would pass `proto-max-bulk-len`, or
    /// that needs a new key when no slab position is left.
    fn refuse_size(&self, op: &OpRef<'_>) -> Option<Outcome<'static>> {
        let new_len = match op.kind {
            OpKind::Put | OpKind::Set { .. } | OpKind::SetNx => op.value.len(),
            OpKind::Append => self.store.value_len(op.key).unwrap_or(0) + op.value.len(),
            OpKind::IncrBy(_) | OpKind::IncrByFloat => 0,
            OpKind::SetBit { offset, .. } | OpKind::GetBit(offset) => {
                // Redis: the offset's byte must be under proto-max-bulk-len.
                let max = self.max_value.get().min(entry::MAX_VALUE) as u64;
                if offset >> 3 >= max {
                    return Some(Outcome::Error(ops::BIT_OFFSET));
                }
                match op.kind {
                    OpKind::SetBit { on: None, .. } => return Some(Outcome::Error(ops::BIT_VALUE)),
                    OpKind::GetBit(_) => return None,
                    _ => 0,
                }
            }
            OpKind::SetRange(_) if op.value.is_empty() => return None,
            OpKind::SetRange(_) => written_len(op).unwrap_or(usize::MAX),
            _ => return None,
        };
        if new_len > self.max_value.get().min(entry::MAX_VALUE) {
            return Some(Outcome::Error(crate::clients::TOO_BIG));
        }
        (self.store.is_full() && !self.store.contains(op.key)).then_some(Outcome::OutOfMemory)
    }

    /// Shares the server's live `proto-max-bulk-len`.
    pub fn set_max_value(&mut self, cap: Arc<AtomicUsize>) {
        self.max_value = ValueCap(Some(cap));
    }

    /// True when no transaction is prepared here and nothing waits.
    pub fn is_idle(&self) -> bool {
        self.locks.is_empty() && self.staged.is_empty() && self.waiters.is_empty()
    }

    /// True if a plain `kind` operation on `key` must wait for a lock.
    #[inline]
    pub fn blocks(&self, kind: OpKind, key: &[u8]) -> bool {
        self.locks.blocks(key, !kind.is_read())
    }

    /// True if `op` must wait for a lock on any key it touches (its own,
    /// and the others of a move or combine operation).
    #[inline(always)]
    pub fn op_blocks(&self, op: &OpRef<'_>) -> bool {
        self.blocks(op.kind, op.key)
            || op.kind.has_extra_keys()
                && movekey::extra_keys(op.kind, op.value).any(|k| self.locks.blocks(k, true))
    }

    /// Executes one operation, encoding its response in `dialect` to `out`.
    /// The caller checks [`blocks`](Self::blocks) first.
    #[inline]
    pub fn execute(&mut self, dialect: Dialect, op: OpRef<'_>, out: &mut Vec<u8>) {
        self.execute_with(op, dialect.proto(), |outcome, raw| match outcome {
            Outcome::Raw => out.extend_from_slice(raw),
            _ => reply::encode(dialect, outcome, out),
        });
    }

    /// Executes one operation whose answer is a count to be summed with
    /// others (`DEL`, `EXISTS` over several keys): the integer, never
    /// encoded; 0 for anything else (an `MSET` part's `OK`).
    #[inline]
    pub fn execute_count(&mut self, op: OpRef<'_>) -> i64 {
        let mut count = 0;
        self.execute_with(op, crate::resp::encode::Proto::V2, |outcome, _| {
            count = outcome.count()
        });
        count
    }

    /// Executes one operation and hands its outcome to `sink` (the one
    /// place that turns it into bytes or a number).
    #[inline(always)]
    fn execute_with(
        &mut self,
        op: OpRef<'_>,
        proto: crate::resp::encode::Proto,
        sink: impl FnOnce(&Outcome<'_>, &[u8]),
    ) {
        self.stats.ops += 1;
        if let OpKind::Watch(id) = op.kind {
            self.watches.watch(id, op.key);
        }
        // The clock is read only when a TTL is involved: most operations on a
        // partition without TTLs never need it.
        let now = if self.expiry.is_empty() && !op.kind.sets_deadline() {
            0
        } else {
            self.now()
        };
        self.expire_if_due(op.key, now);
        if op.kind.has_extra_keys() {
            for key in movekey::extra_keys(op.kind, op.value) {
                self.expire_if_due(key, now);
            }
        }
        // Redis checks the type before the size, but a bit offset first.
        if self.store.has_collections()
            && op.kind.string_only()
            && !matches!(op.kind, OpKind::SetBit { .. } | OpKind::GetBit(_))
        {
            match self.store.kind(op.key) {
                None | Some(coll::Kind::String) => {}
                Some(kind) => {
                    sink(&Outcome::WrongType(kind), &[]);
                    return;
                }
            }
        }
        if let Some(refused) = self.refuse_size(&op) {
            sink(&refused, &[]);
            return;
        }
        if self.budget != 0 {
            let growth = self.growth(&op);
            if growth > 0 && self.over_budget(growth) && !self.make_room_for(&op, growth) {
                sink(&Outcome::OutOfMemory, &[]);
                return;
            }
        }
        if self.rng == 0 {
            self.rng = ahash::RandomState::new().hash_one(unix_ms()) | 1;
        }
        let (watches, blocked) = (&mut self.watches, &mut self.blocked);
        let mut touched = |k: &[u8]| {
            watches.touch(k);
            blocked.wake(k);
        };
        self.reply.clear();
        let mut env = ops::Env {
            expiry: &mut self.expiry,
            now,
            touched: &mut touched,
            reply: &mut self.reply,
            proto,
            limits: self.limits,
            rng: &mut self.rng,
        };
        let outcome = ops::execute(&mut self.store, &mut env, op.kind, op.key, op.value);
        match &outcome {
            Outcome::Value(Some(_)) => self.stats.hits += 1,
            Outcome::Value(None) => self.stats.misses += 1,
            _ => {}
        }
        sink(&outcome, &self.reply);
    }

    /// Evicts (never a key `op` touches) until `op`'s `growth` fits.
    fn make_room_for(&mut self, op: &OpRef<'_>, growth: usize) -> bool {
        let keep: Vec<&[u8]> = std::iter::once(op.key)
            .chain(movekey::extra_keys(op.kind, op.value))
            .collect();
        self.make_room(growth, &keep, |p| p.growth(op))
    }

    /// Now, in unix milliseconds (the partition's clock).
    pub fn now(&self) -> u64 {
        self.frozen_now.unwrap_or_else(unix_ms)
    }

    /// Fixes the clock (tests).
    pub fn freeze_clock(&mut self, now: u64) {
        self.frozen_now = Some(now);
    }

    /// Removes `key` if its TTL has passed: expired keys are never served.
    #[inline]
    fn expire_if_due(&mut self, key: &[u8], now: u64) {
        if self.expiry.is_empty() || !self.expiry.is_due(key, now) {
            return;
        }
        self.expiry.clear(key);
        self.remove_expired(key);
    }

    fn remove_expired(&mut self, key: &[u8]) {
        if self.store.del(key) {
            self.watches.touch(key);
            self.stats.expired += 1;
        }
    }

    /// True if `key` exists and has not expired.
    fn is_live(&self, key: &[u8], now: u64) -> bool {
        self.store.contains(key) && !self.expiry.is_due(key, now)
    }

    /// Removes up to `max` keys whose TTL has passed, oldest deadline
    /// first; the worker calls this on a timer so memory of expired keys
    /// returns even if they are never read. Keys locked by a prepared
    /// transaction wait for a later tick. Returns how many were removed.
    pub fn reclaim_expired(&mut self, max: usize) -> usize {
        let now = self.now();
        let mut removed = 0;
        while removed < max {
            let Some(key) = self.expiry.pop_due(now) else {
                break;
            };
            if self.locks.blocks(&key, true) {
                self.expiry.defer(&key, now);
                break;
            }
            self.remove_expired(&key);
            removed += 1;
        }
        removed
    }

    /// Takes the finished replies to other workers' batches.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outgoing)
    }

    /// Registers a watch on `key` for the connection `id`.
    #[cfg(test)]
    pub fn watch(&mut self, id: WatchId, key: &[u8]) {
        self.watches.watch(id, key);
    }

    /// Serves one request now, or queues it until the keys it needs unlock.
    pub fn handle(&mut self, request: Request) {
        match request {
            Request::Batch(batch, reply) => self.run(Waiter::Batch(batch, reply)),
            Request::Apply(part, reply) => self.run(Waiter::Apply(part, reply)),
            Request::Prepare(txn, part, reply) => self.run(Waiter::Prepare(txn, part, reply)),
            Request::Commit(txn, reply) => {
                let out = self.commit(txn);
                if let (Some(reply), Some(out)) = (reply, out) {
                    let _ = reply.send(out);
                }
                self.wake();
            }
            Request::Abort(txn, reply) => {
                let part = self.abort(txn);
                if let Some(reply) = reply {
                    let _ = reply.send(part);
                }
                self.wake();
            }
            Request::Fill(txn, ops, reply) => {
                let _ = reply.send(self.fill(txn, *ops));
            }
            Request::Unwatch(id) => self.watches.unwatch(id),
            Request::Admin(Admin::Flush, reply) => self.run(Waiter::Flush(reply)),
            Request::Admin(admin, reply) => {
                let _ = reply.send(self.admin(admin));
            }
        }
    }

    fn run(&mut self, waiter: Waiter) {
        if let Some(blocked) = self.try_run(waiter) {
            self.waiters.push_back(blocked);
        }
    }

    /// Runs `waiter` as far as the locks allow; gives it back if blocked.
    fn try_run(&mut self, waiter: Waiter) -> Option<Waiter> {
        match waiter {
            Waiter::Batch(mut batch, reply) => {
                if !self.run_batch(&mut batch) {
                    return Some(Waiter::Batch(batch, reply));
                }
                let mut out = batch.into_reply();
                self.hold(&mut out);
                match reply {
                    ReplyTo::Local(tx) => {
                        let _ = tx.send(out);
                    }
                    ReplyTo::Remote { worker, slot } => {
                        self.outgoing.push((worker, slot, out));
                    }
                }
            }
            Waiter::Apply(part, reply) => {
                if self.flush_waiting()
                    || part.ops.ops().any(|op| self.op_blocks(&op))
                    || self.watched_locked(&part)
                {
                    return Some(Waiter::Apply(part, reply));
                }
                let _ = reply.send(self.apply(part));
            }
            Waiter::Prepare(_, part, reply) if self.flush_waiting() => {
                // Admitting it would keep the flush waiting for ever under
                // steady traffic. Waiting behind the flush could deadlock
                // (the flush waits for a transaction that waits, elsewhere,
                // for this one), so it dies and retries, as under wait-die.
                let _ = reply.send(Vote::Conflict(part));
            }
            Waiter::Prepare(txn, part, reply) => return self.try_prepare(txn, part, reply),
            Waiter::Flush(reply) => {
                if !self.locks.is_empty() {
                    return Some(Waiter::Flush(reply));
                }
                let store = &self.store;
                self.watches.touch_existing(|k| store.contains(k));
                // A small store is freed at once; a big one in the
                // worker's later steps.
                if self.store.len() <= FREE_AT_ONCE {
                    self.store.clear();
                } else {
                    let (entries, bytes) = self.store.take_entries();
                    self.flushed.push(entries);
                    self.flushed_bytes += bytes;
                }
                self.expiry.clear_all();
                let _ = reply.send(AdminReply::Done);
            }
        }
        None
    }

    /// True if a `FLUSHALL` queued ahead waits for locks: transactions
    /// that come after it take their turn after it.
    fn flush_waiting(&self) -> bool {
        self.waiters.iter().any(|w| matches!(w, Waiter::Flush(_)))
    }

    /// Executes the batch's atomic runs in order until one needs a locked
    /// key; true when all are done.
    fn run_batch(&mut self, batch: &mut OpBatch) -> bool {
        let prefetch = self.wants_prefetch();
        let mut prefetched = batch.next;
        while let Some(run) = batch.next_run() {
            if prefetch && run.start >= prefetched {
                prefetched = self.prefetch_batch(batch, run.start);
            }
            if run.clone().any(|i| self.op_blocks(&batch.op(i))) {
                return false;
            }
            let dialect = batch.dialect;
            batch.run_each(run, |op, counted, reply| {
                if counted {
                    reply.push_count(self.execute_count(op));
                } else {
                    reply.push_with(|out| self.execute(dialect, op, out));
                }
            });
            batch.next += batch.next_run().map_or(0, |r| r.len());
            // Past the client's output limit the rest is skipped: the
            // client is disconnected, so its reply is never built whole.
            if !batch.charge(batch.next == batch.len()) {
                self.stats.output_limit_cuts += 1;
                break;
            }
        }
        true
    }

    /// Runs every operation of `part` (already validated and unblocked).
    /// The reply is charged to the client's budget as it grows; past it
    /// the transaction still runs whole (it is committed), but its replies
    /// are dropped as they are made and the reply is marked over the
    /// limit, so the client is disconnected without the server ever
    /// holding the whole reply (Redis also runs the whole `EXEC` and then
    /// closes a client past its limit).
    fn run_part(&mut self, part: &TxnPart) -> BatchReply {
        let mut reply = BatchReply::default();
        let mut dropped = Vec::new();
        let last = part.ops.len().saturating_sub(1);
        for (i, op) in part.ops.ops().enumerate() {
            if reply.over_limit() {
                dropped.clear();
                self.execute(part.ops.dialect, op, &mut dropped);
                continue;
            }
            if part.ops.is_counted(i) {
                reply.push_count(self.execute_count(op));
            } else {
                reply.push_with(|out| self.execute(part.ops.dialect, op, out));
            }
            if !part.ops.charge_reply(&mut reply, i == last) {
                self.stats.output_limit_cuts += 1;
            }
        }
        self.hold(&mut reply);
        reply
    }

    /// Counts a finished reply in the worker's replies in flight until the
    /// client's connection has copied it (or it is lost).
    fn hold(&mut self, reply: &mut BatchReply) {
        if let Some(cell) = &self.clients {
            let now = reply.hold(cell) as u64;
            let peak = &mut self.stats.replies_in_flight_peak;
            *peak = (*peak).max(now);
        }
    }

    /// Retries every waiter once, in arrival order, after locks were
    /// released. Running a waiter never releases a lock (a failed prepare
    /// holds none), so one pass suffices.
    fn wake(&mut self) {
        for waiter in std::mem::take(&mut self.waiters) {
            if let Some(blocked) = self.try_run(waiter) {
                self.waiters.push_back(blocked);
            }
        }
    }

    fn check_fails(&self, part: &TxnPart) -> bool {
        match part.check {
            Check::None => false,
            Check::AllAbsent => {
                let now = self.now();
                part.ops.ops().any(|op| self.is_live(op.key, now))
            }
        }
    }

    /// A transaction's part fails whole in its prepare phase if all its
    /// writes together might not fit.
    fn part_over_budget(&mut self, part: &TxnPart) -> bool {
        let added = self.part_growth(part);
        if added == 0 || !self.over_budget(added) {
            return false;
        }
        let keep: Vec<&[u8]> = part.ops.ops().map(|op| op.key).collect();
        !self.make_room(added, &keep, |p| p.part_growth(part))
    }

    /// True if a key `part`'s connection watches is locked exclusively: a
    /// prepared transaction may change it, and it may have answered its
    /// client already (a cross-partition `MSET` or `RENAME` does not wait
    /// for its commits), so the watch check waits for its outcome.
    fn watched_locked(&self, part: &TxnPart) -> bool {
        part.watch.is_some_and(|id| {
            self.watches
                .keys_of(id)
                .iter()
                .any(|k| self.locks.blocks(k, false))
        })
    }

    fn watch_failed(&self, part: &TxnPart) -> bool {
        part.watch.is_some_and(|id| self.watches.is_dirty(id))
    }

    fn apply(&mut self, part: Box<TxnPart>) -> Applied {
        self.stats.txn_single += 1;
        let result = if self.watch_failed(&part) {
            Applied::WatchFailed
        } else if self.check_fails(&part) {
            Applied::CheckFailed
        } else if self.part_over_budget(&part) {
            Applied::OutOfMemory
        } else {
            Applied::Done(self.run_part(&part))
        };
        if let Some(id) = part.watch {
            self.watches.unwatch(id);
        }
        result
    }

    /// The keys a part locks: its operations' keys and its watched keys.
    fn lock_set(&self, part: &TxnPart) -> Vec<Box<[u8]>> {
        let mut keys: Vec<Box<[u8]>> = part
            .ops
            .ops()
            .flat_map(|op| std::iter::once(op.key).chain(movekey::extra_keys(op.kind, op.value)))
            .map(Box::from)
            .collect();
        if let Some(id) = part.watch {
            keys.extend(self.watches.keys_of(id).iter().cloned());
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn try_prepare(
        &mut self,
        txn: TxnId,
        part: Box<TxnPart>,
        reply: oneshot::Sender<Vote>,
    ) -> Option<Waiter> {
        if reply.is_closed() {
            // The coordinator is gone (its task died or it gave up): locking
            // now would hold keys that no one will ever release.
            return None;
        }
        let mode = if part.ops.is_read_only() {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        let keys = self.lock_set(&part);
        match self.locks.admit(txn, mode, keys.iter().map(|k| &**k)) {
            Admission::Wait => return Some(Waiter::Prepare(txn, part, reply)),
            Admission::Die => {
                let _ = reply.send(Vote::Conflict(part));
                return None;
            }
            Admission::Granted => {}
        }
        let vote = if self.watch_failed(&part) {
            Vote::WatchFailed
        } else if self.check_fails(&part) {
            Vote::CheckFailed
        } else if self.part_over_budget(&part) {
            Vote::OutOfMemory
        } else {
            self.locks.acquire(txn, mode, keys.iter().map(|k| &**k));
            self.stats.txn_prepared += 1;
            if part.snapshot {
                let states = self.snapshot(&part);
                self.stage(txn, part, keys, false);
                let _ = reply.send(Vote::Snapshot(states));
                return None;
            }
            let ran = mode == LockMode::Shared;
            let early = ran.then(|| self.run_part(&part));
            self.stage(txn, part, keys, ran);
            let _ = reply.send(Vote::Prepared(early));
            return None;
        };
        if let Some(id) = part.watch {
            self.watches.unwatch(id);
        }
        let _ = reply.send(vote);
        None
    }

    /// Records `part` as prepared here, holding the locks on `keys`.
    fn stage(&mut self, txn: TxnId, part: Box<TxnPart>, keys: Vec<Box<[u8]>>, ran: bool) {
        let prepared_at = self.now();
        let staged = Staged {
            part,
            locked: keys,
            ran,
            prepared_at,
        };
        self.staged.insert(txn, staged);
    }

    fn commit(&mut self, txn: TxnId) -> Option<BatchReply> {
        let Some(staged) = self.staged.remove(&txn) else {
            // Its lease ran out after commit was decided: it committed here
            // already (`expire_leases`).
            tracing::debug!(txn, "commit for a transaction that is not prepared here");
            return None;
        };
        crate::fail_point!("partition::before_commit");
        let out = (!staged.ran).then(|| self.run_part(&staged.part));
        self.locks.release(txn, staged.locked.iter().map(|k| &**k));
        if let Some(id) = staged.part.watch {
            self.watches.unwatch(id);
        }
        out.filter(|_| staged.part.want_reply)
    }

    /// Unlocks and drops `txn`'s staged part, or cancels its prepare still
    /// waiting for locks here. Idempotent: an abort of a transaction that
    /// holds nothing here does nothing. A prepare cannot arrive after its
    /// own abort (mail from one worker to another is FIFO, and the
    /// coordinator's own partition is served in place), so cancelling the
    /// waiting one is enough for it never to lock after the abort.
    fn abort(&mut self, txn: TxnId) -> Option<Box<TxnPart>> {
        let Some(staged) = self.staged.remove(&txn) else {
            self.waiters
                .retain(|w| !matches!(w, Waiter::Prepare(t, ..) if *t == txn));
            return None;
        };
        self.stats.txn_aborted += 1;
        self.locks.release(txn, staged.locked.iter().map(|k| &**k));
        Some(staged.part)
    }

    /// Settles every prepared transaction that has held its locks here
    /// longer than the lease: it was lost (its coordinator's task or
    /// worker died, or it hangs). The shared [`Decision`] is set to abort
    /// unless the coordinator decided commit first; then this partition
    /// commits its staged part instead, so the transaction stays whole
    /// either way. Returns how many were settled.
    ///
    /// [`Decision`]: crate::txn::Decision
    pub fn expire_leases(&mut self) -> usize {
        if self.lease_ms == 0 || self.staged.is_empty() {
            return 0;
        }
        let deadline = self.now().saturating_sub(self.lease_ms);
        let expired: Vec<(TxnId, bool)> = self
            .staged
            .iter()
            .filter(|(_, s)| s.prepared_at <= deadline)
            .filter_map(|(&txn, s)| Some((txn, s.part.decision.as_ref()?.decide(false))))
            .collect();
        for &(txn, commit) in &expired {
            tracing::warn!(
                txn,
                commit,
                "lock lease expired; settling the transaction here"
            );
            if commit {
                self.commit(txn);
            } else {
                self.abort(txn);
            }
        }
        if !expired.is_empty() {
            self.wake();
        }
        expired.len()
    }

    /// Applies every transaction prepared here whose commit was already
    /// decided and whose client may already have its answer (no reply
    /// wanted from this part): its `Commit` letter can still be on its way,
    /// and a whole-partition read (`DBSIZE`, `KEYS`, `SCAN`, stats) does
    /// not wait on key locks, so without this it could miss a write that
    /// `MSET` has already acknowledged. The late letter then finds nothing
    /// to do, as after a lease expiry. A part whose reply is wanted is
    /// left alone: its coordinator answers only after that reply arrives.
    fn settle_decided(&mut self) {
        let decided: Vec<TxnId> = self
            .staged
            .iter()
            .filter(|(_, s)| s.ran || !s.part.want_reply)
            .filter(|(_, s)| s.part.decision.as_ref().is_some_and(|d| d.is_commit()))
            .map(|(&txn, _)| txn)
            .collect();
        for &txn in &decided {
            self.commit(txn);
        }
        if !decided.is_empty() {
            self.wake();
        }
    }

    /// One step of `CLUSTER GETKEYSINSLOT`: up to `count` live keys of
    /// `slot` from the slot index, which a first request starts (if its
    /// bytes fit the budget) and builds a bounded step per request.
    pub fn keys_in_slot(&mut self, slot: u16, count: usize, walk: Option<u64>) -> SlotStep {
        if walk.is_none() {
            if !self.store.has_slot_index() && !self.start_slot_index() {
                return SlotStep::Scan;
            }
            if !self.store.build_slot_index(slot_index::BUILD_STEP) {
                return SlotStep::Building;
            }
        }
        let (now, expiry) = (self.now(), &self.expiry);
        match self
            .store
            .walk_slot(slot, walk, count, |k| !expiry.is_due(k, now))
        {
            Some(step) => SlotStep::Keys(step),
            None => SlotStep::Scan,
        }
    }

    /// Applies settings changed at runtime: the budget and the eviction
    /// policy as a partition made with them would have (an order that
    /// starts now is built from the keys present: one pass over the slab),
    /// and the slow log's thresholds.
    fn configure(&mut self, settings: crate::introspect::Settings) {
        use crate::config::EvictionPolicy;
        self.budget = settings.budget;
        self.limits = settings.coll;
        let order = match (settings.policy, settings.budget) {
            (_, 0) | (EvictionPolicy::Noeviction, _) => None,
            (EvictionPolicy::Sieve, _) => Some(false),
            (EvictionPolicy::AllkeysLru, _) => Some(true),
        };
        self.evicting = order.is_some();
        if self.store.eviction_order() != order {
            match order {
                Some(lru) => self.store.enable_eviction(lru),
                None => self.store.disable_eviction(),
            }
        }
        let log = &mut self.introspect.slowlog;
        log.slower_than = settings.slower_than;
        log.set_max_len(settings.max_len);
    }

    /// Starts the slot index unless its bytes would pass the budget (the
    /// index is never worth evicting data for).
    fn start_slot_index(&mut self) -> bool {
        self.store.start_slot_index();
        if self.over_budget(0) {
            self.store.drop_slot_index();
            return false;
        }
        true
    }

    fn admin(&mut self, admin: Admin) -> AdminReply {
        self.settle_decided();
        match admin {
            Admin::Dbsize => AdminReply::Count(self.store.len()),
            Admin::Flush => unreachable!("flush waits for locks in try_run"),
            Admin::Scan {
                from,
                count,
                pattern,
                slot,
                kind,
            } => {
                let now = self.now();
                let (expiry, store) = (&self.expiry, &self.store);
                let kind_of = |k: &[u8]| store.kind(k).map_or("none", coll::Kind::name);
                AdminReply::Scan(self.store.scan(from, count, |k| {
                    !expiry.is_due(k, now)
                        && kind
                            .as_deref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(kind_of(k).as_bytes()))
                        && slot.is_none_or(|s| corekv_router::hash_slot(k) == s)
                        && pattern
                            .as_deref()
                            .is_none_or(|p| crate::glob::matches(p, k))
                }))
            }
            Admin::CountKeysInSlot(slot) => AdminReply::Count(self.store.keys_in_slot(slot)),
            Admin::KeysInSlot { slot, count, walk } => {
                AdminReply::SlotKeys(self.keys_in_slot(slot, count, walk))
            }
            Admin::Introspect { slowlog } => {
                AdminReply::Introspect(Box::new(self.introspect.copy(slowlog)))
            }
            Admin::ResetStats => {
                self.stats.reset_counters();
                self.introspect.reset();
                AdminReply::Done
            }
            Admin::SlowlogReset => {
                self.introspect.slowlog.reset();
                AdminReply::Done
            }
            Admin::Configure(runtime, workers) => {
                self.configure(crate::introspect::Settings::from_runtime(&runtime, workers));
                AdminReply::Done
            }
            Admin::Stats => {
                let mut stats = self.stats.clone();
                stats.keys = self.store.len() as u64;
                stats.expires = self.expiry.len() as u64;
                stats.memory = self.memory() as u64;
                stats.memory_limit = self.budget as u64;
                if let Some(c) = &self.clients {
                    stats.client_buffers = c.connections.load(Relaxed) as u64;
                    stats.replies_in_flight = c.in_flight.load(Relaxed) as u64;
                    stats.buffer_pool = c.pool.load(Relaxed) as u64;
                }
                stats.slot_index = self.store.slot_index_memory() as u64;
                // The worker's thread runs this: its arena is the one
                // this partition's entries live in.
                let (pages, used) = arena::usage();
                (stats.entry_pages, stats.entry_pages_used) = (pages as u64, used as u64);
                AdminReply::Stats(Box::new(stats))
            }
            Admin::RandomKey(seed) => {
                let now = self.now();
                let expiry = &self.expiry;
                let key = self.store.random_key(seed, |k| !expiry.is_due(k, now));
                AdminReply::Key(key.map(Box::from))
            }
            Admin::Block { id, keys, notify } => {
                for key in keys {
                    self.blocked.add(key, id, &notify);
                }
                AdminReply::Done
            }
            Admin::Unblock { id, keys } => {
                for key in keys {
                    self.blocked.remove(&key, id);
                }
                AdminReply::Done
            }
            Admin::KeyInfo(key) => {
                let live = !self.expiry.is_due(&key, self.now());
                let info = self.store.usage(&key).filter(|_| live);
                AdminReply::KeyInfo(info.map(|(e, mem)| {
                    if e.is_collection() {
                        KeyInfo {
                            encoding: coll::encoding(e.value()),
                            shared: false,
                            memory: mem,
                        }
                    } else {
                        KeyInfo::of(e.value(), e.is_grown(), mem)
                    }
                }))
            }
        }
    }
}

/// The length a `SETRANGE`/`SETBIT` needs the value to have (`None` for
/// other operations, and for a `SETRANGE` or `SETBIT` that writes nothing).
fn written_len(op: &OpRef<'_>) -> Option<usize> {
    let end = match op.kind {
        OpKind::SetRange(_) if op.value.is_empty() => return None,
        OpKind::SetRange(offset) => offset.saturating_add(op.value.len() as u64),
        OpKind::SetBit { on: None, .. } => return None,
        OpKind::SetBit { offset, .. } => (offset >> 3) + 1,
        _ => return None,
    };
    Some(usize::try_from(end).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests;
