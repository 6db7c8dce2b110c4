//! Shutdown releases every descriptor the broker opened, on both runtimes: listeners,
//! connections (parked ones too), handed-over sockets, and the runtime's own
//! epoll sets, io_uring instances and eventfds. Alone in its test binary (one test), so that
//! no other test opens descriptors meanwhile.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "runtime/blocking.rs"]
mod blocking;
mod common;

use std::time::{Duration, Instant};

use blocking::*;
use common::{set_runtime, Runtime};
use mqtt_proto::QoS;

/// Open sockets, io_uring instances, epoll sets and (on tokio) eventfds of this process.
/// glommio keeps one eventfd per executor it ever started, so on glommio eventfds are not
/// counted.
fn open_fds(rt: Runtime) -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| {
            l.starts_with("socket:")
                || l.contains("io_uring")
                || l.contains("eventpoll")
                || (rt == Runtime::Tokio && l.contains("eventfd"))
        })
        .collect();
    fds.sort();
    fds
}

/// Polls `cond` until it holds (every 5 ms, at most 10 s); panics naming `what` if it
/// never does.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn closes_every_descriptor(rt: Runtime) {
    set_runtime(rt);
    let before = open_fds(rt);
    // A broker nobody connected to.
    let idle = start(1);
    let a = addr(&idle);
    idle.shutdown().unwrap();
    assert!(std::net::TcpStream::connect(a).is_err(), "listener closed");
    for shards in [1, 2] {
        let mut config = config(shards);
        config.runtime.park_idle_ms = 50;
        let broker = Broker::start(config).unwrap();
        let a = addr(&broker);
        let mut clients: Vec<Client> = (0..10)
            .map(|i| Client::connect(a, &format!("fd-{rt:?}-{shards}-{i}"), V5))
            .collect();
        clients[0].subscribe("fd/t", QoS::AtLeastOnce);
        // Every connection parks; then some end while parked, the others with the shutdown.
        wait_for("10 parked connections", || broker.counters().parked == 10);
        let open = open_fds(rt).len();
        for c in clients.drain(5..) {
            c.drop_abruptly();
        }
        // Both ends of each dropped connection are in this process: the broker has closed
        // its five when ten sockets are gone.
        wait_for("the broker to close the dropped connections", || {
            open_fds(rt).len() + 10 == open
        });
        broker.shutdown().unwrap();
        assert!(std::net::TcpStream::connect(a).is_err(), "listener closed");
        drop(clients);
    }
    // The shards are joined, so this should hold at once; the short poll only spares a
    // slow machine. A descriptor left open still fails it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(rt) != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        open_fds(rt),
        before,
        "{rt:?}: descriptors left open after shutdown"
    );
}

#[test]
fn shutdown_closes_every_socket_and_descriptor_on_both_runtimes() {
    closes_every_descriptor(Runtime::Glommio);
    closes_every_descriptor(Runtime::Tokio);
}
