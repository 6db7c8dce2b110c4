//! Sessions: Clean Start, Session Expiry Interval (0, N, 0xFFFFFFFF, the server maximum), the
//! v3 clean-session flag, resume (queued messages, re-sent inflight with DUP and the original
//! packet identifiers, PUBREL), inbound QoS 2 state across connections, expiry removing the
//! session entirely, DISCONNECT changing the expiry, takeover, and the queue limit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::Config;
use mqtt_proto::{Disconnect, DisconnectReasonCode, Packet, PubRelReasonCode, Publish, QoS};

const HOUR: u64 = 3600 * 1000;

fn quiet() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

/// A publisher that stays connected (Clean Start 1, expiry 0).
fn publisher(h: &mut Harness) -> mqtt_core::ConnId {
    h.client("pub", V5)
}

/// Publishes and reads the acknowledgement away.
fn publish_from(h: &mut Harness, conn: mqtt_core::ConnId, p: Publish) {
    let qos = p.qos_pid.qos();
    h.send(conn, V5, p);
    let got = h.recv(conn);
    match qos {
        QoS::AtMostOnce => assert!(got.is_empty(), "{got:?}"),
        QoS::AtLeastOnce => assert!(matches!(got[..], [Packet::PubAck(_)]), "{got:?}"),
        QoS::ExactlyOnce => {
            let [Packet::PubRec(rec)] = &got[..] else {
                panic!("{got:?}")
            };
            h.send(conn, V5, pubrel(rec.packet_id.get()));
            assert!(matches!(h.recv(conn)[..], [Packet::PubComp(_)]));
        }
    }
}

fn normal_disconnect(h: &mut Harness, conn: mqtt_core::ConnId, v: mqtt_proto::ProtocolVersion) {
    h.send(
        conn,
        v,
        Disconnect::new(DisconnectReasonCode::NormalDisconnection),
    );
    assert!(h.is_closed(conn));
}

fn payloads(p: &[Publish]) -> Vec<&[u8]> {
    p.iter().map(|p| &p.payload[..]).collect()
}

// ---- Clean Start and Session Present ----

#[test]
fn clean_start_1_discards_the_session_and_session_present_is_0_mqtt_3_1_2_4_mqtt_3_2_2_2() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    normal_disconnect(&mut h, a, V5);
    assert_eq!(h.shard.subscription_count(), 1);

    // [MQTT-3.1.2-4] the old session is discarded; [MQTT-3.2.2-2] Session Present 0.
    let (a, rest) = h.reconnect(connect_v5("a", true, Some(100)), false);
    assert!(rest.is_empty());
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.subscription_count(), 0);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"x", QoS::AtLeastOnce, 1));
    h.recv_none(a);
}

#[test]
fn clean_start_0_resumes_the_session_with_session_present_1_mqtt_3_1_2_5_mqtt_3_2_2_3() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    normal_disconnect(&mut h, a, V5);

    // [MQTT-3.2.2-3] Clean Start 0 and a session: Session Present 1, subscriptions kept.
    let (a, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert!(rest.is_empty());
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"x", QoS::AtLeastOnce, 1));
    let got = publishes(h.recv(a));
    assert_eq!(payloads(&got), [b"x"]);
}

#[test]
fn clean_start_0_without_a_session_creates_one_with_session_present_0_mqtt_3_1_2_6() {
    let mut h = Harness::new(quiet());
    let (_, rest) = h.reconnect(connect_v5("a", false, Some(100)), false);
    assert!(rest.is_empty());
    assert_eq!(h.shard.session_count(), 1);
}

// ---- Session Expiry Interval ----

#[test]
fn session_expiry_absent_or_zero_ends_the_session_at_close_mqtt_3_1_2_23() {
    // MQTT 5 §3.1.2.11.2: absent means 0; 0 ends the session with the connection.
    for expiry in [None, Some(0)] {
        let mut h = Harness::new(quiet());
        let (a, _) = h.reconnect(connect_v5("a", false, expiry), false);
        h.subscribe(a, V5, "t", QoS::AtLeastOnce);
        h.drop_conn(a);
        assert_eq!(h.shard.session_count(), 0, "{expiry:?}");
        assert_eq!(h.shard.subscription_count(), 0);
        h.reconnect(connect_v5("a", false, Some(100)), false);
    }
}

#[test]
fn session_is_kept_until_its_expiry_then_removed_entirely_mqtt_4_1_0_2() {
    let mut h = Harness::new(quiet());
    let p = publisher(&mut h);
    let (a, _) = h.reconnect(connect_v5("a", false, Some(10)), false);
    h.subscribe(a, V5, "t/#", QoS::ExactlyOnce);
    h.drop_conn(a);
    // [MQTT-3.1.2-23] kept after the close: QoS 1/2 messages are queued for it.
    publish_from(&mut h, p, publish("t/1", b"one", QoS::AtLeastOnce, 1));
    publish_from(&mut h, p, publish("t/2", b"two", QoS::ExactlyOnce, 2));
    assert_eq!(h.shard.session_count(), 2);
    let dropped = h.shard.stats().dropped;

    h.advance(9_999);
    assert_eq!(h.shard.session_count(), 2);
    h.advance(1);
    // [MQTT-4.1.0-2] discarded once the interval has passed: subscriptions, queue and all.
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.subscription_count(), 0);
    assert_eq!(h.shard.stats().sessions_expired, 1);
    assert_eq!(h.shard.stats().dropped, dropped + 2);
    // Its filter no longer matches.
    publish_from(&mut h, p, publish("t/3", b"three", QoS::AtLeastOnce, 3));
    let (a, rest) = h.reconnect(connect_v5("a", false, Some(10)), false);
    assert!(rest.is_empty(), "{rest:?}");
    h.recv_none(a);
}

#[test]
fn reconnecting_before_expiry_cancels_it_and_the_stale_deadline_does_nothing() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(10)), false);
    h.drop_conn(a); // deadline t+10 s
    h.advance(6_000);
    let (a, _) = h.reconnect(connect_v5("a", false, Some(10)), true);
    h.drop_conn(a); // new deadline t+16 s
    h.advance(5_000); // past the first deadline
    assert_eq!(h.shard.session_count(), 1);
    h.advance(4_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
    assert_eq!(h.shard.stats().sessions_expired, 1);
    assert_eq!(h.shard.poll_timeout(), None);
}

#[test]
fn session_expiry_0xffffffff_never_expires_mqtt_3_1_2_23() {
    let mut h = Harness::new(Config {
        max_session_expiry: u32::MAX,
        ..quiet()
    });
    let (a, ack, _) = h.connect_full(connect_v5("a", false, Some(u32::MAX)));
    // Granted as asked: no Session Expiry Interval in CONNACK.
    assert_eq!(ack.properties.session_expiry_interval, None);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    h.drop_conn(a);
    // No timer is armed for it.
    assert_eq!(h.shard.poll_timeout(), None);
    h.advance(200 * 365 * 24 * HOUR);
    assert_eq!(h.shard.session_count(), 1);
    h.reconnect(connect_v5("a", false, Some(u32::MAX)), true);
}

#[test]
fn session_expiry_is_capped_by_the_server_and_connack_says_so() {
    // MQTT 5 §3.2.2.3.2: the server sends the Session Expiry Interval it uses when it differs.
    let mut h = Harness::new(quiet());
    let (_, ack, _) = h.connect_full(connect_v5("x", false, Some(u32::MAX)));
    assert_eq!(ack.properties.session_expiry_interval, Some(7 * 24 * 3600));
    let (_, ack, _) = h.connect_full(connect_v5("y", false, Some(60)));
    assert_eq!(ack.properties.session_expiry_interval, None);

    let mut h = Harness::new(Config {
        max_session_expiry: 10,
        ..quiet()
    });
    let (a, ack, _) = h.connect_full(connect_v5("a", false, Some(100)));
    assert_eq!(ack.properties.session_expiry_interval, Some(10));
    h.drop_conn(a);
    h.advance(9_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
}

// ---- MQTT 3.1.1 clean-session flag ----

#[test]
fn v311_clean_session_0_is_persistent_and_resumes_mqtt_3_1_2_4_mqtt_3_1_2_5_v311() {
    let mut h = Harness::new(quiet());
    let mut c = connect("a", V311);
    c.clean_start = false;
    let (a, _) = h.reconnect(c.clone(), false);
    h.subscribe(a, V311, "t", QoS::AtLeastOnce);
    normal_disconnect(&mut h, a, V311);
    // [MQTT-3.1.2-5] (3.1.1) QoS 1/2 messages are stored while it is away; QoS 0 is not.
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"q0", QoS::AtMostOnce, 1));
    publish_from(&mut h, p, publish("t", b"q1", QoS::AtLeastOnce, 2));
    // [MQTT-3.2.2-2] (3.1.1) Session Present 1.
    let (_, rest) = h.reconnect(c, true);
    let got = publishes(rest);
    assert_eq!(payloads(&got), [b"q1"]);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    assert!(!got[0].dup);
}

#[test]
fn v311_clean_session_1_ends_at_disconnect_mqtt_3_1_2_6_v311() {
    let mut h = Harness::new(quiet());
    let a = h.client("a", V311);
    h.subscribe(a, V311, "t", QoS::AtLeastOnce);
    h.drop_conn(a);
    assert_eq!(h.shard.session_count(), 0);
    let mut c = connect("a", V311);
    c.clean_start = false;
    // [MQTT-3.2.2-3] (3.1.1) no session: Session Present 0.
    h.reconnect(c, false);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn v311_persistent_session_expires_after_the_server_maximum() {
    // 3.1.1 has no expiry: Clean Session 0 asks for "never", capped like a v5 request.
    let mut h = Harness::new(Config {
        max_session_expiry: 60,
        ..quiet()
    });
    let mut c = connect("a", V311);
    c.clean_start = false;
    let (a, _) = h.reconnect(c, false);
    h.drop_conn(a);
    h.advance(59_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
}

// ---- Resume ----

#[test]
fn resume_delivers_queued_qos1_and_qos2_in_order_and_qos0_was_not_queued() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::ExactlyOnce);
    normal_disconnect(&mut h, a, V5);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"m1", QoS::AtLeastOnce, 1));
    // QoS 0 is not kept for a disconnected session (MQTT 5 §4.1 makes it optional).
    publish_from(&mut h, p, publish("t", b"m0", QoS::AtMostOnce, 2));
    publish_from(&mut h, p, publish("t", b"m2", QoS::ExactlyOnce, 3));

    let (_, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    let got = publishes(rest);
    assert_eq!(payloads(&got), [b"m1".as_slice(), b"m2"]);
    assert_eq!(got[0].qos_pid.qos(), QoS::AtLeastOnce);
    assert_eq!(got[1].qos_pid.qos(), QoS::ExactlyOnce);
    // First transmissions: DUP 0.
    assert!(!got[0].dup && !got[1].dup);
}

#[test]
fn resume_resends_unacked_with_dup_and_original_ids_in_order_and_pubrel_mqtt_4_4_0_1() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::ExactlyOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"m1", QoS::AtLeastOnce, 1));
    publish_from(&mut h, p, publish("t", b"m2", QoS::ExactlyOnce, 2));
    publish_from(&mut h, p, publish("t", b"m3", QoS::ExactlyOnce, 3));
    publish_from(&mut h, p, publish("t", b"m4", QoS::AtLeastOnce, 4));
    let first = publishes(h.recv(a));
    assert_eq!(payloads(&first), [b"m1", b"m2", b"m3", b"m4"]);
    let ids: Vec<u16> = first
        .iter()
        .map(|p| p.qos_pid.packet_id().unwrap().get())
        .collect();
    // m3 is received (PUBREC): the server owes a PUBREL for it.
    h.send(a, V5, pubrec(ids[2]));
    match h.recv_one(a) {
        Packet::PubRel(r) => assert_eq!(r.packet_id.get(), ids[2]),
        other => panic!("{other:?}"),
    }
    h.drop_conn(a);

    // [MQTT-4.4.0-1] re-sent with the original identifiers; [MQTT-3.3.1-1] DUP 1;
    // [MQTT-4.6.0-1] in the original order; the PUBREL is re-sent, not the PUBLISH
    // [MQTT-4.3.3-6].
    let (a, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert_eq!(rest.len(), 4, "{rest:?}");
    let expect = [
        (Some(&b"m1"[..]), ids[0], QoS::AtLeastOnce),
        (Some(&b"m2"[..]), ids[1], QoS::ExactlyOnce),
        (None, ids[2], QoS::ExactlyOnce),
        (Some(&b"m4"[..]), ids[3], QoS::AtLeastOnce),
    ];
    for (got, (payload, id, qos)) in rest.iter().zip(expect) {
        match (got, payload) {
            (Packet::Publish(p), Some(payload)) => {
                assert_eq!(&p.payload[..], payload);
                assert!(p.dup, "{p:?}");
                assert_eq!(p.qos_pid.packet_id().unwrap().get(), id);
                assert_eq!(p.qos_pid.qos(), qos);
            }
            (Packet::PubRel(r), None) => assert_eq!(r.packet_id.get(), id),
            other => panic!("{other:?}"),
        }
    }

    // Acknowledged now: nothing more is re-sent on the next resume.
    h.send(a, V5, puback(ids[0]));
    h.send(a, V5, pubrec(ids[1]));
    match h.recv_one(a) {
        Packet::PubRel(r) => assert_eq!(r.packet_id.get(), ids[1]),
        other => panic!("{other:?}"),
    }
    h.send(a, V5, pubcomp(ids[1]));
    h.send(a, V5, pubcomp(ids[2]));
    h.send(a, V5, puback(ids[3]));
    h.recv_none(a);
    h.drop_conn(a);
    let (_, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn resume_sends_inflight_before_queued_messages() {
    let mut h = Harness::new(quiet());
    let mut c = connect_v5("a", false, Some(100));
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (a, _) = h.reconnect(c.clone(), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"m1", QoS::AtLeastOnce, 1));
    publish_from(&mut h, p, publish("t", b"m2", QoS::AtLeastOnce, 2));
    // Receive Maximum 1: only m1 is out.
    let got = publishes(h.recv(a));
    assert_eq!(payloads(&got), [b"m1"]);
    let id1 = got[0].qos_pid.packet_id().unwrap().get();
    h.drop_conn(a);
    publish_from(&mut h, p, publish("t", b"m3", QoS::AtLeastOnce, 3));

    let (a, rest) = h.reconnect(c, true);
    let got = publishes(rest);
    assert_eq!(payloads(&got), [b"m1"]);
    assert!(got[0].dup);
    h.send(a, V5, puback(id1));
    let got = publishes(h.recv(a));
    assert_eq!(payloads(&got), [b"m2"]);
    assert!(!got[0].dup);
    h.send(a, V5, puback(got[0].qos_pid.packet_id().unwrap().get()));
    let got = publishes(h.recv(a));
    assert_eq!(payloads(&got), [b"m3"]);
}

#[test]
fn resume_with_smaller_receive_maximum_defers_resends_mqtt_3_3_4_9() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    for (i, m) in [b"m1", b"m2", b"m3"].into_iter().enumerate() {
        publish_from(&mut h, p, publish("t", m, QoS::AtLeastOnce, i as u16 + 1));
    }
    let first = publishes(h.recv(a));
    assert_eq!(first.len(), 3);
    h.drop_conn(a);
    publish_from(&mut h, p, publish("t", b"m4", QoS::AtLeastOnce, 4));

    // The new connection takes one unacknowledged PUBLISH at a time: re-sends go out one
    // by one as acknowledgements come, in order, before the queued message.
    let mut c = connect_v5("a", false, Some(100));
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (a, rest) = h.reconnect(c, true);
    let mut got = publishes(rest);
    let mut seen = Vec::new();
    while let [m] = &got[..] {
        seen.push((m.payload.clone(), m.dup, m.qos_pid.packet_id().unwrap()));
        h.send(a, V5, puback(m.qos_pid.packet_id().unwrap().get()));
        got = publishes(h.recv(a));
    }
    assert!(got.is_empty(), "{got:?}");
    let want: Vec<_> = first
        .iter()
        .map(|m| (m.payload.clone(), true, m.qos_pid.packet_id().unwrap()))
        .collect();
    assert_eq!(seen[..3], want[..]);
    assert_eq!(&seen[3].0[..], b"m4");
    assert!(!seen[3].1);
    assert_eq!(seen.len(), 4);
}

#[test]
fn inbound_qos2_awaiting_pubrel_survives_reconnect_mqtt_4_3_3_10() {
    let mut h = Harness::new(quiet());
    let s = h.client("sub", V5);
    h.subscribe(s, V5, "t", QoS::ExactlyOnce);
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.send(a, V5, publish("t", b"once", QoS::ExactlyOnce, 5));
    assert!(matches!(h.recv_one(a), Packet::PubRec(r) if r.packet_id.get() == 5));
    assert_eq!(publishes(h.recv(s)).len(), 1);
    h.drop_conn(a);

    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), true);
    let mut again = publish("t", b"once", QoS::ExactlyOnce, 5);
    again.dup = true;
    h.send(a, V5, again);
    // [MQTT-4.3.3-10] acknowledged again, not delivered again.
    assert!(matches!(h.recv_one(a), Packet::PubRec(r) if r.packet_id.get() == 5));
    h.recv_none(s);
    h.send(a, V5, pubrel(5));
    match h.recv_one(a) {
        Packet::PubComp(c) => {
            assert_eq!(c.packet_id.get(), 5);
            assert_eq!(c.reason_code, PubRelReasonCode::Success);
        }
        other => panic!("{other:?}"),
    }
    // [MQTT-4.3.3-12] after PUBCOMP the identifier starts a new message.
    h.send(a, V5, publish("t", b"next", QoS::ExactlyOnce, 5));
    assert!(matches!(h.recv_one(a), Packet::PubRec(_)));
    assert_eq!(payloads(&publishes(h.recv(s))), [b"next"]);
}

#[test]
fn inbound_qos2_state_is_discarded_with_clean_start() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.send(a, V5, publish("t", b"x", QoS::ExactlyOnce, 5));
    assert!(matches!(h.recv_one(a), Packet::PubRec(_)));
    h.drop_conn(a);
    let (a, _) = h.reconnect(connect_v5("a", true, Some(100)), false);
    h.send(a, V5, pubrel(5));
    match h.recv_one(a) {
        Packet::PubComp(c) => assert_eq!(c.reason_code, PubRelReasonCode::PacketIdentifierNotFound),
        other => panic!("{other:?}"),
    }
}

// ---- DISCONNECT and the Session Expiry Interval ----

#[test]
fn disconnect_setting_expiry_when_connect_had_zero_is_protocol_error_0x82() {
    // MQTT 5 §3.14.2.2.2: non-zero in DISCONNECT after 0 (or absent) in CONNECT is a
    // Protocol Error, and the DISCONNECT is not treated as valid: the session still ends.
    for connect_expiry in [None, Some(0)] {
        let mut h = Harness::new(quiet());
        let (a, _) = h.reconnect(connect_v5("a", false, connect_expiry), false);
        h.subscribe(a, V5, "t", QoS::AtLeastOnce);
        h.send(
            a,
            V5,
            disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(60)),
        );
        match h.recv_one(a) {
            Packet::Disconnect(d) => {
                assert_eq!(d.reason_code, DisconnectReasonCode::ProtocolError);
                // [MQTT-3.14.2-2] never sent by the server.
                assert_eq!(d.properties.session_expiry_interval, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(h.is_closed(a));
        assert_eq!(h.shard.session_count(), 0);
        assert_eq!(h.shard.stats().rejected[0x82], 1);
    }
}

#[test]
fn disconnect_with_expiry_zero_after_zero_is_fine() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, None), false);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(0)),
    );
    h.recv_none(a);
    assert!(h.is_closed(a));
    assert_eq!(h.shard.stats().rejected[0x82], 0);
}

#[test]
fn disconnect_can_lower_expiry_to_zero_ending_the_session() {
    let mut h = Harness::new(quiet());
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(0)),
    );
    h.recv_none(a);
    assert_eq!(h.shard.session_count(), 0);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn disconnect_can_change_a_nonzero_expiry_capped_by_the_server() {
    let mut h = Harness::new(Config {
        max_session_expiry: 50,
        ..quiet()
    });
    // Raised within the cap.
    let (a, _) = h.reconnect(connect_v5("a", false, Some(10)), false);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(30)),
    );
    h.advance(29_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
    // Raised beyond the cap: the cap applies.
    let (a, _) = h.reconnect(connect_v5("a", false, Some(10)), false);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(u32::MAX)),
    );
    h.advance(49_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
    // Lowered.
    let (a, _) = h.reconnect(connect_v5("a", false, Some(40)), false);
    h.send(
        a,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, Some(5)),
    );
    h.advance(4_999);
    assert_eq!(h.shard.session_count(), 1);
    h.advance(1);
    assert_eq!(h.shard.session_count(), 0);
}

// ---- Takeover ----

#[test]
fn takeover_with_clean_start_0_resumes_and_resends_inflight_mqtt_3_1_4_3() {
    let mut h = Harness::new(quiet());
    let (a1, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a1, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"m1", QoS::AtLeastOnce, 1));
    let id = publishes(h.recv(a1))[0].qos_pid.packet_id().unwrap();

    let (a2, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    // [MQTT-3.1.4-3] the old connection is told 0x8E and closed.
    match h.recv_one(a1) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, DisconnectReasonCode::SessionTakenOver),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(a1));
    assert!(!h.is_closed(a2));
    let got = publishes(rest);
    assert_eq!(payloads(&got), [b"m1"]);
    assert!(got[0].dup);
    assert_eq!(got[0].qos_pid.packet_id(), Some(id));
    assert_eq!(h.shard.session_count(), 2);
    assert_eq!(h.shard.connection_count(), 2);
}

#[test]
fn takeover_of_a_zero_expiry_session_with_clean_start_0_starts_a_new_one_mqtt_3_2_2_3() {
    // Closing the old connection ends its session (expiry 0): Clean Start 0 then finds none.
    let mut h = Harness::new(quiet());
    let (a1, _) = h.reconnect(connect_v5("a", false, None), false);
    h.subscribe(a1, V5, "t", QoS::AtLeastOnce);
    let (a2, rest) = h.reconnect(connect_v5("a", false, Some(100)), false);
    assert!(rest.is_empty());
    assert!(h.is_closed(a1));
    assert!(!h.is_closed(a2));
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.subscription_count(), 0);
    // The new session works.
    h.subscribe(a2, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"x", QoS::AtLeastOnce, 1));
    assert_eq!(publishes(h.recv(a2)).len(), 1);
}

#[test]
fn takeover_with_clean_start_1_discards_the_session_mqtt_3_1_2_4() {
    let mut h = Harness::new(quiet());
    let (a1, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a1, V5, "t", QoS::AtLeastOnce);
    let (_, rest) = h.reconnect(connect_v5("a", true, Some(100)), false);
    assert!(rest.is_empty());
    assert!(h.is_closed(a1));
    assert_eq!(h.shard.session_count(), 1);
    assert_eq!(h.shard.subscription_count(), 0);
}

// ---- Nothing left behind ----

#[test]
fn no_session_connection_or_timer_is_left_once_everyone_is_gone() {
    let mut h = Harness::new(quiet());
    let mut conns = Vec::new();
    for (i, expiry) in [None, Some(5), Some(60), Some(u32::MAX)]
        .into_iter()
        .enumerate()
    {
        let mut c = connect_v5(&format!("c{i}"), false, expiry);
        c.keep_alive = 30;
        let (conn, _) = h.reconnect(c, false);
        h.subscribe(conn, V5, "t/+", QoS::ExactlyOnce);
        h.subscribe(conn, V5, "#", QoS::AtLeastOnce);
        conns.push(conn);
    }
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t/a", b"x", QoS::ExactlyOnce, 1));
    publish_from(&mut h, p, publish("t/b", b"y", QoS::AtLeastOnce, 2));
    for c in conns {
        h.drop_conn(c);
    }
    normal_disconnect(&mut h, p, V5);
    assert!(h.shard.poll_timeout().is_some());
    h.advance(7 * 24 * HOUR);
    assert_eq!(h.shard.session_count(), 0);
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.subscription_count(), 0);
    assert_eq!(h.shard.subscription_nodes(), 0);
    assert_eq!(h.shard.poll_timeout(), None);
    assert_eq!(h.shard.stats().sessions_expired, 3);
}

// ---- Queue limit ----

#[test]
fn queue_limit_drops_qos0_first_then_the_oldest_and_counts_them() {
    let mut h = Harness::new(Config {
        max_queued_messages: 3,
        ..quiet()
    });
    let mut c = connect_v5("a", false, Some(100));
    c.properties.receive_maximum = core::num::NonZeroU16::new(1);
    let (a, _) = h.reconnect(c, false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"m1", QoS::AtLeastOnce, 1)); // inflight
    publish_from(&mut h, p, publish("t", b"m2", QoS::AtLeastOnce, 2)); // queued
    publish_from(&mut h, p, publish("t", b"m3", QoS::AtMostOnce, 3)); // queued behind m2
    publish_from(&mut h, p, publish("t", b"m4", QoS::AtLeastOnce, 4)); // queue full
    assert_eq!(h.shard.stats().dropped, 0);
    publish_from(&mut h, p, publish("t", b"m5", QoS::AtLeastOnce, 5)); // drops m3 (QoS 0)
    publish_from(&mut h, p, publish("t", b"m6", QoS::AtMostOnce, 6)); // drops m6 (QoS 0)
    publish_from(&mut h, p, publish("t", b"m7", QoS::AtLeastOnce, 7)); // drops m2 (oldest)
    assert_eq!(h.shard.stats().dropped, 3);

    let mut seen = Vec::new();
    let mut got = publishes(h.recv(a));
    while let Some(m) = got.pop() {
        seen.push(m.payload.clone());
        h.send(a, V5, puback(m.qos_pid.packet_id().unwrap().get()));
        got = publishes(h.recv(a));
    }
    assert_eq!(seen, [&b"m1"[..], b"m4", b"m5", b"m7"]);
}

#[test]
fn queue_limit_applies_to_a_disconnected_session() {
    let mut h = Harness::new(Config {
        max_queued_messages: 2,
        ..quiet()
    });
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    h.drop_conn(a);
    let p = publisher(&mut h);
    for (i, m) in [b"m1", b"m2", b"m3"].into_iter().enumerate() {
        publish_from(&mut h, p, publish("t", m, QoS::AtLeastOnce, i as u16 + 1));
    }
    assert_eq!(h.shard.stats().dropped, 1);
    let (_, rest) = h.reconnect(connect_v5("a", false, Some(100)), true);
    assert_eq!(payloads(&publishes(rest)), [b"m2", b"m3"]);
}

#[test]
fn queue_limit_zero_queues_nothing_but_still_delivers_to_a_connected_client() {
    let mut h = Harness::new(Config {
        max_queued_messages: 0,
        ..quiet()
    });
    let (a, _) = h.reconnect(connect_v5("a", false, Some(100)), false);
    h.subscribe(a, V5, "t", QoS::AtLeastOnce);
    let p = publisher(&mut h);
    publish_from(&mut h, p, publish("t", b"live", QoS::AtLeastOnce, 1));
    assert_eq!(payloads(&publishes(h.recv(a))), [b"live"]);
    assert_eq!(h.shard.stats().dropped, 0);
    h.drop_conn(a);
    publish_from(&mut h, p, publish("t", b"away", QoS::AtLeastOnce, 2));
    assert_eq!(h.shard.stats().dropped, 1);
}
