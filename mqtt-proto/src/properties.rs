//! MQTT 5 properties (§2.2.2): identifiers, one struct per packet with that packet's
//! allow-list, duplicate rejection, and user properties kept in order with repeated keys.
//!
//! A property struct is empty (all `None`) on MQTT 3.x, where properties do not exist.

use core::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use smallvec::SmallVec;

use crate::error::{DecodeError, EncodeError};
use crate::types::{PacketType, QoS};
use crate::wire::{field_len, put_field, put_varint, varint_len, Reader, MAX_VARINT};

/// Property identifiers (MQTT 5 §2.2.2.2).
pub mod id {
    /// Payload Format Indicator (byte): PUBLISH, Will.
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    /// Message Expiry Interval (u32): PUBLISH, Will.
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    /// Content Type (string): PUBLISH, Will.
    pub const CONTENT_TYPE: u8 = 0x03;
    /// Response Topic (string): PUBLISH, Will.
    pub const RESPONSE_TOPIC: u8 = 0x08;
    /// Correlation Data (binary): PUBLISH, Will.
    pub const CORRELATION_DATA: u8 = 0x09;
    /// Subscription Identifier (varint): PUBLISH (repeatable), SUBSCRIBE.
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    /// Session Expiry Interval (u32): CONNECT, CONNACK, DISCONNECT.
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    /// Assigned Client Identifier (string): CONNACK.
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    /// Server Keep Alive (u16): CONNACK.
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Authentication Method (string): CONNECT, CONNACK, AUTH.
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    /// Authentication Data (binary): CONNECT, CONNACK, AUTH.
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    /// Request Problem Information (byte): CONNECT.
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    /// Will Delay Interval (u32): Will.
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    /// Request Response Information (byte): CONNECT.
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    /// Response Information (string): CONNACK.
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    /// Server Reference (string): CONNACK, DISCONNECT.
    pub const SERVER_REFERENCE: u8 = 0x1C;
    /// Reason String (string): every ack, DISCONNECT, AUTH.
    pub const REASON_STRING: u8 = 0x1F;
    /// Receive Maximum (u16): CONNECT, CONNACK.
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum (u16): CONNECT, CONNACK.
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Topic Alias (u16): PUBLISH.
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Maximum QoS (byte): CONNACK.
    pub const MAXIMUM_QOS: u8 = 0x24;
    /// Retain Available (byte): CONNACK.
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    /// User Property (string pair): every packet that has properties.
    pub const USER_PROPERTY: u8 = 0x26;
    /// Maximum Packet Size (u32): CONNECT, CONNACK.
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    /// Wildcard Subscription Available (byte): CONNACK.
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    /// Subscription Identifier Available (byte): CONNACK.
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    /// Shared Subscription Available (byte): CONNACK.
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

    /// Whether the spec defines this identifier at all.
    pub const fn is_known(id: u8) -> bool {
        matches!(
            id,
            0x01..=0x03 | 0x08 | 0x09 | 0x0B | 0x11..=0x13 | 0x15..=0x19 | 0x1A | 0x1C | 0x1F
                | 0x21..=0x2A
        )
    }
}

use id::*;

/// One user property: a key and a value, both UTF-8 strings [MQTT-1.5.7-1].
pub type UserProperty = (ByteString, ByteString);

/// User properties in the order they were sent; the same key may appear more than once.
pub type UserProperties = SmallVec<[UserProperty; 1]>;

/// Which optional diagnostics to leave out when fitting a peer's Maximum Packet Size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Trim {
    pub(crate) reason: bool,
    pub(crate) user: bool,
}

impl Trim {
    pub(crate) const NONE: Self = Self {
        reason: false,
        user: false,
    };
    pub(crate) const REASON: Self = Self {
        reason: true,
        user: false,
    };
    pub(crate) const REASON_AND_USER: Self = Self {
        reason: true,
        user: true,
    };
}

/// A property set: parsed one property at a time, measured, written.
pub(crate) trait Props: Default {
    fn apply(&mut self, id: u8, r: &mut Reader<'_>, packet: PacketType) -> Result<(), DecodeError>;
    /// Length of the properties themselves, without the property-length prefix.
    fn content_len(&self, trim: Trim) -> usize;
    fn write_content(&self, buf: &mut BytesMut, trim: Trim) -> Result<(), EncodeError>;
}

/// Reads the property length and then every property inside it, exactly.
#[inline]
pub(crate) fn decode<P: Props>(r: &mut Reader<'_>, packet: PacketType) -> Result<P, DecodeError> {
    let len = r.varint()? as usize;
    decode_content(r, len, packet)
}

/// Reads every property inside the next `len` bytes, exactly (the length was already read).
#[inline]
pub(crate) fn decode_content<P: Props>(
    r: &mut Reader<'_>,
    len: usize,
    packet: PacketType,
) -> Result<P, DecodeError> {
    if len == 0 {
        // The common case: no properties at all.
        return Ok(P::default());
    }
    if len > r.remaining() {
        return Err(DecodeError::PropertyLengthMismatch);
    }
    let mut sub = r.sub(len)?;
    let mut props = P::default();
    while !sub.is_empty() {
        let id = sub.u8()?;
        props.apply(id, &mut sub, packet)?;
    }
    Ok(props)
}

/// Property length prefix plus content.
pub(crate) fn wire_len<P: Props>(p: &P, trim: Trim) -> usize {
    let n = p.content_len(trim);
    varint_len(n as u32) + n
}

/// Writes the property length prefix and the content.
pub(crate) fn write<P: Props>(p: &P, buf: &mut BytesMut, trim: Trim) -> Result<(), EncodeError> {
    let n = p.content_len(trim);
    let n = u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_VARINT)
        .ok_or(EncodeError::RemainingLengthTooLarge)?;
    put_varint(buf, n);
    p.write_content(buf, trim)
}

fn not_allowed(id: u8, packet: PacketType) -> DecodeError {
    if id::is_known(id) {
        DecodeError::PropertyNotAllowed { id, packet }
    } else {
        DecodeError::UnknownProperty(id)
    }
}

#[inline]
fn once<T>(slot: &mut Option<T>, id: u8, v: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *slot = Some(v);
    Ok(())
}

/// Parses one user property and appends it, enforcing the configured cap (bad-inputs row 22:
/// linear time, then rejected).
pub(crate) fn push_user(list: &mut UserProperties, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    if list.len() >= r.opts.max_user_properties {
        return Err(DecodeError::TooManyUserProperties(
            r.opts.max_user_properties,
        ));
    }
    // [MQTT-1.5.7-1] both strings of the pair are UTF-8 Encoded Strings.
    let k = r.string()?;
    let v = r.string()?;
    list.push((k, v));
    Ok(())
}

pub(crate) fn user_len(list: &UserProperties, trim: Trim) -> usize {
    if trim.user {
        return 0;
    }
    list.iter()
        .map(|(k, v)| 1 + field_len(k.len()) + field_len(v.len()))
        .sum()
}

pub(crate) fn write_user(
    list: &UserProperties,
    buf: &mut BytesMut,
    trim: Trim,
) -> Result<(), EncodeError> {
    if trim.user {
        return Ok(());
    }
    for (k, v) in list {
        buf.put_u8(USER_PROPERTY);
        put_field(buf, k.as_bytes())?;
        put_field(buf, v.as_bytes())?;
    }
    Ok(())
}

/// How one property value is read, measured and written.
pub(crate) trait Wire {
    type T;
    fn read(r: &mut Reader<'_>, id: u8) -> Result<Self::T, DecodeError>;
    fn len(v: &Self::T) -> usize;
    fn write(buf: &mut BytesMut, v: &Self::T) -> Result<(), EncodeError>;
}

/// A byte that must be 0 or 1.
pub(crate) struct Flag;
impl Wire for Flag {
    type T = bool;
    fn read(r: &mut Reader<'_>, id: u8) -> Result<bool, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(_: &bool) -> usize {
        1
    }
    fn write(buf: &mut BytesMut, v: &bool) -> Result<(), EncodeError> {
        buf.put_u8(u8::from(*v));
        Ok(())
    }
}

/// Maximum QoS: 0 or 1 only (MQTT 5 §3.2.2.3.4).
pub(crate) struct MaxQos;
impl Wire for MaxQos {
    type T = QoS;
    fn read(r: &mut Reader<'_>, id: u8) -> Result<QoS, DecodeError> {
        match r.u8()? {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(_: &QoS) -> usize {
        1
    }
    fn write(buf: &mut BytesMut, v: &QoS) -> Result<(), EncodeError> {
        buf.put_u8(*v as u8);
        Ok(())
    }
}

pub(crate) struct U16;
impl Wire for U16 {
    type T = u16;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<u16, DecodeError> {
        r.u16()
    }
    fn len(_: &u16) -> usize {
        2
    }
    fn write(buf: &mut BytesMut, v: &u16) -> Result<(), EncodeError> {
        buf.put_u16(*v);
        Ok(())
    }
}

pub(crate) struct U32;
impl Wire for U32 {
    type T = u32;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<u32, DecodeError> {
        r.u32()
    }
    fn len(_: &u32) -> usize {
        4
    }
    fn write(buf: &mut BytesMut, v: &u32) -> Result<(), EncodeError> {
        buf.put_u32(*v);
        Ok(())
    }
}

/// A two-byte integer that may not be 0 (Receive Maximum).
pub(crate) struct NzU16;
impl Wire for NzU16 {
    type T = NonZeroU16;
    fn read(r: &mut Reader<'_>, id: u8) -> Result<NonZeroU16, DecodeError> {
        NonZeroU16::new(r.u16()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(_: &NonZeroU16) -> usize {
        2
    }
    fn write(buf: &mut BytesMut, v: &NonZeroU16) -> Result<(), EncodeError> {
        buf.put_u16(v.get());
        Ok(())
    }
}

/// A four-byte integer that may not be 0 (Maximum Packet Size).
pub(crate) struct NzU32;
impl Wire for NzU32 {
    type T = NonZeroU32;
    fn read(r: &mut Reader<'_>, id: u8) -> Result<NonZeroU32, DecodeError> {
        NonZeroU32::new(r.u32()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(_: &NonZeroU32) -> usize {
        4
    }
    fn write(buf: &mut BytesMut, v: &NonZeroU32) -> Result<(), EncodeError> {
        buf.put_u32(v.get());
        Ok(())
    }
}

/// A Subscription Identifier: a variable byte integer of 1..=268,435,455.
pub(crate) struct SubId;
impl Wire for SubId {
    type T = NonZeroU32;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<NonZeroU32, DecodeError> {
        // [MQTT-3.8.2.1.2] a subscription identifier of 0 is a protocol error.
        NonZeroU32::new(r.varint()?).ok_or(DecodeError::SubscriptionIdentifierZero)
    }
    fn len(v: &NonZeroU32) -> usize {
        varint_len(v.get())
    }
    fn write(buf: &mut BytesMut, v: &NonZeroU32) -> Result<(), EncodeError> {
        if v.get() > MAX_VARINT {
            return Err(EncodeError::ValueOutOfRange);
        }
        put_varint(buf, v.get());
        Ok(())
    }
}

pub(crate) struct Str;
impl Wire for Str {
    type T = ByteString;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<ByteString, DecodeError> {
        r.string()
    }
    fn len(v: &ByteString) -> usize {
        field_len(v.len())
    }
    fn write(buf: &mut BytesMut, v: &ByteString) -> Result<(), EncodeError> {
        put_field(buf, v.as_bytes())
    }
}

/// A Response Topic: a topic name, so no wildcards [MQTT-3.3.2-14].
pub(crate) struct TopicStr;
impl Wire for TopicStr {
    type T = ByteString;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<ByteString, DecodeError> {
        let (s, wild) = r.string_wild()?;
        // [MQTT-3.3.2-14] the Response Topic must not contain wildcard characters.
        if wild {
            return Err(DecodeError::ResponseTopicWildcard);
        }
        Ok(s)
    }
    fn len(v: &ByteString) -> usize {
        Str::len(v)
    }
    fn write(buf: &mut BytesMut, v: &ByteString) -> Result<(), EncodeError> {
        Str::write(buf, v)
    }
}

pub(crate) struct Bin;
impl Wire for Bin {
    type T = Bytes;
    fn read(r: &mut Reader<'_>, _: u8) -> Result<Bytes, DecodeError> {
        r.binary()
    }
    fn len(v: &Bytes) -> usize {
        field_len(v.len())
    }
    fn write(buf: &mut BytesMut, v: &Bytes) -> Result<(), EncodeError> {
        put_field(buf, v)
    }
}

#[inline]
pub(crate) fn opt_len<W: Wire>(v: &Option<W::T>) -> usize {
    v.as_ref().map_or(0, |v| 1 + W::len(v))
}

#[inline]
pub(crate) fn opt_write<W: Wire>(
    buf: &mut BytesMut,
    id: u8,
    v: &Option<W::T>,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        buf.put_u8(id);
        W::write(buf, v)?;
    }
    Ok(())
}

#[inline]
pub(crate) fn read_once<W: Wire>(
    slot: &mut Option<W::T>,
    id: u8,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    let v = W::read(r, id)?;
    once(slot, id, v)
}

/// Declares a property struct: one `Option` per single-valued property, plus user properties.
/// The field list is the packet's allow-list; anything else is refused.
macro_rules! properties {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty => $w:ty = $id:path,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fm])* pub $field: Option<$ty>,)*
            /// User properties, in order; keys may repeat.
            pub user_properties: UserProperties,
        }

        impl Props for $name {
            fn apply(
                &mut self,
                id: u8,
                r: &mut Reader<'_>,
                packet: PacketType,
            ) -> Result<(), DecodeError> {
                match id {
                    $($id => read_once::<$w>(&mut self.$field, id, r),)*
                    USER_PROPERTY => push_user(&mut self.user_properties, r),
                    _ => Err(not_allowed(id, packet)),
                }
            }

            #[allow(unused_mut)]
            fn content_len(&self, trim: Trim) -> usize {
                let mut n = user_len(&self.user_properties, trim);
                $(if !(trim.reason && $id == REASON_STRING) {
                    n += opt_len::<$w>(&self.$field);
                })*
                n
            }

            fn write_content(&self, buf: &mut BytesMut, trim: Trim) -> Result<(), EncodeError> {
                $(if !(trim.reason && $id == REASON_STRING) {
                    opt_write::<$w>(buf, $id, &self.$field)?;
                })*
                write_user(&self.user_properties, buf, trim)
            }
        }
    };
}

properties! {
    /// CONNECT properties (MQTT 5 §3.1.2.11).
    ConnectProperties {
        /// Session Expiry Interval in seconds; absent means 0.
        session_expiry_interval: u32 => U32 = SESSION_EXPIRY_INTERVAL,
        /// How many QoS 1/2 PUBLISH the client accepts at once.
        receive_maximum: NonZeroU16 => NzU16 = RECEIVE_MAXIMUM,
        /// The largest packet the client accepts.
        maximum_packet_size: NonZeroU32 => NzU32 = MAXIMUM_PACKET_SIZE,
        /// The highest topic alias the client accepts.
        topic_alias_maximum: u16 => U16 = TOPIC_ALIAS_MAXIMUM,
        /// Whether the client wants Response Information in CONNACK.
        request_response_information: bool => Flag = REQUEST_RESPONSE_INFORMATION,
        /// Whether reason strings and user properties may be sent on failures.
        request_problem_information: bool => Flag = REQUEST_PROBLEM_INFORMATION,
        /// Extended authentication method.
        authentication_method: ByteString => Str = AUTHENTICATION_METHOD,
        /// Extended authentication data.
        authentication_data: Bytes => Bin = AUTHENTICATION_DATA,
    }
}

properties! {
    /// Will properties (MQTT 5 §3.1.3.2).
    WillProperties {
        /// Seconds to wait before publishing the will.
        will_delay_interval: u32 => U32 = WILL_DELAY_INTERVAL,
        /// Whether the will payload is UTF-8.
        payload_format_indicator: bool => Flag = PAYLOAD_FORMAT_INDICATOR,
        /// Lifetime of the will message in seconds.
        message_expiry_interval: u32 => U32 = MESSAGE_EXPIRY_INTERVAL,
        /// MIME-like content type.
        content_type: ByteString => Str = CONTENT_TYPE,
        /// Topic for a response.
        response_topic: ByteString => TopicStr = RESPONSE_TOPIC,
        /// Correlation data for a response.
        correlation_data: Bytes => Bin = CORRELATION_DATA,
    }
}

properties! {
    /// CONNACK properties (MQTT 5 §3.2.2.3).
    ConnAckProperties {
        /// Session Expiry Interval the server uses.
        session_expiry_interval: u32 => U32 = SESSION_EXPIRY_INTERVAL,
        /// How many QoS 1/2 PUBLISH the server accepts at once.
        receive_maximum: NonZeroU16 => NzU16 = RECEIVE_MAXIMUM,
        /// Highest QoS the server supports (0 or 1; absent means 2).
        maximum_qos: QoS => MaxQos = MAXIMUM_QOS,
        /// Whether retained messages are supported.
        retain_available: bool => Flag = RETAIN_AVAILABLE,
        /// The largest packet the server accepts.
        maximum_packet_size: NonZeroU32 => NzU32 = MAXIMUM_PACKET_SIZE,
        /// The client identifier the server assigned.
        assigned_client_identifier: ByteString => Str = ASSIGNED_CLIENT_IDENTIFIER,
        /// The highest topic alias the server accepts.
        topic_alias_maximum: u16 => U16 = TOPIC_ALIAS_MAXIMUM,
        /// Human-readable diagnostics.
        reason_string: ByteString => Str = REASON_STRING,
        /// Whether wildcard subscriptions are supported.
        wildcard_subscription_available: bool => Flag = WILDCARD_SUBSCRIPTION_AVAILABLE,
        /// Whether subscription identifiers are supported.
        subscription_identifiers_available: bool => Flag = SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        /// Whether shared subscriptions are supported.
        shared_subscription_available: bool => Flag = SHARED_SUBSCRIPTION_AVAILABLE,
        /// Keep alive the server imposes.
        server_keep_alive: u16 => U16 = SERVER_KEEP_ALIVE,
        /// Basis for response topics.
        response_information: ByteString => Str = RESPONSE_INFORMATION,
        /// Another server to use.
        server_reference: ByteString => Str = SERVER_REFERENCE,
        /// Extended authentication method.
        authentication_method: ByteString => Str = AUTHENTICATION_METHOD,
        /// Extended authentication data.
        authentication_data: Bytes => Bin = AUTHENTICATION_DATA,
    }
}

properties! {
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
    AckProperties {
        /// Human-readable diagnostics.
        reason_string: ByteString => Str = REASON_STRING,
    }
}

properties! {
    /// SUBSCRIBE properties (MQTT 5 §3.8.2.1).
    SubscribeProperties {
        /// Identifier attached to messages delivered for these subscriptions.
        subscription_identifier: NonZeroU32 => SubId = SUBSCRIPTION_IDENTIFIER,
    }
}

properties! {
    /// UNSUBSCRIBE properties (MQTT 5 §3.10.2.1): user properties only.
    UnsubscribeProperties {}
}

properties! {
    /// DISCONNECT properties (MQTT 5 §3.14.2.2).
    DisconnectProperties {
        /// New Session Expiry Interval (client only).
        session_expiry_interval: u32 => U32 = SESSION_EXPIRY_INTERVAL,
        /// Human-readable diagnostics.
        reason_string: ByteString => Str = REASON_STRING,
        /// Another server to use.
        server_reference: ByteString => Str = SERVER_REFERENCE,
    }
}

properties! {
    /// AUTH properties (MQTT 5 §3.15.2.2).
    AuthProperties {
        /// Extended authentication method.
        authentication_method: ByteString => Str = AUTHENTICATION_METHOD,
        /// Extended authentication data.
        authentication_data: Bytes => Bin = AUTHENTICATION_DATA,
        /// Human-readable diagnostics.
        reason_string: ByteString => Str = REASON_STRING,
    }
}

/// PUBLISH properties (MQTT 5 §3.3.2.3). Written by hand: this is the hot path, and the only
/// set with a repeatable non-user property (Subscription Identifier).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// Whether the payload is UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// Lifetime of the message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic alias, 1..=Topic Alias Maximum.
    pub topic_alias: Option<NonZeroU16>,
    /// Topic for a response.
    pub response_topic: Option<ByteString>,
    /// Correlation data for a response.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order; keys may repeat.
    pub user_properties: UserProperties,
    /// Identifiers of the subscriptions that matched (server to client only).
    pub subscription_identifiers: SmallVec<[NonZeroU32; 1]>,
    /// MIME-like content type.
    pub content_type: Option<ByteString>,
}

impl Props for PublishProperties {
    fn apply(&mut self, id: u8, r: &mut Reader<'_>, packet: PacketType) -> Result<(), DecodeError> {
        match id {
            PAYLOAD_FORMAT_INDICATOR => {
                read_once::<Flag>(&mut self.payload_format_indicator, id, r)
            }
            MESSAGE_EXPIRY_INTERVAL => read_once::<U32>(&mut self.message_expiry_interval, id, r),
            TOPIC_ALIAS => {
                // [MQTT-3.3.2-8] a topic alias of 0 is not permitted.
                let v = NonZeroU16::new(r.u16()?).ok_or(DecodeError::TopicAliasZero)?;
                // [MQTT-3.3.2-9] no alias above the Topic Alias Maximum the receiver sent.
                let max = r.opts.topic_alias_maximum;
                if v.get() > max {
                    return Err(DecodeError::TopicAliasTooLarge {
                        alias: v.get(),
                        max,
                    });
                }
                once(&mut self.topic_alias, id, v)
            }
            RESPONSE_TOPIC => read_once::<TopicStr>(&mut self.response_topic, id, r),
            CORRELATION_DATA => read_once::<Bin>(&mut self.correlation_data, id, r),
            CONTENT_TYPE => read_once::<Str>(&mut self.content_type, id, r),
            USER_PROPERTY => push_user(&mut self.user_properties, r),
            SUBSCRIPTION_IDENTIFIER => {
                // [MQTT-3.3.4-6] a client's PUBLISH must not carry a subscription identifier.
                if r.opts.sender == crate::Role::Client {
                    return Err(DecodeError::SubscriptionIdentifierFromClient);
                }
                let v = SubId::read(r, id)?;
                self.subscription_identifiers.push(v);
                Ok(())
            }
            _ => Err(not_allowed(id, packet)),
        }
    }

    fn content_len(&self, trim: Trim) -> usize {
        if self.is_plain() {
            return 0;
        }
        let alias = self.topic_alias.map_or(0, |_| 3);
        opt_len::<Flag>(&self.payload_format_indicator)
            + opt_len::<U32>(&self.message_expiry_interval)
            + alias
            + opt_len::<Str>(&self.response_topic)
            + opt_len::<Bin>(&self.correlation_data)
            + opt_len::<Str>(&self.content_type)
            + user_len(&self.user_properties, trim)
            + self
                .subscription_identifiers
                .iter()
                .map(|v| 1 + SubId::len(v))
                .sum::<usize>()
    }

    fn write_content(&self, buf: &mut BytesMut, trim: Trim) -> Result<(), EncodeError> {
        if self.is_plain() {
            return Ok(());
        }
        opt_write::<Flag>(
            buf,
            PAYLOAD_FORMAT_INDICATOR,
            &self.payload_format_indicator,
        )?;
        opt_write::<U32>(buf, MESSAGE_EXPIRY_INTERVAL, &self.message_expiry_interval)?;
        if let Some(a) = self.topic_alias {
            buf.put_u8(TOPIC_ALIAS);
            buf.put_u16(a.get());
        }
        opt_write::<Str>(buf, RESPONSE_TOPIC, &self.response_topic)?;
        opt_write::<Bin>(buf, CORRELATION_DATA, &self.correlation_data)?;
        opt_write::<Str>(buf, CONTENT_TYPE, &self.content_type)?;
        for v in &self.subscription_identifiers {
            buf.put_u8(SUBSCRIPTION_IDENTIFIER);
            SubId::write(buf, v)?;
        }
        write_user(&self.user_properties, buf, trim)
    }
}

impl PublishProperties {
    /// True when no property is set: the common case, encoded as a single zero byte.
    #[inline]
    pub fn is_plain(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.message_expiry_interval.is_none()
            && self.topic_alias.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.content_type.is_none()
            && self.user_properties.is_empty()
            && self.subscription_identifiers.is_empty()
    }
}
