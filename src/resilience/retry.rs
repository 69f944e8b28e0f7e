//! Retries of reads whose upstream connection failed: few, spaced out, and
//! within a budget, so that retries can never multiply the load on a struggling
//! node.
//!
//! Only idempotent work is retried (rule 7): read-only commands, and requests
//! that provably never left hotcache. A thread earns `retry-budget` percent of a
//! retry per request it sends and spends one per retry, so retries stay at most
//! that share of requests over time (with a small burst allowance).

use std::cell::Cell;
use std::time::Duration;

/// Most retries saved up for a burst.
const BURST: f64 = 20.0;

/// One thread's retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    tokens: Cell<f64>,
    rng: Cell<u64>,
}

impl RetryBudget {
    pub fn new(seed: u64) -> Self {
        Self { tokens: Cell::new(BURST), rng: Cell::new(seed | 1) }
    }

    /// Earns the share of a retry one request is worth.
    #[inline]
    pub fn earn(&self, percent: u64) {
        let t = self.tokens.get() + percent as f64 / 100.0;
        self.tokens.set(t.min(BURST));
    }

    /// Spends one retry if the budget has it.
    pub fn spend(&self) -> bool {
        let t = self.tokens.get();
        if t >= 1.0 {
            self.tokens.set(t - 1.0);
            true
        } else {
            false
        }
    }

    /// Exponential backoff with jitter: `base * 2^attempt`, times 0.5 to 1.5.
    pub fn backoff(&self, base: Duration, attempt: u32) -> Duration {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let factor = 0.5 + (x % 1000) as f64 / 1000.0;
        base.mul_f64(factor * f64::from(1u32 << attempt.min(10)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_limits_retries_to_a_share_of_requests() {
        let b = RetryBudget::new(7);
        while b.spend() {}
        let mut retries = 0;
        for _ in 0..1000 {
            b.earn(10);
            if b.spend() {
                retries += 1;
            }
        }
        assert!((95..=105).contains(&retries), "{retries}");
    }

    #[test]
    fn backoff_grows_with_jitter() {
        let b = RetryBudget::new(3);
        let base = Duration::from_millis(10);
        for attempt in 0..4 {
            let d = b.backoff(base, attempt);
            let nominal = base * (1 << attempt);
            assert!(d >= nominal / 2 && d <= nominal * 3 / 2, "{d:?}");
        }
    }
}
