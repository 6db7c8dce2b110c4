//! What a [`Client`](super::Client) asks for in CONNECT, and its own limits.

use core::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    Connect, ConnectProperties, LastWill, ProtocolVersion, PublishProperties, QoS, UserProperties,
    MAX_PACKET_SIZE,
};

/// Options of a [`Client`](super::Client).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Client Identifier. Empty asks the server to assign one; the assigned identifier is
    /// kept for reconnects.
    pub client_id: ByteString,
    /// Protocol version spoken.
    pub version: ProtocolVersion,
    /// Clean Start (MQTT 5) / Clean Session (MQTT 3) of the first CONNECT. Later CONNECTs
    /// (reconnects) ask to resume whenever a session can outlive a connection: Session
    /// Expiry above 0 on MQTT 5, Clean Session 0 on MQTT 3.
    pub clean_start: bool,
    /// Session Expiry Interval in seconds (MQTT 5); 0 ends the session with the connection.
    pub session_expiry: u32,
    /// Keep Alive in seconds; 0 disables pings.
    pub keep_alive: u16,
    /// User Name.
    pub username: Option<ByteString>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<LastWill>,
    /// Receive Maximum (MQTT 5): QoS 2 PUBLISH the server may leave unreleased with us. QoS 1
    /// is acknowledged on arrival. 0 is taken as 1.
    pub receive_maximum: u16,
    /// Largest packet accepted from the server; a larger one closes the connection (0x95).
    pub maximum_packet_size: u32,
    /// Topic Alias Maximum (MQTT 5): aliases the server may use towards us (0: none).
    pub topic_alias_maximum: u16,
    /// Topic aliases the client uses towards the server, at most (also bounded by the
    /// server's Topic Alias Maximum; 0: none). Assigned least-recently-used per topic.
    pub outbound_topic_aliases: u16,
    /// User Properties of CONNECT.
    pub user_properties: UserProperties,
    /// Request Response Information (MQTT 5).
    pub request_response_information: bool,
    /// Request Problem Information (MQTT 5; default true).
    pub request_problem_information: bool,
    /// Authentication Method (MQTT 5 enhanced authentication).
    pub authentication_method: Option<ByteString>,
    /// Authentication Data of CONNECT.
    pub authentication_data: Option<Bytes>,
    /// The client's own cap on QoS 1/2 publishes in flight (the server's Receive Maximum
    /// applies too). 0 is taken as 1.
    pub max_inflight: u16,
    /// Commands (publishes, subscribes, unsubscribes) held while not connected or over the
    /// inflight window; beyond it a command is refused with
    /// [`ClientError::QueueFull`](super::ClientError::QueueFull).
    pub max_queued: usize,
    /// Time allowed from [`Client::connect`](super::Client::connect) to CONNACK, in
    /// milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed after PINGREQ for the server to send anything, in milliseconds; `None`
    /// is half the keep alive.
    pub ping_timeout_ms: Option<u64>,
    /// When a reconnect finds the session gone, re-publish QoS 1/2 messages the server had
    /// not acknowledged as new messages (true, the default), or fail them with
    /// [`ClientError::SessionLost`](super::ClientError::SessionLost).
    pub resend_on_session_loss: bool,
}

impl Default for ClientOptions {
    /// MQTT 5, empty client id, clean start, no session expiry, keep alive 60 s, no aliases.
    fn default() -> Self {
        Self {
            client_id: ByteString::new(),
            version: ProtocolVersion::V5,
            clean_start: true,
            session_expiry: 0,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            outbound_topic_aliases: 0,
            user_properties: UserProperties::new(),
            request_response_information: false,
            request_problem_information: true,
            authentication_method: None,
            authentication_data: None,
            max_inflight: u16::MAX,
            max_queued: 65_536,
            connect_timeout_ms: 30_000,
            ping_timeout_ms: None,
            resend_on_session_loss: true,
        }
    }
}

impl ClientOptions {
    /// Defaults with this client identifier and version.
    pub fn new(client_id: impl Into<ByteString>, version: ProtocolVersion) -> Self {
        Self {
            client_id: client_id.into(),
            version,
            ..Self::default()
        }
    }

    /// Whether a session can outlive a connection, so that a reconnect may resume it.
    pub(crate) fn session_persists(&self, session_expiry: u32) -> bool {
        if self.version.is_v5() {
            session_expiry > 0
        } else {
            !self.clean_start
        }
    }

    /// The CONNECT for these options.
    pub(crate) fn connect_packet(&self, clean_start: bool, session_expiry: u32) -> Connect {
        let v5 = self.version.is_v5();
        let properties = if v5 {
            ConnectProperties {
                session_expiry_interval: (session_expiry > 0).then_some(session_expiry),
                receive_maximum: (self.receive_maximum < u16::MAX)
                    .then(|| NonZeroU16::new(self.receive_maximum.max(1)))
                    .flatten(),
                maximum_packet_size: (self.maximum_packet_size < MAX_PACKET_SIZE)
                    .then(|| NonZeroU32::new(self.maximum_packet_size.max(1)))
                    .flatten(),
                topic_alias_maximum: (self.topic_alias_maximum > 0)
                    .then_some(self.topic_alias_maximum),
                request_response_information: self.request_response_information.then_some(true),
                request_problem_information: (!self.request_problem_information).then_some(false),
                authentication_method: self.authentication_method.clone(),
                authentication_data: self
                    .authentication_method
                    .as_ref()
                    .and(self.authentication_data.clone()),
                user_properties: self.user_properties.clone(),
            }
        } else {
            ConnectProperties::default()
        };
        let mut will = self.will.clone();
        if let (Some(w), false) = (&mut will, v5) {
            w.properties = Default::default();
        }
        Connect {
            protocol_version: self.version,
            clean_start,
            keep_alive: self.keep_alive,
            properties,
            client_id: self.client_id.clone(),
            will,
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Topic name (the client replaces it with an alias where it can).
    pub topic: ByteString,
    /// Payload, shared, not copied.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// MQTT 5 properties (a Topic Alias here is ignored: the client manages aliases).
    pub properties: PublishProperties,
}

impl OutgoingMessage {
    /// A message without RETAIN or properties.
    pub fn new(topic: impl Into<ByteString>, payload: impl Into<Bytes>, qos: QoS) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }

    /// The same message with RETAIN set as given.
    #[must_use]
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// The same message with these properties.
    #[must_use]
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = properties;
        self
    }
}
