//! Listening sockets: one `SO_REUSEPORT` socket per worker on the shared
//! port (the kernel spreads connections over them), and one plain socket per
//! worker on its own core port.
//!
//! `SO_REUSEPORT` has a trap: any other process of the same user that sets
//! it can bind the same port and silently take part of the connections. So
//! before binding, the shared port is probe-bound *without* `SO_REUSEPORT`:
//! if anything listens there already, the probe fails and we refuse to start.

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
    #[error("core port {0} is the same as the shared port; choose another --core-port-base")]
    Overlap(u16),
}

fn hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::AddrInUse {
        " (is another corekv, or another server, already using this port?)"
    } else {
        ""
    }
}

/// The bound sockets, in worker order.
pub struct Listeners {
    pub shared: Vec<TcpListener>,
    pub own: Vec<TcpListener>,
}

impl Listeners {
    pub fn shared_port(&self) -> u16 {
        port_of(&self.shared[0])
    }

    pub fn core_ports(&self) -> Vec<u16> {
        self.own.iter().map(port_of).collect()
    }
}

fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().map_or(0, |a| a.port())
}

/// Binds everything for `workers` workers. Port 0 picks free ports (the
/// shared one once, then every worker joins it).
pub fn bind_all(
    ip: IpAddr,
    port: u16,
    core_port_base: u16,
    workers: usize,
) -> Result<Listeners, BindError> {
    let core_ports = core_ports(port, core_port_base, workers)?;
    if port != 0 {
        probe_exclusive(SocketAddr::new(ip, port))?;
    }
    let first = bind(SocketAddr::new(ip, port), true)?;
    let shared_addr = SocketAddr::new(ip, port_of(&first));
    let mut shared = vec![first];
    for _ in 1..workers {
        shared.push(bind(shared_addr, true)?);
    }
    let own = core_ports
        .into_iter()
        .map(|p| bind(SocketAddr::new(ip, p), false))
        .collect::<Result<_, _>>()?;
    Ok(Listeners { shared, own })
}

fn core_ports(shared: u16, base: u16, workers: usize) -> Result<Vec<u16>, BindError> {
    (0..workers)
        .map(|worker| {
            if base == 0 {
                return Ok(0);
            }
            let port = u32::from(base) + worker as u32;
            let port = u16::try_from(port).map_err(|_| BindError::PortRange { worker, port })?;
            if port == shared {
                return Err(BindError::Overlap(port));
            }
            Ok(port)
        })
        .collect()
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

    #[test]
    fn ephemeral_ports_share_one_port() {
        let l = bind_all(LOCAL, 0, 0, 3).unwrap();
        let port = l.shared_port();
        assert!(l.shared.iter().all(|s| port_of(s) == port));
        let own = l.core_ports();
        assert_eq!(own.len(), 3);
        assert!(own.iter().all(|&p| p != 0 && p != port));
    }

    #[test]
    fn refuses_a_port_that_another_reuseport_group_holds() {
        let first = bind_all(LOCAL, 0, 0, 2).unwrap();
        let port = first.shared_port();
        let err = bind_all(LOCAL, port, 0, 2).err().expect("must refuse");
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
            core_ports(9888, 65535, 2),
            Err(BindError::PortRange { .. })
        ));
        assert!(matches!(
            core_ports(9890, 9889, 2),
            Err(BindError::Overlap(9890))
        ));
        assert_eq!(core_ports(9888, 9889, 3).unwrap(), vec![9889, 9890, 9891]);
    }
}
