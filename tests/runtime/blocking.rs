//! The runtime suite's support: brokers on the test thread's runtime (see
//! `crate::common::Runtime`), and a blocking MQTT client over a plain `std::net::TcpStream`
//! that encodes and decodes with mqtt-proto.

#![allow(dead_code)] // each binary that includes it uses only some helpers

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

pub use crate::common::BrokerHandle;
use mqtt_proto::{
    ByteString, Bytes, BytesMut, ConnAck, Connect, ConnectProperties, DecodeOptions, LastWill,
    Packet, ProtocolVersion, PubAck, Publish, PublishProperties, QoS, QosPid, SubAck, Subscribe,
    Subscription, SubscriptionOptions, WillProperties,
};
use ringmq_config::BrokerConfig;

/// Starts brokers on the runtime of the test's thread (`crate::common::set_runtime`).
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// `runtime_glommio::Broker::start` or `runtime_tokio::Broker::start`.
    pub fn start(config: BrokerConfig) -> std::io::Result<BrokerHandle> {
        crate::common::try_start_broker(config)
    }
}

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

/// How long a client waits for a packet before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker configuration for tests: one listener on 127.0.0.1:0, `shards` shards, the
/// smallest io_uring memory (glommio; tokio pins none), and a short shutdown bound.
pub fn config(shards: usize) -> BrokerConfig {
    let mut config = BrokerConfig::default();
    let mut listener = config.listeners[0].clone();
    listener.addr = "127.0.0.1:0".parse().unwrap();
    config.listeners = vec![listener];
    config.shards = shards;
    config.runtime.io_memory = 64 * 1024;
    config.runtime.shutdown_timeout_ms = 3_000;
    config
}

/// Starts a broker with [`config`].
pub fn start(shards: usize) -> BrokerHandle {
    Broker::start(config(shards)).expect("broker starts")
}

/// The broker's first listener address.
pub fn addr(b: &BrokerHandle) -> SocketAddr {
    b.local_addrs()[0]
}

pub fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

/// A clean CONNECT with keep alive 0.
pub fn connect_packet(id: &str, v: ProtocolVersion) -> Connect {
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

/// A will message.
pub fn will(topic: &str, payload: &'static [u8]) -> LastWill {
    LastWill {
        topic: ByteString::from(topic),
        payload: Bytes::from_static(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    }
}

/// A blocking MQTT client for tests.
pub struct Client {
    pub stream: TcpStream,
    rx: BytesMut,
    version: ProtocolVersion,
}

impl Client {
    /// Opens a TCP connection (no CONNECT yet).
    pub fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr).expect("tcp connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            rx: BytesMut::new(),
            version,
        }
    }

    /// Connects with `c` and returns the client and its CONNACK.
    pub fn connect_with(addr: SocketAddr, c: Connect) -> (Self, ConnAck) {
        let mut client = Self::open(addr, c.protocol_version);
        client.send(c);
        match client.recv() {
            Packet::ConnAck(ack) => (client, *ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects a clean session and asserts it was accepted.
    pub fn connect(addr: SocketAddr, id: &str, v: ProtocolVersion) -> Self {
        let (client, ack) = Self::connect_with(addr, connect_packet(id, v));
        assert_eq!(ack.reason_code.as_u8(), 0, "{id} refused: {ack:?}");
        client
    }

    /// Encodes and writes one packet.
    pub fn send(&mut self, p: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        p.into().encode(self.version, &mut buf).expect("encode");
        self.stream.write_all(&buf).expect("write");
    }

    /// The next packet, or `None` if the broker closed the connection or `timeout` passed.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Packet> {
        let opts = DecodeOptions {
            topic_alias_maximum: u16::MAX,
            ..DecodeOptions::client(self.version)
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) =
                Packet::decode(&mut self.rx, &opts).expect("broker sent a valid packet")
            {
                return Some(p);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                // A signal interrupted the blocking read: read again.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next packet (fails the test after [`RECV_TIMEOUT`] or on close).
    pub fn recv(&mut self) -> Packet {
        self.recv_timeout(RECV_TIMEOUT)
            .expect("a packet from the broker")
    }

    /// Asserts that the broker closes the connection (after `timeout` at most) without
    /// sending anything more.
    pub fn expect_closed(&mut self, timeout: Duration) {
        if let Some(p) = self.recv_timeout(timeout) {
            panic!("expected the connection to close, got {p:?}");
        }
        assert!(self.rx.is_empty(), "partial packet left");
    }

    /// Subscribes to one filter and returns the SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        self.send(Subscribe {
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
        });
        match self.recv() {
            Packet::SubAck(a) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes; for QoS 1 waits for the PUBACK.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, packet_id: u16) {
        self.send(Publish {
            dup: false,
            qos_pid: QosPid::new(qos, pid(packet_id.max(1))),
            retain: false,
            topic: ByteString::from(topic),
            properties: PublishProperties::default(),
            payload: Bytes::copy_from_slice(payload),
        });
        if qos == QoS::AtLeastOnce {
            match self.recv() {
                Packet::PubAck(a) => assert_eq!(a.packet_id, pid(packet_id.max(1))),
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
    }

    /// The next packet, which must be a PUBLISH; acknowledged if QoS 1.
    pub fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Packet::Publish(p) => {
                if let QosPid::AtLeastOnce(id) = p.qos_pid {
                    self.send(Packet::PubAck(PubAck::new(id)));
                }
                p
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Closes the socket without DISCONNECT (an abnormal close: the will is published).
    pub fn drop_abruptly(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
