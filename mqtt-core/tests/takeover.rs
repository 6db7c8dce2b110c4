//! Session takeover [MQTT-3.1.4-3]: a second connection with the same client identifier
//! closes the first, and Clean Start decides whether the session survives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_proto::{ConnectReasonCode, DisconnectReasonCode, Packet, QoS};

/// Publishes QoS 0 on `topic` from a fresh client and returns how many messages `to` got.
fn probe(h: &mut Harness, to: mqtt_core::ConnId, topic: &str) -> usize {
    let p = h.client("probe", V5);
    h.send(p, V5, publish(topic, b"probe", QoS::AtMostOnce, 0));
    publishes(h.recv(to)).len()
}

#[test]
fn old_v5_connection_gets_disconnect_0x8e_and_is_closed_mqtt_3_1_4_3() {
    let mut h = Harness::with_defaults();
    let old = h.client("dup", V5);
    let (new, ack) = h.connect_with(connect("dup", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert_eq!(
        h.recv_disconnect(old),
        DisconnectReasonCode::SessionTakenOver
    );
    assert!(h.is_closed(old));
    assert!(!h.is_closed(new));
    // Exactly one of the two remains.
    assert_eq!(h.shard.connection_count(), 1);
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.stats().takeovers, 1);
}

#[test]
fn old_v3_connection_is_closed_without_a_packet_mqtt_3_1_4_3() {
    let mut h = Harness::with_defaults();
    let old = h.client("dup", V311);
    let new = h.client("dup", V5);
    assert!(h.is_closed(old));
    h.recv_none(old);
    assert!(!h.is_closed(new));
    assert_eq!(h.shard.connection_count(), 1);
}

#[test]
fn takeover_by_v3_client_of_v5_connection_mqtt_3_1_4_3() {
    let mut h = Harness::with_defaults();
    let old = h.client("dup", V5);
    let new = h.client("dup", V311);
    // The old connection speaks v5, so it is told why.
    assert_eq!(
        h.recv_disconnect(old),
        DisconnectReasonCode::SessionTakenOver
    );
    assert!(h.is_closed(old));
    assert!(!h.is_closed(new));
    assert_eq!(h.shard.connection_count(), 1);
}

#[test]
fn clean_start_1_discards_the_old_session_mqtt_3_1_2_4() {
    let mut h = Harness::with_defaults();
    let (old, _) = h.connect_with(connect_v5("dup", false, Some(600)));
    h.subscribe(old, V5, "t", QoS::AtLeastOnce);
    let (new, ack) = h.connect_with(connect_v5("dup", true, Some(600)));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    // [MQTT-3.2.2-2] Clean Start 1: Session Present 0.
    assert!(!ack.session_present);
    assert_eq!(
        h.recv_disconnect(old),
        DisconnectReasonCode::SessionTakenOver
    );
    // The subscription went with the old session.
    assert_eq!(h.shard.subscription_count(), 0);
    assert_eq!(probe(&mut h, new, "t"), 0);
}

#[test]
fn clean_start_0_resumes_the_old_session_mqtt_3_1_2_5() {
    let mut h = Harness::with_defaults();
    let (old, _) = h.connect_with(connect_v5("dup", false, Some(600)));
    h.subscribe(old, V5, "t", QoS::AtLeastOnce);
    let (new, ack) = h.connect_with(connect_v5("dup", false, Some(600)));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    // [MQTT-3.2.2-3] the session was resumed: Session Present 1.
    assert!(ack.session_present);
    assert_eq!(
        h.recv_disconnect(old),
        DisconnectReasonCode::SessionTakenOver
    );
    assert_eq!(h.shard.connection_count(), 1);
    // The subscription is kept and now delivers to the new connection.
    assert_eq!(h.shard.subscription_count(), 1);
    assert_eq!(probe(&mut h, new, "t"), 1);
    assert!(h.recv(old).is_empty());
}

#[test]
fn v311_clean_session_0_resumes_on_takeover_mqtt_3_1_2_4() {
    let mut h = Harness::with_defaults();
    let mut c = connect("dup", V311);
    c.clean_start = false;
    let (old, _) = h.connect_with(c.clone());
    h.subscribe(old, V311, "t", QoS::AtLeastOnce);
    let (new, ack) = h.connect_with(c);
    assert!(ack.session_present);
    assert!(h.is_closed(old));
    assert_eq!(probe(&mut h, new, "t"), 1);
}

#[test]
fn takeover_of_a_session_that_ends_with_its_connection_starts_afresh_mqtt_3_1_4_3() {
    // The old connection has Session Expiry 0: its session ends when it is closed, so a
    // Clean Start 0 takeover finds nothing to resume, and still gets its CONNACK.
    let mut h = Harness::with_defaults();
    let (old, _) = h.connect_with(connect_v5("dup", true, None));
    h.subscribe(old, V5, "t", QoS::AtLeastOnce);
    let (new, ack) = h.connect_with(connect_v5("dup", false, Some(600)));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert!(!ack.session_present);
    assert!(h.is_closed(old));
    assert_eq!(h.shard.connection_count(), 1);
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(probe(&mut h, new, "t"), 0);

    // The same with 3.1.1 Clean Session 1 taken over by Clean Session 0.
    let (old, _) = h.connect_with(connect("v3", V311));
    h.subscribe(old, V311, "u", QoS::AtLeastOnce);
    let mut c = connect("v3", V311);
    c.clean_start = false;
    let (new, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert!(!ack.session_present);
    assert!(h.is_closed(old));
    assert_eq!(probe(&mut h, new, "u"), 0);
}

#[test]
fn takeover_publishes_the_old_connections_will_mqtt_3_1_4_3() {
    let mut h = Harness::with_defaults();
    let watcher = h.client("watcher", V5);
    h.subscribe(watcher, V5, "will/dup", QoS::AtMostOnce);
    let c = with_will(
        connect_v5("dup", false, Some(600)),
        will("will/dup", b"gone", QoS::AtMostOnce, false),
    );
    let (old, _) = h.connect_with(c);
    h.client("dup", V5);
    assert!(h.is_closed(old));
    // The old connection did not DISCONNECT normally: its will is published (§3.1.4).
    let got = publishes(h.recv(watcher));
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"gone");
}

#[test]
fn repeated_takeovers_leave_one_connection_mqtt_3_1_4_3() {
    let mut h = Harness::with_defaults();
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(h.client("dup", V5));
    }
    for old in &conns[..4] {
        assert!(h.is_closed(*old));
        assert_eq!(
            h.recv_disconnect(*old),
            DisconnectReasonCode::SessionTakenOver
        );
    }
    assert!(!h.is_closed(conns[4]));
    assert_eq!(h.shard.connection_count(), 1);
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.stats().takeovers, 4);
}

#[test]
fn bytes_from_a_taken_over_connection_are_ignored() {
    let mut h = Harness::with_defaults();
    let (old, _) = h.connect_with(connect_v5("dup", false, Some(600)));
    let (new, _) = h.connect_with(connect_v5("dup", false, Some(600)));
    h.recv(old);
    // The runtime had already read a SUBSCRIBE from the old socket.
    let sub = mqtt_proto::Subscribe {
        packet_id: pid(9),
        properties: Default::default(),
        subscriptions: [sub("late", QoS::AtMostOnce)].into_iter().collect(),
    };
    h.send(old, V5, Packet::Subscribe(sub));
    h.recv_none(old);
    assert_eq!(h.shard.subscription_count(), 0);
    assert!(!h.is_closed(new));
    h.recv_none(new);
}

#[test]
fn another_user_cannot_take_over_a_session_bad_inputs_row_27() {
    let mut h = Harness::with_defaults();
    let mut alice = connect_login("device-1", V5, "alice", b"pw");
    alice.clean_start = false;
    alice.properties.session_expiry_interval = Some(3600);
    let (a, ack) = h.connect_with(alice.clone());
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    h.subscribe(a, V5, "alice/inbox", QoS::AtLeastOnce);

    // Mallory presents alice's client identifier with her own credentials.
    let mut mallory = connect_login("device-1", V5, "mallory", b"pw");
    mallory.clean_start = false;
    let (m, ack) = h.connect_with(mallory);
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    assert!(h.is_closed(m));
    // Alice's connection and session are untouched.
    assert!(!h.is_closed(a));
    h.recv_none(a);
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.subscription_count(), 1);

    // An anonymous client cannot take it either (v3.1.1: return code 5).
    let mut anon = connect("device-1", V311);
    anon.clean_start = false;
    let (n, ack) = h.connect_with(anon);
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    assert!(h.is_closed(n));

    // Alice herself still can.
    let (a2, ack) = h.connect_with(alice);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert!(ack.session_present);
    assert!(h.is_closed(a));
    assert!(!h.is_closed(a2));
}

#[test]
fn binding_to_username_can_be_switched_off() {
    let mut h = Harness::new(mqtt_core::Config {
        bind_session_to_username: false,
        ..Default::default()
    });
    let (_, ack) = h.connect_with(connect_login("d", V5, "alice", b"pw"));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    let (_, ack) = h.connect_with(connect_login("d", V5, "bob", b"pw"));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
}
