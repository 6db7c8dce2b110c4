//! Sans-IO MQTT broker state machines: connections, sessions, QoS 0/1/2 in both directions,
//! topic aliases, flow control, expiry, wills, retained messages, the subscription trie, shared
//! subscriptions and the [`Shard`] that owns them.
//!
//! # The contract
//! The core performs no I/O, reads no clock and starts no thread (enforced by `clippy.toml`).
//! A runtime drives one [`Shard`] per core:
//!
//! - inputs are `handle_*` calls: [`Shard::handle_accept`], [`Shard::handle_bytes`],
//!   [`Shard::handle_closed`], [`Shard::handle_timeout`], [`Shard::handle_auth`],
//!   [`Shard::handle_peer`], [`Shard::handle_handover`]; each takes `now`, a [`Timestamp`]
//!   that never goes backwards;
//! - after any input, drain [`Shard::poll_output`] until it returns `None`, then read
//!   [`Shard::poll_timeout`] and call [`Shard::handle_timeout`] at that instant;
//! - an [`Output::Transmit`] means bytes are ready: take them all with
//!   [`Shard::take_transmit`] when the socket can be written, in one write;
//! - [`Shard::handle_bytes`] consumes whole packets from the connection's read buffer and
//!   leaves the rest there; keep it and pass it again, with what is read next. Stop reading a
//!   connection whose buffer holds more than [`Config::max_packet_size`] unconsumed bytes
//!   (its input is paused, see below) until the shard consumes some or says
//!   [`Output::ResumeRead`].
//!
//! With several shards ([`Shard::with_shards`], one per core, the same [`Config`] on each):
//!
//! - an [`Output::PeerReady`]`(to)` means messages for shard `to` wait in this shard's outbox:
//!   take them all as one message with [`Shard::take_peer`] when the link to `to` has room,
//!   and deliver it with [`Shard::handle_peer`] on `to`. Links must be FIFO per (from, to)
//!   pair: the shards rely on that order. An outbox over [`Config::max_peer_queue`] pauses the
//!   shard's client PUBLISH input (a PUBLISH stays in the read buffer) until `take_peer`
//!   drains it; each paused connection then gets an [`Output::ResumeRead`] (so drain
//!   `poll_output` after `take_peer` too), on which the runtime calls `handle_bytes` again with
//!   what it has buffered and reads the socket again;
//! - an [`Output::Handover`] means the connection belongs to its client's home shard: stop
//!   serving it here, move the socket (and any TLS or WebSocket state) to shard `to`, and call
//!   [`Shard::handle_handover`] there with the bytes it carries. This shard has already
//!   forgotten the connection; the home shard handles the CONNECT as if it had arrived there.
//!   The [`ConnId`] passed there must be unique on the home shard: number connections
//!   broker-wide (e.g. the accepting shard in the high bits) or give it a new id there.
#![forbid(unsafe_code)]

pub mod time;
pub use time::Timestamp;

pub mod message;
pub use message::{Message, MessageId, SharedMessage};

pub mod subscriptions;

pub mod retained;

pub(crate) mod alias;
pub mod auth;
pub mod client;
pub mod config;
pub mod ids;
pub(crate) mod session;
pub mod shard;
pub mod stats;
mod timer;

pub use auth::{
    Acl, Action, AllowAll, AuthDecision, AuthRequest, AuthStep, Authenticator, ClientInfo, DenyAll,
};
pub use client::{Client, ClientOptions};
pub use config::Config;
pub use ids::{shard_for, ConnId, SessionId, ShardId};
pub use shard::{Output, Shard, ShardMsg};
pub use stats::Stats;
