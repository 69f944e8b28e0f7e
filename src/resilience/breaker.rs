//! A circuit breaker per upstream node, shared by every thread.
//!
//! Closed: requests go through; outcomes are counted. It opens on
//! `breaker-failures` consecutive failures, or when failures are at least
//! `breaker-error-rate` percent of at least `breaker-min-requests` outcomes in a
//! `breaker-window`. Open: requests fail at once with an error naming the node,
//! instead of queueing behind a dead one. After `breaker-open-time` it is half
//! open: `breaker-probes` requests go through; if they succeed it closes, a
//! failure opens it again.
//!
//! A failure is the connection failing (connect error, reset, closed, reply
//! timeout), counted once per event, not once per request it carried; a reply of
//! any kind, Redis's error replies included, is a success. Atomics only: the
//! state is shared by threads without a lock, and a race between two threads
//! only shifts a count by one.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;

use crate::config::Config;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The breaker's settings, kept as atomics so CONFIG SET applies at once.
#[derive(Debug, Default)]
struct Settings {
    failures: AtomicU32,
    error_rate: AtomicU32,
    min_requests: AtomicU32,
    window_ms: AtomicU64,
    open_ms: AtomicU64,
    probes: AtomicU32,
}

/// One upstream node's breaker.
#[derive(Debug)]
pub struct Breaker {
    pub addr: String,
    settings: Settings,
    state: AtomicU8,
    /// When it last opened (ms since `epoch`).
    opened_at: AtomicU64,
    consecutive: AtomicU32,
    window_start: AtomicU64,
    window_ok: AtomicU32,
    window_failed: AtomicU32,
    probes_left: AtomicU32,
    probes_ok: AtomicU32,
    epoch: Instant,
    /// Times it opened, and requests refused while open (for INFO).
    pub opens: AtomicU64,
    pub rejected: AtomicU64,
    /// Whether the node answers at all, and whether it is busy (see `health`).
    pub health: super::Health,
}

/// The breaker's state, for INFO and decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
}

impl Breaker {
    pub fn new(addr: String, config: &Config) -> Self {
        let b = Self {
            addr,
            settings: Settings::default(),
            state: AtomicU8::new(CLOSED),
            opened_at: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            window_start: AtomicU64::new(0),
            window_ok: AtomicU32::new(0),
            window_failed: AtomicU32::new(0),
            probes_left: AtomicU32::new(0),
            probes_ok: AtomicU32::new(0),
            epoch: Instant::now(),
            opens: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            health: super::Health::default(),
        };
        b.configure(config);
        b
    }

    /// Applies the breaker settings (at start and on CONFIG SET).
    pub fn configure(&self, c: &Config) {
        let s = &self.settings;
        s.failures.store(c.breaker_failures.max(1) as u32, Relaxed);
        s.error_rate.store(c.breaker_error_rate.min(100) as u32, Relaxed);
        s.min_requests.store(c.breaker_min_requests.max(1) as u32, Relaxed);
        s.window_ms.store(c.breaker_window.max(1), Relaxed);
        s.open_ms.store(c.breaker_open_time, Relaxed);
        s.probes.store(c.breaker_probes.max(1) as u32, Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn state(&self) -> State {
        match self.state.load(Relaxed) {
            CLOSED => State::Closed,
            OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    /// True while requests to this node are refused or only probed: the node
    /// counts as degraded (serve-stale, degrade-commands).
    pub fn degraded(&self) -> bool {
        self.state.load(Relaxed) != CLOSED
    }

    /// Whether a request may go to the node now.
    #[inline]
    pub fn allow(&self) -> bool {
        match self.state.load(Relaxed) {
            CLOSED => true,
            OPEN => {
                let since = self.now_ms().saturating_sub(self.opened_at.load(Relaxed));
                if since >= self.settings.open_ms.load(Relaxed)
                    && self.state.compare_exchange(OPEN, HALF_OPEN, Relaxed, Relaxed).is_ok()
                {
                    self.refill_probes();
                    tracing::info!(upstream = %self.addr, "circuit breaker half-open: probing");
                }
                self.take_probe()
            }
            _ => self.take_probe(),
        }
    }

    fn refill_probes(&self) {
        self.opened_at.store(self.now_ms(), Relaxed);
        self.probes_left.store(self.settings.probes.load(Relaxed), Relaxed);
        self.probes_ok.store(0, Relaxed);
    }

    fn take_probe(&self) -> bool {
        // Probes whose outcome never came (the request was dropped on the way)
        // must not leave it half open forever: after another open time, probe again.
        if self.state.load(Relaxed) == HALF_OPEN
            && self.probes_left.load(Relaxed) == 0
            && self.now_ms().saturating_sub(self.opened_at.load(Relaxed))
                >= self.settings.open_ms.load(Relaxed).max(1)
        {
            self.refill_probes();
        }
        let ok = self.state.load(Relaxed) == HALF_OPEN
            && self.probes_left.fetch_update(Relaxed, Relaxed, |p| p.checked_sub(1)).is_ok();
        if !ok {
            self.rejected.fetch_add(1, Relaxed);
        }
        ok
    }

    /// `replies` replies came back in one read (called once per read).
    pub fn success(&self, replies: u32) {
        // Read before writing: the common case, nothing to reset, then stays a
        // shared cache line instead of bouncing between threads.
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
        match self.state.load(Relaxed) {
            CLOSED => {
                self.roll_window();
                // Every reply is an outcome, however many one read carried:
                // counting the read once would make the error rate depend on
                // how well replies batch (a pipelined connection reading
                // thousands of replies at a time, reset now and then, would
                // look half failed).
                self.window_ok.fetch_add(replies, Relaxed);
            }
            HALF_OPEN => {
                // Every probe's reply counts, however many arrived in one read:
                // counting the read once, probes answered together would never
                // add up to `breaker-probes`, and the breaker would stay half
                // open (refilled probes restart the count) for as long as the
                // load lasts.
                let ok = self.probes_ok.fetch_add(replies, Relaxed).saturating_add(replies);
                if ok >= self.settings.probes.load(Relaxed)
                    && self.state.compare_exchange(HALF_OPEN, CLOSED, Relaxed, Relaxed).is_ok()
                {
                    self.window_start.store(self.now_ms(), Relaxed);
                    self.window_ok.store(0, Relaxed);
                    self.window_failed.store(0, Relaxed);
                    tracing::info!(upstream = %self.addr, "circuit breaker closed");
                }
            }
            _ => {}
        }
    }

    /// The connection failed (once per event).
    pub fn failure(&self) {
        match self.state.load(Relaxed) {
            CLOSED => {
                self.roll_window();
                let failed = self.window_failed.fetch_add(1, Relaxed) + 1;
                let total = failed + self.window_ok.load(Relaxed);
                let consecutive = self.consecutive.fetch_add(1, Relaxed) + 1;
                let s = &self.settings;
                let by_count = consecutive >= s.failures.load(Relaxed);
                let by_rate = total >= s.min_requests.load(Relaxed)
                    && failed * 100 >= s.error_rate.load(Relaxed) * total;
                if by_count || by_rate {
                    self.open(if by_count { "consecutive failures" } else { "error rate" });
                }
            }
            HALF_OPEN => self.open("a probe failed"),
            _ => {}
        }
    }

    /// Opens at once, whatever the counts say: the node did not answer a
    /// stall check (see `health`).
    pub fn trip(&self, why: &str) {
        self.open(why);
    }

    fn open(&self, why: &str) {
        let from = self.state.swap(OPEN, Relaxed);
        self.opened_at.store(self.now_ms(), Relaxed);
        if from != OPEN {
            self.opens.fetch_add(1, Relaxed);
            tracing::warn!(upstream = %self.addr, reason = why, "circuit breaker open");
        }
    }

    /// Starts a new counting window when the current one is over.
    fn roll_window(&self) {
        let now = self.now_ms();
        let start = self.window_start.load(Relaxed);
        if now.saturating_sub(start) >= self.settings.window_ms.load(Relaxed)
            && self.window_start.compare_exchange(start, now, Relaxed, Relaxed).is_ok()
        {
            self.window_ok.store(0, Relaxed);
            self.window_failed.store(0, Relaxed);
        }
    }

    /// Zeroes the counters INFO shows (CONFIG RESETSTAT); the state stays.
    pub fn reset_stats(&self) {
        self.opens.store(0, Relaxed);
        self.rejected.store(0, Relaxed);
    }

    /// The error a refused request gets: Redis's style, naming the node.
    pub fn refusal(&self) -> Bytes {
        Bytes::from(format!("-ERR upstream {} unavailable: circuit breaker open\r\n", self.addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn breaker(open_ms: u64) -> Breaker {
        let c = Config {
            breaker_failures: 3,
            breaker_open_time: open_ms,
            breaker_probes: 2,
            ..Default::default()
        };
        Breaker::new("n:1".into(), &c)
    }

    #[test]
    fn opens_on_consecutive_failures_and_refuses() {
        let b = breaker(60_000);
        b.failure();
        b.success(1);
        b.failure();
        b.failure();
        assert!(b.allow());
        b.failure();
        assert_eq!(b.state(), State::Open);
        assert!(!b.allow());
        assert_eq!(b.rejected.load(Relaxed), 1);
    }

    #[test]
    fn half_open_probes_then_closes_or_reopens() {
        let b = breaker(0);
        for _ in 0..3 {
            b.failure();
        }
        assert!(b.allow() && b.allow(), "two probes");
        assert!(!b.allow(), "no third probe");
        b.success(1);
        b.success(1);
        assert_eq!(b.state(), State::Closed);
        for _ in 0..3 {
            b.failure();
        }
        assert!(b.allow());
        b.failure();
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn probes_answered_in_one_read_close_it() {
        let b = breaker(0);
        for _ in 0..3 {
            b.failure();
        }
        assert!(b.allow() && b.allow(), "two probes");
        // Both replies arrive in the same read.
        b.success(2);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn lost_probes_do_not_keep_it_half_open() {
        // An open time far above a scheduling delay: the third allow() must
        // come within it of the first two on a loaded machine too.
        let b = breaker(500);
        for _ in 0..3 {
            b.failure();
        }
        std::thread::sleep(Duration::from_millis(510));
        assert!(b.allow() && b.allow());
        assert!(!b.allow());
        // Neither probe reported back; after another open time it probes again.
        std::thread::sleep(Duration::from_millis(510));
        assert!(b.allow());
    }

    /// Opens on a 50% error rate over at least 10 outcomes, never by count.
    fn rate_breaker() -> Breaker {
        let c = Config {
            breaker_failures: 1000,
            breaker_error_rate: 50,
            breaker_min_requests: 10,
            ..Default::default()
        };
        Breaker::new("n:1".into(), &c)
    }

    #[test]
    fn opens_on_error_rate() {
        let b = rate_breaker();
        for _ in 0..5 {
            b.success(1);
        }
        // Two failures per success: never many in a row, but the rate climbs.
        for _ in 0..2 {
            b.failure();
            b.failure();
            b.success(1);
        }
        assert_eq!(b.state(), State::Closed, "4 failures in 11 is 36%");
        for _ in 0..2 {
            b.failure();
            b.failure();
            b.success(1);
        }
        assert_eq!(b.state(), State::Open);
    }

    /// A connection reset now and then under a heavy pipelined load: each read
    /// carries many replies, and each counts; the rate stays low.
    #[test]
    fn replies_count_one_by_one_in_the_rate() {
        let b = rate_breaker();
        for _ in 0..20 {
            b.success(2000);
            b.failure();
        }
        assert_eq!(b.state(), State::Closed, "20 resets among 40,000 replies");
    }
}
