//! Per-connection state: the lifecycle enum, decode options, keep alive, aliases, and the
//! write buffer the shard encodes into.
//!
//! A shard holds one [`Connection`] per client, most of them idle, so its size is kept
//! small: what only some connections use (a will, an authentication exchange, topic alias
//! tables) is boxed and allocated on first use, and the buffers a burst grew are given back
//! at the connection's next quiet moment ([`Shard::release_idle`]).

use core::net::SocketAddr;
use core::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use bytes::BytesMut;
use mqtt_proto::{Connect, DecodeOptions, LastWill, ProtocolVersion};

use super::auth_exchange::AuthExchange;
use super::Shard;
use crate::alias::{InboundAliases, OutboundAliases};
use crate::ids::{ConnId, SessionId};
use crate::time::Timestamp;

/// The shard's connections. Boxed: the table then holds 16 bytes a slot rather than a whole
/// [`Connection`], so its spare slots (up to half of them after it grows) cost little, and
/// growing it moves pointers, not connections.
pub(crate) type ConnTable = ahash::AHashMap<ConnId, Box<Connection>>;

/// Where a connection is in its life (STYLE.md point 5).
#[derive(Debug)]
pub(crate) enum ConnState {
    /// Accepted; CONNECT not yet received.
    AwaitingConnect,
    /// CONNECT received; the authenticator has not yet allowed it.
    Authenticating(Box<Connect>),
    /// CONNACK sent; bound to a session.
    Connected(SessionId),
}

/// What the client told us about itself in CONNECT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLimits {
    /// The client's Receive Maximum.
    pub(crate) receive_maximum: u16,
    /// The client's Maximum Packet Size.
    pub(crate) max_packet_size: u32,
    /// Whether reason strings may be sent on packets other than CONNACK/DISCONNECT.
    pub(crate) problem_information: bool,
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) state: ConnState,
    pub(crate) version: ProtocolVersion,
    pub(crate) decode: DecodeOptions,
    /// Encoded output not yet taken by the runtime.
    pub(crate) tx: BytesMut,
    /// Whether a `Transmit` output for `tx` is outstanding.
    pub(crate) tx_signalled: bool,
    /// Since when `tx` has been waiting to be taken.
    pub(crate) tx_since: Option<Timestamp>,
    pub(crate) send_timer: Option<Timestamp>,
    pub(crate) last_rx: Timestamp,
    /// Keep alive window (1.5 × keep alive) in milliseconds; 0 disables it.
    pub(crate) keep_alive_ms: u32,
    /// The CONNECT deadline until CONNECT completes ([`Timer::ConnectTimeout`]), then the
    /// armed keep-alive check ([`Timer::KeepAlive`]): never both at once, so one field.
    ///
    /// [`Timer::ConnectTimeout`]: crate::timer::Timer::ConnectTimeout
    /// [`Timer::KeepAlive`]: crate::timer::Timer::KeepAlive
    pub(crate) timer: Option<Timestamp>,
    pub(crate) limits: PeerLimits,
    pub(crate) inbound_aliases: InboundAliases,
    pub(crate) outbound_aliases: OutboundAliases,
    pub(crate) will: Option<Box<LastWill>>,
    /// Where authentication stands: method, a deferred request, input held meanwhile.
    pub(crate) auth: LazyAuth,
    /// Session Expiry Interval the client sent in CONNECT was 0 (then DISCONNECT may not
    /// raise it [MQTT-3.14.2-2]).
    pub(crate) connect_expiry_zero: bool,
    /// The broker assigned the client identifier (sent back in CONNACK).
    pub(crate) assigned_client_id: bool,
    /// A CONNECT that failed to decode named a known protocol version (`version` holds it).
    pub(crate) connect_version_known: bool,
    /// A PUBLISH waits in the runtime's buffer until the outboxes to other shards drain
    /// (see `peer.rs`).
    pub(crate) peer_paused: bool,
    /// The session's queue (or its deferred re-sends) held messages when it was last pumped:
    /// [`Shard::take_transmit`] pumps again, as the room it makes may let them go. Without
    /// it, nothing waits and taking the output touches only the connection.
    pub(crate) backlog: bool,
}

impl Connection {
    pub(crate) fn new(peer: Option<SocketAddr>, now: Timestamp, decode: DecodeOptions) -> Self {
        Self {
            peer,
            state: ConnState::AwaitingConnect,
            version: ProtocolVersion::V5,
            decode,
            tx: BytesMut::new(),
            tx_signalled: false,
            tx_since: None,
            send_timer: None,
            last_rx: now,
            keep_alive_ms: 0,
            timer: None,
            limits: PeerLimits {
                receive_maximum: u16::MAX,
                max_packet_size: mqtt_proto::MAX_PACKET_SIZE,
                problem_information: true,
            },
            inbound_aliases: InboundAliases::default(),
            outbound_aliases: OutboundAliases::new(0),
            will: None,
            auth: LazyAuth::default(),
            connect_expiry_zero: true,
            assigned_client_id: false,
            connect_version_known: false,
            peer_paused: false,
            backlog: false,
        }
    }

    pub(crate) fn session(&self) -> Option<SessionId> {
        match self.state {
            ConnState::Connected(s) => Some(s),
            _ => None,
        }
    }

    /// Gives back an empty write buffer's memory and an authentication exchange that is
    /// over (see [`Shard::release_idle`]).
    pub(crate) fn release_idle(&mut self) {
        if self.tx.is_empty() {
            // Shared with bytes the runtime may still be writing; freed when both let go.
            self.tx = BytesMut::new();
        }
        self.auth.release_if_done();
    }
}

impl Shard {
    /// Housekeeping at a quiet moment of a connection: when its send timer finds all output
    /// taken, and at each keep-alive check (so within 1.5 × keep alive, and within the send
    /// timeout of its last output). The buffers and tables a burst grew (write buffer,
    /// outbound queue, inflight table, inbound QoS 2 set) give their memory back where they
    /// are empty. Never on the hot path, so a busy connection keeps reusing what it grew.
    pub(crate) fn release_idle(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.release_idle();
        if let Some(s) = c.session().and_then(|sid| self.sessions.get_mut(&sid)) {
            s.release_idle();
        }
    }
}

/// The connection's [`AuthExchange`], allocated on first write. Most connections never
/// authenticate with a method nor wait for a deferred answer: for them this is one pointer,
/// and reading it gives an empty exchange.
#[derive(Debug, Default)]
pub(crate) struct LazyAuth(Option<Box<AuthExchange>>);

impl LazyAuth {
    /// Drops the exchange once it holds nothing a later AUTH or answer needs.
    pub(crate) fn release_if_done(&mut self) {
        if self.0.as_ref().is_some_and(|a| {
            a.method.is_none() && a.pending.is_none() && !a.reauthenticating && a.held.is_empty()
        }) {
            self.0 = None;
        }
    }
}

impl Deref for LazyAuth {
    type Target = AuthExchange;

    #[inline]
    fn deref(&self) -> &AuthExchange {
        static EMPTY: OnceLock<AuthExchange> = OnceLock::new();
        match &self.0 {
            Some(a) => a,
            None => EMPTY.get_or_init(AuthExchange::default),
        }
    }
}

impl DerefMut for LazyAuth {
    /// Allocates the exchange: write only what a connection really needs to remember.
    #[inline]
    fn deref_mut(&mut self) -> &mut AuthExchange {
        self.0.get_or_insert_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression guard: a `Connection` lives in the shard's table for every client.
    #[test]
    fn connection_stays_small() {
        let size = core::mem::size_of::<Connection>();
        assert!(size <= 224, "Connection is {size} bytes");
    }

    #[test]
    fn auth_exchange_is_allocated_on_first_write_and_released_when_done() {
        let mut a = LazyAuth::default();
        assert!(a.method.is_none() && a.pending.is_none() && a.held.is_empty());
        assert!(a.0.is_none(), "reading allocates nothing");
        a.reauthenticating = true;
        assert!(a.0.is_some());
        a.release_if_done();
        assert!(a.0.is_some(), "an exchange under way is kept");
        a.reauthenticating = false;
        a.release_if_done();
        assert!(a.0.is_none());
    }

    #[test]
    fn quiet_connection_gives_back_a_grown_write_buffer() {
        let mut c = Connection::new(None, Timestamp(0), DecodeOptions::default());
        c.tx.reserve(64 * 1024);
        c.tx.extend_from_slice(b"pending");
        c.release_idle();
        assert!(c.tx.capacity() >= 64 * 1024, "bytes still to send are kept");
        let _taken = c.tx.split();
        c.release_idle();
        assert_eq!(c.tx.capacity(), 0);
    }
}
