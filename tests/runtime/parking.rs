//! Idle connections park (the runtime keeps only their descriptor, in an epoll set) and wake
//! for input, output and their end without losing or reordering anything, on both runtimes
//! (Linux: tokio parks only there).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::time::{Duration, Instant};

use crate::blocking::*;
use mqtt_core::{shard_for, ShardId};
use mqtt_proto::{BytesMut, Packet, ProtocolVersion, QoS};

/// Idle time before a connection parks, in tests.
const PARK_MS: u64 = 50;

/// A test broker whose idle connections park after [`PARK_MS`].
fn start_parking(shards: usize) -> BrokerHandle {
    start_parking_after(shards, PARK_MS)
}

fn start_parking_after(shards: usize, ms: u64) -> BrokerHandle {
    let mut config = config(shards);
    config.runtime.park_idle_ms = ms;
    Broker::start(config).unwrap()
}

/// Waits until at least `n` connections parked since the start, and returns the count.
fn wait_parked(broker: &BrokerHandle, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let parked = broker.counters().parked;
        if parked >= n {
            return parked;
        }
        assert!(
            Instant::now() < deadline,
            "only {parked} of {n} connections parked: {:?}",
            broker.counters()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Connections parked now (parked and not woken since).
fn parked_now(broker: &BrokerHandle) -> u64 {
    let c = broker.counters();
    c.parked - c.unparked
}

/// Waits until exactly `n` connections are parked.
fn wait_parked_now(broker: &BrokerHandle, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while parked_now(broker) != n {
        assert!(
            Instant::now() < deadline,
            "{n} parked connections expected: {:?}",
            broker.counters()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client identifier whose home is `shard` of `count`.
fn id_on(shard: u16, count: u16, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|id| shard_for(id, count) == ShardId(shard))
        .unwrap()
}

fn delivered_in_order(shards: usize) {
    let broker = start_parking(shards);
    let a = addr(&broker);
    let mut sub = Client::connect(a, "parked-sub", V5);
    sub.subscribe("parked/#", QoS::AtLeastOnce);
    let mut publisher = Client::connect(a, "parked-pub", V5);
    // Both idle past the threshold: both park.
    wait_parked(&broker, 2);
    assert_eq!(parked_now(&broker), 2, "{:?}", broker.counters());
    for i in 0..50u16 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        publisher.publish("parked/t", &i.to_be_bytes(), qos, i + 1);
    }
    for i in 0..50u16 {
        let p = sub.recv_publish();
        assert_eq!(&p.payload[..], i.to_be_bytes(), "message {i} in order");
    }
    assert!(broker.counters().unparked >= 2, "{:?}", broker.counters());
    // Parked again, and woken again by the next message.
    let before = broker.counters().parked;
    wait_parked(&broker, before + 2);
    publisher.publish("parked/t", b"again", QoS::AtLeastOnce, 100);
    assert_eq!(&sub.recv_publish().payload[..], b"again");
    broker.shutdown().unwrap();
}

on_both! {
    fn a_parked_subscriber_gets_publishes_in_order_on_one_shard() {
        delivered_in_order(1);
    }
}

on_both! {
    fn a_parked_subscriber_gets_publishes_in_order_on_two_shards() {
        delivered_in_order(2);
    }
}

on_both! {
    fn a_parked_client_that_sends_is_answered() {
        let broker = start_parking(1);
        let mut c = Client::connect(addr(&broker), "parked-pinger", V5);
        for round in 1..=3 {
            wait_parked(&broker, round);
            assert_eq!(parked_now(&broker), 1);
            c.send(Packet::PingReq);
            assert!(matches!(c.recv(), Packet::PingResp), "round {round}");
            c.subscribe(&format!("round/{round}"), QoS::AtLeastOnce);
        }
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn a_partial_packet_keeps_the_connection_awake_and_is_completed() {
        let broker = start_parking(1);
        let a = addr(&broker);
        let mut sub = Client::connect(a, "partial-sub", V5);
        sub.subscribe("partial/t", QoS::AtMostOnce);
        let mut publisher = Client::connect(a, "partial-pub", V5);
        wait_parked(&broker, 2);
        // Half a PUBLISH, then silence past the threshold: the rest must still find its head.
        let mut wire = BytesMut::new();
        Packet::Publish(mqtt_proto::Publish {
            dup: false,
            qos_pid: mqtt_proto::QosPid::AtMostOnce,
            retain: false,
            topic: "partial/t".into(),
            properties: Default::default(),
            payload: mqtt_proto::Bytes::from_static(b"split payload"),
        })
        .encode(ProtocolVersion::V5, &mut wire)
        .unwrap();
        let (head, tail) = wire.split_at(wire.len() / 2);
        publisher.stream.write_all(head).unwrap();
        std::thread::sleep(Duration::from_millis(PARK_MS * 4));
        assert_eq!(parked_now(&broker), 1, "only the subscriber is parked");
        publisher.stream.write_all(tail).unwrap();
        assert_eq!(&sub.recv_publish().payload[..], b"split payload");
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn a_parked_client_is_disconnected_on_keep_alive_timeout_mqtt_3_1_2_24() {
        let broker = start_parking(1);
        let mut connect = connect_packet("parked-keepalive", V5);
        connect.keep_alive = 1;
        let (mut c, ack) = Client::connect_with(addr(&broker), connect);
        assert_eq!(ack.reason_code.as_u8(), 0);
        let started = Instant::now();
        wait_parked(&broker, 1);
        match c.recv() {
            Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8D),
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1400), "too early: {took:?}");
        c.expect_closed(Duration::from_secs(5));
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn a_parked_client_that_closes_has_its_will_published_mqtt_3_1_2_8() {
        let broker = start_parking(2);
        let a = addr(&broker);
        let mut sub = Client::connect(a, "will-watcher", V5);
        sub.subscribe("gone/#", QoS::AtLeastOnce);
        let mut owners = Vec::new();
        for s in 0..2u16 {
            let id = id_on(s, 2, "parked-will");
            let mut c = connect_packet(&id, V5);
            c.will = Some(will(&format!("gone/{id}"), b"bye"));
            let (client, ack) = Client::connect_with(a, c);
            assert_eq!(ack.reason_code.as_u8(), 0);
            owners.push((id, client));
        }
        wait_parked(&broker, 3);
        assert_eq!(parked_now(&broker), 3);
        let mut expected = Vec::new();
        for (id, client) in owners {
            client.drop_abruptly();
            expected.push(format!("gone/{id}"));
        }
        let mut topics: Vec<String> = (0..2)
            .map(|_| sub.recv_publish().topic.to_string())
            .collect();
        topics.sort();
        expected.sort();
        assert_eq!(topics, expected);
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn parked_clients_get_their_wills_then_disconnect_0x8b_at_shutdown() {
        let broker = start_parking(2);
        let a = addr(&broker);
        let mut subs: Vec<Client> = (0..2)
            .map(|s| {
                let mut c = Client::connect(a, &id_on(s, 2, "parked-will-sub"), V5);
                c.subscribe("will/#", QoS::AtLeastOnce);
                c
            })
            .collect();
        let mut owners = Vec::new();
        for s in 0..2u16 {
            for (k, v) in [V5, V311].into_iter().enumerate() {
                let id = id_on(s, 2, &format!("parked-owner-{k}"));
                let mut c = connect_packet(&id, v);
                c.will = Some(will(&format!("will/{id}"), b"gone"));
                let (client, ack) = Client::connect_with(a, c);
                assert_eq!(ack.reason_code.as_u8(), 0);
                owners.push((id, v, client));
            }
        }
        wait_parked(&broker, 6);
        assert_eq!(parked_now(&broker), 6);
        broker.shutdown().unwrap();
        let mut expected: Vec<String> = owners
            .iter()
            .map(|(id, _, _)| format!("will/{id}"))
            .collect();
        expected.sort();
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
            assert_eq!(topics, expected, "every will, before DISCONNECT");
            sub.expect_closed(Duration::from_secs(5));
        }
        for (_, v, c) in &mut owners {
            if *v == V5 {
                match c.recv() {
                    Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8B),
                    other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
                }
            }
            c.expect_closed(Duration::from_secs(5));
        }
    }
}

on_both! {
    fn a_parked_session_is_taken_over_from_another_shard_mqtt_3_1_4_3() {
        let broker = start_parking(2);
        let a = addr(&broker);
        // The kernel picks the shard of each connection: repeat until a second connection arrived
        // on the shard that is not its home (so it was handed over to the parked first one's).
        let mut crossed = 0;
        for round in 0..40 {
            let id = format!("parked-takeover-{round}");
            let mut first = Client::connect(a, &id, V5);
            wait_parked_now(&broker, 1);
            let handed = broker.counters().handed_over;
            let mut second = Client::connect(a, &id, V5);
            if broker.counters().handed_over > handed {
                crossed += 1;
            }
            match first.recv() {
                Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8E),
                other => panic!("expected DISCONNECT, got {other:?}"),
            }
            first.expect_closed(RECV_TIMEOUT);
            second.send(Packet::PingReq);
            assert!(matches!(second.recv(), Packet::PingResp));
            if crossed >= 2 {
                break;
            }
        }
        assert!(crossed >= 2, "no takeover crossed shards in 40 rounds");
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn busy_connections_do_not_park() {
        // A longer threshold than the other tests, so that a stall of this busy machine does
        // not look like idleness.
        let broker = start_parking_after(1, 400);
        let a = addr(&broker);
        let mut c = Client::connect(a, "busy", V5);
        let until = Instant::now() + Duration::from_millis(1_500);
        while Instant::now() < until {
            c.send(Packet::PingReq);
            assert!(matches!(c.recv(), Packet::PingResp));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(broker.counters().parked, 0, "{:?}", broker.counters());
        broker.shutdown().unwrap();
    }
}

on_both! {
    fn a_fan_out_wakes_a_thousand_parked_subscribers() {
        // Waking a parked connection inside a dispatch must not run its task there: each task's
        // dispatch would wake the next one inside it (this overflowed the stack).
        let broker = start_parking(1);
        let a = addr(&broker);
        let mut subs: Vec<Client> = (0..1000)
            .map(|i| {
                let mut c = Client::connect(a, &format!("fan-{i}"), V5);
                c.subscribe("fan/#", QoS::AtMostOnce);
                c
            })
            .collect();
        let mut publisher = Client::connect(a, "fan-pub", V5);
        wait_parked_now(&broker, 1001);
        for k in 0..3u8 {
            publisher.publish("fan/t", &[k], QoS::AtMostOnce, 0);
        }
        for c in &mut subs {
            for k in 0..3u8 {
                assert_eq!(&c.recv_publish().payload[..], [k]);
            }
        }
        broker.shutdown().unwrap();
    }
}
