//! DISCONNECT and AUTH (MQTT 5 §3.14, §3.15): a reason code and properties, both of which may
//! be left off when they are the default.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packets::AckReason;
use crate::properties::{self, AuthProperties, DisconnectProperties, Props, Trim};
use crate::reason::{AuthReasonCode, DisconnectReasonCode};
use crate::types::{PacketType, ProtocolVersion, Role};
use crate::wire::Reader;

/// A packet made of a reason code and properties, both optional on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasoned<C, P> {
    /// The reason code (MQTT 5; DISCONNECT on 3.x is always a normal disconnection).
    pub reason_code: C,
    /// MQTT 5 properties.
    pub properties: P,
}

/// DISCONNECT. On MQTT 3.x it has no body, and decodes as a normal disconnection.
pub type Disconnect = Reasoned<DisconnectReasonCode, DisconnectProperties>;

/// AUTH: a step of extended authentication (MQTT 5 only).
pub type Auth = Reasoned<AuthReasonCode, AuthProperties>;

impl AckReason for DisconnectReasonCode {
    const SUCCESS: Self = Self::NormalDisconnection;
    fn from_byte(v: u8) -> Option<Self> {
        Self::from_u8(v)
    }
    fn byte(self) -> u8 {
        self.as_u8()
    }
}

impl AckReason for AuthReasonCode {
    const SUCCESS: Self = Self::Success;
    fn from_byte(v: u8) -> Option<Self> {
        Self::from_u8(v)
    }
    fn byte(self) -> u8 {
        self.as_u8()
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

    pub(crate) fn read_disconnect(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let d = Self::read(r, PacketType::Disconnect)?;
        // [MQTT-3.14.2-2] a server never sends Session Expiry Interval in DISCONNECT.
        if r.opts.sender == Role::Server && d.properties.session_expiry_interval.is_some() {
            return Err(DecodeError::PropertyNotAllowed {
                id: crate::properties::id::SESSION_EXPIRY_INTERVAL,
                packet: PacketType::Disconnect,
            });
        }
        Ok(d)
    }
}

impl Auth {
    /// An AUTH with this reason and no properties.
    pub fn new(reason_code: AuthReasonCode) -> Self {
        Self {
            reason_code,
            properties: AuthProperties::default(),
        }
    }

    pub(crate) fn read_auth(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let a = Self::read(r, PacketType::Auth)?;
        let bare = a.reason_code == AuthReasonCode::Success && a.properties == Default::default();
        // [MQTT-3.15.2.2.2] omitting the Authentication Method is a protocol error, except in
        // the bare Success form (reason code and properties left off, §3.15.2.1).
        if !bare && a.properties.authentication_method.is_none() {
            return Err(DecodeError::AuthMethodMissing);
        }
        Ok(a)
    }
}

// Only crate-private methods live here, so the crate-private bound leaks nothing.
#[allow(private_bounds)]
impl<C: AckReason, P: Props> Reasoned<C, P> {
    pub(crate) fn read(r: &mut Reader<'_>, packet: PacketType) -> Result<Self, DecodeError> {
        let mut d = Self {
            reason_code: C::SUCCESS,
            properties: P::default(),
        };
        // AUTH never reaches here on 3.x: the fixed header check refuses it.
        if r.opts.version.is_v5() && !r.is_empty() {
            let code = r.u8()?;
            d.reason_code =
                C::from_byte(code).ok_or(DecodeError::InvalidReasonCode { packet, code })?;
            if !r.is_empty() {
                d.properties = properties::decode(r, packet)?;
            }
        }
        r.finish(packet)?;
        Ok(d)
    }

    /// Body length. A non-success reason without properties is written with an explicit
    /// property length of 0 (`E0 02 8E 00`), not in the shortest form (`E0 01 8E`): both are
    /// valid (MQTT 5 §3.14.2.2.1, §3.15.2.2.1), but some clients (rumqttc 0.25, older
    /// paho.golang) wait for the property length and never see the reason code otherwise.
    pub(crate) fn body_len(&self, v: ProtocolVersion, trim: Trim) -> usize {
        if !v.is_v5() {
            return 0;
        }
        match (
            self.reason_code == C::SUCCESS,
            self.properties.content_len(trim),
        ) {
            (true, 0) => 0,
            (false, 0) => 2,
            _ => 1 + properties::wire_len(&self.properties, trim),
        }
    }

    pub(crate) fn write_body(
        &self,
        v: ProtocolVersion,
        buf: &mut BytesMut,
        trim: Trim,
    ) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Ok(());
        }
        let props = self.properties.content_len(trim);
        if self.reason_code != C::SUCCESS || props != 0 {
            buf.put_u8(self.reason_code.byte());
        }
        if props != 0 {
            properties::write(&self.properties, buf, trim)?;
        } else if self.reason_code != C::SUCCESS {
            buf.put_u8(0);
        }
        Ok(())
    }
}
