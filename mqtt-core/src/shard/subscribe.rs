//! SUBSCRIBE and UNSUBSCRIBE: per-filter validation and reason codes, the subscription trie,
//! shared groups, retained messages on subscribe, and the Receive permission checked at every
//! delivery.

use core::num::NonZeroU32;

use mqtt_proto::topic::parse_filter;
use mqtt_proto::{
    Packet, RetainHandling, SubAck, SubAckReasonCode, Subscribe, Subscription, UnsubAck,
    UnsubAckReasonCode, Unsubscribe,
};
use smallvec::SmallVec;

use super::Shard;
use crate::auth::Action;
use crate::ids::{ConnId, SessionId};
use crate::session::SubEntry;
use crate::time::Timestamp;

/// A subscription that was stored, remembered until its SUBACK is out so the retained
/// messages can follow it.
struct Granted {
    /// Index of the subscription in the SUBSCRIBE packet.
    index: usize,
    /// Whether the session already had a subscription with this exact filter.
    existed: bool,
    /// Whether it is a shared subscription.
    shared: bool,
    /// Granted options (QoS capped).
    entry: SubEntry,
}

impl Shard {
    /// Subscriptions held on this shard: plain ones plus shared-group memberships. It always
    /// equals the sum of every session's subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len() + self.shared.len()
    }

    /// Shared-subscription memberships held on this shard.
    pub fn shared_subscription_count(&self) -> usize {
        self.shared.len()
    }

    /// Retained messages stored on this shard (expired ones until the expiry timer runs).
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Whether session `sid` may receive a message on `topic` now. Asked at every delivery
    /// step (routing, leaving the queue, re-sending inflight), so a revoked permission stops
    /// retained, queued and inflight delivery (bad-inputs row 26).
    pub(crate) fn may_receive(&self, sid: SessionId, topic: &str) -> bool {
        self.sessions
            .get(&sid)
            .is_some_and(|s| self.acl.check(&s.client, Action::Receive { topic }))
    }

    pub(crate) fn handle_subscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        s: Subscribe,
        now: Timestamp,
    ) {
        let sub_id = s.properties.subscription_identifier;
        let mut codes: SmallVec<[SubAckReasonCode; 2]> = SmallVec::new();
        let mut granted: SmallVec<[Granted; 2]> = SmallVec::new();
        for (index, sub) in s.subscriptions.iter().enumerate() {
            match self.subscribe_one(sid, index, sub, sub_id) {
                Ok(g) => {
                    codes.push(SubAckReasonCode::granted(g.entry.options.qos));
                    granted.push(g);
                }
                Err(code) => {
                    self.stats.reject(code.as_u8());
                    codes.push(code);
                }
            }
        }
        // [MQTT-3.9.3-1] one code per filter, in order; the codec sends 0x80 for any failure
        // to a 3.x client (MQTT 3.1.1 [MQTT-3.9.3-2]).
        let ack = SubAck {
            packet_id: s.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        };
        // Held while other shards apply what this SUBSCRIBE announced (sub_barrier.rs).
        self.send_suback(conn, sid, ack, now);
        // Retained messages follow the SUBACK (MQTT 5 §3.3.1.3), or precede a held one.
        for g in granted {
            if let Some(sub) = s.subscriptions.get(g.index) {
                self.send_retained(sid, sub, &g, now);
            }
        }
    }

    /// Validates and stores one subscription; the failure code if it is refused (then nothing
    /// is stored).
    fn subscribe_one(
        &mut self,
        sid: SessionId,
        index: usize,
        sub: &Subscription,
        sub_id: Option<NonZeroU32>,
    ) -> Result<Granted, SubAckReasonCode> {
        let cfg = &self.config;
        // [MQTT-4.7.1-1] [MQTT-4.7.1-2] wildcard placement, [MQTT-4.8.2-1] [MQTT-4.8.2-2] share
        // name and filter, and the level limit (bad-inputs rows 20, 21): 0x8F, never stored.
        let parsed = parse_filter(&sub.filter, cfg.max_topic_levels)
            .map_err(|_| SubAckReasonCode::TopicFilterInvalid)?;
        // MQTT 5 §3.2.2.3.13: shared subscriptions switched off.
        if parsed.share_group.is_some() && !cfg.shared_subscriptions {
            return Err(SubAckReasonCode::SharedSubscriptionsNotSupported);
        }
        // MQTT 5 §3.2.2.3.11: wildcard subscriptions switched off.
        if parsed.has_wildcards && !cfg.wildcard_subscriptions {
            return Err(SubAckReasonCode::WildcardSubscriptionsNotSupported);
        }
        // MQTT 5 §3.2.2.3.12: subscription identifiers switched off.
        if sub_id.is_some() && !cfg.subscription_identifiers {
            return Err(SubAckReasonCode::SubscriptionIdentifiersNotSupported);
        }
        let s = self
            .sessions
            .get(&sid)
            .ok_or(SubAckReasonCode::UnspecifiedError)?;
        // The ACL sees the filter proper, literally: nothing in a client id or user name is
        // ever expanded into a pattern here (bad-inputs row 28).
        let action = Action::Subscribe {
            filter: parsed.filter,
            qos: sub.options.qos,
        };
        if !self.acl.check(&s.client, action) {
            // 0x87 by default; some deployments hide the refusal as 0x80.
            return Err(cfg.subscribe_denied_reason);
        }
        let existed = s.subscriptions.contains_key(&sub.filter);
        // A replacement does not count against the limit (bad-inputs row 25).
        if !existed && s.subscriptions.len() >= cfg.max_subscriptions_per_client {
            return Err(SubAckReasonCode::QuotaExceeded);
        }
        // MQTT 5 §3.9.3: the server may grant a lower QoS than requested.
        let mut options = sub.options;
        options.qos = sub.options.qos.min(cfg.max_qos);
        let entry = SubEntry { options, sub_id };
        // [MQTT-3.8.4-3] a subscription to a filter the session already has replaces it in
        // place: new options and QoS, still one delivery per message.
        let shared = match parsed.share_group {
            Some(group) => {
                self.shared.subscribe(group, parsed.filter, sid, entry);
                // A first member here: other shards must know before the SUBACK.
                if self.share_members_changed(group, parsed.filter) {
                    self.sub_barrier.needed = true;
                }
                true
            }
            None => {
                let new = self.subs.insert(parsed.filter, sid, entry).is_none();
                // A first subscriber here: announced to the other shards (routing/).
                self.plain_subscribed(parsed.filter, new);
                false
            }
        };
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.subscriptions.insert(sub.filter.clone(), entry);
        }
        Ok(Granted {
            index,
            existed,
            shared,
            entry,
        })
    }

    /// Retained messages for a subscription just stored, per its Retain Handling.
    fn send_retained(&mut self, sid: SessionId, sub: &Subscription, g: &Granted, now: Timestamp) {
        // MQTT 5 §3.3.1.3 sends retained messages for a new *non-shared* subscription; a
        // shared one gets none (§4.8.2).
        if g.shared {
            return;
        }
        match sub.options.retain_handling {
            // [MQTT-3.3.1-11] Retain Handling 2: never.
            RetainHandling::DoNotSend => return,
            // [MQTT-3.3.1-10] Retain Handling 1: only if the subscription did not exist.
            RetainHandling::SendIfNew if g.existed => return,
            // [MQTT-3.3.1-9] Retain Handling 0: on every subscribe, re-subscribes included
            // [MQTT-3.8.4-3].
            _ => {}
        }
        // From the owner shard(s) of the filter's topics (routing/retained.rs).
        self.fetch_retained(sid, &sub.filter, g.entry, now);
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
                // [MQTT-3.10.4-1] [MQTT-3.10.4-2] the subscription is deleted and no new
                // messages are added for it.
                self.remove_subscription(sid, filter, now);
                codes.push(UnsubAckReasonCode::Success);
            } else if parse_filter(filter, self.config.max_topic_levels).is_err() {
                self.stats
                    .reject(UnsubAckReasonCode::TopicFilterInvalid.as_u8());
                codes.push(UnsubAckReasonCode::TopicFilterInvalid);
            } else {
                // MQTT 5 §3.11.3: 0x11 No subscription existed.
                codes.push(UnsubAckReasonCode::NoSubscriptionExisted);
            }
        }
        // [MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK with the same packet id, even if nothing was
        // deleted; [MQTT-3.11.3-1] one code per filter (the codec leaves them off for 3.x).
        let ack = UnsubAck {
            packet_id: u.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        };
        self.send(conn, &Packet::UnsubAck(ack), now);
    }

    /// Removes one subscription of a session from the trie or its shared group.
    pub(crate) fn remove_subscription(&mut self, sid: SessionId, filter: &str, now: Timestamp) {
        // Stored filters were validated on subscribe; the level limit is not re-applied so a
        // configuration change cannot strand one.
        if let Ok(p) = parse_filter(filter, usize::MAX) {
            match p.share_group {
                Some(group) => {
                    self.shared.unsubscribe(group, p.filter, &sid);
                    self.share_members_changed(group, p.filter);
                }
                None => {
                    let removed = self.subs.remove(p.filter, &sid).is_some();
                    // The last subscriber here: withdrawn from the other shards (routing/).
                    self.plain_unsubscribed(sid, p.filter, removed, now);
                }
            }
        }
    }
}
