//! A shard's life on its thread, written once for both runtimes: the count of connection
//! tasks, the start of shutdown and its deadline, the peers' "wills done" markers, and the
//! graceful shutdown itself ([`shutdown`]).

use core::cell::Cell;
use core::future::Future;
use core::time::Duration;
use std::time::Instant;

use tracing::{debug, warn};

use crate::conn::ConnHost;
use crate::sync::{Latch, Notify};

/// How long aborted connection tasks get to drop their sockets at the end of a shutdown.
pub const ABORT_GRACE: Duration = Duration::from_millis(100);

/// Where a shard is in its life (all on the shard's thread).
#[derive(Debug, Default)]
pub struct Lifecycle {
    /// Set when shutdown begins: the accept loops stop.
    stop: Latch,
    /// When shutdown must be over (flushing included).
    deadline: Cell<Option<Instant>>,
    /// Connection tasks still running (closing ones included), and the wake-up at zero.
    live: Cell<usize>,
    idle: Notify,
    /// Peers whose "wills done" marker has arrived.
    wills_from: Cell<usize>,
    wills_wake: Notify,
}

impl Lifecycle {
    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.stop.is_set()
    }

    /// Resolves when shutdown begins (the accept loops wait on it).
    pub async fn stopped(&self) {
        self.stop.wait().await;
    }

    /// When shutdown must be over, if it has begun.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// Connection tasks running.
    pub fn live(&self) -> usize {
        self.live.get()
    }

    /// A connection task starts.
    pub fn task_started(&self) {
        self.live.set(self.live.get() + 1);
    }

    /// A connection task has ended.
    pub fn task_ended(&self) {
        self.live.set(self.live.get().saturating_sub(1));
        if self.live.get() == 0 {
            self.idle.notify();
        }
    }

    /// A peer's wills have all arrived (its marker came over the link).
    pub fn wills_done_from(&self) {
        self.wills_from.set(self.wills_from.get() + 1);
        self.wills_wake.notify();
    }

    /// Resolves when no connection task runs.
    async fn all_ended(&self) {
        while self.live.get() > 0 {
            self.idle.notified().await;
        }
    }
}

/// What the shard's own tasks (shutdown, timer) need beyond what its connections need.
pub trait ShardHost: ConnHost {
    /// Lets the runtime's other tasks run.
    fn yield_now(&self) -> impl Future<Output = ()>;
}

/// Graceful shutdown of one shard (the steps of `BrokerHandle::shutdown`), within `timeout`:
///
/// 1. stop accepting: the accept loops see [`Lifecycle::stopped`], and `accept_loops_done`
///    resolves once they have closed their listeners;
/// 2. publish the wills, then send a "wills done" marker on every link;
/// 3. once every one of the `peers` other shards has sent its marker (so that every will
///    has reached its subscribers here), close every connection (DISCONNECT 0x8B on v5);
/// 4. let the connections flush; at the deadline, cut those still flushing.
pub async fn shutdown<H: ShardHost>(
    ctx: &H,
    peers: usize,
    timeout: Duration,
    accept_loops_done: impl Future<Output = ()>,
) {
    let core = ctx.core();
    let life = &core.life;
    let shard = ctx.shard_id().0;
    let deadline = Instant::now() + timeout;
    life.deadline.set(Some(deadline));
    // (1)
    life.stop.set();
    accept_loops_done.await;
    // (2)
    ctx.with_shard(|s, now| s.shutdown_wills(now));
    for out in core.links.iter().flatten() {
        out.send_wills_done();
    }
    // (3)
    let all_wills = ctx
        .until(deadline, async {
            while life.wills_from.get() < peers {
                life.wills_wake.notified().await;
            }
        })
        .await;
    if all_wills.is_none() {
        warn!(
            shard,
            "shutdown: not every shard reported its wills in time"
        );
    }
    // Our own markers must be in their channels before this shard stops and cancels the
    // sending tasks, or a peer would wait for them until the deadline.
    let sent = ctx
        .until(deadline, async {
            for out in core.links.iter().flatten() {
                out.wills_delivered.wait().await;
            }
        })
        .await;
    if sent.is_none() {
        warn!(shard, "shutdown: a wills-done marker was not sent in time");
    }
    ctx.with_shard(|s, now| s.shutdown_close(now));
    // (4)
    if ctx.until(deadline, life.all_ended()).await.is_none() {
        warn!(
            shard,
            left = life.live(),
            "shutdown: connections still flushing at the deadline are cut"
        );
        core.abort_all();
        let _ = ctx
            .until(Instant::now() + ABORT_GRACE, life.all_ended())
            .await;
    }
    debug!(shard, "shutdown steps done");
}
