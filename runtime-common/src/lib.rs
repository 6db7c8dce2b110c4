//! What ringmq's two runtimes share, written once: `runtime-glommio` and `runtime-tokio`
//! drive the same mqtt-core shards, and everything here is independent of the executor.
//!
//! - [`sync`]: wake-ups between the tasks of one shard (never across threads);
//! - [`Clock`]: the broker's clock, one monotonic origin for every shard;
//! - [`SharedCounters`]: the runtime's connection counters;
//! - [`startup`]: the handshake between `Broker::start` and the shard threads;
//! - [`link`]: what travels between shards, and the sending side of a link;
//! - [`conn`]: a connection's task, over the runtime's socket and shard context;
//! - [`lifecycle`]: a shard's connection count, shutdown deadline and graceful shutdown;
//! - [`shard`]: the state a shard's tasks share, the dispatch of its outputs, its timer.
//!
//! No executor here: the runtimes bring sockets, timers and task spawning.

pub mod conn;
pub mod lifecycle;
pub mod link;
pub mod shard;
pub mod startup;
pub mod sync;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::time::Instant;

use mqtt_core::Timestamp;

/// The broker's clock: milliseconds since the broker started, from one monotonic origin shared
/// by every shard.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is `origin`.
    pub fn new(origin: Instant) -> Self {
        Self { origin }
    }

    /// Now, as the shards see it.
    #[inline]
    pub fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The instant a timestamp stands for.
    pub fn instant(&self, t: Timestamp) -> Instant {
        self.origin + Duration::from_millis(t.0)
    }
}

/// The shards' shared connection counters (read by `BrokerHandle::counters`).
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Connections accepted by a listener.
    pub accepted: AtomicU64,
    /// Connections a shard handed over to their home shard.
    pub handed_over: AtomicU64,
    /// Handed-over connections their home shard adopted.
    pub adopted: AtomicU64,
    /// Idle connections parked (glommio, and tokio on Linux).
    pub parked: AtomicU64,
    /// Parked connections served again.
    pub unparked: AtomicU64,
}

/// Counters of the runtime (broker-wide, since start): what `BrokerHandle::counters` returns,
/// the same on both runtimes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted by a listener.
    pub accepted: u64,
    /// Connections a shard handed over to their home shard.
    pub handed_over: u64,
    /// Handed-over connections their home shard adopted.
    pub adopted: u64,
    /// Idle connections parked (task and socket freed; see `runtime.park_idle_ms`). Always 0
    /// on tokio outside Linux, where it does not park.
    pub parked: u64,
    /// Parked connections served again (input, output, or their end).
    pub unparked: u64,
}

impl SharedCounters {
    /// The counters now.
    pub fn snapshot(&self) -> Counters {
        Counters {
            accepted: Self::get(&self.accepted),
            handed_over: Self::get(&self.handed_over),
            adopted: Self::get(&self.adopted),
            parked: Self::get(&self.parked),
            unparked: Self::get(&self.unparked),
        }
    }

    /// Adds one to a counter.
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
