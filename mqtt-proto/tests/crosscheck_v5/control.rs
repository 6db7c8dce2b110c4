//! PINGREQ, PINGRESP, DISCONNECT and AUTH.

use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, Bytes, Disconnect, DisconnectProperties,
    DisconnectReasonCode, Packet,
};

use crate::{b, crosscheck, encode_ours, many_users, s, users, Sender, BOTH};

// ---- PINGREQ, PINGRESP --------------------------------------------------------------------

#[test]
fn pingreq_pingresp() {
    crosscheck(Packet::PingReq, Sender::Client);
    crosscheck(Packet::PingResp, Sender::Server);
}

// ---- DISCONNECT ---------------------------------------------------------------------------

#[test]
fn disconnect_every_reason_code() {
    let client_props = [
        DisconnectProperties::default(),
        DisconnectProperties {
            session_expiry_interval: Some(0),
            reason_string: Some(s("bye")),
            server_reference: None,
            user_properties: many_users(),
        },
    ];
    let server_props = [
        DisconnectProperties::default(),
        DisconnectProperties {
            session_expiry_interval: None,
            reason_string: Some(s("maintenance")),
            server_reference: Some(s("backup.example")),
            user_properties: users(&[("retry-after", "30")]),
        },
    ];
    for &reason_code in DisconnectReasonCode::ALL {
        for properties in &client_props {
            crosscheck(
                Packet::Disconnect(Disconnect {
                    reason_code,
                    properties: properties.clone(),
                }),
                Sender::Client,
            );
        }
        for properties in &server_props {
            crosscheck(
                Packet::Disconnect(Disconnect {
                    reason_code,
                    properties: properties.clone(),
                }),
                Sender::Server,
            );
        }
    }
}

#[test]
fn disconnect_session_expiry_alone() {
    crosscheck(
        Packet::Disconnect(Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
            properties: DisconnectProperties {
                session_expiry_interval: Some(u32::MAX),
                ..Default::default()
            },
        }),
        Sender::Client,
    );
}

// ---- AUTH ---------------------------------------------------------------------------------

#[test]
fn auth_every_reason_code() {
    // The shortest AUTH: Success, no properties, remaining length 0.
    let bare = Packet::Auth(Auth {
        reason_code: AuthReasonCode::Success,
        properties: AuthProperties::default(),
    });
    assert_eq!(&encode_ours(&bare)[..], &[0xF0, 0x00]);
    for from in BOTH {
        crosscheck(bare.clone(), from);
    }

    let property_sets = [
        AuthProperties {
            authentication_method: Some(s("SCRAM-SHA-1")),
            ..Default::default()
        },
        AuthProperties {
            authentication_method: Some(s("SCRAM-SHA-1")),
            authentication_data: Some(b(b"\x00r=fyko+d2lbbFgONRv9qkxdawL\xff")),
            ..Default::default()
        },
        AuthProperties {
            authentication_method: Some(s("GS2-KRB5")),
            authentication_data: Some(Bytes::new()),
            reason_string: Some(s("step \u{2461}")),
            user_properties: many_users(),
        },
    ];
    for &reason_code in AuthReasonCode::ALL {
        for properties in &property_sets {
            for from in BOTH {
                crosscheck(
                    Packet::Auth(Auth {
                        reason_code,
                        properties: properties.clone(),
                    }),
                    from,
                );
            }
        }
    }
}
