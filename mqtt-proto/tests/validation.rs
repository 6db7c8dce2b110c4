#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! One test per rule the decoder enforces: each sends hand-written bytes and asserts the exact
//! [`DecodeError`] variant and the reason code it maps to. Test names carry the conformance id
//! of the rule (or its section, `mqtt_3_8_3_1`, where the spec gives no numbered statement).

use mqtt_proto::topic::{parse_filter, validate_topic_name, TopicError};
use mqtt_proto::{
    parse_fixed_header, BytesMut, ConnectReasonCode, ControlChars, DecodeError, DecodeOptions,
    Packet, PacketType, ProtocolVersion, QoS, QosPid, ReasonCode, RetainHandling, MAX_PACKET_SIZE,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V31: ProtocolVersion = ProtocolVersion::V3_1;

// ---- byte builders (hand-written fields; the codec's encoder is never used) -----------------

/// A variable byte integer, written out by hand.
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

/// A two-byte length prefix and the bytes (UTF-8 string or binary data).
fn s(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// First header byte, remaining length, body.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    cat(&[&[first], &vbi(body.len()), body])
}

/// A property block: its length, then the properties.
fn props(p: &[u8]) -> Vec<u8> {
    cat(&[&vbi(p.len()), p])
}

/// A User Property (0x26).
fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
    cat(&[&[0x26], &s(k), &s(v)])
}

/// CONNECT named "MQTT" at `level`, keep alive 60; `props` only when given (MQTT 5).
fn connect(level: u8, flags: u8, properties: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut b = cat(&[&s(b"MQTT"), &[level, flags, 0x00, 0x3C]]);
    if let Some(p) = properties {
        b.extend(props(p));
    }
    b.extend_from_slice(payload);
    frame(0x10, &b)
}

fn connect5(flags: u8, properties: &[u8], payload: &[u8]) -> Vec<u8> {
    connect(5, flags, Some(properties), payload)
}

fn connect3(flags: u8, payload: &[u8]) -> Vec<u8> {
    connect(4, flags, None, payload)
}

fn publish5(
    first: u8,
    topic: &[u8],
    pid: Option<u16>,
    properties: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend(props(properties));
    b.extend_from_slice(payload);
    frame(first, &b)
}

fn publish3(first: u8, topic: &[u8], pid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend_from_slice(payload);
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

fn subscribe3(pid: u16, entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    for (f, o) in entries {
        b.extend(s(f));
        b.push(*o);
    }
    frame(0x82, &b)
}

fn unsubscribe5(pid: u16, properties: &[u8], filters: &[&[u8]]) -> Vec<u8> {
    let mut b = cat(&[&pid.to_be_bytes(), &props(properties)]);
    for f in filters {
        b.extend(s(f));
    }
    frame(0xA2, &b)
}

fn unsubscribe3(pid: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    for f in filters {
        b.extend(s(f));
    }
    frame(0xA2, &b)
}

// ---- decode helpers ---------------------------------------------------------------------------

fn server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

fn client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    Packet::decode(&mut buf, opts)
}

/// Decodes a whole frame that must be accepted, and checks it was consumed entirely.
#[track_caller]
fn accept(bytes: &[u8], opts: &DecodeOptions) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let p = match Packet::decode(&mut buf, opts) {
        Ok(Some(p)) => p,
        other => panic!("{bytes:02X?} should decode, got {other:?}"),
    };
    assert!(buf.is_empty(), "frame not fully consumed: {bytes:02X?}");
    p
}

/// Asserts the exact error and the reason code it maps to.
#[track_caller]
fn reject(bytes: &[u8], opts: &DecodeOptions, want: DecodeError, code: u8) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(
        Packet::decode(&mut buf, opts),
        Err(want),
        "bytes {bytes:02X?}"
    );
    assert_eq!(&buf[..], bytes, "after an error `buf` is left as it was");
    assert_eq!(
        want.reason_code(),
        ReasonCode(code),
        "reason code of {want:?}"
    );
}

fn publish_of(p: Packet) -> mqtt_proto::Publish {
    match p {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn connect_of(p: Packet) -> mqtt_proto::Connect {
    match p {
        Packet::Connect(c) => *c,
        other => panic!("expected CONNECT, got {other:?}"),
    }
}

fn subscribe_of(p: Packet) -> mqtt_proto::Subscribe {
    match p {
        Packet::Subscribe(s) => s,
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }
}

/// One frame per UTF-8 string field, each carrying `"a" + text` in that field (so a truncated
/// sequence in `text` really ends the string). Options use the control-character policy `cc`.
fn string_fields(text: &[u8], cc: ControlChars) -> Vec<(&'static str, Vec<u8>, DecodeOptions)> {
    let t = cat(&[b"a", text]);
    let c = s(b"c");
    let with = |mut o: DecodeOptions| {
        o.control_chars = cc;
        o
    };
    vec![
        (
            "PUBLISH topic v5",
            publish5(0x30, &t, None, &[], b"x"),
            with(server(V5)),
        ),
        (
            "PUBLISH topic v3.1.1",
            publish3(0x30, &t, None, b"x"),
            with(server(V311)),
        ),
        (
            "PUBLISH topic from a server",
            publish5(0x30, &t, None, &[], b""),
            with(client(V5)),
        ),
        (
            "CONNECT client id v5",
            connect5(0x02, &[], &s(&t)),
            with(server(V5)),
        ),
        (
            "CONNECT client id v3.1.1",
            connect3(0x02, &s(&t)),
            with(server(V311)),
        ),
        (
            "CONNECT user property key",
            connect5(0x02, &user(&t, b"v"), &c),
            with(server(V5)),
        ),
        (
            "CONNECT user property value",
            connect5(0x02, &user(b"k", &t), &c),
            with(server(V5)),
        ),
        (
            "PUBLISH user property key",
            publish5(0x30, b"t", None, &user(&t, b"v"), b""),
            with(server(V5)),
        ),
        (
            "PUBLISH user property value",
            publish5(0x30, b"t", None, &user(b"k", &t), b""),
            with(server(V5)),
        ),
        (
            "CONNECT user name",
            connect3(0x82, &cat(&[&c, &s(&t)])),
            with(server(V311)),
        ),
        (
            "CONNECT will topic",
            connect5(0x06, &[], &cat(&[&c, &[0x00], &s(&t), &s(b"p")])),
            with(server(V5)),
        ),
        (
            "SUBSCRIBE filter",
            subscribe5(1, &[], &[(&t, 0)]),
            with(server(V5)),
        ),
        (
            "UNSUBSCRIBE filter",
            unsubscribe5(1, &[], &[&t]),
            with(server(V5)),
        ),
        (
            "PUBLISH content type",
            publish5(0x30, b"t", None, &cat(&[&[0x03], &s(&t)]), b""),
            with(server(V5)),
        ),
        (
            "PUBLISH response topic",
            publish5(0x30, b"t", None, &cat(&[&[0x08], &s(&t)]), b""),
            with(server(V5)),
        ),
        (
            "CONNECT authentication method",
            connect5(0x02, &cat(&[&[0x15], &s(&t)]), &c),
            with(server(V5)),
        ),
        (
            "DISCONNECT reason string",
            frame(0xE0, &cat(&[&[0x00], &props(&cat(&[&[0x1F], &s(&t)]))])),
            with(server(V5)),
        ),
    ]
}

#[track_caller]
fn reject_in_every_string_field(text: &[u8], cc: ControlChars, want: DecodeError) {
    for (field, bytes, opts) in string_fields(text, cc) {
        assert_eq!(
            decode(&bytes, &opts),
            Err(want),
            "{text:02X?} in {field}: {bytes:02X?}"
        );
    }
    assert_eq!(want.reason_code(), ReasonCode::MALFORMED_PACKET);
}

#[track_caller]
fn accept_in_every_string_field(text: &[u8], cc: ControlChars) {
    for (field, bytes, opts) in string_fields(text, cc) {
        let got = decode(&bytes, &opts);
        assert!(
            matches!(got, Ok(Some(_))),
            "{text:02X?} in {field} should decode: {got:?}"
        );
    }
}

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

// ---- UTF-8 strings ----------------------------------------------------------------------------

#[test]
fn utf8_surrogate_is_malformed_mqtt_1_5_4_1() {
    for seq in [
        &[0xED, 0xA0, 0x80][..],
        &[0xED, 0xBF, 0xBF],
        &[0xED, 0xB0, 0x80],
        &[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], // CESU-8 pair
    ] {
        reject_in_every_string_field(seq, ControlChars::Reject, DecodeError::InvalidUtf8);
        reject_in_every_string_field(seq, ControlChars::Allow, DecodeError::InvalidUtf8);
    }
}

#[test]
fn utf8_overlong_is_malformed_mqtt_1_5_4_1() {
    for seq in [
        &[0xC0, 0xAF][..],
        &[0xE0, 0x80, 0xAF],
        &[0xC1, 0xBF],
        &[0xF0, 0x80, 0x80, 0xAF],
        &[0xC0, 0x80], // "modified UTF-8" U+0000
        &[0xE0, 0x80, 0x80],
    ] {
        reject_in_every_string_field(seq, ControlChars::Reject, DecodeError::InvalidUtf8);
        reject_in_every_string_field(seq, ControlChars::Allow, DecodeError::InvalidUtf8);
    }
}

#[test]
fn utf8_truncated_sequence_is_malformed_mqtt_1_5_4_1() {
    for seq in [
        &[0xC3][..],
        &[0xE2, 0x82],
        &[0xF0, 0x9F, 0x98],
        &[0xE2, 0x28, 0xA1], // bad continuation
        &[0xA9],             // lone continuation byte
        &[0xE2, 0x82, b'b'],
    ] {
        reject_in_every_string_field(seq, ControlChars::Reject, DecodeError::InvalidUtf8);
        reject_in_every_string_field(seq, ControlChars::Allow, DecodeError::InvalidUtf8);
    }
}

#[test]
fn utf8_bytes_f5_to_ff_and_above_u10ffff_are_malformed_mqtt_1_5_4_1() {
    for b in 0xF5..=0xFFu8 {
        reject_in_every_string_field(&[b], ControlChars::Reject, DecodeError::InvalidUtf8);
        reject_in_every_string_field(
            &[b, 0x80, 0x80, 0x80],
            ControlChars::Allow,
            DecodeError::InvalidUtf8,
        );
    }
    // U+110000.
    reject_in_every_string_field(
        &[0xF4, 0x90, 0x80, 0x80],
        ControlChars::Reject,
        DecodeError::InvalidUtf8,
    );
}

#[test]
fn utf8_null_is_malformed_under_either_policy_mqtt_1_5_4_2() {
    for seq in [&[0x00][..], &[0x00, b'b'], &[0xC3, 0xA9, 0x00]] {
        reject_in_every_string_field(seq, ControlChars::Reject, DecodeError::Utf8Null);
        reject_in_every_string_field(seq, ControlChars::Allow, DecodeError::Utf8Null);
    }
}

#[test]
fn utf8_bom_is_kept_not_stripped_mqtt_1_5_4_3() {
    let bom = [0xEF, 0xBB, 0xBF];
    accept_in_every_string_field(&bom, ControlChars::Reject);
    let topic = cat(&[&bom, b"a/b"]);
    let p = publish_of(accept(&publish5(0x30, &topic, None, &[], b""), &server(V5)));
    assert_eq!(&*p.topic, "\u{FEFF}a/b");
    assert_eq!(p.topic.len(), 6);
    let c = connect_of(accept(
        &connect5(0x02, &user(&bom, &bom), &s(&bom)),
        &server(V5),
    ));
    assert_eq!(&*c.client_id, "\u{FEFF}");
    let (k, v) = &c.properties.user_properties[0];
    assert_eq!((&**k, &**v), ("\u{FEFF}", "\u{FEFF}"));
}

/// C0 and C1 control characters, and DEL, as UTF-8.
const CONTROLS: [&[u8]; 7] = [
    &[0x01],
    &[0x09],
    &[0x1F],
    &[0x7F],
    &[0xC2, 0x80],
    &[0xC2, 0x85],
    &[0xC2, 0x9F],
];

#[test]
fn utf8_control_characters_rejected_by_default_mqtt_1_5_4_1() {
    assert_eq!(DecodeOptions::default().control_chars, ControlChars::Reject);
    assert_eq!(server(V5).control_chars, ControlChars::Reject);
    assert_eq!(client(V311).control_chars, ControlChars::Reject);
    for seq in CONTROLS {
        reject_in_every_string_field(seq, ControlChars::Reject, DecodeError::Utf8ControlCharacter);
    }
    for b in 0x01..=0x1Fu8 {
        reject_in_every_string_field(
            &[b],
            ControlChars::Reject,
            DecodeError::Utf8ControlCharacter,
        );
    }
    for b in 0x80..=0x9Fu8 {
        reject_in_every_string_field(
            &[0xC2, b],
            ControlChars::Reject,
            DecodeError::Utf8ControlCharacter,
        );
    }
}

#[test]
fn utf8_control_characters_accepted_with_allow_policy() {
    for seq in CONTROLS {
        accept_in_every_string_field(seq, ControlChars::Allow);
    }
    let mut opts = server(V5);
    opts.control_chars = ControlChars::Allow;
    let p = publish_of(accept(
        &publish5(0x30, b"a\x01b\xC2\x9F", None, &[], b""),
        &opts,
    ));
    assert_eq!(&*p.topic, "a\u{1}b\u{9F}");
}

#[test]
fn utf8_just_outside_the_control_ranges_is_accepted_by_default() {
    for seq in [
        &b" "[..],
        b"~",
        &[0xC2, 0xA0],             // U+00A0
        &[0xC4, 0x80],             // U+0100
        &[0xEF, 0xBF, 0xBF],       // U+FFFF (a noncharacter, still well-formed)
        &[0xF0, 0x9F, 0x98, 0x80], // U+1F600
        &[0xF4, 0x8F, 0xBF, 0xBF], // U+10FFFF
        &[0xE2, 0x80, 0x8B],       // U+200B
    ] {
        accept_in_every_string_field(seq, ControlChars::Reject);
    }
}

// ---- CONNECT ----------------------------------------------------------------------------------

#[test]
fn connect_bad_protocol_name_is_0x81_mqtt_3_1_2_1() {
    for name in [&b"MQTX"[..], b"mqtt", b"", b"MQTT\0", b"MQ", b"MQIsdpX"] {
        let body = cat(&[&s(name), &[0x04, 0x02, 0x00, 0x3C], &s(b"c")]);
        reject(
            &frame(0x10, &body),
            &server(V5),
            DecodeError::InvalidProtocolName,
            0x81,
        );
    }
}

#[test]
fn connect_unsupported_level_is_0x84_mqtt_3_1_2_2() {
    for (name, level) in [
        (&b"MQTT"[..], 6u8),
        (&b"MQTT"[..], 3),
        (&b"MQTT"[..], 0),
        (&b"MQTT"[..], 0xFF),
        (&b"MQIsdp"[..], 5),
    ] {
        let body = cat(&[&s(name), &[level, 0x02, 0x00, 0x3C], &s(b"c")]);
        let e = DecodeError::UnsupportedProtocolVersion(level);
        reject(&frame(0x10, &body), &server(V5), e, 0x84);
    }
    // The v3 CONNACK answer is return code 0x01.
    assert_eq!(
        ConnectReasonCode::UnsupportedProtocolVersion
            .to_v3()
            .as_u8(),
        0x01
    );
    // CONNECT is decoded in the version it names, whatever the options say.
    let c = connect_of(accept(&connect5(0x02, &[], &s(b"c")), &server(V311)));
    assert_eq!(c.protocol_version, V5);
    let c = connect_of(accept(
        &frame(0x10, &cat(&[&s(b"MQIsdp"), &[3, 0x02, 0, 60], &s(b"c")])),
        &server(V5),
    ));
    assert_eq!(c.protocol_version, V31);
}

#[test]
fn connect_reserved_flag_is_0x81_mqtt_3_1_2_3() {
    let e = DecodeError::ConnectReservedFlag;
    reject(&connect5(0x03, &[], &s(b"c")), &server(V5), e, 0x81);
    reject(&connect5(0x01, &[], &s(b"c")), &server(V5), e, 0x81);
    reject(&connect3(0x03, &s(b"c")), &server(V311), e, 0x81);
    let v31 = frame(0x10, &cat(&[&s(b"MQIsdp"), &[3, 0x03, 0, 60], &s(b"c")]));
    reject(&v31, &server(V31), e, 0x81);
}

#[test]
fn connect_will_qos3_is_0x81_mqtt_3_1_2_12() {
    let will = cat(&[&s(b"c"), &[0x00], &s(b"w"), &s(b"p")]);
    reject(
        &connect5(0x1E, &[], &will),
        &server(V5),
        DecodeError::WillQos3,
        0x81,
    );
    let will3 = cat(&[&s(b"c"), &s(b"w"), &s(b"p")]);
    reject(
        &connect3(0x1E, &will3),
        &server(V311),
        DecodeError::WillQos3,
        0x81,
    );
    // Will QoS 2 with the will flag is fine.
    let c = connect_of(accept(&connect5(0x16, &[], &will), &server(V5)));
    assert_eq!(c.will.unwrap().qos, QoS::ExactlyOnce);
}

#[test]
fn connect_will_qos_without_will_flag_is_0x81_mqtt_3_1_2_11() {
    for flags in [0x0A, 0x12] {
        reject(
            &connect5(flags, &[], &s(b"c")),
            &server(V5),
            DecodeError::WillFlagsWithoutWill,
            0x81,
        );
        reject(
            &connect3(flags, &s(b"c")),
            &server(V311),
            DecodeError::WillFlagsWithoutWill,
            0x81,
        );
    }
}

#[test]
fn connect_will_retain_without_will_flag_is_0x81_mqtt_3_1_2_13() {
    reject(
        &connect5(0x22, &[], &s(b"c")),
        &server(V5),
        DecodeError::WillFlagsWithoutWill,
        0x81,
    );
    reject(
        &connect3(0x20, &s(b"c")),
        &server(V311),
        DecodeError::WillFlagsWithoutWill,
        0x81,
    );
}

#[test]
fn connect_password_without_username_is_0x81_on_v3_mqtt_3_1_2_22() {
    let payload = cat(&[&s(b"c"), &s(b"pw")]);
    reject(
        &connect3(0x42, &payload),
        &server(V311),
        DecodeError::PasswordWithoutUsername,
        0x81,
    );
    let v31 = frame(0x10, &cat(&[&s(b"MQIsdp"), &[3, 0x42, 0, 60], &payload]));
    reject(
        &v31,
        &server(V31),
        DecodeError::PasswordWithoutUsername,
        0x81,
    );
}

#[test]
fn connect_password_without_username_is_allowed_on_v5_mqtt_3_1_2_18() {
    let payload = cat(&[&s(b"c"), &s(b"pw")]);
    let c = connect_of(accept(&connect5(0x42, &[], &payload), &server(V5)));
    assert_eq!(c.username, None);
    assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
}

#[test]
fn connect_auth_data_without_method_is_0x82_mqtt_3_1_2_11_10() {
    let data = cat(&[&[0x16], &s(&[0xAA, 0xBB])]);
    reject(
        &connect5(0x02, &data, &s(b"c")),
        &server(V5),
        DecodeError::AuthDataWithoutMethod,
        0x82,
    );
    let with_method = cat(&[&[0x15], &s(b"SCRAM"), &data]);
    let c = connect_of(accept(&connect5(0x02, &with_method, &s(b"c")), &server(V5)));
    assert_eq!(c.properties.authentication_method.as_deref(), Some("SCRAM"));
    assert_eq!(
        c.properties.authentication_data.as_deref(),
        Some(&[0xAA, 0xBB][..])
    );
}

#[test]
fn connect_will_topic_with_wildcard_is_0x90_mqtt_3_3_2_2() {
    for topic in [&b"a/#"[..], b"+", b"a/+/b", b"#"] {
        let will = cat(&[&s(b"c"), &[0x00], &s(topic), &s(b"p")]);
        reject(
            &connect5(0x06, &[], &will),
            &server(V5),
            DecodeError::TopicNameWildcard,
            0x90,
        );
        let will3 = cat(&[&s(b"c"), &s(topic), &s(b"p")]);
        reject(
            &connect3(0x06, &will3),
            &server(V311),
            DecodeError::TopicNameWildcard,
            0x90,
        );
    }
}

#[test]
fn connect_empty_will_topic_is_0x82_mqtt_4_7_3_1() {
    let will = cat(&[&s(b"c"), &[0x00], &s(b""), &s(b"p")]);
    reject(
        &connect5(0x06, &[], &will),
        &server(V5),
        DecodeError::TopicNameEmpty,
        0x82,
    );
}

// ---- CONNACK ----------------------------------------------------------------------------------

#[test]
fn connack_reserved_flags_are_0x81_mqtt_3_2_2_1() {
    for flags in [0x02, 0x80, 0xFE, 0x03] {
        reject(
            &[0x20, 0x03, flags, 0x00, 0x00],
            &client(V5),
            DecodeError::ConnAckReservedFlags,
            0x81,
        );
        reject(
            &[0x20, 0x02, flags, 0x00],
            &client(V311),
            DecodeError::ConnAckReservedFlags,
            0x81,
        );
    }
    // MQTT 3.1 has no acknowledge flags: the byte is reserved and ignored.
    match accept(&[0x20, 0x02, 0x01, 0x00], &client(V31)) {
        Packet::ConnAck(c) => assert!(!c.session_present),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connack_session_present_on_error_is_0x82_mqtt_3_2_2_6() {
    let e = DecodeError::ConnAckSessionPresentOnError;
    for code in [0x80, 0x84, 0x87, 0x9F] {
        reject(&[0x20, 0x03, 0x01, code, 0x00], &client(V5), e, 0x82);
    }
    for code in 1..=5 {
        reject(&[0x20, 0x02, 0x01, code], &client(V311), e, 0x82);
    }
    match accept(&[0x20, 0x03, 0x01, 0x00, 0x00], &client(V5)) {
        Packet::ConnAck(c) => assert!(c.session_present),
        other => panic!("{other:?}"),
    }
}

// ---- PUBLISH ----------------------------------------------------------------------------------

#[test]
fn publish_topic_with_wildcard_is_0x90_mqtt_3_3_2_2() {
    let e = DecodeError::TopicNameWildcard;
    for topic in [&b"a/+"[..], b"#", b"a/#", b"+", b"a+b", b"sport/tennis#"] {
        reject(&publish5(0x30, topic, None, &[], b""), &server(V5), e, 0x90);
        reject(
            &publish5(0x32, topic, Some(1), &[], b""),
            &client(V5),
            e,
            0x90,
        );
        reject(&publish3(0x30, topic, None, b""), &server(V311), e, 0x90);
    }
}

#[test]
fn publish_empty_topic_without_alias_is_0x82_mqtt_4_7_3_1() {
    let e = DecodeError::TopicNameEmpty;
    reject(&publish5(0x30, b"", None, &[], b"x"), &server(V5), e, 0x82);
    reject(
        &publish5(0x32, b"", Some(1), &[], b""),
        &client(V5),
        e,
        0x82,
    );
    reject(&publish3(0x30, b"", None, b"x"), &server(V311), e, 0x82);
    reject(&publish3(0x30, b"", None, b""), &server(V31), e, 0x82);
}

#[test]
fn publish_empty_topic_with_topic_alias_decodes_mqtt_3_3_2_3_4() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    let p = publish_of(accept(
        &publish5(0x30, b"", None, &[0x23, 0x00, 0x03], b"x"),
        &opts,
    ));
    assert!(p.topic.is_empty());
    assert_eq!(p.properties.topic_alias.map(|a| a.get()), Some(3));
}

#[test]
fn publish_packet_id_0_is_0x82_mqtt_2_2_1_3() {
    let e = DecodeError::PacketIdZero;
    for first in [0x32, 0x34, 0x3A, 0x3D] {
        reject(
            &publish5(first, b"t", Some(0), &[], b""),
            &server(V5),
            e,
            0x82,
        );
        reject(
            &publish5(first, b"t", Some(0), &[], b""),
            &client(V5),
            e,
            0x82,
        );
        reject(&publish3(first, b"t", Some(0), b""), &server(V311), e, 0x82);
    }
    let p = publish_of(accept(
        &publish5(0x34, b"t", Some(1), &[], b""),
        &server(V5),
    ));
    assert!(matches!(p.qos_pid, QosPid::ExactlyOnce(id) if id.get() == 1));
}

#[test]
fn publish_topic_alias_0_is_0x94_mqtt_3_3_2_8() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    for topic in [&b"t"[..], b""] {
        reject(
            &publish5(0x30, topic, None, &[0x23, 0x00, 0x00], b""),
            &opts,
            DecodeError::TopicAliasZero,
            0x94,
        );
    }
}

#[test]
fn publish_topic_alias_above_maximum_is_0x94_mqtt_3_3_2_9() {
    let mut opts = server(V5);
    opts.topic_alias_maximum = 10;
    reject(
        &publish5(0x30, b"t", None, &[0x23, 0x00, 0x0B], b""),
        &opts,
        DecodeError::TopicAliasTooLarge { alias: 11, max: 10 },
        0x94,
    );
    reject(
        &publish5(0x30, b"t", None, &[0x23, 0xFF, 0xFF], b""),
        &opts,
        DecodeError::TopicAliasTooLarge {
            alias: 65_535,
            max: 10,
        },
        0x94,
    );
    let p = publish_of(accept(
        &publish5(0x30, b"t", None, &[0x23, 0x00, 0x0A], b""),
        &opts,
    ));
    assert_eq!(p.properties.topic_alias.map(|a| a.get()), Some(10));
    // No Topic Alias Maximum advertised (the default 0): every alias is too large.
    for o in [server(V5), client(V5)] {
        reject(
            &publish5(0x30, b"t", None, &[0x23, 0x00, 0x01], b""),
            &o,
            DecodeError::TopicAliasTooLarge { alias: 1, max: 0 },
            0x94,
        );
    }
}

#[test]
fn publish_subscription_identifier_from_client_is_0x82_mqtt_3_3_4_6() {
    for id in [&[0x01][..], &[0xFF, 0xFF, 0xFF, 0x7F], &[0x00]] {
        reject(
            &publish5(0x30, b"t", None, &cat(&[&[0x0B], id]), b""),
            &server(V5),
            DecodeError::SubscriptionIdentifierFromClient,
            0x82,
        );
    }
}

#[test]
fn publish_subscription_identifiers_from_server_repeat_and_reach_268435455() {
    let ids = [0x0B, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F, 0x0B, 0x80, 0x01];
    let p = publish_of(accept(&publish5(0x30, b"t", None, &ids, b""), &client(V5)));
    let got: Vec<u32> = p
        .properties
        .subscription_identifiers
        .iter()
        .map(|v| v.get())
        .collect();
    assert_eq!(got, [1, 268_435_455, 128]);
}

#[test]
fn subscription_identifier_0_is_0x82_mqtt_3_8_2_1_2() {
    let e = DecodeError::SubscriptionIdentifierZero;
    reject(
        &subscribe5(1, &[0x0B, 0x00], &[(b"t", 0)]),
        &server(V5),
        e,
        0x82,
    );
    reject(
        &publish5(0x30, b"t", None, &[0x0B, 0x00], b""),
        &client(V5),
        e,
        0x82,
    );
}

#[test]
fn subscription_identifier_268435455_is_valid_mqtt_3_8_2_1_2() {
    let sub = subscribe_of(accept(
        &subscribe5(1, &[0x0B, 0xFF, 0xFF, 0xFF, 0x7F], &[(b"t", 0)]),
        &server(V5),
    ));
    assert_eq!(
        sub.properties.subscription_identifier.map(|v| v.get()),
        Some(268_435_455)
    );
}

#[test]
fn publish_response_topic_with_wildcard_is_0x82_mqtt_3_3_2_14() {
    let e = DecodeError::ResponseTopicWildcard;
    for rt in [&b"a/#"[..], b"+", b"r/+/x"] {
        let p = cat(&[&[0x08], &s(rt)]);
        reject(&publish5(0x30, b"t", None, &p, b""), &server(V5), e, 0x82);
        reject(&publish5(0x30, b"t", None, &p, b""), &client(V5), e, 0x82);
        // The will's Response Topic too.
        let will = cat(&[&s(b"c"), &props(&p), &s(b"w"), &s(b"x")]);
        reject(&connect5(0x06, &[], &will), &server(V5), e, 0x82);
    }
    let p = cat(&[&[0x08], &s(b"reply/here")]);
    let got = publish_of(accept(&publish5(0x30, b"t", None, &p, b""), &server(V5)));
    assert_eq!(got.properties.response_topic.as_deref(), Some("reply/here"));
}

// ---- properties -------------------------------------------------------------------------------

#[test]
fn property_length_past_end_of_packet_is_0x81_mqtt_2_2_2() {
    let e = DecodeError::PropertyLengthMismatch;
    // PUBACK: reason code, then a property length of 5 with nothing after it.
    reject(&[0x40, 0x04, 0x00, 0x01, 0x00, 0x05], &server(V5), e, 0x81);
    // CONNECT: property length 9, only 3 bytes of client id follow.
    let body = cat(&[&s(b"MQTT"), &[5, 0x02, 0, 60, 0x09], &s(b"c")]);
    reject(&frame(0x10, &body), &server(V5), e, 0x81);
    // PUBLISH, SUBSCRIBE, DISCONNECT, CONNACK.
    reject(
        &frame(0x30, &cat(&[&s(b"t"), &[0x03, 0x01]])),
        &server(V5),
        e,
        0x81,
    );
    reject(&[0x82, 0x03, 0x00, 0x01, 0x02], &server(V5), e, 0x81);
    reject(&[0xE0, 0x02, 0x00, 0x01], &server(V5), e, 0x81);
    reject(&[0x20, 0x03, 0x00, 0x00, 0x04], &client(V5), e, 0x81);
}

#[test]
fn property_cut_by_its_property_length_is_truncated_0x81_mqtt_2_2_2() {
    // Session Expiry Interval needs 4 bytes; the property length leaves it 2.
    let body = cat(&[
        &s(b"MQTT"),
        &[5, 0x02, 0, 60, 0x03, 0x11, 0x00, 0x00],
        &s(b"c"),
    ]);
    reject(
        &frame(0x10, &body),
        &server(V5),
        DecodeError::Truncated,
        0x81,
    );
    // A User Property whose value runs past the property block.
    let body = cat(&[&[0x00, 0x01, 0x00, 0x05, 0x26], &s(b"k"), &[0x00, 0x09]]);
    reject(
        &frame(0x40, &body),
        &server(V5),
        DecodeError::Truncated,
        0x81,
    );
}

#[test]
fn unknown_property_id_is_0x81_mqtt_2_2_2() {
    for id in [
        0x00, 0x04, 0x05, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x7F, 0x80, 0xFF,
    ] {
        let e = DecodeError::UnknownProperty(id);
        let p = [id, 0x00, 0x00, 0x00, 0x00];
        reject(&connect5(0x02, &p, &s(b"c")), &server(V5), e, 0x81);
        reject(&publish5(0x30, b"t", None, &p, b""), &server(V5), e, 0x81);
        reject(&subscribe5(1, &p, &[(b"t", 0)]), &server(V5), e, 0x81);
        reject(
            &frame(0xE0, &cat(&[&[0x00], &props(&p)])),
            &server(V5),
            e,
            0x81,
        );
        reject(
            &frame(0x20, &cat(&[&[0, 0], &props(&p)])),
            &client(V5),
            e,
            0x81,
        );
    }
}

#[test]
fn property_not_allowed_in_its_packet_is_0x82_mqtt_2_2_2() {
    use PacketType::*;
    let na = |id, packet| DecodeError::PropertyNotAllowed { id, packet };
    let c = s(b"c");
    let cases: Vec<(Vec<u8>, DecodeOptions, DecodeError)> = vec![
        // CONNECT: Topic Alias, Reason String, Maximum QoS, Will Delay Interval.
        (
            connect5(0x02, &[0x23, 0, 1], &c),
            server(V5),
            na(0x23, Connect),
        ),
        (
            connect5(0x02, &cat(&[&[0x1F], &s(b"r")]), &c),
            server(V5),
            na(0x1F, Connect),
        ),
        (
            connect5(0x02, &[0x24, 0], &c),
            server(V5),
            na(0x24, Connect),
        ),
        (
            connect5(0x02, &[0x18, 0, 0, 0, 1], &c),
            server(V5),
            na(0x18, Connect),
        ),
        // Will properties: Session Expiry Interval, Receive Maximum.
        (
            connect5(
                0x06,
                &[],
                &cat(&[&c, &props(&[0x11, 0, 0, 0, 1]), &s(b"w"), &s(b"p")]),
            ),
            server(V5),
            na(0x11, Connect),
        ),
        (
            connect5(
                0x06,
                &[],
                &cat(&[&c, &props(&[0x21, 0, 1]), &s(b"w"), &s(b"p")]),
            ),
            server(V5),
            na(0x21, Connect),
        ),
        // CONNACK: Will Delay Interval, Request Problem Information.
        (
            frame(0x20, &cat(&[&[0, 0], &props(&[0x18, 0, 0, 0, 1])])),
            client(V5),
            na(0x18, ConnAck),
        ),
        (
            frame(0x20, &cat(&[&[0, 0], &props(&[0x17, 1])])),
            client(V5),
            na(0x17, ConnAck),
        ),
        // PUBLISH: Session Expiry Interval, Receive Maximum.
        (
            publish5(0x30, b"t", None, &[0x11, 0, 0, 0, 10], b""),
            server(V5),
            na(0x11, Publish),
        ),
        (
            publish5(0x30, b"t", None, &[0x21, 0, 1], b""),
            client(V5),
            na(0x21, Publish),
        ),
        // PUBACK, PUBREC, PUBREL, PUBCOMP: Topic Alias, Content Type.
        (
            frame(0x40, &cat(&[&[0, 1, 0], &props(&[0x23, 0, 1])])),
            server(V5),
            na(0x23, PubAck),
        ),
        (
            frame(
                0x50,
                &cat(&[&[0, 1, 0], &props(&cat(&[&[0x03], &s(b"x")]))]),
            ),
            client(V5),
            na(0x03, PubRec),
        ),
        (
            frame(0x62, &cat(&[&[0, 1, 0], &props(&[0x0B, 1])])),
            server(V5),
            na(0x0B, PubRel),
        ),
        (
            frame(0x70, &cat(&[&[0, 1, 0], &props(&[0x11, 0, 0, 0, 1])])),
            server(V5),
            na(0x11, PubComp),
        ),
        // SUBSCRIBE: Reason String, Topic Alias.
        (
            subscribe5(1, &cat(&[&[0x1F], &s(b"r")]), &[(b"t", 0)]),
            server(V5),
            na(0x1F, Subscribe),
        ),
        (
            subscribe5(1, &[0x23, 0, 1], &[(b"t", 0)]),
            server(V5),
            na(0x23, Subscribe),
        ),
        // SUBACK: Subscription Identifier.
        (
            frame(0x90, &cat(&[&[0, 1], &props(&[0x0B, 1]), &[0]])),
            client(V5),
            na(0x0B, SubAck),
        ),
        // UNSUBSCRIBE: Subscription Identifier, Reason String.
        (
            unsubscribe5(1, &[0x0B, 1], &[b"t"]),
            server(V5),
            na(0x0B, Unsubscribe),
        ),
        (
            unsubscribe5(1, &cat(&[&[0x1F], &s(b"r")]), &[b"t"]),
            server(V5),
            na(0x1F, Unsubscribe),
        ),
        // UNSUBACK: Session Expiry Interval.
        (
            frame(0xB0, &cat(&[&[0, 1], &props(&[0x11, 0, 0, 0, 1]), &[0]])),
            client(V5),
            na(0x11, UnsubAck),
        ),
        // DISCONNECT: Receive Maximum, Authentication Method.
        (
            frame(0xE0, &cat(&[&[0x00], &props(&[0x21, 0, 1])])),
            server(V5),
            na(0x21, Disconnect),
        ),
        (
            frame(0xE0, &cat(&[&[0x00], &props(&cat(&[&[0x15], &s(b"m")]))])),
            client(V5),
            na(0x15, Disconnect),
        ),
        // AUTH: Session Expiry Interval, Server Reference.
        (
            frame(0xF0, &cat(&[&[0x18], &props(&[0x11, 0, 0, 0, 1])])),
            server(V5),
            na(0x11, Auth),
        ),
        (
            frame(0xF0, &cat(&[&[0x18], &props(&cat(&[&[0x1C], &s(b"h")]))])),
            client(V5),
            na(0x1C, Auth),
        ),
    ];
    for (bytes, opts, want) in cases {
        reject(&bytes, &opts, want, 0x82);
    }
}

#[test]
fn duplicate_property_is_0x82_mqtt_2_2_2() {
    let d = DecodeError::DuplicateProperty;
    let c = s(b"c");
    let mut alias_opts = server(V5);
    alias_opts.topic_alias_maximum = 5;
    let cases: Vec<(Vec<u8>, DecodeOptions, DecodeError)> = vec![
        (
            connect5(0x02, &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], &c),
            server(V5),
            d(0x11),
        ),
        (
            connect5(0x02, &[0x21, 0, 1, 0x21, 0, 1], &c),
            server(V5),
            d(0x21),
        ),
        (
            connect5(0x02, &cat(&[&[0x15], &s(b"a"), &[0x15], &s(b"a")]), &c),
            server(V5),
            d(0x15),
        ),
        (
            connect5(
                0x06,
                &[],
                &cat(&[&c, &props(&[0x01, 1, 0x01, 1]), &s(b"w"), &s(b"p")]),
            ),
            server(V5),
            d(0x01),
        ),
        (
            publish5(0x30, b"t", None, &[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1], b""),
            server(V5),
            d(0x02),
        ),
        (
            publish5(0x30, b"t", None, &[0x23, 0, 1, 0x23, 0, 2], b""),
            alias_opts,
            d(0x23),
        ),
        (
            publish5(
                0x30,
                b"t",
                None,
                &cat(&[&[0x09], &s(b"x"), &[0x09], &s(b"y")]),
                b"",
            ),
            client(V5),
            d(0x09),
        ),
        (
            subscribe5(1, &[0x0B, 1, 0x0B, 2], &[(b"t", 0)]),
            server(V5),
            d(0x0B),
        ),
        (
            frame(0x20, &cat(&[&[0, 0], &props(&[0x24, 0, 0x24, 1])])),
            client(V5),
            d(0x24),
        ),
        (
            frame(
                0x40,
                &cat(&[
                    &[0, 1, 0],
                    &props(&cat(&[&[0x1F], &s(b"a"), &[0x1F], &s(b"b")])),
                ]),
            ),
            client(V5),
            d(0x1F),
        ),
        (
            frame(
                0xF0,
                &cat(&[
                    &[0x18],
                    &props(&cat(&[&[0x16], &s(b"a"), &[0x16], &s(b"b")])),
                ]),
            ),
            server(V5),
            d(0x16),
        ),
    ];
    for (bytes, opts, want) in cases {
        reject(&bytes, &opts, want, 0x82);
    }
}

#[test]
fn receive_maximum_0_is_0x82_mqtt_3_1_2_11_3() {
    let e = DecodeError::InvalidPropertyValue(0x21);
    reject(
        &connect5(0x02, &[0x21, 0, 0], &s(b"c")),
        &server(V5),
        e,
        0x82,
    );
    reject(&frame(0x20, &[0, 0, 3, 0x21, 0, 0]), &client(V5), e, 0x82);
}

#[test]
fn maximum_packet_size_0_is_0x82_mqtt_3_1_2_11_4() {
    let e = DecodeError::InvalidPropertyValue(0x27);
    reject(
        &connect5(0x02, &[0x27, 0, 0, 0, 0], &s(b"c")),
        &server(V5),
        e,
        0x82,
    );
    reject(
        &frame(0x20, &[0, 0, 5, 0x27, 0, 0, 0, 0]),
        &client(V5),
        e,
        0x82,
    );
}

#[test]
fn payload_format_indicator_2_is_0x82_mqtt_3_3_2_3_2() {
    let e = DecodeError::InvalidPropertyValue(0x01);
    for v in [2, 0x80, 0xFF] {
        reject(
            &publish5(0x30, b"t", None, &[0x01, v], b""),
            &server(V5),
            e,
            0x82,
        );
        let will = cat(&[&s(b"c"), &props(&[0x01, v]), &s(b"w"), &s(b"p")]);
        reject(&connect5(0x06, &[], &will), &server(V5), e, 0x82);
    }
    let p = publish_of(accept(
        &publish5(0x30, b"t", None, &[0x01, 1], b"x"),
        &server(V5),
    ));
    assert_eq!(p.properties.payload_format_indicator, Some(true));
}

#[test]
fn request_problem_and_response_information_2_are_0x82_mqtt_3_1_2_11() {
    for id in [0x17, 0x19] {
        reject(
            &connect5(0x02, &[id, 2], &s(b"c")),
            &server(V5),
            DecodeError::InvalidPropertyValue(id),
            0x82,
        );
    }
    let c = connect_of(accept(
        &connect5(0x02, &[0x17, 0, 0x19, 1], &s(b"c")),
        &server(V5),
    ));
    assert_eq!(c.properties.request_problem_information, Some(false));
    assert_eq!(c.properties.request_response_information, Some(true));
}

#[test]
fn connack_maximum_qos_2_and_bad_flags_are_0x82_mqtt_3_2_2_3() {
    // Maximum QoS, Retain Available, Wildcard / Subscription Identifier / Shared
    // Subscription Available: 0 or 1 only.
    for (id, v) in [
        (0x24, 2),
        (0x24, 3),
        (0x25, 2),
        (0x28, 2),
        (0x29, 2),
        (0x2A, 0xFF),
    ] {
        reject(
            &frame(0x20, &[0, 0, 2, id, v]),
            &client(V5),
            DecodeError::InvalidPropertyValue(id),
            0x82,
        );
    }
    match accept(&frame(0x20, &[0, 0, 2, 0x24, 1]), &client(V5)) {
        Packet::ConnAck(c) => assert_eq!(c.properties.maximum_qos, Some(QoS::AtLeastOnce)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn user_properties_over_the_cap_are_0x97() {
    let mut opts = server(V5);
    opts.max_user_properties = 2;
    let three = cat(&[&user(b"a", b"1"), &user(b"a", b"2"), &user(b"b", b"3")]);
    let e = DecodeError::TooManyUserProperties(2);
    reject(&connect5(0x02, &three, &s(b"c")), &opts, e, 0x97);
    reject(&publish5(0x30, b"t", None, &three, b""), &opts, e, 0x97);
    reject(&subscribe5(1, &three, &[(b"t", 0)]), &opts, e, 0x97);
    // The cap is per property block: two in CONNECT and two in the will are fine.
    let two = cat(&[&user(b"a", b"1"), &user(b"a", b"2")]);
    let will = cat(&[&s(b"c"), &props(&two), &s(b"w"), &s(b"p")]);
    let c = connect_of(accept(&connect5(0x06, &two, &will), &opts));
    assert_eq!(c.will.unwrap().properties.user_properties.len(), 2);
}

#[test]
fn user_properties_keep_order_and_repeated_keys_mqtt_3_3_2_3_7() {
    let list = cat(&[
        &user(b"k", b"2"),
        &user(b"a", b"x"),
        &user(b"k", b"1"),
        &user(b"k", b"2"),
    ]);
    let p = publish_of(accept(&publish5(0x30, b"t", None, &list, b""), &server(V5)));
    let got: Vec<(&str, &str)> = p
        .properties
        .user_properties
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .collect();
    assert_eq!(got, [("k", "2"), ("a", "x"), ("k", "1"), ("k", "2")]);
}

// ---- packet identifiers on the other packets --------------------------------------------------

#[test]
fn packet_id_0_on_subscribe_unsubscribe_and_acks_is_0x82_mqtt_2_2_1_3() {
    let e = DecodeError::PacketIdZero;
    reject(&subscribe5(0, &[], &[(b"t", 0)]), &server(V5), e, 0x82);
    reject(&subscribe3(0, &[(b"t", 0)]), &server(V311), e, 0x82);
    reject(&unsubscribe5(0, &[], &[b"t"]), &server(V5), e, 0x82);
    reject(&unsubscribe3(0, &[b"t"]), &server(V311), e, 0x82);
    for v in [V5, V311] {
        for first in [0x40, 0x50, 0x62, 0x70] {
            reject(&[first, 0x02, 0x00, 0x00], &server(v), e, 0x82);
            reject(&[first, 0x02, 0x00, 0x00], &client(v), e, 0x82);
        }
        reject(&[0x90, 0x03, 0x00, 0x00, 0x00], &client(v), e, 0x82);
    }
    reject(&[0x90, 0x04, 0x00, 0x00, 0x00, 0x00], &client(V5), e, 0x82);
    reject(&[0xB0, 0x04, 0x00, 0x00, 0x00, 0x00], &client(V5), e, 0x82);
    reject(&[0xB0, 0x02, 0x00, 0x00], &client(V311), e, 0x82);
}

// ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------

#[test]
fn subscribe_without_filters_is_0x82_mqtt_3_8_3_2() {
    let e = DecodeError::SubscribeWithoutFilters;
    reject(&subscribe5(1, &[], &[]), &server(V5), e, 0x82);
    reject(&subscribe5(1, &[0x0B, 0x01], &[]), &server(V5), e, 0x82);
    reject(&subscribe3(1, &[]), &server(V311), e, 0x82);
    reject(&subscribe3(1, &[]), &server(V31), e, 0x82);
}

#[test]
fn unsubscribe_without_filters_is_0x82_mqtt_3_10_3_2() {
    let e = DecodeError::UnsubscribeWithoutFilters;
    reject(&unsubscribe5(1, &[], &[]), &server(V5), e, 0x82);
    reject(
        &unsubscribe5(1, &user(b"k", b"v"), &[]),
        &server(V5),
        e,
        0x82,
    );
    reject(&unsubscribe3(1, &[]), &server(V311), e, 0x82);
}

#[test]
fn subscription_option_reserved_bits_are_0x81_mqtt_3_8_3_5() {
    let e = DecodeError::SubscriptionOptionsReserved;
    for o in [0x40, 0x80, 0xC0, 0xC1, 0x41] {
        reject(&subscribe5(1, &[], &[(b"t", o)]), &server(V5), e, 0x81);
        // A bad entry after a good one.
        reject(
            &subscribe5(1, &[], &[(b"a", 0x01), (b"t", o)]),
            &server(V5),
            e,
            0x81,
        );
    }
}

#[test]
fn subscription_option_bits_2_to_7_are_reserved_on_v311_mqtt_3_8_3_4() {
    let e = DecodeError::SubscriptionOptionsReserved;
    for bit in 2..8 {
        let o = 1u8 << bit;
        reject(&subscribe3(1, &[(b"t", o)]), &server(V311), e, 0x81);
        reject(&subscribe3(1, &[(b"t", o | 1)]), &server(V31), e, 0x81);
    }
}

#[test]
fn subscription_qos3_is_0x82_mqtt_3_8_3_1() {
    // MQTT 5 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
    let e = DecodeError::SubscriptionQos3;
    reject(&subscribe5(1, &[], &[(b"t", 0x03)]), &server(V5), e, 0x82);
    reject(&subscribe5(1, &[], &[(b"t", 0x2F)]), &server(V5), e, 0x82);
    // On v3.1.1 it is malformed [MQTT-3.8.3-4]; a v3 client is simply disconnected.
    assert_eq!(
        decode(&subscribe3(1, &[(b"t", 0x03)]), &server(V311)),
        Err(e)
    );
}

#[test]
fn retain_handling_3_is_0x82_mqtt_3_8_3_1() {
    let e = DecodeError::RetainHandling3;
    for o in [0x30, 0x31, 0x3E] {
        reject(&subscribe5(1, &[], &[(b"t", o)]), &server(V5), e, 0x82);
    }
}

#[test]
fn no_local_on_shared_subscription_is_0x82_mqtt_3_8_3_4() {
    let e = DecodeError::NoLocalOnSharedSubscription;
    for f in [&b"$share/g/t"[..], b"$share/g/#", b"$share/ab"] {
        reject(&subscribe5(1, &[], &[(f, 0x04)]), &server(V5), e, 0x82);
        reject(
            &subscribe5(1, &[], &[(b"x", 0x04), (f, 0x05)]),
            &server(V5),
            e,
            0x82,
        );
    }
    // No Local on an ordinary filter, and a shared filter without it, are fine.
    let sub = subscribe_of(accept(
        &subscribe5(1, &[], &[(b"$share-like/t", 0x04), (b"$share/g/t", 0x01)]),
        &server(V5),
    ));
    assert!(sub.subscriptions[0].options.no_local);
    assert!(!sub.subscriptions[1].options.no_local);
}

#[test]
fn subscription_options_every_valid_bit_decodes_mqtt_3_8_3_1() {
    let sub = subscribe_of(accept(
        &subscribe5(7, &[], &[(b"a/+", 0x2E), (b"b/#", 0x11), (b"c", 0x00)]),
        &server(V5),
    ));
    assert_eq!(sub.packet_id.get(), 7);
    let o = sub.subscriptions[0].options;
    assert_eq!(o.qos, QoS::ExactlyOnce);
    assert!(o.no_local && o.retain_as_published);
    assert_eq!(o.retain_handling, RetainHandling::DoNotSend);
    assert_eq!(
        sub.subscriptions[1].options.retain_handling,
        RetainHandling::SendIfNew
    );
    assert_eq!(&*sub.subscriptions[2].filter, "c");
}

// ---- reason codes in acknowledgements ---------------------------------------------------------

#[test]
fn invalid_reason_codes_in_acks_are_0x81_mqtt_2_4() {
    use PacketType::*;
    let inv = |packet, code| DecodeError::InvalidReasonCode { packet, code };
    let cases: Vec<(Vec<u8>, DecodeOptions, DecodeError)> = vec![
        (vec![0x40, 0x03, 0, 1, 0x92], server(V5), inv(PubAck, 0x92)),
        (vec![0x40, 0x03, 0, 1, 0x01], client(V5), inv(PubAck, 0x01)),
        (vec![0x50, 0x03, 0, 1, 0x92], server(V5), inv(PubRec, 0x92)),
        (vec![0x62, 0x03, 0, 1, 0x10], server(V5), inv(PubRel, 0x10)),
        (vec![0x70, 0x03, 0, 1, 0x80], client(V5), inv(PubComp, 0x80)),
        (
            vec![0x90, 0x04, 0, 1, 0, 0x03],
            client(V5),
            inv(SubAck, 0x03),
        ),
        (
            vec![0x90, 0x05, 0, 1, 0, 0x01, 0x04],
            client(V5),
            inv(SubAck, 0x04),
        ),
        // 0x8F is MQTT 5 only; 3.1.1 knows 0x00..0x02 and 0x80.
        (
            vec![0x90, 0x03, 0, 1, 0x8F],
            client(V311),
            inv(SubAck, 0x8F),
        ),
        (
            vec![0x90, 0x03, 0, 1, 0x03],
            client(V311),
            inv(SubAck, 0x03),
        ),
        (
            vec![0xB0, 0x04, 0, 1, 0, 0x01],
            client(V5),
            inv(UnsubAck, 0x01),
        ),
        (vec![0xE0, 0x01, 0x05], server(V5), inv(Disconnect, 0x05)),
        (vec![0xE0, 0x01, 0x01], client(V5), inv(Disconnect, 0x01)),
        (vec![0xF0, 0x01, 0x01], server(V5), inv(Auth, 0x01)),
        (vec![0x20, 0x03, 0, 0x01, 0], client(V5), inv(ConnAck, 0x01)),
        (vec![0x20, 0x03, 0, 0x8B, 0], client(V5), inv(ConnAck, 0x8B)),
        (vec![0x20, 0x02, 0, 0x06], client(V311), inv(ConnAck, 0x06)),
        (vec![0x20, 0x02, 0, 0x80], client(V311), inv(ConnAck, 0x80)),
    ];
    for (bytes, opts, want) in cases {
        reject(&bytes, &opts, want, 0x81);
    }
    // The valid neighbours decode.
    accept(&[0x90, 0x04, 0, 1, 0, 0x8F], &client(V5));
    accept(&[0x90, 0x03, 0, 1, 0x80], &client(V311));
    accept(&[0x70, 0x03, 0, 1, 0x92], &client(V5));
    accept(&[0xE0, 0x01, 0x04], &server(V5));
}

#[test]
fn ack_without_reason_codes_is_0x81_mqtt_3_9_3_1() {
    let e = DecodeError::EmptyAckList;
    reject(&[0x90, 0x03, 0x00, 0x01, 0x00], &client(V5), e, 0x81);
    reject(&[0x90, 0x02, 0x00, 0x01], &client(V311), e, 0x81);
    reject(&[0xB0, 0x03, 0x00, 0x01, 0x00], &client(V5), e, 0x81);
    // A 3.1.1 UNSUBACK has no reason codes at all.
    accept(&[0xB0, 0x02, 0x00, 0x01], &client(V311));
}

// ---- topic names and filters (what topic.rs's unit tests leave out) --------------------------

#[test]
fn topic_longer_than_65535_bytes_is_refused_mqtt_4_7_3_3() {
    let max = "a".repeat(65_535);
    assert_eq!(validate_topic_name(&max, 128), Ok(1));
    assert!(parse_filter(&max, 128).is_ok());
    let over = "a".repeat(65_536);
    assert_eq!(validate_topic_name(&over, 128), Err(TopicError::TooLong));
    assert_eq!(parse_filter(&over, 128), Err(TopicError::TooLong));
}

#[test]
fn topic_names_may_be_slashes_dollars_spaces_and_bom_mqtt_4_7_3_1() {
    assert_eq!(validate_topic_name("/", 128), Ok(2));
    assert_eq!(validate_topic_name("$SYS/broker", 128), Ok(2));
    assert_eq!(validate_topic_name(" ", 128), Ok(1));
    assert_eq!(validate_topic_name("\u{FEFF}a", 128), Ok(1));
    assert_eq!(validate_topic_name("a//b", 128), Ok(3));
}

#[test]
fn filter_level_cap_boundary_mqtt_4_7_1() {
    let at_cap = "+/".repeat(3) + "#";
    assert_eq!(parse_filter(&at_cap, 4).unwrap().levels, 4);
    assert_eq!(parse_filter(&at_cap, 3), Err(TopicError::TooManyLevels(3)));
    // The share prefix and group are not levels of the filter.
    let f = parse_filter("$share/g/a/b", 2).unwrap();
    assert_eq!((f.share_group, f.filter, f.levels), (Some("g"), "a/b", 2));
    assert_eq!(
        parse_filter("$share/g/a/b/c", 2),
        Err(TopicError::TooManyLevels(2))
    );
}

#[test]
fn shared_filter_body_follows_the_wildcard_rules_mqtt_4_8_2_2() {
    let f = parse_filter("$share/g/#", 128).unwrap();
    assert_eq!((f.filter, f.has_wildcards), ("#", true));
    assert!(parse_filter("$share/g/+/x", 128).is_ok());
    assert_eq!(
        parse_filter("$share/g/a/#/b", 128),
        Err(TopicError::MultiLevelWildcardMisplaced)
    );
    assert_eq!(
        parse_filter("$share/g/a+", 128),
        Err(TopicError::SingleLevelWildcardMisplaced)
    );
    let f = parse_filter("$share/g/$SYS/x", 128).unwrap();
    assert!(!f.has_wildcards);
    // Wildcards inside a topic name are refused whatever their place.
    for name in ["+", "#", "a/+/b", "a#", "$share/g/+"] {
        assert_eq!(
            validate_topic_name(name, 128),
            Err(TopicError::WildcardInName)
        );
    }
}

#[test]
fn server_disconnect_with_session_expiry_is_0x82_mqtt_3_14_2_2() {
    // DISCONNECT 0x00 with Session Expiry Interval = 10.
    let bytes = frame(0xE0, &cat(&[&[0x00], &props(&[0x11, 0, 0, 0, 10])]));
    reject(
        &bytes,
        &client(V5),
        DecodeError::PropertyNotAllowed {
            id: 0x11,
            packet: PacketType::Disconnect,
        },
        0x82,
    );
    // The same packet from a client is how it changes its session expiry.
    let p = accept(&bytes, &server(V5));
    let Packet::Disconnect(d) = p else {
        panic!("expected DISCONNECT, got {p:?}")
    };
    assert_eq!(d.properties.session_expiry_interval, Some(10));
}
