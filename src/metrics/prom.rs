//! The Prometheus rendering: a `prometheus-client` [`Collector`] that reads, at
//! scrape time, the same per-thread blocks INFO reads (the counters of
//! [`crate::stats`], the latency histograms, the upstream nodes), so the two
//! never disagree and the request path does no extra work for Prometheus.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::hist::Snapshot;
use super::latency;
use super::view::View;
use crate::stats::{EXPORTS, Kind};

/// Histogram bucket bounds, in seconds (100 µs .. 10 s, roughly 1-2.5-5).
const BOUNDS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Help for counters that Prometheus shows as one family with a label.
fn family_help(name: &str) -> Option<&'static str> {
    match name {
        "hotcache_invalidations" => Some(
            "Invalidations by cause: own_write (keys written through hotcache), tracking (keys written straight to Redis), flush (everything: FLUSHALL, scripts ...), reconnect (everything: the tracking connection broke).",
        ),
        "hotcache_client_limit_disconnections" => {
            Some("Clients closed for exceeding the output or query buffer limit.")
        }
        _ => None,
    }
}

/// Reads hotcache's statistics at each scrape.
pub struct HotcacheCollector {
    view: Arc<dyn View>,
}

impl std::fmt::Debug for HotcacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HotcacheCollector")
    }
}

fn encode_hist(
    enc: &mut prometheus_client::encoding::MetricEncoder<'_>,
    s: &Snapshot,
) -> Result<(), std::fmt::Error> {
    let buckets = s.per_bound(BOUNDS);
    // From the buckets, so `_count` and the +Inf bucket always agree (a
    // reader may see `s.count` a moment apart from them).
    let count = buckets.iter().map(|b| b.1).sum();
    enc.encode_histogram::<NoLabelSet>(s.sum_ns as f64 / 1e9, count, &buckets, None)
}

impl Collector for HotcacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let view = &*self.view;
        // The counters behind INFO hotcache, grouped into families by name.
        let values = crate::stats::fields(view.counters());
        let mut i = 0;
        while i < EXPORTS.len() {
            let first = &EXPORTS[i];
            let mut j = i + 1;
            while j < EXPORTS.len() && EXPORTS[j].name == first.name {
                j += 1;
            }
            let help = family_help(first.name).unwrap_or(first.help.trim());
            let mt = match first.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut family = encoder.encode_descriptor(first.name, help, None, mt)?;
            for (e, (_, v)) in EXPORTS[i..j].iter().zip(&values[i..j]) {
                let write = |m: &mut prometheus_client::encoding::MetricEncoder<'_>| match e.kind {
                    Kind::Counter => m.encode_counter::<NoLabelSet, _, u64>(v, None),
                    Kind::Gauge => m.encode_gauge(&(*v as i64)),
                };
                match e.label {
                    Some((k, lv)) => write(&mut family.encode_family(&[(k, lv)])?)?,
                    None => write(&mut family)?,
                }
            }
            i = j;
        }

        // Requests and their latency, by class and by who answered.
        let classes = latency::classes(&view.metrics().latency);
        let mut requests = encoder.encode_descriptor(
            "hotcache_requests",
            "Client commands answered, by class (read, write, other) and source (cache, upstream, local).",
            None,
            MetricType::Counter,
        )?;
        for (class, source, snap) in &classes {
            let labels = [("class", class.name()), ("source", source.name())];
            requests
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&snap.count, None)?;
        }
        let mut durations = encoder.encode_descriptor(
            "hotcache_request_duration_seconds",
            "Client command latency, from its arrival to its reply being queued, by class and source.",
            None,
            MetricType::Histogram,
        )?;
        for (class, source, snap) in &classes {
            let labels = [("class", class.name()), ("source", source.name())];
            encode_hist(&mut durations.encode_family(&labels)?, snap)?;
        }

        // Upstream nodes.
        let nodes: Vec<_> = view
            .metrics()
            .nodes
            .all()
            .into_iter()
            .map(|n| {
                let t = n.totals();
                (n, t)
            })
            .collect();
        let mut rtt = encoder.encode_descriptor(
            "hotcache_upstream_duration_seconds",
            "Upstream round trips, from a request being queued on a connection to its reply being read, per node.",
            None,
            MetricType::Histogram,
        )?;
        for (n, t) in &nodes {
            encode_hist(&mut rtt.encode_family(&[("node", n.addr.as_str())])?, &t.rtt)?;
        }
        let mut errors = encoder.encode_descriptor(
            "hotcache_upstream_errors",
            "Upstream connection failures per node (connect errors, resets, closes, reply timeouts).",
            None,
            MetricType::Counter,
        )?;
        for (n, t) in &nodes {
            errors
                .encode_family(&[("node", n.addr.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&t.errors, None)?;
        }
        let mut failed = encoder.encode_descriptor(
            "hotcache_upstream_failed_requests",
            "Requests that failed because their upstream connection failed, per node.",
            None,
            MetricType::Counter,
        )?;
        for (n, t) in &nodes {
            failed
                .encode_family(&[("node", n.addr.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&t.failed_requests, None)?;
        }
        let mut state = encoder.encode_descriptor(
            "hotcache_upstream_breaker_state",
            "Circuit breaker state per node: 0 closed, 1 open, 2 half-open.",
            None,
            MetricType::Gauge,
        )?;
        for (n, _) in &nodes {
            if let Some(b) = &n.breaker {
                let v: i64 = match b.state() {
                    crate::resilience::breaker::State::Closed => 0,
                    crate::resilience::breaker::State::Open => 1,
                    crate::resilience::breaker::State::HalfOpen => 2,
                };
                state.encode_family(&[("node", n.addr.as_str())])?.encode_gauge(&v)?;
            }
        }
        let mut opens = encoder.encode_descriptor(
            "hotcache_upstream_breaker_opens",
            "Times the node's circuit breaker opened.",
            None,
            MetricType::Counter,
        )?;
        for (n, _) in &nodes {
            if let Some(b) = &n.breaker {
                opens
                    .encode_family(&[("node", n.addr.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&b.opens.load(Relaxed), None)?;
            }
        }

        // Process-wide levels.
        let clients = view.connected_clients() as i64;
        encoder
            .encode_descriptor(
                "hotcache_connected_clients",
                "Client connections open now.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&clients)?;
        encoder
            .encode_descriptor(
                "hotcache_slowlog_length",
                "Entries in SLOWLOG now.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(view.metrics().slowlog.len() as i64))?;
        encoder
            .encode_descriptor(
                "hotcache_uptime_seconds",
                "Seconds since hotcache started.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(view.uptime().as_secs() as i64))?;
        // Clients' own CLIENT TRACKING, served by hotcache.
        let t = view.client_tracking();
        for (name, help, v) in [
            ("hotcache_client_tracking_clients", "Clients with CLIENT TRACKING on.", t.clients),
            ("hotcache_client_tracking_keys", "Keys in the clients' tracking tables.", t.keys),
            (
                "hotcache_client_tracking_items",
                "(key, client) pairs in the clients' tracking tables.",
                t.items,
            ),
            (
                "hotcache_client_tracking_memory_bytes",
                "Memory the clients' tracking tables take (estimate).",
                t.memory,
            ),
        ] {
            encoder
                .encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&(v as i64))?;
        }
        encoder
            .encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(crate::stats::rss_bytes() as i64))?;
        Ok(())
    }
}

/// A registry holding hotcache's collector (built once, rendered per scrape).
pub fn registry(view: Arc<dyn View>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(HotcacheCollector { view }));
    r
}

/// Renders the registry in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail; an encoder error would be a bug in the
    // metric names, which tests catch.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
