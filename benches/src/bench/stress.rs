//! `stress`: mqtt-stresser's method and report. N workers each own a subscriber and a
//! publisher on a topic of their own; every publisher sends M messages and every subscriber
//! receives its own.
//!
//! As in mqtt-stresser, a worker's publish throughput is M over the time its publisher took
//! to send M messages (QoS 0: written to the socket; QoS 1/2: completed), and the report
//! gives the fastest, slowest and median worker with a cumulative histogram. Two
//! differences: a worker's receive throughput is M over the time from the start of
//! publishing to its last message (mqtt-stresser starts that clock when publishing ends,
//! which credits the broker with messages it delivered while the publisher still ran), and
//! the run adds the aggregate rate, N×M over the wall time from the start of publishing to
//! the last message received anywhere.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mqtt_core::client::OutgoingMessage;
use serde::Serialize;
use tokio::task::{spawn_local, LocalSet};

use super::conn::Conn;
use super::roles::{self, PubLimit, SubLimit};
use super::stats::{Counters, Progress, Spread};
use super::{rate, Clock, Common};

/// Options of [`stress`].
#[derive(Debug, Clone)]
pub struct StressOptions {
    /// Workers (each a publisher and a subscriber).
    pub clients: usize,
    /// Messages each worker publishes.
    pub messages: u64,
    /// Time allowed for the whole run once publishing started.
    pub timeout: Duration,
}

/// Why workers failed (mqtt-stresser's error kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkerErrors {
    /// A connection was refused or failed.
    pub connect_failed: usize,
    /// The subscription was refused.
    pub subscribe_failed: usize,
    /// The run's timeout passed before the worker received everything.
    pub timeout_exceeded: usize,
    /// A connection closed during the run.
    pub aborted: usize,
}

impl WorkerErrors {
    /// Workers that failed.
    pub fn total(&self) -> usize {
        self.connect_failed + self.subscribe_failed + self.timeout_exceeded + self.aborted
    }
}

/// The report of [`stress`].
#[derive(Debug, Clone, Serialize)]
pub struct StressReport {
    /// `"stress"`.
    pub mode: &'static str,
    /// Workers.
    pub clients: usize,
    /// Messages per worker.
    pub messages_per_client: u64,
    /// QoS of publishes and subscriptions.
    pub qos: u8,
    /// Payload bytes.
    pub payload: usize,
    /// N×M.
    pub total_messages: u64,
    /// Messages published.
    pub published: u64,
    /// Messages received.
    pub received: u64,
    /// Workers whose subscriber received all M messages.
    pub completed: usize,
    /// Failed workers by kind.
    pub errors: WorkerErrors,
    /// Publish throughput per worker, msg/s.
    pub publish: Spread,
    /// Receive throughput per worker, msg/s.
    pub receive: Spread,
    /// Publish throughput histogram: (bucket upper bound msg/s, cumulative fraction).
    pub publish_histogram: Vec<(f64, f64)>,
    /// Receive throughput histogram: (bucket upper bound msg/s, cumulative fraction).
    pub receive_histogram: Vec<(f64, f64)>,
    /// Seconds from the start of publishing to the last message received.
    pub wall_secs: f64,
    /// Messages received over the wall time, msg/s.
    pub aggregate_per_sec: f64,
}

/// Runs the stress test.
pub async fn stress(common: &Common, opts: &StressOptions) -> io::Result<StressReport> {
    LocalSet::new().run_until(run(common, opts)).await
}

/// One worker's outcome.
#[derive(Debug, Default)]
struct Worker {
    published: u64,
    received: u64,
    publish_time: Option<Duration>,
    receive_time: Option<Duration>,
}

async fn run(common: &Common, opts: &StressOptions) -> io::Result<StressReport> {
    let clock = Clock::new();
    let mut errors = WorkerErrors::default();

    // Set up every worker before any publishes, as mqtt-stresser's ramp-up would at best.
    let mut setups = Vec::with_capacity(opts.clients);
    for i in 0..opts.clients {
        let common = common.clone();
        setups.push(spawn_local(async move {
            let topic = common.topic("stress", i);
            let sub = Conn::open(
                common.addr,
                common.client_options(&format!("sub{i}"), u16::MAX),
                clock,
            )
            .await
            .map_err(|e| (true, e))?;
            let mut sub = sub.0;
            sub.subscribe(&topic, common.qos)
                .await
                .map_err(|e| (false, e))?;
            let (publisher, _) = Conn::open(
                common.addr,
                common.client_options(&format!("pub{i}"), common.default_inflight()),
                clock,
            )
            .await
            .map_err(|e| (true, e))?;
            Ok::<_, (bool, io::Error)>((sub, publisher, topic))
        }));
    }
    let mut ready = Vec::with_capacity(opts.clients);
    for s in setups {
        match s
            .await
            .map_err(|e| super::error(format!("setup task: {e}")))?
        {
            Ok(w) => ready.push(w),
            Err((connect, e)) => {
                warn(&format!("worker setup failed: {e}"));
                if connect {
                    errors.connect_failed += 1;
                } else {
                    errors.subscribe_failed += 1;
                }
            }
        }
    }

    let counters = Rc::new(Counters::default());
    let _progress = Progress::start(common.progress, "stress", counters.clone());
    let stop = Rc::new(Cell::new(false));
    let payload = common.payload_bytes();
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut tasks = Vec::with_capacity(ready.len());
    for (mut sub, mut publisher, topic) in ready {
        let msg = OutgoingMessage::new(topic, payload.clone(), common.qos);
        let (c1, c2, stop) = (counters.clone(), counters.clone(), stop.clone());
        let count = opts.messages;
        let pub_task = spawn_local(async move {
            let limit = PubLimit {
                count,
                until: None,
                ack_deadline: deadline,
            };
            let r = roles::publish(&mut publisher, &msg, limit, &c1).await;
            publisher.close(Duration::from_secs(1)).await;
            r
        });
        let sub_task = spawn_local(async move {
            let limit = SubLimit {
                expected: count,
                stop: &stop,
                deadline,
            };
            let r = roles::receive(&mut sub, limit, &c2, None).await;
            sub.close(Duration::from_secs(1)).await;
            r
        });
        tasks.push((pub_task, sub_task));
    }

    let mut workers = Vec::with_capacity(tasks.len());
    let mut last_rx = start;
    for (p, s) in tasks {
        let mut w = Worker::default();
        let mut failed = false;
        match p
            .await
            .map_err(|e| super::error(format!("publisher task: {e}")))?
        {
            Ok(o) => {
                w.published = o.sent;
                w.publish_time = Some(o.finished.saturating_duration_since(start));
            }
            Err(_) => failed = true,
        }
        match s
            .await
            .map_err(|e| super::error(format!("subscriber task: {e}")))?
        {
            Ok(o) => {
                w.received = o.received;
                if let Some(t) = o.last {
                    last_rx = last_rx.max(t);
                    w.receive_time = Some(t.saturating_duration_since(start));
                }
                if o.timed_out {
                    errors.timeout_exceeded += 1;
                } else if failed {
                    errors.aborted += 1;
                }
            }
            Err(_) => errors.aborted += 1,
        }
        workers.push(w);
    }
    Ok(summarise(common, opts, &workers, errors, last_rx - start))
}

fn summarise(
    common: &Common,
    opts: &StressOptions,
    workers: &[Worker],
    errors: WorkerErrors,
    wall: Duration,
) -> StressReport {
    let m = opts.messages;
    let mut publish: Vec<f64> = workers
        .iter()
        .filter_map(|w| w.publish_time.map(|t| rate(w.published, t)))
        .collect();
    let mut receive: Vec<f64> = workers
        .iter()
        .filter_map(|w| w.receive_time.map(|t| rate(w.received, t)))
        .collect();
    let publish_spread = Spread::of(&mut publish);
    let receive_spread = Spread::of(&mut receive);
    let received: u64 = workers.iter().map(|w| w.received).sum();
    StressReport {
        mode: "stress",
        clients: opts.clients,
        messages_per_client: m,
        qos: common.qos as u8,
        payload: common.payload,
        total_messages: m * opts.clients as u64,
        published: workers.iter().map(|w| w.published).sum(),
        received,
        completed: workers.iter().filter(|w| w.received >= m).count(),
        errors,
        publish: publish_spread,
        receive: receive_spread,
        publish_histogram: histogram(&publish),
        receive_histogram: histogram(&receive),
        wall_secs: wall.as_secs_f64(),
        aggregate_per_sec: rate(received, wall),
    }
}

/// mqtt-stresser's histogram: 10 equal buckets between the slowest and the fastest, each
/// with the cumulative fraction of workers at or below its upper bound. `sorted` is sorted.
fn histogram(sorted: &[f64]) -> Vec<(f64, f64)> {
    let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let step = (hi - lo) / 10.0;
    let n = sorted.len() as f64;
    let mut out = Vec::new();
    let mut seen = 0usize;
    for b in 1..=10 {
        let bound = if b == 10 { hi } else { lo + step * b as f64 };
        let below = sorted.iter().filter(|&&v| v <= bound).count();
        if below > seen {
            out.push((bound, below as f64 / n));
            seen = below;
        }
    }
    out
}

fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl fmt::Display for StressReport {
    /// mqtt-stresser's summary, plus the mean and the aggregate rate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.clients as u64;
        writeln!(f, "# Configuration")?;
        writeln!(f, "Concurrent Clients: {}", self.clients)?;
        writeln!(f, "Messages / Client:  {}", self.messages_per_client)?;
        writeln!(f, "QoS / Payload:      {} / {} B", self.qos, self.payload)?;
        writeln!(f)?;
        writeln!(f, "# Results")?;
        let published = pct(self.published, self.total_messages);
        writeln!(
            f,
            "Published Messages: {} ({published:.0}%)",
            self.published
        )?;
        let received = pct(self.received, self.published);
        writeln!(f, "Received Messages:  {} ({received:.0}%)", self.received)?;
        let completed = pct(self.completed as u64, n);
        writeln!(
            f,
            "Completed:          {} ({completed:.0}%)",
            self.completed
        )?;
        let errors = self.errors.total();
        writeln!(
            f,
            "Errors:             {errors} ({:.0}%)",
            pct(errors as u64, n)
        )?;
        if errors > 0 {
            let e = &self.errors;
            writeln!(f, "- ConnectFailed:      {}", e.connect_failed)?;
            writeln!(f, "- SubscribeFailed:    {}", e.subscribe_failed)?;
            writeln!(f, "- TimeoutExceeded:    {}", e.timeout_exceeded)?;
            writeln!(f, "- Aborted:            {}", e.aborted)?;
        }
        for (title, s, h) in [
            (
                "Publishing Throughput",
                &self.publish,
                &self.publish_histogram,
            ),
            (
                "Receiving Throughput",
                &self.receive,
                &self.receive_histogram,
            ),
        ] {
            writeln!(f)?;
            writeln!(f, "# {title}")?;
            writeln!(f, "Fastest: {:.0} msg/sec", s.max)?;
            writeln!(f, "Slowest: {:.0} msg/sec", s.min)?;
            writeln!(f, "Median: {:.0} msg/sec", s.median)?;
            writeln!(f, "Mean: {:.0} msg/sec", s.mean)?;
            writeln!(f)?;
            for (bound, frac) in h {
                writeln!(f, "  < {bound:.0} msg/sec  {:.0}%", frac * 100.0)?;
            }
        }
        writeln!(f)?;
        writeln!(f, "# Aggregate")?;
        writeln!(f, "Wall time: {:.3} s", self.wall_secs)?;
        write!(
            f,
            "Aggregate: {:.0} msg/sec ({} received / wall time)",
            self.aggregate_per_sec, self.received
        )
    }
}
