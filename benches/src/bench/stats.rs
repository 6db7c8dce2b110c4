//! Summaries (min/median/mean/max, latency percentiles), the shared counters behind the
//! progress line, and the broker's resident memory from `/proc`.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Min, median, mean and max of a series (all 0 when it is empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Median (the mean of the two middle values of an even count).
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (sorted in place).
    pub fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let (Some(&min), Some(&max)) = (values.first(), values.last()) else {
            return Self::default();
        };
        let lo = values.get((n - 1) / 2).copied().unwrap_or(min);
        let hi = values.get(n / 2).copied().unwrap_or(max);
        Self {
            min,
            median: (lo + hi) / 2.0,
            mean: values.iter().sum::<f64>() / n as f64,
            max,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl LatencySummary {
    /// The summary of a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// A histogram of microseconds from 1 µs to 1 hour, 3 significant digits.
pub(crate) fn micros_histogram() -> io::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| super::error(format!("histogram: {e}")))
}

/// Records `d` in microseconds (saturating at the histogram's top).
pub(crate) fn record_micros(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

/// Counters every task of a run adds to, read by the progress line and the summary.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Messages published.
    pub(crate) sent: Cell<u64>,
    /// Messages received by subscribers.
    pub(crate) received: Cell<u64>,
    /// Connections established (conn mode).
    pub(crate) connected: Cell<u64>,
}

impl Counters {
    pub(crate) fn add_sent(&self, n: u64) {
        self.sent.set(self.sent.get() + n);
    }

    pub(crate) fn add_received(&self, n: u64) {
        self.received.set(self.received.get() + n);
    }

    pub(crate) fn add_connected(&self, n: u64) {
        self.connected.set(self.connected.get() + n);
    }
}

/// Prints a progress line on stderr each second, from the second second on, until dropped.
#[derive(Debug)]
pub(crate) struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts the line (when `on`) for a run of `label`.
    pub(crate) fn start(on: bool, label: &'static str, counters: Rc<Counters>) -> Self {
        if !on {
            return Self { task: None };
        }
        let task = tokio::task::spawn_local(async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let (mut sent, mut recv, mut conns) = (0, 0, 0);
            let mut secs = 0u64;
            loop {
                tick.tick().await;
                secs += 1;
                let (s, r, c) = (
                    counters.sent.get(),
                    counters.received.get(),
                    counters.connected.get(),
                );
                if secs >= 2 {
                    let t = start.elapsed().as_secs_f64();
                    if label == "conn" {
                        eprintln!(
                            "[{label} {t:>4.0}s] connections +{:<6} (total {c})",
                            c - conns
                        );
                    } else {
                        eprintln!(
                            "[{label} {t:>4.0}s] sent {:>9}/s  received {:>9}/s  \
                             (total sent {s}, received {r})",
                            s - sent,
                            r - recv,
                        );
                    }
                }
                (sent, recv, conns) = (s, r, c);
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The resident set size (VmRSS) of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| super::error(format!("no VmRSS in /proc/{pid}/status")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_even_count_takes_mean_of_middle_values() {
        let s = Spread::of(&mut [4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.max, 4.0);
    }

    #[test]
    fn spread_of_nothing_is_zero() {
        assert_eq!(Spread::of(&mut []), Spread::default());
    }

    #[test]
    fn rss_of_this_process_is_positive() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
