//! The state one shard's tasks share, written once for both runtimes ([`Core`]): the state
//! machine, the connection table, the links' sending sides, the timer's deadline, the read
//! buffer and the [`Lifecycle`]; the dispatch of the shard's outputs to connection tasks and
//! links; and the timer task ([`timer_task`]).
//!
//! A runtime's shard context holds a `Core` and adds what is its own: how a task is spawned,
//! sockets, and parking. `S` is how a socket travels between shards; `P` is what the table
//! keeps of a parked connection (its descriptor; `Infallible` where the runtime does not park).

use core::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;
use mqtt_core::{AuthDecision, ConnId, Output, Shard, ShardId, Timestamp};
use mqtt_proto::ConnectReasonCode;
use tracing::{debug, warn};

use crate::conn::{ConnCtl, End};
use crate::lifecycle::{Lifecycle, ShardHost};
use crate::link::LinkOut;
use crate::sync::Notify;
use crate::{Clock, SharedCounters};

/// Size of the per-shard read buffer every connection reads into.
pub const SCRATCH_SIZE: usize = 64 * 1024;

/// A connection in the shard's table.
#[derive(Debug)]
pub enum Slot<P> {
    /// Served by its task.
    Live(Rc<ConnCtl>),
    /// Parked: only what the runtime keeps of it (glommio: its descriptor).
    Parked(P),
}

/// What the dispatch tells a connection: set on its control block, or on the one of a
/// parked connection's new task.
#[derive(Debug)]
pub enum Signal {
    /// `Output::Transmit`.
    Transmit,
    /// `Output::ResumeRead`.
    Resume,
    /// `Output::Close` or `Output::Handover`.
    End(End),
}

impl Signal {
    /// Sets the flag on `ctl` (the caller wakes the task).
    pub fn apply(self, ctl: &ConnCtl) {
        match self {
            Signal::Transmit => ctl.tx_ready.set(true),
            Signal::Resume => ctl.resume.set(true),
            Signal::End(end) => ctl.end.set(Some(end)),
        }
    }
}

/// State shared by the tasks of one shard (all on one thread).
#[derive(Debug)]
pub struct Core<S, P> {
    /// This shard.
    pub id: ShardId,
    /// The state machine. Borrowed only inside synchronous code, never across an await.
    pub shard: RefCell<Shard>,
    /// The broker's clock.
    pub clock: Clock,
    /// The connections (served or parked), by id.
    pub conns: RefCell<AHashMap<ConnId, Slot<P>>>,
    next_conn: Cell<u64>,
    /// Index = destination shard; `None` for this shard.
    pub links: Vec<Option<Rc<LinkOut<S>>>>,
    /// The deadline the timer task sleeps until, and its wake-up to re-arm.
    timer_at: Cell<Option<Timestamp>>,
    timer_wake: Notify,
    /// The per-shard read buffer (borrowed only within one poll).
    pub scratch: RefCell<Vec<u8>>,
    /// Stop reading a connection whose unconsumed input exceeds this.
    pub max_rx: usize,
    /// Connection tasks, shutdown and its deadline, the peers' wills-done markers.
    pub life: Lifecycle,
    /// The runtime's counters, shared with the broker handle.
    pub counters: Arc<SharedCounters>,
}

impl<S, P> Core<S, P> {
    /// The state of shard `shard.id()` of `count`; input over `max_rx` unconsumed bytes pauses
    /// a connection's reading.
    pub fn new(
        shard: Shard,
        id: ShardId,
        count: u16,
        clock: Clock,
        counters: Arc<SharedCounters>,
        max_rx: usize,
    ) -> Self {
        let links = (0..count)
            .map(|i| (i != id.0).then(|| Rc::new(LinkOut::default())))
            .collect();
        Self {
            id,
            shard: RefCell::new(shard),
            clock,
            conns: RefCell::new(AHashMap::new()),
            next_conn: Cell::new(0),
            links,
            timer_at: Cell::new(None),
            timer_wake: Notify::default(),
            scratch: RefCell::new(vec![0; SCRATCH_SIZE]),
            max_rx,
            life: Lifecycle::default(),
            counters,
        }
    }

    /// The state of shard `id` of `count` as `config` asks: its authenticator and ACL, and
    /// input paused past the maximum packet size.
    pub fn from_config(
        config: &ringmq_config::BrokerConfig,
        id: ShardId,
        count: u16,
        clock: Clock,
        counters: Arc<SharedCounters>,
    ) -> Self {
        let mut shard = Shard::with_shards(config.core.clone(), id, count);
        shard.set_authenticator(config.authenticator());
        shard.set_acl(config.acl());
        let max_rx = usize::try_from(config.core.max_packet_size).unwrap_or(usize::MAX);
        Self::new(shard, id, count, clock, counters, max_rx)
    }

    /// Keeps a parked connection in the table (the runtime has put it in its epoll set).
    pub fn hold_parked(&self, id: ConnId, parked: P) {
        self.conns.borrow_mut().insert(id, Slot::Parked(parked));
        SharedCounters::bump(&self.counters.parked);
    }

    /// Now, on the broker's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The sending side of the link to `to`.
    pub fn link(&self, to: ShardId) -> Option<&Rc<LinkOut<S>>> {
        self.links.get(usize::from(to.0)).and_then(Option::as_ref)
    }

    /// A fresh connection id: this shard in the high 16 bits, a counter below.
    pub fn next_conn_id(&self) -> ConnId {
        let n = self.next_conn.get() + 1;
        self.next_conn.set(n);
        ConnId((u64::from(self.id.0) << 48) | (n & 0xFFFF_FFFF_FFFF))
    }

    /// Puts a served connection in the table; its control block.
    pub fn register(&self, id: ConnId) -> Rc<ConnCtl> {
        let ctl = Rc::new(ConnCtl::default());
        self.conns.borrow_mut().insert(id, Slot::Live(ctl.clone()));
        ctl
    }

    /// Runs `f` on the shard, then dispatches its outputs; `unpark` serves a parked
    /// connection again, with the signal that woke it.
    pub fn run<T>(
        &self,
        f: impl FnOnce(&mut Shard, Timestamp) -> T,
        unpark: impl Fn(ConnId, P, Option<Signal>),
    ) -> T {
        let now = self.now();
        let out = f(&mut self.shard.borrow_mut(), now);
        self.dispatch(unpark);
        out
    }

    /// Drains `poll_output` and acts on each output; then re-arms the timer if the shard's
    /// next deadline moved earlier.
    pub fn dispatch(&self, unpark: impl Fn(ConnId, P, Option<Signal>)) {
        loop {
            let out = self.shard.borrow_mut().poll_output();
            let Some(out) = out else { break };
            match out {
                Output::Transmit(c) => self.signal(c, Signal::Transmit, &unpark),
                Output::ResumeRead(c) => self.signal(c, Signal::Resume, &unpark),
                Output::Close { conn, last } => {
                    self.signal(conn, Signal::End(End::Close(last)), &unpark);
                }
                Output::Handover { conn, to, buffered } => {
                    self.signal(conn, Signal::End(End::Handover(to, buffered)), &unpark);
                }
                Output::PeerReady(to) => match self.link(to) {
                    Some(l) => l.wake.notify(),
                    None => warn!(shard = self.id.0, to = to.0, "output for an unknown shard"),
                },
                Output::Auth(req) => {
                    // The configured authenticators answer at once; an asynchronous
                    // authentication hook does not exist yet, so a deferred request is refused.
                    warn!(
                        shard = self.id.0,
                        client = %req.client_id,
                        "deferred authentication is not supported by this runtime: refused"
                    );
                    let now = self.now();
                    self.shard.borrow_mut().handle_auth(
                        req.conn,
                        AuthDecision::Deny(ConnectReasonCode::ServerUnavailable),
                        now,
                    );
                }
            }
        }
        self.rearm_timer();
    }

    /// Sets a flag on a connection's control block and wakes its task; a parked connection
    /// wakes with the flag set.
    fn signal(&self, conn: ConnId, signal: Signal, unpark: &impl Fn(ConnId, P, Option<Signal>)) {
        let mut conns = self.conns.borrow_mut();
        match conns.get(&conn) {
            Some(Slot::Live(ctl)) => {
                signal.apply(ctl);
                ctl.wake();
            }
            Some(Slot::Parked(_)) => {
                if let Some(Slot::Parked(p)) = conns.remove(&conn) {
                    drop(conns);
                    unpark(conn, p, Some(signal));
                }
            }
            None => {}
        }
    }

    fn rearm_timer(&self) {
        let next = self.shard.borrow().poll_timeout();
        let earlier = match (next, self.timer_at.get()) {
            (Some(n), Some(armed)) => n < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            self.timer_wake.notify();
        }
    }

    /// A connection's task has ended (its connection is closed or moved).
    pub fn task_ended(&self, id: ConnId) {
        self.conns.borrow_mut().remove(&id);
        self.life.task_ended();
    }

    /// Ends every connection task at once, and closes parked connections (the shard is
    /// stopping).
    pub fn abort_all(&self) {
        let mut parked = Vec::new();
        self.conns.borrow_mut().retain(|id, slot| match slot {
            Slot::Live(ctl) => {
                ctl.abort.set(true);
                ctl.wake();
                true
            }
            Slot::Parked(_) => {
                parked.push(*id);
                false
            }
        });
        for _ in parked {
            self.life.task_ended();
        }
    }

    /// Takes a parked connection out of the table (to serve it again); `None` if it is not
    /// parked.
    pub fn take_parked(&self, id: ConnId) -> Option<P> {
        let mut conns = self.conns.borrow_mut();
        if !matches!(conns.get(&id), Some(Slot::Parked(_))) {
            return None;
        }
        match conns.remove(&id) {
            Some(Slot::Parked(p)) => Some(p),
            _ => None,
        }
    }

    /// The ids of the parked connections.
    pub fn parked_ids(&self) -> Vec<ConnId> {
        self.conns
            .borrow()
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Parked(_)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// One sweep of idle connections: each live one counts a quiet sweep, or asks to park
    /// after two ([`ConnCtl::sweep`]).
    pub fn sweep(&self) {
        for slot in self.conns.borrow().values() {
            if let Slot::Live(ctl) = slot {
                ctl.sweep();
            }
        }
    }

    /// A peer's wills have all arrived.
    pub fn wills_done_from(&self, from: ShardId) {
        debug!(shard = self.id.0, from = from.0, "wills done");
        self.life.wills_done_from();
    }
}

/// Every half idle time, asks the connections that stayed quiet since the sweep before the
/// last one to park ([`Core::sweep`]), until shutdown begins.
pub async fn sweep_task<H: ShardHost>(ctx: Rc<H>, idle: core::time::Duration) {
    let period = (idle / 2).max(core::time::Duration::from_millis(1));
    let core = ctx.core();
    while !core.life.stopping() {
        let _ = ctx
            .until(
                std::time::Instant::now() + period,
                core::future::pending::<()>(),
            )
            .await;
        core.sweep();
    }
}

/// Fires the shard's timers: sleeps until `poll_timeout`, woken early when a dispatch moves
/// the deadline earlier.
pub async fn timer_task<H: ShardHost>(ctx: Rc<H>) {
    let core = ctx.core();
    loop {
        let next = core.shard.borrow().poll_timeout();
        core.timer_at.set(next);
        match next {
            None => core.timer_wake.notified().await,
            Some(at) if at > core.now() => {
                let _ = ctx
                    .until(core.clock.instant(at), core.timer_wake.notified())
                    .await;
            }
            Some(_) => {
                core.timer_at.set(None);
                ctx.with_shard(|s, now| s.handle_timeout(now));
                ctx.yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use bytes::BytesMut;
    use std::time::Instant;

    /// A v3.1.1 CONNECT: empty client id, clean session, keep alive 60.
    const CONNECT: &[u8] = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";

    fn core() -> Core<(), u32> {
        let shard = Shard::with_shards(mqtt_core::Config::default(), ShardId(1), 2);
        let clock = Clock::new(Instant::now());
        Core::new(shard, ShardId(1), 2, clock, Arc::default(), 1024)
    }

    /// Feeds CONNECT to `id` (accepted first) and records the unparks the dispatch asks for.
    fn connect(core: &Core<(), u32>, id: ConnId) -> Vec<(ConnId, u32, String)> {
        let unparked = RefCell::new(Vec::new());
        let unpark = |c, p, s: Option<Signal>| unparked.borrow_mut().push((c, p, format!("{s:?}")));
        core.run(|s, now| s.handle_accept(id, None, now), unpark);
        let mut buf = BytesMut::from(CONNECT);
        core.run(|s, now| s.handle_bytes(id, &mut buf, now), unpark);
        unparked.into_inner()
    }

    #[test]
    fn ids_carry_the_shard_and_links_skip_this_shard() {
        let core = core();
        assert_eq!(core.next_conn_id(), ConnId((1 << 48) | 1));
        assert_eq!(core.next_conn_id(), ConnId((1 << 48) | 2));
        assert!(core.link(ShardId(0)).is_some());
        assert!(core.link(ShardId(1)).is_none());
        assert!(core.link(ShardId(2)).is_none());
    }

    #[test]
    fn an_output_sets_a_live_connections_flag_and_unparks_a_parked_one_with_it() {
        let core = core();
        let live = core.next_conn_id();
        let ctl = core.register(live);
        assert!(connect(&core, live).is_empty());
        assert!(ctl.tx_ready.get(), "the CONNACK is announced to the task");

        let parked = core.next_conn_id();
        core.conns.borrow_mut().insert(parked, Slot::Parked(7));
        let unparked = connect(&core, parked);
        assert_eq!(unparked, [(parked, 7, "Some(Transmit)".to_owned())]);
        assert!(
            !core.conns.borrow().contains_key(&parked),
            "the runtime puts the woken connection back"
        );
    }

    #[test]
    fn abort_all_aborts_live_tasks_and_closes_parked_connections() {
        let core = core();
        let (a, b) = (core.next_conn_id(), core.next_conn_id());
        let ctl = core.register(a);
        core.conns.borrow_mut().insert(b, Slot::Parked(1));
        core.life.task_started();
        core.life.task_started();
        core.abort_all();
        assert!(ctl.abort.get());
        assert_eq!(
            core.life.live(),
            1,
            "the parked one is closed and counted out"
        );
        assert!(core.conns.borrow().contains_key(&a));
        assert!(!core.conns.borrow().contains_key(&b));
        core.task_ended(a);
        assert_eq!(core.life.live(), 0);
        assert!(core.conns.borrow().is_empty());
    }
}
