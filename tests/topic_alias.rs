//! Topic aliases (MQTT 5 §3.3.2.3.4) in both directions: client→broker with rumqttc, and
//! broker→client checked on the raw bytes (a library client resolves aliases and hides them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::collections::HashMap;

use common::raw;
use common::{id_on_shard, shared_broker, topic, v5, QUIET};

use v5::QoS;

fn alias(n: u16) -> Option<v5::PublishProperties> {
    Some(v5::PublishProperties {
        topic_alias: Some(n),
        ..Default::default()
    })
}

scenario! {
    /// The broker resolves the aliases a client sets, and a re-used alias maps to its new topic.
    async fn client_to_broker_alias_resolved(shards) {
        let addr = shared_broker(shards);
        let (t1, t2) = (topic("alias-in"), topic("alias-in"));
        let mut sub = v5::connect(addr, &id_on_shard("aliasin-sub", shards, 1)).await;
        sub.subscribe_ok(&t1, QoS::AtLeastOnce).await;
        sub.subscribe_ok(&t2, QoS::AtLeastOnce).await;
        let mut publ = v5::connect(addr, &id_on_shard("aliasin-pub", shards, 0)).await;
        let max = publ.connack.properties.as_ref().and_then(|p| p.topic_alias_max);
        assert_eq!(max, Some(64), "CONNACK advertises Topic Alias Maximum");

        publ.publish_with(&t1, QoS::AtLeastOnce, false, "set", alias(1)).await;
        publ.publish_with("", QoS::AtLeastOnce, false, "use1", alias(1)).await;
        publ.publish_with("", QoS::AtMostOnce, false, "use2", alias(1)).await;
        publ.publish_with(&t2, QoS::ExactlyOnce, false, "remap", alias(1)).await;
        publ.publish_with("", QoS::AtLeastOnce, false, "use3", alias(1)).await;
        publ.publish_with(&t1, QoS::AtLeastOnce, false, "plain", None).await;

        let want = [(&t1, "set"), (&t1, "use1"), (&t1, "use2"), (&t2, "remap"), (&t2, "use3"), (&t1, "plain")];
        for (t, payload) in want {
            let p = sub.next_publish().await;
            assert_eq!((v5::topic_of(&p), v5::text(&p)), (t.clone(), payload.to_owned()));
            let fwd = p.properties.as_ref().and_then(|p| p.topic_alias);
            assert_eq!(fwd, None, "no alias toward a client whose Topic Alias Maximum is 0 [MQTT-3.1.2-27]");
        }
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// [MQTT-3.3.2-7] aliases do not outlive their connection: an empty topic with an alias
    /// set on an earlier connection is a Protocol Error (0x82).
    async fn alias_not_carried_to_next_connection_mqtt_3_3_2_7(shards) {
        let addr = shared_broker(shards);
        let id = id_on_shard("alias-stale", shards, 1);
        let t = topic("alias-stale");
        let mut c = raw::connect_v5_ok(addr, &raw::connect_v5(&id, 30, &[], None)).await;
        c.send(&raw::publish_v5(t.as_bytes(), 1, 1, &raw::prop_u16(0x23, 3), b"x")).await.unwrap();
        c.expect_kind(raw::PUBACK, "PUBACK").await;
        c.send(&raw::packet(0xE0, &[])).await.unwrap();
        c.expect_close(common::WAIT).await;

        let mut c = raw::connect_v5_ok(addr, &raw::connect_v5(&id, 30, &[], None)).await;
        c.send(&raw::publish_v5(b"", 1, 1, &raw::prop_u16(0x23, 3), b"x")).await.unwrap();
        let seen = c.expect_close(common::WAIT).await;
        let disc = seen.iter().find(|p| p.kind() == raw::DISCONNECT).expect("a DISCONNECT");
        assert_eq!(disc.reason_code(), 0x82, "unknown alias with an empty topic: {seen:?}");
    }
}

scenario! {
    /// Broker→client aliases: with Topic Alias Maximum 2 in CONNECT, the broker sends each
    /// topic once with an alias in 1..=2 and then an empty topic with that alias
    /// [MQTT-3.3.2-9], replacing least-recently-used aliases when it runs out.
    async fn broker_to_client_alias_on_the_wire_mqtt_3_3_2_9(shards) {
        let addr = shared_broker(shards);
        let topics = [topic("alias-out"), topic("alias-out"), topic("alias-out")];
        let id = id_on_shard("aliasout-sub", shards, 1);
        let props = raw::prop_u16(0x22, 2); // Topic Alias Maximum 2
        let mut sub = raw::connect_v5_ok(addr, &raw::connect_v5(&id, 30, &props, None)).await;
        for (i, t) in topics.iter().enumerate() {
            sub.send(&raw::subscribe_v5(i as u16 + 1, t, 0)).await.unwrap();
            let ack = sub.expect_kind(raw::SUBACK, "SUBACK").await;
            assert_eq!(ack.body.last(), Some(&0x00), "granted QoS 0: {ack:?}");
        }
        let mut publ = v5::connect(addr, &id_on_shard("aliasout-pub", shards, 0)).await;
        // t0 t0 t0 t1 t1 t0 t2 t2 t1 t0: uses, reuses and (with max 2) evicts aliases.
        let order = [0, 0, 0, 1, 1, 0, 2, 2, 1, 0];
        for (n, &k) in order.iter().enumerate() {
            publ.publish(&topics[k], QoS::AtLeastOnce, false, &format!("m{n}")).await;
        }
        let mut map: HashMap<u16, String> = HashMap::new();
        let mut empty_topics = 0;
        for (n, &k) in order.iter().enumerate() {
            let p = raw::parse_publish_v5(&sub.expect_kind(raw::PUBLISH, "PUBLISH").await);
            assert_eq!(p.payload, format!("m{n}").into_bytes());
            let a = p.topic_alias.expect("every PUBLISH to this client carries an alias");
            assert!((1..=2).contains(&a), "alias {a} within the client's maximum 2");
            let resolved = if p.topic.is_empty() {
                empty_topics += 1;
                map.get(&a).cloned().expect("an empty topic uses an alias already set")
            } else {
                map.insert(a, p.topic.clone());
                p.topic.clone()
            };
            assert_eq!(resolved, topics[k], "message m{n} resolves to its topic");
        }
        assert!(empty_topics >= 4, "aliases replace repeated topics ({empty_topics} times)");
        assert_eq!(sub.read(QUIET).await, raw::Read::Timeout, "nothing more");
        publ.disconnect().await;
    }
}
