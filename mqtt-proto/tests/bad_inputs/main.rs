#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The rows of `shared/bad-inputs.md` that the codec decides on its own, one test per row (or
//! per item of a row), each sending the row's bytes. Rows the broker core decides in part
//! (4, 12, 15, 19) test the codec's share here and say what the core adds.

use mqtt_proto::{BytesMut, DecodeError, DecodeOptions, Packet, ProtocolVersion, ReasonCode};

pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;
pub(crate) const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

// ---- byte builders ----------------------------------------------------------------------------

pub(crate) fn vbi(mut n: usize) -> Vec<u8> {
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

pub(crate) fn s(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(crate) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    cat(&[&[first], &vbi(body.len()), body])
}

pub(crate) fn props(p: &[u8]) -> Vec<u8> {
    cat(&[&vbi(p.len()), p])
}

pub(crate) fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
    cat(&[&[0x26], &s(k), &s(v)])
}

/// CONNECT "MQTT" at `level` with keep alive 60; properties only on MQTT 5.
pub(crate) fn connect(level: u8, flags: u8, properties: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut b = cat(&[&s(b"MQTT"), &[level, flags, 0x00, 0x3C]]);
    if let Some(p) = properties {
        b.extend(props(p));
    }
    b.extend_from_slice(payload);
    frame(0x10, &b)
}

pub(crate) fn publish5(first: u8, topic: &[u8], pid: Option<u16>, properties: &[u8]) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend(props(properties));
    b.extend_from_slice(b"payload");
    frame(first, &b)
}

pub(crate) fn publish3(first: u8, topic: &[u8], pid: Option<u16>) -> Vec<u8> {
    let mut b = s(topic);
    if let Some(p) = pid {
        b.extend(p.to_be_bytes());
    }
    b.extend_from_slice(b"payload");
    frame(first, &b)
}

pub(crate) fn subscribe5(pid: u16, properties: &[u8], entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut b = cat(&[&pid.to_be_bytes(), &props(properties)]);
    for (f, o) in entries {
        b.extend(s(f));
        b.push(*o);
    }
    frame(0x82, &b)
}

// ---- decode helpers ---------------------------------------------------------------------------

pub(crate) fn server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

pub(crate) fn client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

#[track_caller]
pub(crate) fn accept(bytes: &[u8], opts: &DecodeOptions) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let p = match Packet::decode(&mut buf, opts) {
        Ok(Some(p)) => p,
        other => panic!("{bytes:02X?} should decode, got {other:?}"),
    };
    assert!(buf.is_empty(), "frame not fully consumed");
    p
}

/// Asserts the exact error, its reason code, and that `buf` is left as it was.
#[track_caller]
pub(crate) fn reject(bytes: &[u8], opts: &DecodeOptions, want: DecodeError, code: u8) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(
        Packet::decode(&mut buf, opts),
        Err(want),
        "bytes {bytes:02X?}"
    );
    assert_eq!(&buf[..], bytes);
    assert_eq!(want.reason_code(), ReasonCode(code), "{want:?}");
}

/// Puts `bytes` in a buffer with spare room, decodes, and checks that the decoder neither
/// consumed nor reserved anything. Returns the decode result.
#[track_caller]
pub(crate) fn decode_no_growth(
    bytes: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(bytes);
    let cap = buf.capacity();
    let got = Packet::decode(&mut buf, opts);
    assert_eq!(&buf[..], bytes, "nothing consumed");
    assert_eq!(buf.capacity(), cap, "nothing reserved for the claimed body");
    got
}

mod framing;
mod properties;
