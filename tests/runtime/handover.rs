//! Connections accepted on a shard other than their client's home shard are handed over, and
//! then served as if they had arrived there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::blocking::*;
use mqtt_core::{shard_for, ShardId};
use mqtt_proto::{Packet, QoS};

on_both! {
fn every_client_is_served_whichever_shard_accepted_it() {
    // 40 connections spread by the kernel over 2 shards: about half land on the shard that
    // is not their home (the chance that none does is 2^-40) and are handed over.
    let broker = start(2);
    let a = addr(&broker);
    let ids: Vec<String> = (0..40).map(|i| format!("handover-{i}")).collect();
    let homes: Vec<ShardId> = ids.iter().map(|id| shard_for(id, 2)).collect();
    assert!(homes.contains(&ShardId(0)) && homes.contains(&ShardId(1)));
    let mut clients: Vec<Client> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let v = if i % 2 == 0 { V5 } else { V311 };
            let mut c = Client::connect(a, id, v);
            c.subscribe(&format!("to/{id}"), QoS::AtLeastOnce);
            c
        })
        .collect();
    let mut publisher = Client::connect(a, "handover-publisher", V5);
    for (i, id) in ids.iter().enumerate() {
        publisher.publish(
            &format!("to/{id}"),
            id.as_bytes(),
            QoS::AtLeastOnce,
            1 + i as u16,
        );
    }
    for (c, id) in clients.iter_mut().zip(&ids) {
        let p = c.recv_publish();
        assert_eq!(&p.topic[..], format!("to/{id}"));
        assert_eq!(&p.payload[..], id.as_bytes());
    }
    let counters = broker.counters();
    assert_eq!(counters.accepted, 41);
    assert!(counters.handed_over > 0, "{counters:?}");
    assert_eq!(counters.adopted, counters.handed_over);
    broker.shutdown().unwrap();
}
}

on_both! {
fn a_second_connection_takes_the_session_over_on_its_home_shard_mqtt_3_1_4_3() {
    let broker = start(2);
    let a = addr(&broker);
    for round in 0..6 {
        let id = format!("takeover-{round}");
        let mut first = Client::connect(a, &id, V5);
        let mut second = Client::connect(a, &id, V5);
        // The existing connection gets DISCONNECT 0x8E Session taken over, then is closed.
        match first.recv() {
            Packet::Disconnect(d) => assert_eq!(d.reason_code.as_u8(), 0x8E),
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
        first.expect_closed(RECV_TIMEOUT);
        second.send(Packet::PingReq);
        assert!(matches!(second.recv(), Packet::PingResp));
    }
    broker.shutdown().unwrap();
}
}
