//! Inbound PUBLISH and the acknowledgements of both directions: QoS 0/1/2 flows, exactly-once,
//! the awaiting-PUBREL cap and Receive Maximum. Routing and outbound delivery are in
//! `deliver.rs`.

use core::num::NonZeroU16;
use std::sync::Arc;

use mqtt_proto::{
    Ack, DisconnectReasonCode, Packet, PubAck, PubAckReasonCode, PubRel, PubRelReasonCode, Publish,
    QosPid,
};

use super::Shard;
use crate::auth::Action;
use crate::ids::{ConnId, SessionId};
use crate::message::Message;
use crate::session::InflightState;
use crate::time::Timestamp;

impl Shard {
    /// The deadline from a Message Expiry Interval, capped by the configured maximum (which
    /// also applies to messages without one).
    pub(crate) fn expiry_deadline(
        &self,
        interval: Option<u32>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let cap = self.config.max_message_expiry;
        let secs = match (interval, cap) {
            (Some(i), 0) => i,
            (Some(i), c) => i.min(c),
            (None, 0) => return None,
            (None, c) => c,
        };
        Some(now.plus_secs(u64::from(secs)))
    }

    pub(crate) fn handle_publish(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        mut p: Publish,
        now: Timestamp,
    ) {
        self.stats.messages_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        // Topic alias: set or resolve (MQTT 5 §3.3.2.3.4). The codec has refused 0 and values
        // above our Topic Alias Maximum with 0x94 [MQTT-3.3.2-8] [MQTT-3.3.2-9].
        if let Some(alias) = p.properties.topic_alias.take() {
            if p.topic.is_empty() {
                match c.inbound_aliases.get(alias.get()) {
                    Some(t) => p.topic = t.clone(),
                    // bad-inputs row 12: an alias never set on this connection (mappings do
                    // not carry over from another one [MQTT-3.3.2-7]) is a Protocol Error.
                    None => {
                        self.stats.reject(0x82);
                        return self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
                    }
                }
            } else {
                c.inbound_aliases.set(alias.get(), p.topic.clone());
            }
        }
        let qos = p.qos_pid.qos();
        // [MQTT-3.2.2-11] QoS above Maximum QoS: DISCONNECT 0x9B.
        if qos > self.config.max_qos {
            self.stats.reject(0x9B);
            return self.disconnect(conn, DisconnectReasonCode::QoSNotSupported, now);
        }
        // [MQTT-3.2.2-14] RETAIN when retain is not available: DISCONNECT 0x9A.
        if p.retain && !self.config.retain_available {
            self.stats.reject(0x9A);
            return self.disconnect(conn, DisconnectReasonCode::RetainNotSupported, now);
        }
        let levels_ok =
            mqtt_proto::topic::validate_topic_name(&p.topic, self.config.max_topic_levels).is_ok();
        if !levels_ok {
            self.stats.reject(0x90);
            return self.disconnect(conn, DisconnectReasonCode::TopicNameInvalid, now);
        }
        let qos_pid = p.qos_pid;
        if let QosPid::ExactlyOnce(pid) = qos_pid {
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            // [MQTT-4.3.3-10] until PUBREL, the same id is acknowledged with PUBREC again and
            // not delivered again; it does not take another place (bad-inputs row 17).
            if s.awaiting_rel.contains(&pid.get()) {
                self.send(conn, &Packet::PubRec(PubAck::new(pid)), now);
                return;
            }
            // QoS 1 is acknowledged before the next packet is read, so the QoS 2 ids waiting
            // for PUBREL are the unacknowledged PUBLISH packets. More than our Receive Maximum
            // (§3.3.4, the client side of [MQTT-3.3.4-7]; bad-inputs row 18) or than the
            // awaiting-PUBREL cap (row 17) is 0x93. A 3.x client was told no Receive Maximum:
            // only the cap applies to it.
            let cap = if v5 {
                usize::from(self.config.receive_maximum).min(self.config.max_awaiting_rel)
            } else {
                self.config.max_awaiting_rel
            };
            if s.awaiting_rel.len() >= cap {
                self.stats.reject(0x93);
                return self.disconnect(conn, DisconnectReasonCode::ReceiveMaximumExceeded, now);
            }
        }
        let reason = self.check_publish(sid, &p);
        let reason = match reason {
            Some(r) => Some(r),
            None => {
                let receivers = self.accept_publish(sid, p, now);
                // 0x10 is a success code: the message was accepted (MQTT 5 §3.4.2.1).
                if receivers == 0
                    && qos_pid != QosPid::AtMostOnce
                    && self.config.no_matching_subscribers_reason
                {
                    Some(PubAckReasonCode::NoMatchingSubscribers)
                } else {
                    None
                }
            }
        };
        if let Some(r) = reason {
            if r.is_error() {
                self.stats.reject(r.as_u8());
            }
        }
        let reason_code = reason.unwrap_or(PubAckReasonCode::Success);
        match qos_pid {
            // QoS 0 gets no answer [MQTT-3.3.4-1]; a refused one is dropped, except a payload
            // that is not what its format says, which is answered with DISCONNECT 0x99.
            QosPid::AtMostOnce => {
                if reason_code == PubAckReasonCode::PayloadFormatInvalid {
                    self.disconnect(conn, DisconnectReasonCode::PayloadFormatInvalid, now);
                }
            }
            // [MQTT-4.3.2-4] PUBACK with the PUBLISH's packet identifier.
            QosPid::AtLeastOnce(pid) => {
                let ack = Ack {
                    packet_id: pid,
                    reason_code,
                    properties: Default::default(),
                };
                self.send(conn, &Packet::PubAck(ack), now);
            }
            // [MQTT-4.3.3-8] PUBREC with the packet identifier; after an error code the id
            // is free again [MQTT-4.3.3-9], else it waits for PUBREL.
            QosPid::ExactlyOnce(pid) => {
                if !reason_code.is_error() {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        s.awaiting_rel.insert(pid.get());
                    }
                }
                let ack = Ack {
                    packet_id: pid,
                    reason_code,
                    properties: Default::default(),
                };
                self.send(conn, &Packet::PubRec(ack), now);
            }
        }
    }

    /// Refusals that are answered in the ack (v5) rather than by closing.
    fn check_publish(&self, sid: SessionId, p: &Publish) -> Option<PubAckReasonCode> {
        let s = self.sessions.get(&sid)?;
        // Clients may not publish into the broker's own $SYS tree.
        if super::sys::is_sys_topic(&p.topic) {
            return Some(PubAckReasonCode::NotAuthorized);
        }
        let action = Action::Publish {
            topic: &p.topic,
            qos: p.qos_pid.qos(),
            retain: p.retain,
        };
        if !self.acl.check(&s.client, action) {
            return Some(PubAckReasonCode::NotAuthorized);
        }
        // MQTT 5 §3.3.2.3.2: the receiver may check that a payload flagged as UTF-8 is UTF-8,
        // and refuse it with 0x99 (when enabled).
        if self.config.validate_payload_format
            && p.properties.payload_format_indicator == Some(true)
            && core::str::from_utf8(&p.payload).is_err()
        {
            return Some(PubAckReasonCode::PayloadFormatInvalid);
        }
        None
    }

    /// Turns an accepted PUBLISH into a message and routes it. Returns how many sessions got it.
    fn accept_publish(&mut self, sid: SessionId, p: Publish, now: Timestamp) -> usize {
        let publisher = self.sessions.get(&sid).map(|s| s.client.client_id.clone());
        let mut properties = p.properties;
        // The interval stays in the properties, as the mark that the publisher set one: a
        // forwarded copy carries what is left of it [MQTT-3.3.2-6] (see `write_publish`).
        let expires_at = self.expiry_deadline(properties.message_expiry_interval, now);
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let msg = Message {
            id: self.next_message_id(),
            topic: p.topic,
            payload: p.payload,
            qos: p.qos_pid.qos(),
            retain: p.retain,
            properties,
            expires_at,
            publisher,
        };
        self.route(Arc::new(msg), now)
    }

    pub(crate) fn handle_puback(&mut self, conn: ConnId, sid: SessionId, pid: u16, now: Timestamp) {
        self.ack_outbound(conn, sid, pid, InflightState::AwaitPubAck, now);
    }

    pub(crate) fn handle_pubcomp(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        pid: u16,
        now: Timestamp,
    ) {
        self.ack_outbound(conn, sid, pid, InflightState::AwaitPubComp, now);
    }

    /// PUBACK or PUBCOMP: the message is done, whatever the reason code [MQTT-4.4.0-2], and
    /// its place in the window is free for the next queued one [MQTT-4.9.0-2]. An ack for a
    /// message of the other QoS (PUBACK for QoS 2, PUBCOMP before PUBREL) is a Protocol
    /// Error (bad-inputs row 16); an unknown id is ignored.
    fn ack_outbound(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        pid: u16,
        expect: InflightState,
        now: Timestamp,
    ) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        match s.inflight.get(&pid).map(|i| i.state) {
            Some(state) if state == expect => {
                s.inflight.remove(&pid);
                self.pump(sid, now);
            }
            Some(_) => {
                self.stats.reject(0x82);
                self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
            None => {}
        }
    }

    pub(crate) fn handle_pubrec(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        a: mqtt_proto::PubRec,
        now: Timestamp,
    ) {
        let pid = a.packet_id;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        match s.inflight.get_mut(&pid.get()) {
            Some(i) if i.state == InflightState::AwaitPubRec => {
                if a.reason_code.is_error() {
                    // [MQTT-4.4.0-2] refused: acknowledged, never re-sent, and no PUBREL
                    // [MQTT-4.3.3-4]; its quota comes back (§4.9).
                    s.inflight.remove(&pid.get());
                    self.pump(sid, now);
                } else {
                    // [MQTT-4.3.3-4] PUBREL with the same id; the PUBLISH is not sent again
                    // [MQTT-4.3.3-6].
                    i.state = InflightState::AwaitPubComp;
                    self.send(conn, &Packet::PubRel(PubRel::new(pid)), now);
                }
            }
            Some(i) if i.state == InflightState::AwaitPubComp => {
                // A repeated PUBREC: repeat PUBREL.
                self.send(conn, &Packet::PubRel(PubRel::new(pid)), now);
            }
            // PUBREC for a QoS 1 message (bad-inputs row 16).
            Some(_) => {
                self.stats.reject(0x82);
                self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
            None => {
                // Unknown id: PUBREL 0x92 Packet Identifier not found (MQTT 5 §3.6.2.1).
                let rel = Ack {
                    packet_id: pid,
                    reason_code: PubRelReasonCode::PacketIdentifierNotFound,
                    properties: Default::default(),
                };
                self.send(conn, &Packet::PubRel(rel), now);
            }
        }
    }

    /// PUBREL: release the QoS 2 id and answer PUBCOMP with the same id [MQTT-4.3.3-11]; the
    /// id then starts a new publication [MQTT-4.3.3-12]. An unknown id gets PUBCOMP 0x92
    /// (bad-inputs row 16).
    pub(crate) fn handle_pubrel(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        pid: NonZeroU16,
        now: Timestamp,
    ) {
        let known = self
            .sessions
            .get_mut(&sid)
            .is_some_and(|s| s.awaiting_rel.remove(&pid.get()));
        let reason_code = if known {
            PubRelReasonCode::Success
        } else {
            PubRelReasonCode::PacketIdentifierNotFound
        };
        let comp = Ack {
            packet_id: pid,
            reason_code,
            properties: Default::default(),
        };
        self.send(conn, &Packet::PubComp(comp), now);
    }
}
