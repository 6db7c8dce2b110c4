//! Rows 12–22: properties, identifiers, subscriptions and user-property floods.

use mqtt_proto::topic::{parse_filter, TopicError};
use mqtt_proto::{
    ConnectReasonCode, DecodeError, Packet, PacketType, SubAckReasonCode,
    DEFAULT_MAX_USER_PROPERTIES,
};

use super::*;

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
