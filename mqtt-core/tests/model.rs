//! Reference-model property test: random operation sequences over a few clients (connect with
//! Clean Start and Session Expiry, subscribe and unsubscribe with wildcards, publish at QoS
//! 0/1/2 with and without retain, acknowledge or not, drop the connection, disconnect, let
//! time pass, reconnect), checked against a small model of what the broker must do.
//!
//! Checked after every step: Session Present, SUBACK/UNSUBACK codes, which connections are
//! open, session and subscription counts, and that every live delivery was owed to that
//! session at the QoS the model computes. At the end every client reconnects and acknowledges
//! everything, then: at least once for QoS 1, exactly once for QoS 2, per-publisher order per
//! topic; and once everyone is gone and the sessions have expired, nothing is left (sessions,
//! connections, subscriptions, timers).
//!
//! The client side follows the receiver rules of MQTT 5 §4.3.3 (a QoS 2 packet identifier is
//! "received" until the client sends PUBCOMP), and re-sends its own unacknowledged PUBLISH and
//! PUBREL on resume [MQTT-4.4.0-1]. Each routing of a message carries `msgid:route` as its
//! payload: a QoS 1 message re-sent by its publisher is a new routing of the same message.
//! `PROPTEST_CASES` overrides the default of 64 cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod model_support;

use model_support::{run, Op, CLIENTS, DISCONNECT_EXPIRIES, EXPIRIES, FILTERS, TOPICS};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    prop_oneof![
        3 => (c.clone(), prop::bool::weighted(0.3), 0..EXPIRIES.len(), prop::bool::weighted(0.2),
              prop::bool::weighted(0.3))
            .prop_map(|(c, clean, expiry, v311, small_window)| Op::Connect {
                c, clean, expiry, v311, small_window
            }),
        3 => (c.clone(), 0..FILTERS.len(), 0..3u8).prop_map(|(c, f, qos)| Op::Subscribe { c, f, qos }),
        1 => (c.clone(), 0..FILTERS.len()).prop_map(|(c, f)| Op::Unsubscribe { c, f }),
        6 => (c.clone(), 0..TOPICS.len(), 0..3u8, prop::bool::weighted(0.2))
            .prop_map(|(c, t, qos, retain)| Op::Publish { c, t, qos, retain }),
        4 => (c.clone(), any::<bool>()).prop_map(|(c, ack)| Op::Process { c, ack }),
        2 => c.clone().prop_map(|c| Op::Drop { c }),
        1 => (c, prop::option::of(0..DISCONNECT_EXPIRIES.len()))
            .prop_map(|(c, expiry)| Op::Disconnect { c, expiry }),
        2 => prop::sample::select(vec![1u64, 4, 30, 61]).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_the_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops);
    }
}

/// A fixed scenario through the same driver: takeover, resume with re-sends, expiry.
#[test]
fn model_driver_smoke() {
    use Op::*;
    run(&[
        Connect {
            c: 0,
            clean: false,
            expiry: 2,
            v311: false,
            small_window: false,
        },
        Subscribe { c: 0, f: 1, qos: 2 },
        Connect {
            c: 1,
            clean: true,
            expiry: 0,
            v311: true,
            small_window: false,
        },
        Publish {
            c: 1,
            t: 0,
            qos: 2,
            retain: true,
        },
        Publish {
            c: 1,
            t: 1,
            qos: 1,
            retain: false,
        },
        Process { c: 0, ack: false },
        Drop { c: 0 },
        Publish {
            c: 1,
            t: 0,
            qos: 1,
            retain: false,
        },
        Connect {
            c: 0,
            clean: false,
            expiry: 2,
            v311: false,
            small_window: false,
        },
        Connect {
            c: 0,
            clean: false,
            expiry: 1,
            v311: false,
            small_window: false,
        },
        Process { c: 0, ack: true },
        Disconnect {
            c: 0,
            expiry: Some(0),
        },
        Advance { secs: 61 },
    ]);
}

/// Two unread QoS 1 messages from one publisher are re-sent on resume in their order
/// [MQTT-4.6.0-1] (found by the property test when the re-send order was reversed).
#[test]
fn model_resend_keeps_publisher_order() {
    use Op::*;
    run(&[
        Connect {
            c: 1,
            clean: false,
            expiry: 0,
            v311: false,
            small_window: false,
        },
        Connect {
            c: 2,
            clean: false,
            expiry: 1,
            v311: false,
            small_window: false,
        },
        Subscribe { c: 2, f: 2, qos: 1 },
        Publish {
            c: 1,
            t: 1,
            qos: 1,
            retain: false,
        },
        Publish {
            c: 1,
            t: 1,
            qos: 1,
            retain: false,
        },
        Connect {
            c: 2,
            clean: false,
            expiry: 0,
            v311: false,
            small_window: false,
        },
    ]);
}
