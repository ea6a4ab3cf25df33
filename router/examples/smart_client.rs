//! The smart client against a running server:
//!
//! ```text
//! cargo run --bin corekv &                                  # a server on 9888
//! cargo run -p corekv-router --features client --example smart_client
//! ```
//!
//! It connects to 127.0.0.1:9888 (or `COREKV_HOST` / `COREKV_PORT`), reads the
//! topology, and then talks to each key's owning worker on its core port.

use corekv_router::client::Result;
use corekv_router::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let host = std::env::var("COREKV_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("COREKV_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9888);

    let client = Client::connect(&host, port).await?;
    client.ping().await?;
    println!(
        "connected to {host}:{port}: {} partitions on core ports {:?}",
        client.topology().len(),
        (0..client.topology().len())
            .map(|p| client.port_of_partition(p))
            .collect::<Vec<_>>()
    );

    // One key: one round trip to its owner.
    client.put("greeting", "hello, world").await?;
    println!(
        "greeting (partition {}, port {}) = {:?}",
        client.partition_of_key("greeting"),
        client.port_of_key("greeting"),
        client.get("greeting").await?
    );

    // Many keys: grouped by owner, pipelined, all partitions at once.
    let pairs: Vec<(String, String)> = (0..10)
        .map(|i| (format!("user:{i}"), format!("name {i}")))
        .collect();
    client.put_many(&pairs).await?;
    let mut keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    keys.push("user:absent".into());
    for (key, value) in keys.iter().zip(client.get_many(&keys).await?) {
        println!("{key} = {value:?}");
    }

    // A transfer: both writes or neither. The hash tag keeps both keys on
    // one partition, so the commit needs no cross-partition round.
    client.put("{acct}.alice", "100").await?;
    client.put("{acct}.bob", "100").await?;
    let mut tx = client.transaction();
    let alice: i64 = tx
        .get("{acct}.alice")
        .await?
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    let bob: i64 = tx
        .get("{acct}.bob")
        .await?
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    tx.put("{acct}.alice", &(alice - 10).to_string()).await?;
    tx.put("{acct}.bob", &(bob + 10).to_string()).await?;
    tx.commit().await?;
    println!(
        "after transfer: alice = {:?}, bob = {:?}",
        client.get("{acct}.alice").await?,
        client.get("{acct}.bob").await?
    );

    // A rolled-back transaction leaves nothing behind.
    let mut tx = client.transaction();
    tx.put("scratch", "temporary").await?;
    tx.rollback().await?;
    println!(
        "scratch after rollback = {:?}",
        client.get("scratch").await?
    );

    // Invalid input is refused before anything is sent.
    if let Err(e) = client.put("two words", "x").await {
        println!("refused: {e}");
    }

    println!("commands sent per partition: {:?}", client.commands_sent());
    Ok(())
}
