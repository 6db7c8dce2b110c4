//! The client's write side of one connection: one buffer every packet is encoded into, the
//! server's Maximum Packet Size, and the outbound topic aliases.

use core::num::NonZeroU16;

use bytes::BytesMut;
use mqtt_proto::{EncodeError, Packet, ProtocolVersion};

use crate::alias::{OutboundAlias, OutboundAliases};
use crate::time::Timestamp;

/// Encodes packets for the current connection.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Everything encoded and not yet taken by the runtime.
    pub(crate) tx: BytesMut,
    pub(crate) version: ProtocolVersion,
    /// The server's Maximum Packet Size [MQTT-3.2.2-15].
    pub(crate) max_packet_size: u32,
    /// Aliases the server knows on this connection; they do not carry over [MQTT-3.3.2-7].
    pub(crate) aliases: OutboundAliases,
    /// When the last packet was encoded (keep alive counts from it).
    pub(crate) last_sent: Timestamp,
}

impl Wire {
    pub(crate) fn new(version: ProtocolVersion) -> Self {
        Self {
            tx: BytesMut::new(),
            version,
            max_packet_size: mqtt_proto::MAX_PACKET_SIZE,
            aliases: OutboundAliases::new(0),
            last_sent: Timestamp::ZERO,
        }
    }

    /// Appends `packet`, fitting the server's Maximum Packet Size; on error nothing is
    /// appended.
    pub(crate) fn send(&mut self, packet: &Packet, now: Timestamp) -> Result<(), EncodeError> {
        packet.encode_within(self.version, self.max_packet_size, &mut self.tx)?;
        self.last_sent = now;
        Ok(())
    }

    /// Appends a PUBLISH, with a topic alias in place of its topic where the server knows one
    /// or can be given one. `packet` is left as it was: the stored message keeps its topic for
    /// a resend on another connection.
    pub(crate) fn send_publish(
        &mut self,
        packet: &mut Packet,
        now: Timestamp,
    ) -> Result<(), EncodeError> {
        let Packet::Publish(p) = packet else {
            return self.send(packet, now);
        };
        // [MQTT-3.2.2-17] [MQTT-3.2.2-18] [MQTT-3.3.2-9] the table never exceeds the server's
        // Topic Alias Maximum (it is created with the smaller of that and our own cap).
        let choice = self.aliases.peek(&p.topic);
        let mut topic = None;
        match choice {
            OutboundAlias::Known(a) => {
                topic = Some(core::mem::take(&mut p.topic));
                p.properties.topic_alias = NonZeroU16::new(a);
            }
            // [MQTT-3.3.2-8] aliases start at 1.
            OutboundAlias::Assigned(a) => p.properties.topic_alias = NonZeroU16::new(a),
            OutboundAlias::None => {}
        }
        let result = packet.encode_within(self.version, self.max_packet_size, &mut self.tx);
        if let Packet::Publish(p) = packet {
            if let Some(t) = topic {
                p.topic = t;
            }
            p.properties.topic_alias = None;
            if result.is_ok() {
                self.aliases.commit(&p.topic, choice);
            }
        }
        if result.is_ok() {
            self.last_sent = now;
        }
        result
    }
}
