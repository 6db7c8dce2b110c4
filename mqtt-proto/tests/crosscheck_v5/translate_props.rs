//! Properties translated field by field, both ways, between `mqtt5-protocol`'s property
//! map and our property structs.

use core::num::{NonZeroU16, NonZeroU32};
use std::collections::BTreeMap;

use m5::{Properties as TProps, PropertyId as Id, PropertyValue as Val};
use mqtt5_protocol as m5;
use mqtt_proto::{
    AckProperties, AuthProperties, ByteString, Bytes, ConnAckProperties, ConnectProperties,
    DisconnectProperties, PublishProperties, QoS, SubscribeProperties, UnsubscribeProperties,
    UserProperties, WillProperties,
};

use crate::{nz16, nz32};

// ---- properties: theirs -> ours -----------------------------------------------------------

/// Their decoded properties, to be claimed one by one by our fields; `done` checks that none
/// is left over.
struct Claim(BTreeMap<u8, Vec<Val>>);

impl Claim {
    fn of(p: &TProps) -> Self {
        let mut m: BTreeMap<u8, Vec<Val>> = BTreeMap::new();
        for (id, v) in p.iter() {
            m.entry(id as u8).or_default().push(v.clone());
        }
        Self(m)
    }

    fn one(&mut self, id: Id) -> Option<Val> {
        let mut v = self.0.remove(&(id as u8))?;
        assert_eq!(v.len(), 1, "{id:?} decoded {} times", v.len());
        v.pop()
    }

    fn flag(&mut self, id: Id) -> Option<bool> {
        self.one(id).map(|v| match v {
            Val::Byte(0) => false,
            Val::Byte(1) => true,
            other => panic!("{id:?}: {other:?}"),
        })
    }

    fn u16(&mut self, id: Id) -> Option<u16> {
        self.one(id).map(|v| match v {
            Val::TwoByteInteger(n) => n,
            other => panic!("{id:?}: {other:?}"),
        })
    }

    fn u32(&mut self, id: Id) -> Option<u32> {
        self.one(id).map(|v| match v {
            Val::FourByteInteger(n) => n,
            other => panic!("{id:?}: {other:?}"),
        })
    }

    fn string(&mut self, id: Id) -> Option<ByteString> {
        self.one(id).map(|v| match v {
            Val::Utf8String(x) => ByteString::from(x),
            other => panic!("{id:?}: {other:?}"),
        })
    }

    fn binary(&mut self, id: Id) -> Option<Bytes> {
        self.one(id).map(|v| match v {
            Val::BinaryData(x) => x,
            other => panic!("{id:?}: {other:?}"),
        })
    }

    fn varints(&mut self, id: Id) -> Vec<u32> {
        self.0
            .remove(&(id as u8))
            .unwrap_or_default()
            .into_iter()
            .map(|v| match v {
                Val::VariableByteInteger(n) => n,
                other => panic!("{id:?}: {other:?}"),
            })
            .collect()
    }

    fn users(&mut self) -> UserProperties {
        self.0
            .remove(&(Id::UserProperty as u8))
            .unwrap_or_default()
            .into_iter()
            .map(|v| match v {
                Val::Utf8StringPair(k, v) => (ByteString::from(k), ByteString::from(v)),
                other => panic!("user property: {other:?}"),
            })
            .collect()
    }

    fn done(self) {
        assert!(self.0.is_empty(), "unclaimed properties: {:?}", self.0);
    }
}

pub(crate) fn connect_props_ours(p: &TProps) -> ConnectProperties {
    let mut c = Claim::of(p);
    let r = ConnectProperties {
        session_expiry_interval: c.u32(Id::SessionExpiryInterval),
        receive_maximum: c.u16(Id::ReceiveMaximum).map(nz16),
        maximum_packet_size: c.u32(Id::MaximumPacketSize).map(nz32),
        topic_alias_maximum: c.u16(Id::TopicAliasMaximum),
        request_response_information: c.flag(Id::RequestResponseInformation),
        request_problem_information: c.flag(Id::RequestProblemInformation),
        authentication_method: c.string(Id::AuthenticationMethod),
        authentication_data: c.binary(Id::AuthenticationData),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn will_props_ours(p: &TProps) -> WillProperties {
    let mut c = Claim::of(p);
    let r = WillProperties {
        will_delay_interval: c.u32(Id::WillDelayInterval),
        payload_format_indicator: c.flag(Id::PayloadFormatIndicator),
        message_expiry_interval: c.u32(Id::MessageExpiryInterval),
        content_type: c.string(Id::ContentType),
        response_topic: c.string(Id::ResponseTopic),
        correlation_data: c.binary(Id::CorrelationData),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn connack_props_ours(p: &TProps) -> ConnAckProperties {
    let mut c = Claim::of(p);
    let r = ConnAckProperties {
        session_expiry_interval: c.u32(Id::SessionExpiryInterval),
        receive_maximum: c.u16(Id::ReceiveMaximum).map(nz16),
        maximum_qos: c.one(Id::MaximumQoS).map(|v| match v {
            Val::Byte(0) => QoS::AtMostOnce,
            Val::Byte(1) => QoS::AtLeastOnce,
            other => panic!("Maximum QoS: {other:?}"),
        }),
        retain_available: c.flag(Id::RetainAvailable),
        maximum_packet_size: c.u32(Id::MaximumPacketSize).map(nz32),
        assigned_client_identifier: c.string(Id::AssignedClientIdentifier),
        topic_alias_maximum: c.u16(Id::TopicAliasMaximum),
        reason_string: c.string(Id::ReasonString),
        wildcard_subscription_available: c.flag(Id::WildcardSubscriptionAvailable),
        subscription_identifiers_available: c.flag(Id::SubscriptionIdentifierAvailable),
        shared_subscription_available: c.flag(Id::SharedSubscriptionAvailable),
        server_keep_alive: c.u16(Id::ServerKeepAlive),
        response_information: c.string(Id::ResponseInformation),
        server_reference: c.string(Id::ServerReference),
        authentication_method: c.string(Id::AuthenticationMethod),
        authentication_data: c.binary(Id::AuthenticationData),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn publish_props_ours(p: &TProps) -> PublishProperties {
    let mut c = Claim::of(p);
    let r = PublishProperties {
        payload_format_indicator: c.flag(Id::PayloadFormatIndicator),
        message_expiry_interval: c.u32(Id::MessageExpiryInterval),
        topic_alias: c.u16(Id::TopicAlias).map(nz16),
        response_topic: c.string(Id::ResponseTopic),
        correlation_data: c.binary(Id::CorrelationData),
        user_properties: c.users(),
        subscription_identifiers: c
            .varints(Id::SubscriptionIdentifier)
            .into_iter()
            .map(nz32)
            .collect(),
        content_type: c.string(Id::ContentType),
    };
    c.done();
    r
}

pub(crate) fn ack_props_ours(p: &TProps) -> AckProperties {
    let mut c = Claim::of(p);
    let r = AckProperties {
        reason_string: c.string(Id::ReasonString),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn subscribe_props_ours(p: &TProps) -> SubscribeProperties {
    let mut c = Claim::of(p);
    let ids = c.varints(Id::SubscriptionIdentifier);
    assert!(ids.len() <= 1, "SUBSCRIBE carries one identifier: {ids:?}");
    let r = SubscribeProperties {
        subscription_identifier: ids.first().copied().map(nz32),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn unsubscribe_props_ours(p: &TProps) -> UnsubscribeProperties {
    let mut c = Claim::of(p);
    let r = UnsubscribeProperties {
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn disconnect_props_ours(p: &TProps) -> DisconnectProperties {
    let mut c = Claim::of(p);
    let r = DisconnectProperties {
        session_expiry_interval: c.u32(Id::SessionExpiryInterval),
        reason_string: c.string(Id::ReasonString),
        server_reference: c.string(Id::ServerReference),
        user_properties: c.users(),
    };
    c.done();
    r
}

pub(crate) fn auth_props_ours(p: &TProps) -> AuthProperties {
    let mut c = Claim::of(p);
    let r = AuthProperties {
        authentication_method: c.string(Id::AuthenticationMethod),
        authentication_data: c.binary(Id::AuthenticationData),
        reason_string: c.string(Id::ReasonString),
        user_properties: c.users(),
    };
    c.done();
    r
}

// ---- properties: ours -> theirs -----------------------------------------------------------

/// Their property set under construction.
#[derive(Default)]
struct Out(TProps);

impl Out {
    fn add(&mut self, id: Id, v: Option<Val>) {
        if let Some(v) = v {
            self.0.add(id, v).unwrap();
        }
    }

    fn flag(&mut self, id: Id, v: Option<bool>) {
        self.add(id, v.map(|x| Val::Byte(u8::from(x))));
    }

    fn u16(&mut self, id: Id, v: Option<u16>) {
        self.add(id, v.map(Val::TwoByteInteger));
    }

    fn nz16(&mut self, id: Id, v: Option<NonZeroU16>) {
        self.u16(id, v.map(NonZeroU16::get));
    }

    fn u32(&mut self, id: Id, v: Option<u32>) {
        self.add(id, v.map(Val::FourByteInteger));
    }

    fn nz32(&mut self, id: Id, v: Option<NonZeroU32>) {
        self.u32(id, v.map(NonZeroU32::get));
    }

    fn varint(&mut self, id: Id, v: NonZeroU32) {
        self.add(id, Some(Val::VariableByteInteger(v.get())));
    }

    fn string(&mut self, id: Id, v: &Option<ByteString>) {
        self.add(id, v.as_ref().map(|x| Val::Utf8String(x.to_string())));
    }

    fn binary(&mut self, id: Id, v: &Option<Bytes>) {
        self.add(id, v.clone().map(Val::BinaryData));
    }

    fn users(mut self, u: &UserProperties) -> TProps {
        for (k, v) in u {
            let pair = Val::Utf8StringPair(k.to_string(), v.to_string());
            self.add(Id::UserProperty, Some(pair));
        }
        self.0
    }
}

pub(crate) fn connect_props_theirs(p: &ConnectProperties) -> TProps {
    let ConnectProperties {
        session_expiry_interval,
        receive_maximum,
        maximum_packet_size,
        topic_alias_maximum,
        request_response_information,
        request_problem_information,
        authentication_method,
        authentication_data,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.u32(Id::SessionExpiryInterval, *session_expiry_interval);
    t.nz16(Id::ReceiveMaximum, *receive_maximum);
    t.nz32(Id::MaximumPacketSize, *maximum_packet_size);
    t.u16(Id::TopicAliasMaximum, *topic_alias_maximum);
    t.flag(
        Id::RequestResponseInformation,
        *request_response_information,
    );
    t.flag(Id::RequestProblemInformation, *request_problem_information);
    t.string(Id::AuthenticationMethod, authentication_method);
    t.binary(Id::AuthenticationData, authentication_data);
    t.users(user_properties)
}

pub(crate) fn will_props_theirs(p: &WillProperties) -> TProps {
    let WillProperties {
        will_delay_interval,
        payload_format_indicator,
        message_expiry_interval,
        content_type,
        response_topic,
        correlation_data,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.u32(Id::WillDelayInterval, *will_delay_interval);
    t.flag(Id::PayloadFormatIndicator, *payload_format_indicator);
    t.u32(Id::MessageExpiryInterval, *message_expiry_interval);
    t.string(Id::ContentType, content_type);
    t.string(Id::ResponseTopic, response_topic);
    t.binary(Id::CorrelationData, correlation_data);
    t.users(user_properties)
}

pub(crate) fn connack_props_theirs(p: &ConnAckProperties) -> TProps {
    let ConnAckProperties {
        session_expiry_interval,
        receive_maximum,
        maximum_qos,
        retain_available,
        maximum_packet_size,
        assigned_client_identifier,
        topic_alias_maximum,
        reason_string,
        wildcard_subscription_available,
        subscription_identifiers_available,
        shared_subscription_available,
        server_keep_alive,
        response_information,
        server_reference,
        authentication_method,
        authentication_data,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.u32(Id::SessionExpiryInterval, *session_expiry_interval);
    t.nz16(Id::ReceiveMaximum, *receive_maximum);
    t.add(Id::MaximumQoS, maximum_qos.map(|q| Val::Byte(q as u8)));
    t.flag(Id::RetainAvailable, *retain_available);
    t.nz32(Id::MaximumPacketSize, *maximum_packet_size);
    t.string(Id::AssignedClientIdentifier, assigned_client_identifier);
    t.u16(Id::TopicAliasMaximum, *topic_alias_maximum);
    t.string(Id::ReasonString, reason_string);
    let wildcards = *wildcard_subscription_available;
    t.flag(Id::WildcardSubscriptionAvailable, wildcards);
    let sub_ids = *subscription_identifiers_available;
    t.flag(Id::SubscriptionIdentifierAvailable, sub_ids);
    let shared = *shared_subscription_available;
    t.flag(Id::SharedSubscriptionAvailable, shared);
    t.u16(Id::ServerKeepAlive, *server_keep_alive);
    t.string(Id::ResponseInformation, response_information);
    t.string(Id::ServerReference, server_reference);
    t.string(Id::AuthenticationMethod, authentication_method);
    t.binary(Id::AuthenticationData, authentication_data);
    t.users(user_properties)
}

pub(crate) fn publish_props_theirs(p: &PublishProperties) -> TProps {
    let PublishProperties {
        payload_format_indicator,
        message_expiry_interval,
        topic_alias,
        response_topic,
        correlation_data,
        user_properties,
        subscription_identifiers,
        content_type,
    } = p;
    let mut t = Out::default();
    t.flag(Id::PayloadFormatIndicator, *payload_format_indicator);
    t.u32(Id::MessageExpiryInterval, *message_expiry_interval);
    t.nz16(Id::TopicAlias, *topic_alias);
    t.string(Id::ResponseTopic, response_topic);
    t.binary(Id::CorrelationData, correlation_data);
    for &id in subscription_identifiers {
        t.varint(Id::SubscriptionIdentifier, id);
    }
    t.string(Id::ContentType, content_type);
    t.users(user_properties)
}

pub(crate) fn ack_props_theirs(p: &AckProperties) -> TProps {
    let AckProperties {
        reason_string,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.string(Id::ReasonString, reason_string);
    t.users(user_properties)
}

pub(crate) fn subscribe_props_theirs(p: &SubscribeProperties) -> TProps {
    let SubscribeProperties {
        subscription_identifier,
        user_properties,
    } = p;
    let mut t = Out::default();
    if let Some(id) = *subscription_identifier {
        t.varint(Id::SubscriptionIdentifier, id);
    }
    t.users(user_properties)
}

pub(crate) fn unsubscribe_props_theirs(p: &UnsubscribeProperties) -> TProps {
    let UnsubscribeProperties { user_properties } = p;
    Out::default().users(user_properties)
}

pub(crate) fn disconnect_props_theirs(p: &DisconnectProperties) -> TProps {
    let DisconnectProperties {
        session_expiry_interval,
        reason_string,
        server_reference,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.u32(Id::SessionExpiryInterval, *session_expiry_interval);
    t.string(Id::ReasonString, reason_string);
    t.string(Id::ServerReference, server_reference);
    t.users(user_properties)
}

pub(crate) fn auth_props_theirs(p: &AuthProperties) -> TProps {
    let AuthProperties {
        authentication_method,
        authentication_data,
        reason_string,
        user_properties,
    } = p;
    let mut t = Out::default();
    t.string(Id::AuthenticationMethod, authentication_method);
    t.binary(Id::AuthenticationData, authentication_data);
    t.string(Id::ReasonString, reason_string);
    t.users(user_properties)
}
