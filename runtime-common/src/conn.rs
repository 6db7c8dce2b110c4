//! One connection's task, written once for both runtimes: reads into the shard's scratch
//! buffer and feeds the shard, writes what the shard has ready in one write, and ends by
//! closing the socket (after writing the shard's last bytes), by handing it over to its home
//! shard, or (where the runtime parks idle connections) by parking it.
//!
//! A runtime brings its socket ([`ConnStream`]) and its shard context ([`ConnHost`]): the
//! shard, the scratch buffer, timers, the handover and parking. The task itself does not know
//! which executor runs it.
//!
//! Per idle connection the runtime keeps: this task (the socket, an empty read buffer, an
//! empty write slot), a [`ConnCtl`] in the shard's table, and the runtime's registration of
//! the socket. Input is read into the shared scratch buffer and only the unconsumed tail of a
//! partial packet is kept (in an allocation of its own size), so an idle connection holds no
//! read buffer.

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use mqtt_core::{ConnId, Shard, ShardId, Timestamp};
use tracing::debug;

use crate::shard::Core;

/// How long a closing connection may take to write its last bytes (outside shutdown, where
/// the shutdown deadline applies).
pub const CLOSE_WRITE_BOUND: Duration = Duration::from_secs(5);

/// After the last bytes, how long to read and discard what the client still sends, until it
/// closes too: closing with unread input would reset the connection, and the client could
/// lose the last bytes (a refusing CONNACK, a DISCONNECT).
pub const LINGER: Duration = Duration::from_secs(1);

/// The same during the broker's shutdown, shorter since every connection closes at once.
pub const SHUTDOWN_LINGER: Duration = Duration::from_millis(200);

/// A tail of unconsumed input up to this size is moved into an allocation of its own, so it
/// does not keep a whole read alive.
const COMPACT_TAIL: usize = 4096;

/// Reads or writes one connection task does before letting others run.
const BUDGET: usize = 32;

/// A connection's socket, as the task uses it.
pub trait ConnStream: Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is the end of input.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from `buf`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Shuts the write side down (the peer reads the end of input); errors are ignored.
    fn shutdown_write(&mut self) -> impl Future<Output = ()>;
}

/// What a connection's task needs of its shard and runtime: the shard's [`Core`], and the
/// runtime's own parts (dispatch with unparking, timeouts, the handover, parking).
pub trait ConnHost: 'static {
    /// The runtime's socket.
    type Stream: ConnStream;
    /// How a socket travels between shards on this runtime.
    type Socket;
    /// What the connection table keeps of a parked connection.
    type Parked;

    /// The shard's shared state.
    fn core(&self) -> &Core<Self::Socket, Self::Parked>;
    /// Runs `f` on the shard, then dispatches its outputs ([`Core::run`]).
    fn with_shard<T>(&self, f: impl FnOnce(&mut Shard, Timestamp) -> T) -> T;
    /// Runs `fut` until it completes or `deadline` passes; `None` on timeout.
    fn until<T>(
        &self,
        deadline: Instant,
        fut: impl Future<Output = T>,
    ) -> impl Future<Output = Option<T>>;
    /// Moves the socket to shard `to`, with the input read of it so far (closing it when
    /// that cannot be done).
    fn hand_over(&self, id: ConnId, to: ShardId, stream: Self::Stream, buffered: BytesMut);
    /// Parks an idle connection: true if the shard's table now holds it (the task then
    /// ends without `task_ended`). The default never parks.
    fn park(&self, id: ConnId, stream: &Self::Stream) -> bool {
        let _ = (id, stream);
        false
    }

    /// The shard's id (for logs).
    fn shard_id(&self) -> ShardId {
        self.core().id
    }
    /// The shard's read buffer (borrowed only within one poll).
    fn scratch(&self) -> &RefCell<Vec<u8>> {
        &self.core().scratch
    }
    /// Stop reading a connection whose unconsumed input exceeds this.
    fn max_rx(&self) -> usize {
        self.core().max_rx
    }
    /// When shutdown must be over, if it has begun.
    fn deadline(&self) -> Option<Instant> {
        self.core().life.deadline()
    }
    /// Whether shutdown has begun.
    fn stopping(&self) -> bool {
        self.core().life.stopping()
    }
    /// A connection's task has ended (its connection is closed or moved).
    fn task_ended(&self, id: ConnId) {
        self.core().task_ended(id);
    }
}

/// How a connection's service on this shard ends (set by the dispatch of the shard's
/// outputs; the shard has already forgotten the connection).
#[derive(Debug)]
pub enum End {
    /// Write these last bytes, then close.
    Close(Bytes),
    /// Move the socket to this shard with these bytes.
    Handover(ShardId, BytesMut),
}

/// What the shard's dispatch tells a connection's task.
#[derive(Default)]
pub struct ConnCtl {
    waker: Cell<Option<Waker>>,
    /// The shard has bytes for it (`Output::Transmit`).
    pub tx_ready: Cell<bool>,
    /// Paused input may go on (`Output::ResumeRead`).
    pub resume: Cell<bool>,
    /// The end of its service here.
    pub end: Cell<Option<End>>,
    /// The shard is stopping: drop the connection now, whatever its state.
    pub abort: Cell<bool>,
    /// The task read, wrote or resumed since the last sweep of idle connections.
    active: Cell<bool>,
    /// Sweeps in a row that found it quiet.
    quiet: Cell<u8>,
    /// The sweep asks it to park.
    park: Cell<bool>,
}

impl core::fmt::Debug for ConnCtl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnCtl")
            .field("tx_ready", &self.tx_ready.get())
            .field("resume", &self.resume.get())
            .finish_non_exhaustive()
    }
}

impl ConnCtl {
    /// Wakes the connection's task.
    pub fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// One sweep of idle connections (runtimes that park): after two sweeps in a row
    /// without activity, asks the task to park (it does if it has nothing pending) and
    /// wakes it.
    pub fn sweep(&self) {
        if self.active.replace(false) {
            self.quiet.set(0);
            return;
        }
        let quiet = self.quiet.get().saturating_add(1);
        self.quiet.set(quiet);
        if quiet >= 2 && !self.park.get() {
            self.park.set(true);
            self.wake();
        }
    }
}

/// How a connection's service by its task ends.
enum Step {
    /// The shard ended it.
    End(End),
    /// The shard forgot it without saying how.
    Gone,
    /// Idle: park it.
    Park,
}

/// The socket and buffers of one connection.
#[derive(Debug)]
pub struct Conn<S> {
    id: ConnId,
    stream: S,
    /// Input read and not yet consumed by the shard.
    rx: BytesMut,
    /// Output taken from the shard and not yet written.
    tx: Bytes,
    /// The client closed its side, or reading failed: read no more.
    read_closed: bool,
    /// Writing failed: write no more.
    write_failed: bool,
}

/// The task of one connection: serves it until the shard closes it or hands it over, then
/// closes or moves the socket. Written by hand rather than as an `async fn` so that an idle
/// connection's future holds the connection once (an `async fn` keeps its arguments and the
/// locals moved out of them side by side); the closing state is boxed, as it is short-lived.
pub struct ConnTask<H: ConnHost> {
    id: ConnId,
    /// `ConnHost::task_ended` was called (or the connection parked).
    ended: bool,
    ctx: Rc<H>,
    ctl: Rc<ConnCtl>,
    state: TaskState<H::Stream>,
}

impl<H: ConnHost> core::fmt::Debug for ConnTask<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnTask")
            .field("id", &self.id)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

enum TaskState<S> {
    Serving(Conn<S>),
    Closing(Pin<Box<dyn Future<Output = ()>>>),
    Done,
}

impl<H: ConnHost> ConnTask<H> {
    /// The task serving `conn`, whose control block `ctl` is registered with the shard.
    pub fn new(conn: Conn<H::Stream>, ctx: Rc<H>, ctl: Rc<ConnCtl>) -> Self {
        Self {
            id: conn.id,
            ended: false,
            ctx,
            ctl,
            state: TaskState::Serving(conn),
        }
    }

    fn finish(&mut self) -> Poll<()> {
        self.state = TaskState::Done;
        if !self.ended {
            self.ended = true;
            self.ctx.task_ended(self.id);
        }
        Poll::Ready(())
    }
}

impl<H: ConnHost> Drop for ConnTask<H> {
    fn drop(&mut self) {
        // Dropped before the end (the runtime is going away): still account for it.
        let _ = self.finish();
    }
}

impl<H: ConnHost> Future for ConnTask<H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.ctl.abort.get() {
                return this.finish();
            }
            match &mut this.state {
                TaskState::Serving(conn) => {
                    let Poll::Ready(step) = conn.drive(&*this.ctx, &this.ctl, cx) else {
                        return Poll::Pending;
                    };
                    if matches!(step, Step::Park) {
                        if this.ctx.park(conn.id, &conn.stream) {
                            // The shard's table holds the descriptor now; dropping this
                            // socket closes only the runtime's duplicate.
                            this.ended = true;
                            this.state = TaskState::Done;
                            return Poll::Ready(());
                        }
                        // Could not park: go on serving (the wakers are registered).
                        return Poll::Pending;
                    }
                    let TaskState::Serving(conn) =
                        core::mem::replace(&mut this.state, TaskState::Done)
                    else {
                        return this.finish();
                    };
                    match step {
                        Step::End(End::Close(last)) => {
                            let closing = conn.close(this.ctx.clone(), last);
                            this.state = TaskState::Closing(Box::pin(closing));
                        }
                        Step::End(End::Handover(to, mut buffered)) => {
                            // The handover comes from `handle_bytes`, which took all of `rx`;
                            // nothing was read after it. Should anything be left, it follows
                            // the CONNECT.
                            buffered.extend_from_slice(&conn.rx);
                            this.ctx.hand_over(conn.id, to, conn.stream, buffered);
                            return this.finish();
                        }
                        Step::Gone | Step::Park => {
                            debug!(
                                shard = this.ctx.shard_id().0,
                                conn = conn.id.0,
                                "connection gone"
                            );
                            return this.finish();
                        }
                    }
                }
                TaskState::Closing(closing) => {
                    this.ctl.waker.set(Some(cx.waker().clone()));
                    if closing.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    return this.finish();
                }
                TaskState::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<S: ConnStream> Conn<S> {
    /// A connection with what was read of it so far.
    pub fn new(id: ConnId, stream: S, rx: BytesMut) -> Self {
        Self {
            id,
            stream,
            rx,
            tx: Bytes::new(),
            read_closed: false,
            write_failed: false,
        }
    }

    /// Moves the connection forward as far as it can go without waiting; ready with how its
    /// service by this task ends.
    fn drive<H: ConnHost<Stream = S>>(
        &mut self,
        ctx: &H,
        ctl: &ConnCtl,
        cx: &mut Context<'_>,
    ) -> Poll<Step> {
        for _ in 0..BUDGET {
            if let Some(end) = ctl.end.take() {
                return Poll::Ready(Step::End(end));
            }
            if self.read_closed || self.write_failed {
                // The shard was told; it answers with `Close`, checked above.
                return Poll::Ready(Step::Gone);
            }
            let wrote = self.poll_write_side(ctx, ctl, cx);
            let resumed = ctl.resume.replace(false);
            if resumed {
                self.feed(ctx);
            }
            let read = self.poll_read_side(ctx, cx);
            if read && !self.read_closed {
                // One read (up to the scratch buffer) per turn: what it delivered to other
                // connections is written by their tasks, which the dispatch woke and which
                // run before this one again. Reading on would fill the receivers' output
                // past `max_outbound_buffer`, where QoS 0 is dropped, while their sockets
                // could take it.
                ctl.active.set(true);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !(wrote || resumed || read) {
                ctl.waker.set(Some(cx.waker().clone()));
                // A request from before the last activity is dropped: the sweeps ask again.
                if ctl.park.replace(false) && !ctl.active.get() && self.may_park(ctx, ctl) {
                    return Poll::Ready(Step::Park);
                }
                return Poll::Pending;
            }
            ctl.active.set(true);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Whether nothing is pending either way, so that the connection may give up its task:
    /// no input buffered (a partial packet, or paused input), no output taken or announced,
    /// no end, and the broker not stopping.
    fn may_park<H: ConnHost>(&self, ctx: &H, ctl: &ConnCtl) -> bool {
        self.rx.is_empty()
            && self.tx.is_empty()
            && !ctl.tx_ready.get()
            && !ctl.resume.get()
            && !ctl.abort.get()
            && !self.read_closed
            && !self.write_failed
            && !ctx.stopping()
            && {
                let end = ctl.end.take();
                let none = end.is_none();
                ctl.end.set(end);
                none
            }
    }

    /// Takes the shard's output when the previous write is done and writes it; true if it
    /// made progress.
    fn poll_write_side<H: ConnHost>(
        &mut self,
        ctx: &H,
        ctl: &ConnCtl,
        cx: &mut Context<'_>,
    ) -> bool {
        let mut progress = false;
        if self.tx.is_empty() && ctl.tx_ready.replace(false) {
            if let Some(t) = ctx.with_shard(|s, now| s.take_transmit(self.id, now)) {
                self.tx = t;
            }
            progress = true;
        }
        if self.tx.is_empty() {
            return progress;
        }
        match self.stream.poll_write(cx, &self.tx) {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.tx.advance(n.min(self.tx.len()));
                true
            }
            Poll::Ready(Ok(_)) => {
                self.write_failed = true;
                self.closed(ctx, "write returned 0")
            }
            Poll::Ready(Err(e)) => {
                self.write_failed = true;
                self.closed(ctx, &e.to_string())
            }
            Poll::Pending => progress,
        }
    }

    /// Reads what the socket has (unless the input is over its bound) and feeds the shard;
    /// true if it made progress.
    fn poll_read_side<H: ConnHost>(&mut self, ctx: &H, cx: &mut Context<'_>) -> bool {
        if self.rx.len() > ctx.max_rx() {
            // Paused by the shard: wait for `ResumeRead`.
            return false;
        }
        let read = {
            let mut scratch = ctx.scratch().borrow_mut();
            match self.stream.poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(n)) => {
                    let got = scratch.get(..n).unwrap_or_default();
                    if self.rx.is_empty() {
                        self.rx = BytesMut::from(got);
                    } else {
                        self.rx.extend_from_slice(got);
                    }
                    Poll::Ready(Ok(n))
                }
                other => other,
            }
        };
        match read {
            Poll::Ready(Ok(0)) => {
                self.read_closed = true;
                self.closed(ctx, "closed by peer")
            }
            Poll::Ready(Ok(_)) => {
                self.feed(ctx);
                true
            }
            Poll::Ready(Err(e)) => {
                self.read_closed = true;
                self.closed(ctx, &e.to_string())
            }
            Poll::Pending => false,
        }
    }

    /// Gives the shard the buffered input; keeps only the unconsumed tail.
    fn feed<H: ConnHost>(&mut self, ctx: &H) {
        let id = self.id;
        let rx = &mut self.rx;
        ctx.with_shard(|s, now| s.handle_bytes(id, rx, now));
        if self.rx.is_empty() {
            self.rx = BytesMut::new();
        } else if self.rx.len() <= COMPACT_TAIL {
            self.rx = BytesMut::from(&self.rx[..]);
        }
    }

    /// The socket closed or failed: tell the shard (it answers with `Close`).
    fn closed<H: ConnHost>(&mut self, ctx: &H, why: &str) -> bool {
        debug!(
            shard = ctx.shard_id().0,
            conn = self.id.0,
            why,
            "socket closed"
        );
        ctx.with_shard(|s, now| s.handle_closed(self.id, now));
        true
    }

    /// Writes what is pending and `last`, then closes: shuts the write side and reads until
    /// the client closes too, all within a bound.
    async fn close<H: ConnHost<Stream = S>>(mut self, ctx: Rc<H>, last: Bytes) {
        let now = Instant::now();
        let (deadline, linger) = match ctx.deadline() {
            Some(d) => (d.min(now + CLOSE_WRITE_BOUND), SHUTDOWN_LINGER),
            None => (now + CLOSE_WRITE_BOUND, LINGER),
        };
        if !self.write_failed {
            let pending = core::mem::take(&mut self.tx);
            let stream = &mut self.stream;
            let wrote = ctx
                .until(deadline, async {
                    for bytes in [pending, last] {
                        write_all(stream, bytes).await?;
                    }
                    stream.shutdown_write().await;
                    Ok::<(), io::Error>(())
                })
                .await;
            match wrote {
                Some(Ok(())) => {
                    if !self.read_closed {
                        self.linger(&*ctx, deadline.min(Instant::now() + linger))
                            .await;
                    }
                }
                Some(Err(e)) => {
                    debug!(shard = ctx.shard_id().0, conn = self.id.0, error = %e, "last write failed");
                }
                None => {
                    debug!(
                        shard = ctx.shard_id().0,
                        conn = self.id.0,
                        "last write timed out"
                    );
                }
            }
        }
        debug!(
            shard = ctx.shard_id().0,
            conn = self.id.0,
            "connection closed"
        );
    }

    /// Reads and discards input until the client closes or `until` passes.
    async fn linger<H: ConnHost>(&mut self, ctx: &H, until: Instant) {
        let stream = &mut self.stream;
        let scratch = ctx.scratch();
        let _ = ctx
            .until(until, async {
                loop {
                    let n = poll_fn(|cx| stream.poll_read(cx, &mut scratch.borrow_mut())).await;
                    if !matches!(n, Ok(n) if n > 0) {
                        break;
                    }
                }
            })
            .await;
    }
}

/// Writes all of `bytes`; a write of 0 bytes is an error.
async fn write_all<S: ConnStream>(stream: &mut S, mut bytes: Bytes) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| stream.poll_write(cx, &bytes)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes.advance(n.min(bytes.len()));
    }
    Ok(())
}
