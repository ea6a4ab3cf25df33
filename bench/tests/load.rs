//! Runs the benchmark as a library against an in-process corekv server.

use clap::Parser;
use corekv_bench::{run, Opts, Report};

fn opts(port: u16, extra: &[&str]) -> Opts {
    let port = port.to_string();
    let mut args = vec![
        "corekv-bench",
        "--port",
        &port,
        "--quiet",
        "--connections",
        "8",
        "--keyspace",
        "20000",
        "--warmup",
        "0.2",
        "--duration",
        "1",
        "--server-pid",
    ];
    let pid = std::process::id().to_string();
    args.push(&pid);
    args.extend_from_slice(extra);
    Opts::try_parse_from(args).unwrap()
}

fn check(what: &str, r: &Report) {
    println!("{what}:\n{}", r.to_table());
    assert!(r.ops > 0, "{what}: no operations");
    assert_eq!(r.errors, 0, "{what}: errors, first {:?}", r.first_error);
    assert!(r.ops_per_sec > 0.0, "{what}");
    assert!(r.latency_us.p50 > 0.0 && r.latency_us.p50 <= r.latency_us.max);
    // The server runs in this process, so --server-pid sees its CPU.
    assert!(r.server_cpu_secs_per_mop().unwrap() > 0.0, "{what}");
    let json = r.to_json();
    assert_eq!(json["ops"], r.ops);
    assert_eq!(json["errors"], 0);
}

#[test]
fn loads_against_an_in_process_server() {
    let mut c = corekv::Config::ephemeral(4);
    c.no_pin = true;
    let s = corekv::Server::start(&c).unwrap();
    let port = s.shared_addr().port();

    // Fill the keyspace first: GETs then hit.
    let r = run(&opts(port, &["--load", "--pipeline", "32"])).unwrap();
    assert_eq!(r.ops, 20000);
    assert_eq!(r.puts, 20000);
    assert_eq!(r.errors, 0);

    let r = run(&opts(port, &["--protocol", "text"])).unwrap();
    check("text shared", &r);
    assert_eq!(r.misses, 0, "the keyspace was loaded");
    assert!(r.gets > 0 && r.puts > 0);

    let r = run(&opts(
        port,
        &["--routing", "smart", "--pipeline", "8", "--threads", "2"],
    ))
    .unwrap();
    check("text smart, pipelined", &r);
    assert_eq!(r.partitions, 4);

    let r = run(&opts(
        port,
        &[
            "--protocol",
            "resp",
            "--pipeline",
            "4",
            "--distribution",
            "zipfian",
        ],
    ))
    .unwrap();
    check("resp shared", &r);

    let r = run(&opts(port, &["--protocol", "resp", "--routing", "smart"])).unwrap();
    check("resp smart", &r);
    assert_eq!(r.partitions, 4);

    // Pinned clients each stick to one partition and ask only for its keys:
    // the server forwards nothing for them (and does for shared clients).
    let before = forwarded(port);
    for proto in ["text", "resp"] {
        let r = run(&opts(
            port,
            &[
                "--protocol",
                proto,
                "--routing",
                "pinned",
                "--pipeline",
                "8",
            ],
        ))
        .unwrap();
        check(&format!("{proto} pinned"), &r);
        assert_eq!(r.partitions, 4);
        assert!(r.gets > 0 && r.puts > 0);
    }
    assert_eq!(forwarded(port), before, "pinned clients caused forwarding");
    check(
        "shared again",
        &run(&opts(port, &["--pipeline", "4"])).unwrap(),
    );
    assert!(forwarded(port) > before, "shared clients are forwarded");

    for cross in ["0", "1"] {
        let r = run(&opts(
            port,
            &[
                "--txn-size",
                "4",
                "--cross-fraction",
                cross,
                "--routing",
                "smart",
            ],
        ))
        .unwrap();
        check(&format!("text txn, cross {cross}"), &r);
        assert_eq!(r.txns, r.ops);
    }
    let r = run(&opts(
        port,
        &[
            "--protocol",
            "resp",
            "--txn-size",
            "4",
            "--cross-fraction",
            "0.5",
        ],
    ))
    .unwrap();
    check("resp MULTI/EXEC", &r);

    // A fixed rate: about 2000 ops/s for ~1 s.
    let r = run(&opts(port, &["--rate", "2000"])).unwrap();
    check("fixed rate", &r);
    assert!(
        (1000.0..3000.0).contains(&r.ops_per_sec),
        "rate 2000 gave {}",
        r.ops_per_sec
    );

    // A fixed number of requests.
    let mut o = opts(port, &["--pipeline", "3"]);
    o.duration = None;
    o.requests = Some(1000);
    let r = run(&o).unwrap();
    check("fixed count", &r);
    assert_eq!(r.ops, 1000);

    s.shutdown();
}

#[test]
fn smart_routing_without_a_topology_fails_cleanly() {
    // A listener that accepts and closes: no TOPOLOGY answer.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(1) {
            drop(s);
        }
    });
    let err = run(&opts(port, &["--routing", "smart"])).unwrap_err();
    assert!(format!("{err:#}").contains("topology"), "{err:#}");
}

/// The server's count of operations forwarded between workers (`STATS`).
fn forwarded(port: u16) -> u64 {
    use std::io::{BufRead, BufReader, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"STATS\n").unwrap();
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["result"]["total"]["forwarded_out"]
        .as_u64()
        .unwrap_or_else(|| panic!("no forwarded_out in {line}"))
}
