//! Parking idle connections on tokio (Linux): a connection that has had nothing to read or
//! write for `runtime.park_idle_ms` gives up its task and its tokio socket (the task, and the
//! socket's registration with the reactor); the shard keeps only a duplicate of its
//! descriptor, in the connection table, registered in one epoll set per shard.
//!
//! The epoll set is itself a descriptor that becomes readable when one of its members is
//! ready, so the shard's reactor watches it ([`AsyncFd`]) and one task ([`ready_task`]) reads
//! the ready ids with a non-blocking `epoll_wait`: no thread, unlike glommio's (`io_uring`
//! there is not an epoll reactor). Members are registered level-triggered with
//! `EPOLLONESHOT`, data = the connection id. Output (`Transmit`, `Close`, `Handover`,
//! `ResumeRead`) wakes a parked connection at once, through the dispatch.
//!
//! Waking removes the descriptor from the set, registers it with tokio again and spawns the
//! connection's task: the same [`ConnId`], so the shard sees nothing. The idle time, the
//! sweeps and the rule that only a connection with nothing pending parks are the shared
//! task's (`ringmq_runtime::conn`), as on glommio.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use mqtt_core::ConnId;
use rustix::event::epoll;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracing::{debug, warn};

use bytes::BytesMut;
use ringmq_runtime::shard::Signal;

use crate::conn::{Conn, ConnTask, Stream};
use crate::shard::{ShardCtx, SharedCounters};

/// Events one `epoll_wait` returns at most.
const EVENTS: usize = 256;

/// A shard's epoll set of parked connections, watched by the shard's reactor.
#[derive(Debug)]
pub(crate) struct Parking {
    epoll: AsyncFd<OwnedFd>,
}

impl Parking {
    /// A new, empty set, registered with the current runtime's reactor.
    pub(crate) fn new() -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        #[allow(unsafe_code)]
        // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which owns it for as long as it is
        // registered: it stays open and the same epoll instance until the `AsyncFd` drops,
        // and `as_raw_fd` of an `OwnedFd` always returns that descriptor.
        let epoll = unsafe { AsyncFd::register_with_interest(epoll, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { epoll })
    }

    /// Registers a parked connection's descriptor: the set reports it once readable.
    pub(crate) fn add(&self, id: ConnId, fd: impl AsFd) -> io::Result<()> {
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
        epoll::add(
            self.epoll.get_ref(),
            fd,
            epoll::EventData::new_u64(id.0),
            flags,
        )?;
        Ok(())
    }

    /// Removes a waking connection's descriptor from the set.
    pub(crate) fn remove(&self, fd: impl AsFd) {
        if let Err(e) = epoll::delete(self.epoll.get_ref(), fd) {
            debug!(error = %e, "epoll_ctl(DEL) of a parked connection failed");
        }
    }
}

/// Wakes the parked connections the epoll set reports ready (input, the peer's FIN, an
/// error), for as long as the shard runs.
pub(crate) async fn ready_task(ctx: Rc<ShardCtx>) {
    let Some(parking) = ctx.parking.as_ref() else {
        return;
    };
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let failed = loop {
        let mut guard = match parking.epoll.readable().await {
            Ok(g) => g,
            Err(e) => break e.to_string(),
        };
        events.clear();
        match epoll::wait(
            parking.epoll.get_ref(),
            rustix::buffer::spare_capacity(&mut events),
            Some(&now),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => break e.to_string(),
        }
        if events.is_empty() {
            guard.clear_ready();
            continue;
        }
        drop(guard);
        for ev in &events {
            let data = ev.data;
            ctx.input_ready(ConnId(data.u64()));
        }
        tokio::task::yield_now().await;
    };
    warn!(shard = ctx.id.0, error = %failed, "the epoll set of parked connections failed: parking is off");
    ctx.parking_failed();
}

impl ShardCtx {
    /// Parks an idle connection: keeps a duplicate of its descriptor in the table, in the
    /// epoll set. False (and nothing changed) if parking is off or failed.
    pub(crate) fn park(&self, id: ConnId, stream: &tokio::net::TcpStream) -> bool {
        let Some(parking) = self.parking.as_ref().filter(|_| !self.parking_failed.get()) else {
            return false;
        };
        let registered = stream.as_fd().try_clone_to_owned().and_then(|fd| {
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

    /// Serves a parked connection again: out of the epoll set, registered with tokio, with a
    /// fresh control block (with the signal that woke it, if any) and task. The task is
    /// scheduled, not run here (inside a dispatch).
    pub(crate) fn unpark(&self, id: ConnId, fd: OwnedFd, signal: Option<Signal>) {
        if let Some(parking) = &self.parking {
            parking.remove(&fd);
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        // The duplicate shares the socket's file status flags: it is still non-blocking.
        let stream = match tokio::net::TcpStream::from_std(std::net::TcpStream::from(fd)) {
            Ok(s) => s,
            Err(e) => {
                // The connection is lost: the shard hears of it as a close, after this
                // dispatch, and the task count drops as the task's would have.
                warn!(shard = self.id.0, conn = id.0, error = %e, "cannot serve a woken connection: closed");
                self.life.task_ended();
                drop(tokio::task::spawn_local(async move {
                    me.with_shard(|s, now| s.handle_closed(id, now));
                }));
                return;
            }
        };
        let ctl = self.register(id);
        if let Some(signal) = signal {
            signal.apply(&ctl);
        }
        SharedCounters::bump(&self.counters.unparked);
        let task = ConnTask::new(Conn::new(id, Stream(stream), BytesMut::new()), me, ctl);
        drop(tokio::task::spawn_local(task));
    }

    /// The epoll set failed: wakes every parked connection and parks no more (they would not
    /// learn of their input).
    pub(crate) fn parking_failed(&self) {
        self.parking_failed.set(true);
        for id in self.parked_ids() {
            self.input_ready(id);
        }
    }
}
