#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Hand-written byte vectors for all 15 packet types, in every version where each exists.
//!
//! Every vector is written out byte by byte from the specifications (MQTT 3.1, 3.1.1 §3 and
//! MQTT 5.0 §3), not produced by our encoder. Each one is decoded and compared with the
//! expected packet as a whole, and the expected packet must encode back to exactly those
//! bytes. Vectors whose properties appear in our encoder's order are byte-exact both ways;
//! valid but non-canonical forms are checked with [`decode_only`].

mod connect;
mod control;
mod publish;
mod streaming;
mod subscribe;

use core::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1};
use mqtt_proto::{
    ByteString, Bytes, BytesMut, DecodeOptions, Packet, ProtocolVersion, UserProperties,
};

const V3: [ProtocolVersion; 2] = [V3_1, V3_1_1];

// ---- helpers ---------------------------------------------------------------------------------

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn s(v: &'static str) -> ByteString {
    ByteString::from_static(v)
}

fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn user(pairs: &[(&'static str, &'static str)]) -> UserProperties {
    pairs.iter().map(|&(k, v)| (s(k), s(v))).collect()
}

/// Options for a server reading a client's packets.
fn from_client(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::server(v)
}

/// Options for a client reading a server's packets.
fn from_server(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::client(v)
}

/// Decodes `bytes` as exactly one packet equal to `expected`, then encodes `expected` back to
/// exactly `bytes`.
#[track_caller]
fn vector(bytes: &[u8], opts: &DecodeOptions, expected: &Packet) {
    let mut buf = BytesMut::from(bytes);
    let got = Packet::decode(&mut buf, opts);
    assert_eq!(
        got,
        Ok(Some(expected.clone())),
        "decode of {bytes:02x?} ({})",
        opts.version
    );
    assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    assert_eq!(
        expected.encoded_len(opts.version),
        bytes.len(),
        "encoded_len"
    );
    let mut out = BytesMut::new();
    expected.encode(opts.version, &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encode ({})", opts.version);
}

/// A valid but non-canonical form: it decodes to `expected`, which our encoder writes in its
/// shortest form, `canonical`.
#[track_caller]
fn decode_only(bytes: &[u8], opts: &DecodeOptions, expected: &Packet, canonical: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(Packet::decode(&mut buf, opts), Ok(Some(expected.clone())));
    assert!(buf.is_empty());
    vector(canonical, opts, expected);
}
