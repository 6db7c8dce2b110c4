//! The session manager (`runtime_tokio::client::manager`) against ringmq brokers on tokio
//! (and Mosquitto as a second broker when installed): routes across sessions and to one,
//! `stop()`, reconnect with backoff and resumed subscriptions, events in order, metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::{ProtocolVersion, QoS};
use runtime_tokio::client::manager::{
    Backoff, Delivery, Listener, ManagerError, SessionEvent, SessionManager, SessionOptions,
    SessionState,
};
use runtime_tokio::client::{Client, ConnectOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio::time::timeout;

const V5: ProtocolVersion = ProtocolVersion::V5;
const WAIT: Duration = Duration::from_secs(10);

fn uid(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn broker() -> runtime_tokio::BrokerHandle {
    let mut config = ringmq_config::BrokerConfig::default();
    let mut listener = config.listeners[0].clone();
    listener.addr = "127.0.0.1:0".parse().unwrap();
    config.listeners = vec![listener];
    config.shards = 1;
    config.runtime.shutdown_timeout_ms = 2_000;
    runtime_tokio::Broker::start(config).unwrap()
}

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

async fn next(l: &mut Listener) -> Delivery {
    timeout(WAIT, l.recv())
        .await
        .expect("a delivery in time")
        .expect("the route is open")
}

/// A proxy whose connections can be cut.
struct Proxy {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let c = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (crd, cwr) = client.into_split();
                let (brd, bwr) = broker.into_split();
                let up = tokio::spawn(pipe(crd, bwr));
                let down = tokio::spawn(pipe(brd, cwr));
                let mut conns = c.lock().unwrap();
                conns.push(up.abort_handle());
                conns.push(down.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            conns,
            accept,
        }
    }

    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn pipe(mut rd: tokio::net::tcp::OwnedReadHalf, mut wr: tokio::net::tcp::OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if wr.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The name of an event, and its session.
fn describe(e: &SessionEvent) -> Option<(String, &'static str)> {
    Some(match e {
        SessionEvent::Added(s) => (s.clone(), "added"),
        SessionEvent::Removed(s) => (s.clone(), "removed"),
        SessionEvent::Connecting(s) => (s.clone(), "connecting"),
        SessionEvent::Connected { session, .. } => (session.clone(), "connected"),
        SessionEvent::Ready(s) => (s.clone(), "ready"),
        SessionEvent::Disconnected { session, .. } => (session.clone(), "disconnected"),
        SessionEvent::Reconnecting { session, .. } => (session.clone(), "reconnecting"),
        SessionEvent::StateChanged { .. } => return None,
    })
}

/// Events of `session` (state changes left out) until `last` has been seen `times` times.
async fn events_until(
    rx: &mut broadcast::Receiver<SessionEvent>,
    session: &str,
    last: &str,
    times: usize,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < times {
        let e = timeout(WAIT, rx.recv()).await.expect("an event").unwrap();
        if let Some((s, name)) = describe(&e) {
            if s == session {
                out.push(name);
                if name == last {
                    seen += 1;
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_across_two_brokers_publish_to_and_stop() {
    let (b1, b2) = (broker(), broker());
    let m = SessionManager::new();
    let topic = uid("m");
    // A route across all sessions, made before they exist: their first connection
    // subscribes it.
    let mut all = m.listen(format!("{topic}/#"), QoS::AtLeastOnce).unwrap();
    m.add_session(SessionOptions::new(
        "a",
        options(b1.local_addrs()[0], &uid("a")),
    ))
    .unwrap();
    m.add_session(SessionOptions::new(
        "b",
        options(b2.local_addrs()[0], &uid("b")),
    ))
    .unwrap();
    assert!(matches!(
        m.add_session(SessionOptions::new("a", options(b1.local_addrs()[0], "x"))),
        Err(ManagerError::SessionExists(_))
    ));
    m.wait_all_ready(WAIT).await.unwrap();
    let names: Vec<String> = m.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(m.state("a"), Some(SessionState::Ready));

    // A route to one session, with a callback (on other topics, so that no subscription of
    // one session overlaps another).
    let other = uid("o");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let only_b = m
        .handle_to("b", format!("{other}/#"), QoS::AtLeastOnce, move |d| {
            s2.lock()
                .unwrap()
                .push(format!("{}:{}", d.session, d.message.topic));
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // its SUBSCRIBE is answered

    m.publish_to(
        "a",
        OutgoingMessage::new(format!("{topic}/a/1"), "x", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    let d = next(&mut all).await;
    assert_eq!(&*d.session, "a");
    assert_eq!(&*d.message.topic, format!("{topic}/a/1"));
    m.publish_to(
        "b",
        OutgoingMessage::new(format!("{topic}/b/1"), "y", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    let d = next(&mut all).await;
    assert_eq!(&*d.session, "b");
    m.publish_to(
        "b",
        OutgoingMessage::new(format!("{other}/1"), "y", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), [format!("b:{other}/1")]);

    // Stop the callback route: no more calls.
    only_b.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.publish_to(
        "b",
        OutgoingMessage::new(format!("{other}/2"), "z", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Stop the all-route: the listener ends, and the broker stops sending (no delivery
    // counted after the UNSUBACK).
    all.stop();
    assert!(timeout(WAIT, all.recv()).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = m.metrics("a").unwrap().messages_in;
    m.publish_to(
        "a",
        OutgoingMessage::new(format!("{topic}/a/3"), "w", QoS::AtLeastOnce),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = m.metrics("a").unwrap();
    assert_eq!(
        a.messages_in, before,
        "unsubscribed when the last route stopped"
    );
    assert_eq!(a.messages_out, 2);
    assert!(a.last_activity.is_some());
    let total = m.total_metrics();
    assert_eq!(total.messages_out, 5);
    assert!(total.messages_in >= 3, "{total:?}");
    m.shutdown().await;
    assert!(m.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_backoff_resumes_subscriptions_and_reports_events_in_order() {
    let b = broker();
    let proxy = Proxy::start(b.local_addrs()[0]).await;
    let m = SessionManager::new();
    let mut events = m.events();
    let topic = uid("r");
    let mut l = m.listen(topic.as_str(), QoS::AtLeastOnce).unwrap();
    let mut o = SessionOptions::new("p", options(proxy.addr, &uid("p")));
    o.backoff = fast();
    m.add_session(o).unwrap();
    m.wait_ready("p", WAIT).await.unwrap();
    let first = events_until(&mut events, "p", "ready", 1).await;
    assert_eq!(first, ["added", "connecting", "connected", "ready"]);

    proxy.cut();
    let again = events_until(&mut events, "p", "ready", 1).await;
    assert_eq!(
        again,
        [
            "disconnected",
            "reconnecting",
            "connecting",
            "connected",
            "ready"
        ]
    );
    assert_eq!(m.metrics("p").unwrap().reconnects, 1);

    // The broker dropped the clean session: the manager subscribed again.
    let (other, _msgs) = Client::connect(options(b.local_addrs()[0], &uid("o")))
        .await
        .unwrap();
    other
        .publish(topic.as_str(), "after", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next(&mut l).await.message.payload, "after".as_bytes());

    m.remove_session("p").await.unwrap();
    let end = events_until(&mut events, "p", "removed", 1).await;
    assert_eq!(end.last(), Some(&"removed"));
    assert!(m.session("p").is_none());
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
