//! `$SYS/broker/...`: the broker's figures, published every `sys_interval` (1 s in these
//! tests), broker-wide with 2 shards; and `$` topics stay out of leading wildcards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{ids_spread, shared_broker, uid, v5};

use v5::QoS;

scenario! {
    /// `$SYS/#` gets version, uptime and client counts, refreshed every interval.
    async fn sys_topics_published_every_interval(shards) {
        let addr = shared_broker(shards);
        // Clients homed on every shard, so the broker-wide count is at least their number.
        let mut others = Vec::new();
        for id in ids_spread("sys-other", shards, 2) {
            others.push(v5::connect(addr, &id).await);
        }
        // Traffic to count: 5 messages in, 5 out.
        let t = common::topic("sys-traffic");
        others[1].subscribe_ok(&t, QoS::AtLeastOnce).await;
        for i in 0..5 {
            others[0].publish(&t, QoS::AtLeastOnce, false, &format!("m{i}")).await;
            others[1].next_publish().await;
        }
        let mut sub = v5::connect(addr, &uid("sys-sub")).await;
        sub.subscribe_ok("$SYS/#", QoS::AtMostOnce).await;

        let mut latest: HashMap<String, String> = HashMap::new();
        let mut uptimes: Vec<u64> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline && uptimes.len() < 3 {
            let Some(p) = sub.try_next_publish(Duration::from_millis(500)).await else {
                continue;
            };
            let t = v5::topic_of(&p);
            assert!(t.starts_with("$SYS/broker/"), "{t}");
            if t == "$SYS/broker/uptime" {
                uptimes.push(v5::text(&p).parse().expect("uptime is a number of seconds"));
            }
            latest.insert(t, v5::text(&p));
        }
        assert!(uptimes.len() >= 2, "uptime published at each 1 s interval: {uptimes:?}");
        assert!(uptimes.windows(2).all(|w| w[0] <= w[1]), "uptime never goes back: {uptimes:?}");
        assert!(uptimes.last() > uptimes.first(), "uptime grows: {uptimes:?}");
        assert_eq!(latest.get("$SYS/broker/version").map(String::as_str), Some(env!("CARGO_PKG_VERSION")));
        let connected: usize = latest["$SYS/broker/clients/connected"].parse().unwrap();
        assert!(connected >= 3, "at least this test's 3 clients are connected, got {connected}");
        for (k, min) in [
            ("messages/received", 5),
            ("messages/sent", 5),
            ("bytes/received", 100),
            ("bytes/sent", 100),
            ("clients/total", 3),
        ] {
            let v: u64 = latest[&format!("$SYS/broker/{k}")].parse().expect(k);
            assert!(v >= min, "{k} = {v}, expected at least {min}");
        }
        for c in others {
            c.disconnect().await;
        }

        // Retained: a late subscriber gets the latest figures at once.
        let mut late = v5::connect(addr, &uid("sys-late")).await;
        late.subscribe_ok("$SYS/broker/version", QoS::AtMostOnce).await;
        let p = late.next_publish().await;
        assert!(p.retain);
        assert_eq!(v5::text(&p), env!("CARGO_PKG_VERSION"));
        late.disconnect().await;
        sub.disconnect().await;
    }
}

scenario! {
    /// [MQTT-4.7.2-1] `#` and `+/...` do not match topics that begin with `$`.
    async fn leading_wildcard_skips_sys_mqtt_4_7_2_1(shards) {
        let addr = shared_broker(shards);
        let mut sub = v5::connect(addr, &uid("sys-wild")).await;
        sub.subscribe_ok("#", QoS::AtMostOnce).await;
        sub.subscribe_ok("+/broker/uptime", QoS::AtMostOnce).await;
        // Two $SYS intervals; other tests' traffic may arrive meanwhile, never a `$` topic.
        let deadline = Instant::now() + Duration::from_millis(2_200);
        while let Some(p) = sub.try_next_publish(deadline.saturating_duration_since(Instant::now())).await {
            let t = v5::topic_of(&p);
            assert!(!t.starts_with('$'), "a leading wildcard matched {t}");
        }
        sub.disconnect().await;
    }
}
