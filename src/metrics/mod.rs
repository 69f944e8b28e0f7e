//! Observability beyond the counters of [`crate::stats`]: client command
//! latency per command and per class, upstream round trips and errors per node,
//! SLOWLOG, the INFO sections made from them, the Prometheus rendering of all of
//! it, and the HTTP endpoint with the dashboard.
//!
//! Everything here is read at the moment it is asked for (INFO, a scrape, the
//! dashboard's poll) from the same per-thread blocks the request path writes,
//! so INFO and Prometheus always show the same numbers.

pub mod access;
pub mod dashboard;
pub mod hist;
pub mod http;
pub mod latency;
pub mod nodes;
pub mod prom;
pub mod slowlog;
pub mod view;

use std::fmt::Write as _;

pub use latency::{Class, Mark, ShardLatency, Source};
pub use nodes::{NodeStats, Nodes};
pub use slowlog::SlowLog;
pub use view::View;

/// What every thread shares for observability.
#[derive(Debug)]
pub struct Metrics {
    /// One block per shard thread.
    pub latency: Box<[ShardLatency]>,
    pub nodes: Nodes,
    pub slowlog: SlowLog,
    /// Per-second samples for the dashboard (filled only while the metrics
    /// endpoint runs).
    pub samples: dashboard::Samples,
}

impl Metrics {
    pub fn new(shards: usize) -> Self {
        let commands = crate::cmd::all().count();
        Self {
            latency: (0..shards).map(|_| ShardLatency::new(commands)).collect(),
            nodes: Nodes::new(shards),
            slowlog: SlowLog::default(),
            samples: dashboard::Samples::default(),
        }
    }

    /// Zeroes the calling shard thread's blocks (CONFIG RESETSTAT runs this on
    /// every shard thread: only the owner may write them).
    pub fn reset_shard(&self, shard: usize) {
        if let Some(l) = self.latency.get(shard) {
            l.reset();
        }
        for n in self.nodes.all() {
            n.reset_shard(shard);
        }
    }
}

/// A percentile as Redis prints it in INFO latencystats: `%f` with the
/// trailing zeros (and point) removed.
fn percentile_name(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `# Latencystats`, as Redis 7: one line per command with calls, its
/// percentiles in microseconds with three decimals.
pub fn latencystats_section(m: &Metrics, percentiles: &[f64]) -> String {
    let mut s = String::from("# Latencystats\r\n");
    for (id, t) in latency::commands(&m.latency) {
        if t.hist.count == 0 {
            continue;
        }
        let Some(c) = crate::cmd::by_id(id) else { continue };
        let _ = write!(s, "latency_percentiles_usec_{}:", c.name());
        for (i, &p) in percentiles.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let v = t.hist.percentile(p) as f64 / 1000.0;
            let _ = write!(s, "p{}={v:.3}", percentile_name(p));
        }
        s.push_str("\r\n");
    }
    s
}

/// `# Commandstats`, as Redis 7 (hotcache's view: every command a client sent,
/// cache hits included).
pub fn commandstats_section(m: &Metrics) -> String {
    let mut s = String::from("# Commandstats\r\n");
    for (id, t) in latency::commands(&m.latency) {
        let Some(c) = crate::cmd::by_id(id) else { continue };
        let usec = t.sum_ns / 1000;
        let per_call = if t.calls > 0 { usec as f64 / t.calls as f64 } else { 0.0 };
        let _ = write!(
            s,
            "cmdstat_{}:calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            c.name(),
            t.calls,
            t.rejected,
            t.failed
        );
    }
    s
}

/// `# Upstream`: one line per node, in the style of Redis's `slaveN:` lines.
pub fn upstream_section(m: &Metrics) -> String {
    let nodes = m.nodes.all();
    let mut s = String::from("# Upstream\r\n");
    let _ = write!(s, "upstream_nodes:{}\r\n", nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let t = n.totals();
        let breaker = n.breaker.as_ref().map_or("none", |b| b.state().name());
        let opens =
            n.breaker.as_ref().map_or(0, |b| b.opens.load(std::sync::atomic::Ordering::Relaxed));
        let avg =
            if t.rtt.count > 0 { t.rtt.sum_ns as f64 / t.rtt.count as f64 / 1000.0 } else { 0.0 };
        let _ = write!(
            s,
            "node{i}:addr={},breaker={breaker},breaker_opens={opens},requests={},errors={},timeouts={},failed_requests={},latency_avg_usec={avg:.3},latency_p50_usec={:.3},latency_p99_usec={:.3},latency_p99.9_usec={:.3}\r\n",
            n.addr,
            t.rtt.count,
            t.errors,
            t.timeouts,
            t.failed_requests,
            t.rtt.percentile(50.0) as f64 / 1000.0,
            t.rtt.percentile(99.0) as f64 / 1000.0,
            t.rtt.percentile(99.9) as f64 / 1000.0,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_names_like_redis() {
        assert_eq!(percentile_name(50.0), "50");
        assert_eq!(percentile_name(99.9), "99.9");
        assert_eq!(percentile_name(99.99), "99.99");
        assert_eq!(percentile_name(0.0), "0");
    }
}
