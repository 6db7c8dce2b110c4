//! Cross-check of the MQTT 5.0 wire format against an independent codec:
//! [`mqtt5-protocol`](https://crates.io/crates/mqtt5-protocol) 0.16.2 (LabOverWire's
//! `mqtt-lib`), which covers all 15 packet types including AUTH.
//!
//! Every packet type goes both ways:
//! * ours encodes → `mqtt5-protocol` decodes; what it decoded is translated field by field into
//!   our model (`to_ours`) and must equal the packet we encoded;
//! * the same packet translated into their model (`to_theirs`) is encoded by `mqtt5-protocol`
//!   → ours decodes it, and must get the packet back.
//!
//! The two translations are written independently, field by field, with exhaustive
//! destructuring so that a field added on either side fails to compile here; every property
//! they decoded must be claimed by a field of ours, so an extra property is an error too.
//! `mqtt5-protocol` keeps properties in a hash map, so its property order is arbitrary, and it
//! does not pick the shortest form for every packet: the two byte strings are not compared,
//! only the decoded fields.
//!
//! Differences with `mqtt5-protocol` 0.16.2, each pinned by a test of its own (our codec is
//! not weakened):
//! * Deviation of theirs: it refuses a CONNECT with a password and no user name even on
//!   MQTT 5, where §3.1.2.9 allows it (that rule was MQTT 3.1.1's [MQTT-3.1.2-22]):
//!   `connect_password_without_username_is_refused_by_mqtt5_protocol_only`.
//! * Agreement: both decoders refuse an AUTH with Continue authentication or Re-authenticate
//!   and no Authentication Method [MQTT-3.15.2.2.2]:
//!   `auth_without_method_is_refused_by_both_mqtt_3_15_2_2_2`.
//! * Form: for a PUBACK-like packet with a failure reason and no properties it writes the
//!   reason and an empty property length (4 bytes), we write the 3-byte form §3.4.2.1 also
//!   allows; each reads the other's: `ack_with_reason_and_no_properties_short_forms`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod connect;
mod control;
mod differences;
mod publish;
mod stream;
mod subscribe;
mod translate_packets;
mod translate_props;

use core::num::{NonZeroU16, NonZeroU32};

use m5::packet::pingreq::PingReqPacket;
use m5::packet::pingresp::PingRespPacket;
use m5::packet::{FixedHeader as TFixedHeader, MqttPacket, Packet as TPacket};
use m5::ReasonCode as TReason;
use mqtt5_protocol as m5;
use mqtt_proto::{
    ByteString, Bytes, BytesMut, DecodeError, DecodeOptions, Packet, ProtocolVersion, QoS,
    UserProperties,
};

use crate::translate_packets::{to_ours, to_theirs};

const V: ProtocolVersion = ProtocolVersion::V5;

/// Who sends a packet, which picks the decoder options on our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

const BOTH: [Sender; 2] = [Sender::Client, Sender::Server];

// ---- small helpers ------------------------------------------------------------------------

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn nz16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("a non-zero two-byte property")
}

fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a non-zero four-byte property")
}

fn s(v: &str) -> ByteString {
    ByteString::from(v)
}

fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

fn users(pairs: &[(&str, &str)]) -> UserProperties {
    pairs.iter().map(|&(k, v)| (s(k), s(v))).collect()
}

/// Several user properties: a repeated key, empty strings, non-ASCII, order to keep.
fn many_users() -> UserProperties {
    users(&[
        ("k", "v1"),
        ("", ""),
        ("k", "v2"),
        ("\u{e9}t\u{e9}", "\u{1f600}"),
        ("z", "last"),
    ])
}

fn qos_theirs(q: QoS) -> m5::QoS {
    match q {
        QoS::AtMostOnce => m5::QoS::AtMostOnce,
        QoS::AtLeastOnce => m5::QoS::AtLeastOnce,
        QoS::ExactlyOnce => m5::QoS::ExactlyOnce,
    }
}

fn qos_ours(q: m5::QoS) -> QoS {
    match q {
        m5::QoS::AtMostOnce => QoS::AtMostOnce,
        m5::QoS::AtLeastOnce => QoS::AtLeastOnce,
        m5::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

fn reason_theirs(code: u8) -> TReason {
    TReason::from_u8(code).unwrap_or_else(|| panic!("mqtt5-protocol has no reason {code:#04x}"))
}

// ---- the two codecs -----------------------------------------------------------------------

fn opts(from: Sender) -> DecodeOptions {
    let base = match from {
        Sender::Client => DecodeOptions::server(V),
        Sender::Server => DecodeOptions::client(V),
    };
    DecodeOptions {
        topic_alias_maximum: u16::MAX,
        ..base
    }
}

fn encode_ours(p: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    p.encode(V, &mut buf).unwrap();
    assert_eq!(
        buf.len(),
        p.encoded_len(V),
        "encoded_len disagrees with encode"
    );
    buf
}

fn decode_ours(bytes: &[u8], from: Sender) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let p = Packet::decode(&mut buf, &opts(from))?.expect("a whole frame was buffered");
    assert!(buf.is_empty(), "our decoder left {} bytes", buf.len());
    Ok(p)
}

fn encode_theirs(p: &TPacket) -> BytesMut {
    let mut buf = BytesMut::new();
    match p {
        TPacket::Connect(x) => x.encode(&mut buf),
        TPacket::ConnAck(x) => x.encode(&mut buf),
        TPacket::Publish(x) => x.encode(&mut buf),
        TPacket::PubAck(x) => x.encode(&mut buf),
        TPacket::PubRec(x) => x.encode(&mut buf),
        TPacket::PubRel(x) => x.encode(&mut buf),
        TPacket::PubComp(x) => x.encode(&mut buf),
        TPacket::Subscribe(x) => x.encode(&mut buf),
        TPacket::SubAck(x) => x.encode(&mut buf),
        TPacket::Unsubscribe(x) => x.encode(&mut buf),
        TPacket::UnsubAck(x) => x.encode(&mut buf),
        TPacket::PingReq => PingReqPacket::default().encode(&mut buf),
        TPacket::PingResp => PingRespPacket::default().encode(&mut buf),
        TPacket::Disconnect(x) => x.encode(&mut buf),
        TPacket::Auth(x) => x.encode(&mut buf),
    }
    .unwrap_or_else(|e| panic!("mqtt5-protocol cannot encode {p:?}: {e}"));
    buf
}

/// Decodes one whole frame with `mqtt5-protocol`, checking that it uses up every byte.
fn try_decode_theirs(bytes: &[u8]) -> m5::Result<TPacket> {
    let mut frame = Bytes::copy_from_slice(bytes);
    let header = TFixedHeader::decode(&mut frame)?;
    assert_eq!(
        header.remaining_length as usize,
        frame.len(),
        "remaining length disagrees with the frame"
    );
    let p = TPacket::decode_from_body_with_version(header.packet_type, &header, &mut frame, 5)?;
    assert!(
        frame.is_empty(),
        "mqtt5-protocol left {} bytes",
        frame.len()
    );
    Ok(p)
}

fn decode_theirs(bytes: &[u8]) -> TPacket {
    try_decode_theirs(bytes).unwrap_or_else(|e| panic!("mqtt5-protocol refused {bytes:02x?}: {e}"))
}

/// The heart of the file: one packet, both ways.
fn crosscheck(ours: Packet, from: Sender) {
    // Ours encodes, theirs decodes: the fields they see are the ones we wrote.
    let ours_bytes = encode_ours(&ours);
    let decoded = decode_theirs(&ours_bytes);
    assert_eq!(
        to_ours(&decoded),
        ours,
        "mqtt5-protocol decoded our bytes {ours_bytes:02x?} as {decoded:?}"
    );

    // Theirs encodes, ours decodes.
    let theirs = to_theirs(&ours);
    let their_bytes = encode_theirs(&theirs);
    let back = decode_ours(&their_bytes, from)
        .unwrap_or_else(|e| panic!("we refused mqtt5-protocol's {their_bytes:02x?}: {e}"));
    assert_eq!(back, ours, "we decoded mqtt5-protocol's {their_bytes:02x?}");
}
