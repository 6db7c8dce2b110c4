//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (MQTT 5 §3.8–§3.11).

use core::num::NonZeroU16;

use bytes::{BufMut, BytesMut};
use bytestring::ByteString;
use smallvec::SmallVec;

use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, AckProperties, SubscribeProperties, Trim, UnsubscribeProperties};
use crate::reason::{SubAckReasonCode, UnsubAckReasonCode};
use crate::topic::SHARE_PREFIX;
use crate::types::{PacketType, ProtocolVersion, QoS};
use crate::wire::{field_len, put_field, Reader};

/// When retained messages are sent for a new subscription (MQTT 5 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// Do not send retained messages.
    DoNotSend = 2,
}

/// The options byte of one subscription. On MQTT 3.x only `qos` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client wants.
    pub qos: QoS,
    /// Do not deliver the client's own publications back to it.
    pub no_local: bool,
    /// Keep the RETAIN flag as published when forwarding.
    pub retain_as_published: bool,
    /// Retained message handling.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    fn parse(b: u8, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let reserved = if v.is_v5() { 0xC0 } else { 0xFC };
        // [MQTT-3.8.3-5] reserved option bits must be 0 (3.1.1: [MQTT-3.8.3-4]).
        if b & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved);
        }
        // [MQTT-3.8.3.1] Maximum QoS 3 is a Protocol Error (3.1.1: malformed, [MQTT-3.8.3-4]).
        let qos = QoS::from_u8(b & 0x03).ok_or(DecodeError::SubscriptionQos3)?;
        let retain_handling = match (b >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            // [MQTT-3.8.3.1] retain handling 3 is a protocol error.
            _ => return Err(DecodeError::RetainHandling3),
        };
        Ok(Self {
            qos,
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling,
        })
    }

    fn byte(self, v: ProtocolVersion) -> u8 {
        let mut b = self.qos as u8;
        if v.is_v5() {
            b |= u8::from(self.no_local) << 2
                | u8::from(self.retain_as_published) << 3
                | (self.retain_handling as u8) << 4;
        }
        b
    }
}

/// One topic filter with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic filter, possibly `$share/{group}/{filter}`. Its syntax is checked by
    /// [`crate::topic::parse_filter`], whose failure is a SUBACK 0x8F for that entry.
    pub filter: ByteString,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: NonZeroU16,
    /// MQTT 5 properties.
    pub properties: SubscribeProperties,
    /// At least one subscription.
    pub subscriptions: SmallVec<[Subscription; 2]>,
}

impl Subscribe {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.opts.version;
        let packet_id = r.packet_id()?;
        let properties = if v.is_v5() {
            properties::decode(r, PacketType::Subscribe)?
        } else {
            SubscribeProperties::default()
        };
        let mut subscriptions = SmallVec::new();
        while !r.is_empty() {
            let filter = r.string()?;
            let options = SubscriptionOptions::parse(r.u8()?, v)?;
            // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
            if options.no_local && filter.starts_with(SHARE_PREFIX) {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            subscriptions.push(Subscription { filter, options });
        }
        // [MQTT-3.8.3-2] at least one filter.
        if subscriptions.is_empty() {
            return Err(DecodeError::SubscribeWithoutFilters);
        }
        Ok(Self {
            packet_id,
            properties,
            subscriptions,
        })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        2 + if v.is_v5() {
            properties::wire_len(&self.properties, trim)
        } else {
            0
        } + self
            .subscriptions
            .iter()
            .map(|s| field_len(s.filter.len()) + 1)
            .sum::<usize>()
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            properties::write(&self.properties, buf, trim)?;
        }
        for s in &self.subscriptions {
            put_field(buf, s.filter.as_bytes())?;
            buf.put_u8(s.options.byte(v));
        }
        Ok(())
    }
}

/// SUBACK: one reason code per requested filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: NonZeroU16,
    /// MQTT 5 properties.
    pub properties: AckProperties,
    /// One code per filter. On MQTT 3.x failures are sent as 0x80.
    pub reason_codes: SmallVec<[SubAckReasonCode; 2]>,
}

impl SubAck {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.opts.version;
        let packet_id = r.packet_id()?;
        let properties = if v.is_v5() {
            properties::decode(r, PacketType::SubAck)?
        } else {
            Default::default()
        };
        let mut reason_codes = SmallVec::new();
        while !r.is_empty() {
            let code = r.u8()?;
            let rc = SubAckReasonCode::from_u8(code)
                .filter(|c| v.is_v5() || *c == c.to_v3())
                .ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code,
                })?;
            reason_codes.push(rc);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::EmptyAckList);
        }
        Ok(Self {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        2 + if v.is_v5() {
            properties::wire_len(&self.properties, trim)
        } else {
            0
        } + self.reason_codes.len()
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            properties::write(&self.properties, buf, trim)?;
            for c in &self.reason_codes {
                buf.put_u8(c.as_u8());
            }
        } else {
            for c in &self.reason_codes {
                buf.put_u8(c.to_v3().as_u8());
            }
        }
        Ok(())
    }
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: NonZeroU16,
    /// MQTT 5 properties.
    pub properties: UnsubscribeProperties,
    /// At least one topic filter.
    pub filters: SmallVec<[ByteString; 2]>,
}

impl Unsubscribe {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id()?;
        let properties = if r.opts.version.is_v5() {
            properties::decode(r, PacketType::Unsubscribe)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = SmallVec::new();
        while !r.is_empty() {
            filters.push(r.string()?);
        }
        // [MQTT-3.10.3-2] at least one filter.
        if filters.is_empty() {
            return Err(DecodeError::UnsubscribeWithoutFilters);
        }
        Ok(Self {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        2 + if v.is_v5() {
            properties::wire_len(&self.properties, trim)
        } else {
            0
        } + self
            .filters
            .iter()
            .map(|f| field_len(f.len()))
            .sum::<usize>()
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            properties::write(&self.properties, buf, trim)?;
        }
        for f in &self.filters {
            put_field(buf, f.as_bytes())?;
        }
        Ok(())
    }
}

/// UNSUBACK. MQTT 3.x carries only the packet identifier; MQTT 5 adds one reason code per
/// filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: NonZeroU16,
    /// MQTT 5 properties.
    pub properties: AckProperties,
    /// MQTT 5: one code per filter. Empty (and ignored) on v3.
    pub reason_codes: SmallVec<[UnsubAckReasonCode; 2]>,
}

impl UnsubAck {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id()?;
        let mut ack = Self {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: SmallVec::new(),
        };
        if r.opts.version.is_v5() {
            ack.properties = properties::decode(r, PacketType::UnsubAck)?;
            while !r.is_empty() {
                let code = r.u8()?;
                ack.reason_codes
                    .push(UnsubAckReasonCode::from_u8(code).ok_or(
                        DecodeError::InvalidReasonCode {
                            packet: PacketType::UnsubAck,
                            code,
                        },
                    )?);
            }
            if ack.reason_codes.is_empty() {
                return Err(DecodeError::EmptyAckList);
            }
        }
        r.finish(PacketType::UnsubAck)?;
        Ok(ack)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        if v.is_v5() {
            2 + properties::wire_len(&self.properties, trim) + self.reason_codes.len()
        } else {
            2
        }
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if v.is_v5() && self.reason_codes.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            properties::write(&self.properties, buf, trim)?;
            for c in &self.reason_codes {
                buf.put_u8(c.as_u8());
            }
        }
        Ok(())
    }
}
