//! Timers of one shard on glommio (the wake-ups between its tasks are `ringmq_runtime::sync`'s).

use core::future::Future;
use std::time::Instant;

/// Sleeps until `deadline` (returns at once if it has passed).
pub(crate) async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        glommio::timer::sleep(deadline - now).await;
    }
}

/// Runs `fut` until it completes or `deadline` passes; `None` on timeout.
pub(crate) async fn until<T>(deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        sleep_until(deadline).await;
        None
    })
    .await
}
