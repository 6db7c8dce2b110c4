//! Retained messages: store, replace, delete; RETAIN on subscribe and on live forwarding;
//! Retain Handling; expiry; limits; none for shared subscriptions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::retained::RetainedLimits;
use mqtt_core::Config;
use mqtt_proto::{Packet, Publish, QoS, RetainHandling};

fn retained_cfg() -> Config {
    Config {
        // No server-imposed expiry, so messages carry only what their publisher set.
        max_message_expiry: 0,
        sys_interval: 0,
        ..Config::default()
    }
}

/// Publishes a retained message from a v5 client called `pub` (connected on first use).
fn put(h: &mut Harness, topic: &str, payload: &'static [u8], qos: QoS) {
    let p = h.client("pub", V5);
    h.publish_from(p, V5, retained(topic, payload, qos, 1));
    h.send(p, V5, mqtt_proto::Disconnect::new(Default::default()));
    h.drain();
}

fn payloads(ps: &[Publish]) -> Vec<Vec<u8>> {
    ps.iter().map(|p| p.payload.to_vec()).collect()
}

#[test]
fn stored_and_sent_after_suback_with_retain_1_mqtt_3_3_1_5() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "a/b", b"one", QoS::AtMostOnce);
    assert_eq!(h.shard.retained_count(), 1);
    let s = h.client("s", V5);
    let (ack, rest) = h.subscribe_many(s, V5, vec![sub("a/+", QoS::AtMostOnce)], None);
    assert_eq!(codes(&ack), [0x00]);
    // SUBACK first (it came out of subscribe_many first), then the retained message.
    let got = publishes(rest);
    assert_eq!(topics_payloads(&got), [("a/b".into(), b"one".to_vec())]);
    // MQTT 5 §3.3.1.3: RETAIN is 1 on a message sent because of a new subscription.
    assert!(got[0].retain);
    assert_eq!(got[0].properties.message_expiry_interval, None);
}

#[test]
fn replaced_by_a_later_retained_message_mqtt_3_3_1_5() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"old", QoS::AtMostOnce);
    put(&mut h, "t", b"new", QoS::AtMostOnce);
    assert_eq!(h.shard.retained_count(), 1);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtMostOnce));
    assert_eq!(payloads(&got), [b"new".to_vec()]);
}

#[test]
fn non_retained_publish_leaves_retained_message_alone_mqtt_3_3_1_8() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"kept", QoS::AtMostOnce);
    let p = h.client("p2", V5);
    h.send(p, V5, publish("t", b"live", QoS::AtMostOnce, 0));
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtMostOnce));
    assert_eq!(payloads(&got), [b"kept".to_vec()]);
}

#[test]
fn empty_payload_deletes_and_is_not_stored_mqtt_3_3_1_6_and_3_3_1_7() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"x", QoS::AtMostOnce);
    let live = h.client("live", V5);
    h.subscribe(live, V5, "t", QoS::AtMostOnce);
    h.recv(live);
    put(&mut h, "t", b"", QoS::AtLeastOnce);
    // The empty message is processed normally: current subscribers get it (RETAIN 0).
    let got = publishes(h.recv(live));
    assert_eq!(got.len(), 1);
    assert!(got[0].payload.is_empty());
    assert!(!got[0].retain, "[MQTT-3.3.1-12]");
    assert_eq!(h.shard.retained_count(), 0);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtMostOnce));
    assert!(
        got.is_empty(),
        "deleted, and the empty message itself not stored"
    );
    // Deleting nothing stores nothing either.
    put(&mut h, "never", b"", QoS::AtMostOnce);
    assert_eq!(h.shard.retained_count(), 0);
}

#[test]
fn live_forwarding_clears_retain_unless_retain_as_published_mqtt_3_3_1_12_and_3_3_1_13() {
    let mut h = Harness::new(retained_cfg());
    let plain = h.client("plain", V5);
    h.subscribe(plain, V5, "t", QoS::AtMostOnce);
    let rap = h.client("rap", V5);
    h.subscribe_many(
        rap,
        V5,
        vec![sub_with(
            "t",
            QoS::AtMostOnce,
            false,
            true,
            RetainHandling::SendAtSubscribe,
        )],
        None,
    );
    let v3 = h.client("v3", V311);
    h.subscribe(v3, V311, "t", QoS::AtMostOnce);
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let p = h.client("p2", V5);
    h.send(p, V5, publish("t", b"n", QoS::AtMostOnce, 0));
    let flags = |ps: Vec<Publish>| ps.iter().map(|p| p.retain).collect::<Vec<_>>();
    assert_eq!(flags(publishes(h.recv(plain))), [false, false]);
    assert_eq!(flags(publishes(h.recv(rap))), [true, false]);
    // 3.1.1 [MQTT-3.3.1-9]: RETAIN 0 on messages for an established subscription.
    assert_eq!(flags(publishes(h.recv(v3))), [false, false]);
}

#[test]
fn v311_subscriber_gets_retain_1_on_subscribe_mqtt_3_3_1_8() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtLeastOnce);
    let s = h.client("s", V311);
    let (ack, got) = h.subscribe_retained(s, V311, sub("t", QoS::AtLeastOnce));
    assert_eq!(codes(&ack), [0x01]);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
}

#[test]
fn retain_handling_0_sends_on_every_subscribe_mqtt_3_3_1_9_and_3_8_4_3() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let opt = || {
        sub_with(
            "t",
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::SendAtSubscribe,
        )
    };
    let (_, got) = h.subscribe_retained(s, V5, opt());
    assert_eq!(got.len(), 1);
    // A re-subscribe replaces the subscription and sends retained messages again.
    let (_, got) = h.subscribe_retained(s, V5, opt());
    assert_eq!(got.len(), 1);
}

#[test]
fn retain_handling_1_sends_only_for_a_new_subscription_mqtt_3_3_1_10() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let opt = || {
        sub_with(
            "t",
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::SendIfNew,
        )
    };
    let (_, got) = h.subscribe_retained(s, V5, opt());
    assert_eq!(got.len(), 1);
    let (_, got) = h.subscribe_retained(s, V5, opt());
    assert!(got.is_empty(), "the subscription existed");
    // Gone and back: new again.
    h.unsubscribe(s, V5, &["t"]);
    let (_, got) = h.subscribe_retained(s, V5, opt());
    assert_eq!(got.len(), 1);
}

#[test]
fn retain_handling_2_never_sends_mqtt_3_3_1_11() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let (ack, got) = h.subscribe_retained(
        s,
        V5,
        sub_with(
            "#",
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::DoNotSend,
        ),
    );
    assert_eq!(codes(&ack), [0x00]);
    assert!(got.is_empty());
    // Live messages still flow.
    let p = h.client("p2", V5);
    h.send(p, V5, publish("t", b"n", QoS::AtMostOnce, 0));
    assert_eq!(publishes(h.recv(s)).len(), 1);
}

#[test]
fn retained_qos_is_capped_by_granted_qos_mqtt_3_8_4_8() {
    let mut h = Harness::new(Config {
        max_qos: QoS::AtLeastOnce,
        ..retained_cfg()
    });
    put(&mut h, "q/0", b"0", QoS::AtMostOnce);
    put(&mut h, "q/1", b"1", QoS::AtLeastOnce);
    let s = h.client("s", V5);
    // Requested 2, granted 1 (the server maximum).
    let (ack, got) = h.subscribe_retained(s, V5, sub("q/+", QoS::ExactlyOnce));
    assert_eq!(codes(&ack), [0x01]);
    let qos: Vec<_> = got
        .iter()
        .map(|p| (p.topic.to_string(), p.qos_pid.qos()))
        .collect();
    assert_eq!(
        qos,
        [
            ("q/0".to_string(), QoS::AtMostOnce),
            ("q/1".to_string(), QoS::AtLeastOnce)
        ]
    );
    let s0 = h.client("s0", V5);
    let (_, got) = h.subscribe_retained(s0, V5, sub("q/1", QoS::AtMostOnce));
    assert_eq!(got[0].qos_pid.qos(), QoS::AtMostOnce);
}

#[test]
fn wildcards_match_retained_but_not_dollar_topics_mqtt_4_7_2_1() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "a/b/c", b"1", QoS::AtMostOnce);
    put(&mut h, "a", b"2", QoS::AtMostOnce);
    put(&mut h, "$data/x", b"3", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("#", QoS::AtMostOnce));
    let mut t: Vec<_> = got.iter().map(|p| p.topic.to_string()).collect();
    t.sort();
    assert_eq!(t, ["a", "a/b/c"]);
    let (_, got) = h.subscribe_retained(s, V5, sub("+/x", QoS::AtMostOnce));
    assert!(got.is_empty());
    let (_, got) = h.subscribe_retained(s, V5, sub("$data/+", QoS::AtMostOnce));
    assert_eq!(payloads(&got), [b"3".to_vec()]);
    let (_, got) = h.subscribe_retained(s, V5, sub("a/#", QoS::AtMostOnce));
    assert_eq!(got.len(), 2, "a/# matches a itself [MQTT-4.7.1-2]");
}

#[test]
fn subscription_identifier_on_retained_messages_mqtt_3_3_4_3() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let (_, rest) = h.subscribe_many(s, V5, vec![sub("t", QoS::AtMostOnce)], Some(42));
    let got = publishes(rest);
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, [42]);
}

#[test]
fn expired_retained_never_sent_and_expiry_lowered_mqtt_3_3_2_5_and_3_3_2_6() {
    let mut h = Harness::new(retained_cfg());
    let p = h.client("pub", V5);
    let mut m = retained("t", b"r", QoS::AtLeastOnce, 1);
    m.properties.message_expiry_interval = Some(10);
    h.publish_from(p, V5, m);
    h.advance(3_500);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtLeastOnce));
    // 6.5 s left, rounded up.
    assert_eq!(got[0].properties.message_expiry_interval, Some(7));
    h.advance(6_500);
    let s2 = h.client("s2", V5);
    let (_, got) = h.subscribe_retained(s2, V5, sub("t", QoS::AtLeastOnce));
    assert!(got.is_empty(), "[MQTT-3.3.2-5] not sent after expiry");
    // The expiry timer has removed it from the store.
    assert_eq!(h.shard.retained_count(), 0);
}

#[test]
fn server_expiry_cap_does_not_expire_retained_messages_without_expiry() {
    // The cap bounds waiting in queues; a retained message that set no expiry stays.
    let mut h = Harness::new(Config {
        max_message_expiry: 60,
        sys_interval: 0,
        ..Config::default()
    });
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    h.advance(120_000);
    assert_eq!(h.shard.retained_count(), 1);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtMostOnce));
    assert_eq!(got.len(), 1);
    // No expiry is shown for a message that had none.
    assert_eq!(got[0].properties.message_expiry_interval, None);
}

#[test]
fn server_cap_on_message_expiry_caps_retained_messages_that_set_one() {
    let mut h = Harness::new(Config {
        max_message_expiry: 60,
        sys_interval: 0,
        ..Config::default()
    });
    let p = h.client("p", V5);
    let mut m = publish("t", b"r", QoS::AtMostOnce, 1);
    m.retain = true;
    m.properties.message_expiry_interval = Some(3600);
    h.send(p, V5, m);
    h.advance(59_000);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("t", QoS::AtMostOnce));
    assert_eq!(got[0].properties.message_expiry_interval, Some(1));
    h.advance(1_000);
    assert_eq!(h.shard.retained_count(), 0);
    let s2 = h.client("s2", V5);
    let (_, got) = h.subscribe_retained(s2, V5, sub("t", QoS::AtMostOnce));
    assert!(got.is_empty());
}

#[test]
fn count_limit_refuses_new_topics_but_allows_replacement() {
    let mut h = Harness::new(Config {
        retained: RetainedLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
        },
        ..retained_cfg()
    });
    let live = h.client("live", V5);
    h.subscribe(live, V5, "#", QoS::AtMostOnce);
    put(&mut h, "a", b"1", QoS::AtMostOnce);
    put(&mut h, "b", b"2", QoS::AtMostOnce);
    put(&mut h, "c", b"3", QoS::AtMostOnce);
    assert_eq!(h.shard.retained_count(), 2);
    assert_eq!(h.shard.stats().retained_refused, 1);
    // Refused for storage, still delivered live.
    assert_eq!(publishes(h.recv(live)).len(), 3);
    put(&mut h, "a", b"1b", QoS::AtMostOnce);
    assert_eq!(h.shard.stats().retained_refused, 1);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("#", QoS::AtMostOnce));
    let mut got = topics_payloads(&got);
    got.sort();
    assert_eq!(
        got,
        [("a".into(), b"1b".to_vec()), ("b".into(), b"2".to_vec())]
    );
}

#[test]
fn byte_limit_refuses_and_keeps_old_message() {
    let mut h = Harness::new(Config {
        retained: RetainedLimits {
            max_messages: 100,
            max_bytes: 10,
        },
        ..retained_cfg()
    });
    put(&mut h, "t", b"1234", QoS::AtMostOnce); // 5 bytes
    put(&mut h, "u", b"123456789", QoS::AtMostOnce); // 10 more: over
    put(&mut h, "t", b"123456789abc", QoS::AtMostOnce); // replacement over
    assert_eq!(h.shard.stats().retained_refused, 2);
    let s = h.client("s", V5);
    let (_, got) = h.subscribe_retained(s, V5, sub("#", QoS::AtMostOnce));
    assert_eq!(topics_payloads(&got), [("t".into(), b"1234".to_vec())]);
}

#[test]
fn shared_subscription_gets_no_retained_messages_mqtt_4_8_2() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "t", b"r", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let (ack, rest) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("$share/g/t", QoS::AtMostOnce),
            sub("$share/g/#", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(codes(&ack), [0x00, 0x00]);
    assert!(rest.is_empty(), "{rest:?}");
    // Only the plain subscription in the same packet gets them.
    let (_, rest) = h.subscribe_many(
        s,
        V5,
        vec![
            sub("$share/h/t", QoS::AtMostOnce),
            sub("t", QoS::AtMostOnce),
        ],
        None,
    );
    assert_eq!(payloads(&publishes(rest)), [b"r".to_vec()]);
}

#[test]
fn retained_for_several_filters_follow_one_suback() {
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "x", b"1", QoS::AtMostOnce);
    put(&mut h, "y", b"2", QoS::AtMostOnce);
    let s = h.client("s", V5);
    let (_, rest) = h.subscribe_many(
        s,
        V5,
        vec![sub("y", QoS::AtMostOnce), sub("x", QoS::AtMostOnce)],
        None,
    );
    assert!(rest.iter().all(|p| matches!(p, Packet::Publish(_))));
    // In filter order.
    assert_eq!(payloads(&publishes(rest)), [b"2".to_vec(), b"1".to_vec()]);
}

#[test]
fn retained_messages_wait_for_the_inflight_window_mqtt_3_3_4_9() {
    // Retained sent on subscribe goes through the normal window: with Receive Maximum 1 the
    // second retained QoS 1 message waits for the first PUBACK.
    let mut h = Harness::new(retained_cfg());
    put(&mut h, "r/1", b"1", QoS::AtLeastOnce);
    put(&mut h, "r/2", b"2", QoS::AtLeastOnce);
    let mut c = connect("s", V5);
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (s, _) = h.connect_with(c);
    let (_, got) = h.subscribe_retained(s, V5, sub("r/+", QoS::AtLeastOnce));
    assert_eq!(got.len(), 1);
    h.send(
        s,
        V5,
        Packet::PubAck(mqtt_proto::PubAck::new(got[0].qos_pid.packet_id().unwrap())),
    );
    let next = publishes(h.recv(s));
    assert_eq!(next.len(), 1);
    assert!(next[0].retain);
    assert_ne!(next[0].topic, got[0].topic);
}
