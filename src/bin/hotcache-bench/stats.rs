//! Recording results: latency histograms, counters and the per-second series.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::workload::Outcome;

/// Highest latency the histograms hold (60 s, in nanoseconds); more is clamped.
const MAX_NS: u64 = 60_000_000_000;

fn histogram(sigfig: u8) -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_NS, sigfig).expect("valid histogram bounds")
}

/// One second of the series.
#[derive(Clone)]
pub struct Second {
    pub ops: u64,
    pub errors: u64,
    /// Two significant digits are plenty for a plot and keep long runs small.
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Self {
        Self { ops: 0, errors: 0, latency: histogram(2) }
    }
}

/// Results of one worker thread (shared by its connections) or of the whole run.
#[derive(Clone)]
pub struct Stats {
    pub ops: u64,
    pub errors: u64,
    pub hits: u64,
    pub misses: u64,
    /// Latency of every measured request, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Indexed by whole seconds since measuring began, by the time a request was
    /// sent, so replies that trail in after the end do not make a ragged last second.
    pub seconds: Vec<Second>,
    /// Reply time of the last measured reply, since measuring began.
    pub last_reply: Duration,
    /// Connections that failed during the run, with the reason.
    pub failures: Vec<String>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            ops: 0,
            errors: 0,
            hits: 0,
            misses: 0,
            latency: histogram(3),
            seconds: Vec::new(),
            last_reply: Duration::ZERO,
            failures: Vec::new(),
        }
    }

    /// Records one reply to a request sent at `sent` that arrived at `replied`, both
    /// counted from the start of measuring.
    pub fn record(&mut self, sent: Duration, replied: Duration, outcome: Outcome) {
        let ns = (replied.saturating_sub(sent).as_nanos() as u64).max(1);
        self.ops += 1;
        self.errors += u64::from(outcome.error);
        self.hits += outcome.hits;
        self.misses += outcome.misses;
        self.latency.saturating_record(ns);
        self.last_reply = self.last_reply.max(replied);
        let sec = sent.as_secs() as usize;
        if self.seconds.len() <= sec {
            self.seconds.resize_with(sec + 1, Second::new);
        }
        let s = &mut self.seconds[sec];
        s.ops += 1;
        s.errors += u64::from(outcome.error);
        s.latency.saturating_record(ns);
    }

    /// Adds another thread's results to these.
    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.hits += other.hits;
        self.misses += other.misses;
        // Same bounds on both sides, so adding cannot go out of range.
        let _ = self.latency.add(&other.latency);
        self.last_reply = self.last_reply.max(other.last_reply);
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize_with(other.seconds.len(), Second::new);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.ops += theirs.ops;
            mine.errors += theirs.errors;
            let _ = mine.latency.add(&theirs.latency);
        }
        self.failures.extend(other.failures.iter().cloned());
    }
}

/// Nanoseconds as microseconds with two decimals.
fn us(ns: u64) -> f64 {
    (ns as f64 / 10.0).round() / 100.0
}

/// The figures a report prints, computed once.
pub struct Summary {
    pub ops: u64,
    pub elapsed: f64,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: Option<f64>,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Summarises `s`; throughput is over `elapsed` (measuring start to last reply).
    pub fn of(s: &Stats, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        let lookups = s.hits + s.misses;
        let h = &s.latency;
        let q = |x: f64| if h.is_empty() { 0.0 } else { us(h.value_at_quantile(x)) };
        Self {
            ops: s.ops,
            elapsed: secs,
            ops_per_sec: if secs > 0.0 { s.ops as f64 / secs } else { 0.0 },
            errors: s.errors,
            hits: s.hits,
            misses: s.misses,
            hit_ratio: (lookups > 0).then(|| s.hits as f64 / lookups as f64),
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0.0 } else { us(h.max()) },
            mean: if h.is_empty() { 0.0 } else { (h.mean() / 10.0).round() / 100.0 },
        }
    }

    /// The human-readable report.
    pub fn human(&self) -> String {
        let hit = match self.hit_ratio {
            Some(r) => format!("{:.2}% ({} hits, {} misses)", r * 100.0, self.hits, self.misses),
            None => "n/a (no reads)".into(),
        };
        format!(
            "ops/s       {:.0}\n\
             total ops   {} in {:.2} s\n\
             errors      {}\n\
             hit ratio   {}\n\
             latency us  p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}\n",
            self.ops_per_sec,
            self.ops,
            self.elapsed,
            self.errors,
            hit,
            self.p50,
            self.p99,
            self.p999,
            self.max,
            self.mean
        )
    }

    /// The JSON object's result fields.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "ops": self.ops,
            "elapsed_s": self.elapsed,
            "ops_per_sec": self.ops_per_sec,
            "errors": self.errors,
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": self.hit_ratio,
            "latency_us": {
                "p50": self.p50,
                "p99": self.p99,
                "p99_9": self.p999,
                "max": self.max,
                "mean": self.mean,
            },
        })
    }
}

/// The per-second series as JSON, one object per second of sending:
/// `{"second", "span_s", "ops", "errors", "ops_per_sec", "p50_us", "p99_us", "p999_us"}`.
/// `span_s` is the part of the second inside the run (`elapsed_s` long), so a last,
/// partial second shows its true rate.
pub fn series_json(s: &Stats, elapsed_s: f64) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = s
        .seconds
        .iter()
        .enumerate()
        .map(|(i, sec)| {
            let q = |x: f64| {
                if sec.latency.is_empty() { 0.0 } else { us(sec.latency.value_at_quantile(x)) }
            };
            // At least a tenth of a second, so a sliver at the end is not a spike.
            let span = (elapsed_s - i as f64).clamp(0.1, 1.0);
            serde_json::json!({
                "second": i,
                "span_s": span,
                "ops": sec.ops,
                "errors": sec.errors,
                "ops_per_sec": sec.ops as f64 / span,
                "p50_us": q(0.5),
                "p99_us": q(0.99),
                "p999_us": q(0.999),
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_seconds() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        let hit = Outcome { hits: 1, ..Outcome::default() };
        let ms = Duration::from_millis;
        a.record(ms(500), ms(500) + Duration::from_micros(100), hit);
        b.record(ms(1500), ms(1500) + Duration::from_micros(300), Outcome::default());
        a.merge(&b);
        assert_eq!((a.ops, a.hits, a.seconds.len()), (2, 1, 2));
        let s = Summary::of(&a, Duration::from_secs(2));
        assert_eq!(s.ops_per_sec, 1.0);
        assert!((s.max - 300.0).abs() < 1.0, "{}", s.max);
        assert_eq!(s.hit_ratio, Some(1.0));
    }
}
