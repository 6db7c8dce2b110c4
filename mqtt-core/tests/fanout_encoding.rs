//! One message to many receivers: the shard encodes a QoS 0 PUBLISH once per protocol version
//! and RETAIN flag and copies those bytes to every receiver that gets identical bytes, and
//! writes it straight to a connection whose session has nothing queued. Each receiver must
//! still get exactly what it would get alone: its version's encoding, its RETAIN flag (Retain
//! As Published), its subscription identifiers, its topic alias, its Maximum Packet Size, the
//! ACL at delivery, No Local, the message expiry, and QoS 0 behind its queued QoS 1/2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{ByteString, ProtocolVersion, Publish, PublishProperties, QoS, QosPid};

/// Every PUBLISH `conn` received, exactly as decoded (nothing else may arrive).
fn got(h: &mut Harness, conn: ConnId) -> Vec<Publish> {
    h.recv_publishes(conn)
}

/// A message with properties that pass through, retained, QoS 0.
fn rich(payload: &'static [u8]) -> Publish {
    let mut p = publish("f/x", payload, QoS::AtMostOnce, 0);
    p.retain = true;
    p.properties = PublishProperties {
        content_type: Some(ByteString::from_static("text/plain")),
        user_properties: [(ByteString::from_static("k"), ByteString::from_static("v"))]
            .into_iter()
            .collect(),
        ..PublishProperties::default()
    };
    p
}

/// The PUBLISH a v5 receiver expects from [`rich`], with RETAIN and subscription identifiers.
fn expected_v5(payload: &'static [u8], retain: bool, sub_ids: &[u32]) -> Publish {
    let mut p = rich(payload);
    p.retain = retain;
    p.properties.subscription_identifiers = sub_ids
        .iter()
        .map(|&i| core::num::NonZeroU32::new(i).unwrap())
        .collect();
    p
}

#[test]
fn every_receiver_gets_its_own_bytes_when_the_encoding_is_shared() {
    let (mut h, rules) = {
        let mut h = Harness::new(Config::default());
        let rules = Rules::default();
        h.shard.set_acl(Box::new(rules.clone()));
        (h, rules)
    };
    let f = "f/+";
    // Plain v5 receivers: the shared encoding (twice, so the second copies the first).
    let a = h.client("a", V5);
    h.subscribe(a, V5, f, QoS::AtMostOnce);
    let b = h.client("b", V5);
    h.subscribe(b, V5, f, QoS::AtLeastOnce);
    // 3.1.1 and 3.1: another encoding, no properties.
    let c = h.client("c", V311);
    h.subscribe(c, V311, f, QoS::AtMostOnce);
    let d = h.client("d", V31);
    h.subscribe(d, V31, f, QoS::AtMostOnce);
    // Retain As Published: RETAIN kept, another encoding.
    let e = h.client("e", V5);
    h.subscribe_opts(e, V5, f, opts(QoS::AtMostOnce, false, true), None);
    // A subscription identifier: its own bytes.
    let g = h.client("g", V5);
    h.subscribe_opts(g, V5, f, opts(QoS::AtMostOnce, false, false), Some(7));
    // A client that takes topic aliases: its own bytes, with an alias.
    let (t, _) = h.connect_with(connect_limited("t", None, None, Some(4)));
    h.subscribe(t, V5, f, QoS::AtMostOnce);
    // A client whose Maximum Packet Size the message does not fit.
    let (m, _) = h.connect_with(connect_limited("m", None, Some(24), None));
    h.subscribe(m, V5, f, QoS::AtMostOnce);
    // A client the ACL stops at delivery.
    let x = h.client("x", V5);
    h.subscribe(x, V5, f, QoS::AtMostOnce);
    rules.deny_receive("x", "f/x");
    // The publisher, subscribed with No Local: not back to itself.
    let p = h.client("p", V5);
    h.subscribe_opts(p, V5, f, opts(QoS::AtMostOnce, true, false), None);

    let sent_before = h.shard.stats().messages_sent;
    let too_large_before = h.shard.stats().dropped_too_large;
    h.send(p, V5, rich(b"one"));

    let plain = expected_v5(b"one", false, &[]);
    assert_eq!(got(&mut h, a), core::slice::from_ref(&plain));
    assert_eq!(got(&mut h, b), core::slice::from_ref(&plain));
    let mut v3 = publish("f/x", b"one", QoS::AtMostOnce, 0);
    v3.retain = false;
    assert_eq!(got(&mut h, c), [v3.clone()]);
    assert_eq!(got(&mut h, d), [v3]);
    assert_eq!(got(&mut h, e), [expected_v5(b"one", true, &[])]);
    assert_eq!(got(&mut h, g), [expected_v5(b"one", false, &[7])]);
    let mut aliased_one = plain.clone();
    aliased_one.properties.topic_alias = Some(pid(1));
    assert_eq!(got(&mut h, t), [aliased_one]);
    h.recv_none(m);
    h.recv_none(x);
    h.recv_none(p);
    let stats = h.shard.stats();
    assert_eq!(stats.messages_sent - sent_before, 7);
    assert_eq!(stats.dropped_too_large - too_large_before, 1);

    // The next message: the alias is known now (empty topic); the others as before.
    h.send(p, V5, rich(b"two"));
    assert_eq!(got(&mut h, a), [expected_v5(b"two", false, &[])]);
    let mut aliased_two = expected_v5(b"two", false, &[]);
    aliased_two.topic = ByteString::new();
    aliased_two.properties.topic_alias = Some(pid(1));
    assert_eq!(got(&mut h, t), [aliased_two]);
    assert_eq!(got(&mut h, g), [expected_v5(b"two", false, &[7])]);
}

#[test]
fn shared_encoding_carries_the_remaining_expiry_to_each_receiver() {
    let mut h = Harness::with_defaults();
    let subs: Vec<(ConnId, ProtocolVersion)> = [("a", V5), ("b", V5), ("c", V311)]
        .into_iter()
        .map(|(id, v)| {
            let s = h.client(id, v);
            h.subscribe(s, v, "e", QoS::AtMostOnce);
            (s, v)
        })
        .collect();
    let p = h.client("p", V5);
    h.send(p, V5, expiring(publish("e", b"x", QoS::AtMostOnce, 0), 60));
    for (s, v) in subs {
        let got = got(&mut h, s);
        assert_eq!(got.len(), 1);
        let want = (v == V5).then_some(60);
        assert_eq!(got[0].properties.message_expiry_interval, want, "{v:?}");
    }
}

#[test]
fn qos0_stays_behind_queued_qos1_when_delivered_to_many() {
    let mut h = Harness::with_defaults();
    // `q` takes one QoS 1 message at a time, so the second waits in its queue.
    let (q, _) = h.connect_with(connect_limited("q", Some(1), None, None));
    h.subscribe(q, V5, "o", QoS::AtLeastOnce);
    let o = h.client("o", V5);
    h.subscribe(o, V5, "o", QoS::AtMostOnce);
    let p = h.client("p", V5);
    h.send(p, V5, publish("o", b"1", QoS::AtLeastOnce, 1));
    h.send(p, V5, publish("o", b"2", QoS::AtLeastOnce, 2));
    h.send(p, V5, publish("o", b"3", QoS::AtMostOnce, 0));
    h.recv(p);
    // The plain subscriber has all three at once, at QoS 0.
    let all: Vec<_> = got(&mut h, o).iter().map(|p| p.payload.to_vec()).collect();
    assert_eq!(all, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    // `q`: the first, then (once acknowledged) the second and only then the QoS 0 one.
    let first = got(&mut h, q);
    assert_eq!(first.len(), 1);
    assert_eq!(&first[0].payload[..], b"1");
    let pid1 = first[0].qos_pid.packet_id().unwrap().get();
    h.send(q, V5, puback(pid1));
    let rest = got(&mut h, q);
    let order: Vec<_> = rest
        .iter()
        .map(|p| (p.payload.to_vec(), p.qos_pid.qos()))
        .collect();
    assert_eq!(
        order,
        [
            (b"2".to_vec(), QoS::AtLeastOnce),
            (b"3".to_vec(), QoS::AtMostOnce)
        ]
    );
    assert!(matches!(rest[1].qos_pid, QosPid::AtMostOnce));
}

#[test]
fn a_full_output_buffer_drops_only_that_receivers_copy() {
    let cfg = Config {
        max_outbound_buffer: 256,
        ..Config::default()
    };
    let mut h = Harness::new(cfg);
    let slow = h.client("slow", V5);
    h.subscribe(slow, V5, "b", QoS::AtMostOnce);
    let fast = h.client("fast", V5);
    h.subscribe(fast, V5, "b", QoS::AtMostOnce);
    h.reading.insert(slow, false);
    let p = h.client("p", V5);
    let dropped_before = h.shard.stats().dropped;
    for _ in 0..10 {
        h.send(p, V5, publish_bytes("b", vec![7; 60], QoS::AtMostOnce, 0));
    }
    assert_eq!(got(&mut h, fast).len(), 10);
    let dropped = h.shard.stats().dropped - dropped_before;
    h.resume_reading(slow);
    let slow_got = got(&mut h, slow).len() as u64;
    assert!(
        slow_got < 10 && slow_got + dropped == 10,
        "{slow_got} + {dropped}"
    );
}
