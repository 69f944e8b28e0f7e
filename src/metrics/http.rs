//! The metrics endpoint (`metrics-port`): a minimal HTTP/1.1 server serving
//! `/metrics` (Prometheus), `/` (the dashboard) and `/api/stats` (the JSON the
//! dashboard polls), plus the ring of per-second samples behind its charts.
//!
//! It runs on a thread of its own with its own current-thread runtime rather
//! than on shard 0: a scrape walks every histogram and the dashboard gathers hot
//! keys from every shard, and that work must not add latency to the clients of
//! one shard; the thread is idle between requests and its one-second sampling.
//!
//! Every connection is bounded: one request per connection (`Connection:
//! close`), a head of at most 8 KiB read within 1 s, a reply written within
//! 5 s, at most 64 connections at once. Anything else gets 400, 404, 405, 431
//! or the connection is dropped; nothing a peer sends can make it panic.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::view::View;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Time a peer gets to send its request, and to take the reply.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send its request head: short, so that idle or
/// dribbling connections cannot hold the few slots there are for long.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections served at once; more are closed at once.
const MAX_CONNS: usize = 64;
/// Per-second samples kept: five minutes.
const SAMPLES: usize = 300;
/// Hot keys shown by the dashboard.
const HOT_KEYS: usize = 20;

/// The dashboard: one self-contained page.
const DASHBOARD: &str = include_str!("dashboard.html");

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
struct Totals {
    at: Option<Instant>,
    commands: u64,
    hits: u64,
    misses: u64,
    forwarded: u64,
}

fn totals(view: &dyn View) -> Totals {
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
fn sample(prev: &Totals, now: &Totals) -> Option<Sample> {
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

/// Runs the metrics endpoint on the calling thread until shutdown.
pub fn run(listener: std::net::TcpListener, view: Arc<dyn View>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the metrics runtime");
            return;
        }
    };
    rt.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot use the metrics listener");
                return;
            }
        };
        let registry = Arc::new(super::prom::registry(view.clone()));
        let slots = Arc::new(Semaphore::new(MAX_CONNS));
        let mut shutdown = view.shutdown();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prev = totals(&*view);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = totals(&*view);
                    if let Some(s) = sample(&prev, &now) {
                        view.metrics().samples.push(s);
                    }
                    prev = now;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            // Over the limit: close at once rather than queue.
                            continue;
                        };
                        let view = view.clone();
                        let registry = registry.clone();
                        tokio::spawn(async move {
                            serve(stream, &*view, &registry).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        crate::log_limited!(warn, error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut shutdown => break,
            }
        }
    });
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Get { path: String, head_only: bool, who: super::access::Credentials },
    BadMethod,
    Bad,
    TooLarge,
}

/// Reads a request head (up to the blank line), bounded in size.
async fn read_head(stream: &mut TcpStream) -> Parsed {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            return parse_head(&buf[..end]);
        }
        // A hand-written request (`nc`, a probe) may end its lines with LF alone.
        if let Some(end) = memchr::memmem::find(&buf, b"\n\n") {
            return parse_head(&buf[..end]);
        }
        if buf.len() >= MAX_HEAD {
            return Parsed::TooLarge;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Parsed::Bad,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Parses the request line; headers are not needed.
fn parse_head(head: &[u8]) -> Parsed {
    let line_end = memchr::memchr2(b'\r', b'\n', head).unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else { return Parsed::Bad };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Parsed::Bad;
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let who = super::access::credentials(head, target);
    match method {
        "GET" => Parsed::Get { path, head_only: false, who },
        "HEAD" => Parsed::Get { path, head_only: true, who },
        _ => Parsed::BadMethod,
    }
}

/// Serves one connection: one request, one reply, close.
async fn serve(
    mut stream: TcpStream,
    view: &dyn View,
    registry: &prometheus_client::registry::Registry,
) {
    let parsed = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(p) => p,
        Err(_) => return,
    };
    let config = view.config();
    let refused = match &parsed {
        Parsed::Get { who, .. } => super::access::check(&config, who).err(),
        _ => None,
    };
    let (status, ctype, body, head_only): (&str, &str, Vec<u8>, bool) = match parsed {
        Parsed::Get { .. } if refused == Some(super::access::Refusal::Host) => (
            "403 Forbidden",
            "text/plain; charset=utf-8",
            b"this endpoint does not answer to that host name (see metrics-hosts)\n".to_vec(),
            false,
        ),
        Parsed::Get { .. } if refused == Some(super::access::Refusal::Token) => (
            "401 Unauthorized",
            "text/plain; charset=utf-8",
            b"a token is required (see metrics-auth)\n".to_vec(),
            false,
        ),
        Parsed::Get { path, head_only, .. } => match path.as_str() {
            "/metrics" => (
                "200 OK",
                super::prom::CONTENT_TYPE,
                super::prom::render(registry).into_bytes(),
                head_only,
            ),
            "/" | "/index.html" => {
                ("200 OK", "text/html; charset=utf-8", DASHBOARD.as_bytes().to_vec(), head_only)
            }
            "/api/stats" => {
                let hide = config.metrics_hide_keys;
                let body = stats_json(view, hide).await.to_string().into_bytes();
                ("200 OK", "application/json", body, head_only)
            }
            _ => ("404 Not Found", "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only),
        },
        Parsed::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"only GET and HEAD\n".to_vec(),
            false,
        ),
        Parsed::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            b"request head too large\n".to_vec(),
            false,
        ),
        Parsed::Bad => {
            ("400 Bad Request", "text/plain; charset=utf-8", b"bad request\n".to_vec(), false)
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&body);
    }
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
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
async fn stats_json(view: &dyn View, hide_keys: bool) -> Value {
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
    fn request_lines() {
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a"),
            Parsed::Get {
                path: "/metrics".into(),
                head_only: false,
                who: super::super::access::Credentials { host: Some("a".into()), token: None }
            }
        );
        assert_eq!(
            parse_head(b"HEAD / HTTP/1.0"),
            Parsed::Get { path: "/".into(), head_only: true, who: Default::default() }
        );
        assert_eq!(parse_head(b"POST / HTTP/1.1"), Parsed::BadMethod);
        assert_eq!(parse_head(b"GET /"), Parsed::Bad);
        assert_eq!(parse_head(b"GET / HTTP/1.1 x"), Parsed::Bad);
        assert_eq!(parse_head(b"GET x HTTP/1.1"), Parsed::Bad);
        assert_eq!(parse_head(b"\xff\xfe"), Parsed::Bad);
        assert_eq!(parse_head(b""), Parsed::Bad);
    }

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
