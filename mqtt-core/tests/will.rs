//! Will messages: when they are published (abnormal close, keep-alive timeout, protocol error,
//! takeover, DISCONNECT 0x04) and when not (DISCONNECT 0x00), the Will Delay Interval and its
//! interplay with the session's end, and the will's properties, QoS and retain flag.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{
    ByteString, Bytes, Connect, Disconnect, DisconnectReasonCode, Packet, Publish, QoS,
};

fn quiet() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

/// A client subscribed to `will/#` at QoS 2.
fn watcher(h: &mut Harness) -> ConnId {
    let w = h.client("watcher", V5);
    h.subscribe(w, V5, "will/#", QoS::ExactlyOnce);
    w
}

/// The will messages `w` received.
fn wills(h: &mut Harness, w: ConnId) -> Vec<Publish> {
    publishes(h.recv(w))
}

/// Connects "a" with a persistent session (expiry 100) and a QoS 1 will on `will/a`.
fn with_plain_will(h: &mut Harness) -> ConnId {
    let c = with_will(
        connect_v5("a", false, Some(100)),
        will("will/a", b"gone", QoS::AtLeastOnce, false),
    );
    h.reconnect(c, false).0
}

fn assert_one_will(h: &mut Harness, w: ConnId, payload: &[u8]) {
    let got = wills(h, w);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].topic, "will/a");
    assert_eq!(&got[0].payload[..], payload);
}

// ---- When a will is published ----

#[test]
fn will_published_on_abnormal_close_mqtt_3_1_2_8() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = with_plain_will(&mut h);
    h.recv_none(w);
    h.drop_conn(a);
    let got = wills(&mut h, w);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "will/a");
    assert_eq!(&got[0].payload[..], b"gone");
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    // [MQTT-3.1.2-14] Will Retain 0: published as a non-retained message.
    assert!(!got[0].retain);
    assert_eq!(h.shard.retained_count(), 0);
    assert_eq!(h.shard.stats().wills, 1);
}

#[test]
fn will_not_published_on_normal_disconnect_mqtt_3_1_2_10_mqtt_3_14_4_3() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = with_plain_will(&mut h);
    h.send(
        a,
        V5,
        Disconnect::new(DisconnectReasonCode::NormalDisconnection),
    );
    assert!(h.is_closed(a));
    // Deleted, so neither the close nor the session's end publishes it.
    h.advance(200_000);
    h.recv_none(w);
    assert_eq!(h.shard.stats().wills, 0);
}

#[test]
fn will_not_published_on_v311_disconnect_mqtt_3_1_2_10_v311() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let c = with_will(
        connect("a", V311),
        will("will/a", b"gone", QoS::AtMostOnce, false),
    );
    let (a, _) = h.reconnect(c, false);
    h.send(
        a,
        V311,
        Disconnect::new(DisconnectReasonCode::NormalDisconnection),
    );
    assert!(h.is_closed(a));
    h.recv_none(w);
}

#[test]
fn will_published_on_v311_abnormal_close_mqtt_3_1_2_8_v311() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let c = with_will(
        connect("a", V311),
        will("will/a", b"gone", QoS::ExactlyOnce, false),
    );
    let (a, _) = h.reconnect(c, false);
    h.drop_conn(a);
    let got = wills(&mut h, w);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid.qos(), QoS::ExactlyOnce);
}

#[test]
fn will_published_on_disconnect_with_will_message_0x04() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = with_plain_will(&mut h);
    h.send(
        a,
        V5,
        Disconnect::new(DisconnectReasonCode::DisconnectWithWillMessage),
    );
    assert!(h.is_closed(a));
    h.recv_none(a);
    assert_one_will(&mut h, w, b"gone");
}

#[test]
fn will_published_on_keep_alive_timeout_mqtt_3_1_2_22() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let mut c = with_will(
        connect_v5("a", false, Some(100)),
        will("will/a", b"gone", QoS::AtLeastOnce, false),
    );
    c.keep_alive = 10;
    let (a, _) = h.reconnect(c, false);
    h.advance(14_999);
    h.recv_none(w);
    h.advance(1);
    match h.recv_one(a) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, DisconnectReasonCode::KeepAliveTimeout),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(a));
    assert_one_will(&mut h, w, b"gone");
}

#[test]
fn will_published_on_protocol_error_close_mqtt_3_1_0_2() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = with_plain_will(&mut h);
    // [MQTT-3.1.0-2] a second CONNECT is a Protocol Error: the server closes, the will goes.
    h.send(a, V5, connect_v5("a", false, Some(100)));
    match h.recv_one(a) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, DisconnectReasonCode::ProtocolError),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(a));
    assert_one_will(&mut h, w, b"gone");
}

#[test]
fn will_published_when_disconnect_is_invalid_section_3_14_2_2_2() {
    // A DISCONNECT raising a zero expiry is not a valid DISCONNECT: 0x82, and the will is
    // published even though the client asked for a normal disconnection.
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let c = with_will(
        connect_v5("a", false, None),
        will("will/a", b"gone", QoS::AtLeastOnce, false),
    );
    let (a, _) = h.reconnect(c, false);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(10)),
    );
    assert!(
        matches!(h.recv_one(a), Packet::Disconnect(d) if d.reason_code == DisconnectReasonCode::ProtocolError)
    );
    assert_one_will(&mut h, w, b"gone");
}

#[test]
fn will_published_once_on_takeover_with_no_delay_mqtt_3_1_4_3() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a1 = with_plain_will(&mut h);
    let (a2, _) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert!(h.is_closed(a1));
    assert_one_will(&mut h, w, b"gone");
    // The new connection has no will: its own close publishes nothing more.
    h.drop_conn(a2);
    h.advance(200_000);
    h.recv_none(w);
    assert_eq!(h.shard.stats().wills, 1);
}

#[test]
fn will_of_the_new_connection_replaces_the_old_one() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a1 = with_plain_will(&mut h);
    let c = with_will(
        connect_v5("a", false, Some(100)),
        will("will/a", b"second", QoS::AtLeastOnce, false),
    );
    let (a2, _) = h.reconnect(c, true);
    assert!(h.is_closed(a1));
    assert_one_will(&mut h, w, b"gone");
    h.drop_conn(a2);
    assert_one_will(&mut h, w, b"second");
}

// ---- Will Delay Interval ----

fn delayed(h: &mut Harness, expiry: Option<u32>, delay: u32) -> ConnId {
    let c = with_will(
        connect_v5("a", false, expiry),
        will_delayed("will/a", b"late", delay),
    );
    h.reconnect(c, false).0
}

#[test]
fn will_published_after_the_will_delay_mqtt_3_1_2_8() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = delayed(&mut h, Some(100), 5);
    h.drop_conn(a);
    h.advance(4_999);
    h.recv_none(w);
    h.advance(1);
    assert_one_will(&mut h, w, b"late");
    // [MQTT-3.1.2-10] removed once published: the session's end publishes nothing more.
    h.advance(200_000);
    assert_eq!(h.shard.session_count(), 1); // the watcher's
    h.recv_none(w);
    assert_eq!(h.shard.stats().wills, 1);
}

#[test]
fn will_not_published_if_the_client_reconnects_within_the_delay_mqtt_3_1_3_9() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = delayed(&mut h, Some(100), 5);
    h.drop_conn(a);
    h.advance(4_000);
    h.reconnect(connect_v5("a", false, Some(100)), true);
    h.advance(200_000);
    h.recv_none(w);
    assert_eq!(h.shard.stats().wills, 0);
}

#[test]
fn delayed_will_published_when_the_session_ends_first_mqtt_3_1_2_8() {
    // Session expiry 3 s, will delay 60 s: published at the session's end, once.
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = delayed(&mut h, Some(3), 60);
    h.drop_conn(a);
    h.advance(2_999);
    h.recv_none(w);
    h.advance(1);
    assert_one_will(&mut h, w, b"late");
    assert_eq!(h.shard.session_count(), 1);
    h.advance(100_000);
    h.recv_none(w);
    // Session expiry 0: the session ends with the connection, so the will goes at once.
    let a = delayed(&mut h, None, 60);
    h.drop_conn(a);
    assert_one_will(&mut h, w, b"late");
    assert_eq!(h.shard.stats().wills, 2);
    // No will or session timer is left (only the watcher's output check may still run).
    h.advance(30_000);
    assert_eq!(h.shard.poll_timeout(), None);
}

#[test]
fn will_delay_equal_to_session_expiry_publishes_once() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = delayed(&mut h, Some(5), 5);
    h.drop_conn(a);
    h.advance(5_000);
    assert_one_will(&mut h, w, b"late");
    assert_eq!(h.shard.stats().wills, 1);
    h.advance(30_000);
    assert_eq!(h.shard.poll_timeout(), None);
}

#[test]
fn takeover_with_clean_start_0_within_the_delay_suppresses_the_will_mqtt_3_1_3_9() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a1 = delayed(&mut h, Some(100), 30);
    let (a2, _) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert!(h.is_closed(a1));
    h.advance(60_000);
    h.recv_none(w);
    assert!(!h.is_closed(a2));
    assert_eq!(h.shard.stats().wills, 0);
}

#[test]
fn takeover_with_clean_start_1_ends_the_session_and_publishes_the_delayed_will() {
    // MQTT 5 §3.1.3.2.2 (non-normative): with Clean Start 1 the old session ends, so its
    // will is published at once despite the delay.
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a1 = delayed(&mut h, Some(100), 30);
    h.reconnect(connect_v5("a", true, Some(100)), false);
    assert!(h.is_closed(a1));
    assert_one_will(&mut h, w, b"late");
    h.advance(60_000);
    h.recv_none(w);
}

#[test]
fn reconnect_with_clean_start_1_within_the_delay_publishes_the_will() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let a = delayed(&mut h, Some(100), 30);
    h.drop_conn(a);
    h.advance(1_000);
    h.recv_none(w);
    h.reconnect(connect_v5("a", true, Some(100)), false);
    assert_one_will(&mut h, w, b"late");
    h.advance(60_000);
    h.recv_none(w);
    assert_eq!(h.shard.stats().wills, 1);
}

// ---- What is published ----

#[test]
fn will_properties_are_passed_on_mqtt_3_1_3_10() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let mut wl = will("will/a", b"{\"up\":false}", QoS::AtLeastOnce, false);
    wl.properties.payload_format_indicator = Some(true);
    wl.properties.content_type = Some(ByteString::from("application/json"));
    wl.properties.response_topic = Some(ByteString::from("reply/a"));
    wl.properties.correlation_data = Some(Bytes::from_static(b"\x00\x01corr"));
    wl.properties.message_expiry_interval = Some(30);
    wl.properties.user_properties = [("k", "2"), ("a", "1"), ("k", "1")]
        .into_iter()
        .map(|(k, v)| (ByteString::from(k), ByteString::from(v)))
        .collect();
    let expected_user = wl.properties.user_properties.clone();
    let (a, _) = h.reconnect(with_will(connect_v5("a", false, Some(100)), wl), false);
    h.drop_conn(a);
    let got = wills(&mut h, w);
    assert_eq!(got.len(), 1);
    let p = &got[0].properties;
    // [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20] unaltered.
    assert_eq!(p.payload_format_indicator, Some(true));
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.response_topic.as_deref(), Some("reply/a"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"\x00\x01corr"[..]));
    // [MQTT-3.1.3-10] user properties in their order.
    assert_eq!(p.user_properties, expected_user);
    assert_eq!(p.message_expiry_interval, Some(30));
}

#[test]
fn will_message_expiry_counts_from_publication_and_is_lowered_while_queued_mqtt_3_3_2_6() {
    let mut h = Harness::new(quiet());
    // An offline persistent watcher gets the will from its queue later.
    let (w, _) = h.reconnect(connect_v5("watcher", false, Some(1000)), false);
    h.subscribe(w, V5, "will/#", QoS::AtLeastOnce);
    h.drop_conn(w);
    let mut wl = will_delayed("will/a", b"late", 10);
    wl.qos = QoS::AtLeastOnce;
    wl.properties.message_expiry_interval = Some(30);
    let (a, _) = h.reconnect(with_will(connect_v5("a", false, Some(100)), wl), false);
    h.drop_conn(a);
    h.advance(10_000); // published now; expires 30 s from here
    h.advance(12_000);
    let (b, rest) = h.reconnect(connect_v5("watcher", false, Some(1000)), true);
    let got = publishes(rest);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties.message_expiry_interval, Some(18));
    h.send(b, V5, puback(got[0].qos_pid.packet_id().unwrap().get()));
    h.drop_conn(b);
    // Past its expiry it is never delivered [MQTT-3.3.2-5].
    let mut wl = will("will/b", b"short", QoS::AtLeastOnce, false);
    wl.properties.message_expiry_interval = Some(5);
    let (c, _) = h.reconnect(with_will(connect_v5("b", false, Some(100)), wl), false);
    h.drop_conn(c);
    h.advance(5_000);
    let (_, rest) = h.reconnect(connect_v5("watcher", false, Some(1000)), true);
    assert!(publishes(rest).is_empty());
}

#[test]
fn will_retain_stores_a_retained_message_mqtt_3_1_2_15() {
    let mut h = Harness::new(quiet());
    let w = watcher(&mut h);
    let c = with_will(
        connect_v5("a", false, Some(100)),
        will("will/a", b"gone", QoS::AtLeastOnce, true),
    );
    let (a, _) = h.reconnect(c, false);
    h.drop_conn(a);
    // The live subscriber gets it with RETAIN 0 (Retain As Published 0, [MQTT-3.3.1-12]).
    let got = wills(&mut h, w);
    assert_eq!(got.len(), 1);
    assert!(!got[0].retain);
    assert_eq!(h.shard.retained_count(), 1);
    // A later subscriber gets the retained copy with RETAIN 1 [MQTT-3.3.1-9].
    let late = h.client("late", V5);
    let (_, got) = h.subscribe_retained(late, V5, sub("will/a", QoS::AtLeastOnce));
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(&got[0].payload[..], b"gone");
}

#[test]
fn will_qos_is_honoured_up_to_the_granted_qos_mqtt_3_8_4_8() {
    for (will_qos, granted, expect) in [
        (QoS::ExactlyOnce, QoS::ExactlyOnce, QoS::ExactlyOnce),
        (QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::AtLeastOnce),
        (QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce),
        (QoS::AtMostOnce, QoS::ExactlyOnce, QoS::AtMostOnce),
    ] {
        let mut h = Harness::new(quiet());
        let w = h.client("watcher", V5);
        h.subscribe(w, V5, "will/a", granted);
        let c: Connect = with_will(
            connect_v5("a", false, Some(100)),
            will("will/a", b"gone", will_qos, false),
        );
        let (a, _) = h.reconnect(c, false);
        h.drop_conn(a);
        let got = publishes(h.recv(w));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos_pid.qos(), expect, "{will_qos:?} {granted:?}");
    }
}
