//! Persistent sessions and takeover. With 2 shards the client ids are homed on both shards and
//! every (re)connection is a fresh TCP connection that the kernel gives to either shard, so
//! some are surely handed over to the home shard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use common::{id_on_shard, ids_spread, raw, shared_broker, topic, uid, v3, v5, QUIET};

use v5::QoS;

const CLIENTS: usize = 4;
const ROUNDS: usize = 3;
const PER_ROUND: usize = 3;

scenario! {
    /// [MQTT-3.1.2-5] Clean Start 0 resumes the session (Session Present 1) and the QoS 1
    /// messages published while the client was offline are delivered, in order.
    async fn v5_resume_delivers_offline_qos1_mqtt_3_1_2_5(shards) {
        let addr = shared_broker(shards);
        let ids = ids_spread("resume5", shards, CLIENTS);
        let topics: Vec<String> = ids.iter().map(|_| topic("resume5")).collect();
        let mut publ = v5::connect(addr, &uid("resume5-pub")).await;
        for (id, t) in ids.iter().zip(&topics) {
            let mut c = v5::connect_with(v5::session_options(addr, id, true, 60)).await;
            assert!(!c.connack.session_present, "Clean Start 1: no session present");
            c.subscribe_ok(t, QoS::AtLeastOnce).await;
            c.disconnect().await;
        }
        for round in 0..ROUNDS {
            for t in &topics {
                for k in 0..PER_ROUND {
                    publ.publish(t, QoS::AtLeastOnce, false, &format!("r{round}-{k}")).await;
                }
            }
            for (id, t) in ids.iter().zip(&topics) {
                let mut c = v5::connect_with(v5::session_options(addr, id, false, 60)).await;
                assert!(c.connack.session_present, "{id} round {round}: Session Present 1");
                for k in 0..PER_ROUND {
                    let p = c.next_publish().await;
                    assert_eq!(v5::topic_of(&p), *t);
                    assert_eq!(v5::text(&p), format!("r{round}-{k}"), "{id}: queued in order");
                    assert_eq!(p.qos, QoS::AtLeastOnce);
                }
                c.assert_no_publish(QUIET / 2).await;
                c.disconnect().await;
            }
        }
        // End the sessions: Clean Start 1 with no expiry discards them.
        for id in &ids {
            let c = v5::connect_with(v5::session_options(addr, id, true, 0)).await;
            assert!(!c.connack.session_present);
            c.disconnect().await;
        }
        publ.disconnect().await;
    }
}

scenario! {
    /// v3.1.1 clean session 0: the session and its queued QoS 1 messages survive a disconnection
    /// [MQTT-3.1.2-4].
    async fn v311_persistent_session_delivers_offline_qos1_mqtt_3_1_2_4(shards) {
        let addr = shared_broker(shards);
        let mut publ = v3::connect(addr, &uid("resume3-pub")).await;
        for id in ids_spread("resume3", shards, CLIENTS) {
            let t = topic("resume3");
            let mut o = v3::options(addr, &id);
            o.set_clean_session(false);
            let mut c = v3::connect_with(o.clone()).await;
            c.subscribe_ok(&t, v3::QoS::AtLeastOnce).await;
            c.disconnect().await;
            for k in 0..PER_ROUND {
                publ.publish(&t, v3::QoS::AtLeastOnce, false, &format!("m{k}")).await;
            }
            let mut c = v3::connect_with(o).await;
            assert!(c.connack.session_present, "{id}: session present");
            for k in 0..PER_ROUND {
                let p = c.next_publish().await;
                assert_eq!((p.topic.clone(), v3::text(&p)), (t.clone(), format!("m{k}")));
            }
            c.disconnect().await;
            let mut o = v3::options(addr, &id);
            o.set_clean_session(true);
            v3::connect_with(o).await.disconnect().await;
        }
        publ.disconnect().await;
    }
}

scenario! {
    /// [MQTT-3.1.4-3] a second connection with the same client id takes the session over: the
    /// first gets DISCONNECT 0x8E Session taken over and is closed; the second works and has
    /// the session's subscription. The first is a raw client so that the reason code is read
    /// from the wire.
    async fn v5_takeover_first_gets_0x8e_mqtt_3_1_4_3(shards) {
        let addr = shared_broker(shards);
        let mut publ = v5::connect(addr, &id_on_shard("take5-pub", shards, 0)).await;
        for id in ids_spread("take5", shards, CLIENTS) {
            let t = topic("take5");
            let expiry = raw::prop_u32(0x11, 60);
            let mut first = raw::connect_v5_ok(addr, &raw::connect_v5(&id, 30, &expiry, None)).await;
            first.send(&raw::subscribe_v5(1, &t, 1)).await.unwrap();
            let ack = first.expect_kind(raw::SUBACK, "SUBACK").await;
            assert_eq!(ack.body.last(), Some(&1), "granted QoS 1");

            let mut second = v5::connect_with(v5::session_options(addr, &id, false, 60)).await;
            assert!(second.connack.session_present, "{id}: the second connection resumes the session");
            let seen = first.expect_close(common::WAIT).await;
            assert_eq!(seen.len(), 1, "{id}: one DISCONNECT, then the close: {seen:?}");
            assert_eq!((seen[0].kind(), seen[0].reason_code()), (raw::DISCONNECT, 0x8E), "{id}");

            publ.publish(&t, QoS::AtLeastOnce, false, "after takeover").await;
            let p = second.next_publish().await;
            assert_eq!(v5::text(&p), "after takeover");
            second.assert_no_publish(QUIET / 2).await;

            // A third connection takes it from the rumqttc one, and ends the session.
            let third = v5::connect_with(v5::session_options(addr, &id, true, 0)).await;
            assert!(!third.connack.session_present, "Clean Start 1 discards the session");
            second.assert_disconnected(v5::DisconnectReasonCode::SessionTakenOver).await;
            third.disconnect().await;
        }
        publ.disconnect().await;
    }
}

scenario! {
    /// [MQTT-3.1.4-2] v3.1.1: the existing connection is closed, the new one works.
    async fn v311_takeover_closes_first_mqtt_3_1_4_2(shards) {
        let addr = shared_broker(shards);
        let mut publ = v3::connect(addr, &id_on_shard("take3-pub", shards, 0)).await;
        for id in ids_spread("take3", shards, CLIENTS) {
            let t = topic("take3");
            let mut o = v3::options(addr, &id);
            o.set_clean_session(false);
            let mut first = v3::connect_with(o.clone()).await;
            first.subscribe_ok(&t, v3::QoS::AtLeastOnce).await;
            let mut second = v3::connect_with(o).await;
            assert!(second.connack.session_present, "{id}: session present");
            let _ = first.pump.closed().await;
            publ.publish(&t, v3::QoS::AtLeastOnce, false, "after takeover").await;
            assert_eq!(v3::text(&second.next_publish().await), "after takeover");
            second.disconnect().await;
            let mut o = v3::options(addr, &id);
            o.set_clean_session(true);
            v3::connect_with(o).await.disconnect().await;
        }
        publ.disconnect().await;
    }
}
