//! Retries of requests whose upstream connection failed: few, spaced out, and
//! within a budget, so that retries can never multiply the load on a struggling
//! node.
//!
//! Only idempotent work is retried (rule 7): read-only commands, and requests
//! that provably never left hotcache. A thread may retry at most `retry-budget`
//! percent of the requests it sent recently (counts halve every second), plus a
//! few, so that a quiet thread can still retry at all.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Retries allowed in a window whatever the request count.
const FLOOR: u64 = 10;
const WINDOW: Duration = Duration::from_secs(1);

/// One thread's retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    window_start: Cell<Instant>,
    requests: Cell<u64>,
    retries: Cell<u64>,
    rng: Cell<u64>,
}

impl RetryBudget {
    pub fn new(seed: u64) -> Self {
        Self {
            window_start: Cell::new(Instant::now()),
            requests: Cell::new(0),
            retries: Cell::new(0),
            rng: Cell::new(seed | 1),
        }
    }

    /// Halves the counts each second: recent traffic weighs, old fades.
    fn roll(&self, now: Instant) {
        if now.duration_since(self.window_start.get()) >= WINDOW {
            self.window_start.set(now);
            self.requests.set(self.requests.get() / 2);
            self.retries.set(self.retries.get() / 2);
        }
    }

    /// Counts a request sent upstream.
    #[inline]
    pub fn count_request(&self) {
        self.requests.set(self.requests.get() + 1);
    }

    /// Takes one retry if this window's budget (`percent` of its requests) has one.
    pub fn spend(&self, percent: u64) -> bool {
        self.roll(Instant::now());
        let allowed = (self.requests.get() * percent / 100).max(FLOOR);
        if self.retries.get() < allowed {
            self.retries.set(self.retries.get() + 1);
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
        for _ in 0..1000 {
            b.count_request();
        }
        let retries = (0..1000).filter(|_| b.spend(10)).count();
        assert_eq!(retries, 100);
        let quiet = RetryBudget::new(8);
        assert_eq!((0..100).filter(|_| quiet.spend(10)).count(), FLOOR as usize);
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
