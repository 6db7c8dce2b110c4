//! Inbound PUBLISH and its acknowledgements, routing to subscribers, and outbound delivery
//! through each session's inflight window and queue.

use core::num::NonZeroU16;
use std::sync::Arc;

use mqtt_proto::{
    Ack, DecodeError, DisconnectReasonCode, Packet, PubAck, PubAckReasonCode, PubRel,
    PubRelReasonCode, Publish, QoS, QosPid,
};
use smallvec::SmallVec;

use super::Shard;
use crate::alias::OutboundAlias;
use crate::auth::Action;
use crate::ids::{ConnId, SessionId};
use crate::message::{Message, SharedMessage};
use crate::session::{Delivery, Inflight, InflightState};
use crate::time::Timestamp;

/// Matches of one session, merged: one copy per client at the highest granted QoS, with every
/// matching subscription identifier [MQTT-3.3.4-2..5].
#[derive(Debug)]
struct Merged {
    sid: SessionId,
    qos: QoS,
    retain_as_published: bool,
    sub_ids: SmallVec<[core::num::NonZeroU32; 1]>,
}

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
        // Topic alias: set or resolve (MQTT 5 §3.3.2.3.4).
        if let Some(alias) = p.properties.topic_alias.take() {
            if p.topic.is_empty() {
                match c.inbound_aliases.get(alias.get()) {
                    Some(t) => p.topic = t.clone(),
                    // [MQTT-3.3.2-7]-style: an alias the client never set is a protocol error.
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
        // Exactly once: a repeated QoS 2 id is acknowledged again, not routed again.
        if let QosPid::ExactlyOnce(pid) = p.qos_pid {
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            if s.awaiting_rel.contains(&pid.get()) {
                self.send(conn, &Packet::PubRec(PubAck::new(pid)), now);
                return;
            }
            // [MQTT-3.3.4-9] more unacknowledged QoS 2 than Receive Maximum (and the
            // awaiting-PUBREL cap) is 0x93.
            let cap = usize::from(self.config.receive_maximum).min(self.config.max_awaiting_rel);
            if s.awaiting_rel.len() >= cap {
                self.stats.reject(0x93);
                return self.disconnect(conn, DisconnectReasonCode::ReceiveMaximumExceeded, now);
            }
        }
        let reason = self.check_publish(sid, &p);
        let reason = match reason {
            Some(r) => Some(r),
            None => {
                let receivers = self.accept_publish(sid, p.clone(), now);
                if receivers == 0 && self.config.no_matching_subscribers_reason {
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
        match p.qos_pid {
            QosPid::AtMostOnce => {
                if reason_code == PubAckReasonCode::PayloadFormatInvalid {
                    self.disconnect(conn, DisconnectReasonCode::PayloadFormatInvalid, now);
                }
            }
            QosPid::AtLeastOnce(pid) => {
                let ack = Ack {
                    packet_id: pid,
                    reason_code,
                    properties: Default::default(),
                };
                self.send(conn, &Packet::PubAck(ack), now);
            }
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
        if p.topic.starts_with("$SYS") {
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
        // [MQTT-3.3.2-4] a payload flagged as UTF-8 must be UTF-8 (checked when enabled).
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
        let expires_at = self.expiry_deadline(properties.message_expiry_interval.take(), now);
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let msg = Message {
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

    /// Stores a retained message and delivers to every matching subscriber.
    pub(crate) fn route(&mut self, msg: SharedMessage, now: Timestamp) -> usize {
        if msg.retain {
            match self.retained.set(msg.clone()) {
                Ok(_) => self.arm_retained_timer(),
                Err(_) => self.stats.dropped += 1,
            }
        }
        self.route_local(&msg, now)
    }

    /// Delivers to this shard's matching subscribers (plain and shared).
    pub(crate) fn route_local(&mut self, msg: &SharedMessage, now: Timestamp) -> usize {
        let mut merged: SmallVec<[Merged; 8]> = SmallVec::new();
        let publisher = msg.publisher.as_deref();
        let sessions = &self.sessions;
        self.subs.for_each_match(&msg.topic, |sid, entry| {
            // No Local: not back to the publisher [MQTT-3.8.3-3].
            if entry.options.no_local
                && publisher.is_some()
                && sessions.get(sid).map(|s| s.client.client_id.as_ref()) == publisher
            {
                return;
            }
            let qos = msg.qos.min(entry.options.qos);
            match merged.iter_mut().find(|m| m.sid == *sid) {
                Some(m) => {
                    m.qos = m.qos.max(qos);
                    m.retain_as_published |= entry.options.retain_as_published;
                    m.sub_ids.extend(entry.sub_id);
                }
                None => merged.push(Merged {
                    sid: *sid,
                    qos,
                    retain_as_published: entry.options.retain_as_published,
                    sub_ids: entry.sub_id.into_iter().collect(),
                }),
            }
        });
        // Shared groups: one member per group, falling back to any member that can take it.
        let seed = self.next_random();
        let strategy = self.config.share_strategy;
        let max_queued = self.config.max_queued_messages;
        let sessions = &self.sessions;
        self.shared
            .for_each_matching_group(&msg.topic, |_group, g| {
                let online = |sid: &SessionId, _: &crate::session::SubEntry| {
                    sessions
                        .get(sid)
                        .is_some_and(|s| s.conn.is_some() && s.queue.len() < max_queued)
                };
                let picked = g
                    .pick(strategy, publisher, seed, online)
                    .map(|(k, v)| (k, *v))
                    .or_else(|| {
                        let queueable = |sid: &SessionId, _: &crate::session::SubEntry| {
                            sessions.get(sid).is_some_and(|s| {
                                s.expiry_interval > 0 && s.queue.len() < max_queued
                            })
                        };
                        g.pick(strategy, publisher, seed, queueable)
                            .map(|(k, v)| (k, *v))
                    });
                if let Some((sid, entry)) = picked {
                    merged.push(Merged {
                        sid,
                        qos: msg.qos.min(entry.options.qos),
                        retain_as_published: entry.options.retain_as_published,
                        sub_ids: entry.sub_id.into_iter().collect(),
                    });
                }
            });
        let n = merged.len();
        for m in merged {
            let retain = m.retain_as_published && msg.retain;
            let d = Delivery {
                msg: msg.clone(),
                qos: m.qos,
                retain,
                sub_ids: m.sub_ids,
            };
            self.deliver(m.sid, d, now);
        }
        n
    }

    /// Hands one delivery to a session: straight into the window if there is room, else the
    /// queue (QoS 0 is not queued for a disconnected session).
    pub(crate) fn deliver(&mut self, sid: SessionId, d: Delivery, now: Timestamp) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if d.msg.is_expired(now) {
            self.stats.expired += 1;
            return;
        }
        // [bad-inputs row 26] the ACL is checked again at delivery time.
        if !self.acl.check(
            &s.client,
            Action::Receive {
                topic: &d.msg.topic,
            },
        ) {
            return;
        }
        match s.conn {
            None if d.qos == QoS::AtMostOnce => {}
            None => {
                let dropped = s.enqueue(d, self.config.max_queued_messages);
                self.stats.dropped += dropped as u64;
            }
            Some(_) => {
                let dropped = s.enqueue(d, self.config.max_queued_messages);
                self.stats.dropped += dropped as u64;
                self.pump(sid, now);
            }
        }
    }

    /// Moves queued messages into the connection while the inflight window and the output
    /// buffer have room.
    pub(crate) fn pump(&mut self, sid: SessionId, now: Timestamp) {
        let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) else {
            return;
        };
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            let window = usize::from(c.limits.receive_maximum.min(self.config.max_inflight));
            let buffered = c.tx.len();
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            let Some(front) = s.queue.front() else {
                return;
            };
            let full = buffered >= self.config.max_outbound_buffer;
            if front.qos == QoS::AtMostOnce {
                if full {
                    return;
                }
            } else if full || s.inflight.len() >= window {
                return;
            }
            let Some(d) = s.queue.pop_front() else {
                return;
            };
            if d.msg.is_expired(now) {
                self.stats.expired += 1;
                continue;
            }
            if d.qos == QoS::AtMostOnce {
                self.write_publish(conn, sid, &d, None, false, now);
                continue;
            }
            let Some(pid) = s.alloc_pid() else {
                s.queue.push_front(d);
                return;
            };
            let state = if d.qos == QoS::AtLeastOnce {
                InflightState::AwaitPubAck
            } else {
                InflightState::AwaitPubRec
            };
            let seq = s.next_seq();
            if self.write_publish(conn, sid, &d, Some(pid.get()), false, now) {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.inflight.insert(
                        pid.get(),
                        Inflight {
                            delivery: d,
                            state,
                            seq,
                        },
                    );
                }
            }
        }
    }

    /// Encodes one PUBLISH for a connection. A message larger than the client's Maximum Packet
    /// Size is dropped and counted [MQTT-3.1.2-24/25]; returns whether it was written.
    pub(crate) fn write_publish(
        &mut self,
        conn: ConnId,
        _sid: SessionId,
        d: &Delivery,
        pid: Option<u16>,
        dup: bool,
        now: Timestamp,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let v5 = c.version.is_v5();
        let msg = &d.msg;
        let qos_pid = match (d.qos, pid.and_then(NonZeroU16::new)) {
            (QoS::AtLeastOnce, Some(p)) => QosPid::AtLeastOnce(p),
            (QoS::ExactlyOnce, Some(p)) => QosPid::ExactlyOnce(p),
            _ => QosPid::AtMostOnce,
        };
        let mut publish = Publish {
            dup: dup && qos_pid != QosPid::AtMostOnce,
            qos_pid,
            retain: d.retain,
            topic: msg.topic.clone(),
            properties: Default::default(),
            payload: msg.payload.clone(),
        };
        if v5 {
            // Properties pass through unchanged and in order [MQTT-3.3.2-17/18]; the expiry
            // is lowered by the time spent waiting [MQTT-3.3.2-6].
            publish.properties = msg.properties.clone();
            publish.properties.message_expiry_interval = msg.remaining_expiry_secs(now);
            publish.properties.subscription_identifiers = d.sub_ids.clone();
        }
        let max = c.limits.max_packet_size as usize;
        let len = Packet::Publish(publish.clone()).encoded_len(c.version);
        if len > max {
            self.stats.dropped_too_large += 1;
            return false;
        }
        // Aliases only when the alias property still fits (it adds at most 4 bytes).
        if v5 && len + 4 <= max {
            match c.outbound_aliases.lookup(&msg.topic) {
                OutboundAlias::Known(a) => {
                    publish.topic = bytestring::ByteString::new();
                    publish.properties.topic_alias = NonZeroU16::new(a);
                }
                OutboundAlias::Assigned(a) => publish.properties.topic_alias = NonZeroU16::new(a),
                OutboundAlias::None => {}
            }
        }
        let ok = Packet::Publish(publish)
            .encode(c.version, &mut c.tx)
            .is_ok();
        if ok {
            self.stats.messages_sent += 1;
            self.signal_tx(conn, now);
        }
        ok
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

    /// PUBACK or PUBCOMP: the message is done. An ack for the other QoS is a protocol error
    /// (bad-inputs row 16); an unknown id is ignored.
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
                    // The receiver refused it: the exchange ends here (MQTT 5 §4.3.3).
                    s.inflight.remove(&pid.get());
                    self.pump(sid, now);
                } else {
                    i.state = InflightState::AwaitPubComp;
                    self.send(conn, &Packet::PubRel(PubRel::new(pid)), now);
                }
            }
            Some(i) if i.state == InflightState::AwaitPubComp => {
                // A repeated PUBREC: repeat PUBREL.
                self.send(conn, &Packet::PubRel(PubRel::new(pid)), now);
            }
            Some(_) => {
                self.stats.reject(0x82);
                self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
            None => {
                // [MQTT-4.3.3-?] unknown id: answer PUBREL 0x92 on v5.
                let rel = Ack {
                    packet_id: pid,
                    reason_code: PubRelReasonCode::PacketIdentifierNotFound,
                    properties: Default::default(),
                };
                self.send(conn, &Packet::PubRel(rel), now);
            }
        }
    }

    /// PUBREL: release the QoS 2 id and answer PUBCOMP; an unknown id gets 0x92
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

#[allow(dead_code)]
fn _assert_decode_error_is_copy(e: DecodeError) -> (DecodeError, DecodeError) {
    (e, e)
}
