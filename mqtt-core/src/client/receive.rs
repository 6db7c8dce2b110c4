//! What the client receives: CONNACK, inbound PUBLISH at QoS 0/1/2 with exactly-once
//! delivery, topic alias resolution, PUBREL, DISCONNECT and AUTH.

use bytes::BytesMut;
use mqtt_proto::{
    Auth, ConnAck, DecodeError, Disconnect, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, PubRelReasonCode, Publish, QosPid,
};

use super::{
    Client, CloseReason, Connected, ConnectionState, Event, ProtocolViolation, ServerLimits,
};
use crate::alias::OutboundAliases;
use crate::time::Timestamp;

impl Client {
    /// Bytes arrived. Whole packets are consumed from `buf` and a partial one is left there:
    /// keep it and pass it again with what is read next. A malformed packet or a protocol
    /// violation ends the connection ([`Event::Disconnected`]), after a DISCONNECT with the
    /// reason code on MQTT 5; what is left in `buf` then is dropped.
    pub fn handle_bytes(&mut self, buf: &mut BytesMut, now: Timestamp) {
        loop {
            if self.state == ConnectionState::Disconnected {
                buf.clear();
                return;
            }
            match Packet::decode(buf, &self.decode) {
                Ok(Some(packet)) => {
                    self.last_rx = now;
                    self.handle_packet(packet, now);
                }
                Ok(None) => return,
                Err(e) => {
                    buf.clear();
                    return self.violation(ProtocolViolation::Malformed(e), now);
                }
            }
        }
    }

    fn handle_packet(&mut self, packet: Packet, now: Timestamp) {
        if self.state == ConnectionState::Connecting {
            return match packet {
                Packet::ConnAck(ack) => self.on_connack(*ack, now),
                Packet::Auth(a) => self.on_auth(a, now),
                Packet::Disconnect(d) => self.on_disconnect(d),
                // [MQTT-3.2.0-1] CONNACK comes before anything but AUTH.
                other => {
                    let v = ProtocolViolation::ExpectedConnAck(other.packet_type());
                    self.violation(v, now)
                }
            };
        }
        match packet {
            Packet::Publish(p) => self.on_publish(p, now),
            Packet::PubAck(a) => self.on_puback(a, now),
            Packet::PubRec(a) => self.on_pubrec(a, now),
            Packet::PubRel(a) => self.on_pubrel(a, now),
            Packet::PubComp(a) => self.on_pubcomp(a, now),
            Packet::SubAck(a) => self.on_suback(a, now),
            Packet::UnsubAck(a) => self.on_unsuback(a, now),
            Packet::PingResp => self.ping_sent = None,
            Packet::Disconnect(d) => self.on_disconnect(d),
            Packet::Auth(a) => self.on_auth(a, now),
            // [MQTT-3.2.0-2] one CONNACK per connection.
            Packet::ConnAck(_) => self.violation(ProtocolViolation::SecondConnAck, now),
            // The decoder already refuses what only a client sends.
            other => {
                let e = DecodeError::UnexpectedPacket(other.packet_type());
                self.violation(ProtocolViolation::Malformed(e), now)
            }
        }
    }

    fn on_connack(&mut self, ack: ConnAck, now: Timestamp) {
        if ack.reason_code.is_error() {
            // [MQTT-3.2.2-7] the server closes after a refusal.
            let p = ack.properties;
            return self.close(CloseReason::ConnectFailed {
                reason: ack.reason_code,
                reason_string: p.reason_string,
                server_reference: p.server_reference,
            });
        }
        let limits =
            ServerLimits::from_connack(&ack, self.options.keep_alive, self.connect_session_expiry);
        // [MQTT-3.2.2-16] an assigned identifier is kept, for reconnects.
        let assigned = match &ack.properties.assigned_client_identifier {
            Some(id) => {
                self.options.client_id = id.clone();
                true
            }
            None => false,
        };
        // [MQTT-3.2.2-15] never above the server's Maximum Packet Size.
        self.wire.max_packet_size = limits.maximum_packet_size;
        // [MQTT-3.2.2-17] [MQTT-3.2.2-18] aliases only up to the server's Topic Alias
        // Maximum, none when it sent none.
        let aliases = self
            .options
            .outbound_topic_aliases
            .min(limits.topic_alias_maximum);
        self.wire.aliases = OutboundAliases::new(aliases);
        let session_present = if self.options.version == ProtocolVersion::V3_1 {
            !self.clean_start_sent
        } else {
            ack.session_present
        };
        self.limits = limits;
        self.state = ConnectionState::Connected;
        self.connack_deadline = None;
        self.connected_before = true;
        self.events.push_back(Event::Connected(Box::new(Connected {
            session_present,
            client_id: self.options.client_id.clone(),
            assigned_client_id: assigned,
            limits,
            properties: ack.properties,
        })));
        if session_present {
            self.resume_session(now);
        } else {
            self.session_lost();
        }
        self.pump(now);
    }

    fn on_publish(&mut self, mut p: Publish, now: Timestamp) {
        // Topic alias (MQTT 5 §3.3.2.3.4). The decoder refused 0 [MQTT-3.3.2-8] and aliases
        // above the maximum we sent [MQTT-3.3.2-10].
        if let Some(alias) = p.properties.topic_alias.take() {
            if p.topic.is_empty() {
                match self.inbound_aliases.get(alias.get()) {
                    Some(topic) => p.topic = topic.clone(),
                    // [MQTT-3.3.2-7] only aliases set on this connection exist.
                    None => {
                        let v = ProtocolViolation::UnknownTopicAlias(alias.get());
                        return self.violation(v, now);
                    }
                }
            } else {
                self.inbound_aliases.set(alias.get(), p.topic.clone());
            }
        }
        match p.qos_pid {
            QosPid::AtMostOnce => self.events.push_back(Event::Message(p)),
            QosPid::AtLeastOnce(pid) => {
                // [MQTT-4.3.2-4] [MQTT-4.5.0-2] PUBACK, in arrival order [MQTT-4.6.0-2]; a
                // repeat is a new message [MQTT-4.3.2-5].
                let _ = self.wire.send(&Packet::PubAck(PubAck::new(pid)), now);
                self.events.push_back(Event::Message(p));
            }
            QosPid::ExactlyOnce(pid) => {
                if !self.awaiting_rel.contains(&pid.get()) {
                    // [MQTT-3.3.4-9] no more unreleased QoS 2 than our Receive Maximum.
                    let max = usize::from(self.options.receive_maximum.max(1));
                    if self.wire.version.is_v5() && self.awaiting_rel.len() >= max {
                        return self.violation(ProtocolViolation::ReceiveMaximumExceeded, now);
                    }
                    self.awaiting_rel.insert(pid.get());
                    self.events.push_back(Event::Message(p));
                }
                // [MQTT-4.3.3-8] PUBREC, in arrival order [MQTT-4.6.0-3]; [MQTT-4.3.3-10] a
                // repeat before PUBREL is acknowledged again and not delivered again.
                let _ = self.wire.send(&Packet::PubRec(PubRec::new(pid)), now);
            }
        }
    }

    /// PUBREL: [MQTT-4.3.3-11] PUBCOMP with its identifier, which is free again
    /// [MQTT-4.3.3-12]. An identifier not awaiting release is answered 0x92 (MQTT 5).
    fn on_pubrel(&mut self, rel: PubRel, now: Timestamp) {
        let mut comp = PubComp::new(rel.packet_id);
        if !self.awaiting_rel.remove(&rel.packet_id.get()) {
            comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
        }
        let _ = self.wire.send(&Packet::PubComp(comp), now);
    }

    fn on_disconnect(&mut self, d: Disconnect) {
        self.close(CloseReason::ByServer {
            reason: d.reason_code,
            reason_string: d.properties.reason_string,
            server_reference: d.properties.server_reference,
        });
    }

    fn on_auth(&mut self, a: Auth, now: Timestamp) {
        // [MQTT-4.12.0-6] AUTH only follows a CONNECT with an Authentication Method.
        if self.options.authentication_method.is_none() {
            return self.violation(ProtocolViolation::UnexpectedAuth, now);
        }
        self.events.push_back(Event::Auth {
            reason: a.reason_code,
            data: a.properties.authentication_data,
            reason_string: a.properties.reason_string,
        });
    }
}
