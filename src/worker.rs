//! A worker: one thread, pinned to one core, running a single-threaded tokio
//! runtime that owns one partition, accepts on the shared port and on its
//! own core port, serves those connections, and answers other workers'
//! requests from its inbox.
//!
//! Shutdown runs in two steps so that no transaction is cut in half: on
//! `shutdown` a worker stops accepting and lets each connection finish the
//! batch it is executing, then reports `drained`; only when *every* worker
//! has drained does the server send `stop`, and the inbox (which other
//! workers' commits may still need until then) is emptied and closed.

use crate::clients::{ClientLimits, MAX_CLIENTS_REPLY};
use crate::connection::{self, BufferPool, Stops};
use crate::mesh::{Letter, Mail, Mesh, Outbox};
use crate::partition::{BatchReply, OpBatch, Partition, ReplyTo, Request};
use crate::txn::coordinator::Participants;
use crate::txn::{TxnError, TxnId};
use corekv_router::Topology;
use std::cell::RefCell;
use std::io;
use std::net::TcpListener as StdListener;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::LocalSet;

/// Per-connection limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// This partition's share of `--maxmemory` (0: none).
    pub partition_budget: usize,
    /// The eviction policy at the budget.
    pub policy: crate::config::EvictionPolicy,
    pub max_line_bytes: usize,
    pub max_request_bytes: usize,
    pub max_txn_bytes: usize,
}

/// The worker's partition, with its budget, eviction policy and value cap.
fn partition_for(limits: &Limits, clients: &ClientLimits) -> Partition {
    use crate::config::EvictionPolicy;
    let mut partition = match (limits.policy, limits.partition_budget) {
        (_, 0) | (EvictionPolicy::Noeviction, _) => Partition::with_budget(limits.partition_budget),
        (EvictionPolicy::Sieve, budget) => Partition::evicting(budget, false),
        (EvictionPolicy::AllkeysLru, budget) => Partition::evicting(budget, true),
    };
    partition.set_max_value(clients.max_value_cell());
    partition
}

impl Limits {
    /// The eviction policy's name, as `INFO`/`CONFIG GET` report it.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }
}

/// What a worker's tasks share. Lives on the worker's thread only.
pub struct WorkerCtx {
    pub id: usize,
    pub topology: Arc<Topology>,
    pub partition: RefCell<Partition>,
    pub mesh: Mesh,
    pub limits: Limits,
    /// The `TOPOLOGY` result, built once.
    pub topology_json: Rc<str>,
    pub bind: std::net::IpAddr,
    pub shared_port: u16,
    pub announce_host: Option<String>,
    pub started: std::time::Instant,
    /// Per-client limits, live (`CONFIG SET`), shared by all workers.
    pub clients: Arc<ClientLimits>,
    /// Spare connection buffers (idle connections hold none).
    pub buffers: RefCell<BufferPool>,
    outbox: Outbox,
    /// This context itself, for spawning flush tasks from `&self`.
    me: Weak<WorkerCtx>,
    txn_clock: Arc<AtomicU64>,
    client_ids: Arc<AtomicU64>,
}

impl WorkerCtx {
    /// A connection id, unique across the server (`CLIENT ID`, watches).
    pub fn next_client_id(&self) -> u64 {
        self.client_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Delivers `request` to `partition`: served in place if it is this
    /// worker's own, else posted to the owner's letter.
    pub async fn send_to(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        if partition == self.id {
            self.with_partition(|p| p.handle(request));
        } else {
            self.post(partition, Mail::Request(request));
        }
        Ok(())
    }

    /// Sends a batch of plain operations to `partition`; the reply arrives
    /// on the returned receiver.
    pub fn forward_batch(
        &self,
        partition: usize,
        batch: Box<OpBatch>,
    ) -> oneshot::Receiver<BatchReply> {
        let (tx, rx) = oneshot::channel();
        if partition == self.id {
            self.with_partition(|p| p.handle(Request::Batch(batch, ReplyTo::Local(tx))));
        } else {
            let slot = self.outbox.reserve_slot(tx);
            let from = self.id;
            self.post(partition, Mail::Batch { batch, from, slot });
        }
        rx
    }

    /// Runs `f` on the partition, then sends on the replies it finished for
    /// other workers' batches.
    pub fn with_partition<T>(&self, f: impl FnOnce(&mut Partition) -> T) -> T {
        let mut partition = self.partition.borrow_mut();
        let result = f(&mut partition);
        let outgoing = partition.take_outgoing();
        drop(partition);
        self.post_replies(outgoing);
        result
    }

    fn post_replies(&self, outgoing: Vec<crate::partition::Outgoing>) {
        if outgoing.is_empty() {
            return;
        }
        let mut by_worker: Vec<Vec<(u32, BatchReply)>> = Vec::new();
        for (worker, slot, reply) in outgoing {
            if by_worker.len() <= worker {
                by_worker.resize_with(worker + 1, Vec::new);
            }
            by_worker[worker].push((slot, reply));
        }
        for (worker, replies) in by_worker.into_iter().enumerate() {
            if !replies.is_empty() {
                self.post(worker, Mail::Replies(replies));
            }
        }
    }

    /// Adds `mail` to this turn's letter for `to`, scheduling a flush.
    fn post(&self, to: usize, mail: Mail) {
        if self.outbox.post(to, mail) {
            if let Some(ctx) = self.me.upgrade() {
                tokio::task::spawn_local(flush(ctx));
            }
        }
    }

    /// Serves one letter from another worker.
    fn receive(&self, letter: Letter) {
        let mut partition = self.partition.borrow_mut();
        for mail in letter {
            match mail {
                Mail::Request(request) => partition.handle(request),
                Mail::Batch { batch, from, slot } => {
                    partition.stats.forwarded_in += batch.len() as u64;
                    let reply = ReplyTo::Remote { worker: from, slot };
                    partition.handle(Request::Batch(batch, reply));
                }
                Mail::Replies(replies) => {
                    for (slot, reply) in replies {
                        self.outbox.complete(slot, reply);
                    }
                }
            }
        }
    }
}

/// Sends the letters collected during this turn of the event loop. Yielding
/// first lets every task that is ready now add its mail, so one letter per
/// destination carries them all. One flush runs at a time, which keeps the
/// mail from one worker to another in order.
async fn flush(ctx: Rc<WorkerCtx>) {
    tokio::task::yield_now().await;
    loop {
        let letters = ctx.outbox.take_letters();
        if letters.is_empty() {
            return;
        }
        for (to, letter) in letters {
            if ctx.mesh.send(to, letter).await.is_err() {
                tracing::debug!(worker = ctx.id, to, "peer gone; letter dropped");
            }
        }
    }
}

impl Participants for WorkerCtx {
    async fn send(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        self.send_to(partition, request).await
    }

    fn next_txn_id(&self) -> TxnId {
        self.txn_clock.fetch_add(1, Ordering::Relaxed)
    }
}

/// Everything a worker thread is started with.
pub struct WorkerSetup {
    pub id: usize,
    pub core: Option<core_affinity::CoreId>,
    pub shared: StdListener,
    pub own: StdListener,
    pub inbox: mpsc::Receiver<Letter>,
    pub mesh: Mesh,
    pub topology: Arc<Topology>,
    pub shared_port: u16,
    pub bind: std::net::IpAddr,
    pub announce_host: Option<String>,
    pub started: std::time::Instant,
    pub limits: Limits,
    pub txn_clock: Arc<AtomicU64>,
    pub client_ids: Arc<AtomicU64>,
    pub clients: Arc<ClientLimits>,
    /// How long connections may drain after `shutdown` before they are closed.
    pub shutdown_timeout: Duration,
    pub shutdown: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub drained: std::sync::mpsc::Sender<usize>,
}

/// Starts the worker on its own named thread (`corekv-worker-<id>`).
pub fn spawn(setup: WorkerSetup) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("corekv-worker-{}", setup.id))
        .spawn(move || {
            let id = setup.id;
            let drained = setup.drained.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(setup)));
            let failure = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "panicked".to_string(),
            };
            tracing::error!(worker = id, "worker failed: {failure}");
            // Shutdown waits for every worker's report; a dead one reports too.
            let _ = drained.send(id);
        })
}

/// The worker's entry point, on the calling thread.
pub fn run(setup: WorkerSetup) -> io::Result<()> {
    if let Some(core) = setup.core {
        if !core_affinity::set_for_current(core) {
            tracing::warn!(worker = setup.id, core = core.id, "could not pin to core");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&runtime, serve(setup))
}

async fn serve(setup: WorkerSetup) -> io::Result<()> {
    let WorkerSetup {
        id,
        shared,
        own,
        inbox,
        mesh,
        topology,
        shared_port,
        bind,
        announce_host,
        started,
        limits,
        txn_clock,
        client_ids,
        clients,
        shutdown_timeout,
        shutdown,
        stop,
        drained,
        ..
    } = setup;
    let workers = topology.len();
    let ctx = Rc::new_cyclic(|me| WorkerCtx {
        id,
        outbox: Outbox::new(workers),
        me: me.clone(),
        topology_json: crate::response::topology_json(&topology, shared_port).into(),
        topology,
        partition: RefCell::new(partition_for(&limits, &clients)),
        clients,
        buffers: RefCell::default(),
        mesh,
        limits,
        bind,
        shared_port,
        announce_host,
        started,
        txn_clock,
        client_ids,
    });
    let inbox_task = tokio::task::spawn_local(serve_inbox(Rc::clone(&ctx), inbox, stop));
    tokio::task::spawn_local(reclaim_expired(Rc::clone(&ctx)));
    let listeners = [TcpListener::from_std(shared)?, TcpListener::from_std(own)?];
    accept_until_shutdown(&ctx, &listeners, shutdown, shutdown_timeout).await;
    drop(listeners);
    // Letters posted by the last connections (commits, unwatches) leave
    // before this worker reports drained.
    while ctx.outbox.is_busy() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = drained.send(id);
    inbox_task
        .await
        .map_err(|e| io::Error::other(format!("inbox task: {e}")))
}

/// Accepts on both listeners until shutdown, then lets the open
/// connections drain for `drain` at most and closes the rest.
async fn accept_until_shutdown(
    ctx: &Rc<WorkerCtx>,
    listeners: &[TcpListener; 2],
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    // Each connection holds a clone of `alive`; recv() returns None once
    // all of them (and ours) are dropped.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let (kill, kill_rx) = watch::channel(false);
    let mut gate = Gate::new();
    while !*shutdown.borrow() {
        let (i, accepted) = tokio::select! {
            r = listeners[0].accept() => (0, r),
            r = listeners[1].accept() => (1, r),
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let Some(slot) = ctx.clients.admit() else {
                    gate.refuse(ctx, &stream, "maxclients reached");
                    continue;
                };
                let stops = Stops {
                    shutdown: shutdown.clone(),
                    kill: kill_rx.clone(),
                };
                spawn_connection(ctx, stream, stops, slot, alive.clone());
            }
            Err(e) => gate.accept_failed(ctx, &listeners[i], e).await,
        }
    }
    drop(alive);
    if tokio::time::timeout(drain, all_closed.recv())
        .await
        .is_err()
    {
        tracing::info!(
            worker = ctx.id,
            "shutdown: drain window over; closing the remaining connections"
        );
        let _ = kill.send(true);
        let _ = all_closed.recv().await;
    }
}

/// What the accept loop does when it cannot serve a client: at `maxclients`
/// or without file descriptors, the client gets Redis's error and is closed
/// (a spare descriptor is kept for that), and the log line is rate-limited.
struct Gate {
    /// Held open so that at the descriptor limit one is free for refusing.
    spare: Option<std::fs::File>,
    last_log: Option<std::time::Instant>,
    quiet: u64,
}

impl Gate {
    fn new() -> Self {
        Self {
            spare: open_spare(),
            last_log: None,
            quiet: 0,
        }
    }

    /// Sends the maxclients error (a new socket's buffer is empty, so this
    /// never blocks) and closes the connection.
    fn refuse(&mut self, ctx: &WorkerCtx, stream: &TcpStream, why: &str) {
        let _ = stream.try_write(MAX_CLIENTS_REPLY);
        ctx.partition.borrow_mut().stats.rejected_connections += 1;
        self.log(ctx.id, why);
    }

    /// At the descriptor limit, frees the spare, accepts the waiting
    /// client to refuse it, and takes the spare again; any other failure is
    /// logged and backed off.
    async fn accept_failed(&mut self, ctx: &WorkerCtx, listener: &TcpListener, e: io::Error) {
        let no_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        if self.spare.is_none() {
            // Lost at an earlier limit: take it again once one is free.
            self.spare = open_spare();
        }
        if no_fds && self.spare.take().is_some() {
            let waiting = tokio::time::timeout(Duration::from_millis(10), listener.accept()).await;
            if let Ok(Ok((stream, _))) = waiting {
                self.refuse(ctx, &stream, "out of file descriptors (raise ulimit -n)");
            }
            self.spare = open_spare();
            return;
        }
        self.log(ctx.id, &format!("accept failed: {e}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Logs at most once a second, with the count of lines held back.
    fn log(&mut self, worker: usize, why: &str) {
        let now = std::time::Instant::now();
        if self
            .last_log
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.quiet += 1;
            return;
        }
        let suppressed = std::mem::take(&mut self.quiet);
        tracing::warn!(worker, suppressed, "client refused: {why}");
        self.last_log = Some(now);
    }
}

fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn spawn_connection(
    ctx: &Rc<WorkerCtx>,
    stream: TcpStream,
    stops: Stops,
    slot: crate::clients::ClientSlot,
    alive: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let ctx = Rc::clone(ctx);
    tokio::task::spawn_local(async move {
        connection::serve(ctx, stream, stops, slot).await;
        drop(alive);
    });
}

/// How often, and how many expired keys at most per tick, the partition
/// reclaims: bounded work, so a mass expiry never stalls the worker.
const RECLAIM_EVERY: Duration = Duration::from_millis(100);
const RECLAIM_PER_TICK: usize = 2_000;

/// Removes expired keys in the background, a bounded number per tick
/// (more ticks follow at once while a backlog remains), and hands memory
/// back to the OS once the worker has gone idle
/// ([`crate::alloc::release_free_memory`]).
async fn reclaim_expired(ctx: Rc<WorkerCtx>) {
    let mut tick = tokio::time::interval(RECLAIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle = IdleRelease::default();
    loop {
        tick.tick().await;
        while ctx.with_partition(|p| p.reclaim_expired(RECLAIM_PER_TICK)) == RECLAIM_PER_TICK {
            tokio::task::yield_now().await;
        }
        let activity = ctx.with_partition(|p| {
            let s = &p.stats;
            (s.commands, s.ops, s.connections_total, s.connections_open)
        });
        if idle.should_release(activity) {
            ctx.buffers.borrow_mut().clear();
            crate::alloc::release_free_memory();
            tracing::debug!(worker = ctx.id, "idle: returned freed memory to the OS");
        }
    }
}

/// Decides when a worker is idle enough to return freed memory: its
/// activity counters have not moved for a whole tick, and they did move
/// since the last release. So a release happens once per burst of work,
/// never under load, and never twice for nothing.
#[derive(Default)]
struct IdleRelease {
    last_tick: Activity,
    released_at: Activity,
}

/// A worker's activity counters: commands, operations, connections
/// accepted, connections open.
type Activity = (u64, u64, u64, u64);

impl IdleRelease {
    fn should_release(&mut self, activity: Activity) -> bool {
        let quiet = activity == self.last_tick;
        self.last_tick = activity;
        if quiet && activity != self.released_at {
            self.released_at = activity;
            return true;
        }
        false
    }
}

/// Serves other workers' letters, taking every queued one per wake-up, then
/// sends the replies it produced as one letter per worker.
async fn serve_inbox(
    ctx: Rc<WorkerCtx>,
    mut inbox: mpsc::Receiver<Letter>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            letter = inbox.recv() => match letter {
                Some(letter) => {
                    ctx.receive(letter);
                    while let Ok(letter) = inbox.try_recv() {
                        ctx.receive(letter);
                    }
                    ctx.with_partition(|_| ());
                }
                None => return,
            },
            _ = stop.changed() => break,
        }
    }
    inbox.close();
    while let Ok(letter) = inbox.try_recv() {
        ctx.receive(letter);
    }
}

#[cfg(test)]
mod tests {
    use super::IdleRelease;

    #[test]
    fn releases_once_per_burst_and_never_under_load() {
        let mut idle = IdleRelease::default();
        assert!(!idle.should_release((0, 0, 0, 0)), "nothing happened yet");
        assert!(!idle.should_release((5, 5, 1, 1)), "busy");
        assert!(!idle.should_release((9, 9, 1, 1)), "still busy");
        assert!(idle.should_release((9, 9, 1, 1)), "a quiet tick after work");
        assert!(!idle.should_release((9, 9, 1, 1)), "nothing new to release");
        assert!(!idle.should_release((9, 9, 1, 0)), "a connection closed");
        assert!(idle.should_release((9, 9, 1, 0)), "quiet again");
    }
}
