//! The [`Shard`]: everything one core owns, driven through `handle_*` inputs and drained
//! through `poll_*` outputs.
//!
//! # Contract
//! After any `handle_*` call, drain [`Shard::poll_output`] until it returns `None`, then read
//! [`Shard::poll_timeout`] and call [`Shard::handle_timeout`] when that instant comes. For
//! every [`Output::Transmit`], call [`Shard::take_transmit`] once the connection's socket can
//! take more bytes, and write what it returns in one write; for every [`Output::PeerReady`],
//! call [`Shard::take_peer`] once the link to that shard can take a message. `now` never goes
//! backwards.

mod auth_exchange;
mod client_index;
mod conn;
mod connect;
mod deliver;
mod home;
mod introspect;
mod lifecycle;
mod peer;
mod publish;
mod routing;
mod shared_cluster;
mod shutdown;
mod sub_barrier;
mod subscribe;
mod sys;
mod sys_agg;

use core::net::SocketAddr;
use std::collections::VecDeque;

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};
use mqtt_proto::{
    DecodeError, DecodeOptions, Disconnect, DisconnectReasonCode, Packet, ProtocolVersion, Role,
};

use crate::auth::{Acl, AllowAll, AuthRequest, Authenticator};
use crate::config::Config;
use crate::ids::{ConnId, SessionId, ShardId};
use crate::message::SharedMessage;
use crate::retained::RetainedStore;
use crate::session::{SessionTable, SubEntry};
use crate::stats::Stats;
use crate::subscriptions::{FilterTrie, SharedSubscriptions};
use crate::time::Timestamp;
use crate::timer::{Timer, Timers};

pub(crate) use conn::{ConnState, ConnTable, Connection};
use deliver::WireCache;
pub use introspect::Occupancy;
use peer::PeerTransport;
use routing::{Routing, RoutingMsg};
use shared_cluster::{ShareMsg, ShareView};
use sub_barrier::{BarrierMsg, SubBarrier};
pub(crate) use sys_agg::{SysAggregate, SysFigures};

/// Something the runtime must do.
#[derive(Debug)]
pub enum Output {
    /// The connection has bytes to send: call [`Shard::take_transmit`] when it can write.
    Transmit(ConnId),
    /// Write `last` (everything not yet taken, possibly empty), then close the connection.
    /// The shard has already forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
        /// Final bytes, e.g. a DISCONNECT or a refusing CONNACK.
        last: Bytes,
    },
    /// Ask the runtime to authenticate; answer with [`Shard::handle_auth`]. Boxed: it is
    /// rare, and every other output (a `Transmit` per write) would otherwise be its size.
    Auth(Box<AuthRequest>),
    /// Messages for another shard are waiting: call [`Shard::take_peer`] when the link to it
    /// can take one more message, and carry what it returns (links are FIFO per pair of
    /// shards). Emitted once each time the outbox for that shard becomes non-empty.
    PeerReady(ShardId),
    /// Hand a connection over to its home shard: move the socket there and call
    /// [`Shard::handle_handover`] on that shard with `buffered`. This shard has forgotten it.
    Handover {
        /// The connection.
        conn: ConnId,
        /// The home shard.
        to: ShardId,
        /// The CONNECT as it arrived, followed by every byte read after it.
        buffered: BytesMut,
    },
    /// A connection whose input was paused (an outbox to another shard was over
    /// `max_peer_queue`) may go on: call [`Shard::handle_bytes`] with what is buffered for it,
    /// and read its socket again.
    ResumeRead(ConnId),
}

/// A message between shards; opaque to the runtime, which only carries it.
#[derive(Debug, Clone)]
pub struct ShardMsg(pub(crate) ShardMsgInner);

impl ShardMsg {
    /// A message to deliver to the receiving shard's local subscribers.
    pub fn deliver(msg: SharedMessage) -> Self {
        Self(ShardMsgInner::Deliver(msg))
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ShardMsgInner {
    /// Deliver to local subscribers.
    Deliver(SharedMessage),
    /// Several messages, handled in order (what [`Shard::take_peer`] returns).
    Batch(Vec<ShardMsgInner>),
    /// Shard 0 asks for this shard's `$SYS` figures (round number).
    SysRequest(u64),
    /// A shard's `$SYS` figures, answering the request of that round.
    SysReport(u64, Box<SysFigures>),
    /// Shared subscriptions across shards (`shared_cluster.rs`).
    Share(ShareMsg),
    /// A SUBACK's barrier round trip (`sub_barrier.rs`).
    Barrier(BarrierMsg),
    /// Plain subscriptions' interest and retained messages across shards (`routing/`).
    Routing(RoutingMsg),
}

/// One core's broker state.
#[derive(Debug)]
pub struct Shard {
    pub(crate) id: ShardId,
    /// Number of shards in the broker (1 for a single shard).
    pub(crate) shard_count: u16,
    pub(crate) config: Config,
    pub(crate) conns: ConnTable,
    pub(crate) sessions: SessionTable,
    pub(crate) by_client: client_index::ClientIndex,
    next_session: u64,
    pub(crate) subs: FilterTrie<SessionId, SubEntry>,
    pub(crate) shared: SharedSubscriptions<SessionId, SubEntry>,
    pub(crate) retained: RetainedStore,
    pub(crate) retained_timer: Option<Timestamp>,
    pub(crate) timers: Timers,
    outputs: VecDeque<Output>,
    pub(crate) authenticator: Box<dyn Authenticator>,
    pub(crate) acl: Box<dyn Acl>,
    pub(crate) stats: Stats,
    rng: u64,
    pub(crate) started: Option<Timestamp>,
    pub(crate) sys_timer: Option<Timestamp>,
    /// Outboxes to the other shards, and the connections paused while one is over its bound.
    pub(crate) peer: PeerTransport,
    /// On shard 0: the other shards' latest `$SYS` figures.
    pub(crate) sys_agg: SysAggregate,
    /// Every shared group of the broker with its member count per shard.
    pub(crate) share_view: ShareView,
    /// SUBACKs held until the other shards applied what their SUBSCRIBE announced.
    pub(crate) sub_barrier: SubBarrier,
    /// The interest map, message ids and retained messages across shards (`routing/`).
    pub(crate) routing: Routing,
    /// Set by [`Shard::shutdown_wills`]: new connections are closed at once.
    pub(crate) shutting_down: bool,
    /// The encoded PUBLISH frames of the message being routed, kept between messages so its
    /// buffer is reused (`deliver.rs`).
    wire: WireCache,
}

/// The parts of a shard that writing to one connection touches, borrowed apart from the
/// session and connection tables ([`Shard::parts`]), so that a delivery holds its session and
/// its connection at once instead of looking them up again for each step.
pub(crate) struct TxSink<'a> {
    pub(crate) stats: &'a mut Stats,
    pub(crate) timers: &'a mut Timers,
    pub(crate) outputs: &'a mut VecDeque<Output>,
    pub(crate) config: &'a Config,
}

impl TxSink<'_> {
    /// Makes sure the runtime hears that `conn` (which is `c`) has bytes to send.
    #[inline]
    pub(crate) fn signal(&mut self, conn: ConnId, c: &mut Connection, now: Timestamp) {
        if c.tx.is_empty() || c.tx_signalled {
            return;
        }
        c.tx_signalled = true;
        if c.tx_since.is_none() {
            c.tx_since = Some(now);
            if c.send_timer.is_none() {
                let at = now.plus_millis(self.config.send_timeout_ms);
                c.send_timer = Some(at);
                self.timers.arm(at, Timer::SendTimeout(conn));
            }
        }
        self.outputs.push_back(Output::Transmit(conn));
    }
}

impl Shard {
    /// A single-shard broker with the allow-all authenticator and ACL.
    pub fn new(config: Config, id: ShardId) -> Self {
        Self::with_shards(config, id, 1)
    }

    /// Shard `id` of a broker of `count` shards (`count` ≥ 1).
    pub fn with_shards(config: Config, id: ShardId, count: u16) -> Self {
        let retained = RetainedStore::new(config.retained);
        Self {
            id,
            shard_count: count.max(1),
            config,
            conns: AHashMap::new(),
            sessions: AHashMap::new(),
            by_client: client_index::ClientIndex::default(),
            next_session: 0,
            subs: FilterTrie::new(),
            shared: SharedSubscriptions::new(),
            retained,
            retained_timer: None,
            timers: Timers::default(),
            outputs: VecDeque::new(),
            authenticator: Box::new(AllowAll),
            acl: Box::new(AllowAll),
            stats: Stats::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ u64::from(id.0),
            started: None,
            sys_timer: None,
            peer: PeerTransport::new(count.max(1)),
            sys_agg: SysAggregate::default(),
            share_view: ShareView::default(),
            sub_barrier: SubBarrier::default(),
            routing: Routing::new(count.max(1)),
            shutting_down: false,
            wire: WireCache::default(),
        }
    }

    /// Replaces the authenticator.
    pub fn set_authenticator(&mut self, a: Box<dyn Authenticator>) {
        self.authenticator = a;
    }

    /// Replaces the access control list.
    pub fn set_acl(&mut self, acl: Box<dyn Acl>) {
        self.acl = acl;
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of this shard.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of sessions (connected or not).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A new connection was accepted.
    /// During shutdown it is closed at once.
    pub fn handle_accept(&mut self, conn: ConnId, peer: Option<SocketAddr>, now: Timestamp) {
        if self.shutting_down {
            self.push_output(Output::Close {
                conn,
                last: Bytes::new(),
            });
            return;
        }
        self.start(now);
        let decode = DecodeOptions {
            version: ProtocolVersion::V5,
            sender: Role::Client,
            max_packet_size: self.config.max_connect_packet_size,
            topic_alias_maximum: 0,
            max_user_properties: self.config.max_user_properties,
            control_chars: self.config.control_chars,
        };
        let mut c = Connection::new(peer, now, decode);
        let deadline = now.plus_millis(self.config.connect_timeout_ms);
        c.timer = Some(deadline);
        self.timers.arm(deadline, Timer::ConnectTimeout(conn));
        self.conns.insert(conn, Box::new(c));
    }

    /// Adopts a connection another shard handed over ([`Output::Handover`]): as
    /// [`Shard::handle_accept`] followed by [`Shard::handle_bytes`] with the bytes it had read.
    pub fn handle_handover(
        &mut self,
        conn: ConnId,
        peer: Option<SocketAddr>,
        buffered: &mut BytesMut,
        now: Timestamp,
    ) {
        self.handle_accept(conn, peer, now);
        self.handle_bytes(conn, buffered, now);
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// Number of shards in the broker.
    pub fn shard_count(&self) -> u16 {
        self.shard_count
    }

    /// Bytes arrived. Whole packets are consumed from `buf`; a partial one stays there, and
    /// so does a PUBLISH while an outbox to another shard is over its bound (the connection
    /// is paused until [`Output::ResumeRead`]).
    /// While the shard holds a connection's input itself (a deferred CONNECT authentication,
    /// see [`Shard::handle_auth`]) it takes all of `buf`.
    pub fn handle_bytes(&mut self, conn: ConnId, buf: &mut BytesMut, now: Timestamp) {
        self.start(now);
        if self.intercept_input(conn, buf, now) {
            return;
        }
        self.decode_input(conn, buf, now);
    }

    /// Decodes and handles whole packets from `buf` until only a partial one is left, the
    /// connection is gone, or its input must be held.
    pub(crate) fn decode_input(&mut self, conn: ConnId, buf: &mut BytesMut, now: Timestamp) {
        loop {
            if self.pause_for_peers(conn, buf, now) {
                return;
            }
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let connect_frame = home::connect_frame(self.shard_count, c, buf);
            if c.auth.holds_input(&c.state) {
                return self.hold_input(conn, buf, now);
            }
            let before = buf.len();
            match Packet::decode(buf, &c.decode) {
                Ok(Some(packet)) => {
                    c.last_rx = now;
                    if self.hand_over_if_foreign(conn, &packet, connect_frame, buf) {
                        return;
                    }
                    self.stats.bytes_received += (before - buf.len()) as u64;
                    self.handle_packet(conn, packet, now);
                }
                Ok(None) => return,
                Err(e) => {
                    if matches!(c.state, ConnState::AwaitingConnect) {
                        // The CONNECT is still in `buf`: answer in the version it names.
                        c.version = mqtt_proto::peek_connect_version(buf).unwrap_or(c.version);
                        c.connect_version_known = mqtt_proto::peek_connect_version(buf).is_some();
                    }
                    self.protocol_error(conn, e, now);
                    return;
                }
            }
        }
    }

    /// The connection closed (peer closed, I/O error). Treated as an abnormal close.
    pub fn handle_closed(&mut self, conn: ConnId, now: Timestamp) {
        if self.conns.contains_key(&conn) {
            self.drop_connection(conn, true, now);
        }
    }

    /// Time has come: fire every due timer.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.start(now);
        while let Some((at, t)) = self.timers.pop_due(now) {
            self.fire(at, t, now);
        }
    }

    /// A message from another shard (what its [`Shard::take_peer`] returned).
    pub fn handle_peer(&mut self, from: ShardId, msg: ShardMsg, now: Timestamp) {
        self.start(now);
        self.peer_message(from, msg.0, now);
    }

    /// One cross-shard message; a batch is unpacked in order.
    fn peer_message(&mut self, from: ShardId, msg: ShardMsgInner, now: Timestamp) {
        match msg {
            ShardMsgInner::Batch(batch) => {
                for m in batch {
                    self.peer_message(from, m, now);
                }
            }
            ShardMsgInner::Deliver(m) => self.handle_forwarded(from, &m, now),
            ShardMsgInner::SysRequest(round) => self.sys_request(from, round),
            ShardMsgInner::SysReport(round, figures) => self.sys_report(from, round, figures, now),
            ShardMsgInner::Share(m) => self.handle_share(from, m, now),
            ShardMsgInner::Barrier(m) => self.handle_barrier(from, m, now),
            ShardMsgInner::Routing(m) => self.handle_routing(from, m, now),
        }
    }

    /// The next thing the runtime must do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Shard::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.next()
    }

    /// Takes everything encoded for `conn` so far (one write for the runtime).
    #[must_use]
    pub fn take_transmit(&mut self, conn: ConnId, now: Timestamp) -> Option<Bytes> {
        let c = self.conns.get_mut(&conn)?;
        c.tx_signalled = false;
        c.tx_since = None;
        if c.tx.is_empty() {
            return None;
        }
        let out = c.tx.split().freeze();
        self.stats.bytes_sent += out.len() as u64;
        // Room again: move queued messages into the window.
        if c.backlog {
            c.backlog = false;
            if let Some(sid) = c.session() {
                self.pump(sid, now);
            }
        }
        Some(out)
    }

    fn start(&mut self, now: Timestamp) {
        if self.started.is_none() {
            self.started = Some(now);
            self.arm_sys(now);
        }
    }

    pub(crate) fn push_output(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    /// A fresh session id.
    pub(crate) fn new_session_id(&mut self) -> SessionId {
        self.next_session += 1;
        SessionId(self.next_session)
    }

    /// Deterministic pseudo-random numbers (xorshift64*), for shared-subscription choice and
    /// assigned client identifiers.
    pub(crate) fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Encodes a packet into the connection's write buffer, fitting the client's Maximum
    /// Packet Size. Returns false if it did not fit (and nothing was written).
    pub(crate) fn send(&mut self, conn: ConnId, packet: &Packet, now: Timestamp) -> bool {
        let (_, conns, _, mut sink) = self.parts();
        let Some(c) = conns.get_mut(&conn) else {
            return false;
        };
        let ok = packet
            .encode_within(c.version, c.limits.max_packet_size, &mut c.tx)
            .is_ok();
        if ok {
            sink.signal(conn, c, now);
        }
        ok
    }

    /// The session and connection tables, the ACL and the [`TxSink`], borrowed apart.
    #[inline]
    pub(crate) fn parts(&mut self) -> (&mut SessionTable, &mut ConnTable, &dyn Acl, TxSink<'_>) {
        (
            &mut self.sessions,
            &mut self.conns,
            &*self.acl,
            TxSink {
                stats: &mut self.stats,
                timers: &mut self.timers,
                outputs: &mut self.outputs,
                config: &self.config,
            },
        )
    }

    /// Closes a connection because of a malformed packet or a protocol violation, with the
    /// reason code the error maps to (CONNACK before CONNECT completes, DISCONNECT after, on
    /// MQTT 5; on 3.x only a CONNACK return code where one exists).
    pub(crate) fn protocol_error(&mut self, conn: ConnId, e: DecodeError, now: Timestamp) {
        self.stats.reject(e.reason_code().0);
        let connected = self
            .conns
            .get(&conn)
            .is_some_and(|c| matches!(c.state, ConnState::Connected(_)));
        if connected {
            let reason = DisconnectReasonCode::from_u8(e.reason_code().0)
                .unwrap_or(DisconnectReasonCode::ProtocolError);
            self.disconnect(conn, reason, now);
        } else {
            self.refuse_connect_error(conn, e, now);
        }
    }

    /// Sends DISCONNECT (v5) with `reason` and closes the connection abnormally (the will is
    /// published).
    pub(crate) fn disconnect(
        &mut self,
        conn: ConnId,
        reason: DisconnectReasonCode,
        now: Timestamp,
    ) {
        let v5 = self.conns.get(&conn).is_some_and(|c| c.version.is_v5());
        if v5 {
            self.send(conn, &Packet::Disconnect(Disconnect::new(reason)), now);
        }
        self.drop_connection(conn, true, now);
    }
}

impl Timestamp {
    /// This instant plus milliseconds, saturating.
    pub const fn plus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}
