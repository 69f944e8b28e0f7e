//! A log-linear latency histogram in nanoseconds, HDR-like: values below 64 ns
//! are exact, above that every power of two is split into 32 buckets, so a
//! bucket is at most 1/32 (3.1%) of its values wide. Values from 2^36 ns (about
//! 68.7 s) up count in the last bucket.
//!
//! [`Histogram`] is written by one thread only (a shard thread records its own
//! commands), so recording is a relaxed load and store per field, no locked
//! instruction; readers on other threads sum it into a [`Snapshot`] and may see
//! a value a moment old, as with the counters behind INFO.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two, as bits.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Largest value kept apart; larger ones count as this.
pub const MAX_NS: u64 = (1 << 36) - 1;
/// Buckets needed up to [`MAX_NS`].
pub const BUCKETS: usize = index(MAX_NS) + 1;

/// The bucket of a value (ns).
#[inline]
pub const fn index(v: u64) -> usize {
    let v = if v > MAX_NS { MAX_NS } else { v };
    if v < 2 * SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    (shift as u64 * SUB + (v >> shift)) as usize
}

/// The largest value that falls in bucket `i` (HdrHistogram's "highest
/// equivalent value", which is what Redis's percentiles report).
pub const fn highest(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let m = i % SUB + SUB;
    ((m + 1) << shift) - 1
}

/// A histogram written by its own thread only.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// Single writer: a plain load and store, no locked add.
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Histogram {
    /// Records one value (called by the owning thread only).
    #[inline]
    pub fn record(&self, ns: u64) {
        bump(&self.buckets[index(ns)], 1);
        bump(&self.count, 1);
        bump(&self.sum_ns, ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Zeroes it (called by the owning thread only: CONFIG RESETSTAT runs on
    /// every shard thread).
    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum_ns.store(0, Relaxed);
    }

    /// Adds this histogram into a snapshot.
    pub fn add_to(&self, s: &mut Snapshot) {
        if self.count.load(Relaxed) == 0 {
            return;
        }
        for (d, b) in s.buckets.iter_mut().zip(self.buckets.iter()) {
            *d += b.load(Relaxed);
        }
        s.count += self.count.load(Relaxed);
        s.sum_ns += self.sum_ns.load(Relaxed);
    }
}

/// A histogram read at one moment (possibly summed over threads).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self { buckets: vec![0; BUCKETS], count: 0, sum_ns: 0 }
    }
}

impl Snapshot {
    /// The value at `percentile` (0..=100), in ns, as HdrHistogram's
    /// `value_at_percentile`: the highest value of the bucket in which the
    /// `ceil(p% of count)`-th value falls. 0 when empty.
    pub fn percentile(&self, percentile: f64) -> u64 {
        // Counted from the buckets, not `count`: a reader on another thread may
        // see the two a moment apart.
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0;
        }
        let p = percentile.clamp(0.0, 100.0);
        // Rounded as Redis's HdrHistogram does (`p/100*n + 0.5`): a ceiling
        // would turn 99.9% of 1000 (999.0000000000001) into the maximum.
        let want = ((p / 100.0) * total as f64 + 0.5).max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return highest(i);
            }
        }
        highest(BUCKETS - 1)
    }

    /// Counts per Prometheus bucket (seconds): for each bound, the values above
    /// the previous bound and at most this one, then the rest under +Inf (the
    /// encoder makes them cumulative). A bucket of this histogram counts under
    /// the first bound its highest value does not exceed.
    pub fn per_bound(&self, bounds_s: &[f64]) -> Vec<(f64, u64)> {
        let mut out = Vec::with_capacity(bounds_s.len() + 1);
        let mut i = 0;
        for &le in bounds_s {
            let le_ns = (le * 1e9) as u64;
            let mut n = 0;
            while i < BUCKETS && highest(i) <= le_ns {
                n += self.buckets[i];
                i += 1;
            }
            out.push((le, n));
        }
        out.push((f64::INFINITY, self.buckets[i.min(BUCKETS)..].iter().sum()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        assert_eq!(index(0), 0);
        assert_eq!(index(63), 63);
        for i in 1..BUCKETS {
            // Each bucket starts right after the previous one ends.
            assert_eq!(index(highest(i - 1) + 1), i, "bucket {i}");
            assert_eq!(index(highest(i)), i);
            let low = highest(i - 1) + 1;
            let width = highest(i) - low + 1;
            assert!(width == 1 || (width as f64) / (low as f64) <= 1.0 / 32.0 + 1e-9, "{i}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        assert_eq!(highest(BUCKETS - 1), MAX_NS);
    }

    #[test]
    fn percentiles_like_hdr() {
        let h = Histogram::default();
        for v in 1..=100u64 {
            h.record(v * 1000);
        }
        let mut s = Snapshot::default();
        h.add_to(&mut s);
        assert_eq!(s.count, 100);
        let p50 = s.percentile(50.0);
        assert!((50_000..=50_000 * 33 / 32).contains(&p50), "{p50}");
        let p99 = s.percentile(99.0);
        assert!((99_000..=99_000 * 33 / 32).contains(&p99), "{p99}");
        assert_eq!(s.percentile(100.0), highest(index(100_000)));
        assert_eq!(Snapshot::default().percentile(50.0), 0);
        h.reset();
        let mut s = Snapshot::default();
        h.add_to(&mut s);
        assert_eq!(s.count, 0);
    }

    #[test]
    fn prometheus_buckets() {
        let h = Histogram::default();
        h.record(500); // 0.5 µs
        h.record(2_000_000); // 2 ms
        h.record(u64::MAX);
        let mut s = Snapshot::default();
        h.add_to(&mut s);
        let c = s.per_bound(&[0.000_001, 0.01, 1.0]);
        assert_eq!(c, vec![(0.000_001, 1), (0.01, 1), (1.0, 0), (f64::INFINITY, 1)]);
    }
}
