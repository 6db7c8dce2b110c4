//! The shard's timer table: one ordered set of `(deadline, Timer)`.

use std::collections::BTreeSet;

use crate::ids::{ConnId, SessionId};
use crate::time::Timestamp;

/// Why the shard wants to wake up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// CONNECT did not complete in time.
    ConnectTimeout(ConnId),
    /// Keep alive check (the connection's real deadline may have moved; re-checked on fire).
    KeepAlive(ConnId),
    /// Output not taken by the runtime for too long.
    SendTimeout(ConnId),
    /// A disconnected session's expiry.
    SessionExpiry(SessionId),
    /// A delayed will message.
    WillDelay(SessionId),
    /// The earliest retained message expiry.
    RetainedExpiry,
    /// Next `$SYS` publication.
    Sys,
}

/// Deadlines, earliest first. Each owner remembers the deadline it armed so it can cancel.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    set: BTreeSet<(Timestamp, Timer)>,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Timestamp, t: Timer) {
        self.set.insert((at, t));
    }

    pub(crate) fn cancel(&mut self, at: Timestamp, t: Timer) {
        self.set.remove(&(at, t));
    }

    /// Moves a timer from `old` (if armed) to `new`.
    pub(crate) fn rearm(&mut self, old: Option<Timestamp>, new: Timestamp, t: Timer) {
        if let Some(old) = old {
            self.cancel(old, t);
        }
        self.arm(new, t);
    }

    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, Timer)> {
        match self.set.first() {
            Some(&(at, _)) if at <= now => self.set.pop_first(),
            _ => None,
        }
    }
}
