//! Graceful shutdown: wills first (on every shard), then DISCONNECT 0x8B to v5 clients, all
//! within the shutdown bound.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use crate::blocking::*;
use mqtt_core::{shard_for, ShardId};
use mqtt_proto::{Packet, QoS};

/// A client identifier whose home is `shard` of `count`.
fn id_on(shard: u16, count: u16, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|id| shard_for(id, count) == ShardId(shard))
        .unwrap()
}

fn expect_server_shutting_down(c: &mut Client) {
    match c.recv() {
        Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8B),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    c.expect_closed(Duration::from_secs(5));
}

fn disconnects_within_bound(shards: u16) {
    let config = config(usize::from(shards));
    let bound = Duration::from_millis(config.runtime.shutdown_timeout_ms);
    let broker = Broker::start(config).unwrap();
    let a = addr(&broker);
    let mut v5: Vec<Client> = (0..4)
        .map(|i| Client::connect(a, &format!("v5-{i}"), V5))
        .collect();
    let mut v3: Vec<Client> = (0..2)
        .map(|i| Client::connect(a, &format!("v3-{i}"), V311))
        .collect();
    let started = Instant::now();
    broker.shutdown().unwrap();
    let took = started.elapsed();
    assert!(took < bound, "shutdown took {took:?}, bound {bound:?}");
    for c in &mut v5 {
        expect_server_shutting_down(c);
    }
    // MQTT 3.1.1 has no server DISCONNECT: the connection is just closed.
    for c in &mut v3 {
        c.expect_closed(Duration::from_secs(5));
    }
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(a).is_err());
}

on_both! {
fn shutdown_sends_v5_disconnect_0x8b_within_the_bound_on_one_shard() {
    disconnects_within_bound(1);
}
}

on_both! {
fn shutdown_sends_v5_disconnect_0x8b_within_the_bound_on_two_shards() {
    disconnects_within_bound(2);
}
}

on_both! {
fn shutdown_delivers_wills_on_every_shard_before_disconnecting_mqtt_3_1_2_8() {
    let broker = start(2);
    let a = addr(&broker);
    // A subscriber on each shard; wills of clients homed on each shard.
    let mut subs: Vec<Client> = (0..2)
        .map(|s| {
            let mut c = Client::connect(a, &id_on(s, 2, "will-sub"), V5);
            c.subscribe("will/#", QoS::AtLeastOnce);
            c
        })
        .collect();
    let mut owners = Vec::new();
    for s in 0..2u16 {
        for k in 0..2 {
            let id = id_on(s, 2, &format!("will-owner-{k}"));
            let mut c = connect_packet(&id, V5);
            c.will = Some(will(&format!("will/{id}"), b"gone"));
            let (client, ack) = Client::connect_with(a, c);
            assert_eq!(ack.reason_code.as_u8(), 0);
            owners.push((id, client));
        }
    }
    broker.shutdown().unwrap();
    for sub in &mut subs {
        let mut topics = Vec::new();
        loop {
            match sub.recv() {
                Packet::Publish(p) => topics.push(p.topic.to_string()),
                Packet::Disconnect(d) => {
                    assert_eq!(d.reason_code.as_u8(), 0x8B);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        topics.sort();
        let mut expected: Vec<String> = owners.iter().map(|(id, _)| format!("will/{id}")).collect();
        expected.sort();
        assert_eq!(topics, expected, "every will, before DISCONNECT");
    }
}
}

on_both! {
fn dropping_the_handle_shuts_the_broker_down() {
    let broker = start(2);
    let a = addr(&broker);
    let mut c = Client::connect(a, "dropped-handle", V5);
    drop(broker);
    expect_server_shutting_down(&mut c);
    assert!(std::net::TcpStream::connect(a).is_err());
}
}

on_both! {
fn a_trigger_from_another_thread_ends_wait() {
    let broker = start(2);
    let a = addr(&broker);
    let mut c = Client::connect(a, "triggered", V5);
    let trigger = broker.shutdown_trigger().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        trigger.trigger();
    });
    broker.wait().unwrap();
    t.join().unwrap();
    expect_server_shutting_down(&mut c);
}
}
