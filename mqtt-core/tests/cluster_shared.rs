//! Shared subscriptions across shards (MQTT 5 §4.8.2, issue 4 item 6): the strategy applies
//! over the whole group whatever shard each member lives on, each group gets one copy of each
//! message, and a message is never dropped while some member anywhere could take it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use mqtt_core::subscriptions::ShareStrategy;
use mqtt_core::{shard_for, Config, ConnId};
use mqtt_proto::{
    ByteString, Bytes, Disconnect, DisconnectReasonCode, Packet, PubAck, PubAckReasonCode, Publish,
    QoS, SubAck, Subscribe, Unsubscribe,
};

const SEEDS: [u64; 5] = [1, 7, 42, 1234, 99_991];

fn cfg(strategy: ShareStrategy) -> Config {
    Config {
        share_strategy: strategy,
        sys_interval: 0,
        ..Config::default()
    }
}

/// A client id whose home is shard `shard` of `n`.
fn id_on(prefix: &str, shard: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|id| usize::from(shard_for(id, n as u16).0) == shard)
        .unwrap()
}

/// Connects a client whose home is shard `home`, arriving on shard `arrive` (handed over
/// when they differ). A persistent client keeps its session for 600 s.
fn client_at(c: &mut Cluster, id: &str, arrive: usize, persistent: bool) -> ConnId {
    let mut cn = connect(id, V5);
    if persistent {
        cn.clean_start = false;
        cn.properties.session_expiry_interval = Some(600);
    }
    let (conn, ack) = c.connect_on(arrive, cn);
    assert_eq!(ack.reason_code.as_u8(), 0, "{ack:?}");
    conn
}

/// Resumes the persistent session of `id`, arriving on shard `arrive`; returns the
/// connection and the numbers it then receives (messages queued while it was away).
fn resume(c: &mut Cluster, id: &str, arrive: usize) -> (ConnId, Vec<usize>) {
    let mut cn = connect(id, V5);
    cn.clean_start = false;
    cn.properties.session_expiry_interval = Some(600);
    let conn = c.open(arrive);
    c.send(conn, V5, cn);
    let mut got = c.recv(conn).into_iter();
    match got.next() {
        Some(Packet::ConnAck(a)) => assert!(a.session_present, "{a:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut numbers_got = Vec::new();
    for p in publishes(got.collect()) {
        numbers_got.push(std::str::from_utf8(&p.payload).unwrap().parse().unwrap());
        if let Some(pid) = p.qos_pid.packet_id() {
            c.send(conn, V5, Packet::PubAck(PubAck::new(pid)));
        }
    }
    numbers_got.extend(numbers(c, conn));
    (conn, numbers_got)
}

/// A client at home on shard `shard`.
fn member(c: &mut Cluster, prefix: &str, shard: usize, persistent: bool) -> (ConnId, String) {
    let id = id_on(prefix, shard, c.shards.len());
    (client_at(c, &id, shard, persistent), id)
}

fn subscribe_packet(id: u16, filters: &[&str], qos: QoS) -> Subscribe {
    Subscribe {
        packet_id: pid(id),
        properties: Default::default(),
        subscriptions: filters.iter().map(|f| sub(f, qos)).collect(),
    }
}

/// Subscribes and returns the SUBACK (the cluster has settled: every barrier is done).
fn subscribe(c: &mut Cluster, conn: ConnId, filter: &str, qos: QoS) -> SubAck {
    c.send(conn, V5, subscribe_packet(1, &[filter], qos));
    match c.recv(conn).into_iter().next() {
        Some(Packet::SubAck(a)) => a,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn unsubscribe(c: &mut Cluster, conn: ConnId, filter: &str) {
    let u = Unsubscribe {
        packet_id: pid(2),
        properties: Default::default(),
        filters: [ByteString::from(filter)].into_iter().collect(),
    };
    c.send(conn, V5, u);
    assert!(matches!(
        c.recv(conn).first(),
        Some(Packet::UnsubAck(a)) if a.reason_codes.iter().all(|r| r.as_u8() == 0)
    ));
}

/// Publishes messages numbered `from..from + n` on `topic` (QoS 1 ids are reused safely:
/// each is acknowledged before the next is sent).
fn send_numbered(c: &mut Cluster, publisher: ConnId, topic: &str, from: usize, n: usize, qos: QoS) {
    for i in from..from + n {
        let mut p = publish(topic, b"", qos, 1);
        p.payload = Bytes::from(i.to_string());
        c.send(publisher, V5, p);
        if qos != QoS::AtMostOnce {
            let acks = c.recv(publisher);
            assert!(
                matches!(acks.as_slice(), [Packet::PubAck(_)]),
                "publisher got {acks:?}"
            );
        }
    }
}

/// Every PUBLISH `conn` has received, acknowledging QoS 1 ones until no more come.
fn received(c: &mut Cluster, conn: ConnId) -> Vec<Publish> {
    let mut all = Vec::new();
    loop {
        let got = publishes(c.recv(conn));
        if got.is_empty() {
            return all;
        }
        for p in &got {
            if let Some(id) = p.qos_pid.packet_id() {
                c.send(conn, V5, Packet::PubAck(PubAck::new(id)));
            }
        }
        all.extend(got);
    }
}

/// The numbers `conn` has received, in order of arrival.
fn numbers(c: &mut Cluster, conn: ConnId) -> Vec<usize> {
    received(c, conn)
        .iter()
        .map(|p| std::str::from_utf8(&p.payload).unwrap().parse().unwrap())
        .collect()
}

/// Asserts that `got` (per member) holds every number in `0..n` exactly once.
fn exactly_once(got: &[Vec<usize>], n: usize, ctx: &str) {
    let mut all: Vec<usize> = got.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "{ctx}: {got:?}");
}

fn dropped(c: &Cluster) -> u64 {
    c.shards.iter().map(|s| s.stats().dropped).sum()
}

#[test]
fn round_robin_is_even_over_the_whole_group_mqtt_4_8_2() {
    for seed in SEEDS {
        for publisher_shard in [0, 2] {
            let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
            // Two members on shard 0, one on shard 1; the publisher on shard 0 or 2.
            let a1 = member(&mut c, "a1", 0, false).0;
            let a2 = member(&mut c, "a2", 0, false).0;
            let b1 = member(&mut c, "b1", 1, false).0;
            for m in [a1, a2, b1] {
                assert_eq!(
                    codes(&subscribe(&mut c, m, "$share/g/t/+", QoS::AtLeastOnce)),
                    [1]
                );
            }
            let p = member(&mut c, "pub", publisher_shard, false).0;
            send_numbered(&mut c, p, "t/x", 0, 30, QoS::AtMostOnce);
            let got: Vec<Vec<usize>> = [a1, a2, b1].iter().map(|m| numbers(&mut c, *m)).collect();
            let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(
                sizes,
                [10, 10, 10],
                "seed {seed}, publisher on {publisher_shard}"
            );
            exactly_once(&got, 30, "round robin");
            for g in &got {
                assert!(g.windows(2).all(|w| w[0] < w[1]), "in publish order: {g:?}");
            }
        }
    }
}

#[test]
fn every_strategy_gives_each_message_to_exactly_one_member() {
    for strategy in [
        ShareStrategy::RoundRobin,
        ShareStrategy::Random,
        ShareStrategy::PublisherHash,
        ShareStrategy::Sticky,
    ] {
        for seed in SEEDS {
            let mut c = Cluster::new(cfg(strategy), 4, seed);
            let members: Vec<ConnId> = (0..6)
                .map(|i| member(&mut c, &format!("m{i}"), i % 4, false).0)
                .collect();
            for m in &members {
                subscribe(&mut c, *m, "$share/g/s/#", QoS::AtLeastOnce);
            }
            // Publishers on every shard, QoS 1.
            let pubs: Vec<ConnId> = (0..4)
                .map(|s| member(&mut c, &format!("p{s}"), s, false).0)
                .collect();
            for (k, p) in pubs.iter().enumerate() {
                send_numbered(&mut c, *p, "s/1", k * 10, 10, QoS::AtLeastOnce);
            }
            let got: Vec<Vec<usize>> = members.iter().map(|m| numbers(&mut c, *m)).collect();
            let ctx = format!("{strategy:?} seed {seed}");
            exactly_once(&got, 40, &ctx);
            match strategy {
                ShareStrategy::Sticky => {
                    assert_eq!(got.iter().filter(|g| !g.is_empty()).count(), 1, "{ctx}");
                }
                ShareStrategy::PublisherHash => {
                    for k in 0..4 {
                        let holders = got.iter().filter(|g| g.iter().any(|n| n / 10 == k)).count();
                        assert_eq!(holders, 1, "{ctx}: publisher {k} went to {holders}");
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn random_reaches_members_on_every_shard() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::Random), 3, seed);
        let members: Vec<ConnId> = (0..3).map(|s| member(&mut c, "m", s, false).0).collect();
        for m in &members {
            subscribe(&mut c, *m, "$share/g/r", QoS::AtMostOnce);
        }
        let p = member(&mut c, "pub", 1, false).0;
        send_numbered(&mut c, p, "r", 0, 90, QoS::AtMostOnce);
        let got: Vec<Vec<usize>> = members.iter().map(|m| numbers(&mut c, *m)).collect();
        assert!(got.iter().all(|g| g.len() >= 10), "seed {seed}: {got:?}");
        exactly_once(&got, 90, "random");
    }
}

#[test]
fn each_group_and_each_plain_subscriber_gets_one_copy_mqtt_4_8_2() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let g1: Vec<ConnId> = [0, 1]
            .iter()
            .map(|s| member(&mut c, "g1", *s, false).0)
            .collect();
        let g2: Vec<ConnId> = [1, 2]
            .iter()
            .map(|s| member(&mut c, "g2", *s, false).0)
            .collect();
        for m in &g1 {
            subscribe(&mut c, *m, "$share/g1/t/#", QoS::AtLeastOnce);
        }
        for m in &g2 {
            subscribe(&mut c, *m, "$share/g2/t/+", QoS::AtLeastOnce);
        }
        // The plain subscriber sits on another shard than the publisher.
        let plain = member(&mut c, "plain", 0, false).0;
        subscribe(&mut c, plain, "t/#", QoS::AtLeastOnce);
        let p = member(&mut c, "pub", 2, false).0;
        send_numbered(&mut c, p, "t/a", 0, 20, QoS::AtLeastOnce);
        let got1: Vec<Vec<usize>> = g1.iter().map(|m| numbers(&mut c, *m)).collect();
        let got2: Vec<Vec<usize>> = g2.iter().map(|m| numbers(&mut c, *m)).collect();
        exactly_once(&got1, 20, "group g1");
        exactly_once(&got2, 20, "group g2");
        assert_eq!(got1.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10]);
        assert_eq!(got2.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10]);
        assert_eq!(numbers(&mut c, plain), (0..20).collect::<Vec<_>>());
    }
}

/// Issue 4 item 6: members on different shards, one goes offline; nothing is lost while
/// another member anywhere is online, whether the one that left keeps its session or not.
#[test]
fn offline_member_loses_nothing_while_another_member_is_online() {
    for seed in SEEDS {
        for persistent in [false, true] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                let ctx = format!("seed {seed} persistent {persistent} {qos:?}");
                let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
                let (a, a_id) = member(&mut c, "a", 0, persistent);
                let b = member(&mut c, "b", 1, false).0;
                let d = member(&mut c, "d", 2, false).0;
                for m in [a, b, d] {
                    subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
                }
                let p = member(&mut c, "pub", 0, false).0;
                send_numbered(&mut c, p, "t", 0, 6, qos);
                let mut got = vec![numbers(&mut c, a), numbers(&mut c, b), numbers(&mut c, d)];
                assert!(got.iter().all(|g| g.len() == 2), "{ctx}: {got:?}");
                // `a` vanishes without DISCONNECT.
                c.drop_conn(a);
                send_numbered(&mut c, p, "t", 6, 30, qos);
                got[1].extend(numbers(&mut c, b));
                got[2].extend(numbers(&mut c, d));
                exactly_once(&got, 36, &ctx);
                assert_eq!(dropped(&c), 0, "{ctx}");
                for g in &got {
                    assert!(g.windows(2).all(|w| w[0] < w[1]), "{ctx}: in order {got:?}");
                }
                if persistent {
                    // Still a member (offline): it was passed over, so it holds nothing.
                    let (_, queued) = resume(&mut c, &a_id, 1);
                    assert!(queued.is_empty(), "{ctx}");
                }
            }
        }
    }
}

#[test]
fn member_refused_by_the_acl_passes_the_message_to_a_member_on_another_shard() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 2, seed);
        let rules = Rules::default();
        for s in &mut c.shards {
            s.set_acl(Box::new(rules.clone()));
        }
        let (a, a_id) = member(&mut c, "a", 0, false);
        let b = member(&mut c, "b", 1, false).0;
        for m in [a, b] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
        }
        rules.deny_receive(&a_id, "t");
        let p = member(&mut c, "pub", 0, false).0;
        send_numbered(&mut c, p, "t", 0, 10, QoS::AtLeastOnce);
        assert!(numbers(&mut c, a).is_empty());
        assert_eq!(numbers(&mut c, b), (0..10).collect::<Vec<_>>());
        assert_eq!(dropped(&c), 0);
    }
}

#[test]
fn all_members_offline_one_persistent_queues_there_and_delivers_on_reconnect() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let a = member(&mut c, "a", 0, false).0;
        let (b, b_id) = member(&mut c, "b", 1, true);
        let d = member(&mut c, "d", 2, false).0;
        for m in [a, b, d] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
        }
        for m in [a, b, d] {
            c.drop_conn(m);
        }
        // `a` and `d` ended with their sessions; `b` is offline, a member still.
        for s in &c.shards {
            assert_eq!(s.shared_group_view_count(), 1);
        }
        let p = member(&mut c, "pub", 2, false).0;
        send_numbered(&mut c, p, "t", 0, 5, QoS::AtLeastOnce);
        // QoS 0 cannot wait in an offline session: dropped, and counted once each.
        send_numbered(&mut c, p, "t", 100, 3, QoS::AtMostOnce);
        assert_eq!(dropped(&c), 3, "seed {seed}");
        let (_, queued) = resume(&mut c, &b_id, 0);
        assert_eq!(queued, (0..5).collect::<Vec<_>>(), "seed {seed}");
    }
}

#[test]
fn queued_messages_spread_over_offline_persistent_members_exactly_once() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let (b, b_id) = member(&mut c, "b", 1, true);
        let (d, d_id) = member(&mut c, "d", 2, true);
        for m in [b, d] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
            c.drop_conn(m);
        }
        let p = member(&mut c, "pub", 0, false).0;
        send_numbered(&mut c, p, "t", 0, 12, QoS::AtLeastOnce);
        let got = vec![resume(&mut c, &b_id, 1).1, resume(&mut c, &d_id, 2).1];
        exactly_once(&got, 12, &format!("seed {seed}"));
        assert_eq!(dropped(&c), 0);
    }
}

#[test]
fn a_member_leaving_withdraws_its_shards_count() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let a = member(&mut c, "a", 0, false).0;
        let b = member(&mut c, "b", 1, false).0;
        for m in [a, b] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
        }
        let p = member(&mut c, "pub", 0, false).0;
        send_numbered(&mut c, p, "t", 0, 4, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, a), [0, 2]);
        assert_eq!(numbers(&mut c, b), [1, 3]);
        // `b` unsubscribes: shard 1 has no member left, and hears nothing more.
        unsubscribe(&mut c, b, "$share/g/t");
        let before = c.peer_deliveries.clone();
        send_numbered(&mut c, p, "t", 4, 6, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, a), [4, 5, 6, 7, 8, 9]);
        assert!(numbers(&mut c, b).is_empty());
        assert_eq!(
            c.peer_deliveries, before,
            "seed {seed}: no shard was sent anything"
        );
        // `b` joins again and ends its session with DISCONNECT: the count goes with it.
        subscribe(&mut c, b, "$share/g/t", QoS::AtLeastOnce);
        c.send(
            b,
            V5,
            Packet::Disconnect(Disconnect::new(DisconnectReasonCode::NormalDisconnection)),
        );
        let before = c.peer_deliveries.clone();
        send_numbered(&mut c, p, "t", 10, 3, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, a), [10, 11, 12]);
        assert_eq!(c.peer_deliveries, before);
        // The last member leaves: the group is gone everywhere.
        unsubscribe(&mut c, a, "$share/g/t");
        assert!(c.shards.iter().all(|s| s.shared_group_view_count() == 0));
        let before = c.peer_deliveries.clone();
        let mut p1 = publish("t", b"x", QoS::AtLeastOnce, 1);
        p1.payload = Bytes::from_static(b"0");
        c.send(p, V5, p1);
        assert!(matches!(c.recv(p).as_slice(), [Packet::PubAck(_)]));
        assert_eq!(c.peer_deliveries, before);
        assert_eq!(dropped(&c), 0);
    }
}

#[test]
fn no_matching_subscribers_counts_a_group_whose_members_are_elsewhere() {
    let mut c = Cluster::new(
        Config {
            no_matching_subscribers_reason: true,
            ..cfg(ShareStrategy::RoundRobin)
        },
        2,
        3,
    );
    let b = member(&mut c, "b", 1, false).0;
    subscribe(&mut c, b, "$share/g/t", QoS::AtLeastOnce);
    let p = member(&mut c, "pub", 0, false).0;
    c.send(p, V5, publish("t", b"1", QoS::AtLeastOnce, 1));
    match c.recv(p).as_slice() {
        [Packet::PubAck(a)] => assert_eq!(a.reason_code, PubAckReasonCode::Success),
        other => panic!("{other:?}"),
    }
    c.send(p, V5, publish("u", b"1", QoS::AtLeastOnce, 2));
    match c.recv(p).as_slice() {
        [Packet::PubAck(a)] => {
            assert_eq!(a.reason_code, PubAckReasonCode::NoMatchingSubscribers)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shared_and_plain_on_one_client_are_independent_across_shards_bad_inputs_row_29() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let x = member(&mut c, "x", 0, false).0;
        let y = member(&mut c, "y", 1, false).0;
        c.send(
            x,
            V5,
            subscribe_packet(3, &["$share/g/t", "t"], QoS::AtLeastOnce),
        );
        assert!(matches!(c.recv(x).as_slice(), [Packet::SubAck(a)] if codes(a) == [1, 1]));
        subscribe(&mut c, y, "$share/g/t", QoS::AtLeastOnce);
        // Published on a third shard: x's plain copy and each group copy cross shards.
        let p = member(&mut c, "pub", 2, false).0;
        send_numbered(&mut c, p, "t", 0, 10, QoS::AtLeastOnce);
        // x: every message through `t`, and its turn of the group's (even numbers).
        let mut per: BTreeMap<usize, usize> = BTreeMap::new();
        for n in numbers(&mut c, x) {
            *per.entry(n).or_default() += 1;
        }
        let expect: BTreeMap<usize, usize> = (0..10).map(|n| (n, 1 + (n + 1) % 2)).collect();
        assert_eq!(per, expect, "seed {seed}");
        assert_eq!(numbers(&mut c, y), [1, 3, 5, 7, 9]);
        // Dropping the plain subscription leaves the shared one whole, and the other way.
        unsubscribe(&mut c, x, "t");
        send_numbered(&mut c, p, "t", 10, 4, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, x), [10, 12]);
        assert_eq!(numbers(&mut c, y), [11, 13]);
        subscribe(&mut c, x, "t", QoS::AtLeastOnce);
        unsubscribe(&mut c, x, "$share/g/t");
        send_numbered(&mut c, p, "t", 14, 2, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, x), [14, 15]);
        assert_eq!(numbers(&mut c, y), [14, 15]);
    }
}

/// The SUBACK of a shard's first member waits until every shard knows of it, so a message
/// published anywhere after the SUBACK reaches the group.
#[test]
fn first_member_suback_waits_until_every_shard_knows() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let (m, _) = member(&mut c, "m", 1, false);
        let p = member(&mut c, "pub", 2, false).0;
        // Shard 1's messages to the other shards are held back: no SUBACK yet.
        c.hold(1);
        c.send(
            m,
            V5,
            subscribe_packet(5, &["$share/g/t"], QoS::AtLeastOnce),
        );
        assert!(
            c.recv(m).is_empty(),
            "seed {seed}: SUBACK before the barrier"
        );
        // A second SUBSCRIBE of the same client waits behind the first.
        c.send(m, V5, subscribe_packet(6, &["other"], QoS::AtLeastOnce));
        assert!(c.recv(m).is_empty());
        c.release(1);
        let acks: Vec<u16> = c
            .recv(m)
            .iter()
            .map(|p| match p {
                Packet::SubAck(a) => a.packet_id.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(acks, [5, 6], "in order");
        assert!(c
            .shards
            .iter()
            .all(|s| s.subscribe_barriers_in_progress() == 0));
        // Published on another shard right after the SUBACK: delivered.
        send_numbered(&mut c, p, "t", 0, 1, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, m), [0]);
        // A second member on the same shard needs no barrier.
        let (m2, _) = member(&mut c, "m2", 1, false);
        c.hold(1);
        c.send(
            m2,
            V5,
            subscribe_packet(7, &["$share/g/t"], QoS::AtLeastOnce),
        );
        assert!(matches!(c.recv(m2).as_slice(), [Packet::SubAck(_)]));
        c.release(1);
    }
}

#[test]
fn held_suback_of_a_closed_connection_is_forgotten() {
    let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 2, 5);
    let (m, id) = member(&mut c, "m", 1, true);
    c.hold(1);
    c.send(
        m,
        V5,
        subscribe_packet(5, &["$share/g/t"], QoS::AtLeastOnce),
    );
    c.drop_conn(m);
    c.release(1);
    // The session kept the membership; a new connection gets no stray SUBACK.
    let (back, queued) = resume(&mut c, &id, 0);
    assert!(queued.is_empty());
    assert!(c.recv(back).is_empty(), "no stray SUBACK");
    let p = member(&mut c, "pub", 0, false).0;
    send_numbered(&mut c, p, "t", 0, 2, QoS::AtLeastOnce);
    assert_eq!(numbers(&mut c, back), [0, 1]);
}

#[test]
fn sticky_moves_to_the_shard_that_took_over_and_stays() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::Sticky), 2, seed);
        let (a, a_id) = member(&mut c, "a", 0, true);
        subscribe(&mut c, a, "$share/g/t", QoS::AtLeastOnce);
        let b = member(&mut c, "b", 1, false).0;
        subscribe(&mut c, b, "$share/g/t", QoS::AtLeastOnce);
        let p = member(&mut c, "pub", 1, false).0;
        send_numbered(&mut c, p, "t", 0, 3, QoS::AtLeastOnce);
        assert_eq!(
            numbers(&mut c, a),
            [0, 1, 2],
            "seed {seed}: the first member sticks"
        );
        assert!(numbers(&mut c, b).is_empty());
        c.drop_conn(a);
        send_numbered(&mut c, p, "t", 3, 3, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, b), [3, 4, 5]);
        // `a` is back: the group stays with `b`, as on one shard.
        let (a, queued) = resume(&mut c, &a_id, 0);
        assert!(queued.is_empty());
        send_numbered(&mut c, p, "t", 6, 2, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, b), [6, 7]);
        assert!(numbers(&mut c, a).is_empty());
    }
}

/// While a shard's first member waits for its barrier, a second member's SUBACK waits too:
/// it must not reach a client before the group is known everywhere.
#[test]
fn second_members_suback_does_not_overtake_the_first_barrier() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let m1 = member(&mut c, "m1", 1, false).0;
        let m2 = member(&mut c, "m2", 1, false).0;
        c.hold(1);
        c.send(
            m1,
            V5,
            subscribe_packet(5, &["$share/g/t"], QoS::AtLeastOnce),
        );
        c.send(
            m2,
            V5,
            subscribe_packet(6, &["$share/g/t"], QoS::AtLeastOnce),
        );
        assert!(
            c.recv(m1).is_empty() && c.recv(m2).is_empty(),
            "seed {seed}"
        );
        c.release(1);
        assert!(matches!(c.recv(m1).as_slice(), [Packet::SubAck(_)]));
        assert!(matches!(c.recv(m2).as_slice(), [Packet::SubAck(_)]));
        let p = member(&mut c, "pub", 0, false).0;
        send_numbered(&mut c, p, "t", 0, 4, QoS::AtLeastOnce);
        assert_eq!(numbers(&mut c, m1), [0, 2]);
        assert_eq!(numbers(&mut c, m2), [1, 3]);
    }
}

/// A publishing shard that has not yet heard of a leave sends to the shard that lost its
/// member; that shard passes the message on to a member elsewhere. A message passed on may
/// arrive after later ones sent straight to that member.
#[test]
fn message_routed_by_a_stale_count_is_passed_on() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let a = member(&mut c, "a", 0, false).0;
        let b = member(&mut c, "b", 1, false).0;
        for m in [a, b] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
        }
        // `b` leaves; shard 1's announcement is held back, so shard 2 still counts it.
        c.hold(1);
        unsubscribe(&mut c, b, "$share/g/t");
        let p = member(&mut c, "pub", 2, false).0;
        send_numbered(&mut c, p, "t", 0, 4, QoS::AtMostOnce);
        c.release(1);
        let mut got = numbers(&mut c, a);
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3], "seed {seed}");
        assert!(numbers(&mut c, b).is_empty());
        assert_eq!(dropped(&c), 0);
    }
}

/// A member offline with its session kept no longer counts as online: publishing shards
/// weigh the members online, so nothing is sent to its shard in vain (and nothing overtakes),
/// until it is back.
#[test]
fn offline_persistent_member_is_not_sent_messages_while_others_are_online() {
    for seed in SEEDS {
        let mut c = Cluster::new(cfg(ShareStrategy::RoundRobin), 3, seed);
        let (a, a_id) = member(&mut c, "a", 0, true);
        let b = member(&mut c, "b", 1, false).0;
        for m in [a, b] {
            subscribe(&mut c, m, "$share/g/t", QoS::AtLeastOnce);
        }
        let p = member(&mut c, "pub", 2, false).0;
        c.drop_conn(a);
        let before = c.peer_deliveries.get(&0).copied();
        send_numbered(&mut c, p, "t", 0, 10, QoS::AtLeastOnce);
        assert_eq!(c.peer_deliveries.get(&0).copied(), before, "seed {seed}");
        assert_eq!(numbers(&mut c, b), (0..10).collect::<Vec<_>>());
        let (a, queued) = resume(&mut c, &a_id, 2);
        assert!(queued.is_empty());
        send_numbered(&mut c, p, "t", 10, 4, QoS::AtLeastOnce);
        let got = vec![numbers(&mut c, a), numbers(&mut c, b)];
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 2],
            "{got:?}"
        );
        exactly_once(&[got.concat(), (0..10).collect()], 14, "after the return");
    }
}
