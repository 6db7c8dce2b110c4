//! Outbound PUBLISH: delivered QoS, packet identifiers, the QoS 1/2 flows towards a
//! subscriber, overlapping subscriptions, No Local, Retain As Published, property pass-through,
//! the client's Maximum Packet Size and message expiry.
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
    DisconnectReasonCode, Packet, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel,
    PubRelReasonCode, Publish, QoS, QosPid,
};

/// A harness, a v5 subscriber "sub" to `filter` at `qos`, and a v5 publisher "pub".
fn pair(
    config: Config,
    sub_connect: mqtt_proto::Connect,
    filter: &str,
    qos: QoS,
) -> (Harness, ConnId, ConnId) {
    let mut h = Harness::new(config);
    let (s, ack) = h.connect_with(sub_connect);
    assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
    h.subscribe(s, V5, filter, qos);
    let p = h.client("pub", V5);
    (h, s, p)
}

fn out_pid(p: &Publish) -> u16 {
    p.qos_pid.packet_id().map_or(0, |n| n.get())
}

#[test]
fn delivered_qos_is_the_minimum_of_published_and_granted_mqtt_3_8_4_8() {
    let all = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for granted in all {
        for published in all {
            let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", granted);
            h.send(p, V5, publish("t", b"x", published, 1));
            let got = h.recv_publishes(s);
            assert_eq!(got.len(), 1);
            assert_eq!(
                got[0].qos_pid.qos(),
                published.min(granted),
                "published {published:?}, granted {granted:?}"
            );
        }
    }
}

#[test]
fn outbound_packet_ids_are_non_zero_and_unused_mqtt_2_2_1_4() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::ExactlyOnce);
    for i in 1..=5 {
        h.send(p, V5, publish("t", b"x", QoS::AtLeastOnce, i));
    }
    let first: Vec<u16> = h.recv_publishes(s).iter().map(out_pid).collect();
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|&id| id != 0));
    let mut distinct = first.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "{first:?}");
    // Free one; the next message never takes an id still in flight.
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(first[1]))));
    h.send(p, V5, publish("t", b"y", QoS::ExactlyOnce, 6));
    let next = h.recv_publishes(s);
    let id = out_pid(&next[0]);
    assert!(id != 0);
    assert!(
        !first.iter().enumerate().any(|(i, &f)| i != 1 && f == id),
        "{id} is in flight"
    );
}

#[test]
fn first_delivery_has_dup_0_whatever_the_publisher_sent_mqtt_3_3_1_3_mqtt_4_3_2_2() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::ExactlyOnce);
    let mut resent = publish("t", b"x", QoS::AtLeastOnce, 1);
    resent.dup = true;
    h.send(p, V5, resent);
    let mut resent = publish("t", b"y", QoS::ExactlyOnce, 2);
    resent.dup = true;
    h.send(p, V5, resent);
    let got = h.recv_publishes(s);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| !g.dup), "{got:?}");
}

#[test]
fn outbound_qos2_publish_pubrec_pubrel_pubcomp_mqtt_4_3_3_4_mqtt_4_3_3_6() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::ExactlyOnce);
    h.send(p, V5, publish("t", b"x", QoS::ExactlyOnce, 1));
    let got = h.recv_publishes(s);
    let id = out_pid(&got[0]);
    assert_eq!(got[0].qos_pid, QosPid::ExactlyOnce(pid(id)));
    h.send(s, V5, Packet::PubRec(PubRec::new(pid(id))));
    assert_eq!(h.recv_one(s), Packet::PubRel(PubRel::new(pid(id))));
    // A repeated PUBREC gets the PUBREL again, never the PUBLISH [MQTT-4.3.3-6].
    h.send(s, V5, Packet::PubRec(PubRec::new(pid(id))));
    assert_eq!(h.recv_one(s), Packet::PubRel(PubRel::new(pid(id))));
    h.send(s, V5, Packet::PubComp(PubComp::new(pid(id))));
    h.recv_none(s);
    assert!(!h.is_closed(s));
}

#[test]
fn pubrec_with_an_error_ends_the_exchange_mqtt_4_4_0_2() {
    let sub = connect_limited("sub", Some(1), None, None);
    let (mut h, s, p) = pair(Config::default(), sub, "t", QoS::ExactlyOnce);
    h.send(p, V5, publish("t", b"a", QoS::ExactlyOnce, 1));
    h.send(p, V5, publish("t", b"b", QoS::ExactlyOnce, 2));
    let got = h.recv_publishes(s);
    assert_eq!(topics_payloads(&got), vec![("t".into(), b"a".to_vec())]);
    let refused = ack_with(
        out_pid(&got[0]),
        PubAckReasonCode::ImplementationSpecificError,
    );
    h.send(s, V5, Packet::PubRec(refused));
    // No PUBREL; the window slot is free for "b".
    let got = h.recv(s);
    assert_eq!(got.len(), 1, "{got:?}");
    let got = publishes(got);
    assert_eq!(&got[0].payload[..], b"b");
}

#[test]
fn puback_for_a_qos2_message_is_0x82_bad_input_16() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::ExactlyOnce);
    h.send(p, V5, publish("t", b"x", QoS::ExactlyOnce, 1));
    let id = out_pid(&h.recv_publishes(s)[0]);
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(id))));
    assert_eq!(h.recv_disconnect(s), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(s));
}

#[test]
fn pubrec_for_a_qos1_message_is_0x82_bad_input_16() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::AtLeastOnce);
    h.send(p, V5, publish("t", b"x", QoS::AtLeastOnce, 1));
    let id = out_pid(&h.recv_publishes(s)[0]);
    h.send(s, V5, Packet::PubRec(PubRec::new(pid(id))));
    assert_eq!(h.recv_disconnect(s), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(s));
}

#[test]
fn pubcomp_before_pubrel_is_0x82() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::ExactlyOnce);
    h.send(p, V5, publish("t", b"x", QoS::ExactlyOnce, 1));
    let id = out_pid(&h.recv_publishes(s)[0]);
    h.send(s, V5, Packet::PubComp(PubComp::new(pid(id))));
    assert_eq!(h.recv_disconnect(s), DisconnectReasonCode::ProtocolError);
}

#[test]
fn pubrec_for_an_unknown_id_gets_pubrel_0x92() {
    let mut h = Harness::with_defaults();
    let s = h.client("sub", V5);
    h.send(s, V5, Packet::PubRec(PubRec::new(pid(300))));
    let expected = ack_with(300, PubRelReasonCode::PacketIdentifierNotFound);
    assert_eq!(h.recv_one(s), Packet::PubRel(expected));
    // PUBACK and PUBCOMP for unknown ids are ignored.
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(301))));
    h.send(s, V5, Packet::PubComp(PubComp::new(pid(302))));
    h.recv_none(s);
    assert!(!h.is_closed(s));
}

#[test]
fn overlapping_subscriptions_give_one_copy_at_the_highest_qos_with_every_id_mqtt_3_3_4_2_to_5() {
    let mut h = Harness::with_defaults();
    let s = h.client("sub", V5);
    h.subscribe_opts(s, V5, "a/+", opts(QoS::AtMostOnce, false, false), Some(1));
    h.subscribe_opts(s, V5, "a/b", opts(QoS::AtLeastOnce, false, false), Some(2));
    h.subscribe_opts(s, V5, "#", opts(QoS::AtMostOnce, false, false), None);
    h.subscribe_opts(s, V5, "a/c", opts(QoS::ExactlyOnce, false, false), Some(3));
    let p = h.client("pub", V5);
    h.send(p, V5, publish("a/b", b"x", QoS::ExactlyOnce, 1));
    let got = h.recv_publishes(s);
    assert_eq!(got.len(), 1, "one copy: {got:?}");
    // [MQTT-3.3.4-2] the highest granted QoS among the matching ones (a/c does not match).
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    // [MQTT-3.3.4-3] [MQTT-3.3.4-4] every matching identifier, in any order.
    let mut ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
    // The highest granted QoS is capped by the published QoS [MQTT-3.8.4-8].
    h.send(p, V5, publish("a/b", b"y", QoS::AtMostOnce, 0));
    let got = h.recv_publishes(s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid, QosPid::AtMostOnce);
}

#[test]
fn a_single_subscription_carries_its_identifier_mqtt_3_3_4_3() {
    let mut h = Harness::with_defaults();
    let s = h.client("sub", V5);
    h.subscribe_opts(
        s,
        V5,
        "a/#",
        opts(QoS::AtLeastOnce, false, false),
        Some(268_435_455),
    );
    let other = h.client("other", V5);
    h.subscribe(other, V5, "a/#", QoS::AtLeastOnce);
    let p = h.client("pub", V5);
    h.send(p, V5, publish("a/b", b"x", QoS::AtLeastOnce, 1));
    let got = h.recv_publishes(s);
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, vec![268_435_455]);
    // Another subscriber's identifier never leaks onto this one's copy.
    assert!(h.recv_publishes(other)[0]
        .properties
        .subscription_identifiers
        .is_empty());
}

#[test]
fn no_local_is_not_sent_back_to_the_publisher_mqtt_3_8_3_3() {
    let mut h = Harness::with_defaults();
    let me = h.client("me", V5);
    h.subscribe_opts(me, V5, "chat", opts(QoS::AtLeastOnce, true, false), Some(1));
    let other = h.client("other", V5);
    h.subscribe_opts(other, V5, "chat", opts(QoS::AtLeastOnce, true, false), None);
    h.send(me, V5, publish("chat", b"hi", QoS::AtLeastOnce, 1));
    assert_eq!(h.recv_ack(me), ("PUBACK", 1, SUCCESS));
    assert_eq!(h.recv_publishes(other).len(), 1);
    // An overlapping subscription without No Local still delivers, with only its id.
    h.subscribe_opts(me, V5, "#", opts(QoS::AtMostOnce, false, false), Some(2));
    h.send(me, V5, publish("chat", b"again", QoS::AtLeastOnce, 2));
    let got = publishes(h.recv(me));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid, QosPid::AtMostOnce);
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, vec![2]);
}

#[test]
fn retain_as_published_mqtt_3_3_1_12_mqtt_3_3_1_13() {
    let mut h = Harness::with_defaults();
    let plain = h.client("plain", V5);
    h.subscribe_opts(plain, V5, "r", opts(QoS::AtMostOnce, false, false), None);
    let rap = h.client("rap", V5);
    h.subscribe_opts(rap, V5, "r", opts(QoS::AtMostOnce, false, true), None);
    let p = h.client("pub", V5);
    h.send(p, V5, retained("r", b"kept", QoS::AtMostOnce, 0));
    h.send(p, V5, publish("r", b"live", QoS::AtMostOnce, 0));
    // [MQTT-3.3.1-12] RAP 0: RETAIN 0 on live forwarding.
    let got = h.recv_publishes(plain);
    assert_eq!(
        got.iter().map(|g| g.retain).collect::<Vec<_>>(),
        [false, false]
    );
    // [MQTT-3.3.1-13] RAP 1: RETAIN as published.
    let got = h.recv_publishes(rap);
    assert_eq!(
        got.iter().map(|g| g.retain).collect::<Vec<_>>(),
        [true, false]
    );
}

#[test]
fn properties_pass_through_unchanged_and_in_order_mqtt_3_3_2_17_mqtt_3_3_2_18() {
    let (mut h, s, p) = pair(Config::default(), connect("sub", V5), "t", QoS::AtLeastOnce);
    let mut m = publish("t", b"{}", QoS::AtLeastOnce, 1);
    let props = &mut m.properties;
    props.payload_format_indicator = Some(true);
    props.response_topic = Some("reply/here".into());
    props.correlation_data = Some(mqtt_proto::Bytes::from_static(b"\x00corr\xFF"));
    props.content_type = Some("application/json".into());
    for (k, v) in [("k", "1"), ("a", "x"), ("k", "2"), ("k", "1"), ("", "")] {
        props.user_properties.push((k.into(), v.into()));
    }
    let sent = m.properties.clone();
    h.send(p, V5, m);
    let got = h.recv_publishes(s);
    // [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20] unaltered; user
    // properties with repeated keys in their order [MQTT-3.3.2-17] [MQTT-3.3.2-18].
    assert_eq!(got[0].properties, sent);
}

#[test]
fn v3_receiver_gets_the_message_without_properties() {
    let mut h = Harness::with_defaults();
    let s = h.client("sub", V311);
    h.subscribe(s, V311, "t", QoS::AtMostOnce);
    let p = h.client("pub", V5);
    let mut m = expiring(publish("t", b"x", QoS::AtMostOnce, 0), 100);
    m.properties.user_properties.push(("k".into(), "v".into()));
    m.properties.content_type = Some("text/plain".into());
    h.send(p, V5, m);
    // PUBLISH QoS 0, topic "t", payload "x": no property length on 3.1.1.
    assert_eq!(h.raw(s), [0x30, 0x04, 0x00, 0x01, b't', b'x']);
}

#[test]
fn too_large_for_the_client_is_dropped_counted_and_the_rest_flows_mqtt_3_1_2_24_25() {
    // Receive Maximum 1: a dropped message must not hold the only window slot.
    let sub = connect_limited("sub", Some(1), Some(64), None);
    let (mut h, s, p) = pair(Config::default(), sub, "t", QoS::AtLeastOnce);
    h.send(
        p,
        V5,
        publish_bytes("t", vec![b'x'; 100], QoS::AtLeastOnce, 1),
    );
    // The publisher's side is unaffected.
    assert_eq!(h.recv_ack(p), ("PUBACK", 1, SUCCESS));
    h.recv_none(s);
    assert_eq!(h.shard.stats().dropped_too_large, 1);
    h.send(p, V5, publish("t", b"small", QoS::AtLeastOnce, 2));
    let got = h.recv_publishes(s);
    assert_eq!(topics_payloads(&got), vec![("t".into(), b"small".to_vec())]);
    assert!(!h.is_closed(s));
}

#[test]
fn a_packet_exactly_at_the_client_maximum_is_sent_mqtt_3_1_2_24() {
    // QoS 0 PUBLISH "t": 1 + 1 (remaining length) + 3 (topic) + 1 (property length) + payload.
    let sub = connect_limited("sub", None, Some(64), None);
    let (mut h, s, p) = pair(Config::default(), sub, "t", QoS::AtMostOnce);
    h.send(
        p,
        V5,
        publish_bytes("t", vec![b'x'; 58], QoS::AtMostOnce, 0),
    );
    h.send(
        p,
        V5,
        publish_bytes("t", vec![b'y'; 59], QoS::AtMostOnce, 0),
    );
    let got = h.recv_publishes(s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.len(), 58);
    assert_eq!(h.shard.stats().dropped_too_large, 1);
}

#[test]
fn queued_messages_expire_too_mqtt_3_3_2_5() {
    let sub = connect_limited("sub", Some(1), None, None);
    let (mut h, s, p) = pair(Config::default(), sub, "t", QoS::AtLeastOnce);
    h.send(p, V5, publish("t", b"a", QoS::AtLeastOnce, 1));
    h.send(p, V5, expiring(publish("t", b"b", QoS::AtLeastOnce, 2), 5));
    h.send(p, V5, expiring(publish("t", b"c", QoS::AtLeastOnce, 3), 60));
    h.send(p, V5, publish("t", b"d", QoS::AtLeastOnce, 4));
    let first = h.recv_publishes(s);
    assert_eq!(first.len(), 1, "window of one");
    h.advance(15_000);
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(out_pid(&first[0])))));
    let next = h.recv_publishes(s);
    // "b" expired in the queue; "c" goes out with what is left of its expiry.
    assert_eq!(topics_payloads(&next), vec![("t".into(), b"c".to_vec())]);
    assert_eq!(next[0].properties.message_expiry_interval, Some(45));
    assert_eq!(h.shard.stats().expired, 1);
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(out_pid(&next[0])))));
    let last = h.recv_publishes(s);
    assert_eq!(&last[0].payload[..], b"d");
    assert_eq!(last[0].properties.message_expiry_interval, None);
}
