//! Graceful shutdown of a dedicated broker: the wills of connected clients (a delayed one
//! included) reach the still-connected subscribers first, then every v5 client gets
//! DISCONNECT 0x8B Server shutting down and v3.1.1 clients are closed, `shutdown()` returns in
//! bounded time, and the port no longer accepts connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{config, id_on_shard, ids_spread, raw, start_broker, topic, uid, v3, v5};

use v5::QoS;

/// Dedicated brokers take locked memory: one at a time in this binary.
static ONE_BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

scenario! {
    /// MQTT 5 §3.14.2.1 (0x8B) and [MQTT-3.1.3-9] (the session ends, so a delayed will is sent
    /// at once).
    async fn wills_first_then_0x8b_in_bounded_time(shards) {
        let _one = ONE_BROKER.lock().await;
        let mut cfg = config(shards);
        cfg.runtime.shutdown_timeout_ms = 2_000;
        let (handle, addr) = start_broker(cfg);
        let t = topic("shut");

        // Subscribers homed on every shard.
        let mut subs = Vec::new();
        for id in ids_spread("shut-sub", shards, 2) {
            let mut s = v5::connect(addr, &id).await;
            s.subscribe_ok(&format!("{t}/#"), QoS::AtLeastOnce).await;
            subs.push(s);
        }
        let mut sub3 = v3::connect(addr, &id_on_shard("shut-sub3", shards, 1)).await;
        sub3.subscribe_ok(&format!("{t}/#"), v3::QoS::AtLeastOnce).await;

        // Clients with wills on every shard: v5 immediate, v5 delayed 60 s, v3.1.1.
        let mut will5 = Vec::new();
        let mut wills = Vec::new();
        for (i, id) in ids_spread("shut-w5", shards, 4).iter().enumerate() {
            let delay = (i % 2 == 1).then(|| v5::will_delay(60));
            let payload = format!("will-{id}");
            let mut o = v5::session_options(addr, id, true, 120);
            o.set_last_will(v5::LastWill::new(format!("{t}/w"), payload.clone(), QoS::AtLeastOnce, false, delay));
            will5.push(v5::connect_with(o).await);
            wills.push(payload);
        }
        let mut will3 = Vec::new();
        for id in ids_spread("shut-w3", shards, 2) {
            let payload = format!("will-{id}");
            let mut o = v3::options(addr, &id);
            o.set_last_will(v3::LastWill::new(format!("{t}/w"), payload.clone(), v3::QoS::AtLeastOnce, false));
            will3.push(v3::connect_with(o).await);
            wills.push(payload);
        }
        // Raw v5 clients read the codes off the wire: a subscriber, and one with a will.
        let mut raw_sub = raw::connect_v5_ok(addr, &raw::connect_v5(&uid("shut-raw"), 30, &[], None)).await;
        raw_sub.send(&raw::subscribe_v5(1, &format!("{t}/#"), 1)).await.unwrap();
        raw_sub.expect_kind(raw::SUBACK, "SUBACK").await;
        let raw_will_id = uid("shut-raww");
        let payload = format!("will-{raw_will_id}");
        let will = raw::Will { topic: &format!("{t}/w"), payload: payload.as_bytes(), qos: 1, props: &[] };
        let mut raw_will = raw::connect_v5_ok(addr, &raw::connect_v5(&raw_will_id, 30, &[], Some(will))).await;
        wills.push(payload);
        wills.sort();

        let started = Instant::now();
        let stopper = tokio::task::spawn_blocking(move || handle.shutdown());

        // The raw subscriber: every will, then DISCONNECT 0x8B, then the close.
        let seen = raw_sub.expect_close(Duration::from_secs(5)).await;
        let (last, publishes) = seen.split_last().expect("packets before the close");
        assert_eq!((last.kind(), last.reason_code()), (raw::DISCONNECT, 0x8B), "{seen:?}");
        let mut got: Vec<String> = publishes
            .iter()
            .map(|p| String::from_utf8(raw::parse_publish_v5(p).payload).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, wills, "every will reaches the subscriber before its DISCONNECT");
        let seen = raw_will.expect_close(Duration::from_secs(5)).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!((seen[0].kind(), seen[0].reason_code()), (raw::DISCONNECT, 0x8B));

        for s in &mut subs {
            let mut got = Vec::new();
            for _ in &wills {
                got.push(v5::text(&s.next_publish().await));
            }
            got.sort();
            assert_eq!(got, wills, "{}: every will before the shutdown DISCONNECT", s.id);
            s.assert_disconnected(v5::DisconnectReasonCode::ServerShuttingDown).await;
        }
        let mut got = Vec::new();
        for _ in &wills {
            got.push(v3::text(&sub3.next_publish().await));
        }
        got.sort();
        assert_eq!(got, wills, "the v3.1.1 subscriber gets every will too");
        let _ = sub3.pump.closed().await;
        for c in &mut will5 {
            c.assert_disconnected(v5::DisconnectReasonCode::ServerShuttingDown).await;
        }
        for c in &mut will3 {
            let _ = c.pump.closed().await;
        }

        let result = tokio::time::timeout(Duration::from_secs(10), stopper).await;
        let elapsed = started.elapsed();
        result.expect("shutdown() returns within 10 s").unwrap().expect("shutdown() is Ok");
        println!("{shards} shard(s): shutdown took {elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "shutdown took {elapsed:?} (flush timeout 2 s)");

        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "the listener is closed after shutdown");
    }
}

scenario! {
    /// An idle broker with no clients shuts down promptly (well before the 2 s flush
    /// timeout: there is nothing to flush).
    async fn idle_broker_stops_promptly(shards) {
        let _one = ONE_BROKER.lock().await;
        let (handle, addr) = start_broker(config(shards));
        let started = Instant::now();
        tokio::task::spawn_blocking(move || handle.shutdown()).await.unwrap().unwrap();
        let elapsed = started.elapsed();
        println!("{shards} shard(s): idle shutdown took {elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "idle shutdown took {elapsed:?}");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
