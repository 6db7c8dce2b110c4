//! CONNECT and CONNACK.

use mqtt_proto::{ConnectReasonCode, DecodeError, Packet, QoS};

use crate::{
    accept, cat, client, connect3, connect5, connect_of, frame, reject, s, server, V31, V311, V5,
};

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
