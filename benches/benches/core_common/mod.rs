//! Shared driver for the `core_*` benchmarks: shards of `mqtt-core` with a fixed clock, driven
//! as a runtime drives them, with clients that speak raw MQTT bytes.
//!
//! Setup (connecting clients, subscribing, settling cross-shard announcements) goes through
//! [`Rig`], which checks every answer; the timed loops live in each benchmark and call the
//! shard directly.
#![allow(dead_code)] // each benchmark uses part of it

use std::collections::HashMap;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use mqtt_core::{shard_for, Config, ConnId, Output, Shard, ShardId, ShardMsg, Timestamp};
use mqtt_proto::{
    ByteString, Connect, ConnectProperties, DecodeOptions, Packet, ProtocolVersion, Publish,
    PublishProperties, QoS, QosPid, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions,
};

/// The clock never moves: no timer is due during a benchmark.
pub const NOW: Timestamp = Timestamp(1_000_000);

/// MQTT 5 throughout.
pub const V5: ProtocolVersion = ProtocolVersion::V5;

/// The topic every fan-out, forwarding and QoS 1 benchmark publishes on.
pub const TOPIC: &str = "sensors/building-1/floor-3/temp";

/// Whether this is a measuring run (`cargo bench` passes `--bench`), rather than Criterion's
/// test mode (`cargo test --benches`, or `--test`), which runs each benchmark once: the largest
/// setups are made only when measuring, so the test pass stays fast.
pub fn measuring() -> bool {
    let mut args = std::env::args();
    args.any(|a| a == "--bench") && !std::env::args().any(|a| a == "--test")
}

/// The wire bytes of `p` (MQTT 5).
pub fn frame(p: impl Into<Packet>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    p.into().encode(V5, &mut buf).unwrap();
    buf.to_vec()
}

/// A PUBLISH on [`TOPIC`] with the 64-byte payload of the codec benchmarks.
pub fn publish(qos: QoS, packet_id: u16) -> Publish {
    let pid = NonZeroU16::new(packet_id).unwrap_or(NonZeroU16::MIN);
    Publish {
        dup: false,
        qos_pid: QosPid::new(qos, pid),
        retain: false,
        topic: ByteString::from_static(TOPIC),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(ringmq_benches::PAYLOAD_64),
    }
}

/// `n` client identifiers whose home is shard `on` of `count` (so they connect there without
/// a handover).
pub fn client_ids(prefix: &str, on: u16, count: u16, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|id| shard_for(id, count) == ShardId(on))
        .take(n)
        .collect()
}

/// One or more shards driven like a runtime: outputs drained, outboxes carried to their
/// destination, every byte a client receives kept for checking.
pub struct Rig {
    pub shards: Vec<Shard>,
    next_conn: u64,
    /// Bytes each connection has received and not yet read.
    rx: HashMap<ConnId, BytesMut>,
}

impl Rig {
    /// `count` shards with the default configuration.
    pub fn new(count: u16) -> Self {
        Self {
            shards: (0..count)
                .map(|i| Shard::with_shards(Config::default(), ShardId(i), count))
                .collect(),
            next_conn: 0,
            rx: HashMap::new(),
        }
    }

    /// Drains every shard's outputs and carries cross-shard messages until all are quiet.
    pub fn settle(&mut self) {
        loop {
            let mut links: Vec<(usize, ShardId, ShardMsg)> = Vec::new();
            let mut busy = false;
            for (i, shard) in self.shards.iter_mut().enumerate() {
                while let Some(o) = shard.poll_output() {
                    busy = true;
                    match o {
                        Output::Transmit(c) => {
                            if let Some(b) = shard.take_transmit(c, NOW) {
                                self.rx.entry(c).or_default().extend_from_slice(&b);
                            }
                        }
                        Output::PeerReady(to) => {
                            if let Some(m) = shard.take_peer(to) {
                                links.push((i, to, m));
                            }
                        }
                        other => panic!("unexpected output during setup: {other:?}"),
                    }
                }
            }
            for (from, to, m) in links {
                self.shards[usize::from(to.0)].handle_peer(ShardId(from as u16), m, NOW);
            }
            if !busy {
                return;
            }
        }
    }

    /// Every packet `conn` has received since the last call.
    pub fn recv(&mut self, conn: ConnId) -> Vec<Packet> {
        let opts = DecodeOptions::client(V5);
        let buf = self.rx.entry(conn).or_default();
        let mut out = Vec::new();
        while let Some(p) = Packet::decode(buf, &opts).unwrap() {
            out.push(p);
        }
        assert!(buf.is_empty());
        out
    }

    /// Connects client `id` on shard `on` (its home shard) and checks the CONNACK.
    pub fn connect(&mut self, on: usize, id: &str) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let connect = Connect {
            protocol_version: V5,
            clean_start: true,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: ByteString::from(id),
            will: None,
            username: None,
            password: None,
        };
        self.shards[on].handle_accept(conn, None, NOW);
        self.send(on, conn, &frame(connect));
        match self.recv(conn).as_slice() {
            [Packet::ConnAck(ack)] => assert!(!ack.reason_code.is_error(), "{ack:?}"),
            other => panic!("expected a CONNACK, got {other:?}"),
        }
        conn
    }

    /// Subscribes `conn` (on shard `on`) to `filter` and checks the SUBACK grants `qos`.
    pub fn subscribe(&mut self, on: usize, conn: ConnId, filter: &str, qos: QoS) {
        let sub = Subscribe {
            packet_id: NonZeroU16::MIN,
            properties: SubscribeProperties::default(),
            subscriptions: std::iter::once(Subscription {
                filter: ByteString::from(filter),
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            })
            .collect(),
        };
        self.send(on, conn, &frame(sub));
        let granted = SubAckReasonCode::granted(qos);
        match self.recv(conn).as_slice() {
            [Packet::SubAck(ack)] => assert_eq!(ack.reason_codes.as_slice(), [granted]),
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    /// Feeds `bytes` to `conn` on shard `on` (all of it must be consumed) and settles.
    pub fn send(&mut self, on: usize, conn: ConnId, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.shards[on].handle_bytes(conn, &mut buf, NOW);
        assert!(buf.is_empty(), "the shard left {} bytes", buf.len());
        self.settle();
    }
}

/// Drains `shard`'s outputs as a runtime would, taking each connection's bytes; returns how
/// many connections got bytes and how many bytes in all. Any other output is a bug here.
#[inline]
pub fn drain_transmits(shard: &mut Shard) -> (usize, usize) {
    let mut conns = 0;
    let mut bytes = 0;
    while let Some(o) = shard.poll_output() {
        match o {
            Output::Transmit(c) => {
                if let Some(b) = shard.take_transmit(c, NOW) {
                    conns += 1;
                    bytes += b.len();
                    std::hint::black_box(b);
                }
            }
            other => panic!("unexpected output: {other:?}"),
        }
    }
    (conns, bytes)
}
