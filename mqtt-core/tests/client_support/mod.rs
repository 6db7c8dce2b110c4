//! Test harness for the sans-IO client: clients wired to a real `Shard` through in-memory
//! pipes, with a fake clock, and a lone client fed scripted server packets.
//!
//! `Net::pump` moves bytes both ways until nothing moves, like two runtimes would. Each
//! direction of each client can be held (bytes wait in the pipe) and a connection can be cut
//! (bytes in the pipe are lost). Every packet crossing a pipe is decoded into a tap, so tests
//! can check what went over the wire.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::BytesMut;
use mqtt_core::client::{Client, ClientOptions, CloseReason, Event, OutgoingMessage, PacketToken};
use mqtt_core::{Config, ConnId, Output, Shard, ShardId, Timestamp};
use mqtt_proto::{
    ByteString, ConnAck, ConnAckProperties, ConnectReasonCode, ControlChars, DecodeOptions, Packet,
    ProtocolVersion, Publish, QoS, ReasonCode, Role, SubscribeProperties, Subscription,
    SubscriptionOptions, UnsubscribeProperties,
};

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
pub const V31: ProtocolVersion = ProtocolVersion::V3_1;

/// Options with a client id and version, keep alive off (tests that need it set it).
pub fn opts(id: &str, version: ProtocolVersion) -> ClientOptions {
    ClientOptions {
        keep_alive: 0,
        ..ClientOptions::new(id, version)
    }
}

/// Options for a session that outlives its connections: Session Expiry on MQTT 5 (clean
/// first start), Clean Session 0 on MQTT 3.
pub fn persistent(id: &str, version: ProtocolVersion) -> ClientOptions {
    ClientOptions {
        clean_start: version.is_v5(),
        session_expiry: 3600,
        ..opts(id, version)
    }
}

/// One subscription with default options.
pub fn sub(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: ByteString::from(filter),
        options: SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        },
    }
}

pub fn msg(topic: &str, payload: &[u8], qos: QoS) -> OutgoingMessage {
    OutgoingMessage::new(topic, payload.to_vec(), qos)
}

/// Decodes every packet in `bytes` (whole packets only), as written by `sender`.
pub fn decode_all(bytes: &[u8], version: ProtocolVersion, sender: Role) -> Vec<Packet> {
    let opts = DecodeOptions {
        version,
        sender,
        topic_alias_maximum: u16::MAX,
        control_chars: ControlChars::Allow,
        ..DecodeOptions::default()
    };
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(p) = Packet::decode(&mut buf, &opts).expect("valid packet on the wire") {
        out.push(p);
    }
    assert!(buf.is_empty(), "partial packet on the wire: {buf:02X?}");
    out
}

/// One client with its end of the pipes.
pub struct Peer {
    pub client: Client,
    pub conn: Option<ConnId>,
    /// Client → broker bytes not yet read by the broker.
    up: BytesMut,
    /// Broker → client bytes not yet read by the client.
    down: BytesMut,
    /// The broker closed the connection: the client sees the close once `down` is read.
    broker_closed: bool,
    /// Hold client → broker bytes in the pipe.
    pub hold_up: bool,
    /// Hold broker → client bytes in the pipe.
    pub hold_down: bool,
    /// Events not yet taken by the test.
    pub events: Vec<Event>,
    /// Every packet the client wrote to the broker.
    pub sent: Vec<Packet>,
    /// Every packet the broker wrote to the client.
    pub received: Vec<Packet>,
}

/// A broker shard and clients, with a fake clock.
pub struct Net {
    pub shard: Shard,
    pub now: Timestamp,
    pub peers: Vec<Peer>,
    next_conn: u64,
    /// Largest number of inbound QoS 2 messages awaiting PUBREL in one session, seen after
    /// every input to the broker.
    pub max_awaiting_rel_seen: usize,
}

impl Net {
    pub fn new(config: Config) -> Self {
        Self {
            shard: Shard::new(config, ShardId(0)),
            now: Timestamp(1_000_000),
            peers: Vec::new(),
            next_conn: 0,
            max_awaiting_rel_seen: 0,
        }
    }

    pub fn with_defaults() -> Self {
        Self::new(Config::default())
    }

    pub fn add(&mut self, options: ClientOptions) -> usize {
        self.peers.push(Peer {
            client: Client::new(options),
            conn: None,
            up: BytesMut::new(),
            down: BytesMut::new(),
            broker_closed: false,
            hold_up: false,
            hold_down: false,
            events: Vec::new(),
            sent: Vec::new(),
            received: Vec::new(),
        });
        self.peers.len() - 1
    }

    /// Opens a socket for client `i`, calls `connect`, and pumps.
    pub fn connect(&mut self, i: usize) {
        self.open(i);
        self.peers[i].client.connect(self.now).expect("connect");
        self.pump();
    }

    /// Opens a socket for client `i` without connecting it.
    pub fn open(&mut self, i: usize) {
        assert!(self.peers[i].conn.is_none(), "client {i} has a socket");
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.shard.handle_accept(id, None, self.now);
        let p = &mut self.peers[i];
        p.conn = Some(id);
        p.up.clear();
        p.down.clear();
        p.broker_closed = false;
        self.drain_shard();
    }

    /// Connects and expects CONNACK to accept; returns Session Present. Events up to
    /// `Connected` are dropped, later ones (what the connection brought) are kept.
    pub fn connect_ok(&mut self, i: usize) -> bool {
        self.connect(i);
        let mut events = self.events(i);
        let Some(at) = events.iter().position(|e| matches!(e, Event::Connected(_))) else {
            panic!("client {i} did not connect: {events:?}");
        };
        let rest = events.split_off(at + 1);
        self.peers[i].events = rest;
        match events.pop() {
            Some(Event::Connected(c)) => c.session_present,
            _ => unreachable!(),
        }
    }

    /// The network between client `i` and the broker fails: bytes in flight are lost, and
    /// both ends see the connection close.
    pub fn cut(&mut self, i: usize) {
        let Some(conn) = self.peers[i].conn.take() else {
            return;
        };
        let p = &mut self.peers[i];
        p.up.clear();
        p.down.clear();
        let _ = p.client.take_transmit();
        p.client.handle_closed(self.now);
        self.shard.handle_closed(conn, self.now);
        self.drain_shard();
        self.collect_events();
    }

    /// Moves bytes both ways until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the network never settled");
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.peers.len() {
            moved |= self.flush_up(i);
        }
        moved |= self.drain_shard();
        for i in 0..self.peers.len() {
            moved |= self.flush_down(i);
        }
        moved |= self.collect_events();
        moved
    }

    /// Client `i`'s output into the pipe, and the pipe into the broker unless held.
    fn flush_up(&mut self, i: usize) -> bool {
        let Some(conn) = self.peers[i].conn else {
            return false;
        };
        let p = &mut self.peers[i];
        let mut moved = false;
        if let Some(bytes) = p.client.take_transmit() {
            let version = p.client.options().version;
            p.sent.extend(decode_all(&bytes, version, Role::Client));
            p.up.extend_from_slice(&bytes);
            moved = true;
        }
        if !p.hold_up && !p.up.is_empty() {
            let before = p.up.len();
            self.shard.handle_bytes(conn, &mut p.up, self.now);
            moved |= p.up.len() != before;
            self.note_occupancy();
        }
        moved
    }

    /// The pipe into client `i` unless held; then the broker's close, if any.
    fn flush_down(&mut self, i: usize) -> bool {
        let now = self.now;
        let p = &mut self.peers[i];
        if p.hold_down || p.conn.is_none() {
            return false;
        }
        let mut moved = false;
        if !p.down.is_empty() {
            let before = p.down.len();
            p.client.handle_bytes(&mut p.down, now);
            moved = p.down.len() != before;
        }
        if p.broker_closed && p.down.is_empty() {
            p.broker_closed = false;
            p.conn = None;
            p.up.clear();
            let _ = p.client.take_transmit();
            p.client.handle_closed(now);
            moved = true;
        }
        moved
    }

    /// Takes every client's events; a client that ended its connection has its socket
    /// closed after its last bytes are written.
    fn collect_events(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.peers.len() {
            let mut ended = false;
            while let Some(e) = self.peers[i].client.poll_event() {
                ended |= matches!(e, Event::Disconnected(_));
                self.peers[i].events.push(e);
                moved = true;
            }
            if ended {
                self.close_socket(i);
            }
        }
        moved
    }

    /// The client's runtime writes what is left and closes its socket.
    fn close_socket(&mut self, i: usize) {
        self.flush_up(i);
        let Some(conn) = self.peers[i].conn.take() else {
            return;
        };
        let p = &mut self.peers[i];
        p.up.clear();
        p.down.clear();
        self.shard.handle_closed(conn, self.now);
        self.drain_shard();
    }

    /// Drains the broker's outputs like a runtime.
    fn drain_shard(&mut self) -> bool {
        let mut moved = false;
        while let Some(o) = self.shard.poll_output() {
            moved = true;
            match o {
                Output::Transmit(conn) => {
                    if let Some(b) = self.shard.take_transmit(conn, self.now) {
                        self.deliver_down(conn, &b);
                    }
                }
                Output::Close { conn, last } => {
                    self.deliver_down(conn, &last);
                    if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) {
                        p.broker_closed = true;
                    }
                }
                other => panic!("a single shard has no peers: {other:?}"),
            }
        }
        moved
    }

    fn deliver_down(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn)) else {
            return;
        };
        let version = p.client.options().version;
        p.received.extend(decode_all(bytes, version, Role::Server));
        p.down.extend_from_slice(bytes);
    }

    fn note_occupancy(&mut self) {
        let o = self.shard.occupancy();
        self.max_awaiting_rel_seen = self.max_awaiting_rel_seen.max(o.max_awaiting_rel);
    }

    /// Moves the clock forward by `ms`, firing the broker's and the clients' timers in order.
    pub fn advance(&mut self, ms: u64) {
        let target = Timestamp(self.now.0 + ms);
        for _ in 0..100_000 {
            let next = self
                .peers
                .iter()
                .filter_map(|p| p.client.poll_timeout())
                .chain(self.shard.poll_timeout())
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.fire();
                }
                _ => break,
            }
        }
        self.now = target;
        self.fire();
    }

    fn fire(&mut self) {
        self.shard.handle_timeout(self.now);
        self.drain_shard();
        for p in &mut self.peers {
            p.client.handle_timeout(self.now);
        }
        self.pump();
    }

    /// Takes client `i`'s events so far.
    pub fn events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.peers[i].events)
    }

    /// Takes client `i`'s events and keeps the messages.
    pub fn messages(&mut self, i: usize) -> Vec<Publish> {
        self.events(i)
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Takes the packets client `i` sent so far.
    pub fn sent(&mut self, i: usize) -> Vec<Packet> {
        std::mem::take(&mut self.peers[i].sent)
    }

    /// Takes the packets the broker sent client `i` so far.
    pub fn received(&mut self, i: usize) -> Vec<Packet> {
        std::mem::take(&mut self.peers[i].received)
    }

    pub fn client(&mut self, i: usize) -> &mut Client {
        &mut self.peers[i].client
    }

    /// Subscribes client `i` and expects the SUBACK.
    pub fn subscribe(&mut self, i: usize, filter: &str, qos: QoS) {
        let now = self.now;
        let token = self.peers[i]
            .client
            .subscribe([sub(filter, qos)], SubscribeProperties::default(), now)
            .expect("subscribe");
        self.pump();
        let events = self.events(i);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Subscribed { token: t, .. } if *t == token)),
            "no SUBACK: {events:?}"
        );
    }

    pub fn unsubscribe(&mut self, i: usize, filter: &str) -> PacketToken {
        let now = self.now;
        self.peers[i]
            .client
            .unsubscribe(
                [ByteString::from(filter)],
                UnsubscribeProperties::default(),
                now,
            )
            .expect("unsubscribe")
    }

    /// Publishes from client `i` and pumps.
    pub fn publish(&mut self, i: usize, topic: &str, payload: &[u8], qos: QoS) -> PacketToken {
        let now = self.now;
        let t = self.peers[i]
            .client
            .publish(msg(topic, payload, qos), now)
            .expect("publish");
        self.pump();
        t
    }
}

/// Events of a kind.
pub fn published(events: &[Event]) -> Vec<(PacketToken, ReasonCode)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Published { token, reason, .. } => Some((*token, *reason)),
            _ => None,
        })
        .collect()
}

pub fn close_reason(events: &[Event]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        Event::Disconnected(r) => Some(r),
        _ => None,
    })
}

/// PUBLISH packets in a tap.
pub fn publishes(packets: &[Packet]) -> Vec<&Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// A client alone, fed scripted server packets.
pub struct Lone {
    pub client: Client,
    pub now: Timestamp,
    pub version: ProtocolVersion,
}

impl Lone {
    pub fn new(options: ClientOptions) -> Self {
        let version = options.version;
        Self {
            client: Client::new(options),
            now: Timestamp(1_000),
            version,
        }
    }

    /// Connects and feeds a CONNACK with these properties.
    pub fn connected(options: ClientOptions, props: ConnAckProperties) -> Self {
        let mut l = Self::new(options);
        l.client.connect(l.now).unwrap();
        l.feed(ConnAck {
            session_present: false,
            reason_code: ConnectReasonCode::Success,
            properties: props,
        });
        let _ = l.events();
        let _ = l.sent();
        l
    }

    /// Feeds one packet written by the server.
    pub fn feed(&mut self, p: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        p.into().encode(self.version, &mut buf).unwrap();
        self.client.handle_bytes(&mut buf, self.now);
    }

    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.client.handle_bytes(&mut buf, self.now);
    }

    /// What the client wrote since the last call.
    pub fn sent(&mut self) -> Vec<Packet> {
        match self.client.take_transmit() {
            Some(b) => decode_all(&b, self.version, Role::Client),
            None => Vec::new(),
        }
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}
