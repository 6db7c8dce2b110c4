//! Commands and the flows of what the client sends: PUBLISH at QoS 0/1/2 within the server's
//! Receive Maximum, SUBSCRIBE and UNSUBSCRIBE, their acknowledgements, and the session's
//! outbound state on reconnect.

use core::num::NonZeroU16;

use bytestring::ByteString;
use mqtt_proto::topic::validate_topic_name;
use mqtt_proto::{
    Packet, PubAck, PubComp, PubRec, PubRel, PubRelReasonCode, Publish, QoS, QosPid, SubAck,
    Subscribe, SubscribeProperties, Subscription, UnsubAck, UnsubAckReasonCode, Unsubscribe,
    UnsubscribeProperties,
};
use smallvec::SmallVec;

use super::outbound::{publish_mut, Queued, Stage};
use super::{Client, ClientError, ConnectionState, Event, OutgoingMessage, PacketToken};
use crate::time::Timestamp;

/// Any packet identifier: the real one is given when the packet is sent.
const UNASSIGNED: NonZeroU16 = NonZeroU16::MIN;

impl Client {
    /// Publishes a message. QoS 1/2 messages are answered by [`Event::Published`] (or
    /// [`Event::Failed`]); QoS 0 ones only by `Event::Failed` if a queued one cannot be sent.
    ///
    /// Refused at once: a topic name no server accepts, a message over the connected
    /// server's Maximum QoS, Retain Available or Maximum Packet Size, and a full queue.
    pub fn publish(
        &mut self,
        msg: OutgoingMessage,
        now: Timestamp,
    ) -> Result<PacketToken, ClientError> {
        // [MQTT-3.3.2-2] [MQTT-4.7.3-1] a topic name, without wildcards, not empty.
        validate_topic_name(&msg.topic, usize::MAX).map_err(ClientError::InvalidTopic)?;
        let connected = self.state == ConnectionState::Connected;
        if connected {
            self.check_limits(msg.qos, msg.retain)?;
        }
        let OutgoingMessage {
            topic,
            payload,
            qos,
            retain,
            mut properties,
        } = msg;
        properties.topic_alias = None;
        let mut packet = Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::new(qos, UNASSIGNED),
            retain,
            topic,
            properties,
            payload,
        });
        if connected && self.out.waiting.is_empty() {
            let token = PacketToken(self.next_token + 1);
            match self.try_send_publish(token, packet, now)? {
                None => return Ok(self.next_token()),
                Some(p) => packet = p,
            }
        }
        self.enqueue_check()?;
        let token = self.next_token();
        self.out.waiting.push_back(Queued { token, packet });
        Ok(token)
    }

    /// Subscribes; answered by [`Event::Subscribed`]. Never delayed by the publish window
    /// [MQTT-3.3.4-8].
    pub fn subscribe(
        &mut self,
        subscriptions: impl IntoIterator<Item = Subscription>,
        properties: SubscribeProperties,
        now: Timestamp,
    ) -> Result<PacketToken, ClientError> {
        let subscriptions: SmallVec<[Subscription; 2]> = subscriptions.into_iter().collect();
        // [MQTT-3.8.3-2] at least one filter.
        if subscriptions.is_empty() {
            return Err(ClientError::NoFilters);
        }
        let packet = Packet::Subscribe(Subscribe {
            packet_id: UNASSIGNED,
            properties,
            subscriptions,
        });
        self.control_command(packet, now)
    }

    /// Unsubscribes; answered by [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        filters: impl IntoIterator<Item = ByteString>,
        properties: UnsubscribeProperties,
        now: Timestamp,
    ) -> Result<PacketToken, ClientError> {
        let filters: SmallVec<[ByteString; 2]> = filters.into_iter().collect();
        // [MQTT-3.10.3-2] at least one filter.
        if filters.is_empty() {
            return Err(ClientError::NoFilters);
        }
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: UNASSIGNED,
            properties,
            filters,
        });
        self.control_command(packet, now)
    }

    fn control_command(
        &mut self,
        packet: Packet,
        now: Timestamp,
    ) -> Result<PacketToken, ClientError> {
        let mut q = Queued {
            token: PacketToken(self.next_token + 1),
            packet,
        };
        if self.state == ConnectionState::Connected && self.out.control.is_empty() {
            match self.try_send_control(q, now)? {
                None => return Ok(self.next_token()),
                Some(back) => q = back,
            }
        }
        self.enqueue_check()?;
        let token = self.next_token();
        self.out.control.push_back(q);
        Ok(token)
    }

    fn enqueue_check(&self) -> Result<(), ClientError> {
        let queued = self.out.queued_len();
        if queued >= self.options.max_queued {
            return Err(ClientError::QueueFull(queued));
        }
        Ok(())
    }

    /// The server's Maximum QoS and Retain Available.
    fn check_limits(&self, qos: QoS, retain: bool) -> Result<(), ClientError> {
        // [MQTT-3.2.2-11] not above the server's Maximum QoS.
        if qos > self.limits.maximum_qos {
            return Err(ClientError::QosNotSupported {
                requested: qos,
                maximum: self.limits.maximum_qos,
            });
        }
        // [MQTT-3.2.2-14] no RETAIN when the server has none.
        if retain && !self.limits.retain_available {
            return Err(ClientError::RetainNotSupported);
        }
        Ok(())
    }

    /// QoS 1/2 PUBLISH the client may have unacknowledged: the server's Receive Maximum
    /// [MQTT-3.3.4-7] [MQTT-4.9.0-2], within our own cap.
    fn window(&self) -> usize {
        usize::from(
            self.limits
                .receive_maximum
                .min(self.options.max_inflight)
                .max(1),
        )
    }

    /// Sends a PUBLISH now if it may go: `Ok(Some(packet))` gives it back when the window is
    /// full or no packet identifier is free.
    fn try_send_publish(
        &mut self,
        token: PacketToken,
        mut packet: Packet,
        now: Timestamp,
    ) -> Result<Option<Packet>, ClientError> {
        let Some(p) = publish_mut(&mut packet) else {
            return Ok(None);
        };
        let qos = p.qos_pid.qos();
        if qos == QoS::AtMostOnce {
            // [MQTT-4.3.1-1] QoS 0, DUP 0.
            self.wire.send_publish(&mut packet, now)?;
            return Ok(None);
        }
        if self.out.inflight.len() >= self.window() {
            return Ok(Some(packet));
        }
        let Some(pid) = self.out.alloc_pid() else {
            return Ok(Some(packet));
        };
        // [MQTT-4.3.2-1] [MQTT-4.3.3-1] an unused identifier; [MQTT-4.3.2-2] [MQTT-4.3.3-2]
        // first sent with DUP 0.
        p.qos_pid = QosPid::new(qos, pid);
        p.dup = false;
        self.wire.send_publish(&mut packet, now)?;
        self.out.insert(pid, token, packet);
        Ok(None)
    }

    /// Sends a SUBSCRIBE or UNSUBSCRIBE now; gives it back when no identifier is free.
    fn try_send_control(
        &mut self,
        mut q: Queued,
        now: Timestamp,
    ) -> Result<Option<Queued>, ClientError> {
        let Some(pid) = self.out.alloc_pid() else {
            return Ok(Some(q));
        };
        match &mut q.packet {
            Packet::Subscribe(s) => s.packet_id = pid,
            Packet::Unsubscribe(u) => u.packet_id = pid,
            _ => return Ok(None),
        }
        self.wire.send(&q.packet, now)?;
        self.out.control_acks.insert(pid.get(), q);
        Ok(None)
    }

    /// Sends what waits, in order, as far as the window and the packet identifiers allow.
    pub(crate) fn pump(&mut self, now: Timestamp) {
        if self.state != ConnectionState::Connected {
            return;
        }
        // [MQTT-4.9.0-3] subscribes and unsubscribes do not wait for the publish quota.
        while let Some(q) = self.out.control.pop_front() {
            let token = q.token;
            match self.try_send_control(q, now) {
                Ok(None) => {}
                Ok(Some(back)) => {
                    self.out.control.push_front(back);
                    break;
                }
                Err(error) => self.events.push_back(Event::Failed { token, error }),
            }
        }
        while let Some(q) = self.out.waiting.pop_front() {
            let Queued { token, packet } = q;
            let Packet::Publish(p) = &packet else {
                continue;
            };
            if let Err(error) = self.check_limits(p.qos_pid.qos(), p.retain) {
                self.events.push_back(Event::Failed { token, error });
                continue;
            }
            match self.try_send_publish(token, packet, now) {
                Ok(None) => {}
                Ok(Some(packet)) => {
                    self.out.waiting.push_front(Queued { token, packet });
                    break;
                }
                Err(error) => self.events.push_back(Event::Failed { token, error }),
            }
        }
    }

    /// PUBACK: a QoS 1 publish is complete [MQTT-4.3.2-3]. Unknown identifiers are ignored.
    pub(crate) fn on_puback(&mut self, ack: PubAck, now: Timestamp) {
        let pid = ack.packet_id.get();
        if self.out.inflight.get(&pid).map(|e| e.stage) != Some(Stage::Unacked) {
            return;
        }
        if let Some(e) = self.out.inflight.remove(&pid) {
            self.events.push_back(Event::Published {
                token: e.token,
                reason: ack.reason_code.into(),
                reason_string: ack.properties.reason_string,
            });
        }
        self.pump(now);
    }

    /// PUBREC: PUBREL follows [MQTT-4.3.3-4], unless the server refused the message, which
    /// then is complete and never sent again [MQTT-4.4.0-2].
    pub(crate) fn on_pubrec(&mut self, ack: PubRec, now: Timestamp) {
        let pid = ack.packet_id;
        let Some(entry) = self.out.inflight.get_mut(&pid.get()) else {
            // Not ours (any more): tell the server so it can free the identifier.
            let mut rel = PubRel::new(pid);
            rel.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
            let _ = self.wire.send(&Packet::PubRel(rel), now);
            return;
        };
        match entry.stage {
            Stage::Unacked => {}
            Stage::Unreceived if ack.reason_code.is_error() => {
                if let Some(e) = self.out.inflight.remove(&pid.get()) {
                    self.events.push_back(Event::Published {
                        token: e.token,
                        reason: ack.reason_code.into(),
                        reason_string: ack.properties.reason_string,
                    });
                }
                self.pump(now);
            }
            Stage::Unreceived | Stage::Released(_) => {
                if entry.stage == Stage::Unreceived {
                    // [MQTT-4.3.3-6] the PUBLISH is not sent again from here on.
                    entry.stage = Stage::Released(ack.reason_code);
                }
                // [MQTT-4.6.0-4] in the order the PUBRECs came.
                let _ = self.wire.send(&Packet::PubRel(PubRel::new(pid)), now);
            }
        }
    }

    /// PUBCOMP: a QoS 2 publish is complete [MQTT-4.3.3-5]. Its outcome is the PUBREC's
    /// reason: a PUBCOMP 0x92 (identifier not found) follows a PUBREL sent again after a
    /// reconnect when the server had already completed the message, which is not an error
    /// during recovery (MQTT 5 §3.7.2.1).
    pub(crate) fn on_pubcomp(&mut self, ack: PubComp, now: Timestamp) {
        let pid = ack.packet_id.get();
        let Some(Stage::Released(rec)) = self.out.inflight.get(&pid).map(|e| e.stage) else {
            return;
        };
        if let Some(e) = self.out.inflight.remove(&pid) {
            self.events.push_back(Event::Published {
                token: e.token,
                reason: rec.into(),
                reason_string: ack.properties.reason_string,
            });
        }
        self.pump(now);
    }

    /// SUBACK [MQTT-2.2.1-6].
    pub(crate) fn on_suback(&mut self, ack: SubAck, now: Timestamp) {
        let Some(q) = self.out.control_acks.remove(&ack.packet_id.get()) else {
            return;
        };
        self.events.push_back(Event::Subscribed {
            token: q.token,
            reason_codes: ack.reason_codes,
            reason_string: ack.properties.reason_string,
        });
        self.pump(now);
    }

    /// UNSUBACK; MQTT 3 carries no reason codes, so each filter is reported Success.
    pub(crate) fn on_unsuback(&mut self, ack: UnsubAck, now: Timestamp) {
        let Some(q) = self.out.control_acks.remove(&ack.packet_id.get()) else {
            return;
        };
        let reason_codes = match (&q.packet, ack.reason_codes.is_empty()) {
            (Packet::Unsubscribe(u), true) => u
                .filters
                .iter()
                .map(|_| UnsubAckReasonCode::Success)
                .collect(),
            _ => ack.reason_codes,
        };
        self.events.push_back(Event::Unsubscribed {
            token: q.token,
            reason_codes,
            reason_string: ack.properties.reason_string,
        });
        self.pump(now);
    }

    /// The server resumed the session: every unacknowledged PUBLISH again with DUP
    /// [MQTT-3.3.1-1] and every PUBREL again, with their identifiers [MQTT-4.4.0-1], in the
    /// order the messages were first sent [MQTT-4.6.0-1]. The window does not hold them back.
    pub(crate) fn resume_session(&mut self, now: Timestamp) {
        for pid in self.out.in_order() {
            let Some(e) = self.out.inflight.get_mut(&pid) else {
                continue;
            };
            let sent = match (e.stage, NonZeroU16::new(pid)) {
                (Stage::Released(_), Some(id)) => {
                    self.wire.send(&Packet::PubRel(PubRel::new(id)), now)
                }
                _ => {
                    if let Some(p) = publish_mut(&mut e.packet) {
                        p.dup = true;
                    }
                    self.wire.send_publish(&mut e.packet, now)
                }
            };
            if let Err(error) = sent {
                // The server now takes less than it did (Maximum Packet Size).
                if let Some(e) = self.out.inflight.remove(&pid) {
                    let error = error.into();
                    self.events.push_back(Event::Failed {
                        token: e.token,
                        error,
                    });
                }
            }
        }
    }

    /// The server has no session for us: the client discards its session state
    /// [MQTT-3.2.2-5]. QoS 2 messages the server had acknowledged with PUBREC are complete;
    /// the others are published again as new messages, first in the queue and in their
    /// order, or failed, as [`ClientOptions::resend_on_session_loss`] says.
    ///
    /// [`ClientOptions::resend_on_session_loss`]: super::ClientOptions::resend_on_session_loss
    pub(crate) fn session_lost(&mut self) {
        self.awaiting_rel.clear();
        let mut again = Vec::new();
        for pid in self.out.in_order() {
            let Some(mut e) = self.out.inflight.remove(&pid) else {
                continue;
            };
            match e.stage {
                Stage::Released(rec) => self.events.push_back(Event::Published {
                    token: e.token,
                    reason: rec.into(),
                    reason_string: None,
                }),
                _ if self.options.resend_on_session_loss => {
                    if let Some(p) = publish_mut(&mut e.packet) {
                        p.dup = false;
                    }
                    again.push(Queued {
                        token: e.token,
                        packet: e.packet,
                    });
                }
                _ => self.events.push_back(Event::Failed {
                    token: e.token,
                    error: ClientError::SessionLost,
                }),
            }
        }
        for q in again.into_iter().rev() {
            self.out.waiting.push_front(q);
        }
    }
}
