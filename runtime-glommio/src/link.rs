//! The links between shards: one bounded glommio `shared_channel` per ordered pair of shards
//! (FIFO per pair), carrying [`LinkMsg`]. Each link has exactly one sending task on its
//! source shard (a glommio channel must not be awaited by two senders at once) and one
//! receiving task on its destination shard.
//!
//! What a link carries and the order of it are `ringmq_runtime::link`'s.

use std::os::fd::OwnedFd;
use std::rc::Rc;

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use mqtt_core::ShardId;
use tracing::{debug, warn};

use crate::shard::ShardCtx;

/// What travels from one shard to another: a handed-over socket moves as a duplicated
/// descriptor (the sending shard has closed its own).
pub(crate) type LinkMsg = ringmq_runtime::link::LinkMsg<OwnedFd>;

/// A connection moving to its home shard.
pub(crate) type Handover = ringmq_runtime::link::Handover<OwnedFd>;

/// The sending side of one link, shared by the tasks of its shard.
pub(crate) type LinkOut = ringmq_runtime::link::LinkOut<OwnedFd>;

/// One shard's unconnected ends of the full mesh, built on the starting thread.
pub(crate) type LinkEnds =
    ringmq_runtime::link::LinkEnds<SharedSender<LinkMsg>, SharedReceiver<LinkMsg>>;

/// Builds the full mesh of `n` shards: element `i` holds shard `i`'s ends.
pub(crate) fn mesh(n: usize, capacity: usize) -> Vec<LinkEnds> {
    ringmq_runtime::link::mesh(n, || shared_channel::new_bounded(capacity.max(1)))
}

/// Connected ends, on the shard's executor.
pub(crate) struct Connected {
    pub(crate) senders: Vec<(ShardId, ConnectedSender<LinkMsg>)>,
    pub(crate) receivers: Vec<(ShardId, ConnectedReceiver<LinkMsg>)>,
}

/// Connects every end of a shard (all at once: each connection waits for the other side).
pub(crate) async fn connect(ends: LinkEnds) -> Connected {
    let (senders, receivers) = ends.into_parts();
    let senders: Vec<_> = senders
        .into_iter()
        .map(|(i, s)| (i, glommio::spawn_local(s.connect())))
        .collect();
    let receivers: Vec<_> = receivers
        .into_iter()
        .map(|(i, r)| (i, glommio::spawn_local(r.connect())))
        .collect();
    let mut out = Connected {
        senders: Vec::with_capacity(senders.len()),
        receivers: Vec::with_capacity(receivers.len()),
    };
    for (i, t) in senders {
        out.senders.push((i, t.await));
    }
    for (i, t) in receivers {
        out.receivers.push((i, t.await));
    }
    out
}

/// The sending task of the link to `to`.
pub(crate) async fn send_task(
    ctx: Rc<ShardCtx>,
    to: ShardId,
    out: Rc<LinkOut>,
    sender: ConnectedSender<LinkMsg>,
) {
    loop {
        out.wake.notified().await;
        while let Some(msg) = out.next_message(|| ctx.take_peer(to)) {
            let marker = matches!(msg, LinkMsg::WillsDone);
            if sender.send(msg).await.is_err() {
                debug!(from = ctx.id.0, to = to.0, "link closed");
                out.closed();
                return;
            }
            out.sent(marker);
        }
    }
}

/// The receiving task of the link from `from`.
pub(crate) async fn recv_task(
    ctx: Rc<ShardCtx>,
    from: ShardId,
    receiver: ConnectedReceiver<LinkMsg>,
) {
    while let Some(msg) = receiver.recv().await {
        match msg {
            LinkMsg::Peer(m) => ctx.handle_peer(from, m),
            LinkMsg::Handover(h) => ctx.adopt(h),
            LinkMsg::WillsDone => ctx.wills_done_from(from),
        }
        glommio::yield_if_needed().await;
    }
    if !ctx.life.stopping() {
        warn!(shard = ctx.id.0, from = from.0, "link from a shard closed");
    }
}
