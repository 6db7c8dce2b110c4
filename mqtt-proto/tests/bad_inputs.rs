#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The rows of `shared/bad-inputs.md` that the codec decides on its own, one test per row (or
//! per item of a row), each sending the row's bytes. Rows the broker core decides in part
//! (4, 12, 15, 19) test the codec's share here and say what the core adds.

use mqtt_proto::topic::{parse_filter, TopicError};
use mqtt_proto::{
    BytesMut, ConnectReasonCode, ControlChars, DecodeError, DecodeOptions, Packet, PacketType,
    ProtocolVersion, ReasonCode, SubAckReasonCode, DEFAULT_MAX_USER_PROPERTIES,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

// ---- byte builders ----------------------------------------------------------------------------

fn vbi(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

fn s(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    cat(&[&[first], &vbi(body.len()), body])
}

fn props(p: &[u8]) -> Vec<u8> {
    cat(&[&vbi(p.len()), p])
}

fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
    cat(&[&[0x26], &s(k), &s(v)])
}

/// CONNECT "MQTT" at `level` with keep alive 60; properties only on MQTT 5.
fn connect(level: u8, flags: u8, properties: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut b = cat(&[&s(b"MQTT"), &[level, flags, 0x00, 0x3C]]);
    if let Some(p) = properties {
        b.extend(props(p));
    }
    b.extend_from_slice(payload);
    frame(0x10, &b)
}

fn publish5(first: u8, topic: &[u8], pid: Option<u16>, properties: &[u8]) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend(props(properties));
    b.extend_from_slice(b"payload");
    frame(first, &b)
}

fn publish3(first: u8, topic: &[u8], pid: Option<u16>) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend_from_slice(b"payload");
    frame(first, &b)
}

fn subscribe5(pid: u16, properties: &[u8], entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = cat(&[&pid.to_be_bytes(), &props(properties)]);
    for (f, o) in entries {
        b.extend(s(f));
        b.push(*o);
    }
    frame(0x82, &b)
}

// ---- decode helpers ---------------------------------------------------------------------------

fn server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

fn client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

#[track_caller]
fn accept(bytes: &[u8], opts: &DecodeOptions) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let p = match Packet::decode(&mut buf, opts) {
        Ok(Some(p)) => p,
        other => panic!("{bytes:02X?} should decode, got {other:?}"),
    };
    assert!(buf.is_empty(), "frame not fully consumed");
    p
}

/// Asserts the exact error, its reason code, and that `buf` is left as it was.
#[track_caller]
fn reject(bytes: &[u8], opts: &DecodeOptions, want: DecodeError, code: u8) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(
        Packet::decode(&mut buf, opts),
        Err(want),
        "bytes {bytes:02X?}"
    );
    assert_eq!(&buf[..], bytes);
    assert_eq!(want.reason_code(), ReasonCode(code), "{want:?}");
}

/// Puts `bytes` in a buffer with spare room, decodes, and checks that the decoder neither
/// consumed nor reserved anything. Returns the decode result.
#[track_caller]
fn decode_no_growth(bytes: &[u8], opts: &DecodeOptions) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(bytes);
    let cap = buf.capacity();
    let got = Packet::decode(&mut buf, opts);
    assert_eq!(&buf[..], bytes, "nothing consumed");
    assert_eq!(buf.capacity(), cap, "nothing reserved for the claimed body");
    got
}

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

// ---- properties and identifiers ---------------------------------------------------------------

/// Row 12: topic alias 0.
#[test]
fn row_12_topic_alias_0_is_0x94_mqtt_3_3_2_8() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    reject(
        &publish5(0x30, b"t", None, &[0x23, 0x00, 0x00]),
        &opts,
        DecodeError::TopicAliasZero,
        0x94,
    );
}

/// Row 12: a topic alias above the advertised Topic Alias Maximum.
#[test]
fn row_12_topic_alias_above_maximum_is_0x94_mqtt_3_3_2_9() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    reject(
        &publish5(0x30, b"t", None, &[0x23, 0x00, 0x0B]),
        &opts,
        DecodeError::TopicAliasTooLarge { alias: 11, max: 10 },
        0x94,
    );
}

/// Row 12 (codec part): an empty topic with an in-range alias decodes. Whether the alias is
/// known is connection state: the broker core answers an unknown one with 0x82.
#[test]
fn row_12_unknown_alias_with_empty_topic_decodes_core_answers_0x82() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    match accept(&publish5(0x30, b"", None, &[0x23, 0x00, 0x07]), &opts) {
        Packet::Publish(p) => {
            assert!(p.topic.is_empty());
            assert_eq!(p.properties.topic_alias.map(|a| a.get()), Some(7));
        }
        other => panic!("{other:?}"),
    }
}

/// Row 13: a property allowed once, sent twice.
#[test]
fn row_13_duplicate_property_is_0x82_mqtt_2_2_2() {
    let twice = [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2];
    reject(
        &connect(5, 0x02, Some(&twice), &s(b"c")),
        &server(V5),
        DecodeError::DuplicateProperty(0x11),
        0x82,
    );
    reject(
        &publish5(0x30, b"t", None, &[0x01, 0, 0x01, 1]),
        &server(V5),
        DecodeError::DuplicateProperty(0x01),
        0x82,
    );
}

/// Row 13: a property not allowed in that packet type.
#[test]
fn row_13_property_not_allowed_in_packet_is_0x82_mqtt_2_2_2() {
    reject(
        &connect(5, 0x02, Some(&[0x23, 0x00, 0x01]), &s(b"c")),
        &server(V5),
        DecodeError::PropertyNotAllowed {
            id: 0x23,
            packet: PacketType::Connect,
        },
        0x82,
    );
    reject(
        &publish5(0x30, b"t", None, &[0x11, 0, 0, 0, 1]),
        &server(V5),
        DecodeError::PropertyNotAllowed {
            id: 0x11,
            packet: PacketType::Publish,
        },
        0x82,
    );
    reject(
        &subscribe5(1, &[0x21, 0x00, 0x01], &[(b"t", 0)]),
        &server(V5),
        DecodeError::PropertyNotAllowed {
            id: 0x21,
            packet: PacketType::Subscribe,
        },
        0x82,
    );
}

/// Row 13: a truncated property.
#[test]
fn row_13_truncated_property_is_0x81() {
    // Message Expiry Interval needs four bytes; the property block holds two of them.
    let body = cat(&[&s(b"t"), &[0x03, 0x02, 0x00, 0x00]]);
    reject(
        &frame(0x30, &body),
        &server(V5),
        DecodeError::Truncated,
        0x81,
    );
    // A property length running past the packet.
    reject(
        &[0x40, 0x04, 0x00, 0x01, 0x00, 0x09],
        &server(V5),
        DecodeError::PropertyLengthMismatch,
        0x81,
    );
}

/// Row 13: an unknown property identifier.
#[test]
fn row_13_unknown_property_id_is_0x81_mqtt_2_2_2() {
    for id in [0x00, 0x2B, 0x7F, 0xFF] {
        reject(
            &connect(5, 0x02, Some(&[id, 0x00]), &s(b"c")),
            &server(V5),
            DecodeError::UnknownProperty(id),
            0x81,
        );
        reject(
            &publish5(0x30, b"t", None, &[id, 0x00]),
            &server(V5),
            DecodeError::UnknownProperty(id),
            0x81,
        );
    }
}

/// Row 14: subscription identifier 0.
#[test]
fn row_14_subscription_identifier_0_is_0x82_mqtt_3_8_2_1_2() {
    reject(
        &subscribe5(1, &[0x0B, 0x00], &[(b"t", 0)]),
        &server(V5),
        DecodeError::SubscriptionIdentifierZero,
        0x82,
    );
}

/// Row 14: a client PUBLISH carrying a subscription identifier.
#[test]
fn row_14_client_publish_with_subscription_identifier_is_0x82_mqtt_3_3_4_6() {
    reject(
        &publish5(0x30, b"t", None, &[0x0B, 0x05]),
        &server(V5),
        DecodeError::SubscriptionIdentifierFromClient,
        0x82,
    );
}

/// Row 14: 268,435,455 (`FF FF FF 7F`) is a valid subscription identifier.
#[test]
fn row_14_subscription_identifier_268435455_is_valid() {
    let max = [0x0B, 0xFF, 0xFF, 0xFF, 0x7F];
    match accept(&subscribe5(1, &max, &[(b"t", 0)]), &server(V5)) {
        Packet::Subscribe(sub) => assert_eq!(
            sub.properties.subscription_identifier.map(|v| v.get()),
            Some(268_435_455)
        ),
        other => panic!("{other:?}"),
    }
    match accept(&publish5(0x30, b"t", None, &max), &client(V5)) {
        Packet::Publish(p) => {
            assert_eq!(p.properties.subscription_identifiers[0].get(), 268_435_455)
        }
        other => panic!("{other:?}"),
    }
}

/// Row 15: packet identifier 0 on a QoS>0 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE. On v3 the
/// same error makes the broker core close the connection without a DISCONNECT.
#[test]
fn row_15_packet_id_0_is_0x82_v3_close_mqtt_2_2_1_3() {
    let e = DecodeError::PacketIdZero;
    for first in [0x32, 0x34] {
        reject(&publish5(first, b"t", Some(0), &[]), &server(V5), e, 0x82);
        reject(&publish3(first, b"t", Some(0)), &server(V311), e, 0x82);
    }
    reject(&subscribe5(0, &[], &[(b"t", 0)]), &server(V5), e, 0x82);
    let sub3 = frame(0x82, &cat(&[&[0x00, 0x00], &s(b"t"), &[0x00]]));
    reject(&sub3, &server(V311), e, 0x82);
    let unsub5 = frame(0xA2, &cat(&[&[0x00, 0x00, 0x00], &s(b"t")]));
    reject(&unsub5, &server(V5), e, 0x82);
    let unsub3 = frame(0xA2, &cat(&[&[0x00, 0x00], &s(b"t")]));
    reject(&unsub3, &server(V311), e, 0x82);
}

/// Row 19 (codec part): a zero-length client id decodes on every version and clean-session
/// setting. The broker core answers v3.1.1 with clean session 0 by CONNACK 0x02, and assigns
/// an identifier (or answers 0x85) on v5.
#[test]
fn row_19_empty_client_id_decodes_core_decides() {
    for (bytes, opts) in [
        (connect(4, 0x00, None, &s(b"")), server(V311)),
        (connect(5, 0x00, Some(&[]), &s(b"")), server(V5)),
    ] {
        match accept(&bytes, &opts) {
            Packet::Connect(c) => assert!(c.client_id.is_empty() && !c.clean_start),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        ConnectReasonCode::ClientIdentifierNotValid.to_v3().as_u8(),
        0x02
    );
}

/// Row 20: SUBSCRIBE with no filters.
#[test]
fn row_20_subscribe_without_filters_is_0x82_mqtt_3_8_3_2() {
    reject(
        &subscribe5(1, &[], &[]),
        &server(V5),
        DecodeError::SubscribeWithoutFilters,
        0x82,
    );
    reject(
        &[0x82, 0x02, 0x00, 0x01],
        &server(V311),
        DecodeError::SubscribeWithoutFilters,
        0x82,
    );
}

/// Row 20: reserved subscription-option bits.
#[test]
fn row_20_subscription_option_reserved_bits_are_0x81_mqtt_3_8_3_5() {
    for o in [0x40, 0x80] {
        reject(
            &subscribe5(1, &[], &[(b"t", o)]),
            &server(V5),
            DecodeError::SubscriptionOptionsReserved,
            0x81,
        );
    }
    // On v3.1.1 bits 2..7 are reserved.
    let sub3 = frame(0x82, &cat(&[&[0x00, 0x01], &s(b"t"), &[0x04]]));
    reject(
        &sub3,
        &server(V311),
        DecodeError::SubscriptionOptionsReserved,
        0x81,
    );
}

/// Row 20: Retain Handling 3.
#[test]
fn row_20_retain_handling_3_is_0x82_mqtt_3_8_3_1() {
    reject(
        &subscribe5(1, &[], &[(b"t", 0x30)]),
        &server(V5),
        DecodeError::RetainHandling3,
        0x82,
    );
}

/// Row 20: No Local on a shared subscription.
#[test]
fn row_20_no_local_on_shared_subscription_is_0x82_mqtt_3_8_3_4() {
    reject(
        &subscribe5(1, &[], &[(b"$share/g/t", 0x04)]),
        &server(V5),
        DecodeError::NoLocalOnSharedSubscription,
        0x82,
    );
}

/// Row 20: `$share/ab`, `$share//t`, `$share/g/` and `a/#/b` are well-formed strings, so the
/// SUBSCRIBE decodes; `topic::parse_filter` then refuses each, and the broker answers SUBACK
/// 0x8F for that entry without storing it.
#[test]
fn row_20_invalid_filters_decode_then_parse_filter_refuses_suback_0x8f_mqtt_4_8_2() {
    let bad: [(&[u8], TopicError); 4] = [
        (b"$share/ab", TopicError::ShareFilterMissing),
        (b"$share//t", TopicError::ShareNameEmpty),
        (b"$share/g/", TopicError::ShareFilterMissing),
        (b"a/#/b", TopicError::MultiLevelWildcardMisplaced),
    ];
    let mut entries: Vec<(&[u8], u8)> = bad.iter().map(|(f, _)| (*f, 0x01)).collect();
    entries.push((b"$share/g/ok/#", 0x01));
    let sub = match accept(&subscribe5(9, &[], &entries), &server(V5)) {
        Packet::Subscribe(sub) => sub,
        other => panic!("{other:?}"),
    };
    assert_eq!(sub.subscriptions.len(), 5);
    for (entry, (filter, err)) in sub.subscriptions.iter().zip(bad) {
        assert_eq!(entry.filter.as_bytes(), filter);
        assert_eq!(parse_filter(&entry.filter, 128), Err(err), "{filter:?}");
    }
    assert!(parse_filter(&sub.subscriptions[4].filter, 128).is_ok());
    assert_eq!(SubAckReasonCode::TopicFilterInvalid.as_u8(), 0x8F);
}

// ---- resources --------------------------------------------------------------------------------

/// A v5 CONNECT whose properties are `n` user properties; keys alternate between two names so
/// repeated keys are exercised, and each value is its index.
fn connect_with_user_properties(n: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(n * 12);
    for i in 0..n {
        let key: &[u8] = if i % 2 == 0 { b"k" } else { b"dup" };
        p.extend(user(key, i.to_string().as_bytes()));
    }
    connect(5, 0x02, Some(&p), &s(b"c"))
}

/// Row 22: 50,000 user properties in one CONNECT are refused over the cap with 0x97. The
/// cap is checked before each property is parsed, so the work is linear and stops at the cap.
#[test]
fn row_22_connect_with_50000_user_properties_is_0x97() {
    let bytes = connect_with_user_properties(50_000);
    reject(
        &bytes,
        &server(V5),
        DecodeError::TooManyUserProperties(DEFAULT_MAX_USER_PROPERTIES),
        0x97,
    );
}

/// Row 22: exactly the cap is accepted, in order, with repeated keys kept; one more is not.
#[test]
fn row_22_user_properties_at_the_cap_are_kept_in_order() {
    let cap = DEFAULT_MAX_USER_PROPERTIES;
    let c = match accept(&connect_with_user_properties(cap), &server(V5)) {
        Packet::Connect(c) => c,
        other => panic!("{other:?}"),
    };
    let list = &c.properties.user_properties;
    assert_eq!(list.len(), cap);
    for (i, (k, v)) in list.iter().enumerate() {
        assert_eq!(&**k, if i % 2 == 0 { "k" } else { "dup" });
        assert_eq!(&**v, i.to_string());
    }
    reject(
        &connect_with_user_properties(cap + 1),
        &server(V5),
        DecodeError::TooManyUserProperties(cap),
        0x97,
    );
}

/// Row 22: with the cap raised, all 50,000 are parsed (no de-duplication pass, so nothing
/// quadratic) and kept in order.
#[test]
fn row_22_50000_user_properties_under_a_raised_cap_are_all_parsed() {
    let mut opts = server(V5);
    opts.max_user_properties = 50_000;
    let c = match accept(&connect_with_user_properties(50_000), &opts) {
        Packet::Connect(c) => c,
        other => panic!("{other:?}"),
    };
    let list = &c.properties.user_properties;
    assert_eq!(list.len(), 50_000);
    assert_eq!(&*list[49_999].1, "49999");
    assert_eq!(&*list[49_999].0, "dup");
}
