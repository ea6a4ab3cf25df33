//! `STATS`, `DBSIZE` and `FLUSH` in the text protocol: real numbers per
//! partition and in total, summed over the workers by message passing.

mod common;

use common::{ok_result, Client, OK};

fn stats(c: &mut Client) -> serde_json::Value {
    let line = c.cmd("STATS");
    let v: serde_json::Value = serde_json::from_str(&line).expect("STATS is JSON");
    assert_eq!(v["status"], "Ok", "{line}");
    v["result"].clone()
}

#[test]
fn stats_dbsize_and_flush() {
    let server = common::start(4);
    let mut c = Client::connect(server.shared_addr());
    let before = stats(&mut c);
    assert_eq!(before["partitions"].as_array().unwrap().len(), 4);
    assert_eq!(before["total"]["keys"], 0);
    for i in 0..100 {
        assert_eq!(c.cmd(&format!("PUT k{i} value-{i}")), OK);
    }
    for i in 0..100 {
        assert_eq!(
            c.cmd(&format!("GET k{i}")),
            ok_result(&format!("value-{i}"))
        );
    }
    for i in 0..10 {
        c.cmd(&format!("GET missing{i}"));
    }
    assert_eq!(c.cmd("PUTEX t 100 v"), OK);
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT a 1"), OK);
    assert_eq!(c.cmd("PUT b 2"), OK);
    assert_eq!(c.cmd("PUT c 3"), OK);
    assert_eq!(c.cmd("COMMIT"), OK);
    // A transaction whose watched key changed applies nothing.
    assert_eq!(c.cmd("WATCH a"), OK);
    assert_eq!(c.cmd("PUT a 9"), OK);
    assert_eq!(c.cmd("START"), OK);
    assert_eq!(c.cmd("PUT a 1"), OK);
    assert_eq!(c.cmd("PUT foo 2"), OK);
    assert!(c.cmd("COMMIT").contains("watched key changed"));
    assert_eq!(c.cmd("DBSIZE"), ok_result("104"));
    let s = stats(&mut c);
    let total = &s["total"];
    assert_eq!(total["keys"], 104);
    assert_eq!(total["keys_with_ttl"], 1);
    assert_eq!(total["hits"], 100);
    assert_eq!(total["misses"], 10);
    assert_eq!(total["txn_committed_cross"], 1, "a, b, c span partitions");
    assert_eq!(total["txn_aborted_cross"], 1, "a and foo span partitions");
    assert_eq!(total["txn_aborted_single"], 0);
    assert!(total["memory_bytes"].as_u64().unwrap() > 104 * 24);
    assert!(total["commands"].as_u64().unwrap() >= 216);
    assert_eq!(total["connections"], 1);
    let per_partition: u64 = s["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(per_partition, 104);
    // FLUSH empties every partition and gives the memory back.
    assert_eq!(c.cmd("FLUSH"), OK);
    assert_eq!(c.cmd("DBSIZE"), ok_result("0"));
    let after = stats(&mut c);
    assert_eq!(after["total"]["keys"], 0);
    assert_eq!(after["total"]["keys_with_ttl"], 0);
    assert_eq!(after["total"]["memory_bytes"], 0);
    assert_eq!(c.cmd("GET k1"), common::error("key not found"));
}
