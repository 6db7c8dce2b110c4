//! Decode and encode errors. Each decode variant names the spec rule it enforces, shows the
//! conformance id in its message, and maps to a reason code through a `const fn`.

use crate::reason::ReasonCode;
use crate::types::PacketType;

/// Why a frame was refused. `Copy`, and allocation-free, so it is cheap on the hot path.
///
/// Variants that map to 0x81 are malformed input; 0x82 and above are a peer breaking the
/// protocol. Where the spec has no numbered conformance statement the message cites its
/// section (`§`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    // ---- framing -------------------------------------------------------------------------
    /// A variable byte integer had a fifth continuation byte.
    #[error("[MQTT-1.5.5-1] variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// A variable byte integer was not minimally encoded (policy: rejected).
    #[error("[MQTT-1.5.5-1] variable byte integer not encoded in the minimum number of bytes")]
    VarIntNotMinimal,
    /// The packet (fixed header + remaining length) exceeds the maximum packet size.
    #[error("[MQTT-3.1.2-24] packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge {
        /// Total packet size claimed by the fixed header.
        size: u64,
        /// The limit in force.
        max: u32,
    },
    /// Packet type 0 is reserved.
    #[error("[MQTT-2.1.2] packet type 0 is reserved")]
    ReservedPacketType,
    /// The low nibble of the fixed header is not the value the packet type requires.
    #[error("[MQTT-2.1.3-1] reserved fixed header flags of {0:?} are wrong")]
    InvalidHeaderFlags(PacketType),
    /// PUBLISH with both QoS bits set.
    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    PublishQos3,
    /// PUBLISH with DUP set at QoS 0.
    #[error("[MQTT-3.3.1-2] DUP flag set on a QoS 0 PUBLISH")]
    DupOnQos0,
    /// A packet type the sender may not send, or that its protocol version lacks.
    #[error("[MQTT-4.13] {0:?} may not be sent in this direction or protocol version")]
    UnexpectedPacket(PacketType),
    /// A field runs past the end of the packet.
    #[error("[MQTT-1.5] packet truncated inside a field")]
    Truncated,
    /// Bytes left over after the last field.
    #[error("[MQTT-2.1.4] trailing bytes after the last field of {0:?}")]
    TrailingBytes(PacketType),

    // ---- strings -------------------------------------------------------------------------
    /// Ill-formed UTF-8: surrogates, overlong forms, truncated sequences.
    #[error("[MQTT-1.5.4-1] ill-formed UTF-8 string")]
    InvalidUtf8,
    /// U+0000 inside a string.
    #[error("[MQTT-1.5.4-2] UTF-8 string contains U+0000")]
    Utf8Null,
    /// U+0001..U+001F or U+007F..U+009F inside a string, under the strict policy.
    #[error("[MQTT-1.5.4-1] UTF-8 string contains a control character (strict policy)")]
    Utf8ControlCharacter,

    // ---- CONNECT / CONNACK ---------------------------------------------------------------
    /// The protocol name is neither `MQTT` nor `MQIsdp` for its level.
    #[error("[MQTT-3.1.2-1] unknown protocol name")]
    InvalidProtocolName,
    /// The protocol level is not 3, 4 or 5.
    #[error("[MQTT-3.1.2-2] unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// The reserved CONNECT flag is set.
    #[error("[MQTT-3.1.2-3] reserved CONNECT flag is set")]
    ConnectReservedFlag,
    /// Will QoS of 3.
    #[error("[MQTT-3.1.2-12] will QoS 3")]
    WillQos3,
    /// Will QoS or Will Retain set without the Will Flag.
    #[error("[MQTT-3.1.2-11] [MQTT-3.1.2-13] will QoS or will retain set without the will flag")]
    WillFlagsWithoutWill,
    /// Password flag without user name flag (MQTT 3.1.1).
    #[error("[MQTT-3.1.2-22] password flag set without user name flag")]
    PasswordWithoutUsername,
    /// CONNACK acknowledge flags other than Session Present are set.
    #[error("[MQTT-3.2.2-1] reserved CONNACK flags are set")]
    ConnAckReservedFlags,
    /// Authentication Data without an Authentication Method.
    #[error("[MQTT-3.1.2.11.10] authentication data without an authentication method")]
    AuthDataWithoutMethod,
    /// AUTH that is not the bare Success form but names no Authentication Method.
    #[error("[MQTT-3.15.2.2.2] AUTH without an authentication method")]
    AuthMethodMissing,
    /// A CONNACK refusing the connection claims a present session.
    #[error("[MQTT-3.2.2-6] session present set on a refused connection")]
    ConnAckSessionPresentOnError,

    // ---- properties ----------------------------------------------------------------------
    /// A property identifier the spec does not define.
    #[error("[MQTT-2.2.2] unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    /// A property that this packet type may not carry.
    #[error("[MQTT-2.2.2] property {id:#04x} is not allowed in {packet:?}")]
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet that carried it.
        packet: PacketType,
    },
    /// A property sent twice where the spec allows it once.
    #[error("[MQTT-2.2.2] property {0:#04x} included more than once")]
    DuplicateProperty(u8),
    /// A property value outside its allowed range (e.g. Receive Maximum 0, Maximum QoS 2).
    #[error("[MQTT-2.2.2] property {0:#04x} has a value the spec forbids")]
    InvalidPropertyValue(u8),
    /// The property length disagrees with the properties that follow.
    #[error("[MQTT-2.2.2] property length does not match the properties")]
    PropertyLengthMismatch,
    /// More user properties than the configured cap.
    #[error("[MQTT-3.1.2.11] more than {0} user properties in one packet")]
    TooManyUserProperties(usize),
    /// Subscription Identifier of 0.
    #[error("[MQTT-3.8.2.1.2] subscription identifier 0")]
    SubscriptionIdentifierZero,
    /// A client PUBLISH carrying a Subscription Identifier.
    #[error("[MQTT-3.3.4-6] PUBLISH from a client carries a subscription identifier")]
    SubscriptionIdentifierFromClient,
    /// Topic Alias of 0.
    #[error("[MQTT-3.3.2-8] topic alias 0")]
    TopicAliasZero,
    /// Topic Alias above the advertised Topic Alias Maximum.
    #[error("[MQTT-3.3.2-9] topic alias {alias} above the maximum {max}")]
    TopicAliasTooLarge {
        /// The alias sent.
        alias: u16,
        /// The maximum we advertised.
        max: u16,
    },

    // ---- identifiers, topics, reason codes -----------------------------------------------
    /// Packet Identifier 0 where one is required.
    #[error("[MQTT-2.2.1-3] packet identifier 0")]
    PacketIdZero,
    /// A topic name containing `+` or `#`.
    #[error("[MQTT-3.3.2-2] topic name contains a wildcard")]
    TopicNameWildcard,
    /// An empty topic name with no topic alias.
    #[error("[MQTT-4.7.3-1] empty topic name without a topic alias")]
    TopicNameEmpty,
    /// A Response Topic containing a wildcard.
    #[error("[MQTT-3.3.2-14] response topic contains a wildcard")]
    ResponseTopicWildcard,
    /// SUBSCRIBE without a topic filter.
    #[error("[MQTT-3.8.3-2] SUBSCRIBE contains no topic filter")]
    SubscribeWithoutFilters,
    /// UNSUBSCRIBE without a topic filter.
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE contains no topic filter")]
    UnsubscribeWithoutFilters,
    /// Reserved bits in the subscription options byte are set.
    #[error("[MQTT-3.8.3-5] reserved subscription option bits are set")]
    SubscriptionOptionsReserved,
    /// Subscription options request QoS 3: a Protocol Error in MQTT 5 (§3.8.3.1), malformed in
    /// 3.1.1 ([MQTT-3.8.3-4] of 3.1.1), where no reason code is sent.
    #[error("[MQTT-3.8.3.1] subscription requests QoS 3")]
    SubscriptionQos3,
    /// Retain Handling 3.
    #[error("[MQTT-3.8.3.1] retain handling 3")]
    RetainHandling3,
    /// No Local on a shared subscription.
    #[error("[MQTT-3.8.3-4] no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// An ack carries a reason code its packet type does not define.
    #[error("[MQTT-2.4] reason code {code:#04x} is not valid in {packet:?}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The byte received.
        code: u8,
    },
    /// An acknowledgement list is empty where one entry per filter is required.
    #[error("[MQTT-3.9.3-1] acknowledgement without reason codes")]
    EmptyAckList,
}

impl DecodeError {
    /// The reason code to send back (in DISCONNECT, or CONNACK for CONNECT errors).
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            Self::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            Self::UnsupportedProtocolVersion(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            Self::TooManyUserProperties(_) => ReasonCode::QUOTA_EXCEEDED,
            Self::TopicAliasZero | Self::TopicAliasTooLarge { .. } => {
                ReasonCode::TOPIC_ALIAS_INVALID
            }
            Self::TopicNameWildcard => ReasonCode::TOPIC_NAME_INVALID,
            Self::UnexpectedPacket(_)
            | Self::PropertyNotAllowed { .. }
            | Self::DuplicateProperty(_)
            | Self::InvalidPropertyValue(_)
            | Self::SubscriptionIdentifierZero
            | Self::SubscriptionIdentifierFromClient
            | Self::PacketIdZero
            | Self::TopicNameEmpty
            | Self::ResponseTopicWildcard
            | Self::SubscribeWithoutFilters
            | Self::UnsubscribeWithoutFilters
            | Self::SubscriptionQos3
            | Self::RetainHandling3
            | Self::NoLocalOnSharedSubscription
            | Self::AuthDataWithoutMethod
            | Self::AuthMethodMissing
            | Self::ConnAckSessionPresentOnError => ReasonCode::PROTOCOL_ERROR,
            Self::VarIntTooLong
            | Self::VarIntNotMinimal
            | Self::ReservedPacketType
            | Self::InvalidHeaderFlags(_)
            | Self::PublishQos3
            | Self::DupOnQos0
            | Self::Truncated
            | Self::TrailingBytes(_)
            | Self::InvalidUtf8
            | Self::Utf8Null
            | Self::Utf8ControlCharacter
            | Self::InvalidProtocolName
            | Self::ConnectReservedFlag
            | Self::WillQos3
            | Self::WillFlagsWithoutWill
            | Self::PasswordWithoutUsername
            | Self::ConnAckReservedFlags
            | Self::UnknownProperty(_)
            | Self::PropertyLengthMismatch
            | Self::SubscriptionOptionsReserved
            | Self::InvalidReasonCode { .. }
            | Self::EmptyAckList => ReasonCode::MALFORMED_PACKET,
        }
    }
}

impl<'a> nom::error::ParseError<&'a [u8]> for DecodeError {
    fn from_error_kind(_input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        Self::Truncated
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Why a packet could not be encoded. These are misuse of the API, or a peer limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string or binary field longer than 65,535 bytes.
    #[error("[MQTT-1.5.4] a string or binary field is longer than 65,535 bytes")]
    FieldTooLong,
    /// The body exceeds the largest remaining length (268,435,455).
    #[error("[MQTT-2.1.4] remaining length above 268,435,455")]
    RemainingLengthTooLarge,
    /// The packet does not fit the peer's Maximum Packet Size, even without the reason
    /// string and user properties.
    #[error("[MQTT-3.1.2-24] packet of {size} bytes exceeds the peer's maximum packet size {max}")]
    PacketTooLarge {
        /// Smallest size the packet could be encoded in.
        size: usize,
        /// The peer's limit.
        max: u32,
    },
    /// The packet type does not exist in the chosen protocol version (AUTH before MQTT 5).
    #[error("{0:?} does not exist in this protocol version")]
    UnsupportedInVersion(PacketType),
    /// An acknowledgement list is empty where one entry per filter is required.
    #[error("[MQTT-3.8.3-2] a SUBSCRIBE, UNSUBSCRIBE or SUBACK needs at least one entry")]
    EmptyList,
    /// A value outside its range (e.g. a subscription identifier above 268,435,455).
    #[error("a field value is out of range for the wire format")]
    ValueOutOfRange,
}

impl From<nom::Err<DecodeError>> for DecodeError {
    fn from(e: nom::Err<DecodeError>) -> Self {
        match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => e,
            nom::Err::Incomplete(_) => Self::Truncated,
        }
    }
}

/// Input parsing result inside a frame.
pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;
