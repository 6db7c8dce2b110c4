// The counting allocator needs `unsafe impl GlobalAlloc`; this file is its own test binary.
#![allow(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Heap allocations on the client's hot paths, counted by a global allocator: publishing at
//! QoS 0 and QoS 1 (with PUBACKs coming back) and receiving at QoS 0 and QoS 1 allocate
//! nothing per message once the buffers have grown. Counting is per thread.

mod client_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use client_support::*;
use mqtt_core::client::{Event, OutgoingMessage};
use mqtt_proto::{
    ByteString, ConnAckProperties, Packet, PubAck, Publish, PublishProperties, QoS, QosPid,
};

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
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

fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.with(|n| n.set(0));
    ACTIVE.with(|a| a.set(true));
    f();
    ACTIVE.with(|a| a.set(false));
    ALLOCS.with(Cell::get)
}

/// Messages per write (per `take_transmit` or per read buffer).
const BATCH: usize = 64;
const ROUNDS: usize = 100;
/// Rounds that let the buffers and tables reach their steady size.
const WARM: usize = 4;

fn topic() -> ByteString {
    ByteString::from_static("sensors/building-1/floor-3/temp")
}

fn payload() -> Bytes {
    Bytes::from_static(&[0x5A; 64])
}

fn out(qos: QoS) -> OutgoingMessage {
    OutgoingMessage {
        topic: topic(),
        payload: payload(),
        qos,
        retain: false,
        properties: PublishProperties::default(),
    }
}

fn publish_batches(l: &mut Lone, qos: QoS, acks: &mut BytesMut, rounds: usize, batch: usize) {
    for _ in 0..rounds {
        for _ in 0..batch {
            l.client.publish(out(qos), l.now).unwrap();
        }
        drop(l.client.take_transmit());
        if qos != QoS::AtMostOnce {
            // This batch's PUBACKs (4 bytes each).
            let mut these = acks.split_to(4 * batch);
            l.client.handle_bytes(&mut these, l.now);
            assert!(these.is_empty());
            while let Some(e) = l.client.poll_event() {
                assert!(matches!(e, Event::Published { .. }));
            }
        }
    }
}

/// PUBACKs for identifiers 1, 2, 3… in one buffer.
fn pubacks(n: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    for i in 0..n {
        let id = NonZeroU16::new(u16::try_from(i % 65_535 + 1).unwrap()).unwrap();
        Packet::PubAck(PubAck::new(id))
            .encode(mqtt_proto::ProtocolVersion::V5, &mut buf)
            .unwrap();
    }
    buf
}

#[test]
fn publishing_at_qos0_allocates_nothing_per_message() {
    let mut l = Lone::connected(opts("a", V5), ConnAckProperties::default());
    let mut none = BytesMut::new();
    publish_batches(&mut l, QoS::AtMostOnce, &mut none, WARM, BATCH);
    let n = allocations(|| publish_batches(&mut l, QoS::AtMostOnce, &mut none, ROUNDS, BATCH));
    assert_eq!(n, 0, "{n} allocations for {} messages", ROUNDS * BATCH);
}

#[test]
fn publishing_at_qos1_with_pubacks_allocates_nothing_per_message() {
    let mut l = Lone::connected(opts("a", V5), ConnAckProperties::default());
    let mut acks = pubacks(WARM * 2 * BATCH + ROUNDS * BATCH);
    // The first batches, twice as large, grow the inflight table to a size where the
    // tombstones that acks leave are always cleaned in place, and the event queue and the
    // write buffer to theirs.
    publish_batches(&mut l, QoS::AtLeastOnce, &mut acks, WARM, 2 * BATCH);
    let n = allocations(|| publish_batches(&mut l, QoS::AtLeastOnce, &mut acks, ROUNDS, BATCH));
    assert_eq!(n, 0, "{n} allocations for {} messages", ROUNDS * BATCH);
    assert_eq!(l.client.inflight_len(), 0);
}

fn inbound(qos: QoS, rounds: usize) -> Vec<BytesMut> {
    (0..rounds)
        .map(|r| {
            let mut buf = BytesMut::new();
            for i in 0..BATCH {
                let id = NonZeroU16::new(u16::try_from(r * BATCH + i + 1).unwrap()).unwrap();
                Packet::Publish(Publish {
                    dup: false,
                    qos_pid: QosPid::new(qos, id),
                    retain: false,
                    topic: topic(),
                    properties: PublishProperties::default(),
                    payload: payload(),
                })
                .encode(mqtt_proto::ProtocolVersion::V5, &mut buf)
                .unwrap();
            }
            buf
        })
        .collect()
}

fn receive_batches(l: &mut Lone, batches: &mut [BytesMut]) {
    for buf in batches {
        l.client.handle_bytes(buf, l.now);
        assert!(buf.is_empty());
        let mut n = 0;
        while let Some(e) = l.client.poll_event() {
            assert!(matches!(e, Event::Message(_)));
            n += 1;
        }
        assert_eq!(n, BATCH);
        drop(l.client.take_transmit());
    }
}

#[test]
fn receiving_allocates_nothing_per_message() {
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let mut l = Lone::connected(opts("a", V5), ConnAckProperties::default());
        let mut warm = inbound(qos, 4);
        receive_batches(&mut l, &mut warm);
        let mut batches = inbound(qos, ROUNDS);
        // Each read buffer is turned into shared storage once, on its first split.
        let n = allocations(|| receive_batches(&mut l, &mut batches));
        assert!(
            n <= ROUNDS,
            "{qos:?}: {n} allocations for {} messages",
            ROUNDS * BATCH
        );
    }
}
