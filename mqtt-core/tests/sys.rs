//! `$SYS` counters: published as retained messages under `$SYS/broker/` at `sys_interval`,
//! reachable only by filters that name `$SYS` [MQTT-4.7.2-1], closed to client publishes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use std::collections::HashMap;

use common::*;
use mqtt_core::Config;
use mqtt_proto::{BytesMut, Packet, PubAckReasonCode, QoS, RetainHandling};

fn cfg(interval: u64) -> Config {
    Config {
        sys_interval: interval,
        ..Config::default()
    }
}

/// `$SYS/broker/{key}` → payload, from the PUBLISHes `conn` received.
fn sys_map(h: &mut Harness, conn: mqtt_core::ConnId) -> HashMap<String, String> {
    publishes(h.recv(conn))
        .into_iter()
        .map(|p| {
            let key = p.topic.strip_prefix("$SYS/broker/").unwrap().to_owned();
            (key, String::from_utf8(p.payload.to_vec()).unwrap())
        })
        .collect()
}

fn values(h: &Harness) -> HashMap<String, String> {
    h.shard.sys_values(h.now).into_iter().collect()
}

#[test]
fn counters_published_every_interval_to_sys_subscribers() {
    let mut h = Harness::new(cfg(5));
    let s = h.client("s", V5);
    let ack = h.subscribe(s, V5, "$SYS/#", QoS::AtMostOnce);
    assert_eq!(codes(&ack), [0x00]);
    h.advance(4_999);
    h.recv_none(s);
    h.advance(1);
    let got = publishes(h.recv(s));
    assert!(got.iter().all(|p| p.qos_pid.qos() == QoS::AtMostOnce));
    // Forwarded live, so RETAIN is cleared [MQTT-3.3.1-12].
    assert!(got.iter().all(|p| !p.retain));
    let m: HashMap<String, String> = got
        .into_iter()
        .map(|p| {
            let key = p.topic.strip_prefix("$SYS/broker/").unwrap().to_owned();
            (key, String::from_utf8(p.payload.to_vec()).unwrap())
        })
        .collect();
    for key in [
        "version",
        "uptime",
        "clients/connected",
        "clients/disconnected",
        "clients/total",
        "messages/received",
        "messages/sent",
        "messages/dropped",
        "bytes/received",
        "bytes/sent",
        "subscriptions/count",
        "retained messages/count",
    ] {
        assert!(m.contains_key(key), "missing {key}: {m:?}");
    }
    assert_eq!(m["uptime"], "5");
    assert_eq!(m["clients/connected"], "1");
    assert_eq!(m["subscriptions/count"], "1");
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    // And again one interval later.
    h.advance(5_000);
    let m = sys_map(&mut h, s);
    assert_eq!(m["uptime"], "10");
}

#[test]
fn late_subscriber_gets_the_latest_figures_with_retain_1() {
    let mut h = Harness::new(cfg(5));
    h.open();
    h.advance(5_000);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("$SYS/broker/uptime", QoS::AtLeastOnce));
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(&got[0].payload[..], b"5");
    // Retained QoS 0 stays QoS 0 whatever was granted.
    assert_eq!(got[0].qos_pid.qos(), QoS::AtMostOnce);
    // Retain As Published keeps RETAIN on the live ones.
    let (_, _) = h.subscribe_many(
        s,
        V5,
        vec![sub_with(
            "$SYS/broker/uptime",
            QoS::AtMostOnce,
            false,
            true,
            RetainHandling::DoNotSend,
        )],
        None,
    );
    h.advance(5_000);
    let got = publishes(h.recv(s));
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(&got[0].payload[..], b"10");
}

#[test]
fn leading_wildcards_do_not_receive_sys_mqtt_4_7_2_1() {
    let mut h = Harness::new(cfg(1));
    let s = h.client("s", V5);
    let (ack, retained) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("#", QoS::AtMostOnce),
            sub("+/broker/#", QoS::AtMostOnce),
            sub("$share/g/#", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0, 0, 0]);
    assert!(retained.is_empty());
    h.advance(3_000);
    h.recv_none(s);
    // Even after figures are retained, a `#` subscribe gets none of them.
    let (_, got) = h.subscribe_retained(s, V5, sub("#", QoS::AtMostOnce));
    assert!(got.is_empty());
    assert!(h.shard.retained_count() > 10);
}

#[test]
fn clients_cannot_publish_to_sys() {
    let mut h = Harness::new(cfg(5));
    let s = h.client("s", V5);
    h.subscribe(s, V5, "$SYS/#", QoS::AtLeastOnce);
    let p = h.client("p", V5);
    for (i, topic) in ["$SYS/broker/uptime", "$SYS", "$SYS/x/y"]
        .iter()
        .enumerate()
    {
        let id = i as u16 + 1;
        h.send(p, V5, retained(topic, b"spoof", QoS::AtLeastOnce, id));
        match h.recv_one(p) {
            Packet::PubAck(a) => {
                assert_eq!(a.packet_id.get(), id);
                assert_eq!(a.reason_code, PubAckReasonCode::NotAuthorized);
            }
            other => panic!("{other:?}"),
        }
    }
    h.send(
        p,
        V5,
        publish("$SYS/broker/uptime", b"0", QoS::AtMostOnce, 0),
    );
    h.recv_none(s);
    assert_eq!(h.shard.retained_count(), 0);
    // `$SYSTEM` is not the `$SYS` tree.
    h.subscribe(s, V5, "$SYSTEM", QoS::AtMostOnce);
    h.send(p, V5, publish("$SYSTEM", b"ok", QoS::AtLeastOnce, 9));
    match h.recv_one(p) {
        Packet::PubAck(a) => assert_eq!(a.reason_code, PubAckReasonCode::Success),
        other => panic!("{other:?}"),
    }
    assert_eq!(publishes(h.recv(s)).len(), 1);
    // v3.1.1 gets its positive ack, and the message goes nowhere [MQTT-3.3.5-2 of 3.1.1].
    let p3 = h.client("p3", V311);
    h.send(
        p3,
        V311,
        retained("$SYS/broker/uptime", b"x", QoS::AtLeastOnce, 4),
    );
    assert!(matches!(h.recv_one(p3), Packet::PubAck(_)));
    h.recv_none(s);
    assert_eq!(values(&h)["rejected/0x87"], "5");
}

#[test]
fn interval_zero_publishes_nothing() {
    let mut h = Harness::new(cfg(0));
    let s = h.client("s", V5);
    h.subscribe(s, V5, "$SYS/#", QoS::AtMostOnce);
    h.advance(3_600_000);
    h.recv_none(s);
    assert_eq!(h.shard.retained_count(), 0);
}

#[test]
fn client_and_subscription_gauges_follow_sessions() {
    let mut h = Harness::new(cfg(0));
    let a = h.client("a", V5);
    h.subscribe_many(
        a,
        V5,
        vec![
            sub("x", QoS::AtMostOnce),
            sub("$share/g/y", QoS::AtMostOnce),
            sub("a/#/b", QoS::AtMostOnce),
        ],
        None,
    );
    let mut c = connect("b", V5);
    c.properties.session_expiry_interval = Some(100);
    let (b, _) = h.connect_with(c);
    h.subscribe(b, V5, "z", QoS::AtMostOnce);
    h.subscribe(b, V5, "z", QoS::AtLeastOnce);
    let v = values(&h);
    assert_eq!(v["clients/connected"], "2");
    assert_eq!(v["clients/disconnected"], "0");
    assert_eq!(v["clients/total"], "2");
    assert_eq!(v["subscriptions/count"], "3");
    assert_eq!(v["shared subscriptions/count"], "1");
    assert_eq!(v["rejected/0x8F"], "1");
    h.drop_conn(b);
    let v = values(&h);
    assert_eq!(v["clients/connected"], "1");
    assert_eq!(v["clients/disconnected"], "1");
    assert_eq!(
        v["subscriptions/count"], "3",
        "a persistent session keeps its own"
    );
    h.unsubscribe(a, V5, &["x", "x"]);
    assert_eq!(values(&h)["subscriptions/count"], "2");
    h.drop_conn(a);
    h.advance(100_000);
    let v = values(&h);
    assert_eq!(v["clients/total"], "0");
    assert_eq!(v["subscriptions/count"], "0");
    assert_eq!(v["shared subscriptions/count"], "0");
}

/// The wire length of `p` in `v`.
fn wire_len(p: Packet, v: mqtt_proto::ProtocolVersion) -> u64 {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf).unwrap();
    buf.len() as u64
}

#[test]
fn message_and_byte_counters_are_exact() {
    let mut h = Harness::new(cfg(0));
    let s = h.client("s", V5);
    let ack = h.subscribe(s, V5, "t", QoS::AtLeastOnce);
    let p = h.client("p", V5);
    let m = publish("t", b"hello", QoS::AtLeastOnce, 1);
    let acks = h.publish_from(p, V5, m.clone());
    let delivered = publishes(h.recv(s));
    assert_eq!(delivered.len(), 1);
    let puback = Packet::PubAck(mqtt_proto::PubAck::new(
        delivered[0].qos_pid.packet_id().unwrap(),
    ));
    h.send(s, V5, puback.clone());
    let v = values(&h);
    assert_eq!(v["messages/received"], "1");
    assert_eq!(v["messages/sent"], "1");
    let connect_len = wire_len(Packet::Connect(Box::new(connect("s", V5))), V5);
    let sub = mqtt_proto::Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub("t", QoS::AtLeastOnce)].into_iter().collect(),
    };
    let received = 2 * connect_len
        + wire_len(Packet::Subscribe(sub), V5)
        + wire_len(Packet::Publish(m), V5)
        + wire_len(puback, V5);
    assert_eq!(v["bytes/received"], received.to_string());
    // What went out: two CONNACKs (same shape), the SUBACK, the PUBACK and the delivery.
    let (_, connack) = h.connect_with(connect("c", V5));
    let connack_len = wire_len(Packet::ConnAck(Box::new(connack)), V5);
    let sent = 2 * connack_len
        + wire_len(Packet::SubAck(ack), V5)
        + acks.into_iter().map(|a| wire_len(a, V5)).sum::<u64>()
        + wire_len(Packet::Publish(delivered[0].clone()), V5);
    let v_before_c: u64 = v["bytes/sent"].parse().unwrap();
    assert_eq!(v_before_c, sent);
}

#[test]
fn dropped_and_retained_counters() {
    let mut h = Harness::new(Config {
        max_queued_messages: 1,
        retained: mqtt_core::retained::RetainedLimits {
            max_messages: 1,
            max_bytes: 1 << 20,
        },
        ..cfg(0)
    });
    let mut c = connect("s", V5);
    c.properties.session_expiry_interval = Some(100);
    let (s, _) = h.connect_with(c);
    h.subscribe(s, V5, "t/+", QoS::AtLeastOnce);
    h.drop_conn(s);
    let p = h.client("p", V5);
    h.publish_from(p, V5, retained("t/1", b"1", QoS::AtLeastOnce, 1));
    h.publish_from(p, V5, retained("t/2", b"2", QoS::AtLeastOnce, 2));
    let v = values(&h);
    // The offline queue holds one: the older message was dropped.
    assert_eq!(v["messages/dropped"], "1");
    assert_eq!(v["retained messages/count"], "1");
    assert_eq!(v["retained messages/refused"], "1");
    assert_eq!(v["retained messages/bytes"], "4");
}
