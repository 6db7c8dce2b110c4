//! Shared harness of the end-to-end suite: brokers, unique names, and client wrappers.
//!
//! Each glommio executor locks memory (8 MiB per process here), so a test binary shares one
//! broker per shard count ([`shared_broker`]) and starts dedicated brokers
//! ([`start_broker`]) only for tests that need their own configuration or stop the broker.
//! Tests sharing a broker keep apart by unique client ids and topics ([`uid`], [`topic`]).
#![allow(dead_code, unused_imports)]

pub mod pump;
pub mod raw;
pub mod v3;
pub mod v5;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub use ringmq_config::{BrokerConfig, ListenerConfig};
pub use runtime_glommio::{Broker, BrokerHandle};

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(400);

/// Runs one scenario twice, with a 1-shard and a 2-shard broker: expands
/// `scenario!(async fn name(shards) { .. })` to a module `name` with the tests `one_shard` and
/// `two_shards`, each on a fresh current-thread tokio runtime. (Declare `#[macro_use] mod
/// common;`.)
macro_rules! scenario {
    ($(#[$meta:meta])* async fn $name:ident($shards:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($shards: usize) $body

            #[tokio::test]
            async fn one_shard() {
                run(1).await;
            }

            #[tokio::test]
            async fn two_shards() {
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

/// Starts a dedicated broker; the caller shuts it down.
pub fn start_broker(cfg: BrokerConfig) -> (BrokerHandle, SocketAddr) {
    let shards = cfg.shards;
    let handle = match Broker::start(cfg) {
        Ok(h) => h,
        Err(e) => panic!("Broker::start with {shards} shard(s) failed: {e}"),
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

/// The broker with `shards` shards (1 or 2) shared by every test of this binary; it runs
/// until the process exits.
pub fn shared_broker(shards: usize) -> SocketAddr {
    static BROKERS: [OnceLock<SocketAddr>; 2] = [OnceLock::new(), OnceLock::new()];
    let cell = BROKERS
        .get(shards - 1)
        .expect("shared brokers exist for 1 and 2 shards");
    *cell.get_or_init(|| {
        let (handle, addr) = start_broker(config(shards));
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
