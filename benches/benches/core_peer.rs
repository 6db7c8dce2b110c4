#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Cross-shard forwarding of a batch: two shards (`Shard::with_shards(.., 2)`), subscribers
//! on shard 1, a batch of 64 QoS 0 PUBLISHes (64-byte payload, MQTT 5) read on shard 0.
//!
//! One iteration is one batch, all of it timed: `handle_bytes` on shard 0 with the 64 frames
//! in one read buffer, shard 0's outputs drained (one `PeerReady(1)`), `take_peer(1)`,
//! `handle_peer` on shard 1, and shard 1's outputs drained with one `take_transmit` per
//! subscriber (64 PUBLISHes in one write each). The same batch published on shard 1 itself
//! (`same_shard`) is the baseline: the difference is the cost of crossing shards; and the
//! same batch in a one-shard broker (`one_shard_broker`), what a second shard costs local
//! delivery. Criterion's throughput is in messages published per second.

mod core_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use core_common::{client_ids, drain_transmits, frame, publish, Rig, NOW, TOPIC};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use mqtt_core::{ConnId, Output, Shard, ShardId, ShardMsg};
use mqtt_proto::{Packet, QoS};
use ringmq_benches::repeated;

/// Messages per batch.
const BATCH: usize = 64;
/// Batches prepared (untimed) at a time.
const CHUNK: u64 = 256;

struct Setup {
    rig: Rig,
    /// Publisher on shard 0.
    remote: ConnId,
    /// Publisher on shard 1.
    local: ConnId,
}

/// Two shards, one publisher on each, `n` subscribers of [`TOPIC`] on shard 1.
fn setup(n: usize) -> Setup {
    let mut rig = Rig::new(2);
    let remote = rig.connect(0, &client_ids("pub", 0, 2, 1)[0]);
    let local = rig.connect(1, &client_ids("pub", 1, 2, 1)[0]);
    let mut subs = Vec::with_capacity(n);
    for id in client_ids("sub", 1, 2, n) {
        let c = rig.connect(1, &id);
        rig.subscribe(1, c, TOPIC, QoS::AtMostOnce);
        subs.push(c);
    }
    assert_eq!(rig.shards[0].interested_shards(TOPIC), [ShardId(1)]);
    let batch = repeated(&frame(publish(QoS::AtMostOnce, 1)), BATCH);
    for (on, publisher) in [(0, remote), (1, local)] {
        rig.send(on, publisher, &batch);
        for &c in &subs {
            let got = rig.recv(c);
            assert_eq!(got.len(), BATCH, "from shard {on}");
            assert!(got
                .iter()
                .all(|p| matches!(p, Packet::Publish(p) if p.topic == TOPIC)));
        }
    }
    Setup { rig, remote, local }
}

/// Shard 0's outputs after the batch: the one message for shard 1.
#[inline]
fn take_outbox(shard: &mut Shard) -> Option<ShardMsg> {
    let mut msg = None;
    while let Some(o) = shard.poll_output() {
        match o {
            Output::PeerReady(to) => msg = shard.take_peer(to),
            other => panic!("unexpected output on shard 0: {other:?}"),
        }
    }
    msg
}

/// A one-shard broker with a publisher and `n` subscribers of [`TOPIC`].
fn single(n: usize) -> (Rig, ConnId) {
    let mut rig = Rig::new(1);
    let publisher = rig.connect(0, "pub");
    let subs: Vec<ConnId> = (0..n)
        .map(|i| {
            let c = rig.connect(0, &format!("sub-{i}"));
            rig.subscribe(0, c, TOPIC, QoS::AtMostOnce);
            c
        })
        .collect();
    rig.send(
        0,
        publisher,
        &repeated(&frame(publish(QoS::AtMostOnce, 1)), BATCH),
    );
    for c in subs {
        assert_eq!(rig.recv(c).len(), BATCH);
    }
    (rig, publisher)
}

/// Times `round` once per batch of [`BATCH`] frames (buffers filled outside the timing).
fn timed(iters: u64, msg: &[u8], mut round: impl FnMut(&mut BytesMut)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(CHUNK);
        let mut bufs: Vec<BytesMut> = (0..k).map(|_| repeated(msg, BATCH)).collect();
        let start = Instant::now();
        for buf in &mut bufs {
            round(buf);
        }
        total += start.elapsed();
        drop(bufs);
        left -= k;
    }
    total
}

fn forwarding(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_peer");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(BATCH as u64));
    let msg = frame(publish(QoS::AtMostOnce, 1));
    for n in [1usize, 100] {
        let Setup {
            mut rig,
            remote,
            local,
        } = setup(n);
        let [s0, s1] = &mut rig.shards[..] else {
            unreachable!()
        };
        g.bench_function(BenchmarkId::new("cross_shard_batch64", n), |b| {
            b.iter_custom(|iters| {
                timed(iters, &msg, |buf| {
                    s0.handle_bytes(remote, buf, NOW);
                    let peer = take_outbox(s0).unwrap();
                    s1.handle_peer(ShardId(0), peer, NOW);
                    let (conns, _) = drain_transmits(s1);
                    debug_assert!(buf.is_empty() && conns == n);
                    black_box(conns);
                })
            });
        });
        g.bench_function(BenchmarkId::new("same_shard_batch64", n), |b| {
            b.iter_custom(|iters| {
                timed(iters, &msg, |buf| {
                    s1.handle_bytes(local, buf, NOW);
                    let (conns, _) = drain_transmits(s1);
                    debug_assert!(buf.is_empty() && conns == n);
                    black_box(conns);
                })
            });
        });
        drop(rig);
        let (mut rig, publisher) = single(n);
        let s = &mut rig.shards[0];
        g.bench_function(BenchmarkId::new("one_shard_broker_batch64", n), |b| {
            b.iter_custom(|iters| {
                timed(iters, &msg, |buf| {
                    s.handle_bytes(publisher, buf, NOW);
                    let (conns, _) = drain_transmits(s);
                    debug_assert!(buf.is_empty() && conns == n);
                    black_box(conns);
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
