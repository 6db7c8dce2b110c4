//! Message Expiry Interval (MQTT 5 §3.3.2.3.3): a message that waited past its expiry is not
//! delivered, and a delivered one carries the interval less the time it waited.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::time::Duration;

use common::{id_on_shard, shared_broker, topic, uid, v5, QUIET};

use v5::QoS;

fn expiry(secs: u32) -> Option<v5::PublishProperties> {
    Some(v5::PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    })
}

fn expiry_of(p: &v5::Publish) -> Option<u32> {
    p.properties
        .as_ref()
        .and_then(|p| p.message_expiry_interval)
}

scenario! {
    /// [MQTT-3.3.2-5] a queued message past its expiry is not delivered; [MQTT-3.3.2-6] the
    /// one delivered carries its interval less the time it spent queued.
    async fn queued_message_expires_mqtt_3_3_2_5_6(shards) {
        let addr = shared_broker(shards);
        let t = topic("mexp");
        let id = id_on_shard("mexp-sub", shards, 1);
        let mut sub = v5::connect_with(v5::session_options(addr, &id, true, 60)).await;
        sub.subscribe_ok(&t, QoS::AtLeastOnce).await;

        // Live delivery first: no time queued, the interval as published.
        let mut publ = v5::connect(addr, &id_on_shard("mexp-pub", shards, 0)).await;
        publ.publish_with(&t, QoS::AtLeastOnce, false, "live", expiry(30)).await;
        let p = sub.next_publish().await;
        assert_eq!(v5::text(&p), "live");
        let live = expiry_of(&p).expect("the expiry is forwarded");
        assert!((29..=30).contains(&live), "live message expiry {live}");
        sub.disconnect().await;

        publ.publish_with(&t, QoS::AtLeastOnce, false, "short", expiry(1)).await;
        publ.publish_with(&t, QoS::AtLeastOnce, false, "long", expiry(60)).await;
        publ.publish_with(&t, QoS::AtLeastOnce, false, "none", None).await;
        tokio::time::sleep(Duration::from_millis(2_300)).await;

        let mut sub = v5::connect_with(v5::session_options(addr, &id, false, 60)).await;
        assert!(sub.connack.session_present);
        let p = sub.next_publish().await;
        assert_eq!(v5::text(&p), "long", "the expired message is skipped, the next one comes first");
        let left = expiry_of(&p).expect("the remaining expiry is sent");
        assert!((55..=58).contains(&left), "60 s less ~2.3 s queued, got {left}");
        let p = sub.next_publish().await;
        assert_eq!(v5::text(&p), "none");
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
        v5::connect_with(v5::session_options(addr, &id, true, 0)).await.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// A retained message past its expiry is no longer sent to new subscribers
    /// [MQTT-3.3.2-5].
    async fn retained_message_expires_mqtt_3_3_2_5(shards) {
        let addr = shared_broker(shards);
        let (gone, kept) = (topic("rexp"), topic("rexp"));
        let mut publ = v5::connect(addr, &uid("rexp-pub")).await;
        publ.publish_with(&gone, QoS::AtLeastOnce, true, "gone", expiry(1)).await;
        publ.publish_with(&kept, QoS::AtLeastOnce, true, "kept", expiry(100)).await;
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let mut sub = v5::connect(addr, &uid("rexp-sub")).await;
        sub.subscribe_ok(&gone, QoS::AtLeastOnce).await;
        sub.assert_no_publish(QUIET).await;
        sub.subscribe_ok(&kept, QoS::AtLeastOnce).await;
        let p = sub.next_publish().await;
        assert_eq!((v5::text(&p), p.retain), ("kept".into(), true));
        let left = expiry_of(&p).expect("retained message keeps its expiry");
        assert!((96..=98).contains(&left), "100 s less ~2.2 s stored, got {left}");
        publ.publish(&kept, QoS::AtLeastOnce, true, "").await;
        sub.disconnect().await;
        publ.disconnect().await;
    }
}
