//! `p2p`, `fanin` and `fanout`: throughput from publishers to subscribers, with loss.
//!
//! - p2p: P pairs, publisher i → subscriber i on a topic of their own;
//! - fan-in: P publishers → 1 subscriber, all on one topic;
//! - fan-out: 1 publisher → S subscribers, all on one topic.
//!
//! Publishers run for a duration or a count; then the run waits until every expected
//! message arrived or none arrived for the drain time, and counts the rest as lost. QoS 0 is
//! at most once: a broker may drop what it cannot deliver in time, so loss there can be
//! legitimate. At QoS 1/2 publishers are paced by the broker's acknowledgements, which come
//! on receipt, not on delivery: a subscriber slower than the publishers leaves the broker
//! queueing, and a broker with a queue limit (Mosquitto's `max_queued_messages`, ringmq's
//! `max_queued_messages`) drops beyond it, so loss there shows such a limit at work.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::QoS;
use serde::Serialize;
use tokio::task::{spawn_local, JoinHandle, LocalSet};

use super::conn::Conn;
use super::roles::{self, PubLimit, PubOutcome, SubLimit, SubOutcome};
use super::stats::{Counters, Progress};
use super::{error, rate, Clock, Common};

/// Who publishes to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// P pairs, each on its own topic.
    P2p,
    /// P publishers, one subscriber.
    FanIn,
    /// One publisher, S subscribers.
    FanOut,
}

impl Topology {
    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::P2p => "p2p",
            Self::FanIn => "fanin",
            Self::FanOut => "fanout",
        }
    }
}

/// When publishers stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long.
    Duration(Duration),
    /// After this many messages each.
    Count(u64),
}

/// Options of [`flow`].
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// The topology.
    pub topology: Topology,
    /// Publishers (p2p: pairs; fan-out: always 1).
    pub publishers: usize,
    /// Subscribers (fan-out only; p2p has one per publisher, fan-in one).
    pub subscribers: usize,
    /// When publishers stop.
    pub stop: Stop,
    /// QoS 1/2 publishes in flight per publisher at most (the broker's Receive Maximum
    /// applies too on MQTT 5; MQTT 3 has none, so this is the only bound there).
    pub inflight: u16,
    /// How long the run waits for messages after the last one arrived.
    pub drain: Duration,
    /// Time allowed for publishing (count mode) and for acknowledgements.
    pub timeout: Duration,
}

/// The report of [`flow`].
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// `p2p`, `fanin` or `fanout`.
    pub mode: &'static str,
    /// QoS.
    pub qos: u8,
    /// Payload bytes.
    pub payload: usize,
    /// Publishers.
    pub publishers: usize,
    /// Subscribers.
    pub subscribers: usize,
    /// Messages published.
    pub sent: u64,
    /// QoS 1/2 messages the broker acknowledged.
    pub acked: u64,
    /// QoS 1/2 messages the broker refused.
    pub refused: u64,
    /// Publishers that gave up waiting for acknowledgements.
    pub ack_timeouts: usize,
    /// Deliveries expected: each message times its subscribers.
    pub expected: u64,
    /// Deliveries received.
    pub received: u64,
    /// Expected minus received (0 if more arrived).
    pub loss: u64,
    /// Loss as a percentage of expected.
    pub loss_pct: f64,
    /// Seconds from the start to the last publish written or acknowledged.
    pub send_secs: f64,
    /// Seconds from the start to the last delivery.
    pub receive_secs: f64,
    /// Messages published per second.
    pub sent_per_sec: f64,
    /// Deliveries per second.
    pub received_per_sec: f64,
    /// What loss means at this QoS.
    pub note: &'static str,
}

const NOTE_QOS0: &str = "QoS 0 is at most once: a broker may drop messages it cannot deliver \
                         in time, so loss can be legitimate";
const NOTE_QOS12: &str = "QoS 1/2: loss means the broker dropped messages over its queue \
                          limits (e.g. max_queued_messages) or lost them";

/// Runs a p2p, fan-in or fan-out test.
pub async fn flow(common: &Common, opts: &FlowOptions) -> io::Result<FlowReport> {
    LocalSet::new().run_until(run(common, opts)).await
}

async fn run(common: &Common, opts: &FlowOptions) -> io::Result<FlowReport> {
    let clock = Clock::new();
    let mode = opts.topology.name();
    let (pubs, subs) = match opts.topology {
        Topology::P2p => (opts.publishers, opts.publishers),
        Topology::FanIn => (opts.publishers, 1),
        Topology::FanOut => (1, opts.subscribers),
    };
    let topic_of = |i: usize| match opts.topology {
        Topology::P2p => common.topic(mode, i),
        _ => common.topic(mode, 0),
    };

    // Every subscription is in place before the first publish.
    let mut setups = Vec::with_capacity(subs);
    for i in 0..subs {
        let (common, topic) = (common.clone(), topic_of(i));
        setups.push(spawn_local(async move {
            let opts = common.client_options(&format!("sub{i}"), u16::MAX);
            let (mut c, _) = Conn::open(common.addr, opts, clock).await?;
            c.subscribe(&topic, common.qos).await?;
            Ok::<_, io::Error>(c)
        }));
    }
    let sub_conns = join_all(setups).await?;
    let mut setups = Vec::with_capacity(pubs);
    for i in 0..pubs {
        let common = common.clone();
        let inflight = opts.inflight;
        setups.push(spawn_local(async move {
            let opts = common.client_options(&format!("pub{i}"), inflight);
            Ok::<_, io::Error>(Conn::open(common.addr, opts, clock).await?.0)
        }));
    }
    let pub_conns = join_all(setups).await?;

    let counters = Rc::new(Counters::default());
    let _progress = Progress::start(common.progress, mode, counters.clone());
    let stop = Rc::new(Cell::new(false));
    let payload = common.payload_bytes();
    let start = Instant::now();
    let (count, until, ack_deadline) = match opts.stop {
        Stop::Duration(d) => (u64::MAX, Some(start + d), start + d + opts.timeout),
        Stop::Count(n) => (n, None, start + opts.timeout),
    };
    let sub_deadline = ack_deadline + opts.drain;

    let mut sub_tasks: Vec<JoinHandle<io::Result<SubOutcome>>> = Vec::with_capacity(subs);
    for mut c in sub_conns {
        let (counters, stop) = (counters.clone(), stop.clone());
        sub_tasks.push(spawn_local(async move {
            let limit = SubLimit {
                expected: u64::MAX,
                stop: &stop,
                deadline: sub_deadline,
            };
            let r = roles::receive(&mut c, limit, &counters, None).await;
            c.close(Duration::from_secs(1)).await;
            r
        }));
    }
    let mut pub_tasks: Vec<JoinHandle<io::Result<PubOutcome>>> = Vec::with_capacity(pubs);
    for (i, mut c) in pub_conns.into_iter().enumerate() {
        let msg = OutgoingMessage::new(topic_of(i), payload.clone(), common.qos);
        let counters = counters.clone();
        pub_tasks.push(spawn_local(async move {
            let limit = PubLimit {
                count,
                until,
                ack_deadline,
            };
            let r = roles::publish(&mut c, &msg, limit, &counters).await;
            c.close(Duration::from_secs(1)).await;
            r
        }));
    }

    let published = join_all(pub_tasks).await?;
    let sent: u64 = published.iter().map(|o| o.sent).sum();
    let send_end = published.iter().map(|o| o.finished).max().unwrap_or(start);
    let expected = match opts.topology {
        Topology::P2p | Topology::FanIn => sent,
        Topology::FanOut => sent * subs as u64,
    };

    // Drain: until all arrived, or nothing arrived for `drain`.
    let mut seen = counters.received.get();
    let mut progress_at = Instant::now();
    while counters.received.get() < expected && Instant::now() < sub_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now_seen = counters.received.get();
        if now_seen != seen {
            seen = now_seen;
            progress_at = Instant::now();
        } else if progress_at.elapsed() >= opts.drain {
            break;
        }
    }
    stop.set(true);
    let delivered = join_all(sub_tasks).await?;
    let received: u64 = delivered.iter().map(|o| o.received).sum();
    let last_rx = delivered
        .iter()
        .filter_map(|o| o.last)
        .max()
        .unwrap_or(start);
    let loss = expected.saturating_sub(received);
    let send_time = send_end.saturating_duration_since(start);
    let recv_time = last_rx.saturating_duration_since(start);
    Ok(FlowReport {
        mode,
        qos: common.qos as u8,
        payload: common.payload,
        publishers: pubs,
        subscribers: subs,
        sent,
        acked: published.iter().map(|o| o.acked).sum(),
        refused: published.iter().map(|o| o.refused).sum(),
        ack_timeouts: published.iter().filter(|o| o.timed_out).count(),
        expected,
        received,
        loss,
        loss_pct: if expected == 0 {
            0.0
        } else {
            loss as f64 * 100.0 / expected as f64
        },
        send_secs: send_time.as_secs_f64(),
        receive_secs: recv_time.as_secs_f64(),
        sent_per_sec: rate(sent, send_time),
        received_per_sec: rate(received, recv_time),
        note: if common.qos == QoS::AtMostOnce {
            NOTE_QOS0
        } else {
            NOTE_QOS12
        },
    })
}

/// Awaits every task; the first error wins.
pub(crate) async fn join_all<T>(tasks: Vec<JoinHandle<io::Result<T>>>) -> io::Result<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut first_err = None;
    for t in tasks {
        match t.await {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(error(format!("task: {e}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

impl fmt::Display for FlowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# {}: {} publisher(s) -> {} subscriber(s), QoS {}, {} B payload",
            self.mode, self.publishers, self.subscribers, self.qos, self.payload
        )?;
        write!(
            f,
            "Sent:      {:>12} msgs in {:.3} s",
            self.sent, self.send_secs
        )?;
        writeln!(f, " = {:.0} msg/s", self.sent_per_sec)?;
        if self.qos > 0 {
            writeln!(
                f,
                "Acked:     {:>12} (refused {}, publishers timed out {})",
                self.acked, self.refused, self.ack_timeouts
            )?;
        }
        write!(
            f,
            "Received:  {:>12} msgs in {:.3} s",
            self.received, self.receive_secs
        )?;
        writeln!(f, " = {:.0} msg/s", self.received_per_sec)?;
        writeln!(
            f,
            "Loss:      {:>12} of {} expected ({:.3}%)",
            self.loss, self.expected, self.loss_pct
        )?;
        write!(f, "Note: {}", self.note)
    }
}
