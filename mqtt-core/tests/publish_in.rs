//! Inbound PUBLISH: the QoS 0/1/2 flows with their acknowledgements and reason codes, QoS 2
//! exactly-once, the awaiting-PUBREL cap and Receive Maximum, Maximum QoS, Retain Available,
//! Payload Format Indicator checks, Message Expiry and `$SYS` protection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::Config;
use mqtt_proto::{
    DisconnectReasonCode, Packet, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel,
    PubRelReasonCode, QoS,
};

/// A harness with a QoS 2 subscriber to `t/#` named "sub"; returns it and the subscriber.
fn with_subscriber(config: Config) -> (Harness, mqtt_core::ConnId) {
    let mut h = Harness::new(config);
    let sub = h.client("sub", V5);
    h.subscribe(sub, V5, "t/#", QoS::ExactlyOnce);
    (h, sub)
}

#[test]
fn qos0_gets_no_ack_and_is_delivered_once_mqtt_3_3_4_1_mqtt_4_3_1_1() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"zero", QoS::AtMostOnce, 0));
    h.recv_none(p);
    let got = h.recv_publishes(sub);
    assert_eq!(got, vec![publish("t/a", b"zero", QoS::AtMostOnce, 0)]);
}

#[test]
fn qos1_is_acknowledged_with_its_packet_id_mqtt_4_3_2_4() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"one", QoS::AtLeastOnce, 7));
    assert_eq!(h.recv_one(p), Packet::PubAck(PubAck::new(pid(7))));
    let got = h.recv_publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    assert!(!got[0].dup, "first delivery has DUP 0 [MQTT-4.3.2-2]");
    assert_eq!(&got[0].payload[..], b"one");
}

#[test]
fn qos1_same_id_after_puback_is_a_new_publication_mqtt_4_3_2_5() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"first", QoS::AtLeastOnce, 7));
    let mut again = publish("t/a", b"second", QoS::AtLeastOnce, 7);
    again.dup = true;
    h.send(p, V5, again);
    let acks: Vec<_> = h.recv(p).iter().map(ack_of).collect();
    assert_eq!(acks, vec![("PUBACK", 7, SUCCESS), ("PUBACK", 7, SUCCESS)]);
    let got = h.recv_publishes(sub);
    assert_eq!(topics_payloads(&got).len(), 2);
    assert_eq!(&got[1].payload[..], b"second");
}

#[test]
fn qos2_pubrec_pubrel_pubcomp_mqtt_4_3_3_8_mqtt_4_3_3_11() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"two", QoS::ExactlyOnce, 9));
    assert_eq!(h.recv_one(p), Packet::PubRec(PubRec::new(pid(9))));
    // Delivered on PUBLISH (the id, not the message, waits for PUBREL).
    assert_eq!(h.recv_publishes(sub).len(), 1);
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(9))));
    assert_eq!(h.recv_one(p), Packet::PubComp(PubComp::new(pid(9))));
    h.recv_none(sub);
}

#[test]
fn qos2_repeat_before_pubrel_is_acknowledged_not_redelivered_mqtt_4_3_3_10() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"once", QoS::ExactlyOnce, 9));
    for _ in 0..3 {
        let mut dup = publish("t/a", b"once", QoS::ExactlyOnce, 9);
        dup.dup = true;
        h.send(p, V5, dup);
    }
    let acks: Vec<_> = h.recv(p).iter().map(ack_of).collect();
    assert_eq!(acks, vec![("PUBREC", 9, SUCCESS); 4]);
    assert_eq!(h.recv_publishes(sub).len(), 1, "exactly once");
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(9))));
    assert_eq!(h.recv_ack(p), ("PUBCOMP", 9, SUCCESS));
    // [MQTT-4.3.3-12] after PUBCOMP the id starts a new publication.
    h.send(p, V5, publish("t/a", b"again", QoS::ExactlyOnce, 9));
    assert_eq!(h.recv_ack(p), ("PUBREC", 9, SUCCESS));
    let got = h.recv_publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"again");
}

#[test]
fn qos2_refused_id_is_free_again_mqtt_4_3_3_9() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    // A refusal (0x87: clients may not publish to $SYS) does not keep the id.
    h.send(p, V5, publish("$SYS/x", b"no", QoS::ExactlyOnce, 5));
    assert_eq!(
        h.recv_ack(p),
        ("PUBREC", 5, PubAckReasonCode::NotAuthorized.as_u8())
    );
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(5))));
    assert_eq!(h.recv_ack(p), ("PUBCOMP", 5, PID_NOT_FOUND));
    h.send(p, V5, publish("t/a", b"yes", QoS::ExactlyOnce, 5));
    assert_eq!(h.recv_ack(p), ("PUBREC", 5, SUCCESS));
    assert_eq!(h.recv_publishes(sub).len(), 1);
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_0x92_bad_input_16() {
    let mut h = Harness::with_defaults();
    let p = h.client("pub", V5);
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(77))));
    let expected = ack_with(77, PubRelReasonCode::PacketIdentifierNotFound);
    assert_eq!(h.recv_one(p), Packet::PubComp(expected));
    assert!(!h.is_closed(p));
}

#[test]
fn v3_acks_carry_only_the_packet_id_mqtt_4_3_2_4_mqtt_4_3_3_8() {
    for v in [V311, V31] {
        let (mut h, sub) = with_subscriber(Config::default());
        let p = h.client("pub", v);
        h.send(p, v, publish("t/a", b"1", QoS::AtLeastOnce, 0x0102));
        assert_eq!(h.raw(p), [0x40, 0x02, 0x01, 0x02], "PUBACK");
        h.send(p, v, publish("t/a", b"2", QoS::ExactlyOnce, 0x0304));
        assert_eq!(h.raw(p), [0x50, 0x02, 0x03, 0x04], "PUBREC");
        h.send(p, v, Packet::PubRel(PubRel::new(pid(0x0304))));
        assert_eq!(h.raw(p), [0x70, 0x02, 0x03, 0x04], "PUBCOMP");
        // Unknown id: 3.x has no reason code, so a plain PUBCOMP.
        h.send(p, v, Packet::PubRel(PubRel::new(pid(0x0506))));
        assert_eq!(h.raw(p), [0x70, 0x02, 0x05, 0x06], "PUBCOMP");
        assert_eq!(h.recv_publishes(sub).len(), 2);
    }
}

#[test]
fn no_matching_subscribers_is_0x10_when_enabled() {
    let config = Config {
        no_matching_subscribers_reason: true,
        ..Config::default()
    };
    let (mut h, _sub) = with_subscriber(config);
    let p = h.client("pub", V5);
    let nobody = PubAckReasonCode::NoMatchingSubscribers.as_u8();
    h.send(p, V5, publish("elsewhere", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, nobody));
    h.send(p, V5, publish("elsewhere", b"x", QoS::ExactlyOnce, 2));
    assert_eq!(h.recv_ack(p), ("PUBREC", 2, nobody));
    // 0x10 is a success: the id waits for PUBREL like any other.
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(2))));
    assert_eq!(h.recv_ack(p), ("PUBCOMP", 2, SUCCESS));
    // With a subscriber: plain success.
    h.send(p, V5, publish("t/x", b"x", QoS::AtLeastOnce, 3));
    assert_eq!(h.recv_ack(p), ("PUBACK", 3, SUCCESS));
}

#[test]
fn no_matching_subscribers_is_success_by_default() {
    let mut h = Harness::with_defaults();
    let p = h.client("pub", V5);
    h.send(p, V5, publish("elsewhere", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(h.recv_one(p), Packet::PubAck(PubAck::new(pid(1))));
}

#[test]
fn awaiting_pubrel_is_capped_and_repeats_do_not_grow_it_0x93_bad_input_17() {
    assert_eq!(Config::default().max_awaiting_rel, 100);
    let config = Config {
        max_awaiting_rel: 3,
        ..Config::default()
    };
    let (mut h, sub) = with_subscriber(config);
    let p = h.client("pub", V5);
    for id in 1..=3 {
        h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, id));
    }
    // The same id over and over: deduplicated, acknowledged, no growth.
    for _ in 0..50 {
        let mut dup = publish("t/a", b"x", QoS::ExactlyOnce, 2);
        dup.dup = true;
        h.send(p, V5, dup);
    }
    let acks = h.recv(p);
    assert_eq!(acks.len(), 53);
    assert!(acks
        .iter()
        .all(|a| ack_of(a).0 == "PUBREC" && ack_of(a).2 == SUCCESS));
    assert!(!h.is_closed(p));
    assert_eq!(h.recv_publishes(sub).len(), 3);
    // A fourth id over the cap.
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 4));
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::ReceiveMaximumExceeded
    );
    assert!(h.is_closed(p));
    h.recv_none(sub);
    assert_eq!(h.shard.stats().rejected[0x93], 1);
}

#[test]
fn awaiting_pubrel_cap_closes_a_v311_client_without_disconnect_bad_input_17() {
    let config = Config {
        max_awaiting_rel: 2,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let p = h.client("pub", V311);
    h.send(p, V311, publish("t/a", b"x", QoS::ExactlyOnce, 1));
    h.send(p, V311, publish("t/a", b"x", QoS::ExactlyOnce, 2));
    assert_eq!(h.recv(p).len(), 2);
    h.send(p, V311, publish("t/a", b"x", QoS::ExactlyOnce, 3));
    h.recv_none(p);
    assert!(h.is_closed(p));
}

#[test]
fn more_unacknowledged_than_receive_maximum_is_0x93_mqtt_3_3_4_7_bad_input_18() {
    let config = Config {
        receive_maximum: 2,
        ..Config::default()
    };
    let (mut h, _sub) = with_subscriber(config);
    let (p, ack) = h.connect_with(connect("pub", V5));
    assert_eq!(ack.properties.receive_maximum, Some(pid(2)));
    // QoS 1 is acknowledged at once, so it never stays unacknowledged.
    for id in 1..=5 {
        h.send(p, V5, publish("t/a", b"x", QoS::AtLeastOnce, id));
    }
    assert_eq!(h.recv(p).len(), 5);
    // QoS 2 is unacknowledged until PUBCOMP: two may wait.
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 11));
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 12));
    assert_eq!(h.recv(p).len(), 2);
    // PUBCOMP gives the quota back.
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(11))));
    assert_eq!(h.recv_ack(p), ("PUBCOMP", 11, SUCCESS));
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 13));
    assert_eq!(h.recv_ack(p), ("PUBREC", 13, SUCCESS));
    // A third one while two wait.
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 14));
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::ReceiveMaximumExceeded
    );
    assert!(h.is_closed(p));
}

#[test]
fn qos_above_maximum_qos_is_0x9b_mqtt_3_2_2_11() {
    let config = Config {
        max_qos: QoS::AtLeastOnce,
        ..Config::default()
    };
    let (mut h, sub) = with_subscriber(config);
    let (p, ack) = h.connect_with(connect("pub", V5));
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtLeastOnce));
    h.send(p, V5, publish("t/a", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, SUCCESS));
    h.send(p, V5, publish("t/a", b"x", QoS::ExactlyOnce, 2));
    assert_eq!(h.recv_disconnect(p), DisconnectReasonCode::QoSNotSupported);
    assert!(h.is_closed(p));
    assert_eq!(
        h.recv_publishes(sub).len(),
        1,
        "the QoS 2 message is not routed"
    );
}

#[test]
fn retain_when_not_available_is_0x9a_mqtt_3_2_2_14() {
    let config = Config {
        retain_available: false,
        ..Config::default()
    };
    let (mut h, sub) = with_subscriber(config);
    let (p, ack) = h.connect_with(connect("pub", V5));
    assert_eq!(ack.properties.retain_available, Some(false));
    h.send(p, V5, retained("t/a", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::RetainNotSupported
    );
    assert!(h.is_closed(p));
    h.recv_none(sub);
}

#[test]
fn payload_not_utf8_is_0x99_when_checked_mqtt_3_3_2_4() {
    let config = Config {
        validate_payload_format: true,
        ..Config::default()
    };
    let (mut h, sub) = with_subscriber(config);
    let p = h.client("pub", V5);
    let invalid = PubAckReasonCode::PayloadFormatInvalid.as_u8();
    let utf8 = |mut p: mqtt_proto::Publish, flag: bool| {
        p.properties.payload_format_indicator = Some(flag);
        p
    };
    let bad = vec![0xFF, 0xFE, 0x00];
    h.send(
        p,
        V5,
        utf8(publish_bytes("t/a", bad.clone(), QoS::AtLeastOnce, 1), true),
    );
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, invalid));
    h.send(
        p,
        V5,
        utf8(publish_bytes("t/a", bad.clone(), QoS::ExactlyOnce, 2), true),
    );
    assert_eq!(h.recv_ack(p), ("PUBREC", 2, invalid));
    // An error PUBREC keeps no id.
    h.send(p, V5, Packet::PubRel(PubRel::new(pid(2))));
    assert_eq!(h.recv_ack(p), ("PUBCOMP", 2, PID_NOT_FOUND));
    h.recv_none(sub);
    // Flagged and valid, or not flagged: delivered with the flag unchanged.
    h.send(
        p,
        V5,
        utf8(
            publish("t/a", "héllo".as_bytes(), QoS::AtLeastOnce, 3),
            true,
        ),
    );
    h.send(
        p,
        V5,
        utf8(
            publish_bytes("t/a", bad.clone(), QoS::AtLeastOnce, 4),
            false,
        ),
    );
    assert_eq!(h.recv(p).len(), 2);
    let got = h.recv_publishes(sub);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].properties.payload_format_indicator, Some(true));
    assert_eq!(got[1].properties.payload_format_indicator, Some(false));
    // QoS 0 has no ack to carry the code: DISCONNECT 0x99.
    h.send(
        p,
        V5,
        utf8(publish_bytes("t/a", bad, QoS::AtMostOnce, 0), true),
    );
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::PayloadFormatInvalid
    );
    h.recv_none(sub);
}

#[test]
fn payload_format_is_not_checked_by_default_mqtt_3_3_2_4() {
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    let mut m = publish_bytes("t/a", vec![0xFF], QoS::AtLeastOnce, 1);
    m.properties.payload_format_indicator = Some(true);
    h.send(p, V5, m);
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, SUCCESS));
    let got = h.recv_publishes(sub);
    assert_eq!(got[0].properties.payload_format_indicator, Some(true));
    assert_eq!(&got[0].payload[..], [0xFF]);
}

/// A persistent v5 subscriber to `t/#` at QoS 1 that then goes offline.
fn offline_subscriber(h: &mut Harness, v: mqtt_proto::ProtocolVersion) {
    let mut c = connect("sub", v);
    c.clean_start = false;
    if v == V5 {
        c.properties.session_expiry_interval = Some(3600);
    }
    let (s, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
    h.subscribe(s, v, "t/#", QoS::AtLeastOnce);
    h.drop_conn(s);
}

fn back_online(h: &mut Harness, v: mqtt_proto::ProtocolVersion) -> Vec<mqtt_proto::Publish> {
    let mut c = connect("sub", v);
    c.clean_start = false;
    if v == V5 {
        c.properties.session_expiry_interval = Some(3600);
    }
    let (_, rest) = h.reconnect(c, true);
    publishes(rest)
}

#[test]
fn forwarded_expiry_is_lowered_by_the_time_waited_mqtt_3_3_2_6() {
    let mut h = Harness::with_defaults();
    offline_subscriber(&mut h, V5);
    let p = h.client("pub", V5);
    h.send(
        p,
        V5,
        expiring(publish("t/a", b"x", QoS::AtLeastOnce, 1), 60),
    );
    h.advance(20_500);
    let got = back_online(&mut h, V5);
    assert_eq!(got.len(), 1);
    // 39.5 s left, rounded up so a live message never reads as expired.
    assert_eq!(got[0].properties.message_expiry_interval, Some(40));
}

#[test]
fn expired_message_is_never_delivered_mqtt_3_3_2_5() {
    let mut h = Harness::with_defaults();
    offline_subscriber(&mut h, V5);
    let p = h.client("pub", V5);
    h.send(
        p,
        V5,
        expiring(publish("t/a", b"x", QoS::AtLeastOnce, 1), 10),
    );
    h.send(p, V5, publish("t/a", b"keeps", QoS::AtLeastOnce, 2));
    h.advance(10_000);
    let got = back_online(&mut h, V5);
    assert_eq!(
        topics_payloads(&got),
        vec![("t/a".into(), b"keeps".to_vec())]
    );
    assert_eq!(got[0].properties.message_expiry_interval, None);
    assert_eq!(h.shard.stats().expired, 1);
}

#[test]
fn v3_receiver_gets_no_properties_but_expiry_applies() {
    let mut h = Harness::with_defaults();
    offline_subscriber(&mut h, V311);
    let p = h.client("pub", V5);
    h.send(
        p,
        V5,
        expiring(publish("t/a", b"gone", QoS::AtLeastOnce, 1), 5),
    );
    let mut kept = expiring(publish("t/a", b"kept", QoS::AtLeastOnce, 2), 50);
    kept.properties.content_type = Some("text/plain".into());
    h.send(p, V5, kept);
    h.advance(6_000);
    let got = back_online(&mut h, V311);
    assert_eq!(
        topics_payloads(&got),
        vec![("t/a".into(), b"kept".to_vec())]
    );
    assert_eq!(got[0].properties, Default::default());
}

#[test]
fn max_message_expiry_caps_long_intervals_default_24h() {
    assert_eq!(Config::default().max_message_expiry, 24 * 3600);
    let (mut h, sub) = with_subscriber(Config::default());
    let p = h.client("pub", V5);
    h.send(
        p,
        V5,
        expiring(publish("t/a", b"x", QoS::AtMostOnce, 0), 10 * 24 * 3600),
    );
    let got = h.recv_publishes(sub);
    assert_eq!(got[0].properties.message_expiry_interval, Some(24 * 3600));
}

#[test]
fn max_message_expiry_also_bounds_messages_without_expiry() {
    let config = Config {
        max_message_expiry: 100,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    offline_subscriber(&mut h, V5);
    let live = h.client("live", V5);
    h.subscribe(live, V5, "t/#", QoS::AtLeastOnce);
    let p = h.client("pub", V5);
    h.send(p, V5, publish("t/a", b"x", QoS::AtLeastOnce, 1));
    // A live receiver is not told of an expiry the publisher did not set.
    let got = h.recv_publishes(live);
    assert_eq!(got[0].properties.message_expiry_interval, None);
    // But the message waits at most the cap.
    h.advance(100_000);
    assert!(back_online(&mut h, V5).is_empty());
    assert_eq!(h.shard.stats().expired, 1);
}

#[test]
fn clients_cannot_publish_to_sys_topics() {
    let mut h = Harness::with_defaults();
    let watcher = h.client("watcher", V5);
    h.subscribe(watcher, V5, "$SYS/#", QoS::AtLeastOnce);
    let p = h.client("pub", V5);
    let denied = PubAckReasonCode::NotAuthorized.as_u8();
    h.send(
        p,
        V5,
        publish("$SYS/broker/uptime", b"1", QoS::AtLeastOnce, 1),
    );
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, denied));
    h.send(p, V5, retained("$SYS/fake", b"1", QoS::ExactlyOnce, 2));
    assert_eq!(h.recv_ack(p), ("PUBREC", 2, denied));
    h.send(p, V5, publish("$SYS", b"1", QoS::AtMostOnce, 0));
    h.recv_none(p);
    assert!(!h.is_closed(p));
    h.recv_none(watcher);
    // Nothing was retained either.
    let late = h.client("late", V5);
    let (_, got) = h.subscribe_retained(late, V5, sub("$SYS/fake", QoS::AtLeastOnce));
    assert!(got.is_empty());
    // Counted by reason, the silent QoS 0 refusal too.
    assert_eq!(h.shard.stats().rejected[0x87], 3);
}
