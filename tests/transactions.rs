//! Transactions against an in-process 4-worker server: read-your-writes,
//! isolation until COMMIT, ROLLBACK and disconnect discard, deletes,
//! cross-partition commits, the size limit, and the START/COMMIT/ROLLBACK
//! state machine.

mod common;

use common::{error, error_mesg, ok_result, Client, NOT_FOUND, OK, PONG};
use corekv::Server;

const WORKERS: u16 = 4;
const NO_TXN: &str = "no transaction in progress (use START)";

fn server() -> Server {
    common::start(WORKERS)
}

/// One connection through the shared port and one through each core port,
/// so that the observers below sit on every worker.
fn observers(server: &Server) -> Vec<Client> {
    common::all_addrs(server)
        .into_iter()
        .map(Client::connect)
        .collect()
}

#[test]
fn read_your_writes_inside_a_transaction() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    c.put("ryw", "old");
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(
        c.cmd("GET ryw"),
        ok_result("old"),
        "committed value until written"
    );
    assert_eq!(c.cmd("PUT ryw new"), OK);
    assert_eq!(c.cmd("GET ryw"), ok_result("new"));
    assert_eq!(c.cmd("PUT ryw newer"), OK);
    assert_eq!(c.cmd("GET ryw"), ok_result("newer"), "last write wins");
    assert_eq!(c.cmd("PUT fresh 1"), OK);
    assert_eq!(c.cmd("GET fresh"), ok_result("1"));
    assert_eq!(c.cmd("GET untouched"), NOT_FOUND);
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(c.cmd("GET ryw"), ok_result("newer"));
    assert_eq!(c.cmd("GET fresh"), ok_result("1"));
}

#[test]
fn writes_are_invisible_to_others_until_commit() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let mut others = observers(&server);
    let keys = common::keys_by_partition(server.topology(), "iso", 2);
    for keys in &keys {
        c.put(&keys[0], "before");
    }
    assert_eq!(c.cmd("START"), OK);
    for keys in &keys {
        assert_eq!(c.cmd(&format!("PUT {} after", keys[0])), OK);
        assert_eq!(c.cmd(&format!("PUT {} new", keys[1])), OK);
    }
    for o in &mut others {
        for keys in &keys {
            assert_eq!(o.get(&keys[0]).as_deref(), Some("before"));
            assert_eq!(o.get(&keys[1]), None);
        }
    }
    assert_eq!(c.cmd("COMMIT"), OK);
    for o in &mut others {
        for keys in &keys {
            assert_eq!(o.get(&keys[0]).as_deref(), Some("after"));
            assert_eq!(o.get(&keys[1]).as_deref(), Some("new"));
        }
    }
}

#[test]
fn rollback_discards_everything() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let keys = common::keys_by_partition(server.topology(), "rb", 2);
    for keys in &keys {
        c.put(&keys[0], "kept");
    }
    assert_eq!(c.cmd("START"), OK);
    for keys in &keys {
        assert_eq!(c.cmd(&format!("PUT {} changed", keys[0])), OK);
        assert_eq!(c.cmd(&format!("PUT {} added", keys[1])), OK);
    }
    assert_eq!(c.cmd("DEL rbmissing"), OK);
    assert_eq!(c.cmd("ROLLBACK"), OK);
    // Back outside a transaction: the buffered writes are gone.
    for keys in &keys {
        assert_eq!(c.get(&keys[0]).as_deref(), Some("kept"));
        assert_eq!(c.get(&keys[1]), None);
    }
    assert_eq!(c.cmd("COMMIT"), error(NO_TXN));
    assert_eq!(c.cmd("ROLLBACK"), error(NO_TXN));
    for o in &mut observers(&server) {
        for keys in &keys {
            assert_eq!(o.get(&keys[0]).as_deref(), Some("kept"));
            assert_eq!(o.get(&keys[1]), None);
        }
    }
    // Writes after the rollback apply at once again.
    c.put("rbafter", "1");
    let mut o = Client::connect(server.shared_addr());
    assert_eq!(o.get("rbafter").as_deref(), Some("1"));
}

#[test]
fn disconnect_discards_an_open_transaction() {
    let server = server();
    let keys = common::keys_by_partition(server.topology(), "dc", 1);
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    for keys in &keys {
        assert_eq!(c.cmd(&format!("PUT {} lost", keys[0])), OK);
    }
    // A final round trip proves every buffered write was processed before
    // the connection goes away.
    assert_eq!(c.cmd("PING"), PONG);
    c.close();
    // The server throws the buffer away when it notices the close; nothing
    // of it may show up, on any worker, then or later.
    for o in &mut observers(&server) {
        for keys in &keys {
            assert_eq!(o.get(&keys[0]), None);
        }
    }

    // Same with an abrupt close right after the writes (no round trip).
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    let mut input = String::new();
    for keys in &keys {
        input.push_str(&format!("PUT {} lost2\n", keys[0]));
    }
    input.push_str("COMMI");
    c.send(input.as_bytes());
    drop(c);
    let mut o = Client::connect(server.shared_addr());
    assert_eq!(o.cmd("PING"), PONG);
    for keys in &keys {
        assert_eq!(o.get(&keys[0]), None);
    }
}

#[test]
fn del_inside_a_transaction_hides_the_key() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let mut o = Client::connect(server.shared_addr());
    c.put("victim", "alive");
    c.put("other", "x");
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("DEL victim"), OK);
    assert_eq!(
        c.cmd("GET victim"),
        NOT_FOUND,
        "own buffered DEL hides the key"
    );
    assert_eq!(o.get("victim").as_deref(), Some("alive"), "until COMMIT");
    // PUT after DEL in the same transaction brings it back, DEL again hides.
    assert_eq!(c.cmd("PUT victim reborn"), OK);
    assert_eq!(c.cmd("GET victim"), ok_result("reborn"));
    assert_eq!(c.cmd("DEL victim"), OK);
    assert_eq!(c.cmd("GET victim"), NOT_FOUND);
    assert_eq!(c.cmd("DEL nosuchkey"), OK);
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(o.get("victim"), None);
    assert_eq!(o.get("other").as_deref(), Some("x"));

    // A DEL that is rolled back deletes nothing.
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("DEL other"), OK);
    assert_eq!(c.cmd("ROLLBACK"), OK);
    assert_eq!(o.get("other").as_deref(), Some("x"));
}

#[test]
fn cross_partition_transaction_applies_everything() {
    let server = server();
    let keys = common::keys_by_partition(server.topology(), "xp", 8);
    assert_eq!(keys.len(), usize::from(WORKERS));
    let mut c = Client::connect(server.shared_addr());
    // Some keys exist beforehand so the transaction both adds, overwrites
    // and deletes on every partition.
    for keys in &keys {
        c.put(&keys[6], "old");
        c.put(&keys[7], "doomed");
    }
    assert_eq!(c.cmd("START"), OK);
    for (p, keys) in keys.iter().enumerate() {
        for (i, key) in keys[..7].iter().enumerate() {
            assert_eq!(c.cmd(&format!("PUT {key} p{p}-{i}")), OK);
        }
        assert_eq!(c.cmd(&format!("DEL {}", keys[7])), OK);
    }
    assert_eq!(c.cmd("COMMIT"), OK);
    for o in &mut observers(&server) {
        for (p, keys) in keys.iter().enumerate() {
            for (i, key) in keys[..7].iter().enumerate() {
                assert_eq!(o.get(key), Some(format!("p{p}-{i}")), "{key}");
            }
            assert_eq!(o.get(&keys[7]), None, "{}", keys[7]);
        }
    }

    // The same through each core port as the coordinator, pipelined.
    for (n, addr) in server.core_addrs().iter().enumerate() {
        let mut c = Client::connect(*addr);
        let mut input = String::from("START\n");
        for keys in &keys {
            for key in keys {
                input.push_str(&format!("PUT {key} round{n}\n"));
            }
        }
        input.push_str("COMMIT\n");
        c.send(input.as_bytes());
        for _ in 0..keys.len() * keys[0].len() + 2 {
            assert_eq!(c.read_response(), OK);
        }
        let mut o = Client::connect(server.shared_addr());
        for keys in &keys {
            for key in keys {
                assert_eq!(o.get(key), Some(format!("round{n}")), "{key}");
            }
        }
    }
}

#[test]
fn empty_and_single_partition_transactions() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("COMMIT"), OK, "an empty transaction commits");
    let keys = common::keys_by_partition(server.topology(), "single", 3);
    for keys in &keys {
        assert_eq!(c.cmd("START"), OK);
        for key in keys {
            assert_eq!(c.cmd(&format!("PUT {key} {key}-v")), OK);
        }
        assert_eq!(c.cmd("COMMIT"), OK);
    }
    let mut o = Client::connect(server.shared_addr());
    for keys in &keys {
        for key in keys {
            assert_eq!(o.get(key), Some(format!("{key}-v")));
        }
    }
}

#[test]
fn too_large_transaction_fails_whole() {
    const MAX_TXN: usize = 4096;
    let mut config = common::config(WORKERS);
    config.max_txn_bytes = MAX_TXN;
    let server = common::start_with(&config);
    let keys = common::keys_by_partition(server.topology(), "big", 4);
    let mut c = Client::connect(server.shared_addr());
    let mut o = Client::connect(server.shared_addr());
    c.put(&keys[0][0], "original");

    assert_eq!(c.cmd("START"), OK);
    // Small writes on every partition first: they must not survive either.
    for keys in &keys {
        assert_eq!(c.cmd(&format!("PUT {} small", keys[0])), OK);
        assert_eq!(c.cmd(&format!("DEL {}", keys[1])), OK);
    }
    let value = "x".repeat(1000);
    let mut failed = None;
    for i in 0..MAX_TXN / 1000 + 2 {
        let line = c.cmd(&format!("PUT {}{i} {value}", keys[i % 4][2]));
        if line != OK {
            failed = Some(line);
            break;
        }
    }
    let failed = failed.expect("a write past --max-txn-bytes fails");
    let mesg = error_mesg(&failed);
    assert!(mesg.starts_with("transaction too large"), "{mesg}");
    // Later writes fail too, even small ones.
    let mesg = error_mesg(&c.cmd("PUT tiny 1"));
    assert!(mesg.starts_with("transaction too large"), "{mesg}");
    let mesg = error_mesg(&c.cmd("DEL tiny"));
    assert!(mesg.starts_with("transaction too large"), "{mesg}");
    // COMMIT refuses and applies nothing.
    let mesg = error_mesg(&c.cmd("COMMIT"));
    assert!(mesg.starts_with("transaction too large"), "{mesg}");
    for client in [&mut c, &mut o] {
        assert_eq!(client.get(&keys[0][0]).as_deref(), Some("original"));
        for keys in &keys[1..] {
            assert_eq!(client.get(&keys[0]), None);
        }
        assert_eq!(client.get("tiny"), None);
    }
    // The failed COMMIT ended the transaction; the connection works and a
    // new transaction within the limit commits.
    assert_eq!(c.cmd("ROLLBACK"), error(NO_TXN));
    c.put("afterbig", "1");
    assert_eq!(o.get("afterbig").as_deref(), Some("1"));
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd(&format!("PUT {} {value}", keys[1][0])), OK);
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(o.get(&keys[1][0]), Some(value.clone()));

    // ROLLBACK is the other way out of a too-large transaction.
    assert_eq!(c.cmd("START"), OK);
    for i in 0..MAX_TXN / 1000 + 2 {
        if c.cmd(&format!("PUT rb{i} {value}")) != OK {
            break;
        }
    }
    assert_eq!(c.cmd("ROLLBACK"), OK);
    assert_eq!(o.get("rb0"), None);
    assert_eq!(c.cmd("PING"), PONG);
}

#[test]
fn second_start_is_an_error_and_keeps_the_open_transaction() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let mut o = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT kept 1"), OK);
    assert_eq!(c.cmd("START"), error("transaction already started"));
    assert_eq!(c.cmd("start"), error("transaction already started"));
    // Still in the same transaction: its write is visible to itself only.
    assert_eq!(c.cmd("GET kept"), ok_result("1"));
    assert_eq!(o.get("kept"), None);
    assert_eq!(c.cmd("PUT kept2 2"), OK);
    assert_eq!(o.get("kept2"), None);
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(o.get("kept").as_deref(), Some("1"));
    assert_eq!(o.get("kept2").as_deref(), Some("2"));
    // And the transaction is over.
    assert_eq!(c.cmd("COMMIT"), error(NO_TXN));
}

#[test]
fn bad_commands_inside_a_transaction_keep_it_open() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let mut o = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT t1 1"), OK);
    assert_eq!(
        c.cmd("PUT t2"),
        error("wrong number of arguments for 'PUT' (usage: PUT key value)")
    );
    assert_eq!(c.cmd("FROB"), error("unknown command 'FROB' (try HELP)"));
    assert_eq!(
        c.cmd_bytes(b"PUT t3 \xff"),
        error("invalid UTF-8 in command line")
    );
    assert_eq!(c.cmd("PING"), PONG);
    assert_eq!(o.get("t1"), None);
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(o.get("t1").as_deref(), Some("1"));
    assert_eq!(o.get("t2"), None);
    assert_eq!(o.get("t3"), None);
}

#[test]
fn other_connections_writes_stay_visible_and_commit_overwrites() {
    let server = server();
    let mut c = Client::connect(server.shared_addr());
    let mut o = Client::connect(server.shared_addr());
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT mine txn"), OK);
    // Another client writes keys meanwhile; the transaction reads them
    // (no snapshot) for keys it did not write, and its own for the others.
    o.put("theirs", "plain");
    o.put("mine", "plain");
    assert_eq!(c.cmd("GET theirs"), ok_result("plain"));
    assert_eq!(c.cmd("GET mine"), ok_result("txn"));
    assert_eq!(c.cmd("COMMIT"), OK);
    assert_eq!(o.get("mine").as_deref(), Some("txn"));
}

/// WATCH cannot grow server memory without bound: past 100,000 watched keys
/// a connection gets an error until it UNWATCHes (regression guard).
#[test]
fn watched_keys_are_bounded_per_connection() {
    let server = common::start(2);
    let mut c = Client::connect(server.shared_addr());
    let mut lines = String::new();
    for i in 0..100_000 {
        lines.push_str(&format!("WATCH w{i}\n"));
    }
    let mut writer = c.writer();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(lines.as_bytes()).unwrap();
    });
    for _ in 0..100_000 {
        assert_eq!(c.read_response(), "{\"status\": \"Ok\"}");
    }
    sender.join().unwrap();
    let over = c.cmd("WATCH one-too-many");
    assert!(over.contains("too many watched keys"), "{over}");
    assert_eq!(c.cmd("UNWATCH"), "{\"status\": \"Ok\"}");
    assert_eq!(c.cmd("WATCH again"), "{\"status\": \"Ok\"}");
    // The connection still works, and a transaction after it commits.
    assert_eq!(c.cmd("START"), "{\"status\": \"Ok\"}");
    assert_eq!(c.cmd("PUT again 1"), "{\"status\": \"Ok\"}");
    assert_eq!(c.cmd("COMMIT"), "{\"status\": \"Ok\"}");
}
