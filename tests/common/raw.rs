//! A raw TCP client: packets encoded by hand, and a small decoder for what the broker sends.
//! Used where a library client hides the bytes (reason codes of DISCONNECT, topic aliases,
//! malformed input, silence).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::WAIT;

/// Packet types (high nibble of the first byte).
pub const CONNACK: u8 = 2;
/// PUBLISH.
pub const PUBLISH: u8 = 3;
/// PUBACK.
pub const PUBACK: u8 = 4;
/// SUBACK.
pub const SUBACK: u8 = 9;
/// DISCONNECT.
pub const DISCONNECT: u8 = 14;

/// One packet from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// The first byte (type and flags).
    pub header: u8,
    /// Everything after the remaining length.
    pub body: Vec<u8>,
}

impl RawPacket {
    /// The packet type.
    pub fn kind(&self) -> u8 {
        self.header >> 4
    }

    /// The reason code of a v5 CONNACK or DISCONNECT (a DISCONNECT without one means 0x00).
    pub fn reason_code(&self) -> u8 {
        match self.kind() {
            CONNACK => self.body[1],
            _ => self.body.first().copied().unwrap_or(0),
        }
    }
}

/// What a read produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A whole packet.
    Packet(RawPacket),
    /// The broker closed the connection (EOF or reset).
    Closed,
    /// Nothing complete within the time allowed.
    Timeout,
}

/// One TCP connection to the broker.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Raw {
    /// Opens a connection.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr)
            .await
            .expect("TCP connect to the broker");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Raw {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Writes bytes; errors (the broker may have closed already) are returned, not fatal.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads the next packet within `within`.
    pub async fn read(&mut self, within: Duration) -> Read {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.split_packet() {
                return Read::Packet(p);
            }
            if self.eof {
                return Read::Closed;
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Read::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next packet, failing the test on close or after [`WAIT`].
    pub async fn expect(&mut self, what: &str) -> RawPacket {
        match self.read(WAIT).await {
            Read::Packet(p) => p,
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// The next packet, which must be of type `kind`.
    pub async fn expect_kind(&mut self, kind: u8, what: &str) -> RawPacket {
        let p = self.expect(what).await;
        assert_eq!(p.kind(), kind, "expected {what}, got {p:?}");
        p
    }

    /// Reads until the broker closes the connection, within `within`; returns the packets
    /// seen on the way. Fails the test if the connection stays open.
    pub async fn expect_close(&mut self, within: Duration) -> Vec<RawPacket> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self
                .read(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Read::Packet(p) => seen.push(p),
                Read::Closed => return seen,
                Read::Timeout => panic!("connection still open after {within:?}; got {seen:?}"),
            }
        }
    }

    /// Reads until the broker closes or `within` passes, discarding everything; whether it
    /// closed.
    pub async fn drain(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            self.buf.clear();
            match self
                .read(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Read::Packet(_) => {}
                Read::Closed => return true,
                Read::Timeout => return false,
            }
        }
    }

    fn split_packet(&mut self) -> Option<RawPacket> {
        let header = *self.buf.first()?;
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= usize::from(b & 0x7F) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            assert!(
                shift <= 21,
                "the broker sent a remaining length over 4 bytes"
            );
        }
        if self.buf.len() < i + len {
            return None;
        }
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some(RawPacket { header, body })
    }
}

/// A variable byte integer.
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary field.
pub fn string(s: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(s.len())
        .expect("short field")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(s);
    out
}

/// A whole packet: first byte, remaining length, body.
pub fn packet(header: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![header];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A property with a 1-byte value.
pub fn prop_u8(id: u8, v: u8) -> Vec<u8> {
    vec![id, v]
}

/// A property with a 2-byte value.
pub fn prop_u16(id: u8, v: u16) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}

/// A property with a 4-byte value.
pub fn prop_u32(id: u8, v: u32) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}

/// A property with a variable byte integer value.
pub fn prop_varint(id: u8, v: usize) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(varint(v));
    out
}

/// A property block: its length, then the properties.
fn props_block(props: &[u8]) -> Vec<u8> {
    let mut out = varint(props.len());
    out.extend_from_slice(props);
    out
}

/// A will for [`connect_v5`] / [`connect_v311`]: topic, payload, QoS, retain, v5 properties.
#[derive(Debug, Clone, Copy)]
pub struct Will<'a> {
    /// Will topic.
    pub topic: &'a str,
    /// Will payload.
    pub payload: &'a [u8],
    /// Will QoS.
    pub qos: u8,
    /// v5 will properties (ignored for v3.1.1).
    pub props: &'a [u8],
}

fn connect(
    level: u8,
    id: &str,
    keep_alive: u16,
    props: Option<&[u8]>,
    will: Option<Will<'_>>,
) -> Vec<u8> {
    let mut body = string(b"MQTT");
    body.push(level);
    let mut flags = 0x02; // clean start / clean session
    if let Some(w) = &will {
        flags |= 0x04 | (w.qos << 3);
    }
    body.push(flags);
    body.extend(keep_alive.to_be_bytes());
    if let Some(p) = props {
        body.extend(props_block(p));
    }
    body.extend(string(id.as_bytes()));
    if let Some(w) = will {
        if props.is_some() {
            body.extend(props_block(w.props));
        }
        body.extend(string(w.topic.as_bytes()));
        body.extend(string(w.payload));
    }
    packet(0x10, &body)
}

/// A v5 CONNECT with clean start, the given CONNECT properties, and an optional will.
pub fn connect_v5(id: &str, keep_alive: u16, props: &[u8], will: Option<Will<'_>>) -> Vec<u8> {
    connect(5, id, keep_alive, Some(props), will)
}

/// A v3.1.1 CONNECT with clean session and an optional will.
pub fn connect_v311(id: &str, keep_alive: u16, will: Option<Will<'_>>) -> Vec<u8> {
    connect(4, id, keep_alive, None, will)
}

/// A v5 PUBLISH (`pkid` is written only for QoS > 0).
pub fn publish_v5(topic: &[u8], qos: u8, pkid: u16, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = string(topic);
    if qos > 0 {
        body.extend(pkid.to_be_bytes());
    }
    body.extend(props_block(props));
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

/// A v5 SUBSCRIBE of one filter with the given options byte (QoS in the low bits).
pub fn subscribe_v5(pkid: u16, filter: &str, options: u8) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    body.push(0); // no properties
    body.extend(string(filter.as_bytes()));
    body.push(options);
    packet(0x82, &body)
}

/// A v5 PUBACK with reason 0x00.
pub fn puback(pkid: u16) -> Vec<u8> {
    packet(0x40, &pkid.to_be_bytes())
}

/// The parts of a v5 PUBLISH the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPublish {
    /// Topic name as sent (empty when a known alias replaces it).
    pub topic: String,
    /// QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Packet identifier (0 at QoS 0).
    pub pkid: u16,
    /// Topic Alias property.
    pub topic_alias: Option<u16>,
    /// Message Expiry Interval property.
    pub message_expiry: Option<u32>,
    /// The payload.
    pub payload: Vec<u8>,
}

fn read_varint(b: &[u8], i: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[*i];
        *i += 1;
        n |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn read_u16(b: &[u8], i: &mut usize) -> u16 {
    let v = u16::from_be_bytes([b[*i], b[*i + 1]]);
    *i += 2;
    v
}

/// Decodes a v5 PUBLISH, failing the test on anything else.
pub fn parse_publish_v5(p: &RawPacket) -> RawPublish {
    assert_eq!(p.kind(), PUBLISH, "expected PUBLISH, got {p:?}");
    let b = &p.body;
    let qos = (p.header >> 1) & 3;
    let mut i = 0;
    let tlen = usize::from(read_u16(b, &mut i));
    let topic = String::from_utf8(b[i..i + tlen].to_vec()).expect("UTF-8 topic");
    i += tlen;
    let pkid = if qos > 0 { read_u16(b, &mut i) } else { 0 };
    let plen = read_varint(b, &mut i);
    let end = i + plen;
    let (mut topic_alias, mut message_expiry) = (None, None);
    while i < end {
        let id = b[i];
        i += 1;
        match id {
            0x01 => i += 1,
            0x02 => {
                message_expiry = Some(u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
                i += 4;
            }
            0x23 => topic_alias = Some(read_u16(b, &mut i)),
            0x0B => {
                read_varint(b, &mut i);
            }
            0x03 | 0x08 | 0x09 => {
                let n = usize::from(read_u16(b, &mut i));
                i += n;
            }
            0x26 => {
                for _ in 0..2 {
                    let n = usize::from(read_u16(b, &mut i));
                    i += n;
                }
            }
            other => panic!("unexpected property 0x{other:02X} in PUBLISH {p:?}"),
        }
    }
    RawPublish {
        topic,
        qos,
        retain: p.header & 1 == 1,
        pkid,
        topic_alias,
        message_expiry,
        payload: b[end..].to_vec(),
    }
}

/// Connects a raw v5 client and checks CONNACK 0x00.
pub async fn connect_v5_ok(addr: SocketAddr, connect: &[u8]) -> Raw {
    let mut raw = Raw::connect(addr).await;
    raw.send(connect).await.expect("send CONNECT");
    let ack = raw.expect_kind(CONNACK, "CONNACK").await;
    assert_eq!(ack.reason_code(), 0x00, "CONNACK reason code: {ack:?}");
    raw
}
