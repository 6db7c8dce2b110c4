//! The client's connection lifecycle against the broker core: CONNECT/CONNACK in each
//! version, server limits, assigned client identifiers, refusals, timeouts, DISCONNECT both
//! ways, and protocol violations by a server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use bytes::Bytes;
use client_support::*;
use mqtt_core::client::{
    ClientError, ClientOptions, CloseReason, ConnectionState, Event, ProtocolViolation,
};
use mqtt_core::{Config, DenyAll};
use mqtt_proto::{
    Auth, AuthReasonCode, ConnAck, ConnAckProperties, ConnectReasonCode, DecodeError,
    DisconnectReasonCode, Packet, PacketType, PubAck, QoS, ReasonCode,
};

fn connected_event(events: &[Event]) -> &mqtt_core::client::Connected {
    match events.first() {
        Some(Event::Connected(c)) => c,
        other => panic!("expected Connected first, got {other:?}"),
    }
}

#[test]
fn connect_v5_reports_the_servers_limits_mqtt_3_2_2_21() {
    let mut net = Net::new(Config {
        receive_maximum: 7,
        topic_alias_maximum: 5,
        max_packet_size: 4096,
        max_keep_alive: Some(30),
        max_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..Config::default()
    });
    let c = net.add(ClientOptions {
        keep_alive: 60,
        ..opts("limits", V5)
    });
    net.connect(c);
    let events = net.events(c);
    let info = connected_event(&events);
    assert!(!info.session_present);
    assert!(!info.assigned_client_id);
    assert_eq!(info.client_id, "limits");
    let l = info.limits;
    assert_eq!(l.receive_maximum, 7);
    assert_eq!(l.topic_alias_maximum, 5);
    assert_eq!(l.maximum_packet_size, 4096);
    assert_eq!(l.maximum_qos, QoS::AtLeastOnce);
    assert!(!l.retain_available);
    // [MQTT-3.2.2-21] the server's keep alive replaces ours.
    assert_eq!(l.keep_alive, 30);
    assert_eq!(net.client(c).server_limits(), Some(&l));
    assert_eq!(net.client(c).state(), ConnectionState::Connected);
}

/// Subscribe and publish to oneself at QoS 1, in a 3.x version.
fn round_trip(version: mqtt_proto::ProtocolVersion) {
    let mut net = Net::with_defaults();
    let c = net.add(opts("old", version));
    assert!(!net.connect_ok(c));
    net.subscribe(c, "a/b", QoS::AtLeastOnce);
    let token = net.publish(c, "a/b", b"hello", QoS::AtLeastOnce);
    let events = net.events(c);
    assert_eq!(published(&events), vec![(token, ReasonCode(0))]);
    let got: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "a/b");
    assert_eq!(&got[0].payload[..], b"hello");
    // The CONNECT went out in the client's version.
    match &net.sent(c)[0] {
        Packet::Connect(p) => assert_eq!(p.protocol_version, version),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_v311_subscribe_and_publish_qos1() {
    round_trip(V311);
}

#[test]
fn connect_v31_subscribe_and_publish_qos1() {
    round_trip(V31);
}

#[test]
fn assigned_client_id_is_kept_for_reconnect_mqtt_3_2_2_16() {
    let mut net = Net::with_defaults();
    let c = net.add(persistent("", V5));
    net.connect(c);
    let events = net.events(c);
    let info = connected_event(&events);
    assert!(info.assigned_client_id);
    assert!(!info.client_id.is_empty());
    let assigned = info.client_id.clone();
    assert_eq!(net.client(c).client_id(), &assigned);
    net.cut(c);
    let _ = net.sent(c);
    // The reconnect names the assigned identifier and resumes the session it owns.
    assert!(net.connect_ok(c));
    match &net.sent(c)[0] {
        Packet::Connect(p) => {
            assert_eq!(p.client_id, assigned);
            assert!(!p.clean_start);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_connect_reports_the_reason_code() {
    for version in [V5, V311] {
        let mut net = Net::with_defaults();
        net.shard.set_authenticator(Box::new(DenyAll));
        let c = net.add(opts("denied", version));
        net.connect(c);
        let events = net.events(c);
        match close_reason(&events) {
            Some(CloseReason::ConnectFailed { reason, .. }) => {
                assert_eq!(*reason, ConnectReasonCode::NotAuthorized, "{version}");
            }
            other => panic!("{version}: {other:?}"),
        }
        assert!(close_reason(&events).unwrap().by_server());
        assert_eq!(net.client(c).state(), ConnectionState::Disconnected);
        assert!(net.peers[c].conn.is_none(), "the socket is closed");
    }
}

#[test]
fn connack_timeout_ends_the_attempt() {
    let mut net = Net::with_defaults();
    let c = net.add(ClientOptions {
        connect_timeout_ms: 5_000,
        ..opts("slow", V5)
    });
    net.peers[c].hold_down = true;
    net.connect(c);
    net.advance(4_999);
    assert!(close_reason(&net.events(c)).is_none());
    net.advance(1);
    assert_eq!(
        close_reason(&net.events(c)),
        Some(&CloseReason::ConnectTimeout)
    );
}

#[test]
fn commands_before_connack_wait_for_it_mqtt_3_2_0_1() {
    let mut net = Net::with_defaults();
    let c = net.add(opts("eager", V5));
    net.peers[c].hold_down = true;
    net.open(c);
    let now = net.now;
    let client = net.client(c);
    client.connect(now).unwrap();
    client
        .subscribe([sub("y", QoS::AtLeastOnce)], Default::default(), now)
        .unwrap();
    client
        .publish(msg("x", b"1", QoS::AtLeastOnce), now)
        .unwrap();
    client
        .publish(msg("x", b"0", QoS::AtMostOnce), now)
        .unwrap();
    net.pump();
    // Only CONNECT went out before CONNACK.
    let sent = net.sent(c);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(sent[0], Packet::Connect(_)));
    net.peers[c].hold_down = false;
    net.pump();
    let types: Vec<PacketType> = net.sent(c).iter().map(Packet::packet_type).collect();
    assert_eq!(
        types,
        [
            PacketType::Subscribe,
            PacketType::Publish,
            PacketType::Publish
        ]
    );
    let events = net.events(c);
    assert!(events.iter().any(|e| matches!(e, Event::Subscribed { .. })));
    assert_eq!(published(&events).len(), 1);
}

#[test]
fn session_takeover_is_reported_as_server_disconnect_mqtt_3_1_4_3() {
    let mut net = Net::with_defaults();
    let a = net.add(opts("same", V5));
    let b = net.add(opts("same", V5));
    net.connect_ok(a);
    net.connect_ok(b);
    let events = net.events(a);
    match close_reason(&events) {
        Some(CloseReason::ByServer { reason, .. }) => {
            assert_eq!(*reason, DisconnectReasonCode::SessionTakenOver);
        }
        other => panic!("{other:?}"),
    }
    assert!(net.peers[a].conn.is_none());
    assert!(net.client(b).is_connected());
}

#[test]
fn disconnect_sends_disconnect_and_ends_the_connection() {
    let mut net = Net::with_defaults();
    let c = net.add(persistent("bye", V5));
    net.connect_ok(c);
    let _ = net.sent(c);
    let now = net.now;
    net.client(c)
        .disconnect(DisconnectReasonCode::NormalDisconnection, Some(0), now)
        .unwrap();
    net.pump();
    match &net.sent(c)[..] {
        [Packet::Disconnect(d)] => {
            assert_eq!(d.reason_code, DisconnectReasonCode::NormalDisconnection);
            assert_eq!(d.properties.session_expiry_interval, Some(0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        close_reason(&net.events(c)),
        Some(&CloseReason::ByClient(
            DisconnectReasonCode::NormalDisconnection
        ))
    );
    // Session Expiry 0 on DISCONNECT ended the session at the broker.
    assert!(!net.shard.has_session("bye"));
    assert_eq!(
        net.client(c)
            .disconnect(DisconnectReasonCode::NormalDisconnection, None, now),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn disconnect_cannot_set_session_expiry_after_zero_mqtt_3_14_2_2_2() {
    let mut l = Lone::connected(opts("zero", V5), ConnAckProperties::default());
    let now = l.now;
    assert_eq!(
        l.client
            .disconnect(DisconnectReasonCode::NormalDisconnection, Some(60), now),
        Err(ClientError::SessionExpiryWasZero)
    );
    assert!(l.client.is_connected());
    assert!(l.sent().is_empty());
}

#[test]
fn malformed_packet_closes_with_disconnect_0x81_mqtt_3_3_1_4() {
    let mut l = Lone::connected(opts("m", V5), ConnAckProperties::default());
    // PUBLISH with both QoS bits set.
    l.feed_bytes(&[0x36, 0x00]);
    match &l.sent()[..] {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, DisconnectReasonCode::MalformedPacket),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(ProtocolViolation::Malformed(
            DecodeError::PublishQos3
        )))
    );
    // Later bytes are not read.
    l.feed(Packet::PubAck(PubAck::new(core::num::NonZeroU16::MIN)));
    assert!(l.events().is_empty());
}

#[test]
fn malformed_packet_on_v311_closes_without_disconnect() {
    let mut l = Lone::connected(opts("m", V311), ConnAckProperties::default());
    l.feed_bytes(&[0x36, 0x00]);
    assert!(l.sent().is_empty());
    assert!(matches!(
        close_reason(&l.events()),
        Some(CloseReason::ProtocolError(_))
    ));
}

#[test]
fn packet_before_connack_is_a_protocol_error_mqtt_3_2_0_1() {
    let mut l = Lone::new(opts("early", V5));
    l.client.connect(l.now).unwrap();
    let _ = l.sent();
    l.feed(Packet::PingResp);
    match &l.sent()[..] {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, DisconnectReasonCode::ProtocolError),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(
            ProtocolViolation::ExpectedConnAck(PacketType::PingResp)
        ))
    );
}

#[test]
fn second_connack_is_a_protocol_error_mqtt_3_2_0_2() {
    let mut l = Lone::connected(opts("twice", V5), ConnAckProperties::default());
    l.feed(ConnAck {
        session_present: false,
        reason_code: ConnectReasonCode::Success,
        properties: ConnAckProperties::default(),
    });
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(
            ProtocolViolation::SecondConnAck
        ))
    );
}

#[test]
fn connect_twice_is_refused() {
    let mut l = Lone::new(opts("c", V5));
    l.client.connect(l.now).unwrap();
    assert_eq!(l.client.connect(l.now), Err(ClientError::AlreadyConnected));
}

#[test]
fn enhanced_auth_challenge_is_answered_with_the_method_mqtt_4_12_0_3() {
    let mut l = Lone::new(ClientOptions {
        authentication_method: Some("SCRAM".into()),
        authentication_data: Some(Bytes::from_static(b"first")),
        ..opts("auth", V5)
    });
    l.client.connect(l.now).unwrap();
    match &l.sent()[..] {
        [Packet::Connect(c)] => {
            assert_eq!(c.properties.authentication_method.as_deref(), Some("SCRAM"));
            assert_eq!(
                c.properties.authentication_data.as_deref(),
                Some(&b"first"[..])
            );
        }
        other => panic!("{other:?}"),
    }
    let mut challenge = Auth::new(AuthReasonCode::ContinueAuthentication);
    challenge.properties.authentication_method = Some("SCRAM".into());
    challenge.properties.authentication_data = Some(Bytes::from_static(b"nonce"));
    l.feed(challenge);
    match &l.events()[..] {
        [Event::Auth { reason, data, .. }] => {
            assert_eq!(*reason, AuthReasonCode::ContinueAuthentication);
            assert_eq!(data.as_deref(), Some(&b"nonce"[..]));
        }
        other => panic!("{other:?}"),
    }
    let now = l.now;
    l.client
        .auth(Some(Bytes::from_static(b"proof")), now)
        .unwrap();
    match &l.sent()[..] {
        [Packet::Auth(a)] => {
            assert_eq!(a.reason_code, AuthReasonCode::ContinueAuthentication);
            // [MQTT-4.12.0-5] the method of CONNECT.
            assert_eq!(a.properties.authentication_method.as_deref(), Some("SCRAM"));
            assert_eq!(
                a.properties.authentication_data.as_deref(),
                Some(&b"proof"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_without_a_method_is_a_protocol_error_mqtt_4_12_0_6() {
    let mut l = Lone::new(opts("noauth", V5));
    l.client.connect(l.now).unwrap();
    let _ = l.sent();
    let mut a = Auth::new(AuthReasonCode::ContinueAuthentication);
    a.properties.authentication_method = Some("X".into());
    l.feed(a);
    assert_eq!(
        close_reason(&l.events()),
        Some(&CloseReason::ProtocolError(
            ProtocolViolation::UnexpectedAuth
        ))
    );
    let now = l.now;
    assert_eq!(l.client.auth(None, now), Err(ClientError::NotConnected));
    let mut m = Lone::new(opts("noauth2", V5));
    m.client.connect(m.now).unwrap();
    assert_eq!(m.client.auth(None, m.now), Err(ClientError::NoAuthMethod));
}
