//! Random interleavings of publishes, held and released pipes, cut connections, reconnects
//! and time against the broker core: every QoS 1 message arrives at least once, every QoS 2
//! message exactly once [MQTT-4.3.3-10], and every publish is completed exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod client_support;

use std::collections::HashMap;

use client_support::*;
use mqtt_core::client::{CloseReason, ConnectionState, Event, PacketToken};
use mqtt_core::Config;
use mqtt_proto::QoS;
use proptest::prelude::*;

const PUBLISHER: usize = 0;
const SUBSCRIBER: usize = 1;

#[derive(Debug, Clone)]
enum Op {
    /// Publish the next message, at QoS 2 if true, else QoS 1.
    Publish(bool),
    /// Toggle holding client → broker bytes of a client.
    HoldUp(usize),
    /// Toggle holding broker → client bytes of a client.
    HoldDown(usize),
    /// Cut a client's connection: bytes in the pipes are lost.
    Cut(usize),
    /// Reconnect a client that is disconnected.
    Reconnect(usize),
    /// Let time pass (milliseconds).
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..2usize;
    prop_oneof![
        6 => any::<bool>().prop_map(Op::Publish),
        2 => client.clone().prop_map(Op::HoldUp),
        2 => client.clone().prop_map(Op::HoldDown),
        2 => client.clone().prop_map(Op::Cut),
        3 => client.prop_map(Op::Reconnect),
        1 => (0..5_000u16).prop_map(Op::Advance),
    ]
}

/// What the publisher and the subscriber reported over the run.
#[derive(Default)]
struct Record {
    completed: HashMap<PacketToken, usize>,
    delivered: HashMap<u32, usize>,
    violations: Vec<CloseReason>,
}

impl Record {
    fn take(&mut self, net: &mut Net) {
        for e in net.events(PUBLISHER) {
            match e {
                Event::Published { token, reason, .. } => {
                    assert!(reason.0 < 0x80, "refused: {reason:?}");
                    *self.completed.entry(token).or_default() += 1;
                }
                Event::Failed { token, error } => panic!("{token:?} failed: {error}"),
                Event::Disconnected(r @ CloseReason::ProtocolError(_)) => self.violations.push(r),
                _ => {}
            }
        }
        for e in net.events(SUBSCRIBER) {
            match e {
                Event::Message(m) => {
                    let id = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                    *self.delivered.entry(id).or_default() += 1;
                }
                Event::Disconnected(r @ CloseReason::ProtocolError(_)) => self.violations.push(r),
                _ => {}
            }
        }
    }
}

fn run(v5: bool, ops: &[Op]) {
    let version = if v5 { V5 } else { V311 };
    let mut net = Net::new(Config {
        receive_maximum: 4,
        max_inflight: 8,
        ..Config::default()
    });
    net.add(persistent("p", version));
    net.add(persistent("s", version));
    net.connect_ok(PUBLISHER);
    net.connect_ok(SUBSCRIBER);
    net.subscribe(SUBSCRIBER, "t", QoS::ExactlyOnce);
    let mut record = Record::default();
    let mut expected: Vec<(PacketToken, QoS)> = Vec::new();
    for op in ops {
        match *op {
            Op::Publish(two) => {
                let qos = if two {
                    QoS::ExactlyOnce
                } else {
                    QoS::AtLeastOnce
                };
                let id = u32::try_from(expected.len()).unwrap();
                let now = net.now;
                let token = net
                    .client(PUBLISHER)
                    .publish(msg("t", &id.to_be_bytes(), qos), now)
                    .unwrap();
                expected.push((token, qos));
            }
            Op::HoldUp(i) => net.peers[i].hold_up ^= true,
            Op::HoldDown(i) => net.peers[i].hold_down ^= true,
            Op::Cut(i) => net.cut(i),
            Op::Reconnect(i) => {
                if net.peers[i].conn.is_none()
                    && net.client(i).state() == ConnectionState::Disconnected
                {
                    net.connect(i);
                }
            }
            Op::Advance(ms) => net.advance(u64::from(ms)),
        }
        net.pump();
        record.take(&mut net);
    }
    // Heal the network and let everything finish.
    for _ in 0..20 {
        for i in [PUBLISHER, SUBSCRIBER] {
            net.peers[i].hold_up = false;
            net.peers[i].hold_down = false;
        }
        net.pump();
        for i in [PUBLISHER, SUBSCRIBER] {
            if net.peers[i].conn.is_none() {
                net.connect(i);
            }
        }
        net.advance(1_000);
        record.take(&mut net);
        let settled = net.client(PUBLISHER).inflight_len() == 0
            && net.client(PUBLISHER).queued_len() == 0
            && net.shard.occupancy().max_inflight == 0
            && net.shard.occupancy().max_queued == 0;
        if settled {
            break;
        }
    }
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    for (id, (token, qos)) in expected.iter().enumerate() {
        let id = u32::try_from(id).unwrap();
        assert_eq!(
            record.completed.get(token),
            Some(&1),
            "publish {id} ({qos:?}) completed once"
        );
        let n = record.delivered.get(&id).copied().unwrap_or(0);
        match qos {
            QoS::ExactlyOnce => assert_eq!(n, 1, "QoS 2 message {id} delivered {n} times"),
            _ => assert!(n >= 1, "QoS 1 message {id} lost"),
        }
    }
    assert_eq!(
        record.delivered.len(),
        expected.len(),
        "only published messages arrive"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_cuts_deliver_qos1_at_least_once_and_qos2_exactly_once_mqtt_4_3_3_10(
        v5 in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(v5, &ops);
    }
}

#[test]
fn a_cut_in_every_direction_with_both_qos_levels() {
    use Op::*;
    run(
        true,
        &[
            Publish(true),
            HoldDown(PUBLISHER),
            Publish(false),
            Publish(true),
            Cut(PUBLISHER),
            HoldUp(SUBSCRIBER),
            Reconnect(PUBLISHER),
            HoldDown(PUBLISHER),
            Publish(true),
            Cut(SUBSCRIBER),
            Reconnect(SUBSCRIBER),
            Advance(3_000),
        ],
    );
}
