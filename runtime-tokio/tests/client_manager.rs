//! The session manager (`runtime_tokio::client::manager`) against ringmq on tokio, ringmq on
//! glommio (Linux) and Mosquitto (started by the test; see `client_common` for when it is
//! skipped): routes and `publish_to`, `wait_ready`, `Route::stop` proved at the broker,
//! reconnect while the broker restarts, a reconnect where the broker kept the session, the
//! bounded offline queue, and the exact order of the lifecycle events.
//!
//! Waits are event-driven (route `subscribed()`, lifecycle events, a marker message behind
//! the one that must not arrive); the only fixed waits assert that something does NOT
//! happen while it cannot (a refused connection).
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
use mqtt_proto::{ProtocolVersion, QoS};
use runtime_tokio::client::manager::{
    Backoff, Delivery, Listener, ManagerError, SessionEvent, SessionManager, SessionOptions,
    SessionState,
};
use runtime_tokio::client::{Client, ConnectOptions, Error, Messages};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

use client_common::{uid, Kind, Proxy, Setup, Target, DROP_UP, PASS, WAIT};

const V5: ProtocolVersion = ProtocolVersion::V5;

cases!(
    routes_publish_to_and_wait_ready,
    stopping_the_last_route_unsubscribes_at_the_broker,
    a_route_asking_a_higher_qos_upgrades_the_subscription_and_its_stop_downgrades_it,
    routes_resume_after_the_broker_restarts_and_inflight_qos1_is_delivered,
    kept_session_resumes_without_delivering_qos2_twice,
    offline_queue_is_bounded_then_delivered_in_order,
    events_come_in_the_exact_order,
);

fn options(addr: SocketAddr, id: &str) -> ConnectOptions {
    ConnectOptions::new(addr.to_string(), id, V5).keep_alive(0)
}

fn fast() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        factor: 2,
        jitter: false,
    }
}

fn session(name: &str, addr: SocketAddr) -> SessionOptions {
    SessionOptions::new(name, options(addr, &uid(name))).backoff(fast())
}

fn msg(topic: &str, payload: &str) -> OutgoingMessage {
    OutgoingMessage::new(topic, payload.to_owned(), QoS::AtLeastOnce)
}

async fn next(l: &mut Listener) -> Delivery {
    timeout(WAIT, l.recv())
        .await
        .expect("a delivery in time")
        .expect("the route is open")
}

async fn next_payload(l: &mut Listener) -> String {
    String::from_utf8(next(l).await.message.payload.to_vec()).unwrap()
}

async fn recv_payload(m: &mut Messages) -> String {
    let p = timeout(WAIT, m.recv()).await.unwrap().unwrap();
    String::from_utf8(p.payload.to_vec()).unwrap()
}

/// An event as a short string, and its session.
fn describe(e: &SessionEvent) -> (String, String) {
    match e {
        SessionEvent::Added(s) => (s.clone(), "added".into()),
        SessionEvent::Removed(s) => (s.clone(), "removed".into()),
        SessionEvent::Connecting(s) => (s.clone(), "connecting".into()),
        SessionEvent::Connected {
            session,
            session_present,
        } => (
            session.clone(),
            format!("connected(present={session_present})"),
        ),
        SessionEvent::Ready(s) => (s.clone(), "ready".into()),
        SessionEvent::Disconnected { session, error } => (
            session.clone(),
            format!(
                "disconnected({})",
                if error.is_some() { "error" } else { "none" }
            ),
        ),
        SessionEvent::Reconnecting {
            session, attempt, ..
        } => (session.clone(), format!("reconnecting({attempt})")),
        SessionEvent::StateChanged { session, old, new } => {
            (session.clone(), format!("{old:?}->{new:?}"))
        }
    }
}

/// Events of `session` until one described as `last` (state changes included).
async fn events_until(
    rx: &mut broadcast::Receiver<SessionEvent>,
    session: &str,
    last: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let e = timeout(WAIT, rx.recv()).await.expect("an event").unwrap();
        let (s, name) = describe(&e);
        if s == session {
            let done = name == last;
            out.push(name);
            if done {
                return out;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cases (every broker kind)

async fn routes_publish_to_and_wait_ready(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let m = SessionManager::new();
    let topic = uid("m");
    // A route across all sessions, made before they exist: their first connection
    // subscribes it, before the session is Ready.
    let mut all = m
        .listen(format!("{topic}/all/#"), QoS::AtLeastOnce)
        .unwrap();
    m.add_session(session("a", t.addr)).unwrap();
    m.add_session(session("b", t.addr)).unwrap();
    assert!(matches!(
        m.add_session(session("a", t.addr)),
        Err(ManagerError::SessionExists(_))
    ));
    assert!(matches!(
        m.wait_ready("nobody", WAIT).await,
        Err(ManagerError::NoSuchSession(_))
    ));
    m.wait_all_ready(WAIT).await.unwrap();
    let names: Vec<String> = m.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(m.state("a"), Some(SessionState::Ready));

    // A callback route on one session.
    let (tx, mut calls) = mpsc::unbounded_channel();
    let only_b = m
        .handle_to("b", format!("{topic}/b/#"), QoS::AtLeastOnce, move |d| {
            tx.send(format!("{}:{}", d.session, d.message.topic))
                .unwrap();
        })
        .unwrap();
    only_b.subscribed(WAIT).await.unwrap();

    // The all-route gets a's publish twice (once through each session), b's likewise.
    m.publish_to("a", msg(&format!("{topic}/all/1"), "x"))
        .await
        .unwrap();
    let mut via: Vec<String> = vec![
        next(&mut all).await.session.to_string(),
        next(&mut all).await.session.to_string(),
    ];
    via.sort();
    assert_eq!(via, ["a", "b"]);
    m.publish_to("a", msg(&format!("{topic}/b/1"), "y"))
        .await
        .unwrap();
    let call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
    assert_eq!(call, format!("b:{topic}/b/1"));

    let a = m.metrics("a").unwrap();
    assert_eq!(a.messages_out, 2);
    assert!(a.last_activity.is_some());
    let total = m.total_metrics();
    assert_eq!(total.messages_out, 2);
    assert_eq!(total.messages_in, 3, "{total:?}");
    m.shutdown().await;
    assert!(m.list().is_empty());
    assert!(m.session("a").is_none());
}

/// When the last route for a filter on a session stops, the session UNSUBSCRIBEs: a
/// message the session then publishes on that filter is not sent back to it by the broker
/// (a marker published right after it, on a filter still subscribed, arrives alone), while
/// the route on the same filter on another session keeps receiving.
async fn stopping_the_last_route_unsubscribes_at_the_broker(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let m = SessionManager::new();
    m.add_session(session("a", t.addr)).unwrap();
    m.add_session(session("b", t.addr)).unwrap();
    m.wait_all_ready(WAIT).await.unwrap();
    let (topic, marker) = (uid("stop"), uid("marker"));
    let filter = format!("{topic}/#");
    let on_a = m.listen_to("a", filter.as_str(), QoS::AtLeastOnce).unwrap();
    let mut on_a2 = m.listen_to("a", filter.as_str(), QoS::AtLeastOnce).unwrap();
    let mut on_b = m.listen_to("b", filter.as_str(), QoS::AtLeastOnce).unwrap();
    let mut mark_a = m.listen_to("a", marker.as_str(), QoS::AtLeastOnce).unwrap();
    for l in [&on_a, &on_a2, &on_b, &mark_a] {
        l.subscribed(WAIT).await.unwrap();
    }

    // One of two routes on a stops: the other still receives.
    on_a.stop();
    m.publish_to("a", msg(&format!("{topic}/1"), "one"))
        .await
        .unwrap();
    assert_eq!(next_payload(&mut on_a2).await, "one");
    assert_eq!(next_payload(&mut on_b).await, "one");

    // The last route on a stops: its listener ends, the broker subscription goes.
    on_a2.stop();
    assert!(timeout(WAIT, on_a2.recv()).await.unwrap().is_none());
    let before = m.metrics("a").unwrap().messages_in;
    // On a's connection the UNSUBSCRIBE went out before these two publishes.
    m.publish_to("a", msg(&format!("{topic}/2"), "two"))
        .await
        .unwrap();
    m.publish_to("a", msg(&marker, "mark")).await.unwrap();
    assert_eq!(next_payload(&mut mark_a).await, "mark");
    assert_eq!(
        m.metrics("a").unwrap().messages_in,
        before + 1,
        "only the marker reached a: the broker no longer sends {filter} to it"
    );
    // b's route on the same filter keeps receiving, from a and from another client.
    assert_eq!(next_payload(&mut on_b).await, "two");
    let (other, _om) = Client::connect(options(t.addr, &uid("other")))
        .await
        .unwrap();
    other
        .publish(format!("{topic}/3"), "three", QoS::AtLeastOnce)
        .await
        .unwrap();
    other
        .publish(marker.as_str(), "mark2", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next_payload(&mut on_b).await, "three");
    assert_eq!(next_payload(&mut mark_a).await, "mark2");
    assert_eq!(m.metrics("a").unwrap().messages_in, before + 2);
    m.shutdown().await;
}

/// Two routes on one filter of one session, at QoS 0 and then QoS 1: the second route
/// subscribes the filter again at QoS 1 (the broker replaces the subscription
/// [MQTT-3.8.4-3]), so a QoS 1 publish arrives at QoS 1; on MQTT 5 the retained message
/// the first route had is not sent again (Retain Handling 1). When the QoS 1 route stops,
/// the filter is subscribed again at QoS 0 and the broker sends at QoS 0.
async fn a_route_asking_a_higher_qos_upgrades_the_subscription_and_its_stop_downgrades_it(
    kind: Kind,
) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let m = SessionManager::new();
    m.add_session(session("a", t.addr)).unwrap();
    m.wait_ready("a", WAIT).await.unwrap();
    let topic = uid("up");
    let (retained, marker) = (format!("{topic}/kept"), format!("{topic}/mark"));
    let filter = format!("{topic}/#");
    m.publish_to("a", msg(&retained, "kept").retain(true))
        .await
        .unwrap();

    let mut low = m.listen_to("a", filter.as_str(), QoS::AtMostOnce).unwrap();
    low.subscribed(WAIT).await.unwrap();
    let first = next(&mut low).await;
    assert_eq!(
        (&*first.message.topic, first.message.retain),
        (&*retained, true)
    );

    let mut high = m.listen_to("a", filter.as_str(), QoS::AtLeastOnce).unwrap();
    high.subscribed(WAIT).await.unwrap();
    m.publish_to("a", msg(&marker, "one")).await.unwrap();
    for l in [&mut low, &mut high] {
        let d = next(l).await;
        assert_eq!(
            (&*d.message.topic, d.message.qos_pid.qos()),
            (&*marker, QoS::AtLeastOnce),
            "after the upgrade the broker sends at QoS 1, and no retained copy comes first"
        );
    }

    // The QoS 1 route stops: on a's connection the SUBSCRIBE at QoS 0 goes out before the
    // publish asked for after it.
    high.stop();
    m.publish_to("a", msg(&marker, "two")).await.unwrap();
    let d = next(&mut low).await;
    assert_eq!(
        (&*d.message.topic, d.message.qos_pid.qos()),
        (&*marker, QoS::AtMostOnce),
        "after the stop the broker sends at QoS 0 again"
    );
    m.shutdown().await;
}

/// The broker stops and a new one starts on the same port, with no session: the manager
/// reconnects, subscribes its routes again (the route receives), and QoS 1 publishes in
/// flight at the restart, through the manager and through a plain client, are delivered.
async fn routes_resume_after_the_broker_restarts_and_inflight_qos1_is_delivered(kind: Kind) {
    let Some(mut t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("restart");
    let m = SessionManager::new();
    let mut events = m.events();
    // The publishing session goes through a proxy, to hold its PUBLISH and, after the
    // restart, to keep it away until the route is subscribed again.
    let gate = Proxy::start(t.addr).await;
    m.add_session(session("sub", t.addr)).unwrap();
    m.add_session(session("pub", gate.addr)).unwrap();
    m.wait_all_ready(WAIT).await.unwrap();
    let _ = events_until(&mut events, "sub", "ready").await;
    let mut route = m
        .listen_to("sub", topic.as_str(), QoS::AtLeastOnce)
        .unwrap();
    route.subscribed(WAIT).await.unwrap();
    m.publish_to("pub", msg(&topic, "before")).await.unwrap();
    assert_eq!(next_payload(&mut route).await, "before");

    // In flight at the restart: PUBLISHes the old broker never gets.
    gate.set(DROP_UP);
    let managed = m
        .start_publish_to("pub", msg(&topic, "managed"))
        .await
        .unwrap();
    let plain_proxy = Proxy::start(t.addr).await;
    let (plain, _pm) = Client::connect(options(plain_proxy.addr, &uid("plain")))
        .await
        .unwrap();
    plain_proxy.set(DROP_UP);
    let plain_pending = plain.start_publish(msg(&topic, "plain")).await.unwrap();

    gate.refuse(usize::MAX);
    tokio::task::block_in_place(|| t.restart());
    for p in [&gate, &plain_proxy] {
        p.cut();
        p.set(PASS);
    }
    // "sub" reconnects to the new broker, which has no session, and resubscribes.
    let seen = events_until(&mut events, "sub", "ready").await;
    assert!(
        seen.contains(&"connected(present=false)".to_owned()),
        "{seen:?}"
    );
    // The plain client recovers with reconnect(); its publish is sent again.
    assert!(timeout(WAIT, plain.disconnected()).await.unwrap().is_some());
    let back = timeout(WAIT, plain.reconnect()).await.unwrap().unwrap();
    assert!(!back.session_present);
    timeout(WAIT, plain_pending).await.unwrap().unwrap();
    assert_eq!(next_payload(&mut route).await, "plain");
    // The managed session reconnects by itself once the broker is reachable.
    gate.refuse(0);
    timeout(WAIT, managed).await.unwrap().unwrap();
    assert_eq!(next_payload(&mut route).await, "managed");
    m.wait_ready("pub", WAIT).await.unwrap();
    assert!(m.metrics("sub").unwrap().reconnects >= 1);
    m.shutdown().await;
}

/// The connection drops but the broker keeps the session (session present): the route
/// still receives, and a QoS 2 message whose PUBREC was lost is not delivered twice when
/// the broker sends it again.
async fn kept_session_resumes_without_delivering_qos2_twice(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let proxy = Proxy::start(t.addr).await;
    let m = SessionManager::new();
    let mut events = m.events();
    let mut o = session("k", proxy.addr);
    o.connect = o.connect.clean_start(true).session_expiry(3600);
    m.add_session(o).unwrap();
    m.wait_ready("k", WAIT).await.unwrap();
    let topic = uid("kept");
    let mut route = m.listen_to("k", topic.as_str(), QoS::ExactlyOnce).unwrap();
    route.subscribed(WAIT).await.unwrap();
    let (other, _om) = Client::connect(options(t.addr, &uid("other")))
        .await
        .unwrap();
    other
        .publish(topic.as_str(), "first", QoS::ExactlyOnce)
        .await
        .unwrap();
    assert_eq!(next_payload(&mut route).await, "first");

    // k's PUBREC never reaches the broker, which will send the PUBLISH again (DUP).
    proxy.set(DROP_UP);
    other
        .publish(topic.as_str(), "once", QoS::ExactlyOnce)
        .await
        .unwrap();
    assert_eq!(next_payload(&mut route).await, "once");
    let _ = events_until(&mut events, "k", "ready").await;
    proxy.cut();
    proxy.set(PASS);
    let again = events_until(&mut events, "k", "ready").await;
    assert!(
        again.contains(&"connected(present=true)".to_owned()),
        "{again:?}"
    );
    other
        .publish(topic.as_str(), "after", QoS::ExactlyOnce)
        .await
        .unwrap();
    // Not "once" again: the resent PUBLISH was recognised.
    assert_eq!(next_payload(&mut route).await, "after");
    assert_eq!(m.metrics("k").unwrap().messages_in, 3);
    m.remove_session("k").await.unwrap();
}

/// The broker is unreachable: `publish_to` queues up to the session's limit and fails at
/// once beyond it; once reachable, every queued message is delivered in order.
async fn offline_queue_is_bounded_then_delivered_in_order(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let topic = uid("q");
    let (s, mut sm) = Client::connect(options(t.addr, &uid("sub"))).await.unwrap();
    s.subscribe(topic.as_str(), QoS::AtLeastOnce).await.unwrap();
    let gate = Proxy::start(t.addr).await;
    gate.refuse(usize::MAX);
    let m = SessionManager::new();
    let mut events = m.events();
    m.add_session(session("q", gate.addr).max_queued(3))
        .unwrap();
    let _ = events_until(&mut events, "q", "reconnecting(1)").await;
    let mut pending = Vec::new();
    for i in 0..3 {
        let p = m
            .start_publish_to("q", msg(&topic, &i.to_string()))
            .await
            .unwrap();
        pending.push(p);
    }
    let full = m.start_publish_to("q", msg(&topic, "3")).await.unwrap();
    let e = timeout(WAIT, full)
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(
        matches!(e, ManagerError::Client(Error::QueueFull { limit: 3 })),
        "{e:?}"
    );
    assert!(e.to_string().contains("3 commands"), "{e}");
    assert!(matches!(
        m.wait_ready("q", Duration::from_millis(200)).await,
        Err(ManagerError::Timeout)
    ));
    gate.refuse(0);
    m.wait_ready("q", WAIT).await.unwrap();
    for p in pending {
        timeout(WAIT, p).await.unwrap().unwrap();
    }
    for i in 0..3 {
        assert_eq!(recv_payload(&mut sm).await, i.to_string());
    }
    let q = m.metrics("q").unwrap();
    assert_eq!(q.messages_out, 3);
    assert!(q.errors >= 2, "{q:?}");
    m.shutdown().await;
}

async fn events_come_in_the_exact_order(kind: Kind) {
    let Some(t) = Target::start(kind, Setup::Open) else {
        return;
    };
    let proxy = Proxy::start(t.addr).await;
    let m = SessionManager::new();
    let mut events = m.events();
    m.add_session(session("e", proxy.addr)).unwrap();
    let first = events_until(&mut events, "e", "ready").await;
    assert_eq!(
        first,
        [
            "added",
            "Idle->Connecting",
            "connecting",
            "Connecting->Connected",
            "connected(present=false)",
            "Connected->Ready",
            "ready",
        ]
    );
    // The connection drops, the next two attempts fail, the third succeeds.
    proxy.refuse(2);
    proxy.cut();
    let again = events_until(&mut events, "e", "ready").await;
    let failed = |n: u32| {
        [
            "Connecting->Disconnected".to_owned(),
            "disconnected(error)".to_owned(),
            "Disconnected->Reconnecting".to_owned(),
            format!("reconnecting({n})"),
            "Reconnecting->Connecting".to_owned(),
            "connecting".to_owned(),
        ]
    };
    let mut expected: Vec<String> = [
        "Ready->Disconnected",
        "disconnected(error)",
        "Disconnected->Reconnecting",
        "reconnecting(1)",
        "Reconnecting->Connecting",
        "connecting",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(failed(2));
    expected.extend(failed(3));
    expected.extend(
        [
            "Connecting->Connected",
            "connected(present=false)",
            "Connected->Ready",
            "ready",
        ]
        .map(String::from),
    );
    assert_eq!(again, expected);
    assert_eq!(m.metrics("e").unwrap().reconnects, 3);
    // A new drop starts again at attempt 1.
    proxy.cut();
    let third = events_until(&mut events, "e", "ready").await;
    assert_eq!(third[3], "reconnecting(1)", "{third:?}");
    m.remove_session("e").await.unwrap();
    let end = events_until(&mut events, "e", "removed").await;
    assert_eq!(end, ["Ready->Removed", "removed"]);
}

// ---------------------------------------------------------------------------------------
// Two brokers, an unreachable one

/// One manager, two brokers (ringmq on tokio and Mosquitto, or a second ringmq when
/// Mosquitto is absent): a route across both sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_manager_two_brokers() {
    let b1 = Target::start(Kind::Tokio, Setup::Open).unwrap();
    let b2 = Target::start(Kind::Mosquitto, Setup::Open)
        .unwrap_or_else(|| Target::start(Kind::Tokio, Setup::Open).unwrap());
    let m = SessionManager::new();
    let topic = uid("two");
    let mut all = m.listen(format!("{topic}/#"), QoS::AtLeastOnce).unwrap();
    m.add_session(session("one", b1.addr)).unwrap();
    m.add_session(session("two", b2.addr)).unwrap();
    m.wait_all_ready(WAIT).await.unwrap();
    for name in ["one", "two"] {
        m.publish_to(name, msg(&format!("{topic}/{name}"), name))
            .await
            .unwrap();
        let d = next(&mut all).await;
        assert_eq!(&*d.session, name);
        assert_eq!(d.message.payload, name.as_bytes());
    }
    // A callback route across both sessions, made after they exist.
    let (tx, mut calls) = mpsc::unbounded_channel();
    let r = m
        .handle(format!("{topic}/cb"), QoS::AtLeastOnce, move |d| {
            tx.send(d.session.to_string()).unwrap();
        })
        .unwrap();
    r.subscribed(WAIT).await.unwrap();
    for name in ["one", "two"] {
        m.publish_to(name, msg(&format!("{topic}/cb"), "cb"))
            .await
            .unwrap();
        let d = next(&mut all).await;
        assert_eq!(&*d.session, name);
        let call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
        assert_eq!(call, name);
    }
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_times_out_wait_ready_and_backs_off() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let m = SessionManager::new();
    let mut events = m.events();
    let mut o = SessionOptions::new("down", options(port, &uid("d")));
    o.backoff = fast();
    m.add_session(o).unwrap();
    let e = m
        .wait_ready("down", Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(matches!(e, ManagerError::Timeout), "{e:?}");
    assert!(matches!(
        m.wait_ready("nobody", Duration::from_millis(10)).await,
        Err(ManagerError::NoSuchSession(_))
    ));
    // Delays grow 50, 100, 200, 200 ms (no jitter).
    let mut delays = Vec::new();
    while delays.len() < 4 {
        if let SessionEvent::Reconnecting { attempt, delay, .. } =
            timeout(WAIT, events.recv()).await.unwrap().unwrap()
        {
            assert_eq!(attempt as usize, delays.len() + 1);
            delays.push(delay.as_millis());
        }
    }
    assert_eq!(delays, [50, 100, 200, 200]);
    assert!(m.metrics("down").unwrap().errors >= 4);
    m.remove_session("down").await.unwrap();
}
