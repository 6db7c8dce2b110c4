//! `$SYS` topics: broker-wide counters published at the configured interval.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::QoS;

use super::Shard;
use crate::message::Message;
use crate::time::Timestamp;
use crate::timer::Timer;

impl Shard {
    pub(crate) fn arm_sys(&mut self, now: Timestamp) {
        if self.config.sys_interval == 0 || self.sys_timer.is_some() {
            return;
        }
        let at = now.plus_secs(self.config.sys_interval);
        self.sys_timer = Some(at);
        self.timers.arm(at, Timer::Sys);
    }

    /// Publishes the counters as retained messages under `$SYS/broker/`.
    pub(crate) fn publish_sys(&mut self, now: Timestamp) {
        let uptime = self.started.map_or(0, |s| now.since(s).as_secs());
        let st = &self.stats;
        let mut values: Vec<(String, String)> = vec![
            ("version".into(), env!("CARGO_PKG_VERSION").into()),
            ("uptime".into(), uptime.to_string()),
            ("clients/connected".into(), self.conns.len().to_string()),
            ("clients/total".into(), self.sessions.len().to_string()),
            ("messages/received".into(), st.messages_received.to_string()),
            ("messages/sent".into(), st.messages_sent.to_string()),
            (
                "messages/dropped".into(),
                (st.dropped + st.dropped_too_large).to_string(),
            ),
            ("bytes/received".into(), st.bytes_received.to_string()),
            ("bytes/sent".into(), st.bytes_sent.to_string()),
            (
                "subscriptions/count".into(),
                (self.subs.len() + self.shared.len()).to_string(),
            ),
            (
                "retained messages/count".into(),
                self.retained.len().to_string(),
            ),
        ];
        for (code, n) in st.rejected.iter().enumerate() {
            if *n > 0 {
                values.push((format!("rejected/0x{code:02X}"), n.to_string()));
            }
        }
        for (k, v) in values {
            let msg = Message {
                topic: ByteString::from(format!("$SYS/broker/{k}")),
                payload: Bytes::from(v),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: Default::default(),
                expires_at: None,
                publisher: None,
            };
            self.route(Arc::new(msg), now);
        }
    }
}
