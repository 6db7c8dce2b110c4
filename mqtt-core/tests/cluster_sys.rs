//! `$SYS` over several shards: shard 0 gathers every shard's figures each `sys_interval` and
//! publishes the broker-wide sums; the other shards publish nothing themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use std::collections::HashMap;

use common::*;
use mqtt_core::{shard_for, Config, ConnId, ShardId};
use mqtt_proto::{ConnectReasonCode, Packet, QoS, Subscribe};

const N: u16 = 3;

fn id_on(prefix: &str, home: usize) -> String {
    (0..)
        .map(|k| format!("{prefix}-{k}"))
        .find(|id| shard_for(id, N) == ShardId(home as u16))
        .unwrap()
}

fn cluster(interval: u64) -> Cluster {
    let config = Config {
        sys_interval: interval,
        ..Config::default()
    };
    Cluster::new(config, N, 11)
}

fn client_on(c: &mut Cluster, on: usize, id: &str) -> ConnId {
    let (conn, ack) = c.connect_on(on, connect(id, V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success, "{ack:?}");
    conn
}

fn subscribe(c: &mut Cluster, conn: ConnId, filter: &str) {
    let s = Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub(filter, QoS::AtMostOnce)].into_iter().collect(),
    };
    c.send(conn, V5, s);
    assert!(matches!(c.recv(conn).as_slice(), [Packet::SubAck(_)]));
}

/// `$SYS/broker/{key}` → payloads received, in order.
fn sys_seen(c: &mut Cluster, conn: ConnId) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for p in publishes(c.recv(conn)) {
        let key = p.topic.strip_prefix("$SYS/broker/").unwrap().to_owned();
        m.entry(key)
            .or_default()
            .push(String::from_utf8(p.payload.to_vec()).unwrap());
    }
    m
}

/// Each key published exactly once; its value.
fn once(m: &HashMap<String, Vec<String>>) -> HashMap<String, String> {
    m.iter()
        .map(|(k, v)| {
            assert_eq!(v.len(), 1, "{k} published {} times: {v:?}", v.len());
            (k.clone(), v[0].clone())
        })
        .collect()
}

/// Clients on shards 1 and 2, a `$SYS/#` subscriber on shard 0.
fn populated(c: &mut Cluster) -> ConnId {
    let watcher = client_on(c, 0, &id_on("watch", 0));
    subscribe(c, watcher, "$SYS/#");
    let a = client_on(c, 1, &id_on("a", 1));
    let b = client_on(c, 2, &id_on("b", 2));
    let d = client_on(c, 1, &id_on("d", 2));
    subscribe(c, a, "x/a");
    subscribe(c, b, "x/b");
    subscribe(c, d, "x/d");
    for (conn, n) in [(a, 2), (b, 3), (d, 4)] {
        for _ in 0..n {
            c.send(
                conn,
                V5,
                publish("nobody/listens", b"p", QoS::AtMostOnce, 0),
            );
        }
    }
    watcher
}

#[test]
fn sys_figures_are_summed_over_every_shard() {
    let mut c = cluster(5);
    let watcher = populated(&mut c);
    c.advance(4_999);
    assert!(c.recv(watcher).is_empty());
    c.advance(1);
    let m = once(&sys_seen(&mut c, watcher));
    assert_eq!(m["clients/connected"], "4", "{m:?}");
    assert_eq!(m["clients/total"], "4");
    assert_eq!(m["clients/disconnected"], "0");
    assert_eq!(m["clients/connects"], "4");
    assert_eq!(m["messages/received"], "9");
    assert_eq!(m["subscriptions/count"], "4");
    assert_eq!(m["uptime"], "5");
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    let received: u64 = c.shards.iter().map(|s| s.stats().bytes_received).sum();
    assert_eq!(m["bytes/received"], received.to_string());
}

#[test]
fn only_shard_0_publishes_sys_and_every_shard_sees_it_once() {
    let mut c = cluster(5);
    let watcher = populated(&mut c);
    // More watchers whose sessions live on shards 1 and 2.
    let far: Vec<ConnId> = [1, 2]
        .into_iter()
        .map(|home| {
            let w = client_on(&mut c, 0, &id_on("far-watch", home));
            subscribe(&mut c, w, "$SYS/#");
            w
        })
        .collect();
    c.advance(5_000);
    // One publication per key per interval, however many shards there are.
    let near = once(&sys_seen(&mut c, watcher));
    for w in &far {
        assert_eq!(once(&sys_seen(&mut c, *w)), near);
    }
    assert_eq!(near["clients/connected"], "6");
    c.advance(5_000);
    let m = once(&sys_seen(&mut c, far[1]));
    assert_eq!(m["uptime"], "10");
}

#[test]
fn sys_figures_follow_changes_on_other_shards() {
    let mut c = cluster(5);
    let watcher = populated(&mut c);
    c.advance(5_000);
    let _ = c.recv(watcher);
    let e = client_on(&mut c, 2, &id_on("e", 1));
    c.send(e, V5, publish("nobody/listens", b"p", QoS::AtMostOnce, 0));
    c.drop_conn(e);
    c.advance(5_000);
    let m = once(&sys_seen(&mut c, watcher));
    assert_eq!(m["clients/connected"], "4");
    assert_eq!(m["clients/connects"], "5");
    assert_eq!(m["messages/received"], "10");
}

#[test]
fn a_round_short_of_an_answer_publishes_the_latest_figures_at_the_next_tick() {
    let mut c = cluster(5);
    let watcher = populated(&mut c);
    c.advance(5_000);
    let _ = c.recv(watcher);
    // Shard 1's link is stuck: the next round cannot complete.
    c.hold(1);
    client_on(&mut c, 2, &id_on("f", 2));
    c.advance(5_000);
    assert!(c.recv(watcher).is_empty(), "the round waits for shard 1");
    // At the next tick shard 0 publishes what it knows: shard 2's fresh figures and shard 1's
    // from the first round.
    c.advance(5_000);
    let m = once(&sys_seen(&mut c, watcher));
    assert_eq!(m["clients/connected"], "5");
    c.release(1);
}

#[test]
fn one_shard_cluster_publishes_its_own_figures() {
    let mut c = Cluster::new(
        Config {
            sys_interval: 5,
            ..Config::default()
        },
        1,
        1,
    );
    let watcher = client_on(&mut c, 0, "w");
    subscribe(&mut c, watcher, "$SYS/#");
    let a = client_on(&mut c, 0, "a");
    c.send(a, V5, publish("t", b"p", QoS::AtMostOnce, 0));
    c.advance(5_000);
    let m = once(&sys_seen(&mut c, watcher));
    assert_eq!(m["clients/connected"], "2");
    assert_eq!(m["messages/received"], "1");
}
