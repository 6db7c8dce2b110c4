//! Will messages: published when a client vanishes, not after a normal DISCONNECT, and with a
//! Will Delay Interval (v5) only once the delay has passed without a reconnection. With 2
//! shards the will clients are homed on both shards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{ids_spread, shared_broker, topic, uid, v3, v5, QUIET};

use v5::QoS;

fn v5_will(t: &str, payload: &str, delay: Option<u32>) -> v5::LastWill {
    let props = delay.map(v5::will_delay);
    v5::LastWill::new(
        t,
        payload.as_bytes().to_vec(),
        QoS::AtLeastOnce,
        false,
        props,
    )
}

scenario! {
    /// [MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT;
    /// [MQTT-3.1.2-10] a normal DISCONNECT discards it. v3.1.1 and v5.
    async fn published_on_abrupt_close_not_on_disconnect_mqtt_3_1_2_8_10(shards) {
        let addr = shared_broker(shards);
        let t = topic("will");
        let mut sub = v5::connect(addr, &uid("will-sub")).await;
        sub.subscribe_ok(&format!("{t}/#"), QoS::AtLeastOnce).await;

        for (i, id) in ids_spread("will5", shards, 2).iter().enumerate() {
            let mut o = v5::options(addr, id);
            o.set_last_will(v5_will(&format!("{t}/v5"), &format!("gone5-{i}"), None));
            v5::connect_with(o).await.kill().await;
            let p = sub.next_publish().await;
            assert_eq!(v5::topic_of(&p), format!("{t}/v5"));
            assert_eq!(v5::text(&p), format!("gone5-{i}"));
        }
        for (i, id) in ids_spread("will3", shards, 2).iter().enumerate() {
            let mut o = v3::options(addr, id);
            o.set_last_will(v3::LastWill::new(
                format!("{t}/v3"),
                format!("gone3-{i}"),
                v3::QoS::AtLeastOnce,
                false,
            ));
            v3::connect_with(o).await.kill().await;
            let p = sub.next_publish().await;
            assert_eq!((v5::topic_of(&p), v5::text(&p)), (format!("{t}/v3"), format!("gone3-{i}")));
        }

        // Normal DISCONNECT: no will.
        for id in ids_spread("will-ok", shards, 2) {
            let mut o = v5::options(addr, &id);
            o.set_last_will(v5_will(&format!("{t}/v5"), "must not appear", None));
            v5::connect_with(o).await.disconnect().await;
            let mut o = v3::options(addr, &format!("{id}-3"));
            o.set_last_will(v3::LastWill::new(format!("{t}/v3"), "must not appear", v3::QoS::AtMostOnce, false));
            v3::connect_with(o).await.disconnect().await;
        }
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
    }
}

scenario! {
    /// [MQTT-3.1.3-9] with a Will Delay Interval the will waits for the delay.
    async fn delayed_will_sent_after_delay_mqtt_3_1_3_9(shards) {
        let addr = shared_broker(shards);
        let t = topic("wdelay");
        let mut sub = v5::connect(addr, &uid("wdelay-sub")).await;
        sub.subscribe_ok(&t, QoS::AtLeastOnce).await;

        let ids = ids_spread("wdelay", shards, 2);
        let mut start = Vec::new();
        for id in &ids {
            let mut o = v5::session_options(addr, id, true, 30);
            o.set_last_will(v5_will(&t, id, Some(2)));
            let c = v5::connect_with(o).await;
            start.push(Instant::now());
            c.kill().await;
        }
        // Nothing during the first second and a half.
        sub.assert_no_publish(Duration::from_millis(1_300)).await;
        let mut got = Vec::new();
        for _ in &ids {
            let p = sub.next_publish().await;
            got.push(v5::text(&p));
        }
        let elapsed = start[0].elapsed();
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want, "every delayed will arrives once");
        assert!(
            elapsed >= Duration::from_millis(1_800) && elapsed < Duration::from_millis(4_500),
            "the will arrived {elapsed:?} after the disconnection; the delay is 2 s"
        );
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
    }
}

scenario! {
    /// [MQTT-3.1.3-9] a reconnection within the Will Delay Interval cancels the will.
    async fn delayed_will_cancelled_by_reconnect_mqtt_3_1_3_9(shards) {
        let addr = shared_broker(shards);
        let t = topic("wcancel");
        let mut sub = v5::connect(addr, &uid("wcancel-sub")).await;
        sub.subscribe_ok(&t, QoS::AtLeastOnce).await;

        // Two clients per home shard, each reconnected on a fresh connection (which the
        // kernel may give to either shard).
        for id in ids_spread("wcancel", shards, 4) {
            let mut o = v5::session_options(addr, &id, true, 30);
            o.set_last_will(v5_will(&t, "must not appear", Some(2)));
            v5::connect_with(o).await.kill().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let again = v5::connect_with(v5::session_options(addr, &id, false, 30)).await;
            assert!(again.connack.session_present, "{id}: the session was kept [MQTT-3.1.2-5]");
            // Leave normally: no will either.
            again.disconnect().await;
        }
        sub.assert_no_publish(Duration::from_millis(2_500)).await;
        sub.disconnect().await;
    }
}
