//! Authentication answers deferred to the runtime (`Output::Auth`, `Shard::handle_auth`):
//! every step can wait without blocking the shard, input that arrives meanwhile waits too,
//! and answers for connections that closed meanwhile are ignored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{AuthDecision, AuthStep, Config};
use mqtt_proto::{
    AuthReasonCode, ByteString, Bytes, ConnectReasonCode, DisconnectReasonCode, Packet, QoS,
};

// ---- deferred answers --------------------------------------------------------------------

#[test]
fn deferred_connect_is_answered_later() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_from(peer());
    h.send(conn, V5, connect_login("c", V5, "bob", b"pw"));
    // Nothing yet: the runtime was asked.
    h.recv_none(conn);
    assert_eq!(h.auth_requests.len(), 1);
    let req = h.auth_requests[0].clone();
    assert_eq!(req.conn, conn);
    assert_eq!(req.client_id, "c");
    assert_eq!(req.username.as_deref(), Some("bob"));
    assert_eq!(req.password.as_deref(), Some(&b"pw"[..]));
    assert_eq!(req.peer, Some(peer()));
    assert_eq!(req.step, AuthStep::Connect);

    h.answer_auth(conn, AuthDecision::Allow { data: None });
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    h.send(conn, V5, Packet::PingReq);
    assert_eq!(h.recv_one(conn), Packet::PingResp);
    // A second answer has no request to answer: ignored.
    h.answer_auth(conn, AuthDecision::Deny(ConnectReasonCode::NotAuthorized));
    h.recv_none(conn);
    assert!(!h.is_closed(conn));
}

#[test]
fn deferred_refusal_uses_the_code_on_every_version() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect("c", V5));
    h.answer_auth(
        conn,
        AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword),
    );
    assert_eq!(
        h.recv_connack(conn).reason_code,
        ConnectReasonCode::BadUserNameOrPassword
    );
    assert!(h.is_closed(conn));
    let conn = h.open_and_send(connect("c", V311));
    h.answer_auth(
        conn,
        AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword),
    );
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x04]);
    assert!(h.is_closed(conn));
}

#[test]
fn deferred_challenge_and_deferred_continue() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_none(conn);
    h.answer_auth(
        conn,
        AuthDecision::Continue {
            data: Bytes::from_static(b"challenge"),
        },
    );
    assert_eq!(
        h.recv_auth(conn),
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"challenge")
    );
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof"),
    );
    h.recv_none(conn);
    // The second request carries the step's data and the connection's identity.
    assert_eq!(h.auth_requests.len(), 2);
    let req = &h.auth_requests[1];
    assert_eq!(req.step, AuthStep::Continue);
    assert_eq!(req.client_id, "c");
    assert_eq!(req.method.as_deref(), Some(METHOD));
    assert_eq!(req.data, data(b"proof"));
    h.answer_auth(
        conn,
        AuthDecision::Allow {
            data: data(b"server-final"),
        },
    );
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method,
        Some(ByteString::from(METHOD))
    );
    assert_eq!(ack.properties.authentication_data, data(b"server-final"));
}

#[test]
fn auth_while_an_answer_is_awaited_is_a_protocol_error() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"eager"),
    );
    assert_eq!(
        h.recv_connack(conn).reason_code,
        ConnectReasonCode::ProtocolError
    );
    assert!(h.is_closed(conn));
    // The late answer finds nothing.
    h.answer_auth(conn, AuthDecision::Allow { data: None });
    h.recv_none(conn);
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn deferred_reauthentication_keeps_the_connection_working() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|r| match r.step {
        AuthStep::Connect => AuthDecision::Allow { data: None },
        _ => AuthDecision::Defer,
    });
    let (conn, _) = h.connect_with(connect_enhanced("c", METHOD, b"token"));
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"token2"),
    );
    assert_eq!(h.auth_requests.len(), 1);
    assert_eq!(h.auth_requests[0].step, AuthStep::ReAuthenticate);
    h.send(conn, V5, Packet::PingReq);
    assert_eq!(h.recv_one(conn), Packet::PingResp);
    h.answer_auth(conn, AuthDecision::Allow { data: None });
    let a = h.recv_auth(conn);
    assert_eq!(a.reason_code, AuthReasonCode::Success);
    assert_eq!(
        a.properties.authentication_method,
        Some(ByteString::from(METHOD))
    );
    // Deferred refusal: DISCONNECT.
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"token3"),
    );
    h.answer_auth(conn, AuthDecision::Deny(ConnectReasonCode::NotAuthorized));
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::NotAuthorized);
    assert!(h.is_closed(conn));
}

#[test]
fn packets_sent_after_connect_wait_for_a_deferred_answer_mqtt_3_1_4_5() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open();
    h.speaks(conn, V311);
    // A 3.1.1 client that does not wait for CONNACK: CONNECT, SUBSCRIBE, PUBLISH in one
    // read, and half of a PINGREQ.
    let mut bytes = mqtt_proto::BytesMut::new();
    Packet::Connect(Box::new(connect("c", V311)))
        .encode(V311, &mut bytes)
        .unwrap();
    let s = mqtt_proto::Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub("t", QoS::AtMostOnce)].into_iter().collect(),
    };
    Packet::Subscribe(s).encode(V311, &mut bytes).unwrap();
    Packet::Publish(publish("t", b"hello", QoS::AtMostOnce, 0))
        .encode(V311, &mut bytes)
        .unwrap();
    bytes.extend_from_slice(&[0xC0]);
    h.send_bytes(conn, &bytes);
    h.recv_none(conn);
    assert_eq!(h.shard.subscription_count(), 0);
    h.send_bytes(conn, &[0x00]);
    h.recv_none(conn);

    h.answer_auth(conn, AuthDecision::Allow { data: None });
    // Handled in order once accepted.
    let got = h.recv(conn);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(matches!(&got[0], Packet::ConnAck(a) if a.reason_code == ConnectReasonCode::Success));
    assert!(matches!(&got[1], Packet::SubAck(_)));
    assert!(matches!(&got[2], Packet::Publish(p) if &p.payload[..] == b"hello"));
    assert_eq!(got[3], Packet::PingResp);
    // And reading goes on normally afterwards.
    h.send(conn, V311, Packet::PingReq);
    assert_eq!(h.recv_one(conn), Packet::PingResp);
    assert_eq!(h.unconsumed(conn), 0);
}

#[test]
fn packets_sent_after_a_refused_connect_are_dropped_mqtt_3_1_4_5() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect("c", V311));
    h.send(
        conn,
        V311,
        mqtt_proto::Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            subscriptions: [sub("t", QoS::AtMostOnce)].into_iter().collect(),
        },
    );
    h.answer_auth(conn, AuthDecision::Deny(ConnectReasonCode::NotAuthorized));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x05]);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn input_held_during_a_deferred_answer_is_capped_bad_inputs_5() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect("c", V311));
    h.send_bytes(conn, &vec![0u8; 60 * 1024]);
    assert!(!h.is_closed(conn));
    h.send_bytes(conn, &vec![0u8; 8 * 1024]);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.connection_count(), 0);
    h.answer_auth(conn, AuthDecision::Allow { data: None });
    h.recv_none(conn);
}

// ---- closing mid-authentication ----------------------------------------------------------

#[test]
fn answer_for_a_connection_closed_meanwhile_is_ignored() {
    let mut h = Harness::new(Config {
        sys_interval: 0,
        ..Config::default()
    });
    h.authenticate_with(|_| AuthDecision::Defer);
    let conn = h.open_and_send(connect("c", V5));
    h.drop_conn(conn);
    assert_eq!(h.shard.connection_count(), 0);
    h.answer_auth(conn, AuthDecision::Allow { data: None });
    h.recv_none(conn);
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
    // No timer is left behind either.
    assert_eq!(h.shard.poll_timeout(), None);
}

#[test]
fn closing_during_a_challenge_leaves_nothing_behind() {
    let mut h = Harness::new(Config {
        sys_interval: 0,
        ..Config::default()
    });
    h.challenge_response();
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.drop_conn(conn);
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
    assert_eq!(h.shard.poll_timeout(), None);
}

#[test]
fn connect_timeout_covers_the_authentication_exchange_bad_inputs_23() {
    let mut h = Harness::new(Config {
        sys_interval: 0,
        ..Config::default()
    });
    // A client that never answers the challenge.
    h.challenge_response();
    let stalled = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(stalled);
    // A runtime that never answers.
    h.authenticate_with(|_| AuthDecision::Defer);
    let unanswered = h.open_and_send(connect("d", V5));
    h.advance(9_999);
    assert!(!h.is_closed(stalled) && !h.is_closed(unanswered));
    h.advance(1);
    assert!(h.is_closed(stalled) && h.is_closed(unanswered));
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.poll_timeout(), None);
    // The late answer is ignored.
    h.answer_auth(unanswered, AuthDecision::Allow { data: None });
    h.recv_none(unanswered);
    assert_eq!(h.shard.session_count(), 0);
}
