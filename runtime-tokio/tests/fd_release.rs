//! Shutdown releases every descriptor the broker opened: listeners, connections, handed-over
//! sockets, and each shard runtime's epoll and eventfd descriptors.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use mqtt_proto::QoS;

/// Open sockets, epoll instances and eventfds of this process.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:") || l.contains("eventpoll") || l.contains("eventfd"))
        .collect();
    fds.sort();
    fds
}

#[test]
fn shutdown_closes_every_socket_and_descriptor() {
    // Alone in its test binary, so no other test opens descriptors meanwhile.
    let before = open_fds();
    // A broker nobody connected to.
    let idle = start(1);
    let a = addr(&idle);
    idle.shutdown().unwrap();
    assert!(std::net::TcpStream::connect(a).is_err(), "listener closed");
    for shards in [1, 2] {
        let broker = start(shards);
        let a = addr(&broker);
        let mut clients: Vec<Client> = (0..10)
            .map(|i| Client::connect(a, &format!("fd-{shards}-{i}"), V5))
            .collect();
        clients[0].subscribe("fd/t", QoS::AtLeastOnce);
        // Some connections end before the shutdown, the others with it.
        for c in clients.drain(5..) {
            c.drop_abruptly();
        }
        std::thread::sleep(Duration::from_millis(100));
        broker.shutdown().unwrap();
        assert!(std::net::TcpStream::connect(a).is_err(), "listener closed");
        drop(clients);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(open_fds(), before, "descriptors left open after shutdown");
}
