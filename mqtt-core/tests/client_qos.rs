//! QoS 0/1/2 flows of the client in both directions, against the broker core and against
//! scripted server packets: acknowledgements, exactly-once delivery, packet identifiers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use core::num::NonZeroU16;
use std::collections::HashSet;

use bytes::Bytes;
use client_support::*;
use mqtt_core::client::{Event, OutgoingMessage};
use mqtt_core::Config;
use mqtt_proto::{
    ConnAckProperties, Packet, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel, PubRelReasonCode,
    Publish, PublishProperties, QoS, QosPid, ReasonCode, SubAckReasonCode, UnsubAckReasonCode,
};

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn server_publish(qos_pid: QosPid, dup: bool, topic: &str, payload: &'static [u8]) -> Publish {
    Publish {
        dup,
        qos_pid,
        retain: false,
        topic: topic.into(),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(payload),
    }
}

/// A publisher and a subscriber at `qos` on topic "t".
fn pair(qos: QoS) -> (Net, usize, usize) {
    let mut net = Net::with_defaults();
    let publisher = net.add(opts("pub", V5));
    let subscriber = net.add(opts("sub", V5));
    net.connect_ok(publisher);
    net.connect_ok(subscriber);
    net.subscribe(subscriber, "t", qos);
    let _ = net.sent(publisher);
    let _ = net.sent(subscriber);
    let _ = net.received(subscriber);
    (net, publisher, subscriber)
}

#[test]
fn qos0_between_two_clients_has_no_acknowledgement_mqtt_4_3_1_1() {
    let (mut net, p, s) = pair(QoS::AtMostOnce);
    net.publish(p, "t", b"zero", QoS::AtMostOnce);
    let sent = net.sent(p);
    let pubs = publishes(&sent);
    assert_eq!(pubs.len(), 1);
    assert_eq!(pubs[0].qos_pid, QosPid::AtMostOnce);
    assert!(!pubs[0].dup);
    assert!(net.events(p).is_empty(), "no event for QoS 0");
    let got = net.messages(s);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"zero");
    assert!(net.sent(s).is_empty(), "nothing to acknowledge");
}

#[test]
fn qos1_between_two_clients_with_puback_mqtt_4_3_2_4() {
    let (mut net, p, s) = pair(QoS::AtLeastOnce);
    let token = net.publish(p, "t", b"one", QoS::AtLeastOnce);
    // The publisher's PUBLISH carries an identifier and DUP 0 [MQTT-4.3.2-2]; its PUBACK
    // completed it [MQTT-4.3.2-3].
    let sent = net.sent(p);
    let pubs = publishes(&sent);
    assert!(matches!(pubs[0].qos_pid, QosPid::AtLeastOnce(_)) && !pubs[0].dup);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    assert_eq!(net.client(p).inflight_len(), 0);
    // The subscriber got it and acknowledged it with its identifier.
    let got = net.messages(s);
    assert_eq!(got.len(), 1);
    let QosPid::AtLeastOnce(id) = got[0].qos_pid else {
        panic!("{:?}", got[0].qos_pid)
    };
    match &net.sent(s)[..] {
        [Packet::PubAck(a)] => assert_eq!(a.packet_id, id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        net.shard.occupancy().max_inflight,
        0,
        "the broker got the PUBACK"
    );
}

#[test]
fn qos2_between_two_clients_with_the_full_handshake_mqtt_4_3_3_4() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce);
    let token = net.publish(p, "t", b"two", QoS::ExactlyOnce);
    // Publisher: PUBLISH, then PUBREL with the same identifier after PUBREC.
    let sent = net.sent(p);
    let (Packet::Publish(first), Packet::PubRel(rel)) = (&sent[0], &sent[1]) else {
        panic!("{sent:?}")
    };
    let QosPid::ExactlyOnce(id) = first.qos_pid else {
        panic!()
    };
    assert_eq!(rel.packet_id, id);
    assert_eq!(sent.len(), 2);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    // Subscriber: delivered once, PUBREC then PUBCOMP.
    assert_eq!(net.messages(s).len(), 1);
    let types: Vec<_> = net.sent(s).iter().map(Packet::packet_type).collect();
    assert_eq!(
        types,
        [
            mqtt_proto::PacketType::PubRec,
            mqtt_proto::PacketType::PubComp
        ]
    );
    let o = net.shard.occupancy();
    assert_eq!((o.max_inflight, o.max_awaiting_rel), (0, 0));
}

#[test]
fn puback_reason_code_reaches_the_application() {
    let mut net = Net::new(Config {
        no_matching_subscribers_reason: true,
        ..Config::default()
    });
    let c = net.add(opts("lonely", V5));
    net.connect_ok(c);
    let t1 = net.publish(c, "nobody/listens", b"x", QoS::AtLeastOnce);
    let t2 = net.publish(c, "nobody/listens", b"x", QoS::ExactlyOnce);
    let want = ReasonCode(PubAckReasonCode::NoMatchingSubscribers.as_u8());
    assert_eq!(published(&net.events(c)), vec![(t1, want), (t2, want)]);
}

#[test]
fn refused_pubrec_completes_without_pubrel_mqtt_4_4_0_2() {
    let mut l = Lone::connected(opts("refused", V5), ConnAckProperties::default());
    let token = l
        .client
        .publish(msg("t", b"x", QoS::ExactlyOnce), l.now)
        .unwrap();
    let sent = l.sent();
    let QosPid::ExactlyOnce(id) = publishes(&sent)[0].qos_pid else {
        panic!()
    };
    let mut rec = PubRec::new(id);
    rec.reason_code = PubAckReasonCode::NotAuthorized;
    rec.properties.reason_string = Some("no".into());
    l.feed(Packet::PubRec(rec));
    assert!(l.sent().is_empty(), "no PUBREL after a refusal");
    match &l.events()[..] {
        [Event::Published {
            token: t,
            reason,
            reason_string,
        }] => {
            assert_eq!(*t, token);
            assert_eq!(*reason, ReasonCode(0x87));
            assert_eq!(reason_string.as_deref(), Some("no"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(l.client.inflight_len(), 0);
}

#[test]
fn pubcomp_0x92_completes_with_the_pubrec_reason_and_duplicate_pubrec_gets_pubrel_again() {
    let mut l = Lone::connected(opts("comp", V5), ConnAckProperties::default());
    let token = l
        .client
        .publish(msg("t", b"x", QoS::ExactlyOnce), l.now)
        .unwrap();
    let sent = l.sent();
    let QosPid::ExactlyOnce(id) = publishes(&sent)[0].qos_pid else {
        panic!()
    };
    let mut rec = PubRec::new(id);
    rec.reason_code = PubAckReasonCode::NoMatchingSubscribers;
    l.feed(Packet::PubRec(rec.clone()));
    l.feed(Packet::PubRec(rec));
    let rels = l.sent();
    assert_eq!(rels.len(), 2);
    assert!(rels
        .iter()
        .all(|p| matches!(p, Packet::PubRel(r) if r.packet_id == id)));
    // A server that completed the message already answers a PUBREL sent again with 0x92:
    // the message's outcome is still the PUBREC's.
    let mut comp = PubComp::new(id);
    comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
    l.feed(Packet::PubComp(comp));
    assert_eq!(published(&l.events()), vec![(token, ReasonCode(0x10))]);
    assert_eq!(l.client.inflight_len(), 0);
}

#[test]
fn inbound_qos2_is_delivered_once_until_pubrel_mqtt_4_3_3_10() {
    let mut l = Lone::connected(opts("in2", V5), ConnAckProperties::default());
    l.feed(server_publish(
        QosPid::ExactlyOnce(pid(5)),
        false,
        "t",
        b"a",
    ));
    l.feed(server_publish(QosPid::ExactlyOnce(pid(5)), true, "t", b"a"));
    let events = l.events();
    assert_eq!(events.len(), 1, "delivered once: {events:?}");
    assert!(matches!(&events[0], Event::Message(p) if &p.payload[..] == b"a"));
    // Each PUBLISH is acknowledged with PUBREC [MQTT-4.3.3-8].
    let sent = l.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|p| matches!(p, Packet::PubRec(r) if r.packet_id == pid(5))));
    assert_eq!(l.client.awaiting_release_len(), 1);
    l.feed(Packet::PubRel(PubRel::new(pid(5))));
    match &l.sent()[..] {
        [Packet::PubComp(c)] => {
            assert_eq!(c.packet_id, pid(5));
            assert_eq!(c.reason_code, PubRelReasonCode::Success);
        }
        other => panic!("{other:?}"),
    }
    // [MQTT-4.3.3-12] after PUBCOMP the identifier names a new message.
    l.feed(server_publish(
        QosPid::ExactlyOnce(pid(5)),
        false,
        "t",
        b"b",
    ));
    assert!(matches!(&l.events()[..], [Event::Message(p)] if &p.payload[..] == b"b"));
}

#[test]
fn pubrel_for_an_unknown_identifier_gets_pubcomp_0x92_mqtt_4_3_3_11() {
    let mut l = Lone::connected(opts("rel", V5), ConnAckProperties::default());
    l.feed(Packet::PubRel(PubRel::new(pid(9))));
    match &l.sent()[..] {
        [Packet::PubComp(c)] => {
            assert_eq!(c.packet_id, pid(9));
            assert_eq!(c.reason_code, PubRelReasonCode::PacketIdentifierNotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inbound_qos1_is_acknowledged_and_repeats_are_new_messages_mqtt_4_3_2_5() {
    let mut l = Lone::connected(opts("in1", V311), ConnAckProperties::default());
    l.feed(server_publish(
        QosPid::AtLeastOnce(pid(3)),
        false,
        "t",
        b"a",
    ));
    l.feed(server_publish(QosPid::AtLeastOnce(pid(3)), true, "t", b"a"));
    assert_eq!(l.events().len(), 2);
    let sent = l.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|p| matches!(p, Packet::PubAck(a) if a.packet_id == pid(3))));
}

#[test]
fn packet_ids_skip_identifiers_in_flight_mqtt_2_2_1_3() {
    let mut l = Lone::connected(opts("ids", V5), ConnAckProperties::default());
    let now = l.now;
    let first = l
        .client
        .publish(msg("t", b"0", QoS::AtLeastOnce), now)
        .unwrap();
    let sent = l.sent();
    let QosPid::AtLeastOnce(held) = publishes(&sent)[0].qos_pid else {
        panic!()
    };
    // Wrap the identifier space twice with the first message still unacknowledged.
    let mut seen = HashSet::new();
    for i in 0..(2 * 65_535) {
        l.client
            .publish(msg("t", format!("{i}").as_bytes(), QoS::AtLeastOnce), now)
            .unwrap();
        let sent = l.sent();
        let QosPid::AtLeastOnce(id) = publishes(&sent)[0].qos_pid else {
            panic!()
        };
        assert_ne!(id, held, "identifier {id} is in flight");
        seen.insert(id);
        l.feed(Packet::PubAck(PubAck::new(id)));
    }
    assert_eq!(seen.len(), 65_534, "every other identifier was used");
    l.feed(Packet::PubAck(PubAck::new(held)));
    let events = l.events();
    assert_eq!(published(&events).last(), Some(&(first, ReasonCode(0))));
    assert_eq!(l.client.inflight_len(), 0);
}

#[test]
fn acks_for_unknown_identifiers_are_ignored() {
    let mut l = Lone::connected(opts("stray", V5), ConnAckProperties::default());
    l.feed(Packet::PubAck(PubAck::new(pid(77))));
    l.feed(Packet::PubComp(PubComp::new(pid(78))));
    assert!(l.events().is_empty());
    assert!(l.client.is_connected());
    // A PUBREC for an unknown identifier is released with 0x92 so the server can free it.
    l.feed(Packet::PubRec(PubRec::new(pid(79))));
    match &l.sent()[..] {
        [Packet::PubRel(r)] => {
            assert_eq!(r.reason_code, PubRelReasonCode::PacketIdentifierNotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subscribe_and_unsubscribe_report_reason_codes_v5() {
    let mut net = Net::new(Config {
        wildcard_subscriptions: false,
        ..Config::default()
    });
    let c = net.add(opts("subs", V5));
    net.connect_ok(c);
    let now = net.now;
    let token = net
        .client(c)
        .subscribe(
            [sub("a", QoS::ExactlyOnce), sub("b/#", QoS::AtLeastOnce)],
            Default::default(),
            now,
        )
        .unwrap();
    net.pump();
    match &net.events(c)[..] {
        [Event::Subscribed {
            token: t,
            reason_codes,
            ..
        }] => {
            assert_eq!(*t, token);
            assert_eq!(
                reason_codes.as_slice(),
                [
                    SubAckReasonCode::GrantedQoS2,
                    SubAckReasonCode::WildcardSubscriptionsNotSupported
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let token = net
        .client(c)
        .unsubscribe(["a".into(), "zzz".into()], Default::default(), now)
        .unwrap();
    net.pump();
    match &net.events(c)[..] {
        [Event::Unsubscribed {
            token: t,
            reason_codes,
            ..
        }] => {
            assert_eq!(*t, token);
            assert_eq!(
                reason_codes.as_slice(),
                [
                    UnsubAckReasonCode::Success,
                    UnsubAckReasonCode::NoSubscriptionExisted
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsubscribe_on_v311_reports_success_per_filter() {
    let mut net = Net::with_defaults();
    let c = net.add(opts("old", V311));
    net.connect_ok(c);
    net.subscribe(c, "a", QoS::AtMostOnce);
    let token = net.unsubscribe(c, "a");
    net.pump();
    match &net.events(c)[..] {
        [Event::Unsubscribed {
            token: t,
            reason_codes,
            ..
        }] => {
            assert_eq!(*t, token);
            assert_eq!(reason_codes.as_slice(), [UnsubAckReasonCode::Success]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn payloads_are_shared_not_copied() {
    let mut l = Lone::connected(opts("zero-copy", V5), ConnAckProperties::default());
    let payload = Bytes::from(vec![7u8; 4096]);
    let m = OutgoingMessage::new("t", payload.clone(), QoS::AtLeastOnce);
    l.client.publish(m, l.now).unwrap();
    // The message kept for a resend is the caller's buffer, shared.
    assert!(!payload.is_unique());
    let sent = l.sent();
    let QosPid::AtLeastOnce(id) = publishes(&sent)[0].qos_pid else {
        panic!()
    };
    l.feed(Packet::PubAck(PubAck::new(id)));
    // Completed: the client holds the payload no more.
    assert!(payload.is_unique());
}
