//! The async client's typed errors.

use std::io;
use std::sync::Arc;

use mqtt_core::client::{ClientError, CloseReason};
use mqtt_proto::{ByteString, ConnectReasonCode, DisconnectReasonCode, ReasonCode};

/// Why a client operation failed. Errors from the broker carry its reason code and Reason
/// String ([`Error::reason_code`], [`Error::reason_string`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// CONNACK refused the connection (MQTT 3 return codes are mapped to their MQTT 5
    /// equivalent).
    #[error("the server refused the connection: {reason:?} (0x{:02X}){}", *reason as u8, fmt_reason(reason_string.as_ref()))]
    ConnectRefused {
        /// CONNACK reason code.
        reason: ConnectReasonCode,
        /// CONNACK Reason String.
        reason_string: Option<ByteString>,
        /// CONNACK Server Reference.
        server_reference: Option<ByteString>,
    },
    /// The server ended the connection with DISCONNECT.
    #[error("the server disconnected: {reason:?} (0x{:02X}){}", *reason as u8, fmt_reason(reason_string.as_ref()))]
    DisconnectedByServer {
        /// DISCONNECT reason code.
        reason: DisconnectReasonCode,
        /// DISCONNECT Reason String.
        reason_string: Option<ByteString>,
        /// DISCONNECT Server Reference.
        server_reference: Option<ByteString>,
    },
    /// PUBACK or PUBREC refused a QoS 1/2 publish (reason 0x80 or above).
    #[error("the server refused the publish: 0x{:02X}{}", reason.0, fmt_reason(reason_string.as_ref()))]
    PublishRefused {
        /// PUBACK/PUBREC reason code.
        reason: ReasonCode,
        /// Its Reason String.
        reason_string: Option<ByteString>,
    },
    /// The offline queue is full: `limit` commands (publishes, subscribes, unsubscribes)
    /// already wait to be sent, because the broker is unreachable or the in-flight window is
    /// full. Refused at once; retry later, or raise the limit
    /// ([`ConnectOptions::max_queued`](super::ConnectOptions::max_queued)).
    #[error("offline queue full: {limit} commands already wait to be sent (the limit, ConnectOptions::max_queued)")]
    QueueFull {
        /// The configured limit.
        limit: usize,
    },
    /// The client state machine refused or gave up the command (over the server's limits,
    /// invalid topic, session lost...).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The connection ended without a packet from the server saying why (transport closed,
    /// keep alive or CONNACK timeout, protocol violation by the server, or our DISCONNECT).
    #[error("connection closed: {0:?}")]
    Closed(CloseReason),
    /// Socket error (connect, read or write).
    #[error("i/o error: {0}")]
    Io(Arc<io::Error>),
    /// The client's driver task has stopped (every handle was dropped, or the runtime is
    /// shutting down).
    #[error("the client has stopped")]
    Stopped,
}

fn fmt_reason(s: Option<&ByteString>) -> String {
    s.map(|s| format!(": {s}")).unwrap_or_default()
}

impl Error {
    /// The broker's reason code, when the broker sent one.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            Self::ConnectRefused { reason, .. } => Some(ReasonCode(*reason as u8)),
            Self::DisconnectedByServer { reason, .. } => Some(ReasonCode(*reason as u8)),
            Self::PublishRefused { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The broker's Reason String, when it sent one.
    pub fn reason_string(&self) -> Option<&str> {
        match self {
            Self::ConnectRefused { reason_string, .. }
            | Self::DisconnectedByServer { reason_string, .. }
            | Self::PublishRefused { reason_string, .. } => reason_string.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn io(e: io::Error) -> Self {
        Self::Io(Arc::new(e))
    }

    /// A refusal of the state machine, with a full queue reported with its limit.
    pub(crate) fn refused(e: ClientError, limit: usize) -> Self {
        match e {
            ClientError::QueueFull(_) => Self::QueueFull { limit },
            other => Self::Client(other),
        }
    }
}

impl From<CloseReason> for Error {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::ConnectFailed {
                reason,
                reason_string,
                server_reference,
            } => Self::ConnectRefused {
                reason,
                reason_string,
                server_reference,
            },
            CloseReason::ByServer {
                reason,
                reason_string,
                server_reference,
            } => Self::DisconnectedByServer {
                reason,
                reason_string,
                server_reference,
            },
            other => Self::Closed(other),
        }
    }
}
