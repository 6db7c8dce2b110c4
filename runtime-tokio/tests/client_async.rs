//! The async client (`runtime_tokio::client`) against ringmq on tokio, ringmq on glommio
//! (Linux) and Mosquitto (started by the test on a random loopback port; skipped with a
//! notice when the `mosquitto` binary is absent).
//!
//! Every case is one `async fn(Kind)`; `cases!` runs it once per broker kind. Connection
//! drops are made by a small TCP proxy between the client and the broker, which can swallow
//! one direction, cut every connection and refuse new ones (`client_common`, shared with
//! `client_manager.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod client_common;

use std::net::SocketAddr;
use std::time::Duration;

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::{
    ByteString, Bytes, ConnectReasonCode, LastWill, ProtocolVersion, Publish, PublishProperties,
    QoS, SubAckReasonCode, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubAckReasonCode, WillProperties,
};
use runtime_tokio::client::{Client, CloseReason, ConnectOptions, Error, Messages, Status};
use tokio::time::timeout;

use client_common::{uid, Kind, Proxy, Setup, Target, DROP_DOWN, DROP_UP, PASS, WAIT};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

cases!(
    pubsub_v5,
    pubsub_v311,
    suback_and_unsuback_reason_codes,
    connack_refusal_is_a_typed_error,
    qos1_retransmitted_after_drop_and_delivered_once,
    qos2_retransmitted_after_drop_and_delivered_once,
    keep_alive_pings_keep_an_idle_connection_up,
    keep_alive_timeout_detects_a_silent_server,
    request_response,
    will_on_drop_but_not_on_disconnect,
    offline_queue_is_bounded_then_delivered_in_order,
    reconnect_after_the_broker_restarts_delivers_inflight_qos1,
);

// ---------------------------------------------------------------------------------------
// Helpers

fn options(addr: SocketAddr, id: &str, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(addr.to_string(), id, version).keep_alive(0)
}

/// Options of a session that outlives its connections (first start clean).
fn persistent(addr: SocketAddr, id: &str, version: ProtocolVersion) -> ConnectOptions {
    let o = options(addr, id, version).session_expiry(3600);
    if version.is_v5() {
        o.clean_start(true)
    } else {
        o.clean_start(false)
    }
}

async fn connect(o: ConnectOptions) -> (Client, Messages) {
    timeout(WAIT, Client::connect(o))
        .await
        .expect("CONNACK in time")
        .expect("connected")
}

async fn next(m: &mut Messages) -> Publish {
    timeout(WAIT, m.recv())
        .await
        .expect("a message in time")
        .expect("the client is running")
}

/// Nothing more arrives within `ms`.
async fn quiet(m: &mut Messages, ms: u64) {
    if let Ok(Some(p)) = timeout(Duration::from_millis(ms), m.recv()).await {
        panic!("unexpected message on {}: {:?}", p.topic, p.payload);
    }
}

/// Every message arriving within `ms`.
async fn collect(m: &mut Messages, ms: u64) -> Vec<Publish> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(p)) = tokio::time::timeout_at(end, m.recv()).await {
        out.push(p);
    }
    out
}

fn sub(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: ByteString::from(filter),
        options: SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        },
    }
}

fn granted(qos: QoS) -> SubAckReasonCode {
    match qos {
        QoS::AtMostOnce => SubAckReasonCode::GrantedQoS0,
        QoS::AtLeastOnce => SubAckReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => SubAckReasonCode::GrantedQoS2,
    }
}

// ---------------------------------------------------------------------------------------
// Cases

async fn pubsub(kind: Kind, version: ProtocolVersion) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("t");
    let (s, mut sm) = connect(options(t.addr, &uid("sub"), version)).await;
    let (p, _pm) = connect(options(t.addr, &uid("pub"), version)).await;
    assert!(s.status().is_connected());
    let ack = s
        .subscribe(format!("{topic}/#"), QoS::ExactlyOnce)
        .await
        .unwrap();
    assert_eq!(ack.reason_codes.as_slice(), [SubAckReasonCode::GrantedQoS2]);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let ack = p
            .publish(format!("{topic}/{qos:?}"), format!("hello {qos:?}"), qos)
            .await
            .unwrap();
        assert_eq!(ack.reason.0, 0, "{:?} on {qos:?}", t.kind);
    }
    // Through the Stream impl for one, recv for the others.
    let first = core::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(core::pin::Pin::new(&mut sm), cx)
    });
    let first = timeout(WAIT, first).await.unwrap().unwrap();
    let rest = [next(&mut sm).await, next(&mut sm).await];
    for (m, qos) in [first, rest[0].clone(), rest[1].clone()].iter().zip([
        QoS::AtMostOnce,
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
    ]) {
        assert_eq!(&*m.topic, format!("{topic}/{qos:?}"));
        assert_eq!(m.payload, Bytes::from(format!("hello {qos:?}")));
        assert_eq!(m.qos_pid.qos(), qos);
    }
    // Many publishes in flight at once.
    let mut pending = Vec::new();
    for i in 0..50 {
        let msg = OutgoingMessage::new(format!("{topic}/many"), format!("{i}"), QoS::AtLeastOnce);
        pending.push(p.start_publish(msg).await.unwrap());
    }
    for f in pending {
        f.await.unwrap();
    }
    for i in 0..50 {
        assert_eq!(next(&mut sm).await.payload, Bytes::from(format!("{i}")));
    }
    p.disconnect().await.unwrap();
    s.disconnect().await.unwrap();
    assert!(matches!(
        s.status(),
        Status::Disconnected(Some(Error::Closed(CloseReason::ByClient(_))))
    ));
}

async fn pubsub_v5(kind: Kind) {
    pubsub(kind, V5).await;
}

async fn pubsub_v311(kind: Kind) {
    pubsub(kind, V311).await;
}

async fn suback_and_unsuback_reason_codes(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let (c, _m) = connect(options(t.addr, &uid("c"), V5)).await;
    let topic = uid("ok");
    let ack = c.subscribe_many(
        vec![sub(&topic, QoS::AtLeastOnce), sub("a/#/b", QoS::AtMostOnce)],
        SubscribeProperties::default(),
    );
    let ack = tokio::select! {
        ack = ack => ack,
        // The subscribe stays pending (it is sent again on the next connection).
        e = c.disconnected() => Err(e.expect("why the connection ended")),
    };
    match t.kind {
        // Mosquitto answers an invalid filter by closing the connection.
        Kind::Mosquitto => {
            let e = ack.map(|a| a.reason_codes).expect_err("mosquitto closes");
            eprintln!("mosquitto on an invalid filter: {e}");
            assert_eq!(e.reason_code().map(|r| r.0), Some(0x81), "{e}");
        }
        _ => {
            let ack = ack.unwrap();
            assert_eq!(
                ack.reason_codes.as_slice(),
                [
                    SubAckReasonCode::GrantedQoS1,
                    SubAckReasonCode::TopicFilterInvalid
                ]
            );
            let un = c.unsubscribe(topic.as_str()).await.unwrap();
            assert_eq!(un.reason_codes.as_slice(), [UnsubAckReasonCode::Success]);
            let un = c.unsubscribe(uid("never")).await.unwrap();
            assert_eq!(
                un.reason_codes.as_slice(),
                [UnsubAckReasonCode::NoSubscriptionExisted]
            );
        }
    }
    // A fresh connection for the rest: granted QoS and UNSUBACK codes.
    let (c, _m) = connect(options(t.addr, &uid("c"), V5)).await;
    let ack = c.subscribe(topic.as_str(), QoS::ExactlyOnce).await.unwrap();
    assert_eq!(ack.reason_codes.as_slice(), [granted(QoS::ExactlyOnce)]);
    let un = c.unsubscribe(topic.as_str()).await.unwrap();
    assert_eq!(un.reason_codes.as_slice(), [UnsubAckReasonCode::Success]);
}

async fn connack_refusal_is_a_typed_error(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Users) else {
        return;
    };
    for version in [V5, V311] {
        let e = Client::connect(options(t.addr, &uid("anon"), version))
            .await
            .map(|_| ())
            .expect_err("anonymous refused");
        let Error::ConnectRefused { reason, .. } = &e else {
            panic!("not a CONNACK refusal: {e:?}");
        };
        assert!(
            matches!(
                reason,
                ConnectReasonCode::NotAuthorized | ConnectReasonCode::BadUserNameOrPassword
            ),
            "{reason:?}"
        );
        assert!(e.reason_code().unwrap().0 >= 0x80);
        eprintln!(
            "{:?} {version:?}: {e} (reason string {:?})",
            t.kind,
            e.reason_string()
        );
    }
    if t.kind != Kind::Mosquitto {
        let e = Client::connect(options(t.addr, &uid("bad"), V5).credentials("alice", "wrong"))
            .await
            .map(|_| ())
            .expect_err("wrong password refused");
        assert_eq!(e.reason_code().unwrap().0, 0x86, "{e}");
        let (c, _m) =
            connect(options(t.addr, &uid("alice"), V5).credentials("alice", "secret")).await;
        c.disconnect().await.unwrap();
    }
}

/// Publishes `qos` through a proxy that swallows one direction, cuts the connection,
/// reconnects, and checks the publish completes and the subscriber got it once.
async fn retransmit(kind: Kind, qos: QoS, swallow: u8) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("rt");
    for version in [V5, V311] {
        let (s, mut sm) = connect(options(t.addr, &uid("sub"), version)).await;
        s.subscribe(topic.as_str(), QoS::ExactlyOnce).await.unwrap();
        let proxy = Proxy::start(t.addr).await;
        let (p, _pm) = connect(persistent(proxy.addr, &uid("pub"), version)).await;
        proxy.set(swallow);
        let msg = OutgoingMessage::new(topic.as_str(), format!("{version:?}"), qos);
        let pending = p.start_publish(msg).await.unwrap();
        // Before the cut: nothing when the PUBLISH was swallowed; with PUBREC swallowed,
        // ringmq has delivered the message already, Mosquitto delivers it on PUBREL.
        let mut got = collect(&mut sm, 300).await;
        if swallow == DROP_UP {
            assert!(got.is_empty());
        }
        proxy.cut();
        proxy.set(PASS);
        let why = timeout(WAIT, p.disconnected()).await.unwrap();
        assert!(
            matches!(why, Some(Error::Closed(_) | Error::Io(_))),
            "{why:?}"
        );
        let connected = timeout(WAIT, p.reconnect()).await.unwrap().unwrap();
        assert!(connected.session_present, "{:?} {version:?}", t.kind);
        let ack = timeout(WAIT, pending).await.unwrap().unwrap();
        assert_eq!(ack.reason.0, 0);
        if got.is_empty() {
            got.push(next(&mut sm).await);
        }
        got.extend(collect(&mut sm, 500).await);
        assert_eq!(got.len(), 1, "{:?} {version:?}: delivered once", t.kind);
        assert_eq!(got[0].payload, format!("{version:?}").as_bytes());
        p.disconnect_with(
            mqtt_proto::DisconnectReasonCode::NormalDisconnection,
            Some(0),
        )
        .await
        .unwrap();
        s.disconnect().await.unwrap();
    }
}

async fn qos1_retransmitted_after_drop_and_delivered_once(kind: Kind) {
    retransmit(kind, QoS::AtLeastOnce, DROP_UP).await;
}

async fn qos2_retransmitted_after_drop_and_delivered_once(kind: Kind) {
    retransmit(kind, QoS::ExactlyOnce, DROP_DOWN).await;
}

async fn keep_alive_pings_keep_an_idle_connection_up(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("ka");
    // Keep alive 2 s: the broker closes at 1.5 periods (3 s) without a packet, the client
    // pings after 2 s of silence, so a stall of up to a second on a loaded box is harmless
    // (with keep alive 1 the margin was half a second).
    let (c, mut m) = connect(options(t.addr, &uid("ka"), V5).keep_alive(2)).await;
    c.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
    let mut status = c.watch_status();
    status.mark_unchanged();
    // Idle for 1.75 keep-alive periods: without pings the broker would have closed at 1.5.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(!status.has_changed().unwrap(), "{:?}", c.status());
    assert!(c.status().is_connected());
    c.publish(topic.as_str(), "still here", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next(&mut m).await.payload, "still here".as_bytes());
}

async fn keep_alive_timeout_detects_a_silent_server(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let proxy = Proxy::start(t.addr).await;
    let mut o = options(proxy.addr, &uid("ka"), V5).keep_alive(1);
    o.mqtt.ping_timeout_ms = Some(500);
    let (c, _m) = connect(o).await;
    // The server falls silent: PINGREQ goes unanswered.
    proxy.set(DROP_DOWN);
    let why = timeout(WAIT, c.disconnected()).await.unwrap();
    assert!(
        matches!(why, Some(Error::Closed(CloseReason::KeepAliveTimeout))),
        "{why:?}"
    );
}

async fn request_response(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let requests = uid("req");
    let responses = uid("resp");
    let (responder, mut rm) = connect(options(t.addr, &uid("responder"), V5)).await;
    responder
        .subscribe(requests.as_str(), QoS::AtLeastOnce)
        .await
        .unwrap();
    let serve = tokio::spawn(async move {
        let req = next(&mut rm).await;
        let to = req
            .properties
            .response_topic
            .clone()
            .expect("Response Topic");
        let props = PublishProperties {
            correlation_data: req.properties.correlation_data.clone(),
            ..PublishProperties::default()
        };
        let mut answer = b"re: ".to_vec();
        answer.extend_from_slice(&req.payload);
        responder
            .publish_message(OutgoingMessage::new(to, answer, QoS::AtLeastOnce).properties(props))
            .await
            .unwrap();
    });
    let (requester, mut qm) = connect(options(t.addr, &uid("requester"), V5)).await;
    requester
        .subscribe(responses.as_str(), QoS::AtLeastOnce)
        .await
        .unwrap();
    let props = PublishProperties {
        response_topic: Some(ByteString::from(responses.as_str())),
        correlation_data: Some(Bytes::from_static(b"id-42")),
        ..PublishProperties::default()
    };
    requester
        .publish_message(
            OutgoingMessage::new(requests.as_str(), "ping", QoS::AtLeastOnce).properties(props),
        )
        .await
        .unwrap();
    let resp = next(&mut qm).await;
    assert_eq!(resp.payload, "re: ping".as_bytes());
    assert_eq!(
        resp.properties.correlation_data.as_deref(),
        Some(&b"id-42"[..])
    );
    serve.await.unwrap();
}

async fn will_on_drop_but_not_on_disconnect(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("will");
    let (s, mut sm) = connect(options(t.addr, &uid("watcher"), V5)).await;
    s.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
    let will = LastWill {
        topic: ByteString::from(topic.as_str()),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    };
    for version in [V5, V311] {
        // A clean DISCONNECT: no will.
        let (c, _m) = connect(options(t.addr, &uid("w"), version).will(will.clone())).await;
        c.disconnect().await.unwrap();
        quiet(&mut sm, 300).await;
        // The connection drops: the will.
        let proxy = Proxy::start(t.addr).await;
        let (c, _m) = connect(options(proxy.addr, &uid("w"), version).will(will.clone())).await;
        proxy.cut();
        assert_eq!(next(&mut sm).await.payload, "gone".as_bytes());
        assert!(timeout(WAIT, c.disconnected()).await.unwrap().is_some());
    }
}

// ---------------------------------------------------------------------------------------
// A scripted server: Reason Strings reach the typed errors

mod scripted {
    use super::*;
    use mqtt_proto::{
        BytesMut, ConnAck, ConnAckProperties, DecodeOptions, Disconnect, DisconnectReasonCode,
        Packet, PubAck, PubAckReasonCode, Role,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn read_packet(s: &mut TcpStream, buf: &mut BytesMut) -> Packet {
        let opts = DecodeOptions {
            version: V5,
            sender: Role::Client,
            ..DecodeOptions::default()
        };
        loop {
            if let Some(p) = Packet::decode(buf, &opts).unwrap() {
                return p;
            }
            assert_ne!(s.read_buf(buf).await.unwrap(), 0, "client closed");
        }
    }

    async fn send(s: &mut TcpStream, p: Packet) {
        let mut out = BytesMut::new();
        p.encode(V5, &mut out).unwrap();
        s.write_all(&out).await.unwrap();
    }

    fn connack(reason_code: ConnectReasonCode, reason_string: Option<&str>) -> Packet {
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code,
            properties: ConnAckProperties {
                reason_string: reason_string.map(ByteString::from),
                ..ConnAckProperties::default()
            },
        }))
    }

    #[tokio::test]
    async fn reason_strings_reach_connect_publish_and_disconnect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // 1: CONNACK refuses.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            assert!(matches!(
                read_packet(&mut s, &mut buf).await,
                Packet::Connect(_)
            ));
            let refusal = connack(
                ConnectReasonCode::BadUserNameOrPassword,
                Some("who are you"),
            );
            send(&mut s, refusal).await;
            // 2: accepted; PUBACK refuses; then DISCONNECT.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            assert!(matches!(
                read_packet(&mut s, &mut buf).await,
                Packet::Connect(_)
            ));
            send(&mut s, connack(ConnectReasonCode::Success, None)).await;
            let Packet::Publish(p) = read_packet(&mut s, &mut buf).await else {
                panic!("expected PUBLISH");
            };
            let mut ack = PubAck::new(p.qos_pid.packet_id().unwrap());
            ack.reason_code = PubAckReasonCode::NotAuthorized;
            ack.properties.reason_string = Some(ByteString::from("not your topic"));
            send(&mut s, Packet::PubAck(ack)).await;
            let mut d = Disconnect::new(DisconnectReasonCode::AdministrativeAction);
            d.properties.reason_string = Some(ByteString::from("maintenance"));
            send(&mut s, Packet::Disconnect(d)).await;
            s
        });
        let e = Client::connect(options(addr, "scripted", V5))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.reason_code().unwrap().0, 0x86, "{e}");
        assert_eq!(e.reason_string(), Some("who are you"));
        assert!(matches!(e, Error::ConnectRefused { .. }));
        assert!(e.to_string().contains("who are you"), "{e}");

        let (c, _m) = connect(options(addr, "scripted", V5)).await;
        let e = c
            .publish("t", "x", QoS::AtLeastOnce)
            .await
            .expect_err("refused");
        assert!(matches!(e, Error::PublishRefused { .. }), "{e:?}");
        assert_eq!(e.reason_code().unwrap().0, 0x87);
        assert_eq!(e.reason_string(), Some("not your topic"));
        let why = timeout(WAIT, c.disconnected()).await.unwrap().unwrap();
        assert!(matches!(why, Error::DisconnectedByServer { .. }), "{why:?}");
        assert_eq!(why.reason_code().unwrap().0, 0x98);
        assert_eq!(why.reason_string(), Some("maintenance"));
        drop(server.await.unwrap());
    }
}

// ---------------------------------------------------------------------------------------
// Offline queue and broker restarts

async fn offline_queue_is_bounded_then_delivered_in_order(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("q");
    let (s, mut sm) = connect(options(t.addr, &uid("sub"), V5)).await;
    s.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
    // The broker is unreachable: the proxy closes every connection at once.
    let proxy = Proxy::start(t.addr).await;
    proxy.refuse(usize::MAX);
    let (c, _cm) = Client::new(options(proxy.addr, &uid("q"), V5).max_queued(3));
    assert!(timeout(WAIT, c.reconnect()).await.unwrap().is_err());
    let mut pending = Vec::new();
    // All at QoS 1: Mosquitto forwards a QoS 2 message on PUBREL, so the order between
    // QoS levels is not kept there (MQTT orders messages per topic and QoS).
    for i in 0..3 {
        let msg = OutgoingMessage::new(topic.as_str(), format!("{i}"), QoS::AtLeastOnce);
        pending.push(c.start_publish(msg).await.unwrap());
    }
    // The fourth is refused at once, with the limit in the error.
    let msg = OutgoingMessage::new(topic.as_str(), "3", QoS::AtLeastOnce);
    let full = timeout(WAIT, c.start_publish(msg).await.unwrap())
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(matches!(full, Error::QueueFull { limit: 3 }), "{full:?}");
    assert!(full.to_string().contains("3 commands"), "{full}");
    // Still unreachable: a second attempt fails, the queue is kept.
    assert!(timeout(WAIT, c.reconnect()).await.unwrap().is_err());
    // Reachable: every queued message goes out, in order, none lost.
    proxy.refuse(0);
    timeout(WAIT, c.reconnect()).await.unwrap().unwrap();
    for p in pending {
        assert_eq!(timeout(WAIT, p).await.unwrap().unwrap().reason.0, 0);
    }
    for i in 0..3 {
        assert_eq!(next(&mut sm).await.payload, format!("{i}").as_bytes());
    }
    // The queue is free again.
    c.publish(topic.as_str(), "after", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next(&mut sm).await.payload, "after".as_bytes());
}

/// Stops the broker and starts a new one on the same port: `reconnect()` recovers on a new
/// (empty) session, a QoS 1 publish in flight at the restart is published again and
/// delivered, and a subscriber that subscribes again receives.
async fn reconnect_after_the_broker_restarts_delivers_inflight_qos1(kind: Kind) {
    let Some(mut t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("restart");
    for version in [V5, V311] {
        let (s, mut sm) = connect(persistent(t.addr, &uid("sub"), version)).await;
        s.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
        // The publisher's PUBLISH never reaches the old broker: in flight at the restart.
        let proxy = Proxy::start(t.addr).await;
        let (p, _pm) = connect(persistent(proxy.addr, &uid("pub"), version)).await;
        proxy.set(DROP_UP);
        let msg = OutgoingMessage::new(topic.as_str(), format!("{version:?}"), QoS::AtLeastOnce);
        let pending = p.start_publish(msg).await.unwrap();
        tokio::task::block_in_place(|| t.restart());
        proxy.cut();
        proxy.set(PASS);
        assert!(timeout(WAIT, s.disconnected()).await.unwrap().is_some());
        assert!(timeout(WAIT, p.disconnected()).await.unwrap().is_some());
        // The new broker has no session: the subscriber subscribes again, first.
        let back = timeout(WAIT, s.reconnect()).await.unwrap().unwrap();
        assert!(!back.session_present, "{kind:?} {version:?}");
        s.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
        let back = timeout(WAIT, p.reconnect()).await.unwrap().unwrap();
        assert!(!back.session_present, "{kind:?} {version:?}");
        assert_eq!(timeout(WAIT, pending).await.unwrap().unwrap().reason.0, 0);
        let got = next(&mut sm).await;
        assert_eq!(got.payload, format!("{version:?}").as_bytes());
        p.disconnect().await.unwrap();
        s.disconnect().await.unwrap();
    }
}
