//! ringmq on glommio: one io_uring executor per core, each on its own pinned thread and owning
//! one [`mqtt_core::Shard`].
//!
//! # Shape
//! [`Broker::start`] starts one thread per shard, pinned to the `i % n`-th of the `n` CPUs
//! the process may run on (its affinity mask: `taskset`, cpusets), each running a glommio
//! `LocalExecutor`. Every shard binds every listener with `SO_REUSEPORT` (shard 0
//! first, so that port 0 resolves to one port that the others reuse) and the kernel spreads
//! new connections over them. On each executor:
//!
//! - one task per connection (`conn.rs`) reads into the executor's scratch buffer, feeds
//!   `handle_bytes`, and writes what `take_transmit` returns in one write;
//! - after every `handle_*` call the shard's outputs are drained and dispatched
//!   (`ShardCtx::dispatch` in `shard.rs`): they set flags on the connection's control block
//!   and wake its task, or wake the sending task of a link;
//! - one timer task sleeps until `poll_timeout` and calls `handle_timeout`;
//! - a connection idle for `runtime.park_idle_ms` (2 s) is parked (`park.rs`): its task ends
//!   and the shard keeps only its descriptor, in an epoll set that one plain thread per shard
//!   waits on; input (reported by that thread) or output (found by the dispatch) serves it
//!   again with a new task under the same `ConnId`;
//! - one sending and one receiving task per other shard carry `ShardMsg` batches, handed-over
//!   sockets and the shutdown marker over bounded `shared_channel`s (`link.rs`);
//! - a control socket from the [`BrokerHandle`] starts the graceful shutdown.
//!
//! Time is `Timestamp(ms since the broker started)`, from one monotonic `Instant` shared by
//! every shard.
//!
//! # Locked memory
//! io_uring pins what it registers: glommio registers its `io_memory` buffer (rounded up to
//! at least 64 KiB) with each of its three rings, so an executor pins 3 × `io_memory`:
//! 192 KiB at 64 KiB, 1.5 MiB at 512 KiB (measured as `VmPin` in `/proc/self/status`, kernel
//! 6.18; `examples/idle_rss.rs`). On Linux ≥ 5.12 the rings themselves are charged to the
//! memory cgroup, not to `RLIMIT_MEMLOCK`, so the ring depth does not count here (older
//! kernels charge them too). Three things to know:
//!
//! - the charge goes to the *user*, not the process: without `CAP_IPC_LOCK`, every process of
//!   one uid shares one `RLIMIT_MEMLOCK` budget (with 8 MiB: 42 executors at 64 KiB, 5 at
//!   512 KiB, across all of them); with `CAP_IPC_LOCK` (root, usually) nothing is charged;
//! - a registration that does not fit is not fatal: glommio logs a warning and that executor
//!   runs with unregistered buffers (slower storage I/O, the network is unaffected);
//! - glommio refuses to start when `RLIMIT_MEMLOCK` is below 512 KiB; [`Broker::start`] then
//!   returns an error that says so.
//!
//! The runtime does no file I/O yet, so `runtime.io_memory` = 64 KiB (the minimum) and a ring
//! depth of [`RING_DEPTH`] are enough, and let many brokers share a small limit (tests start
//! several per process). On bigger hosts, once persistence lands, raise `runtime.io_memory`
//! (a few MiB per executor for storage buffers) together with `ulimit -l` (`LimitMEMLOCK=` in
//! systemd), and raise the ring depth for deeper storage queues.
//!
//! # Memory per connection
//! A connection being served costs the runtime its task (a 288-byte allocation: the future
//! with the glommio socket, an empty read buffer and write slot), a 96-byte control block, and
//! glommio's pending readiness poll (a 512-byte record); input is read into one 64 KiB
//! scratch buffer per executor and only a partial packet's tail is kept. A parked connection
//! costs the runtime only its slot in the shard's table (24 bytes plus the table's slack, about
//! 50 bytes at 10,000 connections), so an idle v5 connection holds about 0.95 KiB of live heap
//! instead of 1.75 KiB, nearly all of it mqtt-core's connection and session state
//! (`examples/idle_rss.rs`, which counts live heap). Resident memory follows when the freed
//! memory is reused (connections that arrive over longer than the idle time: 1.26 KiB per
//! connection at 1,000 connections a second), not after a burst: the allocator keeps the pages
//! of the burst's high-water mark (`BENCHMARKS.md`).

mod conn;
mod fd;
mod link;
mod park;
mod probe;
mod shard;
mod sync;

use core::net::SocketAddr;
use core::time::Duration;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

pub use ringmq_config::BrokerConfig;
use tracing::warn;

use ringmq_runtime::startup;
use shard::{Clock, ShardSpec, SharedCounters};

/// Depth of each of an executor's io_uring rings. Sockets wait on readiness polls, which do
/// not hold a submission slot, so a small ring serves many connections; it only bounds how
/// many operations one submission batch carries.
pub const RING_DEPTH: usize = 64;

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
    /// One control socket per shard: a byte, or closing it, starts the shutdown.
    controls: Vec<UnixStream>,
    shutdown_timeout: Duration,
    counters: Arc<SharedCounters>,
}

/// Starts the shutdown of a broker from any thread (e.g. a signal handler's), while another
/// thread waits in [`BrokerHandle::wait`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    controls: Vec<UnixStream>,
}

impl ShutdownTrigger {
    /// Starts the graceful shutdown (see [`BrokerHandle::shutdown`]); does not wait.
    pub fn trigger(&self) {
        signal(&self.controls);
    }
}

impl Broker {
    /// Starts one executor per shard, binds every listener on each, and returns once all
    /// listeners are bound (port 0 resolves to one port shared by every shard) and every
    /// shard accepts connections.
    pub fn start(config: BrokerConfig) -> io::Result<BrokerHandle> {
        // Without io_uring glommio would panic on the shard thread: say why instead.
        probe::io_uring_available()?;
        let cpus = online_cpus();
        let n = config.effective_shards();
        let count = u16::try_from(n)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many shards"))?;
        let clock = Clock::new(Instant::now());
        let mut handle = BrokerHandle {
            addrs: config.listeners.iter().map(|l| l.addr).collect(),
            threads: Vec::with_capacity(n),
            controls: Vec::with_capacity(n),
            shutdown_timeout: Duration::from_millis(config.runtime.shutdown_timeout_ms),
            counters: Arc::default(),
        };
        let mut reports = Vec::with_capacity(n);
        for (i, links) in (0..count).zip(link::mesh(n, config.runtime.channel_capacity)) {
            let (ours, theirs) = UnixStream::pair()?;
            let (report, rx) = mpsc::channel();
            let spec = ShardSpec {
                index: i,
                count,
                config: config.clone(),
                addrs: handle.addrs.clone(),
                links,
                control: theirs,
                clock,
                report,
                counters: handle.counters.clone(),
            };
            let cpu = cpus
                .get(usize::from(i) % cpus.len().max(1))
                .copied()
                .unwrap_or(0);
            let io_memory = config.runtime.io_memory;
            let thread = std::thread::Builder::new()
                .name(format!("ringmq-shard-{i}"))
                .spawn(move || shard::run_thread(spec, io_memory, RING_DEPTH, cpu))?;
            handle.threads.push(thread);
            handle.controls.push(ours);
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

    /// Number of shards (executors).
    pub fn shard_count(&self) -> usize {
        self.threads.len()
    }

    /// The runtime's counters so far.
    pub fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    /// A trigger that starts the shutdown from another thread.
    pub fn shutdown_trigger(&self) -> io::Result<ShutdownTrigger> {
        let controls = self
            .controls
            .iter()
            .map(UnixStream::try_clone)
            .collect::<io::Result<_>>()?;
        Ok(ShutdownTrigger { controls })
    }

    /// Graceful shutdown: stop accepting, publish the wills of sessions that end, send v5
    /// clients DISCONNECT 0x8B, flush within the shutdown timeout, and join every executor.
    pub fn shutdown(mut self) -> io::Result<()> {
        signal(&self.controls);
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
        signal(&self.controls);
        if let Err(e) = self.join(Some(Instant::now() + self.shutdown_timeout + JOIN_MARGIN)) {
            warn!(error = %e, "broker dropped without shutdown");
        }
    }
}

/// Writes the stop byte on every control socket.
fn signal(controls: &[UnixStream]) {
    for mut c in controls {
        let _ = c.write(&[1]);
    }
}

/// The error for an executor that could not start, naming locked memory when it is the cause.
fn executor_error(shard: u16, e: &glommio::GlommioError<()>) -> io::Error {
    let limit = memlock_limit().map_or_else(|| "unknown".to_owned(), |l| format!("{l} bytes"));
    let text = e.to_string();
    let memlock = matches!(
        e,
        glommio::GlommioError::ReactorError(glommio::ReactorErrorKind::MemLockLimit(..))
    ) || text.to_lowercase().contains("memlock")
        || matches!(e, glommio::GlommioError::IoError(io) if io.raw_os_error() == Some(12));
    if memlock {
        io::Error::other(format!(
            "shard {shard}: glommio cannot start for lack of locked memory ({text}); \
             RLIMIT_MEMLOCK is {limit}, glommio needs at least 512 KiB and an executor pins \
             3 × runtime.io_memory: raise `ulimit -l` or lower runtime.io_memory"
        ))
    } else {
        io::Error::other(format!(
            "shard {shard}: glommio executor failed to start: {text}"
        ))
    }
}

/// The soft `RLIMIT_MEMLOCK` of this process, in bytes (`None` if unlimited or unknown).
fn memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The CPUs shards may be pinned to, in order: the online CPUs that the process is allowed to
/// run on (its affinity mask, as set by `taskset`, a cgroup cpuset or systemd's
/// `CPUAffinity=`), or every online CPU if the mask cannot be read; CPU 0 alone if nothing
/// can be read.
fn online_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = glommio::CpuSet::online()
        .map(|set| set.iter().map(|l| l.cpu).collect())
        .unwrap_or_default();
    cpus.sort_unstable();
    cpus.dedup();
    if let Ok(allowed) = rustix::thread::sched_getaffinity(None) {
        let within: Vec<usize> = cpus
            .iter()
            .copied()
            .filter(|&c| allowed.is_set(c))
            .collect();
        if !within.is_empty() {
            cpus = within;
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::online_cpus;

    /// Shards are pinned within the process's affinity mask (`taskset -c 1 ringmq` puts every
    /// shard on CPU 1), not to CPU `i` whatever the mask says.
    #[test]
    fn shard_cpus_stay_within_the_affinity_mask() {
        let all = online_cpus();
        let last = *all.last().unwrap();
        let before = rustix::thread::sched_getaffinity(None).unwrap();
        let mut only = rustix::thread::CpuSet::new();
        only.set(last);
        rustix::thread::sched_setaffinity(None, &only).unwrap();
        let within = online_cpus();
        rustix::thread::sched_setaffinity(None, &before).unwrap();
        assert_eq!(within, vec![last]);
    }
}
