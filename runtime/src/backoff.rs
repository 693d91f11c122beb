//! Reconnect delays: exponential backoff with full jitter.

use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(max, initial × 2ⁿ)]`, so many clients dropped at once come back spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// The ceiling for attempt `n` (from 0).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// A random delay for attempt `n`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.jittered(attempt, &mut fastrand::Rng::new())
    }

    /// A random delay for attempt `n`, drawn from `rng`.
    pub(crate) fn jittered(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.u64(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_the_cap_with_jitter_below() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(2) };
        fn check(b: &Backoff, attempt: u32, ceiling_ms: u64) {
            assert_eq!(b.ceiling(attempt), Duration::from_millis(ceiling_ms), "attempt {attempt}");
            for _ in 0..50 {
                assert!(b.delay(attempt) <= b.ceiling(attempt));
            }
        }
        check(&b, 0, 100);
        check(&b, 1, 200);
        check(&b, 4, 1600);
        check(&b, 5, 2000);
        check(&b, 40, 2000);
        let spread: std::collections::BTreeSet<_> = (0..100).map(|_| b.delay(5)).collect();
        assert!(spread.len() > 20, "full jitter spreads clients out: {} distinct delays", spread.len());
    }
}
