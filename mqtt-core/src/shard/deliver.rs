//! Routing a message to this shard's subscribers, and outbound delivery through each
//! session's queue and inflight window into the connection's write buffer.

use core::num::NonZeroU16;

use bytestring::ByteString;
use mqtt_proto::{Packet, Publish, PublishProperties, QoS, QosPid};
use smallvec::SmallVec;

use super::Shard;
use crate::alias::OutboundAlias;
use crate::auth::Action;
use crate::ids::{ConnId, SessionId};
use crate::message::SharedMessage;
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
    /// Routes a message made on this shard: a retained one is stored on its owner shard,
    /// then the message is forwarded to every other shard with a matching subscription
    /// (`routing/`) and delivered to this shard's subscribers. Returns how many copies were
    /// handed to sessions here, plus one per shard it was forwarded to.
    pub(crate) fn route(&mut self, msg: SharedMessage, now: Timestamp) -> usize {
        if msg.retain {
            self.store_retained(&msg);
        }
        let forwarded = self.forward(&msg);
        forwarded + self.route_local(&msg, true, now)
    }

    /// Delivers to this shard's matching subscribers, and with `with_shared` (on the shard
    /// where the message was published) routes it to the matching shared groups. Returns how
    /// many copies were handed to sessions, counting a group's copy sent to another shard.
    ///
    /// # Overlapping subscriptions
    /// When several non-shared subscriptions of one session match, the session gets ONE copy
    /// ([MQTT-3.3.4-2..5] allow one or several):
    /// - at the highest QoS any of them grants, capped by the published QoS [MQTT-3.3.4-2]
    ///   [MQTT-3.8.4-8];
    /// - carrying the Subscription Identifier of every one that has one, in no particular
    ///   order [MQTT-3.3.4-3] [MQTT-3.3.4-4];
    /// - with RETAIN kept if any of them has Retain As Published [MQTT-3.3.1-12/13];
    /// - a subscription with No Local does not count when the session is the publisher
    ///   [MQTT-3.8.3-3], so the others still deliver.
    ///
    /// A shared subscription is a separate delivery (MQTT 5 §4.8.2): a session that is
    /// picked for a group also gets that group's copy, with that subscription's identifier.
    pub(crate) fn route_local(
        &mut self,
        msg: &SharedMessage,
        with_shared: bool,
        now: Timestamp,
    ) -> usize {
        self.note_live(msg);
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
            merged.push(Merged {
                sid: *sid,
                qos: msg.qos.min(entry.options.qos),
                retain_as_published: entry.options.retain_as_published,
                sub_ids: entry.sub_id.into_iter().collect(),
            });
        });
        // One entry per session: sort, then fold runs (linear after the sort, where a search
        // per match would be quadratic in the number of subscribers).
        if merged.len() > 1 {
            merged.sort_unstable_by_key(|m| m.sid);
            let mut folded: SmallVec<[Merged; 8]> = SmallVec::with_capacity(merged.len());
            for m in merged {
                match folded.last_mut() {
                    Some(last) if last.sid == m.sid => {
                        last.qos = last.qos.max(m.qos);
                        last.retain_as_published |= m.retain_as_published;
                        last.sub_ids.extend(m.sub_ids);
                    }
                    _ => folded.push(m),
                }
            }
            merged = folded;
        }
        // Shared groups: one member per group over the whole broker, picked before any copy is
        // handed out (shared_cluster.rs); only where the message was published.
        let shared = if with_shared {
            self.route_shared(msg, now)
        } else {
            super::shared_cluster::SharedRoute::default()
        };
        let n = merged.len() + shared.local.len() + shared.sent;
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
        for (sid, d) in shared.local {
            self.deliver(sid, d, now);
        }
        n
    }

    /// Hands one delivery to a session. While a retained fetch of the session is in flight,
    /// live deliveries wait behind it, so its retained messages come first
    /// (`routing/retained.rs`).
    pub(crate) fn deliver(&mut self, sid: SessionId, d: Delivery, now: Timestamp) {
        if let Some(d) = self.hold_for_fetch(sid, d) {
            self.deliver_now(sid, d, now);
        }
    }

    /// Hands one delivery to a session now: straight into the window if there is room, else
    /// the queue (QoS 0 is not queued for a disconnected session).
    pub(crate) fn deliver_now(&mut self, sid: SessionId, d: Delivery, now: Timestamp) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if d.msg.is_expired(now) {
            self.stats.expired += 1;
            return;
        }
        // [bad-inputs row 26] the ACL is checked again at delivery time: here for a message
        // an offline session would hold, and in `pump` as each message leaves the queue (so a
        // connected session's messages are asked about once).
        if s.conn.is_none()
            && d.qos != QoS::AtMostOnce
            && !self.acl.check(
                &s.client,
                Action::Receive {
                    topic: &d.msg.topic,
                },
            )
        {
            self.stats.receive_denied += 1;
            return;
        }
        match s.conn {
            None if d.qos == QoS::AtMostOnce => {}
            None => {
                let dropped = s.enqueue(d, self.config.max_queued_messages);
                self.stats.dropped += dropped as u64;
            }
            Some(conn) => {
                // A connection whose output is already at `max_outbound_buffer` (a reader
                // that does not keep up) loses QoS 0 messages, counted (bad-inputs row 24).
                let full = self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.tx.len() >= self.config.max_outbound_buffer);
                if full && d.qos == QoS::AtMostOnce {
                    self.stats.dropped += 1;
                    return;
                }
                // The queue limit counts what waits beyond the inflight window.
                s.queue.push_back(d);
                self.pump(sid, now);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    let dropped = s.trim_queue(self.config.max_queued_messages);
                    self.stats.dropped += dropped as u64;
                }
            }
        }
    }

    /// Moves queued messages into the connection while the inflight window and the output
    /// buffer have room, in order. QoS 1/2 waits for both [MQTT-3.3.4-9]; QoS 0 is not held
    /// by the window, and is dropped (counted) when it reaches the head of the queue while the
    /// buffer is full (bad-inputs row 24).
    pub(crate) fn pump(&mut self, sid: SessionId, now: Timestamp) {
        let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) else {
            return;
        };
        // Re-sends held back at resume by a smaller Receive Maximum go first.
        self.resend_deferred(sid, now);
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
            if front.qos != QoS::AtMostOnce && (full || s.inflight.len() >= window) {
                return;
            }
            let Some(d) = s.queue.pop_front() else {
                return;
            };
            if d.msg.is_expired(now) {
                self.stats.expired += 1;
                continue;
            }
            // [bad-inputs row 26] Receive permission is asked again as a message leaves the
            // queue, so a revoke stops queued delivery.
            if !self.acl.check(
                &s.client,
                Action::Receive {
                    topic: &d.msg.topic,
                },
            ) {
                self.stats.receive_denied += 1;
                continue;
            }
            if d.qos == QoS::AtMostOnce {
                if full {
                    self.stats.dropped += 1;
                } else {
                    self.write_publish(conn, sid, &d, None, false, now);
                }
                continue;
            }
            // [MQTT-2.2.1-4] a packet identifier no outbound message holds.
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

    /// Encodes one PUBLISH for a connection; returns whether it was written.
    ///
    /// A message larger than the client's Maximum Packet Size is not sent, and is counted in
    /// `dropped_too_large`; the caller then treats it as delivered [MQTT-3.1.2-24]
    /// [MQTT-3.1.2-25]. A topic alias is used only when the packet still fits with it, and
    /// the client's alias table is updated only once the packet is written.
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
        let v = c.version;
        let msg = &d.msg;
        let qos_pid = match (d.qos, pid.and_then(NonZeroU16::new)) {
            (QoS::AtLeastOnce, Some(p)) => QosPid::AtLeastOnce(p),
            (QoS::ExactlyOnce, Some(p)) => QosPid::ExactlyOnce(p),
            _ => QosPid::AtMostOnce,
        };
        let mut alias = OutboundAlias::None;
        let mut properties = PublishProperties::default();
        // A 3.x receiver gets no properties, so none are copied for it.
        if v.is_v5() {
            // Payload Format Indicator, Response Topic, Correlation Data, Content Type and the
            // user properties pass through unchanged and in order [MQTT-3.3.2-4]
            // [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18]
            // [MQTT-3.3.2-20].
            properties.clone_from(&msg.properties);
            // [MQTT-3.3.2-6] the expiry the publisher set, less the time spent waiting here.
            // A message that had none gets none, though the configured cap bounds how long it
            // waits.
            if properties.message_expiry_interval.is_some() {
                properties.message_expiry_interval = msg.remaining_expiry_secs(now);
            }
            properties.subscription_identifiers.clone_from(&d.sub_ids);
            alias = c.outbound_aliases.peek(&msg.topic);
            if let OutboundAlias::Known(a) | OutboundAlias::Assigned(a) = alias {
                properties.topic_alias = NonZeroU16::new(a);
            }
        }
        let mut packet = Packet::Publish(Publish {
            // [MQTT-3.3.1-1] [MQTT-3.3.1-3] DUP only on a re-send; never on QoS 0
            // [MQTT-3.3.1-2].
            dup: dup && qos_pid != QosPid::AtMostOnce,
            qos_pid,
            retain: d.retain,
            topic: match alias {
                OutboundAlias::Known(_) => ByteString::new(),
                _ => msg.topic.clone(),
            },
            properties,
            payload: msg.payload.clone(),
        });
        let max = c.limits.max_packet_size;
        let mut written = packet.encode_within(v, max, &mut c.tx).is_ok();
        if !written && alias != OutboundAlias::None {
            // Too large with the alias: the topic in full and no alias may still fit.
            if let Packet::Publish(p) = &mut packet {
                p.topic = msg.topic.clone();
                p.properties.topic_alias = None;
            }
            alias = OutboundAlias::None;
            written = packet.encode_within(v, max, &mut c.tx).is_ok();
        }
        if !written {
            self.stats.dropped_too_large += 1;
            return false;
        }
        c.outbound_aliases.commit(&msg.topic, alias);
        self.stats.messages_sent += 1;
        self.signal_tx(conn, now);
        true
    }
}
