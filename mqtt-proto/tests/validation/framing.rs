//! Framing: the fixed header, variable byte integers, packet size, trailing bytes, and
//! which side may send which packet.

use mqtt_proto::{
    parse_fixed_header, BytesMut, DecodeError, DecodeOptions, Packet, PacketType, QoS, ReasonCode,
    MAX_PACKET_SIZE,
};

use crate::{
    accept, cat, client, connect3, connect5, decode, frame, props, publish3, publish5, publish_of,
    reject, s, server, subscribe3, subscribe5, unsubscribe3, V31, V311, V5,
};

// ---- framing ----------------------------------------------------------------------------------

#[test]
fn varint_with_fifth_byte_is_0x81_mqtt_1_5_5_1() {
    let e = DecodeError::VarIntTooLong;
    // In the fixed header, decided as soon as the fourth continuation byte is seen.
    reject(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], &server(V5), e, 0x81);
    reject(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], &server(V5), e, 0x81);
    reject(&[0xC0, 0x80, 0x80, 0x80, 0x80, 0x00], &server(V5), e, 0x81);
    // In a property length.
    let body = cat(&[&s(b"t"), &[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]]);
    reject(&frame(0x30, &body), &server(V5), e, 0x81);
    // In a Subscription Identifier.
    let sub = subscribe5(1, &[0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], &[(b"t", 0)]);
    reject(&sub, &server(V5), e, 0x81);
}

#[test]
fn varint_not_minimal_is_0x81_mqtt_1_5_5_1() {
    let e = DecodeError::VarIntNotMinimal;
    reject(&[0x30, 0x80, 0x00], &server(V5), e, 0x81);
    reject(&[0xC0, 0x80, 0x80, 0x00], &server(V5), e, 0x81);
    reject(&[0xE0, 0x80, 0x80, 0x80, 0x00], &server(V5), e, 0x81);
    // 0x85 0x00 is 5 written in two bytes.
    reject(&[0x40, 0x85, 0x00, 0, 1, 0, 0, 0], &server(V5), e, 0x81);
    // Property length 0 written as 80 00.
    reject(
        &[0x40, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00],
        &server(V5),
        e,
        0x81,
    );
    // Subscription Identifier 1 written as 81 00.
    let sub = subscribe5(1, &[0x0B, 0x81, 0x00], &[(b"t", 0)]);
    reject(&sub, &server(V5), e, 0x81);
    // Minimal multi-byte lengths are fine: 128 is 80 01.
    let p = cat(&[&[0x30, 0x80, 0x01], &s(b"t"), &[0x00], &[b'x'; 124]]);
    assert_eq!(publish_of(accept(&p, &server(V5))).payload.len(), 124);
}

#[test]
fn packet_too_large_is_0x95_decided_from_header_alone_mqtt_3_1_2_24() {
    let mut opts = server(V5);
    opts.max_packet_size = 128;
    // 2 header bytes + 127 = 129 > 128, with none of the body present.
    for (header, size) in [
        (&[0x30, 0x7F][..], 129),
        (&[0x30, 0x80, 0x01][..], 131),
        (&[0x10, 0xFF, 0xFF, 0xFF, 0x7F][..], 268_435_460),
    ] {
        let mut buf = BytesMut::from(header);
        let cap = buf.capacity();
        let want = DecodeError::PacketTooLarge { size, max: 128 };
        assert_eq!(Packet::decode(&mut buf, &opts), Err(want));
        assert_eq!(want.reason_code(), ReasonCode(0x95));
        assert_eq!(&buf[..], header, "nothing consumed");
        assert_eq!(buf.capacity(), cap, "nothing reserved for the body");
        assert_eq!(parse_fixed_header(header, &opts), Err(want));
    }
    // Exactly the limit is allowed: 2 + 126 = 128 waits for the body.
    assert_eq!(decode(&[0x30, 0x7E], &opts), Ok(None));
    // The protocol maximum is the default.
    assert_eq!(server(V5).max_packet_size, MAX_PACKET_SIZE);
    assert_eq!(MAX_PACKET_SIZE, 268_435_460);
}

#[test]
fn packet_type_0_is_reserved_0x81_mqtt_2_1_2() {
    for first in [0x00, 0x01, 0x0F] {
        reject(
            &[first, 0x00],
            &server(V5),
            DecodeError::ReservedPacketType,
            0x81,
        );
        reject(
            &[first, 0x00],
            &client(V5),
            DecodeError::ReservedPacketType,
            0x81,
        );
    }
}

/// The packet type, its one legal flag nibble, and options for the side that may send it.
fn non_publish_types() -> Vec<(PacketType, u8, DecodeOptions)> {
    use PacketType::*;
    vec![
        (Connect, 0, server(V5)),
        (ConnAck, 0, client(V5)),
        (PubAck, 0, server(V5)),
        (PubRec, 0, server(V5)),
        (PubRel, 2, server(V5)),
        (PubComp, 0, server(V5)),
        (Subscribe, 2, server(V5)),
        (SubAck, 0, client(V5)),
        (Unsubscribe, 2, server(V5)),
        (UnsubAck, 0, client(V5)),
        (PingReq, 0, server(V5)),
        (PingResp, 0, client(V5)),
        (Disconnect, 0, server(V5)),
        (Auth, 0, server(V5)),
    ]
}

#[test]
fn reserved_header_flags_of_every_non_publish_type_are_0x81_mqtt_2_1_3_1() {
    for (t, good, opts) in non_publish_types() {
        for flags in (0u8..16).filter(|f| *f != good) {
            let first = ((t as u8) << 4) | flags;
            reject(
                &[first, 0x00],
                &opts,
                DecodeError::InvalidHeaderFlags(t),
                0x81,
            );
            // Decided from the header, whatever the claimed length.
            reject(
                &[first, 0xFF, 0x7F],
                &opts,
                DecodeError::InvalidHeaderFlags(t),
                0x81,
            );
        }
        let first = ((t as u8) << 4) | good;
        let h = parse_fixed_header(&[first, 0x00], &opts).unwrap().unwrap();
        assert_eq!((h.packet_type, h.flags), (t, good));
    }
}

#[test]
fn publish_qos3_is_0x81_mqtt_3_3_1_4() {
    for first in [0x36, 0x37, 0x3E, 0x3F] {
        let p = publish5(first, b"t", Some(1), &[], b"");
        reject(&p, &server(V5), DecodeError::PublishQos3, 0x81);
        reject(&p, &client(V5), DecodeError::PublishQos3, 0x81);
        // Decided from the header, before the body arrives.
        reject(
            &[first, 0x7F],
            &server(V311),
            DecodeError::PublishQos3,
            0x81,
        );
    }
}

#[test]
fn publish_dup_on_qos0_is_0x81_mqtt_3_3_1_2() {
    for first in [0x38, 0x39] {
        reject(
            &publish5(first, b"t", None, &[], b""),
            &server(V5),
            DecodeError::DupOnQos0,
            0x81,
        );
        reject(
            &publish3(first, b"t", None, b""),
            &server(V311),
            DecodeError::DupOnQos0,
            0x81,
        );
    }
    // DUP on QoS 1 and 2 is fine.
    let p = publish_of(accept(
        &publish5(0x3A, b"t", Some(7), &[], b""),
        &server(V5),
    ));
    assert!(p.dup);
    assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
    assert!(
        publish_of(accept(
            &publish5(0x3C, b"t", Some(7), &[], b""),
            &server(V5)
        ))
        .dup
    );
}

#[test]
fn field_past_end_of_packet_is_truncated_0x81_mqtt_1_5() {
    let e = DecodeError::Truncated;
    // Topic length prefix cut short.
    reject(&[0x30, 0x01, 0x00], &server(V5), e, 0x81);
    // Topic longer than the packet.
    reject(&[0x30, 0x03, 0x00, 0x05, b't'], &server(V311), e, 0x81);
    // Packet identifier cut short.
    reject(&[0x40, 0x01, 0x00], &server(V5), e, 0x81);
    reject(
        &[0x32, 0x04, 0x00, 0x01, b't', 0x00],
        &server(V311),
        e,
        0x81,
    );
    // CONNECT ending inside the client identifier.
    let mut c = connect3(0x02, &s(b"client"));
    c.truncate(c.len() - 2);
    c[1] -= 2;
    reject(&c, &server(V311), e, 0x81);
    // CONNECT ending before the protocol level.
    reject(&frame(0x10, &s(b"MQTT")), &server(V5), e, 0x81);
}

#[test]
fn trailing_bytes_are_0x81_mqtt_2_1_4() {
    use PacketType::*;
    let cases: Vec<(Vec<u8>, DecodeOptions, PacketType)> = vec![
        (vec![0xC0, 0x01, 0x00], server(V5), PingReq),
        (vec![0xD0, 0x01, 0x00], client(V5), PingResp),
        (vec![0x40, 0x03, 0x00, 0x01, 0x00], server(V311), PubAck),
        (vec![0x50, 0x03, 0x00, 0x01, 0x00], server(V311), PubRec),
        (
            vec![0x62, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
            server(V5),
            PubRel,
        ),
        (
            vec![0x70, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
            server(V5),
            PubComp,
        ),
        (
            vec![0x20, 0x04, 0x00, 0x00, 0x00, 0x00],
            client(V5),
            ConnAck,
        ),
        (vec![0x20, 0x03, 0x00, 0x00, 0x00], client(V311), ConnAck),
        (vec![0xB0, 0x03, 0x00, 0x01, 0x00], client(V311), UnsubAck),
        (vec![0xE0, 0x01, 0x00], server(V311), Disconnect),
        (vec![0xE0, 0x03, 0x00, 0x00, 0x00], server(V5), Disconnect),
        (vec![0xF0, 0x03, 0x00, 0x00, 0x00], server(V5), Auth),
        (
            connect3(0x02, &cat(&[&s(b"c"), &[0x00]])),
            server(V311),
            Connect,
        ),
        (
            connect5(0x02, &[], &cat(&[&s(b"c"), &[0x00]])),
            server(V5),
            Connect,
        ),
    ];
    for (bytes, opts, t) in cases {
        reject(&bytes, &opts, DecodeError::TrailingBytes(t), 0x81);
    }
}

#[test]
fn client_sending_server_only_packets_is_0x82_mqtt_4_13() {
    use PacketType::*;
    for v in [V5, V311, V31] {
        for (bytes, t) in [
            (&[0x20, 0x02, 0x00, 0x00][..], ConnAck),
            (&[0x90, 0x03, 0x00, 0x01, 0x00][..], SubAck),
            (&[0xB0, 0x02, 0x00, 0x01][..], UnsubAck),
            (&[0xD0, 0x00][..], PingResp),
        ] {
            reject(bytes, &server(v), DecodeError::UnexpectedPacket(t), 0x82);
        }
    }
}

#[test]
fn server_sending_client_only_packets_is_0x82_mqtt_4_13() {
    use PacketType::*;
    for v in [V5, V311] {
        for (bytes, t) in [
            (connect3(0x02, &s(b"c")), Connect),
            (subscribe3(1, &[(b"t", 0)]), Subscribe),
            (unsubscribe3(1, &[b"t"]), Unsubscribe),
            (vec![0xC0, 0x00], PingReq),
        ] {
            reject(&bytes, &client(v), DecodeError::UnexpectedPacket(t), 0x82);
        }
    }
}

#[test]
fn auth_before_mqtt5_is_refused_0x82_mqtt_3_15() {
    for v in [V311, V31] {
        for opts in [server(v), client(v)] {
            reject(
                &[0xF0, 0x00],
                &opts,
                DecodeError::UnexpectedPacket(PacketType::Auth),
                0x82,
            );
        }
    }
    // AUTH exists on MQTT 5, from either side.
    assert!(matches!(
        accept(&[0xF0, 0x00], &server(V5)),
        Packet::Auth(_)
    ));
    let a = frame(0xF0, &cat(&[&[0x18], &props(&cat(&[&[0x15], &s(b"m")]))]));
    assert!(matches!(accept(&a, &client(V5)), Packet::Auth(_)));
}

#[test]
fn auth_without_authentication_method_is_0x82_mqtt_3_15_2_2_2() {
    let e = DecodeError::AuthMethodMissing;
    // Continue authentication / re-authenticate with no properties, or only data.
    reject(&[0xF0, 0x01, 0x18], &server(V5), e, 0x82);
    reject(&[0xF0, 0x02, 0x19, 0x00], &client(V5), e, 0x82);
    let data_only = frame(0xF0, &cat(&[&[0x18], &props(&cat(&[&[0x16], &s(b"d")]))]));
    reject(&data_only, &server(V5), e, 0x82);
    // Success that carries properties is not the bare form: it needs the method too.
    let reason_only = frame(0xF0, &cat(&[&[0x00], &props(&cat(&[&[0x1F], &s(b"r")]))]));
    reject(&reason_only, &client(V5), e, 0x82);
    // The bare Success form, and any AUTH naming its method, decode.
    accept(&[0xF0, 0x00], &server(V5));
    accept(&[0xF0, 0x01, 0x00], &server(V5));
    let with_method = frame(0xF0, &cat(&[&[0x19], &props(&cat(&[&[0x15], &s(b"m")]))]));
    assert!(matches!(accept(&with_method, &server(V5)), Packet::Auth(_)));
}
