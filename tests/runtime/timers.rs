//! The shard's timers fire on the runtime's clock: connect timeout and keep alive.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use crate::blocking::*;
use mqtt_proto::Packet;

on_both! {
fn a_connection_that_sends_no_connect_is_closed_after_the_connect_timeout() {
    let mut config = config(2);
    config.core.connect_timeout_ms = 300;
    let broker = Broker::start(config).unwrap();
    let started = Instant::now();
    let mut c = Client::open(addr(&broker), V5);
    c.expect_closed(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "closed too late: {took:?}");
    broker.shutdown().unwrap();
}
}

on_both! {
fn a_silent_client_is_disconnected_after_one_and_a_half_keep_alives_mqtt_3_1_2_24() {
    let broker = start(2);
    let mut connect = connect_packet("keepalive-1", V5);
    connect.keep_alive = 1;
    let (mut c, ack) = Client::connect_with(addr(&broker), connect);
    assert_eq!(ack.reason_code.as_u8(), 0);
    let started = Instant::now();
    // DISCONNECT 0x8D Keep Alive timeout, then the connection is closed.
    match c.recv() {
        Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8D),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1400), "too early: {took:?}");
    assert!(took < Duration::from_secs(4), "too late: {took:?}");
    c.expect_closed(Duration::from_secs(5));
    broker.shutdown().unwrap();
}
}
