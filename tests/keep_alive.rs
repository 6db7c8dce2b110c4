//! Keep alive: a raw client that connects with keep alive 1 s and then goes silent is closed
//! after one and a half keep alive periods, and its will is published.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::raw::{self, Raw, Will};
use common::{ids_spread, shared_broker, topic, uid, v5, QUIET};

scenario! {
    /// [MQTT-3.1.2-22] nothing received within 1.5 × keep alive: the broker closes the
    /// connection (v5: DISCONNECT 0x8D Keep Alive timeout first) and publishes the will.
    async fn silent_client_closed_and_will_published_mqtt_3_1_2_22(shards) {
        let addr = shared_broker(shards);
        let t = topic("ka");
        let mut sub = v5::connect(addr, &uid("ka-sub")).await;
        sub.subscribe_ok(&t, v5::QoS::AtLeastOnce).await;

        let mut tasks = Vec::new();
        for (i, id) in ids_spread("ka", shards, 4).into_iter().enumerate() {
            let v5_client = i % 2 == 0;
            let payload = format!("ka-will-{id}");
            let will = Will { topic: &t, payload: payload.as_bytes(), qos: 1, props: &[] };
            let connect = if v5_client {
                raw::connect_v5(&id, 1, &[], Some(will))
            } else {
                raw::connect_v311(&id, 1, Some(will))
            };
            let mut c = Raw::connect(addr).await;
            c.send(&connect).await.unwrap();
            let ack = c.expect_kind(raw::CONNACK, "CONNACK").await;
            assert_eq!(ack.reason_code(), 0, "{ack:?}");
            let since = Instant::now();
            tasks.push(tokio::spawn(async move {
                let seen = c.expect_close(Duration::from_secs(4)).await;
                (v5_client, payload, since.elapsed(), seen)
            }));
        }
        let mut wills = Vec::new();
        for task in tasks {
            let (v5_client, payload, elapsed, seen) = task.await.unwrap();
            assert!(
                elapsed >= Duration::from_millis(1_300) && elapsed <= Duration::from_millis(3_000),
                "closed {elapsed:?} after CONNACK; keep alive 1 s means about 1.5 s"
            );
            if v5_client {
                assert_eq!(seen.len(), 1, "one DISCONNECT before the close: {seen:?}");
                assert_eq!(seen[0].kind(), raw::DISCONNECT);
                assert_eq!(seen[0].reason_code(), 0x8D, "Keep Alive timeout");
            } else {
                assert!(seen.is_empty(), "a v3.1.1 client is just closed: {seen:?}");
            }
            wills.push(payload);
        }
        let mut got = Vec::new();
        for _ in &wills {
            got.push(v5::text(&sub.next_publish().await));
        }
        got.sort();
        wills.sort();
        assert_eq!(got, wills, "each silent client's will, once");
        sub.assert_no_publish(QUIET).await;
        sub.disconnect().await;
    }
}

scenario! {
    /// A client that pings within its keep alive stays connected well past 1.5 × keep alive.
    async fn pinging_client_stays_connected(shards) {
        let addr = shared_broker(shards);
        let id = uid("ka-ping");
        let mut c = raw::connect_v5_ok(addr, &raw::connect_v5(&id, 1, &[], None)).await;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            c.send(&[0xC0, 0x00]).await.unwrap();
            let p = c.expect("PINGRESP").await;
            assert_eq!((p.header, p.body.len()), (0xD0, 0), "PINGRESP");
        }
        c.send(&[0xE0, 0x00]).await.unwrap();
        assert!(c.expect_close(common::WAIT).await.is_empty());
    }
}
