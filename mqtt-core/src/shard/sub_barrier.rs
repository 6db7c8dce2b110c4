//! Holding a SUBACK until every other shard has applied what its SUBSCRIBE announced, so no
//! message published after the SUBACK can miss the new subscription.
//!
//! While a SUBSCRIBE is handled, any announcement that changes how other shards route (a
//! filter's first local subscriber, see `routing/interest.rs`; a shared group's first local
//! member, see `shared_cluster`) sets [`SubBarrier::needed`].
//! The SUBACK is then held, and a [`BarrierMsg::Ping`] goes to every other shard after the
//! announcements. Links are FIFO per pair of shards, so a shard answers the ping only after it
//! has applied them; when every shard has answered, the SUBACK goes out. A publisher that
//! learns of the SUBACK (through the subscriber, or any other path) and then publishes on any
//! shard is routed by a shard that already knows the subscription.
//!
//! SUBACKs of one connection leave in the order of their SUBSCRIBEs: one that needs no
//! barrier waits behind a held one. Messages for the new subscription may reach the client
//! before its SUBACK, which MQTT 5 §3.8.4 allows.

use std::collections::VecDeque;

use ahash::AHashMap;
use mqtt_proto::{Packet, SubAck};

use super::{ConnState, Shard, ShardMsgInner};
use crate::ids::{ConnId, SessionId, ShardId};
use crate::time::Timestamp;

/// The barrier's round trip.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BarrierMsg {
    /// Answer with `Pong` once everything sent before this has been applied.
    Ping(u64),
    /// Everything the sender of the ping sent before it has been applied here.
    Pong(u64),
}

/// A SUBACK waiting for its barrier (or for an earlier one of the same connection).
#[derive(Debug)]
struct Held {
    token: Option<u64>,
    sid: SessionId,
    ack: SubAck,
}

/// Barriers in progress and the SUBACKs they hold.
#[derive(Debug, Default)]
pub(crate) struct SubBarrier {
    /// Set during a SUBACK's SUBSCRIBE by an announcement other shards must apply first.
    pub(crate) needed: bool,
    next_token: u64,
    /// Token → the connection whose SUBACK it holds, and the answers still missing.
    waiting: AHashMap<u64, (ConnId, u16)>,
    /// Held SUBACKs per connection, in order.
    held: AHashMap<ConnId, VecDeque<Held>>,
}

impl Shard {
    /// SUBACK barriers in progress on this shard (0 once the cluster is quiet).
    pub fn subscribe_barriers_in_progress(&self) -> usize {
        self.sub_barrier.waiting.len()
    }

    /// Sends the SUBACK of a SUBSCRIBE just handled, or holds it behind a barrier when the
    /// SUBSCRIBE announced something to the other shards, or behind an earlier held SUBACK.
    pub(crate) fn send_suback(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        ack: SubAck,
        now: Timestamp,
    ) {
        let needed = core::mem::take(&mut self.sub_barrier.needed) && self.shard_count > 1;
        let queued = self.sub_barrier.held.contains_key(&conn);
        if !needed && !queued {
            self.send(conn, &Packet::SubAck(ack), now);
            return;
        }
        let token = needed.then(|| {
            self.sub_barrier.next_token += 1;
            let token = self.sub_barrier.next_token;
            let others = self.shard_count - 1;
            self.sub_barrier.waiting.insert(token, (conn, others));
            self.broadcast_peer(ShardMsgInner::Barrier(BarrierMsg::Ping(token)));
            token
        });
        let held = Held { token, sid, ack };
        self.sub_barrier
            .held
            .entry(conn)
            .or_default()
            .push_back(held);
        self.release_subacks(conn, now);
    }

    /// A barrier message from shard `from`.
    pub(crate) fn handle_barrier(&mut self, from: ShardId, msg: BarrierMsg, now: Timestamp) {
        match msg {
            BarrierMsg::Ping(token) => {
                self.send_peer(from, ShardMsgInner::Barrier(BarrierMsg::Pong(token)));
            }
            BarrierMsg::Pong(token) => {
                let Some((conn, missing)) = self.sub_barrier.waiting.get_mut(&token) else {
                    return;
                };
                *missing = missing.saturating_sub(1);
                if *missing == 0 {
                    let conn = *conn;
                    self.sub_barrier.waiting.remove(&token);
                    self.release_subacks(conn, now);
                }
            }
        }
    }

    /// Sends the held SUBACKs of `conn` whose barriers are done, in order, up to the first
    /// still waiting.
    fn release_subacks(&mut self, conn: ConnId, now: Timestamp) {
        loop {
            let Some(queue) = self.sub_barrier.held.get_mut(&conn) else {
                return;
            };
            let waiting = &self.sub_barrier.waiting;
            if queue
                .front()
                .is_some_and(|h| h.token.is_some_and(|t| waiting.contains_key(&t)))
            {
                return;
            }
            let Some(h) = queue.pop_front() else {
                self.sub_barrier.held.remove(&conn);
                return;
            };
            let bound = self
                .conns
                .get(&conn)
                .is_some_and(|c| matches!(c.state, ConnState::Connected(s) if s == h.sid));
            if bound {
                self.send(conn, &Packet::SubAck(h.ack), now);
            }
        }
    }

    /// The connection is gone: its held SUBACKs are forgotten (their barriers still finish).
    pub(crate) fn forget_subacks(&mut self, conn: ConnId) {
        self.sub_barrier.held.remove(&conn);
    }
}
