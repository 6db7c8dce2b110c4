//! Shared harness of the end-to-end suite: brokers, unique names, and client wrappers.
//!
//! Every scenario runs on both runtimes, glommio and tokio ([`Runtime`]): the `scenario!`
//! macro sets the runtime of the test's thread, and [`shared_broker`] and [`start_broker`]
//! start brokers on it ([`shared_broker_on`] and [`start_broker_on`] take it explicitly).
//!
//! Each glommio executor locks memory (8 MiB per process here), so a test binary shares one
//! broker per shard count ([`shared_broker`]) and starts dedicated brokers
//! ([`start_broker`]) only for tests that need their own configuration or stop the broker.
//! Tests sharing a broker keep apart by unique client ids and topics ([`uid`], [`topic`]).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod pump;
pub mod raw;
pub mod v3;
pub mod v5;

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub use ringmq_config::{BrokerConfig, ListenerConfig};

/// The runtime a broker runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `runtime-glommio` (Linux, io_uring).
    Glommio,
    /// `runtime-tokio`.
    Tokio,
}

thread_local! {
    /// The runtime of the scenario running on this thread (set by `scenario!`).
    static RUNTIME: Cell<Runtime> = const { Cell::new(Runtime::Tokio) };
}

/// Sets the runtime that [`shared_broker`] and [`start_broker`] use on this thread.
pub fn set_runtime(rt: Runtime) {
    RUNTIME.with(|c| c.set(rt));
}

/// The runtime of the scenario running on this thread.
pub fn runtime() -> Runtime {
    RUNTIME.with(Cell::get)
}

/// A running broker on either runtime.
#[derive(Debug)]
pub enum BrokerHandle {
    #[cfg(target_os = "linux")]
    Glommio(runtime_glommio::BrokerHandle),
    Tokio(runtime_tokio::BrokerHandle),
}

impl BrokerHandle {
    /// The bound address of each listener.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.local_addrs(),
            Self::Tokio(h) => h.local_addrs(),
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.shard_count(),
            Self::Tokio(h) => h.shard_count(),
        }
    }

    /// Graceful shutdown (wills, DISCONNECT 0x8B, flush), joining the shard threads.
    pub fn shutdown(self) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.shutdown(),
            Self::Tokio(h) => h.shutdown(),
        }
    }

    /// Blocks until the broker stops (after a [`ShutdownTrigger`]).
    pub fn wait(self) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.wait(),
            Self::Tokio(h) => h.wait(),
        }
    }

    /// A handle that starts the graceful shutdown from any thread.
    pub fn shutdown_trigger(&self) -> std::io::Result<ShutdownTrigger> {
        Ok(match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => ShutdownTrigger::Glommio(h.shutdown_trigger()?),
            Self::Tokio(h) => ShutdownTrigger::Tokio(h.shutdown_trigger()?),
        })
    }

    /// The runtime's connection counters (one type on both runtimes).
    pub fn counters(&self) -> Counters {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.counters(),
            Self::Tokio(h) => h.counters(),
        }
    }
}

/// [`BrokerHandle::shutdown_trigger`] on either runtime.
#[derive(Debug)]
pub enum ShutdownTrigger {
    #[cfg(target_os = "linux")]
    Glommio(runtime_glommio::ShutdownTrigger),
    Tokio(runtime_tokio::ShutdownTrigger),
}

impl ShutdownTrigger {
    /// Starts the graceful shutdown; does not wait.
    pub fn trigger(&self) {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(t) => t.trigger(),
            Self::Tokio(t) => t.trigger(),
        }
    }
}

/// Connection counters of either runtime.
pub use runtime_tokio::Counters;

/// Starts a broker on the thread's runtime ([`runtime`]) and returns its start-up error as is.
pub fn try_start_broker(cfg: BrokerConfig) -> std::io::Result<BrokerHandle> {
    match runtime() {
        #[cfg(target_os = "linux")]
        Runtime::Glommio => runtime_glommio::Broker::start(cfg).map(BrokerHandle::Glommio),
        #[cfg(not(target_os = "linux"))]
        Runtime::Glommio => panic!("glommio runs on Linux only"),
        Runtime::Tokio => runtime_tokio::Broker::start(cfg).map(BrokerHandle::Tokio),
    }
}

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(400);

/// Runs one scenario four times: on glommio and on tokio, each with a 1-shard and a 2-shard
/// broker. Expands `scenario!(async fn name(shards) { .. })` to a module `name` with the tests
/// `glommio_one_shard`, `glommio_two_shards` (Linux only), `tokio_one_shard` and
/// `tokio_two_shards`, each on a fresh current-thread tokio runtime, with the thread's
/// [`Runtime`] set. (Declare `#[macro_use] mod common;`.)
macro_rules! scenario {
    ($(#[$meta:meta])* async fn $name:ident($shards:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($shards: usize) $body

            #[cfg(target_os = "linux")]
            #[tokio::test]
            async fn glommio_one_shard() {
                crate::common::set_runtime(crate::common::Runtime::Glommio);
                run(1).await;
            }

            #[cfg(target_os = "linux")]
            #[tokio::test]
            async fn glommio_two_shards() {
                crate::common::set_runtime(crate::common::Runtime::Glommio);
                run(2).await;
            }

            #[tokio::test]
            async fn tokio_one_shard() {
                crate::common::set_runtime(crate::common::Runtime::Tokio);
                run(1).await;
            }

            #[tokio::test]
            async fn tokio_two_shards() {
                crate::common::set_runtime(crate::common::Runtime::Tokio);
                run(2).await;
            }
        }
    };
}

/// The configuration every test broker starts from: one loopback listener on a free port,
/// `$SYS` every second, and a short shutdown flush.
pub fn config(shards: usize) -> BrokerConfig {
    let mut cfg = BrokerConfig {
        listeners: vec![ListenerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }],
        shards,
        ..BrokerConfig::default()
    };
    cfg.core.sys_interval = 1;
    cfg.runtime.shutdown_timeout_ms = 2_000;
    cfg
}

/// Starts a dedicated broker on the scenario's runtime; the caller shuts it down.
pub fn start_broker(cfg: BrokerConfig) -> (BrokerHandle, SocketAddr) {
    start_broker_on(runtime(), cfg)
}

/// Starts a dedicated broker on `rt`; the caller shuts it down.
pub fn start_broker_on(rt: Runtime, cfg: BrokerConfig) -> (BrokerHandle, SocketAddr) {
    let shards = cfg.shards;
    let started = match rt {
        #[cfg(target_os = "linux")]
        Runtime::Glommio => runtime_glommio::Broker::start(cfg).map(BrokerHandle::Glommio),
        #[cfg(not(target_os = "linux"))]
        Runtime::Glommio => panic!("glommio runs on Linux only"),
        Runtime::Tokio => runtime_tokio::Broker::start(cfg).map(BrokerHandle::Tokio),
    };
    let handle = match started {
        Ok(h) => h,
        Err(e) => panic!("{rt:?} Broker::start with {shards} shard(s) failed: {e}"),
    };
    let addr = *handle
        .local_addrs()
        .first()
        .expect("the broker reports its listener address");
    assert_ne!(
        addr.port(),
        0,
        "local_addrs() reports the bound port, not 0"
    );
    (handle, addr)
}

/// The broker on the scenario's runtime with `shards` shards (1 or 2) shared by every test
/// of this binary; it runs until the process exits.
pub fn shared_broker(shards: usize) -> SocketAddr {
    shared_broker_on(runtime(), shards)
}

/// The broker on `rt` with `shards` shards (1 or 2) shared by every test of this binary; it
/// runs until the process exits.
pub fn shared_broker_on(rt: Runtime, shards: usize) -> SocketAddr {
    static BROKERS: [[OnceLock<SocketAddr>; 2]; 2] = [
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
    ];
    let cell = BROKERS
        .get(rt as usize)
        .and_then(|b| b.get(shards - 1))
        .expect("shared brokers exist for 1 and 2 shards");
    *cell.get_or_init(|| {
        let (handle, addr) = start_broker_on(rt, config(shards));
        // Never shut down: the broker lives as long as the test process.
        std::mem::forget(handle);
        addr
    })
}

/// A name unique in this process and among concurrent test processes.
pub fn uid(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id())
}

/// A unique topic under `e2e/`.
pub fn topic(tag: &str) -> String {
    format!("e2e/{}", uid(tag))
}

/// The home shard of a client id on a broker with `shards` shards.
pub fn home_shard(client_id: &str, shards: usize) -> usize {
    let n = u16::try_from(shards).expect("few shards");
    usize::from(mqtt_core::shard_for(client_id, n).0)
}

/// A unique client id whose session lives on shard `shard % shards`.
pub fn id_on_shard(tag: &str, shards: usize, shard: usize) -> String {
    loop {
        let id = uid(tag);
        if home_shard(&id, shards) == shard % shards {
            return id;
        }
    }
}

/// `count` unique client ids whose home shards take turns over every shard.
pub fn ids_spread(tag: &str, shards: usize, count: usize) -> Vec<String> {
    (0..count).map(|i| id_on_shard(tag, shards, i)).collect()
}

/// The directory `shared/` beside the repository (test data and rules), or a clear failure.
pub fn shared_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        dir.join("data").is_dir(),
        "test data missing: expected {} (the `shared` directory beside the repository)",
        dir.join("data").display()
    );
    dir
}
