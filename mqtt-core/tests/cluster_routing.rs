//! Plain subscriptions across shards: the replicated interest map, forwarding to exactly the
//! shards with a matching subscriber (one copy per shard), announcements only when a shard's
//! count for a filter goes 0→1 or 1→0, and per-publisher order on every shard
//! [MQTT-4.6.0-5/6] under random interleavings of the links.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId, ShardId};
use mqtt_proto::{Packet, PubRel, QoS};

const SEEDS: [u64; 5] = [1, 7, 42, 1234, 0xDEAD_BEEF];

fn config() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

/// A client homed on shard `on`, named `{prefix}…`.
fn client_on(c: &mut Cluster, prefix: &str, on: usize) -> ConnId {
    let id = name_on(prefix, on, c.n());
    c.client(&id)
}

fn delta(before: &[u64], after: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

#[test]
fn a_message_reaches_subscribers_on_every_shard_at_each_qos() {
    for n in [1u16, 3] {
        for seed in SEEDS {
            let mut c = Cluster::new(config(), n, seed);
            let subs: Vec<ConnId> = (0..usize::from(n))
                .map(|s| {
                    let conn = client_on(&mut c, "sub-", s);
                    c.sub(conn, "q/+", QoS::ExactlyOnce);
                    conn
                })
                .collect();
            for p in 0..usize::from(n) {
                let publ = client_on(&mut c, &format!("pub{p}-"), p);
                let qoss = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
                for (i, qos) in qoss.into_iter().enumerate() {
                    let body = format!("{p}-{i}");
                    let packet = publish_bytes("q/x", body.clone().into_bytes(), qos, 1 + i as u16);
                    c.publish_from(publ, packet);
                    for &s in &subs {
                        let got = c.take_publishes(s);
                        assert_eq!(got.len(), 1, "n={n} seed={seed} from {p}: {got:?}");
                        assert_eq!(got[0].qos_pid.qos(), qos);
                        assert_eq!(got[0].payload, body.as_bytes());
                        assert!(!got[0].retain);
                    }
                }
            }
            c.assert_routing_idle();
        }
    }
}

#[test]
fn a_shard_without_a_matching_subscriber_receives_nothing() {
    for seed in SEEDS {
        let mut c = Cluster::new(config(), 3, seed);
        let s1 = client_on(&mut c, "s", 1);
        c.sub(s1, "a/b", QoS::AtLeastOnce);
        let p0 = client_on(&mut c, "p", 0);
        assert_eq!(c.shards[0].interested_shards("a/b"), [ShardId(1)]);
        assert!(c.shards[0].interested_shards("c/d").is_empty());
        assert!(c.shards[2].interested_shards("a/b") == [ShardId(1)]);

        let before = c.deliveries();
        c.publish_from(p0, publish("c/d", b"nobody", QoS::AtLeastOnce, 1));
        assert_eq!(c.deliveries(), before, "no shard wants c/d");
        c.publish_from(p0, publish("a/b", b"one", QoS::AtLeastOnce, 2));
        // One message to shard 1; shards 0 (the publisher's) and 2 get nothing.
        assert_eq!(delta(&before, &c.deliveries()), [0, 1, 0]);
        assert_eq!(c.payloads(s1), ["one"]);
    }
}

#[test]
fn overlapping_filters_on_a_shard_cost_one_forward_and_one_copy_per_session() {
    for seed in SEEDS {
        let mut c = Cluster::new(config(), 3, seed);
        let a = client_on(&mut c, "a", 1);
        let b = client_on(&mut c, "b", 1);
        let d = client_on(&mut c, "d", 1);
        c.sub(a, "t/#", QoS::AtLeastOnce);
        c.sub(b, "t/+", QoS::AtLeastOnce);
        c.sub(d, "t/x", QoS::AtLeastOnce);
        c.sub(d, "+/x", QoS::AtLeastOnce);
        assert_eq!(c.shards[2].interested_shards("t/x"), [ShardId(1)]);
        let p = client_on(&mut c, "p", 2);
        let before = c.deliveries();
        c.publish_from(p, publish("t/x", b"m", QoS::AtLeastOnce, 1));
        assert_eq!(delta(&before, &c.deliveries()), [0, 1, 0]);
        for s in [a, b, d] {
            assert_eq!(c.payloads(s), ["m"]);
        }
    }
}

#[test]
fn interest_is_announced_only_when_a_shards_count_goes_0_to_1_or_1_to_0() {
    for seed in SEEDS {
        let mut c = Cluster::new(config(), 3, seed);
        let a = client_on(&mut c, "a", 1);
        let b = client_on(&mut c, "b", 1);
        let before = c.deliveries();
        c.sub(a, "x/y", QoS::AtLeastOnce);
        let d = delta(&before, &c.deliveries());
        assert!(d[0] > 0 && d[2] > 0, "0→1 is announced: {d:?}");
        for s in [0, 2] {
            assert_eq!(c.shards[s].interested_shards("x/y"), [ShardId(1)]);
        }

        // 1→2, a replacement, 2→1: nothing crosses a link.
        let before = c.deliveries();
        c.sub(b, "x/y", QoS::AtLeastOnce);
        c.sub(a, "x/y", QoS::ExactlyOnce);
        c.unsub(b, &["x/y"]);
        assert_eq!(c.deliveries(), before);

        // 1→0: one withdrawal to each other shard.
        c.unsub(a, &["x/y"]);
        assert_eq!(delta(&before, &c.deliveries()), [1, 0, 1]);
        for s in 0..3 {
            assert!(c.shards[s].interested_shards("x/y").is_empty());
        }
        c.assert_routing_idle();
    }
}

#[test]
fn a_clean_session_ending_withdraws_its_interest() {
    let mut c = Cluster::new(config(), 3, 9);
    let a = client_on(&mut c, "a", 2);
    c.sub(a, "w/#", QoS::AtLeastOnce);
    assert_eq!(c.shards[0].interested_shards("w/1"), [ShardId(2)]);
    c.drop_conn(a);
    for s in 0..3 {
        assert!(c.shards[s].interested_shards("w/1").is_empty(), "shard {s}");
    }
}

#[test]
fn a_persistent_session_keeps_its_interest_until_it_expires() {
    let mut c = Cluster::new(config(), 3, 5);
    let id = name_on("persist", 1, 3);
    let mut conn_pkt = connect(&id, V5);
    conn_pkt.clean_start = false;
    conn_pkt.properties.session_expiry_interval = Some(60);
    let s = c.client_with(conn_pkt.clone());
    c.sub(s, "p/q", QoS::AtLeastOnce);
    c.drop_conn(s);
    assert_eq!(c.shards[0].interested_shards("p/q"), [ShardId(1)]);

    // Offline: a QoS 1 message is forwarded and queued on the home shard.
    let p = client_on(&mut c, "pub", 0);
    c.publish_from(p, publish("p/q", b"queued", QoS::AtLeastOnce, 1));
    let (s, queued) = c.resume_with(conn_pkt);
    assert_eq!(
        topics_payloads(&queued),
        [("p/q".into(), b"queued".to_vec())]
    );
    c.drop_conn(s);

    c.advance(61_000);
    assert_eq!(c.shards[1].session_count(), 0);
    for sh in 0..3 {
        assert!(
            c.shards[sh].interested_shards("p/q").is_empty(),
            "shard {sh}"
        );
    }
    c.assert_routing_idle();
}

#[test]
fn a_clean_start_takeover_withdraws_the_old_sessions_interest() {
    let mut c = Cluster::new(config(), 3, 3);
    let id = name_on("taken", 0, 3);
    let mut first = connect(&id, V5);
    first.properties.session_expiry_interval = Some(600);
    let old = c.client_with(first);
    c.sub(old, "k/l", QoS::AtLeastOnce);
    assert_eq!(c.shards[1].interested_shards("k/l"), [ShardId(0)]);
    let _new = c.client_with(connect(&id, V5));
    assert!(c.is_closed(old));
    for s in 0..3 {
        assert!(c.shards[s].interested_shards("k/l").is_empty(), "shard {s}");
    }
}

/// Topic `o/t` from one publisher at QoS 0/1/2, with another publisher's noise on `o/u`,
/// fed while peer messages are delivered in a seeded random order: every subscriber, on
/// every shard, gets `o/t` in publish order [MQTT-4.6.0-5/6].
#[test]
fn one_publishers_messages_keep_their_order_on_every_shard_mqtt_4_6_0_5() {
    const COUNT: usize = 90;
    for n in [1u16, 4] {
        for seed in 1..=8u64 {
            let mut c = Cluster::new(config(), n, seed);
            let mut subs = Vec::new();
            for s in 0..usize::from(n) {
                let exact = client_on(&mut c, "exact-", s);
                c.sub(exact, "o/t", QoS::ExactlyOnce);
                let wild = client_on(&mut c, "wild-", s);
                c.sub(wild, "o/#", QoS::AtLeastOnce);
                subs.extend([exact, wild]);
            }
            let publ = client_on(&mut c, "pub-", (seed % u64::from(n)) as usize);
            let noise = client_on(&mut c, "noise-", ((seed + 1) % u64::from(n)) as usize);
            for i in 0..COUNT {
                let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][i % 3];
                let id = 1 + i as u16;
                let body = i.to_string().into_bytes();
                c.send_quiet(publ, V5, publish_bytes("o/t", body.clone(), qos, id));
                if qos == QoS::ExactlyOnce {
                    c.send_quiet(publ, V5, Packet::PubRel(PubRel::new(pid(id))));
                }
                c.send_quiet(noise, V5, publish_bytes("o/u", body, QoS::AtLeastOnce, id));
                for _ in 0..c.roll(4) {
                    c.step();
                }
            }
            c.settle();
            let want: Vec<String> = (0..COUNT).map(|i| i.to_string()).collect();
            for &s in &subs {
                let got: Vec<String> = c
                    .take_publishes(s)
                    .iter()
                    .filter(|p| &*p.topic == "o/t")
                    .map(|p| String::from_utf8(p.payload.to_vec()).unwrap())
                    .collect();
                assert_eq!(got, want, "n={n} seed={seed} subscriber {s:?}");
            }
            c.assert_routing_idle();
        }
    }
}
