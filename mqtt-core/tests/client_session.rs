//! Reconnect with session resume: messages kept while offline, unacknowledged QoS 1/2
//! PUBLISH and PUBREL sent again in order, exactly-once across a cut, and what happens to
//! the client's state when the server lost the session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use client_support::*;
use mqtt_core::client::{ClientError, ClientOptions, Event};
use mqtt_proto::{Packet, PacketType, QoS, QosPid, ReasonCode};

/// A persistent publisher and a persistent subscriber on "t" at `qos`.
fn pair(qos: QoS, version: mqtt_proto::ProtocolVersion) -> (Net, usize, usize) {
    let mut net = Net::with_defaults();
    let p = net.add(persistent("pub", version));
    let s = net.add(persistent("sub", version));
    net.connect_ok(p);
    net.connect_ok(s);
    net.subscribe(s, "t", qos);
    let _ = net.sent(p);
    let _ = net.sent(s);
    (net, p, s)
}

fn payloads(msgs: &[mqtt_proto::Publish]) -> Vec<Vec<u8>> {
    msgs.iter().map(|m| m.payload.to_vec()).collect()
}

#[test]
fn reconnect_resumes_and_delivers_a_qos1_message_published_while_offline() {
    for version in [V5, V311] {
        let (mut net, p, s) = pair(QoS::AtLeastOnce, version);
        net.cut(s);
        let token = net.publish(p, "t", b"while away", QoS::AtLeastOnce);
        assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
        let _ = net.events(s);
        assert!(net.connect_ok(s), "{version}: session present");
        // The reconnect asked to resume.
        match &net.sent(s)[0] {
            Packet::Connect(c) => assert!(!c.clean_start, "{version}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(payloads(&net.messages(s)), [b"while away".to_vec()]);
    }
}

#[test]
fn unacked_qos1_is_resent_with_dup_after_reconnect_mqtt_4_4_0_1() {
    let (mut net, p, s) = pair(QoS::AtLeastOnce, V5);
    // The PUBLISH never reaches the broker.
    net.peers[p].hold_up = true;
    let token = net.publish(p, "t", b"lost", QoS::AtLeastOnce);
    let first = net.sent(p);
    let QosPid::AtLeastOnce(id) = publishes(&first)[0].qos_pid else {
        panic!()
    };
    net.cut(p);
    net.peers[p].hold_up = false;
    assert!(net.connect_ok(p));
    let again = net.sent(p);
    let resent = publishes(&again);
    assert_eq!(resent.len(), 1);
    // [MQTT-3.3.1-1] DUP, and the original identifier.
    assert!(resent[0].dup);
    assert_eq!(resent[0].qos_pid, QosPid::AtLeastOnce(id));
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"lost".to_vec()]);
}

#[test]
fn qos1_whose_puback_was_lost_is_delivered_at_least_once() {
    let (mut net, p, s) = pair(QoS::AtLeastOnce, V5);
    net.peers[p].hold_down = true;
    let token = net.publish(p, "t", b"ack lost", QoS::AtLeastOnce);
    net.cut(p);
    net.peers[p].hold_down = false;
    net.connect_ok(p);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    let got = net.messages(s);
    assert!(!got.is_empty() && got.len() <= 2, "{got:?}");
    assert!(got.iter().all(|m| &m.payload[..] == b"ack lost"));
}

#[test]
fn qos2_whose_pubrec_was_lost_is_delivered_exactly_once_mqtt_4_3_3_10() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce, V5);
    net.peers[p].hold_down = true;
    let token = net.publish(p, "t", b"once", QoS::ExactlyOnce);
    let _ = net.sent(p);
    net.cut(p);
    net.peers[p].hold_down = false;
    assert!(net.connect_ok(p));
    let again = net.sent(p);
    let resent = publishes(&again);
    assert_eq!(resent.len(), 1);
    assert!(resent[0].dup);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"once".to_vec()]);
}

#[test]
fn pubrel_is_resent_after_reconnect_mqtt_4_4_0_1() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce, V5);
    // PUBLISH reaches the broker, PUBREC comes back, the PUBREL is lost.
    net.peers[p].hold_down = true;
    let token = net.publish(p, "t", b"rel", QoS::ExactlyOnce);
    net.peers[p].hold_up = true;
    net.peers[p].hold_down = false;
    net.pump();
    let sent = net.sent(p);
    assert!(matches!(sent.last(), Some(Packet::PubRel(_))));
    net.cut(p);
    net.peers[p].hold_up = false;
    assert!(net.connect_ok(p));
    // [MQTT-4.3.3-6] the PUBLISH is not sent again, only the PUBREL.
    let types: Vec<_> = net.sent(p).iter().map(Packet::packet_type).collect();
    assert_eq!(types, [PacketType::Connect, PacketType::PubRel]);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"rel".to_vec()]);
}

#[test]
fn resends_keep_the_original_order_mqtt_4_6_0_1() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce, V5);
    net.peers[p].hold_up = true;
    let now = net.now;
    for (i, qos) in [
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
    ]
    .into_iter()
    .enumerate()
    {
        net.client(p)
            .publish(msg("t", &[i as u8], qos), now)
            .unwrap();
    }
    net.pump();
    let first: Vec<QosPid> = publishes(&net.sent(p)).iter().map(|m| m.qos_pid).collect();
    net.cut(p);
    net.peers[p].hold_up = false;
    net.connect_ok(p);
    let sent = net.sent(p);
    let resent = publishes(&sent);
    assert!(resent.iter().all(|m| m.dup));
    assert_eq!(
        resent.iter().map(|m| m.qos_pid).collect::<Vec<_>>(),
        first,
        "same identifiers, same order"
    );
    assert_eq!(published(&net.events(p)).len(), 4);
    assert_eq!(
        payloads(&net.messages(s)),
        [vec![0], vec![1], vec![2], vec![3]]
    );
}

#[test]
fn inbound_qos2_is_not_redelivered_after_a_cut_mqtt_4_3_3_10() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce, V5);
    // The subscriber gets the PUBLISH, its PUBREC is lost.
    net.peers[s].hold_up = true;
    net.publish(p, "t", b"in", QoS::ExactlyOnce);
    assert_eq!(net.messages(s).len(), 1);
    assert_eq!(net.client(s).awaiting_release_len(), 1);
    net.cut(s);
    net.peers[s].hold_up = false;
    let _ = net.received(s);
    assert!(net.connect_ok(s));
    // The broker sent it again (DUP); the client acknowledged without delivering it again.
    let wire = net.received(s);
    assert!(publishes(&wire).iter().any(|m| m.dup));
    assert!(net.messages(s).is_empty());
    assert_eq!(net.client(s).awaiting_release_len(), 0);
    assert_eq!(net.shard.occupancy().max_inflight, 0);
}

#[test]
fn publishes_made_while_disconnected_go_after_reconnect() {
    let (mut net, p, s) = pair(QoS::AtLeastOnce, V5);
    net.cut(p);
    let now = net.now;
    let t0 = net
        .client(p)
        .publish(msg("t", b"q0", QoS::AtMostOnce), now)
        .unwrap();
    let t1 = net
        .client(p)
        .publish(msg("t", b"q1", QoS::AtLeastOnce), now)
        .unwrap();
    assert!(t1 > t0);
    assert_eq!(net.client(p).queued_len(), 2);
    net.connect_ok(p);
    assert_eq!(published(&net.events(p)), vec![(t1, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"q0".to_vec(), b"q1".to_vec()]);
}

#[test]
fn unanswered_subscribe_is_sent_again_after_reconnect() {
    let mut net = Net::with_defaults();
    let c = net.add(persistent("resub", V5));
    net.connect_ok(c);
    net.peers[c].hold_up = true;
    let now = net.now;
    let token = net
        .client(c)
        .subscribe([sub("r", QoS::AtLeastOnce)], Default::default(), now)
        .unwrap();
    net.pump();
    net.cut(c);
    net.peers[c].hold_up = false;
    net.connect_ok(c);
    let events = net.events(c);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Subscribed { token: t, .. } if *t == token)));
    let p = net.add(opts("other", V5));
    net.connect_ok(p);
    net.publish(p, "r", b"now subscribed", QoS::AtLeastOnce);
    assert_eq!(net.messages(c).len(), 1);
}

/// A client whose session ends with its connection (Session Expiry 0) loses an unacked QoS 1
/// with the connection.
fn lost_session_client(net: &mut Net, resend: bool) -> (usize, mqtt_core::client::PacketToken) {
    let c = net.add(ClientOptions {
        resend_on_session_loss: resend,
        ..opts("ephemeral", V5)
    });
    net.connect_ok(c);
    net.peers[c].hold_up = true;
    let token = net.publish(c, "t", b"again", QoS::AtLeastOnce);
    let _ = net.sent(c);
    net.cut(c);
    net.peers[c].hold_up = false;
    (c, token)
}

#[test]
fn lost_session_republishes_unacked_messages_as_new_mqtt_3_2_2_5() {
    let mut net = Net::with_defaults();
    let s = net.add(opts("watcher", V5));
    net.connect_ok(s);
    net.subscribe(s, "t", QoS::AtLeastOnce);
    let (c, token) = lost_session_client(&mut net, true);
    assert!(!net.connect_ok(c), "no session");
    let sent = net.sent(c);
    let pubs = publishes(&sent);
    assert_eq!(pubs.len(), 1);
    assert!(!pubs[0].dup, "a new message, not a resend");
    assert_eq!(published(&net.events(c)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"again".to_vec()]);
}

#[test]
fn lost_session_fails_unacked_messages_when_asked() {
    let mut net = Net::with_defaults();
    let (c, token) = lost_session_client(&mut net, false);
    net.connect(c);
    let events = net.events(c);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Failed { token: t, error: ClientError::SessionLost } if *t == token
    )));
    assert!(publishes(&net.sent(c)).is_empty());
    assert_eq!(net.client(c).inflight_len(), 0);
}

#[test]
fn lost_session_completes_a_qos2_message_the_server_had_received() {
    let mut net = Net::with_defaults();
    let s = net.add(opts("watcher", V5));
    net.connect_ok(s);
    net.subscribe(s, "t", QoS::ExactlyOnce);
    let c = net.add(opts("ephemeral2", V5));
    net.connect_ok(c);
    // PUBREC arrives, PUBREL is lost, and the session ends with the connection.
    net.peers[c].hold_down = true;
    let token = net.publish(c, "t", b"rec'd", QoS::ExactlyOnce);
    net.peers[c].hold_up = true;
    net.peers[c].hold_down = false;
    net.pump();
    net.cut(c);
    net.peers[c].hold_up = false;
    let _ = net.events(c);
    let _ = net.sent(c);
    assert!(!net.connect_ok(c));
    // Not sent again: the server had taken it.
    assert!(publishes(&net.sent(c)).is_empty());
    assert_eq!(published(&net.events(c)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"rec'd".to_vec()]);
}

#[test]
fn lost_pubcomp_then_pubrel_sent_again_completes_with_success_mqtt_4_4_0_1() {
    let (mut net, p, s) = pair(QoS::ExactlyOnce, V5);
    // The whole handshake reaches the broker but its PUBCOMP is lost.
    net.peers[p].hold_down = true;
    let token = net.publish(p, "t", b"done", QoS::ExactlyOnce);
    // PUBREC in, PUBREL held…
    net.peers[p].hold_up = true;
    net.peers[p].hold_down = false;
    net.pump();
    // …PUBREL out, PUBCOMP held.
    net.peers[p].hold_down = true;
    net.peers[p].hold_up = false;
    net.pump();
    assert!(matches!(net.sent(p).last(), Some(Packet::PubRel(_))));
    assert_eq!(
        net.shard.occupancy().max_awaiting_rel,
        0,
        "released at the broker"
    );
    net.cut(p);
    net.peers[p].hold_down = false;
    assert!(published(&net.events(p)).is_empty());
    assert!(net.connect_ok(p));
    // PUBREL again; the broker, done with it, answers 0x92; the publish succeeded.
    let types: Vec<_> = net.sent(p).iter().map(Packet::packet_type).collect();
    assert_eq!(types, [PacketType::Connect, PacketType::PubRel]);
    assert_eq!(published(&net.events(p)), vec![(token, ReasonCode(0))]);
    assert_eq!(payloads(&net.messages(s)), [b"done".to_vec()]);
}
