//! Strategies for the properties of every packet type, and for whole packets.

use mqtt_proto::ProtocolVersion::V3_1;
use mqtt_proto::{
    Ack, AckProperties, AckReason, Auth, AuthProperties, AuthReasonCode, ByteString, ConnAck,
    ConnAckProperties, Connect, ConnectProperties, ConnectReasonCode, ConnectReturnCode,
    Disconnect, DisconnectProperties, DisconnectReasonCode, LastWill, Packet, ProtocolVersion,
    PubAckReasonCode, PubRelReasonCode, Publish, PublishProperties, QoS, QosPid, RetainHandling,
    Role, SubAck, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, UnsubAck, UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties,
    WillProperties,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::{
    bytes, filter, nz16, nz32, qos, sub_id, text, topic_name, user_props, v5_or_default,
    SHARE_PREFIX,
};

// ---- property strategies -----------------------------------------------------------------------

fn connect_props() -> impl Strategy<Value = ConnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(nz32()),
        option::of(any::<u16>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(text(12)),
        option::of(bytes(12)),
        user_props(),
    )
        .prop_map(|(sei, rm, mps, tam, rri, rpi, method, data, user)| {
            ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                // [MQTT-3.1.2.11.10] authentication data needs a method.
                authentication_data: data.filter(|_| method.is_some()),
                authentication_method: method,
                user_properties: user,
            }
        })
}

fn will_props() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(text(12)),
        option::of(topic_name()),
        option::of(bytes(12)),
        user_props(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, user)| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: user,
        })
}

fn connack_props() -> impl Strategy<Value = ConnAckProperties> {
    (
        (
            option::of(any::<u32>()),
            option::of(nz16()),
            option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
            option::of(any::<bool>()),
            option::of(nz32()),
            option::of(text(12)),
            option::of(any::<u16>()),
            option::of(text(24)),
            option::of(any::<bool>()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<u16>()),
            option::of(text(12)),
            option::of(text(12)),
            option::of(text(12)),
            option::of(bytes(12)),
            user_props(),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs, wsa), (sia, ssa, ska, ri, sr, am, ad, user))| {
                ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                    user_properties: user,
                }
            },
        )
}

/// PUBLISH properties. Subscription identifiers only travel from server to client
/// [MQTT-3.3.4-6].
fn publish_props(sender: Role) -> impl Strategy<Value = PublishProperties> {
    let max_ids = if sender == Role::Server { 4 } else { 0 };
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(topic_name()),
        option::of(bytes(16)),
        user_props(),
        vec(sub_id(), 0..=max_ids),
        option::of(text(12)),
    )
        .prop_map(
            |(pfi, mei, alias, rt, cd, user, ids, ct)| PublishProperties {
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                topic_alias: alias,
                response_topic: rt,
                correlation_data: cd,
                user_properties: user,
                subscription_identifiers: ids.into_iter().collect(),
                content_type: ct,
            },
        )
}

fn ack_props() -> impl Strategy<Value = AckProperties> {
    (option::of(text(32)), user_props()).prop_map(|(rs, user)| AckProperties {
        reason_string: rs,
        user_properties: user,
    })
}

fn subscribe_props() -> impl Strategy<Value = SubscribeProperties> {
    (option::of(sub_id()), user_props()).prop_map(|(id, user)| SubscribeProperties {
        subscription_identifier: id,
        user_properties: user,
    })
}

fn unsubscribe_props() -> impl Strategy<Value = UnsubscribeProperties> {
    user_props().prop_map(|user| UnsubscribeProperties {
        user_properties: user,
    })
}

fn disconnect_props() -> impl Strategy<Value = DisconnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(text(24)),
        option::of(text(12)),
        user_props(),
    )
        .prop_map(|(sei, rs, sr, user)| DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            server_reference: sr,
            user_properties: user,
        })
}

fn auth_props() -> impl Strategy<Value = AuthProperties> {
    (
        option::of(text(12)),
        option::of(bytes(24)),
        option::of(text(24)),
        user_props(),
    )
        .prop_map(|(am, ad, rs, user)| AuthProperties {
            authentication_method: am,
            authentication_data: ad,
            reason_string: rs,
            user_properties: user,
        })
}

// ---- packet strategies -------------------------------------------------------------------------

pub(crate) fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (
        topic_name(),
        bytes(32),
        qos(),
        any::<bool>(),
        v5_or_default(v, will_props()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        v5_or_default(v, connect_props()),
        text(23),
        option::of(will),
        option::of(text(12)),
        option::of(bytes(12)),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // [MQTT-3.1.2-22] on 3.x a password needs a user name.
                let password = password.filter(|_| v.is_v5() || username.is_some());
                Packet::from(Connect {
                    protocol_version: v,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                })
            },
        )
}

pub(crate) fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v.is_v5() {
        select(ConnectReasonCode::ALL).boxed()
    } else {
        // Only the six codes that come from a 3.x return code survive the trip.
        select(ConnectReturnCode::ALL)
            .prop_map(ConnectReasonCode::from)
            .boxed()
    };
    (any::<bool>(), code, v5_or_default(v, connack_props())).prop_map(
        move |(session_present, reason_code, properties)| {
            Packet::from(ConnAck {
                // 3.1 has no Session Present flag; [MQTT-3.2.2-6] none on a refusal.
                session_present: session_present && v != V3_1 && !reason_code.is_error(),
                reason_code,
                properties,
            })
        },
    )
}

pub(crate) fn publish(v: ProtocolVersion, sender: Role) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        nz16(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        v5_or_default(v, publish_props(sender)),
        bytes(300),
    )
        .prop_map(
            |(dup, qos, pid, retain, topic, drop_topic, properties, payload)| {
                let qos_pid = QosPid::new(qos, pid);
                // [MQTT-4.7.3-1] the topic may be empty only when a topic alias stands for it.
                let topic = if drop_topic && properties.topic_alias.is_some() {
                    ByteString::new()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    // [MQTT-3.3.1-2] no DUP on QoS 0.
                    dup: dup && qos != QoS::AtMostOnce,
                    qos_pid,
                    retain,
                    topic,
                    properties,
                    payload,
                })
            },
        )
}

pub(crate) fn ack<C>(v: ProtocolVersion, codes: &'static [C]) -> impl Strategy<Value = Ack<C>>
where
    C: AckReason + 'static,
{
    (
        nz16(),
        v5_or_default(v, (select(codes), ack_props()).prop_map(Some)),
    )
        .prop_map(|(packet_id, rest)| match rest {
            Some((reason_code, properties)) => Ack {
                packet_id,
                reason_code,
                properties,
            },
            None => Ack::new(packet_id),
        })
}

pub(crate) fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let options = (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    );
    let entry = (filter(), options).prop_map(move |(filter, (qos, nl, rap, rh))| {
        let options = if v.is_v5() {
            SubscriptionOptions {
                qos,
                // [MQTT-3.8.3-4] No Local is a protocol error on a shared subscription.
                no_local: nl && !filter.starts_with(SHARE_PREFIX),
                retain_as_published: rap,
                retain_handling: rh,
            }
        } else {
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            }
        };
        Subscription { filter, options }
    });
    (
        nz16(),
        v5_or_default(v, subscribe_props()),
        vec(entry, 1..5),
    )
        .prop_map(|(packet_id, properties, subs)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                subscriptions: subs.into_iter().collect(),
            })
        })
}

pub(crate) fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes: Vec<SubAckReasonCode> = if v.is_v5() {
        SubAckReasonCode::ALL.to_vec()
    } else {
        vec![
            SubAckReasonCode::GrantedQoS0,
            SubAckReasonCode::GrantedQoS1,
            SubAckReasonCode::GrantedQoS2,
            SubAckReasonCode::UnspecifiedError,
        ]
    };
    (
        nz16(),
        v5_or_default(v, ack_props()),
        vec(select(codes), 1..6),
    )
        .prop_map(|(packet_id, properties, codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes: codes.into_iter().collect(),
            })
        })
}

pub(crate) fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        nz16(),
        v5_or_default(v, unsubscribe_props()),
        vec(filter(), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters: filters.into_iter().collect(),
            })
        })
}

pub(crate) fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    // MQTT 3.x UNSUBACK carries no reason codes.
    let codes = if v.is_v5() {
        vec(select(UnsubAckReasonCode::ALL), 1..6).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (nz16(), v5_or_default(v, ack_props()), codes).prop_map(|(packet_id, properties, codes)| {
        Packet::UnsubAck(UnsubAck {
            packet_id,
            properties,
            reason_codes: codes.into_iter().collect(),
        })
    })
}

pub(crate) fn disconnect(v: ProtocolVersion, sender: Role) -> impl Strategy<Value = Packet> {
    v5_or_default(
        v,
        (select(DisconnectReasonCode::ALL), disconnect_props()).prop_map(
            move |(reason_code, mut properties)| {
                // [MQTT-3.14.2-2] a server never sends Session Expiry Interval.
                if sender == Role::Server {
                    properties.session_expiry_interval = None;
                }
                Disconnect {
                    reason_code,
                    properties,
                }
            },
        ),
    )
    .prop_map(Packet::Disconnect)
}

pub(crate) fn auth() -> impl Strategy<Value = Packet> {
    (select(AuthReasonCode::ALL), auth_props())
        .prop_map(|(reason_code, properties)| Auth {
            reason_code,
            properties,
        })
        // [MQTT-3.15.2.2.2] only the bare Success form may leave out the method.
        .prop_filter("AUTH needs a method unless bare", |a| {
            a.properties.authentication_method.is_some()
                || (a.reason_code == AuthReasonCode::Success
                    && a.properties == AuthProperties::default())
        })
        .prop_map(Packet::Auth)
}

/// Any valid packet that `sender` may send in `v`.
pub(crate) fn any_packet(v: ProtocolVersion, sender: Role) -> BoxedStrategy<Packet> {
    let both = prop_oneof![
        publish(v, sender),
        ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubAck),
        ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubRec),
        ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubRel),
        ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubComp),
        disconnect(v, sender),
    ];
    let own = match sender {
        Role::Client => prop_oneof![
            connect(v),
            subscribe(v),
            unsubscribe(v),
            Just(Packet::PingReq)
        ]
        .boxed(),
        Role::Server => {
            prop_oneof![connack(v), suback(v), unsuback(v), Just(Packet::PingResp)].boxed()
        }
    };
    if v.is_v5() {
        prop_oneof![both, own, auth()].boxed()
    } else {
        prop_oneof![both, own].boxed()
    }
}
