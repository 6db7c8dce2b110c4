//! CONNECT, client identifiers, CONNACK, takeover and session resume; also the packet
//! dispatch by connection state. Authentication exchanges live in `auth_exchange`.

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    ConnAck, ConnAckProperties, Connect, ConnectReasonCode, DecodeError, DisconnectReasonCode,
    Packet, ProtocolVersion, QoS,
};

use super::{ConnState, Shard};
use crate::alias::OutboundAliases;
use crate::auth::{AuthRequest, AuthStep, ClientInfo};
use crate::ids::{ConnId, SessionId};
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
            // [MQTT-3.1.2-30] during an AUTH exchange only AUTH or DISCONNECT may arrive
            // before CONNACK: CONNACK 0x82. (Without a method, input waits instead: see
            // `AuthExchange::holds_input`.)
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

    fn handle_connected(&mut self, conn: ConnId, sid: SessionId, packet: Packet, now: Timestamp) {
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
        // The packet limit stays `max_connect_packet_size` until CONNACK (bad-inputs row 5),
        // and the connect timer keeps running through authentication, so a client that never
        // finishes an AUTH exchange is closed like one that never finishes CONNECT (row 23).
        c.decode.topic_alias_maximum = if v.is_v5() {
            cfg.topic_alias_maximum
        } else {
            0
        };
        let p = &connect.properties;
        c.limits.receive_maximum = p.receive_maximum.map_or(u16::MAX, |r| r.get());
        c.limits.max_packet_size = p
            .maximum_packet_size
            .map_or(mqtt_proto::MAX_PACKET_SIZE, |m| m.get());
        // [MQTT-3.1.2-29] policy: the core sends no Reason String and no User Property on
        // any packet it originates (acks, AUTH, CONNACK, DISCONNECT; a PUBLISH carries only
        // its publisher's properties, which the rule allows), so the rule holds for
        // every client; the flag is kept for when diagnostics are added.
        c.limits.problem_information = p.request_problem_information.unwrap_or(true);
        c.outbound_aliases = OutboundAliases::new(p.topic_alias_maximum.unwrap_or(0));
        c.connect_expiry_zero = p.session_expiry_interval.unwrap_or(0) == 0;
        if let Some(m) = &p.authentication_method {
            c.auth.method = Some(m.clone());
        }

        // Client identifier rules.
        if connect.client_id.len() > cfg.max_client_id_len {
            // v5 [MQTT-3.1.3-8] 0x85; on 3.x return code 0x02 [MQTT-3.1.3-9] (3.1.1).
            return self.refuse(conn, v, ConnectReasonCode::ClientIdentifierNotValid, now);
        }
        let mut connect = connect;
        if connect.client_id.is_empty() {
            let allowed = match v {
                // v5 [MQTT-3.1.3-6] the server may accept an empty id and assign one, or
                // refuse it with 0x85 [MQTT-3.1.3-8].
                ProtocolVersion::V5 => cfg.assign_client_id,
                // 3.1.1 [MQTT-3.1.3-6] an empty id may be accepted (and an id assigned) only
                // with Clean Session 1 [MQTT-3.1.3-7]; otherwise return code 0x02
                // [MQTT-3.1.3-8].
                ProtocolVersion::V3_1_1 => connect.clean_start && cfg.assign_client_id,
                // 3.1 (§3.1 "Client Identifier") requires 1 to 23 characters: 0x02.
                ProtocolVersion::V3_1 => false,
            };
            if !allowed {
                return self.refuse(conn, v, ConnectReasonCode::ClientIdentifierNotValid, now);
            }
            connect.client_id = self.assign_client_id();
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

    /// A unique client identifier for a client that sent an empty one
    /// ([MQTT-3.1.3-6]: unique on this shard; the shard id makes it unique across shards).
    /// It is drawn until it hashes to this shard, so this shard is its home and the client
    /// is never handed over (about `shard_count` draws).
    fn assign_client_id(&mut self) -> ByteString {
        loop {
            let r = self.next_random();
            let id = ByteString::from(format!("ringmq-{}-{r:016x}", self.id.0));
            if self.home_of(&id) == self.id && !self.by_client.contains(&id, &self.sessions) {
                return id;
            }
        }
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
        self.send_refusal(conn, v, code, now);
    }

    /// CONNACK with a refusal, then close, without counting (the caller counted).
    fn send_refusal(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        code: ConnectReasonCode,
        now: Timestamp,
    ) {
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

    /// A decode error before CONNACK (already counted): refuse with a CONNACK where the
    /// version allows one.
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
                self.send_refusal(conn, v, ConnectReasonCode::UnsupportedProtocolVersion, now)
            }
            // A malformed or invalid MQTT 5 CONNECT gets a CONNACK with the reason
            // (bad-inputs rows 9 and 18: 0x81, 0x82); 3.x has no return code for these.
            _ if awaiting && c.connect_version_known && c.version.is_v5() => {
                let code = ConnectReasonCode::from_u8(e.reason_code().0)
                    .unwrap_or(ConnectReasonCode::ProtocolError);
                self.send_refusal(conn, ProtocolVersion::V5, code, now)
            }
            _ if awaiting => {
                // The version is unknown (or 3.x): close without CONNACK.
                self.drop_connection(conn, false, now);
            }
            _ => {
                let v = c.version;
                let code = ConnectReasonCode::from_u8(e.reason_code().0)
                    .unwrap_or(ConnectReasonCode::ProtocolError);
                if v.is_v5() {
                    self.send_refusal(conn, v, code, now);
                } else {
                    self.drop_connection(conn, false, now);
                }
            }
        }
    }

    /// Authentication passed: bind to a session (taking over any other connection), send
    /// CONNACK, resume delivery.
    pub(crate) fn accept_connect(
        &mut self,
        conn: ConnId,
        auth_data: Option<Bytes>,
        now: Timestamp,
    ) {
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
        if let Some(d) = c.timer.take() {
            self.timers.cancel(d, Timer::ConnectTimeout(conn));
        }
        c.decode.max_packet_size = cfg.max_packet_size;

        // Session Expiry Interval: v5 property, or the v3 clean-session flag.
        let requested = if v.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let expiry = requested.min(cfg.max_session_expiry);

        // Keep alive: the client's value, or on MQTT 5 the server's maximum, sent as Server
        // Keep Alive [MQTT-3.2.2-21]. A 3.x client cannot be told, so its own value stands.
        let mut server_keep_alive = None;
        let mut keep_alive = connect.keep_alive;
        if let Some(max) = cfg.max_keep_alive {
            if v.is_v5() && (keep_alive == 0 || keep_alive > max) {
                keep_alive = max;
                server_keep_alive = Some(max);
            }
        }
        // [MQTT-3.1.2-22] closed after one and a half keep alive periods of silence.
        c.keep_alive_ms = u32::from(keep_alive) * 1500;
        c.will = connect.will.clone().map(Box::new);
        let peer = c.peer;

        // A session is bound to the identity that created it: another user presenting the
        // same client identifier may not take it over (bad-inputs row 27).
        if self.config.bind_session_to_username {
            let owner = self
                .by_client
                .get(&connect.client_id, &self.sessions)
                .and_then(|sid| self.sessions.get(&sid))
                .map(|s| &s.client.username);
            if owner.is_some_and(|u| *u != connect.username) {
                return self.refuse(conn, v, ConnectReasonCode::NotAuthorized, now);
            }
        }
        // Copies, not slices of the CONNECT frame: they live as long as the session, and a
        // slice would keep the whole read buffer it arrived in.
        let username = connect.username.as_deref().map(ByteString::from);
        let client = ClientInfo {
            client_id: ByteString::from(&*connect.client_id),
            username: username.clone(),
            peer,
            version: v,
        };
        let (sid, session_present) = self.bind_session(client, connect.clean_start, now);
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = Some(conn);
        s.expiry_interval = expiry;
        s.client.peer = peer;
        s.client.version = v;
        s.client.username = username;
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
        // Its shared groups count one more member online (shared_cluster).
        self.share_online_changed(sid);

        let properties = if v.is_v5() {
            let mut props = self.connack_properties(conn, &connect, server_keep_alive);
            if expiry != requested {
                props.session_expiry_interval = Some(expiry);
            }
            // [MQTT-4.12.0-5] a successful CONNACK names the method of CONNECT (and only
            // then [MQTT-4.12.0-6]).
            if let Some(m) = &connect.properties.authentication_method {
                props.authentication_method = Some(m.clone());
                props.authentication_data = auth_data;
            }
            props
        } else {
            ConnAckProperties::default()
        };
        let ack = ConnAck {
            session_present,
            reason_code: ConnectReasonCode::Success,
            properties,
        };
        self.send(conn, &Packet::ConnAck(Box::new(ack)), now);
        self.arm_keep_alive(conn, now);
        if session_present {
            self.resend_inflight(sid, conn, now);
        }
        self.pump(sid, now);
    }

    /// Finds or creates the session of `client`: an existing connection with the same client
    /// identifier is taken over, and the session is resumed or, with Clean Start, replaced.
    /// Returns the session and whether it was resumed (Session Present).
    fn bind_session(
        &mut self,
        client: ClientInfo,
        clean_start: bool,
        now: Timestamp,
    ) -> (SessionId, bool) {
        let Some(sid) = self.by_client.get(&client.client_id, &self.sessions) else {
            return (self.create_session(client), false);
        };
        let old_conn = self.sessions.get(&sid).and_then(|s| s.conn);
        if let Some(old) = old_conn {
            // [MQTT-3.1.4-3] the existing connection is told 0x8E (MQTT 5) and closed. Its
            // will is handled as for any abnormal close; with Session Expiry 0 (3.x: Clean
            // Session 1) its session ends here, so nothing is left to resume.
            self.stats.takeovers += 1;
            self.disconnect(old, DisconnectReasonCode::SessionTakenOver, now);
        }
        if !self.sessions.contains_key(&sid) {
            return (self.create_session(client), false);
        }
        if clean_start {
            // [MQTT-3.1.2-4] Clean Start 1: the existing session is discarded.
            self.end_session(sid, now);
            (self.create_session(client), false)
        } else {
            // [MQTT-3.1.2-5] Clean Start 0 with a session: it is resumed, Session Present 1
            // [MQTT-3.2.2-3].
            (sid, true)
        }
    }

    /// CONNACK properties advertising the server's limits and choices (MQTT 5 §3.2.2.3).
    fn connack_properties(
        &self,
        conn: ConnId,
        connect: &Connect,
        server_keep_alive: Option<u16>,
    ) -> ConnAckProperties {
        let cfg = &self.config;
        let mut props = ConnAckProperties {
            receive_maximum: core::num::NonZeroU16::new(cfg.receive_maximum),
            maximum_packet_size: core::num::NonZeroU32::new(cfg.max_packet_size),
            // [MQTT-3.2.2-21] the keep alive the client must use instead of its own.
            server_keep_alive,
            ..ConnAckProperties::default()
        };
        // Maximum QoS is sent only below 2 (absent means 2).
        if cfg.max_qos != QoS::ExactlyOnce {
            props.maximum_qos = Some(cfg.max_qos);
        }
        // Availability flags are sent only when false (absent means available).
        if !cfg.retain_available {
            props.retain_available = Some(false);
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
        if cfg.topic_alias_maximum > 0 {
            props.topic_alias_maximum = Some(cfg.topic_alias_maximum);
        }
        // [MQTT-3.2.2-16] an assigned identifier is returned.
        if self.conns.get(&conn).is_some_and(|c| c.assigned_client_id) {
            props.assigned_client_identifier = Some(connect.client_id.clone());
        }
        // [MQTT-3.1.2-28] Response Information only when requested.
        if connect.properties.request_response_information == Some(true) {
            props.response_information = cfg.response_information.clone();
        }
        props
    }

    pub(crate) fn create_session(&mut self, client: ClientInfo) -> SessionId {
        let sid = self.new_session_id();
        self.by_client
            .insert(&client.client_id, sid, &self.sessions);
        self.sessions.insert(sid, Box::new(Session::new(client)));
        sid
    }
}
