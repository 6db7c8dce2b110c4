//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.

use mqtt_proto::{
    Packet, QoS, RetainHandling, SubAck, SubAckReasonCode, Subscribe, SubscribeProperties,
    Subscription, SubscriptionOptions, UnsubAck, UnsubAckReasonCode, Unsubscribe,
    UnsubscribeProperties,
};

use crate::publish::ack_props_variants;
use crate::{crosscheck, many_users, nz32, pid, s, users, Sender};

// ---- SUBSCRIBE, SUBACK --------------------------------------------------------------------

#[test]
fn subscribe_every_option_combination() {
    let mut subscriptions = Vec::new();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for no_local in [false, true] {
            for retain_as_published in [false, true] {
                for retain_handling in [
                    RetainHandling::SendAtSubscribe,
                    RetainHandling::SendIfNew,
                    RetainHandling::DoNotSend,
                ] {
                    subscriptions.push(Subscription {
                        filter: s(&format!("f/{}/+/#", subscriptions.len())),
                        options: SubscriptionOptions {
                            qos,
                            no_local,
                            retain_as_published,
                            retain_handling,
                        },
                    });
                }
            }
        }
    }
    let property_sets = [
        SubscribeProperties::default(),
        SubscribeProperties {
            subscription_identifier: Some(nz32(1)),
            user_properties: Default::default(),
        },
        SubscribeProperties {
            subscription_identifier: Some(nz32(268_435_455)),
            user_properties: many_users(),
        },
        SubscribeProperties {
            subscription_identifier: None,
            user_properties: users(&[("x", "y")]),
        },
    ];
    for properties in property_sets {
        // One packet with all 36 combinations, and each alone.
        crosscheck(
            Packet::Subscribe(Subscribe {
                packet_id: pid(77),
                properties: properties.clone(),
                subscriptions: subscriptions.iter().cloned().collect(),
            }),
            Sender::Client,
        );
        for sub in &subscriptions {
            crosscheck(
                Packet::Subscribe(Subscribe {
                    packet_id: pid(u16::MAX),
                    properties: properties.clone(),
                    subscriptions: [sub.clone()].into_iter().collect(),
                }),
                Sender::Client,
            );
        }
    }
}

#[test]
fn subscribe_shared_subscription() {
    crosscheck(
        Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            subscriptions: [Subscription {
                filter: s("$share/group/sensors/+"),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..Default::default()
                },
            }]
            .into_iter()
            .collect(),
        }),
        Sender::Client,
    );
}

#[test]
fn suback_every_reason_code() {
    for properties in ack_props_variants() {
        // All codes in one packet, and each alone.
        crosscheck(
            Packet::SubAck(SubAck {
                packet_id: pid(77),
                properties: properties.clone(),
                reason_codes: SubAckReasonCode::ALL.iter().copied().collect(),
            }),
            Sender::Server,
        );
        for &code in SubAckReasonCode::ALL {
            crosscheck(
                Packet::SubAck(SubAck {
                    packet_id: pid(1),
                    properties: properties.clone(),
                    reason_codes: [code].into_iter().collect(),
                }),
                Sender::Server,
            );
        }
    }
}

// ---- UNSUBSCRIBE, UNSUBACK ----------------------------------------------------------------

#[test]
fn unsubscribe_filters_and_user_properties() {
    let filters = ["a/b", "sport/+/player1", "#", "$share/g/x", "\u{4e2d}/+"];
    for properties in [
        UnsubscribeProperties::default(),
        UnsubscribeProperties {
            user_properties: many_users(),
        },
    ] {
        for n in 1..=filters.len() {
            crosscheck(
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: pid(n as u16),
                    properties: properties.clone(),
                    filters: filters[..n].iter().map(|f| s(f)).collect(),
                }),
                Sender::Client,
            );
        }
    }
}

#[test]
fn unsuback_every_reason_code() {
    for properties in ack_props_variants() {
        crosscheck(
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(9),
                properties: properties.clone(),
                reason_codes: UnsubAckReasonCode::ALL.iter().copied().collect(),
            }),
            Sender::Server,
        );
        for &code in UnsubAckReasonCode::ALL {
            crosscheck(
                Packet::UnsubAck(UnsubAck {
                    packet_id: pid(u16::MAX),
                    properties: properties.clone(),
                    reason_codes: [code].into_iter().collect(),
                }),
                Sender::Server,
            );
        }
    }
}
