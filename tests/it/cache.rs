//! The hot-key tier's correctness rules (ARCHITECTURE.md 2-5): each test here
//! fails if its rule breaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, encode, within};

/// The number after `field:` in an INFO text.
pub fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in INFO:\n{info}"))
}

/// Calls of `cmd` in an INFO commandstats text.
pub fn calls(stats: &str, cmd: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn stat(c: &mut RawClient, field: &str) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), field)
}

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// hotcache caching every reply for a long time, so only invalidation can make a
/// read see a new value.
fn caching_all(redis: &RedisServer, threads: usize, extra: &[&str]) -> Hotcache {
    let mut args = vec!["--cache-mode", "all", "--cache-ttl", "60000", "--negative-ttl", "30000"];
    args.extend_from_slice(extra);
    let hc = Hotcache::in_front_of(redis, threads, &args);
    // Fills are cached only once the tracking stream is up.
    let mut c = hc.client();
    assert!(
        within(Duration::from_secs(10), || {
            c.cmd(&["SET", "__probe", "1"]);
            c.cmd(&["GET", "__probe"]);
            c.cmd(&["GET", "__probe"]);
            stat(&mut c, "cache_hits") > 0
        })
        .is_some(),
        "the cache never started answering"
    );
    hc
}

#[test]
fn hits_are_served_from_the_cache() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let before = stat(&mut c, "cache_hits");
    for _ in 0..100 {
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    }
    assert!(stat(&mut c, "cache_hits") >= before + 99);
    let mut direct = redis.client();
    let gets = calls(&direct.cmd_str(&["INFO", "commandstats"]), "get");
    assert!(gets <= 3, "Redis saw {gets} GETs for 100 reads");
}

/// Rule 2: once a write through hotcache is answered, no read returns the old
/// value, whichever thread and client reads it, while readers keep the key hot.
#[test]
fn read_your_writes_under_concurrent_readers() {
    for threads in [1, 2] {
        let redis = RedisServer::start();
        let hc = caching_all(&redis, threads, &[]);
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut w = hc.client();
        assert_eq!(w.cmd(&["SET", "ryw", "0"]), b"+OK\r\n");
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (acked, stop, port) = (acked.clone(), stop.clone(), hc.port);
                std::thread::spawn(move || {
                    let mut c = RawClient::connect(port);
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        let floor = acked.load(Ordering::Acquire);
                        let r = c.cmd_str(&["GET", "ryw"]);
                        let v: u64 =
                            r.lines().nth(1).and_then(|l| l.parse().ok()).expect("a number");
                        assert!(v >= floor, "read {v} after {floor} was acknowledged");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for i in 1..=300u64 {
            assert_eq!(w.cmd(&["SET", "ryw", &i.to_string()]), b"+OK\r\n");
            acked.store(i, Ordering::Release);
            // The writer's own next read sees it too.
            assert_eq!(w.cmd(&["GET", "ryw"]), bulk(&i.to_string()));
        }
        stop.store(true, Ordering::Release);
        let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        assert!(reads > 300, "readers made only {reads} reads");
        assert!(stat(&mut w, "cache_hits") > 0, "the test never exercised the cache");
    }
}

/// Rule 3: a fill whose read reached Redis before a write, and whose reply is
/// handled after it, is never served. The test hook holds the fill's reply so the
/// write lands in between, every time.
#[test]
fn no_stale_fill_when_a_write_lands_between_read_and_reply() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &["--enable-test-hooks", "yes"]);
    let mut direct = redis.client();
    let mut admin = hc.client();
    let mut reader = hc.client();
    let mut writer = hc.client();
    for (round, through_hotcache) in [(1, true), (2, false)] {
        let key = format!("race{round}");
        assert_eq!(direct.cmd(&["SET", &key, "old"]), b"+OK\r\n");
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", &key]), b"+OK\r\n");
        reader.send(&encode(&["GET", &key]));
        // The read is at Redis and its reply held.
        assert!(
            within(Duration::from_secs(5), || {
                admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", &key]) == b":1\r\n"
            })
            .is_some()
        );
        if through_hotcache {
            assert_eq!(writer.cmd(&["SET", &key, "new"]), b"+OK\r\n");
        } else {
            let before = stat(&mut admin, "invalidations_tracking");
            assert_eq!(direct.cmd(&["SET", &key, "new"]), b"+OK\r\n");
            // The tracking stream has delivered the invalidation.
            assert!(
                within(Duration::from_secs(5), || stat(&mut admin, "invalidations_tracking")
                    > before)
                .is_some()
            );
        }
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", &key]), b":1\r\n");
        // The held read began before the write: the old value is a right answer.
        assert_eq!(reader.read_reply(), bulk("old"));
        // But it was not cached: every later read sees the write.
        for c in [&mut reader, &mut writer, &mut admin] {
            for _ in 0..3 {
                assert_eq!(c.cmd(&["GET", &key]), bulk("new"), "round {round}");
            }
        }
        assert!(stat(&mut admin, "stale_fills_dropped") >= round);
    }
}

/// Rule 4: a write straight to Redis is seen long before the cache TTL (60 s).
#[test]
fn write_straight_to_redis_is_seen_long_before_the_ttl() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &[]);
    let mut c = hc.client();
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "ext", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "ext"]), bulk("1"));
    assert_eq!(c.cmd(&["GET", "ext"]), bulk("1"));
    for i in 2..20 {
        let v = i.to_string();
        assert_eq!(direct.cmd(&["SET", "ext", &v]), b"+OK\r\n");
        let took = within(Duration::from_secs(5), || c.cmd(&["GET", "ext"]) == bulk(&v));
        assert!(took.is_some(), "write {i} straight to Redis not seen within 5 s (TTL is 60 s)");
    }
}

/// Rule 4: killing the tracking connection drops everything before anything is
/// served from it again, so a write made right after is never read stale.
#[test]
fn tracking_connection_killed_then_write_straight_to_redis() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &[]);
    let mut c = hc.client();
    let mut direct = redis.client();
    for round in 0..10 {
        let old = format!("old{round}");
        let new = format!("new{round}");
        assert_eq!(direct.cmd(&["SET", "tk", &old]), b"+OK\r\n");
        // Cached, and served from the cache.
        assert!(
            within(Duration::from_secs(10), || {
                let hits = stat(&mut c, "cache_hits");
                c.cmd(&["GET", "tk"]) == bulk(&old) && stat(&mut c, "cache_hits") > hits
            })
            .is_some()
        );
        let list = direct.cmd_str(&["CLIENT", "LIST"]);
        let id = list
            .lines()
            .find(|l| l.contains("name=hotcache-tracking"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|f| f.strip_prefix("id="))
            .unwrap_or_else(|| panic!("no tracking connection in {list}"))
            .to_string();
        assert_eq!(direct.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
        assert_eq!(direct.cmd(&["SET", "tk", &new]), b"+OK\r\n");
        assert_eq!(
            c.cmd(&["GET", "tk"]),
            bulk(&new),
            "stale read after the tracking connection died"
        );
    }
    assert!(stat(&mut c, "invalidations_reconnect") >= 1);
}

/// A FLUSHALL by another client straight to Redis empties the cache too.
#[test]
fn flushall_by_another_client() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &[]);
    let mut c = hc.client();
    let mut direct = redis.client();
    for i in 0..20 {
        assert_eq!(direct.cmd(&["SET", &format!("f{i}"), "x"]), b"+OK\r\n");
        c.cmd(&["GET", &format!("f{i}")]);
        c.cmd(&["GET", &format!("f{i}")]);
    }
    assert_eq!(direct.cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert!(within(Duration::from_secs(5), || c.cmd(&["GET", "f0"]) == b"$-1\r\n").is_some());
    for i in 0..20 {
        assert_eq!(c.cmd(&["GET", &format!("f{i}")]), b"$-1\r\n");
    }
}

/// Negative caching: a missing key is looked up at Redis once, then answered from
/// the cache, until another client creates it.
#[test]
fn negative_entry_replaced_after_another_clients_set() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &[]);
    let mut c = hc.client();
    let before = stat(&mut c, "cache_negative_hits");
    for _ in 0..50 {
        assert_eq!(c.cmd(&["GET", "nokey"]), b"$-1\r\n");
    }
    assert!(stat(&mut c, "cache_negative_hits") >= before + 49);
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "nokey", "now"]), b"+OK\r\n");
    assert!(within(Duration::from_secs(5), || c.cmd(&["GET", "nokey"]) == bulk("now")).is_some());
}

/// Rule 5 with tracking off: only the TTL bounds staleness; a write straight to
/// Redis is seen once the entry expires, and no later than that.
#[test]
fn ttl_bounds_staleness_with_tracking_off() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &[
            "--cache-mode",
            "all",
            "--cache-tracking",
            "no",
            "--cache-ttl",
            "400",
            "--cache-ttl-jitter",
            "0",
            "--negative-ttl",
            "100",
        ],
    );
    let mut c = hc.client();
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "t", "old"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "t"]), bulk("old"));
    // The fill's read was sent before its reply came back: its entry expires
    // at most the TTL after this moment.
    let filled = Instant::now();
    assert_eq!(direct.cmd(&["SET", "t", "new"]), b"+OK\r\n");
    // Without tracking the cached value is served for a while (this is what
    // tracking prevents) ...
    assert_eq!(c.cmd(&["GET", "t"]), bulk("old"));
    // ... but never after the TTL.
    loop {
        let start = Instant::now();
        let r = c.cmd(&["GET", "t"]);
        if r == bulk("new") {
            break;
        }
        assert!(start.duration_since(filled) < Duration::from_millis(400), "stale past the TTL");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rule 5: an entry never outlives the key's own TTL in Redis.
#[test]
fn entry_never_outlives_the_keys_ttl() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &[]);
    let mut c = hc.client();
    let mut direct = redis.client();
    for round in 0..3 {
        let key = format!("exp{round}");
        assert_eq!(direct.cmd(&["SET", &key, "v", "PX", "300"]), b"+OK\r\n");
        let set = Instant::now();
        assert_eq!(c.cmd(&["GET", &key]), bulk("v"));
        assert_eq!(c.cmd(&["GET", &key]), bulk("v"));
        std::thread::sleep(Duration::from_millis(310).saturating_sub(set.elapsed()));
        assert_eq!(c.cmd(&["GET", &key]), b"$-1\r\n", "served after the key expired");
    }
}

/// Singleflight: 1,000 concurrent GETs of one uncached key, spread over all
/// threads, make exactly one GET at Redis. The fill is held until all have joined,
/// so they are concurrent by construction.
#[test]
fn singleflight_one_upstream_read_for_a_thousand_concurrent_misses() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &["--enable-test-hooks", "yes"]);
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "sf", "value"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let mut admin = hc.client();
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", "sf"]), b"+OK\r\n");
    let joins_before = stat(&mut admin, "singleflight_joins");
    let mut clients: Vec<RawClient> = (0..1000).map(|_| hc.client()).collect();
    for c in &mut clients {
        c.send(&encode(&["GET", "sf"]));
    }
    assert!(
        within(Duration::from_secs(20), || {
            stat(&mut admin, "singleflight_joins") >= joins_before + 999
                && admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", "sf"]) == b":1\r\n"
        })
        .is_some(),
        "not all 1000 GETs joined one read"
    );
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", "sf"]), b":1\r\n");
    for c in &mut clients {
        assert_eq!(c.read_reply(), bulk("value"));
    }
    let stats = direct.cmd_str(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_get:calls=1,"), "{stats}");
}

/// MGET is cached per key and sees writes to any of its keys.
#[test]
fn mget_per_key_and_invalidation() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2"]), b"+OK\r\n");
    let want = b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n".to_vec();
    assert_eq!(c.cmd(&["MGET", "a", "b", "c"]), want);
    let hits = stat(&mut c, "cache_hits");
    assert_eq!(c.cmd(&["MGET", "a", "b", "c"]), want);
    assert_eq!(stat(&mut c, "cache_hits"), hits + 3);
    assert_eq!(c.cmd(&["SET", "b", "two"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["MGET", "a", "b", "c"]), b"*3\r\n$1\r\n1\r\n$3\r\ntwo\r\n$-1\r\n");
    // A hash key: MGET says nil where GET says WRONGTYPE; the two never mix.
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), b":1\r\n");
    assert_eq!(c.cmd(&["MGET", "h"]), b"*1\r\n$-1\r\n");
    assert_eq!(c.cmd(&["MGET", "h"]), b"*1\r\n$-1\r\n");
    assert!(c.cmd_str(&["GET", "h"]).starts_with("-WRONGTYPE"));
}

/// Every write through hotcache drops what it touches: multi-key commands,
/// commands without key positions, scripts, transactions.
#[test]
fn writes_of_every_shape_invalidate() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &[]);
    let mut c = hc.client();
    let warm = |c: &mut RawClient, key: &str, want: &[u8]| {
        assert_eq!(c.cmd(&["GET", key]), want);
        assert_eq!(c.cmd(&["GET", key]), want);
    };
    c.cmd(&["SET", "k1", "a"]);
    warm(&mut c, "k1", &bulk("a"));
    assert_eq!(c.cmd(&["MSET", "k0", "x", "k1", "b"]), b"+OK\r\n");
    warm(&mut c, "k1", &bulk("b"));
    assert_eq!(c.cmd(&["EVAL", "redis.call('SET', 'k1', 'c')", "0"]), b"$-1\r\n");
    warm(&mut c, "k1", &bulk("c"));
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["APPEND", "k1", "d"]), b"+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), b"*1\r\n:2\r\n");
    warm(&mut c, "k1", &bulk("cd"));
    assert_eq!(c.cmd(&["RENAME", "k1", "k2"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k1"]), b"$-1\r\n");
    warm(&mut c, "k2", &bulk("cd"));
    assert_eq!(c.cmd(&["FLUSHDB"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k2"]), b"$-1\r\n");
    assert_eq!(c.cmd(&["HSET", "h", "f", "1"]), b":1\r\n");
    warm(&mut c, "h", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    assert_eq!(c.cmd(&["HGET", "h", "f"]), bulk("1"));
    assert_eq!(c.cmd(&["HGET", "h", "f"]), bulk("1"));
    assert_eq!(c.cmd(&["HINCRBY", "h", "f", "5"]), b":6\r\n");
    assert_eq!(c.cmd(&["HGET", "h", "f"]), bulk("6"));
    assert_eq!(c.cmd(&["EXPIRE", "h", "100"]), b":1\r\n");
    assert_eq!(c.cmd(&["DEL", "h"]), b":1\r\n");
    assert_eq!(c.cmd(&["HGET", "h", "f"]), b"$-1\r\n");
}

/// HOTKEYS lists the hot keys with their rates, in RESP2 and RESP3, in hot mode
/// (where it decides admission) and at the defaults (lfu, where it only reports
/// and protects).
#[test]
fn hotkeys_reports_the_hottest_keys() {
    for mode in ["hot", "lfu"] {
        let redis = RedisServer::start();
        let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", mode]);
        let mut c = hc.client();
        for _ in 0..2000 {
            c.cmd(&["GET", "hottest"]);
        }
        for _ in 0..300 {
            c.cmd(&["GET", "warm"]);
        }
        let r = c.cmd_str(&["HOTKEYS", "COUNT", "2"]);
        assert!(r.starts_with("*2\r\n*2\r\n$7\r\nhottest\r\n:"), "{mode}: {r}");
        assert!(r.contains("$4\r\nwarm\r\n:"), "{mode}: {r}");
        assert!(c.cmd_str(&["HELLO", "3"]).starts_with('%'));
        let r = c.cmd_str(&["HOTKEYS"]);
        assert!(r.starts_with("*") && r.contains("hottest"), "{r}");
        assert_eq!(
            c.cmd(&["HOTKEYS", "COUNT", "0"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        // The hot key was admitted and is served from the cache.
        if mode == "hot" {
            assert!(stat(&mut c, "hot_keys_admitted") >= 1);
        }
        assert!(stat(&mut c, "cache_hits") > 1000, "{mode}");
    }
}

/// CONFIG GET/SET reach hotcache's settings; Redis's stay Redis's.
#[test]
fn config_get_set_cache_settings() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["CONFIG", "GET", "cache-ttl"]), b"*2\r\n$9\r\ncache-ttl\r\n$4\r\n5000\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "cache-ttl", "2000", "hotkey-threshold", "5"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "GET", "cache-ttl"]), b"*2\r\n$9\r\ncache-ttl\r\n$4\r\n2000\r\n");
    assert!(
        c.cmd_str(&["CONFIG", "SET", "cache-ttl", "abc"])
            .starts_with("-ERR CONFIG SET failed (possibly related to argument 'cache-ttl')")
    );
    assert!(
        c.cmd_str(&["CONFIG", "SET", "cache-tracking", "no"])
            .contains("can't set immutable config")
    );
    // Redis's own setting, and a pattern over both.
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxmemory"]), b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    let all = c.cmd_str(&["CONFIG", "GET", "*"]);
    assert!(all.contains("maxmemory-policy") && all.contains("cache-max-memory"), "{all}");
    assert!(c.cmd_str(&["CONFIG", "GET", "hotcache.maxclients"]).contains("10000"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "cache-mode", "off"]), b"+OK\r\n");
    c.cmd(&["SET", "off", "1"]);
    let hits = stat(&mut c, "cache_hits");
    for _ in 0..10 {
        c.cmd(&["GET", "off"]);
    }
    assert_eq!(stat(&mut c, "cache_hits"), hits, "cache-mode off still served from the cache");
}

/// Tracking connections at Redis (CLIENT LIST, named `hotcache-tracking`).
fn tracking_clients(redis: &RedisServer) -> usize {
    redis.client().cmd_str(&["CLIENT", "LIST"]).matches("name=hotcache-tracking").count()
}

/// With `cache-mode off` no tracking connection costs Redis an invalidation per
/// write; switched back on, the streams come back before anything is cached,
/// and a write straight to Redis is seen again.
#[test]
fn cache_mode_off_closes_tracking_and_on_restores_it() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 2, &[]);
    assert_eq!(tracking_clients(&redis), 2, "one tracking connection per thread");
    let mut c = hc.client();
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "hotcache.cache-mode", "off"]), "+OK\r\n");
    assert!(within(Duration::from_secs(10), || tracking_clients(&redis) == 0).is_some());
    assert!(c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:off"));
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "hotcache.cache-mode", "all"]), "+OK\r\n");
    assert!(within(Duration::from_secs(10), || tracking_clients(&redis) == 2).is_some());
    c.cmd(&["SET", "k", "v1"]);
    // Cached once the streams are up.
    assert!(
        within(Duration::from_secs(10), || {
            let before = stat(&mut c, "cache_hits");
            c.cmd(&["GET", "k"]);
            c.cmd(&["GET", "k"]);
            stat(&mut c, "cache_hits") > before
        })
        .is_some(),
        "nothing cached after cache-mode came back on"
    );
    redis.client().cmd(&["SET", "k", "v2"]);
    assert!(
        within(Duration::from_secs(5), || c.cmd(&["GET", "k"]) == bulk("v2")).is_some(),
        "a write straight to Redis was not seen after tracking came back"
    );
}

/// hotcache at its default cache mode with a short `cache-ttl` (no jitter),
/// waiting until a read of `key` (set straight in Redis to `value`) is a hit.
fn refreshing(redis: &RedisServer, ttl_ms: &str, extra: &[&str], key: &str) -> Hotcache {
    let mut args =
        vec!["--cache-ttl", ttl_ms, "--cache-ttl-jitter", "0", "--hotkey-threshold", "1"];
    args.extend_from_slice(extra);
    let hc = Hotcache::in_front_of(redis, 1, &args);
    let mut c = hc.client();
    assert!(
        within(Duration::from_secs(10), || {
            let before = stat(&mut c, "cache_hits");
            c.cmd(&["GET", key]);
            stat(&mut c, "cache_hits") > before
        })
        .is_some(),
        "the cache never started answering"
    );
    hc
}

/// Refresh-ahead: a hot key read continuously over several `cache-ttl`s never
/// misses once warm; what reaches Redis is the refreshes, no more.
#[test]
fn refresh_ahead_a_hot_key_never_misses() {
    let redis = RedisServer::start();
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "hot", "v"]), b"+OK\r\n");
    let hc = refreshing(&redis, "1500", &[], "hot");
    let mut c = hc.client();
    let mut admin = hc.client();
    let misses = stat(&mut admin, "cache_misses");
    let refreshes = stat(&mut admin, "cache_refreshes");
    let gets = calls(&direct.cmd_str(&["INFO", "commandstats"]), "get");
    // Four lives of the entry, read all along.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(6000) {
        assert_eq!(c.cmd(&["GET", "hot"]), bulk("v"));
    }
    let refreshed = stat(&mut admin, "cache_refreshes") - refreshes;
    assert_eq!(stat(&mut admin, "cache_misses"), misses, "a hot key missed");
    assert!(refreshed >= 3, "only {refreshed} refreshes over four TTLs");
    let reached = calls(&direct.cmd_str(&["INFO", "commandstats"]), "get") - gets;
    assert!(reached <= refreshed, "{reached} GETs reached Redis for {refreshed} refreshes");
}

/// Refresh-ahead keeps the no-stale-fill rule and read-your-writes: a
/// refresh whose read reached Redis before a write (through hotcache, then
/// straight to Redis) and is answered after it is never installed, and while it
/// is in flight the entry is still answered and no second refresh starts.
#[test]
fn refresh_ahead_never_overwrites_a_newer_write() {
    let redis = RedisServer::start();
    let mut direct = redis.client();
    // Written before hotcache starts: no invalidation of them can arrive late
    // and drop their entries while a fill is held.
    for k in ["warm", "rk1", "rk2"] {
        assert_eq!(direct.cmd(&["SET", k, "old"]), b"+OK\r\n");
    }
    let hc = refreshing(&redis, "8000", &["--enable-test-hooks", "yes"], "warm");
    let mut admin = hc.client();
    let mut reader = hc.client();
    let mut writer = hc.client();
    for (round, through_hotcache) in [(1, true), (2, false)] {
        // A key hotcache has not read yet.
        let key = format!("rk{round}");
        assert_eq!(reader.cmd(&["GET", &key]), bulk("old"));
        let refreshes = stat(&mut admin, "cache_refreshes");
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", &key]), b"+OK\r\n");
        // Hits until one starts the refresh, whose reply is then held.
        assert!(
            within(Duration::from_secs(15), || {
                assert_eq!(reader.cmd(&["GET", &key]), bulk("old"));
                admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", &key]) == b":1\r\n"
            })
            .is_some(),
            "no refresh started (round {round})"
        );
        // Still answered from the entry, and one refresh only.
        for _ in 0..20 {
            assert_eq!(reader.cmd(&["GET", &key]), bulk("old"));
        }
        assert_eq!(stat(&mut admin, "cache_refreshes"), refreshes + 1, "round {round}");
        let dropped = stat(&mut admin, "stale_fills_dropped");
        if through_hotcache {
            assert_eq!(writer.cmd(&["SET", &key, "new"]), b"+OK\r\n");
        } else {
            let before = stat(&mut admin, "invalidations_tracking");
            assert_eq!(direct.cmd(&["SET", &key, "new"]), b"+OK\r\n");
            assert!(
                within(Duration::from_secs(5), || stat(&mut admin, "invalidations_tracking")
                    > before)
                .is_some()
            );
        }
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", &key]), b":1\r\n");
        // The refresh's old value arrived after the write and was dropped.
        assert!(
            within(Duration::from_secs(5), || stat(&mut admin, "stale_fills_dropped") > dropped)
                .is_some(),
            "the refresh was not dropped (round {round})"
        );
        for c in [&mut reader, &mut writer, &mut admin] {
            for _ in 0..3 {
                assert_eq!(c.cmd(&["GET", &key]), bulk("new"), "round {round}");
            }
        }
    }
}

/// The forms of write commands that only read (GEORADIUS without STORE, SORT
/// without STORE) invalidate nothing: they do not empty everyone's cache.
/// With STORE they invalidate the key they write before their reply (rule 2;
/// tracking off, so only hotcache's own invalidation can make the read fresh).
#[test]
fn read_only_forms_of_write_commands_keep_the_cache() {
    let redis = RedisServer::start();
    let hc = caching_all(&redis, 1, &["--cache-tracking", "no"]);
    let mut c = hc.client();
    let mut direct = redis.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GEOADD", "g", "13.361389", "38.115556", "a"]), b":1\r\n");
    assert_eq!(c.cmd(&["RPUSH", "l", "3", "1", "2"]), b":3\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    let gets = calls(&direct.cmd_str(&["INFO", "commandstats"]), "get");
    assert_eq!(c.cmd(&["GEORADIUS", "g", "13", "38", "200", "km"]), b"*1\r\n$1\r\na\r\n");
    assert_eq!(c.cmd(&["SORT", "l"]), b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    let by = ["SORT", "l", "BY", "nosort", "GET", "#"];
    assert_eq!(c.cmd(&by), direct.cmd(&by));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    let after = calls(&direct.cmd_str(&["INFO", "commandstats"]), "get");
    assert_eq!(after, gets, "GET k went to Redis again: the cache was emptied");
    // With STORE, the key written is fresh at once.
    for (store, dest) in [
        (&["SORT", "l", "STORE", "d"][..], "d"),
        (&["SORT", "l", "GET", "#", "STORE", "e"], "e"),
        (&["GEORADIUS", "g", "13", "38", "200", "km", "STORE", "z"], "z"),
    ] {
        assert_eq!(c.cmd(&["SET", dest, "old"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["GET", dest]), bulk("old"));
        assert_eq!(c.cmd(&["GET", dest]), bulk("old"));
        assert!(c.cmd(store).starts_with(b":"), "{store:?}");
        assert!(c.cmd(&["GET", dest]).starts_with(b"-WRONGTYPE"), "{store:?}: stale {dest}");
    }
}
