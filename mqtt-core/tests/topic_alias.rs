//! Topic aliases (MQTT 5 §3.3.2.3.4): the map a client sets on its connection, and the LRU the
//! broker keeps for each subscriber up to that client's Topic Alias Maximum.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{DisconnectReasonCode, Publish, QoS};

/// (topic, alias) of each PUBLISH, for compact assertions.
fn topic_alias(ps: &[Publish]) -> Vec<(String, Option<u16>)> {
    ps.iter()
        .map(|p| {
            (
                p.topic.to_string(),
                p.properties.topic_alias.map(|a| a.get()),
            )
        })
        .collect()
}

/// A plain subscriber (no Topic Alias Maximum) to `#` and a publisher.
fn plain_pair(config: Config) -> (Harness, ConnId, ConnId) {
    let mut h = Harness::new(config);
    let s = h.client("sub", V5);
    h.subscribe(s, V5, "#", QoS::AtMostOnce);
    let p = h.client("pub", V5);
    (h, s, p)
}

#[test]
fn inbound_alias_is_set_resolved_and_reassigned_mqtt_3_3_2_12() {
    let (mut h, s, p) = plain_pair(Config::default());
    let (_, ack) = h.connect_with(connect("probe", V5));
    assert_eq!(ack.properties.topic_alias_maximum, Some(64));
    let m = || publish("ignored", b"x", QoS::AtMostOnce, 0);
    h.send(p, V5, aliased(m(), "t/a", 1));
    h.send(p, V5, aliased(m(), "", 1));
    h.send(p, V5, aliased(m(), "t/b", 1));
    h.send(p, V5, aliased(m(), "", 1));
    h.send(p, V5, aliased(m(), "t/max", 64));
    h.send(p, V5, aliased(m(), "", 64));
    let got = h.recv_publishes(s);
    // Resolved for the receiver, which gets no alias of the publisher's [MQTT-3.1.2-27].
    let expected = ["t/a", "t/a", "t/b", "t/b", "t/max", "t/max"];
    let expected: Vec<_> = expected.iter().map(|t| (t.to_string(), None)).collect();
    assert_eq!(topic_alias(&got), expected);
    assert!(!h.is_closed(p));
}

#[test]
fn inbound_alias_zero_is_0x94_mqtt_3_3_2_8_bad_input_12() {
    let (mut h, s, p) = plain_pair(Config::default());
    // PUBLISH QoS 0, topic "t", properties: Topic Alias (0x23) = 0, payload "x".
    h.send_bytes(
        p,
        &[0x30, 0x08, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00, b'x'],
    );
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::TopicAliasInvalid
    );
    assert!(h.is_closed(p));
    h.recv_none(s);
}

#[test]
fn inbound_alias_above_the_maximum_is_0x94_mqtt_3_3_2_9_bad_input_12() {
    let (mut h, s, p) = plain_pair(Config::default());
    h.send(
        p,
        V5,
        aliased(publish("x", b"x", QoS::AtMostOnce, 0), "t", 65),
    );
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::TopicAliasInvalid
    );
    h.recv_none(s);
}

#[test]
fn inbound_alias_when_none_were_offered_is_0x94_mqtt_3_2_2_18() {
    let config = Config {
        topic_alias_maximum: 0,
        ..Config::default()
    };
    let (mut h, s, _) = plain_pair(config);
    let (p, ack) = h.connect_with(connect("pub2", V5));
    assert_eq!(ack.properties.topic_alias_maximum, None);
    h.send(
        p,
        V5,
        aliased(publish("x", b"x", QoS::AtMostOnce, 0), "t", 1),
    );
    assert_eq!(
        h.recv_disconnect(p),
        DisconnectReasonCode::TopicAliasInvalid
    );
    h.recv_none(s);
}

#[test]
fn unknown_alias_with_empty_topic_is_0x82_bad_input_12() {
    let (mut h, s, p) = plain_pair(Config::default());
    h.send(
        p,
        V5,
        aliased(publish("t/a", b"x", QoS::AtMostOnce, 0), "t/a", 1),
    );
    h.send(
        p,
        V5,
        aliased(publish("", b"y", QoS::AtLeastOnce, 1), "", 2),
    );
    assert_eq!(h.recv_disconnect(p), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(p));
    assert_eq!(h.recv_publishes(s).len(), 1);
}

#[test]
fn inbound_aliases_do_not_carry_over_to_a_new_connection_mqtt_3_3_2_7() {
    let (mut h, s, _) = plain_pair(Config::default());
    let persistent = || connect_v5("pub2", false, Some(600));
    let (p, _) = h.connect_with(persistent());
    h.send(
        p,
        V5,
        aliased(publish("t/a", b"x", QoS::AtMostOnce, 0), "t/a", 1),
    );
    h.drop_conn(p);
    let (p, _) = h.reconnect(persistent(), true);
    h.send(p, V5, aliased(publish("", b"y", QoS::AtMostOnce, 0), "", 1));
    assert_eq!(h.recv_disconnect(p), DisconnectReasonCode::ProtocolError);
    assert_eq!(h.recv_publishes(s).len(), 1);
}

/// A subscriber to `#` that offered `max` aliases (and optionally a Maximum Packet Size).
fn alias_pair(max: u16, max_packet: Option<u32>) -> (Harness, ConnId, ConnId) {
    let mut h = Harness::with_defaults();
    let (s, _) = h.connect_with(connect_limited("sub", None, max_packet, Some(max)));
    h.subscribe(s, V5, "#", QoS::AtMostOnce);
    let p = h.client("pub", V5);
    (h, s, p)
}

#[test]
fn outbound_aliases_are_an_lru_within_the_clients_maximum_mqtt_3_1_2_26() {
    let (mut h, s, p) = alias_pair(2, None);
    for t in ["a", "b", "a", "c", "b", "b"] {
        h.send(p, V5, publish(t, b"x", QoS::AtMostOnce, 0));
    }
    let got = h.recv_publishes(s);
    let expected = [
        ("a", Some(1)), // new: topic and alias
        ("b", Some(2)),
        ("", Some(1)),  // known: empty topic
        ("c", Some(2)), // b was least recently used: its alias goes to c
        ("b", Some(1)), // a was least recently used now
        ("", Some(1)),
    ];
    let expected: Vec<_> = expected.iter().map(|(t, a)| (t.to_string(), *a)).collect();
    assert_eq!(topic_alias(&got), expected);
}

#[test]
fn no_outbound_aliases_when_the_client_offered_none_mqtt_3_1_2_27() {
    let (mut h, s, p) = alias_pair(0, None);
    for _ in 0..3 {
        h.send(p, V5, publish("a/b", b"x", QoS::AtMostOnce, 0));
    }
    let got = h.recv_publishes(s);
    assert_eq!(topic_alias(&got), vec![("a/b".to_string(), None); 3]);
}

#[test]
fn outbound_aliases_start_afresh_on_each_connection_mqtt_3_3_2_7() {
    let mut h = Harness::with_defaults();
    let sub = || {
        let mut c = connect_limited("sub", None, None, Some(5));
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(600);
        c
    };
    let (s, _) = h.connect_with(sub());
    h.subscribe(s, V5, "#", QoS::AtMostOnce);
    let p = h.client("pub", V5);
    h.send(p, V5, publish("a", b"x", QoS::AtMostOnce, 0));
    h.send(p, V5, publish("a", b"x", QoS::AtMostOnce, 0));
    let got = h.recv_publishes(s);
    assert_eq!(
        topic_alias(&got),
        [("a".into(), Some(1)), ("".into(), Some(1))]
    );
    h.drop_conn(s);
    let (s, _) = h.reconnect(sub(), true);
    h.send(p, V5, publish("a", b"x", QoS::AtMostOnce, 0));
    let got = h.recv_publishes(s);
    assert_eq!(topic_alias(&got), [("a".into(), Some(1))]);
}

#[test]
fn alias_is_left_out_when_the_packet_would_not_fit_with_it_mqtt_3_1_2_24() {
    // QoS 0 PUBLISH on "t" with a 58-byte payload: exactly 64 bytes; an alias adds 3.
    let (mut h, s, p) = alias_pair(5, Some(64));
    h.send(
        p,
        V5,
        publish_bytes("t", vec![b'x'; 58], QoS::AtMostOnce, 0),
    );
    h.send(p, V5, publish("t", b"small", QoS::AtMostOnce, 0));
    h.send(p, V5, publish("t", b"small", QoS::AtMostOnce, 0));
    let got = h.recv_publishes(s);
    // The first went out whole and without an alias; the client learned none, so the next
    // one assigns alias 1.
    assert_eq!(
        topic_alias(&got),
        [
            ("t".into(), None),
            ("t".into(), Some(1)),
            ("".into(), Some(1))
        ]
    );
    assert_eq!(got[0].payload.len(), 58);
    assert_eq!(h.shard.stats().dropped_too_large, 0);
}

#[test]
fn a_known_alias_lets_a_message_fit_that_would_not_with_its_topic_mqtt_3_1_2_24() {
    let topic = "a/very/long/topic/name/of/forty/chars/xy";
    assert_eq!(topic.len(), 40);
    let (mut h, s, p) = alias_pair(5, Some(64));
    h.send(p, V5, publish(topic, b"1", QoS::AtMostOnce, 0));
    // 75 bytes with the topic, 38 with the alias.
    h.send(
        p,
        V5,
        publish_bytes(topic, vec![b'x'; 30], QoS::AtMostOnce, 0),
    );
    let got = h.recv_publishes(s);
    assert_eq!(
        topic_alias(&got),
        [(topic.into(), Some(1)), ("".into(), Some(1))]
    );
    assert_eq!(got[1].payload.len(), 30);
    assert_eq!(h.shard.stats().dropped_too_large, 0);
}

#[test]
fn a_v3_subscriber_never_gets_aliases() {
    let mut h = Harness::with_defaults();
    let s = h.client("sub", V311);
    h.subscribe(s, V311, "#", QoS::AtMostOnce);
    let p = h.client("pub", V5);
    h.send(
        p,
        V5,
        aliased(publish("x", b"1", QoS::AtMostOnce, 0), "t", 1),
    );
    h.send(p, V5, aliased(publish("", b"2", QoS::AtMostOnce, 0), "", 1));
    let got = h.recv_publishes(s);
    assert_eq!(topic_alias(&got), [("t".into(), None), ("t".into(), None)]);
}
