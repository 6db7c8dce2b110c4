//! PUBLISH: topic names, packet identifiers, topic aliases and subscription identifiers.

use mqtt_proto::{DecodeError, QosPid};

use crate::{
    accept, cat, client, connect5, props, publish3, publish5, publish_of, reject, s, server,
    subscribe5, subscribe_of, V31, V311, V5,
};

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
