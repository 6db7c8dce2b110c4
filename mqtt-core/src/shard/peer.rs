//! The peer transport: every cross-shard message goes through [`Shard::send_peer`] into one
//! outbox per destination shard. The runtime hears [`Output::PeerReady`] once an outbox has
//! something and takes it all as one batch with [`Shard::take_peer`], so a burst of messages
//! from one input crosses the link as one message, in order (FIFO per pair of shards).
//!
//! # Backpressure
//! Each outbox is bounded by `Config::max_peer_queue` messages. A QoS 0 application message
//! that finds its outbox full is dropped and counted (`Stats::peer_dropped`). Anything else,
//! a QoS 1/2 message or a protocol message, is never dropped: it goes in, the outbox goes over
//! its bound, and while any outbox is over its bound the shard stops consuming PUBLISH packets
//! from its clients. Such a PUBLISH stays in the caller's buffer and its connection is marked
//! paused; once `take_peer` brings every outbox back within its bound, each paused connection
//! gets [`Output::ResumeRead`]. Other packets (acknowledgements, SUBSCRIBE, PINGREQ) are still
//! read, unless they sit behind a paused PUBLISH, so subscribers keep draining their queues.
//! Peer input ([`Shard::handle_peer`]) is never paused, so two shards cannot wait on each other.

use bytes::BytesMut;
use mqtt_proto::QoS;

use super::{ConnState, Output, Shard, ShardMsg, ShardMsgInner};
use crate::ids::{ConnId, ShardId};
use crate::time::Timestamp;

/// The packet type of PUBLISH in the high nibble of a fixed header's first byte.
const PUBLISH_TYPE: u8 = 3;

/// Messages waiting for one destination shard.
#[derive(Debug, Default)]
struct Outbox {
    queue: Vec<ShardMsgInner>,
    /// Whether a [`Output::PeerReady`] for this outbox is outstanding.
    signalled: bool,
}

/// The outboxes of one shard, indexed by destination shard id.
#[derive(Debug, Default)]
pub(crate) struct PeerTransport {
    outboxes: Vec<Outbox>,
    /// How many outboxes hold more than `max_peer_queue` messages.
    over: usize,
    /// Connections paused while an outbox is over its bound, in the order they paused.
    paused: Vec<ConnId>,
}

impl PeerTransport {
    pub(crate) fn new(count: u16) -> Self {
        Self {
            outboxes: (0..count).map(|_| Outbox::default()).collect(),
            over: 0,
            paused: Vec::new(),
        }
    }

    /// Messages waiting for shard `to`.
    pub(crate) fn queued(&self, to: ShardId) -> usize {
        self.outboxes
            .get(usize::from(to.0))
            .map_or(0, |o| o.queue.len())
    }
}

impl ShardMsgInner {
    /// Whether the message may be dropped when its outbox is full: a QoS 0 application
    /// message. Protocol messages and QoS 1/2 messages never are.
    fn droppable(&self) -> bool {
        matches!(self, Self::Deliver(m) if m.qos == QoS::AtMostOnce)
    }
}

impl Shard {
    /// Sends a message to another shard (FIFO per pair of shards). Every cross-shard message
    /// goes through here: it is queued in the outbox for `to`, which the runtime takes as one
    /// batch ([`Shard::take_peer`]).
    pub(crate) fn send_peer(&mut self, to: ShardId, msg: ShardMsgInner) {
        if to == self.id {
            return;
        }
        let bound = self.config.max_peer_queue;
        let Some(ob) = self.peer.outboxes.get_mut(usize::from(to.0)) else {
            return;
        };
        if ob.queue.len() >= bound && msg.droppable() {
            self.stats.peer_dropped += 1;
            return;
        }
        ob.queue.push(msg);
        if ob.queue.len() == bound.saturating_add(1) {
            self.peer.over += 1;
        }
        if !ob.signalled {
            ob.signalled = true;
            self.push_output(Output::PeerReady(to));
        }
    }

    /// Sends a message to every other shard.
    pub(crate) fn broadcast_peer(&mut self, msg: ShardMsgInner) {
        for i in 0..self.shard_count {
            if i != self.id.0 {
                self.send_peer(ShardId(i), msg.clone());
            }
        }
    }

    /// Takes everything queued for shard `to` as one message (a batch, handled in order by
    /// the receiver's [`Shard::handle_peer`]). Call it after [`Output::PeerReady`] once the
    /// link can take a message; `None` if nothing is queued. Bringing an outbox back within
    /// its bound may resume paused connections ([`Output::ResumeRead`]).
    #[must_use]
    pub fn take_peer(&mut self, to: ShardId) -> Option<ShardMsg> {
        let bound = self.config.max_peer_queue;
        let ob = self.peer.outboxes.get_mut(usize::from(to.0))?;
        ob.signalled = false;
        if ob.queue.is_empty() {
            return None;
        }
        let was_over = ob.queue.len() > bound;
        let batch = core::mem::take(&mut ob.queue);
        if was_over {
            self.peer.over = self.peer.over.saturating_sub(1);
            if self.peer.over == 0 {
                self.resume_paused();
            }
        }
        Some(ShardMsg(ShardMsgInner::Batch(batch)))
    }

    /// Messages queued for shard `to` and not yet taken.
    pub fn peer_queued(&self, to: ShardId) -> usize {
        self.peer.queued(to)
    }

    /// Whether `conn`'s next packet must wait for the outboxes to drain: a PUBLISH from a
    /// connected client while some outbox is over its bound. The connection is then paused.
    pub(crate) fn pause_for_peers(&mut self, conn: ConnId, buf: &BytesMut, now: Timestamp) -> bool {
        if self.peer.over == 0 || buf.first().is_none_or(|b| b >> 4 != PUBLISH_TYPE) {
            return false;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if !matches!(c.state, ConnState::Connected(_)) {
            return false;
        }
        // The client did send: its silence from now on is ours, not a keep-alive failure.
        c.last_rx = now;
        if !c.peer_paused {
            c.peer_paused = true;
            self.peer.paused.push(conn);
        }
        true
    }

    /// Every outbox is within its bound again: paused connections may go on, in the order
    /// they paused.
    fn resume_paused(&mut self) {
        for conn in core::mem::take(&mut self.peer.paused) {
            if let Some(c) = self.conns.get_mut(&conn) {
                if c.peer_paused {
                    c.peer_paused = false;
                    self.push_output(Output::ResumeRead(conn));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use bytestring::ByteString;

    use super::*;
    use crate::config::Config;
    use crate::message::Message;

    fn shard(bound: usize) -> Shard {
        let config = Config {
            max_peer_queue: bound,
            ..Config::default()
        };
        Shard::with_shards(config, ShardId(0), 3)
    }

    fn deliver(qos: QoS, payload: &'static [u8]) -> ShardMsgInner {
        ShardMsgInner::Deliver(Arc::new(Message {
            id: Default::default(),
            topic: ByteString::from("t"),
            payload: Bytes::from_static(payload),
            qos,
            retain: false,
            properties: Default::default(),
            expires_at: None,
            publisher: None,
        }))
    }

    fn outputs(s: &mut Shard) -> Vec<Output> {
        core::iter::from_fn(|| s.poll_output()).collect()
    }

    fn payloads(msg: ShardMsg) -> Vec<Vec<u8>> {
        let ShardMsgInner::Batch(batch) = msg.0 else {
            panic!("not a batch");
        };
        batch
            .into_iter()
            .map(|m| match m {
                ShardMsgInner::Deliver(m) => m.payload.to_vec(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn messages_to_one_shard_leave_as_one_batch_in_order() {
        let mut s = shard(100);
        s.send_peer(ShardId(1), deliver(QoS::AtMostOnce, b"a"));
        s.send_peer(ShardId(2), deliver(QoS::AtMostOnce, b"x"));
        s.send_peer(ShardId(1), deliver(QoS::AtLeastOnce, b"b"));
        s.send_peer(ShardId(1), deliver(QoS::ExactlyOnce, b"c"));
        // Never to itself.
        s.send_peer(ShardId(0), deliver(QoS::AtMostOnce, b"self"));
        let out = outputs(&mut s);
        assert!(
            matches!(
                out.as_slice(),
                [Output::PeerReady(ShardId(1)), Output::PeerReady(ShardId(2))]
            ),
            "one PeerReady per destination: {out:?}"
        );
        assert_eq!(s.peer_queued(ShardId(1)), 3);
        let batch = s.take_peer(ShardId(1)).unwrap();
        assert_eq!(
            payloads(batch),
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert!(s.take_peer(ShardId(1)).is_none());
        assert!(s.take_peer(ShardId(0)).is_none());
        assert!(s.take_peer(ShardId(9)).is_none());
        // After a take, the next message signals again.
        s.send_peer(ShardId(1), deliver(QoS::AtMostOnce, b"d"));
        assert!(matches!(
            outputs(&mut s).as_slice(),
            [Output::PeerReady(ShardId(1))]
        ));
    }

    #[test]
    fn qos_0_beyond_the_bound_is_dropped_and_the_rest_is_kept() {
        let mut s = shard(2);
        for p in [b"1", b"2", b"3", b"4"] {
            s.send_peer(ShardId(1), deliver(QoS::AtMostOnce, p));
        }
        assert_eq!(s.stats.peer_dropped, 2);
        assert_eq!(s.peer.over, 0, "QoS 0 never goes over the bound");
        // QoS 1 and protocol messages go in anyway, over the bound.
        s.send_peer(ShardId(1), deliver(QoS::AtLeastOnce, b"5"));
        s.send_peer(ShardId(1), ShardMsgInner::SysRequest(1));
        assert_eq!(s.peer_queued(ShardId(1)), 4);
        assert_eq!(s.peer.over, 1);
        assert_eq!(s.stats.peer_dropped, 2);
        let _ = outputs(&mut s);
        let ShardMsgInner::Batch(b) = s.take_peer(ShardId(1)).unwrap().0 else {
            panic!();
        };
        assert_eq!(b.len(), 4);
        assert!(matches!(b[3], ShardMsgInner::SysRequest(1)));
        assert_eq!(s.peer.over, 0);
    }

    #[test]
    fn a_full_outbox_pauses_publish_input_until_taken() {
        let mut s = shard(1);
        s.peer.outboxes[2].queue = vec![ShardMsgInner::SysRequest(1); 2];
        s.peer.over = 1;
        let publish = BytesMut::from(&[0x30u8, 0x03, 0x00, 0x01, b't'][..]);
        // Not connected: never paused (the CONNECT path decides).
        s.handle_accept(ConnId(1), None, crate::Timestamp(0));
        assert!(!s.pause_for_peers(ConnId(1), &publish, crate::Timestamp(0)));
        s.conns.get_mut(&ConnId(1)).unwrap().state = ConnState::Connected(crate::ids::SessionId(1));
        assert!(s.pause_for_peers(ConnId(1), &publish, crate::Timestamp(5)));
        assert!(s.pause_for_peers(ConnId(1), &publish, crate::Timestamp(6)));
        assert_eq!(s.peer.paused, [ConnId(1)], "paused once");
        // Other packets are read on.
        let puback = BytesMut::from(&[0x40u8, 0x02, 0x00, 0x01][..]);
        assert!(!s.pause_for_peers(ConnId(1), &puback, crate::Timestamp(6)));
        let _ = outputs(&mut s);
        assert!(s.take_peer(ShardId(2)).is_some());
        assert!(matches!(
            outputs(&mut s).as_slice(),
            [Output::ResumeRead(ConnId(1))]
        ));
        assert!(!s.pause_for_peers(ConnId(1), &publish, crate::Timestamp(7)));
    }
}
