//! Real clients against hotcache: redis-cli, redis-benchmark, redis-py.

use std::process::Command;

use crate::common::{Hotcache, RedisServer};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
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
    let mut child = Command::new("redis-cli")
        .args(["-p", &port, "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..10_000 {
            stdin
                .write_all(&crate::common::encode(&["SET", &format!("pipe:{i}"), "v"]))
                .expect("w");
        }
    }
    let out = child.wait_with_output().expect("wait");
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
