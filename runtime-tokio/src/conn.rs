//! The connection task on tokio: `ringmq_runtime::conn` over a tokio socket, with the
//! shard context as its host. The task reads into the shard's scratch buffer, writes what
//! the shard has ready in one write, and ends by closing the socket or by handing it over
//! (the std socket, taken out of this shard's reactor) to its home shard.
//!
//! Per idle connection the runtime keeps: the task, a `ConnCtl` in the shard's table, and
//! tokio's registration of the socket with the shard's reactor. Once idle for
//! `runtime.park_idle_ms` the task ends and leaves only the descriptor in the table
//! (`park.rs`, Linux).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::time::Instant;

use bytes::BytesMut;
use mqtt_core::{ConnId, Shard, ShardId, Timestamp};
use ringmq_runtime::conn::{ConnHost, ConnStream};
use ringmq_runtime::lifecycle::ShardHost;
use ringmq_runtime::shard::Core;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::link::Handover;
use crate::shard::ShardCtx;

/// A connection's task on this runtime.
pub(crate) type ConnTask = ringmq_runtime::conn::ConnTask<ShardCtx>;
/// A connection's socket and buffers on this runtime.
pub(crate) type Conn = ringmq_runtime::conn::Conn<Stream>;

/// A tokio socket, as the connection task uses it.
#[derive(Debug)]
pub(crate) struct Stream(pub(crate) TcpStream);

impl ConnStream for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        Pin::new(&mut self.0)
            .poll_read(cx, &mut buf)
            .map_ok(|()| buf.filled().len())
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    async fn shutdown_write(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

impl ConnHost for ShardCtx {
    type Stream = Stream;
    type Socket = std::net::TcpStream;
    type Parked = crate::shard::Parked;

    fn core(&self) -> &Core<std::net::TcpStream, crate::shard::Parked> {
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

    /// Sends the socket to its home shard, taken out of this shard's reactor.
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
        match stream.0.into_std() {
            Ok(socket) => {
                debug!(shard = self.id.0, conn = id.0, to = to.0, "handing over");
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

    #[cfg(target_os = "linux")]
    fn park(&self, id: ConnId, stream: &Stream) -> bool {
        ShardCtx::park(self, id, &stream.0)
    }
}

impl ShardHost for ShardCtx {
    async fn yield_now(&self) {
        tokio::task::yield_now().await;
    }
}
