//! CONNECT and CONNACK.

use mqtt_proto::{
    ConnAck, ConnAckProperties, Connect, ConnectProperties, ConnectReasonCode, LastWill, Packet,
    QoS, WillProperties,
};

use crate::{
    b, crosscheck, decode_ours, encode_ours, many_users, nz16, nz32, s, try_decode_theirs, users,
    Sender, V,
};

// ---- CONNECT ------------------------------------------------------------------------------

pub(crate) fn full_connect_props() -> ConnectProperties {
    ConnectProperties {
        session_expiry_interval: Some(u32::MAX),
        receive_maximum: Some(nz16(20)),
        maximum_packet_size: Some(nz32(1 << 20)),
        topic_alias_maximum: Some(10),
        request_response_information: Some(true),
        request_problem_information: Some(false),
        authentication_method: Some(s("SCRAM-SHA-256")),
        authentication_data: Some(b(b"\x00client-first\xff")),
        user_properties: many_users(),
    }
}

pub(crate) fn full_will_props() -> WillProperties {
    WillProperties {
        will_delay_interval: Some(30),
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(3600),
        content_type: Some(s("application/json")),
        response_topic: Some(s("reply/to/me")),
        correlation_data: Some(b(b"\x01\x02\x03")),
        user_properties: users(&[("will", "prop"), ("will", "again")]),
    }
}

pub(crate) fn connect(
    properties: ConnectProperties,
    will: Option<LastWill>,
    login: Option<(&str, &'static [u8])>,
) -> Connect {
    Connect {
        protocol_version: V,
        clean_start: true,
        keep_alive: 60,
        properties,
        client_id: s("client-\u{3b1}"),
        will,
        username: login.map(|(u, _)| s(u)),
        password: login.map(|(_, p)| b(p)),
    }
}

#[test]
fn connect_minimal() {
    let mut c = connect(ConnectProperties::default(), None, None);
    crosscheck(Packet::from(c.clone()), Sender::Client);
    c.clean_start = false;
    c.keep_alive = 0;
    c.client_id = s("");
    crosscheck(Packet::from(c), Sender::Client);
}

#[test]
fn connect_every_property_will_and_login() {
    let c = connect(
        full_connect_props(),
        Some(LastWill {
            topic: s("last/will/\u{1f480}"),
            payload: b(b"\x00\xff offline"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: full_will_props(),
        }),
        Some(("user", b"\x00\x01binary\xff")),
    );
    crosscheck(Packet::from(c), Sender::Client);
}

#[test]
fn connect_each_property_alone() {
    let full = full_connect_props();
    let singles = [
        ConnectProperties {
            session_expiry_interval: full.session_expiry_interval,
            ..Default::default()
        },
        ConnectProperties {
            receive_maximum: full.receive_maximum,
            ..Default::default()
        },
        ConnectProperties {
            maximum_packet_size: full.maximum_packet_size,
            ..Default::default()
        },
        ConnectProperties {
            topic_alias_maximum: Some(0),
            ..Default::default()
        },
        ConnectProperties {
            request_response_information: Some(false),
            ..Default::default()
        },
        ConnectProperties {
            request_problem_information: Some(true),
            ..Default::default()
        },
        ConnectProperties {
            authentication_method: full.authentication_method.clone(),
            ..Default::default()
        },
        ConnectProperties {
            user_properties: users(&[("a", "b")]),
            ..Default::default()
        },
    ];
    for p in singles {
        crosscheck(Packet::from(connect(p, None, None)), Sender::Client);
    }
}

#[test]
fn connect_will_variants() {
    let will_props = [
        WillProperties::default(),
        full_will_props(),
        WillProperties {
            payload_format_indicator: Some(false),
            ..Default::default()
        },
        WillProperties {
            will_delay_interval: Some(0),
            message_expiry_interval: Some(0),
            ..Default::default()
        },
    ];
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for retain in [false, true] {
            for properties in &will_props {
                let will = LastWill {
                    topic: s("w/t"),
                    payload: b(b""),
                    qos,
                    retain,
                    properties: properties.clone(),
                };
                for login in [None, Some(("u", &b"p"[..]))] {
                    crosscheck(
                        Packet::from(connect(
                            ConnectProperties::default(),
                            Some(will.clone()),
                            login,
                        )),
                        Sender::Client,
                    );
                }
            }
        }
    }
}

/// Deviation of mqtt5-protocol: MQTT 5 allows a password without a user name (§3.1.2.9,
/// lifting 3.1.1's [MQTT-3.1.2-22]); mqtt5-protocol refuses it. We write and read it.
#[test]
fn connect_password_without_username_is_refused_by_mqtt5_protocol_only() {
    let c = Connect {
        username: None,
        password: Some(b(b"token")),
        ..connect(ConnectProperties::default(), None, None)
    };
    let p = Packet::from(c);
    let bytes = encode_ours(&p);
    assert!(try_decode_theirs(&bytes).is_err());
    assert_eq!(decode_ours(&bytes, Sender::Client).unwrap(), p);
}

// ---- CONNACK ------------------------------------------------------------------------------

pub(crate) fn full_connack_props() -> ConnAckProperties {
    ConnAckProperties {
        session_expiry_interval: Some(7200),
        receive_maximum: Some(nz16(u16::MAX)),
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        maximum_packet_size: Some(nz32(268_435_460)),
        assigned_client_identifier: Some(s("auto-7f3a")),
        topic_alias_maximum: Some(u16::MAX),
        reason_string: Some(s("welcome")),
        wildcard_subscription_available: Some(true),
        subscription_identifiers_available: Some(false),
        shared_subscription_available: Some(true),
        server_keep_alive: Some(120),
        response_information: Some(s("resp/base")),
        server_reference: Some(s("other.example:1883")),
        authentication_method: Some(s("SCRAM-SHA-256")),
        authentication_data: Some(b(b"server-final")),
        user_properties: many_users(),
    }
}

#[test]
fn connack_success_with_every_property() {
    for session_present in [false, true] {
        crosscheck(
            Packet::from(ConnAck {
                session_present,
                reason_code: ConnectReasonCode::Success,
                properties: full_connack_props(),
            }),
            Sender::Server,
        );
    }
    crosscheck(
        Packet::from(ConnAck {
            session_present: false,
            reason_code: ConnectReasonCode::Success,
            properties: ConnAckProperties {
                maximum_qos: Some(QoS::AtMostOnce),
                ..Default::default()
            },
        }),
        Sender::Server,
    );
}

#[test]
fn connack_every_reason_code() {
    for &code in ConnectReasonCode::ALL {
        for properties in [
            ConnAckProperties::default(),
            ConnAckProperties {
                reason_string: Some(s("because")),
                user_properties: users(&[("why", "\u{2753}")]),
                ..Default::default()
            },
            ConnAckProperties {
                server_reference: Some(s("elsewhere")),
                ..Default::default()
            },
        ] {
            crosscheck(
                Packet::from(ConnAck {
                    session_present: false,
                    reason_code: code,
                    properties,
                }),
                Sender::Server,
            );
        }
    }
}
