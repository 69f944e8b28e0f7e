//! The metrics endpoint: Prometheus text that agrees with INFO, HTTP that
//! survives bad peers, and the dashboard rendered by a real headless Chromium.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{eventually, info_field};
use crate::common::{Hotcache, RawClient, RedisServer, free_port};

/// Sends raw bytes, reads the whole response (the server closes after one).
fn http_raw(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // The server may answer and close before a long request is all written.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// GET `path`: (status, head, body).
fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let raw =
        http_raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes());
    split_response(&raw)
}

/// (status, head, body); status 0 when there was no response (closed).
fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::from_utf8_lossy(raw).into_owned(), Vec::new());
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, head, raw[end + 4..].to_vec())
}

/// hotcache in front of `redis` with the metrics endpoint on a free port.
fn start(redis: &RedisServer, extra: &[&str]) -> (Hotcache, u16) {
    let port = free_port().to_string();
    let mut args = vec!["--metrics-port", port.as_str()];
    args.extend_from_slice(extra);
    let hc = Hotcache::in_front_of(redis, 2, &args);
    (hc, port.parse().expect("port"))
}

/// The value of one sample line (`name{labels} value`) of Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

#[test]
fn prometheus_metrics_agree_with_info() {
    let redis = RedisServer::start();
    let (hc, port) = start(&redis, &["--cache-mode", "all"]);
    let mut c = hc.client();
    // Nothing is cached until every thread's tracking stream is up: reads
    // before that are misses, and the hit counts below would fall short.
    eventually("tracking up", || {
        c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up").then_some(())
    });
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    for _ in 0..20 {
        c.cmd(&["GET", "k"]);
    }
    c.cmd(&["GET", "missing"]);
    c.cmd(&["GET", "missing"]);
    let (status, head, body) = get(port, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: application/openmetrics-text; version=1.0.0"), "{head}");
    let text = String::from_utf8(body).expect("utf8");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    // Every sample line is `name[{labels}] value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "bad line: {line}");
        assert!(line.starts_with("hotcache_") || line.starts_with("process_"), "{line}");
    }
    let info = c.cmd_str(&["INFO", "hotcache"]);
    for (field, series) in [
        ("cache_hits", "hotcache_cache_hits_total"),
        ("cache_misses", "hotcache_cache_misses_total"),
        ("cache_negative_hits", "hotcache_cache_negative_hits_total"),
        ("singleflight_joins", "hotcache_singleflight_joins_total"),
        ("hot_keys_admitted", "hotcache_hot_keys_admitted_total"),
        ("invalidations_own_write", "hotcache_invalidations_total{cause=\"own_write\"}"),
        ("cache_entries", "hotcache_cache_entries"),
        ("cache_bytes", "hotcache_cache_bytes"),
        ("upstream_retries", "hotcache_upstream_retries_total"),
    ] {
        let from_info: f64 = info_field(&info, field).and_then(|v| v.parse().ok()).expect(field);
        assert_eq!(sample(&text, series), Some(from_info), "{series} vs INFO {field}");
    }
    assert!(sample(&text, "hotcache_cache_hits_total").is_some_and(|h| h >= 19.0));
    assert!(sample(&text, "hotcache_cache_negative_hits_total").is_some_and(|h| h >= 1.0));
    let hits = "hotcache_requests_total{class=\"read\",source=\"cache\"}";
    assert!(sample(&text, hits).is_some_and(|n| n >= 19.0), "{hits}");
    let writes = "hotcache_requests_total{class=\"write\",source=\"upstream\"}";
    assert_eq!(sample(&text, writes), Some(1.0));
    let count = "hotcache_request_duration_seconds_count{class=\"read\",source=\"cache\"}";
    assert_eq!(sample(&text, count), sample(&text, hits));
    let inf =
        "hotcache_request_duration_seconds_bucket{le=\"+Inf\",class=\"read\",source=\"cache\"}";
    assert_eq!(sample(&text, inf), sample(&text, hits), "buckets end at the count");
    let node = format!("node=\"127.0.0.1:{}\"", redis.port);
    assert!(
        sample(&text, &format!("hotcache_upstream_duration_seconds_count{{{node}}}"))
            .is_some_and(|n| n >= 2.0)
    );
    assert_eq!(sample(&text, &format!("hotcache_upstream_breaker_state{{{node}}}")), Some(0.0));
    assert_eq!(sample(&text, &format!("hotcache_upstream_errors_total{{{node}}}")), Some(0.0));
    assert!(sample(&text, "hotcache_connected_clients").is_some_and(|n| n >= 1.0));
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|n| n > 1e6));
    for name in [
        "hotcache_singleflight_joins_total",
        "hotcache_cache_evictions_total",
        "hotcache_upstream_failed_requests_total",
        "hotcache_upstream_breaker_opens_total",
        "hotcache_connections_received_total",
    ] {
        assert!(text.contains(&format!("\n{name}")), "{name} missing");
    }
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert_eq!(info_field(&info, "metrics_port"), Some(port.to_string()));
}

#[test]
fn http_endpoint_survives_bad_peers() {
    let redis = RedisServer::start();
    let (hc, port) = start(&redis, &[]);
    let status = |raw: &[u8]| {
        let r = http_raw(port, raw);
        String::from_utf8_lossy(&r).split("\r\n").next().unwrap_or("").to_string()
    };
    assert_eq!(get(port, "/nope").0, 404);
    assert_eq!(get(port, "/metrics?x=1").0, 200);
    assert_eq!(
        status(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(status(b"garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(status(b"\xff\xfe\x00 / HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(status(b"GET relative HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(status(huge.as_bytes()), "HTTP/1.1 431 Request Header Fields Too Large");
    // HEAD: the head alone.
    let (code, head, body) = split_response(&http_raw(port, b"HEAD /metrics HTTP/1.0\r\n\r\n"));
    assert_eq!((code, body.len()), (200, 0), "{head}");
    // A peer that connects and leaves, one that sends half a request and
    // leaves, and one that stays silent: none holds up the others.
    drop(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = s.write_all(b"GET /met");
    }
    let silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // More connections at once than it serves: the extra ones are closed.
    let many: Vec<TcpStream> =
        (0..100).filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    drop(many);
    let (code, _, body) = eventually("the endpoint to serve again", || {
        let r = get(port, "/metrics");
        (r.0 == 200).then_some(r)
    });
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).ends_with("# EOF\n"));
    drop(silent);
    assert_eq!(hc.client().cmd(&["PING"]), b"+PONG\r\n");
}

/// Runs headless Chromium; panics (never passes quietly) if it cannot.
fn chromium(args: &[&str], url: &str) -> Vec<u8> {
    let profile = std::env::temp_dir().join(format!(
        "hotcache-chromium-{}-{}",
        std::process::id(),
        free_port()
    ));
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let mut cmd = Command::new("chromium");
    cmd.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--disable-dev-shm-usage", "--hide-scrollbars", &profile_arg])
        .args(args)
        .arg(url);
    let out = crate::common::output_within(&mut cmd, crate::common::CLIENT_LIMIT)
        .unwrap_or_else(|e| {
            panic!("chromium cannot run ({e}): install it with `apt-get install -y chromium` (scripts/test.sh does)")
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The markup of the element whose start tag contains `marker`, up to `end`.
fn element<'a>(dom: &'a str, marker: &str, end: &str) -> &'a str {
    let start = dom.find(marker).unwrap_or_else(|| panic!("{marker} not in the page"));
    let rest = &dom[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Pixels of the charts' line colour (#1f77b4), nothing else on the page has it.
fn line_pixels(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot");
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs();
            d(p[0], 0x1f) < 24 && d(p[1], 0x77) < 24 && d(p[2], 0xb4) < 24
        })
        .count()
}

#[test]
fn dashboard_renders_live_data_in_headless_chromium() {
    let redis = RedisServer::start();
    let (hc, port) = start(&redis, &["--hotkey-threshold", "20"]);
    // Load: one hot key read over and over, some writes to other keys.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let hport = hc.port;
        std::thread::spawn(move || {
            let mut c = RawClient::connect(hport);
            c.cmd(&["SET", "hot:item", "sale"]);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.cmd(&["GET", "hot:item"]);
                if i.is_multiple_of(10) {
                    c.cmd(&["SET", &format!("cold:{i}"), "x"]);
                    // Paced (about 2,000 reads a second, far above the hot-key
                    // threshold), so the rest of the suite keeps its share of
                    // the machine; nothing waits on this sleep.
                    std::thread::sleep(Duration::from_millis(5));
                }
                i += 1;
            }
        })
    };
    // Wait (polling the same JSON the page reads) until the server has a few
    // seconds of traffic with hits, and the hot key is listed.
    eventually("samples with traffic and the hot key", || {
        let (code, _, body) = get(port, "/api/stats");
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let busy =
            v["samples"].as_array()?.iter().filter(|s| s["ops"].as_f64() > Some(0.0)).count();
        let hit = v["samples"].as_array()?.iter().any(|s| s["hit_ratio"].as_f64() > Some(0.5));
        let hot = v["hotkeys"].as_array()?.iter().any(|k| k["key"] == "hot:item");
        (code == 200 && busy >= 3 && hit && hot).then_some(())
    });
    let url = format!("http://127.0.0.1:{port}/");
    let dom = chromium(&["--virtual-time-budget=5000", "--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&dom).into_owned();
    for chart in ["chart-ops", "chart-hit", "chart-offload"] {
        let svg = element(&dom, &format!("id=\"{chart}\""), "</svg>");
        let line = element(svg, "class=\"line\"", ">");
        let points: usize = line
            .split("data-points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{chart}: no data-bearing line: {svg}"));
        assert!(points >= 3, "{chart}: {points} points: {line}");
        assert!(line.contains(" d=\"M"), "{chart}: {line}");
    }
    let hot = element(&dom, "id=\"hotkeys\"", "</table>");
    assert!(hot.contains("<td class=\"key\">hot:item</td>"), "{hot}");
    let nodes = element(&dom, "id=\"nodes\"", "</table>");
    assert!(nodes.contains(&format!("127.0.0.1:{}", redis.port)), "{nodes}");
    assert!(nodes.contains(">closed<"), "{nodes}");

    let shot = std::env::temp_dir().join(format!("hotcache-dashboard-{port}.png"));
    let shot_arg = format!("--screenshot={}", shot.display());
    chromium(&["--virtual-time-budget=5000", "--window-size=1280,900", &shot_arg], &url);
    let png = std::fs::read(&shot).expect("the screenshot");
    let _ = std::fs::remove_file(&shot);
    let drawn = line_pixels(&png);
    // Three charts with a 2.5 px line over several seconds each.
    assert!(drawn >= 60, "only {drawn} pixels of chart lines in the screenshot");
    stop.store(true, Ordering::Relaxed);
    let _ = load.join();
}
