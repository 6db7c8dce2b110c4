//! The session manager's reconnect backoff on a paused tokio clock: delays follow
//! `initial × factor^(n-1)` capped at `max`, jitter stays within `[d/2, d]`, the attempt
//! counter starts again after a successful connection, and the time between attempts on
//! the tokio clock is the delay the `Reconnecting` event reported.
//!
//! Sockets and the paused clock: with the clock paused, tokio moves it to the next timer as
//! soon as every task of the runtime is idle. A broker on other threads (ringmq, Mosquitto)
//! answers asynchronously, so the clock could jump to a CONNACK timeout while its answer is
//! on the way. The broker here is a mock served by a task of the test's own
//! (current-thread) runtime on loopback, where a write or a close makes the peer readable
//! at once: the runtime is never idle while an answer is pending, and the clock moves only
//! while the session sleeps its backoff delay. The CONNACK timeout is an hour, so a jump
//! would show as a wrong delay, never as a pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mqtt_proto::{
    BytesMut, ConnAck, ConnAckProperties, ConnectReasonCode, DecodeOptions, Packet,
    ProtocolVersion, Role,
};
use runtime_tokio::client::manager::{Backoff, SessionEvent, SessionManager, SessionOptions};
use runtime_tokio::client::ConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A broker that closes each connection at once while `refuse` is set, and otherwise
/// accepts it (CONNACK) and holds it until `close` is notified.
struct Mock {
    addr: SocketAddr,
    refuse: Arc<AtomicBool>,
    close: Arc<Notify>,
}

impl Mock {
    async fn start() -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refuse = Arc::new(AtomicBool::new(true));
        let close = Arc::new(Notify::new());
        let (r, c) = (refuse.clone(), close.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let opts = DecodeOptions {
                    version: V5,
                    sender: Role::Client,
                    ..DecodeOptions::default()
                };
                let mut buf = BytesMut::new();
                let connect = loop {
                    if let Some(p) = Packet::decode(&mut buf, &opts).unwrap() {
                        break p;
                    }
                    assert_ne!(s.read_buf(&mut buf).await.unwrap(), 0);
                };
                assert!(matches!(connect, Packet::Connect(_)));
                let ack = Packet::ConnAck(Box::new(ConnAck {
                    session_present: false,
                    reason_code: ConnectReasonCode::Success,
                    properties: ConnAckProperties::default(),
                }));
                let mut out = BytesMut::new();
                ack.encode(V5, &mut out).unwrap();
                s.write_all(&out).await.unwrap();
                c.notified().await;
            }
        });
        Mock {
            addr,
            refuse,
            close,
        }
    }
}

fn manager(mock: &Mock, backoff: Backoff) -> (SessionManager, broadcast::Receiver<SessionEvent>) {
    let m = SessionManager::new();
    let events = m.events();
    let mut connect = ConnectOptions::new(mock.addr.to_string(), "backoff", V5).keep_alive(0);
    connect.mqtt.connect_timeout_ms = 3_600_000;
    m.add_session(SessionOptions::new("s", connect).backoff(backoff))
        .unwrap();
    (m, events)
}

/// One failed-or-ended connection and the wait after it.
#[derive(Debug)]
struct Attempt {
    attempt: u32,
    /// The delay the Reconnecting event reported.
    reported: Duration,
    /// Time from that event to the next Connecting, on the tokio clock.
    actual: Duration,
}

/// The next `n` reconnects. A connection attempt that fails takes no time (the mock closes
/// at once), so the time between Reconnecting and the next Connecting is the sleep.
async fn attempts(events: &mut broadcast::Receiver<SessionEvent>, n: usize) -> Vec<Attempt> {
    let mut out = Vec::new();
    let mut waiting: Option<(u32, Duration, Instant)> = None;
    let mut connecting_at = Instant::now();
    while out.len() < n {
        match events.recv().await.unwrap() {
            SessionEvent::Connecting(_) => {
                connecting_at = Instant::now();
                if let Some((attempt, reported, at)) = waiting.take() {
                    out.push(Attempt {
                        attempt,
                        reported,
                        actual: connecting_at - at,
                    });
                }
            }
            SessionEvent::Disconnected { error, .. } => {
                assert!(error.is_some());
            }
            SessionEvent::Reconnecting { attempt, delay, .. } => {
                let now = Instant::now();
                waiting = Some((attempt, delay, now));
                // The failed attempt took no tokio time: no timeout fired.
                assert!(now - connecting_at < Duration::from_millis(1) || attempt == 1);
            }
            _ => {}
        }
    }
    out
}

/// The paused clock rounds a sleep up to the timer's millisecond.
fn assert_slept(a: &Attempt) {
    assert!(
        a.actual >= a.reported && a.actual < a.reported + Duration::from_millis(1),
        "{a:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delays_grow_by_the_factor_up_to_the_cap_and_are_slept() {
    let mock = Mock::start().await;
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        factor: 2,
        jitter: false,
    };
    let (m, mut events) = manager(&mock, backoff);
    let seen = attempts(&mut events, 7).await;
    let numbers: Vec<u32> = seen.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
    let reported: Vec<u128> = seen.iter().map(|a| a.reported.as_millis()).collect();
    assert_eq!(reported, [100, 200, 400, 800, 1000, 1000, 1000]);
    for a in &seen {
        assert_eq!(a.actual, a.reported, "{a:?}");
    }
    assert_eq!(m.metrics("s").unwrap().reconnects, 7);
    m.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_half_and_full_delay() {
    let mock = Mock::start().await;
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(1_600),
        factor: 2,
        jitter: true,
    };
    let (m, mut events) = manager(&mock, backoff);
    let seen = attempts(&mut events, 10).await;
    let unjittered = Backoff {
        jitter: false,
        ..backoff
    };
    for a in &seen {
        let full = unjittered.delay(a.attempt, 0.0);
        assert!(
            a.reported >= full / 2 && a.reported <= full,
            "{a:?} outside [{:?}, {full:?}]",
            full / 2
        );
        assert_slept(a);
    }
    // Random: the capped attempts (5 to 10) do not all wait the same.
    let mut capped: Vec<Duration> = seen[4..].iter().map(|a| a.reported).collect();
    capped.dedup();
    assert!(capped.len() > 1, "{seen:?}");
    m.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_attempt_counter_starts_again_after_a_connection() {
    let mock = Mock::start().await;
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
        factor: 3,
        jitter: false,
    };
    let (m, mut events) = manager(&mock, backoff);
    let seen = attempts(&mut events, 2).await;
    assert_eq!(
        seen.iter()
            .map(|a| a.reported.as_millis())
            .collect::<Vec<_>>(),
        [100, 300]
    );
    // The session now sleeps before attempt 3: it will be accepted.
    loop {
        if let SessionEvent::Reconnecting { attempt, delay, .. } = events.recv().await.unwrap() {
            assert_eq!((attempt, delay), (3, Duration::from_millis(900)));
            break;
        }
    }
    mock.refuse.store(false, Ordering::SeqCst);
    let start = Instant::now();
    m.wait_ready("s", Duration::from_secs(60)).await.unwrap();
    assert_eq!(Instant::now() - start, Duration::from_millis(900));
    // The connection ends: attempt 1 again, with the initial delay.
    mock.refuse.store(true, Ordering::SeqCst);
    mock.close.notify_one();
    let seen = attempts(&mut events, 2).await;
    let got: Vec<(u32, u128)> = seen
        .iter()
        .map(|a| (a.attempt, a.reported.as_millis()))
        .collect();
    assert_eq!(got, [(1, 100), (2, 300)]);
    for a in &seen {
        assert_eq!(a.actual, a.reported, "{a:?}");
    }
    assert_eq!(m.metrics("s").unwrap().reconnects, 5);
    m.shutdown().await;
}
