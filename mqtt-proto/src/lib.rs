//! Sans-IO MQTT codec for MQTT 5.0, 3.1.1 and 3.1.
//!
//! One packet model ([`Packet`]) serves all three versions; [`ProtocolVersion`] is a value
//! that selects the wire format. The crate does no I/O, reads no clock and keeps no state
//! across packets.
//!
//! # Decoding
//! [`Packet::decode`] works on the caller's `&mut BytesMut`. It returns `Ok(None)` until a
//! whole frame is buffered, and checks the remaining length against
//! [`DecodeOptions::max_packet_size`] as soon as the fixed header is readable, before the body
//! is buffered. Inside a frame, fields are parsed with `nom` complete parsers over bounded
//! sub-slices, and trailing bytes are refused. Topics, payloads and binary properties are
//! [`bytes::Bytes`] slices of the frame: decoding a PUBLISH copies nothing and allocates
//! nothing unless it carries more than one user property or subscription identifier (the
//! lists keep one inline; `tests/alloc.rs`). A PUBLISH without properties (the hot path) is
//! checked by a dedicated scan of the buffered bytes that accepts only what the general parser
//! accepts, and is otherwise left to it; a unit test holds the two to the same result on
//! mutated frames.
//!
//! # Validation
//! Every rule is a [`DecodeError`] variant named after it, with its conformance id in the
//! message, mapped to its reason code by [`DecodeError::reason_code`]. Topic-filter syntax,
//! which is answered per filter in SUBACK rather than by closing, lives in [`topic`].
//!
//! UTF-8 policy: ill-formed UTF-8 and U+0000 are always malformed [MQTT-1.5.4-1],
//! [MQTT-1.5.4-2]; a BOM is passed through unchanged [MQTT-1.5.4-3]; control characters
//! U+0001..U+001F and U+007F..U+009F are rejected by default ([`ControlChars`]).
//! Remaining lengths that are not minimally encoded are rejected [MQTT-1.5.5-1].
//!
//! # Encoding
//! [`Packet::encode`] appends to the caller's `BytesMut`; [`Packet::encoded_len`] is exact.
//! [`Packet::encode_within`] fits a peer's Maximum Packet Size by leaving out the reason string
//! and then the user properties, or reports [`EncodeError::PacketTooLarge`].
#![forbid(unsafe_code)]

mod error;
mod packets;
pub mod properties;
mod reason;
pub mod topic;
mod types;
mod wire;

pub use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;

pub use error::{DecodeError, EncodeError};
pub use packets::{
    parse_fixed_header, peek_connect_version, Ack, AckReason, Auth, ConnAck, Connect,
    DecodeOptions, Disconnect, FixedHeader, LastWill, Packet, PubAck, PubComp, PubRec, PubRel,
    Publish, PublishView, Reasoned, RetainHandling, SubAck, Subscribe, Subscription,
    SubscriptionOptions, UnsubAck, Unsubscribe, DEFAULT_MAX_USER_PROPERTIES, MAX_PACKET_SIZE,
};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperties, UserProperty,
    WillProperties,
};
pub use reason::{
    AuthReasonCode, ConnectReasonCode, ConnectReturnCode, DisconnectReasonCode, PubAckReasonCode,
    PubCompReasonCode, PubRecReasonCode, PubRelReasonCode, ReasonCode, SubAckReasonCode,
    UnsubAckReasonCode,
};
pub use types::{PacketType, ProtocolVersion, QoS, QosPid, Role};
pub use wire::{varint_len, ControlChars, MAX_VARINT};
