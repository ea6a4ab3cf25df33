//! Micro-benchmarks of key routing: key → slot (CRC16, hash tags) →
//! partition.
//!
//! Run: `cargo bench -p corekv-router --bench slot` (a few seconds after the
//! build), or add `-- --quick` for a rough pass.

use std::hint::black_box;
use std::time::Duration;

use corekv_router::{crc16, hash_slot, Topology};
use criterion::{criterion_group, criterion_main, Criterion};

/// Distinct keys per benchmark, cycled through (small enough to stay in L1).
const KEYS: usize = 256;

/// 16-byte keys: `key:` and 12 digits.
fn plain_keys() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| format!("key:{:012}", i * 7919).into_bytes())
        .collect()
}

/// 20-byte keys whose slot comes from an 8-byte hash tag:
/// `{user0123}.profile`-style, the tag first as Redis Cluster clients write it.
fn tagged_keys() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| format!("{{u:{:06}}}.profile", i * 7919 % 1_000_000).into_bytes())
        .collect()
}

/// Runs `f` over `keys` round and round, one key per iteration.
fn bench_keys(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    keys: &[Vec<u8>],
    mut f: impl FnMut(&[u8]) -> usize,
) {
    let mut i = 0;
    c.bench_function(id, |b| {
        b.iter(|| {
            let k = &keys[i];
            i = (i + 1) % keys.len();
            f(black_box(k))
        })
    });
}

fn slot(c: &mut Criterion) {
    let plain = plain_keys();
    let tagged = tagged_keys();
    assert!(plain.iter().all(|k| k.len() == 16));
    // The tag decides the slot.
    assert_eq!(hash_slot(&tagged[1]), hash_slot(&tagged[1][1..9]));
    let topology = Topology::even(8).expect("8 partitions");

    let mut g = c.benchmark_group("slot");
    bench_keys(&mut g, "crc16_16b", &plain, |k| usize::from(crc16(k)));
    bench_keys(&mut g, "hash_slot_16b", &plain, |k| {
        usize::from(hash_slot(k))
    });
    bench_keys(&mut g, "hash_slot_tagged", &tagged, |k| {
        usize::from(hash_slot(k))
    });
    bench_keys(&mut g, "partition_of_key_16b_8p", &plain, |k| {
        topology.partition_of_key(k)
    });
    g.finish();
}

/// Short runs. Command-line flags (`--measurement-time`, `--sample-size`,
/// `--quick`) still override these.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = slot
}
criterion_main!(benches);
