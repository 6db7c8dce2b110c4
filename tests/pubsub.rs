//! Publish/subscribe at QoS 0, 1 and 2 with rumqttc, over MQTT 3.1.1 and 5, within and
//! across versions, on a 1-shard and a 2-shard broker. With 2 shards the publisher and the
//! subscriber live on different home shards, so every message crosses between shards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use common::{id_on_shard, shared_broker, topic, v3, v5, QUIET};

const COUNT: usize = 10;

fn v5_qos(q: u8) -> v5::QoS {
    match q {
        0 => v5::QoS::AtMostOnce,
        1 => v5::QoS::AtLeastOnce,
        _ => v5::QoS::ExactlyOnce,
    }
}

fn v3_qos(q: u8) -> v3::QoS {
    match q {
        0 => v3::QoS::AtMostOnce,
        1 => v3::QoS::AtLeastOnce,
        _ => v3::QoS::ExactlyOnce,
    }
}

scenario! {
    /// Each QoS: every message arrives once, in order, at the QoS it was sent with.
    async fn v311_qos_0_1_2_in_order_exactly_once(shards) {
        let addr = shared_broker(shards);
        let mut sub = v3::connect(addr, &id_on_shard("ps3-sub", shards, 1)).await;
        let mut publ = v3::connect(addr, &id_on_shard("ps3-pub", shards, 0)).await;
        for q in 0..=2u8 {
            let t = topic("ps3");
            sub.subscribe_ok(&t, v3_qos(q)).await;
            for i in 0..COUNT {
                publ.publish(&t, v3_qos(q), false, &format!("m{q}-{i}")).await;
            }
            for i in 0..COUNT {
                let p = sub.next_publish().await;
                assert_eq!(p.topic, t);
                assert_eq!(v3::text(&p), format!("m{q}-{i}"), "QoS {q}: order and content");
                assert_eq!(p.qos, v3_qos(q), "delivered at the QoS granted and published");
                assert!(!p.retain, "a live message is not flagged retained [MQTT-3.3.1-9]");
            }
        }
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// The same over MQTT 5.
    async fn v5_qos_0_1_2_in_order_exactly_once(shards) {
        let addr = shared_broker(shards);
        let mut sub = v5::connect(addr, &id_on_shard("ps5-sub", shards, 1)).await;
        let mut publ = v5::connect(addr, &id_on_shard("ps5-pub", shards, 0)).await;
        for q in 0..=2u8 {
            let t = topic("ps5");
            sub.subscribe_ok(&t, v5_qos(q)).await;
            for i in 0..COUNT {
                publ.publish(&t, v5_qos(q), false, &format!("m{q}-{i}")).await;
            }
            for i in 0..COUNT {
                let p = sub.next_publish().await;
                assert_eq!(v5::topic_of(&p), t);
                assert_eq!(v5::text(&p), format!("m{q}-{i}"), "QoS {q}: order and content");
                assert_eq!(p.qos, v5_qos(q));
                assert!(!p.retain, "Retain As Published 0 clears RETAIN [MQTT-3.3.1-12]");
            }
        }
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// A message goes out at the lower of the published QoS and the granted QoS.
    async fn delivered_at_minimum_qos_mqtt_3_8_4_8(shards) {
        let addr = shared_broker(shards);
        let mut sub = v5::connect(addr, &id_on_shard("minq-sub", shards, 1)).await;
        let mut publ = v5::connect(addr, &id_on_shard("minq-pub", shards, 0)).await;
        let t = topic("minq");
        sub.subscribe_ok(&t, v5::QoS::AtLeastOnce).await;
        publ.publish(&t, v5::QoS::ExactlyOnce, false, "down").await;
        publ.publish(&t, v5::QoS::AtMostOnce, false, "low").await;
        let a = sub.next_publish().await;
        assert_eq!((v5::text(&a).as_str(), a.qos), ("down", v5::QoS::AtLeastOnce));
        let b = sub.next_publish().await;
        assert_eq!((v5::text(&b).as_str(), b.qos), ("low", v5::QoS::AtMostOnce));
        sub.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// v3.1.1 and v5 clients exchange messages both ways, and a wildcard filter matches.
    async fn across_versions_and_wildcards(shards) {
        let addr = shared_broker(shards);
        let base = topic("xver");
        let mut c3 = v3::connect(addr, &id_on_shard("xver3", shards, 0)).await;
        let mut c5 = v5::connect(addr, &id_on_shard("xver5", shards, 1)).await;
        c3.subscribe_ok(&format!("{base}/to3/+"), v3::QoS::AtLeastOnce).await;
        c5.subscribe_ok(&format!("{base}/to5/#"), v5::QoS::ExactlyOnce).await;

        c5.publish(&format!("{base}/to3/a"), v5::QoS::AtLeastOnce, false, "from5").await;
        c3.publish(&format!("{base}/to5/b/c"), v3::QoS::ExactlyOnce, false, "from3").await;

        let p = c3.next_publish().await;
        assert_eq!((p.topic.clone(), v3::text(&p)), (format!("{base}/to3/a"), "from5".into()));
        assert_eq!(p.qos, v3::QoS::AtLeastOnce);
        let p = c5.next_publish().await;
        assert_eq!(v5::topic_of(&p), format!("{base}/to5/b/c"));
        assert_eq!((v5::text(&p), p.qos), ("from3".into(), v5::QoS::ExactlyOnce));
        // `+` matches one level only.
        c5.publish(&format!("{base}/to3/a/deeper"), v5::QoS::AtLeastOnce, false, "no").await;
        c3.assert_no_publish(QUIET).await;
        c3.disconnect().await;
        c5.disconnect().await;
    }
}
