//! Operating hotcache (issue 6): INFO's latency, command and upstream
//! sections, SLOWLOG, CONFIG RESETSTAT and REWRITE. The metrics endpoint and
//! the dashboard are in `observability/http.rs`.

mod http;

use std::time::{Duration, Instant};

use crate::common::{Hotcache, OutputInTime, RawClient, RedisServer};
use crate::differential::resp::{self, Value};

/// The value of `field:` in INFO text.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

/// The number in `name=value` inside an INFO line's value.
fn sub_field(line: &str, name: &str) -> Option<f64> {
    line.split(',').find_map(|kv| kv.strip_prefix(&format!("{name}="))).and_then(|v| v.parse().ok())
}

fn parse(bytes: &[u8]) -> Value {
    resp::parse(bytes).unwrap_or_else(|e| panic!("{e}: {}", resp::show(bytes)))
}

/// Polls `f` until it returns Some, for up to 10 s.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn latencystats_and_commandstats_are_hotcaches() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    for _ in 0..9 {
        assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    }
    // Refused before it runs (arity), and run but failed (Redis's error).
    assert!(c.cmd_str(&["GET"]).starts_with("-ERR wrong number of arguments"));
    assert!(c.cmd_str(&["INCR", "k"]).starts_with("-ERR value is not an integer"));

    let stats = c.cmd_str(&["INFO", "commandstats"]);
    assert!(stats.contains("# Commandstats\r\n"), "{stats}");
    let get = info_field(&stats, "cmdstat_get").expect("cmdstat_get");
    assert_eq!(sub_field(&get, "calls"), Some(9.0), "{get}");
    assert_eq!(sub_field(&get, "rejected_calls"), Some(1.0), "{get}");
    assert_eq!(sub_field(&get, "failed_calls"), Some(0.0), "{get}");
    assert!(sub_field(&get, "usec_per_call").is_some(), "{get}");
    let incr = info_field(&stats, "cmdstat_incr").expect("cmdstat_incr");
    assert_eq!(
        (sub_field(&incr, "calls"), sub_field(&incr, "failed_calls")),
        (Some(1.0), Some(1.0))
    );

    let lat = c.cmd_str(&["INFO", "latencystats"]);
    let line = info_field(&lat, "latency_percentiles_usec_get").expect("get latency");
    let keys: Vec<&str> = line.split(',').map(|kv| kv.split('=').next().unwrap_or("")).collect();
    assert_eq!(keys, ["p50", "p99", "p99.9"], "{line}");
    let p50 = sub_field(&line, "p50").expect("p50");
    let p99 = sub_field(&line, "p99").expect("p99");
    assert!(p50 > 0.0 && p50 <= p99, "{line}");
    // Three decimals, as Redis prints them.
    assert!(line.split(',').all(|kv| kv.split('.').next_back().is_some_and(|d| d.len() == 3)));

    // The percentiles follow hotcache.latency-tracking-info-percentiles.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hotcache.latency-tracking-info-percentiles", "50 90 99.99"]),
        b"+OK\r\n"
    );
    let lat = c.cmd_str(&["INFO", "latencystats"]);
    let line = info_field(&lat, "latency_percentiles_usec_get").expect("get latency");
    assert!(
        line.starts_with("p50=") && line.contains(",p90=") && line.contains(",p99.99="),
        "{line}"
    );

    // With latency-tracking off, calls still count but no new histogram fills.
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.latency-tracking", "no"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["STRLEN", "k"]), b":1\r\n");
    let lat = c.cmd_str(&["INFO", "latencystats"]);
    assert!(info_field(&lat, "latency_percentiles_usec_strlen").is_none(), "{lat}");
    let stats = c.cmd_str(&["INFO", "commandstats"]);
    assert!(info_field(&stats, "cmdstat_strlen").is_some(), "{stats}");
}

#[test]
fn info_sections_join_redis_and_hotcache() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    let default = c.cmd_str(&["INFO"]);
    for s in ["# Server", "# Stats", "# Keyspace", "# Hotcache", "# Upstream"] {
        assert!(default.contains(&format!("{s}\r\n")), "{s} missing: {default}");
    }
    assert!(!default.contains("# Latencystats"), "not a default section");
    let node = info_field(&default, "node0").expect("node0");
    assert!(node.starts_with(&format!("addr=127.0.0.1:{},breaker=closed,", redis.port)), "{node}");
    assert!(sub_field(&node, "requests").is_some_and(|r| r >= 1.0), "{node}");

    // `all`: Redis's Commandstats and Latencystats give way to hotcache's.
    let all = c.cmd_str(&["INFO", "all"]);
    assert_eq!(all.matches("# Commandstats\r\n").count(), 1, "{all}");
    assert_eq!(all.matches("# Latencystats\r\n").count(), 1, "{all}");
    assert!(all.contains("# Upstream\r\n") && all.contains("# Errorstats\r\n"), "{all}");
    // hotcache counts the cache's hits too: INFO ran on hotcache, not only on Redis.
    assert!(info_field(&all, "cmdstat_set").is_some(), "{all}");

    // A Redis section alone is Redis's alone; hotcache's alone are answered here.
    let server = c.cmd_str(&["INFO", "server"]);
    assert!(server.contains("redis_version:") && !server.contains("# Hotcache"), "{server}");
    let ours = c.cmd_str(&["INFO", "upstream", "hotcache"]);
    assert!(ours.contains("# Hotcache\r\n") && ours.contains("# Upstream\r\n"), "{ours}");
    assert!(!ours.contains("redis_version"), "{ours}");
    let mixed = c.cmd_str(&["INFO", "keyspace", "latencystats"]);
    assert!(mixed.contains("# Keyspace\r\ndb0:keys=1"), "{mixed}");
    assert!(mixed.contains("\r\n# Latencystats\r\n"), "{mixed}");
    assert!(mixed.contains("\r\nlatency_percentiles_usec_set:p50="), "{mixed}");

    // RESP3: a verbatim string, the same text.
    c.cmd(&["HELLO", "3"]);
    let v = c.cmd(&["INFO", "latencystats"]);
    assert!(v.starts_with(b"="), "{}", String::from_utf8_lossy(&v));
    let v = c.cmd(&["INFO", "all"]);
    let text = parse(&v).text().map(|t| String::from_utf8_lossy(t).into_owned()).expect("text");
    assert_eq!(text.matches("# Latencystats\r\n").count(), 1, "{text}");
}

#[test]
fn upstream_section_shows_errors_and_the_breaker() {
    let mut redis = RedisServer::start();
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--breaker-failures", "1", "--breaker-open-time", "60000", "--retries", "0"],
    );
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    redis.kill();
    // The first request finds the connection broken; then the breaker is open.
    let node = eventually("the breaker to open", || {
        let _ = c.cmd(&["GET", "a"]);
        let info = c.cmd_str(&["INFO", "upstream"]);
        let node = info_field(&info, "node0")?;
        node.contains("breaker=open").then_some(node)
    });
    assert!(sub_field(&node, "errors").is_some_and(|e| e >= 1.0), "{node}");
    assert!(sub_field(&node, "breaker_opens").is_some_and(|e| e >= 1.0), "{node}");
}

/// The entries of a SLOWLOG GET reply, each without its id, time, duration
/// and client address (which differ between servers): [argv, name].
fn slowlog_entries(reply: &[u8]) -> Vec<Vec<Value>> {
    let v = parse(reply);
    v.items()
        .expect("an array")
        .iter()
        .map(|e| {
            let f = e.items().expect("an entry");
            assert_eq!(f.len(), 6, "six fields");
            for (i, field) in f.iter().take(3).enumerate() {
                assert!(field.int().is_some(), "field {i} is an integer");
            }
            assert!(f[4].text().is_some_and(|a| a.starts_with(b"127.0.0.1:")), "client addr");
            vec![f[3].clone(), f[5].clone()]
        })
        .collect()
}

#[test]
fn slowlog_logs_slow_upstream_round_trips_as_redis_does() {
    let redis = RedisServer::start_with(&["--slowlog-log-slower-than", "0"]);
    let hc = Hotcache::in_front_of(&redis, 1, &["--slowlog-log-slower-than", "0"]);
    let mut c = hc.client();
    let mut r = redis.client();
    let long = "x".repeat(200);
    let mut many = vec!["RPUSH".to_string(), "list".to_string()];
    many.extend((0..40).map(|i| i.to_string()));
    for client in [&mut c, &mut r] {
        assert_eq!(client.cmd(&["CLIENT", "SETNAME", "worker"]), b"+OK\r\n");
        assert_eq!(client.cmd(&["SLOWLOG", "RESET"]), b"+OK\r\n");
        assert_eq!(client.cmd(&["SET", "big", long.as_str()]), b"+OK\r\n");
        client.cmd(&["DEL", "list"]);
        assert_eq!(client.cmd(&many), b":40\r\n");
    }
    // hotcache logs upstream round trips only: its own commands (SLOWLOG,
    // CLIENT SETNAME) are not there. Redis logs everything at threshold 0,
    // hotcache's own connections' commands too: only the named client's count.
    let ours = slowlog_entries(&c.cmd(&["SLOWLOG", "GET", "3"]));
    let worker = Value::Blob(b'$', b"worker".to_vec());
    let theirs: Vec<Vec<Value>> = slowlog_entries(&r.cmd(&["SLOWLOG", "GET", "-1"]))
        .into_iter()
        .filter(|e| e[1] == worker)
        .collect();
    assert_eq!(ours.len(), 3);
    assert_eq!(ours[..], theirs[..3], "argv truncation and client name as Redis's");
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), b":3\r\n");
    let all = c.cmd(&["SLOWLOG", "GET", "-1"]);
    assert_eq!(slowlog_entries(&all).len(), 3);

    // Every error and help text is Redis's.
    for args in [
        &["SLOWLOG", "GET", "x"][..],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "LEN", "1"],
        &["SLOWLOG", "HELP"],
        &["SLOWLOG"],
        &["SLOWLOG", "NOPE"],
    ] {
        assert_eq!(c.cmd_str(args), r.cmd_str(args), "{args:?}");
    }

    // Cache hits and local commands are never upstream round trips.
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), b":0\r\n");

    // The threshold: a negative one logs nothing, a large one nothing fast.
    for threshold in ["-1", "60000000"] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "hotcache.slowlog-log-slower-than", threshold]),
            b"+OK\r\n"
        );
        assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), b":0\r\n", "threshold {threshold}");
    }
    // slowlog-max-len bounds it.
    c.cmd(&["CONFIG", "SET", "hotcache.slowlog-log-slower-than", "0"]);
    c.cmd(&["CONFIG", "SET", "hotcache.slowlog-max-len", "3"]);
    for i in 0..10 {
        c.cmd(&["SET", "a", &i.to_string()]);
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), b":3\r\n");
    let newest = parse(&c.cmd(&["SLOWLOG", "GET", "1"]));
    let argv = newest.items().and_then(|e| e[0].items()).map(|f| f[3].clone()).expect("argv");
    assert_eq!(
        resp::show(&argv.to_bytes()),
        resp::show(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n9\r\n")
    );
    // The names are hotcache's through CONFIG: Redis's own are untouched.
    let redis_cfg = c.cmd_str(&["CONFIG", "GET", "slowlog-max-len"]);
    assert!(redis_cfg.contains("slowlog-max-len\r\n$3\r\n128"), "{redis_cfg}");
}

#[test]
fn config_resetstat_resets_hotcache_and_redis() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all"]);
    let mut clients: Vec<RawClient> = (0..4).map(|_| hc.client()).collect();
    for i in 0..50 {
        assert_eq!(clients[i % 4].cmd(&["SET", &format!("w{i}"), "v"]), b"+OK\r\n");
    }
    assert_eq!(clients[0].cmd(&["SET", "k", "v"]), b"+OK\r\n");
    for c in clients.iter_mut() {
        for _ in 0..5 {
            c.cmd(&["GET", "k"]);
        }
    }
    let c = &mut clients[0];
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert!(info_field(&info, "cache_hits").is_some_and(|h| h != "0"), "{info}");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let info = c.cmd_str(&["INFO", "hotcache"]);
    for f in ["cache_hits", "cache_misses", "singleflight_leads", "cache_fills"] {
        assert_eq!(info_field(&info, f).as_deref(), Some("0"), "{f}: {info}");
    }
    // Counted after the reset, as Redis counts CONFIG RESETSTAT itself: the
    // command, and its trip to Redis.
    for f in ["total_commands_processed", "forwarded_commands"] {
        assert_eq!(info_field(&info, f).as_deref(), Some("1"), "{f}: {info}");
    }
    // Gauges stay: the cache still holds what it held.
    assert!(info_field(&info, "cache_entries").is_some_and(|e| e != "0"), "{info}");
    let stats = c.cmd_str(&["INFO", "commandstats"]);
    assert!(info_field(&stats, "cmdstat_get").is_none(), "{stats}");
    let up = c.cmd_str(&["INFO", "upstream"]);
    let node = info_field(&up, "node0").expect("node0");
    // Only CONFIG RESETSTAT's own trip to Redis since.
    assert_eq!(sub_field(&node, "requests"), Some(1.0), "{node}");
    // Redis's counters were reset too (what INFO stats shows is Redis's).
    let redis_stats = redis.client().cmd_str(&["INFO", "stats"]);
    let processed: u64 = info_field(&redis_stats, "total_commands_processed")
        .and_then(|v| v.parse().ok())
        .expect("total_commands_processed");
    // (It counted 50 SETs and more before; now only what came since.)
    assert!(processed < 20, "Redis's counters were reset: {processed}");
    assert!(c.cmd_str(&["CONFIG", "RESETSTAT", "x"]).starts_with("-ERR wrong number of arguments"));

    // With the embedded origin there is only hotcache's to reset.
    let hc = Hotcache::start(&["--threads", "2"]);
    let mut c = hc.client();
    c.cmd(&["SET", "a", "b"]);
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert_eq!(info_field(&info, "forwarded_commands").as_deref(), Some("0"), "{info}");
}

#[test]
fn config_rewrite_writes_the_config_file() {
    let hc = Hotcache::start(&[]);
    assert_eq!(
        hc.client().cmd_str(&["CONFIG", "REWRITE"]),
        "-ERR The server is running without a config file\r\n"
    );

    let dir = std::env::temp_dir().join(format!("hotcache-rewrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("hotcache.toml");
    std::fs::write(&file, "# my settings\ncache-ttl = 5000  # five seconds\n\nmaxclients = 50\n")
        .expect("write");
    let path = file.to_str().expect("utf8");
    let hc = Hotcache::start(&["--config", path]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["CONFIG", "SET", "cache-ttl", "7000"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotkey-threshold", "42"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        text.starts_with("# my settings\ncache-ttl = 7000  # five seconds\n\nmaxclients = 50\n"),
        "{text}"
    );
    assert!(text.contains("hotkey-threshold = 42\n"), "{text}");
    // The port came from a flag (not the default): written too, as Redis does.
    assert!(text.contains(&format!("port = {}\n", hc.port)), "{text}");
    drop(hc);
    // The file starts a hotcache with the rewritten settings.
    let out = std::process::Command::new(crate::common::hotcache_bin())
        .args(["--config", path, "--check-config"])
        .output_in_time()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hc = Hotcache::start(&["--config", path]);
    let got = hc.client().cmd_str(&["CONFIG", "GET", "cache-ttl"]);
    assert!(got.contains("cache-ttl\r\n$4\r\n7000"), "{got}");
    let _ = std::fs::remove_dir_all(&dir);
}
