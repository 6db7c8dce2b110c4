#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Session QoS 1 bookkeeping per message, in steady state: one publisher and one subscriber
//! on one shard (MQTT 5, 64-byte payload, window never full).
//!
//! * `qos1_p2p`: the publisher sends a QoS 1 PUBLISH (`handle_bytes`), the shard answers it
//!   with PUBACK and delivers to the subscriber at QoS 1 (a packet identifier taken, an
//!   inflight entry made); both writes are taken (`take_transmit`), the identifier is read
//!   from the subscriber's bytes and its PUBACK fed back (`handle_bytes`), which frees the
//!   entry. One iteration is that whole round.
//! * `qos0_p2p`: the same path at QoS 0 (no acknowledgements), the baseline: the difference
//!   is what QoS 1 costs in both sessions.

mod core_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use core_common::{frame, publish, Rig, NOW, TOPIC};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mqtt_core::{ConnId, Output, Shard};
use mqtt_proto::{Packet, PubAck, QoS};

/// Publications prepared (untimed) in one read buffer.
const CHUNK: u64 = 1024;

/// A shard with a publisher and one subscriber of [`TOPIC`] at `qos`.
fn rig(qos: QoS) -> (Rig, ConnId, ConnId) {
    let mut rig = Rig::new(1);
    let publisher = rig.connect(0, "publisher");
    let subscriber = rig.connect(0, "subscriber");
    rig.subscribe(0, subscriber, TOPIC, qos);
    (rig, publisher, subscriber)
}

/// The packet identifier of the QoS 1 PUBLISH that starts `b` (fixed header, Remaining
/// Length, topic, then the identifier).
#[inline]
fn publish_pid(b: &[u8]) -> u16 {
    assert_eq!(b[0], 0x32, "a QoS 1 PUBLISH");
    let mut i = 1;
    while b[i] & 0x80 != 0 {
        i += 1;
    }
    let topic_len = usize::from(u16::from_be_bytes([b[i + 1], b[i + 2]]));
    let at = i + 3 + topic_len;
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// `k` QoS 1 PUBLISH frames back to back, packet identifiers from `first` (1..=65535).
fn publishes(first: &mut u16, k: u64) -> BytesMut {
    let mut buf = BytesMut::new();
    for _ in 0..k {
        Packet::Publish(publish(QoS::AtLeastOnce, *first))
            .encode(core_common::V5, &mut buf)
            .unwrap();
        *first = first.checked_add(1).unwrap_or(1);
    }
    buf
}

/// Drains the outputs after the PUBLISH: the publisher's PUBACK and the subscriber's
/// PUBLISH, taken. Returns the subscriber's bytes.
#[inline]
fn take_both(shard: &mut Shard, publisher: ConnId, subscriber: ConnId) -> Bytes {
    let mut delivered = None;
    while let Some(o) = shard.poll_output() {
        match o {
            Output::Transmit(c) => {
                let b = shard.take_transmit(c, NOW).unwrap();
                if c == subscriber {
                    delivered = Some(b);
                } else {
                    debug_assert!(c == publisher && b[0] == 0x40);
                    black_box(b);
                }
            }
            other => panic!("unexpected output: {other:?}"),
        }
    }
    delivered.unwrap()
}

fn qos1(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_qos1");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(100);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));

    let (mut r, publisher, subscriber) = rig(QoS::AtLeastOnce);
    // One round through the checking path.
    r.send(0, publisher, &frame(publish(QoS::AtLeastOnce, 1)));
    assert!(matches!(r.recv(publisher).as_slice(), [Packet::PubAck(a)] if a.packet_id.get() == 1));
    let pid = match r.recv(subscriber).as_slice() {
        [Packet::Publish(p)] => p.qos_pid.packet_id().unwrap(),
        other => panic!("{other:?}"),
    };
    r.send(0, subscriber, &frame(Packet::PubAck(PubAck::new(pid))));
    assert!(r.recv(subscriber).is_empty() && r.recv(publisher).is_empty());
    let shard = &mut r.shards[0];
    let mut next_pid = 2u16;
    g.bench_function("qos1_p2p", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            let mut ack = BytesMut::with_capacity(64);
            while left > 0 {
                let k = left.min(CHUNK);
                let mut read = publishes(&mut next_pid, k);
                let start = Instant::now();
                for _ in 0..k {
                    // One frame per read: the publisher waits for nothing, but reads come
                    // one packet at a time here.
                    let len = 2 + usize::from(read[1]);
                    let mut one = read.split_to(len);
                    shard.handle_bytes(publisher, &mut one, NOW);
                    let out = take_both(shard, publisher, subscriber);
                    let pid = publish_pid(&out);
                    ack.extend_from_slice(&[0x40, 0x02]);
                    ack.extend_from_slice(&pid.to_be_bytes());
                    shard.handle_bytes(subscriber, &mut ack, NOW);
                    debug_assert!(ack.is_empty() && shard.poll_output().is_none());
                }
                total += start.elapsed();
                left -= k;
            }
            total
        });
    });
    drop(r);

    let (mut r, publisher, subscriber) = rig(QoS::AtMostOnce);
    r.send(0, publisher, &frame(publish(QoS::AtMostOnce, 1)));
    assert!(matches!(
        r.recv(subscriber).as_slice(),
        [Packet::Publish(_)]
    ));
    let shard = &mut r.shards[0];
    let msg = frame(publish(QoS::AtMostOnce, 1));
    g.bench_function("qos0_p2p", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(CHUNK);
                let mut read = ringmq_benches::repeated(&msg, k as usize);
                let start = Instant::now();
                for _ in 0..k {
                    let mut one = read.split_to(msg.len());
                    shard.handle_bytes(publisher, &mut one, NOW);
                    let out = take_both(shard, publisher, subscriber);
                    black_box(out);
                }
                total += start.elapsed();
                left -= k;
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, qos1);
criterion_main!(benches);
