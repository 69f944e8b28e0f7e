//! SWAPDB: through hotcache, nothing from before the swap is served after its
//! reply; made elsewhere (straight to Redis, or through another hotcache),
//! Redis sends no invalidation (7.0 and Valkey 8.1 alike), so `cache-ttl`
//! bounds how long the old value can be served: the documented bound.

use std::time::{Duration, Instant};

use crate::cluster_common::info_value;
use crate::common::{Hotcache, RawClient, RedisServer};

/// Cache hits so far.
fn hits(c: &mut RawClient) -> u64 {
    let info = c.cmd_str(&["INFO", "hotcache"]);
    info_value(&info, "cache_hits").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `k` is "db0" in db 0 and "db1" in db 1.
fn two_dbs(redis: &RedisServer) {
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "k", "db0"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "k", "db1"]), b"+OK\r\n");
}

/// Reads `k` through `clients` until each has been served "db0" from the
/// cache (so a stale reply is there to be served).
fn cache_db0(clients: &mut [RawClient]) {
    for c in clients.iter_mut() {
        let before = hits(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        while hits(c) == before {
            assert_eq!(c.cmd(&["GET", "k"]), b"$3\r\ndb0\r\n");
            assert!(Instant::now() < deadline, "never served from the cache");
        }
    }
}

/// Every way of sending SWAPDB through hotcache: the next read sees the swap.
#[test]
fn swapdb_through_hotcache_is_never_served_from_before() {
    let redis = RedisServer::start();
    // A long TTL: only the invalidation can make the next read right.
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all", "--cache-ttl", "60000"]);
    let mut clients: Vec<RawClient> = (0..4).map(|_| hc.client()).collect();
    let script = "return redis.call('swapdb', 0, 1)";
    let ways: &[&[&[&str]]] = &[
        &[&["SWAPDB", "0", "1"]],
        &[&["MULTI"], &["SWAPDB", "1", "0"], &["EXEC"]],
        &[&["EVAL", script, "0"]],
        // From a client on another db (its own connection).
        &[&["SELECT", "1"], &["SWAPDB", "0", "1"], &["SELECT", "0"]],
    ];
    for way in ways {
        two_dbs(&redis);
        cache_db0(&mut clients);
        let (first, rest) = clients.split_at_mut(1);
        for cmd in *way {
            let reply = first[0].cmd_str(cmd);
            assert!(!reply.starts_with('-'), "{cmd:?}: {reply}");
        }
        // At once, on every client (every thread), pipelined after it too.
        assert_eq!(first[0].cmd(&["GET", "k"]), b"$3\r\ndb1\r\n", "{way:?}");
        for c in rest.iter_mut() {
            assert_eq!(c.cmd(&["GET", "k"]), b"$3\r\ndb1\r\n", "{way:?}");
        }
    }
}

/// Reads `k` through `c` until it is "db1"; how long that took.
fn until_db1(c: &mut RawClient, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let reply = c.cmd(&["GET", "k"]);
        if reply == b"$3\r\ndb1\r\n" {
            return start.elapsed();
        }
        assert_eq!(reply, b"$3\r\ndb0\r\n");
        assert!(start.elapsed() < limit, "still the value from before the swap");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SWAPDB made elsewhere is seen within `cache-ttl` (the bound README and
/// docs/operating.md state): straight to Redis, and through another hotcache.
#[test]
fn swapdb_elsewhere_is_bounded_by_cache_ttl() {
    let redis = RedisServer::start();
    let ttl = 400;
    let args = ["--cache-mode", "all", "--cache-ttl", "400", "--negative-ttl", "100"];
    let hc = Hotcache::in_front_of(&redis, 1, &args);
    let other = Hotcache::in_front_of(&redis, 1, &args);
    let mut c = hc.client();
    // The bound, with room for a loaded machine (the TTL counts from the
    // fill's read, so it can only be shorter).
    let limit = Duration::from_millis(ttl) + Duration::from_secs(3);

    two_dbs(&redis);
    cache_db0(std::slice::from_mut(&mut c));
    assert_eq!(redis.client().cmd(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    let took = until_db1(&mut c, limit);
    eprintln!("SWAPDB straight to Redis seen after {took:?}");

    two_dbs(&redis);
    cache_db0(std::slice::from_mut(&mut c));
    assert_eq!(other.client().cmd(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    let took = until_db1(&mut c, limit);
    eprintln!("SWAPDB through another hotcache seen after {took:?}");
}
