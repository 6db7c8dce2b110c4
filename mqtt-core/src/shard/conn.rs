//! Per-connection state: the lifecycle enum, decode options, keep alive, aliases, and the
//! write buffer the shard encodes into.

use core::net::SocketAddr;

use bytes::BytesMut;
use mqtt_proto::{Connect, DecodeOptions, LastWill, ProtocolVersion};

use super::auth_exchange::AuthExchange;
use crate::alias::{InboundAliases, OutboundAliases};
use crate::ids::SessionId;
use crate::time::Timestamp;

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
    pub(crate) keep_alive_ms: u64,
    pub(crate) keep_alive_timer: Option<Timestamp>,
    pub(crate) connect_deadline: Option<Timestamp>,
    pub(crate) limits: PeerLimits,
    pub(crate) inbound_aliases: InboundAliases,
    pub(crate) outbound_aliases: OutboundAliases,
    pub(crate) will: Option<LastWill>,
    /// Where authentication stands: method, a deferred request, input held meanwhile.
    pub(crate) auth: AuthExchange,
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
            keep_alive_timer: None,
            connect_deadline: None,
            limits: PeerLimits {
                receive_maximum: u16::MAX,
                max_packet_size: mqtt_proto::MAX_PACKET_SIZE,
                problem_information: true,
            },
            inbound_aliases: InboundAliases::default(),
            outbound_aliases: OutboundAliases::new(0),
            will: None,
            auth: AuthExchange::default(),
            connect_expiry_zero: true,
            assigned_client_id: false,
            connect_version_known: false,
            peer_paused: false,
        }
    }

    pub(crate) fn session(&self) -> Option<SessionId> {
        match self.state {
            ConnState::Connected(s) => Some(s),
            _ => None,
        }
    }
}
