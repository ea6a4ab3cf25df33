//! Listening sockets. Every port is bound on every `--bind` address: per
//! worker, one `SO_REUSEPORT` socket per address on the shared port (the
//! kernel spreads connections over the workers), and one plain socket per
//! address on the worker's own core port. The RESP port (`--resp-port`),
//! when asked for, is bound like the shared port.
//!
//! `SO_REUSEPORT` has a trap: any other process of the same user that sets
//! it can bind the same port and silently take part of the connections. So
//! before binding, each shared port (and the RESP port) is probe-bound *without* `SO_REUSEPORT`
//! on each address: if anything listens there already, the probe fails and
//! we refuse to start.

use crate::config::{BindAddr, Config};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

const BACKLOG: i32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {addr}: {source}{hint}", hint = hint(source))]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("core port {port} of worker {worker} is out of range (core-port-base + workers must stay below 65536)")]
    PortRange { worker: usize, port: u32 },
    #[error("port {port} is both the {first} and the {second}; choose another port base")]
    Overlap {
        port: u16,
        first: String,
        second: String,
    },
    #[error("{0} 0 is not a port (--port 0 / --tls-port 0 turn those listeners off)")]
    CoreBaseZero(&'static str),
    #[error("--tls-cluster needs --tls-port")]
    TlsClusterWithoutPort,
    #[error("nothing to listen on: {0}")]
    NoListener(&'static str),
}

fn hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::AddrInUse {
        " (is another corekv, or another server, already using this port?)"
    } else {
        ""
    }
}

/// What a connection accepted on a socket speaks below the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// One kind of listener to bind: a shared port and, optionally, one core
/// port per worker from `core_base`. Port 0 picks a free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPlan {
    pub transport: Transport,
    pub shared: u16,
    pub core_base: Option<u16>,
    /// The RESP port: its connections speak RESP from the first byte.
    pub resp_only: bool,
}

/// The ports one [`PortPlan`] ended up on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundPorts {
    pub shared: u16,
    /// One per worker, in worker order; empty without core ports.
    pub core: Vec<u16>,
}

/// The bound sockets.
pub struct Listeners {
    /// The addresses actually bound (optional ones the machine lacks are
    /// left out), in `--bind` order.
    pub addrs: Vec<IpAddr>,
    pub plain: Option<BoundPorts>,
    pub tls: Option<BoundPorts>,
    /// The RESP port, when asked for.
    pub resp: Option<u16>,
    /// Per worker, every socket it accepts on.
    pub workers: Vec<Vec<(TcpListener, Transport)>>,
}

/// The plain-text ports the configuration asks for: none with `--port 0`
/// (unless ephemeral, where 0 picks free ports).
pub fn plain_plan(config: &Config) -> Result<Option<PortPlan>, BindError> {
    let ephemeral = config.ephemeral_ports;
    if config.no_plain_ports || (config.port == 0 && !ephemeral) {
        return Ok(None);
    }
    if config.core_port_base == 0 && !ephemeral {
        return Err(BindError::CoreBaseZero("--core-port-base"));
    }
    Ok(Some(PortPlan {
        transport: Transport::Plain,
        shared: config.port,
        core_base: Some(config.core_port_base),
        resp_only: false,
    }))
}

/// The RESP port: none without `--resp-port` or with `--resp-port 0`
/// (unless ephemeral, where 0 picks a free port).
pub fn resp_plan(config: &Config) -> Option<PortPlan> {
    match config.resp_port {
        Some(0) if !config.ephemeral_ports => None,
        Some(port) => Some(PortPlan {
            transport: Transport::Plain,
            shared: port,
            core_base: None,
            resp_only: true,
        }),
        None => None,
    }
}

/// The TLS ports: none with `--tls-port 0` (unless ephemeral and a
/// certificate is given); core ports only with `--tls-cluster`, from
/// `--tls-core-port-base` (default: the TLS port + 1).
pub fn tls_plan(config: &Config) -> Result<Option<PortPlan>, BindError> {
    let ephemeral = config.ephemeral_ports;
    let on = config.tls_port != 0 || (ephemeral && config.tls_cert_file.is_some());
    if !on {
        if config.tls_cluster {
            return Err(BindError::TlsClusterWithoutPort);
        }
        return Ok(None);
    }
    let core_base = if config.tls_cluster {
        let base = match (config.tls_core_port_base, config.tls_port) {
            (Some(base), _) => base,
            (None, 0) => 0,
            (None, port) => port.checked_add(1).ok_or(BindError::PortRange {
                worker: 0,
                port: u32::from(port) + 1,
            })?,
        };
        if base == 0 && !ephemeral {
            return Err(BindError::CoreBaseZero("--tls-core-port-base"));
        }
        Some(base)
    } else {
        None
    };
    Ok(Some(PortPlan {
        transport: Transport::Tls,
        shared: config.tls_port,
        core_base,
        resp_only: false,
    }))
}

/// Binds every plan on every usable address for `workers` workers.
pub fn bind_all(
    addrs: &[BindAddr],
    plans: &[PortPlan],
    workers: usize,
) -> Result<Listeners, BindError> {
    if plans.is_empty() {
        return Err(BindError::NoListener(
            "the plain ports are off (--port 0) and TLS is not configured",
        ));
    }
    let core_ports = plans
        .iter()
        .map(|p| p.core_base.map(|b| core_ports(b, workers)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    check_overlaps(plans, &core_ports)?;
    let ips = usable(addrs)?;
    let mut listeners = Listeners {
        addrs: ips.clone(),
        plain: None,
        tls: None,
        resp: None,
        workers: (0..workers).map(|_| Vec::new()).collect(),
    };
    for (plan, core) in plans.iter().zip(core_ports) {
        let bound = bind_plan(&ips, plan, core.as_deref(), &mut listeners.workers)?;
        match (plan.resp_only, plan.transport) {
            (true, _) => listeners.resp = Some(bound.shared),
            (false, Transport::Plain) => listeners.plain = Some(bound),
            (false, Transport::Tls) => listeners.tls = Some(bound),
        }
    }
    Ok(listeners)
}

/// The addresses to bind: optional ones the machine cannot bind (no IPv6,
/// an absent interface) are skipped with a log line.
fn usable(addrs: &[BindAddr]) -> Result<Vec<IpAddr>, BindError> {
    let mut ips = Vec::with_capacity(addrs.len());
    for a in addrs {
        if a.optional {
            let probe = SocketAddr::new(a.ip, 0);
            if let Err(e) = new_socket(probe).and_then(|s| s.bind(&probe.into())) {
                tracing::info!("not listening on {}: {e} (optional bind address)", a.ip);
                continue;
            }
        }
        ips.push(a.ip);
    }
    if ips.is_empty() {
        return Err(BindError::NoListener(
            "none of the --bind addresses exists here",
        ));
    }
    Ok(ips)
}

/// Binds one plan's shared port (per worker) and core ports on `ips`, and
/// hands each worker its sockets.
fn bind_plan(
    ips: &[IpAddr],
    plan: &PortPlan,
    core: Option<&[u16]>,
    workers: &mut [Vec<(TcpListener, Transport)>],
) -> Result<BoundPorts, BindError> {
    if plan.shared != 0 {
        for &ip in ips {
            probe_exclusive(SocketAddr::new(ip, plan.shared))?;
        }
    }
    let mut shared = plan.shared;
    let mut core_bound = Vec::new();
    for (worker, sockets) in workers.iter_mut().enumerate() {
        let (group, port) = bind_everywhere(ips, shared, true)?;
        shared = port;
        sockets.extend(group.into_iter().map(|l| (l, plan.transport)));
        if let Some(core) = core {
            let (group, port) = bind_everywhere(ips, core[worker], false)?;
            core_bound.push(port);
            sockets.extend(group.into_iter().map(|l| (l, plan.transport)));
        }
    }
    Ok(BoundPorts {
        shared,
        core: core_bound,
    })
}

/// Binds `port` on every address; port 0 lets the first address pick a
/// free port, which the others then use too. Returns the port.
fn bind_everywhere(
    ips: &[IpAddr],
    port: u16,
    reuse_port: bool,
) -> Result<(Vec<TcpListener>, u16), BindError> {
    let mut port = port;
    let mut group = Vec::with_capacity(ips.len());
    for &ip in ips {
        let listener = bind(SocketAddr::new(ip, port), reuse_port)?;
        port = port_of(&listener);
        group.push(listener);
    }
    Ok((group, port))
}

fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().map_or(0, |a| a.port())
}

/// Worker i's core port: `base + i`, or 0 (a free port) for base 0.
fn core_ports(base: u16, workers: usize) -> Result<Vec<u16>, BindError> {
    (0..workers)
        .map(|worker| {
            if base == 0 {
                return Ok(0);
            }
            let port = u32::from(base) + worker as u32;
            u16::try_from(port).map_err(|_| BindError::PortRange { worker, port })
        })
        .collect()
}

/// Fails if two listeners would share a fixed port number.
fn check_overlaps(plans: &[PortPlan], core_ports: &[Option<Vec<u16>>]) -> Result<(), BindError> {
    let mut taken: Vec<(u16, String)> = Vec::new();
    for (plan, core) in plans.iter().zip(core_ports) {
        let shared = match (plan.resp_only, plan.transport) {
            (true, _) => "RESP port",
            (false, Transport::Plain) => "shared port",
            (false, Transport::Tls) => "TLS shared port",
        };
        let mut ports = vec![(plan.shared, shared.to_string())];
        let kind = match plan.transport {
            Transport::Plain => "",
            Transport::Tls => "TLS ",
        };
        for (worker, &p) in core.iter().flatten().enumerate() {
            ports.push((p, format!("{kind}core port of worker {worker}")));
        }
        for (port, what) in ports.into_iter().filter(|(p, _)| *p != 0) {
            if let Some((_, first)) = taken.iter().find(|(q, _)| *q == port) {
                return Err(BindError::Overlap {
                    port,
                    first: first.clone(),
                    second: what,
                });
            }
            taken.push((port, what));
        }
    }
    Ok(())
}

/// Fails if anything at all listens on `addr` (with or without reuseport).
fn probe_exclusive(addr: SocketAddr) -> Result<(), BindError> {
    let socket = new_socket(addr).map_err(|source| BindError::Bind { addr, source })?;
    socket
        .bind(&addr.into())
        .map_err(|source| BindError::Bind { addr, source })
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restarted server bind despite old connections in TIME_WAIT; on
    // Linux it does not allow sharing a port with a live listener.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

fn bind(addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, BindError> {
    let err = |source| BindError::Bind { addr, source };
    let socket = new_socket(addr).map_err(err)?;
    socket.set_reuse_port(reuse_port).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LOCAL2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn required(ips: &[IpAddr]) -> Vec<BindAddr> {
        ips.iter()
            .map(|&ip| BindAddr {
                ip,
                optional: false,
            })
            .collect()
    }

    fn plain(shared: u16, core_base: u16) -> PortPlan {
        PortPlan {
            transport: Transport::Plain,
            shared,
            core_base: Some(core_base),
            resp_only: false,
        }
    }

    #[test]
    fn ephemeral_ports_share_one_port() {
        let l = bind_all(&required(&[LOCAL]), &[plain(0, 0)], 3).unwrap();
        let ports = l.plain.unwrap();
        let shared_ports: Vec<u16> = l.workers.iter().map(|w| port_of(&w[0].0)).collect();
        assert_eq!(shared_ports, vec![ports.shared; 3]);
        assert_eq!(ports.core.len(), 3);
        assert!(ports.core.iter().all(|&p| p != 0 && p != ports.shared));
    }

    #[test]
    fn every_port_on_every_address() {
        let l = bind_all(&required(&[LOCAL, LOCAL2]), &[plain(0, 0)], 2).unwrap();
        assert_eq!(l.addrs, vec![LOCAL, LOCAL2]);
        let ports = l.plain.unwrap();
        for (worker, sockets) in l.workers.iter().enumerate() {
            let addrs: Vec<SocketAddr> = sockets
                .iter()
                .map(|(s, _)| s.local_addr().unwrap())
                .collect();
            let core = ports.core[worker];
            let want: Vec<SocketAddr> = vec![
                (LOCAL, ports.shared).into(),
                (LOCAL2, ports.shared).into(),
                (LOCAL, core).into(),
                (LOCAL2, core).into(),
            ];
            assert_eq!(addrs, want, "worker {worker}");
        }
        // Both addresses answer on the shared port.
        for ip in [LOCAL, LOCAL2] {
            std::net::TcpStream::connect((ip, ports.shared)).expect("connects");
        }
    }

    #[test]
    fn optional_addresses_the_machine_lacks_are_skipped() {
        // 192.0.2.1 (TEST-NET-1) is on no interface here.
        let absent: IpAddr = "192.0.2.1".parse().unwrap();
        let addrs = [
            BindAddr {
                ip: LOCAL,
                optional: false,
            },
            BindAddr {
                ip: absent,
                optional: true,
            },
        ];
        let l = bind_all(&addrs, &[plain(0, 0)], 1).unwrap();
        assert_eq!(l.addrs, vec![LOCAL]);
        // Required, it is a start-up error naming the address.
        let err = bind_all(&required(&[LOCAL, absent]), &[plain(0, 0)], 1)
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("192.0.2.1"), "{err}");
    }

    #[test]
    fn refuses_a_port_that_another_reuseport_group_holds() {
        let first = bind_all(&required(&[LOCAL]), &[plain(0, 0)], 2).unwrap();
        let port = first.plain.unwrap().shared;
        let err = bind_all(&required(&[LOCAL]), &[plain(port, 0)], 2)
            .err()
            .expect("must refuse");
        assert!(
            err.to_string().contains("address already in use")
                || err.to_string().contains("Address already in use"),
            "{err}"
        );
        assert!(err.to_string().contains("another corekv"), "{err}");
    }

    #[test]
    fn core_port_range_and_overlap() {
        assert!(matches!(
            core_ports(65535, 2),
            Err(BindError::PortRange { .. })
        ));
        assert_eq!(core_ports(9889, 3).unwrap(), vec![9889, 9890, 9891]);
        let plans = [plain(9890, 9889)];
        let cores = [Some(core_ports(9889, 2).unwrap())];
        let err = check_overlaps(&plans, &cores).unwrap_err();
        assert!(
            matches!(err, BindError::Overlap { port: 9890, .. }),
            "{err}"
        );
        let tls = PortPlan {
            transport: Transport::Tls,
            shared: 9991,
            core_base: Some(9889),
            resp_only: false,
        };
        let plans = [plain(9888, 9889), tls];
        let cores = [Some(vec![9889]), Some(vec![9889])];
        let err = check_overlaps(&plans, &cores).unwrap_err().to_string();
        assert!(
            err.contains("9889") && err.contains("TLS core port of worker 0"),
            "{err}"
        );
    }

    #[test]
    fn tls_ports_from_flags() {
        use clap::Parser;
        let plan = |args: &[&str]| {
            let mut argv = vec!["corekv"];
            argv.extend_from_slice(args);
            tls_plan(&Config::parse_from(argv))
        };
        assert_eq!(plan(&[]).unwrap(), None);
        let p = plan(&["--tls-port", "6380"]).unwrap().unwrap();
        assert_eq!((p.shared, p.core_base), (6380, None));
        let p = plan(&["--tls-port", "6380", "--tls-cluster"])
            .unwrap()
            .unwrap();
        assert_eq!((p.shared, p.core_base), (6380, Some(6381)));
        let p = plan(&[
            "--tls-port",
            "6380",
            "--tls-cluster",
            "--tls-core-port-base",
            "7000",
        ]);
        assert_eq!(p.unwrap().unwrap().core_base, Some(7000));
        assert!(matches!(
            plan(&["--tls-cluster"]),
            Err(BindError::TlsClusterWithoutPort)
        ));
        assert!(matches!(
            plan(&[
                "--tls-port",
                "1",
                "--tls-cluster",
                "--tls-core-port-base",
                "0"
            ]),
            Err(BindError::CoreBaseZero(_))
        ));
    }

    #[test]
    fn the_resp_port_is_bound_on_every_address_by_every_worker() {
        use clap::Parser;
        let config = |args: &[&str]| {
            let mut argv = vec!["corekv"];
            argv.extend_from_slice(args);
            Config::parse_from(argv)
        };
        assert_eq!(resp_plan(&config(&[])), None);
        assert_eq!(resp_plan(&config(&["--resp-port", "0"])), None);
        let plan = resp_plan(&config(&["--resp-port", "0", "--ephemeral-ports"])).unwrap();
        assert!(plan.resp_only && plan.core_base.is_none());
        let l = bind_all(&required(&[LOCAL, LOCAL2]), &[plain(0, 0), plan], 2).unwrap();
        let resp = l.resp.expect("bound");
        assert_ne!(resp, l.plain.as_ref().unwrap().shared);
        for sockets in &l.workers {
            let on_resp = sockets.iter().filter(|(s, _)| port_of(s) == resp).count();
            assert_eq!(on_resp, 2, "one per address");
        }
        for ip in [LOCAL, LOCAL2] {
            std::net::TcpStream::connect((ip, resp)).expect("connects");
        }
        // A fixed RESP port may not be another listener's port.
        let resp = PortPlan {
            shared: 9888,
            ..plan
        };
        let err = check_overlaps(&[plain(9888, 9889), resp], &[None, None]).unwrap_err();
        assert!(err.to_string().contains("RESP port"), "{err}");
    }

    #[test]
    fn nothing_to_listen_on() {
        assert!(matches!(
            bind_all(&required(&[LOCAL]), &[], 1),
            Err(BindError::NoListener(_))
        ));
    }
}
