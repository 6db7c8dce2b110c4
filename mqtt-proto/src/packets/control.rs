//! DISCONNECT and AUTH (MQTT 5 §3.14, §3.15): a reason code and properties, both of which may
//! be left off when they are the default.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{self, AuthProperties, DisconnectProperties, Props, Trim};
use crate::reason::{AuthReasonCode, DisconnectReasonCode};
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::Reader;

/// DISCONNECT. On MQTT 3.x it has no body, and decodes as a normal disconnection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Why the connection is closing (MQTT 5).
    pub reason_code: DisconnectReasonCode,
    /// MQTT 5 properties.
    pub properties: DisconnectProperties,
}

impl Default for DisconnectReasonCode {
    fn default() -> Self {
        Self::NormalDisconnection
    }
}

impl Disconnect {
    /// A DISCONNECT with this reason and no properties.
    pub fn new(reason_code: DisconnectReasonCode) -> Self {
        Self {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut d = Self::default();
        if r.opts.version.is_v5() && !r.is_empty() {
            let code = r.u8()?;
            d.reason_code =
                DisconnectReasonCode::from_u8(code).ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::Disconnect,
                    code,
                })?;
            if !r.is_empty() {
                d.properties = properties::decode(r, PacketType::Disconnect)?;
            }
        }
        r.finish(PacketType::Disconnect)?;
        Ok(d)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        short_len(v, self.reason_code.as_u8(), &self.properties, trim)
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        write_short(v, self.reason_code.as_u8(), &self.properties, buf, trim)
    }
}

/// AUTH: a step of extended authentication (MQTT 5 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The step.
    pub reason_code: AuthReasonCode,
    /// Method, data, reason string, user properties.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut a = Self {
            reason_code: AuthReasonCode::Success,
            properties: Default::default(),
        };
        if !r.is_empty() {
            let code = r.u8()?;
            a.reason_code =
                AuthReasonCode::from_u8(code).ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::Auth,
                    code,
                })?;
            if !r.is_empty() {
                a.properties = properties::decode(r, PacketType::Auth)?;
            }
        }
        r.finish(PacketType::Auth)?;
        Ok(a)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        short_len(v, self.reason_code.as_u8(), &self.properties, trim)
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        write_short(v, self.reason_code.as_u8(), &self.properties, buf, trim)
    }
}

/// Body length of a reason-code-then-properties packet in its shortest form.
fn short_len<P: Props>(v: ProtocolVersion, code: u8, p: &P, trim: Trim) -> usize {
    if !v.is_v5() {
        return 0;
    }
    match (code, p.content_len(trim)) {
        (0, 0) => 0,
        (_, 0) => 1,
        _ => 1 + properties::wire_len(p, trim),
    }
}

fn write_short<P: Props>(
    v: ProtocolVersion,
    code: u8,
    p: &P,
    buf: &mut BytesMut,
    trim: Trim,
) -> Result<(), EncodeError> {
    if !v.is_v5() {
        return Ok(());
    }
    let props = p.content_len(trim);
    if code != 0 || props != 0 {
        buf.put_u8(code);
    }
    if props != 0 {
        properties::write(p, buf, trim)?;
    }
    Ok(())
}
