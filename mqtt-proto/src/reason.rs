//! Reason codes: a general [`ReasonCode`] byte, one typed enum per packet (MQTT 5 §2.4), and the
//! MQTT 3.x CONNACK return codes.

/// Any MQTT 5 reason code byte, with the named values as constants.
///
/// The per-packet enums below restrict it to the values each packet may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    /// 0x00 Success / Normal disconnection / Granted QoS 0.
    pub const SUCCESS: Self = Self(0x00);
    /// 0x80 Unspecified error.
    pub const UNSPECIFIED_ERROR: Self = Self(0x80);
    /// 0x81 Malformed Packet.
    pub const MALFORMED_PACKET: Self = Self(0x81);
    /// 0x82 Protocol Error.
    pub const PROTOCOL_ERROR: Self = Self(0x82);
    /// 0x83 Implementation specific error.
    pub const IMPLEMENTATION_SPECIFIC_ERROR: Self = Self(0x83);
    /// 0x84 Unsupported Protocol Version.
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(0x84);
    /// 0x85 Client Identifier not valid.
    pub const CLIENT_IDENTIFIER_NOT_VALID: Self = Self(0x85);
    /// 0x8F Topic Filter invalid.
    pub const TOPIC_FILTER_INVALID: Self = Self(0x8F);
    /// 0x90 Topic Name invalid.
    pub const TOPIC_NAME_INVALID: Self = Self(0x90);
    /// 0x93 Receive Maximum exceeded.
    pub const RECEIVE_MAXIMUM_EXCEEDED: Self = Self(0x93);
    /// 0x94 Topic Alias invalid.
    pub const TOPIC_ALIAS_INVALID: Self = Self(0x94);
    /// 0x95 Packet too large.
    pub const PACKET_TOO_LARGE: Self = Self(0x95);
    /// 0x97 Quota exceeded.
    pub const QUOTA_EXCEEDED: Self = Self(0x97);
    /// 0x99 Payload format invalid.
    pub const PAYLOAD_FORMAT_INVALID: Self = Self(0x99);
}

macro_rules! reason_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $val:expr,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $val,)+
        }

        impl $name {
            /// Every value this packet may carry, in numeric order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// Parses the byte; `None` if this packet may not carry it.
            pub const fn from_u8(v: u8) -> Option<Self> {
                match v {
                    $($val => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The wire byte.
            pub const fn as_u8(self) -> u8 {
                self as u8
            }

            /// Reason codes of 0x80 and above are failures (MQTT 5 §2.4).
            pub const fn is_error(self) -> bool {
                (self as u8) >= 0x80
            }
        }

        impl From<$name> for ReasonCode {
            fn from(v: $name) -> Self {
                ReasonCode(v as u8)
            }
        }
    };
}

reason_enum! {
    /// CONNACK reason codes (MQTT 5 §3.2.2.2).
    ConnectReasonCode {
        /// The connection is accepted.
        Success = 0x00,
        /// Unspecified error.
        UnspecifiedError = 0x80,
        /// Malformed Packet.
        MalformedPacket = 0x81,
        /// Protocol Error.
        ProtocolError = 0x82,
        /// Implementation specific error.
        ImplementationSpecificError = 0x83,
        /// Unsupported Protocol Version.
        UnsupportedProtocolVersion = 0x84,
        /// Client Identifier not valid.
        ClientIdentifierNotValid = 0x85,
        /// Bad User Name or Password.
        BadUserNameOrPassword = 0x86,
        /// Not authorized.
        NotAuthorized = 0x87,
        /// Server unavailable.
        ServerUnavailable = 0x88,
        /// Server busy.
        ServerBusy = 0x89,
        /// Banned.
        Banned = 0x8A,
        /// Bad authentication method.
        BadAuthenticationMethod = 0x8C,
        /// Topic Name invalid (of the will).
        TopicNameInvalid = 0x90,
        /// Packet too large.
        PacketTooLarge = 0x95,
        /// Quota exceeded.
        QuotaExceeded = 0x97,
        /// Payload format invalid (of the will).
        PayloadFormatInvalid = 0x99,
        /// Retain not supported.
        RetainNotSupported = 0x9A,
        /// QoS not supported.
        QoSNotSupported = 0x9B,
        /// Use another server.
        UseAnotherServer = 0x9C,
        /// Server moved.
        ServerMoved = 0x9D,
        /// Connection rate exceeded.
        ConnectionRateExceeded = 0x9F,
    }
}

reason_enum! {
    /// PUBACK and PUBREC reason codes (MQTT 5 §3.4.2.1, §3.5.2.1).
    PubAckReasonCode {
        /// The message is accepted.
        Success = 0x00,
        /// Accepted, but nobody subscribes to it.
        NoMatchingSubscribers = 0x10,
        /// Unspecified error.
        UnspecifiedError = 0x80,
        /// Implementation specific error.
        ImplementationSpecificError = 0x83,
        /// Not authorized.
        NotAuthorized = 0x87,
        /// Topic Name invalid.
        TopicNameInvalid = 0x90,
        /// Packet identifier in use.
        PacketIdentifierInUse = 0x91,
        /// Quota exceeded.
        QuotaExceeded = 0x97,
        /// Payload format invalid.
        PayloadFormatInvalid = 0x99,
    }
}

/// PUBREC carries the same reason codes as PUBACK.
pub type PubRecReasonCode = PubAckReasonCode;

reason_enum! {
    /// PUBREL and PUBCOMP reason codes (MQTT 5 §3.6.2.1, §3.7.2.1).
    PubRelReasonCode {
        /// Success.
        Success = 0x00,
        /// Packet Identifier not found.
        PacketIdentifierNotFound = 0x92,
    }
}

/// PUBCOMP carries the same reason codes as PUBREL.
pub type PubCompReasonCode = PubRelReasonCode;

reason_enum! {
    /// SUBACK reason codes, one per requested filter (MQTT 5 §3.9.3). MQTT 3.1.1 knows only
    /// the three grants and 0x80.
    SubAckReasonCode {
        /// Granted QoS 0.
        GrantedQoS0 = 0x00,
        /// Granted QoS 1.
        GrantedQoS1 = 0x01,
        /// Granted QoS 2.
        GrantedQoS2 = 0x02,
        /// Unspecified error (the MQTT 3.1.1 failure code).
        UnspecifiedError = 0x80,
        /// Implementation specific error.
        ImplementationSpecificError = 0x83,
        /// Not authorized.
        NotAuthorized = 0x87,
        /// Topic Filter invalid.
        TopicFilterInvalid = 0x8F,
        /// Packet Identifier in use.
        PacketIdentifierInUse = 0x91,
        /// Quota exceeded.
        QuotaExceeded = 0x97,
        /// Shared Subscriptions not supported.
        SharedSubscriptionsNotSupported = 0x9E,
        /// Subscription Identifiers not supported.
        SubscriptionIdentifiersNotSupported = 0xA1,
        /// Wildcard Subscriptions not supported.
        WildcardSubscriptionsNotSupported = 0xA2,
    }
}

reason_enum! {
    /// UNSUBACK reason codes, one per filter (MQTT 5 §3.11.3).
    UnsubAckReasonCode {
        /// The subscription is deleted.
        Success = 0x00,
        /// No subscription existed.
        NoSubscriptionExisted = 0x11,
        /// Unspecified error.
        UnspecifiedError = 0x80,
        /// Implementation specific error.
        ImplementationSpecificError = 0x83,
        /// Not authorized.
        NotAuthorized = 0x87,
        /// Topic Filter invalid.
        TopicFilterInvalid = 0x8F,
        /// Packet Identifier in use.
        PacketIdentifierInUse = 0x91,
    }
}

reason_enum! {
    /// DISCONNECT reason codes (MQTT 5 §3.14.2.1).
    DisconnectReasonCode {
        /// Normal disconnection: do not send the will.
        NormalDisconnection = 0x00,
        /// Disconnect, but publish the will.
        DisconnectWithWillMessage = 0x04,
        /// Unspecified error.
        UnspecifiedError = 0x80,
        /// Malformed Packet.
        MalformedPacket = 0x81,
        /// Protocol Error.
        ProtocolError = 0x82,
        /// Implementation specific error.
        ImplementationSpecificError = 0x83,
        /// Not authorized.
        NotAuthorized = 0x87,
        /// Server busy.
        ServerBusy = 0x89,
        /// Server shutting down.
        ServerShuttingDown = 0x8B,
        /// Keep Alive timeout.
        KeepAliveTimeout = 0x8D,
        /// Session taken over.
        SessionTakenOver = 0x8E,
        /// Topic Filter invalid.
        TopicFilterInvalid = 0x8F,
        /// Topic Name invalid.
        TopicNameInvalid = 0x90,
        /// Receive Maximum exceeded.
        ReceiveMaximumExceeded = 0x93,
        /// Topic Alias invalid.
        TopicAliasInvalid = 0x94,
        /// Packet too large.
        PacketTooLarge = 0x95,
        /// Message rate too high.
        MessageRateTooHigh = 0x96,
        /// Quota exceeded.
        QuotaExceeded = 0x97,
        /// Administrative action.
        AdministrativeAction = 0x98,
        /// Payload format invalid.
        PayloadFormatInvalid = 0x99,
        /// Retain not supported.
        RetainNotSupported = 0x9A,
        /// QoS not supported.
        QoSNotSupported = 0x9B,
        /// Use another server.
        UseAnotherServer = 0x9C,
        /// Server moved.
        ServerMoved = 0x9D,
        /// Shared Subscriptions not supported.
        SharedSubscriptionsNotSupported = 0x9E,
        /// Connection rate exceeded.
        ConnectionRateExceeded = 0x9F,
        /// Maximum connect time.
        MaximumConnectTime = 0xA0,
        /// Subscription Identifiers not supported.
        SubscriptionIdentifiersNotSupported = 0xA1,
        /// Wildcard Subscriptions not supported.
        WildcardSubscriptionsNotSupported = 0xA2,
    }
}

reason_enum! {
    /// AUTH reason codes (MQTT 5 §3.15.2.1).
    AuthReasonCode {
        /// Authentication is successful.
        Success = 0x00,
        /// Continue the authentication with another step.
        ContinueAuthentication = 0x18,
        /// Initiate a re-authentication.
        ReAuthenticate = 0x19,
    }
}

reason_enum! {
    /// MQTT 3.1 / 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3).
    ConnectReturnCode {
        /// Connection accepted.
        Accepted = 0x00,
        /// The server does not support the requested protocol level.
        UnacceptableProtocolVersion = 0x01,
        /// The client identifier is not allowed.
        IdentifierRejected = 0x02,
        /// The MQTT service is unavailable.
        ServerUnavailable = 0x03,
        /// The user name or password is malformed.
        BadUserNameOrPassword = 0x04,
        /// The client is not authorized to connect.
        NotAuthorized = 0x05,
    }
}

impl ConnectReasonCode {
    /// The MQTT 3.x return code for this reason. MQTT 3 has six codes, so several v5 reasons
    /// share one: refusals of identity map to 5, every other failure to 3 (Server unavailable).
    pub const fn to_v3(self) -> ConnectReturnCode {
        match self {
            Self::Success => ConnectReturnCode::Accepted,
            Self::UnsupportedProtocolVersion => ConnectReturnCode::UnacceptableProtocolVersion,
            Self::ClientIdentifierNotValid => ConnectReturnCode::IdentifierRejected,
            Self::BadUserNameOrPassword => ConnectReturnCode::BadUserNameOrPassword,
            Self::NotAuthorized | Self::Banned | Self::BadAuthenticationMethod => {
                ConnectReturnCode::NotAuthorized
            }
            _ => ConnectReturnCode::ServerUnavailable,
        }
    }
}

impl From<ConnectReturnCode> for ConnectReasonCode {
    fn from(v: ConnectReturnCode) -> Self {
        match v {
            ConnectReturnCode::Accepted => Self::Success,
            ConnectReturnCode::UnacceptableProtocolVersion => Self::UnsupportedProtocolVersion,
            ConnectReturnCode::IdentifierRejected => Self::ClientIdentifierNotValid,
            ConnectReturnCode::ServerUnavailable => Self::ServerUnavailable,
            ConnectReturnCode::BadUserNameOrPassword => Self::BadUserNameOrPassword,
            ConnectReturnCode::NotAuthorized => Self::NotAuthorized,
        }
    }
}

impl SubAckReasonCode {
    /// The grant for a QoS.
    pub const fn granted(qos: crate::QoS) -> Self {
        match qos {
            crate::QoS::AtMostOnce => Self::GrantedQoS0,
            crate::QoS::AtLeastOnce => Self::GrantedQoS1,
            crate::QoS::ExactlyOnce => Self::GrantedQoS2,
        }
    }

    /// The MQTT 3.1.1 return code: a grant, or 0x80 for any failure.
    pub const fn to_v3(self) -> Self {
        if self.is_error() {
            Self::UnspecifiedError
        } else {
            self
        }
    }
}

/// The value a packet carries when its reason code is left off the wire.
macro_rules! reason_default {
    ($($name:ident => $variant:ident),*) => {$(
        impl Default for $name {
            fn default() -> Self {
                Self::$variant
            }
        }
    )*};
}

reason_default!(
    DisconnectReasonCode => NormalDisconnection,
    AuthReasonCode => Success,
    PubAckReasonCode => Success,
    PubRelReasonCode => Success
);
