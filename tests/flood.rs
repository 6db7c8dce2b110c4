//! A QoS 0 flood from one publisher to one subscriber that keeps up: nothing may be dropped.
//! The broker reads one socket read's worth of input per turn of a connection's task, so the
//! subscriber's task writes what that read delivered before the publisher is read again;
//! reading on would fill the subscriber's output past `max_outbound_buffer`, where QoS 0 is
//! dropped, although its socket could take it (half of a p2p flood was lost that way).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::time::Duration;

use common::raw::{self, connect_v5_ok, Raw, Read, PUBLISH, SUBACK};
use common::{config, id_on_shard, start_broker, topic};

/// Messages in the flood: about 3.4 MB of PUBLISH packets, over 25 times the subscriber's
/// output bound in this test.
const COUNT: usize = 40_000;

scenario! {
    async fn qos0_flood_to_a_subscriber_that_keeps_up_loses_nothing(shards) {
        // A small output bound (128 KiB), so that reading on past one read per turn overflows.
        let mut cfg = config(shards);
        cfg.core.max_outbound_buffer = 128 * 1024;
        let (broker, addr) = start_broker(cfg);
        let t = topic("flood");
        // Both clients on the same home shard: the cross-shard outbox has a bound of its own.
        let mut sub = connect_v5_ok(addr, &raw::connect_v5(&id_on_shard("flood-sub", shards, 0), 0, &[], None)).await;
        sub.send(&raw::subscribe_v5(1, &t, 0)).await.unwrap();
        sub.expect_kind(SUBACK, "SUBACK").await;
        let mut publisher =
            connect_v5_ok(addr, &raw::connect_v5(&id_on_shard("flood-pub", shards, 0), 0, &[], None)).await;
        let one = raw::publish_v5(t.as_bytes(), 0, 0, &[], &[0x5a; 64]);
        let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * COUNT).collect();
        let writer = tokio::spawn(async move {
            publisher.send(&all).await.unwrap();
            publisher
        });
        let mut got = 0;
        while got < COUNT {
            match sub.read(Duration::from_secs(10)).await {
                Read::Packet(p) if p.kind() == PUBLISH => got += 1,
                Read::Packet(p) => panic!("unexpected packet {p:?}"),
                other => panic!("subscriber stopped after {got} of {COUNT} messages: {other:?}"),
            }
        }
        assert_eq!(got, COUNT, "QoS 0 messages lost in a flood the subscriber kept up with");
        let _publisher: Raw = writer.await.unwrap();
        broker.shutdown().unwrap();
    }
}
