//! The links between shards: one bounded tokio `mpsc` channel per ordered pair of shards
//! (FIFO per pair), carrying [`LinkMsg`]. Each link has one sending task on its source shard
//! and one receiving task on its destination shard.
//!
//! The sending task sends, in this order and again until nothing is left: the batch
//! [`Shard::take_peer`](mqtt_core::Shard::take_peer) returns, handed-over connections, and
//! (once, during shutdown) the "wills done" marker. A full channel makes it wait: the shard's
//! outbox then grows until mqtt-core pauses client input (never blocked, never dropped).

use core::net::SocketAddr;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::BytesMut;
use mqtt_core::{ShardId, ShardMsg};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::shard::ShardCtx;
use crate::sync::{Latch, Notify};

/// What travels from one shard to another.
#[derive(Debug)]
pub(crate) enum LinkMsg {
    /// A batch of cross-shard messages for `Shard::handle_peer`.
    Peer(ShardMsg),
    /// A connection moving to its home shard.
    Handover(Handover),
    /// Shutdown: every will of the sending shard has been sent before this.
    WillsDone,
}

/// A connection moving to its home shard.
#[derive(Debug)]
pub(crate) struct Handover {
    /// The socket, taken out of the sending shard's reactor (`into_std`).
    pub(crate) stream: std::net::TcpStream,
    /// The CONNECT as it arrived and every byte read after it.
    pub(crate) buffered: BytesMut,
    /// The client's address.
    pub(crate) peer: Option<SocketAddr>,
}

/// The sending end of a link.
pub(crate) type Sender = mpsc::Sender<LinkMsg>;

/// The receiving end of a link.
pub(crate) type Receiver = mpsc::Receiver<LinkMsg>;

/// A sending end with its destination shard.
pub(crate) type Outgoing = (ShardId, Sender);

/// A receiving end with its source shard.
pub(crate) type Incoming = (ShardId, Receiver);

/// The ends of one shard's links, built on the starting thread.
#[derive(Debug)]
pub(crate) struct LinkEnds {
    /// Index = destination shard; `None` for this shard itself.
    senders: Vec<Option<mpsc::Sender<LinkMsg>>>,
    /// Index = source shard; `None` for this shard itself.
    receivers: Vec<Option<mpsc::Receiver<LinkMsg>>>,
}

/// Builds the full mesh of `n` shards: element `i` holds shard `i`'s ends.
pub(crate) fn mesh(n: usize, capacity: usize) -> Vec<LinkEnds> {
    let mut ends: Vec<LinkEnds> = (0..n)
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
            let (s, r) = mpsc::channel(capacity.max(1));
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

impl LinkEnds {
    /// The sending ends with their destination shards, and the receiving ends with their
    /// source shards.
    pub(crate) fn into_parts(self) -> (Vec<Outgoing>, Vec<Incoming>) {
        (
            shard_ids(self.senders).collect(),
            shard_ids(self.receivers).collect(),
        )
    }
}

/// The present entries of a per-shard vector, with their shard ids.
fn shard_ids<T>(v: Vec<Option<T>>) -> impl Iterator<Item = (ShardId, T)> {
    v.into_iter()
        .enumerate()
        .filter_map(|(i, x)| Some((ShardId(u16::try_from(i).ok()?), x?)))
}

/// The sending side of one link, shared by the tasks of its shard.
#[derive(Debug, Default)]
pub(crate) struct LinkOut {
    /// Wakes the sending task: the outbox has messages, a handover is queued, or the
    /// marker is due.
    pub(crate) wake: Notify,
    handovers: RefCell<VecDeque<Handover>>,
    /// Shutdown asked for the "wills done" marker.
    wills_due: Cell<bool>,
    wills_sent: Cell<bool>,
    /// Set once the marker is in the channel: the shard must not stop (aborting this task)
    /// before, or the peer would wait for it until the shutdown deadline.
    pub(crate) wills_delivered: Latch,
}

impl LinkOut {
    /// Queues a connection for its home shard.
    pub(crate) fn hand_over(&self, h: Handover) {
        self.handovers.borrow_mut().push_back(h);
        self.wake.notify();
    }

    /// Asks for the "wills done" marker after everything queued so far.
    pub(crate) fn send_wills_done(&self) {
        self.wills_due.set(true);
        self.wake.notify();
    }
}

/// The sending task of the link to `to`.
pub(crate) async fn send_task(
    ctx: Rc<ShardCtx>,
    to: ShardId,
    out: Rc<LinkOut>,
    sender: mpsc::Sender<LinkMsg>,
) {
    loop {
        out.wake.notified().await;
        loop {
            let msg = if let Some(m) = ctx.take_peer(to) {
                LinkMsg::Peer(m)
            } else if let Some(h) = out.handovers.borrow_mut().pop_front() {
                LinkMsg::Handover(h)
            } else if out.wills_due.get() && !out.wills_sent.get() {
                out.wills_sent.set(true);
                LinkMsg::WillsDone
            } else {
                break;
            };
            let marker = matches!(msg, LinkMsg::WillsDone);
            if sender.send(msg).await.is_err() {
                debug!(from = ctx.id.0, to = to.0, "link closed");
                out.wills_delivered.set();
                return;
            }
            if marker {
                out.wills_delivered.set();
            }
        }
    }
}

/// The receiving task of the link from `from`.
pub(crate) async fn recv_task(
    ctx: Rc<ShardCtx>,
    from: ShardId,
    mut receiver: mpsc::Receiver<LinkMsg>,
) {
    while let Some(msg) = receiver.recv().await {
        match msg {
            LinkMsg::Peer(m) => ctx.handle_peer(from, m),
            LinkMsg::Handover(h) => ctx.adopt(h),
            LinkMsg::WillsDone => ctx.wills_done_from(from),
        }
    }
    if !ctx.stopping() {
        warn!(shard = ctx.id.0, from = from.0, "link from a shard closed");
    }
}
