//! `conn`: opens N connections at a fixed rate, holds them idle, and reports the connect
//! latency (CONNECT written → CONNACK read) and, given the broker's pid, its resident memory
//! before and after and per connection.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{spawn_local, LocalSet};

use super::conn::Conn;
use super::stats::{micros_histogram, record_micros, rss_kib, Counters, LatencySummary, Progress};
use super::{error, Clock, Common};

/// Options of [`connections`].
#[derive(Debug, Clone)]
pub struct ConnOptions {
    /// Connections to open.
    pub clients: usize,
    /// Connections opened per second.
    pub rate: f64,
    /// How long all of them are held once open.
    pub hold: Duration,
    /// The broker's pid, to read its VmRSS.
    pub pid: Option<u32>,
}

/// The report of [`connections`].
#[derive(Debug, Clone, Serialize)]
pub struct ConnReport {
    /// `"conn"`.
    pub mode: &'static str,
    /// Connections asked for.
    pub clients: usize,
    /// Connections the broker accepted.
    pub connected: usize,
    /// Connections that failed (refused, reset, timed out).
    pub failed: usize,
    /// The open-file limit raised to (soft limit).
    pub nofile_limit: u64,
    /// Seconds to open all of them.
    pub connect_secs: f64,
    /// CONNECT → CONNACK.
    pub connect_latency: LatencySummary,
    /// Broker VmRSS before the first connection, KiB.
    pub rss_before_kib: Option<u64>,
    /// Broker VmRSS at the end of the hold, KiB.
    pub rss_after_kib: Option<u64>,
    /// (after − before) / connected, KiB.
    pub kib_per_connection: Option<f64>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// Raises the soft open-file limit to the hard limit; returns the soft limit in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard)?;
    Ok(rlimit::getrlimit(rlimit::Resource::NOFILE)?.0)
}

/// Runs the connection test.
pub async fn connections(common: &Common, opts: &ConnOptions) -> io::Result<ConnReport> {
    LocalSet::new().run_until(run(common, opts)).await
}

async fn run(common: &Common, opts: &ConnOptions) -> io::Result<ConnReport> {
    if opts.rate.is_nan() || opts.rate <= 0.0 {
        return Err(error("conn needs a positive --rate"));
    }
    let nofile_limit = raise_nofile_limit()?;
    let clock = Clock::new();
    let rss_before = opts.pid.map(rss_kib).transpose()?;
    let counters = Rc::new(Counters::default());
    let _progress = Progress::start(common.progress, "conn", counters.clone());
    let (release, held) = watch::channel(false);
    let interval = Duration::from_secs_f64(1.0 / opts.rate);
    let start = Instant::now();
    let failed = Rc::new(Cell::new(0u64));
    let mut tasks = Vec::with_capacity(opts.clients);
    for i in 0..opts.clients {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (common, counters, mut held) = (common.clone(), counters.clone(), held.clone());
        let failed = failed.clone();
        tasks.push(spawn_local(async move {
            let o = common.client_options(&format!("c{i}"), u16::MAX);
            let (mut conn, took) = match Conn::open(common.addr, o, clock).await {
                Ok(c) => c,
                Err(e) => {
                    failed.set(failed.get() + 1);
                    return Err(e);
                }
            };
            counters.add_connected(1);
            let outcome = tokio::select! {
                r = hold(&mut conn) => r,
                _ = held.wait_for(|&go| go) => Ok(()),
            };
            outcome.map(|()| (conn, took))
        }));
    }
    // Wait until every connection got its CONNACK or failed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.connected.get() + failed.get() < opts.clients as u64 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(opts.hold).await;
    let rss_after = opts.pid.map(rss_kib).transpose()?;
    let _ = release.send(true);

    let mut h = micros_histogram()?;
    let mut connected = Vec::with_capacity(opts.clients);
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok((conn, took))) => {
                record_micros(&mut h, took);
                connected.push(conn);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let n = connected.len();
    for c in connected {
        c.close(Duration::from_millis(100)).await;
    }
    let per_conn = match (rss_before, rss_after, n) {
        (Some(b), Some(a), n) if n > 0 => Some((a as f64 - b as f64) / n as f64),
        _ => None,
    };
    Ok(ConnReport {
        mode: "conn",
        clients: opts.clients,
        connected: n,
        failed: opts.clients - n,
        nofile_limit,
        connect_secs,
        connect_latency: LatencySummary::of(&h),
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        kib_per_connection: per_conn,
        first_error,
    })
}

/// Keeps a connection alive (pings) until it fails.
async fn hold(conn: &mut Conn) -> io::Result<()> {
    loop {
        conn.step(None).await?;
        while conn.client.poll_event().is_some() {}
        if !conn.client.is_connected() {
            return Err(error("connection closed while held"));
        }
    }
}

impl fmt::Display for ConnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# conn: {} connected of {} ({} failed) in {:.3} s (open-file limit {})",
            self.connected, self.clients, self.failed, self.connect_secs, self.nofile_limit
        )?;
        let l = &self.connect_latency;
        write!(
            f,
            "Connect latency (µs, CONNECT -> CONNACK): p50 {}  p99 {}  max {}  mean {:.1}",
            l.p50_us, l.p99_us, l.max_us, l.mean_us
        )?;
        if let (Some(b), Some(a)) = (self.rss_before_kib, self.rss_after_kib) {
            writeln!(f)?;
            write!(f, "Broker RSS: {b} KiB before, {a} KiB after")?;
            if let Some(k) = self.kib_per_connection {
                write!(f, " = {k:.2} KiB per connection")?;
            }
        }
        if let Some(e) = &self.first_error {
            writeln!(f)?;
            write!(f, "First error: {e}")?;
        }
        Ok(())
    }
}
