//! Retained messages: set, replaced, received on subscribe (exact and wildcard filters, which
//! with 2 shards gather from every retained partition), and cleared with an empty payload.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use common::{id_on_shard, shared_broker, topic, uid, v3, v5, QUIET};

use v5::QoS;

/// Topics enough that, with 2 shards, both retained partitions hold some.
const TOPICS: usize = 6;

scenario! {
    /// [MQTT-3.3.1-5] stored and replaced, [MQTT-3.3.1-9] sent on subscribe with RETAIN 1,
    /// [MQTT-3.3.1-6] an empty retained payload removes it.
    async fn set_replace_receive_clear_mqtt_3_3_1_5_6_9(shards) {
        let addr = shared_broker(shards);
        let base = topic("ret");
        let topics: Vec<String> = (0..TOPICS).map(|i| format!("{base}/t{i}")).collect();
        let mut publ = v5::connect(addr, &id_on_shard("ret-pub", shards, 0)).await;
        for (i, t) in topics.iter().enumerate() {
            publ.publish(t, QoS::AtLeastOnce, true, &format!("old{i}")).await;
            publ.publish(t, QoS::AtLeastOnce, true, &format!("v{i}")).await;
        }

        // Exact filter on each topic, from a client homed on the other shard.
        let mut sub = v5::connect(addr, &id_on_shard("ret-sub", shards, 1)).await;
        for (i, t) in topics.iter().enumerate() {
            sub.subscribe_ok(t, QoS::AtLeastOnce).await;
            let p = sub.next_publish().await;
            assert_eq!(v5::topic_of(&p), *t);
            assert_eq!(v5::text(&p), format!("v{i}"), "the latest retained message replaced the old");
            assert!(p.retain, "a retained message sent on subscribe has RETAIN 1");
        }
        sub.assert_no_publish(QUIET).await;

        // A wildcard filter gathers every topic's message, once each.
        let mut wild = v3::connect(addr, &uid("ret-wild")).await;
        wild.subscribe_ok(&format!("{base}/#"), v3::QoS::AtLeastOnce).await;
        let mut got = Vec::new();
        for _ in 0..TOPICS {
            let p = wild.next_publish().await;
            assert!(p.retain, "[MQTT-3.3.1-9] RETAIN 1 on a message sent for a new subscription");
            got.push((p.topic.clone(), v3::text(&p)));
        }
        got.sort();
        let want: Vec<(String, String)> =
            topics.iter().enumerate().map(|(i, t)| (t.clone(), format!("v{i}"))).collect();
        assert_eq!(got, want);
        wild.assert_no_publish(QUIET).await;

        // Clearing: the live subscriber sees the empty message; new subscribers get nothing.
        for t in &topics {
            publ.publish(t, QoS::AtLeastOnce, true, "").await;
        }
        for _ in 0..TOPICS {
            let p = wild.next_publish().await;
            assert!(p.payload.is_empty());
            assert!(!p.retain, "a live message is sent with RETAIN 0 [MQTT-3.3.1-9]");
        }
        let mut late = v5::connect(addr, &uid("ret-late")).await;
        late.subscribe_ok(&format!("{base}/#"), QoS::AtLeastOnce).await;
        for t in &topics {
            late.subscribe_ok(t, QoS::AtMostOnce).await;
        }
        late.assert_no_publish(QUIET).await;

        for c in [publ, sub, late] {
            c.disconnect().await;
        }
        wild.disconnect().await;
    }
}

scenario! {
    /// A non-retained PUBLISH does not touch the retained message of its topic; a retained one
    /// published at QoS 0 is stored too.
    async fn only_retain_flag_stores(shards) {
        let addr = shared_broker(shards);
        let t = topic("ret-flag");
        let mut publ = v5::connect(addr, &id_on_shard("retf-pub", shards, 0)).await;
        publ.publish(&t, QoS::AtMostOnce, true, "kept").await;
        publ.publish(&t, QoS::AtLeastOnce, false, "not kept").await;
        let mut sub = v5::connect(addr, &id_on_shard("retf-sub", shards, 1)).await;
        sub.subscribe_ok(&t, QoS::AtLeastOnce).await;
        let p = sub.next_publish().await;
        assert_eq!((v5::text(&p), p.retain), ("kept".into(), true));
        // QoS 0 as stored, even though the subscription grants QoS 1.
        assert_eq!(p.qos, QoS::AtMostOnce);
        sub.assert_no_publish(QUIET).await;
        publ.publish(&t, QoS::AtLeastOnce, true, "").await;
        publ.disconnect().await;
        sub.disconnect().await;
    }
}
