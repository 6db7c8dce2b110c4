//! Retained messages across shards: stored on the shard that owns the topic
//! (`shard_for(topic, n)`), fetched by a subscribe from the owner alone (a filter without
//! wildcards) or from every shard (a wildcard filter), with Retain Handling decided on the
//! subscriber's shard [MQTT-3.3.1-9/10/11].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{QoS, RetainHandling, SubscribeProperties};

fn config() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

fn client_on(c: &mut Cluster, prefix: &str, on: usize) -> ConnId {
    let id = name_on(prefix, on, c.n());
    c.client(&id)
}

fn delta(before: &[u64], after: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

fn retained_counts(c: &Cluster) -> Vec<usize> {
    c.shards.iter().map(|s| s.retained_count()).collect()
}

/// (topic, payload, RETAIN) of each PUBLISH, sorted by topic.
fn sorted(pubs: &[mqtt_proto::Publish]) -> Vec<(String, String, bool)> {
    let mut v: Vec<_> = pubs
        .iter()
        .map(|p| {
            let body = String::from_utf8(p.payload.to_vec()).unwrap();
            (p.topic.to_string(), body, p.retain)
        })
        .collect();
    v.sort();
    v
}

fn retained_msg(topic: &str, body: &str, qos: QoS, id: u16) -> mqtt_proto::Publish {
    let mut p = publish_bytes(topic, body.as_bytes().to_vec(), qos, id);
    p.retain = true;
    p
}

#[test]
fn a_retained_message_is_stored_only_on_the_shard_that_owns_its_topic() {
    let mut c = Cluster::new(config(), 3, 1);
    let pubs: Vec<ConnId> = (0..3).map(|p| client_on(&mut c, "pub-", p)).collect();
    let mut want = vec![0usize; 3];
    for (p, &conn) in pubs.iter().enumerate() {
        for o in 0..3 {
            let topic = name_on(&format!("r{p}/"), o, 3);
            c.publish_from(conn, retained_msg(&topic, "v", QoS::AtLeastOnce, 1));
            want[o] += 1;
            assert_eq!(retained_counts(&c), want, "{topic} from shard {p}");
        }
    }
    // [MQTT-3.3.1-6] an empty retained message from a shard that does not own the topic
    // deletes it on the owner.
    let topic = name_on("r0/", 2, 3);
    c.publish_from(pubs[1], retained_msg(&topic, "", QoS::AtMostOnce, 1));
    want[2] -= 1;
    assert_eq!(retained_counts(&c), want);
    let s = client_on(&mut c, "sub", 0);
    assert!(c.sub(s, &topic, QoS::AtLeastOnce).is_empty());
}

#[test]
fn a_subscriber_on_any_shard_gets_a_retained_message_published_on_any_shard() {
    for p in 0..3 {
        for s in 0..3 {
            for o in 0..3 {
                let mut c = Cluster::new(config(), 3, (p * 9 + s * 3 + o) as u64);
                let topic = name_on("x/", o, 3);
                let publ = client_on(&mut c, "pub-", p);
                c.publish_from(publ, retained_msg(&topic, "kept", QoS::AtLeastOnce, 1));
                let exact = client_on(&mut c, "exact-", s);
                let got = c.sub(exact, &topic, QoS::AtLeastOnce);
                assert_eq!(sorted(&got), [(topic.clone(), "kept".into(), true)]);
                let wild = client_on(&mut c, "wild-", s);
                let got = c.sub(wild, "x/+", QoS::AtLeastOnce);
                assert_eq!(sorted(&got), [(topic.clone(), "kept".into(), true)]);
                c.assert_routing_idle();
            }
        }
    }
}

#[test]
fn a_subscribe_without_wildcards_asks_only_the_owner_shard() {
    let mut c = Cluster::new(config(), 4, 3);
    let topic = name_on("e/", 3, 4);
    let publ = client_on(&mut c, "pub-", 2);
    c.publish_from(publ, retained_msg(&topic, "one", QoS::AtLeastOnce, 1));
    // Another subscriber on shard 1 already made the filter known: no announcement now.
    let first = client_on(&mut c, "first-", 1);
    c.sub(first, &topic, QoS::AtLeastOnce);
    let s = client_on(&mut c, "second-", 1);
    let before = c.deliveries();
    let got = c.sub(s, &topic, QoS::AtLeastOnce);
    assert_eq!(sorted(&got), [(topic.clone(), "one".into(), true)]);
    // The fetch to shard 3 and its reply; shards 0 and 2 are not asked.
    assert_eq!(delta(&before, &c.deliveries()), [0, 1, 0, 1]);
}

#[test]
fn a_wildcard_subscribe_gathers_from_every_shard() {
    for seed in [1u64, 2, 3, 4] {
        let mut c = Cluster::new(config(), 4, seed);
        let mut want = Vec::new();
        for o in 0..4 {
            let topic = name_on("g/", o, 4);
            let publ = client_on(&mut c, &format!("pub{o}-"), (o + 1) % 4);
            c.publish_from(
                publ,
                retained_msg(&topic, &format!("v{o}"), QoS::AtLeastOnce, 1),
            );
            want.push((topic, format!("v{o}"), true));
        }
        want.sort();
        // A first subscriber: announcement, barrier and the gather.
        let first = client_on(&mut c, "first-", 1);
        assert_eq!(sorted(&c.sub(first, "g/#", QoS::AtLeastOnce)), want);
        // A second one on the same shard: one fetch to each other shard, 3 replies.
        let s = client_on(&mut c, "second-", 1);
        let before = c.deliveries();
        assert_eq!(sorted(&c.sub(s, "g/#", QoS::AtLeastOnce)), want);
        assert_eq!(delta(&before, &c.deliveries()), [1, 3, 1, 1]);
        c.assert_routing_idle();
    }
}

#[test]
fn retain_handling_holds_across_shards_mqtt_3_3_1_9_10_11() {
    let mut c = Cluster::new(config(), 3, 8);
    let topic = name_on("h/", 2, 3);
    let publ = client_on(&mut c, "pub-", 1);
    c.publish_from(publ, retained_msg(&topic, "r", QoS::AtLeastOnce, 1));
    let s = client_on(&mut c, "sub-", 0);
    let one = [(topic.clone(), "r".to_string(), true)];
    let with = |rh| vec![sub_rh(&topic, QoS::AtLeastOnce, rh)];

    // [MQTT-3.3.1-10] Retain Handling 1: only when the subscription is new.
    let (_, got) = c.subscribe_all(s, with(RetainHandling::SendIfNew));
    assert_eq!(sorted(&got), one);
    let (_, got) = c.subscribe_all(s, with(RetainHandling::SendIfNew));
    assert!(got.is_empty(), "{got:?}");
    // [MQTT-3.3.1-9] Retain Handling 0: on every subscribe, re-subscribes included.
    let (_, got) = c.subscribe_all(s, with(RetainHandling::SendAtSubscribe));
    assert_eq!(sorted(&got), one);
    // [MQTT-3.3.1-11] Retain Handling 2: never.
    let (_, got) = c.subscribe_all(s, with(RetainHandling::DoNotSend));
    assert!(got.is_empty(), "{got:?}");
    // New again after an unsubscribe.
    c.unsub(s, &[&topic]);
    let (_, got) = c.subscribe_all(s, with(RetainHandling::SendIfNew));
    assert_eq!(sorted(&got), one);
    c.assert_routing_idle();
}

#[test]
fn a_fetched_retained_message_is_capped_by_the_granted_qos_and_carries_the_subscription_id() {
    let mut c = Cluster::new(config(), 3, 4);
    let topic = name_on("c/", 1, 3);
    let publ = client_on(&mut c, "pub-", 2);
    c.publish_from(publ, retained_msg(&topic, "q2", QoS::ExactlyOnce, 1));
    let s = client_on(&mut c, "sub-", 0);
    let mut packet = subscribe_packet(3, vec![sub(&topic, QoS::AtLeastOnce)]);
    packet.properties = SubscribeProperties {
        subscription_identifier: core::num::NonZeroU32::new(17),
        ..Default::default()
    };
    c.send(s, V5, packet);
    let got = publishes(
        c.recv(s)
            .into_iter()
            .filter(|p| !matches!(p, mqtt_proto::Packet::SubAck(_)))
            .collect(),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    // [MQTT-3.8.4-8] min(published, granted).
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    assert!(got[0].retain);
    assert_eq!(
        got[0].properties.subscription_identifiers.as_slice(),
        [core::num::NonZeroU32::new(17).unwrap()]
    );
}

#[test]
fn a_retained_message_expires_on_its_owner_shard() {
    let mut c = Cluster::new(config(), 3, 6);
    let topic = name_on("exp/", 2, 3);
    let publ = client_on(&mut c, "pub-", 0);
    c.publish_from(
        publ,
        expiring(retained_msg(&topic, "brief", QoS::AtLeastOnce, 1), 5),
    );
    assert_eq!(retained_counts(&c), [0, 0, 1]);
    c.advance(6_000);
    assert_eq!(retained_counts(&c), [0, 0, 0]);
    let s = client_on(&mut c, "sub-", 1);
    assert!(c.sub(s, &topic, QoS::AtLeastOnce).is_empty());
}

#[test]
fn a_shared_subscription_gets_no_retained_message_across_shards() {
    let mut c = Cluster::new(config(), 3, 2);
    let topic = name_on("sh/", 1, 3);
    let publ = client_on(&mut c, "pub-", 2);
    c.publish_from(publ, retained_msg(&topic, "r", QoS::AtLeastOnce, 1));
    let s = client_on(&mut c, "sub-", 0);
    assert!(c
        .sub(s, &format!("$share/g/{topic}"), QoS::AtLeastOnce)
        .is_empty());
    assert!(c.sub(s, "$share/g/sh/#", QoS::AtLeastOnce).is_empty());
}
