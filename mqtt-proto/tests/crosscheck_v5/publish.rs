//! PUBLISH, PUBACK, PUBREC, PUBREL and PUBCOMP.

use mqtt_proto::{
    AckProperties, Bytes, Packet, PubAck, PubAckReasonCode, PubRel, PubRelReasonCode, Publish,
    PublishProperties, QoS, QosPid,
};

use crate::{b, crosscheck, many_users, nz16, nz32, pid, s, users, Sender, BOTH};

// ---- PUBLISH ------------------------------------------------------------------------------

pub(crate) fn full_publish_props() -> PublishProperties {
    PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(86_400),
        topic_alias: None,
        response_topic: Some(s("reply/\u{e9}")),
        correlation_data: Some(b(b"\x00corr\xff")),
        user_properties: many_users(),
        subscription_identifiers: Default::default(),
        content_type: Some(s("text/plain; charset=utf-8")),
    }
}

pub(crate) fn publish(
    qos: QoS,
    dup: bool,
    retain: bool,
    topic: &str,
    properties: PublishProperties,
    payload: Bytes,
) -> Publish {
    Publish {
        dup,
        qos_pid: QosPid::new(qos, pid(0xBEEF)),
        retain,
        topic: s(topic),
        properties,
        payload,
    }
}

#[test]
fn publish_flags_and_payload_sizes() {
    let payloads = [
        Bytes::new(),
        b(b"\x00\x01\xfe\xff"),
        Bytes::from(vec![0x42; 127]),
        Bytes::from(vec![0x42; 20_000]),
        Bytes::from(vec![0x24; 2_100_000]),
    ];
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let dups: &[bool] = if qos == QoS::AtMostOnce {
            &[false]
        } else {
            &[false, true]
        };
        for &dup in dups {
            for retain in [false, true] {
                for payload in &payloads {
                    for props in [PublishProperties::default(), full_publish_props()] {
                        let p = publish(qos, dup, retain, "a/b/\u{1f600}", props, payload.clone());
                        for from in BOTH {
                            crosscheck(Packet::Publish(p.clone()), from);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn publish_each_property_alone() {
    let full = full_publish_props();
    let singles = [
        PublishProperties {
            payload_format_indicator: Some(false),
            ..Default::default()
        },
        PublishProperties {
            message_expiry_interval: Some(0),
            ..Default::default()
        },
        PublishProperties {
            topic_alias: Some(nz16(1)),
            ..Default::default()
        },
        PublishProperties {
            response_topic: full.response_topic.clone(),
            ..Default::default()
        },
        PublishProperties {
            correlation_data: Some(Bytes::new()),
            ..Default::default()
        },
        PublishProperties {
            user_properties: users(&[("only", "one")]),
            ..Default::default()
        },
        PublishProperties {
            content_type: Some(s("")),
            ..Default::default()
        },
    ];
    for props in singles {
        let p = publish(QoS::AtLeastOnce, false, false, "t", props, b(b"x"));
        for from in BOTH {
            crosscheck(Packet::Publish(p.clone()), from);
        }
    }
}

#[test]
fn publish_topic_alias() {
    for alias in [1, 10, u16::MAX] {
        let props = PublishProperties {
            topic_alias: Some(nz16(alias)),
            ..full_publish_props()
        };
        for topic in ["sensors/1/temp", ""] {
            let p = publish(
                QoS::ExactlyOnce,
                false,
                true,
                topic,
                props.clone(),
                b(b"21.5"),
            );
            for from in BOTH {
                crosscheck(Packet::Publish(p.clone()), from);
            }
        }
    }
}

/// Subscription identifiers travel from server to client only [MQTT-3.3.4-6].
#[test]
fn publish_subscription_identifiers() {
    let sets: [&[u32]; 4] = [
        &[1],
        &[127, 128],
        &[16_383, 16_384, 2_097_151, 2_097_152],
        &[268_435_455, 1, 268_435_455],
    ];
    for ids in sets {
        let props = PublishProperties {
            subscription_identifiers: ids.iter().copied().map(nz32).collect(),
            ..full_publish_props()
        };
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let p = publish(qos, false, false, "a/b", props.clone(), b(b"m"));
            crosscheck(Packet::Publish(p), Sender::Server);
        }
    }
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ------------------------------------------------------

pub(crate) fn ack_props_variants() -> [AckProperties; 4] {
    [
        AckProperties::default(),
        AckProperties {
            reason_string: Some(s("reason \u{1f914}")),
            ..Default::default()
        },
        AckProperties {
            user_properties: many_users(),
            ..Default::default()
        },
        AckProperties {
            reason_string: Some(s("")),
            user_properties: users(&[("a", "1"), ("a", "2")]),
        },
    ]
}

#[test]
fn puback_and_pubrec_every_reason_code() {
    for &reason_code in PubAckReasonCode::ALL {
        for properties in ack_props_variants() {
            for id in [1, u16::MAX] {
                let ack = PubAck {
                    packet_id: pid(id),
                    reason_code,
                    properties: properties.clone(),
                };
                for from in BOTH {
                    crosscheck(Packet::PubAck(ack.clone()), from);
                    crosscheck(Packet::PubRec(ack.clone()), from);
                }
            }
        }
    }
}

#[test]
fn pubrel_and_pubcomp_every_reason_code() {
    for &reason_code in PubRelReasonCode::ALL {
        for properties in ack_props_variants() {
            for id in [1, 0x1234] {
                let ack = PubRel {
                    packet_id: pid(id),
                    reason_code,
                    properties: properties.clone(),
                };
                for from in BOTH {
                    crosscheck(Packet::PubRel(ack.clone()), from);
                    crosscheck(Packet::PubComp(ack.clone()), from);
                }
            }
        }
    }
}
