//! The runtimes' own tests, one copy run on both: listeners, connect, pub/sub, handover,
//! backpressure, timers, shutdown, parking (Linux). Each `on_both!` test runs on
//! glommio (Linux) and on tokio; `tests/runtime_fd_release.rs` counts descriptors alone in its
//! process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

/// Runs a test on each runtime: `on_both! { fn name() { .. } }` expands to a module `name`
/// with the tests `glommio` (Linux only) and `tokio`, each with its thread's runtime set
/// (`crate::common::set_runtime`), which `blocking::Broker::start` and `blocking::start` use.
macro_rules! on_both {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run() $body

            #[cfg(target_os = "linux")]
            #[test]
            fn glommio() {
                crate::common::set_runtime(crate::common::Runtime::Glommio);
                run();
            }

            #[test]
            fn tokio() {
                crate::common::set_runtime(crate::common::Runtime::Tokio);
                run();
            }
        }
    };
}

#[path = "../common/mod.rs"]
mod common;

mod blocking;

mod backpressure;
mod connect;
mod handover;
mod listeners;
#[cfg(target_os = "linux")]
mod parking;
mod pubsub;
mod shutdown;
mod timers;
