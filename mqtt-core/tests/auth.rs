//! Authentication through the `Authenticator` interface: user name and password, the
//! allow-all and deny-all implementations, and enhanced authentication (MQTT 5 §4.12) with
//! challenges and re-authentication. Deferred answers are in `auth_deferred.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{AuthDecision, AuthStep, DenyAll};
use mqtt_proto::{
    AuthReasonCode, ByteString, Bytes, ConnectReasonCode, DisconnectReasonCode, Packet, QoS,
};

// ---- allow-all, deny-all, user name and password -----------------------------------------

#[test]
fn deny_all_refuses_every_version() {
    let mut h = Harness::with_defaults();
    h.shard.set_authenticator(Box::new(DenyAll));
    let (conn, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    assert!(!ack.session_present);
    assert!(h.is_closed(conn));
    // 3.x: 0x87 maps to return code 5 (not authorized).
    for v in [V311, V31] {
        let conn = h.open_and_send(connect("c", v));
        assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x05]);
        assert!(h.is_closed(conn));
    }
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn allow_all_accepts_every_version() {
    let mut h = Harness::with_defaults();
    for (id, v) in [("a", V5), ("b", V311), ("c", V31)] {
        let c = connect_login(id, v, "anyone", b"anything");
        let (conn, ack) = h.connect_with(c);
        assert_eq!(ack.reason_code, ConnectReasonCode::Success);
        assert!(!h.is_closed(conn));
    }
    assert_eq!(h.shard.connection_count(), 3);
}

#[test]
fn allow_all_refuses_an_enhanced_method_it_does_not_know_mqtt_4_12_0_1() {
    let mut h = Harness::with_defaults();
    let (conn, ack) = h.connect_with(connect_enhanced("c", METHOD, b"first"));
    assert_eq!(ack.reason_code, ConnectReasonCode::BadAuthenticationMethod);
    assert!(h.is_closed(conn));
}

#[test]
fn user_name_and_password_checked_with_peer_and_client_id() {
    let mut h = Harness::with_defaults();
    let log = h.authenticate_with(|r| {
        if r.username.as_deref() == Some("alice") && r.password.as_deref() == Some(b"secret") {
            AuthDecision::Allow { data: None }
        } else {
            AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword)
        }
    });
    // Wrong password: v5 0x86, 3.x return code 4.
    let conn = h.open_from(peer());
    h.send(conn, V5, connect_login("c1", V5, "alice", b"wrong"));
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::BadUserNameOrPassword);
    assert!(h.is_closed(conn));
    for v in [V311, V31] {
        let conn = h.open_and_send(connect_login("c1", v, "alice", b"wrong"));
        assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x04]);
        assert!(h.is_closed(conn));
    }
    // Right password.
    let conn = h.open_from(peer());
    h.send(conn, V311, connect_login("c1", V311, "alice", b"secret"));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x00]);
    assert!(!h.is_closed(conn));

    let log = log.borrow();
    assert_eq!(log.len(), 4);
    let first = &log[0];
    assert_eq!(first.client_id, "c1");
    assert_eq!(first.username.as_deref(), Some("alice"));
    assert_eq!(first.password.as_deref(), Some(&b"wrong"[..]));
    assert_eq!(first.peer, Some(peer()));
    assert_eq!(first.step, AuthStep::Connect);
    assert_eq!(first.method, None);
    assert_eq!(first.data, None);
    assert_eq!(log[3].peer, Some(peer()));
    assert_eq!(log[3].password.as_deref(), Some(&b"secret"[..]));
}

#[test]
fn assigned_client_identifier_is_the_one_authenticated() {
    let mut h = Harness::with_defaults();
    let log = h.authenticate_with(|_| AuthDecision::Allow { data: None });
    let (_, ack) = h.connect_with(connect("", V5));
    let assigned = ack.properties.assigned_client_identifier.unwrap();
    assert_eq!(log.borrow()[0].client_id, assigned);
}

#[test]
fn refusals_are_not_processed_further_mqtt_3_1_4_5() {
    let mut h = Harness::with_defaults();
    h.shard.set_authenticator(Box::new(DenyAll));
    let conn = h.open();
    // CONNECT and SUBSCRIBE in one read.
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
    h.speaks(conn, V311);
    h.send_bytes(conn, &bytes);
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x05]);
    assert_eq!(h.shard.subscription_count(), 0);
}

#[test]
fn a_deny_with_a_success_code_still_refuses() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Deny(ConnectReasonCode::Success));
    let (conn, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    assert!(h.is_closed(conn));
}

// ---- enhanced authentication -------------------------------------------------------------

#[test]
fn challenge_then_success_mqtt_4_12_0_2() {
    let mut h = Harness::with_defaults();
    let log = h.challenge_response();
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    // [MQTT-4.12.0-2] AUTH 0x18 with the method of CONNECT [MQTT-4.12.0-5].
    let a = h.recv_auth(conn);
    assert_eq!(
        a,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"challenge")
    );
    assert!(!h.is_closed(conn));
    // [MQTT-4.12.0-3] the client answers with AUTH 0x18.
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof"),
    );
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    // [MQTT-4.12.0-5] the successful CONNACK names the method, with the final data.
    assert_eq!(
        ack.properties.authentication_method,
        Some(ByteString::from(METHOD))
    );
    assert_eq!(ack.properties.authentication_data, data(b"server-final"));

    let log = log.borrow();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].step, AuthStep::Connect);
    assert_eq!(log[0].method.as_deref(), Some(METHOD));
    assert_eq!(log[0].data, data(b"client-first"));
    assert_eq!(log[1].step, AuthStep::Continue);
    assert_eq!(log[1].client_id, "c");
    assert_eq!(log[1].data, data(b"proof"));
}

#[test]
fn success_on_connect_carries_the_method_mqtt_4_12_0_5() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Allow {
        data: data(b"welcome"),
    });
    let (_, ack) = h.connect_with(connect_enhanced("c", METHOD, b"token"));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method,
        Some(ByteString::from(METHOD))
    );
    assert_eq!(ack.properties.authentication_data, data(b"welcome"));
}

#[test]
fn no_method_in_connack_without_one_in_connect_mqtt_4_12_0_6() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Allow {
        data: data(b"ignored"),
    });
    let (_, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.properties.authentication_method, None);
    assert_eq!(ack.properties.authentication_data, None);
}

#[test]
fn no_challenge_without_a_method_mqtt_4_12_0_6() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|_| AuthDecision::Continue {
        data: Bytes::from_static(b"?"),
    });
    let (conn, ack) = h.connect_with(connect("c", V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::BadAuthenticationMethod);
    assert!(h.is_closed(conn));
    let conn = h.open_and_send(connect("d", V311));
    assert_eq!(h.raw(conn), [0x20, 0x02, 0x00, 0x05]);
}

#[test]
fn refusal_after_a_challenge_mqtt_4_12_0_4() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"bad"),
    );
    let ack = h.recv_connack(conn);
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    assert_eq!(ack.properties.authentication_method, None);
    assert!(h.is_closed(conn));
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn auth_with_another_method_is_a_protocol_error_mqtt_4_12_0_5() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, "OTHER", b"proof"),
    );
    assert_eq!(
        h.recv_connack(conn).reason_code,
        ConnectReasonCode::ProtocolError
    );
    assert!(h.is_closed(conn));

    // During re-authentication [MQTT-4.12.1-1]: DISCONNECT 0x82.
    let conn = h.enhanced_client("d");
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, "OTHER", b"x"),
    );
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(conn));
}

#[test]
fn auth_without_a_method_in_connect_is_a_protocol_error_mqtt_4_12_0_7() {
    let mut h = Harness::with_defaults();
    let conn = h.client("plain", V5);
    h.send(conn, V5, auth(AuthReasonCode::ReAuthenticate, METHOD, b"x"));
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::ProtocolError);
    assert!(h.is_closed(conn));
}

#[test]
fn only_auth_or_disconnect_before_connack_mqtt_3_1_2_30() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    let others: [Packet; 3] = [
        Packet::PingReq,
        Packet::Publish(publish("t", b"x", QoS::AtMostOnce, 0)),
        Packet::Connect(Box::new(connect("c", V5))),
    ];
    for p in others {
        let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
        h.recv_auth(conn);
        h.send(conn, V5, p);
        assert_eq!(
            h.recv_connack(conn).reason_code,
            ConnectReasonCode::ProtocolError
        );
        assert!(h.is_closed(conn));
    }
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn disconnect_during_authentication_closes_quietly() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        mqtt_proto::Disconnect::new(DisconnectReasonCode::NormalDisconnection),
    );
    assert!(h.is_closed(conn));
    h.recv_none(conn);
    assert_eq!(h.shard.connection_count(), 0);
    assert_eq!(h.shard.session_count(), 0);
}

#[test]
fn client_auth_success_is_a_protocol_error_mqtt_3_15_2_1() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    // Before CONNACK: 0x00 is the server's code.
    let conn = h.open_and_send(connect_enhanced("c", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.send(conn, V5, auth(AuthReasonCode::Success, METHOD, b"proof"));
    assert_eq!(
        h.recv_connack(conn).reason_code,
        ConnectReasonCode::ProtocolError
    );
    // After: 0x00, or 0x18 with no exchange under way.
    for code in [
        AuthReasonCode::Success,
        AuthReasonCode::ContinueAuthentication,
    ] {
        let conn = h.enhanced_client("d");
        h.send(conn, V5, auth(code, METHOD, b"x"));
        assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::ProtocolError);
    }
    // 0x19 before CONNACK: re-authentication needs a connection.
    let conn = h.open_and_send(connect_enhanced("e", METHOD, b"client-first"));
    h.recv_auth(conn);
    h.send(conn, V5, auth(AuthReasonCode::ReAuthenticate, METHOD, b"x"));
    assert_eq!(
        h.recv_connack(conn).reason_code,
        ConnectReasonCode::ProtocolError
    );
}

// ---- re-authentication -------------------------------------------------------------------

#[test]
fn reauthentication_succeeds_with_auth_0x00_mqtt_4_12_1_1() {
    let mut h = Harness::with_defaults();
    let log = h.challenge_response();
    let conn = h.enhanced_client("c");
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"again"),
    );
    assert_eq!(
        h.recv_auth(conn),
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"challenge")
    );
    // §4.12.1: other packets may flow during re-authentication.
    h.send(conn, V5, Packet::PingReq);
    assert_eq!(h.recv_one(conn), Packet::PingResp);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof"),
    );
    assert_eq!(
        h.recv_auth(conn),
        auth(AuthReasonCode::Success, METHOD, b"server-final")
    );
    assert!(!h.is_closed(conn));
    let log = log.borrow();
    assert_eq!(log[2].step, AuthStep::ReAuthenticate);
    assert_eq!(log[2].client_id, "c");
    assert_eq!(log[2].data, data(b"again"));
    assert_eq!(log[3].step, AuthStep::Continue);

    // A second re-authentication after the first completed works the same way.
    drop(log);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"again"),
    );
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof"),
    );
    assert_eq!(h.recv_auth(conn).reason_code, AuthReasonCode::Success);
}

#[test]
fn reauthentication_while_one_is_under_way_is_a_protocol_error() {
    let mut h = Harness::with_defaults();
    h.challenge_response();
    let conn = h.enhanced_client("c");
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"again"),
    );
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"again"),
    );
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::ProtocolError);
}

#[test]
fn failed_reauthentication_disconnects_mqtt_4_12_1_2() {
    let mut h = Harness::with_defaults();
    let watcher = h.client("watcher", V5);
    h.subscribe(watcher, V5, "will", QoS::AtMostOnce);
    h.challenge_response();
    let mut c = connect_enhanced("c", METHOD, b"client-first");
    c.will = Some(will("will", b"lost", QoS::AtMostOnce, false));
    let conn = h.open_and_send(c);
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof"),
    );
    h.recv_connack(conn);

    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"again"),
    );
    h.recv_auth(conn);
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ContinueAuthentication, METHOD, b"bad"),
    );
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::NotAuthorized);
    assert!(h.is_closed(conn));
    // Closed by the server for an error: the will is published.
    assert_eq!(publishes(h.recv(watcher)).len(), 1);
}

#[test]
fn reauthentication_refusal_code_without_a_disconnect_equivalent_becomes_0x87() {
    let mut h = Harness::with_defaults();
    h.authenticate_with(|r| match r.step {
        AuthStep::Connect => AuthDecision::Allow { data: None },
        _ => AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword),
    });
    let (conn, _) = h.connect_with(connect_enhanced("c", METHOD, b"token"));
    h.send(
        conn,
        V5,
        auth(AuthReasonCode::ReAuthenticate, METHOD, b"token"),
    );
    assert_eq!(h.recv_disconnect(conn), DisconnectReasonCode::NotAuthorized);
}
