//! Hot-key detection: reads per key per second, per thread, with HeavyKeeper.
//!
//! Each thread counts the reads its own clients make (hits included) in a
//! HeavyKeeper top-K for the current window and keeps the previous window's; the
//! rate of a key is the sliding-window estimate `(prev * (1 - f) + cur) / window`
//! where `f` is how much of the current window has passed. HOTKEYS sums the
//! threads' rates; admission scales a thread's rate by the thread count, which
//! assumes clients are spread evenly over threads (SO_REUSEPORT spreads them).
//!
//! # Sampling
//!
//! A sketch update costs about as much as the rest of a cache hit. Once a
//! thread reads more than [`SAMPLE_FROM`] keys per second (over the previous
//! window), only one read in `step` is counted, with weight `step` (a power of
//! two up to [`MAX_STEP`]), so a key's count stays an unbiased estimate of its
//! reads. Below that rate every read counts, exactly as before; a hot key read
//! at thousands per second is off by at most `step - 1` reads of a window.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use heavykeeper::TopK;

/// Width per row of the sketch relative to the top-K size: wide enough that hot
/// keys rarely collide with each other.
const WIDTH_PER_K: usize = 16;
const DEPTH: usize = 2;
const DECAY: f64 = 0.9;
/// Reads per second of a thread above which reads are sampled.
pub const SAMPLE_FROM: u64 = 20_000;
/// The most reads one sampled read stands for.
pub const MAX_STEP: u64 = 16;

/// The sketch, hashing with ahash (its default SipHash costs more than the
/// rest of a cache hit).
type Sketch = TopK<Vec<u8>, ahash::RandomState>;

/// One thread's detector.
pub struct HotKeys {
    k: usize,
    window: Duration,
    cur: Sketch,
    prev: Sketch,
    cur_start: Instant,
    /// Reads seen in the current window, counted or not.
    reads: u64,
    /// One read in `step` is counted, with weight `step`.
    step: u64,
    /// Reads still to skip before the next counted one.
    skip: u64,
}

fn sketch(k: usize) -> Sketch {
    let hasher = ahash::RandomState::with_seeds(11, 22, 33, 44);
    TopK::with_hasher(k, (k * WIDTH_PER_K).max(1024), DEPTH, DECAY, hasher)
}

impl HotKeys {
    pub fn new(k: usize, window: Duration) -> Self {
        Self {
            k,
            window,
            cur: sketch(k),
            prev: sketch(k),
            cur_start: Instant::now(),
            reads: 0,
            step: 1,
            skip: 0,
        }
    }

    /// The sampling step for a window that saw `reads` reads.
    fn step_for(reads: u64, window: Duration) -> u64 {
        let per_sec = (reads as f64 / window.as_secs_f64().max(1e-3)) as u64;
        if per_sec <= SAMPLE_FROM {
            return 1;
        }
        // The largest power of two not above per_sec / SAMPLE_FROM.
        let ratio = per_sec / SAMPLE_FROM;
        (1u64 << (63 - ratio.leading_zeros())).min(MAX_STEP)
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.cur_start);
        if age < self.window {
            return;
        }
        // After two windows of silence the previous window is empty too.
        let recent = age < 2 * self.window;
        self.step = if recent { Self::step_for(self.reads, self.window) } else { 1 };
        self.reads = 0;
        self.skip = 0;
        self.prev = if recent {
            std::mem::replace(&mut self.cur, sketch(self.k))
        } else {
            self.cur = sketch(self.k);
            sketch(self.k)
        };
        self.cur_start = now;
    }

    /// Counts one read of `key` (one in `step`, with weight `step`: see
    /// "Sampling" above).
    pub fn record(&mut self, key: &[u8], now: Instant) {
        self.rotate(now);
        self.reads += 1;
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.skip = self.step - 1;
        self.cur.add(key, self.step);
    }

    /// The current sampling step (1: every read counts).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Reads per second of `key` on this thread.
    pub fn rate(&self, key: &[u8], now: Instant) -> f64 {
        let w = self.window.as_secs_f64();
        let f = (now.saturating_duration_since(self.cur_start).as_secs_f64() / w).min(1.0);
        (self.prev.count(key) as f64 * (1.0 - f) + self.cur.count(key) as f64) / w
    }

    /// The thread's top keys with their rates, highest first.
    pub fn top(&self, now: Instant) -> Vec<(Vec<u8>, f64)> {
        let mut keys: Vec<Vec<u8>> = self.cur.list().into_iter().map(|n| n.item).collect();
        for n in self.prev.list() {
            if !keys.contains(&n.item) {
                keys.push(n.item);
            }
        }
        let mut out: Vec<(Vec<u8>, f64)> = keys
            .into_iter()
            .map(|k| (k.clone(), self.rate(&k, now)))
            .filter(|(_, r)| *r > 0.0)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

thread_local! {
    /// This thread's detector (a thread-local so HOTKEYS can read every thread's
    /// by running a job on it).
    static HOT: RefCell<Option<HotKeys>> = const { RefCell::new(None) };
}

/// Sets up this thread's detector.
pub fn init(k: usize, window: Duration) {
    HOT.with(|h| *h.borrow_mut() = Some(HotKeys::new(k, window)));
}

/// Runs `f` on this thread's detector, if it has one.
pub fn with<R>(f: impl FnOnce(&mut HotKeys) -> R) -> Option<R> {
    HOT.with(|h| h.borrow_mut().as_mut().map(f))
}

/// Merges per-thread top lists: rates of the same key add up.
pub fn merge(lists: Vec<Vec<(Vec<u8>, f64)>>, count: usize) -> Vec<(Vec<u8>, f64)> {
    let mut sum: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
    for list in lists {
        for (k, r) in list {
            *sum.entry(k).or_default() += r;
        }
    }
    let mut out: Vec<(Vec<u8>, f64)> = sum.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(count);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_key_rates() {
        let mut h = HotKeys::new(16, Duration::from_secs(1));
        // The window's own start: a clock read before `new` may be more than
        // the test's margins earlier on a loaded machine.
        let t0 = h.cur_start;
        for i in 0..10_000u32 {
            h.record(b"hot", t0);
            h.record(format!("cold{}", i % 5000).as_bytes(), t0);
        }
        assert!(h.rate(b"hot", t0) >= 9000.0, "{}", h.rate(b"hot", t0));
        assert!(h.rate(b"cold1", t0) < 100.0);
        assert_eq!(h.top(t0)[0].0, b"hot".to_vec());
        // Half a window later the old counts still weigh in; two windows later not.
        let t1 = t0 + Duration::from_millis(1500);
        h.record(b"x", t1);
        assert!(h.rate(b"hot", t1) > 1000.0);
        let t2 = t0 + Duration::from_secs(5);
        h.record(b"x", t2);
        assert_eq!(h.rate(b"hot", t2), 0.0);
    }

    #[test]
    fn sampling_starts_above_the_rate_and_keeps_counts() {
        let w = Duration::from_secs(1);
        assert_eq!(HotKeys::step_for(SAMPLE_FROM, w), 1);
        assert_eq!(HotKeys::step_for(2 * SAMPLE_FROM, w), 2);
        assert_eq!(HotKeys::step_for(3 * SAMPLE_FROM, w), 2);
        assert_eq!(HotKeys::step_for(1000 * SAMPLE_FROM, w), MAX_STEP);
        let mut h = HotKeys::new(16, w);
        // Not a clock read before `new`: a `new` that took over a
        // millisecond (a loaded machine) left `t0 + 1001 ms` inside the first
        // window, and the step unchanged (loop run 1 on 9814556).
        let t0 = h.cur_start;
        // A busy window: the next one samples.
        for i in 0..(4 * SAMPLE_FROM) {
            h.record(format!("k{}", i % 100).as_bytes(), t0);
        }
        assert_eq!(h.step(), 1);
        let t1 = t0 + Duration::from_millis(1001);
        h.record(b"x", t1);
        assert_eq!(h.step(), 4);
        for _ in 0..10_000 {
            h.record(b"hot", t1);
        }
        let r = h.rate(b"hot", t1 + Duration::from_millis(999));
        assert!((9_000.0..=10_100.0).contains(&r), "{r}");
        // A quiet window after it: every read counts again.
        let t2 = t1 + Duration::from_millis(1001);
        h.record(b"x", t2);
        assert_eq!(h.step(), 1);
    }

    #[test]
    fn merge_sums_threads() {
        let m = merge(
            vec![vec![(b"a".to_vec(), 10.0)], vec![(b"a".to_vec(), 5.0), (b"b".to_vec(), 7.0)]],
            10,
        );
        assert_eq!(m, vec![(b"a".to_vec(), 15.0), (b"b".to_vec(), 7.0)]);
    }
}
