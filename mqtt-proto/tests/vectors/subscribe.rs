//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK vectors.

use mqtt_proto::ProtocolVersion::{V3_1_1, V5};
use mqtt_proto::{
    AckProperties, BytesMut, DecodeError, Packet, PacketType, QoS, RetainHandling, SubAck,
    SubAckReasonCode, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions, UnsubAck,
    UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties, UserProperties,
};
use smallvec::{smallvec, SmallVec};

use crate::{cat, from_client, from_server, nz32, pid, s, user, vector, V3};

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
