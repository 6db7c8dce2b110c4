//! Graceful shutdown: wills first (reaching subscribers on every shard), then DISCONNECT 0x8B
//! to v5 clients and every connection closed; and the configurable SUBACK code of a
//! subscription the ACL refuses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{DisconnectReasonCode, Packet, Publish, QoS, SubAckReasonCode};

fn quiet() -> Config {
    Config {
        sys_interval: 0,
        ..Config::default()
    }
}

fn disconnect_code(packets: &[Packet]) -> Option<DisconnectReasonCode> {
    packets.iter().find_map(|p| match p {
        Packet::Disconnect(d) => Some(d.reason_code),
        _ => None,
    })
}

fn will_payloads(packets: &[Packet]) -> Vec<String> {
    let mut v: Vec<String> = packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(Publish { payload, .. }) => {
                Some(String::from_utf8_lossy(payload).into_owned())
            }
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn shutdown_publishes_every_will_then_disconnects_v5_with_0x8b() {
    let mut h = Harness::new(quiet());
    let w = h.client("watcher", V5);
    h.subscribe(w, V5, "will/#", QoS::AtLeastOnce);
    // Connected, immediate will.
    let a = with_will(
        connect_v5("a", true, None),
        will("will/a", b"a", QoS::AtLeastOnce, false),
    );
    let (a, _, _) = h.connect_full(a);
    // Connected, delayed will: the session ends with the broker, so it goes now.
    let b = with_will(
        connect_v5("b", true, Some(600)),
        will_delayed("will/b", b"b", 300),
    );
    let (_b, _, _) = h.connect_full(b);
    // Gone, waiting out its delay.
    let c = with_will(
        connect_v5("c", true, Some(600)),
        will_delayed("will/c", b"c", 300),
    );
    let (c, _, _) = h.connect_full(c);
    h.drop_conn(c);
    // A 3.1.1 client without a will.
    let old = h.client("old", V311);
    h.recv(w);

    h.shard.shutdown_wills(h.now);
    h.drain();
    assert!(h.shard.is_shutting_down());
    let got = h.recv(w);
    assert_eq!(will_payloads(&got), ["a", "b", "c"], "{got:?}");
    assert!(!h.closed.contains(&w), "subscribers stay until phase 2");

    h.shard.shutdown_close(h.now);
    h.drain();
    for conn in [w, a, old] {
        assert!(h.closed.contains(&conn), "{conn:?} closed");
    }
    let wp = h.recv(w);
    assert_eq!(
        disconnect_code(&wp),
        Some(DisconnectReasonCode::ServerShuttingDown)
    );
    assert_eq!(will_payloads(&wp), Vec::<String>::new(), "no will twice");
    assert_eq!(
        disconnect_code(&h.recv(old)),
        None,
        "3.1.1 has no DISCONNECT"
    );
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn connections_accepted_during_shutdown_are_closed_at_once() {
    let mut h = Harness::new(quiet());
    h.shard.shutdown_wills(h.now);
    h.drain();
    let late = h.open();
    assert!(h.closed.contains(&late));
    assert_eq!(h.shard.connection_count(), 0);
}

#[test]
fn shutdown_wills_reach_subscribers_on_other_shards_before_their_disconnect() {
    let mut c = Cluster::new(quiet(), 2, 7);
    let on0 = name_on("sub", 0, 2);
    let on1 = name_on("dying", 1, 2);
    let w: ConnId = c.client(&on0);
    c.sub(w, "will/#", QoS::AtLeastOnce);
    let d = c.client_with(with_will(
        connect_v5(&on1, true, None),
        will("will/x", b"x", QoS::AtLeastOnce, false),
    ));
    c.take_all(w);
    let now = c.now;
    for s in &mut c.shards {
        s.shutdown_wills(now);
    }
    c.settle();
    for s in &mut c.shards {
        s.shutdown_close(now);
    }
    c.settle();
    let got = c.recv(w);
    let will_at = got
        .iter()
        .position(|p| matches!(p, Packet::Publish(p) if p.topic == "will/x"))
        .expect("the will arrived");
    let disc_at = got
        .iter()
        .position(|p| matches!(p, Packet::Disconnect(_)))
        .expect("DISCONNECT arrived");
    assert!(will_at < disc_at, "{got:?}");
    assert_eq!(
        disconnect_code(&got),
        Some(DisconnectReasonCode::ServerShuttingDown)
    );
    assert!(c.is_closed(w) && c.is_closed(d));
}

#[test]
fn refused_subscription_code_is_configurable() {
    for (code, v, want) in [
        (SubAckReasonCode::NotAuthorized, V5, 0x87),
        (SubAckReasonCode::UnspecifiedError, V5, 0x80),
        (SubAckReasonCode::NotAuthorized, V311, 0x80),
    ] {
        let mut h = Harness::new(Config {
            subscribe_denied_reason: code,
            ..quiet()
        });
        let rules = Rules::default();
        h.shard.set_acl(Box::new(rules.clone()));
        rules.deny_subscribe("s", "test/nosubscribe");
        let s = h.client("s", v);
        let ack = h.subscribe(s, v, "test/nosubscribe", QoS::AtMostOnce);
        assert_eq!(codes(&ack), [want], "{code:?} {v:?}");
    }
}
