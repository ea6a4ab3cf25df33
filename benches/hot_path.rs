//! Micro-benchmarks of the request hot path: parsing, response encoding, the
//! partition's store, and `Partition::execute` (store + encode).
//!
//! Run: `cargo bench --bench hot_path` (all groups, about a minute after the
//! build), `cargo bench --bench hot_path -- store` (one group, a regex on
//! the benchmark ids), or `-- --quick` for a rough pass. Criterion keeps the
//! last run in `target/criterion/` and prints the change against it.
//!
//! Keys are 16 bytes (`key:000000000123`), values 32 bytes. The `store` and
//! `execute` groups work on 1M keys, probed in a shuffled order so that each
//! lookup lands on a cold entry, as in a server with uniformly random keys.

use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;

use corekv::partition::{OpKind, OpRef, Partition, Store};
use corekv::reply::Dialect;
use corekv::resp::{self, Limits};
use corekv::{protocol, response};
use corekv_router::resp::request;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Commands in one pipelined parse buffer.
const PIPELINE: usize = 64;
/// Keys in the `store` and `execute` data sets.
const KEYS: usize = 1_000_000;
/// The server's default limits (`--max-line-bytes`, `--max-request-bytes`).
const MAX_LINE: usize = 1 << 20;
const LIMITS: Limits = Limits {
    max_bulk: 1 << 20,
    max_request: 64 << 20,
};
/// A 32-byte value without bytes that JSON escapes.
const VALUE: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
/// A 32-byte value with 8 bytes that JSON escapes (quotes, backslash,
/// newline, tab, and control bytes written as `\u00XX`).
const VALUE_ESCAPED: &[u8; 32] = b"say \"hi\"\n\tC:\\dir\\x \x01\x02 end!!!!!!!";

/// The `i`-th key: `key:` and 12 digits, 16 bytes.
fn key(i: usize) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// Keys `0..n` in a fixed pseudo-random order (Fisher–Yates, xorshift64).
fn shuffled_keys(n: usize) -> Vec<[u8; 16]> {
    let mut keys: Vec<[u8; 16]> = (0..n).map(key).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        keys.swap(i, (state % (i as u64 + 1)) as usize);
    }
    keys
}

/// The same keys with another prefix (`kez:`): none of them is stored.
fn absent(keys: &[[u8; 16]]) -> Vec<[u8; 16]> {
    keys.iter()
        .map(|k| {
            let mut k = *k;
            k[2] = b'z';
            k
        })
        .collect()
}

/// Hands out `keys` in order, round and round.
struct Cycle<'a> {
    keys: &'a [[u8; 16]],
    next: usize,
}

impl<'a> Cycle<'a> {
    fn new(keys: &'a [[u8; 16]]) -> Self {
        Self { keys, next: 0 }
    }

    #[inline]
    fn next_key(&mut self) -> &'a [u8] {
        let k = &self.keys[self.next];
        self.next += 1;
        if self.next == self.keys.len() {
            self.next = 0;
        }
        k
    }
}

fn text_buffer(line: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    (0..PIPELINE).flat_map(|i| line(&key(100 + i))).collect()
}

fn resp_buffer(args: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    (0..PIPELINE).flat_map(|i| args(&key(100 + i))).collect()
}

/// Parses every text command in `buf`; returns how many.
#[inline]
fn parse_text_all(buf: &[u8]) -> usize {
    let (mut pos, mut n) = (0, 0);
    while pos < buf.len() {
        match protocol::parse(&buf[pos..], MAX_LINE) {
            protocol::Parsed::Complete { command, consumed } => {
                black_box(command);
                pos += consumed;
                n += 1;
            }
            other => panic!("unexpected parse result {other:?}"),
        }
    }
    n
}

/// Parses every RESP request in `buf`; returns how many.
#[inline]
fn parse_resp_all(buf: &[u8], args: &mut Vec<Range<usize>>) -> usize {
    let (mut pos, mut n) = (0, 0);
    while pos < buf.len() {
        match resp::parse(&buf[pos..], LIMITS, args) {
            resp::Parsed::Complete { consumed } => {
                black_box(&*args);
                pos += consumed;
                n += 1;
            }
            other => panic!("unexpected parse result {other:?}"),
        }
    }
    n
}

fn parse(c: &mut Criterion) {
    let text_get = text_buffer(|k| [b"GET ", k, b"\n"].concat());
    let text_put = text_buffer(|k| [b"PUT ", k, b" ", VALUE, b"\n"].concat());
    let resp_get = resp_buffer(|k| request(&[b"GET", k]));
    let resp_set = resp_buffer(|k| request(&[b"SET", k, VALUE]));
    let mut args = Vec::with_capacity(8);
    assert_eq!(parse_text_all(&text_get), PIPELINE);
    assert_eq!(parse_text_all(&text_put), PIPELINE);
    assert_eq!(parse_resp_all(&resp_get, &mut args), PIPELINE);
    assert_eq!(parse_resp_all(&resp_set, &mut args), PIPELINE);

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("text_get_x64", |b| {
        b.iter(|| parse_text_all(black_box(&text_get)))
    });
    g.bench_function("text_put_x64", |b| {
        b.iter(|| parse_text_all(black_box(&text_put)))
    });
    g.bench_function("resp_get_x64", |b| {
        b.iter(|| parse_resp_all(black_box(&resp_get), &mut args))
    });
    g.bench_function("resp_set_x64", |b| {
        b.iter(|| parse_resp_all(black_box(&resp_set), &mut args))
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut out = Vec::with_capacity(256);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(32));
    g.bench_function("json_ok_value_plain_32", |b| {
        b.iter(|| {
            out.clear();
            response::ok_value(&mut out, black_box(VALUE));
            black_box(&out);
        })
    });
    g.bench_function("json_ok_value_escaped_32", |b| {
        b.iter(|| {
            out.clear();
            response::ok_value(&mut out, black_box(VALUE_ESCAPED));
            black_box(&out);
        })
    });
    g.bench_function("resp_bulk_32", |b| {
        b.iter(|| {
            out.clear();
            resp::encode::bulk(&mut out, black_box(VALUE));
            black_box(&out);
        })
    });
    g.finish();
}

/// A prefetch pass over a batch of 16 keys.
type Prefetch<'a> = &'a dyn Fn(&[&[u8]; 16]);

/// One benchmark of 16 lookups per iteration, keys taken in turn from
/// `keys`, each passed to `lookup`; first handed all together to
/// `prefetch` when there is one (a partition's prefetch pass).
fn x16(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    keys: &[[u8; 16]],
    prefetch: Option<Prefetch<'_>>,
    mut lookup: impl FnMut(&[u8]),
) {
    let mut probe = Cycle::new(keys);
    g.bench_function(name, |b| {
        b.iter(|| {
            let batch: [&[u8]; 16] = std::array::from_fn(|_| probe.next_key());
            if let Some(prefetch) = prefetch {
                prefetch(&batch);
            }
            for k in batch {
                lookup(k);
            }
        })
    });
}

fn store(c: &mut Criterion) {
    let hits = shuffled_keys(KEYS);
    let misses = absent(&hits);
    let mut store = Store::default();
    for k in &hits {
        store.put(k, VALUE);
    }
    assert_eq!(store.len(), KEYS);

    let mut g = c.benchmark_group("store");
    let mut probe = Cycle::new(&hits);
    g.bench_function("get_hit", |b| {
        b.iter(|| black_box(store.get(probe.next_key())))
    });
    // A pipelined batch of 16 GETs as a partition runs one: each lookup
    // in turn, or after prefetching the whole batch. The keys come in an
    // order unrelated to the order they were stored in (as clients ask),
    // so neighbouring lookups share no cache lines.
    let scattered: Vec<[u8; 16]> = (0..KEYS).map(|i| hits[i * 104_729 % KEYS]).collect();
    x16(&mut g, "get_hit_x16", &scattered, None, |k| {
        black_box(store.get(k));
    });
    x16(
        &mut g,
        "get_hit_x16_prefetched",
        &scattered,
        Some(&|keys| store.prefetch(keys.iter().copied())),
        |k| {
            black_box(store.get(k));
        },
    );
    let mut probe = Cycle::new(&misses);
    g.bench_function("get_miss", |b| {
        b.iter(|| black_box(store.get(probe.next_key())))
    });
    let mut probe = Cycle::new(&hits);
    g.bench_function("put_overwrite_same_len", |b| {
        b.iter(|| store.put(probe.next_key(), black_box(VALUE)))
    });
    // Insert of a new key (two allocations, slab slot from the free list)
    // then its removal: the store stays at 1M keys.
    let mut probe = Cycle::new(&misses);
    g.bench_function("put_del_churn", |b| {
        b.iter(|| {
            let k = probe.next_key();
            store.put(k, black_box(VALUE));
            black_box(store.del(k))
        })
    });
    // The same with a 200-byte value: its entry comes from the partition's
    // own 16-byte size classes (`partition/arena.rs`), not from mimalloc.
    let big = [b'v'; 200];
    let mut probe = Cycle::new(&misses);
    g.bench_function("put_del_churn_200", |b| {
        b.iter(|| {
            let k = probe.next_key();
            store.put(k, black_box(&big));
            black_box(store.del(k))
        })
    });
    // SISMEMBER's lookup in a set of 1M members, 16 per iteration as a
    // pipelined batch: one by one, or after prefetching the batch.
    let mut set = corekv::partition::coll::Dict::default();
    for k in &hits {
        set.insert(k, b"");
    }
    x16(&mut g, "set_member_x16", &scattered, None, |k| {
        black_box(set.contains(k));
    });
    x16(
        &mut g,
        "set_member_x16_prefetched",
        &scattered,
        Some(&|keys| set.prefetch(keys.iter().copied())),
        |k| {
            black_box(set.contains(k));
        },
    );
    drop(set);
    g.finish();
    assert_eq!(store.len(), KEYS);
    // Freeing 1M entries takes a while; do it outside any measurement.
    drop(store);
}

fn execute(c: &mut Criterion) {
    let hits = shuffled_keys(KEYS);
    let mut partition = Partition::default();
    let mut out = Vec::with_capacity(256);
    for k in &hits {
        let op = OpRef {
            kind: OpKind::Put,
            key: k,
            value: VALUE,
        };
        partition.execute(Dialect::Resp, op, &mut out);
        out.clear();
    }
    assert_eq!(partition.store().len(), KEYS);

    let mut g = c.benchmark_group("execute");
    for (dialect, name) in [(Dialect::Text, "text"), (Dialect::Resp, "resp")] {
        let mut probe = Cycle::new(&hits);
        g.bench_function(format!("{name}_get_hit"), |b| {
            b.iter(|| {
                out.clear();
                let op = OpRef {
                    kind: OpKind::Get,
                    key: probe.next_key(),
                    value: b"",
                };
                partition.execute(dialect, black_box(op), &mut out);
                black_box(&out);
            })
        });
        // Text `PUT` and RESP `SET` both run as `OpKind::Put`: an overwrite
        // with a value of the same length.
        let mut probe = Cycle::new(&hits);
        g.bench_function(format!("{name}_set_overwrite"), |b| {
            b.iter(|| {
                out.clear();
                let op = OpRef {
                    kind: OpKind::Put,
                    key: probe.next_key(),
                    value: VALUE,
                };
                partition.execute(dialect, black_box(op), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
    // Dropping the partition (1M entries) happens outside the measurements.
    drop(partition);
}

/// Short runs: the whole file takes about a minute. Command-line flags
/// (`--measurement-time`, `--sample-size`, `--quick`) still override these.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, encode, store, execute
}
criterion_main!(benches);
