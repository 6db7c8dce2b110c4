//! Measures what the runtime costs: locked (pinned) memory per executor, and resident memory
//! per idle MQTT 5 connection.
//!
//! `cargo run --release -p runtime-glommio --example idle_rss -- [connections] [shards]
//! [io_memory KiB]` (defaults 2000, 1 and 64). The clients live in this process too, but a blocking std socket
//! costs no user memory beyond its descriptor; kernel socket buffers are not in RSS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mqtt_proto::{ByteString, BytesMut, Connect, ConnectProperties, Packet, ProtocolVersion};
use runtime_glommio::{Broker, BrokerConfig};

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

    report("before start");
    let mut config = BrokerConfig::default();
    let mut listener = config.listeners[0].clone();
    listener.addr = "127.0.0.1:0".parse().unwrap();
    config.listeners = vec![listener];
    config.shards = shards;
    config.runtime.io_memory = io_memory_kib * 1024;
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
    std::thread::sleep(Duration::from_millis(300));
    let warmed = report(&format!("{warm} idle connections"));
    for i in warm..n {
        clients.push(connect_one(i));
    }
    std::thread::sleep(Duration::from_millis(500));
    let full = report(&format!("{n} idle connections"));
    let per = (full.saturating_sub(warmed)) as f64 * 1024.0 / (n - warm) as f64;
    let all = (full.saturating_sub(base)) as f64 * 1024.0 / n as f64;
    println!("per idle v5 connection: {per:.0} bytes (marginal), {all:.0} bytes (average)");
    println!("counters: {:?}", broker.counters());
    drop(clients);
    broker.shutdown().unwrap();
}
