//! Shared subscriptions `$share/{group}/{filter}` with members homed on every shard and
//! publishers on every shard: each message goes to exactly one member, and every member gets
//! some (round robin).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{ids_spread, shared_broker, topic, uid, v3, v5, QUIET, WAIT};

use v5::QoS;

const MEMBERS: usize = 4;
const MESSAGES: usize = 60;

scenario! {
    /// MQTT 5 §4.8.2: a message matching a shared subscription goes to one member of the group.
    async fn each_message_to_exactly_one_member(shards) {
        let addr = shared_broker(shards);
        let t = topic("share");
        let group = uid("g").replace('-', "_");
        let filter = format!("$share/{group}/{t}");
        let mut members = Vec::new();
        for id in ids_spread("share-m", shards, MEMBERS) {
            let mut m = v5::connect(addr, &id).await;
            m.subscribe_ok(&filter, QoS::AtLeastOnce).await;
            members.push(m);
        }
        // A v3.1.1 member too.
        let mut m3 = v3::connect(addr, &uid("share-m3")).await;
        m3.subscribe_ok(&filter, v3::QoS::AtLeastOnce).await;

        let mut pubs = Vec::new();
        for id in ids_spread("share-p", shards, 2) {
            pubs.push(v5::connect(addr, &id).await);
        }
        for i in 0..MESSAGES {
            let n = pubs.len();
            let p = &mut pubs[i % n];
            p.publish(&t, QoS::AtLeastOnce, false, &format!("m{i}")).await;
        }

        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut per_member = vec![0usize; MEMBERS + 1];
        let deadline = Instant::now() + WAIT;
        while seen.len() < MESSAGES && Instant::now() < deadline {
            for (k, m) in members.iter_mut().enumerate() {
                while let Some(p) = m.try_next_publish(Duration::from_millis(20)).await {
                    assert_eq!(v5::topic_of(&p), t, "the topic, without the $share prefix");
                    let prev = seen.insert(v5::text(&p), m.id.clone());
                    assert!(prev.is_none(), "{} delivered twice ({prev:?} and {})", v5::text(&p), m.id);
                    per_member[k] += 1;
                }
            }
            while let Some(p) = m3.try_next_publish(Duration::from_millis(20)).await {
                let prev = seen.insert(v3::text(&p), m3.id.clone());
                assert!(prev.is_none(), "{} delivered twice ({prev:?} and {})", v3::text(&p), m3.id);
                per_member[MEMBERS] += 1;
            }
        }
        let missing: Vec<String> =
            (0..MESSAGES).map(|i| format!("m{i}")).filter(|m| !seen.contains_key(m)).collect();
        assert!(missing.is_empty(), "never delivered to any member: {missing:?}");
        assert_eq!(seen.len(), MESSAGES);
        assert!(per_member.iter().all(|&n| n > 0), "every member gets some: {per_member:?}");
        for m in &mut members {
            m.assert_no_publish(QUIET / 4).await;
        }
        m3.assert_no_publish(QUIET / 4).await;

        // A normal subscriber next to the group still gets every message.
        let mut plain = v5::connect(addr, &uid("share-plain")).await;
        plain.subscribe_ok(&t, QoS::AtLeastOnce).await;
        pubs[0].publish(&t, QoS::AtLeastOnce, false, "both").await;
        assert_eq!(v5::text(&plain.next_publish().await), "both");

        for m in members.into_iter().chain(pubs).chain([plain]) {
            m.disconnect().await;
        }
        m3.disconnect().await;
    }
}

scenario! {
    /// A group keeps delivering when a member leaves: the others take its share.
    async fn member_leaving_leaves_no_gap(shards) {
        let addr = shared_broker(shards);
        let t = topic("share-leave");
        let filter = format!("$share/{}/{t}", uid("gl").replace('-', "_"));
        let mut members = Vec::new();
        for id in ids_spread("sharel-m", shards, 2) {
            let mut m = v5::connect(addr, &id).await;
            m.subscribe_ok(&filter, QoS::AtLeastOnce).await;
            members.push(m);
        }
        members.remove(0).disconnect().await;
        let mut publ = v5::connect(addr, &uid("sharel-p")).await;
        for i in 0..10 {
            publ.publish(&t, QoS::AtLeastOnce, false, &format!("m{i}")).await;
        }
        for i in 0..10 {
            assert_eq!(v5::text(&members[0].next_publish().await), format!("m{i}"));
        }
        publ.disconnect().await;
        members.remove(0).disconnect().await;
    }
}
