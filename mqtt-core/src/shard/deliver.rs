//! Routing a message to this shard's subscribers, and outbound delivery through each
//! session's queue and inflight window into the connection's write buffer.
//!
//! # The hot path
//! A QoS 0 delivery to a connected session with nothing queued goes straight into the
//! connection's write buffer ([`Shard::deliver_direct`]): the same checks in the same order as
//! through the queue (expiry, a full output buffer, the ACL at delivery), with the session and
//! the connection looked up once. A message with several receivers is encoded once per
//! protocol version and RETAIN flag for those that get identical bytes ([`WireCache`]), and
//! each of them gets a copy of those bytes. Anything else (QoS 1/2, a queue or a re-send
//! waiting, a retained fetch in flight) goes through the session's queue and [`pump_queue`].

use core::num::{NonZeroU16, NonZeroU32};

use bytes::BytesMut;
use mqtt_proto::{EncodeError, ProtocolVersion, PublishProperties, PublishView, QoS, QosPid};
use smallvec::SmallVec;

use super::{Connection, Shard, TxSink};
use crate::alias::OutboundAlias;
use crate::auth::{Acl, Action};
use crate::ids::{ConnId, SessionId};
use crate::message::{Message, SharedMessage};
use crate::session::{Delivery, Inflight, InflightState, Session};
use crate::time::Timestamp;

/// Matches of one session, merged: one copy per client at the highest granted QoS, with every
/// matching subscription identifier [MQTT-3.3.4-2..5].
#[derive(Debug)]
struct Merged {
    sid: SessionId,
    qos: QoS,
    retain_as_published: bool,
    sub_ids: SmallVec<[NonZeroU32; 1]>,
}

/// The encoded PUBLISH frames of one message, for the receivers that get identical bytes: QoS 0
/// (no packet identifier, no DUP), no subscription identifier, no topic alias (the client takes
/// none); one frame per protocol version and RETAIN flag. The Message Expiry Interval is what
/// is left of it at `now`, the same for every receiver of this routing. Each receiver's Maximum
/// Packet Size is checked against the frame's length.
#[derive(Debug, Default)]
pub(crate) struct WireCache {
    buf: BytesMut,
    frames: SmallVec<[(ProtocolVersion, bool, core::ops::Range<usize>); 2]>,
}

impl WireCache {
    /// Forgets the frames, keeps the buffer.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.frames.clear();
    }

    /// The frame of `msg` for `version` and `retain`, encoded on first use; `None` if it cannot
    /// be encoded (the general path then says why).
    fn frame(
        &mut self,
        msg: &Message,
        version: ProtocolVersion,
        retain: bool,
        now: Timestamp,
    ) -> Option<&[u8]> {
        let known = self
            .frames
            .iter()
            .find(|(v, r, _)| *v == version && *r == retain)
            .map(|(_, _, range)| range.clone());
        let range = match known {
            Some(range) => range,
            None => {
                let out = Outgoing {
                    qos_pid: QosPid::AtMostOnce,
                    retain,
                    dup: false,
                    sub_ids: &[],
                };
                let start = self.buf.len();
                encode_publish(
                    msg,
                    version,
                    &out,
                    OutboundAlias::None,
                    u32::MAX,
                    now,
                    &mut self.buf,
                )
                .ok()?;
                let range = start..self.buf.len();
                self.frames.push((version, retain, range.clone()));
                range
            }
        };
        self.buf.get(range)
    }
}

/// How one PUBLISH of a message goes to one receiver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing<'a> {
    pub(crate) qos_pid: QosPid,
    pub(crate) retain: bool,
    /// A re-send [MQTT-3.3.1-1]; never set on QoS 0 [MQTT-3.3.1-2].
    pub(crate) dup: bool,
    /// Identifiers of the matching subscriptions.
    pub(crate) sub_ids: &'a [NonZeroU32],
}

/// Encodes one PUBLISH of `msg` for a receiver of `version`, from the message's own topic,
/// properties and payload: nothing is cloned unless a property differs for this receiver
/// (Message Expiry Interval, subscription identifiers, topic alias). Nothing is appended when
/// it does not fit `max` (the receiver's Maximum Packet Size).
fn encode_publish(
    msg: &Message,
    version: ProtocolVersion,
    out: &Outgoing<'_>,
    alias: OutboundAlias,
    max: u32,
    now: Timestamp,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let alias_id = match alias {
        OutboundAlias::Known(a) | OutboundAlias::Assigned(a) => NonZeroU16::new(a),
        OutboundAlias::None => None,
    };
    let owned: PublishProperties;
    let mut properties = &msg.properties;
    // A 3.x receiver gets no properties, so none are changed for it.
    if version.is_v5() {
        let expiry = msg.properties.message_expiry_interval.is_some();
        let own_alias = alias_id.is_some() && msg.properties.topic_alias != alias_id;
        if expiry || own_alias || msg.properties.subscription_identifiers.as_slice() != out.sub_ids
        {
            // Payload Format Indicator, Response Topic, Correlation Data, Content Type and the
            // user properties pass through unchanged and in order [MQTT-3.3.2-4]
            // [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18]
            // [MQTT-3.3.2-20].
            let mut p = msg.properties.clone();
            // [MQTT-3.3.2-6] the expiry the publisher set, less the time spent waiting here.
            // A message that had none gets none, though the configured cap bounds how long it
            // waits.
            if expiry {
                p.message_expiry_interval = msg.remaining_expiry_secs(now);
            }
            p.subscription_identifiers = out.sub_ids.iter().copied().collect();
            if alias_id.is_some() {
                p.topic_alias = alias_id;
            }
            owned = p;
            properties = &owned;
        }
    }
    PublishView {
        // [MQTT-3.3.1-1] [MQTT-3.3.1-3] DUP only on a re-send; never on QoS 0
        // [MQTT-3.3.1-2].
        dup: out.dup && out.qos_pid != QosPid::AtMostOnce,
        qos_pid: out.qos_pid,
        retain: out.retain,
        topic: match alias {
            OutboundAlias::Known(_) => "",
            _ => &msg.topic,
        },
        properties,
        payload: &msg.payload,
    }
    .encode_within(version, max, buf)
}

/// Encodes one PUBLISH for connection `conn` (which is `c`); returns whether it was written.
///
/// A message larger than the client's Maximum Packet Size is not sent, and is counted in
/// `dropped_too_large`; the caller then treats it as delivered [MQTT-3.1.2-24]
/// [MQTT-3.1.2-25]. A topic alias is used only when the packet still fits with it, and
/// the client's alias table is updated only once the packet is written. With `wire`, a
/// receiver that gets the message's shared bytes (see [`WireCache`]) gets a copy of them.
pub(crate) fn write_publish_to(
    c: &mut Connection,
    conn: ConnId,
    msg: &Message,
    out: &Outgoing<'_>,
    now: Timestamp,
    sink: &mut TxSink<'_>,
    wire: Option<&mut WireCache>,
) -> bool {
    let v = c.version;
    let max = c.limits.max_packet_size;
    if let Some(wire) = wire {
        if out.qos_pid == QosPid::AtMostOnce
            && out.sub_ids.is_empty()
            && (!v.is_v5() || c.outbound_aliases.is_off())
        {
            // Too large (or not encodable): the general path below says so.
            if let Some(frame) = wire.frame(msg, v, out.retain, now) {
                if frame.len() <= max as usize {
                    c.tx.extend_from_slice(frame);
                    sink.stats.messages_sent += 1;
                    sink.signal(conn, c, now);
                    return true;
                }
            }
        }
    }
    let mut alias = if v.is_v5() {
        c.outbound_aliases.peek(&msg.topic)
    } else {
        OutboundAlias::None
    };
    let mut written = encode_publish(msg, v, out, alias, max, now, &mut c.tx).is_ok();
    if !written && alias != OutboundAlias::None {
        // Too large with the alias: the topic in full and no alias may still fit.
        alias = OutboundAlias::None;
        written = encode_publish(msg, v, out, alias, max, now, &mut c.tx).is_ok();
    }
    if !written {
        sink.stats.dropped_too_large += 1;
        return false;
    }
    c.outbound_aliases.commit(&msg.topic, alias);
    sink.stats.messages_sent += 1;
    sink.signal(conn, c, now);
    true
}

/// Moves queued messages of session `s` into its connection `conn` (which is `c`) while the
/// inflight window and the output buffer have room, in order. QoS 1/2 waits for both
/// [MQTT-3.3.4-9]; QoS 0 is not held by the window, and is dropped (counted) when it reaches
/// the head of the queue while the buffer is full (bad-inputs row 24). Re-sends held back at
/// resume must have gone first ([`Shard::pump`]). Leaves `c.backlog` set when messages still
/// wait (see [`Connection::backlog`]).
pub(crate) fn pump_queue(
    s: &mut Session,
    c: &mut Connection,
    conn: ConnId,
    acl: &dyn Acl,
    sink: &mut TxSink<'_>,
    now: Timestamp,
) {
    let window = usize::from(c.limits.receive_maximum.min(sink.config.max_inflight));
    pump_window(s, c, conn, acl, sink, window, now);
    c.backlog = !s.queue.is_empty() || !s.resend.is_empty();
}

/// The loop of [`pump_queue`].
fn pump_window(
    s: &mut Session,
    c: &mut Connection,
    conn: ConnId,
    acl: &dyn Acl,
    sink: &mut TxSink<'_>,
    window: usize,
    now: Timestamp,
) {
    loop {
        let Some(front) = s.queue.front() else {
            return;
        };
        let full = c.tx.len() >= sink.config.max_outbound_buffer;
        if front.qos != QoS::AtMostOnce && (full || s.inflight.len() >= window) {
            return;
        }
        let Some(d) = s.queue.pop_front() else {
            return;
        };
        if d.msg.is_expired(now) {
            sink.stats.expired += 1;
            continue;
        }
        // [bad-inputs row 26] Receive permission is asked again as a message leaves the
        // queue, so a revoke stops queued delivery.
        if !acl.check(
            &s.client,
            Action::Receive {
                topic: &d.msg.topic,
            },
        ) {
            sink.stats.receive_denied += 1;
            continue;
        }
        if d.qos == QoS::AtMostOnce {
            if full {
                sink.stats.dropped += 1;
            } else {
                let out = Outgoing {
                    qos_pid: QosPid::AtMostOnce,
                    retain: d.retain,
                    dup: false,
                    sub_ids: &d.sub_ids,
                };
                write_publish_to(c, conn, &d.msg, &out, now, sink, None);
            }
            continue;
        }
        // [MQTT-2.2.1-4] a packet identifier no outbound message holds.
        let Some(pid) = s.alloc_pid() else {
            s.queue.push_front(d);
            return;
        };
        let (state, qos_pid) = if d.qos == QoS::AtLeastOnce {
            (InflightState::AwaitPubAck, QosPid::AtLeastOnce(pid))
        } else {
            (InflightState::AwaitPubRec, QosPid::ExactlyOnce(pid))
        };
        let seq = s.next_seq();
        let out = Outgoing {
            qos_pid,
            retain: d.retain,
            dup: false,
            sub_ids: &d.sub_ids,
        };
        if write_publish_to(c, conn, &d.msg, &out, now, sink, None) {
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
        // A session appears at most once among one filter's entries: with one matching filter
        // (the common case) there is nothing to merge.
        let mut filters = 0usize;
        self.subs.for_each_matching_filter(&msg.topic, |entries| {
            filters += 1;
            for (sid, entry) in entries {
                // No Local: not back to the publisher [MQTT-3.8.3-3].
                if entry.options.no_local
                    && publisher.is_some()
                    && sessions.get(sid).map(|s| s.client.client_id.as_ref()) == publisher
                {
                    continue;
                }
                merged.push(Merged {
                    sid: *sid,
                    qos: msg.qos.min(entry.options.qos),
                    retain_as_published: entry.options.retain_as_published,
                    sub_ids: entry.sub_id.into_iter().collect(),
                });
            }
        });
        // One entry per session: sort, then fold runs (linear after the sort, where a search
        // per match would be quadratic in the number of subscribers).
        if filters > 1 && merged.len() > 1 {
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
        // Several receivers may share one encoding of the message.
        let mut wire = (merged.len() > 1).then(|| core::mem::take(&mut self.wire));
        for m in merged {
            let retain = m.retain_as_published && msg.retain;
            if m.qos == QoS::AtMostOnce
                && self.deliver_direct(m.sid, msg, retain, &m.sub_ids, now, wire.as_mut())
            {
                continue;
            }
            let d = Delivery {
                msg: msg.clone(),
                qos: m.qos,
                retain,
                sub_ids: m.sub_ids,
            };
            self.deliver(m.sid, d, now);
        }
        if let Some(mut w) = wire {
            w.clear();
            self.wire = w;
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

    /// A QoS 0 delivery to a session that is connected and has nothing queued nor waiting to
    /// be re-sent: written to the connection at once, as [`Shard::deliver_now`] and
    /// [`Shard::pump`] would write it (QoS 0 keeps its order behind queued QoS 1/2 messages,
    /// so a session with a queue takes the general path). Returns false when the general path
    /// must take it (nothing was done then).
    fn deliver_direct(
        &mut self,
        sid: SessionId,
        msg: &SharedMessage,
        retain: bool,
        sub_ids: &[NonZeroU32],
        now: Timestamp,
        wire: Option<&mut WireCache>,
    ) -> bool {
        if self.holds_for_fetch(sid) {
            return false;
        }
        let (sessions, conns, acl, mut sink) = self.parts();
        let Some(s) = sessions.get(&sid) else {
            return true;
        };
        if msg.is_expired(now) {
            sink.stats.expired += 1;
            return true;
        }
        // QoS 0 is not queued for a disconnected session.
        let Some(conn) = s.conn else {
            return true;
        };
        if !s.queue.is_empty() || !s.resend.is_empty() {
            return false;
        }
        let Some(c) = conns.get_mut(&conn) else {
            return false;
        };
        // A connection whose output is already at `max_outbound_buffer` (a reader that does
        // not keep up) loses QoS 0 messages, counted (bad-inputs row 24).
        if c.tx.len() >= sink.config.max_outbound_buffer {
            sink.stats.dropped += 1;
            return true;
        }
        // [bad-inputs row 26] the ACL is checked again at delivery time.
        if !acl.check(&s.client, Action::Receive { topic: &msg.topic }) {
            sink.stats.receive_denied += 1;
            return true;
        }
        let out = Outgoing {
            qos_pid: QosPid::AtMostOnce,
            retain,
            dup: false,
            sub_ids,
        };
        write_publish_to(c, conn, msg, &out, now, &mut sink, wire);
        true
    }

    /// Hands one delivery to a session now: straight into the window if there is room, else
    /// the queue (QoS 0 is not queued for a disconnected session).
    pub(crate) fn deliver_now(&mut self, sid: SessionId, d: Delivery, now: Timestamp) {
        let (sessions, conns, acl, mut sink) = self.parts();
        let Some(s) = sessions.get_mut(&sid) else {
            return;
        };
        if d.msg.is_expired(now) {
            sink.stats.expired += 1;
            return;
        }
        let max_queued = sink.config.max_queued_messages;
        // [bad-inputs row 26] the ACL is checked again at delivery time: here for a message
        // an offline session would hold, and in `pump_queue` as each message leaves the queue
        // (so a connected session's messages are asked about once).
        let Some(conn) = s.conn else {
            if d.qos == QoS::AtMostOnce {
                return;
            }
            if !acl.check(
                &s.client,
                Action::Receive {
                    topic: &d.msg.topic,
                },
            ) {
                sink.stats.receive_denied += 1;
                return;
            }
            let dropped = s.enqueue(d, max_queued);
            sink.stats.dropped += dropped as u64;
            return;
        };
        let c = conns.get_mut(&conn);
        // A connection whose output is already at `max_outbound_buffer` (a reader that does
        // not keep up) loses QoS 0 messages, counted (bad-inputs row 24).
        let full = c
            .as_ref()
            .is_some_and(|c| c.tx.len() >= sink.config.max_outbound_buffer);
        if full && d.qos == QoS::AtMostOnce {
            sink.stats.dropped += 1;
            return;
        }
        // The queue limit counts what waits beyond the inflight window.
        s.queue.push_back(d);
        match c {
            Some(c) if s.resend.is_empty() => {
                pump_queue(s, c, conn, acl, &mut sink, now);
                let dropped = s.trim_queue(max_queued);
                sink.stats.dropped += dropped as u64;
            }
            // Re-sends wait first (or the connection is not there): the general pump.
            _ => {
                self.pump(sid, now);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    let dropped = s.trim_queue(max_queued);
                    self.stats.dropped += dropped as u64;
                }
            }
        }
    }

    /// Moves queued messages into the connection while the inflight window and the output
    /// buffer have room, in order ([`pump_queue`]), after the re-sends held back at resume by
    /// a smaller Receive Maximum. Nothing to do (the common case) costs one lookup.
    pub(crate) fn pump(&mut self, sid: SessionId, now: Timestamp) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        if s.conn.is_none() || (s.queue.is_empty() && s.resend.is_empty()) {
            return;
        }
        if !s.resend.is_empty() {
            self.resend_deferred(sid, now);
        }
        let (sessions, conns, acl, mut sink) = self.parts();
        let Some(s) = sessions.get_mut(&sid) else {
            return;
        };
        let Some(conn) = s.conn else {
            return;
        };
        let Some(c) = conns.get_mut(&conn) else {
            return;
        };
        pump_queue(s, c, conn, acl, &mut sink, now);
    }

    /// Encodes one PUBLISH of `d` for a connection, a re-send with `dup` ([`write_publish_to`]);
    /// returns whether it was written.
    pub(crate) fn write_publish(
        &mut self,
        conn: ConnId,
        d: &Delivery,
        pid: Option<u16>,
        dup: bool,
        now: Timestamp,
    ) -> bool {
        let (_, conns, _, mut sink) = self.parts();
        let Some(c) = conns.get_mut(&conn) else {
            return false;
        };
        let qos_pid = match (d.qos, pid.and_then(NonZeroU16::new)) {
            (QoS::AtLeastOnce, Some(p)) => QosPid::AtLeastOnce(p),
            (QoS::ExactlyOnce, Some(p)) => QosPid::ExactlyOnce(p),
            _ => QosPid::AtMostOnce,
        };
        let out = Outgoing {
            qos_pid,
            retain: d.retain,
            dup,
            sub_ids: &d.sub_ids,
        };
        write_publish_to(c, conn, &d.msg, &out, now, &mut sink, None)
    }
}
