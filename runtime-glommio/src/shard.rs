//! One shard's executor: the [`ShardCtx`] its tasks share (`ringmq_runtime::shard::Core`,
//! whose dispatch wakes parked connections here, plus the parking), the accept loops, and the
//! executor's main future (startup; the timer task, links and parking; graceful shutdown).

use core::net::SocketAddr;
use core::time::Duration;
use std::cell::Cell;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use mqtt_core::{ConnId, Shard, ShardId, ShardMsg, Timestamp};
use ringmq_config::BrokerConfig;
use tracing::{debug, info, warn};

use crate::conn::{Conn, ConnTask, Stream};
use crate::link::{self, Handover, LinkEnds};
use crate::park::{self, Parking};
use crate::sync;
use ringmq_runtime::lifecycle;
use ringmq_runtime::shard::{self, Core, Signal};
pub(crate) use ringmq_runtime::startup::Report;
pub(crate) use ringmq_runtime::{Clock, SharedCounters};

/// Backlog of each listening socket.
const LISTEN_BACKLOG: i32 = 1024;

/// Pause after a failed `accept` (e.g. out of descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Everything a shard's thread needs to start.
#[derive(Debug)]
pub(crate) struct ShardSpec {
    pub(crate) index: u16,
    pub(crate) count: u16,
    pub(crate) config: BrokerConfig,
    /// Addresses to bind (for shards after the first, with the first shard's real ports).
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) links: LinkEnds,
    pub(crate) control: std::os::unix::net::UnixStream,
    pub(crate) clock: Clock,
    pub(crate) report: mpsc::Sender<Report>,
    pub(crate) counters: Arc<SharedCounters>,
}

/// State shared by the tasks of one shard (all on one executor): the shared [`Core`], whose
/// table keeps a parked connection's descriptor, and the parking.
#[derive(Debug)]
pub(crate) struct ShardCtx {
    core: Core<OwnedFd, OwnedFd>,
    /// Itself, to spawn the task of a connection that wakes from parking.
    me: Weak<ShardCtx>,
    /// The epoll set of parked connections (`None`: parking is off).
    parking: Option<Parking>,
    /// The epoll thread stopped unexpectedly: park no more.
    parking_failed: Cell<bool>,
}

impl core::ops::Deref for ShardCtx {
    type Target = Core<OwnedFd, OwnedFd>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl ShardCtx {
    fn new(spec: &ShardSpec, me: Weak<Self>, parking: Option<Parking>) -> Self {
        let id = ShardId(spec.index);
        let counters = spec.counters.clone();
        Self {
            core: Core::from_config(&spec.config, id, spec.count, spec.clock, counters),
            me,
            parking,
            parking_failed: Cell::new(false),
        }
    }

    /// Runs `f` on the shard, then dispatches its outputs (waking parked connections the
    /// outputs are for).
    pub(crate) fn with_shard<T>(&self, f: impl FnOnce(&mut Shard, Timestamp) -> T) -> T {
        self.core
            .run(f, |id, fd, signal| self.unpark(id, fd, signal))
    }

    /// Parks an idle connection: keeps a duplicate of its descriptor in the table, in the
    /// epoll set. False (and nothing changed) if parking is off or failed.
    pub(crate) fn park(&self, id: ConnId, stream: &TcpStream) -> bool {
        let Some(parking) = self.parking.as_ref().filter(|_| !self.parking_failed.get()) else {
            return false;
        };
        let registered = crate::fd::dup(stream).and_then(|fd| {
            parking.add(id, &fd)?;
            Ok(fd)
        });
        match registered {
            Ok(fd) => {
                self.hold_parked(id, fd);
                true
            }
            Err(e) => {
                // Retried at the next sweeps; at the descriptor limit this would repeat.
                debug!(shard = self.id.0, conn = id.0, error = %e, "cannot park a connection");
                false
            }
        }
    }

    /// The epoll set reports a parked connection readable (or closed): wake it.
    pub(crate) fn input_ready(&self, id: ConnId) {
        if let Some(fd) = self.take_parked(id) {
            self.unpark(id, fd, None);
        }
    }

    /// Serves a parked connection again: out of the epoll set, adopted by glommio, with a
    /// fresh control block (with the signal that woke it, if any) and task.
    fn unpark(&self, id: ConnId, fd: OwnedFd, signal: Option<Signal>) {
        if let Some(parking) = &self.parking {
            parking.remove(&fd);
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let stream = crate::fd::adopt_tcp(fd);
        let ctl = self.register(id);
        if let Some(signal) = signal {
            signal.apply(&ctl);
        }
        SharedCounters::bump(&self.counters.unparked);
        let task = ConnTask::new(Conn::new(id, Stream(stream), BytesMut::new()), me, ctl);
        // Scheduled, not run at once as `spawn_local` would: this runs inside a dispatch, and
        // the task's own dispatch would wake the next parked connection inside it, and so on
        // (a fan-out to thousands of parked subscribers would overflow the stack).
        let queue = glommio::executor().current_task_queue();
        match glommio::spawn_local_into(task, queue) {
            Ok(t) => {
                t.detach();
            }
            // The dropped task has accounted for its connection (closed).
            Err(e) => {
                warn!(shard = self.id.0, conn = id.0, error = %e, "cannot schedule a woken connection")
            }
        }
    }

    /// The epoll thread is gone: wakes every parked connection and parks no more (they would
    /// not learn of their input).
    pub(crate) fn parking_failed(&self) {
        self.parking_failed.set(true);
        for id in self.parked_ids() {
            self.input_ready(id);
        }
    }

    /// What the outbox to `to` holds, as one message (outputs dispatched).
    pub(crate) fn take_peer(&self, to: ShardId) -> Option<ShardMsg> {
        self.with_shard(|s, _| s.take_peer(to))
    }

    /// A message from another shard.
    pub(crate) fn handle_peer(&self, from: ShardId, msg: ShardMsg) {
        self.with_shard(|s, now| s.handle_peer(from, msg, now));
    }

    /// Starts serving a socket: registers it, tells the shard (`accept` or `handover`), and
    /// spawns its task.
    fn serve(self: &Rc<Self>, stream: TcpStream, peer: Option<SocketAddr>, rx: Option<BytesMut>) {
        let id = self.next_conn_id();
        let ctl = self.register(id);
        let mut rx = rx;
        match &mut rx {
            None => self.with_shard(|s, now| s.handle_accept(id, peer, now)),
            Some(buf) => self.with_shard(|s, now| s.handle_handover(id, peer, buf, now)),
        }
        // An empty buffer gives its allocation back; a tail stays for the next read.
        let rx = rx.filter(|b| !b.is_empty()).unwrap_or_default();
        self.life.task_started();
        let task = ConnTask::new(Conn::new(id, Stream(stream), rx), self.clone(), ctl);
        glommio::spawn_local(task).detach();
    }

    /// Adopts a connection handed over by another shard.
    pub(crate) fn adopt(self: &Rc<Self>, h: Handover) {
        let stream = crate::fd::adopt_tcp(h.socket);
        SharedCounters::bump(&self.counters.adopted);
        debug!(shard = self.id.0, peer = ?h.peer, "connection handed over");
        self.serve(stream, h.peer, Some(h.buffered));
    }
}

/// The thread of one shard: builds its executor and runs it to the end.
pub(crate) fn run_thread(spec: ShardSpec, io_memory: usize, ring_depth: usize, cpu: usize) {
    let builder = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(cpu))
        .name(&format!("ringmq-shard-{}", spec.index))
        .io_memory(io_memory)
        .ring_depth(ring_depth)
        .spin_before_park(Duration::from_micros(
            spec.config.runtime.spin_before_park_us,
        ));
    let ex = match builder.make() {
        Ok(ex) => ex,
        Err(e) => {
            let err = crate::executor_error(spec.index, &e);
            warn!("{err}");
            let _ = spec.report.send(Report::Failed(err));
            return;
        }
    };
    if let Some(thread) = ex.run(main(spec)) {
        thread.stop();
    }
}

/// The executor's main future: binds, connects the links, serves until the control channel
/// says stop (or closes), then shuts down gracefully. Returns the epoll thread of parked
/// connections, to be stopped once the executor is done.
async fn main(spec: ShardSpec) -> Option<park::ParkThread> {
    let idle = Duration::from_millis(spec.config.runtime.park_idle_ms);
    let (parking, park_thread, from_thread) = if idle.is_zero() {
        (None, None, None)
    } else {
        match park::start(spec.index) {
            Ok((parking, thread, ours)) => (Some(parking), Some(thread), Some(ours)),
            Err(e) => {
                warn!(shard = spec.index, error = %e, "cannot park idle connections");
                (None, None, None)
            }
        }
    };
    let ctx = Rc::new_cyclic(|me| ShardCtx::new(&spec, me.clone(), parking));
    let mut control = crate::fd::adopt_unix(spec.control);
    let mut listeners = Vec::with_capacity(spec.addrs.len());
    for addr in &spec.addrs {
        match listen(*addr, spec.index == 0) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                let msg = format!("shard {}: cannot bind {addr}: {e}", spec.index);
                let _ = spec.report.send(Report::Failed(io::Error::other(msg)));
                return park_thread;
            }
        }
    }
    let bound: Vec<SocketAddr> = listeners.iter().map(|l| l.addr).collect();
    let _ = spec.report.send(Report::Bound(bound));

    let timeout = Duration::from_millis(spec.config.runtime.shutdown_timeout_ms);
    let mut byte = [0u8; 1];
    let connected =
        futures_lite::future::or(async { Some(link::connect(spec.links).await) }, async {
            let _ = control.read(&mut byte).await;
            None
        })
        .await;
    let Some(connected) = connected else {
        debug!(shard = ctx.id.0, "stopped while starting");
        return park_thread;
    };
    let mut tasks = Vec::new();
    for (to, sender) in connected.senders {
        if let Some(out) = ctx.link(to) {
            tasks.push(glommio::spawn_local(link::send_task(
                ctx.clone(),
                to,
                out.clone(),
                sender,
            )));
        }
    }
    for (from, receiver) in connected.receivers {
        tasks.push(glommio::spawn_local(link::recv_task(
            ctx.clone(),
            from,
            receiver,
        )));
    }
    tasks.push(glommio::spawn_local(shard::timer_task(ctx.clone())));
    if let Some(ours) = from_thread {
        let from_thread = crate::fd::adopt_unix(ours);
        tasks.push(glommio::spawn_local(park::ready_task(
            ctx.clone(),
            from_thread,
        )));
        tasks.push(glommio::spawn_local(shard::sweep_task(ctx.clone(), idle)));
    }
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|l| glommio::spawn_local(accept_loop(ctx.clone(), l)))
        .collect();
    let _ = spec.report.send(Report::Ready);
    info!(shard = ctx.id.0, "shard ready");

    // Any byte, EOF or error on the control channel means stop.
    let _ = control.read(&mut byte).await;
    let peers = usize::from(spec.count.saturating_sub(1));
    lifecycle::shutdown(&*ctx, peers, timeout, async {
        for t in accepting {
            t.await;
        }
    })
    .await;
    // End every task before the executor goes: glommio would leak a pending task (and the
    // sockets it owns) rather than drop it.
    for t in tasks {
        t.cancel().await;
    }
    info!(shard = ctx.id.0, "shard stopped");
    park_thread
}

/// Accepts connections on one listener until shutdown begins.
async fn accept_loop(ctx: Rc<ShardCtx>, bound: Listener) {
    let listener = crate::fd::adopt_listener(bound.socket);
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            ctx.life.stopped().await;
            None
        })
        .await;
        match accepted {
            None => {
                // Dropping the listener is not enough: an io_uring accept still in flight
                // holds the socket, which would go on accepting until the ring lets go.
                // `shutdown(2)` closes the accept queue at once and fails that accept.
                let _ = bound.stop.shutdown(std::net::Shutdown::Both);
                break;
            }
            Some(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let peer = stream.peer_addr().ok();
                SharedCounters::bump(&ctx.counters.accepted);
                debug!(shard = ctx.id.0, ?peer, "connection accepted");
                ctx.serve(stream, peer, None);
            }
            Some(Err(e)) => {
                warn!(shard = ctx.id.0, error = %e, "accept failed");
                sync::sleep_until(Instant::now() + ACCEPT_BACKOFF).await;
            }
        }
        glommio::yield_if_needed().await;
    }
    debug!(shard = ctx.id.0, "listener closed");
}

/// A listening socket before its executor adopts it.
#[derive(Debug)]
struct Listener {
    socket: socket2::Socket,
    /// A duplicate, to stop it with `shutdown(2)`.
    stop: socket2::Socket,
    addr: SocketAddr,
}

/// Binds `addr` with `SO_REUSEPORT` (every shard binds the same address) and listens.
///
/// `SO_REUSEPORT` would also let a second broker (any process of the same user) share the
/// port silently, each getting a part of the connections. So the first shard first probes
/// the address without it: the probe's bind fails with "address in use" whenever something
/// already listens there. (`SO_REUSEADDR` on both keeps restarts working while old
/// connections linger in TIME_WAIT.)
fn listen(addr: SocketAddr, probe: bool) -> io::Result<Listener> {
    let domain = socket2::Domain::for_address(addr);
    if probe && addr.port() != 0 {
        let p = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        p.set_reuse_address(true)?;
        p.bind(&addr.into())?;
    }
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    let addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    let stop = socket.try_clone()?;
    Ok(Listener { socket, stop, addr })
}
