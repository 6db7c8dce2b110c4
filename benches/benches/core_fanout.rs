#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Fan-out within one shard: one QoS 0 PUBLISH (64-byte payload, MQTT 5) handled by a
//! `Shard` through to the encoded output of 1, 100 and 10,000 subscribers.
//!
//! Every subscriber is an MQTT 5 client subscribed at QoS 0 to the exact topic. One iteration
//! is one message: `handle_bytes` on the publisher's connection with one PUBLISH frame (split
//! off a pre-filled read buffer, as a runtime's buffer holds it), then `poll_output` drained
//! with `take_transmit` for every subscriber (one write each). The time is per message; the
//! throughput Criterion prints is in deliveries per second, so time ÷ subscribers is the
//! cost per subscriber.

mod core_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use core_common::{drain_transmits, frame, publish, Rig, NOW, TOPIC};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use mqtt_proto::{Packet, QoS};
use ringmq_benches::repeated;

/// A shard with a publisher and `n` subscribers of [`TOPIC`]; returns the rig and the
/// publisher's connection.
fn rig(n: usize) -> (Rig, mqtt_core::ConnId) {
    let mut rig = Rig::new(1);
    let publisher = rig.connect(0, "publisher");
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        let c = rig.connect(0, &format!("sub-{i}"));
        rig.subscribe(0, c, TOPIC, QoS::AtMostOnce);
        subs.push(c);
    }
    // One message through the checking path: every subscriber gets exactly the PUBLISH.
    rig.send(0, publisher, &frame(publish(QoS::AtMostOnce, 1)));
    for c in subs {
        match rig.recv(c).as_slice() {
            [Packet::Publish(p)] => {
                assert_eq!(p.topic, TOPIC);
                assert_eq!(&p.payload[..], &ringmq_benches::PAYLOAD_64[..]);
            }
            other => panic!("subscriber {c:?} got {other:?}"),
        }
    }
    assert!(rig.recv(publisher).is_empty());
    (rig, publisher)
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_fanout");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    let msg = frame(publish(QoS::AtMostOnce, 1));
    for n in [1usize, 100, 10_000] {
        let (mut rig, publisher) = rig(n);
        let shard = &mut rig.shards[0];
        // One message per read buffer split; a batch of them per pre-filled buffer.
        let batch = (100_000 / n).clamp(1, 1024) as u64;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("qos0_subscribers", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min(batch);
                    let mut read = repeated(&msg, k as usize);
                    let start = Instant::now();
                    for _ in 0..k {
                        let mut one: BytesMut = read.split_to(msg.len());
                        shard.handle_bytes(publisher, &mut one, NOW);
                        let (conns, _) = drain_transmits(shard);
                        debug_assert!(one.is_empty() && conns == n);
                        black_box(conns);
                    }
                    total += start.elapsed();
                    left -= k;
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
