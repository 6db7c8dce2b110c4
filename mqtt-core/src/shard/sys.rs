//! `$SYS` topics: the shard's counters, published as retained QoS 0 messages under
//! `$SYS/broker/` every `sys_interval` seconds.
//!
//! They are retained, so a subscriber that comes late gets the latest figures at once. Topics
//! starting with `$` are not matched by a leading wildcard [MQTT-4.7.2-1], so only a filter that
//! names `$SYS` receives them, and clients may not publish there (the publish path answers
//! 0x87). With several shards, shard 0 publishes the sums over all shards (`sys_agg.rs`).

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::QoS;

use super::Shard;
use crate::message::Message;
use crate::time::Timestamp;
use crate::timer::Timer;

/// Root of the broker's own topics.
pub(crate) const SYS_PREFIX: &str = "$SYS/broker/";

/// Whether a client-supplied topic name lies in the broker's `$SYS` tree.
pub(crate) fn is_sys_topic(topic: &str) -> bool {
    topic == "$SYS" || topic.starts_with("$SYS/")
}

impl Shard {
    pub(crate) fn arm_sys(&mut self, now: Timestamp) {
        if self.config.sys_interval == 0 || self.sys_timer.is_some() || !self.publishes_sys() {
            return;
        }
        let at = now.plus_secs(self.config.sys_interval);
        self.sys_timer = Some(at);
        self.timers.arm(at, Timer::Sys);
    }

    /// Sessions that have a connection right now.
    pub fn connected_count(&self) -> usize {
        self.sessions.values().filter(|s| s.conn.is_some()).count()
    }

    /// The `$SYS` figures, as (topic below `$SYS/broker/`, value) pairs, in publication order.
    /// On shard 0 of several they are broker-wide: the sums of every shard's latest report.
    pub fn sys_values(&self, now: Timestamp) -> Vec<(String, String)> {
        let uptime = self.started.map_or(0, |s| now.since(s).as_secs());
        let f = self.sys_figures();
        let st = &f.stats;
        let connected = f.connected;
        let total = f.sessions;
        let mut values: Vec<(String, String)> = vec![
            ("version".into(), env!("CARGO_PKG_VERSION").into()),
            ("uptime".into(), uptime.to_string()),
            ("clients/connected".into(), connected.to_string()),
            (
                "clients/disconnected".into(),
                total.saturating_sub(connected).to_string(),
            ),
            ("clients/total".into(), total.to_string()),
            ("clients/connects".into(), st.connects.to_string()),
            ("messages/received".into(), st.messages_received.to_string()),
            ("messages/sent".into(), st.messages_sent.to_string()),
            (
                "messages/dropped".into(),
                (st.dropped + st.dropped_too_large + st.peer_dropped).to_string(),
            ),
            ("messages/expired".into(), st.expired.to_string()),
            ("bytes/received".into(), st.bytes_received.to_string()),
            ("bytes/sent".into(), st.bytes_sent.to_string()),
            ("subscriptions/count".into(), f.subscriptions.to_string()),
            (
                "shared subscriptions/count".into(),
                f.shared_subscriptions.to_string(),
            ),
            (
                "retained messages/count".into(),
                f.retained_count.to_string(),
            ),
            (
                "retained messages/bytes".into(),
                f.retained_bytes.to_string(),
            ),
            (
                "retained messages/refused".into(),
                st.retained_refused.to_string(),
            ),
        ];
        for (code, n) in st.rejected.iter().enumerate() {
            if *n > 0 {
                values.push((format!("rejected/0x{code:02X}"), n.to_string()));
            }
        }
        values
    }

    /// Publishes the figures as retained messages under `$SYS/broker/`.
    pub(crate) fn publish_sys_values(&mut self, now: Timestamp) {
        for (k, v) in self.sys_values(now) {
            let msg = Message {
                id: self.next_message_id(),
                topic: ByteString::from(format!("{SYS_PREFIX}{k}")),
                payload: Bytes::from(v),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: Default::default(),
                // Replaced at the next interval; never expires on its own.
                expires_at: None,
                publisher: None,
            };
            self.route(Arc::new(msg), now);
        }
    }
}
