//! Keep alive: PINGREQ after a quiet keep-alive period, the server's keep alive in force,
//! and a connection deemed lost when nothing answers a PINGREQ.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use client_support::*;
use mqtt_core::client::{ClientOptions, CloseReason};
use mqtt_core::{Config, Timestamp};
use mqtt_proto::{Packet, QoS};

fn pings(packets: &[Packet]) -> usize {
    packets
        .iter()
        .filter(|p| matches!(p, Packet::PingReq))
        .count()
}

fn keep(id: &str, secs: u16) -> ClientOptions {
    ClientOptions {
        keep_alive: secs,
        ..opts(id, V5)
    }
}

#[test]
fn pingreq_after_a_quiet_keep_alive_period_mqtt_3_1_2_20() {
    let mut net = Net::with_defaults();
    let c = net.add(keep("pinger", 10));
    net.connect_ok(c);
    let _ = net.sent(c);
    let start = net.now;
    assert_eq!(
        net.client(c).poll_timeout(),
        Some(Timestamp(start.0 + 10_000))
    );
    net.advance(9_999);
    assert_eq!(pings(&net.sent(c)), 0);
    net.advance(1);
    assert_eq!(pings(&net.sent(c)), 1);
    assert!(net
        .received(c)
        .iter()
        .any(|p| matches!(p, Packet::PingResp)));
    // A minute on: a ping every 10 s, and both ends still see the connection alive.
    net.advance(60_000);
    assert_eq!(pings(&net.sent(c)), 6);
    assert!(close_reason(&net.events(c)).is_none());
    assert!(net.client(c).is_connected());
    assert_eq!(net.shard.connection_count(), 1);
}

#[test]
fn no_ping_while_other_packets_are_sent() {
    let mut net = Net::with_defaults();
    let c = net.add(keep("busy", 10));
    net.connect_ok(c);
    for _ in 0..6 {
        net.advance(5_000);
        net.publish(c, "t", b"x", QoS::AtMostOnce);
    }
    assert_eq!(pings(&net.sent(c)), 0);
}

#[test]
fn the_servers_keep_alive_is_used_mqtt_3_2_2_21() {
    let mut net = Net::new(Config {
        max_keep_alive: Some(5),
        ..Config::default()
    });
    let c = net.add(keep("told", 60));
    net.connect_ok(c);
    let _ = net.sent(c);
    net.advance(5_000);
    assert_eq!(pings(&net.sent(c)), 1);
}

#[test]
fn keep_alive_timeout_without_pingresp() {
    let mut net = Net::with_defaults();
    let c = net.add(keep("deaf", 10));
    net.connect_ok(c);
    let _ = net.sent(c);
    net.peers[c].hold_down = true;
    net.advance(10_000);
    assert_eq!(pings(&net.sent(c)), 1);
    // Half the keep alive after the PINGREQ, with nothing received: the connection is lost.
    net.advance(4_999);
    assert!(close_reason(&net.events(c)).is_none());
    net.advance(1);
    assert_eq!(
        close_reason(&net.events(c)),
        Some(&CloseReason::KeepAliveTimeout)
    );
    assert!(!net.client(c).is_connected());
    assert!(net.peers[c].conn.is_none(), "the socket is closed");
    assert_eq!(net.shard.connection_count(), 0);
}

#[test]
fn ping_timeout_is_configurable() {
    let mut net = Net::with_defaults();
    let c = net.add(ClientOptions {
        ping_timeout_ms: Some(1_000),
        ..keep("quick", 10)
    });
    net.connect_ok(c);
    net.peers[c].hold_down = true;
    net.advance(11_000);
    assert_eq!(
        close_reason(&net.events(c)),
        Some(&CloseReason::KeepAliveTimeout)
    );
}

#[test]
fn keep_alive_zero_never_pings() {
    let mut net = Net::with_defaults();
    let c = net.add(keep("silent", 0));
    net.connect_ok(c);
    assert_eq!(net.client(c).poll_timeout(), None);
    net.advance(600_000);
    assert_eq!(pings(&net.sent(c)), 0);
    assert!(net.client(c).is_connected());
}
