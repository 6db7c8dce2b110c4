#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! One test per rule the decoder enforces: each sends hand-written bytes and asserts the exact
//! [`DecodeError`] variant and the reason code it maps to. Test names carry the conformance id
//! of the rule (or its section, `mqtt_3_8_3_1`, where the spec gives no numbered statement).

mod acks;
mod connect;
mod framing;
mod properties;
mod publish;
mod subscribe;
mod topics;
mod utf8;

use mqtt_proto::{BytesMut, DecodeError, DecodeOptions, Packet, ProtocolVersion, ReasonCode};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V31: ProtocolVersion = ProtocolVersion::V3_1;

// ---- byte builders (hand-written fields; the codec's encoder is never used) -----------------

/// A variable byte integer, written out by hand.
fn vbi(mut n: usize) -> Vec<u8> {
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

/// A two-byte length prefix and the bytes (UTF-8 string or binary data).
fn s(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// First header byte, remaining length, body.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    cat(&[&[first], &vbi(body.len()), body])
}

/// A property block: its length, then the properties.
fn props(p: &[u8]) -> Vec<u8> {
    cat(&[&vbi(p.len()), p])
}

/// A User Property (0x26).
fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
    cat(&[&[0x26], &s(k), &s(v)])
}

/// CONNECT named "MQTT" at `level`, keep alive 60; `props` only when given (MQTT 5).
fn connect(level: u8, flags: u8, properties: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut b = cat(&[&s(b"MQTT"), &[level, flags, 0x00, 0x3C]]);
    if let Some(p) = properties {
        b.extend(props(p));
    }
    b.extend_from_slice(payload);
    frame(0x10, &b)
}

fn connect5(flags: u8, properties: &[u8], payload: &[u8]) -> Vec<u8> {
    connect(5, flags, Some(properties), payload)
}

fn connect3(flags: u8, payload: &[u8]) -> Vec<u8> {
    connect(4, flags, None, payload)
}

fn publish5(
    first: u8,
    topic: &[u8],
    pid: Option<u16>,
    properties: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend(props(properties));
    b.extend_from_slice(payload);
    frame(first, &b)
}

fn publish3(first: u8, topic: &[u8], pid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend_from_slice(payload);
    frame(first, &b)
}

fn subscribe5(pid: u16, properties: &[u8], entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = cat(&[&pid.to_be_bytes(), &props(properties)]);
    for (f, o) in entries {
        b.extend(s(f));
        b.push(*o);
    }
    frame(0x82, &b)
}

fn subscribe3(pid: u16, entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    for (f, o) in entries {
        b.extend(s(f));
        b.push(*o);
    }
    frame(0x82, &b)
}

fn unsubscribe5(pid: u16, properties: &[u8], filters: &[&[u8]]) -> Vec<u8> {
    let mut b = cat(&[&pid.to_be_bytes(), &props(properties)]);
    for f in filters {
        b.extend(s(f));
    }
    frame(0xA2, &b)
}

fn unsubscribe3(pid: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    for f in filters {
        b.extend(s(f));
    }
    frame(0xA2, &b)
}

// ---- decode helpers ---------------------------------------------------------------------------

fn server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

fn client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    Packet::decode(&mut buf, opts)
}

/// Decodes a whole frame that must be accepted, and checks it was consumed entirely.
#[track_caller]
fn accept(bytes: &[u8], opts: &DecodeOptions) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let p = match Packet::decode(&mut buf, opts) {
        Ok(Some(p)) => p,
        other => panic!("{bytes:02X?} should decode, got {other:?}"),
    };
    assert!(buf.is_empty(), "frame not fully consumed: {bytes:02X?}");
    p
}

/// Asserts the exact error and the reason code it maps to.
#[track_caller]
fn reject(bytes: &[u8], opts: &DecodeOptions, want: DecodeError, code: u8) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(
        Packet::decode(&mut buf, opts),
        Err(want),
        "bytes {bytes:02X?}"
    );
    assert_eq!(&buf[..], bytes, "after an error `buf` is left as it was");
    assert_eq!(
        want.reason_code(),
        ReasonCode(code),
        "reason code of {want:?}"
    );
}

fn publish_of(p: Packet) -> mqtt_proto::Publish {
    match p {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn connect_of(p: Packet) -> mqtt_proto::Connect {
    match p {
        Packet::Connect(c) => *c,
        other => panic!("expected CONNECT, got {other:?}"),
    }
}

fn subscribe_of(p: Packet) -> mqtt_proto::Subscribe {
    match p {
        Packet::Subscribe(s) => s,
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }
}
