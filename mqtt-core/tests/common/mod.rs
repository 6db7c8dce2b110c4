//! Test harness: one shard, a fake clock, and scripted clients that speak through mqtt-proto.
//!
//! `send` encodes a packet and feeds it to the shard; after every input the harness drains
//! the shard's outputs like a runtime would, collecting the bytes each connection received
//! and which connections were closed. `recv` decodes what a client got.
#![allow(
    dead_code,
    unused_imports, // each test file uses only some of the helper modules re-exported here
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod subs;
pub use subs::*;

mod sessions;
pub use sessions::*;

mod connecting;
pub use connecting::*;

mod cluster;
pub use cluster::*;

mod cluster_clients;
pub use cluster_clients::*;

mod publishing;
pub use publishing::*;

use std::collections::{HashMap, HashSet};

use bytes::BytesMut;
use mqtt_core::{AuthRequest, Config, ConnId, Output, Shard, ShardId, Timestamp};
use mqtt_proto::{
    ByteString, Bytes, ConnAck, Connect, ConnectProperties, ConnectReasonCode, DecodeOptions,
    Packet, ProtocolVersion, Publish, PublishProperties, QoS, QosPid, SubAck, Subscribe,
    Subscription, SubscriptionOptions,
};

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
pub const V31: ProtocolVersion = ProtocolVersion::V3_1;

/// A shard with a fake clock and a recording runtime.
pub struct Harness {
    pub shard: Shard,
    pub now: Timestamp,
    next_conn: u64,
    /// Bytes each connection has received and not yet decoded.
    rx: HashMap<ConnId, BytesMut>,
    /// Version each connection speaks (for decoding what it receives).
    versions: HashMap<ConnId, ProtocolVersion>,
    /// Connections the shard closed.
    pub closed: HashSet<ConnId>,
    /// Authentication requests the shard deferred to the runtime.
    pub auth_requests: Vec<AuthRequest>,
    /// If false, Transmit outputs are not taken (a reader that never reads).
    pub reading: HashMap<ConnId, bool>,
    /// Bytes sent to each connection that the shard has not consumed yet.
    inbound: HashMap<ConnId, BytesMut>,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        Self {
            shard: Shard::new(config, ShardId(0)),
            now: Timestamp(1_000_000),
            next_conn: 0,
            rx: HashMap::new(),
            versions: HashMap::new(),
            closed: HashSet::new(),
            auth_requests: Vec::new(),
            reading: HashMap::new(),
            inbound: HashMap::new(),
        }
    }

    pub fn with_defaults() -> Self {
        Self::new(Config::default())
    }

    /// Opens a TCP-level connection (no CONNECT yet).
    pub fn open(&mut self) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.shard.handle_accept(id, None, self.now);
        self.rx.insert(id, BytesMut::new());
        self.drain();
        id
    }

    /// Encodes `p` in `version` and feeds it to the shard.
    pub fn send(&mut self, conn: ConnId, version: ProtocolVersion, p: impl Into<Packet>) {
        let p = p.into();
        if let Packet::Connect(c) = &p {
            self.versions.insert(conn, c.protocol_version);
        }
        let mut buf = BytesMut::new();
        p.encode(version, &mut buf).expect("encode");
        self.send_bytes(conn, &buf);
    }

    /// Feeds raw bytes to the shard; unconsumed bytes are kept for the next call, like a
    /// runtime's read buffer.
    pub fn send_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let mut buf = self.inbound.remove(&conn).unwrap_or_default();
        buf.extend_from_slice(bytes);
        self.shard.handle_bytes(conn, &mut buf, self.now);
        self.inbound.insert(conn, buf);
        self.drain();
    }

    /// Bytes fed to the shard that it has not consumed yet (a partial packet).
    pub fn unconsumed(&self, conn: ConnId) -> usize {
        self.inbound.get(&conn).map_or(0, BytesMut::len)
    }

    /// The peer closed the socket.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.shard.handle_closed(conn, self.now);
        self.drain();
    }

    /// Moves the clock forward by `ms`, firing every timer due on the way, in order.
    pub fn advance(&mut self, ms: u64) {
        let target = Timestamp(self.now.0 + ms);
        while let Some(t) = self.shard.poll_timeout() {
            if t > target {
                break;
            }
            if t > self.now {
                self.now = t;
            }
            self.shard.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self.shard.handle_timeout(self.now);
        self.drain();
    }

    /// Drains outputs like a runtime.
    pub fn drain(&mut self) {
        while let Some(o) = self.shard.poll_output() {
            match o {
                Output::Transmit(c) => {
                    if *self.reading.get(&c).unwrap_or(&true) {
                        if let Some(b) = self.shard.take_transmit(c, self.now) {
                            self.rx.entry(c).or_default().extend_from_slice(&b);
                        }
                    }
                }
                Output::Close { conn, last } => {
                    self.rx.entry(conn).or_default().extend_from_slice(&last);
                    self.closed.insert(conn);
                }
                Output::Auth(req) => self.auth_requests.push(*req),
                Output::PeerReady(_) | Output::Handover { .. } | Output::ResumeRead(_) => {
                    panic!("a single shard has no peers: {o:?}")
                }
            }
        }
    }

    /// Lets a blocked reader read again.
    pub fn resume_reading(&mut self, conn: ConnId) {
        self.reading.insert(conn, true);
        if let Some(b) = self.shard.take_transmit(conn, self.now) {
            self.rx.entry(conn).or_default().extend_from_slice(&b);
        }
        self.drain();
    }

    /// Decodes every packet `conn` has received so far (as a client would).
    pub fn recv(&mut self, conn: ConnId) -> Vec<Packet> {
        let v = *self.versions.get(&conn).unwrap_or(&V5);
        let mut opts = DecodeOptions::client(v);
        opts.topic_alias_maximum = u16::MAX;
        let buf = self.rx.entry(conn).or_default();
        let mut out = Vec::new();
        while let Some(p) = Packet::decode(buf, &opts).expect("the broker sent a valid packet") {
            out.push(p);
        }
        assert!(buf.is_empty(), "partial packet left: {:02X?}", &buf[..]);
        out
    }

    /// Exactly one packet received.
    pub fn recv_one(&mut self, conn: ConnId) -> Packet {
        let mut v = self.recv(conn);
        assert_eq!(v.len(), 1, "expected one packet, got {v:?}");
        v.remove(0)
    }

    /// Nothing received.
    pub fn recv_none(&mut self, conn: ConnId) {
        let v = self.recv(conn);
        assert!(v.is_empty(), "expected nothing, got {v:?}");
    }

    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    /// Connects with `connect` and returns the connection and its CONNACK.
    pub fn connect_with(&mut self, connect: Connect) -> (ConnId, ConnAck) {
        let conn = self.open();
        let v = connect.protocol_version;
        self.send(conn, v, connect);
        match self.recv(conn).into_iter().next() {
            Some(Packet::ConnAck(ack)) => (conn, *ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects a client and asserts success. Returns the connection.
    pub fn client(&mut self, id: &str, v: ProtocolVersion) -> ConnId {
        let (conn, ack) = self.connect_with(connect(id, v));
        assert_eq!(ack.reason_code, ConnectReasonCode::Success, "{ack:?}");
        conn
    }

    /// Subscribes and returns the SUBACK.
    pub fn subscribe(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        filter: &str,
        qos: QoS,
    ) -> SubAck {
        let sub = Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            subscriptions: [Subscription {
                filter: ByteString::from(filter),
                options: SubscriptionOptions {
                    qos,
                    ..Default::default()
                },
            }]
            .into_iter()
            .collect(),
        };
        self.send(conn, v, sub);
        match self.recv(conn).into_iter().next() {
            Some(Packet::SubAck(a)) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }
}

pub fn pid(n: u16) -> core::num::NonZeroU16 {
    core::num::NonZeroU16::new(n).unwrap()
}

/// A clean CONNECT with keep alive 0.
pub fn connect(id: &str, v: ProtocolVersion) -> Connect {
    Connect {
        protocol_version: v,
        clean_start: true,
        keep_alive: 0,
        properties: ConnectProperties::default(),
        client_id: ByteString::from(id),
        will: None,
        username: None,
        password: None,
    }
}

/// A PUBLISH.
pub fn publish(topic: &str, payload: &'static [u8], qos: QoS, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos_pid: QosPid::new(qos, pid(packet_id.max(1))),
        retain: false,
        topic: ByteString::from(topic),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(payload),
    }
}

/// The PUBLISH packets among `packets`.
pub fn publishes(packets: Vec<Packet>) -> Vec<Publish> {
    packets
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}
