//! Start-up and shutdown: binds the sockets, builds the topology and the
//! mesh, starts one worker thread per partition, and stops them in order.

use crate::acl::Security;
use crate::clients::{fd_limit, ClientLimits};
use crate::config::Config;
use crate::listener::{self, BindError, Listeners, Transport};
use crate::mesh::Mesh;
use crate::tls::TlsSetup;
use crate::worker::{self, Limits, WorkerSetup};
use corekv_router::{Topology, TopologyError};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("invalid topology: {0}")]
    Topology(#[from] TopologyError),
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("cannot wait for signals: {0}")]
    Signal(std::io::Error),
    #[error("ACL: {0}")]
    Acl(#[from] crate::acl::AclError),
    #[error("cannot read --requirepass-file: {0}")]
    Password(std::io::Error),
    #[error("--announce-port-base {base} with {workers} workers passes port 65535")]
    AnnouncePorts { base: u16, workers: usize },
    #[error("cluster: {0}")]
    Cluster(String),
}

/// The core ports the topology advertises: the bound ones, or
/// `--announce-port-base` + i.
fn announced_ports(config: &Config, bound: &[u16]) -> Result<Vec<u16>, Error> {
    let Some(base) = config.announce_port_base else {
        return Ok(bound.to_vec());
    };
    (0..bound.len())
        .map(|i| {
            u16::try_from(i)
                .ok()
                .and_then(|i| base.checked_add(i))
                .ok_or(Error::AnnouncePorts {
                    base,
                    workers: bound.len(),
                })
        })
        .collect()
}

/// A running server. Dropping it shuts it down.
pub struct Server {
    shared_addr: SocketAddr,
    core_addrs: Vec<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    tls_core_addrs: Vec<SocketAddr>,
    resp_addr: Option<SocketAddr>,
    topology: Arc<Topology>,
    shutdown: watch::Sender<bool>,
    /// Notified when a client runs `SHUTDOWN`.
    shutdown_request: Arc<tokio::sync::Notify>,
    stop: watch::Sender<bool>,
    drained: std::sync::mpsc::Receiver<usize>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds all ports and starts the workers; returns once they accept.
    pub fn start(config: &Config) -> Result<Self, Error> {
        let n = config.worker_count();
        let security = Arc::new(security(config)?);
        let (listeners, tls) = bind(config, n)?;
        let plain = listeners.plain.clone().unwrap_or_default();
        let (shared_port, core_ports) = (plain.shared, plain.core);
        let cluster = crate::cluster::ClusterMap::new(
            usize::from(config.cluster_size),
            config.cluster_index.map(usize::from),
            config.cluster_peers.as_deref(),
            n,
            config.core_port_base,
        )
        .map_err(Error::Cluster)?
        .map(Arc::new);
        if let Some(map) = &cluster {
            tracing::info!(
                "cluster: pod {} of {}, {} workers per pod, peers {}",
                map.index,
                map.size(),
                map.workers,
                map.pods
                    .iter()
                    .map(|p| format!("{}:{}", p.host, p.port))
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        let mut topology = match &cluster {
            Some(map) => map.local_topology(),
            None => Topology::even(n)?,
        };
        if !core_ports.is_empty() {
            topology = topology.with_ports(&announced_ports(config, &core_ports)?)?;
        }
        let topology = Arc::new(topology);
        let ip = listeners.addrs[0];
        let (mesh, inboxes) = Mesh::new(n);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let (drained_tx, drained) = std::sync::mpsc::channel();
        let mode = if config.no_pin {
            crate::pinning::PinMode::Never
        } else {
            config.pin
        };
        let pinning = crate::pinning::plan(mode, &crate::pinning::Cpus::detect(), n);
        if pinning.cores.is_some() {
            tracing::info!("workers pinned to cores: {}", pinning.reason);
        } else {
            tracing::info!("workers not pinned: {}", pinning.reason);
        }
        let release_to = pinning.release_to;
        let cores = pinning.cores.unwrap_or_default();
        let limits = Limits {
            partition_budget: config.maxmemory / n,
            policy: config.eviction_policy,
            max_line_bytes: config.max_line_bytes,
            max_request_bytes: config.max_request_bytes,
            max_txn_bytes: config.max_txn_bytes,
            txn_lease_ms: config.txn_lease_ms,
            migrate_after: config.migrate_after,
            migrate: config.migrate,
        };
        let sockets = listeners.workers.iter().map(Vec::len).sum();
        let fd_reserve = fd_limit::reserved(n, sockets);
        let maxclients = fd_limit::fit_at_start(config.maxclients, fd_reserve);
        let clients = Arc::new(
            ClientLimits::new(
                maxclients,
                config.timeout,
                config.client_output_buffer_limit,
                config.proto_max_bulk_len,
            )
            .with_memory(config.maxmemory, n)
            .with_fd_reserve(fd_reserve),
        );
        clients.set_maxmemory_clients(config.maxmemory_clients);
        let runtime = Arc::new(crate::introspect::Runtime::new(
            config.maxmemory,
            config.eviction_policy,
        ));
        let txn_clock = Arc::new(AtomicU64::new(1));
        let client_ids = Arc::new(AtomicU64::new(1));
        let shutdown_request = Arc::new(tokio::sync::Notify::new());
        let started = std::time::Instant::now();
        let mut server = Self {
            shared_addr: SocketAddr::new(ip, shared_port),
            core_addrs: core_ports.iter().map(|&p| SocketAddr::new(ip, p)).collect(),
            tls_addr: tls.as_ref().map(|t| SocketAddr::new(ip, t.shared_port)),
            tls_core_addrs: tls.as_ref().map_or_else(Vec::new, |t| {
                t.core_ports
                    .iter()
                    .map(|&p| SocketAddr::new(ip, p))
                    .collect()
            }),
            resp_addr: listeners.resp.map(|p| SocketAddr::new(ip, p)),
            topology: Arc::clone(&topology),
            shutdown,
            shutdown_request: Arc::clone(&shutdown_request),
            stop,
            drained,
            threads: Vec::with_capacity(n),
        };
        let bind = listeners.addrs.clone();
        let cluster_auth = if cluster.is_some() {
            config.password().map_err(Error::Password)?
        } else {
            None
        };
        for ((id, inbox), sockets) in inboxes.into_iter().enumerate().zip(listeners.workers) {
            let core = cores.get(id).map(|&id| core_affinity::CoreId { id });
            log_worker(&topology, cluster.as_deref(), id, core, &sockets);
            let setup = WorkerSetup {
                id,
                core,
                release_to: release_to.clone().filter(|_| core.is_some()),
                sockets,
                inbox,
                mesh: mesh.clone(),
                topology: Arc::clone(&topology),
                shared_port,
                announce_shared_port: config.announce_shared_port.unwrap_or(shared_port),
                resp_port: listeners.resp.unwrap_or(0),
                bind: bind.clone(),
                announce_host: config.announce_host.clone(),
                cluster: cluster.clone(),
                cluster_auth: cluster_auth.clone(),
                tls: tls.clone(),
                started,
                limits,
                txn_clock: Arc::clone(&txn_clock),
                client_ids: Arc::clone(&client_ids),
                shutdown_request: Arc::clone(&shutdown_request),
                security: Arc::clone(&security),
                clients: Arc::clone(&clients),
                runtime: Arc::clone(&runtime),
                shutdown_timeout: std::time::Duration::from_secs(config.shutdown_timeout),
                shutdown: shutdown_rx.clone(),
                stop: stop_rx.clone(),
                drained: drained_tx.clone(),
            };
            server
                .threads
                .push(worker::spawn(setup).map_err(Error::Spawn)?);
        }
        log_ready(&server, n, &bind, tls.as_deref());
        Ok(server)
    }

    /// The shared port's address (every worker accepts there) on the first
    /// bound address; port 0 when the plain ports are off.
    pub fn shared_addr(&self) -> SocketAddr {
        self.shared_addr
    }

    /// Each worker's own address, in partition order (empty when the plain
    /// ports are off).
    pub fn core_addrs(&self) -> &[SocketAddr] {
        &self.core_addrs
    }

    /// The shared TLS port's address, when TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Each worker's TLS core address (with `--tls-cluster`), in partition
    /// order.
    pub fn tls_core_addrs(&self) -> &[SocketAddr] {
        &self.tls_core_addrs
    }

    /// The RESP port's address (`--resp-port`), when there is one.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp_addr
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Resolves once a client has run `SHUTDOWN` (whoever runs the server
    /// then calls [`shutdown`](Self::shutdown), as on a signal).
    pub async fn shutdown_requested(&self) {
        self.shutdown_request.notified().await;
    }

    /// Stops accepting, lets connections finish the commands in flight,
    /// closes them, then stops and joins the workers.
    pub fn shutdown(mut self) {
        self.stop_workers();
    }

    fn stop_workers(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        let _ = self.shutdown.send(true);
        // Every worker reports once it has drained (or died); a worker may
        // report twice if it fails after draining, so count distinct ids.
        let mut reported = vec![false; self.threads.len()];
        while reported.iter().any(|r| !r) {
            match self.drained.recv() {
                Ok(id) => reported[id] = true,
                Err(_) => break,
            }
        }
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        tracing::info!("corekv stopped");
    }

    /// Starts the server, runs until SIGINT, SIGTERM or a client's
    /// `SHUTDOWN`, then shuts down
    /// cleanly (connections drain for `--shutdown-timeout` at most). The
    /// signal handlers are installed before the server starts (and says it
    /// is ready), so an early signal still shuts it down. A second signal
    /// during the shutdown exits at once with status 1, as Redis does on a
    /// second SIGINT.
    pub fn run_until_signal(config: &Config) -> Result<(), Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Signal)?;
        let (mut term, mut int) = runtime
            .block_on(async {
                let term = signal(SignalKind::terminate())?;
                let int = signal(SignalKind::interrupt())?;
                Ok::<_, std::io::Error>((term, int))
            })
            .map_err(Error::Signal)?;
        let server = Self::start(config)?;
        runtime.block_on(async {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
                () = server.shutdown_requested() => {
                    tracing::info!("SHUTDOWN received from a client");
                }
            }
            tracing::info!("shutting down (a signal now exits at once)");
            let stopping = tokio::task::spawn_blocking(move || server.shutdown());
            tokio::select! {
                _ = stopping => {},
                _ = term.recv() => exit_now(),
                _ = int.recv() => exit_now(),
            }
        });
        Ok(())
    }
}

/// Loads the TLS configuration (first: a bad file fails before any port
/// is taken) and binds every listener.
fn bind(config: &Config, workers: usize) -> Result<(Listeners, Option<Arc<TlsSetup>>), Error> {
    let tls_plan = listener::tls_plan(config)?;
    let acceptor = tls_plan.map(|_| crate::tls::acceptor(config)).transpose()?;
    let plans: Vec<_> = listener::plain_plan(config)?
        .into_iter()
        .chain(tls_plan)
        .chain(listener::resp_plan(config))
        .collect();
    let listeners = listener::bind_all(&config.bind_addrs(), &plans, workers)?;
    let tls = acceptor
        .zip(listeners.tls.clone())
        .map(|(acceptor, ports)| {
            Arc::new(TlsSetup {
                acceptor,
                shared_port: ports.shared,
                core_ports: ports.core,
            })
        });
    Ok((listeners, tls))
}

/// The start-up summary; the `corekv ready` line comes last.
fn log_ready(server: &Server, n: usize, bind: &[std::net::IpAddr], tls: Option<&TlsSetup>) {
    let workers = if n == 1 {
        "1 worker".to_string()
    } else {
        format!("{n} workers")
    };
    tracing::info!("listening on {}", ips_list(bind));
    if let Some(t) = tls {
        let cores = if t.core_ports.is_empty() {
            "none (no --tls-cluster)".to_string()
        } else {
            ports_list(&t.core_ports)
        };
        tracing::info!("TLS port {}, TLS core ports {cores}", t.shared_port);
    }
    if let Some(addr) = server.resp_addr {
        tracing::info!(
            "RESP port {} (RESP only, inline commands included; no text protocol)",
            addr.port()
        );
    }
    if server.shared_addr.port() == 0 {
        tracing::info!("corekv ready: {workers}, plain ports off (--port 0)");
    } else {
        tracing::info!(
            "corekv ready: {workers}, shared port {}, core ports {}",
            server.shared_addr,
            ports_list(&core_ports_of(server))
        );
    }
}

fn core_ports_of(server: &Server) -> Vec<u16> {
    server.core_addrs.iter().map(SocketAddr::port).collect()
}

/// The second signal: no more waiting.
fn exit_now() -> ! {
    tracing::warn!("second signal: exiting now without finishing the shutdown");
    std::process::exit(1)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

/// The ACL and protected mode from the flags (reads the password and ACL
/// files).
fn security(config: &Config) -> Result<Security, Error> {
    let password = config.password().map_err(Error::Password)?;
    let mut security = Security::new(
        config.aclfile.clone(),
        password.as_deref(),
        config.protected_mode,
    )?;
    security.peers_are_remote = config.protected_mode_all_remote;
    let (_, acl) = security.snapshot();
    let remote_bind = config.bind_addrs().iter().any(|a| !a.ip.is_loopback());
    if config.protected_mode && remote_bind && !acl.auth_required() {
        tracing::warn!(
            "protected mode: no password is set, so clients from addresses other than loopback are refused (set --requirepass, or --protected-mode no)"
        );
    }
    Ok(security)
}

fn log_worker(
    topology: &Topology,
    cluster: Option<&crate::cluster::ClusterMap>,
    id: usize,
    core: Option<core_affinity::CoreId>,
    sockets: &[(std::net::TcpListener, Transport)],
) {
    let ranges = match cluster {
        Some(map) => map.own_ranges(id),
        None => &topology.partitions()[id].slots[..],
    };
    let slots: Vec<String> = ranges.iter().map(ToString::to_string).collect();
    let core = core.map_or_else(
        || "not pinned".to_string(),
        |c| format!("pinned to core {}", c.id),
    );
    let mut ports: Vec<String> = Vec::new();
    for (socket, transport) in sockets {
        let Ok(addr) = socket.local_addr() else {
            continue;
        };
        let name = match transport {
            Transport::Plain => addr.port().to_string(),
            Transport::Tls => format!("{} (TLS)", addr.port()),
        };
        if !ports.contains(&name) {
            ports.push(name);
        }
    }
    tracing::info!(
        "worker {id}: {core}, owns slots {}, listens on ports {}",
        slots.join(","),
        ports.join(", ")
    );
}

fn ips_list(ips: &[std::net::IpAddr]) -> String {
    let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
    list.join(", ")
}

fn ports_list(ports: &[u16]) -> String {
    let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
    list.join(",")
}
