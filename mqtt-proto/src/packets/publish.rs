//! PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT 5 §3.3–§3.7).

use core::num::NonZeroU16;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::encode_frame;
use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, AckProperties, Props, PublishProperties, Trim};
use crate::reason::{PubAckReasonCode, PubRelReasonCode};
use crate::types::{PacketType, ProtocolVersion, QoS, QosPid};
use crate::wire::{check_utf8, field_len, put_field, varint_len, Reader};
use crate::{DecodeOptions, Packet};

/// Where the parts of a PUBLISH without properties lie in its frame ([`Publish::scan_plain`]).
#[derive(Debug, Clone)]
pub(crate) struct PlainPublish {
    dup: bool,
    retain: bool,
    qos_pid: QosPid,
    /// The topic name's bytes.
    topic: core::ops::Range<usize>,
    /// Where the payload starts.
    payload_at: usize,
}

/// PUBLISH: an application message. Topic and payload are slices of the received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (QoS > 0 only).
    pub dup: bool,
    /// QoS with its packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name; empty only when a topic alias stands for it (MQTT 5).
    pub topic: ByteString,
    /// MQTT 5 properties; empty on v3.
    pub properties: PublishProperties,
    /// Application payload.
    pub payload: Bytes,
}

/// A PUBLISH to encode, borrowing its parts. A broker that sends one message to many
/// receivers encodes it from the message's own topic, properties and payload, without building
/// a [`Publish`] (and cloning its properties) for each. It encodes exactly as the [`Publish`]
/// with the same fields ([`Publish::view`]).
#[derive(Debug, Clone, Copy)]
pub struct PublishView<'a> {
    /// DUP: this may be a re-delivery (QoS > 0 only).
    pub dup: bool,
    /// QoS with its packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name; empty only when a topic alias stands for it (MQTT 5).
    pub topic: &'a str,
    /// MQTT 5 properties; not written on v3.
    pub properties: &'a PublishProperties,
    /// Application payload.
    pub payload: &'a [u8],
}

impl PublishView<'_> {
    /// The first header byte: type, DUP, QoS, RETAIN.
    #[inline]
    pub(crate) fn header_byte(&self) -> u8 {
        ((PacketType::Publish as u8) << 4)
            | (u8::from(self.dup) << 3)
            | ((self.qos_pid.qos() as u8) << 1)
            | u8::from(self.retain)
    }

    #[inline]
    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        let mut n = field_len(self.topic.len()) + self.payload.len();
        if self.qos_pid.packet_id().is_some() {
            n += 2;
        }
        if v.is_v5() {
            n += if self.properties.is_plain() {
                // A property length of 0.
                1
            } else {
                properties::wire_len(self.properties, trim)
            };
        }
        n
    }

    #[inline]
    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        put_field(buf, self.topic.as_bytes())?;
        if let Some(pid) = self.qos_pid.packet_id() {
            buf.put_u16(pid.get());
        }
        if v.is_v5() {
            if self.properties.is_plain() {
                buf.put_u8(0);
            } else {
                properties::write(self.properties, buf, trim)?;
            }
        }
        buf.put_slice(self.payload);
        Ok(())
    }

    /// Exact number of bytes [`PublishView::encode_within`] writes for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let body = self.body_len(version, Trim::NONE);
        1 + varint_len(u32::try_from(body).unwrap_or(u32::MAX)) + body
    }

    /// Appends the PUBLISH to `buf` if it fits the peer's Maximum Packet Size, as
    /// [`Packet::encode_within`] does for a [`Packet::Publish`] (a PUBLISH is never trimmed);
    /// else [`EncodeError::PacketTooLarge`], and nothing is appended.
    #[inline]
    pub fn encode_within(
        &self,
        version: ProtocolVersion,
        max_packet_size: u32,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let body = self.body_len(version, Trim::NONE);
        let len = 1 + varint_len(u32::try_from(body).unwrap_or(u32::MAX)) + body;
        if len > max_packet_size as usize {
            return Err(EncodeError::PacketTooLarge {
                size: len,
                max: max_packet_size,
            });
        }
        encode_frame(buf, self.header_byte(), body, |buf| {
            self.write_body(version, buf, Trim::NONE)
        })
    }
}

impl Publish {
    /// The packet's fields, borrowed for encoding ([`PublishView`]).
    #[inline]
    pub fn view(&self) -> PublishView<'_> {
        PublishView {
            dup: self.dup,
            qos_pid: self.qos_pid,
            retain: self.retain,
            topic: &self.topic,
            properties: &self.properties,
            payload: &self.payload,
        }
    }

    /// The first header byte: type, DUP, QoS, RETAIN.
    #[inline]
    pub(crate) fn header_byte(&self) -> u8 {
        ((PacketType::Publish as u8) << 4)
            | (u8::from(self.dup) << 3)
            | ((self.qos_pid.qos() as u8) << 1)
            | u8::from(self.retain)
    }

    /// The fast path's scan over a whole frame (`header_len` bytes of fixed header first): the
    /// layout of a valid PUBLISH that carries no properties, which is every v3 PUBLISH and a v5
    /// one whose property length is 0. It returns `None` for anything else, valid or not, and
    /// [`Publish::read`] then decodes or rejects the frame. It accepts only frames that `read`
    /// accepts, and [`Publish::decode_plain`] builds the packet `read` would.
    #[inline]
    pub(crate) fn scan_plain(
        frame: &[u8],
        header_len: usize,
        flags: u8,
        opts: &DecodeOptions,
    ) -> Option<PlainPublish> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // [MQTT-3.3.1-4] QoS 3 is malformed.
        let qos = QoS::from_u8((flags >> 1) & 0x03)?;
        // [MQTT-3.3.1-2] DUP must be 0 on QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return None;
        }
        let topic_at = header_len + 2;
        let (len, rest) = frame.get(header_len..)?.split_first_chunk::<2>()?;
        let topic_len = usize::from(u16::from_be_bytes(*len));
        let topic = rest.get(..topic_len)?;
        // [MQTT-4.7.3-1] without properties there is no topic alias: the topic name is needed.
        // [MQTT-1.5.4-1..3] UTF-8 rules; [MQTT-3.3.2-2] no wildcard in a topic name.
        if topic.is_empty() || check_utf8(topic, opts.control_chars) != Ok(false) {
            return None;
        }
        let mut at = topic_at + topic_len;
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => {
                let (pid, _) = frame.get(at..)?.split_first_chunk::<2>()?;
                // [MQTT-2.2.1-3] QoS > 0 carries a non-zero packet identifier.
                let pid = NonZeroU16::new(u16::from_be_bytes(*pid))?;
                at += 2;
                QosPid::new(qos, pid)
            }
        };
        if opts.version.is_v5() {
            // A property length of 0 is the single byte 0 [MQTT-1.5.5-1].
            if *frame.get(at)? != 0 {
                return None;
            }
            at += 1;
        }
        Some(PlainPublish {
            dup,
            retain,
            qos_pid,
            topic: topic_at..topic_at + topic_len,
            payload_at: at,
        })
    }

    /// Takes the `total`-byte frame that [`Publish::scan_plain`] accepted off the front of
    /// `buf` and builds its packet. The topic and the payload are split straight off `buf`
    /// (one reference-count increment each, no handle for the whole frame), with only
    /// `BytesMut::advance` and `truncate` for the bytes in between, and the packet is built in
    /// the return value rather than moved into it.
    #[inline(always)]
    pub(crate) fn decode_plain(
        buf: &mut BytesMut,
        total: usize,
        p: PlainPublish,
    ) -> Result<Option<Packet>, DecodeError> {
        buf.advance(p.topic.start);
        // The topic, with the packet identifier and property length behind it cut off.
        let mut topic = buf.split_to(p.payload_at - p.topic.start);
        topic.truncate(p.topic.len());
        let payload = buf.split_to(total - p.payload_at).freeze();
        // The scan checked the topic with `check_utf8`, so the error arm is not reached (were
        // it, the frame would be consumed; the connection is closed on any error anyway).
        let Ok(topic) = ByteString::try_from(topic) else {
            return Err(DecodeError::InvalidUtf8);
        };
        // Every call is made before the packet is built, so that it is built in place.
        Ok(Some(Packet::Publish(Self {
            dup: p.dup,
            qos_pid: p.qos_pid,
            retain: p.retain,
            topic,
            properties: PublishProperties::default(),
            payload,
        })))
    }

    #[inline]
    pub(crate) fn read(r: &mut Reader<'_>, flags: u8) -> Result<Self, DecodeError> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // [MQTT-3.3.1-4] QoS 3 is malformed.
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::PublishQos3)?;
        // [MQTT-3.3.1-2] DUP must be 0 on QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQos0);
        }
        let (topic, wild) = r.string_wild()?;
        // [MQTT-3.3.2-2] a topic name must not contain wildcard characters.
        if wild {
            return Err(DecodeError::TopicNameWildcard);
        }
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            // [MQTT-2.2.1-3] QoS > 0 carries a non-zero packet identifier.
            QoS::AtLeastOnce => QosPid::AtLeastOnce(r.packet_id()?),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(r.packet_id()?),
        };
        let properties = if r.opts.version.is_v5() {
            properties::decode::<PublishProperties>(r, PacketType::Publish)?
        } else {
            PublishProperties::default()
        };
        // [MQTT-4.7.3-1] an empty topic name is only allowed with a topic alias (MQTT 5).
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(DecodeError::TopicNameEmpty);
        }
        let payload = r.rest_bytes();
        Ok(Self {
            dup,
            qos_pid,
            retain,
            topic,
            properties,
            payload,
        })
    }

    // The same as `PublishView`'s (a unit test holds them together), written out on the
    // fields: going through a view costs the codec's encode path a dozen instructions.
    #[inline]
    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        let mut n = field_len(self.topic.len()) + self.payload.len();
        if self.qos_pid.packet_id().is_some() {
            n += 2;
        }
        if v.is_v5() {
            n += if self.properties.is_plain() {
                // A property length of 0.
                1
            } else {
                properties::wire_len(&self.properties, trim)
            };
        }
        n
    }

    #[inline]
    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        put_field(buf, self.topic.as_bytes())?;
        if let Some(pid) = self.qos_pid.packet_id() {
            buf.put_u16(pid.get());
        }
        if v.is_v5() {
            if self.properties.is_plain() {
                buf.put_u8(0);
            } else {
                properties::write(&self.properties, buf, trim)?;
            }
        }
        buf.put_slice(&self.payload);
        Ok(())
    }
}

/// A reason code whose success value may be left off the wire (acks, DISCONNECT, AUTH).
pub trait AckReason: Copy + Eq + core::fmt::Debug {
    /// The success value, which may be left off the wire.
    const SUCCESS: Self;
    /// Parses the byte.
    fn from_byte(v: u8) -> Option<Self>;
    /// The wire byte.
    fn byte(self) -> u8;
}

impl AckReason for PubAckReasonCode {
    const SUCCESS: Self = Self::Success;
    fn from_byte(v: u8) -> Option<Self> {
        Self::from_u8(v)
    }
    fn byte(self) -> u8 {
        self.as_u8()
    }
}

impl AckReason for PubRelReasonCode {
    const SUCCESS: Self = Self::Success;
    fn from_byte(v: u8) -> Option<Self> {
        Self::from_u8(v)
    }
    fn byte(self) -> u8 {
        self.as_u8()
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: a packet identifier, and on MQTT 5 a
/// reason code and properties that may be left off when they are Success and empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack<C> {
    /// The identifier of the PUBLISH being acknowledged.
    pub packet_id: NonZeroU16,
    /// The outcome (MQTT 5; always success on v3).
    pub reason_code: C,
    /// MQTT 5 properties.
    pub properties: AckProperties,
}

/// PUBACK (QoS 1 acknowledgement).
pub type PubAck = Ack<PubAckReasonCode>;
/// PUBREC (QoS 2, part 1).
pub type PubRec = Ack<PubAckReasonCode>;
/// PUBREL (QoS 2, part 2).
pub type PubRel = Ack<PubRelReasonCode>;
/// PUBCOMP (QoS 2, part 3).
pub type PubComp = Ack<PubRelReasonCode>;

impl<C: AckReason> Ack<C> {
    /// A successful acknowledgement with no properties.
    pub fn new(packet_id: NonZeroU16) -> Self {
        Self {
            packet_id,
            reason_code: C::SUCCESS,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, packet: PacketType) -> Result<Self, DecodeError> {
        // [MQTT-2.2.1-3] acknowledged identifiers are non-zero too.
        let packet_id = r.packet_id()?;
        let mut ack = Self::new(packet_id);
        if r.opts.version.is_v5() && !r.is_empty() {
            let code = r.u8()?;
            ack.reason_code =
                C::from_byte(code).ok_or(DecodeError::InvalidReasonCode { packet, code })?;
            if !r.is_empty() {
                ack.properties = properties::decode(r, packet)?;
            }
        }
        r.finish(packet)?;
        Ok(ack)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        if !v.is_v5() {
            return 2;
        }
        let props = self.properties.content_len(trim);
        if props == 0 {
            if self.reason_code == C::SUCCESS {
                2
            } else {
                3
            }
        } else {
            3 + properties::wire_len(&self.properties, trim)
        }
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        buf.put_u16(self.packet_id.get());
        if !v.is_v5() {
            return Ok(());
        }
        let props = self.properties.content_len(trim);
        if props != 0 || self.reason_code != C::SUCCESS {
            buf.put_u8(self.reason_code.byte());
        }
        if props != 0 {
            properties::write(&self.properties, buf, trim)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::parse_fixed_header;
    use crate::wire::ControlChars;
    use crate::Role;

    fn frame(v: ProtocolVersion, qos: QoS, topic: &str, payload: &[u8]) -> Vec<u8> {
        let p = Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::new(qos, NonZeroU16::MIN.saturating_add(6)),
            retain: true,
            topic: ByteString::from(topic),
            properties: PublishProperties::default(),
            payload: Bytes::copy_from_slice(payload),
        });
        let mut buf = BytesMut::new();
        assert_eq!(p.encode(v, &mut buf), Ok(()));
        buf.to_vec()
    }

    /// Runs the fast path ([`Packet::decode`]) and the general path on the same bytes and
    /// requires the same result and the same bytes left in the buffer. Returns whether the
    /// fast path's scan accepted the frame.
    fn same_as_general(bytes: &[u8], opts: &DecodeOptions) -> bool {
        let Ok(Some(h)) = parse_fixed_header(bytes, opts) else {
            return false;
        };
        if bytes.len() < h.packet_len() || h.packet_type != PacketType::Publish {
            return false;
        }
        let scanned = bytes
            .get(..h.packet_len())
            .and_then(|f| Publish::scan_plain(f, h.header_len, h.flags, opts))
            .is_some();
        let mut fast = BytesMut::from(bytes);
        let mut general = BytesMut::from(bytes);
        let a = Packet::decode(&mut fast, opts);
        let b = Packet::decode_frame(&mut general, h, opts);
        assert_eq!(a, b, "{bytes:02x?} {opts:?}");
        assert_eq!(fast, general, "{bytes:02x?}");
        scanned
    }

    /// Every single-byte change of a set of PUBLISH frames decodes the same on the fast path as
    /// on the general path, for each version, sender and control-character policy.
    #[test]
    fn fast_path_matches_general_path() {
        let topics = [
            "a",
            "a/b",
            "sensors/building-1/floor-3/temp",
            "sensors/building-1/floor-3/temperature/celsius",
            "",
            "a/+/b",
            "caf\u{e9}",
            "x\u{1}y",
        ];
        let values = [
            0x00u8, 0x01, 0x06, 0x08, 0x0A, 0x1F, 0x20, 0x23, 0x2B, 0x2F, 0x30, 0x32, 0x3A, 0x3B,
            0x3C, 0x7E, 0x7F, 0x80, 0x9F, 0xC2, 0xE9, 0xFF,
        ];
        let mut accepted = 0usize;
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for sender in [Role::Client, Role::Server] {
                for cc in [ControlChars::Reject, ControlChars::Allow] {
                    let opts = DecodeOptions {
                        version: v,
                        sender,
                        control_chars: cc,
                        topic_alias_maximum: 10,
                        ..DecodeOptions::default()
                    };
                    for topic in topics {
                        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                            let base = frame(v, qos, topic, b"payload");
                            accepted += usize::from(same_as_general(&base, &opts));
                            for i in 0..base.len() {
                                for &x in &values {
                                    let mut m = base.clone();
                                    if let Some(b) = m.get_mut(i) {
                                        *b = x;
                                    }
                                    accepted += usize::from(same_as_general(&m, &opts));
                                    // Trailing bytes become payload; a second frame stays.
                                    m.extend_from_slice(&base);
                                    same_as_general(&m, &opts);
                                }
                            }
                        }
                    }
                }
            }
        }
        // The fast path is exercised, not only the fallback.
        assert!(accepted > 1000, "{accepted}");
    }

    /// A [`PublishView`] encodes exactly as the [`Packet::Publish`] it views, in every
    /// version, with and without properties, and fails on the same Maximum Packet Size.
    #[test]
    fn view_encodes_as_the_packet() {
        let plain = PublishProperties::default();
        let full = PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(30),
            topic_alias: NonZeroU16::new(3),
            response_topic: Some(ByteString::from_static("re/ply")),
            correlation_data: Some(Bytes::from_static(b"corr")),
            user_properties: [(ByteString::from_static("k"), ByteString::from_static("v"))]
                .into_iter()
                .collect(),
            subscription_identifiers: core::iter::once(core::num::NonZeroU32::MIN).collect(),
            content_type: Some(ByteString::from_static("text/plain")),
        };
        for v in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            for props in [&plain, &full] {
                for (qos, dup, retain) in [
                    (QoS::AtMostOnce, false, false),
                    (QoS::AtLeastOnce, true, true),
                    (QoS::ExactlyOnce, false, true),
                ] {
                    let p = Publish {
                        dup,
                        qos_pid: QosPid::new(qos, NonZeroU16::MIN.saturating_add(41)),
                        retain,
                        topic: ByteString::from_static("a/b/c"),
                        properties: props.clone(),
                        payload: Bytes::from_static(b"0123456789"),
                    };
                    let packet = Packet::Publish(p.clone());
                    let len = packet.encoded_len(v);
                    assert_eq!(p.view().encoded_len(v), len);
                    for max in [u32::MAX, len as u32, len as u32 - 1] {
                        let (mut a, mut b) = (BytesMut::from(&b"x"[..]), BytesMut::from(&b"x"[..]));
                        let ra = packet.encode_within(v, max, &mut a);
                        let rb = p.view().encode_within(v, max, &mut b);
                        assert_eq!(ra, rb, "{v:?} {max}");
                        assert_eq!(a, b, "{v:?} {max}");
                    }
                }
            }
        }
    }

    /// The short acknowledgement path of [`Packet::decode`] gives what the general path gives,
    /// and leaves the same bytes, for every ack type, version, sender and identifier edge.
    #[test]
    fn short_ack_is_the_general_path() {
        let mut fast_taken = 0;
        for v in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            for sender in [Role::Client, Role::Server] {
                let opts = DecodeOptions {
                    version: v,
                    sender,
                    ..DecodeOptions::default()
                };
                for first in [0x40u8, 0x50, 0x62, 0x70, 0x60, 0x42, 0xB0, 0xC0] {
                    for pid in [[0u8, 0], [0, 1], [0x12, 0x34], [0xFF, 0xFF]] {
                        let mut frame = vec![first, 2, pid[0], pid[1]];
                        frame.extend_from_slice(&[0x40, 0x02, 0x00, 0x07]);
                        let mut fast = BytesMut::from(&frame[..]);
                        let mut general = BytesMut::from(&frame[..]);
                        let a = Packet::decode(&mut fast, &opts);
                        let b = match parse_fixed_header(&general, &opts) {
                            Ok(Some(h)) => Packet::decode_frame(&mut general, h, &opts),
                            Ok(None) => Ok(None),
                            Err(e) => Err(e),
                        };
                        assert_eq!(a, b, "{frame:02x?} {v:?} {sender:?}");
                        assert_eq!(fast, general, "{frame:02x?} {v:?} {sender:?}");
                        fast_taken += usize::from(matches!(a, Ok(Some(_))));
                    }
                }
            }
        }
        assert!(fast_taken > 20, "{fast_taken}");
    }

    /// The four-byte acknowledgement path of [`Packet::encode_within`] writes what the general
    /// path writes, and fails where it fails.
    #[test]
    fn short_ack_encodes_as_the_general_path() {
        let pid = NonZeroU16::MIN.saturating_add(0x1233);
        let with_reason = AckProperties {
            reason_string: Some(ByteString::from_static("why")),
            ..AckProperties::default()
        };
        let acks = [
            Packet::PubAck(PubAck::new(pid)),
            Packet::PubRec(PubRec::new(pid)),
            Packet::PubRel(PubRel::new(pid)),
            Packet::PubComp(PubRel::new(pid)),
            Packet::PubAck(Ack {
                packet_id: pid,
                reason_code: PubAckReasonCode::NoMatchingSubscribers,
                properties: AckProperties::default(),
            }),
            Packet::PubRel(Ack {
                packet_id: pid,
                reason_code: PubRelReasonCode::Success,
                properties: with_reason,
            }),
        ];
        for v in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            for p in &acks {
                for max in [u32::MAX, 5, 4, 3] {
                    let (mut a, mut b) = (BytesMut::from(&b"x"[..]), BytesMut::from(&b"x"[..]));
                    let ra = p.encode_within(v, max, &mut a);
                    let rb = p.encode_within_general(v, max, &mut b);
                    assert_eq!(ra, rb, "{p:?} {v:?} {max}");
                    assert_eq!(a, b, "{p:?} {v:?} {max}");
                }
            }
        }
    }
}
