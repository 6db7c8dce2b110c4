#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// The counting allocator needs `unsafe impl GlobalAlloc`; this file is its own test binary.
#![allow(unsafe_code)]
//! Heap allocations on the hot path, counted by a global allocator.
//!
//! Decoding a PUBLISH must not allocate: topic, payload and binary properties are slices of the
//! frame, and the property lists keep one entry inline. The only allocation is the one that
//! turns a `Vec`-backed `BytesMut` into shared storage on its first split, once per buffer;
//! each test decodes one packet first to take it, then counts the rest. Encoding into a
//! `BytesMut` with room to spare must not allocate either.
//!
//! Counting is per thread (a thread-local switch), so tests running in parallel do not see
//! each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::{
    ByteString, Bytes, BytesMut, DecodeOptions, Packet, ProtocolVersion, PubAck, Publish,
    PublishProperties, QosPid, Role, UserProperties,
};

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.with(|n| n.set(0));
    ACTIVE.with(|a| a.set(true));
    f();
    ACTIVE.with(|a| a.set(false));
    ALLOCS.with(Cell::get)
}

const N: usize = 256;

fn pid(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

fn user(pairs: &[(&'static str, &'static str)]) -> UserProperties {
    pairs
        .iter()
        .map(|(k, v)| (ByteString::from_static(k), ByteString::from_static(v)))
        .collect()
}

fn publish_qos0() -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("sensors/building-1/floor-3/temp"),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(&[0x5A; 64]),
    })
}

fn publish_qos1(user_properties: UserProperties) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(pid(4242)),
        retain: false,
        topic: ByteString::from_static("sensors/building-1/floor-3/temp"),
        properties: PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(3600),
            content_type: Some(ByteString::from_static("application/json")),
            response_topic: Some(ByteString::from_static("replies/bench-client")),
            correlation_data: Some(Bytes::from_static(b"req-0000000000000001")),
            user_properties,
            ..PublishProperties::default()
        },
        payload: Bytes::from_static(&[0x5A; 64]),
    })
}

fn encoded(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf).unwrap();
    buf.to_vec()
}

/// Decodes `N` back-to-back copies of `p` from one buffer, the first one uncounted, and
/// returns the allocations made while decoding the other `N - 1`. Every packet must decode
/// back to `p`.
fn decode_allocations(p: &Packet, v: ProtocolVersion, opts: &DecodeOptions) -> usize {
    let frame = encoded(p, v);
    let mut buf = BytesMut::with_capacity(frame.len() * N);
    for _ in 0..N {
        buf.extend_from_slice(&frame);
    }
    let mut out = Vec::with_capacity(N);
    // The first split turns the Vec-backed buffer into shared storage: one allocation.
    out.push(Packet::decode(&mut buf, opts).unwrap().unwrap());
    let allocs = allocations(|| {
        for _ in 1..N {
            match Packet::decode(&mut buf, opts) {
                Ok(Some(p)) => out.push(p),
                other => panic!("{other:?}"),
            }
        }
    });
    assert!(buf.is_empty());
    assert_eq!(out.len(), N);
    assert!(out.iter().all(|d| d == p));
    allocs
}

fn server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions {
        sender: Role::Client,
        ..DecodeOptions::server(v)
    }
}

#[test]
fn decoding_a_qos0_publish_does_not_allocate() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        assert_eq!(decode_allocations(&publish_qos0(), v, &server(v)), 0, "{v}");
    }
}

#[test]
fn decoding_a_v5_publish_with_properties_does_not_allocate() {
    let v = ProtocolVersion::V5;
    let opts = server(v);
    assert_eq!(decode_allocations(&publish_qos1(user(&[])), v, &opts), 0);
    // One user property is kept inline.
    let one = user(&[("trace-id", "4bf92f3577b34da6")]);
    assert_eq!(decode_allocations(&publish_qos1(one), v, &opts), 0);
    // A subscription identifier (server to client) is kept inline too.
    let mut p = publish_qos1(user(&[]));
    if let Packet::Publish(publish) = &mut p {
        publish
            .properties
            .subscription_identifiers
            .push(NonZeroU32::new(7).unwrap());
    }
    assert_eq!(decode_allocations(&p, v, &DecodeOptions::client(v)), 0);
}

#[test]
fn decoding_more_user_properties_allocates_at_most_once_per_packet() {
    let v = ProtocolVersion::V5;
    let two = user(&[("trace-id", "4bf92f3577b34da6"), ("source", "gw-7")]);
    let allocs = decode_allocations(&publish_qos1(two), v, &server(v));
    assert!(allocs < N, "{allocs}");
}

#[test]
fn decoding_acks_does_not_allocate() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let ack = Packet::PubAck(PubAck::new(pid(9)));
        assert_eq!(decode_allocations(&ack, v, &server(v)), 0, "{v}");
    }
}

#[test]
fn encoding_a_publish_into_a_roomy_buffer_does_not_allocate() {
    let cases = [
        (publish_qos0(), ProtocolVersion::V3_1_1),
        (publish_qos0(), ProtocolVersion::V5),
        (publish_qos1(user(&[])), ProtocolVersion::V5),
        (
            publish_qos1(user(&[
                ("trace-id", "4bf92f3577b34da6"),
                ("source", "gw-7"),
            ])),
            ProtocolVersion::V5,
        ),
    ];
    for (p, v) in &cases {
        let mut buf = BytesMut::with_capacity(4096);
        let allocs = allocations(|| {
            for _ in 0..N {
                buf.clear();
                p.encode(*v, &mut buf).unwrap();
            }
        });
        assert_eq!(allocs, 0, "{v}");
        assert_eq!(&buf[..], &encoded(p, *v)[..]);
    }
}

/// The counter itself works: a plain `Vec` allocation is seen.
#[test]
fn the_counter_counts() {
    let allocs = allocations(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(100));
        std::hint::black_box(&v);
    });
    assert_eq!(allocs, 1);
}
