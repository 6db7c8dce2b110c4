#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Codec micro-benchmarks: ns per packet for decode and encode.
//!
//! Decode is measured in steady state: one buffer pre-filled with `BATCH` back-to-back copies
//! of the frame (as a socket read buffer holds them) is decoded packet by packet, and the
//! decoded packet is dropped inside the timed loop, as a broker would. Filling the buffer is
//! not timed. Encode writes into a reused `BytesMut` that is cleared per packet.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use mqtt_proto::{DecodeOptions, Packet, ProtocolVersion, Role};
use ringmq_benches::{
    connect_v5, encoded, publish_qos0, publish_qos1_props, repeated, subscribe_10,
};

/// Packets decoded from one pre-filled buffer.
const BATCH: u64 = 1024;

struct Case {
    name: &'static str,
    packet: Packet,
    version: ProtocolVersion,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "publish_qos0_64B/v3.1.1",
            packet: publish_qos0(),
            version: ProtocolVersion::V3_1_1,
        },
        Case {
            name: "publish_qos0_64B/v5",
            packet: publish_qos0(),
            version: ProtocolVersion::V5,
        },
        Case {
            name: "publish_qos1_props/v5",
            packet: publish_qos1_props(),
            version: ProtocolVersion::V5,
        },
        Case {
            name: "connect_props_will/v5",
            packet: connect_v5(),
            version: ProtocolVersion::V5,
        },
        Case {
            name: "subscribe_10_filters/v5",
            packet: subscribe_10(),
            version: ProtocolVersion::V5,
        },
    ]
}

fn options(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions {
        sender: Role::Client,
        ..DecodeOptions::server(v)
    }
}

fn decode_case(g: &mut BenchmarkGroup<'_, WallTime>, case: &Case) {
    let frame = encoded(&case.packet, case.version);
    let opts = options(case.version);
    // The frame must decode back to the same packet, or the numbers mean nothing.
    let mut check = BytesMut::from(&frame[..]);
    let decoded = Packet::decode(&mut check, &opts).unwrap().unwrap();
    assert_eq!(decoded, case.packet, "{}", case.name);
    assert!(check.is_empty());

    g.bench_function(case.name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                let mut buf = repeated(&frame, n as usize);
                let start = Instant::now();
                for _ in 0..n {
                    let p = Packet::decode(black_box(&mut buf), black_box(&opts));
                    black_box(&p);
                    // `p` is dropped here, inside the timed loop.
                }
                total += start.elapsed();
                debug_assert!(buf.is_empty());
                left -= n;
            }
            total
        });
    });
}

fn encode_case(g: &mut BenchmarkGroup<'_, WallTime>, case: &Case) {
    let mut buf = BytesMut::with_capacity(4096);
    case.packet.encode(case.version, &mut buf).unwrap();
    assert_eq!(&buf[..], &encoded(&case.packet, case.version)[..]);
    g.bench_function(case.name, |b| {
        b.iter(|| {
            buf.clear();
            black_box(&case.packet)
                .encode(black_box(case.version), &mut buf)
                .unwrap();
            black_box(&buf);
        });
    });
}

fn codec(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.sampling_mode(SamplingMode::Flat);
    for case in &cases {
        decode_case(&mut g, case);
    }
    g.finish();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.sampling_mode(SamplingMode::Flat);
    for case in &cases {
        encode_case(&mut g, case);
    }
    g.finish();
}

/// Many short samples (about 2 ms each) of equal size, so that the median is robust to a busy
/// machine preempting some of them. Report the median, not the mean; `benches/report.py` also
/// prints the 10th percentile, the uncontended cost.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(1000)
        .nresamples(10_000)
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec
}
criterion_main!(benches);
