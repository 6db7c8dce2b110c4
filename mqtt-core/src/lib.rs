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
//!   [`Shard::handle_peer`]; each takes `now`, a [`Timestamp`] that never goes backwards;
//! - after any input, drain [`Shard::poll_output`] until it returns `None`, then read
//!   [`Shard::poll_timeout`] and call [`Shard::handle_timeout`] at that instant;
//! - an [`Output::Transmit`] means bytes are ready: take them all with
//!   [`Shard::take_transmit`] when the socket can be written, in one write.
#![forbid(unsafe_code)]

pub mod time;
pub use time::Timestamp;

pub mod message;
pub use message::{Message, SharedMessage};

pub mod subscriptions;

pub mod retained;

pub(crate) mod alias;
pub mod auth;
pub mod config;
pub mod ids;
pub(crate) mod session;
pub mod shard;
pub mod stats;
mod timer;

pub use auth::{
    Acl, Action, AllowAll, AuthDecision, AuthRequest, AuthStep, Authenticator, ClientInfo, DenyAll,
};
pub use config::Config;
pub use ids::{shard_for, ConnId, SessionId, ShardId};
pub use shard::{Output, Shard, ShardMsg};
pub use stats::Stats;
