//! Connection lifecycle: CONNECT validation, what CONNACK advertises, v3 return codes,
//! client identifiers, the first and second CONNECT, and the connect timeout and size cap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use core::num::{NonZeroU16, NonZeroU32};
use mqtt_core::Config;
use mqtt_proto::{
    ByteString, BytesMut, ConnAckProperties, ConnectReasonCode, DisconnectReasonCode, Packet,
    PubAckReasonCode, QoS, SubAckReasonCode, UnsubAckReasonCode, Unsubscribe,
};

/// A CONNECT encoded to bytes.
fn encoded(c: mqtt_proto::Connect) -> Vec<u8> {
    let mut b = BytesMut::new();
    let v = c.protocol_version;
    Packet::Connect(Box::new(c)).encode(v, &mut b).unwrap();
    b.to_vec()
}

// ---- CONNACK properties ------------------------------------------------------------------

#[test]
fn connack_advertises_server_limits_mqtt_3_2_2_3() {
    let mut h = Harness::with_defaults();
    let (_, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert!(!ack.session_present);
    // Receive Maximum, Maximum Packet Size and Topic Alias Maximum always; everything that
    // is at its default (QoS 2, retain/wildcard/sub-id/shared available) left out.
    assert_eq!(
        ack.properties,
        ConnAckProperties {
            receive_maximum: NonZeroU16::new(100),
            maximum_packet_size: NonZeroU32::new(1024 * 1024),
            topic_alias_maximum: Some(64),
            ..ConnAckProperties::default()
        }
    );
}

#[test]
fn connack_advertises_disabled_features_mqtt_3_2_2_9_to_3_2_2_12() {
    let mut h = Harness::new(Config {
        receive_maximum: 10,
        max_packet_size: 4096,
        max_qos: QoS::AtLeastOnce,
        retain_available: false,
        topic_alias_maximum: 0,
        wildcard_subscriptions: false,
        subscription_identifiers: false,
        shared_subscriptions: false,
        ..Config::default()
    });
    let (_, ack) = h.connect_with(connect("c", V5));
    assert_eq!(
        ack.properties,
        ConnAckProperties {
            receive_maximum: NonZeroU16::new(10),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: NonZeroU32::new(4096),
            wildcard_subscription_available: Some(false),
            subscription_identifiers_available: Some(false),
            shared_subscription_available: Some(false),
            ..ConnAckProperties::default()
        }
    );
}

#[test]
fn connack_grants_lower_session_expiry_mqtt_3_2_2_3() {
    let mut h = Harness::new(Config {
        max_session_expiry: 60,
        ..Config::default()
    });
    let (_, ack) = h.connect_with(connect_v5("c", true, Some(3600)));
    assert_eq!(ack.properties.session_expiry_interval, Some(60));
    let (_, ack) = h.connect_with(connect_v5("d", true, Some(30)));
    assert_eq!(ack.properties.session_expiry_interval, None);
}

#[test]
fn v3_connack_is_two_bytes_without_properties() {
    let mut h = Harness::with_defaults();
    for v in [V311, V31] {
        let conn = h.open_and_send(connect(&format!("c{}", v.level()), v));
        // Fixed header 0x20, remaining length 2, flags 0, return code 0.
        assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x00]);
        assert!(!h.is_closed(conn));
    }
}

#[test]
fn response_information_only_when_requested_mqtt_3_1_2_28() {
    let mut h = Harness::new(Config {
        response_information: Some(ByteString::from("replies/")),
        ..Config::default()
    });
    let mut c = connect("asks", V5);
    c.properties.request_response_information = Some(true);
    let (_, ack) = h.connect_with(c);
    assert_eq!(
        ack.properties.response_information,
        Some(ByteString::from("replies/"))
    );
    // [MQTT-3.1.2-28] Request Response Information 0 (or absent): none.
    let mut c = connect("declines", V5);
    c.properties.request_response_information = Some(false);
    let (_, ack) = h.connect_with(c);
    assert_eq!(ack.properties.response_information, None);
    let (_, ack) = h.connect_with(connect("silent", V5));
    assert_eq!(ack.properties.response_information, None);

    // Requested but none configured: none.
    let mut h = Harness::with_defaults();
    let mut c = connect("asks", V5);
    c.properties.request_response_information = Some(true);
    let (_, ack) = h.connect_with(c);
    assert_eq!(ack.properties.response_information, None);
}

#[test]
fn no_reason_string_or_user_properties_on_acks_without_problem_information_mqtt_3_1_2_29() {
    let mut h = Harness::new(Config {
        no_matching_subscribers_reason: true,
        ..Config::default()
    });
    let mut c = connect("quiet", V5);
    c.properties.request_problem_information = Some(false);
    let (conn, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);

    // Failures on SUBACK, UNSUBACK and PUBACK carry their reason code only.
    let suback = h.subscribe(conn, V5, "a/#/b", QoS::AtMostOnce);
    assert_eq!(
        suback.reason_codes.as_slice(),
        [SubAckReasonCode::TopicFilterInvalid]
    );
    assert_eq!(suback.properties, Default::default());

    h.send(
        conn,
        V5,
        Unsubscribe {
            packet_id: pid(2),
            properties: Default::default(),
            filters: [ByteString::from("never/subscribed")].into_iter().collect(),
        },
    );
    match h.recv_one(conn) {
        Packet::UnsubAck(u) => {
            assert_eq!(
                u.reason_codes.as_slice(),
                [UnsubAckReasonCode::NoSubscriptionExisted]
            );
            assert_eq!(u.properties, Default::default());
        }
        other => panic!("{other:?}"),
    }

    h.send(conn, V5, publish("nobody/here", b"x", QoS::AtLeastOnce, 3));
    match h.recv_one(conn) {
        Packet::PubAck(a) => {
            assert_eq!(a.reason_code, PubAckReasonCode::NoMatchingSubscribers);
            assert_eq!(a.properties, Default::default());
        }
        other => panic!("{other:?}"),
    }
}

// ---- protocol level, first and second CONNECT --------------------------------------------

#[test]
fn unsupported_protocol_level_v5_gets_connack_0x84_mqtt_3_1_2_2() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    // "MQTT" level 6, flags 0x02, keep alive 0.
    h.send_bytes(
        conn,
        &[
            0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 6, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        ],
    );
    // CONNACK v5: flags 0, reason 0x84, property length 0.
    assert_eq!(h.raw(conn), [0x20, 0x03, 0x00, 0x84, 0x00]);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn unsupported_protocol_level_v3_gets_return_code_1_mqtt_3_1_2_2() {
    let mut h = Harness::with_defaults();
    // "MQTT" level 3 and "MQIsdp" level 4 (wrong level for each name), and level 2.
    for (name, level) in [(&b"MQTT"[..], 3u8), (&b"MQIsdp"[..], 4), (&b"MQTT"[..], 2)] {
        let conn = h.open();
        let mut body = vec![0x00, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, 0x02, 0x00, 0x00, 0x00, 0x01, b'c']);
        let mut bytes = vec![0x10, body.len() as u8];
        bytes.extend(body);
        h.send_bytes(conn, &bytes);
        assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x01], "level {level}");
        assert!(h.is_closed(conn));
    }
}

#[test]
fn first_packet_not_connect_is_closed_without_connack_mqtt_3_1_0_1() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    h.send(conn, V5, Packet::PingReq);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());

    // Even a PUBLISH whose body has not arrived: closed on its first byte.
    let conn = h.open();
    h.send_bytes(conn, &[0x30, 0xFF, 0xFF]);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn second_connect_is_protocol_error_mqtt_3_1_0_2() {
    let mut h = Harness::with_defaults();
    let conn = h.client("twice", V5);
    h.send(conn, V5, connect("twice", V5));
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn second_connect_on_v3_is_closed_without_a_packet_mqtt_3_1_0_2() {
    let mut h = Harness::with_defaults();
    let conn = h.client("twice", V311);
    h.send(conn, V311, connect("twice", V311));
    assert!(h.is_closed(conn));
    h.recv_none(conn);
}

#[test]
fn malformed_v5_connect_gets_connack_0x81_mqtt_3_1_2_3_bad_inputs_9() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    let mut bytes = encoded(connect("c", V5));
    bytes[9] |= 0x01; // reserved CONNECT flag
    h.send_bytes(conn, &bytes);
    assert!(h.is_closed(conn));
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::MalformedPacket);
    assert!(!ack.session_present);
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn malformed_v311_connect_is_closed_without_connack_mqtt_3_1_2_3_bad_inputs_9() {
    // 3.x has no return code for a malformed packet: the connection is just closed.
    let mut h = Harness::with_defaults();
    let conn = h.open();
    let mut bytes = encoded(connect("c", V311));
    bytes[9] |= 0x01; // reserved CONNECT flag
    h.send_bytes(conn, &bytes);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());
}

// ---- connect timeout and size cap --------------------------------------------------------

#[test]
fn silent_connection_closed_at_connect_timeout_bad_inputs_23() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    h.advance(9_999);
    assert!(!h.is_closed(conn));
    h.advance(1);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn slowloris_one_byte_a_second_closed_at_connect_timeout_bad_inputs_23() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    let bytes = encoded(connect(
        "a-client-identifier-long-enough-to-take-a-minute",
        V5,
    ));
    assert!(bytes.len() > 20);
    for (i, b) in bytes.iter().enumerate().take(10) {
        h.send_bytes(conn, &[*b]);
        assert!(!h.is_closed(conn), "closed after {i} s");
        h.advance(999);
    }
    // 9.99 s in; the deadline is 10 s after accept.
    h.advance(10);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn connect_timeout_is_configurable_and_ends_at_connack() {
    let mut h = Harness::new(Config {
        connect_timeout_ms: 500,
        ..Config::default()
    });
    let slow = h.open();
    let quick = h.client("quick", V5);
    h.advance(500);
    assert!(h.is_closed(slow));
    // A connected client is not subject to it.
    assert!(!h.is_closed(quick));
    h.advance(60_000);
    assert!(!h.is_closed(quick));
}

#[test]
fn connect_bigger_than_connect_cap_is_closed_bad_inputs_5() {
    let mut h = Harness::with_defaults();
    let conn = h.open();
    // CONNECT claiming 81,920 bytes (> 64 KiB): refused on its header, nothing buffered.
    h.send_bytes(conn, &[0x10, 0x80, 0x80, 0x05]);
    assert!(h.is_closed(conn));
    assert!(h.raw(conn).is_empty());
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn connect_cap_lifts_to_max_packet_size_after_connack_bad_inputs_5() {
    let mut h = Harness::with_defaults();
    let sub = h.client("sub", V5);
    h.subscribe(sub, V5, "big", QoS::AtMostOnce);
    let conn = h.client("big", V5);
    let payload: &'static [u8] = Box::leak(vec![7u8; 100 * 1024].into_boxed_slice());
    h.send(conn, V5, publish("big", payload, QoS::AtMostOnce, 0));
    assert!(!h.is_closed(conn));
    let got = publishes(h.recv(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.len(), 100 * 1024);
}

// ---- client identifiers ------------------------------------------------------------------

#[test]
fn empty_client_id_v5_gets_assigned_identifier_mqtt_3_2_2_16() {
    let mut h = Harness::with_defaults();
    let (_, a) = h.connect_with(connect_v5("", true, Some(600)));
    let (_, b) = h.connect_with(connect_v5("", true, Some(600)));
    assert_eq!(a.reason_code, ConnectReasonCode::Success);
    let ida = a.properties.assigned_client_identifier.clone().unwrap();
    let idb = b.properties.assigned_client_identifier.clone().unwrap();
    assert!(!ida.is_empty());
    // [MQTT-3.1.3-6] unique.
    assert_ne!(ida, idb);
    // [MQTT-3.1.3-7] processed as if the client had sent it: the session is found under it.
    let (_, again) = h.connect_with(connect_v5(&ida, false, Some(600)));
    assert_eq!(again.reason_code, ConnectReasonCode::Success);
    assert!(again.session_present);
    assert_eq!(again.properties.assigned_client_identifier, None);
}

#[test]
fn empty_client_id_v5_refused_0x85_when_not_assigning_mqtt_3_1_3_8() {
    let mut h = Harness::new(Config {
        assign_client_id: false,
        ..Config::default()
    });
    let (conn, ack) = h.connect_with(connect("", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::ClientIdentifierNotValid);
    assert_eq!(ack.properties, ConnAckProperties::default());
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn empty_client_id_v311_clean_session_0_gets_0x02_mqtt_3_1_3_8_bad_inputs_19() {
    let mut h = Harness::with_defaults();
    let mut c = connect("", V311);
    c.clean_start = false;
    let conn = h.open_and_send(c);
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x02]);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn empty_client_id_v311_clean_session_1_accepted_mqtt_3_1_3_6() {
    let mut h = Harness::with_defaults();
    let a = h.open_and_send(connect("", V311));
    assert_eq!(h.raw(a), [0x20, 0x02, 0x00, 0x00]);
    let b = h.open_and_send(connect("", V311));
    assert_eq!(h.raw(b), [0x20, 0x02, 0x00, 0x00]);
    // Two distinct sessions: neither took the other over.
    assert!(!h.is_closed(a) && !h.is_closed(b));
    assert_eq!(h.shard.session_count(), 2);
}

#[test]
fn empty_client_id_v311_refused_when_not_assigning_mqtt_3_1_3_9() {
    let mut h = Harness::new(Config {
        assign_client_id: false,
        ..Config::default()
    });
    let conn = h.open_and_send(connect("", V311));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x02]);
    assert!(h.is_closed(conn));
}

#[test]
fn empty_client_id_v31_gets_0x02() {
    let mut h = Harness::with_defaults();
    let conn = h.open_and_send(connect("", V31));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x02]);
    assert!(h.is_closed(conn));
}

#[test]
fn client_id_longer_than_maximum_refused() {
    let mut h = Harness::new(Config {
        max_client_id_len: 23,
        ..Config::default()
    });
    let long = "x".repeat(24);
    // v5 [MQTT-3.1.3-8] 0x85.
    let (conn, ack) = h.connect_with(connect(&long, V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::ClientIdentifierNotValid);
    assert!(h.is_closed(conn));
    // 3.1.1 [MQTT-3.1.3-9] return code 0x02.
    let conn = h.open_and_send(connect(&long, V311));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x02]);
    assert!(h.is_closed(conn));
    // 23 characters [MQTT-3.1.3-5] are always accepted.
    h.client(&"x".repeat(23), V5);
}
