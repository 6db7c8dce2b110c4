//! Small value types shared by every packet: protocol version, QoS, packet type, sender role.

use core::fmt;
use core::num::NonZeroU16;

/// The protocol level carried in CONNECT (MQTT 5 §3.1.2.2).
///
/// One packet model serves all three versions; this value says which wire format to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1, protocol name `MQIsdp`, level 3.
    V3_1,
    /// MQTT 3.1.1, protocol name `MQTT`, level 4.
    V3_1_1,
    /// MQTT 5.0, protocol name `MQTT`, level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte.
    pub const fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name written in CONNECT.
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::V3_1 => "MQIsdp",
            Self::V3_1_1 | Self::V5 => "MQTT",
        }
    }

    /// Whether this version carries properties and reason codes.
    pub const fn is_v5(self) -> bool {
        matches!(self, Self::V5)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1 => "3.1",
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5.0",
        })
    }
}

/// Quality of service (MQTT 5 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// Parses the two QoS bits; 3 is not a QoS.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// A PUBLISH's QoS together with its packet identifier, which exists exactly when QoS > 0
/// [MQTT-2.2.1-2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosPid {
    /// QoS 0: no packet identifier.
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(NonZeroU16),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(NonZeroU16),
}

impl QosPid {
    /// Builds from a QoS and an identifier; the identifier is ignored for QoS 0.
    pub const fn new(qos: QoS, pid: NonZeroU16) -> Self {
        match qos {
            QoS::AtMostOnce => Self::AtMostOnce,
            QoS::AtLeastOnce => Self::AtLeastOnce(pid),
            QoS::ExactlyOnce => Self::ExactlyOnce(pid),
        }
    }

    /// The QoS level.
    pub const fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
            Self::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, if QoS > 0.
    pub const fn packet_id(self) -> Option<NonZeroU16> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(p) | Self::ExactlyOnce(p) => Some(p),
        }
    }
}

/// Control packet types, the high nibble of the fixed header (MQTT 5 §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgment.
    ConnAck = 2,
    /// Publish message.
    Publish = 3,
    /// Publish acknowledgment (QoS 1).
    PubAck = 4,
    /// Publish received (QoS 2, part 1).
    PubRec = 5,
    /// Publish release (QoS 2, part 2).
    PubRel = 6,
    /// Publish complete (QoS 2, part 3).
    PubComp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgment.
    SubAck = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgment.
    UnsubAck = 11,
    /// PING request.
    PingReq = 12,
    /// PING response.
    PingResp = 13,
    /// Disconnect notification.
    Disconnect = 14,
    /// Authentication exchange (MQTT 5 only).
    Auth = 15,
}

impl PacketType {
    /// Parses the high nibble of the first header byte; 0 is reserved.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            15 => Self::Auth,
            _ => return None,
        })
    }

    /// The low nibble every packet of this type must carry; PUBLISH has variable flags
    /// [MQTT-2.1.3-1].
    pub const fn fixed_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }

    /// Whether a client may send this packet type to a server.
    pub const fn client_may_send(self) -> bool {
        !matches!(
            self,
            Self::ConnAck | Self::SubAck | Self::UnsubAck | Self::PingResp
        )
    }

    /// Whether a server may send this packet type to a client.
    pub const fn server_may_send(self) -> bool {
        !matches!(
            self,
            Self::Connect | Self::Subscribe | Self::Unsubscribe | Self::PingReq
        )
    }
}

/// Which side sent the bytes being decoded; some packets and properties are legal in one
/// direction only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Bytes written by an MQTT client (the broker's view).
    Client,
    /// Bytes written by an MQTT server (a client's view).
    Server,
}
