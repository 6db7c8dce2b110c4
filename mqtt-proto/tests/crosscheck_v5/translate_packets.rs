//! Packets translated field by field, both ways: `to_ours` and `to_theirs`.

use core::num::NonZeroU16;

use m5::packet::auth::AuthPacket;
use m5::packet::connack::ConnAckPacket;
use m5::packet::connect::ConnectPacket;
use m5::packet::disconnect::DisconnectPacket;
use m5::packet::puback::PubAckPacket;
use m5::packet::pubcomp::PubCompPacket;
use m5::packet::publish::PublishPacket;
use m5::packet::pubrec::PubRecPacket;
use m5::packet::pubrel::PubRelPacket;
use m5::packet::suback::{SubAckPacket, SubAckReasonCode as TSubAckCode};
use m5::packet::subscribe::{
    RetainHandling as TRetain, SubscribePacket, SubscriptionOptions as TSubOpts, TopicFilter,
};
use m5::packet::unsuback::{UnsubAckPacket, UnsubAckReasonCode as TUnsubAckCode};
use m5::packet::unsubscribe::UnsubscribePacket;
use m5::packet::Packet as TPacket;
use mqtt5_protocol as m5;
use mqtt_proto::{
    Auth, AuthReasonCode, Bytes, ConnAck, Connect, ConnectReasonCode, Disconnect,
    DisconnectReasonCode, LastWill, Packet, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel,
    PubRelReasonCode, Publish, QosPid, RetainHandling, SubAck, SubAckReasonCode, Subscribe,
    Subscription, SubscriptionOptions, UnsubAck, UnsubAckReasonCode, Unsubscribe,
};

use crate::translate_props::{
    ack_props_ours, ack_props_theirs, auth_props_ours, auth_props_theirs, connack_props_ours,
    connack_props_theirs, connect_props_ours, connect_props_theirs, disconnect_props_ours,
    disconnect_props_theirs, publish_props_ours, publish_props_theirs, subscribe_props_ours,
    subscribe_props_theirs, unsubscribe_props_ours, unsubscribe_props_theirs, will_props_ours,
    will_props_theirs,
};
use crate::{pid, qos_ours, qos_theirs, reason_theirs, s, V};

// ---- packets: theirs -> ours --------------------------------------------------------------

fn retain_ours(r: TRetain) -> RetainHandling {
    match r {
        TRetain::SendAtSubscribe => RetainHandling::SendAtSubscribe,
        TRetain::SendAtSubscribeIfNew => RetainHandling::SendIfNew,
        TRetain::DoNotSend => RetainHandling::DoNotSend,
    }
}

fn retain_theirs(r: RetainHandling) -> TRetain {
    match r {
        RetainHandling::SendAtSubscribe => TRetain::SendAtSubscribe,
        RetainHandling::SendIfNew => TRetain::SendAtSubscribeIfNew,
        RetainHandling::DoNotSend => TRetain::DoNotSend,
    }
}

/// Translates what `mqtt5-protocol` decoded into our model, field by field.
pub(crate) fn to_ours(t: &TPacket) -> Packet {
    match t {
        TPacket::Connect(c) => {
            let ConnectPacket {
                protocol_version,
                clean_start,
                keep_alive,
                client_id,
                username,
                password,
                will,
                properties,
                will_properties,
            } = &**c;
            assert_eq!(*protocol_version, 5);
            if will.is_none() {
                assert!(will_properties.is_empty());
            }
            Packet::from(Connect {
                protocol_version: V,
                clean_start: *clean_start,
                keep_alive: *keep_alive,
                properties: connect_props_ours(properties),
                client_id: s(client_id),
                // Their typed `will.properties` is derived from `will_properties`, which is
                // what they read and write.
                will: will.as_ref().map(|w| LastWill {
                    topic: s(&w.topic),
                    payload: Bytes::copy_from_slice(&w.payload),
                    qos: qos_ours(w.qos),
                    retain: w.retain,
                    properties: will_props_ours(will_properties),
                }),
                username: username.as_deref().map(s),
                password: password.as_deref().map(Bytes::copy_from_slice),
            })
        }
        TPacket::ConnAck(c) => {
            let ConnAckPacket {
                session_present,
                reason_code,
                properties,
                protocol_version,
            } = c;
            assert_eq!(*protocol_version, 5);
            Packet::from(ConnAck {
                session_present: *session_present,
                reason_code: ConnectReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: connack_props_ours(properties),
            })
        }
        TPacket::Publish(p) => {
            let PublishPacket {
                topic_name,
                packet_id,
                payload,
                qos,
                retain,
                dup,
                properties,
                protocol_version,
                stream_id,
            } = p;
            assert_eq!(*protocol_version, 5);
            assert_eq!(*stream_id, None);
            let qos_pid = match (qos, packet_id) {
                (m5::QoS::AtMostOnce, None) => QosPid::AtMostOnce,
                (m5::QoS::AtLeastOnce, Some(id)) => QosPid::AtLeastOnce(pid(*id)),
                (m5::QoS::ExactlyOnce, Some(id)) => QosPid::ExactlyOnce(pid(*id)),
                other => panic!("QoS and packet id disagree: {other:?}"),
            };
            Packet::Publish(Publish {
                dup: *dup,
                qos_pid,
                retain: *retain,
                topic: s(topic_name),
                properties: publish_props_ours(properties),
                payload: payload.clone(),
            })
        }
        TPacket::PubAck(a) => {
            let PubAckPacket {
                packet_id,
                reason_code,
                properties,
            } = a;
            Packet::PubAck(PubAck {
                packet_id: pid(*packet_id),
                reason_code: PubAckReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: ack_props_ours(properties),
            })
        }
        TPacket::PubRec(a) => {
            let PubRecPacket {
                packet_id,
                reason_code,
                properties,
            } = a;
            Packet::PubRec(PubRec {
                packet_id: pid(*packet_id),
                reason_code: PubAckReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: ack_props_ours(properties),
            })
        }
        TPacket::PubRel(a) => {
            let PubRelPacket {
                packet_id,
                reason_code,
                properties,
            } = a;
            Packet::PubRel(PubRel {
                packet_id: pid(*packet_id),
                reason_code: PubRelReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: ack_props_ours(properties),
            })
        }
        TPacket::PubComp(a) => {
            let PubCompPacket {
                packet_id,
                reason_code,
                properties,
            } = a;
            Packet::PubComp(PubComp {
                packet_id: pid(*packet_id),
                reason_code: PubRelReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: ack_props_ours(properties),
            })
        }
        TPacket::Subscribe(x) => {
            let SubscribePacket {
                packet_id,
                filters,
                properties,
                protocol_version,
            } = x;
            assert_eq!(*protocol_version, 5);
            Packet::Subscribe(Subscribe {
                packet_id: pid(*packet_id),
                properties: subscribe_props_ours(properties),
                subscriptions: filters
                    .iter()
                    .map(|f| {
                        let TSubOpts {
                            qos,
                            no_local,
                            retain_as_published,
                            retain_handling,
                        } = f.options;
                        Subscription {
                            filter: s(&f.filter),
                            options: SubscriptionOptions {
                                qos: qos_ours(qos),
                                no_local,
                                retain_as_published,
                                retain_handling: retain_ours(retain_handling),
                            },
                        }
                    })
                    .collect(),
            })
        }
        TPacket::SubAck(x) => {
            let SubAckPacket {
                packet_id,
                reason_codes,
                properties,
                protocol_version,
            } = x;
            assert_eq!(*protocol_version, 5);
            Packet::SubAck(SubAck {
                packet_id: pid(*packet_id),
                properties: ack_props_ours(properties),
                reason_codes: reason_codes
                    .iter()
                    .map(|c| SubAckReasonCode::from_u8(*c as u8).unwrap())
                    .collect(),
            })
        }
        TPacket::Unsubscribe(x) => {
            let UnsubscribePacket {
                packet_id,
                filters,
                properties,
                protocol_version,
            } = x;
            assert_eq!(*protocol_version, 5);
            Packet::Unsubscribe(Unsubscribe {
                packet_id: pid(*packet_id),
                properties: unsubscribe_props_ours(properties),
                filters: filters.iter().map(|f| s(f)).collect(),
            })
        }
        TPacket::UnsubAck(x) => {
            let UnsubAckPacket {
                packet_id,
                reason_codes,
                properties,
                protocol_version,
            } = x;
            assert_eq!(*protocol_version, 5);
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(*packet_id),
                properties: ack_props_ours(properties),
                reason_codes: reason_codes
                    .iter()
                    .map(|c| UnsubAckReasonCode::from_u8(*c as u8).unwrap())
                    .collect(),
            })
        }
        TPacket::PingReq => Packet::PingReq,
        TPacket::PingResp => Packet::PingResp,
        TPacket::Disconnect(d) => {
            let DisconnectPacket {
                reason_code,
                properties,
            } = d;
            Packet::Disconnect(Disconnect {
                reason_code: DisconnectReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: disconnect_props_ours(properties),
            })
        }
        TPacket::Auth(a) => {
            let AuthPacket {
                reason_code,
                properties,
            } = a;
            Packet::Auth(Auth {
                reason_code: AuthReasonCode::from_u8(u8::from(*reason_code)).unwrap(),
                properties: auth_props_ours(properties),
            })
        }
    }
}

// ---- packets: ours -> theirs --------------------------------------------------------------

/// Translates one of our packets into `mqtt5-protocol`'s model, field by field.
pub(crate) fn to_theirs(p: &Packet) -> TPacket {
    match p {
        Packet::Connect(c) => {
            let Connect {
                protocol_version,
                clean_start,
                keep_alive,
                properties,
                client_id,
                will,
                username,
                password,
            } = &**c;
            assert_eq!(*protocol_version, V);
            TPacket::Connect(Box::new(ConnectPacket {
                protocol_version: 5,
                clean_start: *clean_start,
                keep_alive: *keep_alive,
                client_id: client_id.to_string(),
                username: username.as_ref().map(ToString::to_string),
                password: password.as_ref().map(|p| p.to_vec()),
                will: will.as_ref().map(|w| {
                    let LastWill {
                        topic,
                        payload,
                        qos,
                        retain,
                        properties: _,
                    } = w;
                    m5::WillMessage {
                        topic: topic.to_string(),
                        payload: payload.to_vec(),
                        qos: qos_theirs(*qos),
                        retain: *retain,
                        // They write `will_properties` below, not this typed copy.
                        properties: m5::WillProperties::default(),
                    }
                }),
                properties: connect_props_theirs(properties),
                will_properties: will
                    .as_ref()
                    .map(|w| will_props_theirs(&w.properties))
                    .unwrap_or_default(),
            }))
        }
        Packet::ConnAck(c) => {
            let ConnAck {
                session_present,
                reason_code,
                properties,
            } = &**c;
            TPacket::ConnAck(ConnAckPacket {
                session_present: *session_present,
                reason_code: reason_theirs(reason_code.as_u8()),
                properties: connack_props_theirs(properties),
                protocol_version: 5,
            })
        }
        Packet::Publish(x) => {
            let Publish {
                dup,
                qos_pid,
                retain,
                topic,
                properties,
                payload,
            } = x;
            TPacket::Publish(PublishPacket {
                topic_name: topic.to_string(),
                packet_id: qos_pid.packet_id().map(NonZeroU16::get),
                payload: payload.clone(),
                qos: qos_theirs(qos_pid.qos()),
                retain: *retain,
                dup: *dup,
                properties: publish_props_theirs(properties),
                protocol_version: 5,
                stream_id: None,
            })
        }
        Packet::PubAck(a) => TPacket::PubAck(PubAckPacket {
            packet_id: a.packet_id.get(),
            reason_code: reason_theirs(a.reason_code.as_u8()),
            properties: ack_props_theirs(&a.properties),
        }),
        Packet::PubRec(a) => TPacket::PubRec(PubRecPacket {
            packet_id: a.packet_id.get(),
            reason_code: reason_theirs(a.reason_code.as_u8()),
            properties: ack_props_theirs(&a.properties),
        }),
        Packet::PubRel(a) => TPacket::PubRel(PubRelPacket {
            packet_id: a.packet_id.get(),
            reason_code: reason_theirs(a.reason_code.as_u8()),
            properties: ack_props_theirs(&a.properties),
        }),
        Packet::PubComp(a) => TPacket::PubComp(PubCompPacket {
            packet_id: a.packet_id.get(),
            reason_code: reason_theirs(a.reason_code.as_u8()),
            properties: ack_props_theirs(&a.properties),
        }),
        Packet::Subscribe(x) => {
            let Subscribe {
                packet_id,
                properties,
                subscriptions,
            } = x;
            TPacket::Subscribe(SubscribePacket {
                packet_id: packet_id.get(),
                filters: subscriptions
                    .iter()
                    .map(|sub| {
                        let SubscriptionOptions {
                            qos,
                            no_local,
                            retain_as_published,
                            retain_handling,
                        } = sub.options;
                        TopicFilter::with_options(
                            sub.filter.to_string(),
                            TSubOpts {
                                qos: qos_theirs(qos),
                                no_local,
                                retain_as_published,
                                retain_handling: retain_theirs(retain_handling),
                            },
                        )
                    })
                    .collect(),
                properties: subscribe_props_theirs(properties),
                protocol_version: 5,
            })
        }
        Packet::SubAck(x) => {
            let SubAck {
                packet_id,
                properties,
                reason_codes,
            } = x;
            TPacket::SubAck(SubAckPacket {
                packet_id: packet_id.get(),
                reason_codes: reason_codes
                    .iter()
                    .map(|c| TSubAckCode::from_u8(c.as_u8()).unwrap())
                    .collect(),
                properties: ack_props_theirs(properties),
                protocol_version: 5,
            })
        }
        Packet::Unsubscribe(x) => {
            let Unsubscribe {
                packet_id,
                properties,
                filters,
            } = x;
            TPacket::Unsubscribe(UnsubscribePacket {
                packet_id: packet_id.get(),
                filters: filters.iter().map(ToString::to_string).collect(),
                properties: unsubscribe_props_theirs(properties),
                protocol_version: 5,
            })
        }
        Packet::UnsubAck(x) => {
            let UnsubAck {
                packet_id,
                properties,
                reason_codes,
            } = x;
            TPacket::UnsubAck(UnsubAckPacket {
                packet_id: packet_id.get(),
                reason_codes: reason_codes
                    .iter()
                    .map(|c| TUnsubAckCode::from_u8(c.as_u8()).unwrap())
                    .collect(),
                properties: ack_props_theirs(properties),
                protocol_version: 5,
            })
        }
        Packet::PingReq => TPacket::PingReq,
        Packet::PingResp => TPacket::PingResp,
        Packet::Disconnect(d) => {
            let Disconnect {
                reason_code,
                properties,
            } = d;
            TPacket::Disconnect(DisconnectPacket {
                reason_code: reason_theirs(reason_code.as_u8()),
                properties: disconnect_props_theirs(properties),
            })
        }
        Packet::Auth(a) => {
            let Auth {
                reason_code,
                properties,
            } = a;
            TPacket::Auth(AuthPacket {
                reason_code: reason_theirs(reason_code.as_u8()),
                properties: auth_props_theirs(properties),
            })
        }
    }
}
