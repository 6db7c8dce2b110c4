//! CONNECT and CONNACK (MQTT 5 §3.1, §3.2; 3.1.1 §3.1, §3.2).

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, ConnAckProperties, ConnectProperties, Trim, WillProperties};
use crate::reason::{ConnectReasonCode, ConnectReturnCode};
use crate::types::{PacketType, ProtocolVersion, QoS};
use crate::wire::{field_len, put_field, Reader};

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version requested; CONNECT is always encoded and decoded in its own version.
    pub protocol_version: ProtocolVersion,
    /// Clean Start (v5) / Clean Session (v3).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// MQTT 5 properties; empty on v3.
    pub properties: ConnectProperties,
    /// Client Identifier; may be empty.
    pub client_id: ByteString,
    /// The will message, if the Will Flag is set.
    pub will: Option<LastWill>,
    /// User Name.
    pub username: Option<ByteString>,
    /// Password (binary). On MQTT 3.x it requires a user name [MQTT-3.1.2-22].
    pub password: Option<Bytes>,
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Will Topic: a topic name (no wildcards).
    pub topic: ByteString,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// MQTT 5 will properties; empty on v3.
    pub properties: WillProperties,
}

mod flag {
    pub const RESERVED: u8 = 0x01;
    pub const CLEAN_START: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_QOS_SHIFT: u8 = 3;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USERNAME: u8 = 0x80;
}

impl Connect {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.prefixed()?;
        let level = r.u8()?;
        // [MQTT-3.1.2-1] the protocol name must be "MQTT" (or "MQIsdp" for 3.1).
        let protocol_version = match (name, level) {
            (b"MQTT", 4) => ProtocolVersion::V3_1_1,
            (b"MQTT", 5) => ProtocolVersion::V5,
            (b"MQIsdp", 3) => ProtocolVersion::V3_1,
            // [MQTT-3.1.2-2] a known name with an unsupported level: CONNACK 0x84 / 0x01.
            (b"MQTT" | b"MQIsdp", l) => return Err(DecodeError::UnsupportedProtocolVersion(l)),
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        let flags = r.u8()?;
        // [MQTT-3.1.2-3] the reserved flag must be 0.
        if flags & flag::RESERVED != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let has_will = flags & flag::WILL != 0;
        let will_qos_bits = (flags >> flag::WILL_QOS_SHIFT) & 0x03;
        let will_retain = flags & flag::WILL_RETAIN != 0;
        // [MQTT-3.1.2-12] will QoS 3 is malformed.
        let will_qos = QoS::from_u8(will_qos_bits).ok_or(DecodeError::WillQos3)?;
        // [MQTT-3.1.2-11] [MQTT-3.1.2-13] no will QoS or retain without the will flag.
        if !has_will && (will_qos_bits != 0 || will_retain) {
            return Err(DecodeError::WillFlagsWithoutWill);
        }
        let has_username = flags & flag::USERNAME != 0;
        let has_password = flags & flag::PASSWORD != 0;
        // [MQTT-3.1.2-22] (3.1.1) a password needs a user name; MQTT 5 lifted this rule.
        if !protocol_version.is_v5() && has_password && !has_username {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16()?;
        let properties: ConnectProperties = if protocol_version.is_v5() {
            properties::decode(r, PacketType::Connect)?
        } else {
            ConnectProperties::default()
        };
        if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
            // [MQTT-3.1.2.11.10] authentication data needs a method.
            return Err(DecodeError::AuthDataWithoutMethod);
        }
        let client_id = r.string()?;
        let will = if has_will {
            let properties = if protocol_version.is_v5() {
                properties::decode(r, PacketType::Connect)?
            } else {
                WillProperties::default()
            };
            let (topic, wild) = r.string_wild()?;
            // [MQTT-3.3.2-2] the will topic is a topic name: no wildcards.
            if wild {
                return Err(DecodeError::TopicNameWildcard);
            }
            // [MQTT-4.7.3-1] a topic name has at least one character.
            if topic.is_empty() {
                return Err(DecodeError::TopicNameEmpty);
            }
            let payload = r.binary()?;
            Some(LastWill {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.string()?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.binary()?)
        } else {
            None
        };
        r.finish(PacketType::Connect)?;
        Ok(Self {
            protocol_version,
            clean_start: flags & flag::CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    pub(crate) fn body_len(&self, trim: Trim) -> usize {
        let v5 = self.protocol_version.is_v5();
        let mut n = field_len(self.protocol_version.protocol_name().len()) + 1 + 1 + 2;
        if v5 {
            n += properties::wire_len(&self.properties, trim);
        }
        n += field_len(self.client_id.len());
        if let Some(w) = &self.will {
            if v5 {
                n += properties::wire_len(&w.properties, trim);
            }
            n += field_len(w.topic.len()) + field_len(w.payload.len());
        }
        n += self.username.as_ref().map_or(0, |u| field_len(u.len()));
        n += self.password.as_ref().map_or(0, |p| field_len(p.len()));
        n
    }

    pub(crate) fn write_body(&self, buf: &mut BytesMut, trim: Trim) -> Result<(), EncodeError> {
        let v = self.protocol_version;
        put_field(buf, v.protocol_name().as_bytes())?;
        buf.put_u8(v.level());
        let mut flags = 0u8;
        if self.clean_start {
            flags |= flag::CLEAN_START;
        }
        if let Some(w) = &self.will {
            flags |= flag::WILL | ((w.qos as u8) << flag::WILL_QOS_SHIFT);
            if w.retain {
                flags |= flag::WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= flag::USERNAME;
        }
        if self.password.is_some() {
            flags |= flag::PASSWORD;
        }
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        if v.is_v5() {
            properties::write(&self.properties, buf, trim)?;
        }
        put_field(buf, self.client_id.as_bytes())?;
        if let Some(w) = &self.will {
            if v.is_v5() {
                properties::write(&w.properties, buf, trim)?;
            }
            put_field(buf, w.topic.as_bytes())?;
            put_field(buf, &w.payload)?;
        }
        if let Some(u) = &self.username {
            put_field(buf, u.as_bytes())?;
        }
        if let Some(p) = &self.password {
            put_field(buf, p)?;
        }
        Ok(())
    }
}

/// CONNACK: the server's answer to CONNECT.
///
/// On MQTT 3.x the reason code travels as a return code: see [`ConnectReasonCode::to_v3`].
/// MQTT 3.1 has no Session Present flag; it is always decoded as `false` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the server resumed a session.
    pub session_present: bool,
    /// The outcome.
    pub reason_code: ConnectReasonCode,
    /// MQTT 5 properties; empty on v3.
    pub properties: ConnAckProperties,
}

impl ConnAck {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.opts.version;
        let flags = r.u8()?;
        // [MQTT-3.2.2-1] acknowledge flags 7..1 are reserved (3.1 has no flags at all).
        if version != ProtocolVersion::V3_1 && flags & 0xFE != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let session_present = version != ProtocolVersion::V3_1 && flags & 0x01 != 0;
        let code = r.u8()?;
        let invalid = DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code,
        };
        let reason_code = if version.is_v5() {
            ConnectReasonCode::from_u8(code).ok_or(invalid)?
        } else {
            ConnectReturnCode::from_u8(code).ok_or(invalid)?.into()
        };
        // [MQTT-3.2.2-6] a refused connection has no session.
        if session_present && reason_code.is_error() {
            return Err(DecodeError::ConnAckSessionPresentOnError);
        }
        let properties = if version.is_v5() {
            properties::decode(r, PacketType::ConnAck)?
        } else {
            ConnAckProperties::default()
        };
        r.finish(PacketType::ConnAck)?;
        Ok(Self {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        2 + if v.is_v5() {
            properties::wire_len(&self.properties, trim)
        } else {
            0
        }
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        buf.put_u8(u8::from(self.session_present && v != ProtocolVersion::V3_1));
        if v.is_v5() {
            buf.put_u8(self.reason_code.as_u8());
            properties::write(&self.properties, buf, trim)
        } else {
            buf.put_u8(self.reason_code.to_v3().as_u8());
            Ok(())
        }
    }
}

/// The protocol version a buffered CONNECT names, read without validating the rest.
///
/// After CONNECT fails to decode, a server uses this to answer in the client's version: a
/// CONNACK with the reason code on MQTT 5 (e.g. 0x81, 0x82), where 3.x only allows closing.
/// `None` if `buf` does not start with a CONNECT naming a known name and level.
pub fn peek_connect_version(buf: &[u8]) -> Option<ProtocolVersion> {
    let (&first, rest) = buf.split_first()?;
    if first != 0x10 {
        return None;
    }
    // Skip the remaining length (at most four bytes).
    let len_bytes = rest.iter().take(4).position(|b| b & 0x80 == 0)? + 1;
    let body = rest.get(len_bytes..)?;
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let name = body.get(2..2 + name_len)?;
    let level = *body.get(2 + name_len)?;
    match (name, level) {
        (b"MQTT", 4) => Some(ProtocolVersion::V3_1_1),
        (b"MQTT", 5) => Some(ProtocolVersion::V5),
        (b"MQIsdp", 3) => Some(ProtocolVersion::V3_1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_connect_version_reads_name_and_level() {
        let v5 = [0x10, 0x0A, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x03];
        assert_eq!(peek_connect_version(&v5), Some(ProtocolVersion::V5));
        let v311 = [0x10, 0x0A, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04];
        assert_eq!(peek_connect_version(&v311), Some(ProtocolVersion::V3_1_1));
        let v31 = [
            0x10, 0x0C, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03,
        ];
        assert_eq!(peek_connect_version(&v31), Some(ProtocolVersion::V3_1));
        assert_eq!(peek_connect_version(&v5[..8]), None);
        assert_eq!(peek_connect_version(&[0x30, 0x00]), None);
        let bad = [0x10, 0x0A, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x05];
        assert_eq!(peek_connect_version(&bad), None);
    }
}
