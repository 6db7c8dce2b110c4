//! Broker-wide `$SYS` figures over several shards.
//!
//! Shard 0 publishes `$SYS` for the whole broker; the other shards publish nothing themselves.
//! Every `sys_interval` shard 0 starts a round: it asks every other shard for its figures
//! ([`ShardMsgInner::SysRequest`]), each answers with its gauges and counters
//! ([`ShardMsgInner::SysReport`]), and once every answer of the round is in, shard 0 publishes
//! the sums. The figures are thus taken one link delay after the tick, not up to an interval
//! late, and the other shards need no timer of their own. Should a round still miss an answer
//! at the next tick, shard 0 publishes with the latest figures it has before starting the next
//! round. With one shard, `$SYS` is published from the shard's own figures at each tick.

use super::{Shard, ShardMsgInner};
use crate::ids::ShardId;
use crate::stats::Stats;
use crate::time::Timestamp;

/// One shard's `$SYS` gauges and counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct SysFigures {
    /// Sessions with a connection.
    pub(crate) connected: u64,
    /// Sessions, connected or not.
    pub(crate) sessions: u64,
    /// Subscriptions, plain and shared.
    pub(crate) subscriptions: u64,
    /// Shared-subscription memberships.
    pub(crate) shared_subscriptions: u64,
    /// Retained messages stored.
    pub(crate) retained_count: u64,
    /// Bytes of retained messages stored.
    pub(crate) retained_bytes: u64,
    /// The counters.
    pub(crate) stats: Stats,
}

impl SysFigures {
    fn add(&mut self, o: &SysFigures) {
        self.connected += o.connected;
        self.sessions += o.sessions;
        self.subscriptions += o.subscriptions;
        self.shared_subscriptions += o.shared_subscriptions;
        self.retained_count += o.retained_count;
        self.retained_bytes += o.retained_bytes;
        self.stats.add(&o.stats);
    }
}

/// Shard 0's view of the other shards' figures.
#[derive(Debug, Default)]
pub(crate) struct SysAggregate {
    /// Latest figures of each shard, indexed by shard id.
    reports: Vec<Option<Box<SysFigures>>>,
    /// The current round.
    round: u64,
    /// Answers of the current round still missing.
    awaiting: usize,
}

impl Shard {
    /// Whether this shard publishes `$SYS`: the only shard, or shard 0 of several.
    pub(crate) fn publishes_sys(&self) -> bool {
        self.shard_count <= 1 || self.id.0 == 0
    }

    /// This shard's own figures.
    pub(crate) fn local_figures(&self) -> SysFigures {
        SysFigures {
            connected: self.connected_count() as u64,
            sessions: self.sessions.len() as u64,
            subscriptions: self.subscription_count() as u64,
            shared_subscriptions: self.shared_subscription_count() as u64,
            retained_count: self.retained.len() as u64,
            retained_bytes: self.retained.bytes() as u64,
            stats: self.stats.clone(),
        }
    }

    /// The figures `$SYS` shows: on shard 0, the sum over every shard (the others' latest
    /// reports); elsewhere this shard's own.
    pub(crate) fn sys_figures(&self) -> SysFigures {
        let mut f = self.local_figures();
        if self.publishes_sys() {
            for r in self.sys_agg.reports.iter().flatten() {
                f.add(r);
            }
        }
        f
    }

    /// The `$SYS` tick: publish (one shard) or start a round (shard 0 of several).
    pub(crate) fn publish_sys(&mut self, now: Timestamp) {
        if self.shard_count <= 1 {
            return self.publish_sys_values(now);
        }
        if !self.publishes_sys() {
            return;
        }
        if self.sys_agg.awaiting > 0 {
            // The last round is still short of an answer: publish what is known.
            self.publish_sys_values(now);
        }
        self.sys_agg.round += 1;
        self.sys_agg.awaiting = usize::from(self.shard_count).saturating_sub(1);
        self.broadcast_peer(ShardMsgInner::SysRequest(self.sys_agg.round));
    }

    /// Shard 0 asks for this shard's figures.
    pub(crate) fn sys_request(&mut self, from: ShardId, round: u64) {
        let figures = Box::new(self.local_figures());
        self.send_peer(from, ShardMsgInner::SysReport(round, figures));
    }

    /// A shard's figures arrive on shard 0; the last answer of a round publishes.
    pub(crate) fn sys_report(
        &mut self,
        from: ShardId,
        round: u64,
        figures: Box<SysFigures>,
        now: Timestamp,
    ) {
        if !self.publishes_sys() || from == self.id {
            return;
        }
        let agg = &mut self.sys_agg;
        let n = usize::from(self.shard_count);
        if agg.reports.len() < n {
            agg.reports.resize_with(n, || None);
        }
        if let Some(slot) = agg.reports.get_mut(usize::from(from.0)) {
            *slot = Some(figures);
        }
        if round == agg.round && agg.awaiting > 0 {
            agg.awaiting -= 1;
            if agg.awaiting == 0 {
                self.publish_sys_values(now);
            }
        }
    }
}
