//! Properties: their framing, unknown ids, the packets each may appear in, duplicates and
//! value ranges.

use mqtt_proto::{DecodeError, DecodeOptions, Packet, PacketType, QoS};

use crate::{
    accept, cat, client, connect5, connect_of, frame, props, publish5, publish_of, reject, s,
    server, subscribe5, unsubscribe5, user, V5,
};

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
