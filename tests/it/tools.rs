//! Real clients against hotcache: redis-cli, redis-benchmark, redis-py,
//! node-redis.

use std::process::Command;

use crate::common::{CLIENT_LIMIT, Hotcache, RedisServer, output_within};

fn run(cmd: &mut Command) -> String {
    let out = output_within(cmd, CLIENT_LIMIT).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

#[test]
fn redis_cli_works() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let port = hc.port.to_string();
    // A second, independent Redis to compare redis-cli's output with.
    let reference = RedisServer::start();
    let direct_port = reference.port.to_string();
    let cli = |args: &[&str]| run(Command::new("redis-cli").args(["-p", &port]).args(args));
    let direct =
        |args: &[&str]| run(Command::new("redis-cli").args(["-p", &direct_port]).args(args));
    assert_eq!(cli(&["set", "a", "b"]).trim(), "OK");
    assert_eq!(cli(&["get", "a"]).trim(), "b");
    // The same output as redis-cli talking to Redis, in RESP2 and RESP3.
    for args in [
        &["hset", "h", "f", "v"][..],
        &["-3", "hgetall", "h"],
        &["hgetall", "h"],
        &["-3", "zadd", "z", "1.5", "m"],
        &["-3", "zrange", "z", "0", "-1", "withscores"],
        &["--no-raw", "lrange", "nothing", "0", "-1"],
        &["--no-raw", "-3", "get", "nothing"],
    ] {
        let args: Vec<&str> = args.to_vec();
        let ours = cli(&args);
        let theirs = direct(&args);
        assert_eq!(ours, theirs, "redis-cli {args:?}");
    }
    assert!(cli(&["info"]).contains("# Hotcache"));
    assert!(cli(&["nosuchcommand"]).contains("ERR unknown command 'nosuchcommand'"));
    // Piped input, as redis-cli --pipe uses for mass insertion.
    let input: Vec<u8> = (0..10_000)
        .flat_map(|i| crate::common::encode(&["SET", &format!("pipe:{i}"), "v"]))
        .collect();
    let out = crate::common::output_with_input(
        Command::new("redis-cli").args(["-p", &port, "--pipe"]),
        input,
        crate::common::CLIENT_LIMIT,
    )
    .expect("redis-cli --pipe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 10000"), "{text}");
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let out = run(Command::new("redis-benchmark").args([
        "-p",
        &hc.port.to_string(),
        "-t",
        "ping,set,get,incr,lpush,lpop,sadd,mset",
        "-c",
        "50",
        "-P",
        "16",
        "-n",
        "20000",
        "-q",
    ]));
    for name in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "MSET"]
    {
        assert!(
            out.contains(&format!("{name}:")) || out.contains(&format!("{name} ")),
            "{name} missing: {out}"
        );
    }
    assert!(!out.to_lowercase().contains("error"), "{out}");
    // Every write reached Redis; GETs of redis-benchmark's one hot key were
    // answered from the cache, so Redis saw only the misses.
    let mut direct = redis.client();
    let stats = direct.cmd_str(&["INFO", "commandstats"]);
    for cmd in ["set", "incr", "lpush", "lpop", "sadd", "mset"] {
        assert!(stats.contains(&format!("cmdstat_{cmd}:calls=20000,")), "{cmd}: {stats}");
    }
    let gets = stat(&stats, "cmdstat_get:calls=");
    let info = hc.client().cmd_str(&["INFO", "hotcache"]);
    let hits = stat(&info, "cache_hits:");
    let joins = stat(&info, "singleflight_joins:");
    // Each GET was a hit, joined another client's read, or read from Redis.
    assert_eq!(
        gets + hits + joins,
        20000,
        "GETs at Redis {gets}, hits {hits}, joins {joins}\n{info}"
    );
    assert!(hits > 0, "{info}");
}

/// The number after `prefix` in an INFO text.
fn stat(text: &str, prefix: &str) -> u64 {
    text.split(prefix)
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn redis_py_plain_pipeline_pubsub() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py_client.py");
    let out = run(Command::new("python3").arg(script).arg(hc.port.to_string()));
    assert!(out.contains("redis-py OK"), "{out}");
}

/// The load tool's `--json` output, with its report files, from a short run.
fn bench_run(port: u16, label: &str, dir: &std::path::Path, secs: &str) -> serde_json::Value {
    let html = dir.join(format!("{label}.html"));
    let svg = dir.join(format!("{label}.svg"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotcache-bench"));
    cmd.args(["-p", &port.to_string(), "-c", "4", "--keys", "100", "--ratio", "9:1"])
        .args(["--duration", secs, "--json", "--label", label])
        .arg("--report")
        .arg(&html)
        .arg("--svg")
        .arg(&svg);
    let out = output_within(&mut cmd, CLIENT_LIMIT).expect("run hotcache-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hotcache-bench failed: {stderr}");
    std::fs::write(dir.join(format!("{label}.json")), &out.stdout).expect("save json");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json: {e}: {stderr}"))
}

/// Checks with Python's XML parser that `file` (an SVG, or each chart inline in an
/// HTML page) is well-formed, and returns the `data-points` of every series drawn,
/// by chart title.
fn charts_in(file: &std::path::Path) -> Vec<(String, Vec<u64>)> {
    let script = r#"
import re, sys, xml.etree.ElementTree as ET
text = open(sys.argv[1], encoding="utf-8").read()
if text.lstrip().startswith("<!DOCTYPE html>"):
    charts = [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", text, re.S)]
else:
    charts = list(ET.fromstring(text.split("?>", 1)[1]))
NS = "{http://www.w3.org/2000/svg}"
for c in charts:
    title = "".join(t.text for t in c.iter(NS + "text") if t.get("class") == "title")
    points = [g.get("data-points") for g in c.iter(NS + "g") if g.get("class") == "series"]
    print(title + "\t" + " ".join(points))
"#;
    let text = run(Command::new("python3").args(["-c", script]).arg(file));
    text.lines()
        .map(|l| {
            let (title, points) = l.split_once('\t').unwrap_or((l, ""));
            (title.to_string(), points.split_whitespace().map(|p| p.parse().expect("n")).collect())
        })
        .collect()
}

#[test]
fn load_tool_writes_reports_with_charts() {
    let dir = std::env::temp_dir().join(format!("hotcache-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let redis = RedisServer::start();
    let json = bench_run(redis.port, "redis", &dir, "1");
    assert!(json["results"]["ops"].as_u64().unwrap_or(0) > 0, "{json}");
    assert!(json["server"].is_null(), "redis-server has no cache counters: {json}");
    let series = json["series"].as_array().expect("series");
    assert!(!series.is_empty() && series[0]["p999_us"].as_f64().unwrap_or(0.0) > 0.0, "{json}");
    for file in ["redis.html", "redis.svg"] {
        let charts = charts_in(&dir.join(file));
        let titles: Vec<&str> = charts.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            titles,
            ["redis: throughput (GET:SET 9:1 P1)", "redis: latency per second (GET:SET 9:1 P1)"],
            "{file}"
        );
        // One series of ops/s; p50, p99, p99.9; each with a point per second.
        assert_eq!(charts[0].1, [series.len() as u64], "{file}");
        assert_eq!(charts[1].1, [series.len() as u64; 3], "{file}");
    }
    let html = std::fs::read_to_string(dir.join("redis.html")).expect("html");
    assert!(html.contains("No cache hit ratio") && !html.contains("NaN"), "{html}");
    // Self-contained: nothing to run and nothing fetched from elsewhere.
    for resource in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(resource), "{resource} in the report");
    }

    // Through hotcache (everything cached), the hit ratio over time is charted too.
    let hc = Hotcache::in_front_of(&redis, 1, &["--cache-mode", "all"]);
    let json = bench_run(hc.port, "hotcache", &dir, "2");
    let samples = json["server"]["samples"].as_array().expect("samples");
    assert!(samples.len() >= 2, "{json}");
    let charts = charts_in(&dir.join("hotcache.svg"));
    assert_eq!(charts.len(), 3, "{charts:?}");
    assert!(charts[2].0.contains("cache hit ratio"), "{charts:?}");
    assert!(charts[2].1[0] >= 1, "{charts:?}");

    // A comparison of the two runs: bars of ops/s, p50, p99 for both targets.
    let cmp = dir.join("cmp.svg");
    run(Command::new(env!("CARGO_BIN_EXE_hotcache-bench"))
        .arg("compare")
        .args([dir.join("redis.json"), dir.join("hotcache.json")])
        .arg("--svg")
        .arg(&cmp)
        .arg("--report")
        .arg(dir.join("cmp.html")));
    let charts = charts_in(&cmp);
    let titles: Vec<&str> = charts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Throughput", "Latency p50", "Latency p99"]);
    assert!(charts.iter().all(|(_, points)| points == &[1, 1]), "{charts:?}");
    assert_eq!(charts_in(&dir.join("cmp.html")).len(), 4, "bars and one timeline");
    let _ = std::fs::remove_dir_all(&dir);
}

/// redis-py's client-side caching looks at HELLO (`server: redis`, 7.4 or
/// later) and refuses Redis 7.0: through hotcache it decides exactly as it
/// does directly, because HELLO names the server behind hotcache.
#[test]
fn redis_py_client_side_caching_decides_as_directly() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let script = r#"
import sys, redis
from redis.cache import CacheConfig
try:
    r = redis.Redis(port=int(sys.argv[1]), protocol=3, cache_config=CacheConfig())
    r.ping()
    print("accepted")
except Exception as e:
    print(type(e).__name__, e)
"#;
    let direct = run(Command::new("python3").args(["-c", script]).arg(redis.port.to_string()));
    let through = run(Command::new("python3").args(["-c", script]).arg(hc.port.to_string()));
    assert_eq!(through, direct);
    assert!(direct.contains("7.4"), "{direct}");
}

/// node-redis v5's client-side caching (`clientSideCache`) through hotcache:
/// the client caches a value, it changes straight at Redis, and the client's
/// next read is fresh (`tests/it/node/csc.js`; `scripts/test.sh` installs
/// node-redis into `target/node`).
#[test]
fn node_redis_client_side_caching() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut admin = hc.client();
    crate::faults::wait_until(std::time::Duration::from_secs(10), "tracking up", || {
        admin.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up")
    });
    let root = env!("CARGO_MANIFEST_DIR");
    let node = |port: u16| {
        run(Command::new("node")
            .arg(format!("{root}/tests/it/node/csc.js"))
            .args([port.to_string(), redis.port.to_string()])
            .env("NODE_PATH", format!("{root}/target/node/node_modules")))
    };
    let direct = node(redis.port);
    assert_eq!(direct.trim(), "v1 v1 hits=1 v2 v2 cached-again");
    assert_eq!(node(hc.port), direct);
}
