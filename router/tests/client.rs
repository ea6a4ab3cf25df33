//! The smart client against an in-process corekv server on ephemeral ports.

use corekv::{Config, Server};
use corekv_router::client::{Auth, Error};
use corekv_router::Client;
use std::sync::Arc;
use std::time::Duration;

fn config(workers: u16) -> Config {
    let mut config = Config::ephemeral(workers);
    config.no_pin = true;
    config
}

fn start(workers: u16) -> Server {
    Server::start(&config(workers)).expect("server starts")
}

async fn connect(server: &Server) -> Client {
    let addr = server.shared_addr();
    Client::connect(&addr.ip().to_string(), addr.port())
        .await
        .expect("client connects")
}

/// `n` keys per partition, found by trying `prefix0`, `prefix1`, …
fn keys_per_partition(server: &Server, prefix: &str, n: usize) -> Vec<Vec<String>> {
    let t = server.topology();
    let mut keys = vec![Vec::new(); t.len()];
    let mut i = 0;
    while keys.iter().any(|k: &Vec<String>| k.len() < n) {
        let key = format!("{prefix}{i}");
        let p = t.partition_of_key(key.as_bytes());
        if keys[p].len() < n {
            keys[p].push(key);
        }
        i += 1;
    }
    keys
}

fn delta(before: &[u64], after: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

#[tokio::test]
async fn reads_the_servers_topology_from_any_port() {
    let server = start(4);
    let client = connect(&server).await;
    assert_eq!(
        client.topology().partitions(),
        server.topology().partitions()
    );
    // Through a core port the topology is the same.
    let core = server.core_addrs()[2];
    let via_core = Client::connect(&core.ip().to_string(), core.port())
        .await
        .unwrap();
    assert_eq!(
        via_core.topology().partitions(),
        server.topology().partitions()
    );
    for (p, addr) in server.core_addrs().iter().enumerate() {
        assert_eq!(client.port_of_partition(p), addr.port());
    }
    client.ping().await.unwrap();
    assert_eq!(
        client.commands_sent(),
        [1, 1, 1, 1],
        "PING went to every port"
    );
}

#[tokio::test]
async fn every_key_routes_to_its_owner() {
    let server = start(4);
    let client = connect(&server).await;
    let t = server.topology();
    for i in 0..5000 {
        for key in [
            format!("key:{i}"),
            format!("{{user{i}}}.name"),
            format!("x{i}{{}}"),
        ] {
            let owner = t.partition_of_key(key.as_bytes());
            assert_eq!(client.partition_of_key(&key), owner, "{key}");
            assert_eq!(
                client.port_of_key(&key),
                server.core_addrs()[owner].port(),
                "{key}"
            );
        }
    }
    // The commands for a key go to its owner's port and nowhere else.
    for (p, keys) in keys_per_partition(&server, "route", 20).iter().enumerate() {
        for key in keys {
            let before = client.commands_sent();
            client.put(key, "v").await.unwrap();
            assert_eq!(client.get(key).await.unwrap().as_deref(), Some("v"));
            client.del(key).await.unwrap();
            let mut expected = vec![0; t.len()];
            expected[p] = 3;
            assert_eq!(delta(&before, &client.commands_sent()), expected, "{key}");
        }
    }
}

#[tokio::test]
async fn single_key_operations() {
    let server = start(3);
    let client = connect(&server).await;
    assert_eq!(client.get("absent").await.unwrap(), None);
    client.put("a", "1").await.unwrap();
    assert_eq!(client.get("a").await.unwrap().as_deref(), Some("1"));
    client.put("a", "2").await.unwrap();
    assert_eq!(client.get("a").await.unwrap().as_deref(), Some("2"));
    client.del("a").await.unwrap();
    assert_eq!(client.get("a").await.unwrap(), None);
    client.del("a").await.unwrap(); // absent: still fine

    for value in [
        "3 * 3 = 9",
        "tab\tinside",
        r#"{"first_name": "George", "role": "President"}"#,
        "été ☀ 🦀",
        "back\\slash \"quoted\"",
        "\u{1}control",
    ] {
        client.put("v", value).await.unwrap();
        assert_eq!(client.get("v").await.unwrap().as_deref(), Some(value));
    }
    client.put("{t}.a", "x").await.unwrap();
    client.put("{t}.b", "y").await.unwrap();
    assert_eq!(
        client.partition_of_key("{t}.a"),
        client.partition_of_key("{t}.b")
    );
    assert_eq!(client.get("{t}.b").await.unwrap().as_deref(), Some("y"));
    client.ping().await.unwrap();
}

#[tokio::test]
async fn pipelined_many_over_all_partitions_keeps_input_order() {
    let server = start(4);
    let client = connect(&server).await;
    let pairs: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("many:{i}"), format!("value {i}")))
        .collect();
    let before = client.commands_sent();
    client.put_many(&pairs).await.unwrap();
    let sent = delta(&before, &client.commands_sent());
    assert_eq!(sent.iter().sum::<u64>(), 1000);
    assert!(
        sent.iter().all(|&n| n > 100),
        "spread over partitions: {sent:?}"
    );
    // Per partition exactly the keys it owns.
    for (p, &n) in sent.iter().enumerate() {
        let owned = pairs
            .iter()
            .filter(|(k, _)| server.topology().partition_of_key(k.as_bytes()) == p)
            .count();
        assert_eq!(n as usize, owned);
    }

    // Absent keys interleaved, and the keys in reverse order.
    let mut keys: Vec<String> = Vec::new();
    for (i, (k, _)) in pairs.iter().enumerate().rev() {
        keys.push(k.clone());
        if i % 7 == 0 {
            keys.push(format!("absent:{i}"));
        }
    }
    let values = client.get_many(&keys).await.unwrap();
    assert_eq!(values.len(), keys.len());
    for (key, value) in keys.iter().zip(&values) {
        match key.strip_prefix("many:") {
            Some(i) => assert_eq!(value.as_deref(), Some(format!("value {i}").as_str())),
            None => assert_eq!(value, &None, "{key}"),
        }
    }

    // Several writes of one key apply in input order.
    client
        .put_many(&[("dup", "1"), ("other", "x"), ("dup", "2"), ("dup", "3")])
        .await
        .unwrap();
    assert_eq!(client.get("dup").await.unwrap().as_deref(), Some("3"));

    // &str slices work as well as Strings; empty input sends nothing.
    let before = client.commands_sent();
    assert!(client.get_many::<&str>(&[]).await.unwrap().is_empty());
    client.put_many::<&str, &str>(&[]).await.unwrap();
    assert_eq!(client.commands_sent(), before);

    let doomed: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).step_by(2).collect();
    client.del_many(&doomed).await.unwrap();
    let values = client.get_many(&doomed).await.unwrap();
    assert!(values.iter().all(Option::is_none));
    assert_eq!(
        client.get("many:1").await.unwrap().as_deref(),
        Some("value 1")
    );
}

#[tokio::test]
async fn large_pipelines_do_not_stall() {
    // Far more reply bytes than socket buffers hold: the client must read
    // while it writes.
    let server = start(2);
    let client = connect(&server).await;
    let big = "x".repeat(4096);
    let pairs: Vec<(String, &str)> = (0..6000)
        .map(|i| (format!("big:{i}"), big.as_str()))
        .collect();
    client.put_many(&pairs).await.unwrap();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let values = tokio::time::timeout(Duration::from_secs(60), client.get_many(&keys))
        .await
        .expect("no stall")
        .unwrap();
    assert!(values.iter().all(|v| v.as_deref() == Some(big.as_str())));
}

#[tokio::test]
async fn cancelled_calls_do_not_desynchronise_connections() {
    let server = start(2);
    let client = connect(&server).await;
    let pairs: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("c:{i}"), format!("v{i}")))
        .collect();
    client.put_many(&pairs).await.unwrap();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let mut cut = 0;
    for _ in 0..5 {
        // Cut off half-way: its replies must not reach later calls.
        let call = client.get_many(&keys);
        if tokio::time::timeout(Duration::from_micros(200), call)
            .await
            .is_err()
        {
            cut += 1;
        }
        for i in [0, 1, 2, 19_999] {
            let key = format!("c:{i}");
            assert_eq!(
                client.get(&key).await.unwrap(),
                Some(format!("v{i}")),
                "{key}"
            );
        }
    }
    assert!(cut > 0, "no call was cut off");
    let values = client.get_many(&keys).await.unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v.as_deref(), Some(format!("v{i}").as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_is_shared_between_tasks() {
    let server = start(4);
    let client = Arc::new(connect(&server).await);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                for round in 0..50 {
                    let pairs: Vec<(String, String)> = (0..20)
                        .map(|i| (format!("t{t}:{i}"), format!("{round}.{i}")))
                        .collect();
                    client.put_many(&pairs).await.unwrap();
                    let keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
                    let values = client.get_many(&keys).await.unwrap();
                    for ((_, v), got) in pairs.iter().zip(values) {
                        assert_eq!(got.as_deref(), Some(v.as_str()));
                    }
                    let key = format!("t{t}:single");
                    client.put(&key, &round.to_string()).await.unwrap();
                    assert_eq!(client.get(&key).await.unwrap(), Some(round.to_string()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn transactions_commit_atomically_across_partitions() {
    let server = start(4);
    let client = connect(&server).await;
    let observer = connect(&server).await;
    let keys: Vec<String> = keys_per_partition(&server, "tx", 2).concat();
    for k in &keys {
        client.put(k, "old").await.unwrap();
    }
    client.put("tx:gone", "here").await.unwrap();

    let mut tx = client.transaction();
    assert_eq!(tx.partition(), None);
    for k in &keys {
        tx.put(k, &format!("new {k}")).await.unwrap();
    }
    assert_eq!(tx.partition(), Some(client.partition_of_key(&keys[0])));
    tx.del("tx:gone").await.unwrap();
    // Read-your-writes inside, nothing visible outside.
    assert_eq!(
        tx.get(&keys[3]).await.unwrap(),
        Some(format!("new {}", keys[3]))
    );
    assert_eq!(tx.get("tx:gone").await.unwrap(), None);
    assert_eq!(tx.get("tx:unwritten").await.unwrap(), None);
    for v in observer.get_many(&keys).await.unwrap() {
        assert_eq!(v.as_deref(), Some("old"));
    }
    assert_eq!(
        observer.get("tx:gone").await.unwrap().as_deref(),
        Some("here")
    );
    tx.commit().await.unwrap();

    for (k, v) in keys.iter().zip(observer.get_many(&keys).await.unwrap()) {
        assert_eq!(v, Some(format!("new {k}")));
    }
    assert_eq!(observer.get("tx:gone").await.unwrap(), None);

    // The connection went back to the pool clean: plain commands work.
    client.put(&keys[0], "after").await.unwrap();
    assert_eq!(
        client.get(&keys[0]).await.unwrap().as_deref(),
        Some("after")
    );

    // A transaction with no operation commits without sending anything.
    let before = client.commands_sent();
    client.transaction().commit().await.unwrap();
    client.transaction().rollback().await.unwrap();
    assert_eq!(client.commands_sent(), before);
}

#[tokio::test]
async fn a_transaction_runs_on_its_first_keys_owner() {
    let server = start(4);
    let client = connect(&server).await;
    let keys = keys_per_partition(&server, "own", 1);
    for (p, k) in keys.iter().enumerate() {
        let before = client.commands_sent();
        let mut tx = client.transaction();
        tx.put(&k[0], "1").await.unwrap();
        tx.put(&keys[(p + 1) % keys.len()][0], "2").await.unwrap();
        tx.commit().await.unwrap();
        let mut expected = vec![0; keys.len()];
        expected[p] = 4; // START, PUT, PUT, COMMIT
        assert_eq!(delta(&before, &client.commands_sent()), expected);
    }
}

#[tokio::test]
async fn rollback_and_drop_discard_the_writes() {
    let server = start(4);
    let client = connect(&server).await;
    client.put("rb:a", "kept").await.unwrap();

    let mut tx = client.transaction();
    tx.put("rb:a", "discarded").await.unwrap();
    tx.put("rb:b", "discarded").await.unwrap();
    tx.del("rb:a").await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(client.get("rb:a").await.unwrap().as_deref(), Some("kept"));
    assert_eq!(client.get("rb:b").await.unwrap(), None);

    {
        let mut tx = client.transaction();
        tx.put("rb:c", "never").await.unwrap();
        // Dropped without commit: its connection closes.
    }
    assert_eq!(client.get("rb:c").await.unwrap(), None);
    // And later transactions are unaffected.
    let mut tx = client.transaction();
    tx.put("rb:c", "now").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(client.get("rb:c").await.unwrap().as_deref(), Some("now"));
}

#[tokio::test]
async fn invalid_keys_and_values_are_refused_before_sending() {
    let server = start(2);
    let client = connect(&server).await;
    let before = client.commands_sent();

    for key in ["", "two words", "tab\tkey", "new\nline", "cr\r", " lead"] {
        assert!(
            matches!(client.get(key).await, Err(Error::InvalidKey(_))),
            "{key:?}"
        );
        assert!(matches!(
            client.put(key, "v").await,
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(client.del(key).await, Err(Error::InvalidKey(_))));
    }
    for value in [
        "",
        " ",
        "line\nbreak",
        "carriage\rreturn",
        " lead",
        "trail ",
        "tab\t",
    ] {
        let e = client.put("k", value).await.unwrap_err();
        assert!(matches!(e, Error::InvalidValue(_)), "{value:?}: {e}");
    }
    // One bad pair refuses the whole batch.
    let e = client
        .put_many(&[("good1", "1"), ("good2", "bad\n"), ("good3", "3")])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidValue(_)), "{e}");
    let e = client.get_many(&["fine", "not fine"]).await.unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e}");
    assert!(matches!(
        client.del_many(&["ok", ""]).await,
        Err(Error::InvalidKey(_))
    ));

    let mut tx = client.transaction();
    assert!(matches!(
        tx.put("a b", "v").await,
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        tx.put("a", "v\r\n").await,
        Err(Error::InvalidValue(_))
    ));
    assert!(matches!(tx.get("").await, Err(Error::InvalidKey(_))));
    assert_eq!(tx.partition(), None, "nothing was started");
    tx.commit().await.unwrap();

    assert_eq!(client.commands_sent(), before, "nothing reached the server");
    for k in ["good1", "good3"] {
        assert_eq!(client.get(k).await.unwrap(), None);
    }
    let msg = client.put("a b", "v").await.unwrap_err().to_string();
    assert!(
        msg.contains("invalid key") && msg.contains("whitespace"),
        "{msg}"
    );
}

#[tokio::test]
async fn server_errors_surface_as_server_errors() {
    let mut config = config(2);
    config.max_line_bytes = 256;
    config.max_txn_bytes = 1024;
    let server = Server::start(&config).unwrap();
    let client = connect(&server).await;

    let long = "x".repeat(300);
    match client.put("k", &long).await {
        Err(Error::Server(mesg)) => assert!(mesg.contains("line too long"), "{mesg}"),
        other => panic!("{other:?}"),
    }
    // The connection stays in step after an error.
    client.put("k", "short").await.unwrap();
    assert_eq!(client.get("k").await.unwrap().as_deref(), Some("short"));
    // In a pipeline the error is the call's result; the others still apply.
    let e = client
        .put_many(&[("p1", "1"), ("p2", long.as_str()), ("p3", "3")])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Server(_)), "{e}");
    let values = client.get_many(&["p1", "p3"]).await.unwrap();
    assert_eq!(values, [Some("1".into()), Some("3".into())]);
    assert!(matches!(
        client.get_many(&["p1", &"k".repeat(300)]).await,
        Err(Error::Server(_))
    ));

    // A transaction over --max-txn-bytes: the error comes back from the
    // PUT, and again from COMMIT, which applies nothing.
    let mut tx = client.transaction();
    tx.put("t0", "small").await.unwrap();
    let mut failed = None;
    for i in 0..100 {
        if let Err(e) = tx.put(&format!("t{i}"), &"v".repeat(100)).await {
            failed = Some(e);
            break;
        }
    }
    match failed {
        Some(Error::Server(mesg)) => assert!(mesg.contains("transaction too large"), "{mesg}"),
        other => panic!("{other:?}"),
    }
    match tx.commit().await {
        Err(Error::Server(mesg)) => assert!(mesg.contains("transaction too large"), "{mesg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.get("t0").await.unwrap(), None);
    client.put("t0", "fine").await.unwrap();
}

#[tokio::test]
async fn authenticates_every_connection_it_opens() {
    let acl = std::env::temp_dir().join(format!("corekv-router-acl-{}", std::process::id()));
    std::fs::write(&acl, "user app on >app-pw ~* +@all\n").unwrap();
    let mut config = config(4);
    config.requirepass = Some("s3cret".into());
    config.aclfile = Some(acl.clone());
    let server = Server::start(&config).unwrap();
    std::fs::remove_file(&acl).unwrap();
    let (host, port) = (
        server.shared_addr().ip().to_string(),
        server.shared_addr().port(),
    );

    match Client::connect(&host, port).await {
        Err(Error::Server(mesg)) => assert!(mesg.starts_with("NOAUTH"), "{mesg}"),
        other => panic!("{other:?}"),
    }
    let wrong = Auth::password("nope").unwrap();
    match Client::connect_with_auth(&host, port, wrong).await {
        Err(Error::Server(mesg)) => assert!(mesg.starts_with("WRONGPASS"), "{mesg}"),
        other => panic!("{other:?}"),
    }

    for auth in [
        Auth::password("s3cret").unwrap(),
        Auth::user("app", "app-pw").unwrap(),
    ] {
        let client = Arc::new(Client::connect_with_auth(&host, port, auth).await.unwrap());
        // Every partition's core port, one connection each.
        client.ping().await.unwrap();
        let keys: Vec<String> = keys_per_partition(&server, "auth", 3).concat();
        let pairs: Vec<(String, String)> =
            keys.iter().map(|k| (k.clone(), format!("v-{k}"))).collect();
        client.put_many(&pairs).await.unwrap();
        // Tasks at once: each needs a connection of its own, opened now.
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let (client, keys) = (Arc::clone(&client), keys.clone());
                tokio::spawn(async move {
                    for _ in 0..20 {
                        let got = client.get_many(&keys).await.unwrap();
                        assert!(got.iter().all(Option::is_some), "task {t}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // A dropped transaction closes its connection; later ones take
        // another, pooled or new.
        let mut tx = client.transaction();
        tx.put(&keys[0], "in-tx").await.unwrap();
        drop(tx);
        let mut tx = client.transaction();
        tx.put(&keys[0], "committed").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            client.get(&keys[0]).await.unwrap().as_deref(),
            Some("committed")
        );
    }
}

#[tokio::test]
async fn connection_failures_are_io_errors() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    match Client::connect("127.0.0.1", port).await {
        Err(Error::Io(e)) => assert!(e.to_string().contains("cannot connect"), "{e}"),
        other => panic!("{other:?}"),
    }

    let server = start(2);
    let client = connect(&server).await;
    client.put("a", "1").await.unwrap();
    drop(server);
    assert!(matches!(client.get("a").await, Err(Error::Io(_))));
    assert!(matches!(client.ping().await, Err(Error::Io(_))));
    let mut tx = client.transaction();
    assert!(matches!(tx.put("a", "2").await, Err(Error::Io(_))));
    assert!(matches!(tx.commit().await, Err(Error::Io(_))));
}

/// The server's per-worker `forwarded_out` counters, read with a raw RESP
/// `INFO workers` on the shared port.
fn forwarded_out(server: &Server) -> Vec<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.shared_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&corekv_router::resp::request(&[b"INFO", b"workers"]))
        .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // A bulk string: `$<len>\r\n<text>\r\n`.
    while !(reply.ends_with(b"\r\n") && reply.len() > 4 && {
        let text = String::from_utf8_lossy(&reply);
        let (head, body) = text.split_once("\r\n").unwrap_or(("", ""));
        head[1..]
            .parse::<usize>()
            .is_ok_and(|n| body.len() >= n + 2)
    }) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed the connection");
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(reply)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("worker_"))
        .map(|l| {
            let field = l
                .split(',')
                .find(|f| f.starts_with("forwarded_out="))
                .unwrap();
            field["forwarded_out=".len()..].parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn smart_client_traffic_is_never_forwarded_by_the_server() {
    let server = start(4);
    let client = connect(&server).await;
    let before = forwarded_out(&server);
    assert_eq!(before.len(), 4);
    let keys: Vec<String> = (0..2000).map(|i| format!("smart:{i}")).collect();
    for key in keys.iter().take(200) {
        client.put(key, "v").await.unwrap();
        assert_eq!(client.get(key).await.unwrap().as_deref(), Some("v"));
    }
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), "w".to_string())).collect();
    client.put_many(&pairs).await.unwrap();
    let got = client.get_many(&keys).await.unwrap();
    assert!(got.iter().all(|v| v.as_deref() == Some("w")));
    assert_eq!(
        forwarded_out(&server),
        before,
        "the server forwarded none of the smart client's commands"
    );
    // The same keys through the shared port do get forwarded: the counter
    // is live, so the equality above is meaningful.
    let shared = server.shared_addr();
    let mut s = std::net::TcpStream::connect(shared).unwrap();
    use std::io::{BufRead, Write};
    let mut lines = String::new();
    for key in keys.iter().take(100) {
        lines.push_str(&format!("GET {key}\n"));
    }
    s.write_all(lines.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(s);
    for _ in 0..100 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
    }
    let after: u64 = forwarded_out(&server).iter().sum();
    assert!(
        after > before.iter().sum::<u64>(),
        "shared-port traffic is forwarded"
    );
}

/// Three pods (`--cluster-size 3`), each on its own loopback address and
/// the same ports, as three hosts would be: the client reaches every
/// partition at its own pod's host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_pods_is_reached_host_by_host() {
    let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let mut pods = Vec::new();
    'attempt: for attempt in 0..20u16 {
        let base = 21_000 + (std::process::id() as u16 % 2_000) * 10 + attempt * 7;
        let peers: Vec<String> = hosts.iter().map(|h| format!("{h}:{}", base + 1)).collect();
        let mut started = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let mut c = config(2);
            c.ephemeral_ports = false;
            c.set_bind(&[host.parse().unwrap()]);
            c.port = base;
            c.core_port_base = base + 1;
            c.cluster_size = 3;
            c.cluster_index = Some(i as u16);
            c.cluster_peers = Some(peers.join(","));
            match Server::start(&c) {
                Ok(s) => started.push(s),
                Err(_) => continue 'attempt,
            }
        }
        pods = started;
        break;
    }
    assert_eq!(pods.len(), 3, "no free ports");
    let shared = pods[1].shared_addr();
    let client = Client::connect("127.0.0.2", shared.port()).await.unwrap();
    assert_eq!(client.topology().len(), 6);
    for p in 0..6 {
        assert_eq!(client.host_of_partition(p), hosts[p / 2]);
    }
    let pairs: Vec<(String, String)> = (0..200).map(|i| (format!("k{i}"), i.to_string())).collect();
    client.put_many(&pairs).await.unwrap();
    for (k, v) in &pairs {
        assert_eq!(client.get(k).await.unwrap().as_deref(), Some(v.as_str()));
    }
    // Every pod holds exactly the keys its partitions own.
    let sent = client.commands_sent();
    assert!(sent.iter().all(|&n| n > 0), "{sent:?}");
    for (i, pod) in pods.iter().enumerate() {
        let own = (0..200)
            .filter(|k| client.partition_of_key(&format!("k{k}")) / 2 == i)
            .count();
        let n = dbsize(pod.shared_addr()).await;
        assert_eq!(n, own, "pod {i}");
    }
    for pod in pods {
        pod.shutdown();
    }
}

/// `DBSIZE` over the text protocol.
async fn dbsize(addr: std::net::SocketAddr) -> usize {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"DBSIZE\n").await.unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["result"].as_str().unwrap().parse().unwrap()
}
