//! Helpers for connection scenarios: a peer address, scripted authenticators, AUTH packets,
//! and decoding the single CONNACK / DISCONNECT / AUTH a client got.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use mqtt_core::{AuthDecision, AuthRequest, AuthStep, Authenticator, ConnId};
use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, ByteString, Bytes, ConnAck, Connect, ConnectReasonCode,
    DisconnectReasonCode, Packet, ProtocolVersion,
};

use super::{connect, Harness, V5};

/// An authenticator that records every request and answers with a closure.
pub struct Scripted {
    log: Rc<RefCell<Vec<AuthRequest>>>,
    answer: Box<dyn FnMut(&AuthRequest) -> AuthDecision>,
}

impl core::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Authenticator for Scripted {
    fn authenticate(&mut self, req: &AuthRequest) -> AuthDecision {
        self.log.borrow_mut().push(req.clone());
        (self.answer)(req)
    }
}

/// The requests a [`Scripted`] authenticator has seen.
pub type AuthLog = Rc<RefCell<Vec<AuthRequest>>>;

impl Harness {
    /// Installs a scripted authenticator; returns its request log.
    pub fn authenticate_with(
        &mut self,
        answer: impl FnMut(&AuthRequest) -> AuthDecision + 'static,
    ) -> AuthLog {
        let log = AuthLog::default();
        self.shard.set_authenticator(Box::new(Scripted {
            log: log.clone(),
            answer: Box::new(answer),
        }));
        log
    }

    /// Opens a connection from `peer` (no CONNECT yet).
    pub fn open_from(&mut self, peer: SocketAddr) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.shard.handle_accept(id, Some(peer), self.now);
        self.rx.insert(id, BytesMut::new());
        self.drain();
        id
    }

    /// The runtime answers a deferred authentication request.
    pub fn answer_auth(&mut self, conn: ConnId, decision: AuthDecision) {
        self.shard.handle_auth(conn, decision, self.now);
        self.drain();
    }

    /// Opens a connection, sends `c` and returns the connection (whatever came back is left
    /// to be received).
    pub fn open_and_send(&mut self, c: Connect) -> ConnId {
        let conn = self.open();
        let v = c.protocol_version;
        self.send(conn, v, c);
        conn
    }

    /// Exactly one packet received, a CONNACK.
    pub fn recv_connack(&mut self, conn: ConnId) -> ConnAck {
        match self.recv_one(conn) {
            Packet::ConnAck(a) => *a,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Exactly one packet received, a DISCONNECT; returns its reason code.
    pub fn recv_disconnect(&mut self, conn: ConnId) -> DisconnectReasonCode {
        match self.recv_one(conn) {
            Packet::Disconnect(d) => d.reason_code,
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
    }

    /// Exactly one packet received, an AUTH.
    pub fn recv_auth(&mut self, conn: ConnId) -> Auth {
        match self.recv_one(conn) {
            Packet::Auth(a) => a,
            other => panic!("expected AUTH, got {other:?}"),
        }
    }

    /// The raw bytes `conn` has received and not decoded yet (for v3 return codes).
    pub fn raw(&mut self, conn: ConnId) -> Vec<u8> {
        self.rx.entry(conn).or_default().split().to_vec()
    }

    /// Sets the version used to decode what `conn` receives.
    pub fn speaks(&mut self, conn: ConnId, v: ProtocolVersion) {
        self.versions.insert(conn, v);
    }
}

/// A v5 CONNECT with an enhanced authentication method and data.
pub fn connect_enhanced(id: &str, method: &str, data: &'static [u8]) -> Connect {
    let mut c = connect(id, V5);
    c.properties.authentication_method = Some(ByteString::from(method));
    c.properties.authentication_data = Some(Bytes::from_static(data));
    c
}

/// A CONNECT with a user name and password.
pub fn connect_login(id: &str, v: ProtocolVersion, user: &str, password: &'static [u8]) -> Connect {
    let mut c = connect(id, v);
    c.username = Some(ByteString::from(user));
    c.password = Some(Bytes::from_static(password));
    c
}

/// An AUTH packet with a method and data.
pub fn auth(code: AuthReasonCode, method: &str, data: &'static [u8]) -> Auth {
    Auth {
        reason_code: code,
        properties: AuthProperties {
            authentication_method: Some(ByteString::from(method)),
            authentication_data: Some(Bytes::from_static(data)),
            ..AuthProperties::default()
        },
    }
}

/// `Some(Bytes)` of a static slice.
pub fn data(b: &'static [u8]) -> Option<Bytes> {
    Some(Bytes::from_static(b))
}

/// The enhanced authentication method of the scenarios.
pub const METHOD: &str = "SCRAM-SHA-256";

/// A peer address for requests to carry.
pub fn peer() -> SocketAddr {
    "192.0.2.7:50123".parse().unwrap()
}

impl Harness {
    /// Installs an authenticator for a two-step exchange: a challenge on CONNECT (and on
    /// re-authentication), then `b"proof"` is accepted with `b"server-final"` and anything
    /// else denied with 0x87.
    pub fn challenge_response(&mut self) -> AuthLog {
        self.authenticate_with(|r| match (r.step, r.data.as_deref()) {
            (AuthStep::Connect | AuthStep::ReAuthenticate, _) => AuthDecision::Continue {
                data: Bytes::from_static(b"challenge"),
            },
            (AuthStep::Continue, Some(b"proof")) => AuthDecision::Allow {
                data: data(b"server-final"),
            },
            (AuthStep::Continue, _) => AuthDecision::Deny(ConnectReasonCode::NotAuthorized),
        })
    }

    /// Connects through the two-step exchange of [`Harness::challenge_response`].
    pub fn enhanced_client(&mut self, id: &str) -> ConnId {
        let conn = self.open_and_send(connect_enhanced(id, METHOD, b"client-first"));
        self.recv_auth(conn);
        let proof = auth(AuthReasonCode::ContinueAuthentication, METHOD, b"proof");
        self.send(conn, V5, proof);
        let ack = self.recv_connack(conn);
        assert_eq!(ack.reason_code, ConnectReasonCode::Success);
        conn
    }
}
