//! UTF-8 strings, checked in every string field: malformed sequences, U+0000, the BOM and
//! control characters.

use mqtt_proto::{ControlChars, DecodeError, DecodeOptions, ReasonCode};

use crate::{
    accept, cat, client, connect3, connect5, connect_of, decode, frame, props, publish3, publish5,
    publish_of, s, server, subscribe5, unsubscribe5, user, V311, V5,
};

// ---- UTF-8 strings ----------------------------------------------------------------------------

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
