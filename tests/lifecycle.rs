//! The in-process server's life cycle: what `Server::start` reports, port
//! refusal as a library error, and shutdown closing connections and freeing
//! the ports for a restart.

mod common;

use common::{ok_result, Client, NOT_FOUND, OK, PONG};
use corekv::Server;
use std::net::{Ipv4Addr, TcpListener};

#[test]
fn start_reports_ports_and_topology() {
    let server = common::start(4);
    let shared = server.shared_addr();
    assert!(shared.ip().is_loopback());
    assert_ne!(shared.port(), 0);
    let cores = server.core_addrs();
    assert_eq!(cores.len(), 4);
    let mut ports: Vec<u16> = cores.iter().map(|a| a.port()).collect();
    ports.push(shared.port());
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 5, "five distinct ports: {ports:?}");
    let topology = server.topology();
    assert_eq!(topology.len(), 4);
    for (i, p) in topology.partitions().iter().enumerate() {
        assert_eq!(p.port, Some(cores[i].port()), "partition {i}'s core port");
    }
    for addr in common::all_addrs(&server) {
        assert_eq!(Client::connect(addr).cmd("PING"), PONG);
    }
}

#[test]
fn single_worker_server_works() {
    let server = common::start(1);
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("PUT a 1"), OK);
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT b 2"), OK);
    assert_eq!(c.cmd("DEL a"), OK);
    assert_eq!(c.cmd("COMMIT"), OK);
    let mut o = Client::connect(server.core_addrs()[0]);
    assert_eq!(o.cmd("GET a"), NOT_FOUND);
    assert_eq!(o.cmd("GET b"), ok_result("2"));
}

#[test]
fn start_refuses_a_port_in_use() {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut config = common::config(2);
    config.port = port;
    let err = Server::start(&config)
        .err()
        .expect("must refuse a port in use");
    let text = err.to_string();
    assert!(text.to_lowercase().contains("in use"), "{text}");
    assert!(text.contains(&port.to_string()), "{text}");
    assert!(text.contains("another corekv"), "{text}");

    // A port another corekv holds is refused too, and that one keeps
    // working.
    let first = common::start(2);
    let mut config = common::config(2);
    config.port = first.shared_addr().port();
    let err = Server::start(&config).err().expect("must refuse");
    assert!(err.to_string().contains("another corekv"), "{err}");
    assert_eq!(Client::connect(first.shared_addr()).cmd("PING"), PONG);
}

#[test]
fn core_port_base_collisions_are_refused() {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    // Worker 0's core port is held by someone else.
    let mut config = common::config(2);
    config.core_port_base = port;
    let err = Server::start(&config).err().expect("core port in use");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    // Core ports past 65535.
    let mut config = common::config(2);
    config.core_port_base = 65535;
    assert!(Server::start(&config).is_err());
}

#[test]
fn shutdown_closes_connections_and_frees_the_ports() {
    let server = common::start(2);
    let shared = server.shared_addr();
    let cores = server.core_addrs().to_vec();
    let mut clients: Vec<Client> = common::all_addrs(&server)
        .into_iter()
        .map(Client::connect)
        .collect();
    for c in &mut clients {
        assert_eq!(c.cmd("PING"), PONG);
    }
    assert_eq!(clients[0].cmd("PUT a 1"), OK);
    server.shutdown();
    for c in &mut clients {
        c.expect_eof();
    }
    // The same ports can be used again at once (the closed connections'
    // TIME_WAIT does not block a restart).
    let mut config = common::config(2);
    config.port = shared.port();
    let again = Server::start(&config).expect("restart on the same shared port");
    assert_eq!(again.shared_addr(), shared);
    let mut c = Client::connect(shared);
    assert_eq!(
        c.cmd("GET a"),
        NOT_FOUND,
        "an in-memory server starts empty"
    );
    drop(again);
    for addr in cores {
        TcpListener::bind(addr).expect("core port released");
    }
}

#[test]
fn drop_shuts_down() {
    let server = common::start(2);
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("PING"), PONG);
    drop(server);
    c.expect_eof();
}
