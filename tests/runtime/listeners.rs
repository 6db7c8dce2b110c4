//! Listeners: port 0 resolves to one port that every shard binds with SO_REUSEPORT (Linux),
//! bind errors, and locked memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;

use crate::blocking::*;
use mqtt_core::shard_for;

on_both! {
/// Linux only: elsewhere tokio's shard 0 alone binds and accepts.
#[cfg(target_os = "linux")]
fn port_zero_resolves_to_one_port_shared_by_every_shard() {
    let mut config = config(2);
    let second = config.listeners[0].clone();
    config.listeners.push(second);
    let broker = Broker::start(config).unwrap();
    let addrs = broker.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert!(addrs.iter().all(|a| a.port() != 0 && a.ip().is_loopback()));
    assert_ne!(addrs[0].port(), addrs[1].port());
    // A v5 client with an empty identifier is assigned one whose home is the shard that
    // accepted it: over many connections to each address, both shards show up, so both
    // accept on the same port.
    for a in addrs {
        let mut shards = HashSet::new();
        for _ in 0..64 {
            let (_c, ack) = Client::connect_with(a, connect_packet("", V5));
            let id = ack
                .properties
                .assigned_client_identifier
                .expect("an assigned id");
            shards.insert(shard_for(&id, 2));
            if shards.len() == 2 {
                break;
            }
        }
        assert_eq!(shards.len(), 2, "both shards accept on {a}");
    }
    broker.shutdown().unwrap();
}
}

on_both! {
fn a_port_in_use_is_an_error_not_a_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = config(2);
    config.listeners[0].addr = taken.local_addr().unwrap();
    let err = Broker::start(config).unwrap_err();
    assert!(err.to_string().contains("cannot bind"), "{err}");
}
}

on_both! {
fn a_second_broker_on_the_same_port_is_refused_not_sharing_it() {
    // SO_REUSEPORT alone would let both bind and split the connections between them.
    let first = Broker::start(config(1)).unwrap();
    let addr = first.local_addrs()[0];
    let mut second = config(2);
    second.listeners[0].addr = addr;
    let err = Broker::start(second).unwrap_err();
    assert!(err.to_string().contains("cannot bind"), "{err}");
    first.shutdown().unwrap();
    // Once the first has gone, the port can be bound again at once.
    let mut again = config(1);
    again.listeners[0].addr = addr;
    let third = Broker::start(again).unwrap();
    assert_eq!(third.local_addrs()[0], addr);
    third.shutdown().unwrap();
}
}

/// Run by the locked-memory tests in a child process with a small RLIMIT_MEMLOCK, on the
/// runtime named by `RINGMQ_MEMLOCK_CHILD`; does nothing otherwise. It prints `STARTED` or
/// `START-ERROR: <the error>`.
#[test]
fn memlock_child() {
    let runtime = match std::env::var("RINGMQ_MEMLOCK_CHILD").as_deref() {
        Ok("glommio") => crate::common::Runtime::Glommio,
        Ok("tokio") => crate::common::Runtime::Tokio,
        _ => return,
    };
    crate::common::set_runtime(runtime);
    match Broker::start(config(2)) {
        Ok(broker) => {
            broker.shutdown().unwrap();
            println!("STARTED");
        }
        Err(err) => println!("START-ERROR: {err}"),
    }
}

/// Runs [`memlock_child`] on `runtime` with `ulimit -l <kib>`; its line of output.
fn start_with_memlock(runtime: &str, kib: u32) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -l {kib} && exec \"$0\" --exact listeners::memlock_child --nocapture \
             --test-threads=1"
        ))
        .arg(exe)
        .env("RINGMQ_MEMLOCK_CHILD", runtime)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("STARTED") || l.contains("START-ERROR"))
        .unwrap_or_else(|| panic!("no result from the child: {stdout}"));
    // The harness may print "test listeners::memlock_child ... " on the same line.
    let at = line.find("START").unwrap();
    line[at..].to_owned()
}

/// glommio pins its io_uring memory: below what it needs, start-up fails with an error
/// naming locked memory (not a panic).
#[cfg(target_os = "linux")]
#[test]
fn glommio_reports_missing_locked_memory_as_an_error() {
    let line = start_with_memlock("glommio", 256);
    assert!(
        line.contains("START-ERROR") && line.contains("locked memory"),
        "{line}"
    );
}

/// tokio pins no memory: the broker starts with `ulimit -l 0`.
#[cfg(target_os = "linux")]
#[test]
fn tokio_starts_without_locked_memory() {
    assert_eq!(start_with_memlock("tokio", 0), "STARTED");
}

on_both! {
fn the_handle_can_move_to_another_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let broker = start(1);
    assert_send(&broker);
    let a = addr(&broker);
    std::thread::spawn(move || broker.shutdown().unwrap())
        .join()
        .unwrap();
    assert!(std::net::TcpStream::connect(a).is_err());
}
}
