//! PINGREQ, PINGRESP, DISCONNECT and AUTH vectors.

use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, BytesMut, DecodeError, Disconnect, DisconnectProperties,
    DisconnectReasonCode, EncodeError, Packet, PacketType, UserProperties,
};

use crate::{b, cat, decode_only, from_client, from_server, s, user, vector, V3};

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
    // Remaining length 1: a reason code alone is valid (§3.14.2.2.1) and decodes; we write
    // the property length too (`E0 02 8E 00`), since rumqttc 0.25 waits for it.
    decode_only(
        &[0xE0, 0x01, 0x04],
        &from_client(V5),
        &Disconnect::new(DisconnectReasonCode::DisconnectWithWillMessage).into(),
        &[0xE0, 0x02, 0x04, 0x00],
    );
    decode_only(
        &[0xE0, 0x01, 0x8E],
        &from_server(V5),
        &Disconnect::new(DisconnectReasonCode::SessionTakenOver).into(),
        &[0xE0, 0x02, 0x8E, 0x00],
    );
    vector(
        &[0xE0, 0x02, 0x8E, 0x00],
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
