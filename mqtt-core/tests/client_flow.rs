//! Flow control and limits: the server's Receive Maximum, Maximum Packet Size, Maximum QoS
//! and Retain Available, the client's queue bound, and topic aliases both ways.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use core::num::NonZeroU16;

use bytes::Bytes;
use client_support::*;
use mqtt_core::client::{ClientError, ClientOptions, CloseReason, Event, ProtocolViolation};
use mqtt_core::Config;
use mqtt_proto::{
    ConnAckProperties, DecodeError, DisconnectReasonCode, Packet, Publish, PublishProperties, QoS,
    QosPid, ReasonCode,
};

fn alias_publish(alias: u16, topic: &str, qos_pid: QosPid) -> Publish {
    Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: topic.into(),
        properties: PublishProperties {
            topic_alias: NonZeroU16::new(alias),
            ..PublishProperties::default()
        },
        payload: Bytes::from_static(b"p"),
    }
}

/// Ten QoS 2 publishes against a broker with Receive Maximum 3: never more than 3
/// unreleased at the broker, and all complete once the acks flow.
#[test]
fn receive_maximum_is_respected_at_qos2_mqtt_3_3_4_7() {
    let mut net = Net::new(Config {
        receive_maximum: 3,
        ..Config::default()
    });
    let c = net.add(opts("window", V5));
    net.connect_ok(c);
    let _ = net.sent(c);
    net.peers[c].hold_down = true;
    let now = net.now;
    let tokens: Vec<_> = (0..10u8)
        .map(|i| {
            net.client(c)
                .publish(msg("w", &[i], QoS::ExactlyOnce), now)
                .unwrap()
        })
        .collect();
    net.pump();
    assert_eq!(publishes(&net.sent(c)).len(), 3);
    assert_eq!(net.shard.occupancy().max_awaiting_rel, 3);
    assert_eq!(net.client(c).inflight_len(), 3);
    assert_eq!(net.client(c).queued_len(), 7);
    net.peers[c].hold_down = false;
    net.pump();
    let done = published(&net.events(c));
    assert_eq!(
        done,
        tokens
            .iter()
            .map(|t| (*t, ReasonCode(0)))
            .collect::<Vec<_>>()
    );
    // The broker never saw a fourth unreleased PUBLISH (it would have closed with 0x93).
    assert_eq!(net.max_awaiting_rel_seen, 3);
    assert!(net.client(c).is_connected());
    assert_eq!(net.shard.stats().rejected[0x93], 0);
}

#[test]
fn receive_maximum_is_respected_at_qos1_mqtt_4_9_0_2() {
    let mut net = Net::new(Config {
        receive_maximum: 2,
        ..Config::default()
    });
    let c = net.add(opts("window1", V5));
    net.connect_ok(c);
    let _ = net.sent(c);
    net.peers[c].hold_down = true;
    let now = net.now;
    for i in 0..5u8 {
        net.client(c)
            .publish(msg("w", &[i], QoS::AtLeastOnce), now)
            .unwrap();
    }
    net.pump();
    // Two PUBLISH out while their PUBACKs are held in the pipe.
    let sent = net.sent(c);
    let pubs = publishes(&sent);
    assert_eq!(pubs.len(), 2);
    assert_eq!(
        pubs.iter().map(|p| p.payload[0]).collect::<Vec<_>>(),
        [0, 1]
    );
    net.peers[c].hold_down = false;
    net.pump();
    let sent = net.sent(c);
    let order: Vec<u8> = publishes(&sent).iter().map(|p| p.payload[0]).collect();
    assert_eq!(order, [2, 3, 4], "the rest, in order");
    assert_eq!(published(&net.events(c)).len(), 5);
}

#[test]
fn subscribe_is_not_delayed_by_a_full_window_mqtt_3_3_4_8() {
    let mut net = Net::new(Config {
        receive_maximum: 1,
        ..Config::default()
    });
    let c = net.add(opts("nodelay", V5));
    net.connect_ok(c);
    let _ = net.sent(c);
    net.peers[c].hold_down = true;
    let now = net.now;
    net.client(c)
        .publish(msg("a", b"1", QoS::AtLeastOnce), now)
        .unwrap();
    net.client(c)
        .publish(msg("a", b"2", QoS::AtLeastOnce), now)
        .unwrap();
    net.client(c)
        .subscribe([sub("s", QoS::AtMostOnce)], Default::default(), now)
        .unwrap();
    net.pump();
    let types: Vec<_> = net.sent(c).iter().map(Packet::packet_type).collect();
    assert_eq!(
        types,
        [
            mqtt_proto::PacketType::Publish,
            mqtt_proto::PacketType::Subscribe
        ]
    );
}

#[test]
fn a_full_queue_refuses_commands() {
    let mut l = Lone::new(ClientOptions {
        max_queued: 2,
        ..opts("q", V5)
    });
    let now = l.now;
    for _ in 0..2 {
        l.client
            .publish(msg("t", b"x", QoS::AtLeastOnce), now)
            .unwrap();
    }
    assert_eq!(
        l.client.publish(msg("t", b"x", QoS::AtMostOnce), now),
        Err(ClientError::QueueFull(2))
    );
    assert_eq!(
        l.client
            .subscribe([sub("s", QoS::AtMostOnce)], Default::default(), now),
        Err(ClientError::QueueFull(2))
    );
    assert_eq!(l.client.queued_len(), 2);
}

#[test]
fn publish_over_the_servers_maximum_packet_size_is_refused_mqtt_3_2_2_15() {
    let mut net = Net::new(Config {
        max_packet_size: 100,
        ..Config::default()
    });
    let c = net.add(opts("big", V5));
    net.connect_ok(c);
    let _ = net.sent(c);
    let now = net.now;
    let r = net
        .client(c)
        .publish(msg("t", &[0u8; 200], QoS::AtLeastOnce), now);
    assert!(
        matches!(r, Err(ClientError::PacketTooLarge { max: 100, .. })),
        "{r:?}"
    );
    // Nothing was sent and nothing is in flight; a small one still goes.
    net.pump();
    assert!(net.sent(c).is_empty());
    assert_eq!(net.client(c).inflight_len(), 0);
    net.publish(c, "t", &[0u8; 10], QoS::AtLeastOnce);
    assert_eq!(published(&net.events(c)).len(), 1);
}

#[test]
fn queued_publish_over_the_maximum_packet_size_fails_after_connack() {
    let mut net = Net::new(Config {
        max_packet_size: 100,
        ..Config::default()
    });
    let c = net.add(opts("big-later", V5));
    let now = net.now;
    let big = net
        .client(c)
        .publish(msg("t", &[0u8; 200], QoS::AtLeastOnce), now)
        .unwrap();
    let small = net
        .client(c)
        .publish(msg("t", &[0u8; 10], QoS::AtLeastOnce), now)
        .unwrap();
    net.connect(c);
    let events = net.events(c);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Failed { token, error: ClientError::PacketTooLarge { max: 100, .. } } if *token == big
    )));
    assert_eq!(published(&events), vec![(small, ReasonCode(0))]);
}

#[test]
fn qos_above_the_servers_maximum_is_refused_mqtt_3_2_2_11() {
    let mut net = Net::new(Config {
        max_qos: QoS::AtLeastOnce,
        ..Config::default()
    });
    let c = net.add(opts("maxqos", V5));
    net.connect_ok(c);
    let now = net.now;
    assert_eq!(
        net.client(c).publish(msg("t", b"x", QoS::ExactlyOnce), now),
        Err(ClientError::QosNotSupported {
            requested: QoS::ExactlyOnce,
            maximum: QoS::AtLeastOnce
        })
    );
    net.pump();
    assert!(net.client(c).is_connected());
}

#[test]
fn retain_is_refused_when_unavailable_mqtt_3_2_2_14() {
    let mut net = Net::new(Config {
        retain_available: false,
        ..Config::default()
    });
    let c = net.add(opts("noretain", V5));
    net.connect_ok(c);
    let now = net.now;
    assert_eq!(
        net.client(c)
            .publish(msg("t", b"x", QoS::AtMostOnce).retain(true), now),
        Err(ClientError::RetainNotSupported)
    );
}

#[test]
fn invalid_topic_names_are_refused_mqtt_3_3_2_2() {
    let mut l = Lone::new(opts("topics", V5));
    let now = l.now;
    for bad in ["", "a/+", "a/#"] {
        assert!(
            matches!(
                l.client.publish(msg(bad, b"x", QoS::AtMostOnce), now),
                Err(ClientError::InvalidTopic(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn outbound_topic_aliases_stay_within_the_servers_maximum_mqtt_3_3_2_9() {
    let mut net = Net::new(Config {
        topic_alias_maximum: 2,
        ..Config::default()
    });
    let p = net.add(ClientOptions {
        outbound_topic_aliases: 10,
        ..opts("aliaser", V5)
    });
    let s = net.add(opts("reader", V5));
    net.connect_ok(p);
    net.connect_ok(s);
    net.subscribe(s, "al/#", QoS::AtMostOnce);
    let _ = net.sent(p);
    let topics = [
        "al/one", "al/one", "al/two", "al/one", "al/three", "al/three",
    ];
    for t in topics {
        net.publish(p, t, t.as_bytes(), QoS::AtMostOnce);
    }
    let sent = net.sent(p);
    let wire: Vec<(String, Option<u16>)> = publishes(&sent)
        .iter()
        .map(|p| {
            (
                p.topic.to_string(),
                p.properties.topic_alias.map(NonZeroU16::get),
            )
        })
        .collect();
    assert_eq!(
        wire,
        [
            ("al/one".to_string(), Some(1)),
            (String::new(), Some(1)),
            ("al/two".to_string(), Some(2)),
            (String::new(), Some(1)),
            // The least recently used alias (2) is reassigned.
            ("al/three".to_string(), Some(2)),
            (String::new(), Some(2)),
        ]
    );
    // The broker resolved every alias.
    let got: Vec<String> = net
        .messages(s)
        .iter()
        .map(|m| m.topic.to_string())
        .collect();
    assert_eq!(got, topics);
}

#[test]
fn no_outbound_aliases_when_the_server_has_none_mqtt_3_2_2_18() {
    let mut net = Net::new(Config {
        topic_alias_maximum: 0,
        ..Config::default()
    });
    let p = net.add(ClientOptions {
        outbound_topic_aliases: 10,
        ..opts("aliaser", V5)
    });
    net.connect_ok(p);
    net.publish(p, "x", b"1", QoS::AtMostOnce);
    net.publish(p, "x", b"2", QoS::AtMostOnce);
    let sent = net.sent(p);
    assert!(publishes(&sent)
        .iter()
        .all(|p| p.topic == "x" && p.properties.topic_alias.is_none()));
}

#[test]
fn outbound_aliases_do_not_carry_over_a_reconnect_mqtt_3_3_2_7() {
    let mut net = Net::with_defaults();
    let p = net.add(ClientOptions {
        outbound_topic_aliases: 4,
        ..opts("again", V5)
    });
    net.connect_ok(p);
    net.publish(p, "x", b"1", QoS::AtMostOnce);
    net.publish(p, "x", b"2", QoS::AtMostOnce);
    net.cut(p);
    net.connect_ok(p);
    net.publish(p, "x", b"3", QoS::AtMostOnce);
    let sent = net.sent(p);
    let topics: Vec<&str> = publishes(&sent).iter().map(|p| &*p.topic).collect();
    assert_eq!(topics, ["x", "", "x"]);
}

#[test]
fn inbound_topic_aliases_are_resolved_mqtt_3_3_2_10() {
    let mut net = Net::with_defaults();
    let p = net.add(opts("writer", V5));
    let s = net.add(ClientOptions {
        topic_alias_maximum: 4,
        ..opts("aliased-reader", V5)
    });
    net.connect_ok(p);
    net.connect_ok(s);
    net.subscribe(s, "in/#", QoS::AtLeastOnce);
    let _ = net.received(s);
    for i in 0..3u8 {
        net.publish(p, "in/a", &[i], QoS::AtLeastOnce);
    }
    // The broker used an alias on the wire after the first message…
    let wire = net.received(s);
    let topics: Vec<&str> = publishes(&wire).iter().map(|p| &*p.topic).collect();
    assert_eq!(topics, ["in/a", "", ""]);
    // …and the application sees the topic, without the alias.
    let got = net.messages(s);
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|m| m.topic == "in/a" && m.properties.topic_alias.is_none()));
}

#[test]
fn unknown_inbound_alias_is_a_protocol_error() {
    let mut l = Lone::connected(
        ClientOptions {
            topic_alias_maximum: 4,
            ..opts("unknown", V5)
        },
        ConnAckProperties::default(),
    );
    l.feed(alias_publish(3, "", QosPid::AtMostOnce));
    match &l.sent()[..] {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, DisconnectReasonCode::ProtocolError),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(
            ProtocolViolation::UnknownTopicAlias(3)
        ))
    );
}

#[test]
fn inbound_alias_above_our_maximum_is_0x94_mqtt_3_3_2_10() {
    let mut l = Lone::connected(
        ClientOptions {
            topic_alias_maximum: 4,
            ..opts("toolarge", V5)
        },
        ConnAckProperties::default(),
    );
    l.feed(alias_publish(5, "t", QosPid::AtMostOnce));
    match &l.sent()[..] {
        [Packet::Disconnect(d)] => {
            assert_eq!(d.reason_code, DisconnectReasonCode::TopicAliasInvalid);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(ProtocolViolation::Malformed(
            DecodeError::TopicAliasTooLarge { alias: 5, max: 4 }
        )))
    );
}

#[test]
fn server_over_our_receive_maximum_is_0x93_mqtt_3_3_4_9() {
    let mut l = Lone::connected(
        ClientOptions {
            receive_maximum: 2,
            ..opts("small", V5)
        },
        ConnAckProperties::default(),
    );
    for id in 1..=3u16 {
        l.feed(Publish {
            dup: false,
            qos_pid: QosPid::ExactlyOnce(NonZeroU16::new(id).unwrap()),
            retain: false,
            topic: "t".into(),
            properties: PublishProperties::default(),
            payload: Bytes::new(),
        });
    }
    let sent = l.sent();
    assert!(matches!(
        sent.last(),
        Some(Packet::Disconnect(d)) if d.reason_code == DisconnectReasonCode::ReceiveMaximumExceeded
    ));
    let events = l.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count(),
        2
    );
    assert_eq!(
        close_reason(&events),
        Some(&CloseReason::ProtocolError(
            ProtocolViolation::ReceiveMaximumExceeded
        ))
    );
}

#[test]
fn our_limits_are_announced_in_connect() {
    let mut l = Lone::new(ClientOptions {
        receive_maximum: 10,
        maximum_packet_size: 2048,
        topic_alias_maximum: 8,
        session_expiry: 90,
        ..opts("announce", V5)
    });
    l.client.connect(l.now).unwrap();
    match &l.sent()[..] {
        [Packet::Connect(c)] => {
            let p = &c.properties;
            assert_eq!(p.receive_maximum.map(NonZeroU16::get), Some(10));
            assert_eq!(p.maximum_packet_size.map(|m| m.get()), Some(2048));
            assert_eq!(p.topic_alias_maximum, Some(8));
            assert_eq!(p.session_expiry_interval, Some(90));
            assert!(c.clean_start);
        }
        other => panic!("{other:?}"),
    }
}
