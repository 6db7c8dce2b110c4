//! Graceful shutdown in two phases, so that wills reach subscribers on every shard before any
//! subscriber is disconnected:
//!
//! 1. [`Shard::shutdown_wills`] on every shard publishes the wills that the end of the broker
//!    publishes, routed like any message (local delivery now, other shards through the
//!    outboxes). The runtime carries the resulting peer messages and waits until every shard
//!    has handled every other shard's phase-1 messages.
//! 2. [`Shard::shutdown_close`] on every shard closes every connection: a v5 client gets
//!    DISCONNECT 0x8B Server shutting down, after whatever output was ready for it.
//!
//! The runtimes keep no session across a restart yet, so every session ends with the broker:
//! every connected client's will is published (its Will Delay Interval does not postpone it,
//! since the session ends [MQTT-3.1.3-9]), and so is every pending delayed will of a
//! disconnected session.

use mqtt_proto::DisconnectReasonCode;

use super::{ConnState, Shard};
use crate::ids::{ConnId, SessionId};
use crate::time::Timestamp;
use crate::timer::Timer;

impl Shard {
    /// Shutdown phase 1: publishes the wills of every session (connected or waiting out a
    /// Will Delay Interval), as their sessions end with the broker. From now on the shard
    /// refuses new connections and handovers (closed at once). Call
    /// [`Shard::shutdown_close`] once every shard's phase-1 messages have been handled.
    pub fn shutdown_wills(&mut self, now: Timestamp) {
        self.shutting_down = true;
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        conns.sort_unstable();
        for conn in conns {
            self.publish_conn_will(conn, now);
        }
        let mut waiting: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.pending_will.is_some())
            .map(|(sid, _)| *sid)
            .collect();
        waiting.sort_unstable();
        for sid in waiting {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            let client = s.client.clone();
            if let Some(w) = s.pending_will.take() {
                self.timers.cancel(w.at, Timer::WillDelay(sid));
                self.publish_will(&client, w.will, now);
            }
        }
    }

    /// Shutdown phase 2: closes every connection. A connected v5 client is sent DISCONNECT
    /// 0x8B Server shutting down (MQTT 5 §3.14.2.1) after its pending output; every
    /// connection gets an [`crate::Output::Close`]. A will still held (a client that connected
    /// between the phases) is published first.
    pub fn shutdown_close(&mut self, now: Timestamp) {
        self.shutting_down = true;
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        conns.sort_unstable();
        for &conn in &conns {
            self.publish_conn_will(conn, now);
        }
        for conn in conns {
            let connected = self
                .conns
                .get(&conn)
                .is_some_and(|c| matches!(c.state, ConnState::Connected(_)));
            if connected {
                self.disconnect(conn, DisconnectReasonCode::ServerShuttingDown, now);
            } else {
                self.drop_connection(conn, false, now);
            }
        }
    }

    /// Whether [`Shard::shutdown_wills`] or [`Shard::shutdown_close`] has been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Publishes a connected client's will now (its session ends with the broker).
    fn publish_conn_will(&mut self, conn: ConnId, now: Timestamp) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnState::Connected(sid) = c.state else {
            return;
        };
        let Some(will) = c.will.take() else {
            return;
        };
        let Some(client) = self.sessions.get(&sid).map(|s| s.client.clone()) else {
            return;
        };
        self.publish_will(&client, will, now);
    }
}
