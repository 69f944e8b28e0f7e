//! Staying up when Redis does not: an outage under load with the breaker and
//! serve-stale, retries over a reset connection, timeouts of a frozen upstream,
//! load shedding, degrade-commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cache::info_field;
use crate::common::{Hotcache, RawClient, RedisServer, encode, within};

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid}");
}

fn stat(c: &mut RawClient, field: &str) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), field)
}

fn p99(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// An outage under load: Redis is SIGKILLed and restarted (with an append-only
/// file, so what it acknowledged survives). hotcache must not crash nor drop
/// clients; while the breaker is open errors come at once, not after a timeout;
/// hot keys keep answering from the cache (serve-stale); after Redis returns,
/// errors stop; every write acknowledged +OK is in Redis afterwards.
#[test]
fn outage_under_load_breaker_serve_stale_recovery() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let hc = Hotcache::in_front_of(
        &redis,
        2,
        &[
            "--cache-mode",
            "all",
            "--cache-ttl",
            "300",
            "--serve-stale",
            "yes",
            "--stale-grace",
            "60000",
            "--upstream-timeout",
            "500",
            "--breaker-open-time",
            "200",
            "--retries",
            "0",
            "--negative-ttl",
            "100",
        ],
    );
    let mut admin = hc.client();
    // Written at Redis itself: through hotcache, a SET whose fsync (appendfsync
    // always) takes longer than the 500 ms upstream-timeout on a busy machine
    // would fail the setup, which is not what this test checks.
    let mut direct = redis.client();
    for k in 0..10 {
        assert_eq!(direct.cmd(&["SET", &format!("hot:{k}"), &format!("v{k}")]), b"+OK\r\n");
    }
    drop(direct);
    let stop = Arc::new(AtomicBool::new(false));
    let outage = Arc::new(AtomicBool::new(false));
    // Writers: unique keys, remembering which were acknowledged.
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, outage, port) = (stop.clone(), outage.clone(), hc.port);
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let (mut acked, mut errors, mut open_latencies) = (Vec::new(), 0u64, Vec::new());
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let key = format!("w:{w}:{i}");
                    i += 1;
                    let t = Instant::now();
                    let r = c.cmd(&["SET", &key, "x"]);
                    if r == b"+OK\r\n" {
                        acked.push(key);
                    } else {
                        let text = String::from_utf8_lossy(&r);
                        assert!(text.starts_with("-ERR upstream "), "unexpected reply {text}");
                        errors += 1;
                        if text.contains("circuit breaker open") && outage.load(Ordering::Acquire) {
                            open_latencies.push(t.elapsed());
                        }
                    }
                }
                (acked, errors, open_latencies)
            })
        })
        .collect();
    // Readers of the hot keys.
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (stop, outage, port) = (stop.clone(), outage.clone(), hc.port);
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let (mut during_ok, mut during_err) = (0u64, 0u64);
                let mut i = r;
                while !stop.load(Ordering::Acquire) {
                    let k = i % 10;
                    i += 1;
                    let reply = c.cmd(&["GET", &format!("hot:{k}")]);
                    let ok = reply == bulk(&format!("v{k}"));
                    if !ok {
                        let text = String::from_utf8_lossy(&reply);
                        assert!(text.starts_with("-ERR upstream "), "unexpected reply {text}");
                    }
                    if outage.load(Ordering::Acquire) {
                        if ok { during_ok += 1 } else { during_err += 1 }
                    }
                }
                (during_ok, during_err)
            })
        })
        .collect();
    // Normal load first, until the hot keys are served from the cache (on a
    // loaded machine tracking may take a while to come up, and nothing is
    // cached before it): an outage before that has nothing stale to serve.
    let cached = within(Duration::from_secs(30), || stat(&mut admin, "cache_hits") >= 100);
    assert!(cached.is_some(), "the hot keys were never served from the cache");
    signal(redis.pid(), "KILL");
    outage.store(true, Ordering::Release);
    // The outage lasts while the breaker opens and hot keys are served stale.
    assert!(
        within(Duration::from_secs(10), || admin
            .cmd_str(&["INFO", "hotcache"])
            .contains("upstream_breaker:open"))
        .is_some(),
        "the breaker never opened"
    );
    // 2 s by default; HOTCACHE_OUTAGE_SECS=10 gives the issue's 10 s outage.
    let secs = std::env::var("HOTCACHE_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    std::thread::sleep(Duration::from_secs(secs));
    outage.store(false, Ordering::Release);
    redis.restart();
    let recovered =
        within(Duration::from_secs(10), || admin.cmd(&["SET", "probe", "1"]) == b"+OK\r\n");
    stop.store(true, Ordering::Release);
    let recovered = recovered.expect("writes never succeeded again");
    let mut acked = Vec::new();
    let (mut write_errors, mut open_latencies) = (0, Vec::new());
    for w in writers {
        let (a, e, l) = w.join().expect("writer");
        acked.extend(a);
        write_errors += e;
        open_latencies.extend(l);
    }
    let (mut during_ok, mut during_err) = (0, 0);
    for r in readers {
        let (ok, err) = r.join().expect("reader");
        during_ok += ok;
        during_err += err;
    }
    let stale = stat(&mut admin, "stale_hits");
    eprintln!(
        "outage: {} writes acknowledged, {write_errors} refused; breaker-open errors p99 {:?} over {}; \
         hot reads during the outage {during_ok} answered, {during_err} errors ({stale} stale hits); \
         writes succeed again {:?} after Redis restarted",
        acked.len(),
        p99(open_latencies.clone()),
        open_latencies.len(),
        recovered
    );
    assert!(write_errors > 0, "the outage produced no errors: was Redis really down?");
    assert!(!open_latencies.is_empty(), "no request met the open breaker");
    // Fail fast: an open breaker answers without waiting for upstream-timeout (500 ms).
    assert!(p99(open_latencies) < Duration::from_millis(100), "open-breaker errors are slow");
    assert!(during_ok > 0 && stale > 0, "hot keys were not served stale during the outage");
    // Nothing acknowledged was lost.
    let mut direct = redis.client();
    for chunk in acked.chunks(500) {
        let mut args = vec!["EXISTS"];
        args.extend(chunk.iter().map(String::as_str));
        let want = format!(":{}\r\n", chunk.len()).into_bytes();
        assert_eq!(direct.cmd(&args), want, "an acknowledged write is missing");
    }
    assert!(info_field(&admin.cmd_str(&["INFO", "hotcache"]), "breaker_opens") >= 1);
}

/// A read whose upstream connection is reset is sent again and answered; a
/// client never sees the reset.
#[test]
fn reads_are_retried_over_a_reset_connection() {
    let redis = RedisServer::start();
    // Nearly every request of a round is in flight when its connection is
    // killed, so nearly every one is retried: a budget of 100% of requests
    // sits right at the need (a retry refused now and then, and the test
    // flaky). The budget is not what this tests (see the unit tests of
    // `RetryBudget`): give it room.
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--cache-mode", "off", "--retries", "2", "--retry-budget", "1000"],
    );
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "r", "v"]), b"+OK\r\n");
    let mut direct = redis.client();
    for round in 0..10 {
        let batch: Vec<u8> = (0..2000).flat_map(|_| encode(&["GET", "r"])).collect();
        c.send(&batch);
        // Kill hotcache's shared connection while the batch is in flight.
        let list = direct.cmd_str(&["CLIENT", "LIST"]);
        for line in list.lines().filter(|l| l.contains("name=hotcache ")) {
            if let Some(id) = line.split_whitespace().next().and_then(|f| f.strip_prefix("id=")) {
                direct.cmd(&["CLIENT", "KILL", "ID", id]);
            }
        }
        for i in 0..2000 {
            let r = c.read_reply();
            if r != bulk("v") {
                let info = hc.client().cmd_str(&["INFO", "hotcache"]);
                panic!("round {round} reply {i}: {}\n{info}", String::from_utf8_lossy(&r));
            }
        }
    }
    assert!(stat(&mut c, "upstream_retries") > 0, "no retry happened: the test did not test");
}

/// A frozen upstream: replies that take longer than upstream-timeout end the
/// connection with an error (not a hang); after SIGCONT everything works again.
#[test]
fn frozen_upstream_times_out_then_recovers() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--upstream-timeout", "300", "--retries", "0"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "f", "1"]), b"+OK\r\n");
    signal(redis.pid(), "STOP");
    let t = Instant::now();
    let r = c.cmd_str(&["GET", "f"]);
    let waited = t.elapsed();
    signal(redis.pid(), "CONT");
    assert!(r.starts_with("-ERR upstream ") && r.contains("no reply within 300 ms"), "{r}");
    eprintln!("frozen upstream: error after {waited:?} (upstream-timeout 300 ms)");
    // Local commands never waited on Redis.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert!(within(Duration::from_secs(5), || c.cmd(&["GET", "f"]) == bulk("1")).is_some());
    assert!(stat(&mut c, "upstream_timeouts") >= 1);
}

/// Load shedding: past upstream-max-inflight on a connection, requests fail at
/// once with an error instead of queueing; the ones admitted complete.
#[test]
fn load_shedding_fails_fast_past_the_inflight_bound() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--upstream-max-inflight", "10", "--cache-mode", "off", "--retries", "0"],
    );
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "s", "v"]), b"+OK\r\n");
    signal(redis.pid(), "STOP");
    let batch: Vec<u8> = (0..100).flat_map(|_| encode(&["GET", "s"])).collect();
    c.send(&batch);
    // The shed requests are answered before Redis is back; they sit behind the
    // admitted ones in the reply order, so wait for the counter instead.
    let mut admin = hc.client();
    assert!(within(Duration::from_secs(5), || stat(&mut admin, "upstream_shed") >= 90).is_some());
    signal(redis.pid(), "CONT");
    let replies: Vec<Vec<u8>> = (0..100).map(|_| c.read_reply()).collect();
    let ok = replies.iter().filter(|r| **r == bulk("v")).count();
    let shed = replies
        .iter()
        .filter(|r| String::from_utf8_lossy(r).contains("overloaded: too many requests in flight"))
        .count();
    assert_eq!(
        (ok, shed),
        (10, 90),
        "{:?}",
        replies.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect::<Vec<_>>()
    );
}

/// degrade-commands are refused while the upstream is degraded, and only then.
#[test]
fn degrade_commands_refused_while_degraded() {
    let mut redis = RedisServer::start();
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &[
            "--degrade-commands",
            "keys scan",
            "--breaker-failures",
            "1",
            "--breaker-open-time",
            "60000",
        ],
    );
    let mut c = hc.client();
    assert_eq!(c.cmd(&["KEYS", "*"]), b"*0\r\n");
    redis.kill();
    // Failures open the breaker.
    assert!(
        within(Duration::from_secs(5), || {
            c.cmd(&["GET", "x"]);
            c.cmd_str(&["INFO", "hotcache"]).contains("upstream_breaker:open")
        })
        .is_some()
    );
    let r = c.cmd_str(&["KEYS", "*"]);
    assert!(
        r.starts_with("-ERR command 'keys' refused: upstream 127.0.0.1:") && r.contains("degraded"),
        "{r}"
    );
    assert!(c.cmd_str(&["SCAN", "0"]).contains("refused"));
    assert!(c.cmd_str(&["GET", "x"]).contains("circuit breaker open"));
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert!(stat(&mut c, "degraded_refusals") >= 2);
}

/// Settings of the resilience layer change at run time.
#[test]
fn resilience_settings_change_at_run_time() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    for (k, v) in [
        ("retries", "3"),
        ("upstream-timeout", "2000"),
        ("breaker-failures", "9"),
        ("serve-stale", "yes"),
        ("hotcache.loglevel", "debug"),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", k, v]), b"+OK\r\n", "{k}");
        let got = c.cmd_str(&["CONFIG", "GET", k]);
        assert!(got.contains(v), "{k}: {got}");
    }
    assert!(
        c.cmd_str(&["CONFIG", "SET", "hotcache.loglevel", "loud"])
            .starts_with("-ERR CONFIG SET failed")
    );
}
