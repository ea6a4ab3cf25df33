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

use crate::connection;
use crate::mesh::Mesh;
use crate::partition::{Partition, Request};
use crate::txn::coordinator::Participants;
use crate::txn::{TxnError, TxnId};
use corekv_router::Topology;
use std::cell::RefCell;
use std::io;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::LocalSet;

/// Per-connection limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_line_bytes: usize,
    pub max_request_bytes: usize,
    pub max_txn_bytes: usize,
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
    txn_clock: Arc<AtomicU64>,
    client_ids: Arc<AtomicU64>,
}

impl WorkerCtx {
    /// A connection id, unique across the server (`CLIENT ID`, watches).
    pub fn next_client_id(&self) -> u64 {
        self.client_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Delivers `request` to `partition`: served in place if it is this
    /// worker's own, else through the mesh.
    pub async fn send_to(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        if partition == self.id {
            self.partition.borrow_mut().handle(request);
            Ok(())
        } else {
            self.mesh.send(partition, request).await
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
    pub inbox: mpsc::Receiver<Request>,
    pub mesh: Mesh,
    pub topology: Arc<Topology>,
    pub shared_port: u16,
    pub bind: std::net::IpAddr,
    pub announce_host: Option<String>,
    pub started: std::time::Instant,
    pub limits: Limits,
    pub txn_clock: Arc<AtomicU64>,
    pub client_ids: Arc<AtomicU64>,
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
        shutdown,
        stop,
        drained,
        ..
    } = setup;
    let ctx = Rc::new(WorkerCtx {
        id,
        topology_json: crate::response::topology_json(&topology, shared_port).into(),
        topology,
        partition: RefCell::new(Partition::default()),
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
    let listeners = [TcpListener::from_std(shared)?, TcpListener::from_std(own)?];
    accept_until_shutdown(&ctx, &listeners, shutdown).await;
    drop(listeners);
    let _ = drained.send(id);
    inbox_task
        .await
        .map_err(|e| io::Error::other(format!("inbox task: {e}")))
}

/// Accepts on both listeners until shutdown, then waits for the open
/// connections to finish.
async fn accept_until_shutdown(
    ctx: &Rc<WorkerCtx>,
    listeners: &[TcpListener; 2],
    mut shutdown: watch::Receiver<bool>,
) {
    // Each connection holds a clone of `alive`; recv() returns None once
    // all of them (and ours) are dropped.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    while !*shutdown.borrow() {
        let accepted = tokio::select! {
            r = listeners[0].accept() => r,
            r = listeners[1].accept() => r,
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, _)) => spawn_connection(ctx, stream, &shutdown, alive.clone()),
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(worker = ctx.id, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    drop(alive);
    let _ = all_closed.recv().await;
}

fn spawn_connection(
    ctx: &Rc<WorkerCtx>,
    stream: TcpStream,
    shutdown: &watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let ctx = Rc::clone(ctx);
    let shutdown = shutdown.clone();
    tokio::task::spawn_local(async move {
        connection::serve(ctx, stream, shutdown).await;
        drop(alive);
    });
}

/// Serves other workers' requests, taking every queued message per wake-up.
async fn serve_inbox(
    ctx: Rc<WorkerCtx>,
    mut inbox: mpsc::Receiver<Request>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            request = inbox.recv() => match request {
                Some(request) => {
                    let mut partition = ctx.partition.borrow_mut();
                    serve_request(&mut partition, request);
                    while let Ok(request) = inbox.try_recv() {
                        serve_request(&mut partition, request);
                    }
                }
                None => return,
            },
            _ = stop.changed() => break,
        }
    }
    inbox.close();
    let mut partition = ctx.partition.borrow_mut();
    while let Ok(request) = inbox.try_recv() {
        serve_request(&mut partition, request);
    }
}

/// Serves a request from another worker, counting forwarded operations.
fn serve_request(partition: &mut Partition, request: Request) {
    if let Request::Batch(batch, _) = &request {
        partition.stats.forwarded_in += batch.len() as u64;
    }
    partition.handle(request);
}
