//! One shard's thread: the [`ShardCtx`] its tasks share (`ringmq_runtime::shard::Core`), the
//! accept loops, and the main future on the thread's current-thread tokio runtime (startup;
//! the timer task and links; graceful shutdown).

use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use bytes::BytesMut;
use mqtt_core::{Shard, ShardId, ShardMsg, Timestamp};
use ringmq_config::BrokerConfig;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::conn::{Conn, ConnTask, Stream};
use crate::link::{self, Handover, LinkEnds};
use crate::sync;
use ringmq_runtime::lifecycle;
use ringmq_runtime::shard::{self, Core};
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
    /// Becomes `true` (or its sender goes away) when the broker must stop.
    pub(crate) control: watch::Receiver<bool>,
    pub(crate) clock: Clock,
    pub(crate) report: mpsc::Sender<Report>,
    pub(crate) counters: Arc<SharedCounters>,
}

/// What the connection table keeps of a parked connection: its descriptor (Linux); nothing
/// elsewhere, where connections do not park.
#[cfg(target_os = "linux")]
pub(crate) type Parked = std::os::fd::OwnedFd;
/// What the connection table keeps of a parked connection: its descriptor (Linux); nothing
/// elsewhere, where connections do not park.
#[cfg(not(target_os = "linux"))]
pub(crate) type Parked = core::convert::Infallible;

/// State shared by the tasks of one shard (all on one thread): the shared [`Core`], and (on
/// Linux) the parking of idle connections (`park.rs`).
#[derive(Debug)]
pub(crate) struct ShardCtx {
    core: Core<std::net::TcpStream, Parked>,
    /// Itself, to spawn the task of a connection that wakes from parking.
    #[cfg(target_os = "linux")]
    pub(crate) me: std::rc::Weak<ShardCtx>,
    /// The epoll set of parked connections (`None`: parking is off).
    #[cfg(target_os = "linux")]
    pub(crate) parking: Option<crate::park::Parking>,
    /// The epoll set failed: park no more.
    #[cfg(target_os = "linux")]
    pub(crate) parking_failed: core::cell::Cell<bool>,
}

impl core::ops::Deref for ShardCtx {
    type Target = Core<std::net::TcpStream, Parked>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl ShardCtx {
    fn new(
        spec: &ShardSpec,
        #[cfg(target_os = "linux")] me: std::rc::Weak<ShardCtx>,
        #[cfg(target_os = "linux")] parking: Option<crate::park::Parking>,
    ) -> Self {
        let id = ShardId(spec.index);
        let counters = spec.counters.clone();
        Self {
            core: Core::from_config(&spec.config, id, spec.count, spec.clock, counters),
            #[cfg(target_os = "linux")]
            me,
            #[cfg(target_os = "linux")]
            parking,
            #[cfg(target_os = "linux")]
            parking_failed: core::cell::Cell::new(false),
        }
    }

    /// Runs `f` on the shard, then dispatches its outputs (waking parked connections the
    /// outputs are for).
    pub(crate) fn with_shard<T>(&self, f: impl FnOnce(&mut Shard, Timestamp) -> T) -> T {
        #[cfg(target_os = "linux")]
        return self
            .core
            .run(f, |id, fd, signal| self.unpark(id, fd, signal));
        #[cfg(not(target_os = "linux"))]
        return self.core.run(f, |_, parked, _| match parked {});
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
        drop(tokio::task::spawn_local(task));
    }

    /// Adopts a connection handed over by another shard.
    pub(crate) fn adopt(self: &Rc<Self>, h: Handover) {
        let stream = match TcpStream::from_std(h.socket) {
            Ok(s) => s,
            Err(e) => {
                warn!(shard = self.id.0, error = %e, "cannot adopt a handed-over socket: closed");
                return;
            }
        };
        SharedCounters::bump(&self.counters.adopted);
        debug!(shard = self.id.0, peer = ?h.peer, "connection handed over");
        self.serve(stream, h.peer, Some(h.buffered));
    }
}

/// The thread of one shard: builds its runtime and runs it to the end.
pub(crate) fn run_thread(spec: ShardSpec) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let err = io::Error::other(format!(
                "shard {}: tokio runtime failed to start: {e}",
                spec.index
            ));
            warn!("{err}");
            let _ = spec.report.send(Report::Failed(err));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, main(spec));
    // Dropping the `LocalSet` drops the tasks still there (and the sockets they own).
}

/// Whether shard `index` binds the listeners: every shard on Linux (`SO_REUSEPORT` spreads
/// the connections), only shard 0 elsewhere (it accepts everything; the core hands each
/// connection over to its home shard).
fn binds_listeners(index: u16) -> bool {
    cfg!(target_os = "linux") || index == 0
}

/// The shard's main future: binds, serves until the control channel says stop (or its
/// sender goes away), then shuts down gracefully.
async fn main(spec: ShardSpec) {
    #[cfg(target_os = "linux")]
    let idle = Duration::from_millis(spec.config.runtime.park_idle_ms);
    #[cfg(target_os = "linux")]
    let ctx = {
        let parking = if idle.is_zero() {
            None
        } else {
            match crate::park::Parking::new() {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(shard = spec.index, error = %e, "cannot park idle connections");
                    None
                }
            }
        };
        Rc::new_cyclic(|me| ShardCtx::new(&spec, me.clone(), parking))
    };
    #[cfg(not(target_os = "linux"))]
    let ctx = Rc::new(ShardCtx::new(&spec));
    let ShardSpec {
        index,
        count,
        config,
        addrs,
        links,
        mut control,
        report,
        ..
    } = spec;
    let mut listeners = Vec::with_capacity(addrs.len());
    if binds_listeners(index) {
        for addr in &addrs {
            match listen(*addr, index == 0) {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    let msg = format!("shard {index}: cannot bind {addr}: {e}");
                    let _ = report.send(Report::Failed(io::Error::other(msg)));
                    return;
                }
            }
        }
    }
    let bound: Vec<SocketAddr> = listeners.iter().map(|l| l.1).collect();
    let _ = report.send(Report::Bound(bound));

    let timeout = Duration::from_millis(config.runtime.shutdown_timeout_ms);
    let (senders, receivers) = links.into_parts();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for (to, sender) in senders {
        if let Some(out) = ctx.link(to) {
            tasks.push(tokio::task::spawn_local(link::send_task(
                ctx.clone(),
                to,
                out.clone(),
                sender,
            )));
        }
    }
    for (from, receiver) in receivers {
        tasks.push(tokio::task::spawn_local(link::recv_task(
            ctx.clone(),
            from,
            receiver,
        )));
    }
    tasks.push(tokio::task::spawn_local(shard::timer_task(ctx.clone())));
    #[cfg(target_os = "linux")]
    if ctx.parking.is_some() {
        tasks.push(tokio::task::spawn_local(crate::park::ready_task(
            ctx.clone(),
        )));
        tasks.push(tokio::task::spawn_local(shard::sweep_task(
            ctx.clone(),
            idle,
        )));
    }
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|(l, _)| tokio::task::spawn_local(accept_loop(ctx.clone(), l)))
        .collect();
    let _ = report.send(Report::Ready);
    info!(shard = ctx.id.0, "shard ready");

    // `true`, or the sender gone, means stop.
    let _ = control.wait_for(|stop| *stop).await;
    let peers = usize::from(count.saturating_sub(1));
    lifecycle::shutdown(&*ctx, peers, timeout, async {
        for t in accepting {
            let _ = t.await;
        }
    })
    .await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    info!(shard = ctx.id.0, "shard stopped");
}

/// Accepts connections on one listener until shutdown begins.
async fn accept_loop(ctx: Rc<ShardCtx>, listener: tokio::net::TcpListener) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => Some(r),
            () = ctx.life.stopped() => None,
        };
        match accepted {
            // Dropping the listener closes it (tokio has no operation in flight to wait for).
            None => break,
            Some(Ok((stream, peer))) => {
                let _ = stream.set_nodelay(true);
                SharedCounters::bump(&ctx.counters.accepted);
                debug!(shard = ctx.id.0, ?peer, "connection accepted");
                ctx.serve(stream, Some(peer), None);
            }
            Some(Err(e)) => {
                warn!(shard = ctx.id.0, error = %e, "accept failed");
                sync::sleep_until(Instant::now() + ACCEPT_BACKOFF).await;
            }
        }
    }
    debug!(shard = ctx.id.0, "listener closed");
}

/// Binds `addr` (with `SO_REUSEPORT` on Linux, where every shard binds the same address) and
/// listens; the listener and its real address.
///
/// `SO_REUSEPORT` would also let a second broker (any process of the same user) share the
/// port silently, each getting a part of the connections. So the first shard first probes
/// the address without it: the probe's bind fails with "address in use" whenever something
/// already listens there. (`SO_REUSEADDR` on both, on Unix, keeps restarts working while old
/// connections linger in TIME_WAIT; on Windows it would let another socket steal the port.)
fn listen(addr: SocketAddr, probe: bool) -> io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let domain = socket2::Domain::for_address(addr);
    let new = || socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP));
    if probe && addr.port() != 0 {
        let p = new()?;
        #[cfg(unix)]
        p.set_reuse_address(true)?;
        p.bind(&addr.into())?;
    }
    let socket = new()?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    let addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    let listener = tokio::net::TcpListener::from_std(socket.into())?;
    Ok((listener, addr))
}
