//! Plain (non-shared) subscriptions and retained messages across shards: the replicated
//! interest map, forwarding, and the sequencing of subscribe, retained fetch and live
//! delivery. With one shard none of it runs.
//!
//! # Interest
//! Each shard keeps its own subscriptions in `Shard::subs` and a replica of the other shards'
//! interest: filter → shards with at least one local subscriber (`Routing::remote`). A shard
//! announces [`RoutingMsg::InterestAdd`] when its count for a filter goes 0→1 and
//! [`RoutingMsg::InterestRemove`] when it goes 1→0 (unsubscribe, session end, expiry, clean
//! start), to every other shard, and at no other time. A message made on a shard is delivered
//! to its local subscribers and sent once, as one `Arc<Message>`, to each shard whose
//! interest matches its topic ([`ShardMsgInner::Deliver`]); that shard matches its own trie
//! only and never forwards again. Links are FIFO per pair of shards and each shard handles
//! its input in order, so messages of one publisher on one topic reach every subscriber in
//! publish order [MQTT-4.6.0-5/6].
//!
//! # The subscribe barrier
//! A SUBSCRIBE that makes a filter go 0→1 broadcasts `InterestAdd`; its SUBACK is held
//! (`sub_barrier.rs`) until every other shard has answered a ping sent after it, so it has
//! applied the announcement: anything published after the SUBACK, on any shard, is forwarded
//! here. A later SUBSCRIBE to a filter whose announcement is not yet acknowledged is held the
//! same way.
//!
//! # Retained messages
//! They are partitioned by `shard_for(topic, n)`: a retained message made on another shard
//! is sent to its owner ([`RoutingMsg::RetainStore`]). A new subscription that gets retained
//! messages (Retain Handling, decided locally) fetches them from the owner of its filter, or
//! from every shard for a wildcard filter, once its filter's announcement is acknowledged
//! (see `retained.rs` for how the fetch is made exact: nothing published before the
//! subscription is missed, nothing is delivered twice).

mod interest;
mod retained;

use bytestring::ByteString;

use super::{Shard, ShardMsgInner};
use crate::ids::ShardId;
use crate::message::{MessageId, SharedMessage};
use crate::time::Timestamp;

pub(crate) use interest::Interest;
pub(crate) use retained::RetainedRouting;

/// Cross-shard messages about plain subscriptions and retained messages.
#[derive(Debug, Clone)]
pub(crate) enum RoutingMsg {
    /// The sender has its first subscriber on `filter`; answer with `InterestAck { epoch }`.
    InterestAdd { filter: ByteString, epoch: u64 },
    /// The sender's last subscriber on `filter` is gone.
    InterestRemove { filter: ByteString },
    /// `InterestAdd` applied. `seq`: the sequence number of the last message the answering
    /// shard had made (every later one matching the filter is forwarded to the announcer);
    /// `stores[o]`: the sequence number of the last retained message it had sent to shard `o`.
    InterestAck {
        epoch: u64,
        seq: u64,
        stores: Box<[u64]>,
    },
    /// Store (or, with an empty payload, delete) a retained message on its owner shard.
    RetainStore(SharedMessage),
    /// The retained messages matching `filter`, answered once the owner has applied the
    /// retained messages of each shard `p` up to sequence number `need[p]`.
    RetainedFetch {
        token: u64,
        filter: ByteString,
        need: Box<[u64]>,
    },
    /// The answer to a `RetainedFetch`.
    RetainedReply {
        token: u64,
        msgs: Vec<SharedMessage>,
    },
}

/// What a shard knows about routing across shards.
#[derive(Debug)]
pub(crate) struct Routing {
    /// Sequence number of the last message this shard made.
    msg_seq: u64,
    /// Last token handed out (announcement epochs and fetches).
    token: u64,
    pub(crate) interest: Interest,
    pub(crate) retained: RetainedRouting,
}

impl Routing {
    pub(crate) fn new(count: u16) -> Self {
        Self {
            msg_seq: 0,
            token: 0,
            interest: Interest::new(count),
            retained: RetainedRouting::new(count),
        }
    }

    fn next_token(&mut self) -> u64 {
        self.token += 1;
        self.token
    }
}

impl Shard {
    /// A fresh broker-unique id for a message made on this shard. Every message the shard
    /// makes takes one right before it is routed, so ids leave a shard in increasing order.
    pub(crate) fn next_message_id(&mut self) -> MessageId {
        self.routing.msg_seq += 1;
        MessageId {
            shard: self.id,
            seq: self.routing.msg_seq,
        }
    }

    /// The other shards a message on `topic` made here would be forwarded to, in order.
    pub fn interested_shards(&self, topic: &str) -> Vec<ShardId> {
        self.routing.interest.matching(topic).into_vec()
    }

    /// Cross-shard routing work not finished yet: announcements waiting for answers and
    /// retained fetches in progress (here or parked at this shard as owner). 0 once the
    /// shards are quiet; for leak checks.
    pub fn routing_in_progress(&self) -> usize {
        self.routing.interest.pending() + self.routing.retained.pending()
    }

    /// A routing message from shard `from`.
    pub(crate) fn handle_routing(&mut self, from: ShardId, msg: RoutingMsg, now: Timestamp) {
        match msg {
            RoutingMsg::InterestAdd { filter, epoch } => self.interest_add(from, &filter, epoch),
            RoutingMsg::InterestRemove { filter } => self.interest_remove(from, &filter),
            RoutingMsg::InterestAck { epoch, seq, stores } => {
                self.interest_ack(from, epoch, seq, &stores, now);
            }
            RoutingMsg::RetainStore(msg) => self.retain_store(from, msg, now),
            RoutingMsg::RetainedFetch {
                token,
                filter,
                need,
            } => self.answer_fetch(from, token, filter, need, now),
            RoutingMsg::RetainedReply { token, msgs } => self.take_reply(token, msgs, now),
        }
    }

    /// A message another shard forwarded here: delivered to local subscribers only.
    pub(crate) fn handle_forwarded(&mut self, from: ShardId, msg: &SharedMessage, now: Timestamp) {
        self.note_forwarded(from, msg);
        // Shared groups were routed where the message was made.
        self.route_local(msg, false, now);
    }

    /// Sends a message made here to every other shard whose interest matches its topic, one
    /// `Arc` per shard; returns how many shards it went to.
    pub(crate) fn forward(&mut self, msg: &SharedMessage) -> usize {
        if self.shard_count == 1 {
            return 0;
        }
        let to = self.routing.interest.matching(&msg.topic);
        for s in &to {
            self.send_peer(*s, ShardMsgInner::Deliver(msg.clone()));
        }
        to.len()
    }

    fn send_routing(&mut self, to: ShardId, msg: RoutingMsg) {
        self.send_peer(to, ShardMsgInner::Routing(msg));
    }
}
