//! A full link between shards makes the sending side wait: nothing is dropped and order is
//! kept, also when the shard pauses its publishers' input until the link drains.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::blocking::*;
use mqtt_core::{shard_for, ShardId};
use mqtt_proto::{Bytes, Packet, Publish, QoS, QosPid};

fn id_on(shard: u16, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|id| shard_for(id, 2) == ShardId(shard))
        .unwrap()
}

on_both! {
fn qos1_across_a_full_link_is_neither_dropped_nor_reordered_mqtt_4_6_0_6() {
    const N: u16 = 2000;
    const WINDOW: u16 = 50;
    let mut config = config(2);
    config.runtime.channel_capacity = 1;
    config.core.max_peer_queue = 2;
    let broker = Broker::start(config).unwrap();
    let a = addr(&broker);
    let mut sub = Client::connect(a, &id_on(0, "bp-sub"), V5);
    sub.subscribe("bp/t", QoS::AtLeastOnce);
    let mut publisher = Client::connect(a, &id_on(1, "bp-pub"), V5);
    let sender = std::thread::spawn(move || {
        // Bursts of WINDOW publishes (within the broker's Receive Maximum), then their PUBACKs.
        for burst in 0..N / WINDOW {
            for k in 0..WINDOW {
                let i = burst * WINDOW + k;
                publisher.send(Publish {
                    dup: false,
                    qos_pid: QosPid::new(QoS::AtLeastOnce, pid(k + 1)),
                    retain: false,
                    topic: "bp/t".into(),
                    properties: Default::default(),
                    payload: Bytes::copy_from_slice(&i.to_be_bytes()),
                });
            }
            for _ in 0..WINDOW {
                assert!(matches!(publisher.recv(), Packet::PubAck(_)));
            }
        }
        publisher
    });
    for i in 0..N {
        let p = sub.recv_publish();
        assert_eq!(&p.payload[..], &i.to_be_bytes(), "message {i}");
    }
    drop(sender.join().unwrap());
    broker.shutdown().unwrap();
}
}
