//! Shared helpers for the `mqtt-proto` fuzz targets.
//!
//! Every target reads its input as `[selector] [target-specific header] [stream]`. The
//! selector byte picks the decoder options (see [`options`] and `fuzz/README.md`); the
//! stream is what a peer would have written on a fresh connection.

use mqtt_proto::{
    BytesMut, ControlChars, DecodeError, DecodeOptions, Packet, ProtocolVersion,
    DEFAULT_MAX_USER_PROPERTIES, MAX_PACKET_SIZE,
};

/// Selector bits (byte 0 of every input).
pub mod sel {
    /// Bits 0-1: 0 = MQTT 3.1, 1 = MQTT 3.1.1, 2 and 3 = MQTT 5.
    pub const VERSION_MASK: u8 = 0b0000_0011;
    /// Bit 2: set = decode a server's packets (`DecodeOptions::client`), clear = a client's.
    pub const FROM_SERVER: u8 = 0b0000_0100;
    /// Bit 3: set = allow control characters in strings.
    pub const ALLOW_CONTROL: u8 = 0b0000_1000;
    /// Bit 4: set = topic alias maximum 8, clear = 65,535.
    pub const SMALL_ALIAS_MAX: u8 = 0b0001_0000;
    /// Bit 5: set = at most 2 user properties, clear = the default 256.
    pub const FEW_USER_PROPS: u8 = 0b0010_0000;
    /// Bit 6: set = maximum packet size 128 bytes, clear = the protocol maximum.
    pub const SMALL_MAX_PACKET: u8 = 0b0100_0000;
    /// Bit 7: set = the decode target also feeds the stream one byte at a time.
    pub const INCREMENTAL: u8 = 0b1000_0000;
}

/// The protocol version selected by bits 0-1.
pub fn version(selector: u8) -> ProtocolVersion {
    match selector & sel::VERSION_MASK {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    }
}

/// Decoder options for a selector byte. With bits 3-6 clear these are `DecodeOptions::server`
/// or `::client` with the topic alias maximum raised to 65,535, so that every alias decodes.
pub fn options(selector: u8) -> DecodeOptions {
    let v = version(selector);
    let mut o = if selector & sel::FROM_SERVER != 0 {
        DecodeOptions::client(v)
    } else {
        DecodeOptions::server(v)
    };
    o.control_chars = if selector & sel::ALLOW_CONTROL != 0 {
        ControlChars::Allow
    } else {
        ControlChars::Reject
    };
    o.topic_alias_maximum = if selector & sel::SMALL_ALIAS_MAX != 0 {
        8
    } else {
        u16::MAX
    };
    o.max_user_properties = if selector & sel::FEW_USER_PROPS != 0 {
        2
    } else {
        DEFAULT_MAX_USER_PROPERTIES
    };
    o.max_packet_size = if selector & sel::SMALL_MAX_PACKET != 0 {
        128
    } else {
        MAX_PACKET_SIZE
    };
    o
}

/// How a stream ended: cleanly (everything consumed, or a partial frame left over) or with an
/// error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every packet decoded, in order.
    pub packets: Vec<Packet>,
    /// The error that stopped decoding, if any.
    pub error: Option<DecodeError>,
    /// Bytes left in the buffer at the end.
    pub left: usize,
}

/// Decodes `stream` in one buffer until `Ok(None)` or an error. Checks the decoder's contract:
/// nothing is consumed by `Ok(None)` or by an error.
pub fn decode_whole(stream: &[u8], opts: &DecodeOptions) -> Outcome {
    let mut buf = BytesMut::from(stream);
    let mut packets = Vec::new();
    loop {
        let before = buf.len();
        match Packet::decode(&mut buf, opts) {
            Ok(Some(p)) => {
                assert!(buf.len() < before, "a packet was decoded from no bytes");
                packets.push(p);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return Outcome {
                    packets,
                    error: None,
                    left: buf.len(),
                };
            }
            Err(e) => {
                assert_eq!(buf.len(), before, "an error consumed bytes");
                // Exercise the error's formatting and reason-code mapping.
                let _ = e.reason_code();
                let _ = e.to_string();
                return Outcome {
                    packets,
                    error: Some(e),
                    left: buf.len(),
                };
            }
        }
    }
}

/// Decodes `stream` as if it arrived one byte at a time.
pub fn decode_bytewise(stream: &[u8], opts: &DecodeOptions) -> Outcome {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for &b in stream {
        buf.extend_from_slice(&[b]);
        loop {
            let before = buf.len();
            match Packet::decode(&mut buf, opts) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Err(e) => {
                    return Outcome {
                        packets,
                        error: Some(e),
                        left: buf.len(),
                    }
                }
            }
        }
    }
    Outcome {
        packets,
        error: None,
        left: buf.len(),
    }
}

/// Encodes `p` in `v`, checks `encoded_len`, decodes it back with `opts` and checks that the
/// same packet comes out and that the frame is consumed exactly. Returns the encoding.
pub fn assert_roundtrip(p: &Packet, v: ProtocolVersion, opts: &DecodeOptions) -> BytesMut {
    let mut buf = BytesMut::new();
    if let Err(e) = p.encode(v, &mut buf) {
        panic!("a decoded packet failed to encode: {e:?}\n{p:#?}");
    }
    assert_eq!(
        buf.len(),
        p.encoded_len(v),
        "encoded_len disagrees with encode for {p:#?}"
    );
    let mut again = buf.clone();
    match Packet::decode(&mut again, opts) {
        Ok(Some(q)) => {
            assert_eq!(&q, p, "decode(encode(p)) != p; encoding {:02x?}", &buf[..]);
            assert!(again.is_empty(), "the re-encoded frame was not consumed");
        }
        other => panic!(
            "re-decoding failed: {other:?}\n{p:#?}\nencoding {:02x?}",
            &buf[..]
        ),
    }
    buf
}

/// `p` without the diagnostics that `encode_within` may leave out: the reason string (`reason`)
/// and the user properties (`user`). PUBLISH, CONNECT, SUBSCRIBE and UNSUBSCRIBE, whose user
/// properties are application data, are returned unchanged.
pub fn strip(p: &Packet, reason: bool, user: bool) -> Packet {
    macro_rules! clear {
        ($props:expr, reason) => {{
            if reason {
                $props.reason_string = None;
            }
            if user {
                $props.user_properties.clear();
            }
        }};
    }
    let mut q = p.clone();
    match &mut q {
        Packet::Publish(_)
        | Packet::Connect(_)
        | Packet::Subscribe(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq
        | Packet::PingResp => {}
        Packet::ConnAck(c) => clear!(c.properties, reason),
        Packet::PubAck(a) | Packet::PubRec(a) => clear!(a.properties, reason),
        Packet::PubRel(a) | Packet::PubComp(a) => clear!(a.properties, reason),
        Packet::SubAck(s) => clear!(s.properties, reason),
        Packet::UnsubAck(u) => clear!(u.properties, reason),
        Packet::Disconnect(d) => clear!(d.properties, reason),
        Packet::Auth(a) => clear!(a.properties, reason),
    }
    q
}

/// Whether `encode_within` may leave diagnostics out of this packet type.
pub fn trimmable(p: &Packet) -> bool {
    !matches!(
        p,
        Packet::Publish(_)
            | Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq
            | Packet::PingResp
    )
}
