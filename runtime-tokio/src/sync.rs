//! Timers of one shard on tokio (the wake-ups between its tasks are `ringmq_runtime::sync`'s).

use core::future::Future;
use std::time::Instant;

/// Sleeps until `deadline` (returns at once if it has passed).
pub(crate) async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
}

/// Runs `fut` until it completes or `deadline` passes; `None` on timeout.
pub(crate) async fn until<T>(deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), fut)
        .await
        .ok()
}
