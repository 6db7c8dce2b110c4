//! What travels between shards, and the sending side of a link.
//!
//! Each runtime links every ordered pair of shards with one bounded channel (FIFO per pair)
//! of [`LinkMsg`], with one sending task on the source shard and one receiving task on the
//! destination. The sending task sends, in this order and again until nothing is left
//! ([`LinkOut::next_message`]): the batch [`Shard::take_peer`](mqtt_core::Shard::take_peer)
//! returns, handed-over connections, and (once, during shutdown) the "wills done" marker. A
//! full channel makes it wait: the shard's outbox then grows until mqtt-core pauses client
//! input (never blocked, never dropped).

use core::cell::{Cell, RefCell};
use core::net::SocketAddr;
use std::collections::VecDeque;

use bytes::BytesMut;
use mqtt_core::{ShardId, ShardMsg};

use crate::sync::{Latch, Notify};

/// What travels from one shard to another; `S` is the runtime's form of a moving socket.
#[derive(Debug)]
pub enum LinkMsg<S> {
    /// A batch of cross-shard messages for `Shard::handle_peer`.
    Peer(ShardMsg),
    /// A connection moving to its home shard.
    Handover(Handover<S>),
    /// Shutdown: every will of the sending shard has been sent before this.
    WillsDone,
}

/// A connection moving to its home shard.
#[derive(Debug)]
pub struct Handover<S> {
    /// The socket, in a form that can cross threads (glommio: a duplicated descriptor;
    /// tokio: a `std` socket taken out of the reactor).
    pub socket: S,
    /// The CONNECT as it arrived and every byte read after it.
    pub buffered: BytesMut,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

/// The sending side of one link, shared by the tasks of its shard.
#[derive(Debug)]
pub struct LinkOut<S> {
    /// Wakes the sending task: the outbox has messages, a handover is queued, or the
    /// marker is due.
    pub wake: Notify,
    handovers: RefCell<VecDeque<Handover<S>>>,
    /// Shutdown asked for the "wills done" marker.
    wills_due: Cell<bool>,
    wills_sent: Cell<bool>,
    /// Set once the marker is in the channel (or the link is closed): the shard must not stop
    /// (cancelling the sending task) before, or the peer would wait for it until the shutdown
    /// deadline.
    pub wills_delivered: Latch,
}

impl<S> Default for LinkOut<S> {
    fn default() -> Self {
        Self {
            wake: Notify::default(),
            handovers: RefCell::new(VecDeque::new()),
            wills_due: Cell::new(false),
            wills_sent: Cell::new(false),
            wills_delivered: Latch::default(),
        }
    }
}

impl<S> LinkOut<S> {
    /// Queues a connection for its home shard.
    pub fn hand_over(&self, h: Handover<S>) {
        self.handovers.borrow_mut().push_back(h);
        self.wake.notify();
    }

    /// Asks for the "wills done" marker after everything queued so far.
    pub fn send_wills_done(&self) {
        self.wills_due.set(true);
        self.wake.notify();
    }

    /// The next message to send, in the link's order: the shard's outbox (`take_peer`), then
    /// handed-over connections, then the marker (once, when asked for); `None` when nothing
    /// is left.
    pub fn next_message(&self, take_peer: impl FnOnce() -> Option<ShardMsg>) -> Option<LinkMsg<S>> {
        if let Some(m) = take_peer() {
            return Some(LinkMsg::Peer(m));
        }
        if let Some(h) = self.handovers.borrow_mut().pop_front() {
            return Some(LinkMsg::Handover(h));
        }
        if self.wills_due.get() && !self.wills_sent.get() {
            self.wills_sent.set(true);
            return Some(LinkMsg::WillsDone);
        }
        None
    }

    /// `msg` is in the channel: a marker counts as delivered.
    pub fn sent(&self, was_marker: bool) {
        if was_marker {
            self.wills_delivered.set();
        }
    }

    /// The channel is closed: nothing will be delivered, so nobody waits for the marker.
    pub fn closed(&self) {
        self.wills_delivered.set();
    }
}

/// A link's end with the shard at its other end.
pub type Linked<T> = (ShardId, T);

/// One shard's ends of the full mesh, built on the starting thread: index = the other shard,
/// `None` for this shard itself.
#[derive(Debug)]
pub struct LinkEnds<S, R> {
    /// The sending ends, by destination shard.
    pub senders: Vec<Option<S>>,
    /// The receiving ends, by source shard.
    pub receivers: Vec<Option<R>>,
}

impl<S, R> LinkEnds<S, R> {
    /// The present ends with their shards: sending ends with their destination, receiving
    /// ends with their source.
    pub fn into_parts(self) -> (Vec<Linked<S>>, Vec<Linked<R>>) {
        (
            shard_ids(self.senders).collect(),
            shard_ids(self.receivers).collect(),
        )
    }
}

/// Builds the full mesh of `n` shards, one channel from `channel` per ordered pair (FIFO per
/// pair): element `i` holds shard `i`'s ends.
pub fn mesh<S, R>(n: usize, mut channel: impl FnMut() -> (S, R)) -> Vec<LinkEnds<S, R>> {
    let mut ends: Vec<LinkEnds<S, R>> = (0..n)
        .map(|_| LinkEnds {
            senders: (0..n).map(|_| None).collect(),
            receivers: (0..n).map(|_| None).collect(),
        })
        .collect();
    for from in 0..n {
        for to in 0..n {
            if from == to {
                continue;
            }
            let (s, r) = channel();
            if let Some(slot) = ends.get_mut(from).and_then(|e| e.senders.get_mut(to)) {
                *slot = Some(s);
            }
            if let Some(slot) = ends.get_mut(to).and_then(|e| e.receivers.get_mut(from)) {
                *slot = Some(r);
            }
        }
    }
    ends
}

/// The present entries of a per-shard vector, with their shard ids.
pub fn shard_ids<T>(v: Vec<Option<T>>) -> impl Iterator<Item = (ShardId, T)> {
    v.into_iter()
        .enumerate()
        .filter_map(|(i, x)| Some((ShardId(u16::try_from(i).ok()?), x?)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    fn handover(tag: &'static [u8]) -> Handover<()> {
        Handover {
            socket: (),
            buffered: BytesMut::from(tag),
            peer: None,
        }
    }

    /// Every ordered pair of distinct shards gets one channel, whose sender sits with the
    /// source and whose receiver with the destination; no shard links to itself.
    #[test]
    fn the_mesh_links_every_ordered_pair_once() {
        let mut next = 0;
        let ends = mesh(3, || {
            next += 1;
            (next, next)
        });
        assert_eq!(next, 6);
        for (i, e) in ends.into_iter().enumerate() {
            let (senders, receivers) = e.into_parts();
            let to: Vec<u16> = senders.iter().map(|(s, _)| s.0).collect();
            let from: Vec<u16> = receivers.iter().map(|(s, _)| s.0).collect();
            let others: Vec<u16> = (0..3).filter(|&j| j != i as u16).collect();
            assert_eq!(to, others);
            assert_eq!(from, others);
        }
        // Each channel's two ends meet: what shard a sends to b, b receives from a.
        let ends: Vec<_> = mesh(3, || {
            next += 1;
            (next, next)
        })
        .into_iter()
        .map(LinkEnds::into_parts)
        .collect();
        for (a, (senders, _)) in ends.iter().enumerate() {
            for (b, channel) in senders {
                let (_, receivers) = &ends[usize::from(b.0)];
                let back = receivers.iter().find(|(from, _)| usize::from(from.0) == a);
                assert_eq!(back.map(|(_, c)| c), Some(channel), "{a} -> {}", b.0);
            }
        }
    }

    /// Handovers in order, then the marker exactly once (and only once asked for).
    #[test]
    fn messages_come_in_link_order_and_the_marker_once() {
        let out = LinkOut::<()>::default();
        out.hand_over(handover(b"a"));
        assert!(matches!(
            out.next_message(|| None),
            Some(LinkMsg::Handover(_))
        ));
        assert!(
            out.next_message(|| None).is_none(),
            "no marker before it is asked for"
        );
        out.hand_over(handover(b"b"));
        out.hand_over(handover(b"c"));
        out.send_wills_done();
        let mut kinds = Vec::new();
        while let Some(m) = out.next_message(|| None) {
            kinds.push(match m {
                LinkMsg::Peer(_) => "peer".to_owned(),
                LinkMsg::Handover(h) => String::from_utf8(h.buffered.to_vec()).unwrap(),
                LinkMsg::WillsDone => "wills".to_owned(),
            });
        }
        assert_eq!(kinds, ["b", "c", "wills"]);
        assert!(out.next_message(|| None).is_none(), "the marker goes once");
        assert!(!out.wills_delivered.is_set());
        out.sent(true);
        assert!(out.wills_delivered.is_set());
    }
}
