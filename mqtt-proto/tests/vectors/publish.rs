//! PUBLISH, PUBACK, PUBREC, PUBREL and PUBCOMP vectors.

use mqtt_proto::ProtocolVersion::V5;
use mqtt_proto::{
    AckProperties, BytesMut, DecodeError, Packet, PacketType, PubAck, PubAckReasonCode, PubComp,
    PubRec, PubRel, PubRelReasonCode, Publish, PublishProperties, QosPid, UserProperties,
};
use smallvec::{smallvec, SmallVec};

use crate::{b, cat, decode_only, from_client, from_server, nz32, pid, s, user, vector, V3};

// ---- PUBLISH ---------------------------------------------------------------------------------

pub(crate) fn publish(qos_pid: QosPid, topic: &'static str, payload: &'static [u8]) -> Publish {
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

pub(crate) fn publish_v5_props_bytes() -> Vec<u8> {
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

pub(crate) fn publish_v5_props_expected() -> Publish {
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
