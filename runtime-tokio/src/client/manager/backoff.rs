//! Reconnect delays: exponential, capped, with jitter.

use super::*;

/// Reconnect delays: `initial × factor^(attempt-1)`, capped at `max`, with "equal jitter"
/// (half the delay fixed, half random) when `jitter` is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first reconnect attempt (before jitter).
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per attempt (1: constant).
    pub factor: u32,
    /// Randomise half of each delay.
    pub jitter: bool,
}

impl Default for Backoff {
    /// 100 ms, doubling, capped at 30 s, with jitter.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2,
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (1 for the first), with `random` in
    /// `[0, 1]` for the jitter.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let growth = self.factor.max(1).saturating_pow(attempt.saturating_sub(1));
        let full = self.initial.saturating_mul(growth).min(self.max);
        if !self.jitter {
            return full;
        }
        let r = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = full / 2;
        half + half.mul_f64(r)
    }
}

/// A random number in `[0, 1)`.
pub(super) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2,
            jitter: false,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a, 0.5).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        let j = Backoff { jitter: true, ..b };
        assert_eq!(j.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(j.delay(3, 1.0), Duration::from_millis(400));
        assert_eq!(j.delay(3, f64::NAN), Duration::from_millis(200));
        assert_eq!(j.delay(40, 1.0), Duration::from_secs(1));
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
