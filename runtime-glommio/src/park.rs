//! Parking idle connections: a connection that has had nothing to read or write for
//! `runtime.park_idle_ms` gives up its task and its glommio socket (with glommio's pending
//! readiness poll, about 0.5 KiB, and the task, about 0.3 KiB); the shard keeps only its
//! descriptor, in the connection table, registered in one epoll set per shard.
//!
//! # How a parked connection wakes
//! - **Input** (bytes, the peer's FIN or an error): the epoll set reports it (level-triggered,
//!   `EPOLLONESHOT`, data = the connection id). One plain thread per shard blocks in
//!   `epoll_wait` and writes the ready ids (8 bytes each) to a Unix socket pair whose other
//!   end the executor reads with glommio ([`ready_task`]), so the executor learns of them
//!   through one glommio source for the whole shard.
//! - **Output** (`Transmit`, `Close`, `Handover`, `ResumeRead`): the dispatch finds the
//!   connection parked and wakes it at once, with the flag set.
//!
//! Waking removes the descriptor from the epoll set, adopts it as a glommio socket and spawns
//! the connection's task again: the same [`ConnId`], so the shard sees nothing. A stale id from
//! the thread (the connection woke for output meanwhile, or closed) is ignored.
//!
//! # What it costs
//! Nothing on a busy connection: the task marks itself active with a store into its control
//! block, and a sweep every half `park_idle_ms` asks the connections that were quiet for two
//! sweeps running to park (so between 1× and 1.5× the idle time). A connection parks only with
//! nothing buffered either way and no end pending. Parking costs three system calls (`dup`,
//! `epoll_ctl`, the `close` of glommio's descriptor); waking costs `epoll_ctl` and, for input,
//! the thread's `epoll_wait` return and write and the executor's read. Measured (release, one
//! shard, 500 clients pinging every 200 ms with a 50 ms idle time, so that every ping wakes its
//! connection): 7-10 µs more CPU per wake when the shard is busy, up to ~50 µs when each wake
//! comes alone (both threads wake from sleep), and ~55 µs more round trip for the first packet.
//!
//! # The idle time
//! The default, 2 s, keeps the commonest periodic clients (once a second) from parking and
//! waking at every message, with margin for jitter (a 1 s idle time would park them whenever a
//! gap ran a little over a second), while a connection that is really idle (keep-alive pings
//! every tens of seconds) parks within 3 s. The worst case, a client that sends just slower
//! than the idle time, pays one wake per message: bounded by 1 / `park_idle_ms` wakes a second
//! per connection.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::thread::JoinHandle;

use futures_lite::AsyncReadExt;
use mqtt_core::ConnId;
use rustix::event::epoll;
use tracing::{debug, warn};

use crate::shard::ShardCtx;

/// The epoll data of the thread's own socket: its peer closed, so the shard is stopping.
const STOP: u64 = u64::MAX;

/// Events one `epoll_wait` returns at most.
const EVENTS: usize = 256;

/// Stack of the epoll thread (it only loops over a small buffer).
const THREAD_STACK: usize = 64 * 1024;

/// A shard's epoll set of parked connections.
#[derive(Debug)]
pub(crate) struct Parking {
    epoll: OwnedFd,
}

/// The epoll thread of a shard, and the way to stop it.
#[derive(Debug)]
pub(crate) struct ParkThread {
    /// A duplicate of the executor's end of the socket pair: `shutdown(2)` on it wakes the
    /// thread (its end reads EOF) even while glommio still holds the descriptor.
    stop: UnixStream,
    thread: JoinHandle<()>,
}

impl ParkThread {
    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        let _ = self.stop.shutdown(std::net::Shutdown::Both);
        if self.thread.join().is_err() {
            warn!("the epoll thread of parked connections panicked");
        }
    }
}

/// Creates the epoll set of shard `index` and starts its thread; returns the set, the thread,
/// and the executor's end of the socket pair the thread writes ready ids to.
pub(crate) fn start(index: u16) -> io::Result<(Parking, ParkThread, UnixStream)> {
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let (ours, theirs) = UnixStream::pair()?;
    epoll::add(
        &epoll,
        &theirs,
        epoll::EventData::new_u64(STOP),
        epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
    )?;
    let waiting = epoll.try_clone()?;
    let stop = ours.try_clone()?;
    let thread = std::thread::Builder::new()
        .name(format!("ringmq-park-{index}"))
        .stack_size(THREAD_STACK)
        .spawn(move || wait_loop(&waiting, theirs))?;
    Ok((Parking { epoll }, ParkThread { stop, thread }, ours))
}

/// The epoll thread: reports the id of every parked connection that becomes readable (or
/// closed, or failed) until its socket's peer closes.
fn wait_loop(epoll: &OwnedFd, mut out: UnixStream) {
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut ids: Vec<u8> = Vec::with_capacity(EVENTS * 8);
    loop {
        events.clear();
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                warn!(error = %e, "epoll_wait failed: parked connections no longer wake on input");
                return;
            }
        }
        ids.clear();
        for ev in &events {
            let data = ev.data;
            let id = data.u64();
            if id == STOP {
                return;
            }
            ids.extend_from_slice(&id.to_ne_bytes());
        }
        if out.write_all(&ids).is_err() {
            return;
        }
    }
}

impl Parking {
    /// Registers a parked connection's descriptor: the set reports it once readable.
    pub(crate) fn add(&self, id: ConnId, fd: impl AsFd) -> io::Result<()> {
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
        epoll::add(&self.epoll, fd, epoll::EventData::new_u64(id.0), flags)?;
        Ok(())
    }

    /// Removes a waking connection's descriptor from the set.
    pub(crate) fn remove(&self, fd: impl AsFd) {
        if let Err(e) = epoll::delete(&self.epoll, fd) {
            debug!(error = %e, "epoll_ctl(DEL) of a parked connection failed");
        }
    }
}

/// Reads the ids the epoll thread reports and wakes those connections, until the thread's end
/// closes.
pub(crate) async fn ready_task(ctx: Rc<ShardCtx>, mut from_thread: glommio::net::UnixStream) {
    let mut buf = [0u8; 8 * EVENTS];
    let mut have = 0usize;
    while let Some(free) = buf.get_mut(have..) {
        match from_thread.read(free).await {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
        let whole = have - have % 8;
        for chunk in buf.get(..whole).unwrap_or_default().chunks_exact(8) {
            let mut id = [0u8; 8];
            id.copy_from_slice(chunk);
            ctx.input_ready(ConnId(u64::from_ne_bytes(id)));
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
        glommio::yield_if_needed().await;
    }
    if !ctx.life.stopping() {
        warn!(
            shard = ctx.id.0,
            "the epoll thread of parked connections stopped: parking is off"
        );
        ctx.parking_failed();
    }
}
