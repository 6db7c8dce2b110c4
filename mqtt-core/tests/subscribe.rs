//! SUBSCRIBE and UNSUBSCRIBE: wildcard matching, SUBACK codes per filter, replacement,
//! UNSUBACK codes, the per-client limit, and malformed subscriptions (bad-inputs rows 20, 21,
//! 25).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::Config;
use mqtt_proto::{DisconnectReasonCode, Packet, QoS, RetainHandling, UnsubAckReasonCode};

/// Topics received by `conn`, in order.
fn got_topics(h: &mut Harness, conn: mqtt_core::ConnId) -> Vec<String> {
    publishes(h.recv(conn))
        .iter()
        .map(|p| p.topic.to_string())
        .collect()
}

/// Publishes QoS 0 messages on each topic from a fresh v5 client named `pub`.
fn publish_all(h: &mut Harness, topics: &[&str]) {
    let p = h.client("pub", V5);
    for t in topics {
        h.send(p, V5, publish(t, b"x", QoS::AtMostOnce, 0));
    }
    h.recv_none(p);
}

#[test]
fn single_and_multi_level_wildcards_match_mqtt_4_7_1_2_and_4_7_1_3() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("sport/tennis/+", QoS::AtMostOnce),
            sub("finance/#", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x00, 0x00]);
    publish_all(
        &mut h,
        &[
            "sport/tennis/p1",
            "sport/tennis/p1/ranking",
            "sport/tennis",
            "finance",
            "finance/stock/ibm",
            "financex",
            "sport/tennis/",
        ],
    );
    assert_eq!(
        got_topics(&mut h, s),
        [
            "sport/tennis/p1",
            "finance",
            "finance/stock/ibm",
            "sport/tennis/"
        ]
    );
}

#[test]
fn dollar_topics_not_matched_by_leading_wildcard_mqtt_4_7_2_1() {
    let mut h = Harness::with_defaults();
    let wild = h.client("wild", V5);
    let (ack, _) = h.subscribe_many(
        wild,
        V5,
        vec![
            sub("#", QoS::AtMostOnce),
            sub("+/info", QoS::AtMostOnce),
            sub("+", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0, 0, 0]);
    let dollar = h.client("dollar", V5);
    h.subscribe(dollar, V5, "$app/+", QoS::AtMostOnce);
    publish_all(&mut h, &["$app/info", "$app", "app/info"]);
    // `#` and `+/info` see only the normal topic (once: one copy per client).
    assert_eq!(got_topics(&mut h, wild), ["app/info"]);
    assert_eq!(got_topics(&mut h, dollar), ["$app/info"]);
}

#[test]
fn suback_codes_in_filter_order_capped_by_max_qos_mqtt_3_9_3_1() {
    let mut h = Harness::new(Config {
        max_qos: QoS::AtLeastOnce,
        ..Config::default()
    });
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("q2", QoS::ExactlyOnce),
            sub("a/#/b", QoS::AtMostOnce),
            sub("q0", QoS::AtMostOnce),
            sub("q1", QoS::AtLeastOnce),
        ],
        None,
    );
    // The granted QoS may be lower than requested (MQTT 5 §3.9.3).
    assert_eq!(codes(&ack), [0x01, 0x8F, 0x00, 0x01]);
    assert_eq!(h.shard.subscription_count(), 3);
}

#[test]
fn invalid_filters_are_0x8f_and_never_stored_bad_inputs_row_20() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    let bad = [
        "$share/ab",
        "$share//t",
        "$share/g/",
        "$share/g+/t",
        "a/#/b",
        "a/b#",
        "a+/b",
        "#/",
    ];
    let (ack, rest) = h.subscribe_many(
        s,
        V5,
        bad.iter().map(|f| sub(f, QoS::AtLeastOnce)).collect(),
        None,
    );
    // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2]
    assert_eq!(codes(&ack), vec![0x8F; bad.len()]);
    assert!(rest.is_empty());
    assert_eq!(h.shard.subscription_count(), 0, "never stored");
    assert_eq!(h.shard.stats().rejected[0x8F], bad.len() as u64);
    // Nothing they might be mistaken for matches: `ab`, `t`, `a/b`.
    publish_all(&mut h, &["ab", "t", "a/b", "a/x/b"]);
    h.recv_none(s);
    // Unsubscribing from such a filter is 0x8F as well, not 0x11.
    let un = h.unsubscribe(s, V5, &["a/#/b", "$share//t"]);
    assert_eq!(
        un.reason_codes.as_slice(),
        [UnsubAckReasonCode::TopicFilterInvalid; 2]
    );
}

#[test]
fn too_many_levels_is_0x8f_bad_inputs_row_21() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    let at_limit = vec!["l"; 128].join("/");
    let over = vec!["l"; 129].join("/");
    // 65,535 `/` characters: 65,536 empty levels.
    let slashes = "/".repeat(65_535);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub(&over, QoS::AtMostOnce),
            sub(&slashes, QoS::AtMostOnce),
            sub(&format!("$share/g/{over}"), QoS::AtMostOnce),
            sub(&at_limit, QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x8F, 0x8F, 0x8F, 0x00]);
    assert_eq!(h.shard.subscription_count(), 1);
}

#[test]
fn subscription_limit_is_0x97_and_replacement_does_not_count_bad_inputs_row_25() {
    let mut h = Harness::new(Config {
        max_subscriptions_per_client: 2,
        ..Config::default()
    });
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("a", QoS::AtMostOnce),
            sub("$share/g/b", QoS::AtMostOnce),
            sub("c", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x00, 0x00, 0x97]);
    // A replacement of an existing filter is not a new subscription [MQTT-3.8.4-3].
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("a", QoS::AtLeastOnce)], None);
    assert_eq!(codes(&ack), [0x01]);
    // Another client has its own allowance.
    let t = h.client("t", V5);
    let (ack, _) = h.subscribe_many(t, V5, vec![sub("c", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x00]);
    // Room again after an unsubscribe.
    h.unsubscribe(s, V5, &["a"]);
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("c", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x00]);
    assert_eq!(h.shard.stats().rejected[0x97], 1);
    assert_eq!(h.shard.subscription_count(), 3);
    publish_all(&mut h, &["c", "a"]);
    assert_eq!(got_topics(&mut h, s), ["c"]);
}

#[test]
fn unsupported_features_give_0x9e_0xa1_0xa2() {
    let mut h = Harness::new(Config {
        shared_subscriptions: false,
        wildcard_subscriptions: false,
        ..Config::default()
    });
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("$share/g/t", QoS::AtMostOnce),
            sub("a/+", QoS::AtMostOnce),
            sub("a/#", QoS::AtMostOnce),
            sub("plain", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x9E, 0xA2, 0xA2, 0x00]);

    let mut h = Harness::new(Config {
        subscription_identifiers: false,
        ..Config::default()
    });
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("a", QoS::AtMostOnce)], Some(7));
    assert_eq!(codes(&ack), [0xA1]);
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("a", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x00]);
    assert_eq!(h.shard.subscription_count(), 1);
}

#[test]
fn v311_failures_are_0x80_mqtt_3_9_3_2() {
    let mut h = Harness::new(Config {
        max_subscriptions_per_client: 2,
        shared_subscriptions: false,
        ..Config::default()
    });
    let s = h.client("s", V311);
    let (ack, _) = h.subscribe_many(
        s,
        V311,
        vec![
            sub("a/#/b", QoS::AtMostOnce),
            sub("ok", QoS::ExactlyOnce),
            sub("$share/g/t", QoS::AtMostOnce),
            sub("ok2", QoS::AtLeastOnce),
            sub("over", QoS::AtLeastOnce),
        ],
        None,
    );
    // 3.1.1 allows only 0x00, 0x01, 0x02 and 0x80.
    assert_eq!(codes(&ack), [0x80, 0x02, 0x80, 0x01, 0x80]);
    // v3.1 likewise.
    let s31 = h.client("s31", V31);
    let (ack, _) = h.subscribe_many(s31, V31, vec![sub("a/#/b", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x80]);
}

#[test]
fn resubscribe_replaces_qos_and_options_without_duplicates_mqtt_3_8_4_3() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.subscribe(s, V5, "a/b", QoS::AtMostOnce);
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("a/b", QoS::AtLeastOnce)], None);
    assert_eq!(codes(&ack), [0x01]);
    assert_eq!(h.shard.subscription_count(), 1);
    let p = h.client("p", V5);
    h.send(p, V5, publish("a/b", b"1", QoS::AtLeastOnce, 1));
    let got = publishes(h.recv(s));
    assert_eq!(got.len(), 1, "one copy, not one per SUBSCRIBE: {got:?}");
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    h.send(
        s,
        V5,
        Packet::PubAck(mqtt_proto::PubAck::new(got[0].qos_pid.packet_id().unwrap())),
    );

    // Replace again, now with No Local: the client's own messages stop coming back.
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![sub_with(
            "a/b",
            QoS::AtMostOnce,
            true,
            false,
            RetainHandling::SendAtSubscribe,
        )],
        None,
    );
    assert_eq!(codes(&ack), [0x00]);
    h.send(s, V5, publish("a/b", b"own", QoS::AtMostOnce, 0));
    h.recv_none(s);
    h.send(p, V5, publish("a/b", b"2", QoS::AtLeastOnce, 2));
    let got = publishes(h.recv(s));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtMostOnce, "new QoS applies");
    assert_eq!(&got[0].payload[..], b"2");
}

#[test]
fn resubscribe_replaces_subscription_identifier_mqtt_3_8_4_3() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.subscribe_many(s, V5, vec![sub("t", QoS::AtMostOnce)], Some(5));
    h.subscribe_many(s, V5, vec![sub("t", QoS::AtMostOnce)], Some(9));
    publish_all(&mut h, &["t"]);
    let got = publishes(h.recv(s));
    assert_eq!(got.len(), 1);
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, [9]);
}

#[test]
fn unsuback_codes_and_delivery_stops_mqtt_3_10_4_2_and_3_11_3_1() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.subscribe_many(
        s,
        V5,
        vec![sub("a/+", QoS::AtMostOnce), sub("b", QoS::AtMostOnce)],
        None,
    );
    // Filters are compared character by character [MQTT-3.10.4-1]: `a/#` is not `a/+`.
    let un = h.unsubscribe(s, V5, &["a/+", "nothing", "a/#"]);
    assert_eq!(
        un.reason_codes.as_slice(),
        [
            UnsubAckReasonCode::Success,
            UnsubAckReasonCode::NoSubscriptionExisted,
            UnsubAckReasonCode::NoSubscriptionExisted
        ]
    );
    publish_all(&mut h, &["a/x", "b"]);
    assert_eq!(got_topics(&mut h, s), ["b"]);
    // A second UNSUBSCRIBE of the same filter: 0x11, still acknowledged [MQTT-3.10.4-5].
    let un = h.unsubscribe(s, V5, &["a/+"]);
    assert_eq!(
        un.reason_codes.as_slice(),
        [UnsubAckReasonCode::NoSubscriptionExisted]
    );
    assert_eq!(h.shard.subscription_count(), 1);
}

#[test]
fn v311_unsubscribe_is_acknowledged_and_delivery_stops_mqtt_3_10_4_4() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V311);
    h.subscribe(s, V311, "a", QoS::AtLeastOnce);
    let un = h.unsubscribe(s, V311, &["a", "never"]);
    assert!(un.reason_codes.is_empty(), "3.1.1 UNSUBACK has no payload");
    publish_all(&mut h, &["a"]);
    h.recv_none(s);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn subscription_count_follows_resubscribe_unsubscribe_and_session_end() {
    let mut h = Harness::with_defaults();
    let a = h.client("a", V5);
    h.subscribe_many(
        a,
        V5,
        vec![
            sub("x", QoS::AtMostOnce),
            sub("y/#", QoS::AtMostOnce),
            sub("$share/g/x", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(h.shard.subscription_count(), 3);
    assert_eq!(h.shard.shared_subscription_count(), 1);
    h.subscribe_many(a, V5, vec![sub("x", QoS::AtLeastOnce)], None);
    h.subscribe_many(a, V5, vec![sub("$share/g/x", QoS::AtLeastOnce)], None);
    assert_eq!(h.shard.subscription_count(), 3, "replacements");
    h.unsubscribe(a, V5, &["y/#", "y/#"]);
    assert_eq!(h.shard.subscription_count(), 2);
    // A persistent session keeps its subscriptions while disconnected...
    let mut c = connect("b", V5);
    c.properties.session_expiry_interval = Some(60);
    let (b, _) = h.connect_with(c);
    h.subscribe(b, V5, "z", QoS::AtLeastOnce);
    h.drop_conn(b);
    assert_eq!(h.shard.subscription_count(), 3);
    // ...and loses them when it expires.
    h.advance(61_000);
    assert_eq!(h.shard.subscription_count(), 2);
    // A clean session ends with its connection.
    h.drop_conn(a);
    assert_eq!(h.shard.subscription_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn clean_start_takeover_drops_old_subscriptions_mqtt_3_1_2_4() {
    let mut h = Harness::with_defaults();
    let mut c = connect("a", V5);
    c.properties.session_expiry_interval = Some(60);
    let (a, _) = h.connect_with(c);
    h.subscribe(a, V5, "x", QoS::AtMostOnce);
    let a2 = h.client("a", V5);
    assert_eq!(h.shard.subscription_count(), 0);
    publish_all(&mut h, &["x"]);
    h.recv_none(a2);
}

/// A raw SUBSCRIBE (v5) with the given payload after packet id 1 and empty properties.
fn raw_subscribe_v5(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x82, (3 + payload.len()) as u8, 0x00, 0x01, 0x00];
    v.extend_from_slice(payload);
    v
}

fn expect_disconnect(h: &mut Harness, conn: mqtt_core::ConnId, reason: DisconnectReasonCode) {
    match h.recv(conn).as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, reason),
        other => panic!("expected DISCONNECT {reason:?}, got {other:?}"),
    }
    assert!(h.is_closed(conn));
}

#[test]
fn subscribe_without_filters_is_protocol_error_mqtt_3_8_3_2_bad_inputs_row_20() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.send_bytes(s, &raw_subscribe_v5(&[]));
    expect_disconnect(&mut h, s, DisconnectReasonCode::ProtocolError);
    // v3.1.1: just closed.
    let s = h.client("s3", V311);
    h.send_bytes(s, &[0x82, 0x02, 0x00, 0x01]);
    h.recv_none(s);
    assert!(h.is_closed(s));
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn reserved_option_bits_are_malformed_mqtt_3_8_3_5_bad_inputs_row_20() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.send_bytes(s, &raw_subscribe_v5(&[0x00, 0x01, b't', 0xC0]));
    expect_disconnect(&mut h, s, DisconnectReasonCode::MalformedPacket);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn retain_handling_3_is_protocol_error_bad_inputs_row_20() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    h.send_bytes(s, &raw_subscribe_v5(&[0x00, 0x01, b't', 0x30]));
    expect_disconnect(&mut h, s, DisconnectReasonCode::ProtocolError);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn no_local_on_shared_subscription_is_protocol_error_mqtt_3_8_3_4_bad_inputs_row_20() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    let mut payload = vec![0x00, 10];
    payload.extend_from_slice(b"$share/g/t");
    payload.push(0x04);
    h.send_bytes(s, &raw_subscribe_v5(&payload));
    expect_disconnect(&mut h, s, DisconnectReasonCode::ProtocolError);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn one_bad_filter_does_not_spoil_the_others_mqtt_3_9_3_1() {
    let mut h = Harness::with_defaults();
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("good/1", QoS::AtMostOnce),
            sub("bad/#/x", QoS::AtMostOnce),
            sub("good/2", QoS::AtLeastOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x00, 0x8F, 0x01]);
    publish_all(&mut h, &["good/1", "good/2"]);
    assert_eq!(got_topics(&mut h, s), ["good/1", "good/2"]);
}
