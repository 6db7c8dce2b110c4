//! Measures what the runtime costs: locked (pinned) memory per executor, and resident memory
//! and live heap per idle MQTT 5 connection.
//!
//! `cargo run --release -p runtime-glommio --example idle_rss -- [connections] [shards]
//! [io_memory KiB] [park_idle_ms]` (defaults 2000, 1, 64 and the configuration's default).
//! The clients live in this process too, but a blocking std socket costs no user memory
//! beyond its descriptor; kernel socket buffers are not in RSS. Live heap is counted by a
//! global allocator (bytes allocated and not freed, every thread): unlike RSS it drops when
//! idle connections park and free their task and glommio socket, since RSS keeps the
//! allocator's high-water mark.
// The counting allocator needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use mqtt_proto::{ByteString, BytesMut, Connect, ConnectProperties, Packet, ProtocolVersion};
use runtime_glommio::{Broker, BrokerConfig};

/// Live heap bytes and allocations of the process.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_ALLOCS: AtomicI64 = AtomicI64::new(0);

struct Counting;

fn note(size: usize, sign: i64) {
    let bytes = sign * i64::try_from(size).unwrap_or(i64::MAX);
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
    LIVE_ALLOCS.fetch_add(sign, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the same arguments; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 1);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 1);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(layout.size(), -1);
        note(new_size, 1);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(layout.size(), -1);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live heap bytes and allocations now.
fn heap() -> (i64, i64) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_ALLOCS.load(Ordering::Relaxed),
    )
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn report(label: &str) -> u64 {
    let rss = status_kib("VmRSS:");
    println!(
        "{label:<28} VmRSS {rss:>8} KiB  VmPin {:>6} KiB  VmLck {:>6} KiB",
        status_kib("VmPin:"),
        status_kib("VmLck:")
    );
    rss
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(2000, |a| a.parse().unwrap());
    let shards: usize = args.next().map_or(1, |a| a.parse().unwrap());
    let io_memory_kib: usize = args.next().map_or(64, |a| a.parse().unwrap());
    let park_idle_ms: Option<u64> = args.next().map(|a| a.parse().unwrap());

    report("before start");
    let mut config = BrokerConfig::default();
    let mut listener = config.listeners[0].clone();
    listener.addr = "127.0.0.1:0".parse().unwrap();
    config.listeners = vec![listener];
    config.shards = shards;
    config.runtime.io_memory = io_memory_kib * 1024;
    if let Some(ms) = park_idle_ms {
        config.runtime.park_idle_ms = ms;
    }
    // Long enough for every idle connection to park (between 1x and 1.5x the idle time).
    let settle = Duration::from_millis(500 + config.runtime.park_idle_ms * 2);
    println!("park_idle_ms {}", config.runtime.park_idle_ms);
    let broker = Broker::start(config).unwrap();
    let addr = broker.local_addrs()[0];
    std::thread::sleep(Duration::from_millis(200));
    let base = report(&format!("started ({shards} shard(s))"));

    // Warm up allocator arenas and tables with a first batch, then measure the rest.
    let warm = n / 10;
    let mut clients = Vec::with_capacity(n);
    let connect_one = |i: usize| {
        let mut s = TcpStream::connect(addr).unwrap();
        let c = Connect {
            protocol_version: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: ByteString::from(format!("idle-{i:06}")),
            will: None,
            username: None,
            password: None,
        };
        let mut buf = BytesMut::new();
        Packet::from(c)
            .encode(ProtocolVersion::V5, &mut buf)
            .unwrap();
        s.write_all(&buf).unwrap();
        let mut ack = [0u8; 64];
        let got = s.read(&mut ack).unwrap();
        assert!(got >= 4 && ack[0] == 0x20, "CONNACK expected");
        s
    };
    for i in 0..warm {
        clients.push(connect_one(i));
    }
    std::thread::sleep(settle);
    let warmed = report(&format!("{warm} idle connections"));
    let (warm_bytes, warm_allocs) = heap();
    for i in warm..n {
        clients.push(connect_one(i));
    }
    std::thread::sleep(settle);
    let full = report(&format!("{n} idle connections"));
    let (full_bytes, full_allocs) = heap();
    let per = (full.saturating_sub(warmed)) as f64 * 1024.0 / (n - warm) as f64;
    let all = (full.saturating_sub(base)) as f64 * 1024.0 / n as f64;
    println!("RSS per idle v5 connection: {per:.0} bytes (marginal), {all:.0} bytes (average)");
    let added = (n - warm) as f64;
    println!(
        "live heap per idle v5 connection: {:.0} bytes in {:.2} allocations (marginal)",
        (full_bytes - warm_bytes) as f64 / added,
        (full_allocs - warm_allocs) as f64 / added
    );
    println!("counters: {:?}", broker.counters());
    drop(clients);
    broker.shutdown().unwrap();
}
