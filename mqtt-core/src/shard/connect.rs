//! CONNECT, authentication (plain and enhanced), CONNACK, client identifiers, takeover and
//! session resume; also the packet dispatch by connection state.

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, ConnAck, ConnAckProperties, Connect, ConnectReasonCode,
    DecodeError, DisconnectReasonCode, Packet, ProtocolVersion, QoS,
};

use super::{ConnState, Output, Shard};
use crate::alias::OutboundAliases;
use crate::auth::{AuthDecision, AuthRequest, AuthStep, ClientInfo};
use crate::ids::ConnId;
use crate::session::Session;
use crate::time::Timestamp;
use crate::timer::Timer;

impl Shard {
    /// Dispatches one decoded packet by connection state.
    pub(crate) fn handle_packet(&mut self, conn: ConnId, packet: Packet, now: Timestamp) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        match (&c.state, packet) {
            (ConnState::AwaitingConnect, Packet::Connect(connect)) => {
                self.handle_connect(conn, connect, now)
            }
            // [MQTT-3.1.0-1] the first packet must be CONNECT: close without a CONNACK.
            (ConnState::AwaitingConnect, _) => {
                self.stats.reject(0x82);
                self.drop_connection(conn, false, now);
            }
            (ConnState::Authenticating(_), Packet::Auth(a)) => {
                self.handle_auth_packet(conn, a, now)
            }
            (ConnState::Authenticating(_), Packet::Disconnect(_)) => {
                self.drop_connection(conn, false, now)
            }
            // Nothing else may arrive before CONNACK.
            (ConnState::Authenticating(_), _) => self.protocol_error(
                conn,
                DecodeError::UnexpectedPacket(mqtt_proto::PacketType::Connect),
                now,
            ),
            (ConnState::Connected(sid), p) => {
                let sid = *sid;
                self.handle_connected(conn, sid, p, now)
            }
        }
    }

    fn handle_connected(
        &mut self,
        conn: ConnId,
        sid: crate::ids::SessionId,
        packet: Packet,
        now: Timestamp,
    ) {
        match packet {
            Packet::Publish(p) => self.handle_publish(conn, sid, p, now),
            Packet::PubAck(a) => self.handle_puback(conn, sid, a.packet_id.get(), now),
            Packet::PubRec(a) => self.handle_pubrec(conn, sid, a, now),
            Packet::PubRel(a) => self.handle_pubrel(conn, sid, a.packet_id, now),
            Packet::PubComp(a) => self.handle_pubcomp(conn, sid, a.packet_id.get(), now),
            Packet::Subscribe(s) => self.handle_subscribe(conn, sid, s, now),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(conn, sid, u, now),
            Packet::PingReq => {
                self.send(conn, &Packet::PingResp, now);
            }
            Packet::Disconnect(d) => self.handle_disconnect(conn, sid, d, now),
            Packet::Auth(a) => self.handle_auth_packet(conn, a, now),
            // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
            Packet::Connect(_) => {
                self.stats.reject(0x82);
                self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
            // The codec refuses server-only packets from a client.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.disconnect(conn, DisconnectReasonCode::ProtocolError, now);
            }
        }
    }

    fn handle_connect(&mut self, conn: ConnId, connect: Box<Connect>, now: Timestamp) {
        let cfg = &self.config;
        let v = connect.protocol_version;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.version = v;
        c.decode.version = v;
        c.decode.max_packet_size = cfg.max_packet_size;
        c.decode.topic_alias_maximum = if v.is_v5() {
            cfg.topic_alias_maximum
        } else {
            0
        };
        if let Some(d) = c.connect_deadline.take() {
            self.timers.cancel(d, Timer::ConnectTimeout(conn));
        }
        let p = &connect.properties;
        c.limits.receive_maximum = p.receive_maximum.map_or(u16::MAX, |r| r.get());
        c.limits.max_packet_size = p
            .maximum_packet_size
            .map_or(mqtt_proto::MAX_PACKET_SIZE, |m| m.get());
        c.limits.problem_information = p.request_problem_information.unwrap_or(true);
        c.outbound_aliases = OutboundAliases::new(p.topic_alias_maximum.unwrap_or(0));
        c.connect_expiry_zero = p.session_expiry_interval.unwrap_or(0) == 0;
        c.auth_method = p.authentication_method.clone();

        // Client identifier rules.
        if connect.client_id.len() > cfg.max_client_id_len {
            return self.refuse(conn, v, ConnectReasonCode::ClientIdentifierNotValid, now);
        }
        let mut connect = connect;
        if connect.client_id.is_empty() {
            let allowed = match v {
                // [MQTT-3.1.3-6] v5: the server assigns an identifier.
                ProtocolVersion::V5 => cfg.assign_client_id,
                // [MQTT-3.1.3-7] 3.1.1 allows an empty id only with Clean Session 1;
                // [MQTT-3.1.3-8] otherwise CONNACK 0x02.
                ProtocolVersion::V3_1_1 => connect.clean_start && cfg.assign_client_id,
                // 3.1 requires 1 to 23 characters.
                ProtocolVersion::V3_1 => false,
            };
            if !allowed {
                return self.refuse(conn, v, ConnectReasonCode::ClientIdentifierNotValid, now);
            }
            let r = self.next_random();
            connect.client_id = ByteString::from(format!("ringmq-{}-{r:016x}", self.id.0));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.assigned_client_id = true;
            }
        }
        let req = AuthRequest {
            conn,
            client_id: connect.client_id.clone(),
            username: connect.username.clone(),
            password: connect.password.clone(),
            peer: self.conns.get(&conn).and_then(|c| c.peer),
            step: AuthStep::Connect,
            method: connect.properties.authentication_method.clone(),
            data: connect.properties.authentication_data.clone(),
        };
        let decision = self.authenticator.authenticate(&req);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Authenticating(connect);
        }
        self.apply_auth(conn, decision, req, now);
    }

    /// The runtime's answer to an [`Output::Auth`] request.
    pub fn handle_auth(&mut self, conn: ConnId, decision: AuthDecision, now: Timestamp) {
        if decision == AuthDecision::Defer {
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let req = AuthRequest {
            conn,
            client_id: ByteString::new(),
            username: None,
            password: None,
            peer: c.peer,
            step: AuthStep::Continue,
            method: c.auth_method.clone(),
            data: None,
        };
        self.apply_auth(conn, decision, req, now);
    }

    fn apply_auth(
        &mut self,
        conn: ConnId,
        decision: AuthDecision,
        req: AuthRequest,
        now: Timestamp,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        let v = c.version;
        let method = c.auth_method.clone();
        match decision {
            AuthDecision::Defer => self.push_output(Output::Auth(req)),
            AuthDecision::Continue { data } => {
                if method.is_none() || !v.is_v5() {
                    // A challenge needs enhanced authentication (MQTT 5).
                    return self.refuse_or_disconnect(
                        conn,
                        connecting,
                        ConnectReasonCode::BadAuthenticationMethod,
                        now,
                    );
                }
                let auth = Auth {
                    reason_code: AuthReasonCode::ContinueAuthentication,
                    properties: AuthProperties {
                        authentication_method: method,
                        authentication_data: Some(data),
                        ..AuthProperties::default()
                    },
                };
                self.send(conn, &Packet::Auth(auth), now);
            }
            AuthDecision::Deny(code) => self.refuse_or_disconnect(conn, connecting, code, now),
            AuthDecision::Allow { data } => {
                if connecting {
                    self.accept_connect(conn, data, now);
                } else {
                    // Re-authentication succeeded.
                    let auth = Auth {
                        reason_code: AuthReasonCode::Success,
                        properties: AuthProperties {
                            authentication_method: method,
                            authentication_data: data,
                            ..AuthProperties::default()
                        },
                    };
                    self.send(conn, &Packet::Auth(auth), now);
                }
            }
        }
    }

    fn refuse_or_disconnect(
        &mut self,
        conn: ConnId,
        connecting: bool,
        code: ConnectReasonCode,
        now: Timestamp,
    ) {
        if connecting {
            let v = self
                .conns
                .get(&conn)
                .map_or(ProtocolVersion::V5, |c| c.version);
            self.refuse(conn, v, code, now);
        } else {
            let reason = DisconnectReasonCode::from_u8(code.as_u8())
                .unwrap_or(DisconnectReasonCode::NotAuthorized);
            self.disconnect(conn, reason, now);
        }
    }

    /// An AUTH packet from the client: the next step of an exchange, or re-authentication.
    fn handle_auth_packet(&mut self, conn: ConnId, a: Auth, now: Timestamp) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        let step = match (connecting, a.reason_code) {
            (true, AuthReasonCode::ContinueAuthentication) => AuthStep::Continue,
            (false, AuthReasonCode::ReAuthenticate) => AuthStep::ReAuthenticate,
            (false, AuthReasonCode::ContinueAuthentication) => AuthStep::Continue,
            // [MQTT-4.12.0-2] [MQTT-3.15.2-1] anything else is a protocol error.
            _ => {
                return self.protocol_error(
                    conn,
                    DecodeError::UnexpectedPacket(mqtt_proto::PacketType::Auth),
                    now,
                );
            }
        };
        // [MQTT-4.12.0-5] the method must be the one of CONNECT.
        if c.auth_method.is_none() || a.properties.authentication_method != c.auth_method {
            return self.protocol_error(
                conn,
                DecodeError::UnexpectedPacket(mqtt_proto::PacketType::Auth),
                now,
            );
        }
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
            peer: c.peer,
            step,
            method: c.auth_method.clone(),
            data: a.properties.authentication_data,
        };
        let decision = self.authenticator.authenticate(&req);
        self.apply_auth(conn, decision, req, now);
    }

    /// CONNACK with a refusal, then close. On 3.x the reason becomes a return code.
    pub(crate) fn refuse(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        code: ConnectReasonCode,
        now: Timestamp,
    ) {
        self.stats.reject(code.as_u8());
        if let Some(c) = self.conns.get_mut(&conn) {
            c.version = v;
        }
        let ack = ConnAck {
            session_present: false,
            reason_code: code,
            properties: ConnAckProperties::default(),
        };
        self.send(conn, &Packet::ConnAck(Box::new(ack)), now);
        self.drop_connection(conn, false, now);
    }

    /// A decode error before CONNACK: refuse with a CONNACK where the version allows one.
    pub(crate) fn refuse_connect_error(&mut self, conn: ConnId, e: DecodeError, now: Timestamp) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let awaiting = matches!(c.state, ConnState::AwaitingConnect);
        match e {
            // [MQTT-3.1.2-2] unsupported level: CONNACK 0x84 (v5) or return code 0x01 (3.x).
            DecodeError::UnsupportedProtocolVersion(level) if awaiting => {
                let v = if level >= 5 {
                    ProtocolVersion::V5
                } else {
                    ProtocolVersion::V3_1_1
                };
                self.refuse(conn, v, ConnectReasonCode::UnsupportedProtocolVersion, now)
            }
            _ if awaiting => {
                // The version is unknown until CONNECT parses: close without CONNACK.
                self.drop_connection(conn, false, now);
            }
            _ => {
                let v = c.version;
                let code = ConnectReasonCode::from_u8(e.reason_code().0)
                    .unwrap_or(ConnectReasonCode::ProtocolError);
                if v.is_v5() {
                    self.refuse(conn, v, code, now);
                } else {
                    self.drop_connection(conn, false, now);
                }
            }
        }
    }

    /// Authentication passed: bind to a session (taking over any other connection), send
    /// CONNACK, resume delivery.
    fn accept_connect(&mut self, conn: ConnId, auth_data: Option<Bytes>, now: Timestamp) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnState::Authenticating(connect) =
            core::mem::replace(&mut c.state, ConnState::AwaitingConnect)
        else {
            return;
        };
        let connect = *connect;
        let v = connect.protocol_version;
        let cfg = &self.config;
        let assigned = c.assigned_client_id;

        // Session Expiry Interval: v5 property, or the v3 clean-session flag.
        let requested = if v.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let expiry = requested.min(cfg.max_session_expiry);

        // Keep alive: the client's value, or the server's maximum.
        let mut server_keep_alive = None;
        let mut keep_alive = connect.keep_alive;
        if let Some(max) = cfg.max_keep_alive {
            if v.is_v5() && (keep_alive == 0 || keep_alive > max) {
                keep_alive = max;
                server_keep_alive = Some(max);
            }
        }
        c.keep_alive_ms = u64::from(keep_alive) * 1500;
        c.will = connect.will.clone();
        let peer = c.peer;

        // Takeover and resume.
        let client = ClientInfo {
            client_id: connect.client_id.clone(),
            username: connect.username.clone(),
            peer,
            version: v,
        };
        let existing = self.by_client.get(&connect.client_id).copied();
        let mut session_present = false;
        let sid = match existing {
            Some(sid) => {
                let old_conn = self.sessions.get(&sid).and_then(|s| s.conn);
                if let Some(old) = old_conn {
                    // [MQTT-3.1.4-3] the existing connection is told 0x8E and closed.
                    self.stats.takeovers += 1;
                    self.disconnect(old, DisconnectReasonCode::SessionTakenOver, now);
                }
                if connect.clean_start {
                    self.end_session(sid, now);
                    self.create_session(client)
                } else {
                    session_present = true;
                    sid
                }
            }
            None => self.create_session(client),
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = Some(conn);
        s.expiry_interval = expiry;
        s.client.peer = peer;
        s.client.version = v;
        s.client.username = connect.username.clone();
        if let Some(at) = s.expires_at.take() {
            self.timers.cancel(at, Timer::SessionExpiry(sid));
        }
        // [MQTT-3.1.3-9] a new connection before the will delay: the will is not sent.
        if let Some(w) = s.pending_will.take() {
            self.timers.cancel(w.at, Timer::WillDelay(sid));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Connected(sid);
        }
        self.stats.connects += 1;

        let mut props = ConnAckProperties::default();
        if v.is_v5() {
            let cfg = &self.config;
            if expiry != requested {
                props.session_expiry_interval = Some(expiry);
            }
            props.receive_maximum = core::num::NonZeroU16::new(cfg.receive_maximum);
            if cfg.max_qos != QoS::ExactlyOnce {
                props.maximum_qos = Some(cfg.max_qos);
            }
            if !cfg.retain_available {
                props.retain_available = Some(false);
            }
            props.maximum_packet_size = core::num::NonZeroU32::new(cfg.max_packet_size);
            if cfg.topic_alias_maximum > 0 {
                props.topic_alias_maximum = Some(cfg.topic_alias_maximum);
            }
            if !cfg.wildcard_subscriptions {
                props.wildcard_subscription_available = Some(false);
            }
            if !cfg.subscription_identifiers {
                props.subscription_identifiers_available = Some(false);
            }
            if !cfg.shared_subscriptions {
                props.shared_subscription_available = Some(false);
            }
            props.server_keep_alive = server_keep_alive;
            if assigned {
                props.assigned_client_identifier = Some(connect.client_id.clone());
            }
            if connect.properties.request_response_information == Some(true) {
                props.response_information = cfg.response_information.clone();
            }
            if let Some(m) = &connect.properties.authentication_method {
                props.authentication_method = Some(m.clone());
                props.authentication_data = auth_data;
            }
        }
        let ack = ConnAck {
            session_present,
            reason_code: ConnectReasonCode::Success,
            properties: props,
        };
        self.send(conn, &Packet::ConnAck(Box::new(ack)), now);
        self.arm_keep_alive(conn, now);
        if session_present {
            self.resend_inflight(sid, conn, now);
        }
        self.pump(sid, now);
    }

    pub(crate) fn create_session(&mut self, client: ClientInfo) -> crate::ids::SessionId {
        let sid = self.new_session_id();
        self.by_client.insert(client.client_id.clone(), sid);
        self.sessions.insert(sid, Session::new(client));
        sid
    }
}
