//! CONNECT and CONNACK vectors.

use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_proto::{
    BytesMut, ConnAck, ConnAckProperties, Connect, ConnectProperties, ConnectReasonCode,
    ConnectReturnCode, DecodeError, LastWill, Packet, PacketType, ProtocolVersion, QoS,
    WillProperties,
};

use crate::{b, cat, decode_only, from_client, from_server, nz32, pid, s, user, vector, V3};

// ---- CONNECT -----------------------------------------------------------------------------------

pub(crate) fn connect(v: ProtocolVersion, client_id: &'static str) -> Connect {
    Connect {
        protocol_version: v,
        clean_start: true,
        keep_alive: 60,
        properties: ConnectProperties::default(),
        client_id: s(client_id),
        will: None,
        username: None,
        password: None,
    }
}

#[test]
fn connect_v3_1_minimal() {
    let bytes = cat(&[
        &[0x10, 0x11], // CONNECT, remaining length 17
        &[0x00, 0x06], // protocol name length
        b"MQIsdp",     // protocol name (3.1)
        &[0x03],       // protocol level 3
        &[0x02],       // flags: clean session
        &[0x00, 0x3C], // keep alive 60
        &[0x00, 0x03], // client identifier length
        b"abc",        // client identifier
    ]);
    vector(&bytes, &from_client(V3_1), &connect(V3_1, "abc").into());
    // CONNECT is decoded in the version it names, whatever the options say.
    vector(&bytes, &from_client(V5), &connect(V3_1, "abc").into());
}

#[test]
fn connect_v3_1_will_qos2_user_password() {
    let bytes = cat(&[
        &[0x10, 0x23],       // CONNECT, remaining length 35
        &[0x00, 0x06],       // protocol name length
        b"MQIsdp",           // protocol name
        &[0x03],             // level 3
        &[0xD4],             // user name, password, will QoS 2, will flag; no clean session
        &[0x00, 0x1E],       // keep alive 30
        &[0x00, 0x05],       // client identifier
        b"cli31",            //
        &[0x00, 0x03],       // will topic
        b"w/t",              //
        &[0x00, 0x03],       // will message
        b"bye",              //
        &[0x00, 0x01, b'u'], // user name
        &[0x00, 0x01, b'p'], // password
    ]);
    let expected = Connect {
        protocol_version: V3_1,
        clean_start: false,
        keep_alive: 30,
        properties: ConnectProperties::default(),
        client_id: s("cli31"),
        will: Some(LastWill {
            topic: s("w/t"),
            payload: b(b"bye"),
            qos: QoS::ExactlyOnce,
            retain: false,
            properties: WillProperties::default(),
        }),
        username: Some(s("u")),
        password: Some(b(b"p")),
    };
    vector(&bytes, &from_client(V3_1), &expected.into());
}

#[test]
fn connect_v3_1_1_minimal() {
    let bytes = cat(&[
        &[0x10, 0x0F], // CONNECT, remaining length 15
        &[0x00, 0x04], // protocol name length
        b"MQTT",       // protocol name
        &[0x04],       // protocol level 4
        &[0x02],       // flags: clean session
        &[0x00, 0x3C], // keep alive 60
        &[0x00, 0x03], // client identifier
        b"abc",        //
    ]);
    vector(&bytes, &from_client(V3_1_1), &connect(V3_1_1, "abc").into());
}

#[test]
fn connect_v3_1_1_empty_client_id() {
    let bytes = cat(&[
        &[0x10, 0x0C], // CONNECT, remaining length 12
        &[0x00, 0x04],
        b"MQTT",
        &[0x04],       // level 4
        &[0x02],       // clean session
        &[0x00, 0x00], // keep alive 0: disabled
        &[0x00, 0x00], // empty client identifier [MQTT-3.1.3-6]
    ]);
    let mut expected = connect(V3_1_1, "");
    expected.keep_alive = 0;
    vector(&bytes, &from_client(V3_1_1), &expected.into());
}

#[test]
fn connect_v3_1_1_will_user_password() {
    let bytes = cat(&[
        &[0x10, 0x23], // CONNECT, remaining length 35
        &[0x00, 0x04],
        b"MQTT",
        &[0x04],                   // level 4
        &[0xEE],                   // user, password, will retain, will QoS 1, will, clean
        &[0x00, 0x0A],             // keep alive 10
        &[0x00, 0x02],             // client identifier
        b"id",                     //
        &[0x00, 0x03],             // will topic
        b"w/t",                    //
        &[0x00, 0x03],             // will message
        b"bye",                    //
        &[0x00, 0x04],             // user name
        b"user",                   //
        &[0x00, 0x03, 1, 2, 0xFF], // password: binary
    ]);
    let expected = Connect {
        protocol_version: V3_1_1,
        clean_start: true,
        keep_alive: 10,
        properties: ConnectProperties::default(),
        client_id: s("id"),
        will: Some(LastWill {
            topic: s("w/t"),
            payload: b(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties::default(),
        }),
        username: Some(s("user")),
        password: Some(b(&[1, 2, 0xFF])),
    };
    vector(&bytes, &from_client(V3_1_1), &expected.into());
}

#[test]
fn connect_v5_minimal() {
    let bytes = cat(&[
        &[0x10, 0x10], // CONNECT, remaining length 16
        &[0x00, 0x04],
        b"MQTT",
        &[0x05],       // level 5
        &[0x02],       // clean start
        &[0x00, 0x3C], // keep alive 60
        &[0x00],       // property length 0
        &[0x00, 0x03], // client identifier
        b"abc",
    ]);
    vector(&bytes, &from_client(V5), &connect(V5, "abc").into());
}

#[test]
fn connect_v5_password_without_user_name() {
    // MQTT 5 lifted [MQTT-3.1.2-22]: a password may come without a user name.
    let bytes = cat(&[
        &[0x10, 0x10], // CONNECT, remaining length 16
        &[0x00, 0x04],
        b"MQTT",
        &[0x05],             // level 5
        &[0x40],             // password flag only; clean start 0
        &[0x00, 0x00],       // keep alive 0
        &[0x00],             // property length 0
        &[0x00, 0x00],       // empty client identifier
        &[0x00, 0x01, b'x'], // password
    ]);
    let mut expected = connect(V5, "");
    expected.clean_start = false;
    expected.keep_alive = 0;
    expected.password = Some(b(b"x"));
    vector(&bytes, &from_client(V5), &expected.into());
}

#[test]
fn connect_v5_all_properties_and_will() {
    let bytes = cat(&[
        &[0x10, 0x82, 0x01], // CONNECT, remaining length 130 (two-byte varint)
        &[0x00, 0x04],
        b"MQTT",
        &[0x05],                                     // level 5
        &[0xC6],                         // user name, password, will QoS 0, will, clean start
        &[0x00, 0x3C],                   // keep alive 60
        &[0x2F],                         // property length 47
        &[0x11, 0x00, 0x00, 0x00, 0x78], // Session Expiry Interval 120
        &[0x21, 0x00, 0x14],             // Receive Maximum 20
        &[0x27, 0x00, 0x00, 0x10, 0x00], // Maximum Packet Size 4096
        &[0x22, 0x00, 0x0A],             // Topic Alias Maximum 10
        &[0x19, 0x01],                   // Request Response Information 1
        &[0x17, 0x00],                   // Request Problem Information 0
        &[0x15, 0x00, 0x05],             // Authentication Method
        b"SCRAM",                        //
        &[0x16, 0x00, 0x02, 0xAB, 0xCD], // Authentication Data
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1'], // User Property k=1
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'2'], // User Property k=2 (same key)
        &[0x00, 0x04],                   // client identifier
        b"c5id",                         //
        &[0x2D],                         // will property length 45
        &[0x18, 0x00, 0x00, 0x00, 0x05], // Will Delay Interval 5
        &[0x01, 0x01],                   // Payload Format Indicator: UTF-8
        &[0x02, 0x00, 0x00, 0x0E, 0x10], // Message Expiry Interval 3600
        &[0x03, 0x00, 0x0A],             // Content Type
        b"text/plain",                   //
        &[0x08, 0x00, 0x05],             // Response Topic
        b"reply",                        //
        &[0x09, 0x00, 0x02, 0x01, 0x02], // Correlation Data
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b'], // User Property a=b
        &[0x00, 0x04],                   // will topic
        b"will",                         //
        &[0x00, 0x02],                   // will payload
        b"hi",                           //
        &[0x00, 0x03],                   // user name
        b"bob",                          //
        &[0x00, 0x03],                   // password
        b"sec",                          //
    ]);
    assert_eq!(bytes.len(), 3 + 130);
    let expected = Connect {
        protocol_version: V5,
        clean_start: true,
        keep_alive: 60,
        properties: ConnectProperties {
            session_expiry_interval: Some(120),
            receive_maximum: Some(pid(20)),
            maximum_packet_size: Some(nz32(4096)),
            topic_alias_maximum: Some(10),
            request_response_information: Some(true),
            request_problem_information: Some(false),
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(&[0xAB, 0xCD])),
            user_properties: user(&[("k", "1"), ("k", "2")]),
        },
        client_id: s("c5id"),
        will: Some(LastWill {
            topic: s("will"),
            payload: b(b"hi"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: WillProperties {
                will_delay_interval: Some(5),
                payload_format_indicator: Some(true),
                message_expiry_interval: Some(3600),
                content_type: Some(s("text/plain")),
                response_topic: Some(s("reply")),
                correlation_data: Some(b(&[1, 2])),
                user_properties: user(&[("a", "b")]),
            },
        }),
        username: Some(s("bob")),
        password: Some(b(b"sec")),
    };
    vector(&bytes, &from_client(V5), &expected.into());
}

#[test]
fn connect_v5_properties_in_another_order() {
    // Properties may come in any order; user properties keep theirs.
    let bytes = cat(&[
        &[0x10, 0x27], // CONNECT, remaining length 39
        &[0x00, 0x04],
        b"MQTT",
        &[0x05],                                     // level 5
        &[0x00],                                     // no flags
        &[0x00, 0x05],                               // keep alive 5
        &[0x19],                                     // property length 25
        &[0x26, 0x00, 0x01, b'z', 0x00, 0x01, b'1'], // User Property z=1
        &[0x21, 0x00, 0x01],                         // Receive Maximum 1
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2'], // User Property a=2
        &[0x11, 0xFF, 0xFF, 0xFF, 0xFF],             // Session Expiry Interval: never
        &[0x22, 0x00, 0x00],                         // Topic Alias Maximum 0
        &[0x00, 0x01, b'c'],                         // client identifier
    ]);
    let mut expected = connect(V5, "c");
    expected.clean_start = false;
    expected.keep_alive = 5;
    expected.properties = ConnectProperties {
        session_expiry_interval: Some(u32::MAX),
        receive_maximum: Some(pid(1)),
        topic_alias_maximum: Some(0),
        user_properties: user(&[("z", "1"), ("a", "2")]),
        ..ConnectProperties::default()
    };
    let canonical = cat(&[
        &[0x10, 0x27],
        &[0x00, 0x04],
        b"MQTT",
        &[0x05, 0x00, 0x00, 0x05, 0x19],
        &[0x11, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0x21, 0x00, 0x01],
        &[0x22, 0x00, 0x00],
        &[0x26, 0x00, 0x01, b'z', 0x00, 0x01, b'1'],
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2'],
        &[0x00, 0x01, b'c'],
    ]);
    decode_only(&bytes, &from_client(V5), &expected.into(), &canonical);
}

// ---- CONNACK ---------------------------------------------------------------------------------

fn connack(session_present: bool, reason_code: ConnectReasonCode) -> Packet {
    ConnAck {
        session_present,
        reason_code,
        properties: ConnAckProperties::default(),
    }
    .into()
}

#[test]
fn connack_v3_return_codes_0_to_5() {
    let codes = [
        (
            0x00,
            ConnectReturnCode::Accepted,
            ConnectReasonCode::Success,
        ),
        (
            0x01,
            ConnectReturnCode::UnacceptableProtocolVersion,
            ConnectReasonCode::UnsupportedProtocolVersion,
        ),
        (
            0x02,
            ConnectReturnCode::IdentifierRejected,
            ConnectReasonCode::ClientIdentifierNotValid,
        ),
        (
            0x03,
            ConnectReturnCode::ServerUnavailable,
            ConnectReasonCode::ServerUnavailable,
        ),
        (
            0x04,
            ConnectReturnCode::BadUserNameOrPassword,
            ConnectReasonCode::BadUserNameOrPassword,
        ),
        (
            0x05,
            ConnectReturnCode::NotAuthorized,
            ConnectReasonCode::NotAuthorized,
        ),
    ];
    for (byte, rc, reason) in codes {
        assert_eq!(ConnectReasonCode::from(rc), reason);
        assert_eq!(reason.to_v3(), rc);
        for v in V3 {
            // CONNACK, remaining length 2, acknowledge flags 0, return code.
            vector(
                &[0x20, 0x02, 0x00, byte],
                &from_server(v),
                &connack(false, reason),
            );
        }
    }
    // Return code 6 and above are reserved in 3.1.1.
    let mut buf = BytesMut::from(&[0x20, 0x02, 0x00, 0x06][..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_server(V3_1_1)),
        Err(DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code: 6
        })
    );
}

#[test]
fn connack_v3_1_1_session_present() {
    // Acknowledge flags: session present (3.1.1 §3.2.2.2).
    vector(
        &[0x20, 0x02, 0x01, 0x00],
        &from_server(V3_1_1),
        &connack(true, ConnectReasonCode::Success),
    );
}

#[test]
fn connack_v3_1_has_no_session_present() {
    // MQTT 3.1 has no acknowledge flags: the first byte is reserved and ignored.
    let mut buf = BytesMut::from(&[0x20, 0x02, 0x01, 0x00][..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_server(V3_1)),
        Ok(Some(connack(false, ConnectReasonCode::Success)))
    );
    // And it is never written.
    let mut out = BytesMut::new();
    connack(true, ConnectReasonCode::Success)
        .encode(V3_1, &mut out)
        .unwrap();
    assert_eq!(&out[..], &[0x20, 0x02, 0x00, 0x00]);
}

#[test]
fn connack_v5_minimal_and_refused() {
    // CONNACK, remaining length 3, flags 0, reason Success, property length 0.
    vector(
        &[0x20, 0x03, 0x00, 0x00, 0x00],
        &from_server(V5),
        &connack(false, ConnectReasonCode::Success),
    );
    vector(
        &[0x20, 0x03, 0x01, 0x00, 0x00],
        &from_server(V5),
        &connack(true, ConnectReasonCode::Success),
    );
    // Refusals: 0x87 Not authorized, 0x84 Unsupported Protocol Version, 0x9F rate exceeded.
    for (byte, reason) in [
        (0x87, ConnectReasonCode::NotAuthorized),
        (0x84, ConnectReasonCode::UnsupportedProtocolVersion),
        (0x9F, ConnectReasonCode::ConnectionRateExceeded),
    ] {
        vector(
            &[0x20, 0x03, 0x00, byte, 0x00],
            &from_server(V5),
            &connack(false, reason),
        );
    }
}

#[test]
fn connack_v5_all_properties() {
    let bytes = cat(&[
        &[0x20, 0x55],                               // CONNACK, remaining length 85
        &[0x01],                                     // session present
        &[0x00],                                     // reason code Success
        &[0x52],                                     // property length 82
        &[0x11, 0x00, 0x00, 0x0E, 0x10],             // Session Expiry Interval 3600
        &[0x21, 0x00, 0x0A],                         // Receive Maximum 10
        &[0x24, 0x01],                               // Maximum QoS 1
        &[0x25, 0x00],                               // Retain Available 0
        &[0x27, 0x00, 0x01, 0x00, 0x00],             // Maximum Packet Size 65536
        &[0x12, 0x00, 0x06],                         // Assigned Client Identifier
        b"client",                                   //
        &[0x22, 0x00, 0x05],                         // Topic Alias Maximum 5
        &[0x1F, 0x00, 0x02],                         // Reason String
        b"ok",                                       //
        &[0x28, 0x00],                               // Wildcard Subscription Available 0
        &[0x29, 0x00],                               // Subscription Identifiers Available 0
        &[0x2A, 0x01],                               // Shared Subscription Available 1
        &[0x13, 0x00, 0x1E],                         // Server Keep Alive 30
        &[0x1A, 0x00, 0x04],                         // Response Information
        b"resp",                                     //
        &[0x1C, 0x00, 0x03],                         // Server Reference
        b"srv",                                      //
        &[0x15, 0x00, 0x05],                         // Authentication Method
        b"SCRAM",                                    //
        &[0x16, 0x00, 0x01, 0xFF],                   // Authentication Data
        &[0x26, 0x00, 0x01, b'x', 0x00, 0x01, b'y'], // User Property x=y
        &[0x26, 0x00, 0x01, b'x', 0x00, 0x01, b'z'], // User Property x=z (same key)
    ]);
    assert_eq!(bytes.len(), 2 + 85);
    let expected = ConnAck {
        session_present: true,
        reason_code: ConnectReasonCode::Success,
        properties: ConnAckProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(pid(10)),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(nz32(65536)),
            assigned_client_identifier: Some(s("client")),
            topic_alias_maximum: Some(5),
            reason_string: Some(s("ok")),
            wildcard_subscription_available: Some(false),
            subscription_identifiers_available: Some(false),
            shared_subscription_available: Some(true),
            server_keep_alive: Some(30),
            response_information: Some(s("resp")),
            server_reference: Some(s("srv")),
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(&[0xFF])),
            user_properties: user(&[("x", "y"), ("x", "z")]),
        },
    };
    vector(&bytes, &from_server(V5), &expected.into());
}
