//! Shared subscriptions `$share/{group}/{filter}` (MQTT 5 §4.8.2): one member per group per
//! message, the pick strategies, fallback to members that can take the message, and
//! independence from plain subscriptions (bad-inputs row 29).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use std::collections::HashSet;

use common::*;
use mqtt_core::subscriptions::ShareStrategy;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{Bytes, Packet, QoS};

fn cfg(strategy: ShareStrategy) -> Config {
    Config {
        share_strategy: strategy,
        sys_interval: 0,
        ..Config::default()
    }
}

/// Connects members `names` and subscribes each to `filter` at QoS 1.
fn members(h: &mut Harness, names: &[&str], filter: &str) -> Vec<ConnId> {
    names
        .iter()
        .map(|n| {
            let c = h.client(n, V5);
            let ack = h.subscribe(c, V5, filter, QoS::AtLeastOnce);
            assert_eq!(codes(&ack), [0x01]);
            c
        })
        .collect()
}

/// Publishes `n` QoS 0 messages numbered from `from` on `topic` from `publisher`.
fn send_numbered(h: &mut Harness, publisher: ConnId, topic: &str, from: usize, n: usize) {
    for i in from..from + n {
        let mut p = publish(topic, b"", QoS::AtMostOnce, 0);
        p.payload = Bytes::from(i.to_string());
        h.send(publisher, V5, p);
    }
}

/// Numbers received by `conn`.
fn numbers(h: &mut Harness, conn: ConnId) -> Vec<usize> {
    publishes(h.recv(conn))
        .iter()
        .map(|p| std::str::from_utf8(&p.payload).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn round_robin_in_join_order_one_member_per_message_mqtt_4_8_2() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let m = members(&mut h, &["a", "b", "c"], "$share/g/t/+");
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t/x", 0, 7);
    assert_eq!(numbers(&mut h, m[0]), [0, 3, 6]);
    assert_eq!(numbers(&mut h, m[1]), [1, 4]);
    assert_eq!(numbers(&mut h, m[2]), [2, 5]);
}

#[test]
fn round_robin_is_the_default() {
    assert_eq!(Config::default().share_strategy, ShareStrategy::RoundRobin);
}

#[test]
fn random_delivers_each_message_exactly_once_and_reaches_all() {
    let mut h = Harness::new(cfg(ShareStrategy::Random));
    let m = members(&mut h, &["a", "b", "c"], "$share/g/t");
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 90);
    let mut all = Vec::new();
    for c in &m {
        let got = numbers(&mut h, *c);
        assert!(!got.is_empty(), "every member gets some");
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..90).collect::<Vec<_>>());
}

#[test]
fn publisher_hash_keeps_each_publisher_on_one_member() {
    let mut h = Harness::new(cfg(ShareStrategy::PublisherHash));
    let m = members(&mut h, &["a", "b", "c", "d"], "$share/g/t");
    let pubs: Vec<ConnId> = (0..6).map(|i| h.client(&format!("pub-{i}"), V5)).collect();
    for (i, p) in pubs.iter().enumerate() {
        send_numbered(&mut h, *p, "t", i * 100, 5);
    }
    let got: Vec<Vec<usize>> = m.iter().map(|c| numbers(&mut h, *c)).collect();
    let mut total = 0;
    for i in 0..pubs.len() {
        let holders: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, g)| g.iter().any(|n| n / 100 == i))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(holders.len(), 1, "publisher {i} went to {holders:?}");
        let mine: Vec<usize> = got[holders[0]]
            .iter()
            .copied()
            .filter(|n| n / 100 == i)
            .collect();
        assert_eq!(mine, (i * 100..i * 100 + 5).collect::<Vec<_>>(), "in order");
        total += mine.len();
    }
    assert_eq!(total, 30);
}

#[test]
fn sticky_keeps_one_member_until_it_cannot_take_messages() {
    let mut h = Harness::new(cfg(ShareStrategy::Sticky));
    let mut c = connect("a", V5);
    c.properties.session_expiry_interval = Some(600);
    let (a, _) = h.connect_with(c);
    h.subscribe(a, V5, "$share/g/t", QoS::AtLeastOnce);
    let b = members(&mut h, &["b"], "$share/g/t")[0];
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 3);
    assert_eq!(numbers(&mut h, a), [0, 1, 2]);
    h.recv_none(b);
    // `a` goes offline (its session and membership stay): `b` becomes the sticky member.
    h.drop_conn(a);
    send_numbered(&mut h, p, "t", 3, 3);
    assert_eq!(numbers(&mut h, b), [3, 4, 5]);
    // `a` comes back; the group stays with `b`.
    let mut c = connect("a", V5);
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(600);
    let (a, ack) = h.connect_with(c);
    assert!(ack.session_present);
    send_numbered(&mut h, p, "t", 6, 2);
    assert_eq!(numbers(&mut h, b), [6, 7]);
    h.recv_none(a);
}

#[test]
fn each_group_and_each_plain_subscriber_gets_one_copy_mqtt_4_8_2() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let g1 = members(&mut h, &["a", "b"], "$share/g1/t/#");
    let g2 = members(&mut h, &["c"], "$share/g2/t/#");
    let g1_other_filter = members(&mut h, &["e"], "$share/g1/t/+");
    let plain = members(&mut h, &["d"], "t/#");
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t/x", 0, 4);
    let a = numbers(&mut h, g1[0]);
    let b = numbers(&mut h, g1[1]);
    assert_eq!((a.as_slice(), b.as_slice()), (&[0, 2][..], &[1, 3][..]));
    assert_eq!(numbers(&mut h, g2[0]), [0, 1, 2, 3]);
    // The same group name on another filter is another shared subscription.
    assert_eq!(numbers(&mut h, g1_other_filter[0]), [0, 1, 2, 3]);
    assert_eq!(numbers(&mut h, plain[0]), [0, 1, 2, 3]);
}

#[test]
fn delivered_qos_is_min_of_published_and_granted_mqtt_3_8_4_8() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let s = h.client("s", V5);
    h.subscribe(s, V5, "$share/g/t", QoS::AtMostOnce);
    let p = h.client("p", V5);
    h.publish_from(p, V5, publish("t", b"x", QoS::ExactlyOnce, 1));
    let got = publishes(h.recv(s));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtMostOnce);
    assert!(!got[0].retain);
}

#[test]
fn offline_persistent_member_used_only_when_no_online_member_can_take_it() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let mut c = connect("a", V5);
    c.properties.session_expiry_interval = Some(600);
    let (a, _) = h.connect_with(c.clone());
    h.subscribe(a, V5, "$share/g/t", QoS::AtLeastOnce);
    let b = members(&mut h, &["b"], "$share/g/t")[0];
    h.drop_conn(a);
    let p = h.client("p", V5);
    for i in 0..4u8 {
        let mut m = publish("t", b"", QoS::AtLeastOnce, 1);
        m.payload = Bytes::from(vec![b'0' + i]);
        h.publish_from(p, V5, m);
    }
    let got = publishes(h.recv(b));
    assert_eq!(got.len(), 4, "all to the online member");
    // Now nobody is online: the persistent member queues QoS 1 rather than lose it.
    h.drop_conn(b);
    h.publish_from(p, V5, publish("t", b"q1", QoS::AtLeastOnce, 2));
    h.publish_from(p, V5, publish("t", b"q2", QoS::AtLeastOnce, 3));
    c.clean_start = false;
    let (_, ack, after) = h.connect_full(c);
    assert!(ack.session_present);
    let got = publishes(after);
    assert_eq!(
        got.iter().map(|p| p.payload.to_vec()).collect::<Vec<_>>(),
        [b"q1".to_vec(), b"q2".to_vec()]
    );
}

#[test]
fn member_with_full_queue_is_passed_over_nothing_lost() {
    let mut h = Harness::new(Config {
        max_queued_messages: 1,
        ..cfg(ShareStrategy::RoundRobin)
    });
    // `a` takes one QoS 1 message at a time and does not acknowledge it yet.
    let mut c = connect("a", V5);
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (a, _) = h.connect_with(c);
    h.subscribe(a, V5, "$share/g/t", QoS::AtLeastOnce);
    let b = members(&mut h, &["b"], "$share/g/t")[0];
    let p = h.client("p", V5);
    for i in 1..=6u16 {
        let mut m = publish("t", b"", QoS::AtLeastOnce, i);
        m.payload = Bytes::from(i.to_string());
        h.publish_from(p, V5, m);
    }
    // 1 → a (inflight), 2 → b, 3 → a (queued; a's queue is now full), 4 → b, then a is full:
    // 5 and 6 go to b.
    let got_a = publishes(h.recv(a));
    assert_eq!(topics_payloads(&got_a), [("t".into(), b"1".to_vec())]);
    let got_b: Vec<Vec<u8>> = publishes(h.recv(b))
        .iter()
        .map(|p| p.payload.to_vec())
        .collect();
    assert_eq!(
        got_b,
        [b"2".to_vec(), b"4".to_vec(), b"5".to_vec(), b"6".to_vec()]
    );
    h.send(
        a,
        V5,
        Packet::PubAck(mqtt_proto::PubAck::new(
            got_a[0].qos_pid.packet_id().unwrap(),
        )),
    );
    let next = publishes(h.recv(a));
    assert_eq!(topics_payloads(&next), [("t".into(), b"3".to_vec())]);
    assert_eq!(h.shard.stats().dropped, 0);
}

#[test]
fn member_denied_receive_by_acl_is_passed_over_bad_inputs_row_26() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let rules = Rules::default();
    h.shard.set_acl(Box::new(rules.clone()));
    let m = members(&mut h, &["a", "b"], "$share/g/t");
    rules.deny_receive("a", "t");
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 4);
    h.recv_none(m[0]);
    assert_eq!(numbers(&mut h, m[1]), [0, 1, 2, 3]);
}

#[test]
fn unsubscribing_plain_filter_keeps_shared_one_bad_inputs_row_29() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let s = h.client("s", V5);
    let (ack, _) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("$share/g/t", QoS::AtMostOnce),
            sub("t", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x00, 0x00]);
    assert_eq!(h.shard.subscription_count(), 2);
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 1);
    // One copy through each subscription (MQTT 5 §4.8.2 allows both).
    assert_eq!(numbers(&mut h, s), [0, 0]);
    let un = h.unsubscribe(s, V5, &["t"]);
    assert_eq!(codes_un(&un), [0x00]);
    assert_eq!(h.shard.subscription_count(), 1, "no leak");
    assert_eq!(h.shard.shared_subscription_count(), 1);
    send_numbered(&mut h, p, "t", 1, 2);
    assert_eq!(
        numbers(&mut h, s),
        [1, 2],
        "the shared subscription still delivers"
    );
    // And the other way round.
    let un = h.unsubscribe(s, V5, &["t", "$share/g/t"]);
    assert_eq!(codes_un(&un), [0x11, 0x00]);
    assert_eq!(h.shard.subscription_count(), 0);
    send_numbered(&mut h, p, "t", 3, 1);
    h.recv_none(s);
}

#[test]
fn unsubscribing_shared_keeps_plain_and_other_members() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let m = members(&mut h, &["a", "b"], "$share/g/t");
    h.subscribe(m[0], V5, "t", QoS::AtMostOnce);
    let un = h.unsubscribe(m[0], V5, &["$share/g/t"]);
    assert_eq!(codes_un(&un), [0x00]);
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 2);
    assert_eq!(numbers(&mut h, m[0]), [0, 1], "plain only");
    assert_eq!(numbers(&mut h, m[1]), [0, 1], "the only member left");
}

#[test]
fn member_session_end_leaves_group_no_leak() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let m = members(&mut h, &["a", "b"], "$share/g/t");
    h.drop_conn(m[0]);
    assert_eq!(h.shard.shared_subscription_count(), 1);
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 3);
    assert_eq!(numbers(&mut h, m[1]), [0, 1, 2]);
    h.drop_conn(m[1]);
    assert_eq!(h.shard.subscription_count(), 0);
    send_numbered(&mut h, p, "t", 3, 1);
}

#[test]
fn subscription_identifier_attached_to_shared_delivery_mqtt_3_3_4_3() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let s = h.client("s", V5);
    h.subscribe_many(s, V5, vec![sub("$share/g/t", QoS::AtMostOnce)], Some(77));
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 1);
    let got = publishes(h.recv(s));
    let ids: HashSet<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, HashSet::from([77]));
}

fn codes_un(a: &mqtt_proto::UnsubAck) -> Vec<u8> {
    a.reason_codes.iter().map(|c| c.as_u8()).collect()
}

#[test]
fn member_with_full_output_buffer_is_passed_over_for_qos0_bad_inputs_row_24() {
    let mut h = Harness::new(Config {
        max_outbound_buffer: 64,
        ..cfg(ShareStrategy::RoundRobin)
    });
    let m = members(&mut h, &["a", "b"], "$share/g/t");
    // `a` stops reading: what it is sent piles up in its output buffer.
    h.reading.insert(m[0], false);
    let p = h.client("p", V5);
    for i in 0..6u8 {
        let mut msg = publish("t", b"", QoS::AtMostOnce, 0);
        msg.payload = Bytes::from(vec![b'0' + i; 40]);
        h.send(p, V5, msg);
    }
    // 0 → a (42 bytes buffered), 1 → b, 2 → a (84 bytes: full), then a is passed over.
    let firsts = |ps: Vec<mqtt_proto::Publish>| ps.iter().map(|p| p.payload[0]).collect::<Vec<_>>();
    assert_eq!(firsts(publishes(h.recv(m[1]))), b"1345");
    h.resume_reading(m[0]);
    assert_eq!(firsts(publishes(h.recv(m[0]))), b"02");
    assert_eq!(h.shard.stats().dropped, 0);
}

#[test]
fn qos0_with_only_offline_members_is_dropped_and_counted() {
    let mut h = Harness::new(cfg(ShareStrategy::RoundRobin));
    let mut c = connect("a", V5);
    c.properties.session_expiry_interval = Some(600);
    let (a, _) = h.connect_with(c.clone());
    h.subscribe(a, V5, "$share/g/t", QoS::AtLeastOnce);
    h.drop_conn(a);
    let p = h.client("p", V5);
    send_numbered(&mut h, p, "t", 0, 2);
    assert_eq!(h.shard.stats().dropped, 2);
    c.clean_start = false;
    let (_, _, after) = h.connect_full(c);
    assert!(publishes(after).is_empty());
}
