//! Authentication exchanges (MQTT 5 §4.12): the authenticator's decisions, AUTH packets from
//! the client (continue 0x18, re-authenticate 0x19), answers deferred to the runtime, and the
//! input held while a plain CONNECT waits for such an answer.

use bytes::BytesMut;
use bytestring::ByteString;
use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, ConnectReasonCode, DecodeError, DisconnectReasonCode,
    Packet, PacketType, ProtocolVersion,
};

use super::{ConnState, Output, Shard};
use crate::auth::{AuthDecision, AuthRequest, AuthStep};
use crate::ids::ConnId;
use crate::time::Timestamp;

/// The packet type of CONNECT in the high nibble of a fixed header's first byte.
const CONNECT_TYPE: u8 = 1;

/// Where one connection's authentication stands.
#[derive(Debug, Default)]
pub(crate) struct AuthExchange {
    /// Authentication Method from CONNECT (MQTT 5); every AUTH of the connection must name
    /// it [MQTT-4.12.0-5] [MQTT-4.12.1-1].
    pub(crate) method: Option<ByteString>,
    /// The request the runtime was asked to answer ([`Output::Auth`]), kept so its answer
    /// continues the exchange where it stopped.
    pub(crate) pending: Option<AuthRequest>,
    /// A re-authentication (AUTH 0x19) is under way.
    pub(crate) reauthenticating: bool,
    /// Input that arrived while a plain CONNECT waited for a deferred answer; handled in
    /// order once the answer comes. At most `max_connect_packet_size` bytes.
    pub(crate) held: BytesMut,
}

impl AuthExchange {
    /// Whether input must wait: a CONNECT without an authentication method is waiting for a
    /// deferred answer. The client may already have sent more packets (MQTT 5 §3.1.4 lets it
    /// send before CONNACK); they are handled only once it is accepted, and dropped if it is
    /// refused [MQTT-3.1.4-5]. With a method the client may send only AUTH or DISCONNECT
    /// [MQTT-3.1.2-30], so its input is read on and anything else is refused.
    pub(crate) fn holds_input(&self, state: &ConnState) -> bool {
        self.pending.is_some()
            && self.method.is_none()
            && matches!(state, ConnState::Authenticating(_))
    }
}

impl Shard {
    /// Screens input before decoding. Returns true when it consumed `buf` itself.
    pub(crate) fn intercept_input(
        &mut self,
        conn: ConnId,
        buf: &mut BytesMut,
        now: Timestamp,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if matches!(c.state, ConnState::AwaitingConnect) {
            // [MQTT-3.1.0-1] the first packet must be CONNECT: anything else is closed
            // without a CONNACK on its first byte, before any of its body is buffered.
            if buf.first().is_some_and(|b| b >> 4 != CONNECT_TYPE) {
                self.stats.reject(0x82);
                self.drop_connection(conn, false, now);
                return true;
            }
            return false;
        }
        if c.auth.held.is_empty() && !c.auth.holds_input(&c.state) {
            return false;
        }
        self.hold_input(conn, buf, now);
        self.release_held_input(conn, now);
        true
    }

    /// Moves all of `buf` into the connection's held input. While a CONNECT waits for its
    /// answer, more than `max_connect_packet_size` bytes close the connection (bad-inputs
    /// row 5: little is buffered before CONNECT completes).
    pub(crate) fn hold_input(&mut self, conn: ConnId, buf: &mut BytesMut, now: Timestamp) {
        let cap = usize::try_from(self.config.max_connect_packet_size).unwrap_or(usize::MAX);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.auth.holds_input(&c.state) && c.auth.held.len().saturating_add(buf.len()) > cap {
            buf.clear();
            self.stats.reject(0x95);
            self.drop_connection(conn, false, now);
            return;
        }
        if c.auth.held.is_empty() {
            c.auth.held = buf.split();
        } else {
            c.auth.held.extend_from_slice(buf);
            buf.clear();
        }
    }

    /// Handles held input once it may be read again. A partial packet left at the end stays
    /// held until the rest arrives.
    fn release_held_input(&mut self, conn: ConnId, now: Timestamp) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.auth.held.is_empty() || c.auth.holds_input(&c.state) {
            return;
        }
        let mut held = core::mem::take(&mut c.auth.held);
        self.decode_input(conn, &mut held, now);
        if let Some(c) = self.conns.get_mut(&conn) {
            if !held.is_empty() {
                c.auth.held = held;
            }
        }
    }

    /// The runtime's answer to an [`Output::Auth`] request for `conn`.
    ///
    /// The answer continues the exchange the request belongs to: `Allow` accepts the CONNECT
    /// (or completes a re-authentication), `Continue` sends the challenge, `Deny` refuses.
    /// An answer for a connection that has closed meanwhile, or that has no request
    /// outstanding, is ignored; `Defer` keeps the request outstanding. Input the client sent
    /// while waiting is handled afterwards, in order.
    ///
    /// Answers are matched by connection: a runtime that reuses a [`ConnId`] must drop the
    /// answers still due for the connection it closed under that id.
    pub fn handle_auth(&mut self, conn: ConnId, decision: AuthDecision, now: Timestamp) {
        self.start(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if decision == AuthDecision::Defer {
            return;
        }
        let Some(req) = c.auth.pending.take() else {
            return;
        };
        self.apply_auth(conn, decision, req, now);
        self.release_held_input(conn, now);
    }

    /// Acts on an authenticator's decision about `req`.
    pub(crate) fn apply_auth(
        &mut self,
        conn: ConnId,
        decision: AuthDecision,
        req: AuthRequest,
        now: Timestamp,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        match decision {
            AuthDecision::Defer => {
                c.auth.pending = Some(req.clone());
                self.push_output(Output::Auth(Box::new(req)));
            }
            AuthDecision::Continue { data } => {
                // [MQTT-4.12.0-6] no AUTH to a client that named no method (nor to 3.x).
                let Some(method) = c.auth.method.clone().filter(|_| c.version.is_v5()) else {
                    let code = ConnectReasonCode::BadAuthenticationMethod;
                    return self.refuse_or_disconnect(conn, connecting, code, now);
                };
                // [MQTT-4.12.0-2] a challenge is AUTH 0x18, naming the method [MQTT-4.12.0-5].
                let auth = Auth {
                    reason_code: AuthReasonCode::ContinueAuthentication,
                    properties: AuthProperties {
                        authentication_method: Some(method),
                        authentication_data: Some(data),
                        ..AuthProperties::default()
                    },
                };
                self.send(conn, &Packet::Auth(auth), now);
            }
            // [MQTT-4.12.0-4] the server may reject at any point; [MQTT-4.12.1-2] a failed
            // re-authentication is a DISCONNECT.
            AuthDecision::Deny(code) => self.refuse_or_disconnect(conn, connecting, code, now),
            AuthDecision::Allow { data } if connecting => self.accept_connect(conn, data, now),
            AuthDecision::Allow { data } => {
                c.auth.reauthenticating = false;
                // Re-authentication succeeded: AUTH 0x00 with the method [MQTT-4.12.0-5].
                let auth = Auth {
                    reason_code: AuthReasonCode::Success,
                    properties: AuthProperties {
                        authentication_method: c.auth.method.clone(),
                        authentication_data: data,
                        ..AuthProperties::default()
                    },
                };
                self.send(conn, &Packet::Auth(auth), now);
            }
        }
    }

    /// Refuses a connecting client (CONNACK) or drops a connected one (DISCONNECT).
    fn refuse_or_disconnect(
        &mut self,
        conn: ConnId,
        connecting: bool,
        code: ConnectReasonCode,
        now: Timestamp,
    ) {
        // A "refusal" with a success code is a mistake of the authenticator: refuse anyway.
        let code = if code.is_error() {
            code
        } else {
            ConnectReasonCode::NotAuthorized
        };
        if connecting {
            let v = self
                .conns
                .get(&conn)
                .map_or(ProtocolVersion::V5, |c| c.version);
            self.refuse(conn, v, code, now);
        } else {
            self.stats.reject(code.as_u8());
            let reason = DisconnectReasonCode::from_u8(code.as_u8())
                .filter(|r| r.is_error())
                .unwrap_or(DisconnectReasonCode::NotAuthorized);
            self.disconnect(conn, reason, now);
        }
    }

    /// An AUTH packet from the client: the answer to a challenge, or a re-authentication.
    pub(crate) fn handle_auth_packet(&mut self, conn: ConnId, a: Auth, now: Timestamp) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        let method = c.auth.method.clone();
        let step = match (connecting, c.auth.reauthenticating, a.reason_code) {
            // [MQTT-4.12.0-3] the answer to a challenge is AUTH 0x18.
            (true, _, AuthReasonCode::ContinueAuthentication)
            | (false, true, AuthReasonCode::ContinueAuthentication) => AuthStep::Continue,
            // §4.12.1: a connected client may start a re-authentication at any time.
            (false, false, AuthReasonCode::ReAuthenticate) => AuthStep::ReAuthenticate,
            // [MQTT-3.15.2-1] any other reason is a protocol error here (0x00 is the
            // server's; 0x18 with no exchange under way answers nothing).
            _ => return self.auth_protocol_error(conn, now),
        };
        let valid = match &method {
            // [MQTT-4.12.0-7] no AUTH from a client that named no method in CONNECT.
            None => false,
            // [MQTT-4.12.0-5] [MQTT-4.12.1-1] the method stays the one of CONNECT.
            Some(m) => a.properties.authentication_method.as_ref() == Some(m),
        };
        // A step the runtime has not answered yet is still ours: the client must wait.
        if !valid || c.auth.pending.is_some() {
            return self.auth_protocol_error(conn, now);
        }
        if step == AuthStep::ReAuthenticate {
            c.auth.reauthenticating = true;
        }
        let peer = c.peer;
        let (client_id, username) = match &c.state {
            ConnState::Authenticating(connect) => {
                (connect.client_id.clone(), connect.username.clone())
            }
            ConnState::Connected(sid) => self
                .sessions
                .get(sid)
                .map(|s| (s.client.client_id.clone(), s.client.username.clone()))
                .unwrap_or_default(),
            ConnState::AwaitingConnect => (ByteString::new(), None),
        };
        let req = AuthRequest {
            conn,
            client_id,
            username,
            password: None,
            peer,
            step,
            method,
            data: a.properties.authentication_data,
        };
        let decision = self.authenticator.authenticate(&req);
        self.apply_auth(conn, decision, req, now);
    }

    /// An AUTH packet out of place: CONNACK 0x82 before CONNACK, DISCONNECT 0x82 after.
    fn auth_protocol_error(&mut self, conn: ConnId, now: Timestamp) {
        self.protocol_error(conn, DecodeError::UnexpectedPacket(PacketType::Auth), now);
    }
}
