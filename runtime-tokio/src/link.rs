//! The links between shards: one bounded tokio `mpsc` channel per ordered pair of shards
//! (FIFO per pair), carrying [`LinkMsg`]. Each link has one sending task on its source shard
//! and one receiving task on its destination shard.
//!
//! What a link carries and the order of it are `ringmq_runtime::link`'s.

use std::rc::Rc;

use mqtt_core::ShardId;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::shard::ShardCtx;

/// What travels from one shard to another: a handed-over socket moves as a `std` socket,
/// taken out of the sending shard's reactor (`into_std`).
pub(crate) type LinkMsg = ringmq_runtime::link::LinkMsg<std::net::TcpStream>;

/// A connection moving to its home shard.
pub(crate) type Handover = ringmq_runtime::link::Handover<std::net::TcpStream>;

/// The sending side of one link, shared by the tasks of its shard.
pub(crate) type LinkOut = ringmq_runtime::link::LinkOut<std::net::TcpStream>;

/// The sending end of a link.
pub(crate) type Sender = mpsc::Sender<LinkMsg>;

/// The receiving end of a link.
pub(crate) type Receiver = mpsc::Receiver<LinkMsg>;

/// One shard's ends of the full mesh, built on the starting thread.
pub(crate) type LinkEnds = ringmq_runtime::link::LinkEnds<Sender, Receiver>;

/// Builds the full mesh of `n` shards: element `i` holds shard `i`'s ends.
pub(crate) fn mesh(n: usize, capacity: usize) -> Vec<LinkEnds> {
    ringmq_runtime::link::mesh(n, || mpsc::channel(capacity.max(1)))
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
    mut receiver: mpsc::Receiver<LinkMsg>,
) {
    while let Some(msg) = receiver.recv().await {
        match msg {
            LinkMsg::Peer(m) => ctx.handle_peer(from, m),
            LinkMsg::Handover(h) => ctx.adopt(h),
            LinkMsg::WillsDone => ctx.wills_done_from(from),
        }
    }
    if !ctx.life.stopping() {
        warn!(shard = ctx.id.0, from = from.0, "link from a shard closed");
    }
}
