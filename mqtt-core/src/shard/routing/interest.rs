//! The replicated interest map: which other shards have subscribers on which filters, and
//! this shard's own announcements of its filters.
//!
//! Only count transitions are announced: `InterestAdd` when the local count of a filter goes
//! 0→1, `InterestRemove` when it goes 1→0. Each `InterestAdd` starts an *epoch* of the filter
//! here; every other shard answers it with `InterestAck`, which tells where that shard's
//! message numbering and retained stores stood once it knew of the interest. A retained fetch
//! for the filter waits until every answer of the current epoch is in (`retained.rs`).

use ahash::AHashMap;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::RoutingMsg;
use crate::ids::{SessionId, ShardId};
use crate::shard::Shard;
use crate::subscriptions::FilterTrie;
use crate::time::Timestamp;

/// One filter with at least one subscriber on this shard (only with several shards).
#[derive(Debug)]
struct LocalFilter {
    /// The announcement that started the current run of subscribers.
    epoch: u64,
    /// Whether every other shard has answered that announcement.
    confirmed: bool,
    /// Per shard: the `seq` of its answer. Each message it made after that and matching the
    /// filter is forwarded here.
    acked: Box<[u64]>,
    /// Retained fetches waiting for the confirmation.
    waiting: SmallVec<[u64; 1]>,
}

/// The interest map and this shard's announcements.
#[derive(Debug)]
pub(crate) struct Interest {
    count: u16,
    /// Other shards' interest: filter → shards with a subscriber.
    remote: FilterTrie<ShardId, ()>,
    /// This shard's filters with a subscriber.
    local: AHashMap<ByteString, LocalFilter>,
    /// Announcements waiting for answers: epoch → (filter, answers missing).
    epochs: AHashMap<u64, (ByteString, u16)>,
}

impl Interest {
    pub(crate) fn new(count: u16) -> Self {
        Self {
            count,
            remote: FilterTrie::new(),
            local: AHashMap::new(),
            epochs: AHashMap::new(),
        }
    }

    /// The other shards interested in `topic`, each once, in order.
    pub(crate) fn matching(&self, topic: &str) -> SmallVec<[ShardId; 8]> {
        let mut to: SmallVec<[ShardId; 8]> = SmallVec::new();
        self.remote.for_each_match(topic, |s, ()| to.push(*s));
        if to.len() > 1 {
            to.sort_unstable();
            to.dedup();
        }
        to
    }

    /// Announcements still waiting for answers.
    pub(crate) fn pending(&self) -> usize {
        self.epochs.len()
    }

    /// Whether `filter`'s current announcement has been answered by every other shard (true
    /// when there is nothing to wait for).
    pub(crate) fn confirmed(&self, filter: &str) -> bool {
        self.local.get(filter).is_none_or(|l| l.confirmed)
    }

    /// Where shard `p`'s numbering stood when it answered `filter`'s announcement (`None`
    /// if unknown).
    pub(crate) fn acked_seq(&self, filter: &str, p: ShardId) -> Option<u64> {
        self.local
            .get(filter)
            .and_then(|l| l.acked.get(usize::from(p.0)))
            .copied()
    }

    /// Parks a retained fetch until `filter`'s announcement is confirmed; false if there is
    /// nothing to wait for.
    pub(crate) fn wait_for(&mut self, filter: &str, token: u64) -> bool {
        match self.local.get_mut(filter) {
            Some(l) if !l.confirmed => {
                l.waiting.push(token);
                true
            }
            _ => false,
        }
    }
}

impl Shard {
    /// A plain subscription on `filter` was stored (`new`: not a replacement). The first one
    /// here is announced to every other shard; the SUBACK then waits for the barrier, as it
    /// does while an earlier announcement of the filter is unanswered.
    pub(crate) fn plain_subscribed(&mut self, filter: &str, new: bool) {
        if self.shard_count == 1 {
            return;
        }
        if new && self.subs.count_for(filter) == 1 {
            let epoch = self.routing.next_token();
            let filter = ByteString::from(filter);
            let i = &mut self.routing.interest;
            let others = i.count.saturating_sub(1);
            i.epochs.insert(epoch, (filter.clone(), others));
            i.local.insert(
                filter.clone(),
                LocalFilter {
                    epoch,
                    confirmed: others == 0,
                    acked: vec![0; usize::from(i.count)].into_boxed_slice(),
                    waiting: SmallVec::new(),
                },
            );
            self.broadcast_peer(super::super::ShardMsgInner::Routing(
                RoutingMsg::InterestAdd { filter, epoch },
            ));
            self.sub_barrier.needed = true;
        } else if !self.routing.interest.confirmed(filter) {
            self.sub_barrier.needed = true;
        }
    }

    /// A plain subscription of `sid` on `filter` is gone (`removed`: it was in the trie). Its
    /// retained fetches stop; the last one here is withdrawn from the other shards.
    pub(crate) fn plain_unsubscribed(
        &mut self,
        sid: SessionId,
        filter: &str,
        removed: bool,
        now: Timestamp,
    ) {
        self.cancel_fetches(sid, filter, now);
        if self.shard_count == 1 || !removed || self.subs.count_for(filter) > 0 {
            return;
        }
        self.routing.interest.local.remove(filter);
        let filter = ByteString::from(filter);
        self.broadcast_peer(super::super::ShardMsgInner::Routing(
            RoutingMsg::InterestRemove { filter },
        ));
    }

    /// Shard `from` has a first subscriber on `filter`: route there from now on, and say
    /// where this shard stands.
    pub(crate) fn interest_add(&mut self, from: ShardId, filter: &str, epoch: u64) {
        self.routing.interest.remote.insert(filter, from, ());
        let ack = RoutingMsg::InterestAck {
            epoch,
            seq: self.routing.msg_seq,
            stores: self.routing.retained.stores_sent(),
        };
        self.send_routing(from, ack);
    }

    /// Shard `from` has no subscriber on `filter` any more.
    pub(crate) fn interest_remove(&mut self, from: ShardId, filter: &str) {
        self.routing.interest.remote.remove(filter, &from);
    }

    /// Shard `from` applied an announcement of ours.
    pub(crate) fn interest_ack(
        &mut self,
        from: ShardId,
        epoch: u64,
        seq: u64,
        stores: &[u64],
        now: Timestamp,
    ) {
        self.routing.retained.learn_stores(from, stores);
        let i = &mut self.routing.interest;
        let Some((filter, missing)) = i.epochs.get_mut(&epoch) else {
            return;
        };
        *missing = missing.saturating_sub(1);
        let done = *missing == 0;
        let filter = filter.clone();
        if done {
            i.epochs.remove(&epoch);
        }
        // The filter may have been withdrawn (and announced again) meanwhile.
        let Some(l) = i.local.get_mut(&filter).filter(|l| l.epoch == epoch) else {
            return;
        };
        if let Some(a) = l.acked.get_mut(usize::from(from.0)) {
            *a = seq;
        }
        if done {
            l.confirmed = true;
            for token in core::mem::take(&mut l.waiting) {
                self.send_fetches(token, now);
            }
        }
    }
}
