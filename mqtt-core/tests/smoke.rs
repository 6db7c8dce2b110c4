//! First end-to-end check of the shard through the harness: connect, subscribe, publish.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_proto::{Packet, QoS};

#[test]
fn publish_reaches_subscriber_qos0_and_qos1() {
    let mut h = Harness::with_defaults();
    let sub = h.client("sub", V5);
    let ack = h.subscribe(sub, V5, "a/+", QoS::AtLeastOnce);
    assert_eq!(
        ack.reason_codes[0],
        mqtt_proto::SubAckReasonCode::GrantedQoS1
    );
    let pubr = h.client("pub", V311);
    h.send(pubr, V311, publish("a/b", b"hello", QoS::AtLeastOnce, 7));
    match h.recv_one(pubr) {
        Packet::PubAck(a) => assert_eq!(a.packet_id.get(), 7),
        other => panic!("{other:?}"),
    }
    let got = publishes(h.recv(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"hello");
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
}
