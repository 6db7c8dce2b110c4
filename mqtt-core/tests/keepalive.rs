//! Keep alive: a connection silent for one and a half keep alive periods is closed
//! [MQTT-3.1.2-22]; the server may impose its own value [MQTT-3.2.2-21]; 0 disables it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{DisconnectReasonCode, Packet, ProtocolVersion, QoS};

fn client_with_keep_alive(h: &mut Harness, id: &str, v: ProtocolVersion, secs: u16) -> ConnId {
    let mut c = connect(id, v);
    c.keep_alive = secs;
    let (conn, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
    conn
}

#[test]
fn silent_v5_client_gets_0x8d_at_one_and_a_half_keep_alive_mqtt_3_1_2_22() {
    let mut h = Harness::with_defaults();
    let conn = client_with_keep_alive(&mut h, "c", V5, 10);
    h.advance(14_999);
    assert!(!h.is_closed(conn));
    h.recv_none(conn);
    h.advance(1);
    assert_eq!(
        h.recv_disconnect(conn),
        DisconnectReasonCode::KeepAliveTimeout
    );
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.stats().keep_alive_timeouts, 1);
}

#[test]
fn silent_v3_client_is_closed_without_a_packet_mqtt_3_1_2_24() {
    // 3.1.1 numbers this rule [MQTT-3.1.2-24].
    let mut h = Harness::with_defaults();
    let conn = client_with_keep_alive(&mut h, "c", V311, 4);
    h.advance(5_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
    h.recv_none(conn);
}

#[test]
fn pingreq_in_time_keeps_the_connection_mqtt_3_1_2_22() {
    let mut h = Harness::with_defaults();
    let conn = client_with_keep_alive(&mut h, "c", V5, 10);
    for _ in 0..6 {
        h.advance(10_000);
        h.send(conn, V5, Packet::PingReq);
        // [MQTT-3.12.4-1] PINGREQ is answered with PINGRESP.
        assert_eq!(h.recv_one(conn), Packet::PingResp);
    }
    assert!(!h.is_closed(conn));
    // Measured from the last packet received.
    h.advance(14_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert_eq!(
        h.recv_disconnect(conn),
        DisconnectReasonCode::KeepAliveTimeout
    );
}

#[test]
fn any_packet_counts_as_activity_mqtt_3_1_2_22() {
    let mut h = Harness::with_defaults();
    let conn = client_with_keep_alive(&mut h, "c", V5, 10);
    h.advance(14_000);
    h.send(conn, V5, publish("t", b"x", QoS::AtMostOnce, 0));
    h.advance(14_000);
    h.subscribe(conn, V5, "s", QoS::AtMostOnce);
    h.advance(14_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
}

#[test]
fn part_of_a_packet_is_not_activity_mqtt_3_1_2_22() {
    let mut h = Harness::with_defaults();
    let conn = client_with_keep_alive(&mut h, "c", V5, 10);
    h.advance(10_000);
    // The first byte of a PINGREQ: no Control Packet has been received yet.
    h.send_bytes(conn, &[0xC0]);
    h.advance(5_000);
    assert!(h.is_closed(conn));
    assert_eq!(
        h.recv_disconnect(conn),
        DisconnectReasonCode::KeepAliveTimeout
    );
}

#[test]
fn keep_alive_0_disables_the_check_mqtt_3_1_2_22() {
    let mut h = Harness::new(Config {
        sys_interval: 0,
        ..Config::default()
    });
    let v5 = client_with_keep_alive(&mut h, "a", V5, 0);
    let v3 = client_with_keep_alive(&mut h, "b", V311, 0);
    h.advance(24 * 3600 * 1000);
    assert!(!h.is_closed(v5));
    assert!(!h.is_closed(v3));
    assert_eq!(h.shard.stats().keep_alive_timeouts, 0);
}

#[test]
fn server_keep_alive_lowers_a_larger_value_mqtt_3_2_2_21() {
    let mut h = Harness::new(Config {
        max_keep_alive: Some(30),
        ..Config::default()
    });
    let mut c = connect("c", V5);
    c.keep_alive = 60;
    let (conn, ack) = h.connect_with(c);
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    // Enforced with the server's value: 45 s, not 90 s.
    h.advance(44_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert_eq!(
        h.recv_disconnect(conn),
        DisconnectReasonCode::KeepAliveTimeout
    );
}

#[test]
fn server_keep_alive_replaces_0_mqtt_3_2_2_21() {
    let mut h = Harness::new(Config {
        max_keep_alive: Some(30),
        ..Config::default()
    });
    let (conn, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    h.advance(45_000);
    assert_eq!(
        h.recv_disconnect(conn),
        DisconnectReasonCode::KeepAliveTimeout
    );
}

#[test]
fn no_server_keep_alive_when_the_client_value_is_within_the_maximum() {
    let mut h = Harness::new(Config {
        max_keep_alive: Some(30),
        ..Config::default()
    });
    let mut c = connect("c", V5);
    c.keep_alive = 20;
    let (conn, ack) = h.connect_with(c);
    assert_eq!(ack.properties.server_keep_alive, None);
    h.advance(29_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
}

#[test]
fn v3_client_keeps_its_own_keep_alive_under_a_maximum() {
    // 3.x has no Server Keep Alive: the client cannot be told, so its own value is enforced
    // (a lower one would drop clients that do nothing wrong).
    let mut h = Harness::new(Config {
        max_keep_alive: Some(30),
        ..Config::default()
    });
    let conn = client_with_keep_alive(&mut h, "c", V311, 60);
    h.advance(89_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
}

#[test]
fn will_is_published_on_keep_alive_timeout_mqtt_3_1_2_8() {
    let mut h = Harness::with_defaults();
    let watcher = h.client("watcher", V5);
    h.subscribe(watcher, V5, "will/#", QoS::AtMostOnce);
    for (id, v) in [("five", V5), ("three", V311)] {
        let mut c = with_will(
            connect(id, v),
            will(&format!("will/{id}"), b"timed out", QoS::AtMostOnce, false),
        );
        c.keep_alive = 2;
        let (conn, _) = h.connect_with(c);
        h.advance(3_000);
        assert!(h.is_closed(conn));
        let got = publishes(h.recv(watcher));
        assert_eq!(got.len(), 1, "{id}");
        assert_eq!(&*got[0].topic, format!("will/{id}"));
        assert_eq!(&got[0].payload[..], b"timed out");
    }
}

#[test]
fn largest_keep_alive_is_handled_without_overflow() {
    let mut h = Harness::new(Config {
        sys_interval: 0,
        ..Config::default()
    });
    let conn = client_with_keep_alive(&mut h, "c", V5, u16::MAX);
    // 65,535 s × 1.5 = 98,302.5 s.
    h.advance(98_302_499);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
}
