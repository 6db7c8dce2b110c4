//! Authentication and access control hook points.
//!
//! Authentication may be slow (a database, a password hash), so it never blocks a shard: an
//! [`Authenticator`] answers at once or returns [`AuthDecision::Defer`], in which case the shard
//! emits [`crate::Output::Auth`] and the runtime answers later through
//! [`crate::Shard::handle_auth`]. Access control runs on every publish, subscribe and delivery,
//! so [`Acl`] is synchronous and must be cheap.

use core::net::SocketAddr;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{ConnectReasonCode, ProtocolVersion, QoS};

use crate::ids::ConnId;

/// Who a client is, once connected. Bound to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client identifier.
    pub client_id: ByteString,
    /// User name from CONNECT.
    pub username: Option<ByteString>,
    /// Peer address reported by the runtime.
    pub peer: Option<SocketAddr>,
    /// Protocol version.
    pub version: ProtocolVersion,
}

/// One authentication question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The connection asking.
    pub conn: ConnId,
    /// Client identifier (possibly assigned by the broker).
    pub client_id: ByteString,
    /// User name from CONNECT.
    pub username: Option<ByteString>,
    /// Password from CONNECT (first step only).
    pub password: Option<Bytes>,
    /// Peer address.
    pub peer: Option<SocketAddr>,
    /// Which step this is.
    pub step: AuthStep,
    /// Enhanced authentication method (MQTT 5), if any.
    pub method: Option<ByteString>,
    /// Enhanced authentication data of this step.
    pub data: Option<Bytes>,
}

/// Where in an authentication exchange a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStep {
    /// CONNECT arrived.
    Connect,
    /// The client answered a challenge (AUTH 0x18).
    Continue,
    /// A connected client asked to re-authenticate (AUTH 0x19).
    ReAuthenticate,
}

/// An authenticator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Accept; the data, if any, goes back in CONNACK / AUTH as Authentication Data.
    Allow {
        /// Final authentication data.
        data: Option<Bytes>,
    },
    /// Send a challenge (AUTH 0x18) and wait for the client's next step.
    Continue {
        /// Challenge data.
        data: Bytes,
    },
    /// Refuse with this CONNACK reason (mapped to a v3 return code on 3.x).
    Deny(ConnectReasonCode),
    /// The runtime will answer through [`crate::Shard::handle_auth`]: the shard emits
    /// [`crate::Output::Auth`] with the request, remembers it, and continues the exchange
    /// with the answer. Meanwhile the connection is not blocked, but nothing else of a
    /// connecting client is processed; the connect timeout still runs.
    Defer,
}

/// Decides who may connect.
pub trait Authenticator: core::fmt::Debug {
    /// Answers one step; may defer to the runtime.
    fn authenticate(&mut self, req: &AuthRequest) -> AuthDecision;
}

/// What a client is trying to do, for [`Acl::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Publish to a topic.
    Publish {
        /// Topic name.
        topic: &'a str,
        /// QoS.
        qos: QoS,
        /// RETAIN flag.
        retain: bool,
    },
    /// Subscribe to a filter (the filter after any `$share/{group}/` prefix).
    Subscribe {
        /// Topic filter.
        filter: &'a str,
        /// Requested QoS.
        qos: QoS,
    },
    /// Receive a message on a topic: checked again at delivery time, so revoking read
    /// permission stops retained, queued and inflight delivery (bad-inputs row 26).
    Receive {
        /// Topic name.
        topic: &'a str,
    },
}

/// Access control; synchronous because it runs per message.
pub trait Acl: core::fmt::Debug {
    /// Whether `client` may perform `action`.
    fn check(&self, client: &ClientInfo, action: Action<'_>) -> bool;
}

/// Lets everyone in and allows everything (the loopback default).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&mut self, req: &AuthRequest) -> AuthDecision {
        if req.method.is_some() {
            // No enhanced authentication method is known.
            AuthDecision::Deny(ConnectReasonCode::BadAuthenticationMethod)
        } else {
            AuthDecision::Allow { data: None }
        }
    }
}

impl Acl for AllowAll {
    fn check(&self, _: &ClientInfo, _: Action<'_>) -> bool {
        true
    }
}

/// Refuses every connection and every action.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl Authenticator for DenyAll {
    fn authenticate(&mut self, _: &AuthRequest) -> AuthDecision {
        AuthDecision::Deny(ConnectReasonCode::NotAuthorized)
    }
}

impl Acl for DenyAll {
    fn check(&self, _: &ClientInfo, _: Action<'_>) -> bool {
        false
    }
}
