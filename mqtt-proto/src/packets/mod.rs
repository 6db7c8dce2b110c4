//! The packet model: one [`Packet`] enum for MQTT 3.1, 3.1.1 and 5.0, with streaming decode and
//! encode into a caller's buffer.

mod connect;
mod control;
mod publish;
mod subscribe;

use core::num::NonZeroU16;

use bytes::{BufMut, BytesMut};

pub use connect::{peek_connect_version, ConnAck, Connect, LastWill};
pub use control::{Auth, Disconnect, Reasoned};
pub use publish::{Ack, AckReason, PubAck, PubComp, PubRec, PubRel, Publish, PublishView};
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use crate::error::{DecodeError, EncodeError};
use crate::properties::Trim;
use crate::types::{PacketType, ProtocolVersion, Role};
use crate::wire::{put_varint, varint_len, ControlChars, Reader, MAX_VARINT};

/// Largest packet MQTT can express: 1 header byte, 4 length bytes, 268,435,455 body bytes.
pub const MAX_PACKET_SIZE: u32 = 1 + 4 + MAX_VARINT;

/// Default cap on user properties in one packet (bad-inputs row 22).
pub const DEFAULT_MAX_USER_PROPERTIES: usize = 256;

/// Any MQTT control packet. CONNECT and CONNACK are boxed: they are large and rare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT.
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5 only).
    Auth(Auth),
}

/// What the decoder needs to know about the connection. Nothing here changes per packet.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Version negotiated by CONNECT. CONNECT itself is decoded in the version it names.
    pub version: ProtocolVersion,
    /// Who wrote the bytes: a client (we are the server) or a server.
    pub sender: Role,
    /// Largest whole packet accepted, in bytes, header included. Checked against the fixed
    /// header before the body is buffered.
    pub max_packet_size: u32,
    /// Topic Alias Maximum that the receiving side advertised; aliases above it are refused.
    pub topic_alias_maximum: u16,
    /// Most user properties accepted in one packet.
    pub max_user_properties: usize,
    /// Policy for control characters in strings.
    pub control_chars: ControlChars,
}

impl Default for DecodeOptions {
    /// Server side, MQTT 5, protocol maximum packet size, no topic aliases, strict UTF-8.
    fn default() -> Self {
        Self {
            version: ProtocolVersion::V5,
            sender: Role::Client,
            max_packet_size: MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            max_user_properties: DEFAULT_MAX_USER_PROPERTIES,
            control_chars: ControlChars::Reject,
        }
    }
}

impl DecodeOptions {
    /// Options for a server decoding a client's packets in `version`.
    pub fn server(version: ProtocolVersion) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }

    /// Options for a client decoding a server's packets in `version`.
    pub fn client(version: ProtocolVersion) -> Self {
        Self {
            version,
            sender: Role::Server,
            ..Self::default()
        }
    }
}

/// A parsed fixed header: the packet type, its flags and the frame's extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// Bytes of fixed header (type byte plus remaining length).
    pub header_len: usize,
    /// The remaining length.
    pub remaining_len: u32,
}

impl FixedHeader {
    /// Whole packet size in bytes.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len as usize
    }
}

/// Reads and checks the fixed header at the start of `buf`.
///
/// Returns `Ok(None)` while the header itself is incomplete. The packet type, its flags, its
/// direction and the size limit are all checked here, before any body byte is needed, so a
/// hostile length is refused without buffering (bad-inputs rows 2 and 4).
#[inline]
pub fn parse_fixed_header(
    buf: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<FixedHeader>, DecodeError> {
    let Some((&first, len_bytes)) = buf.split_first() else {
        return Ok(None);
    };
    let mut remaining_len: u32 = 0;
    let mut header_len = 0;
    for (i, &b) in len_bytes.iter().take(4).enumerate() {
        remaining_len |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            // [MQTT-1.5.5-1] minimal encoding: no trailing zero group (policy: reject).
            if b == 0 && i > 0 {
                return Err(DecodeError::VarIntNotMinimal);
            }
            header_len = 2 + i;
            break;
        }
    }
    if header_len == 0 {
        // [MQTT-1.5.5-1] at most four bytes of remaining length.
        if len_bytes.len() >= 4 {
            return Err(DecodeError::VarIntTooLong);
        }
        return Ok(None);
    }
    let packet_type = PacketType::from_u8(first >> 4).ok_or(DecodeError::ReservedPacketType)?;
    let flags = first & 0x0F;
    if packet_type == PacketType::Publish {
        // The hot path: PUBLISH goes both ways, in every version.
        debug_assert!(packet_type.client_may_send() && packet_type.server_may_send());
        // [MQTT-3.3.1-4] QoS 3 is malformed (checked early, before buffering the body).
        if flags & 0x06 == 0x06 {
            return Err(DecodeError::PublishQos3);
        }
    } else {
        // [MQTT-2.1.3-1] flags of every packet but PUBLISH are fixed.
        if packet_type.fixed_flags() != Some(flags) {
            return Err(DecodeError::InvalidHeaderFlags(packet_type));
        }
        let allowed = match opts.sender {
            Role::Client => packet_type.client_may_send(),
            Role::Server => packet_type.server_may_send(),
        };
        // AUTH exists only in MQTT 5; CONNECT names its own version.
        let in_version = packet_type != PacketType::Auth || opts.version.is_v5();
        if !allowed || !in_version {
            return Err(DecodeError::UnexpectedPacket(packet_type));
        }
    }
    let size = header_len as u64 + u64::from(remaining_len);
    // [MQTT-3.1.2-24] refuse anything above the maximum packet size before buffering it.
    if size > u64::from(opts.max_packet_size) {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: opts.max_packet_size,
        });
    }
    Ok(Some(FixedHeader {
        packet_type,
        flags,
        header_len,
        remaining_len,
    }))
}

/// Puts a frame that failed to decode back at the front of `buf`. Without copying when the
/// frame is no longer shared (the failed packet's slices are dropped by now).
#[cold]
fn restore_frame(buf: &mut BytesMut, frame: bytes::Bytes) {
    let mut whole = frame
        .try_into_mut()
        .unwrap_or_else(|frame| BytesMut::from(&frame[..]));
    whole.unsplit(core::mem::take(buf));
    *buf = whole;
}

impl Packet {
    /// Decodes one packet from the front of `buf`.
    ///
    /// Returns `Ok(None)` ("need more") until a whole frame is buffered; nothing is consumed
    /// then. On success the frame is split off `buf`, and the packet's strings, payload and
    /// binary properties are slices of it, not copies. After an error the connection must be
    /// closed: `buf` is left as it was.
    #[inline]
    pub fn decode(buf: &mut BytesMut, opts: &DecodeOptions) -> Result<Option<Packet>, DecodeError> {
        let Some(h) = parse_fixed_header(buf, opts)? else {
            return Ok(None);
        };
        let total = h.packet_len();
        if buf.len() < total {
            return Ok(None);
        }
        if h.packet_type == PacketType::Publish {
            // The hot path: a PUBLISH without properties is checked on the buffered bytes and
            // then built from the frame without a Reader. Anything else takes the path below.
            let plain = buf
                .get(..total)
                .and_then(|f| Publish::scan_plain(f, h.header_len, h.flags, opts));
            if let Some(plain) = plain {
                return Publish::decode_plain(buf, total, plain);
            }
        } else if h.remaining_len == 2 {
            // The other hot path: PUBACK, PUBREC, PUBREL or PUBCOMP in its short form (a packet
            // identifier only: success, no properties; every 3.x ack). Nothing is split off
            // the buffer. An identifier of 0, and anything else, takes the path below.
            if let Some(p) = Self::decode_short_ack(buf, h) {
                return Ok(Some(p));
            }
        }
        Self::decode_frame(buf, h, opts)
    }

    /// The acknowledgement [`Packet::decode_frame`] would decode from a whole, buffered frame
    /// of two body bytes, consumed from `buf`; `None` (nothing consumed) for another packet
    /// type or a packet identifier of 0 [MQTT-2.2.1-3].
    #[inline]
    fn decode_short_ack(buf: &mut BytesMut, h: FixedHeader) -> Option<Packet> {
        let pid = match buf.get(h.header_len..h.header_len + 2)? {
            &[hi, lo] => NonZeroU16::new(u16::from_be_bytes([hi, lo]))?,
            _ => return None,
        };
        let p = match h.packet_type {
            PacketType::PubAck => Packet::PubAck(PubAck::new(pid)),
            PacketType::PubRec => Packet::PubRec(PubRec::new(pid)),
            PacketType::PubRel => Packet::PubRel(PubRel::new(pid)),
            PacketType::PubComp => Packet::PubComp(PubComp::new(pid)),
            _ => return None,
        };
        bytes::Buf::advance(buf, h.packet_len());
        Some(p)
    }

    /// Decodes the whole frame that `h` describes, which is buffered. Kept out of line so that
    /// the PUBLISH fast path in [`Packet::decode`] stays small.
    #[inline(never)]
    fn decode_frame(
        buf: &mut BytesMut,
        h: FixedHeader,
        opts: &DecodeOptions,
    ) -> Result<Option<Packet>, DecodeError> {
        let frame = buf.split_to(h.packet_len()).freeze();
        let body = frame.get(h.header_len..).unwrap_or_default();
        let mut r = Reader::new(&frame, body, opts);
        let packet = if h.packet_type == PacketType::Publish {
            Publish::read(&mut r, h.flags).map(Packet::Publish)
        } else {
            Self::decode_body(h, &mut r)
        };
        match packet {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                // Keep the contract above: on error `buf` is left as it was.
                restore_frame(buf, frame);
                Err(e)
            }
        }
    }

    #[inline(never)]
    fn decode_body(h: FixedHeader, r: &mut Reader<'_>) -> Result<Packet, DecodeError> {
        Ok(match h.packet_type {
            PacketType::Publish => Packet::Publish(Publish::read(r, h.flags)?),
            PacketType::PubAck => Packet::PubAck(PubAck::read(r, PacketType::PubAck)?),
            PacketType::PubRec => Packet::PubRec(PubRec::read(r, PacketType::PubRec)?),
            PacketType::PubRel => Packet::PubRel(PubRel::read(r, PacketType::PubRel)?),
            PacketType::PubComp => Packet::PubComp(PubComp::read(r, PacketType::PubComp)?),
            PacketType::Connect => Packet::Connect(Box::new(Connect::read(r)?)),
            PacketType::ConnAck => Packet::ConnAck(Box::new(ConnAck::read(r)?)),
            PacketType::Subscribe => Packet::Subscribe(Subscribe::read(r)?),
            PacketType::SubAck => Packet::SubAck(SubAck::read(r)?),
            PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::read(r)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::read(r)?),
            PacketType::PingReq => {
                r.finish(PacketType::PingReq)?;
                Packet::PingReq
            }
            PacketType::PingResp => {
                r.finish(PacketType::PingResp)?;
                Packet::PingResp
            }
            PacketType::Disconnect => Packet::Disconnect(Disconnect::read_disconnect(r)?),
            PacketType::Auth => Packet::Auth(Auth::read_auth(r)?),
        })
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    fn header_byte(&self) -> u8 {
        match self {
            Packet::Publish(p) => p.header_byte(),
            other => {
                let t = other.packet_type();
                ((t as u8) << 4) | t.fixed_flags().unwrap_or(0)
            }
        }
    }

    /// The version a packet is written in: CONNECT carries its own.
    fn wire_version(&self, v: ProtocolVersion) -> ProtocolVersion {
        match self {
            Packet::Connect(c) => c.protocol_version,
            _ => v,
        }
    }

    fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        match self {
            Packet::Publish(p) => p.body_len(v, trim),
            Packet::PubAck(a) | Packet::PubRec(a) => a.body_len(v, trim),
            Packet::PubRel(a) | Packet::PubComp(a) => a.body_len(v, trim),
            Packet::Connect(c) => c.body_len(trim),
            Packet::ConnAck(c) => c.body_len(v, trim),
            Packet::Subscribe(s) => s.body_len(v, trim),
            Packet::SubAck(s) => s.body_len(v, trim),
            Packet::Unsubscribe(u) => u.body_len(v, trim),
            Packet::UnsubAck(u) => u.body_len(v, trim),
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(d) => d.body_len(v, trim),
            Packet::Auth(a) => a.body_len(v, trim),
        }
    }

    fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        match self {
            Packet::Publish(p) => p.write_body(v, buf, trim),
            Packet::PubAck(a) | Packet::PubRec(a) => a.write_body(v, buf, trim),
            Packet::PubRel(a) | Packet::PubComp(a) => a.write_body(v, buf, trim),
            Packet::Connect(c) => c.write_body(buf, trim),
            Packet::ConnAck(c) => c.write_body(v, buf, trim),
            Packet::Subscribe(s) => s.write_body(v, buf, trim),
            Packet::SubAck(s) => s.write_body(v, buf, trim),
            Packet::Unsubscribe(u) => u.write_body(v, buf, trim),
            Packet::UnsubAck(u) => u.write_body(v, buf, trim),
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(d) => d.write_body(v, buf, trim),
            Packet::Auth(a) => a.write_body(v, buf, trim),
        }
    }

    fn len_with(&self, v: ProtocolVersion, trim: Trim) -> usize {
        let body = self.body_len(v, trim);
        1 + varint_len(u32::try_from(body).unwrap_or(u32::MAX)) + body
    }

    /// Exact number of bytes [`Packet::encode`] writes for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        self.len_with(self.wire_version(version), Trim::NONE)
    }

    /// Appends the packet to `buf`, in `version` (CONNECT uses its own version).
    ///
    /// On error nothing is appended.
    #[inline]
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_trimmed(self.wire_version(version), buf, Trim::NONE)
    }

    /// Appends the packet to `buf` so that it fits the peer's Maximum Packet Size.
    ///
    /// When the whole packet is too large, the Reason String is left out, then the User
    /// Properties too, as MQTT 5 allows for those diagnostics in CONNACK, the acks, DISCONNECT
    /// and AUTH ([MQTT-3.1.2-25], e.g. [MQTT-3.4.2-2], [MQTT-3.4.2-3]). PUBLISH, CONNECT,
    /// SUBSCRIBE and UNSUBSCRIBE are never trimmed: their user properties are application data. If it still does not fit,
    /// [`EncodeError::PacketTooLarge`] is returned and nothing is appended.
    pub fn encode_within(
        &self,
        version: ProtocolVersion,
        max_packet_size: u32,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if let Some((header, pid)) = self.short_ack(version) {
            // The common acknowledgement, four bytes: what the general path writes for it.
            if max_packet_size < 4 {
                return Err(EncodeError::PacketTooLarge {
                    size: 4,
                    max: max_packet_size,
                });
            }
            buf.reserve(4);
            buf.put_u8(header);
            buf.put_u8(2);
            buf.put_u16(pid.get());
            return Ok(());
        }
        self.encode_within_general(version, max_packet_size, buf)
    }

    /// The first header byte and packet identifier of a PUBACK, PUBREC, PUBREL or PUBCOMP
    /// whose body is its identifier alone in `version` (success without properties on MQTT 5;
    /// any on 3.x, which has neither).
    #[inline]
    fn short_ack(&self, version: ProtocolVersion) -> Option<(u8, NonZeroU16)> {
        fn short<C: AckReason>(a: &Ack<C>, v5: bool) -> Option<NonZeroU16> {
            let plain = a.reason_code == C::SUCCESS
                && a.properties.reason_string.is_none()
                && a.properties.user_properties.is_empty();
            (!v5 || plain).then_some(a.packet_id)
        }
        let v5 = version.is_v5();
        let pid = match self {
            Packet::PubAck(a) | Packet::PubRec(a) => short(a, v5)?,
            Packet::PubRel(a) | Packet::PubComp(a) => short(a, v5)?,
            _ => return None,
        };
        Some((self.header_byte(), pid))
    }

    /// [`Packet::encode_within`] for any packet.
    fn encode_within_general(
        &self,
        version: ProtocolVersion,
        max_packet_size: u32,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let v = self.wire_version(version);
        let max = max_packet_size as usize;
        const DIAGNOSTICS: &[Trim] = &[Trim::NONE, Trim::REASON, Trim::REASON_AND_USER];
        let trims: &[Trim] = match self {
            // Diagnostics the spec lets a sender leave out to fit, e.g. [MQTT-3.2.2-19/20].
            Packet::ConnAck(_)
            | Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::Disconnect(_)
            | Packet::Auth(_) => DIAGNOSTICS,
            // Application data: never trimmed.
            _ => &[Trim::NONE],
        };
        let mut smallest = usize::MAX;
        for &trim in trims {
            let len = self.len_with(v, trim);
            if len <= max {
                return self.encode_trimmed(v, buf, trim);
            }
            smallest = smallest.min(len);
        }
        Err(EncodeError::PacketTooLarge {
            size: smallest,
            max: max_packet_size,
        })
    }

    #[inline]
    fn encode_trimmed(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if let Packet::Publish(p) = self {
            // The hot path, without dispatch on the packet type.
            return encode_frame(buf, p.header_byte(), p.body_len(v, trim), |buf| {
                p.write_body(v, buf, trim)
            });
        }
        if matches!(self, Packet::Auth(_)) && !v.is_v5() {
            return Err(EncodeError::UnsupportedInVersion(PacketType::Auth));
        }
        encode_frame(buf, self.header_byte(), self.body_len(v, trim), |buf| {
            self.write_body(v, buf, trim)
        })
    }
}

/// Appends the fixed header and then the body that `write` appends, which must be `body`
/// bytes long. On error nothing is appended.
#[inline(always)]
pub(crate) fn encode_frame(
    buf: &mut BytesMut,
    header: u8,
    body: usize,
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let body = u32::try_from(body)
        .ok()
        .filter(|b| *b <= MAX_VARINT)
        .ok_or(EncodeError::RemainingLengthTooLarge)?;
    let start = buf.len();
    buf.reserve(1 + varint_len(body) + body as usize);
    buf.put_u8(header);
    put_varint(buf, body);
    if let Err(e) = write(buf) {
        buf.truncate(start);
        return Err(e);
    }
    debug_assert_eq!(buf.len() - start, 1 + varint_len(body) + body as usize);
    Ok(())
}

macro_rules! from_impls {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Packet {
            fn from(p: $ty) -> Self {
                Packet::$variant(p)
            }
        }
    )*};
}

from_impls!(
    Publish(Publish),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);

impl From<Connect> for Packet {
    fn from(p: Connect) -> Self {
        Packet::Connect(Box::new(p))
    }
}

impl From<ConnAck> for Packet {
    fn from(p: ConnAck) -> Self {
        Packet::ConnAck(Box::new(p))
    }
}
