#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Hand-written byte vectors for all 15 packet types, in every version where each exists.
//!
//! Every vector is written out byte by byte from the specifications (MQTT 3.1, 3.1.1 §3 and
//! MQTT 5.0 §3), not produced by our encoder. Each one is decoded and compared with the
//! expected packet as a whole, and the expected packet must encode back to exactly those
//! bytes. Vectors whose properties appear in our encoder's order are byte-exact both ways;
//! valid but non-canonical forms are checked with [`decode_only`].

use core::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::{
    AckProperties, Auth, AuthProperties, AuthReasonCode, ByteString, Bytes, BytesMut, ConnAck,
    ConnAckProperties, Connect, ConnectProperties, ConnectReasonCode, ConnectReturnCode,
    DecodeError, DecodeOptions, Disconnect, DisconnectProperties, DisconnectReasonCode,
    EncodeError, LastWill, Packet, PacketType, ProtocolVersion, PubAck, PubAckReasonCode, PubComp,
    PubRec, PubRel, PubRelReasonCode, Publish, PublishProperties, QoS, QosPid, RetainHandling,
    SubAck, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubAck, UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties, UserProperties,
    WillProperties,
};
use smallvec::{smallvec, SmallVec};

use ProtocolVersion::{V3_1, V3_1_1, V5};

const V3: [ProtocolVersion; 2] = [V3_1, V3_1_1];

// ---- helpers ---------------------------------------------------------------------------------

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn s(v: &'static str) -> ByteString {
    ByteString::from_static(v)
}

fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn user(pairs: &[(&'static str, &'static str)]) -> UserProperties {
    pairs.iter().map(|&(k, v)| (s(k), s(v))).collect()
}

/// Options for a server reading a client's packets.
fn from_client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

/// Options for a client reading a server's packets.
fn from_server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

/// Decodes `bytes` as exactly one packet equal to `expected`, then encodes `expected` back to
/// exactly `bytes`.
#[track_caller]
fn vector(bytes: &[u8], opts: &DecodeOptions, expected: &Packet) {
    let mut buf = BytesMut::from(bytes);
    let got = Packet::decode(&mut buf, opts);
    assert_eq!(
        got,
        Ok(Some(expected.clone())),
        "decode of {bytes:02x?} ({})",
        opts.version
    );
    assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    assert_eq!(
        expected.encoded_len(opts.version),
        bytes.len(),
        "encoded_len"
    );
    let mut out = BytesMut::new();
    expected.encode(opts.version, &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encode ({})", opts.version);
}

/// A valid but non-canonical form: it decodes to `expected`, which our encoder writes in its
/// shortest form, `canonical`.
#[track_caller]
fn decode_only(bytes: &[u8], opts: &DecodeOptions, expected: &Packet, canonical: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(Packet::decode(&mut buf, opts), Ok(Some(expected.clone())));
    assert!(buf.is_empty());
    vector(canonical, opts, expected);
}

// ---- CONNECT -----------------------------------------------------------------------------------

fn connect(v: ProtocolVersion, client_id: &'static str) -> Connect {
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

// ---- PUBLISH ---------------------------------------------------------------------------------

fn publish(qos_pid: QosPid, topic: &'static str, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: s(topic),
        properties: PublishProperties::default(),
        payload: b(payload),
    }
}

#[test]
fn publish_v3_qos0() {
    let bytes = cat(&[
        &[0x30, 0x0A], // PUBLISH QoS 0, remaining length 10
        &[0x00, 0x03], // topic name
        b"a/b",        //
        b"hello",      // payload
    ]);
    for v in V3 {
        for opts in [from_client(v), from_server(v)] {
            vector(
                &bytes,
                &opts,
                &publish(QosPid::AtMostOnce, "a/b", b"hello").into(),
            );
        }
    }
}

#[test]
fn publish_v3_qos1_retain() {
    let bytes = cat(&[
        &[0x33, 0x08], // PUBLISH QoS 1 RETAIN, remaining length 8
        &[0x00, 0x03], // topic name
        b"a/b",        //
        &[0x00, 0x0A], // packet identifier 10
        b"x",          // payload
    ]);
    let mut expected = publish(QosPid::AtLeastOnce(pid(10)), "a/b", b"x");
    expected.retain = true;
    for v in V3 {
        vector(&bytes, &from_client(v), &expected.clone().into());
    }
}

#[test]
fn publish_v3_qos2_dup_empty_payload() {
    let bytes = cat(&[
        &[0x3C, 0x05],       // PUBLISH DUP QoS 2, remaining length 5
        &[0x00, 0x01, b't'], // topic name "t"
        &[0x12, 0x34],       // packet identifier 0x1234
    ]);
    let mut expected = publish(QosPid::ExactlyOnce(pid(0x1234)), "t", b"");
    expected.dup = true;
    for v in V3 {
        vector(&bytes, &from_server(v), &expected.clone().into());
    }
}

#[test]
fn publish_v5_qos0_no_properties() {
    let bytes = cat(&[
        &[0x30, 0x07], // PUBLISH QoS 0, remaining length 7
        &[0x00, 0x03], // topic name
        b"a/b",        //
        &[0x00],       // property length 0
        b"h",          // payload
    ]);
    vector(
        &bytes,
        &from_client(V5),
        &publish(QosPid::AtMostOnce, "a/b", b"h").into(),
    );
}

fn publish_v5_props_bytes() -> Vec<u8> {
    cat(&[
        &[0x32, 0x3E],                               // PUBLISH QoS 1, remaining length 62
        &[0x00, 0x03],                               // topic name
        b"a/b",                                      //
        &[0x00, 0x01],                               // packet identifier 1
        &[0x34],                                     // property length 52
        &[0x01, 0x01],                               // Payload Format Indicator: UTF-8
        &[0x02, 0x00, 0x00, 0x00, 0x3C],             // Message Expiry Interval 60
        &[0x23, 0x00, 0x02],                         // Topic Alias 2
        &[0x08, 0x00, 0x05],                         // Response Topic
        b"reply",                                    //
        &[0x09, 0x00, 0x03, 1, 2, 3],                // Correlation Data
        &[0x03, 0x00, 0x04],                         // Content Type
        b"json",                                     //
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property k=v
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w'], // User Property k=w (same key)
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b'], // User Property a=b
        b"{}",                                       // payload
    ])
}

fn publish_v5_props_expected() -> Publish {
    Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(pid(1)),
        retain: false,
        topic: s("a/b"),
        properties: PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(60),
            topic_alias: Some(pid(2)),
            response_topic: Some(s("reply")),
            correlation_data: Some(b(&[1, 2, 3])),
            user_properties: user(&[("k", "v"), ("k", "w"), ("a", "b")]),
            subscription_identifiers: SmallVec::new(),
            content_type: Some(s("json")),
        },
        payload: b(b"{}"),
    }
}

#[test]
fn publish_v5_all_client_properties() {
    let bytes = publish_v5_props_bytes();
    assert_eq!(bytes.len(), 2 + 62);
    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    vector(&bytes, &opts, &publish_v5_props_expected().into());
    // With the default Topic Alias Maximum of 0 the alias is refused [MQTT-3.3.2-9].
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_client(V5)),
        Err(DecodeError::TopicAliasTooLarge { alias: 2, max: 0 })
    );
}

#[test]
fn publish_v5_multiple_subscription_identifiers() {
    let bytes = cat(&[
        &[0x30, 0x0F],                   // PUBLISH QoS 0, remaining length 15
        &[0x00, 0x01, b't'],             // topic name "t"
        &[0x0A],                         // property length 10
        &[0x0B, 0x01],                   // Subscription Identifier 1
        &[0x0B, 0x80, 0x01],             // Subscription Identifier 128
        &[0x0B, 0xFF, 0xFF, 0xFF, 0x7F], // Subscription Identifier 268,435,455
        b"p",                            // payload
    ]);
    let mut expected = publish(QosPid::AtMostOnce, "t", b"p");
    expected.properties.subscription_identifiers = smallvec![nz32(1), nz32(128), nz32(268_435_455)];
    // Server to client: decoded by a client.
    vector(&bytes, &from_server(V5), &expected.into());
    // A client may not send one [MQTT-3.3.4-6].
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_client(V5)),
        Err(DecodeError::SubscriptionIdentifierFromClient)
    );
}

#[test]
fn publish_v5_topic_alias_with_empty_topic() {
    let bytes = cat(&[
        &[0x30, 0x07],             // PUBLISH QoS 0, remaining length 7
        &[0x00, 0x00],             // empty topic name
        &[0x03, 0x23, 0x00, 0x01], // property length 3, Topic Alias 1
        b"z",                      // payload
    ]);
    let mut expected = publish(QosPid::AtMostOnce, "", b"z");
    expected.properties.topic_alias = Some(pid(1));
    let mut opts = from_server(V5);
    opts.topic_alias_maximum = 1;
    vector(&bytes, &opts, &expected.into());
}

#[test]
fn publish_v5_qos2_dup_retain_large_payload() {
    // A 200-byte payload needs a two-byte remaining length: 2 + 1 + 2 + 1 + 200 = 206.
    let payload: &'static [u8] = &[0xA5; 200];
    let bytes = cat(&[
        &[0x3D, 0xCE, 0x01], // PUBLISH DUP QoS 2 RETAIN, remaining length 206
        &[0x00, 0x01, b'x'], // topic name "x"
        &[0xFF, 0xFF],       // packet identifier 65535
        &[0x00],             // property length 0
        payload,
    ]);
    let mut expected = publish(QosPid::ExactlyOnce(pid(0xFFFF)), "x", payload);
    expected.dup = true;
    expected.retain = true;
    vector(&bytes, &from_client(V5), &expected.into());
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP --------------------------------------------------------

#[test]
fn pub_acks_v3() {
    for v in V3 {
        for opts in [from_client(v), from_server(v)] {
            // PUBACK, remaining length 2, packet identifier.
            vector(
                &[0x40, 0x02, 0x00, 0x01],
                &opts,
                &Packet::PubAck(PubAck::new(pid(1))),
            );
            vector(
                &[0x50, 0x02, 0x01, 0x02],
                &opts,
                &Packet::PubRec(PubRec::new(pid(0x0102))),
            );
            // PUBREL has fixed header flags 0010.
            vector(
                &[0x62, 0x02, 0xFF, 0xFF],
                &opts,
                &Packet::PubRel(PubRel::new(pid(0xFFFF))),
            );
            vector(
                &[0x70, 0x02, 0x00, 0x04],
                &opts,
                &Packet::PubComp(PubComp::new(pid(4))),
            );
        }
    }
}

#[test]
fn puback_v5_short_forms() {
    let opts = from_client(V5);
    // Remaining length 2: reason code Success and no properties are implied.
    vector(
        &[0x40, 0x02, 0x00, 0x01],
        &opts,
        &Packet::PubAck(PubAck::new(pid(1))),
    );
    // Remaining length 3: reason code, no properties.
    let with = |code| PubAck {
        packet_id: pid(1),
        reason_code: code,
        properties: AckProperties::default(),
    };
    vector(
        &[0x40, 0x03, 0x00, 0x01, 0x10],
        &opts,
        &Packet::PubAck(with(PubAckReasonCode::NoMatchingSubscribers)),
    );
    vector(
        &[0x40, 0x03, 0x00, 0x01, 0x87],
        &opts,
        &Packet::PubAck(with(PubAckReasonCode::NotAuthorized)),
    );
    // Remaining length 3 with an explicit Success byte is valid; we write it shorter.
    decode_only(
        &[0x40, 0x03, 0x00, 0x01, 0x00],
        &opts,
        &Packet::PubAck(PubAck::new(pid(1))),
        &[0x40, 0x02, 0x00, 0x01],
    );
    // Remaining length 4 with an empty property list, likewise.
    decode_only(
        &[0x40, 0x04, 0x00, 0x01, 0x80, 0x00],
        &opts,
        &Packet::PubAck(with(PubAckReasonCode::UnspecifiedError)),
        &[0x40, 0x03, 0x00, 0x01, 0x80],
    );
}

#[test]
fn puback_v5_with_properties() {
    let bytes = cat(&[
        &[0x40, 0x14],                               // PUBACK, remaining length 20
        &[0x00, 0x07],                               // packet identifier 7
        &[0x87],                                     // Not authorized
        &[0x10],                                     // property length 16
        &[0x1F, 0x00, 0x06],                         // Reason String
        b"denied",                                   //
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property
    ]);
    let expected = PubAck {
        packet_id: pid(7),
        reason_code: PubAckReasonCode::NotAuthorized,
        properties: AckProperties {
            reason_string: Some(s("denied")),
            user_properties: user(&[("k", "v")]),
        },
    };
    vector(&bytes, &from_server(V5), &Packet::PubAck(expected));
    // Success with properties still carries the reason code byte.
    let bytes = cat(&[
        &[0x40, 0x08],             // PUBACK, remaining length 8
        &[0x00, 0x05],             // packet identifier 5
        &[0x00],                   // Success
        &[0x04],                   // property length 4
        &[0x1F, 0x00, 0x01, b'x'], // Reason String "x"
    ]);
    let expected = PubAck {
        packet_id: pid(5),
        reason_code: PubAckReasonCode::Success,
        properties: AckProperties {
            reason_string: Some(s("x")),
            user_properties: UserProperties::new(),
        },
    };
    vector(&bytes, &from_client(V5), &Packet::PubAck(expected));
}

#[test]
fn pubrec_v5() {
    let opts = from_server(V5);
    vector(
        &[0x50, 0x02, 0x00, 0x02],
        &opts,
        &Packet::PubRec(PubRec::new(pid(2))),
    );
    vector(
        &[0x50, 0x03, 0x00, 0x02, 0x91],
        &opts,
        &Packet::PubRec(PubRec {
            packet_id: pid(2),
            reason_code: PubAckReasonCode::PacketIdentifierInUse,
            properties: AckProperties::default(),
        }),
    );
    let bytes = cat(&[
        &[0x50, 0x0B],                               // PUBREC, remaining length 11
        &[0x00, 0x02],                               // packet identifier 2
        &[0x97],                                     // Quota exceeded
        &[0x07],                                     // property length 7
        &[0x26, 0x00, 0x01, b'q', 0x00, 0x01, b'1'], // User Property q=1
    ]);
    vector(
        &bytes,
        &opts,
        &Packet::PubRec(PubRec {
            packet_id: pid(2),
            reason_code: PubAckReasonCode::QuotaExceeded,
            properties: AckProperties {
                reason_string: None,
                user_properties: user(&[("q", "1")]),
            },
        }),
    );
}

#[test]
fn pubrel_pubcomp_v5() {
    let opts = from_client(V5);
    for (ty, make) in [
        (0x62u8, Packet::PubRel as fn(PubRel) -> Packet),
        (0x70u8, Packet::PubComp as fn(PubComp) -> Packet),
    ] {
        vector(&[ty, 0x02, 0x00, 0x03], &opts, &make(PubRel::new(pid(3))));
        vector(
            &[ty, 0x03, 0x00, 0x03, 0x92],
            &opts,
            &make(PubRel {
                packet_id: pid(3),
                reason_code: PubRelReasonCode::PacketIdentifierNotFound,
                properties: AckProperties::default(),
            }),
        );
        let bytes = cat(&[
            &[ty, 0x0B],         // remaining length 11
            &[0x00, 0x03],       // packet identifier 3
            &[0x92],             // Packet Identifier not found
            &[0x07],             // property length 7
            &[0x1F, 0x00, 0x04], // Reason String
            b"gone",
        ]);
        assert_eq!(bytes.len(), 2 + 11);
        vector(
            &bytes,
            &opts,
            &make(PubRel {
                packet_id: pid(3),
                reason_code: PubRelReasonCode::PacketIdentifierNotFound,
                properties: AckProperties {
                    reason_string: Some(s("gone")),
                    user_properties: UserProperties::new(),
                },
            }),
        );
    }
    // An invalid PUBREL reason code (PUBACK's 0x10) is malformed.
    let mut buf = BytesMut::from(&[0x62, 0x03, 0x00, 0x03, 0x10][..]);
    assert_eq!(
        Packet::decode(&mut buf, &opts),
        Err(DecodeError::InvalidReasonCode {
            packet: PacketType::PubRel,
            code: 0x10
        })
    );
}

// ---- SUBSCRIBE -------------------------------------------------------------------------------

fn sub(filter: &'static str, options: SubscriptionOptions) -> Subscription {
    Subscription {
        filter: s(filter),
        options,
    }
}

fn qos_only(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

#[test]
fn subscribe_v3() {
    let bytes = cat(&[
        &[0x82, 0x0C],       // SUBSCRIBE (flags 0010), remaining length 12
        &[0x00, 0x0A],       // packet identifier 10
        &[0x00, 0x03],       // topic filter
        b"a/+",              //
        &[0x01],             // requested QoS 1
        &[0x00, 0x01, b'#'], // topic filter "#"
        &[0x02],             // requested QoS 2
    ]);
    let expected = Subscribe {
        packet_id: pid(10),
        properties: SubscribeProperties::default(),
        subscriptions: smallvec![
            sub("a/+", qos_only(QoS::AtLeastOnce)),
            sub("#", qos_only(QoS::ExactlyOnce)),
        ],
    };
    for v in V3 {
        vector(&bytes, &from_client(v), &expected.clone().into());
    }
    // On 3.x the upper six option bits are reserved [MQTT-3.8.3-4] (3.1.1).
    let mut buf = BytesMut::from(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'x', 0x04][..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_client(V3_1_1)),
        Err(DecodeError::SubscriptionOptionsReserved)
    );
}

#[test]
fn subscribe_v5_minimal() {
    let bytes = cat(&[
        &[0x82, 0x07],       // SUBSCRIBE, remaining length 7
        &[0x00, 0x01],       // packet identifier 1
        &[0x00],             // property length 0
        &[0x00, 0x01, b'x'], // topic filter "x"
        &[0x00],             // options: QoS 0
    ]);
    let expected = Subscribe {
        packet_id: pid(1),
        properties: SubscribeProperties::default(),
        subscriptions: smallvec![sub("x", SubscriptionOptions::default())],
    };
    vector(&bytes, &from_client(V5), &expected.into());
}

#[test]
fn subscribe_v5_options_bits_and_properties() {
    let bytes = cat(&[
        &[0x82, 0x23],                               // SUBSCRIBE, remaining length 35
        &[0x00, 0x0B],                               // packet identifier 11
        &[0x09],                                     // property length 9
        &[0x0B, 0x05],                               // Subscription Identifier 5
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property k=v
        &[0x00, 0x03],                               // topic filter
        b"a/b",                                      //
        &[0x2D],             // retain handling 2, retain as published, no local, QoS 1
        &[0x00, 0x0A],       // topic filter
        b"$share/g/t",       //
        &[0x12],             // retain handling 1, QoS 2 (no local is forbidden here)
        &[0x00, 0x01, b'+'], // topic filter "+"
        &[0x08],             // retain as published only
    ]);
    assert_eq!(bytes.len(), 2 + 35);
    let expected = Subscribe {
        packet_id: pid(11),
        properties: SubscribeProperties {
            subscription_identifier: Some(nz32(5)),
            user_properties: user(&[("k", "v")]),
        },
        subscriptions: smallvec![
            sub(
                "a/b",
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                }
            ),
            sub(
                "$share/g/t",
                SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::SendIfNew,
                }
            ),
            sub(
                "+",
                SubscriptionOptions {
                    qos: QoS::AtMostOnce,
                    no_local: false,
                    retain_as_published: true,
                    retain_handling: RetainHandling::SendAtSubscribe,
                }
            ),
        ],
    };
    vector(&bytes, &from_client(V5), &expected.into());
}

#[test]
fn subscribe_v5_each_option_bit() {
    // One subscription "t"; the options byte alone varies.
    let cases = [
        (
            0x00,
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::SendAtSubscribe,
        ),
        (
            0x01,
            QoS::AtLeastOnce,
            false,
            false,
            RetainHandling::SendAtSubscribe,
        ),
        (
            0x02,
            QoS::ExactlyOnce,
            false,
            false,
            RetainHandling::SendAtSubscribe,
        ),
        (
            0x04,
            QoS::AtMostOnce,
            true,
            false,
            RetainHandling::SendAtSubscribe,
        ),
        (
            0x08,
            QoS::AtMostOnce,
            false,
            true,
            RetainHandling::SendAtSubscribe,
        ),
        (
            0x10,
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::SendIfNew,
        ),
        (
            0x20,
            QoS::AtMostOnce,
            false,
            false,
            RetainHandling::DoNotSend,
        ),
        (
            0x2E,
            QoS::ExactlyOnce,
            true,
            true,
            RetainHandling::DoNotSend,
        ),
    ];
    for (byte, qos, no_local, rap, rh) in cases {
        let bytes = [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', byte];
        let expected = Subscribe {
            packet_id: pid(1),
            properties: SubscribeProperties::default(),
            subscriptions: smallvec![sub(
                "t",
                SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            )],
        };
        vector(&bytes, &from_client(V5), &expected.into());
    }
    // Retain handling 3 and the two reserved bits are refused.
    for (byte, err) in [
        (0x30, DecodeError::RetainHandling3),
        (0x40, DecodeError::SubscriptionOptionsReserved),
        (0x80, DecodeError::SubscriptionOptionsReserved),
    ] {
        let mut buf = BytesMut::from(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', byte][..]);
        assert_eq!(Packet::decode(&mut buf, &from_client(V5)), Err(err));
    }
}

// ---- SUBACK ----------------------------------------------------------------------------------

#[test]
fn suback_v3() {
    let bytes = [
        0x90, 0x06, // SUBACK, remaining length 6
        0x00, 0x0A, // packet identifier 10
        0x00, 0x01, 0x02, 0x80, // granted QoS 0, 1, 2, failure
    ];
    let expected = SubAck {
        packet_id: pid(10),
        properties: AckProperties::default(),
        reason_codes: smallvec![
            SubAckReasonCode::GrantedQoS0,
            SubAckReasonCode::GrantedQoS1,
            SubAckReasonCode::GrantedQoS2,
            SubAckReasonCode::UnspecifiedError,
        ],
    };
    for v in V3 {
        vector(&bytes, &from_server(v), &expected.clone().into());
    }
    // A v5-only failure is written as 0x80 on 3.x.
    let v5_only = SubAck {
        packet_id: pid(1),
        properties: AckProperties::default(),
        reason_codes: smallvec![SubAckReasonCode::NotAuthorized],
    };
    let mut out = BytesMut::new();
    Packet::from(v5_only).encode(V3_1_1, &mut out).unwrap();
    assert_eq!(&out[..], &[0x90, 0x03, 0x00, 0x01, 0x80]);
    // And a v5-only code is not a valid 3.1.1 return code.
    let mut buf = BytesMut::from(&[0x90, 0x03, 0x00, 0x01, 0x87][..]);
    assert_eq!(
        Packet::decode(&mut buf, &from_server(V3_1_1)),
        Err(DecodeError::InvalidReasonCode {
            packet: PacketType::SubAck,
            code: 0x87
        })
    );
}

#[test]
fn suback_v5() {
    vector(
        &[0x90, 0x04, 0x00, 0x01, 0x00, 0x02],
        &from_server(V5),
        &SubAck {
            packet_id: pid(1),
            properties: AckProperties::default(),
            reason_codes: smallvec![SubAckReasonCode::GrantedQoS2],
        }
        .into(),
    );
    let bytes = cat(&[
        &[0x90, 0x0F],                               // SUBACK, remaining length 15
        &[0x00, 0x0B],                               // packet identifier 11
        &[0x05],                                     // property length 5
        &[0x1F, 0x00, 0x02],                         // Reason String
        b"no",                                       //
        &[0x01, 0x00, 0x8F, 0x87, 0x9E, 0xA1, 0xA2], // one code per filter
    ]);
    let expected = SubAck {
        packet_id: pid(11),
        properties: AckProperties {
            reason_string: Some(s("no")),
            user_properties: UserProperties::new(),
        },
        reason_codes: smallvec![
            SubAckReasonCode::GrantedQoS1,
            SubAckReasonCode::GrantedQoS0,
            SubAckReasonCode::TopicFilterInvalid,
            SubAckReasonCode::NotAuthorized,
            SubAckReasonCode::SharedSubscriptionsNotSupported,
            SubAckReasonCode::SubscriptionIdentifiersNotSupported,
            SubAckReasonCode::WildcardSubscriptionsNotSupported,
        ],
    };
    vector(&bytes, &from_server(V5), &expected.into());
}

// ---- UNSUBSCRIBE -----------------------------------------------------------------------------

#[test]
fn unsubscribe_v3() {
    let bytes = cat(&[
        &[0xA2, 0x0A],       // UNSUBSCRIBE (flags 0010), remaining length 10
        &[0x00, 0x0C],       // packet identifier 12
        &[0x00, 0x03],       // topic filter
        b"a/b",              //
        &[0x00, 0x01, b'#'], // topic filter "#"
    ]);
    let expected = Unsubscribe {
        packet_id: pid(12),
        properties: UnsubscribeProperties::default(),
        filters: smallvec![s("a/b"), s("#")],
    };
    for v in V3 {
        vector(&bytes, &from_client(v), &expected.clone().into());
    }
}

#[test]
fn unsubscribe_v5() {
    let bytes = cat(&[
        &[0xA2, 0x0F],                               // UNSUBSCRIBE, remaining length 15
        &[0x00, 0x0D],                               // packet identifier 13
        &[0x07],                                     // property length 7
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property k=v
        &[0x00, 0x03],                               // topic filter
        b"a/+",
    ]);
    let expected = Unsubscribe {
        packet_id: pid(13),
        properties: UnsubscribeProperties {
            user_properties: user(&[("k", "v")]),
        },
        filters: smallvec![s("a/+")],
    };
    vector(&bytes, &from_client(V5), &expected.into());
    let bytes = [0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'x'];
    let expected = Unsubscribe {
        packet_id: pid(1),
        properties: UnsubscribeProperties::default(),
        filters: smallvec![s("x")],
    };
    vector(&bytes, &from_client(V5), &expected.into());
}

// ---- UNSUBACK --------------------------------------------------------------------------------

#[test]
fn unsuback_v3() {
    let expected = UnsubAck {
        packet_id: pid(12),
        properties: AckProperties::default(),
        reason_codes: SmallVec::new(),
    };
    for v in V3 {
        // UNSUBACK, remaining length 2, packet identifier 12.
        vector(
            &[0xB0, 0x02, 0x00, 0x0C],
            &from_server(v),
            &expected.clone().into(),
        );
    }
}

#[test]
fn unsuback_v5() {
    vector(
        &[0xB0, 0x04, 0x00, 0x01, 0x00, 0x00],
        &from_server(V5),
        &UnsubAck {
            packet_id: pid(1),
            properties: AckProperties::default(),
            reason_codes: smallvec![UnsubAckReasonCode::Success],
        }
        .into(),
    );
    let bytes = cat(&[
        &[0xB0, 0x0A],             // UNSUBACK, remaining length 10
        &[0x00, 0x0D],             // packet identifier 13
        &[0x04],                   // property length 4
        &[0x1F, 0x00, 0x01, b'r'], // Reason String "r"
        &[0x00, 0x11, 0x87],       // Success, No subscription existed, Not authorized
    ]);
    let expected = UnsubAck {
        packet_id: pid(13),
        properties: AckProperties {
            reason_string: Some(s("r")),
            user_properties: UserProperties::new(),
        },
        reason_codes: smallvec![
            UnsubAckReasonCode::Success,
            UnsubAckReasonCode::NoSubscriptionExisted,
            UnsubAckReasonCode::NotAuthorized,
        ],
    };
    vector(&bytes, &from_server(V5), &expected.into());
}

// ---- PINGREQ, PINGRESP -----------------------------------------------------------------------

#[test]
fn ping_all_versions() {
    for v in [V3_1, V3_1_1, V5] {
        vector(&[0xC0, 0x00], &from_client(v), &Packet::PingReq);
        vector(&[0xD0, 0x00], &from_server(v), &Packet::PingResp);
        // Each only in its own direction.
        let mut buf = BytesMut::from(&[0xC0, 0x00][..]);
        assert_eq!(
            Packet::decode(&mut buf, &from_server(v)),
            Err(DecodeError::UnexpectedPacket(PacketType::PingReq))
        );
        let mut buf = BytesMut::from(&[0xD0, 0x00][..]);
        assert_eq!(
            Packet::decode(&mut buf, &from_client(v)),
            Err(DecodeError::UnexpectedPacket(PacketType::PingResp))
        );
    }
}

// ---- DISCONNECT ------------------------------------------------------------------------------

#[test]
fn disconnect_v3() {
    for v in V3 {
        vector(
            &[0xE0, 0x00],
            &from_client(v),
            &Disconnect::default().into(),
        );
    }
}

#[test]
fn disconnect_v5_empty_and_one_byte() {
    // Remaining length 0: Normal disconnection, no properties.
    vector(
        &[0xE0, 0x00],
        &from_client(V5),
        &Disconnect::new(DisconnectReasonCode::NormalDisconnection).into(),
    );
    // Remaining length 1: a reason code alone.
    vector(
        &[0xE0, 0x01, 0x04],
        &from_client(V5),
        &Disconnect::new(DisconnectReasonCode::DisconnectWithWillMessage).into(),
    );
    vector(
        &[0xE0, 0x01, 0x8E],
        &from_server(V5),
        &Disconnect::new(DisconnectReasonCode::SessionTakenOver).into(),
    );
    // Reason code and an empty property list: valid, written shorter.
    decode_only(
        &[0xE0, 0x02, 0x00, 0x00],
        &from_client(V5),
        &Disconnect::default().into(),
        &[0xE0, 0x00],
    );
}

#[test]
fn disconnect_v5_full() {
    let bytes = cat(&[
        &[0xE0, 0x14],                               // DISCONNECT, remaining length 20
        &[0x04],                                     // Disconnect with Will Message
        &[0x12],                                     // property length 18
        &[0x11, 0x00, 0x00, 0x01, 0x2C],             // Session Expiry Interval 300
        &[0x1F, 0x00, 0x03],                         // Reason String
        b"bye",                                      //
        &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property k=v
    ]);
    let expected = Disconnect {
        reason_code: DisconnectReasonCode::DisconnectWithWillMessage,
        properties: DisconnectProperties {
            session_expiry_interval: Some(300),
            reason_string: Some(s("bye")),
            server_reference: None,
            user_properties: user(&[("k", "v")]),
        },
    };
    vector(&bytes, &from_client(V5), &expected.into());

    let bytes = cat(&[
        &[0xE0, 0x0F],       // DISCONNECT, remaining length 15
        &[0x9C],             // Use another server
        &[0x0D],             // property length 13
        &[0x1F, 0x00, 0x02], // Reason String
        b"go",               //
        &[0x1C, 0x00, 0x05], // Server Reference
        b"other",            //
    ]);
    let expected = Disconnect {
        reason_code: DisconnectReasonCode::UseAnotherServer,
        properties: DisconnectProperties {
            session_expiry_interval: None,
            reason_string: Some(s("go")),
            server_reference: Some(s("other")),
            user_properties: UserProperties::new(),
        },
    };
    vector(&bytes, &from_server(V5), &expected.into());
}

// ---- AUTH ------------------------------------------------------------------------------------

#[test]
fn auth_v5() {
    for opts in [from_client(V5), from_server(V5)] {
        // Remaining length 0: Success, no properties.
        vector(
            &[0xF0, 0x00],
            &opts,
            &Auth {
                reason_code: AuthReasonCode::Success,
                properties: AuthProperties::default(),
            }
            .into(),
        );
        // [MQTT-3.15.2.2.2] a step other than the bare Success form names its method.
        let mut bare_reauth = BytesMut::from(&[0xF0, 0x01, 0x19][..]);
        assert_eq!(
            Packet::decode(&mut bare_reauth, &opts),
            Err(DecodeError::AuthMethodMissing)
        );
        vector(
            &[
                0xF0, 0x09, 0x19, 0x07, 0x15, 0x00, 0x04, b'S', b'C', b'R', b'M',
            ],
            &opts,
            &Auth {
                reason_code: AuthReasonCode::ReAuthenticate,
                properties: AuthProperties {
                    authentication_method: Some(s("SCRM")),
                    ..AuthProperties::default()
                },
            }
            .into(),
        );
        let bytes = cat(&[
            &[0xF0, 0x1E],                               // AUTH, remaining length 30
            &[0x18],                                     // Continue authentication
            &[0x1C],                                     // property length 28
            &[0x15, 0x00, 0x05],                         // Authentication Method
            b"SCRAM",                                    //
            &[0x16, 0x00, 0x03, 1, 2, 3],                // Authentication Data
            &[0x1F, 0x00, 0x04],                         // Reason String
            b"next",                                     //
            &[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v'], // User Property k=v
        ]);
        let expected = Auth {
            reason_code: AuthReasonCode::ContinueAuthentication,
            properties: AuthProperties {
                authentication_method: Some(s("SCRAM")),
                authentication_data: Some(b(&[1, 2, 3])),
                reason_string: Some(s("next")),
                user_properties: user(&[("k", "v")]),
            },
        };
        vector(&bytes, &opts, &expected.into());
    }
}

#[test]
fn auth_does_not_exist_before_v5() {
    let auth = Packet::from(Auth {
        reason_code: AuthReasonCode::Success,
        properties: AuthProperties::default(),
    });
    for v in V3 {
        let mut buf = BytesMut::from(&[0xF0, 0x00][..]);
        assert_eq!(
            Packet::decode(&mut buf, &from_client(v)),
            Err(DecodeError::UnexpectedPacket(PacketType::Auth))
        );
        let mut out = BytesMut::from(&b"keep"[..]);
        assert_eq!(
            auth.encode(v, &mut out),
            Err(EncodeError::UnsupportedInVersion(PacketType::Auth))
        );
        assert_eq!(&out[..], b"keep");
    }
}

// ---- streaming -------------------------------------------------------------------------------

/// Feeds `bytes` one at a time: `Ok(None)` and nothing consumed until the last byte.
#[track_caller]
fn feed_bytewise(bytes: &[u8], opts: &DecodeOptions, expected: &Packet) {
    let mut buf = BytesMut::new();
    for (i, &byte) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let got = Packet::decode(&mut buf, opts);
        if i + 1 < bytes.len() {
            assert_eq!(got, Ok(None), "after {} of {} bytes", i + 1, bytes.len());
            assert_eq!(
                buf.len(),
                i + 1,
                "consumed input before the frame was whole"
            );
            assert_eq!(&buf[..], &bytes[..=i]);
        } else {
            assert_eq!(got, Ok(Some(expected.clone())));
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn streaming_one_byte_at_a_time() {
    let connect = {
        let bytes = cat(&[
            &[0x10, 0x10],
            &[0x00, 0x04],
            b"MQTT",
            &[0x05, 0x02, 0x00, 0x3C, 0x00],
            &[0x00, 0x03],
            b"abc",
        ]);
        (bytes, connect(V5, "abc"))
    };
    feed_bytewise(&connect.0, &from_client(V5), &connect.1.into());

    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    feed_bytewise(
        &publish_v5_props_bytes(),
        &opts,
        &publish_v5_props_expected().into(),
    );

    // A two-byte remaining length split between the bytes.
    let payload: &'static [u8] = &[7; 200];
    let bytes = cat(&[&[0x30, 0xCC, 0x01], &[0x00, 0x01, b'x'], &[0x00], payload]);
    feed_bytewise(
        &bytes,
        &from_client(V5),
        &publish(QosPid::AtMostOnce, "x", payload).into(),
    );

    for v in [V3_1, V3_1_1, V5] {
        feed_bytewise(&[0xC0, 0x00], &from_client(v), &Packet::PingReq);
        feed_bytewise(
            &[0x40, 0x02, 0x00, 0x01],
            &from_client(v),
            &Packet::PubAck(PubAck::new(pid(1))),
        );
    }
}

#[test]
fn empty_buffer_needs_more() {
    let mut buf = BytesMut::new();
    assert_eq!(Packet::decode(&mut buf, &from_client(V5)), Ok(None));
}

#[test]
fn two_packets_in_one_buffer() {
    let first = publish_v5_props_bytes();
    let second = [0x62, 0x02, 0x00, 0x09]; // PUBREL 9
    let third = [0xC0, 0x00]; // PINGREQ
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    buf.extend_from_slice(&third);
    buf.extend_from_slice(&[0x30]); // the first byte of a fourth packet
    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    assert_eq!(
        Packet::decode(&mut buf, &opts),
        Ok(Some(publish_v5_props_expected().into()))
    );
    assert_eq!(buf.len(), second.len() + third.len() + 1);
    assert_eq!(
        Packet::decode(&mut buf, &opts),
        Ok(Some(Packet::PubRel(PubRel::new(pid(9)))))
    );
    assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(Packet::PingReq)));
    assert_eq!(Packet::decode(&mut buf, &opts), Ok(None));
    assert_eq!(&buf[..], &[0x30]);
}

// ---- zero copy -------------------------------------------------------------------------------

#[track_caller]
fn assert_inside(region: core::ops::Range<usize>, what: &str, slice: &[u8]) {
    let start = slice.as_ptr() as usize;
    assert!(
        region.contains(&start) && start + slice.len() <= region.end,
        "{what} was copied out of the receive buffer"
    );
}

#[test]
fn decoded_fields_are_slices_of_the_buffer() {
    let bytes = publish_v5_props_bytes();
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&bytes);
    let base = buf.as_ptr() as usize;
    let region = base..base + buf.len();
    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    let Some(Packet::Publish(p)) = Packet::decode(&mut buf, &opts).unwrap() else {
        panic!("expected a PUBLISH");
    };
    assert_inside(region.clone(), "payload", &p.payload);
    assert_eq!(p.payload.as_ptr() as usize, base + bytes.len() - 2);
    assert_inside(region.clone(), "topic", p.topic.as_bytes());
    assert_eq!(p.topic.as_ptr() as usize, base + 4);
    let props = &p.properties;
    assert_inside(
        region.clone(),
        "correlation data",
        props.correlation_data.as_ref().unwrap(),
    );
    assert_inside(
        region.clone(),
        "response topic",
        props.response_topic.as_ref().unwrap().as_bytes(),
    );
    for (k, v) in &props.user_properties {
        assert_inside(region.clone(), "user property key", k.as_bytes());
        assert_inside(region.clone(), "user property value", v.as_bytes());
    }

    // The same for a CONNECT's will payload and password.
    let bytes = cat(&[
        &[0x10, 0x23],
        &[0x00, 0x04],
        b"MQTT",
        &[0x04, 0xEE, 0x00, 0x0A],
        &[0x00, 0x02],
        b"id",
        &[0x00, 0x03],
        b"w/t",
        &[0x00, 0x03],
        b"bye",
        &[0x00, 0x04],
        b"user",
        &[0x00, 0x03, 1, 2, 0xFF],
    ]);
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let region = base..base + buf.len();
    let Some(Packet::Connect(c)) = Packet::decode(&mut buf, &from_client(V3_1_1)).unwrap() else {
        panic!("expected a CONNECT");
    };
    let will = c.will.as_ref().unwrap();
    assert_inside(region.clone(), "will payload", &will.payload);
    assert_inside(region.clone(), "will topic", will.topic.as_bytes());
    assert_inside(region.clone(), "client id", c.client_id.as_bytes());
    assert_inside(region, "password", c.password.as_ref().unwrap());
}
