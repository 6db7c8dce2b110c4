//! Counters per session and for the whole manager.

use super::*;

/// Counters of a session, or of the whole manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages published through [`SessionManager::publish_to`].
    pub messages_out: u64,
    /// Payload bytes published through [`SessionManager::publish_to`].
    pub bytes_out: u64,
    /// Failed connections and connection losses, refused publishes and subscriptions.
    pub errors: u64,
    /// Reconnect attempts.
    pub reconnects: u64,
    /// Last message in or out.
    pub last_activity: Option<Instant>,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) messages_in: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) messages_out: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) reconnects: AtomicU64,
    /// Milliseconds since the manager started, plus one (0: never).
    pub(super) last_activity_ms: AtomicU64,
}

impl Counters {
    pub(super) fn touch(&self, now_ms: u64) {
        self.last_activity_ms
            .store(now_ms.saturating_add(1), Ordering::Relaxed);
    }

    pub(super) fn received(&self, bytes: u64, now_ms: u64) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.touch(now_ms);
    }

    pub(super) fn sent(&self, bytes: u64, now_ms: u64) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.touch(now_ms);
    }

    pub(super) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self, start: Instant) -> Metrics {
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        Metrics {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            last_activity: (last > 0)
                .then(|| start + Duration::from_millis(last.saturating_sub(1))),
        }
    }
}
