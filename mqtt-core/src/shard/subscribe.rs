//! SUBSCRIBE and UNSUBSCRIBE: per-filter validation and reason codes, the subscription trie,
//! shared groups, and retained messages on subscribe.

use mqtt_proto::topic::{parse_filter, SHARE_PREFIX};
use mqtt_proto::{
    Packet, QoS, RetainHandling, SubAck, SubAckReasonCode, Subscribe, UnsubAck, UnsubAckReasonCode,
    Unsubscribe,
};
use smallvec::SmallVec;

use super::Shard;
use crate::auth::Action;
use crate::ids::{ConnId, SessionId};
use crate::session::{Delivery, SubEntry};
use crate::time::Timestamp;

impl Shard {
    pub(crate) fn handle_subscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        s: Subscribe,
        now: Timestamp,
    ) {
        let v5 = self.conns.get(&conn).is_some_and(|c| c.version.is_v5());
        let sub_id = s.properties.subscription_identifier;
        let mut codes: SmallVec<[SubAckReasonCode; 2]> = SmallVec::new();
        let mut retained_for: SmallVec<[(usize, bool); 2]> = SmallVec::new();
        for (i, sub) in s.subscriptions.iter().enumerate() {
            let code = self.subscribe_one(sid, sub, sub_id);
            if let Ok((code, existed)) = code {
                codes.push(code);
                retained_for.push((i, existed));
            } else if let Err(code) = code {
                self.stats.reject(code.as_u8());
                codes.push(code);
            }
        }
        let _ = v5;
        let ack = SubAck {
            packet_id: s.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        };
        self.send(conn, &Packet::SubAck(ack), now);
        // Retained messages follow the SUBACK [MQTT-3.8.4-4..6].
        for (i, existed) in retained_for {
            if let Some(sub) = s.subscriptions.get(i) {
                self.send_retained(sid, sub, sub_id, existed, now);
            }
        }
    }

    /// Validates and stores one subscription. `Ok((grant, existed))`, or the failure code.
    fn subscribe_one(
        &mut self,
        sid: SessionId,
        sub: &mqtt_proto::Subscription,
        sub_id: Option<core::num::NonZeroU32>,
    ) -> Result<(SubAckReasonCode, bool), SubAckReasonCode> {
        let cfg = &self.config;
        // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2] bad syntax: 0x8F, never stored.
        let parsed = parse_filter(&sub.filter, cfg.max_topic_levels)
            .map_err(|_| SubAckReasonCode::TopicFilterInvalid)?;
        if parsed.share_group.is_some() && !cfg.shared_subscriptions {
            return Err(SubAckReasonCode::SharedSubscriptionsNotSupported);
        }
        if parsed.has_wildcards && !cfg.wildcard_subscriptions {
            return Err(SubAckReasonCode::WildcardSubscriptionsNotSupported);
        }
        if sub_id.is_some() && !cfg.subscription_identifiers {
            return Err(SubAckReasonCode::SubscriptionIdentifiersNotSupported);
        }
        let s = self
            .sessions
            .get(&sid)
            .ok_or(SubAckReasonCode::UnspecifiedError)?;
        let action = Action::Subscribe {
            filter: parsed.filter,
            qos: sub.options.qos,
        };
        if !self.acl.check(&s.client, action) {
            return Err(SubAckReasonCode::NotAuthorized);
        }
        let existed = s.subscriptions.contains_key(&sub.filter);
        if !existed && s.subscriptions.len() >= cfg.max_subscriptions_per_client {
            return Err(SubAckReasonCode::QuotaExceeded);
        }
        let qos = sub.options.qos.min(cfg.max_qos);
        let mut options = sub.options;
        options.qos = qos;
        let entry = SubEntry { options, sub_id };
        // [MQTT-3.8.4-3] a subscription to an existing filter replaces it.
        match parsed.share_group {
            Some(group) => {
                self.shared.subscribe(group, parsed.filter, sid, entry);
            }
            None => {
                self.subs.insert(parsed.filter, sid, entry);
            }
        }
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.subscriptions.insert(sub.filter.clone(), entry);
        }
        self.stats.subscriptions += u64::from(!existed);
        Ok((SubAckReasonCode::granted(qos), existed))
    }

    /// Retained messages for a new subscription, per Retain Handling; none for shared
    /// subscriptions [MQTT-3.8.4-?, §4.8.2].
    fn send_retained(
        &mut self,
        sid: SessionId,
        sub: &mqtt_proto::Subscription,
        sub_id: Option<core::num::NonZeroU32>,
        existed: bool,
        now: Timestamp,
    ) {
        if sub.filter.starts_with(SHARE_PREFIX) {
            return;
        }
        match sub.options.retain_handling {
            RetainHandling::DoNotSend => return,
            RetainHandling::SendIfNew if existed => return,
            _ => {}
        }
        let qos = sub.options.qos.min(self.config.max_qos);
        let mut found = Vec::new();
        self.retained
            .for_each_match(&sub.filter, now, |m| found.push(m.clone()));
        for msg in found {
            let d = Delivery {
                qos: msg.qos.min(qos),
                // [MQTT-3.3.1-9] RETAIN is set on retained messages sent for a subscribe.
                retain: true,
                sub_ids: sub_id.into_iter().collect(),
                msg,
            };
            self.deliver(sid, d, now);
        }
    }

    pub(crate) fn handle_unsubscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        u: Unsubscribe,
        now: Timestamp,
    ) {
        let mut codes: SmallVec<[UnsubAckReasonCode; 2]> = SmallVec::new();
        for filter in &u.filters {
            let existed = self
                .sessions
                .get_mut(&sid)
                .and_then(|s| s.subscriptions.remove(filter))
                .is_some();
            if existed {
                self.remove_subscription(sid, filter);
                self.stats.subscriptions = self.stats.subscriptions.saturating_sub(1);
                codes.push(UnsubAckReasonCode::Success);
            } else if parse_filter(filter, self.config.max_topic_levels).is_err() {
                codes.push(UnsubAckReasonCode::TopicFilterInvalid);
            } else {
                // [MQTT-3.11.3-?] 0x11 when there was no such subscription.
                codes.push(UnsubAckReasonCode::NoSubscriptionExisted);
            }
        }
        let ack = UnsubAck {
            packet_id: u.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        };
        self.send(conn, &Packet::UnsubAck(ack), now);
    }

    /// Removes one subscription of a session from the trie or its shared group.
    pub(crate) fn remove_subscription(&mut self, sid: SessionId, filter: &str) {
        match parse_filter(filter, usize::MAX) {
            Ok(p) => match p.share_group {
                Some(group) => {
                    self.shared.unsubscribe(group, p.filter, &sid);
                }
                None => {
                    self.subs.remove(p.filter, &sid);
                }
            },
            Err(_) => {}
        }
    }
}

#[allow(dead_code)]
const _: QoS = QoS::AtMostOnce;
