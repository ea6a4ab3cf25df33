//! TLS: a CA, a server certificate (SAN 127.0.0.1 and localhost) and a
//! client certificate made with `rcgen` in a temporary directory; servers
//! with a shared TLS port and TLS core ports (`--tls-cluster`); clients:
//! rustls, `redis-cli --tls`, redis-py `ssl=True`.

mod common;

use common::resp::{cli, cli_with, describe, redis_cli_output, run_with_timeout, tool};
use common::{ok_result, Client, IO_TIMEOUT, OK};
use corekv::config::AuthClients;
use corekv::{Config, Server};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::{self, pki_types, ClientConfig, ClientConnection, RootCertStore};

/// Certificates in a temporary directory, removed on drop.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("corekv-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_params, ca_key) = ca("corekv test CA");
        std::fs::write(
            dir.join("ca.pem"),
            ca_params.self_signed(&ca_key).unwrap().pem(),
        )
        .unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        leaf(
            &dir,
            "server",
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        );
        leaf(
            &dir,
            "client",
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        );
        // A client certificate from a CA the server does not trust.
        let (other_params, other_key) = ca("another CA");
        let other = Issuer::new(other_params, other_key);
        leaf(
            &dir,
            "stranger",
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            &other,
        );
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params, KeyPair::generate().unwrap())
}

/// Writes `<name>.pem` and `<name>.key`, signed by `issuer`.
fn leaf(
    dir: &Path,
    name: &str,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) {
    let mut params = CertificateParams::new(sans).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("corekv {name}"));
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// A test server with a shared TLS port and TLS core ports; clients need
/// no certificate.
fn tls_config(certs: &Certs, workers: u16) -> Config {
    let mut config = common::config(workers);
    config.tls_cert_file = Some(certs.path("server.pem"));
    config.tls_key_file = Some(certs.path("server.key"));
    config.tls_cluster = true;
    config
}

fn start(config: &Config) -> Server {
    let server = common::start_with(config);
    assert!(server.tls_addr().is_some(), "TLS is on");
    server
}

fn tls_port(server: &Server) -> u16 {
    server.tls_addr().unwrap().port()
}

fn tls_core_ports(server: &Server) -> Vec<u16> {
    server.tls_core_addrs().iter().map(|a| a.port()).collect()
}

fn plain_core_ports(server: &Server) -> Vec<u16> {
    server.core_addrs().iter().map(|a| a.port()).collect()
}

fn client_config(certs: &Certs, identity: Option<&str>) -> Arc<ClientConfig> {
    use pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in pki_types::CertificateDer::pem_file_iter(certs.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain =
                pki_types::CertificateDer::pem_file_iter(certs.path(&format!("{name}.pem")))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
            let key = pki_types::PrivateKeyDer::from_pem_file(certs.path(&format!("{name}.key")))
                .unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

/// A blocking rustls client: lines out, lines in.
struct TlsClient {
    reader: BufReader<rustls::StreamOwned<ClientConnection, TcpStream>>,
}

impl TlsClient {
    fn connect(port: u16, config: Arc<ClientConfig>) -> Self {
        Self::connect_to(std::net::SocketAddr::from(([127, 0, 0, 1], port)), config)
    }

    fn connect_to(addr: std::net::SocketAddr, config: Arc<ClientConfig>) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let name = pki_types::ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).unwrap();
        Self {
            reader: BufReader::new(rustls::StreamOwned::new(conn, tcp)),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    /// One text-protocol command, one response line.
    fn try_cmd(&mut self, line: &str) -> std::io::Result<String> {
        self.send(format!("{line}\n").as_bytes())?;
        self.line()
    }

    fn cmd(&mut self, line: &str) -> String {
        self.try_cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// One RESP command; the reply's first line (and a bulk's payload).
    fn resp(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&corekv_router::resp::request(&args)).unwrap();
        let first = self.line().unwrap();
        match first.strip_prefix('$') {
            Some(n) if n != "-1" => format!("{first} {}", self.line().unwrap()),
            _ => first,
        }
    }
}

#[test]
fn text_and_resp_over_the_tls_ports() {
    let certs = Certs::new("protocols");
    let server = start(&tls_config(&certs, 2));
    let config = client_config(&certs, None);
    let mut c = TlsClient::connect(tls_port(&server), Arc::clone(&config));
    assert_eq!(c.cmd("PUT a 1"), OK);
    assert_eq!(c.cmd("GET a"), ok_result("1"));
    let mut r = TlsClient::connect(tls_port(&server), Arc::clone(&config));
    assert_eq!(r.resp(&["SET", "b", "2"]), "+OK");
    assert_eq!(r.resp(&["GET", "a"]), "$1 1");
    // Replies far larger than the socket buffers (partial TLS writes).
    let big = "v".repeat(1_000_000);
    assert_eq!(r.resp(&["SET", "big", &big]), "+OK");
    let get = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(8);
    r.send(get.as_bytes()).unwrap();
    for _ in 0..8 {
        assert_eq!(r.line().unwrap(), "$1000000");
        assert!(r.line().unwrap() == big, "a whole value");
    }
    // Every TLS core port serves too, and so do the plain ports.
    for port in tls_core_ports(&server) {
        let mut c = TlsClient::connect(port, Arc::clone(&config));
        assert_eq!(c.cmd("GET b"), ok_result("2"), "TLS core port {port}");
    }
    assert_eq!(
        Client::connect(server.shared_addr()).cmd("GET b"),
        ok_result("2")
    );
    // TOPOLOGY names the TLS ports.
    let line = c.cmd("TOPOLOGY");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let topo = &v["result"];
    assert_eq!(topo["tls_shared_port"], tls_port(&server), "{line}");
    for (i, port) in tls_core_ports(&server).iter().enumerate() {
        assert_eq!(topo["partitions"][i]["tls_port"], *port, "{line}");
        assert_eq!(topo["partitions"][i]["port"], plain_core_ports(&server)[i]);
    }
}

/// `redis-cli --tls` flags for this test's CA.
fn cli_tls(certs: &Certs) -> Vec<String> {
    vec!["--tls".into(), "--cacert".into(), certs.path_str("ca.pem")]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn cluster_replies_give_each_client_its_kind_of_port() {
    let certs = Certs::new("cluster");
    let server = start(&tls_config(&certs, 2));
    let tls = cli_tls(&certs);
    let mut flags = strs(&tls);
    flags.push("--no-raw");
    let over_tls = cli_with(tls_port(&server), &flags, &["CLUSTER", "SLOTS"]);
    let over_plain = cli(server.shared_addr().port(), &["CLUSTER", "SLOTS"]);
    for (tls_port, plain_port) in tls_core_ports(&server)
        .iter()
        .zip(plain_core_ports(&server))
    {
        let tls_line = format!("(integer) {tls_port}\n");
        let plain_line = format!("(integer) {plain_port}\n");
        assert!(over_tls.contains(&tls_line), "{over_tls}");
        assert!(!over_tls.contains(&plain_line), "{over_tls}");
        assert!(over_plain.contains(&plain_line), "{over_plain}");
        assert!(!over_plain.contains(&tls_line), "{over_plain}");
    }
    let nodes = cli_with(tls_port(&server), &flags, &["CLUSTER", "NODES"]);
    let port = tls_core_ports(&server)[1];
    assert!(nodes.contains(&format!("127.0.0.1:{port}@")), "{nodes}");
    // SHARDS lists both, as Redis 7: `port` and `tls-port`.
    let shards = cli(server.shared_addr().port(), &["CLUSTER", "SHARDS"]);
    assert!(shards.contains("\"tls-port\""), "{shards}");
    assert!(shards.contains(&format!("(integer) {port}")), "{shards}");
}

#[test]
fn redis_cli_over_tls() {
    let certs = Certs::new("cli");
    let server = start(&tls_config(&certs, 3));
    let tls = cli_tls(&certs);
    let flags = strs(&tls);
    assert_eq!(
        cli_with(tls_port(&server), &flags, &["SET", "k", "v"]),
        "OK"
    );
    assert_eq!(cli_with(tls_port(&server), &flags, &["GET", "k"]), "v");
    // Cluster mode through the TLS core ports: keys on every partition.
    let keys = common::keys_by_partition(server.topology(), "cli", 1);
    let mut cluster = flags.clone();
    cluster.push("-c");
    let first_core = tls_core_ports(&server)[0];
    for (i, key) in keys.iter().map(|k| &k[0]).enumerate() {
        let value = format!("v{i}");
        assert_eq!(cli_with(first_core, &cluster, &["SET", key, &value]), "OK");
        assert_eq!(cli_with(first_core, &cluster, &["GET", key]), value);
    }
    // Without --tls the TLS port does not answer a command.
    let out = redis_cli_output(tls_port(&server), &[], &["PING"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PONG"),
        "{}",
        describe("plain redis-cli to the TLS port", &out)
    );
}

/// The script's own socket timeouts are 5 s; this only stops a hang.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(25);

#[test]
fn redis_py_over_tls() {
    let python = tool(
        "python3",
        "install python3 (apt-get install python3 python3-pip)",
    );
    let probe = Command::new(&python)
        .args(["-c", "import ssl, redis, redis.cluster"])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "the python package `redis` is missing: install it with \
         `python3 -m pip install 'redis>=5'`\n{}",
        describe("python3 -c 'import redis'", &probe)
    );
    let certs = Certs::new("python");
    let server = start(&tls_config(&certs, 3));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_tls.py");
    let cores: Vec<String> = tls_core_ports(&server).iter().map(u16::to_string).collect();
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .env("COREKV_TLS_PORT", tls_port(&server).to_string())
        .env("COREKV_TLS_CORE_PORTS", cores.join(","))
        .env("COREKV_CA", certs.path("ca.pem"))
        .env("PYTHONUNBUFFERED", "1");
    let out = run_with_timeout(&mut cmd, None, SCRIPT_TIMEOUT);
    assert!(out.status.success(), "{}", describe("test_tls.py", &out));
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

/// True if a command gets through: the handshake and a round trip work.
fn serves(port: u16, config: Arc<ClientConfig>) -> bool {
    let mut c = TlsClient::connect(port, config);
    matches!(c.try_cmd("PING"), Ok(line) if line.contains("PONG"))
}

#[test]
fn client_certificates() {
    let certs = Certs::new("clientauth");
    let mut config = tls_config(&certs, 1);
    config.tls_ca_cert_file = Some(certs.path("ca.pem"));
    // Default with a CA: required (Redis's `tls-auth-clients yes`).
    let server = start(&config);
    let port = tls_port(&server);
    assert!(!serves(port, client_config(&certs, None)), "no certificate");
    assert!(
        !serves(port, client_config(&certs, Some("stranger"))),
        "unknown CA"
    );
    assert!(serves(port, client_config(&certs, Some("client"))));
    assert!(serves(
        tls_core_ports(&server)[0],
        client_config(&certs, Some("client"))
    ));
    // redis-cli with and without a certificate.
    let mut with_cert = cli_tls(&certs);
    with_cert.extend(["--cert".into(), certs.path_str("client.pem")]);
    with_cert.extend(["--key".into(), certs.path_str("client.key")]);
    assert_eq!(cli_with(port, &strs(&with_cert), &["PING"]), "PONG");
    let out = redis_cli_output(port, &strs(&cli_tls(&certs)), &["PING"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PONG"),
        "{}",
        describe("redis-cli --tls without a client certificate", &out)
    );
    drop(server);
    // `optional`: no certificate is fine, a bad one is not.
    config.tls_auth_clients = Some(AuthClients::Optional);
    let server = start(&config);
    let port = tls_port(&server);
    assert!(serves(port, client_config(&certs, None)));
    assert!(serves(port, client_config(&certs, Some("client"))));
    assert!(!serves(port, client_config(&certs, Some("stranger"))));
}

#[test]
fn plain_ports_off() {
    let certs = Certs::new("tlsonly");
    let mut config = tls_config(&certs, 2);
    config.no_plain_ports = true;
    let server = start(&config);
    assert_eq!(server.shared_addr().port(), 0);
    assert!(server.core_addrs().is_empty());
    let mut c = TlsClient::connect(tls_port(&server), client_config(&certs, None));
    assert_eq!(c.cmd("PUT a 1"), OK);
    let mut c = TlsClient::connect(tls_port(&server), client_config(&certs, None));
    assert_eq!(c.resp(&["CONFIG", "GET", "port"]), "*2");
    assert_eq!(c.line().unwrap(), "$4");
    assert_eq!(c.line().unwrap(), "port");
    assert_eq!(c.line().unwrap(), "$1");
    assert_eq!(c.line().unwrap(), "0");
    // Cluster clients still find every partition over TLS.
    let tls = cli_tls(&certs);
    let mut flags = strs(&tls);
    flags.push("-c");
    let keys = common::keys_by_partition(server.topology(), "off", 1);
    for key in keys.iter().map(|k| &k[0]) {
        let port = tls_core_ports(&server)[0];
        assert_eq!(cli_with(port, &flags, &["SET", key, "x"]), "OK");
        assert_eq!(cli_with(port, &flags, &["GET", key]), "x");
    }
}

/// Plain text sent to the TLS port fails that handshake only; a client
/// that never finishes its handshake holds up nobody (one worker serves
/// them all).
#[test]
fn bad_handshakes_disturb_no_one() {
    let certs = Certs::new("garbage");
    let server = start(&tls_config(&certs, 1));
    let port = tls_port(&server);
    let config = client_config(&certs, None);
    let mut good = TlsClient::connect(port, Arc::clone(&config));
    assert_eq!(good.cmd("PUT a 1"), OK);
    let _stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let stalled_since = std::time::Instant::now();
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    garbage.write_all(b"PING\r\nGET a\r\n").unwrap();
    // The server closes it (perhaps after an alert); never a reply.
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("PONG"),
        "{answer:?}"
    );
    assert_eq!(good.cmd("GET a"), ok_result("1"));
    let mut late = TlsClient::connect(port, config);
    assert_eq!(late.cmd("GET a"), ok_result("1"));
    assert_eq!(
        Client::connect(server.shared_addr()).cmd("GET a"),
        ok_result("1")
    );
    // Shutdown does not wait out the stalled handshake's time limit (30 s
    // from its connect): had it waited, it would end after that limit.
    // Everything above plus the shutdown has those 30 s, a hang guard a
    // loaded machine cannot trip.
    server.shutdown();
    assert!(
        stalled_since.elapsed() < corekv::tls::HANDSHAKE_TIMEOUT,
        "shutdown ended {:?} after the stalled connect",
        stalled_since.elapsed()
    );
}

#[test]
fn start_up_errors_name_the_file() {
    let certs = Certs::new("errors");
    let mut config = tls_config(&certs, 1);
    config.tls_key_file = Some(certs.path("missing.key"));
    let err = Server::start(&config).err().expect("must fail").to_string();
    assert!(err.contains("missing.key"), "{err}");
    // A certificate file with no certificate in it.
    let mut config = tls_config(&certs, 1);
    config.tls_cert_file = Some(certs.path("server.key"));
    let err = Server::start(&config).err().expect("must fail").to_string();
    assert!(err.contains("server.key"), "{err}");
}

/// Every port, TLS ones included, on every `--bind` address.
#[test]
fn every_port_on_every_bound_address() {
    let certs = Certs::new("addrs");
    let mut config = tls_config(&certs, 2);
    let second = std::net::IpAddr::from([127, 0, 0, 2]);
    config.set_bind(&[std::net::IpAddr::from([127, 0, 0, 1]), second]);
    let server = start(&config);
    let mut ports = vec![tls_port(&server)];
    ports.extend(tls_core_ports(&server));
    for port in ports {
        let addr = std::net::SocketAddr::new(second, port);
        let mut c = TlsClient::connect_to(addr, client_config(&certs, None));
        assert!(c.cmd("PING").contains("PONG"), "127.0.0.2:{port}");
    }
    for addr in common::all_addrs(&server) {
        let addr = std::net::SocketAddr::new(second, addr.port());
        assert!(Client::connect(addr).cmd("PING").contains("PONG"), "{addr}");
    }
}
