//! Subscribe and publish across connections and across shards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::blocking::*;
use mqtt_core::{shard_for, ShardId};
use mqtt_proto::QoS;

/// A client identifier whose home is `shard` of `count`.
fn id_on(shard: u16, count: u16, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|id| shard_for(id, count) == ShardId(shard))
        .unwrap()
}

fn deliver(shards: u16) {
    let broker = start(usize::from(shards));
    let a = addr(&broker);
    let mut subs: Vec<Client> = (0..shards)
        .map(|s| {
            let mut c = Client::connect(a, &id_on(s, shards, "sub"), V5);
            let ack = c.subscribe("sensors/+/temp", QoS::AtLeastOnce);
            assert_eq!(ack.reason_codes[0].as_u8(), 1);
            c
        })
        .collect();
    for s in 0..shards {
        let mut publisher = Client::connect(a, &id_on(s, shards, "pub"), V311);
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce].into_iter().enumerate() {
            let payload = format!("from-{s}-{i}");
            publisher.publish(
                "sensors/kitchen/temp",
                payload.as_bytes(),
                qos,
                1 + i as u16,
            );
            for sub in &mut subs {
                let p = sub.recv_publish();
                assert_eq!(&p.topic[..], "sensors/kitchen/temp");
                assert_eq!(&p.payload[..], payload.as_bytes());
                assert_eq!(p.qos_pid.qos(), qos);
            }
        }
    }
    broker.shutdown().unwrap();
}

on_both! {
fn publish_reaches_every_matching_subscriber_on_one_shard_mqtt_3_3_4_1() {
    deliver(1);
}
}

on_both! {
fn publish_reaches_subscribers_on_every_shard_mqtt_3_3_4_1() {
    deliver(2);
}
}

on_both! {
fn many_messages_keep_their_order_across_shards_mqtt_4_6_0_6() {
    let broker = start(2);
    let a = addr(&broker);
    let mut sub = Client::connect(a, &id_on(0, 2, "order-sub"), V5);
    sub.subscribe("order/t", QoS::AtLeastOnce);
    let mut publisher = Client::connect(a, &id_on(1, 2, "order-pub"), V5);
    for i in 0..500u16 {
        publisher.publish("order/t", &i.to_be_bytes(), QoS::AtMostOnce, 1);
    }
    for i in 0..500u16 {
        let p = sub.recv_publish();
        assert_eq!(&p.payload[..], &i.to_be_bytes());
    }
    broker.shutdown().unwrap();
}
}
