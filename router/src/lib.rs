//! Where a key lives in corekv: key → slot → partition.
//!
//! corekv places keys exactly as Redis Cluster does, so that any cluster-aware
//! client computes the same placement:
//!
//! ```text
//!   key ──hash tag──▶ hashed bytes ──CRC16/XMODEM mod 16384──▶ slot ──Topology──▶ partition
//! ```
//!
//! * [`hash_slot`] — `CRC16-XMODEM(hashed part of key) mod 16384`, where the
//!   hashed part is the text between the first `{` and the following `}` when
//!   that text is non-empty (a *hash tag*), else the whole key.
//! * [`Topology`] — which partition owns which contiguous slot range, and on
//!   which port a partition's worker listens.
//! * [`resp::request`] — a command as a RESP2 request, the one encoder the
//!   server's tests, benchmarks, fuzz targets and the load generator share.
//!
//! This crate knows nothing of the server: the server uses it to forward
//! commands between workers, clients use it to send each key to its owner.
//!
//! With the `client` feature it also has `Client`, an async (tokio) smart
//! client that reads the server's topology and talks to each key's owner
//! directly (see the `client` module). Without it the crate has no
//! dependencies.

#[cfg(feature = "client")]
pub mod client;
pub mod cluster;
mod crc16;
pub mod resp;
mod topology;

#[cfg(feature = "client")]
pub use client::{Client, Transaction};
pub use crc16::crc16;
pub use topology::{PartitionInfo, SlotRange, Topology, TopologyError};

/// Number of hash slots, as in Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The name of the slot function, as `TOPOLOGY` reports it:
/// `CRC16-XMODEM(hashed part of key) mod 16384`.
pub const HASH_NAME: &str = "crc16-xmodem";

/// A hash slot, `0..SLOT_COUNT`.
pub type Slot = u16;

/// The part of `key` that is hashed: the hash tag if the key has a non-empty
/// one (`{user42}.name` → `user42`), else the whole key.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// The slot of `key`: `CRC16-XMODEM(hashed_part(key)) mod 16384`.
pub fn hash_slot(key: &[u8]) -> Slot {
    crc16(hashed_part(key)) % SLOT_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_redis_cluster_slots() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"bar"), 5061);
        assert_eq!(hash_slot(b"hello"), 866);
        assert_eq!(hash_slot(b""), 0);
        assert_eq!(hash_slot(b"123456789"), 0x31C3 % SLOT_COUNT);
    }

    #[test]
    fn hash_tags_group_keys() {
        assert_eq!(
            hash_slot(b"{user1000}.following"),
            hash_slot(b"{user1000}.followers")
        );
        assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"user1000"));
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar");
    }

    #[test]
    fn empty_or_unclosed_tags_hash_whole_key() {
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hashed_part(b"foo{bar"), b"foo{bar");
        assert_eq!(hashed_part(b"}foo{"), b"}foo{");
        assert_eq!(hashed_part(b"{}"), b"{}");
    }

    proptest! {
        #[test]
        fn slot_is_in_range_and_stable(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let slot = hash_slot(&key);
            prop_assert!(slot < SLOT_COUNT);
            prop_assert_eq!(slot, hash_slot(&key));
        }

        #[test]
        fn tagged_keys_share_a_slot(tag in "[a-z0-9]{1,12}", a in "[a-z.]{0,8}", b in "[a-z.]{0,8}") {
            let ka = format!("{{{tag}}}{a}");
            let kb = format!("{b}{{{tag}}}x");
            // `b` has no braces, so the first `{` in kb opens the tag.
            prop_assert_eq!(hash_slot(ka.as_bytes()), hash_slot(kb.as_bytes()));
            prop_assert_eq!(hash_slot(ka.as_bytes()), hash_slot(tag.as_bytes()));
        }
    }
}
