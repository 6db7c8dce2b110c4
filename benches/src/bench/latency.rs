//! `latency`: an open loop at a fixed offered rate. Message k of a publisher is due at
//! `start + k / rate` and carries that intended send time in its first 8 bytes; the
//! subscriber records arrival − intended. A publisher that falls behind (the broker pushes
//! back, or the tool stalls) sends the overdue messages at once, still stamped with their
//! intended times, so the stall counts against every message it delayed: the histogram is
//! corrected for coordinated omission.
//!
//! Sleeping has millisecond granularity, so a publisher sleeps until shortly before the next
//! due time and then polls (yielding to the other tasks) until it falls due. How late
//! publishes left against their due time is reported as the send lag, the tool's own error.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use hdrhistogram::Histogram;
use mqtt_core::client::{Event, OutgoingMessage};
use serde::Serialize;
use tokio::task::{spawn_local, LocalSet};

use super::conn::Conn;
use super::flow::join_all;
use super::roles::{self, SubLimit};
use super::stats::{micros_histogram, record_micros, Counters, LatencySummary, Progress};
use super::{error, rate, Clock, Common};

/// Within this of the next due time a publisher polls instead of sleeping.
const SPIN: Duration = Duration::from_micros(1500);

/// Options of [`latency`].
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// Offered messages per second, over all publishers.
    pub rate: f64,
    /// How long publishers publish.
    pub duration: Duration,
    /// Publisher → subscriber pairs, each on its own topic (the rate is split among them).
    pub pairs: usize,
    /// Messages due in this first part of the run are not recorded.
    pub warmup: Duration,
    /// How long to wait for stragglers after the last publish.
    pub drain: Duration,
}

/// The report of [`latency`].
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// `"latency"`.
    pub mode: &'static str,
    /// QoS.
    pub qos: u8,
    /// Payload bytes (at least 8: the timestamp).
    pub payload: usize,
    /// Pairs.
    pub pairs: usize,
    /// Offered rate, msg/s.
    pub offered_rate: f64,
    /// Messages published.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// Sent minus received.
    pub loss: u64,
    /// Achieved send rate, msg/s.
    pub sent_per_sec: f64,
    /// Arrival − intended send time, of messages due after the warm-up.
    pub latency: LatencySummary,
    /// Publish − intended send time: how far the tool fell behind its schedule.
    pub send_lag: LatencySummary,
}

/// Runs the latency test.
pub async fn latency(common: &Common, opts: &LatencyOptions) -> io::Result<LatencyReport> {
    LocalSet::new().run_until(run(common, opts)).await
}

async fn run(common: &Common, opts: &LatencyOptions) -> io::Result<LatencyReport> {
    if opts.rate.is_nan() || opts.rate <= 0.0 || opts.pairs == 0 {
        return Err(error(
            "latency needs a positive --rate and at least one pair",
        ));
    }
    let clock = Clock::new();
    let payload = common.payload.max(8);
    let mut subs = Vec::with_capacity(opts.pairs);
    let mut pubs = Vec::with_capacity(opts.pairs);
    for i in 0..opts.pairs {
        let topic = common.topic("latency", i);
        let o = common.client_options(&format!("sub{i}"), u16::MAX);
        let (mut s, _) = Conn::open(common.addr, o, clock).await?;
        s.subscribe(&topic, common.qos).await?;
        subs.push(s);
        let mut o = common.client_options(&format!("pub{i}"), common.default_inflight());
        // Open loop: what the window holds back waits in the client's queue.
        o.max_queued = usize::MAX;
        pubs.push((Conn::open(common.addr, o, clock).await?.0, topic));
    }

    let counters = Rc::new(Counters::default());
    let _progress = Progress::start(common.progress, "latency", counters.clone());
    let stop = Rc::new(Cell::new(false));
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + opts.duration;
    let record_from = clock.nanos_at(start + opts.warmup);
    let interval = Duration::from_secs_f64(opts.pairs as f64 / opts.rate);

    let mut sub_tasks = Vec::with_capacity(opts.pairs);
    for mut s in subs {
        let (counters, stop) = (counters.clone(), stop.clone());
        let deadline = end + opts.drain + Duration::from_secs(60);
        sub_tasks.push(spawn_local(async move {
            let mut h = micros_histogram()?;
            let limit = SubLimit {
                expected: u64::MAX,
                stop: &stop,
                deadline,
            };
            let mut on_stamp = |intended: u64, at: Instant| {
                if intended >= record_from {
                    let lat = clock.nanos_at(at).saturating_sub(intended);
                    record_micros(&mut h, Duration::from_nanos(lat));
                }
            };
            let r = roles::receive(&mut s, limit, &counters, Some(&mut on_stamp)).await;
            s.close(Duration::from_secs(1)).await;
            Ok::<_, io::Error>((r?, h))
        }));
    }
    let mut pub_tasks = Vec::with_capacity(opts.pairs);
    for (i, (mut c, topic)) in pubs.into_iter().enumerate() {
        let counters = counters.clone();
        // Pairs take turns within an interval.
        let first = start + interval.mul_f64(i as f64 / opts.pairs as f64);
        let plan = Plan {
            first,
            interval,
            end,
            payload,
        };
        let qos = common.qos;
        pub_tasks.push(spawn_local(async move {
            let r = publish_paced(&mut c, topic, qos, plan, &counters).await;
            c.close(Duration::from_secs(1)).await;
            r
        }));
    }
    let published = join_all(pub_tasks).await?;
    let sent: u64 = published.iter().map(|(n, _)| n).sum();
    let mut lag = micros_histogram()?;
    for (_, h) in &published {
        lag.add(h).map_err(|e| error(format!("histogram: {e}")))?;
    }

    let drain_until = Instant::now() + opts.drain;
    while counters.received.get() < sent && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.set(true);
    let delivered = join_all(sub_tasks).await?;
    let mut lat = micros_histogram()?;
    let mut received = 0;
    for (o, h) in &delivered {
        received += o.received;
        lat.add(h).map_err(|e| error(format!("histogram: {e}")))?;
    }
    Ok(LatencyReport {
        mode: "latency",
        qos: common.qos as u8,
        payload,
        pairs: opts.pairs,
        offered_rate: opts.rate,
        sent,
        received,
        loss: sent.saturating_sub(received),
        sent_per_sec: rate(sent, opts.duration),
        latency: LatencySummary::of(&lat),
        send_lag: LatencySummary::of(&lag),
    })
}

/// A publisher's schedule.
#[derive(Debug, Clone, Copy)]
struct Plan {
    first: Instant,
    interval: Duration,
    end: Instant,
    payload: usize,
}

/// Publishes on schedule until `plan.end`, then waits (briefly) for acknowledgements.
/// Returns the count and the send-lag histogram.
async fn publish_paced(
    conn: &mut Conn,
    topic: String,
    qos: mqtt_proto::QoS,
    plan: Plan,
    counters: &Counters,
) -> io::Result<(u64, Histogram<u64>)> {
    let clock = conn.clock();
    let topic: mqtt_proto::ByteString = topic.into();
    let mut lag = micros_histogram()?;
    let mut slab = BytesMut::new();
    let mut k: u32 = 0;
    let mut due = plan.first;
    while due < plan.end {
        let now = Instant::now();
        let ts = clock.now();
        let mut n = 0;
        while due <= now && due < plan.end {
            if slab.capacity() < plan.payload {
                slab.reserve(plan.payload.max(64 * 1024));
            }
            slab.put_u64(clock.nanos_at(due));
            slab.put_bytes(0, plan.payload - 8);
            let msg = OutgoingMessage::new(topic.clone(), slab.split().freeze(), qos);
            conn.client
                .publish(msg, ts)
                .map_err(|e| error(format!("publish: {e}")))?;
            record_micros(&mut lag, now.saturating_duration_since(due));
            n += 1;
            k = k.saturating_add(1);
            due = plan.first + plan.interval * k;
        }
        counters.add_sent(n);
        conn.poll_io()?;
        drain(conn)?;
        let now = Instant::now();
        if due >= plan.end {
            break;
        }
        if due > now + SPIN {
            conn.step(Some(due - SPIN)).await?;
            drain(conn)?;
        } else {
            tokio::task::yield_now().await;
        }
    }
    // Let acknowledgements and the last writes out.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (conn.write_pending() || conn.client.inflight_len() > 0) && Instant::now() < deadline {
        conn.step(Some(deadline)).await?;
        drain(conn)?;
    }
    Ok((u64::from(k), lag))
}

fn drain(conn: &mut Conn) -> io::Result<()> {
    while let Some(ev) = conn.client.poll_event() {
        if let Event::Disconnected(why) = ev {
            return Err(error(format!("publisher disconnected: {why:?}")));
        }
    }
    Ok(())
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# latency: {} pair(s), QoS {}, {} B payload, offered {:.0} msg/s",
            self.pairs, self.qos, self.payload, self.offered_rate
        )?;
        writeln!(
            f,
            "Sent {} ({:.0} msg/s), received {}, loss {}",
            self.sent, self.sent_per_sec, self.received, self.loss
        )?;
        let l = &self.latency;
        writeln!(
            f,
            "Latency (µs, {} samples): p50 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            l.count, l.p50_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
        )?;
        let s = &self.send_lag;
        write!(
            f,
            "Send lag (µs, tool behind schedule): p50 {}  p99 {}  p99.9 {}  max {}",
            s.p50_us, s.p99_us, s.p999_us, s.max_us
        )
    }
}
