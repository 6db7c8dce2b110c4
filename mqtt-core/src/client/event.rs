//! What a [`Client`](super::Client) reports: [`Event`]s, the tokens that tie answers to
//! commands, and the server's limits from CONNACK.

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    AuthReasonCode, ConnAck, ConnAckProperties, ConnectReasonCode, DisconnectReasonCode, Publish,
    QoS, ReasonCode, SubAckReasonCode, UnsubAckReasonCode, MAX_PACKET_SIZE,
};
use smallvec::SmallVec;

use super::error::{ClientError, ProtocolViolation};

/// Names a command (publish, subscribe, unsubscribe) in the events that answer it. Tokens
/// are handed out in increasing order, once each, for the life of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketToken(pub(crate) u64);

impl PacketToken {
    /// The token's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// The server's limits and choices as in force on the current connection (MQTT 5 §3.2.2.3;
/// on MQTT 3 every limit is the protocol's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// QoS 1/2 PUBLISH the server accepts unacknowledged (65,535 when absent).
    pub receive_maximum: u16,
    /// Largest packet the server accepts.
    pub maximum_packet_size: u32,
    /// Highest QoS the server accepts.
    pub maximum_qos: QoS,
    /// Whether the server accepts RETAIN.
    pub retain_available: bool,
    /// Highest topic alias the server accepts (0: none).
    pub topic_alias_maximum: u16,
    /// Whether wildcard subscriptions are supported.
    pub wildcard_subscriptions: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifiers: bool,
    /// Whether shared subscriptions are supported.
    pub shared_subscriptions: bool,
    /// Keep alive in force, in seconds: the server's if it sent one [MQTT-3.2.2-21].
    pub keep_alive: u16,
    /// Session Expiry Interval in force, in seconds.
    pub session_expiry: u32,
}

impl ServerLimits {
    /// What holds before CONNACK: the protocol's limits and what we asked for.
    pub(crate) fn assumed(keep_alive: u16, session_expiry: u32) -> Self {
        Self {
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET_SIZE,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            topic_alias_maximum: 0,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            keep_alive,
            session_expiry,
        }
    }

    /// The limits a successful CONNACK sets, over what we asked for.
    pub(crate) fn from_connack(ack: &ConnAck, keep_alive: u16, session_expiry: u32) -> Self {
        let p = &ack.properties;
        Self {
            receive_maximum: p.receive_maximum.map_or(u16::MAX, |r| r.get()),
            maximum_packet_size: p
                .maximum_packet_size
                .map_or(MAX_PACKET_SIZE, |m| m.get().min(MAX_PACKET_SIZE)),
            maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available.unwrap_or(true),
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
            wildcard_subscriptions: p.wildcard_subscription_available.unwrap_or(true),
            subscription_identifiers: p.subscription_identifiers_available.unwrap_or(true),
            shared_subscriptions: p.shared_subscription_available.unwrap_or(true),
            // [MQTT-3.2.2-21] the server's keep alive replaces ours.
            keep_alive: p.server_keep_alive.unwrap_or(keep_alive),
            session_expiry: p.session_expiry_interval.unwrap_or(session_expiry),
        }
    }
}

/// A successful CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Whether the server resumed the session. When it did not, the client's unacknowledged
    /// messages were dealt with as [`ClientOptions::resend_on_session_loss`] says, and the
    /// server holds no subscriptions for it.
    ///
    /// [`ClientOptions::resend_on_session_loss`]: super::ClientOptions::resend_on_session_loss
    pub session_present: bool,
    /// The client identifier in use: ours, or the one the server assigned.
    pub client_id: ByteString,
    /// Whether the server assigned `client_id` [MQTT-3.2.2-16].
    pub assigned_client_id: bool,
    /// The server's limits in force on this connection.
    pub limits: ServerLimits,
    /// Every CONNACK property, e.g. Reason String, User Properties, Response Information,
    /// Server Reference, Authentication Data.
    pub properties: ConnAckProperties,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The server refused the CONNECT.
    ConnectFailed {
        /// CONNACK reason (MQTT 3 return codes are mapped to their MQTT 5 equivalent).
        reason: ConnectReasonCode,
        /// The CONNACK's Reason String.
        reason_string: Option<ByteString>,
        /// The CONNACK's Server Reference (another server to use).
        server_reference: Option<ByteString>,
    },
    /// The server sent DISCONNECT.
    ByServer {
        /// Its reason code (0x00 on MQTT 3).
        reason: DisconnectReasonCode,
        /// Its Reason String.
        reason_string: Option<ByteString>,
        /// Its Server Reference.
        server_reference: Option<ByteString>,
    },
    /// The application called [`Client::disconnect`](super::Client::disconnect).
    ByClient(DisconnectReasonCode),
    /// The server broke the protocol; the client sent DISCONNECT with its reason (MQTT 5).
    ProtocolError(ProtocolViolation),
    /// No PINGRESP (nor anything else) came in time after PINGREQ.
    KeepAliveTimeout,
    /// No CONNACK came within [`ClientOptions::connect_timeout_ms`].
    ///
    /// [`ClientOptions::connect_timeout_ms`]: super::ClientOptions::connect_timeout_ms
    ConnectTimeout,
    /// The transport closed ([`Client::handle_closed`](super::Client::handle_closed)).
    Closed,
}

impl CloseReason {
    /// Whether the server ended the connection with a packet (CONNACK refusal or DISCONNECT).
    pub fn by_server(&self) -> bool {
        matches!(self, Self::ConnectFailed { .. } | Self::ByServer { .. })
    }

    /// The reason string the server gave, if any.
    pub fn reason_string(&self) -> Option<&ByteString> {
        match self {
            Self::ConnectFailed { reason_string, .. } | Self::ByServer { reason_string, .. } => {
                reason_string.as_ref()
            }
            _ => None,
        }
    }
}

/// Something the application learns from the client.
// `Message` is the hot variant: boxing it would cost an allocation per message received.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected(Box<Connected>),
    /// An application message arrived, its topic alias resolved (the Topic Alias property is
    /// removed). QoS 2 messages are delivered once, on their first PUBLISH.
    Message(Publish),
    /// A QoS 1/2 publish is complete: the reason of PUBACK (QoS 1) or PUBREC (QoS 2, reported
    /// on PUBCOMP, or at once if it refused the message). A reason of 0x80 or more means the
    /// server refused the message.
    Published {
        /// The publish's token.
        token: PacketToken,
        /// The reason code.
        reason: ReasonCode,
        /// The Reason String with it.
        reason_string: Option<ByteString>,
    },
    /// A command was given up before its answer: it never fit the server's limits, or its
    /// session was lost (see [`ClientError`]).
    Failed {
        /// The command's token.
        token: PacketToken,
        /// Why.
        error: ClientError,
    },
    /// SUBACK: one reason code per filter, in order.
    Subscribed {
        /// The subscribe's token.
        token: PacketToken,
        /// Granted QoS or failure per filter.
        reason_codes: SmallVec<[SubAckReasonCode; 2]>,
        /// The Reason String.
        reason_string: Option<ByteString>,
    },
    /// UNSUBACK: one reason code per filter (all Success on MQTT 3, which has none).
    Unsubscribed {
        /// The unsubscribe's token.
        token: PacketToken,
        /// Outcome per filter.
        reason_codes: SmallVec<[UnsubAckReasonCode; 2]>,
        /// The Reason String.
        reason_string: Option<ByteString>,
    },
    /// The server sent AUTH (MQTT 5 enhanced authentication): answer a Continue with
    /// [`Client::auth`](super::Client::auth).
    Auth {
        /// Continue authentication, or Success of a re-authentication.
        reason: AuthReasonCode,
        /// Authentication Data.
        data: Option<Bytes>,
        /// Reason String.
        reason_string: Option<ByteString>,
    },
    /// The connection is over: write what [`Client::take_transmit`] still returns, close the
    /// socket, and call [`Client::connect`] on a new one to reconnect. Every connection
    /// attempt ends with exactly one of these.
    ///
    /// [`Client::take_transmit`]: super::Client::take_transmit
    /// [`Client::connect`]: super::Client::connect
    Disconnected(CloseReason),
}
