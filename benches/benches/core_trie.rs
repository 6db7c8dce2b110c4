#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Topic matching in `mqtt_core::subscriptions::FilterTrie` with 10k, 100k and 1M
//! subscriptions, and the time to build the trie.
//!
//! The subscriptions look like an IoT fleet (`site/{s}/device/{d}/{metric}`); each site
//! holds 1,000 (filter, subscriber) entries, all distinct filters:
//!
//! * 800 exact: `site/{s}/device/{d}/{metric}` for 100 devices × 8 metrics;
//! * 100 `+` at the end: `site/{s}/device/{d}/+` for the same devices;
//! * 90 `#`: `site/{s}/device/{d}/#` for 90 other devices;
//! * 8 `+` in the middle: `site/{s}/device/+/{metric}`;
//! * `site/{s}/#` and `site/{s}/+/+/alarm`.
//!
//! Site 0 is a "hot" device watched by many: 16 filters that all match
//! `site/0/device/0/temp` (every mix of `+` for its last three levels, and `#` after each
//! prefix), with 64 subscribers each, 1,024 entries. The rest of the entries fill sites 1, 2, …
//!
//! * `few`: `site/{s}/device/42/temp` in a middle site matches 4 entries (exact, `…/42/+`,
//!   `…/+/temp`, `site/{s}/#`);
//! * `many`: `site/0/device/0/temp` matches the 1,024 hot entries.
//!
//! Each match calls a closure that counts and sums the keys (what a router at least does).
//! `build` inserts every entry into an empty trie (filter strings made beforehand; the drop
//! is not timed). The 1M size is made only in a measuring run (`cargo bench`), not in the
//! single pass of `cargo test --benches`.

mod core_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mqtt_core::subscriptions::FilterTrie;

const METRICS: [&str; 8] = [
    "temp", "hum", "co2", "pm25", "battery", "rssi", "status", "door",
];
/// Entries per ordinary site.
const PER_SITE: usize = 1000;
/// Subscribers on each hot filter.
const HOT_KEYS: u32 = 64;

/// The 16 filters that match `site/0/device/0/temp`.
const HOT: [&str; 16] = [
    "site/0/device/0/temp",
    "site/0/device/0/+",
    "site/0/device/+/temp",
    "site/0/device/+/+",
    "site/0/+/0/temp",
    "site/0/+/0/+",
    "site/0/+/+/temp",
    "site/0/+/+/+",
    "site/0/#",
    "site/0/device/#",
    "site/0/device/0/#",
    "site/0/device/0/temp/#",
    "site/0/+/#",
    "site/0/device/+/#",
    "site/0/+/0/#",
    "site/0/+/+/#",
];

/// The 1,000 filters of ordinary site `s`.
fn site_filters(s: usize, out: &mut Vec<String>) {
    for d in 0..100 {
        for m in METRICS {
            out.push(format!("site/{s}/device/{d}/{m}"));
        }
    }
    for d in 0..100 {
        out.push(format!("site/{s}/device/{d}/+"));
    }
    for d in 100..190 {
        out.push(format!("site/{s}/device/{d}/#"));
    }
    for m in METRICS {
        out.push(format!("site/{s}/device/+/{m}"));
    }
    out.push(format!("site/{s}/#"));
    out.push(format!("site/{s}/+/+/alarm"));
}

/// `n` (filter, key) entries: the hot site, then ordinary sites until `n`. Returns them and
/// the number of complete ordinary sites.
fn entries(n: usize) -> (Vec<(String, u32)>, usize) {
    let mut out = Vec::with_capacity(n);
    let mut key = 0u32;
    for f in HOT {
        for _ in 0..HOT_KEYS {
            out.push((f.to_owned(), key));
            key += 1;
        }
    }
    let mut site = 1;
    let mut filters = Vec::with_capacity(PER_SITE);
    while out.len() < n {
        filters.clear();
        site_filters(site, &mut filters);
        for f in filters.drain(..) {
            if out.len() == n {
                break;
            }
            out.push((f, key));
            key += 1;
        }
        site += 1;
    }
    let full_sites = (n - HOT.len() * HOT_KEYS as usize) / PER_SITE;
    (out, full_sites)
}

fn build(entries: &[(String, u32)]) -> FilterTrie<u32, u32> {
    let mut trie = FilterTrie::new();
    for (f, k) in entries {
        trie.insert(f, *k, *k);
    }
    trie
}

/// Number of matches and the sum of their keys.
#[inline]
fn match_topic(trie: &FilterTrie<u32, u32>, topic: &str) -> (u32, u64) {
    let mut n = 0u32;
    let mut sum = 0u64;
    trie.for_each_match(topic, |k, v| {
        n += 1;
        sum += u64::from(*k) + u64::from(*v);
    });
    (n, sum)
}

fn sizes() -> Vec<usize> {
    if core_common::measuring() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        vec![10_000, 100_000]
    }
}

fn label(n: usize) -> String {
    match n {
        1_000_000 => "1M".to_owned(),
        n => format!("{}k", n / 1000),
    }
}

fn matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_trie_match");
    g.throughput(Throughput::Elements(1));
    for n in sizes() {
        let (list, full_sites) = entries(n);
        let trie = build(&list);
        drop(list);
        assert_eq!(trie.len(), n);
        eprintln!(
            "trie of {}: {} entries, {} filters, {} nodes",
            label(n),
            trie.len(),
            trie.filter_count(),
            trie.node_count()
        );
        let mid = 1 + full_sites / 2;
        let few = format!("site/{mid}/device/42/temp");
        let many = "site/0/device/0/temp";
        assert_eq!(match_topic(&trie, &few).0, 4, "{few}");
        assert_eq!(match_topic(&trie, many).0, 16 * HOT_KEYS);
        g.bench_with_input(BenchmarkId::new("few_4", label(n)), &few, |b, t| {
            b.iter(|| match_topic(black_box(&trie), black_box(t)));
        });
        g.bench_with_input(BenchmarkId::new("many_1024", label(n)), many, |b, t| {
            b.iter(|| match_topic(black_box(&trie), black_box(t)));
        });
        drop(trie);
    }
    g.finish();
}

fn building(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_trie_build");
    // Each iteration builds a whole trie: few, long samples (a 1M build takes about 0.3 s).
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    for n in sizes() {
        let (list, _) = entries(n);
        g.measurement_time(Duration::from_secs(if n >= 1_000_000 { 10 } else { 3 }));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label(n)), &list, |b, list| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let trie = build(black_box(list));
                    total += start.elapsed();
                    assert_eq!(trie.len(), list.len());
                    // Dropped here, outside the timed part.
                }
                total
            });
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(100)
}

criterion_group! {
    name = benches;
    config = config();
    targets = matching, building
}
criterion_main!(benches);
