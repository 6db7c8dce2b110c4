//! The peer transport: messages for another shard wait in one outbox per destination and
//! leave as one batch, in order. An outbox is bounded by `max_peer_queue`: over it QoS 0 is
//! dropped and counted, while QoS 1/2 goes in and the shard stops reading PUBLISH packets from
//! its clients until the outbox drains, so nothing acknowledged is lost.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{shard_for, Config, ConnId, ShardId};
use mqtt_proto::{BytesMut, ConnectReasonCode, Packet, ProtocolVersion, Publish, QoS, Subscribe};

const N: u16 = 2;
const BOUND: usize = 4;

fn id_on(prefix: &str, home: usize) -> String {
    (0..)
        .map(|k| format!("{prefix}-{k}"))
        .find(|id| shard_for(id, N) == ShardId(home as u16))
        .unwrap()
}

fn cluster() -> Cluster {
    let config = Config {
        max_peer_queue: BOUND,
        sys_interval: 0,
        ..Config::default()
    };
    Cluster::new(config, N, 5)
}

fn client_on(c: &mut Cluster, on: usize, id: &str, keep_alive: u16) -> ConnId {
    let mut cn = connect(id, V5);
    cn.keep_alive = keep_alive;
    let (conn, ack) = c.connect_on(on, cn);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success, "{ack:?}");
    conn
}

/// A publisher on shard 0 and a subscriber to `t` (QoS 1) on shard 1.
fn pair(c: &mut Cluster) -> (ConnId, ConnId) {
    let s = client_on(c, 1, &id_on("sub", 1), 0);
    let sub_packet = Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub("t", QoS::AtLeastOnce)].into_iter().collect(),
    };
    c.send(s, V5, sub_packet);
    assert!(matches!(c.recv(s).as_slice(), [Packet::SubAck(_)]));
    let p = client_on(c, 0, &id_on("pub", 0), 10);
    (p, s)
}

fn encode(packets: &[Publish], v: ProtocolVersion) -> BytesMut {
    let mut b = BytesMut::new();
    for p in packets {
        Packet::from(p.clone()).encode(v, &mut b).unwrap();
    }
    b
}

fn payloads(c: &mut Cluster, conn: ConnId) -> Vec<(QoS, Vec<u8>)> {
    publishes(c.recv(conn))
        .into_iter()
        .map(|p| (p.qos_pid.qos(), p.payload.to_vec()))
        .collect()
}

/// Packet ids of the PUBACKs among `packets`.
fn pubacks(packets: &[Packet]) -> Vec<u16> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::PubAck(a) => Some(a.packet_id.get()),
            _ => None,
        })
        .collect()
}

#[test]
fn messages_from_one_input_cross_as_one_batch_in_order() {
    let mut c = cluster();
    let (p, s) = pair(&mut c);
    let before = c.peer_deliveries.get(&1).copied().unwrap_or(0);
    let burst: Vec<Publish> = [b"1", b"2", b"3"]
        .iter()
        .map(|b| publish("t", *b, QoS::AtMostOnce, 0))
        .collect();
    c.send_bytes(p, &encode(&burst, V5));
    assert_eq!(
        c.peer_deliveries.get(&1).copied().unwrap_or(0) - before,
        1,
        "one batch for three messages"
    );
    let got: Vec<Vec<u8>> = payloads(&mut c, s).into_iter().map(|(_, b)| b).collect();
    assert_eq!(got, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
}

#[test]
fn qos_0_beyond_the_bound_is_dropped_and_counted() {
    let mut c = cluster();
    let (p, s) = pair(&mut c);
    c.hold(0);
    for k in 0..(BOUND + 3) {
        let payload: &'static [u8] = [b"q0", b"q1", b"q2", b"q3", b"q4", b"q5", b"q6"][k];
        c.send(p, V5, publish("t", payload, QoS::AtMostOnce, 0));
    }
    assert_eq!(c.shards[0].stats().peer_dropped, 3);
    assert_eq!(c.shards[0].peer_queued(ShardId(1)), BOUND);
    assert_eq!(c.unconsumed(p), 0, "QoS 0 never stops the reader");
    assert!(payloads(&mut c, s).is_empty());
    c.release(0);
    let got: Vec<Vec<u8>> = payloads(&mut c, s).into_iter().map(|(_, b)| b).collect();
    assert_eq!(
        got,
        [
            b"q0".to_vec(),
            b"q1".to_vec(),
            b"q2".to_vec(),
            b"q3".to_vec()
        ]
    );
}

#[test]
fn qos_1_over_the_bound_pauses_the_publisher_and_nothing_is_lost() {
    let mut c = cluster();
    let (p, s) = pair(&mut c);
    c.hold(0);
    for _ in 0..BOUND {
        c.send(p, V5, publish("t", b"zero", QoS::AtMostOnce, 0));
    }
    // The outbox is full. Five QoS 1 PUBLISHes in one read: the first goes over the bound,
    // the others stay in the read buffer.
    let burst: Vec<Publish> = (1..=5u16)
        .map(|i| {
            let payload: &'static [u8] = [b"m1", b"m2", b"m3", b"m4", b"m5"][usize::from(i - 1)];
            publish("t", payload, QoS::AtLeastOnce, i)
        })
        .collect();
    let rest = encode(&burst[1..], V5).len();
    c.send_bytes(p, &encode(&burst, V5));
    assert_eq!(pubacks(&c.recv(p)), [1]);
    assert_eq!(c.unconsumed(p), rest, "m2..m5 wait unread");
    assert_eq!(c.shards[0].peer_queued(ShardId(1)), BOUND + 1);
    assert_eq!(c.shards[0].stats().peer_dropped, 0);
    assert_eq!(c.shards[0].stats().messages_received, BOUND as u64 + 1);
    // A paused publisher is not timed out by keep alive (10 s): its silence is ours.
    c.advance(60_000);
    assert!(!c.is_closed(p));
    assert_eq!(c.unconsumed(p), rest);
    assert!(payloads(&mut c, s).is_empty());
    // The link drains: the publisher resumes, and every message arrives in order.
    c.release(0);
    assert_eq!(c.resumes.get(&p), Some(&1));
    assert_eq!(c.unconsumed(p), 0);
    assert_eq!(pubacks(&c.recv(p)), [2, 3, 4, 5]);
    let got = payloads(&mut c, s);
    let want: Vec<(QoS, Vec<u8>)> = [b"zero"; BOUND]
        .iter()
        .map(|b| (QoS::AtMostOnce, b.to_vec()))
        .chain(
            [b"m1", b"m2", b"m3", b"m4", b"m5"]
                .iter()
                .map(|b| (QoS::AtLeastOnce, b.to_vec())),
        )
        .collect();
    assert_eq!(got, want);
    assert_eq!(c.shards[0].stats().peer_dropped, 0);
}

#[test]
fn acknowledgements_are_read_while_publishes_wait() {
    let mut c = cluster();
    let (p, _s) = pair(&mut c);
    // A second subscriber on shard 0 with a QoS 1 message in flight.
    let local = client_on(&mut c, 0, &id_on("local", 0), 0);
    let sub_packet = Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub("t", QoS::AtLeastOnce)].into_iter().collect(),
    };
    c.send(local, V5, sub_packet);
    let _ = c.recv(local);
    c.hold(0);
    for _ in 0..=BOUND {
        c.send(p, V5, publish("t", b"x", QoS::AtLeastOnce, 1));
    }
    let got = publishes(c.recv(local));
    assert_eq!(got.len(), BOUND + 1);
    // The publisher is paused now; the local subscriber's PUBACKs are still read.
    c.send(p, V5, publish("t", b"waits", QoS::AtLeastOnce, 2));
    assert!(c.unconsumed(p) > 0);
    for g in &got {
        let id = match g.qos_pid {
            mqtt_proto::QosPid::AtLeastOnce(id) => id.get(),
            _ => panic!(),
        };
        c.send(local, V5, puback(id));
        assert_eq!(c.unconsumed(local), 0);
    }
    c.release(0);
    assert_eq!(c.unconsumed(p), 0);
    assert_eq!(publishes(c.recv(local)).len(), 1, "the waiting message");
}
