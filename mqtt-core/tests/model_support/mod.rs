//! The reference-model property test's machinery: the operations, a model of the broker
//! ([`reference`]) and scripted clients that drive the real shard and check it against the
//! model ([`world`]).

mod reference;
mod world;

use mqtt_proto::QoS;

pub use world::World;

/// Client identifiers are `c0`..`c2`.
pub const CLIENTS: usize = 3;
/// Few topics, so that order and overlap questions come up often.
pub const TOPICS: [&str; 2] = ["t/a", "t/b"];
/// Filters, with wildcards and overlaps.
pub const FILTERS: [&str; 4] = ["t/a", "t/+", "#", "+/b"];
/// Session Expiry Interval in CONNECT (`None`: absent, meaning 0).
pub const EXPIRIES: [Option<u32>; 4] = [None, Some(5), Some(60), Some(u32::MAX)];
/// Session Expiry Interval in DISCONNECT.
pub const DISCONNECT_EXPIRIES: [u32; 4] = [0, 5, 60, u32::MAX];
/// The server's maximum Session Expiry Interval in the test.
pub const MAX_EXPIRY: u32 = 3600;

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum Op {
    Connect {
        c: usize,
        clean: bool,
        expiry: usize,
        v311: bool,
        /// Receive Maximum 2 instead of the default (v5 only).
        small_window: bool,
    },
    Subscribe {
        c: usize,
        f: usize,
        qos: u8,
    },
    Unsubscribe {
        c: usize,
        f: usize,
    },
    Publish {
        c: usize,
        t: usize,
        qos: u8,
        retain: bool,
    },
    /// Read what arrived; answer it (and everything still owed) if `ack`.
    Process {
        c: usize,
        ack: bool,
    },
    /// The network connection breaks (no DISCONNECT).
    Drop {
        c: usize,
    },
    /// DISCONNECT 0x00, optionally with a new Session Expiry Interval (v5).
    Disconnect {
        c: usize,
        expiry: Option<usize>,
    },
    Advance {
        secs: u64,
    },
}

pub fn qos(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Runs `ops`, then lets everyone settle and checks delivery, then tears everything down.
pub fn run(ops: &[Op]) {
    let mut w = World::new();
    for op in ops {
        w.apply(op);
    }
    w.settle();
    w.check_delivery();
    w.teardown();
}
