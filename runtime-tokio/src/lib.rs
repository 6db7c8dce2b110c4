//! ringmq on tokio: one OS thread per shard, each running a current-thread tokio runtime and
//! owning one [`mqtt_core::Shard`]. The same shards, outputs and shutdown as
//! `runtime-glommio`, on epoll/kqueue/IOCP instead of io_uring: it builds and runs on Linux,
//! macOS and Windows.
//!
//! # Shape
//! [`Broker::start`] starts one thread per shard (not pinned to a CPU: the scheduler places
//! them). Each runs a current-thread runtime and a `LocalSet`, so the shard and its tasks
//! need not be `Send`. On Linux every shard binds every listener with `SO_REUSEPORT` (shard
//! 0 first, so that port 0 resolves to one port that the others reuse, after probing that the
//! port is free) and the kernel spreads new connections over them; elsewhere shard 0 alone
//! binds and accepts, and the core hands each connection over to its home shard as usual.
//! On each shard's runtime:
//!
//! - one task per connection (`conn.rs`) reads into the shard's scratch buffer, feeds
//!   `handle_bytes`, and writes what `take_transmit` returns in one write;
//! - after every `handle_*` call the shard's outputs are drained and dispatched
//!   (`ShardCtx::dispatch` in `shard.rs`): they set flags on the connection's control block
//!   and wake its task, or wake the sending task of a link;
//! - one timer task sleeps until `poll_timeout` and calls `handle_timeout`;
//! - one sending and one receiving task per other shard carry `ShardMsg` batches, handed-over
//!   sockets (a `std::net::TcpStream` taken out of one reactor with `into_std` and registered
//!   with the other's with `from_std`) and the shutdown marker over bounded tokio `mpsc`
//!   channels of `runtime.channel_capacity` (`link.rs`);
//! - a `watch` channel from the [`BrokerHandle`] starts the graceful shutdown.
//!
//! Time is `Timestamp(ms since the broker started)`, from one monotonic `Instant` shared by
//! every shard. `runtime.io_memory` (glommio's registered buffers) does not apply here.

pub mod client;
mod conn;
mod link;
#[cfg(target_os = "linux")]
mod park;
mod shard;
mod sync;

use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

pub use ringmq_config::BrokerConfig;
use tokio::sync::watch;
use tracing::warn;

use ringmq_runtime::startup;
use shard::{Clock, ShardSpec, SharedCounters};

/// Margin over `shutdown_timeout_ms` that [`BrokerHandle::shutdown`] allows the threads to
/// exit in, before it reports a timeout.
const JOIN_MARGIN: Duration = Duration::from_secs(2);

/// Starts brokers.
#[derive(Debug)]
pub struct Broker;

pub use ringmq_runtime::Counters;

/// A running broker: its addresses, and the way to stop it.
///
/// It is `Send`: it may be moved to and used from any thread. Dropping it without
/// [`BrokerHandle::shutdown`] shuts the broker down the same way and waits for it.
#[derive(Debug)]
pub struct BrokerHandle {
    addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
    /// `true` starts the shutdown; every shard watches it.
    control: Arc<watch::Sender<bool>>,
    shutdown_timeout: Duration,
    counters: Arc<SharedCounters>,
}

/// Starts the shutdown of a broker from any thread (e.g. a signal handler's), while another
/// thread waits in [`BrokerHandle::wait`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    control: Arc<watch::Sender<bool>>,
}

impl ShutdownTrigger {
    /// Starts the graceful shutdown (see [`BrokerHandle::shutdown`]); does not wait.
    pub fn trigger(&self) {
        self.control.send_replace(true);
    }
}

impl Broker {
    /// Starts one thread and runtime per shard, binds every listener, and returns once all
    /// listeners are bound (port 0 resolves to one port shared by every shard) and every
    /// shard accepts connections.
    pub fn start(config: BrokerConfig) -> io::Result<BrokerHandle> {
        let n = config.effective_shards();
        let count = u16::try_from(n)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many shards"))?;
        let clock = Clock::new(Instant::now());
        let (control, watching) = watch::channel(false);
        let mut handle = BrokerHandle {
            addrs: config.listeners.iter().map(|l| l.addr).collect(),
            threads: Vec::with_capacity(n),
            control: Arc::new(control),
            shutdown_timeout: Duration::from_millis(config.runtime.shutdown_timeout_ms),
            counters: Arc::default(),
        };
        let mut reports = Vec::with_capacity(n);
        for (i, links) in (0..count).zip(link::mesh(n, config.runtime.channel_capacity)) {
            let (report, rx) = mpsc::channel();
            let spec = ShardSpec {
                index: i,
                count,
                config: config.clone(),
                addrs: handle.addrs.clone(),
                links,
                control: watching.clone(),
                clock,
                report,
                counters: handle.counters.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ringmq-shard-{i}"))
                .spawn(move || shard::run_thread(spec))?;
            handle.threads.push(thread);
            let addrs = startup::wait_bound(i, &rx)?;
            if i == 0 {
                handle.addrs = addrs;
            }
            reports.push(rx);
        }
        startup::wait_ready(&reports)?;
        Ok(handle)
    }
}

impl BrokerHandle {
    /// The bound address of each listener, in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Number of shards (threads).
    pub fn shard_count(&self) -> usize {
        self.threads.len()
    }

    /// The runtime's counters so far.
    pub fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    /// A trigger that starts the shutdown from another thread.
    pub fn shutdown_trigger(&self) -> io::Result<ShutdownTrigger> {
        Ok(ShutdownTrigger {
            control: self.control.clone(),
        })
    }

    /// Graceful shutdown: stop accepting, publish the wills of sessions that end, send v5
    /// clients DISCONNECT 0x8B, flush within the shutdown timeout, and join every thread.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.control.send_replace(true);
        self.join(Some(Instant::now() + self.shutdown_timeout + JOIN_MARGIN))
    }

    /// Blocks until the broker stops (after [`ShutdownTrigger::trigger`] from another thread).
    pub fn wait(mut self) -> io::Result<()> {
        self.join(None)
    }

    /// Joins every thread, giving up at `deadline`.
    fn join(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        startup::join_shards(core::mem::take(&mut self.threads), deadline)
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.control.send_replace(true);
        if let Err(e) = self.join(Some(Instant::now() + self.shutdown_timeout + JOIN_MARGIN)) {
            warn!(error = %e, "broker dropped without shutdown");
        }
    }
}
