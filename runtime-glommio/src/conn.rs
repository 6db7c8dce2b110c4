//! The connection task on glommio: `ringmq_runtime::conn` over a glommio socket, with the
//! shard context as its host. The task reads into the executor's scratch buffer, writes what
//! the shard has ready in one write, and ends by closing the socket, by handing it over (a
//! duplicate descriptor; this one is closed) to its home shard, or by parking.
//!
//! Per idle connection the runtime keeps: the task, a `ConnCtl` in the shard's table, and
//! glommio's pending readiness poll. Once idle for `runtime.park_idle_ms` the task ends and
//! leaves only the descriptor in the table (`park.rs`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use mqtt_core::{ConnId, Shard, ShardId, Timestamp};
use ringmq_runtime::conn::{ConnHost, ConnStream};
use ringmq_runtime::lifecycle::ShardHost;
use ringmq_runtime::shard::Core;
use tracing::{debug, warn};

use crate::link::Handover;
use crate::shard::ShardCtx;

/// A connection's task on this runtime.
pub(crate) type ConnTask = ringmq_runtime::conn::ConnTask<ShardCtx>;
/// A connection's socket and buffers on this runtime.
pub(crate) type Conn = ringmq_runtime::conn::Conn<Stream>;

/// A glommio socket, as the connection task uses it.
#[derive(Debug)]
pub(crate) struct Stream(pub(crate) TcpStream);

impl ConnStream for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    async fn shutdown_write(&mut self) {
        let _ = self.0.shutdown(Shutdown::Write).await;
    }
}

impl ConnHost for ShardCtx {
    type Stream = Stream;
    type Socket = OwnedFd;
    type Parked = OwnedFd;

    fn core(&self) -> &Core<OwnedFd, OwnedFd> {
        self
    }

    fn with_shard<T>(&self, f: impl FnOnce(&mut Shard, Timestamp) -> T) -> T {
        ShardCtx::with_shard(self, f)
    }

    fn until<T>(
        &self,
        deadline: Instant,
        fut: impl Future<Output = T>,
    ) -> impl Future<Output = Option<T>> {
        crate::sync::until(deadline, fut)
    }

    /// Sends the socket to its home shard: a duplicate descriptor; this one is closed.
    fn hand_over(&self, id: ConnId, to: ShardId, stream: Stream, buffered: BytesMut) {
        let peer = stream.0.peer_addr().ok();
        let Some(link) = self.link(to) else {
            warn!(
                shard = self.id.0,
                to = to.0,
                "handover to an unknown shard: closed"
            );
            return;
        };
        match crate::fd::dup(&stream.0) {
            Ok(socket) => {
                debug!(shard = self.id.0, conn = id.0, to = to.0, "handing over");
                drop(stream);
                crate::SharedCounters::bump(&self.counters.handed_over);
                link.hand_over(Handover {
                    socket,
                    buffered,
                    peer,
                });
            }
            Err(e) => warn!(shard = self.id.0, error = %e, "handover failed: closed"),
        }
    }

    fn park(&self, id: ConnId, stream: &Stream) -> bool {
        ShardCtx::park(self, id, &stream.0)
    }
}

impl ShardHost for ShardCtx {
    async fn yield_now(&self) {
        glommio::yield_if_needed().await;
    }
}
