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

use crate::clients::{ClientLimits, WorkerMemory, MAX_CLIENTS_REPLY};
use crate::connection::registry::{ClientAnswer, ClientQuery};
use crate::connection::{self, evict, BufferPool, ClientTable, Stops, Stream};
use crate::listener::Transport;
use crate::mesh::{Letter, Mail, Mesh, Outbox};
use crate::panic_policy::{Critical, Supervised};
use crate::partition::{BatchReply, OpBatch, Partition, ReplyTo, Request};
use crate::tls::TlsSetup;
use crate::txn::coordinator::Participants;
use crate::txn::{TxnError, TxnId};
use corekv_router::Topology;
use std::cell::{RefCell, RefMut};
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
    /// How long a prepared transaction may hold its locks before the
    /// partition settles it (`--txn-lease-ms`; 0: forever).
    pub txn_lease_ms: u64,
    /// Operations in a row forwarded to one other worker after which a
    /// connection moves there (`--migrate-after`; 0: never).
    pub migrate_after: u64,
    /// When such a connection moves (`--migrate`).
    pub migrate: crate::config::MigrateMode,
}

/// The worker's partition, with its budget, eviction policy and value cap.
fn partition_for(limits: &Limits, clients: &ClientLimits, memory: &Arc<WorkerMemory>) -> Partition {
    use crate::config::EvictionPolicy;
    let mut partition = match (limits.policy, limits.partition_budget) {
        (_, 0) | (EvictionPolicy::Noeviction, _) => Partition::with_budget(limits.partition_budget),
        (EvictionPolicy::Sieve, budget) => Partition::evicting(budget, false),
        (EvictionPolicy::AllkeysLru, budget) => Partition::evicting(budget, true),
    };
    partition.set_lease(limits.txn_lease_ms);
    partition.set_max_value(clients.max_value_cell());
    partition.set_client_memory(Arc::clone(memory));
    partition
}

impl Limits {
    /// The eviction policy's name, as `INFO`/`CONFIG GET` report it.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }
}

/// The worker's partition. Every borrow is a critical section for the
/// panic policy ([`crate::panic_policy`]): a panic while the partition is
/// borrowed aborts the process, since its state cannot be trusted after.
pub struct PartitionCell(RefCell<Partition>);

/// A borrowed partition (see [`PartitionCell`]).
pub struct PartitionMut<'a> {
    partition: RefMut<'a, Partition>,
    _critical: Critical,
}

impl PartitionCell {
    fn new(partition: Partition) -> Self {
        Self(RefCell::new(partition))
    }

    #[inline]
    pub fn borrow_mut(&self) -> PartitionMut<'_> {
        let _critical = Critical::enter();
        PartitionMut {
            partition: self.0.borrow_mut(),
            _critical,
        }
    }

    pub fn try_borrow_mut(&self) -> Option<PartitionMut<'_>> {
        let _critical = Critical::enter();
        let partition = self.0.try_borrow_mut().ok()?;
        Some(PartitionMut {
            partition,
            _critical,
        })
    }
}

impl std::ops::Deref for PartitionMut<'_> {
    type Target = Partition;

    #[inline]
    fn deref(&self) -> &Partition {
        &self.partition
    }
}

impl std::ops::DerefMut for PartitionMut<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Partition {
        &mut self.partition
    }
}

/// What a worker's tasks share. Lives on the worker's thread only.
pub struct WorkerCtx {
    pub id: usize,
    pub topology: Arc<Topology>,
    pub partition: PartitionCell,
    pub mesh: Mesh,
    pub limits: Limits,
    /// The `TOPOLOGY` result, built once.
    pub topology_json: Rc<str>,
    /// The addresses the server listens on, in `--bind` order.
    pub bind: Vec<std::net::IpAddr>,
    /// The plain shared port; 0 when the plain ports are off.
    pub shared_port: u16,
    /// The RESP port (`--resp-port`); 0 when there is none.
    pub resp_port: u16,
    pub announce_host: Option<String>,
    /// Links to the other pods, and the cluster's map (`--cluster-size`
    /// above 1); `None` for a single pod.
    pub peers: Option<crate::cluster::peer::Peers>,
    /// TLS, when configured: the acceptor and the TLS ports.
    pub tls: Option<Arc<TlsSetup>>,
    pub started: std::time::Instant,
    /// Per-client limits, live (`CONFIG SET`), shared by all workers.
    pub clients: Arc<ClientLimits>,
    /// `maxmemory`, its policy and the slow log's settings, live.
    pub runtime: Arc<crate::introspect::Runtime>,
    /// Spare connection buffers (idle connections hold none).
    pub buffers: RefCell<BufferPool>,
    /// This worker's client memory, published for the other workers and
    /// counted in its partition's budget.
    pub memory: Arc<WorkerMemory>,
    /// This worker's connections and their memory (client eviction).
    pub client_table: RefCell<ClientTable>,
    outbox: Outbox,
    /// This context itself, for spawning flush tasks from `&self`.
    me: Weak<WorkerCtx>,
    txn_clock: Arc<AtomicU64>,
    client_ids: Arc<AtomicU64>,
    /// Woken by `SHUTDOWN` (the process's signal loop waits on it).
    shutdown_request: Arc<tokio::sync::Notify>,
    /// Users and protected mode, shared by every worker.
    pub security: Arc<crate::acl::Security>,
    /// This worker's copy of the live ACL and its version.
    acl_cache: RefCell<(u64, Arc<crate::acl::Acl>)>,
    /// Set while the accept loops run (see [`WorkerCtx::accepting`]).
    accepting: RefCell<Option<(Stops, mpsc::Sender<()>)>>,
}

impl WorkerCtx {
    /// The version of the live ACL: one atomic load, no lock.
    #[inline]
    pub fn acl_version(&self) -> u64 {
        self.security.version()
    }

    /// The live ACL, from this worker's cache; the shared mutex is taken
    /// only when the ACL changed since the worker last looked.
    pub fn acl(&self) -> (u64, Arc<crate::acl::Acl>) {
        let mut cache = self.acl_cache.borrow_mut();
        if cache.0 != self.security.version() {
            *cache = self.security.snapshot();
        }
        (cache.0, Arc::clone(&cache.1))
    }

    /// Applies `maxmemory-clients` to this worker's clients.
    pub fn enforce_client_memory(&self) {
        let mut table = self.client_table.borrow_mut();
        let workers = self.topology.len();
        let evicted = evict::enforce(&self.clients, &self.memory, &mut table, workers);
        drop(table);
        if evicted > 0 {
            tracing::debug!(
                worker = self.id,
                evicted,
                "maxmemory-clients: evicted clients"
            );
            self.partition.borrow_mut().stats.evicted_clients += evicted;
        }
    }

    /// Asks worker `worker` about its connections (`CLIENT LIST/KILL`):
    /// this worker's own table at once, another's through its inbox.
    pub fn ask_clients(
        &self,
        worker: usize,
        query: ClientQuery,
    ) -> oneshot::Receiver<ClientAnswer> {
        let (tx, rx) = oneshot::channel();
        if worker == self.id {
            let _ = tx.send(self.client_table.borrow_mut().answer(&query));
        } else {
            self.post_mail(worker, Mail::Clients(query, tx));
        }
        rx
    }

    /// `SHUTDOWN`: asks the process to shut down as on SIGTERM.
    pub fn request_shutdown(&self) {
        self.shutdown_request.notify_one();
    }

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
            self.post_mail(partition, Mail::Request(request));
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
            let slot = self.outbox.reserve_slot(partition, tx);
            let from = self.id;
            self.post_mail(partition, Mail::Batch { batch, from, slot });
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
                self.post_mail(worker, Mail::Replies(replies));
            }
        }
    }

    /// Sends a connection to worker `to` (`connection/migrate.rs`).
    pub fn post_migrant(&self, to: usize, migrant: connection::migrate::Migrant) {
        self.post_mail(to, Mail::Migrant(Box::new(migrant)));
    }

    /// While this worker accepts connections: the signals a connection
    /// obeys and the token that keeps the shutdown drain waiting for it.
    pub fn accepting(&self) -> Option<(Stops, mpsc::Sender<()>)> {
        let accepting = self.accepting.borrow();
        let (stops, alive) = accepting.as_ref()?;
        let stops = Stops {
            shutdown: stops.shutdown.clone(),
            kill: stops.kill.clone(),
        };
        Some((stops, alive.clone()))
    }

    /// Adds `mail` to this turn's letter for `to`, scheduling a flush.
    fn post_mail(&self, to: usize, mail: Mail) {
        if self.outbox.post(to, mail) {
            if let Some(ctx) = self.me.upgrade() {
                tokio::task::spawn_local(flush(ctx));
            }
        }
    }

    /// Fails the requests of a letter that could not be delivered: its
    /// oneshots close as it is dropped; its batches' reply slots are failed
    /// here. Either way the waiting connection or coordinator gets an error.
    fn undelivered(&self, to: usize, letter: Letter) {
        tracing::warn!(
            worker = self.id,
            to,
            "worker unreachable; failing the requests sent to it"
        );
        for mail in letter {
            if let Mail::Batch { slot, .. } = mail {
                self.outbox.fail_slot(slot);
            }
        }
    }

    /// Fails the batches waiting on workers whose inbox has closed since
    /// their letters were delivered (a letter queued in an inbox that dies
    /// is dropped unread).
    fn fail_lost_peers(&self) {
        for to in 0..self.mesh.len() {
            // One atomic load per peer; the slots are scanned only for a
            // lost one.
            if self.mesh.is_closed(to) && self.outbox.awaits(to) {
                let failed = self.outbox.fail_slots_to(to);
                tracing::warn!(
                    worker = self.id,
                    to,
                    failed,
                    "worker unreachable; failed its batches"
                );
            }
        }
    }

    /// Serves one letter from another worker; returns the work it held
    /// (operations, requests and replies).
    fn receive(&self, letter: Letter) -> usize {
        crate::fail_point!("worker::receive");
        let mut partition = self.partition.borrow_mut();
        let mut work = 0;
        for mail in letter {
            match mail {
                Mail::Request(request) => {
                    work += 1;
                    partition.handle(request);
                }
                Mail::Batch { batch, from, slot } => {
                    work += batch.len();
                    partition.stats.forwarded_in += batch.len() as u64;
                    let reply = ReplyTo::Remote { worker: from, slot };
                    partition.handle(Request::Batch(batch, reply));
                }
                Mail::Replies(replies) => {
                    work += replies.len();
                    for (slot, reply) in replies {
                        self.outbox.complete(slot, reply);
                    }
                }
                Mail::Clients(query, reply) => {
                    work += 1;
                    let _ = reply.send(self.client_table.borrow_mut().answer(&query));
                }
                Mail::Migrant(migrant) => {
                    work += 1;
                    if let Some(ctx) = self.me.upgrade() {
                        connection::migrate::resume(&ctx, *migrant);
                    }
                }
            }
        }
        work
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
            if let Err(lost) = ctx.mesh.send(to, letter).await {
                ctx.undelivered(to, lost.0);
            }
        }
    }
}

impl Participants for WorkerCtx {
    async fn send(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        self.send_to(partition, request).await
    }

    /// This worker's own partition is served in place unless the call
    /// comes from a panic unwinding (perhaps out of the partition itself):
    /// then the request goes through the worker's own inbox.
    fn post(&self, partition: usize, request: Request) {
        if partition == self.id && !std::thread::panicking() {
            if let Some(mut p) = self.partition.try_borrow_mut() {
                p.handle(request);
                let outgoing = p.take_outgoing();
                drop(p);
                self.post_replies(outgoing);
                return;
            }
        }
        self.post_mail(partition, Mail::Request(request));
    }

    fn next_txn_id(&self) -> TxnId {
        self.txn_clock.fetch_add(1, Ordering::Relaxed)
    }
}

/// Everything a worker thread is started with.
pub struct WorkerSetup {
    pub id: usize,
    pub core: Option<core_affinity::CoreId>,
    /// The CPUs to float over if the pinned core turns out to be shared
    /// (`--pin auto`; [`crate::pinning::CoreWatch`]).
    pub release_to: Option<Vec<usize>>,
    /// Every socket this worker accepts on (shared and core ports, on
    /// every address).
    pub sockets: Vec<(StdListener, Transport)>,
    pub inbox: mpsc::Receiver<Letter>,
    pub mesh: Mesh,
    pub topology: Arc<Topology>,
    pub shared_port: u16,
    /// The shared port `TOPOLOGY` advertises (`--announce-shared-port`).
    pub announce_shared_port: u16,
    pub resp_port: u16,
    pub bind: Vec<std::net::IpAddr>,
    pub announce_host: Option<String>,
    /// The cluster's map, with `--cluster-size` above 1.
    pub cluster: Option<Arc<crate::cluster::ClusterMap>>,
    /// The password links to other pods authenticate with.
    pub cluster_auth: Option<Vec<u8>>,
    pub tls: Option<Arc<TlsSetup>>,
    pub started: std::time::Instant,
    pub limits: Limits,
    pub txn_clock: Arc<AtomicU64>,
    pub client_ids: Arc<AtomicU64>,
    /// Notified by `SHUTDOWN`.
    pub shutdown_request: Arc<tokio::sync::Notify>,
    pub security: Arc<crate::acl::Security>,
    pub clients: Arc<ClientLimits>,
    /// Settings `CONFIG SET` changes at runtime (`maxmemory`, `slowlog-*`).
    pub runtime: Arc<crate::introspect::Runtime>,
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
pub fn run(mut setup: WorkerSetup) -> io::Result<()> {
    if let Some(core) = setup.core {
        if !core_affinity::set_for_current(core) {
            tracing::warn!(worker = setup.id, core = core.id, "could not pin to core");
            setup.core = None;
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
        core,
        release_to,
        sockets,
        inbox,
        mesh,
        topology,
        shared_port,
        announce_shared_port,
        resp_port,
        bind,
        announce_host,
        cluster,
        cluster_auth,
        tls,
        started,
        limits,
        txn_clock,
        client_ids,
        shutdown_request,
        security,
        clients,
        runtime,
        shutdown_timeout,
        shutdown,
        stop,
        drained,
        ..
    } = setup;
    let workers = topology.len();
    let memory = clients.worker_memory(id);
    let ctx = Rc::new_cyclic(|me| WorkerCtx {
        id,
        outbox: Outbox::new(workers),
        me: me.clone(),
        topology_json: crate::response::topology_json(
            &topology,
            cluster.as_deref(),
            announce_shared_port,
            tls.as_deref(),
        )
        .into(),
        peers: cluster.map(|map| crate::cluster::peer::Peers::new(map, cluster_auth.as_deref())),
        topology,
        partition: PartitionCell::new(partition_for(&limits, &clients, &memory)),
        buffers: RefCell::new(BufferPool::new(Arc::clone(&memory))),
        memory,
        client_table: RefCell::default(),
        clients,
        runtime,
        mesh,
        limits,
        bind,
        shared_port,
        resp_port,
        announce_host,
        tls,
        started,
        txn_clock,
        client_ids,
        shutdown_request,
        acl_cache: RefCell::new(security.snapshot()),
        security,
        accepting: RefCell::new(None),
    });
    let inbox_task = tokio::task::spawn_local(serve_inbox(Rc::clone(&ctx), inbox, stop));
    tokio::task::spawn_local(reclaim_expired(Rc::clone(&ctx)));
    // With one worker there is nowhere to move.
    if ctx.limits.migrate == crate::config::MigrateMode::Auto
        && ctx.limits.migrate_after > 0
        && workers > 1
    {
        tokio::task::spawn_local(watch_contention(Rc::clone(&ctx)));
    }
    if let Some(core) = core {
        ctx.with_partition(|p| p.stats.pinned = 1);
        if let Some(cpus) = release_to {
            tokio::task::spawn_local(watch_core(Rc::clone(&ctx), core.id, cpus));
        }
    }
    let listeners = sockets
        .into_iter()
        .map(|(s, t)| Ok((TcpListener::from_std(s)?, t)))
        .collect::<io::Result<Vec<_>>>()?;
    accept_until_shutdown(&ctx, listeners, shutdown, shutdown_timeout).await;
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

/// Accepts on every listener until shutdown (one accept task each, so the
/// number of addresses and ports is free), then lets the open connections
/// drain for `drain` at most and closes the rest. The listeners are closed
/// when this returns.
async fn accept_until_shutdown(
    ctx: &Rc<WorkerCtx>,
    listeners: Vec<(TcpListener, Transport)>,
    shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    // Each connection holds a clone of `alive`; recv() returns None once
    // all of them (and ours) are dropped.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let (kill, kill_rx) = watch::channel(false);
    let tasks: Vec<_> = listeners
        .into_iter()
        .map(|(listener, transport)| {
            let stops = Stops {
                shutdown: shutdown.clone(),
                kill: kill_rx.clone(),
            };
            let accept = accept_loop(Rc::clone(ctx), listener, transport, stops, alive.clone());
            tokio::task::spawn_local(accept)
        })
        .collect();
    let stops = Stops {
        shutdown: shutdown.clone(),
        kill: kill_rx.clone(),
    };
    *ctx.accepting.borrow_mut() = Some((stops, alive));
    for task in tasks {
        let _ = task.await;
    }
    // Connections moving here from now on are closed, as at shutdown.
    ctx.accepting.borrow_mut().take();
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

/// Accepts on one listener until shutdown; drops (closes) it on return.
async fn accept_loop(
    ctx: Rc<WorkerCtx>,
    listener: TcpListener,
    transport: Transport,
    mut stops: Stops,
    alive: mpsc::Sender<()>,
) {
    let mut gate = Gate::new();
    while !*stops.shutdown.borrow_and_update() {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stops.shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let Some(slot) = ctx.clients.admit() else {
                    gate.refuse(&ctx, &stream, "maxclients reached");
                    continue;
                };
                let conn_stops = Stops {
                    shutdown: stops.shutdown.clone(),
                    kill: stops.kill.clone(),
                };
                spawn_connection(&ctx, stream, transport, conn_stops, slot, alive.clone());
            }
            Err(e) => gate.accept_failed(&ctx, &listener, e).await,
        }
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
    transport: Transport,
    mut stops: Stops,
    slot: crate::clients::ClientSlot,
    alive: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let ctx = Rc::clone(ctx);
    // A panic in the connection's own code ends only this task (see
    // `panic_policy`); `alive` is dropped by the unwinding too.
    tokio::task::spawn_local(Supervised::new(async move {
        let stream = match (transport, &ctx.tls) {
            (Transport::Plain, _) => Stream::Plain(stream),
            (Transport::Tls, Some(tls)) => {
                match handshake(&tls.acceptor, stream, &mut stops.shutdown).await {
                    Some(tls) => Stream::Tls(Box::new(tls)),
                    None => return,
                }
            }
            (Transport::Tls, None) => return,
        };
        connection::serve(ctx, stream, stops, slot).await;
        drop(alive);
    }));
}

/// The TLS handshake, in the connection's own task: bounded by
/// [`crate::tls::HANDSHAKE_TIMEOUT`] and cut short by shutdown. A failed
/// one closes just this connection.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let peer = stream.peer_addr().ok();
    let accept = tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let outcome = tokio::select! {
        r = accept => r,
        _ = shutdown.changed() => return None,
    };
    match outcome {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(?peer, "TLS handshake timed out");
            None
        }
    }
}

/// How often, and how many expired keys at most per tick, the partition
/// reclaims: bounded work, so a mass expiry never stalls the worker.
const RECLAIM_EVERY: Duration = Duration::from_millis(100);
const RECLAIM_PER_TICK: usize = 2_000;
/// Slab chunks (4096 entries each) of flushed entries freed per step.
const FREE_PER_STEP: usize = 4;

/// Removes expired keys in the background, a bounded number per tick
/// (more ticks follow at once while a backlog remains), frees what a
/// `FLUSHALL` removed in steps of the same kind, and hands memory
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
        ctx.with_partition(Partition::expire_leases);
        ctx.fail_lost_peers();
        // Clients that stopped moving (a reply blocked, a partial request)
        // are not checked by their own connection any more.
        ctx.enforce_client_memory();
        while ctx.with_partition(|p| p.free_flushed(FREE_PER_STEP)) {
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

/// Under `--migrate auto`, keeps the partition's `stats.contended` up to
/// date from the share of each [`crate::pinning::CONTENTION_WINDOW`] this
/// worker spent waiting for a CPU. Where the kernel keeps no such count the worker is
/// never contended (connections stay where they land).
async fn watch_contention(ctx: Rc<WorkerCtx>) {
    let mut contention = crate::pinning::Contention::default();
    let mut tick = tokio::time::interval(crate::pinning::CONTENTION_WINDOW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(wait) = crate::pinning::thread_wait_ns() else {
            tracing::debug!(
                worker = ctx.id,
                "no run-queue delay to measure: --migrate auto moves no connection"
            );
            return;
        };
        let contended = contention.observe(std::time::Instant::now(), wait);
        ctx.with_partition(|p| p.stats.contended = u64::from(contended));
    }
}

/// Under `--pin auto`, watches how long this pinned worker waits for its
/// core and lets go of it once another process keeps it busy
/// ([`crate::pinning::CoreWatch`]); ends then, or at once where the kernel
/// does not report the wait.
async fn watch_core(ctx: Rc<WorkerCtx>, core: usize, cpus: Vec<usize>) {
    use crate::pinning::{CoreWatch, Verdict};
    let mut watch = CoreWatch::new();
    let mut tick = tokio::time::interval(crate::pinning::WINDOW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(wait) = crate::pinning::thread_wait_ns() else {
            tracing::debug!(worker = ctx.id, "no run-queue delay to watch the core by");
            return;
        };
        let Verdict::Release { waited } = watch.observe(std::time::Instant::now(), wait) else {
            continue;
        };
        match crate::pinning::float_current_thread(&cpus) {
            Ok(()) => {
                ctx.with_partition(|p| p.stats.pinned = 0);
                tracing::info!(
                    worker = ctx.id,
                    "core {core} is shared with other work (waited for it {:.0}% of the last \
                     second): no longer pinned, the worker now runs on any of CPUs {cpus:?}",
                    waited * 100.0
                );
            }
            Err(e) => tracing::warn!(worker = ctx.id, "could not unpin from core {core}: {e}"),
        }
        return;
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

/// Work (operations, requests, replies) the inbox serves per turn of the
/// event loop before it yields, so a flood of forwarded work cannot starve
/// the worker's own connections: about a millisecond in a release build.
const INBOX_BUDGET: usize = 8192;

/// Serves other workers' letters, then sends the replies it produced as one
/// letter per worker.
async fn serve_inbox(
    ctx: Rc<WorkerCtx>,
    inbox: mpsc::Receiver<Letter>,
    stop: watch::Receiver<bool>,
) {
    let receive = |letter| ctx.receive(letter);
    let end_turn = || ctx.with_partition(|_| ());
    serve_letters(inbox, stop, INBOX_BUDGET, receive, end_turn).await;
}

/// The inbox loop: each turn serves queued letters up to `budget` work,
/// calls `end_turn`, and yields if letters may remain. On `stop` it closes
/// the inbox and serves what is left.
async fn serve_letters<T>(
    mut inbox: mpsc::Receiver<T>,
    mut stop: watch::Receiver<bool>,
    budget: usize,
    receive: impl Fn(T) -> usize,
    end_turn: impl Fn(),
) {
    loop {
        tokio::select! {
            biased;
            letter = inbox.recv() => match letter {
                Some(letter) => {
                    let left = budget.saturating_sub(receive(letter));
                    let more = drain(&mut inbox, left, &receive);
                    end_turn();
                    if more {
                        tokio::task::yield_now().await;
                    }
                }
                None => return,
            },
            _ = stop.changed() => break,
        }
    }
    inbox.close();
    while let Ok(letter) = inbox.try_recv() {
        receive(letter);
    }
}

/// Serves queued letters until `budget` work is done or none is left;
/// true if it stopped on the budget (letters may remain).
fn drain<T>(
    inbox: &mut mpsc::Receiver<T>,
    mut budget: usize,
    receive: impl Fn(T) -> usize,
) -> bool {
    while budget > 0 {
        let Ok(letter) = inbox.try_recv() else {
            return false;
        };
        budget = budget.saturating_sub(receive(letter).max(1));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{serve_letters, IdleRelease};
    use std::cell::Cell;
    use std::rc::Rc;
    use tokio::sync::{mpsc, watch};

    #[test]
    fn a_flood_of_letters_lets_other_tasks_run_between_turns() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let (tx, inbox) = mpsc::channel::<usize>(10_000);
        for _ in 0..10_000 {
            tx.try_send(10).unwrap();
        }
        let (_stop_tx, stop) = watch::channel(false);
        let served = Rc::new(Cell::new(0));
        let turns = Rc::new(Cell::new(0));
        let seen_by_other = Rc::new(Cell::new(None));
        local.block_on(&runtime, async {
            let (s, t) = (Rc::clone(&served), Rc::clone(&turns));
            let receive = move |work| {
                s.set(s.get() + 1);
                work
            };
            let end_turn = move || t.set(t.get() + 1);
            let inbox_task =
                tokio::task::spawn_local(serve_letters(inbox, stop, 1000, receive, end_turn));
            // A connection's task, ready at the same time as the inbox.
            let (s, seen) = (Rc::clone(&served), Rc::clone(&seen_by_other));
            tokio::task::spawn_local(async move { seen.set(Some(s.get())) })
                .await
                .unwrap();
            drop(tx);
            inbox_task.await.unwrap();
        });
        // 1000 work per turn = 100 letters of 10: the other task ran after
        // the first turn, not after all 10,000 letters.
        assert_eq!(seen_by_other.get(), Some(100));
        assert_eq!(served.get(), 10_000);
        assert!(turns.get() >= 100, "{} turns", turns.get());
    }

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
