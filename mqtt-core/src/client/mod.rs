//! A sans-IO MQTT client: the mirror image of the [`Shard`](crate::Shard), for the load tool,
//! the tests and the async client.
//!
//! # Contract
//! The client performs no I/O and reads no clock. A runtime owns the socket and drives it:
//!
//! - open a socket, then call [`Client::connect`]; it queues CONNECT. Commands
//!   ([`Client::publish`], [`Client::subscribe`], [`Client::unsubscribe`]) may be given at
//!   any time: before CONNACK, while disconnected, or over the server's Receive Maximum they
//!   wait in a bounded queue and go out, in order, as soon as they may;
//! - inputs are [`Client::handle_bytes`] (whole packets are consumed from the read buffer, a
//!   partial one stays there), [`Client::handle_closed`] and [`Client::handle_timeout`]; each
//!   takes `now`, a [`Timestamp`] that never goes backwards, and so do the commands;
//! - after any input or command, write what [`Client::take_transmit`] returns (everything
//!   encoded so far, in one buffer, for one write), drain [`Client::poll_event`], then call
//!   [`Client::handle_timeout`] at [`Client::poll_timeout`];
//! - every connection attempt ends with exactly one [`Event::Disconnected`]: write what
//!   `take_transmit` still returns (a DISCONNECT, possibly), close the socket, and to
//!   reconnect open a new one and call [`Client::connect`] again. Bytes not taken by then are
//!   dropped: they belonged to the old connection.
//!
//! # Sessions
//! The client keeps its session state across connections: QoS 1/2 messages the server has
//! not completed, and QoS 2 messages it received and was not released from. A reconnect
//! asks to resume whenever a session can outlive a connection ([`ClientOptions::clean_start`]).
//! On CONNACK with Session Present, unacknowledged PUBLISH packets are sent again with DUP and
//! PUBREL packets again, with their packet identifiers, in their original order
//! [MQTT-4.4.0-1] [MQTT-4.6.0-1]. Without Session Present the state is discarded
//! [MQTT-3.2.2-5], and what was not acknowledged is published again as new messages (or
//! failed, see [`ClientOptions::resend_on_session_loss`]): at-least-once survives the loss of
//! the server's session, and a QoS 2 message can then arrive twice only if the server had
//! taken it before it lost the session. A QoS 2 message the server had already acknowledged
//! with PUBREC is complete: it is reported [`Event::Published`] with the PUBREC's reason.
//! Subscribes and unsubscribes that were not answered are sent again on the next connection.
//!
//! A new client created with Clean Start 0 treats a Session Present of 1 as resuming an
//! empty session rather than closing as [MQTT-3.2.2-4] asks: that is how an application
//! restarted with a persistent session collects what the server kept for it.
//!
//! On MQTT 3.1, which has no Session Present flag, the session counts as present whenever
//! the CONNECT asked to keep it.

mod error;
mod event;
mod options;
mod outbound;
mod receive;
mod send;
mod wire;

use std::collections::VecDeque;

use ahash::AHashSet;
use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    Auth, AuthReasonCode, ControlChars, DecodeOptions, Disconnect, DisconnectReasonCode, Packet,
    Role, DEFAULT_MAX_USER_PROPERTIES,
};

pub use error::{ClientError, ProtocolViolation};
pub use event::{CloseReason, Connected, Event, PacketToken, ServerLimits};
pub use options::{ClientOptions, OutgoingMessage};

use crate::alias::InboundAliases;
use crate::time::Timestamp;
use outbound::Outbound;
use wire::Wire;

/// Where the client is in a connection's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No connection: before the first [`Client::connect`] or after [`Event::Disconnected`].
    Disconnected,
    /// CONNECT sent, CONNACK not yet received.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// The client's timers; at most one is armed at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// CONNACK is due.
    ConnAck,
    /// Nothing was sent for a keep-alive period: send PINGREQ [MQTT-3.1.2-20].
    Ping,
    /// PINGREQ is unanswered and nothing arrived since.
    PingResponse,
}

/// One MQTT client's state: its session and its current connection.
#[derive(Debug)]
pub struct Client {
    options: ClientOptions,
    state: ConnectionState,
    wire: Wire,
    decode: DecodeOptions,
    events: VecDeque<Event>,
    /// The server's limits on this connection (the protocol's own before CONNACK).
    limits: ServerLimits,
    /// Aliases the server set on this connection.
    inbound_aliases: InboundAliases,
    out: Outbound,
    /// Inbound QoS 2 packet identifiers delivered and not yet released by PUBREL.
    awaiting_rel: AHashSet<u16>,
    next_token: u64,
    /// Session Expiry Interval to ask for: the options', or as DISCONNECT changed it.
    session_expiry: u32,
    /// Session Expiry Interval of the current connection's CONNECT.
    connect_session_expiry: u32,
    /// Clean Start of the current connection's CONNECT.
    clean_start_sent: bool,
    /// A CONNACK accepted a connection before: later CONNECTs may resume the session.
    connected_before: bool,
    connack_deadline: Option<Timestamp>,
    last_rx: Timestamp,
    ping_sent: Option<Timestamp>,
}

impl Client {
    /// A disconnected client.
    pub fn new(options: ClientOptions) -> Self {
        let version = options.version;
        let session_expiry = options.session_expiry;
        Self {
            limits: ServerLimits::assumed(options.keep_alive, session_expiry),
            state: ConnectionState::Disconnected,
            wire: Wire::new(version),
            decode: DecodeOptions::client(version),
            events: VecDeque::new(),
            inbound_aliases: InboundAliases::default(),
            out: Outbound::default(),
            awaiting_rel: AHashSet::new(),
            next_token: 0,
            session_expiry,
            connect_session_expiry: session_expiry,
            clean_start_sent: options.clean_start,
            connected_before: false,
            connack_deadline: None,
            last_rx: Timestamp::ZERO,
            ping_sent: None,
            options,
        }
    }

    /// Starts a connection on a new socket: queues CONNECT. The first CONNECT uses
    /// [`ClientOptions::clean_start`]; later ones ask to resume the session when it can have
    /// outlived the last connection.
    pub fn connect(&mut self, now: Timestamp) -> Result<(), ClientError> {
        if self.state != ConnectionState::Disconnected {
            return Err(ClientError::AlreadyConnected);
        }
        let clean_start = if self.connected_before {
            !self.options.session_persists(self.session_expiry)
        } else {
            self.options.clean_start
        };
        let version = self.options.version;
        let connect = self
            .options
            .connect_packet(clean_start, self.session_expiry);
        // A new connection: nothing of the old one is sent, and no alias carries over
        // [MQTT-3.3.2-7].
        self.wire.tx.clear();
        self.wire.version = version;
        self.wire.max_packet_size = mqtt_proto::MAX_PACKET_SIZE;
        self.wire.aliases = crate::alias::OutboundAliases::new(0);
        self.wire.send(&Packet::Connect(Box::new(connect)), now)?;
        self.inbound_aliases = InboundAliases::default();
        self.decode = DecodeOptions {
            version,
            sender: Role::Server,
            max_packet_size: self.options.maximum_packet_size.max(2),
            // [MQTT-3.3.2-10] aliases up to the maximum we send are accepted.
            topic_alias_maximum: if version.is_v5() {
                self.options.topic_alias_maximum
            } else {
                0
            },
            max_user_properties: DEFAULT_MAX_USER_PROPERTIES,
            // Policing strings is the server's job: pass on what it forwards.
            control_chars: ControlChars::Allow,
        };
        self.limits = ServerLimits::assumed(self.options.keep_alive, self.session_expiry);
        self.connect_session_expiry = self.session_expiry;
        self.clean_start_sent = clean_start;
        self.state = ConnectionState::Connecting;
        self.connack_deadline = Some(now.plus_millis(self.options.connect_timeout_ms));
        self.last_rx = now;
        self.ping_sent = None;
        Ok(())
    }

    /// Ends the connection with DISCONNECT. `session_expiry` (MQTT 5) changes the Session
    /// Expiry Interval, also for later connections. The session state is kept for a
    /// reconnect; queued commands stay queued.
    pub fn disconnect(
        &mut self,
        reason: DisconnectReasonCode,
        session_expiry: Option<u32>,
        now: Timestamp,
    ) -> Result<(), ClientError> {
        if self.state == ConnectionState::Disconnected {
            return Err(ClientError::NotConnected);
        }
        let mut packet = Disconnect::new(reason);
        let v5 = self.wire.version.is_v5();
        if let (Some(expiry), true) = (session_expiry, v5) {
            // MQTT 5 §3.14.2.2.2: a CONNECT with Session Expiry 0 cannot be given one later.
            if expiry > 0 && self.connect_session_expiry == 0 {
                return Err(ClientError::SessionExpiryWasZero);
            }
            packet.properties.session_expiry_interval = Some(expiry);
            self.session_expiry = expiry;
        }
        // Nothing is sent after DISCONNECT [MQTT-3.14.4-1]: the state changes below.
        self.wire.send(&Packet::Disconnect(packet), now)?;
        self.close(CloseReason::ByClient(reason));
        Ok(())
    }

    /// Answers the server's AUTH Continue (MQTT 5 enhanced authentication) with our
    /// Authentication Data [MQTT-4.12.0-3], under the method of CONNECT [MQTT-4.12.0-5].
    pub fn auth(&mut self, data: Option<Bytes>, now: Timestamp) -> Result<(), ClientError> {
        self.send_auth(AuthReasonCode::ContinueAuthentication, data, now)
    }

    /// Starts a re-authentication (MQTT 5) once connected [MQTT-4.12.1-1].
    pub fn reauthenticate(
        &mut self,
        data: Option<Bytes>,
        now: Timestamp,
    ) -> Result<(), ClientError> {
        if self.state != ConnectionState::Connected {
            return Err(ClientError::NotConnected);
        }
        self.send_auth(AuthReasonCode::ReAuthenticate, data, now)
    }

    fn send_auth(
        &mut self,
        reason: AuthReasonCode,
        data: Option<Bytes>,
        now: Timestamp,
    ) -> Result<(), ClientError> {
        if self.state == ConnectionState::Disconnected {
            return Err(ClientError::NotConnected);
        }
        // [MQTT-4.12.0-7] no AUTH without a method in CONNECT.
        let method = match (
            &self.options.authentication_method,
            self.wire.version.is_v5(),
        ) {
            (Some(m), true) => m.clone(),
            _ => return Err(ClientError::NoAuthMethod),
        };
        let mut auth = Auth::new(reason);
        auth.properties.authentication_method = Some(method);
        auth.properties.authentication_data = data;
        self.wire.send(&Packet::Auth(auth), now)?;
        Ok(())
    }

    /// The transport closed (peer closed, I/O error). Ends the connection unless it already
    /// ended.
    pub fn handle_closed(&mut self, _now: Timestamp) {
        if self.state != ConnectionState::Disconnected {
            self.close(CloseReason::Closed);
        }
    }

    /// Time has come: CONNACK overdue, a PINGREQ to send, or a PINGRESP overdue.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some((at, timer)) = self.next_timer() else {
            return;
        };
        if now < at {
            return;
        }
        match timer {
            Timer::ConnAck => self.close(CloseReason::ConnectTimeout),
            Timer::PingResponse => self.close(CloseReason::KeepAliveTimeout),
            Timer::Ping => {
                // [MQTT-3.1.2-20] nothing else was sent for a keep-alive period.
                if self.wire.send(&Packet::PingReq, now).is_ok() {
                    self.ping_sent = Some(now);
                }
            }
        }
    }

    /// Takes everything encoded so far, for one write.
    #[must_use]
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        if self.wire.tx.is_empty() {
            return None;
        }
        Some(self.wire.tx.split().freeze())
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_timer().map(|(at, _)| at)
    }

    fn next_timer(&self) -> Option<(Timestamp, Timer)> {
        match self.state {
            ConnectionState::Disconnected => None,
            ConnectionState::Connecting => self.connack_deadline.map(|at| (at, Timer::ConnAck)),
            ConnectionState::Connected => {
                let keep_alive = u64::from(self.limits.keep_alive) * 1000;
                if keep_alive == 0 {
                    return None;
                }
                Some(match self.ping_sent {
                    Some(sent) => {
                        let timeout = self.options.ping_timeout_ms.unwrap_or(keep_alive / 2);
                        let from = sent.max(self.last_rx);
                        (from.plus_millis(timeout.max(1)), Timer::PingResponse)
                    }
                    None => (self.wire.last_sent.plus_millis(keep_alive), Timer::Ping),
                })
            }
        }
    }

    /// Where the connection is.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Whether CONNACK accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// The options, with the client identifier the server assigned if it did.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The client identifier in use (assigned by the server if ours was empty).
    pub fn client_id(&self) -> &ByteString {
        &self.options.client_id
    }

    /// The server's limits on the current connection, once connected.
    pub fn server_limits(&self) -> Option<&ServerLimits> {
        self.is_connected().then_some(&self.limits)
    }

    /// QoS 1/2 messages sent and not completed.
    pub fn inflight_len(&self) -> usize {
        self.out.inflight.len()
    }

    /// Commands waiting to be sent.
    pub fn queued_len(&self) -> usize {
        self.out.queued_len()
    }

    /// Bytes encoded and not yet taken (for backpressure in a runtime).
    pub fn transmit_len(&self) -> usize {
        self.wire.tx.len()
    }

    /// Inbound QoS 2 messages delivered and awaiting PUBREL.
    pub fn awaiting_release_len(&self) -> usize {
        self.awaiting_rel.len()
    }

    fn next_token(&mut self) -> PacketToken {
        self.next_token += 1;
        PacketToken(self.next_token)
    }

    /// The connection is over: report why. The session state stays for a reconnect.
    fn close(&mut self, reason: CloseReason) {
        self.state = ConnectionState::Disconnected;
        self.connack_deadline = None;
        self.ping_sent = None;
        self.out.requeue_control();
        self.events.push_back(Event::Disconnected(reason));
    }

    /// The server broke the protocol: DISCONNECT with the reason (MQTT 5), then close
    /// [MQTT-4.13.2-1].
    fn violation(&mut self, v: ProtocolViolation, now: Timestamp) {
        if self.wire.version.is_v5() {
            let d = Disconnect::new(v.reason_code());
            // A DISCONNECT is a few bytes: it fits any Maximum Packet Size a server can send.
            let _ = self.wire.send(&Packet::Disconnect(d), now);
        }
        self.close(CloseReason::ProtocolError(v));
    }
}
