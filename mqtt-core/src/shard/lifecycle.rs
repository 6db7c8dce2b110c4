//! Closing connections, wills, session expiry, keep alive and the timer dispatch.

use mqtt_proto::{Disconnect, DisconnectReasonCode, LastWill, Packet};

use super::{ConnState, Output, Shard};
use crate::ids::{ConnId, SessionId};
use crate::message::Message;
use crate::session::{InflightState, PendingWill};
use crate::time::Timestamp;
use crate::timer::Timer;

impl Shard {
    /// Trie nodes held for subscriptions, plain and shared: 0 once every session with a
    /// subscription has ended. A measure of memory, for leak checks.
    pub fn subscription_nodes(&self) -> usize {
        self.subs.node_count() + self.shared.node_count()
    }

    /// Cancels every timer a connection armed (it is being forgotten or handed over).
    pub(crate) fn cancel_conn_timers(&mut self, conn: ConnId, c: &super::Connection) {
        for (at, t) in [
            (c.timer, Timer::ConnectTimeout(conn)),
            (c.timer, Timer::KeepAlive(conn)),
            (c.send_timer, Timer::SendTimeout(conn)),
        ] {
            if let Some(at) = at {
                self.timers.cancel(at, t);
            }
        }
    }

    /// Forgets a connection and tells the runtime to close it (after writing what is left).
    /// `abnormal` closes publish the will (per its delay).
    pub(crate) fn drop_connection(&mut self, conn: ConnId, abnormal: bool, now: Timestamp) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        self.cancel_conn_timers(conn, &c);
        self.forget_subacks(conn);
        let last = c.tx.split().freeze();
        self.stats.bytes_sent += last.len() as u64;
        self.push_output(Output::Close { conn, last });
        let ConnState::Connected(sid) = c.state else {
            return;
        };
        self.stats.disconnects += 1;
        let will = if abnormal { c.will.take() } else { None };
        self.detach_session(sid, will, now);
    }

    /// The session lost its connection: handle the will, then end the session (expiry 0) or
    /// arm its expiry (none for 0xFFFFFFFF) [MQTT-3.1.2-23]. QoS 0 messages are not queued for
    /// it from now on (MQTT 5 §4.1 makes that optional).
    fn detach_session(&mut self, sid: SessionId, will: Option<Box<LastWill>>, now: Timestamp) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = None;
        s.resend.clear();
        let expiry = s.expiry_interval;
        let client = s.client.clone();
        // A member that stays is no longer online (one that ends leaves its groups below).
        if expiry != 0 {
            self.share_online_changed(sid);
        }
        if let Some(w) = will {
            let delay = w.properties.will_delay_interval.unwrap_or(0);
            if delay == 0 {
                self.publish_will(&client, w, now);
            } else if let Some(s) = self.sessions.get_mut(&sid) {
                // [MQTT-3.1.3-9] published after the delay or when the session ends,
                // whichever comes first.
                let at = now.plus_secs(u64::from(delay));
                s.pending_will = Some(Box::new(PendingWill { will: w, at }));
                self.timers.arm(at, Timer::WillDelay(sid));
            }
        }
        if expiry == 0 {
            self.end_session(sid, now);
        } else if expiry != u32::MAX {
            let at = now.plus_secs(u64::from(expiry));
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.expires_at = Some(at);
            }
            self.timers.arm(at, Timer::SessionExpiry(sid));
        }
    }

    /// Removes a session entirely [MQTT-4.1.0-2]: subscriptions, queue (counted as dropped),
    /// inflight and inbound QoS 2 state, timers; a pending will is published now, since the
    /// session ends [MQTT-3.1.2-8].
    pub(crate) fn end_session(&mut self, sid: SessionId, now: Timestamp) {
        let Some(s) = self.sessions.remove(&sid) else {
            return;
        };
        self.by_client.remove(&s.client.client_id, sid);
        for filter in s.subscriptions.keys() {
            self.remove_subscription(sid, filter, now);
        }
        if let Some(at) = s.expires_at {
            self.timers.cancel(at, Timer::SessionExpiry(sid));
        }
        if let Some(w) = s.pending_will {
            self.timers.cancel(w.at, Timer::WillDelay(sid));
            self.publish_will(&s.client, w.will, now);
        }
        self.stats.dropped += s.queue.len() as u64;
    }

    /// Publishes a will message as if its client had published it, so it passes the same
    /// checks: no `$SYS` topic and the publish ACL, asked now rather than at CONNECT.
    pub(super) fn publish_will(
        &mut self,
        client: &crate::auth::ClientInfo,
        w: Box<LastWill>,
        now: Timestamp,
    ) {
        let w = *w;
        let action = crate::auth::Action::Publish {
            topic: &w.topic,
            qos: w.qos,
            retain: w.retain,
        };
        if super::sys::is_sys_topic(&w.topic) || !self.acl.check(client, action) {
            self.stats.reject(0x87);
            return;
        }
        let mut properties = mqtt_proto::PublishProperties {
            payload_format_indicator: w.properties.payload_format_indicator,
            response_topic: w.properties.response_topic,
            correlation_data: w.properties.correlation_data,
            user_properties: w.properties.user_properties,
            content_type: w.properties.content_type,
            ..Default::default()
        };
        // Kept as the mark that the will had an expiry (the forwarded value is recomputed).
        properties.message_expiry_interval = w.properties.message_expiry_interval;
        let msg = Message {
            id: self.next_message_id(),
            topic: w.topic,
            payload: w.payload,
            qos: w.qos.min(self.config.max_qos),
            retain: w.retain && self.config.retain_available,
            properties,
            expires_at: self.expiry_deadline(w.properties.message_expiry_interval, now),
            publisher: Some(client.client_id.clone()),
        };
        self.stats.wills += 1;
        self.route(std::sync::Arc::new(msg), now);
    }

    /// DISCONNECT from the client: it may change a non-zero Session Expiry Interval (capped by
    /// the server's maximum); 0x00 discards the will, any other reason publishes it.
    pub(crate) fn handle_disconnect(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        d: Disconnect,
        now: Timestamp,
    ) {
        if let Some(new) = d.properties.session_expiry_interval {
            let zero = self.conns.get(&conn).is_some_and(|c| c.connect_expiry_zero);
            // MQTT 5 §3.14.2.2.2 (no conformance id): after 0 in CONNECT, a non-zero value is
            // a Protocol Error and the DISCONNECT is not valid, so the expiry stays 0 and the
            // will is published.
            if zero && new != 0 {
                self.stats.reject(0x82);
                return self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.expiry_interval = new.min(self.config.max_session_expiry);
            }
        }
        // Only a normal disconnection (0x00) discards the will [MQTT-3.1.2-10]
        // [MQTT-3.14.4-3]; 0x04 and every other reason publish it.
        let abnormal = d.reason_code != DisconnectReasonCode::NormalDisconnection;
        self.drop_connection(conn, abnormal, now);
    }

    pub(crate) fn arm_keep_alive(&mut self, conn: ConnId, now: Timestamp) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.keep_alive_ms == 0 {
            return;
        }
        let at = now.plus_millis(u64::from(c.keep_alive_ms));
        let old = c.timer.replace(at);
        self.timers.rearm(old, at, Timer::KeepAlive(conn));
    }

    /// Resends unacknowledged QoS 1/2 messages in their original order and with their
    /// original packet identifiers: PUBLISH with DUP, or PUBREL for those already received
    /// [MQTT-4.4.0-1] [MQTT-4.6.0-1].
    ///
    /// The new connection's Receive Maximum may be smaller than what is inflight: PUBLISH
    /// re-sends beyond its window wait in `Session::resend` and go out (before any queued
    /// message) as acknowledgements make room [MQTT-3.3.4-9]; see [`Shard::resend_deferred`].
    ///
    /// Message expiry does not apply here: delivery has started [MQTT-3.3.2-5]
    /// [MQTT-4.3.3-7], and the client may hold a QoS 2 packet identifier as received, so
    /// dropping the message and reusing the identifier would make it discard the next message
    /// as a duplicate. A message that no longer fits the new connection's Maximum Packet Size
    /// is dropped and counted [MQTT-3.1.2-25].
    pub(crate) fn resend_inflight(&mut self, sid: SessionId, conn: ConnId, now: Timestamp) {
        let Some(window) = self.window(conn) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.resend.clear();
        let released = s
            .inflight
            .values()
            .filter(|i| i.state == InflightState::AwaitPubComp)
            .count();
        let mut quota = window.saturating_sub(released);
        for pid in s.inflight_in_order() {
            let Some(entry) = self
                .sessions
                .get(&sid)
                .and_then(|s| s.inflight.get(&pid))
                .cloned()
            else {
                continue;
            };
            let sent = match entry.state {
                InflightState::AwaitPubComp => match core::num::NonZeroU16::new(pid) {
                    Some(p) => self.send(conn, &Packet::PubRel(mqtt_proto::PubRel::new(p)), now),
                    None => false,
                },
                InflightState::AwaitPubAck | InflightState::AwaitPubRec if quota == 0 => {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        s.resend.push_back(pid);
                    }
                    continue;
                }
                InflightState::AwaitPubAck | InflightState::AwaitPubRec => {
                    quota -= 1;
                    self.resend_publish(sid, conn, pid, &entry, now)
                }
            };
            if !sent {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.inflight.remove(&pid);
                }
            }
        }
    }

    /// Re-sends deferred inflight messages (see [`Shard::resend_inflight`]) while the
    /// connection's window has room. Called first by `pump`, so they precede queued messages.
    pub(crate) fn resend_deferred(&mut self, sid: SessionId, now: Timestamp) {
        let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) else {
            return;
        };
        let Some(window) = self.window(conn) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.resend.is_empty() {
            return;
        }
        // Acknowledged meanwhile (a client may answer from its own state): nothing to send.
        let inflight = &s.inflight;
        s.resend.retain(|pid| inflight.contains_key(pid));
        loop {
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            let outstanding = s.inflight.len().saturating_sub(s.resend.len());
            if outstanding >= window {
                return;
            }
            let Some(pid) = s.resend.pop_front() else {
                return;
            };
            let Some(entry) = s.inflight.get(&pid).cloned() else {
                continue;
            };
            if !self.resend_publish(sid, conn, pid, &entry, now) {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.inflight.remove(&pid);
                }
            }
        }
    }

    /// The outbound window of a connection: its Receive Maximum, capped by `max_inflight`.
    fn window(&self, conn: ConnId) -> Option<usize> {
        let c = self.conns.get(&conn)?;
        Some(usize::from(
            c.limits.receive_maximum.min(self.config.max_inflight),
        ))
    }

    /// One PUBLISH re-send with DUP 1 [MQTT-3.3.1-1]; false if it could not go (then the
    /// message is forgotten).
    fn resend_publish(
        &mut self,
        sid: SessionId,
        conn: ConnId,
        pid: u16,
        entry: &crate::session::Inflight,
        now: Timestamp,
    ) -> bool {
        // [bad-inputs row 26] a revoked Receive permission stops the re-send.
        if !self.may_receive(sid, &entry.delivery.msg.topic) {
            self.stats.receive_denied += 1;
            return false;
        }
        self.write_publish(conn, &entry.delivery, Some(pid), true, now)
    }

    /// One timer fired.
    pub(crate) fn fire(&mut self, at: Timestamp, t: Timer, now: Timestamp) {
        match t {
            Timer::ConnectTimeout(conn) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    if c.timer == Some(at) {
                        c.timer = None;
                        self.stats.reject(0x8D);
                        self.drop_connection(conn, false, now);
                    }
                }
            }
            Timer::KeepAlive(conn) => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.timer != Some(at) {
                    return;
                }
                c.timer = None;
                // Input paused for backpressure is not the client's silence.
                if c.peer_paused {
                    c.last_rx = now;
                }
                let deadline = c.last_rx.plus_millis(u64::from(c.keep_alive_ms));
                if now >= deadline {
                    // [MQTT-3.1.2-22] nothing received within 1.5 × keep alive.
                    self.stats.keep_alive_timeouts += 1;
                    self.disconnect(conn, DisconnectReasonCode::KeepAliveTimeout, now);
                } else {
                    c.timer = Some(deadline);
                    self.timers.arm(deadline, Timer::KeepAlive(conn));
                    self.release_idle(conn);
                }
            }
            Timer::SendTimeout(conn) => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.send_timer != Some(at) {
                    return;
                }
                c.send_timer = None;
                match c.tx_since {
                    Some(since)
                        if now.since(since).as_millis()
                            >= u128::from(self.config.send_timeout_ms) =>
                    {
                        // A reader that stays stuck is closed (bad-inputs row 24).
                        self.stats.send_timeouts += 1;
                        self.drop_connection(conn, true, now);
                    }
                    Some(since) => {
                        let at = since.plus_millis(self.config.send_timeout_ms);
                        c.send_timer = Some(at);
                        self.timers.arm(at, Timer::SendTimeout(conn));
                    }
                    // Everything was taken and nothing new waits: a quiet moment.
                    None => self.release_idle(conn),
                }
            }
            Timer::SessionExpiry(sid) => {
                if self
                    .sessions
                    .get(&sid)
                    .is_some_and(|s| s.expires_at == Some(at) && s.conn.is_none())
                {
                    self.stats.sessions_expired += 1;
                    self.end_session(sid, now);
                }
            }
            Timer::WillDelay(sid) => {
                let Some(s) = self.sessions.get_mut(&sid) else {
                    return;
                };
                if s.pending_will.as_ref().is_some_and(|w| w.at == at) {
                    if let Some(w) = s.pending_will.take() {
                        let client = s.client.clone();
                        self.publish_will(&client, w.will, now);
                    }
                }
            }
            Timer::RetainedExpiry => {
                self.retained_timer = None;
                self.retained.expire(now);
                self.arm_retained_timer();
            }
            Timer::Sys => {
                self.sys_timer = None;
                self.publish_sys(now);
                self.arm_sys(now);
            }
        }
    }

    pub(crate) fn arm_retained_timer(&mut self) {
        let next = self.retained.next_expiry();
        if next == self.retained_timer {
            return;
        }
        if let Some(old) = self.retained_timer.take() {
            self.timers.cancel(old, Timer::RetainedExpiry);
        }
        if let Some(at) = next {
            self.retained_timer = Some(at);
            self.timers.arm(at, Timer::RetainedExpiry);
        }
    }
}
