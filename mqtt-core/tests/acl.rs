//! Access control: publish and subscribe checks, the Receive check at every delivery step
//! (bad-inputs row 26), literal identities (row 28), wills, and the deny-all ACL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, DenyAll};
use mqtt_proto::{
    ByteString, LastWill, Packet, PubAckReasonCode, PubRelReasonCode, QoS, WillProperties,
};

fn cfg() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

fn with_rules() -> (Harness, Rules) {
    let mut h = Harness::new(cfg());
    let rules = Rules::default();
    h.shard.set_acl(Box::new(rules.clone()));
    (h, rules)
}

fn persistent(id: &str) -> mqtt_proto::Connect {
    let mut c = connect(id, V5);
    c.properties.session_expiry_interval = Some(600);
    c
}

fn resume(id: &str) -> mqtt_proto::Connect {
    let mut c = persistent(id);
    c.clean_start = false;
    c
}

fn ack_code(p: &Packet) -> (&'static str, u8) {
    match p {
        Packet::PubAck(a) => ("PUBACK", a.reason_code.as_u8()),
        Packet::PubRec(a) => ("PUBREC", a.reason_code.as_u8()),
        Packet::PubComp(a) => ("PUBCOMP", a.reason_code.as_u8()),
        other => panic!("not an ack: {other:?}"),
    }
}

#[test]
fn denied_publish_gets_0x87_and_is_not_delivered() {
    let (mut h, rules) = with_rules();
    let s = h.client("s", V5);
    h.subscribe(s, V5, "#", QoS::ExactlyOnce);
    rules.deny_publish("p", "secret");
    let p = h.client("p", V5);
    h.send(p, V5, publish("secret", b"1", QoS::AtLeastOnce, 1));
    assert_eq!(ack_code(&h.recv_one(p)), ("PUBACK", 0x87));
    h.send(p, V5, publish("secret", b"2", QoS::ExactlyOnce, 2));
    assert_eq!(ack_code(&h.recv_one(p)), ("PUBREC", 0x87));
    // The refused QoS 2 flow ends at PUBREC: its id is not held (MQTT 5 §4.3.3).
    h.send(p, V5, Packet::PubRel(mqtt_proto::PubRel::new(pid(2))));
    match h.recv_one(p) {
        Packet::PubComp(c) => {
            assert_eq!(c.reason_code, PubRelReasonCode::PacketIdentifierNotFound)
        }
        other => panic!("{other:?}"),
    }
    // QoS 0 has no ack: dropped silently, the connection stays.
    h.send(p, V5, publish("secret", b"3", QoS::AtMostOnce, 0));
    h.recv_none(p);
    assert!(!h.is_closed(p));
    // Retained and denied: not stored either.
    h.send(p, V5, retained("secret", b"4", QoS::AtLeastOnce, 3));
    assert_eq!(ack_code(&h.recv_one(p)), ("PUBACK", 0x87));
    assert_eq!(h.shard.retained_count(), 0);
    h.recv_none(s);
    // Other topics are fine.
    h.send(p, V5, publish("open", b"5", QoS::AtLeastOnce, 4));
    assert_eq!(ack_code(&h.recv_one(p)), ("PUBACK", 0x00));
    assert_eq!(publishes(h.recv(s)).len(), 1);
    assert_eq!(h.shard.stats().rejected[0x87], 4);
}

#[test]
fn denied_publish_from_v311_is_acked_positively_and_dropped_mqtt_3_3_5_2() {
    // 3.1.1 has no way to say "not authorized": a positive ack or a close. We ack.
    let (mut h, rules) = with_rules();
    let s = h.client("s", V5);
    h.subscribe(s, V5, "#", QoS::AtLeastOnce);
    rules.deny_publish("p", "secret");
    let p = h.client("p", V311);
    h.send(p, V311, publish("secret", b"1", QoS::AtLeastOnce, 1));
    match h.recv_one(p) {
        Packet::PubAck(a) => {
            assert_eq!(a.packet_id.get(), 1);
            assert_eq!(a.reason_code, PubAckReasonCode::Success);
        }
        other => panic!("{other:?}"),
    }
    h.recv_none(s);
    assert!(!h.is_closed(p));
}

#[test]
fn denied_subscribe_is_0x87_v5_and_0x80_v311_never_stored() {
    let (mut h, rules) = with_rules();
    rules.deny_subscribe("s", "secret/#");
    // The ACL sees the filter proper of a shared subscription.
    rules.deny_subscribe("s", "shared");
    // A retained message the denied filter would have delivered.
    let p = h.client("p", V5);
    h.publish_from(p, V5, retained("secret/x", b"r", QoS::AtMostOnce, 1));
    let s = h.client("s", V5);
    let (ack, rest) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("secret/#", QoS::AtLeastOnce),
            sub("$share/g/shared", QoS::AtLeastOnce),
            sub("open", QoS::AtLeastOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x87, 0x87, 0x01]);
    assert!(rest.is_empty(), "no retained message for a refused filter");
    assert_eq!(h.shard.subscription_count(), 1);
    h.send(p, V5, publish("secret/x", b"live", QoS::AtMostOnce, 0));
    h.send(p, V5, publish("shared", b"live", QoS::AtMostOnce, 0));
    h.recv_none(s);
    let s3 = h.client("s", V311);
    let (ack, _) = h.subscribe_many(s3, V311, vec![sub("secret/#", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x80]);
}

#[test]
fn revoked_receive_stops_live_delivery_and_restored_resumes_bad_inputs_row_26() {
    let (mut h, rules) = with_rules();
    let s = h.client("s", V5);
    h.subscribe(s, V5, "t", QoS::AtMostOnce);
    let p = h.client("p", V5);
    h.send(p, V5, publish("t", b"1", QoS::AtMostOnce, 0));
    assert_eq!(publishes(h.recv(s)).len(), 1);
    rules.deny_receive("s", "t");
    h.send(p, V5, publish("t", b"2", QoS::AtMostOnce, 0));
    h.recv_none(s);
    rules.allow_receive("s", "t");
    h.send(p, V5, publish("t", b"3", QoS::AtMostOnce, 0));
    let got = publishes(h.recv(s));
    assert_eq!(&got[0].payload[..], b"3");
}

#[test]
fn revoked_receive_stops_retained_delivery_bad_inputs_row_26() {
    let (mut h, rules) = with_rules();
    let p = h.client("p", V5);
    h.publish_from(p, V5, retained("r/a", b"a", QoS::AtLeastOnce, 1));
    h.publish_from(p, V5, retained("r/b", b"b", QoS::AtLeastOnce, 2));
    rules.deny_receive("s", "r/a");
    let s = h.client("s", V5);
    let (ack, got) = h.subscribe_retained(s, V5, sub("r/+", QoS::AtLeastOnce));
    assert_eq!(codes(&ack), [0x01], "the subscription itself is allowed");
    assert_eq!(topics_payloads(&got), [("r/b".into(), b"b".to_vec())]);
}

#[test]
fn revoked_receive_stops_queued_delivery_of_offline_session_bad_inputs_row_26() {
    let (mut h, rules) = with_rules();
    let (s, _) = h.connect_with(persistent("s"));
    h.subscribe(s, V5, "t/+", QoS::AtLeastOnce);
    h.drop_conn(s);
    let p = h.client("p", V5);
    h.publish_from(p, V5, publish("t/a", b"1", QoS::AtLeastOnce, 1));
    h.publish_from(p, V5, publish("t/b", b"2", QoS::AtLeastOnce, 2));
    // Revoked after the messages were queued.
    rules.deny_receive("s", "t/a");
    let (_, ack, after) = h.connect_full(resume("s"));
    assert!(ack.session_present);
    assert_eq!(
        topics_payloads(&publishes(after)),
        [("t/b".into(), b"2".to_vec())]
    );
}

#[test]
fn revoked_receive_stops_queued_delivery_of_online_session_bad_inputs_row_26() {
    let (mut h, rules) = with_rules();
    let mut c = connect("s", V5);
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (s, _) = h.connect_with(c);
    h.subscribe(s, V5, "t", QoS::AtLeastOnce);
    let p = h.client("p", V5);
    for i in 1..=3u16 {
        h.publish_from(p, V5, publish("t", b"m", QoS::AtLeastOnce, i));
    }
    let first = publishes(h.recv(s));
    assert_eq!(first.len(), 1, "window of one; two wait in the queue");
    rules.deny_receive("s", "t");
    h.send(
        s,
        V5,
        Packet::PubAck(mqtt_proto::PubAck::new(
            first[0].qos_pid.packet_id().unwrap(),
        )),
    );
    h.recv_none(s);
    assert_eq!(h.shard.stats().receive_denied, 2);
}

#[test]
fn revoked_receive_stops_inflight_resend_and_frees_the_window_bad_inputs_row_26() {
    let (mut h, rules) = with_rules();
    let mut c = persistent("s");
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (s, _) = h.connect_with(c.clone());
    h.subscribe(s, V5, "t/+", QoS::AtLeastOnce);
    let p = h.client("p", V5);
    h.publish_from(p, V5, publish("t/a", b"1", QoS::AtLeastOnce, 1));
    assert_eq!(publishes(h.recv(s)).len(), 1);
    // Not acknowledged; the connection drops; the permission is revoked.
    h.drop_conn(s);
    rules.deny_receive("s", "t/a");
    c.clean_start = false;
    let (s, ack, after) = h.connect_full(c);
    assert!(ack.session_present);
    assert!(after.is_empty(), "no DUP re-send: {after:?}");
    // The inflight slot was freed: a permitted message gets through a window of one.
    h.publish_from(p, V5, publish("t/b", b"2", QoS::AtLeastOnce, 2));
    let got = publishes(h.recv(s));
    assert_eq!(topics_payloads(&got), [("t/b".into(), b"2".to_vec())]);
    assert!(!got[0].dup);
}

#[test]
fn permitted_inflight_is_still_resent_with_dup_mqtt_4_4_0_1() {
    let (mut h, _rules) = with_rules();
    let (s, _) = h.connect_with(persistent("s"));
    h.subscribe(s, V5, "t", QoS::AtLeastOnce);
    let p = h.client("p", V5);
    h.publish_from(p, V5, publish("t", b"1", QoS::AtLeastOnce, 1));
    assert_eq!(publishes(h.recv(s)).len(), 1);
    h.drop_conn(s);
    let (_, _, after) = h.connect_full(resume("s"));
    let got = publishes(after);
    assert_eq!(got.len(), 1);
    assert!(got[0].dup);
}

#[test]
fn acl_sees_literal_client_id_and_username_bad_inputs_row_28() {
    let (mut h, rules) = with_rules();
    let mut c = connect("dev/+/#", V5);
    c.username = Some(ByteString::from("user/#"));
    let (s, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
    h.subscribe_many(s, V5, vec![sub("$share/g+x/t", QoS::AtMostOnce)], None);
    h.subscribe_many(s, V5, vec![sub("$share/grp/a/+", QoS::AtMostOnce)], None);
    h.send(s, V5, publish("a/b", b"x", QoS::AtMostOnce, 0));
    let seen = rules.seen();
    let expect = [
        ("subscribe a/+", "dev/+/#", Some("user/#")),
        ("publish a/b", "dev/+/#", Some("user/#")),
        ("receive a/b", "dev/+/#", Some("user/#")),
    ];
    let mut got: Vec<(String, String, Option<String>)> = seen
        .into_iter()
        .map(|(id, user, what)| (what, id, user))
        .collect();
    // How often one delivery is asked about is not the point here.
    got.dedup();
    let expect: Vec<(String, String, Option<String>)> = expect
        .iter()
        .map(|(w, i, u)| (w.to_string(), i.to_string(), u.map(str::to_owned)))
        .collect();
    // The invalid share name never reached the ACL; everything else verbatim, in order.
    assert_eq!(got, expect);
    assert_eq!(publishes(h.recv(s)).len(), 1, "its own shared subscription");
    // A rule on the literal client id applies to exactly that client.
    rules.deny_receive("dev/+/#", "a/b");
    let other = h.client("dev/x/y", V5);
    h.subscribe(other, V5, "a/b", QoS::AtMostOnce);
    h.send(other, V5, publish("a/b", b"y", QoS::AtMostOnce, 0));
    assert_eq!(publishes(h.recv(other)).len(), 1);
    h.recv_none(s);
}

#[test]
fn will_is_subject_to_the_publish_acl() {
    let (mut h, rules) = with_rules();
    let s = h.client("s", V5);
    h.subscribe(s, V5, "#", QoS::AtMostOnce);
    rules.deny_publish("w", "forbidden");
    let mut c = connect("w", V5);
    c.will = Some(LastWill {
        qos: QoS::AtMostOnce,
        retain: true,
        topic: ByteString::from("forbidden"),
        payload: mqtt_proto::Bytes::from_static(b"will"),
        properties: WillProperties::default(),
    });
    let (w, _) = h.connect_with(c.clone());
    h.drop_conn(w);
    h.recv_none(s);
    assert_eq!(h.shard.retained_count(), 0);
    // The same will on a permitted topic goes out.
    c.will.as_mut().unwrap().topic = ByteString::from("allowed");
    let (w, _) = h.connect_with(c);
    h.drop_conn(w);
    assert_eq!(publishes(h.recv(s)).len(), 1);
}

#[test]
fn will_cannot_publish_into_sys() {
    let mut h = Harness::new(cfg());
    let s = h.client("s", V5);
    h.subscribe(s, V5, "$SYS/#", QoS::AtMostOnce);
    let mut c = connect("w", V5);
    c.will = Some(LastWill {
        qos: QoS::AtMostOnce,
        retain: true,
        topic: ByteString::from("$SYS/broker/uptime"),
        payload: mqtt_proto::Bytes::from_static(b"spoofed"),
        properties: WillProperties::default(),
    });
    let (w, _) = h.connect_with(c);
    h.drop_conn(w);
    h.recv_none(s);
    assert_eq!(h.shard.retained_count(), 0);
}

#[test]
fn deny_all_refuses_publish_and_subscribe() {
    let mut h = Harness::new(cfg());
    h.shard.set_acl(Box::new(DenyAll));
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(s, V5, vec![sub("#", QoS::AtLeastOnce)], None);
    assert_eq!(codes(&ack), [0x87]);
    h.send(s, V5, publish("t", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(ack_code(&h.recv_one(s)), ("PUBACK", 0x87));
    assert_eq!(h.shard.subscription_count(), 0);
}
