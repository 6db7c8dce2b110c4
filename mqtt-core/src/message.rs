//! The application message as the broker routes it: decoded once, shared by every receiver.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{PublishProperties, QoS};

use crate::ids::ShardId;
use crate::time::Timestamp;

/// A broker-unique identity of one application message: the shard that made it and that
/// shard's sequence number (1, 2, …, in the order the shard made its messages).
///
/// Every copy of a message (the one forwarded to other shards, the one kept as retained)
/// keeps the id, so a shard can tell that a retained message fetched for a new subscription
/// already reached it live (`shard/routing/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    /// The shard that made the message.
    pub shard: ShardId,
    /// Its sequence number on that shard (0 only for messages made outside a shard).
    pub seq: u64,
}

impl Default for MessageId {
    /// The id of a message made outside any shard (tests, tools): shard 0, sequence 0.
    fn default() -> Self {
        Self {
            shard: ShardId(0),
            seq: 0,
        }
    }
}

/// An application message inside the broker.
///
/// It is built once from an inbound PUBLISH and shared behind an [`Arc`] by every session it is
/// delivered to (and, later, by every shard it crosses to). The payload and topic are slices of
/// the frame the message arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Broker-unique identity, assigned where the message is made.
    pub id: MessageId,
    /// Topic name (aliases already resolved).
    pub topic: ByteString,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// Properties passed through to receivers: payload format, content type, response topic,
    /// correlation data, user properties, in order [MQTT-3.3.2-17/18]. Topic alias and
    /// subscription identifiers are per hop and are cleared here. The Message Expiry Interval
    /// is kept as received, as the mark that the publisher set one: a forwarded copy carries
    /// what is left of it, computed from [`Message::expires_at`] [MQTT-3.3.2-6].
    pub properties: PublishProperties,
    /// When the message expires (from Message Expiry Interval), if it does.
    pub expires_at: Option<Timestamp>,
    /// Client identifier of the publisher, for No Local and hash-based shared delivery.
    /// `None` for messages the broker itself makes ($SYS).
    pub publisher: Option<ByteString>,
}

/// A message shared between receivers.
pub type SharedMessage = Arc<Message>;

impl Message {
    /// Whether the message has expired at `now` (it is then never delivered).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Remaining lifetime in whole seconds, rounded up, for the Message Expiry Interval of a
    /// forwarded copy [MQTT-3.3.2-6]. `None` if the message never expires.
    pub fn remaining_expiry_secs(&self, now: Timestamp) -> Option<u32> {
        self.expires_at.map(|t| {
            let ms = t.0.saturating_sub(now.0);
            u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
        })
    }

    /// Size used for limits: topic plus payload bytes.
    pub fn weight(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}
