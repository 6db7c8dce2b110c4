//! The client's two error kinds: a command it refuses ([`ClientError`]), and a server breaking
//! the protocol ([`ProtocolViolation`]), which ends the connection with a reason code.

use mqtt_proto::topic::TopicError;
use mqtt_proto::{DecodeError, DisconnectReasonCode, EncodeError, PacketType, QoS};

/// Why a command was refused, or why a queued command was given up
/// ([`Event::Failed`](super::Event::Failed)). `Copy` and allocation-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The client's queue of commands waiting to be sent is full
    /// ([`ClientOptions::max_queued`](super::ClientOptions::max_queued)).
    #[error("the client queue is full ({0} commands wait)")]
    QueueFull(usize),
    /// The packet does not fit the server's Maximum Packet Size.
    #[error(
        "[MQTT-3.2.2-15] packet of {size} bytes exceeds the server's maximum packet size {max}"
    )]
    PacketTooLarge {
        /// Smallest size the packet encodes to.
        size: usize,
        /// The server's limit.
        max: u32,
    },
    /// The QoS is above the server's Maximum QoS.
    #[error("[MQTT-3.2.2-11] QoS {requested:?} exceeds the server's maximum QoS {maximum:?}")]
    QosNotSupported {
        /// QoS of the publish.
        requested: QoS,
        /// The server's Maximum QoS.
        maximum: QoS,
    },
    /// RETAIN while the server said Retain Available 0.
    #[error("[MQTT-3.2.2-14] the server does not support retained messages")]
    RetainNotSupported,
    /// A topic name that no server accepts (empty, with a wildcard, too long).
    #[error("invalid topic name: {0}")]
    InvalidTopic(TopicError),
    /// A SUBSCRIBE or UNSUBSCRIBE without a filter.
    #[error("[MQTT-3.8.3-2] [MQTT-3.10.3-2] a SUBSCRIBE or UNSUBSCRIBE needs at least one filter")]
    NoFilters,
    /// The server no longer had the session when the client reconnected, and
    /// [`ClientOptions::resend_on_session_loss`](super::ClientOptions::resend_on_session_loss)
    /// is off: the message may or may not have reached the server.
    #[error("[MQTT-3.2.2-5] the session was lost before the message was acknowledged")]
    SessionLost,
    /// The connection's CONNECT had Session Expiry 0; DISCONNECT may not raise it.
    #[error("[MQTT-3.14.2.2.2] session expiry cannot be set on DISCONNECT after CONNECT set 0")]
    SessionExpiryWasZero,
    /// The command needs a connection (or a connection attempt) in progress.
    #[error("not connected")]
    NotConnected,
    /// [`Client::connect`](super::Client::connect) while a connection is in progress.
    #[error("already connected or connecting")]
    AlreadyConnected,
    /// AUTH without an Authentication Method in the options, or on MQTT 3.
    #[error("[MQTT-4.12.0-7] no authentication method was given in CONNECT")]
    NoAuthMethod,
    /// The packet cannot be encoded (a field or the whole packet is too long).
    #[error("cannot encode: {0}")]
    Encode(EncodeError),
}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::PacketTooLarge { size, max } => Self::PacketTooLarge { size, max },
            other => Self::Encode(other),
        }
    }
}

/// How the server broke the protocol. The client closes the connection, after a DISCONNECT
/// with [`ProtocolViolation::reason_code`] on MQTT 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolViolation {
    /// A packet failed to decode (malformed, or not allowed from a server).
    #[error("malformed packet from the server: {0}")]
    Malformed(DecodeError),
    /// Something other than CONNACK, AUTH or DISCONNECT before CONNACK.
    #[error("[MQTT-3.2.0-1] {0:?} before CONNACK")]
    ExpectedConnAck(PacketType),
    /// A second CONNACK on one connection.
    #[error("[MQTT-3.2.0-2] a second CONNACK")]
    SecondConnAck,
    /// A PUBLISH with an empty topic and an alias the server never set on this connection.
    #[error("[MQTT-3.3.2-7] topic alias {0} was not set on this connection")]
    UnknownTopicAlias(u16),
    /// More unacknowledged QoS 2 PUBLISH than our Receive Maximum.
    #[error("[MQTT-3.3.4-9] the server exceeded our receive maximum")]
    ReceiveMaximumExceeded,
    /// AUTH from a server to a client that sent no Authentication Method.
    #[error("[MQTT-4.12.0-6] AUTH without an authentication method in CONNECT")]
    UnexpectedAuth,
}

impl ProtocolViolation {
    /// The DISCONNECT reason code this violation is answered with.
    pub const fn reason_code(self) -> DisconnectReasonCode {
        match self {
            Self::Malformed(e) => match DisconnectReasonCode::from_u8(e.reason_code().0) {
                Some(r) => r,
                None => DisconnectReasonCode::ProtocolError,
            },
            Self::ReceiveMaximumExceeded => DisconnectReasonCode::ReceiveMaximumExceeded,
            Self::ExpectedConnAck(_)
            | Self::SecondConnAck
            | Self::UnknownTopicAlias(_)
            | Self::UnexpectedAuth => DisconnectReasonCode::ProtocolError,
        }
    }
}
