//! Hostile byte streams (`shared/data`: NanoMQ's fuzzer finds and vulnerability inputs), each
//! sent whole on a fresh TCP connection, read until the broker closes or 1 s passes. After
//! them a normal client still connects, publishes and receives, and the process RSS (the
//! broker runs in this process) is back near its baseline. Alone in its own binary so that
//! nothing else moves the RSS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::raw::{self, Raw, Read};
use common::{config, shared_dir, start_broker, topic, uid, v3, v5};

/// Allowed RSS growth over the warmed-up baseline.
const RSS_MARGIN: u64 = 8 * 1024 * 1024;
/// Connections in flight at once.
const CONCURRENCY: usize = 128;

static ONE_BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn page_size() -> u64 {
    std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Resident set size of this process, in bytes (`/proc/self/statm`, second field).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * page_size()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn unhex(line: &str) -> Vec<u8> {
    let line = line.trim();
    assert!(line.len().is_multiple_of(2), "odd hex line: {line}");
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Every stream: each hex line, then each `.raw` file, named for failure messages.
fn streams() -> Vec<(String, Vec<u8>)> {
    let data = shared_dir().join("data");
    let hex = std::fs::read_to_string(data.join("nanomq-fuzzy-packets.hex"))
        .expect("shared/data/nanomq-fuzzy-packets.hex");
    let mut out: Vec<(String, Vec<u8>)> = hex
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (format!("hex line {}", i + 1), unhex(l)))
        .collect();
    assert!(
        out.len() >= 499,
        "expected 499 hex streams, found {}",
        out.len()
    );
    let mut raws: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "raw"))
        .collect();
    raws.sort();
    assert!(
        raws.len() >= 8,
        "expected 8 .raw files in {}",
        data.display()
    );
    for p in raws {
        out.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(&p).unwrap(),
        ));
    }
    out
}

/// Sends one stream on a fresh connection; whether the broker closed within 1 s.
async fn send_stream(addr: SocketAddr, bytes: Vec<u8>) -> bool {
    let mut c = Raw::connect(addr).await;
    let _ = c.send(&bytes).await;
    c.drain(Duration::from_secs(1)).await
}

/// Whether a fresh client still gets CONNACK 0x00 and PINGRESP, within 2 s each.
async fn alive(addr: SocketAddr) -> bool {
    let Ok(Ok(c)) =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await
    else {
        return false;
    };
    let _ = c.set_nodelay(true);
    let mut raw = Raw::from_stream(c);
    if raw
        .send(&raw::connect_v5(&uid("alive"), 30, &[], None))
        .await
        .is_err()
    {
        return false;
    }
    let ok = matches!(raw.read(Duration::from_secs(2)).await, Read::Packet(p) if p.kind() == raw::CONNACK && p.reason_code() == 0);
    ok && raw.send(&[0xC0, 0]).await.is_ok()
        && matches!(raw.read(Duration::from_secs(2)).await, Read::Packet(p) if p.header == 0xD0)
}

/// Normal traffic: v3.1.1 and v5 clients subscribe, publish and receive.
async fn normal_traffic(addr: SocketAddr, rounds: usize) {
    for _ in 0..rounds {
        let t = topic("hostile-ok");
        let mut sub = v5::connect(addr, &uid("hostile-sub")).await;
        sub.subscribe_ok(&t, v5::QoS::AtLeastOnce).await;
        let mut publ = v3::connect(addr, &uid("hostile-pub")).await;
        for i in 0..20 {
            publ.publish(&t, v3::QoS::AtLeastOnce, false, &format!("m{i}"))
                .await;
        }
        for i in 0..20 {
            assert_eq!(v5::text(&sub.next_publish().await), format!("m{i}"));
        }
        sub.disconnect().await;
        publ.disconnect().await;
    }
}

scenario! {
    /// `bad-inputs.md`: the broker survives every stream, keeps serving, and its memory
    /// returns to the baseline.
    async fn broker_survives_every_stream_and_memory_returns(shards) {
        let _one = ONE_BROKER.lock().await;
        let all = streams();
        let (handle, addr) = start_broker(config(shards));
        normal_traffic(addr, 5).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let baseline = rss();

        let started = Instant::now();
        let mut closed = 0usize;
        for chunk in all.chunks(CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for (_, bytes) in chunk {
                set.spawn(send_stream(addr, bytes.clone()));
            }
            while let Some(r) = set.join_next().await {
                closed += usize::from(r.expect("stream task"));
            }
            let names: Vec<&str> = chunk.iter().map(|(n, _)| n.as_str()).collect();
            assert!(alive(addr).await, "the broker stopped answering after one of {names:?}");
        }
        let took = started.elapsed();

        // The broker still serves normal clients after every stream.
        normal_traffic(addr, 2).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss();
        println!(
            "{shards} shard(s): {} streams in {took:?}, {closed} closed by the broker within 1 s; \
             RSS baseline {:.1} MiB, after {:.1} MiB (growth {:+.1} MiB, margin {:.0} MiB)",
            all.len(),
            mib(baseline),
            mib(after),
            mib(after) - mib(baseline),
            mib(RSS_MARGIN),
        );
        assert!(
            after <= baseline + RSS_MARGIN,
            "RSS grew from {:.1} MiB to {:.1} MiB",
            mib(baseline),
            mib(after)
        );
        tokio::task::spawn_blocking(move || handle.shutdown()).await.unwrap().unwrap();
    }
}
