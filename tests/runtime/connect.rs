//! CONNECT → CONNACK over real sockets, on one and on two shards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::blocking::*;
use mqtt_proto::{Packet, QoS};

fn connack_first(shards: usize) {
    let broker = start(shards);
    assert_eq!(broker.shard_count(), shards);
    for (i, v) in [V5, V311, V5, V311].into_iter().enumerate() {
        // The first packet from the server is CONNACK, accepting a clean session.
        let mut c = Client::connect(addr(&broker), &format!("connect-{shards}-{i}"), v);
        // The connection is served afterwards: a PINGREQ is answered.
        c.send(Packet::PingReq);
        assert!(matches!(c.recv(), Packet::PingResp));
    }
    broker.shutdown().unwrap();
}

on_both! {
fn connack_is_the_first_packet_on_one_shard_mqtt_3_2_0_1() {
    connack_first(1);
}
}

on_both! {
fn connack_is_the_first_packet_on_two_shards_mqtt_3_2_0_1() {
    connack_first(2);
}
}

on_both! {
fn a_packet_split_across_reads_is_reassembled() {
    let broker = start(2);
    let mut c = Client::open(addr(&broker), V5);
    let mut buf = mqtt_proto::BytesMut::new();
    Packet::from(connect_packet("split-1", V5))
        .encode(V5, &mut buf)
        .unwrap();
    for chunk in buf.chunks(3) {
        std::io::Write::write_all(&mut c.stream, chunk).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    match c.recv() {
        Packet::ConnAck(a) => assert_eq!(a.reason_code.as_u8(), 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(
        c.subscribe("split/t", QoS::AtMostOnce).reason_codes.len(),
        1
    );
    broker.shutdown().unwrap();
}
}

on_both! {
fn connect_then_publish_in_one_write_is_handled_in_order() {
    // The CONNECT and what follows it arrive in one segment: on two shards the connection
    // may be handed over with those bytes, and none may be lost.
    let broker = start(2);
    let mut sub = Client::connect(addr(&broker), "one-write-sub", V5);
    sub.subscribe("one/write", QoS::AtLeastOnce);
    for i in 0..20u16 {
        let mut c = Client::open(addr(&broker), V5);
        let mut buf = mqtt_proto::BytesMut::new();
        Packet::from(connect_packet(&format!("one-write-{i}"), V5))
            .encode(V5, &mut buf)
            .unwrap();
        Packet::Publish(mqtt_proto::Publish {
            dup: false,
            qos_pid: mqtt_proto::QosPid::new(QoS::AtLeastOnce, pid(7)),
            retain: false,
            topic: "one/write".into(),
            properties: Default::default(),
            payload: mqtt_proto::Bytes::from(i.to_string()),
        })
        .encode(V5, &mut buf)
        .unwrap();
        std::io::Write::write_all(&mut c.stream, &buf).unwrap();
        assert!(matches!(c.recv(), Packet::ConnAck(_)));
        assert!(matches!(c.recv(), Packet::PubAck(a) if a.packet_id == pid(7)));
        let p = sub.recv_publish();
        assert_eq!(&p.payload[..], i.to_string().as_bytes());
    }
    broker.shutdown().unwrap();
}
}
