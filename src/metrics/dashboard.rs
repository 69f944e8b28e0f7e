//! The dashboard's data: the ring of per-second samples behind its charts
//! (taken by the endpoint's thread once a second) and the JSON it polls.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::view::View;

/// Per-second samples kept: five minutes.
const SAMPLES: usize = 300;
/// Hot keys shown by the dashboard.
const HOT_KEYS: usize = 20;

/// One second of traffic, for the dashboard's charts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Unix time in milliseconds at the end of the second.
    pub t_ms: u64,
    /// Client commands per second.
    pub ops: f64,
    /// Cache hits and misses per second.
    pub hits: f64,
    pub misses: f64,
    /// Commands sent upstream per second.
    pub forwarded: f64,
}

impl Sample {
    /// Hits among cacheable reads (None when there were none).
    pub fn hit_ratio(&self) -> Option<f64> {
        let n = self.hits + self.misses;
        (n > 0.0).then(|| self.hits / n)
    }

    /// Upstream offload: of the commands that would have gone to Redis without
    /// hotcache (hits, and what was forwarded), the share the cache answered.
    pub fn offload(&self) -> Option<f64> {
        let n = self.hits + self.forwarded;
        (n > 0.0).then(|| self.hits / n)
    }
}

/// The last minutes of samples, kept by the metrics thread, so a page opened
/// now shows the past minutes at once.
#[derive(Debug, Default)]
pub struct Samples {
    // Written once a second by the sampler and read by each poll: a mutex
    // held for a copy costs nothing that matters there.
    ring: Mutex<VecDeque<Sample>>,
}

impl Samples {
    pub fn push(&self, s: Sample) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == SAMPLES {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    pub fn all(&self) -> Vec<Sample> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
    }
}

/// Totals read once a second; rates are the differences.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Totals {
    at: Option<Instant>,
    commands: u64,
    hits: u64,
    misses: u64,
    forwarded: u64,
}

pub(super) fn totals(view: &dyn View) -> Totals {
    let mut t = Totals { at: Some(Instant::now()), ..Totals::default() };
    for c in view.counters() {
        t.commands += c.total_commands_processed.load(Relaxed);
        t.hits += c.cache_hits.load(Relaxed);
        t.misses += c.cache_misses.load(Relaxed);
        t.forwarded += c.forwarded_commands.load(Relaxed);
    }
    t
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The sample between two readings (a counter reset, CONFIG RESETSTAT, reads
/// as zero rather than negative).
pub(super) fn sample(prev: &Totals, now: &Totals) -> Option<Sample> {
    let secs = now.at?.saturating_duration_since(prev.at?).as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    Some(Sample {
        t_ms: unix_ms(),
        ops: rate(prev.commands, now.commands),
        hits: rate(prev.hits, now.hits),
        misses: rate(prev.misses, now.misses),
        forwarded: rate(prev.forwarded, now.forwarded),
    })
}

/// Keys as text for the page: lossy UTF-8, cut to 200 bytes.
fn key_text(key: &[u8]) -> String {
    let cut = &key[..key.len().min(200)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if key.len() > cut.len() {
        s.push('…');
    }
    s
}

fn ratio(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |r| json!((r * 10_000.0).round() / 10_000.0))
}

/// What the dashboard polls: samples, hot keys, upstream nodes, totals.
pub(super) async fn stats_json(view: &dyn View, hide_keys: bool) -> Value {
    let hot = tokio::time::timeout(Duration::from_secs(1), view.hot_keys(HOT_KEYS))
        .await
        .unwrap_or_default();
    let samples: Vec<Value> = view
        .metrics()
        .samples
        .all()
        .iter()
        .map(|s| {
            json!({
                "t": s.t_ms,
                "ops": (s.ops * 10.0).round() / 10.0,
                "hits": (s.hits * 10.0).round() / 10.0,
                "misses": (s.misses * 10.0).round() / 10.0,
                "forwarded": (s.forwarded * 10.0).round() / 10.0,
                "hit_ratio": ratio(s.hit_ratio()),
                "offload": ratio(s.offload()),
            })
        })
        .collect();
    let hotkeys: Vec<Value> = hot
        .iter()
        .map(|(k, r)| {
            let key = if hide_keys { super::access::hidden(k) } else { key_text(k) };
            json!({ "key": key, "rate": (r * 10.0).round() / 10.0 })
        })
        .collect();
    let nodes: Vec<Value> = view
        .metrics()
        .nodes
        .all()
        .iter()
        .map(|n| {
            let t = n.totals();
            json!({
                "addr": n.addr,
                "breaker": n.breaker.as_ref().map_or("none", |b| b.state().name()),
                "requests": t.rtt.count,
                "errors": t.errors,
                "timeouts": t.timeouts,
                "p50_us": t.rtt.percentile(50.0) as f64 / 1000.0,
                "p99_us": t.rtt.percentile(99.0) as f64 / 1000.0,
            })
        })
        .collect();
    let fields: std::collections::HashMap<&str, u64> =
        crate::stats::fields(view.counters()).into_iter().collect();
    let get = |k: &str| fields.get(k).copied().unwrap_or(0);
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": view.uptime().as_secs(),
        "samples": samples,
        "hotkeys": hotkeys,
        "nodes": nodes,
        "totals": {
            "commands": get("total_commands_processed"),
            "hits": get("cache_hits"),
            "misses": get("cache_misses"),
            "forwarded": get("forwarded_commands"),
            "cache_entries": get("cache_entries"),
            "cache_bytes": get("cache_bytes"),
            "connected_clients": view.connected_clients(),
            "rss_bytes": crate::stats::rss_bytes(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_ratios() {
        let t0 = Instant::now();
        let a = Totals { at: Some(t0), commands: 100, hits: 10, misses: 10, forwarded: 50 };
        let b = Totals {
            at: Some(t0 + Duration::from_secs(2)),
            commands: 300,
            hits: 90,
            misses: 30,
            forwarded: 70,
        };
        let s = sample(&a, &b).expect("a sample");
        assert_eq!((s.ops, s.hits, s.misses, s.forwarded), (100.0, 40.0, 10.0, 10.0));
        assert_eq!(s.hit_ratio(), Some(0.8));
        assert_eq!(s.offload(), Some(0.8));
        // A reset reads as zero, not negative.
        let s = sample(&b, &a).map(|s| s.ops);
        assert_eq!(s, None, "time went backwards: no sample");
        let c = Totals { at: Some(t0 + Duration::from_secs(3)), ..Totals::default() };
        assert_eq!(sample(&b, &c).map(|s| s.ops), Some(0.0));
        let ring = Samples::default();
        for i in 0..(SAMPLES + 5) {
            ring.push(Sample { t_ms: i as u64, ops: 0.0, hits: 0.0, misses: 0.0, forwarded: 0.0 });
        }
        let all = ring.all();
        assert_eq!(all.len(), SAMPLES);
        assert_eq!(all[0].t_ms, 5);
    }
}
