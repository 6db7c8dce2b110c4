//! The home shard: a session lives on `shard_for(client_id, n)`. A CONNECT that lands on another
//! shard is handed over there with the bytes read so far, so takeover, resume, expiry and the
//! will all happen on the home shard. Assigned identifiers hash to the shard that assigns them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{shard_for, Config, ConnId, ShardId};
use mqtt_proto::{
    BytesMut, ConnAck, Connect, ConnectReasonCode, DisconnectReasonCode, Packet, ProtocolVersion,
    QoS, Subscribe,
};

const N: u16 = 3;

/// A client identifier whose home is shard `home` (of `N`).
fn id_on(prefix: &str, home: usize) -> String {
    (0..)
        .map(|k| format!("{prefix}-{k}"))
        .find(|id| shard_for(id, N) == ShardId(home as u16))
        .unwrap()
}

fn cluster() -> Cluster {
    Cluster::new(Config::default(), N, 7)
}

/// Connects on shard `on`; returns the connection, its CONNACK and every packet after it.
fn connect_full(c: &mut Cluster, on: usize, connect: Connect) -> (ConnId, ConnAck, Vec<Packet>) {
    let conn = c.open(on);
    let v = connect.protocol_version;
    c.send(conn, v, connect);
    let mut got = c.recv(conn).into_iter();
    match got.next() {
        Some(Packet::ConnAck(a)) => (conn, *a, got.collect()),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Connects on shard `on` and asserts success.
fn client_on(c: &mut Cluster, on: usize, connect: Connect) -> ConnId {
    let (conn, ack) = c.connect_on(on, connect);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success, "{ack:?}");
    conn
}

fn subscribe_packet(filter: &str, qos: QoS) -> Subscribe {
    Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: [sub(filter, qos)].into_iter().collect(),
    }
}

fn subscribe(c: &mut Cluster, conn: ConnId, v: ProtocolVersion, filter: &str, qos: QoS) {
    c.send(conn, v, subscribe_packet(filter, qos));
    assert!(
        matches!(c.recv(conn).as_slice(), [Packet::SubAck(_)]),
        "expected SUBACK"
    );
}

fn disconnects(packets: &[Packet]) -> Vec<DisconnectReasonCode> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Disconnect(d) => Some(d.reason_code),
            _ => None,
        })
        .collect()
}

fn sessions(c: &Cluster) -> Vec<usize> {
    c.shards.iter().map(|s| s.session_count()).collect()
}

fn connections(c: &Cluster) -> Vec<usize> {
    c.shards.iter().map(|s| s.connection_count()).collect()
}

fn connect_lands_on_a_foreign_shard_and_is_acked_by_its_home(v: ProtocolVersion) {
    let mut c = cluster();
    let id = id_on("far", 2);
    let (conn, ack) = c.connect_on(1, connect(&id, v));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert!(!ack.session_present);
    assert_eq!(c.owner[&conn], 2, "the home shard serves it");
    assert_eq!(c.handovers, 1);
    assert_eq!(c.shards[1].stats().handovers, 1);
    assert_eq!(
        sessions(&c),
        [0, 0, 1],
        "the session exists only on the home shard"
    );
    assert_eq!(connections(&c), [0, 0, 1]);
    // The shard it landed on kept nothing: no connection, no timer, no counted connect.
    assert_eq!(c.shards[1].poll_timeout(), None);
    assert_eq!(c.shards[1].stats().connects, 0);
    assert_eq!(c.shards[1].stats().bytes_received, 0);
    assert_eq!(c.shards[2].stats().connects, 1);
    assert!(!c.is_closed(conn));
}

#[test]
fn v5_connect_on_a_foreign_shard_is_handed_over_to_the_home_shard() {
    connect_lands_on_a_foreign_shard_and_is_acked_by_its_home(V5);
}

#[test]
fn v311_connect_on_a_foreign_shard_is_handed_over_to_the_home_shard() {
    connect_lands_on_a_foreign_shard_and_is_acked_by_its_home(V311);
}

#[test]
fn connect_on_the_home_shard_stays_there() {
    let mut c = cluster();
    let id = id_on("near", 1);
    let conn = client_on(&mut c, 1, connect(&id, V5));
    assert_eq!(c.owner[&conn], 1);
    assert_eq!(c.handovers, 0);
    assert_eq!(sessions(&c), [0, 1, 0]);
}

#[test]
fn one_shard_never_hands_over() {
    let mut c = Cluster::new(Config::default(), 1, 1);
    for k in 0..20 {
        client_on(&mut c, 0, connect(&format!("c{k}"), V5));
    }
    assert_eq!(c.handovers, 0);
    assert_eq!(c.shards[0].session_count(), 20);
}

#[test]
fn subscribe_pipelined_in_the_connect_bytes_is_handled_on_the_home_shard() {
    let mut c = cluster();
    let id = id_on("pipe", 0);
    let conn = c.open(2);
    let mut bytes = BytesMut::new();
    Packet::from(connect(&id, V5))
        .encode(V5, &mut bytes)
        .unwrap();
    Packet::from(subscribe_packet("a/b", QoS::AtLeastOnce))
        .encode(V5, &mut bytes)
        .unwrap();
    // Half of a PUBLISH too: it travels with the handover and completes on the home shard.
    let mut tail = BytesMut::new();
    Packet::from(publish("a/b", b"mine", QoS::AtMostOnce, 0))
        .encode(V5, &mut tail)
        .unwrap();
    let rest = tail.split_off(3);
    bytes.extend_from_slice(&tail);
    c.send_bytes(conn, &bytes);
    let got = c.recv(conn);
    assert!(
        matches!(got.as_slice(), [Packet::ConnAck(a), Packet::SubAck(_)] if a.reason_code == ConnectReasonCode::Success),
        "{got:?}"
    );
    assert_eq!(c.owner[&conn], 0);
    assert_eq!(c.shards[0].subscription_count(), 1);
    assert_eq!(c.shards[2].subscription_count(), 0);
    assert_eq!(
        c.unconsumed(conn),
        3,
        "the partial PUBLISH waits on the home shard"
    );
    c.send_bytes(conn, &rest);
    let got = publishes(c.recv(conn));
    assert_eq!(got.len(), 1, "its own publish comes back");
    assert_eq!(&got[0].payload[..], b"mine");
    assert_eq!(c.shards[0].stats().messages_received, 1);
}

#[test]
fn connect_split_over_two_reads_is_handed_over_once_complete() {
    let mut c = cluster();
    let id = id_on("split", 1);
    let conn = c.open(0);
    let mut bytes = BytesMut::new();
    Packet::from(connect(&id, V5))
        .encode(V5, &mut bytes)
        .unwrap();
    let second = bytes.split_off(5);
    c.send_bytes(conn, &bytes);
    assert_eq!(c.handovers, 0);
    assert_eq!(c.owner[&conn], 0);
    c.send_bytes(conn, &second);
    assert_eq!(c.handovers, 1);
    assert_eq!(c.owner[&conn], 1);
    assert!(matches!(c.recv(conn).as_slice(), [Packet::ConnAck(_)]));
}

/// [MQTT-3.1.4-3] a second connection with the same identifier, through another shard, takes
/// the session over on the home shard: the old connection gets exactly one DISCONNECT 0x8E.
fn takeover_through_another_shard(clean_start: bool) {
    let mut c = cluster();
    let id = id_on("dup", 2);
    let old = client_on(&mut c, 0, connect_v5(&id, false, Some(300)));
    subscribe(&mut c, old, V5, "t", QoS::AtLeastOnce);
    let (new, ack, _) = connect_full(&mut c, 1, connect_v5(&id, clean_start, Some(300)));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    // [MQTT-3.2.2-2] / [MQTT-3.2.2-3]: Session Present follows Clean Start.
    assert_eq!(ack.session_present, !clean_start);
    assert_eq!(
        disconnects(&c.recv(old)),
        [DisconnectReasonCode::SessionTakenOver]
    );
    assert!(c.is_closed(old));
    assert!(!c.is_closed(new));
    assert_eq!(c.owner[&new], 2);
    assert_eq!(c.shards[2].stats().takeovers, 1);
    assert_eq!(sessions(&c), [0, 0, 1]);
    assert_eq!(connections(&c), [0, 0, 1]);
    let subs = usize::from(!clean_start);
    assert_eq!(c.shards[2].subscription_count(), subs);
    // Nothing more arrives for the old connection later.
    c.advance(60_000);
    assert!(c.recv(old).is_empty());
}

#[test]
fn takeover_through_another_shard_resumes_with_clean_start_0_mqtt_3_1_4_3() {
    takeover_through_another_shard(false);
}

#[test]
fn takeover_through_another_shard_discards_with_clean_start_1_mqtt_3_1_4_3() {
    takeover_through_another_shard(true);
}

#[test]
fn v311_takeover_through_another_shard_closes_the_old_connection_mqtt_3_1_4_3() {
    let mut c = cluster();
    let id = id_on("dup3", 1);
    let mut first = connect(&id, V311);
    first.clean_start = false;
    let old = client_on(&mut c, 2, first.clone());
    let (new, ack, _) = connect_full(&mut c, 0, first);
    assert!(
        ack.session_present,
        "Clean Session 0 resumes [MQTT-3.2.2-2]"
    );
    assert!(c.is_closed(old));
    assert!(
        c.recv(old).is_empty(),
        "3.1.1 has no DISCONNECT from the server"
    );
    assert_eq!(c.owner[&new], 1);
    assert_eq!(c.shards[1].stats().takeovers, 1);
    assert_eq!(sessions(&c), [0, 1, 0]);
}

#[test]
fn session_resumes_on_the_home_shard_with_its_queued_messages() {
    let mut c = cluster();
    let id = id_on("resume", 1);
    let publisher_id = id_on("pub", 1);
    let s = client_on(&mut c, 0, connect_v5(&id, true, Some(600)));
    subscribe(&mut c, s, V5, "q/#", QoS::AtLeastOnce);
    c.send(
        s,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, None),
    );
    assert_eq!(
        sessions(&c),
        [0, 1, 0],
        "kept, disconnected, on the home shard"
    );
    let p = client_on(&mut c, 2, connect(&publisher_id, V5));
    c.send(p, V5, publish("q/1", b"while away", QoS::AtLeastOnce, 1));
    let (s2, ack, rest) = connect_full(&mut c, 2, connect_v5(&id, false, Some(600)));
    assert!(ack.session_present);
    assert_eq!(c.owner[&s2], 1);
    let got = publishes(rest);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"while away");
}

#[test]
fn session_expires_on_the_home_shard() {
    let mut c = cluster();
    let id = id_on("exp", 2);
    let s = client_on(&mut c, 1, connect_v5(&id, true, Some(5)));
    subscribe(&mut c, s, V5, "x", QoS::AtLeastOnce);
    c.drop_conn(s);
    assert_eq!(sessions(&c), [0, 0, 1]);
    c.advance(4_999);
    assert_eq!(sessions(&c), [0, 0, 1]);
    c.advance(1);
    assert_eq!(sessions(&c), [0, 0, 0]);
    assert_eq!(c.shards[2].stats().sessions_expired, 1);
    assert_eq!(c.shards[2].subscription_count(), 0);
    let (_, ack, _) = connect_full(&mut c, 0, connect_v5(&id, false, Some(5)));
    assert!(!ack.session_present, "expired [MQTT-3.1.2-23]");
}

/// Publishes from a watcher on `topic`'s subscriber side and returns the wills it got.
fn will_payloads(c: &mut Cluster, w: ConnId) -> Vec<Vec<u8>> {
    publishes(c.recv(w))
        .into_iter()
        .map(|p| p.payload.to_vec())
        .collect()
}

#[test]
fn will_is_published_once_by_the_home_shard_mqtt_3_1_2_8() {
    let mut c = cluster();
    let id = id_on("willer", 0);
    let watcher = client_on(&mut c, 0, connect(&id_on("watch", 0), V5));
    subscribe(&mut c, watcher, V5, "will/#", QoS::AtLeastOnce);
    let conn = client_on(
        &mut c,
        2,
        with_will(
            connect(&id, V5),
            will("will/x", b"gone", QoS::AtLeastOnce, false),
        ),
    );
    assert_eq!(c.owner[&conn], 0);
    c.drop_conn(conn);
    assert_eq!(will_payloads(&mut c, watcher), [b"gone".to_vec()]);
    let wills: Vec<u64> = c.shards.iter().map(|s| s.stats().wills).collect();
    assert_eq!(wills, [1, 0, 0]);
    c.advance(60_000);
    assert!(will_payloads(&mut c, watcher).is_empty());
}

#[test]
fn will_from_the_home_shard_reaches_a_watcher_on_another_shard_once() {
    let mut c = cluster();
    let watcher = client_on(&mut c, 0, connect(&id_on("watch", 2), V5));
    subscribe(&mut c, watcher, V5, "will/#", QoS::AtLeastOnce);
    let id = id_on("willer", 0);
    let w = will("will/far", b"bye", QoS::AtLeastOnce, false);
    let conn = client_on(&mut c, 1, with_will(connect(&id, V5), w));
    c.drop_conn(conn);
    assert_eq!(will_payloads(&mut c, watcher), [b"bye".to_vec()]);
    let wills: Vec<u64> = c.shards.iter().map(|s| s.stats().wills).collect();
    assert_eq!(wills, [1, 0, 0]);
    c.advance(60_000);
    assert!(will_payloads(&mut c, watcher).is_empty());
}

#[test]
fn will_is_published_once_on_takeover_through_another_shard_mqtt_3_1_4_3() {
    let mut c = cluster();
    let id = id_on("willdup", 1);
    let watcher = client_on(&mut c, 1, connect(&id_on("watch", 1), V5));
    subscribe(&mut c, watcher, V5, "will/#", QoS::AtLeastOnce);
    let w = will("will/y", b"old", QoS::AtLeastOnce, false);
    let old = client_on(&mut c, 0, with_will(connect_v5(&id, false, Some(60)), w));
    let new = client_on(&mut c, 2, connect_v5(&id, false, Some(60)));
    assert!(c.is_closed(old));
    assert_eq!(c.owner[&new], 1);
    assert_eq!(will_payloads(&mut c, watcher), [b"old".to_vec()]);
    c.advance(120_000);
    assert!(will_payloads(&mut c, watcher).is_empty());
    assert_eq!(c.shards[1].stats().wills, 1);
}

#[test]
fn delayed_will_is_cancelled_by_a_reconnect_through_another_shard_mqtt_3_1_3_9() {
    let mut c = cluster();
    let id = id_on("delay", 2);
    let watcher = client_on(&mut c, 2, connect(&id_on("watch", 2), V5));
    subscribe(&mut c, watcher, V5, "will/#", QoS::AtMostOnce);
    let w = will_delayed("will/z", b"late", 10);
    let first = client_on(&mut c, 0, with_will(connect_v5(&id, false, Some(60)), w));
    c.drop_conn(first);
    c.advance(5_000);
    let (_, ack, _) = connect_full(&mut c, 1, connect_v5(&id, false, Some(60)));
    assert!(ack.session_present);
    c.advance(20_000);
    assert!(will_payloads(&mut c, watcher).is_empty());
    assert_eq!(c.shards[2].stats().wills, 0);
}

#[test]
fn delayed_will_is_published_once_by_the_home_shard_after_the_delay() {
    let mut c = cluster();
    let id = id_on("delay2", 1);
    let watcher = client_on(&mut c, 1, connect(&id_on("watch", 1), V5));
    subscribe(&mut c, watcher, V5, "will/#", QoS::AtMostOnce);
    let w = will_delayed("will/z", b"late", 10);
    let first = client_on(&mut c, 2, with_will(connect_v5(&id, false, Some(60)), w));
    c.drop_conn(first);
    c.advance(9_999);
    assert!(will_payloads(&mut c, watcher).is_empty());
    c.advance(1);
    assert_eq!(will_payloads(&mut c, watcher), [b"late".to_vec()]);
    c.advance(120_000);
    assert!(will_payloads(&mut c, watcher).is_empty());
}

/// [MQTT-3.1.3-6] [MQTT-3.2.2-16] an assigned identifier hashes to the shard that assigned
/// it, so the client is never handed over, and a later CONNECT with it finds the session.
#[test]
fn assigned_client_ids_are_homed_where_they_were_assigned() {
    let mut c = cluster();
    for on in 0..usize::from(N) {
        for _ in 0..5 {
            let (conn, ack, _) = connect_full(&mut c, on, connect_v5("", true, Some(60)));
            assert_eq!(ack.reason_code, ConnectReasonCode::Success);
            let id = ack.properties.assigned_client_identifier.clone().unwrap();
            assert_eq!(shard_for(&id, N), ShardId(on as u16), "{id}");
            assert_eq!(c.owner[&conn], on);
        }
    }
    assert_eq!(c.handovers, 0);
    assert_eq!(sessions(&c), [5, 5, 5]);
}

#[test]
fn assigned_id_reconnecting_through_another_shard_resumes_its_session() {
    let mut c = cluster();
    let (conn, ack, _) = connect_full(&mut c, 2, connect_v5("", true, Some(60)));
    let id = ack.properties.assigned_client_identifier.clone().unwrap();
    c.send(
        conn,
        V5,
        disconnect_with(DisconnectReasonCode::NormalDisconnection, None),
    );
    let (again, ack, _) = connect_full(&mut c, 0, connect_v5(&id, false, Some(60)));
    assert!(ack.session_present);
    assert_eq!(c.owner[&again], 2);
    assert_eq!(c.handovers, 1);
}

#[test]
fn v311_empty_client_id_is_assigned_locally() {
    let mut c = cluster();
    for on in 0..usize::from(N) {
        let conn = client_on(&mut c, on, connect("", V311));
        assert_eq!(c.owner[&conn], on);
    }
    assert_eq!(c.handovers, 0);
    assert_eq!(sessions(&c), [1, 1, 1]);
}

#[test]
fn refused_connect_stays_on_the_shard_it_landed_on() {
    let config = Config {
        max_client_id_len: 8,
        ..Config::default()
    };
    let mut c = Cluster::new(config, N, 3);
    let id = id_on("much-too-long", 2);
    let (conn, ack) = c.connect_on(0, connect(&id, V5));
    assert_eq!(ack.reason_code, ConnectReasonCode::ClientIdentifierNotValid);
    assert_eq!(c.handovers, 0);
    assert!(c.is_closed(conn));
    assert_eq!(connections(&c), [0, 0, 0]);
}
