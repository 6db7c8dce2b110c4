//! `ringmq-bench`, the load tool: MQTT load generators built on the sans-IO
//! [`mqtt_core::Client`].
//!
//! Every connection is one task on a tokio current-thread runtime (the tool is meant to run
//! pinned to one core, beside a broker pinned to another). A task reads into a reused
//! buffer, feeds whole packets to its client and writes everything the client encoded since
//! the last write in one `write` call: publishers queue many PUBLISH packets before writing,
//! never one syscall per message.
//!
//! Modes, each an `async fn` that must run inside a tokio current-thread runtime (it spawns
//! its tasks on its own [`tokio::task::LocalSet`]):
//! - [`stress`]: mqtt-stresser's method (N clients publish M messages each to their own
//!   topic and receive their own);
//! - [`flow`]: p2p, fan-in and fan-out throughput with loss;
//! - [`latency`]: open-loop latency at a fixed offered rate, corrected for coordinated
//!   omission;
//! - [`connections`]: connect latency and the broker's memory per idle connection.
//!
//! [`block_on`] builds the runtime for a caller that has none (the binary).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod conn;
mod connect;
mod flow;
mod latency;
mod roles;
mod stats;
mod stress;
mod tally;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_core::{ClientOptions, Timestamp};
use mqtt_proto::{ProtocolVersion, QoS};

pub use connect::{connections, raise_nofile_limit, ConnOptions, ConnReport};
pub use flow::{flow, FlowOptions, FlowReport, Stop, Topology};
pub use latency::{latency, LatencyOptions, LatencyReport};
pub use stats::{rss_kib, LatencySummary, Spread};
pub use stress::{stress, StressOptions, StressReport, WorkerErrors};

/// Settings shared by every mode.
#[derive(Debug, Clone)]
pub struct Common {
    /// The broker.
    pub addr: SocketAddr,
    /// Protocol version of every connection.
    pub version: ProtocolVersion,
    /// QoS of every publish and subscription.
    pub qos: QoS,
    /// Payload size in bytes.
    pub payload: usize,
    /// Print a progress line each second on stderr (runs longer than 2 s).
    pub progress: bool,
    /// Prefix of client identifiers and topics, unique per run so that runs never meet.
    pub prefix: String,
}

impl Common {
    /// Defaults for a broker at `addr`: MQTT 5, QoS 0, 64-byte payloads, no progress line.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            version: ProtocolVersion::V5,
            qos: QoS::AtMostOnce,
            payload: 64,
            progress: false,
            prefix: default_prefix(),
        }
    }

    /// QoS 1/2 publishes in flight per publisher when not given: unbounded on MQTT 5, where
    /// the broker's Receive Maximum bounds it; 100 on MQTT 3, which has no Receive Maximum
    /// (a broker closes a client over its own limit).
    pub fn default_inflight(&self) -> u16 {
        if self.version == ProtocolVersion::V5 {
            u16::MAX
        } else {
            100
        }
    }

    /// Client options for one connection of this run.
    pub(crate) fn client_options(&self, id: &str, max_inflight: u16) -> ClientOptions {
        let mut o = ClientOptions::new(format!("{}-{id}", self.prefix), self.version);
        o.keep_alive = 60;
        o.max_inflight = max_inflight.max(1);
        // A publisher refills its queue only when the queue is empty: a few suffice.
        o.max_queued = 1024;
        o
    }

    /// A topic of this run.
    pub(crate) fn topic(&self, mode: &str, n: usize) -> String {
        format!("ringmq-bench/{}/{mode}/{n}", self.prefix)
    }

    /// A constant payload of the configured size.
    pub(crate) fn payload_bytes(&self) -> Bytes {
        Bytes::from(vec![b'x'; self.payload])
    }
}

/// `rb<pid>-<n>`: unique among concurrent tool processes and among runs of one process.
fn default_prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("rb{}-{n}", std::process::id())
}

/// Runs a mode's future on a new tokio current-thread runtime (timers and I/O enabled).
pub fn block_on<F: Future>(fut: F) -> io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(fut))
}

/// The clock of one run: monotonic time since its start, as the client wants it
/// ([`Timestamp`], milliseconds) and in nanoseconds for latency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Now, for the client.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// When a client timestamp falls.
    pub(crate) fn instant(&self, t: Timestamp) -> Instant {
        self.origin + Duration::from_millis(t.0)
    }

    /// Nanoseconds from the origin to `t` (0 before it).
    pub(crate) fn nanos_at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// An error of the run, with what failed.
pub(crate) fn error(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// Messages per second, 0 over no time.
pub(crate) fn rate(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}
