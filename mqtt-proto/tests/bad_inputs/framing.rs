//! Rows 1–11: framing, encoding, CONNECT flags, UTF-8 and topic names.

use mqtt_proto::{
    BytesMut, ConnectReasonCode, ControlChars, DecodeError, Packet, PacketType, ReasonCode,
};

use super::*;

// ---- framing and encoding ---------------------------------------------------------------------

/// Row 1: a fifth remaining-length byte is malformed.
#[test]
fn row_01_remaining_length_fifth_byte_is_0x81_mqtt_1_5_5_1() {
    let bytes = [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
    reject(&bytes, &server(V5), DecodeError::VarIntTooLong, 0x81);
    reject(&bytes, &server(V311), DecodeError::VarIntTooLong, 0x81);
    // Decided as soon as four continuation bytes are in, without waiting for the fifth.
    assert_eq!(
        decode_no_growth(&bytes[..5], &server(V5)),
        Err(DecodeError::VarIntTooLong)
    );
}

/// Row 2: a length above the configured maximum is 0x95 with only the header buffered, and
/// nothing is allocated for the body.
#[test]
fn row_02_remaining_length_above_configured_max_is_0x95_before_the_body() {
    let mut opts = server(V5);
    opts.max_packet_size = 1024 * 1024;
    for (header, size) in [
        // 268,435,455: the largest length a header can claim.
        (&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..], 268_435_460u64),
        (&[0x10, 0xFF, 0xFF, 0xFF, 0x7F][..], 268_435_460),
        // 1,048,576 + 4 header bytes: just over 1 MiB.
        (&[0x30, 0x80, 0x80, 0x40][..], 1_048_580),
    ] {
        let want = DecodeError::PacketTooLarge {
            size,
            max: 1024 * 1024,
        };
        assert_eq!(decode_no_growth(header, &opts), Err(want));
        assert_eq!(want.reason_code(), ReasonCode(0x95));
    }
    // A few body bytes after the header change nothing.
    let with_body = [0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, b't'];
    assert!(matches!(
        decode_no_growth(&with_body, &opts),
        Err(DecodeError::PacketTooLarge { .. })
    ));
}

/// Row 2: "above 268,435,455" cannot be written in four length bytes; the only way to claim it
/// is a fifth byte, which row 1 refuses. The maximum itself, under the default (protocol)
/// limit, is buffered lazily.
#[test]
fn row_02_remaining_length_above_268435455_is_refused_mqtt_1_5_5_1() {
    reject(
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        &server(V5),
        DecodeError::VarIntTooLong,
        0x81,
    );
    assert_eq!(
        decode_no_growth(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], &server(V5)),
        Ok(None)
    );
}

/// Row 3: policy — a non-minimal remaining length is rejected as malformed.
#[test]
fn row_03_non_minimal_remaining_length_is_rejected_0x81_mqtt_1_5_5_1() {
    for bytes in [
        &[0x30, 0x80, 0x00][..],
        &[0xC0, 0x80, 0x00],
        &[0xE0, 0x80, 0x80, 0x00],
        &[0x10, 0x80, 0x80, 0x80, 0x00],
        // 5 written in two bytes, with the body present.
        &[0xC0, 0x85, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ] {
        reject(bytes, &server(V5), DecodeError::VarIntNotMinimal, 0x81);
        reject(bytes, &server(V311), DecodeError::VarIntNotMinimal, 0x81);
    }
    // The minimal forms are accepted.
    assert_eq!(accept(&[0xC0, 0x00], &server(V5)), Packet::PingReq);
}

/// Row 4 (codec part): a large claimed length followed by a few bytes is "need more": nothing
/// is consumed and the claimed size is not reserved. The core adds the read timeout.
#[test]
fn row_04_claimed_length_with_few_bytes_needs_more_and_reserves_nothing() {
    // 65,535 claimed, 10 bytes sent.
    let mut bytes = vec![0x30, 0xFF, 0xFF, 0x03, 0x00, 0x01, b't', 0x00];
    bytes.extend_from_slice(b"abcdef");
    assert_eq!(decode_no_growth(&bytes, &server(V5)), Ok(None));
    // The protocol maximum, under the default limit.
    let big = [0x10, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x04, b'M', b'Q'];
    assert_eq!(decode_no_growth(&big, &server(V5)), Ok(None));
    // Feeding more, still short, is still "need more" with no growth beyond what arrived.
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&bytes);
    for _ in 0..3 {
        buf.extend_from_slice(b"0123456789");
        let cap = buf.capacity();
        let len = buf.len();
        assert_eq!(Packet::decode(&mut buf, &server(V5)), Ok(None));
        assert_eq!((buf.len(), buf.capacity()), (len, cap));
    }
}

/// Row 7: server-only packets sent by a client are a protocol error.
#[test]
fn row_07_client_sends_connack_suback_unsuback_pingresp_is_0x82() {
    for v in [V5, V311] {
        for (bytes, t) in [
            (&[0x20, 0x02, 0x00, 0x00][..], PacketType::ConnAck),
            (&[0x90, 0x03, 0x00, 0x01, 0x00][..], PacketType::SubAck),
            (&[0xB0, 0x02, 0x00, 0x01][..], PacketType::UnsubAck),
            (&[0xD0, 0x00][..], PacketType::PingResp),
        ] {
            reject(bytes, &server(v), DecodeError::UnexpectedPacket(t), 0x82);
        }
    }
}

/// Row 8: `31` (PUBLISH, QoS 0, RETAIN) is fine.
#[test]
fn row_08_publish_31_is_fine() {
    match accept(&publish5(0x31, b"t", None, &[]), &server(V5)) {
        Packet::Publish(p) => assert!(p.retain && !p.dup),
        other => panic!("{other:?}"),
    }
}

/// Row 8: `C1` is PINGREQ with a reserved flag set.
#[test]
fn row_08_c1_reserved_flags_is_0x81_mqtt_2_1_3_1() {
    reject(
        &[0xC1, 0x00],
        &server(V5),
        DecodeError::InvalidHeaderFlags(PacketType::PingReq),
        0x81,
    );
}

/// Row 8: SUBSCRIBE must carry flags 0010 (`82`); any other nibble is malformed.
#[test]
fn row_08_82_subscribe_with_wrong_flags_is_0x81_mqtt_2_1_3_1() {
    let good = subscribe5(1, &[], &[(b"t", 0)]);
    assert!(matches!(accept(&good, &server(V5)), Packet::Subscribe(_)));
    for first in [0x80, 0x81, 0x83, 0x86, 0x8A, 0x8F] {
        let mut bad = good.clone();
        bad[0] = first;
        reject(
            &bad,
            &server(V5),
            DecodeError::InvalidHeaderFlags(PacketType::Subscribe),
            0x81,
        );
    }
}

/// Row 8: `38` is DUP on a QoS 0 PUBLISH.
#[test]
fn row_08_38_dup_on_qos0_is_0x81_mqtt_3_3_1_2() {
    reject(
        &publish5(0x38, b"t", None, &[]),
        &server(V5),
        DecodeError::DupOnQos0,
        0x81,
    );
    reject(
        &publish3(0x38, b"t", None),
        &server(V311),
        DecodeError::DupOnQos0,
        0x81,
    );
}

/// Row 8: `36` is a PUBLISH with QoS 3.
#[test]
fn row_08_36_publish_qos3_is_0x81_mqtt_3_3_1_4() {
    reject(
        &publish5(0x36, b"t", Some(1), &[]),
        &server(V5),
        DecodeError::PublishQos3,
        0x81,
    );
    // Refused from the header alone.
    assert_eq!(
        decode_no_growth(&[0x36, 0x7F], &server(V311)),
        Err(DecodeError::PublishQos3)
    );
}

/// Row 9: the reserved CONNECT flag.
#[test]
fn row_09_connect_reserved_bit_is_0x81_mqtt_3_1_2_3() {
    reject(
        &connect(5, 0x03, Some(&[]), &s(b"c")),
        &server(V5),
        DecodeError::ConnectReservedFlag,
        0x81,
    );
    reject(
        &connect(4, 0x01, None, &s(b"c")),
        &server(V311),
        DecodeError::ConnectReservedFlag,
        0x81,
    );
}

/// Row 9: will QoS 3.
#[test]
fn row_09_connect_will_qos3_is_0x81_mqtt_3_1_2_12() {
    let will = cat(&[&s(b"c"), &[0x00], &s(b"w"), &s(b"p")]);
    reject(
        &connect(5, 0x1E, Some(&[]), &will),
        &server(V5),
        DecodeError::WillQos3,
        0x81,
    );
}

/// Row 9: will flag 0 with will QoS or will retain set.
#[test]
fn row_09_connect_will_qos_or_retain_without_will_is_0x81_mqtt_3_1_2_11_and_13() {
    for flags in [0x0A, 0x12, 0x22, 0x2A] {
        reject(
            &connect(5, flags, Some(&[]), &s(b"c")),
            &server(V5),
            DecodeError::WillFlagsWithoutWill,
            0x81,
        );
        reject(
            &connect(4, flags, None, &s(b"c")),
            &server(V311),
            DecodeError::WillFlagsWithoutWill,
            0x81,
        );
    }
}

/// Row 9: a bad protocol name.
#[test]
fn row_09_connect_bad_protocol_name_is_0x81_mqtt_3_1_2_1() {
    let body = cat(&[&s(b"MQTTX"), &[0x05, 0x02, 0x00, 0x3C, 0x00], &s(b"c")]);
    reject(
        &frame(0x10, &body),
        &server(V5),
        DecodeError::InvalidProtocolName,
        0x81,
    );
}

/// Row 9: an unknown protocol level → CONNACK 0x84, or v3 return code 0x01.
#[test]
fn row_09_connect_unknown_level_is_connack_0x84_or_v3_0x01_mqtt_3_1_2_2() {
    for level in [0, 2, 6, 7, 0xFF] {
        reject(
            &connect(level, 0x02, None, &s(b"c")),
            &server(V5),
            DecodeError::UnsupportedProtocolVersion(level),
            0x84,
        );
    }
    assert_eq!(
        ConnectReasonCode::UnsupportedProtocolVersion
            .to_v3()
            .as_u8(),
        0x01
    );
}

/// Row 10: U+0000.
#[test]
fn row_10_utf8_null_is_0x81_mqtt_1_5_4_2() {
    reject(
        &publish5(0x30, b"a\x00b", None, &[]),
        &server(V5),
        DecodeError::Utf8Null,
        0x81,
    );
    reject(
        &connect(4, 0x02, None, &s(b"id\x00")),
        &server(V311),
        DecodeError::Utf8Null,
        0x81,
    );
    let mut allow = server(V5);
    allow.control_chars = ControlChars::Allow;
    reject(
        &connect(5, 0x02, Some(&user(b"k", b"\x00")), &s(b"c")),
        &allow,
        DecodeError::Utf8Null,
        0x81,
    );
}

/// Row 10: surrogates (`ED A0 80`).
#[test]
fn row_10_utf8_surrogate_ed_a0_80_is_0x81_mqtt_1_5_4_1() {
    reject(
        &publish5(0x30, b"a\xED\xA0\x80", None, &[]),
        &server(V5),
        DecodeError::InvalidUtf8,
        0x81,
    );
    reject(
        &connect(5, 0x02, Some(&[]), &s(b"\xED\xA0\x80")),
        &server(V5),
        DecodeError::InvalidUtf8,
        0x81,
    );
    reject(
        &connect(5, 0x02, Some(&user(b"\xED\xBF\xBF", b"v")), &s(b"c")),
        &server(V5),
        DecodeError::InvalidUtf8,
        0x81,
    );
}

/// Row 10: overlong forms.
#[test]
fn row_10_utf8_overlong_is_0x81_mqtt_1_5_4_1() {
    for seq in [
        &b"\xC0\xAF"[..],
        b"\xE0\x80\xAF",
        b"\xC0\x80",
        b"\xF0\x80\x80\xAF",
    ] {
        reject(
            &publish5(0x30, seq, None, &[]),
            &server(V5),
            DecodeError::InvalidUtf8,
            0x81,
        );
        reject(
            &subscribe5(1, &[], &[(seq, 0)]),
            &server(V5),
            DecodeError::InvalidUtf8,
            0x81,
        );
    }
}

/// Row 10: truncated sequences.
#[test]
fn row_10_utf8_truncated_sequence_is_0x81_mqtt_1_5_4_1() {
    for seq in [&b"a\xC3"[..], b"a\xE2\x82", b"a\xF0\x9F\x98"] {
        reject(
            &publish5(0x30, seq, None, &[]),
            &server(V5),
            DecodeError::InvalidUtf8,
            0x81,
        );
        reject(
            &connect(5, 0x02, Some(&user(b"k", seq)), &s(b"c")),
            &server(V5),
            DecodeError::InvalidUtf8,
            0x81,
        );
    }
}

/// Row 10: policy — U+0001..U+001F and U+007F..U+009F are rejected by default, accepted when
/// configured with `ControlChars::Allow`.
#[test]
fn row_10_utf8_control_characters_policy_reject_by_default() {
    let mut allow = server(V5);
    allow.control_chars = ControlChars::Allow;
    assert_eq!(server(V5).control_chars, ControlChars::Reject);
    for seq in [&b"\x01"[..], b"\x1F", b"\x7F", b"\xC2\x80", b"\xC2\x9F"] {
        let topic = cat(&[b"a", seq]);
        let p = publish5(0x30, &topic, None, &[]);
        reject(&p, &server(V5), DecodeError::Utf8ControlCharacter, 0x81);
        match accept(&p, &allow) {
            Packet::Publish(got) => assert_eq!(got.topic.as_bytes(), &topic[..]),
            other => panic!("{other:?}"),
        }
    }
    // Just outside the ranges.
    accept(&publish5(0x30, b"a \x7E\xC2\xA0", None, &[]), &server(V5));
}

/// Row 11: wildcards in a PUBLISH topic.
#[test]
fn row_11_publish_topic_wildcard_is_0x90_mqtt_3_3_2_2() {
    for topic in [&b"a/+"[..], b"a/#", b"#", b"+/b"] {
        reject(
            &publish5(0x30, topic, None, &[]),
            &server(V5),
            DecodeError::TopicNameWildcard,
            0x90,
        );
        reject(
            &publish3(0x32, topic, Some(1)),
            &server(V311),
            DecodeError::TopicNameWildcard,
            0x90,
        );
    }
}

/// Row 11: an empty topic with no topic alias.
#[test]
fn row_11_publish_empty_topic_without_alias_is_0x82_mqtt_4_7_3_1() {
    reject(
        &publish5(0x30, b"", None, &[]),
        &server(V5),
        DecodeError::TopicNameEmpty,
        0x82,
    );
    reject(
        &publish3(0x30, b"", None),
        &server(V311),
        DecodeError::TopicNameEmpty,
        0x82,
    );
}
