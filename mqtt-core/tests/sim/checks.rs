//! Invariants checked after every step, and the leak check at the very end.

use mqtt_core::ShardId;

use crate::model::TOPICS;
use crate::sim::Sim;
use crate::world::Step;

/// How far a connection's write buffer may go past `max_outbound_buffer`: the one packet that
/// crossed the line, plus acknowledgements and PINGRESP a reader that does not read still
/// earns until its send timeout (bounded by the Receive Maximum it was given).
const OUTBOUND_SLACK: usize = 64 * 1024;

impl Sim {
    /// Cheap checks after every step: one session per client id, and exactly when the spec
    /// says it exists; no queue, window or buffer past its bound.
    pub fn check_step(&mut self) -> Step {
        for c in 0..self.clients.len() {
            let id = &self.clients[c].id;
            let held: Vec<usize> = (0..self.n())
                .filter(|i| self.shards[*i].has_session(id))
                .collect();
            if held.len() > 1 {
                return Err(format!("client {c} has a session on shards {held:?}"));
            }
            let expected = self.sess[c].alive(self.now);
            if expected != (held.len() == 1) {
                return Err(format!(
                    "client {c}: session exists: {}, per the spec: {expected} ({:?})",
                    held.len() == 1,
                    self.sess[c]
                ));
            }
        }
        let cfg = &self.config;
        for (i, s) in self.shards.iter().enumerate() {
            let o = s.occupancy();
            if o.max_queued > cfg.max_queued_messages
                || o.max_inflight > usize::from(cfg.max_inflight)
                || o.max_awaiting_rel > cfg.max_awaiting_rel
                || o.max_outbound_buffered > cfg.max_outbound_buffer + OUTBOUND_SLACK
            {
                return Err(format!("shard {i} past a bound: {o:?}"));
            }
            for to in 0..self.shards.len() {
                let q = s.peer_queued(ShardId(to as u16));
                self.counters.max_outbox = self.counters.max_outbox.max(q);
            }
        }
        Ok(())
    }

    /// Nothing is left once every client is gone and every session has expired.
    pub fn check_empty(&self) -> Step {
        for (i, s) in self.shards.iter().enumerate() {
            let figures = [
                ("connections", s.connection_count()),
                ("sessions", s.session_count()),
                ("subscriptions", s.subscription_count()),
                ("subscription trie nodes", s.subscription_nodes()),
                ("shared group views", s.shared_group_view_count()),
                ("subscribe barriers", s.subscribe_barriers_in_progress()),
                ("routing operations", s.routing_in_progress()),
            ];
            for (what, n) in figures {
                if n != 0 {
                    return Err(format!("shard {i} still holds {n} {what}"));
                }
            }
            // `$SYS` figures are retained messages of their own.
            if self.limits.sys_interval == 0 && s.retained_count() != 0 {
                return Err(format!(
                    "shard {i} still holds {} retained",
                    s.retained_count()
                ));
            }
            for t in TOPICS {
                let shards = s.interested_shards(t);
                if !shards.is_empty() {
                    return Err(format!("shard {i} still routes {t} to {shards:?}"));
                }
            }
            for to in 0..self.shards.len() {
                let q = s.peer_queued(ShardId(to as u16));
                if q != 0 {
                    return Err(format!("shard {i} still has {q} messages for shard {to}"));
                }
            }
            let timer = s.poll_timeout();
            let sys_at = self.now.0 + self.limits.sys_interval * 1000;
            let ok = match timer {
                None => true,
                Some(t) => self.limits.sys_interval > 0 && t.0 <= sys_at,
            };
            if !ok {
                return Err(format!(
                    "shard {i} still has a timer at {timer:?} (now {:?})",
                    self.now
                ));
            }
        }
        if let Some(l) = self.links.iter().position(|l| !l.is_empty()) {
            return Err(format!("link {l} still carries messages"));
        }
        Ok(())
    }
}
