//! SUBSCRIBE and UNSUBSCRIBE: filter lists and subscription options.

use mqtt_proto::{DecodeError, QoS, RetainHandling};

use crate::{
    accept, decode, reject, server, subscribe3, subscribe5, subscribe_of, unsubscribe3,
    unsubscribe5, user, V31, V311, V5,
};

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
