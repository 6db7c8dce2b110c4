//! Retained messages across shards: partitioned by `shard_for(topic, n)`, fetched for a new
//! subscription from the owner of its filter (every shard for a wildcard filter), and merged
//! with live delivery so each message reaches the subscription once.
//!
//! # Sequencing
//! 1. SUBSCRIBE: the subscription goes into the local trie; from this instant, messages that
//!    reach this shard are matched to it. A fetch record starts, noting the id of every
//!    retained message matching the filter that reaches the trie. While the session has a
//!    fetch in flight, its live deliveries are held (bounded like its queue), so they follow
//!    the retained messages: a retained value never arrives after a newer live one.
//! 2. The SUBACK waits for the barrier (`sub_barrier.rs`); the fetch waits until every other
//!    shard has answered the filter's announcement (`InterestAck`). Both hold only while the
//!    filter is newly announced.
//! 3. Then `RetainedFetch` goes to the owner(s). It carries `need[p]`: the last retained
//!    message shard `p` sent to that owner that this shard knows of, from `p`'s answer and
//!    from retained messages of `p` that reached this shard live. The owner answers once it
//!    has applied them, so a retained message that reached this shard before the
//!    subscription, or that `p` made before it knew of the interest, is in the answer.
//! 4. `RetainedReply`: each message is delivered with RETAIN 1, unless it reached the
//!    subscription live (noted in step 1), or it will: it was made by shard `p` after `p`
//!    answered the announcement (so `p` forwarded it here) and has not arrived yet (`p`'s
//!    messages arrive in the order `p` made them, so it has not if nothing of `p`'s that
//!    late has arrived). Then the held deliveries go out, in order.
//!
//! Unsubscribing (or the session ending) drops the fetch (and releases what it held). With one shard the owner is this
//! shard and the retained messages are delivered at once, after the SUBACK.

use std::collections::VecDeque;

use ahash::AHashMap;
use bytestring::ByteString;
use mqtt_proto::QoS;
use smallvec::SmallVec;

use super::RoutingMsg;
use crate::ids::{shard_for, SessionId, ShardId};
use crate::message::{Message, MessageId, SharedMessage};
use crate::session::{Delivery, SubEntry};
use crate::shard::Shard;
use crate::subscriptions::FilterTrie;
use crate::time::Timestamp;

/// A retained fetch for one new subscription.
#[derive(Debug)]
struct Fetch {
    sid: SessionId,
    filter: ByteString,
    /// The subscription as granted (QoS cap, identifier).
    entry: SubEntry,
    /// Retained messages delivered live to the subscription since it was made.
    live: SmallVec<[MessageId; 2]>,
    /// Replies still expected (0 until the requests are sent).
    due: u16,
}

/// The fetches of one session, and the live deliveries waiting behind them.
#[derive(Debug, Default)]
struct SessionFetches {
    tokens: SmallVec<[u64; 2]>,
    /// Deliveries that reached the session while a fetch was in flight, in order.
    held: VecDeque<Delivery>,
}

/// A fetch this shard owns, waiting for retained messages still on their way here.
#[derive(Debug)]
struct Parked {
    from: ShardId,
    token: u64,
    filter: ByteString,
    need: Box<[u64]>,
}

/// Retained-message bookkeeping of one shard.
#[derive(Debug)]
pub(crate) struct RetainedRouting {
    count: u16,
    /// Per owner shard: the id sequence number of the last retained message sent to it.
    stores_sent: Vec<u64>,
    /// Per shard: the id sequence number of the last retained message received from it.
    stores_recv: Vec<u64>,
    /// `known[p * n + o]`: the last retained message shard `p` sent to owner `o` that this
    /// shard knows of.
    known: Vec<u64>,
    /// Per shard: the highest id sequence number of a message it forwarded here.
    seen: Vec<u64>,
    /// Fetches of this shard's subscriptions, by token.
    fetches: AHashMap<u64, Fetch>,
    /// Their filters, to note live deliveries.
    fetch_filters: FilterTrie<u64, ()>,
    /// Fetches and held deliveries per session.
    fetches_of: AHashMap<SessionId, SessionFetches>,
    /// Fetches this shard owns that wait for retained messages.
    parked: Vec<Parked>,
}

impl RetainedRouting {
    pub(crate) fn new(count: u16) -> Self {
        let n = usize::from(count);
        Self {
            count,
            stores_sent: vec![0; n],
            stores_recv: vec![0; n],
            known: vec![0; n * n],
            seen: vec![0; n],
            fetches: AHashMap::new(),
            fetch_filters: FilterTrie::new(),
            fetches_of: AHashMap::new(),
            parked: Vec::new(),
        }
    }

    /// Fetches in progress, here or parked here.
    pub(crate) fn pending(&self) -> usize {
        self.fetches.len() + self.parked.len()
    }

    /// Where this shard's retained stores stand, per owner (for an `InterestAck`).
    pub(crate) fn stores_sent(&self) -> Box<[u64]> {
        self.stores_sent.clone().into_boxed_slice()
    }

    /// Learns where shard `p`'s retained stores stood (from its `InterestAck`).
    pub(crate) fn learn_stores(&mut self, p: ShardId, stores: &[u64]) {
        let n = usize::from(self.count);
        let base = usize::from(p.0) * n;
        for (o, s) in stores.iter().enumerate().take(n) {
            if let Some(k) = self.known.get_mut(base + o) {
                *k = (*k).max(*s);
            }
        }
    }

    /// `need` for a fetch sent to owner `o`.
    fn need_for(&self, o: ShardId) -> Box<[u64]> {
        let n = usize::from(self.count);
        (0..n)
            .map(|p| {
                self.known
                    .get(p * n + usize::from(o.0))
                    .copied()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Whether every retained message `need` names has been applied here.
    fn ready(&self, need: &[u64]) -> bool {
        need.iter()
            .zip(&self.stores_recv)
            .all(|(need, got)| got >= need)
    }
}

impl Shard {
    /// Stores a retained message made here on its owner shard: here, or sent there.
    pub(crate) fn store_retained(&mut self, msg: &SharedMessage) {
        // The server's expiry cap bounds how long a message waits in queues; a retained
        // message published without an expiry is kept until replaced or deleted (the
        // retained count and byte limits bound the store).
        let stored = if msg.properties.message_expiry_interval.is_none() && msg.expires_at.is_some()
        {
            std::sync::Arc::new(Message {
                expires_at: None,
                ..Message::clone(msg)
            })
        } else {
            msg.clone()
        };
        let owner = shard_for(&msg.topic, self.shard_count);
        if owner == self.id {
            self.apply_retained(stored);
            return;
        }
        if let Some(s) = self
            .routing
            .retained
            .stores_sent
            .get_mut(usize::from(owner.0))
        {
            *s = msg.id.seq;
        }
        self.send_routing(owner, RoutingMsg::RetainStore(stored));
    }

    fn apply_retained(&mut self, stored: SharedMessage) {
        match self.retained.set(stored) {
            Ok(_) => self.arm_retained_timer(),
            // Over the retained limits: not stored, counted, still delivered.
            Err(_) => self.stats.retained_refused += 1,
        }
    }

    /// A retained message for this shard to own, from the shard that made it.
    pub(crate) fn retain_store(&mut self, from: ShardId, msg: SharedMessage, now: Timestamp) {
        let seq = msg.id.seq;
        self.apply_retained(msg);
        let r = &mut self.routing.retained;
        if let Some(s) = r.stores_recv.get_mut(usize::from(from.0)) {
            *s = (*s).max(seq);
        }
        if r.parked.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<Parked>, Vec<Parked>) = core::mem::take(&mut r.parked)
            .into_iter()
            .partition(|p| r.ready(&p.need));
        r.parked = waiting;
        for p in ready {
            self.answer_fetch(p.from, p.token, p.filter, p.need, now);
        }
    }

    /// Notes a message forwarded by `from`: how far its messages have arrived, and where a
    /// retained one was stored.
    pub(crate) fn note_forwarded(&mut self, from: ShardId, msg: &SharedMessage) {
        let n = self.shard_count;
        let r = &mut self.routing.retained;
        let p = usize::from(from.0);
        if let Some(s) = r.seen.get_mut(p) {
            *s = (*s).max(msg.id.seq);
        }
        if msg.retain {
            let o = shard_for(&msg.topic, n);
            if o != from {
                if let Some(k) = r.known.get_mut(p * usize::from(n) + usize::from(o.0)) {
                    *k = (*k).max(msg.id.seq);
                }
            }
        }
    }

    /// Notes a retained message reaching this shard's trie while fetches are in progress.
    pub(crate) fn note_live(&mut self, msg: &SharedMessage) {
        let r = &mut self.routing.retained;
        if !msg.retain || r.fetch_filters.is_empty() {
            return;
        }
        let mut tokens: SmallVec<[u64; 4]> = SmallVec::new();
        r.fetch_filters
            .for_each_match(&msg.topic, |t, ()| tokens.push(*t));
        for t in tokens {
            if let Some(f) = r.fetches.get_mut(&t) {
                f.live.push(msg.id);
            }
        }
    }

    /// Retained messages for a new plain subscription of `sid` (its Retain Handling allows
    /// them): fetched from their owner shard(s), delivered after the SUBACK.
    pub(crate) fn fetch_retained(
        &mut self,
        sid: SessionId,
        filter: &str,
        entry: SubEntry,
        now: Timestamp,
    ) {
        if self.shard_count == 1 {
            let msgs = self.local_retained(filter, now);
            return self.deliver_retained(sid, entry, msgs, now);
        }
        let token = self.routing.next_token();
        let r = &mut self.routing.retained;
        r.fetch_filters.insert(filter, token, ());
        r.fetches.insert(
            token,
            Fetch {
                sid,
                filter: ByteString::from(filter),
                entry,
                live: SmallVec::new(),
                due: 0,
            },
        );
        r.fetches_of.entry(sid).or_default().tokens.push(token);
        if !self.routing.interest.wait_for(filter, token) {
            self.send_fetches(token, now);
        }
    }

    /// Sends a fetch to the owner of its filter, or to every shard for a wildcard filter.
    pub(crate) fn send_fetches(&mut self, token: u64, now: Timestamp) {
        let n = self.shard_count;
        let Some(f) = self.routing.retained.fetches.get_mut(&token) else {
            return;
        };
        let filter = f.filter.clone();
        let owners: SmallVec<[ShardId; 8]> = if filter.contains(['+', '#']) {
            (0..n).map(ShardId).collect()
        } else {
            SmallVec::from_elem(shard_for(&filter, n), 1)
        };
        f.due = u16::try_from(owners.len()).unwrap_or(u16::MAX);
        for o in owners {
            let need = self.routing.retained.need_for(o);
            if o == self.id {
                self.answer_fetch(o, token, filter.clone(), need, now);
            } else {
                let filter = filter.clone();
                self.send_routing(
                    o,
                    RoutingMsg::RetainedFetch {
                        token,
                        filter,
                        need,
                    },
                );
            }
        }
    }

    /// A fetch for retained messages this shard owns: answered once the retained messages
    /// it needs have been applied here.
    pub(crate) fn answer_fetch(
        &mut self,
        from: ShardId,
        token: u64,
        filter: ByteString,
        need: Box<[u64]>,
        now: Timestamp,
    ) {
        if !self.routing.retained.ready(&need) {
            self.routing.retained.parked.push(Parked {
                from,
                token,
                filter,
                need,
            });
            return;
        }
        let msgs = self.local_retained(&filter, now);
        if from == self.id {
            self.take_reply(token, msgs, now);
        } else {
            self.send_routing(from, RoutingMsg::RetainedReply { token, msgs });
        }
    }

    /// An owner's answer to one of this shard's fetches.
    pub(crate) fn take_reply(&mut self, token: u64, msgs: Vec<SharedMessage>, now: Timestamp) {
        let r = &self.routing.retained;
        let Some(f) = r.fetches.get(&token) else {
            // Unsubscribed (or the session ended) meanwhile.
            return;
        };
        let interest = &self.routing.interest;
        let me = self.id;
        let keep: Vec<SharedMessage> = msgs
            .into_iter()
            .filter(|m| {
                if f.live.contains(&m.id) {
                    return false;
                }
                let p = m.id.shard;
                if p == me {
                    return true;
                }
                // Made after `p` knew of this shard's interest, so forwarded here, and not
                // arrived yet: it will be delivered live.
                let forwarded = interest
                    .acked_seq(&f.filter, p)
                    .is_some_and(|a| m.id.seq > a);
                let arrived = r.seen.get(usize::from(p.0)).is_some_and(|s| *s >= m.id.seq);
                !forwarded || arrived
            })
            .collect();
        let (sid, entry) = (f.sid, f.entry);
        // Retained messages first, then what was held behind the fetch.
        self.deliver_retained(sid, entry, keep, now);
        let done = self
            .routing
            .retained
            .fetches
            .get_mut(&token)
            .is_some_and(|f| {
                f.due = f.due.saturating_sub(1);
                f.due == 0
            });
        if done {
            self.drop_fetch(token, now);
        }
    }

    /// Drops the fetches of `sid` for `filter` (the subscription is gone).
    pub(crate) fn cancel_fetches(&mut self, sid: SessionId, filter: &str, now: Timestamp) {
        let r = &self.routing.retained;
        let Some(of) = r.fetches_of.get(&sid) else {
            return;
        };
        let gone: SmallVec<[u64; 2]> = of
            .tokens
            .iter()
            .copied()
            .filter(|t| r.fetches.get(t).is_some_and(|f| f.filter == filter))
            .collect();
        for t in gone {
            self.drop_fetch(t, now);
        }
    }

    /// Forgets a fetch; the session's held deliveries go out once it has no fetch left.
    fn drop_fetch(&mut self, token: u64, now: Timestamp) {
        let r = &mut self.routing.retained;
        let Some(f) = r.fetches.remove(&token) else {
            return;
        };
        r.fetch_filters.remove(&f.filter, &token);
        let Some(of) = r.fetches_of.get_mut(&f.sid) else {
            return;
        };
        of.tokens.retain(|t| *t != token);
        if !of.tokens.is_empty() {
            return;
        }
        let held = r
            .fetches_of
            .remove(&f.sid)
            .map(|o| o.held)
            .unwrap_or_default();
        if !self.sessions.contains_key(&f.sid) {
            self.stats.dropped += held.len() as u64;
            return;
        }
        for d in held {
            self.deliver_now(f.sid, d, now);
        }
    }

    /// Whether live deliveries to `sid` wait behind a retained fetch ([`Shard::hold_for_fetch`]).
    #[inline]
    pub(crate) fn holds_for_fetch(&self, sid: SessionId) -> bool {
        let of = &self.routing.retained.fetches_of;
        !of.is_empty() && of.contains_key(&sid)
    }

    /// Holds a live delivery while the session has a retained fetch in flight; gives it back
    /// when it can go now. What is held is bounded like a session queue
    /// (`max_queued_messages`, the oldest QoS 0 message dropped first, counted).
    pub(crate) fn hold_for_fetch(&mut self, sid: SessionId, d: Delivery) -> Option<Delivery> {
        let r = &mut self.routing.retained;
        if r.fetches_of.is_empty() {
            return Some(d);
        }
        // A session without a fetch of its own takes the delivery now, even while other
        // sessions' fetches are in flight (found by the simulation, seed 8 on 3 shards).
        let Some(of) = r.fetches_of.get_mut(&sid) else {
            return Some(d);
        };
        of.held.push_back(d);
        while of.held.len() > self.config.max_queued_messages {
            match of.held.iter().position(|h| h.qos == QoS::AtMostOnce) {
                Some(i) => drop(of.held.remove(i)),
                None => drop(of.held.pop_front()),
            }
            self.stats.dropped += 1;
        }
        None
    }

    /// This shard's retained messages matching `filter`, unexpired, sorted by topic (the
    /// spec defines no order; this one is stable).
    fn local_retained(&self, filter: &str, now: Timestamp) -> Vec<SharedMessage> {
        let mut found = Vec::new();
        // Expired messages are never matched (MQTT 5 §3.3.2.3.3).
        self.retained
            .for_each_match(filter, now, |m| found.push(m.clone()));
        found.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        found
    }

    fn deliver_retained(
        &mut self,
        sid: SessionId,
        entry: SubEntry,
        msgs: Vec<SharedMessage>,
        now: Timestamp,
    ) {
        for msg in msgs {
            let d = Delivery {
                // The granted QoS caps the delivery QoS [MQTT-3.8.4-8].
                qos: msg.qos.min(entry.options.qos),
                // MQTT 5 §3.3.1.3 (3.1.1: [MQTT-3.3.1-8]): RETAIN is 1 on retained messages
                // sent because of a subscribe.
                retain: true,
                sub_ids: entry.sub_id.into_iter().collect(),
                msg,
            };
            // `deliver_now` asks the ACL for Receive permission (bad-inputs row 26); it does
            // not wait behind the fetch this answers.
            self.deliver_now(sid, d, now);
        }
    }
}
