//! Read-only views of a shard's state for leak and bound checks: the whole-broker simulation
//! (`tests/sim/`), tests, and later an admin API.

use super::Shard;

/// The largest per-session and per-connection sizes a shard holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Longest session queue (messages waiting beyond the inflight window); bounded by
    /// `Config::max_queued_messages`.
    pub max_queued: usize,
    /// Most outbound QoS 1/2 messages inflight in one session; bounded by
    /// `Config::max_inflight`.
    pub max_inflight: usize,
    /// Most inbound QoS 2 packet ids awaiting PUBREL in one session; bounded by
    /// `Config::max_awaiting_rel`.
    pub max_awaiting_rel: usize,
    /// Largest write buffer not yet taken by the runtime; new messages stop going in at
    /// `Config::max_outbound_buffer`.
    pub max_outbound_buffered: usize,
}

impl Shard {
    /// Whether this shard holds a session (connected or not) for `client_id`.
    pub fn has_session(&self, client_id: &str) -> bool {
        self.by_client.contains(client_id, &self.sessions)
    }

    /// The largest queue, inflight window, awaiting-PUBREL set and write buffer held now.
    pub fn occupancy(&self) -> Occupancy {
        let mut o = Occupancy::default();
        for s in self.sessions.values() {
            o.max_queued = o.max_queued.max(s.queue.len());
            o.max_inflight = o.max_inflight.max(s.inflight.len());
            o.max_awaiting_rel = o.max_awaiting_rel.max(s.awaiting_rel.len());
        }
        for c in self.conns.values() {
            o.max_outbound_buffered = o.max_outbound_buffered.max(c.tx.len());
        }
        o
    }
}
