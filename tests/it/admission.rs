//! The tier at its defaults (`cache-mode lfu`): every cacheable read is a
//! candidate, concurrent identical reads share one upstream read whether or not
//! they are cached, and the guards (too big, write-hot, admission when full)
//! hold and are counted. Each test fails if its rule breaks.

use std::time::Duration;

use crate::cache::{calls, info_field};
use crate::common::{Hotcache, RawClient, RedisServer, encode, holds_within};

fn stat(c: &mut RawClient, field: &str) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), field)
}

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// hotcache at its defaults (plus `extra`), once its cache answers: fills are
/// cached only once the tracking stream is up.
fn defaults(redis: &RedisServer, threads: usize, extra: &[&str]) -> Hotcache {
    let hc = Hotcache::in_front_of(redis, threads, extra);
    let mut c = hc.client();
    assert!(
        holds_within(Duration::from_secs(10), || {
            c.cmd(&["SET", "__probe", "1"]);
            c.cmd(&["GET", "__probe"]);
            c.cmd(&["GET", "__probe"]);
            stat(&mut c, "cache_hits") > 0
        }),
        "the cache never started answering"
    );
    hc
}

/// Sets `key` straight at Redis and waits until every one of hotcache's
/// `threads` tracking streams has applied the invalidation: a read started
/// before that would be stamped before it and, rightly, joined by no later
/// reader, which would make the counts below depend on timing.
fn set_settled(direct: &mut RawClient, admin: &mut RawClient, key: &str, val: &str, threads: u64) {
    let before = stat(admin, "invalidations_tracking");
    assert_eq!(direct.cmd(&["SET", key, val]), b"+OK\r\n");
    assert!(
        holds_within(Duration::from_secs(10), || stat(admin, "invalidations_tracking")
            >= before + threads),
        "the tracking streams never delivered the invalidation of {key}"
    );
}

fn upstream_gets(direct: &mut RawClient) -> u64 {
    calls(&direct.cmd_str(&["INFO", "commandstats"]), "get")
}

/// The flash-sale moment at defaults: 300 clients GET one key nobody read
/// before, at once (the fill is held at Redis's reply until all have joined, so
/// they are concurrent by construction). Redis sees one GET, counted by Redis
/// itself, every client gets the value, and later reads are hits.
#[test]
fn three_hundred_cold_readers_make_one_upstream_get() {
    let redis = RedisServer::start();
    let hc = defaults(&redis, 2, &["--enable-test-hooks", "yes"]);
    let mut direct = redis.client();
    let mut admin = hc.client();
    set_settled(&mut direct, &mut admin, "flash", "sale", 2);
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", "flash"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let joins_before = stat(&mut admin, "singleflight_joins");
    let mut clients: Vec<RawClient> = (0..300).map(|_| hc.client()).collect();
    for c in &mut clients {
        c.send(&encode(&["GET", "flash"]));
    }
    assert!(
        holds_within(Duration::from_secs(20), || {
            stat(&mut admin, "singleflight_joins") >= joins_before + 299
                && admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", "flash"]) == b":1\r\n"
        }),
        "not all 300 GETs joined one read: {} joins, {:?} held",
        stat(&mut admin, "singleflight_joins") - joins_before,
        String::from_utf8_lossy(&admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", "flash"]))
    );
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", "flash"]), b":1\r\n");
    for c in &mut clients {
        assert_eq!(c.read_reply(), bulk("sale"));
    }
    assert_eq!(upstream_gets(&mut direct), 1);
    // Admitted at defaults: the next reads do not reach Redis.
    for c in clients.iter_mut().take(20) {
        assert_eq!(c.cmd(&["GET", "flash"]), bulk("sale"));
    }
    assert_eq!(upstream_gets(&mut direct), 1);
}

/// A reply larger than cache-max-entry-size is never cached, but concurrent
/// reads of it still share one upstream read; the skip is counted.
#[test]
fn too_big_to_cache_is_still_coalesced() {
    let redis = RedisServer::start();
    let hc = defaults(&redis, 2, &["--enable-test-hooks", "yes", "--cache-max-entry-size", "100"]);
    let mut direct = redis.client();
    let big = "b".repeat(1000);
    let mut admin = hc.client();
    set_settled(&mut direct, &mut admin, "big", &big, 2);
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", "big"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let skipped = stat(&mut admin, "cache_skipped_too_big");
    let joins_before = stat(&mut admin, "singleflight_joins");
    let mut clients: Vec<RawClient> = (0..50).map(|_| hc.client()).collect();
    for c in &mut clients {
        c.send(&encode(&["GET", "big"]));
    }
    assert!(
        holds_within(Duration::from_secs(20), || {
            stat(&mut admin, "singleflight_joins") >= joins_before + 49
                && admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", "big"]) == b":1\r\n"
        }),
        "not all 50 GETs joined one read: {} joins, {:?} held",
        stat(&mut admin, "singleflight_joins") - joins_before,
        String::from_utf8_lossy(&admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", "big"]))
    );
    assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", "big"]), b":1\r\n");
    for c in &mut clients {
        assert_eq!(c.read_reply(), bulk(&big));
    }
    assert_eq!(upstream_gets(&mut direct), 1);
    assert!(stat(&mut admin, "cache_skipped_too_big") > skipped);
    // Not cached: the next read goes to Redis.
    assert_eq!(clients[0].cmd(&["GET", "big"]), bulk(&big));
    assert_eq!(upstream_gets(&mut direct), 2);
}

/// Read-your-writes for joined readers: a read sent after a write has been
/// answered never joins a read of the same key sent before the write.
///
/// 1. Another client's read of the key is at Redis, its reply held. This client
///    writes the key (answered), then reads it: the read must start a read of
///    its own (two reads held, not one) and see the write.
/// 2. This client pipelines GET, SET, GET while its first GET's read is held:
///    the replies come in order, and the last GET sees the SET.
#[test]
fn a_read_after_a_write_never_joins_a_read_from_before_it() {
    let redis = RedisServer::start();
    let hc = defaults(&redis, 2, &["--enable-test-hooks", "yes"]);
    let mut direct = redis.client();
    let mut admin = hc.client();
    let mut other = hc.client();
    let mut me = hc.client();
    let held = |admin: &mut RawClient, key: &str, n: &[u8]| {
        holds_within(Duration::from_secs(5), || {
            admin.cmd(&["HOTCACHE.DEBUG", "HELDFILLS", key]) == n
        })
    };
    for round in 0..3 {
        let key = format!("ryw{round}");
        set_settled(&mut direct, &mut admin, &key, "old", 2);
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", &key]), b"+OK\r\n");
        other.send(&encode(&["GET", &key]));
        assert!(held(&mut admin, &key, b":1\r\n"), "round {round}: the first read never held");
        assert_eq!(me.cmd(&["SET", &key, "new"]), b"+OK\r\n");
        me.send(&encode(&["GET", &key]));
        assert!(
            held(&mut admin, &key, b":2\r\n"),
            "round {round}: the read after the write joined the read from before it"
        );
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", &key]), b":2\r\n");
        assert_eq!(other.read_reply(), bulk("old"));
        assert_eq!(me.read_reply(), bulk("new"), "round {round}");

        let key = format!("ryw-pipe{round}");
        set_settled(&mut direct, &mut admin, &key, "old", 2);
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "HOLDFILL", &key]), b"+OK\r\n");
        other.send(&encode(&["GET", &key]));
        assert!(held(&mut admin, &key, b":1\r\n"), "round {round}: the first read never held");
        let joins = stat(&mut admin, "singleflight_joins");
        let mut pipeline = encode(&["GET", &key]);
        pipeline.extend_from_slice(&encode(&["SET", &key, "new"]));
        pipeline.extend_from_slice(&encode(&["GET", &key]));
        me.send(&pipeline);
        // This client's first GET joins the held read (it is concurrent with it).
        assert!(
            holds_within(Duration::from_secs(5), || stat(&mut admin, "singleflight_joins") > joins),
            "round {round}: nothing joined"
        );
        assert_eq!(admin.cmd(&["HOTCACHE.DEBUG", "RELEASEFILL", &key]), b":1\r\n");
        assert_eq!(other.read_reply(), bulk("old"));
        assert_eq!(me.read_reply(), bulk("old"), "round {round}");
        assert_eq!(me.read_reply(), b"+OK\r\n");
        assert_eq!(me.read_reply(), bulk("new"), "round {round}");
        // And nothing older is served afterwards, to anyone.
        for c in [&mut me, &mut other, &mut admin] {
            assert_eq!(c.cmd(&["GET", &key]), bulk("new"));
        }
    }
}

/// A key written more often than it is read is not cached (each fill would be
/// dropped by the next write); a key read more than written is. Both counted.
#[test]
fn write_hot_keys_are_not_cached() {
    let redis = RedisServer::start();
    let hc = defaults(&redis, 1, &[]);
    let mut c = hc.client();
    let skipped = stat(&mut c, "cache_skipped_write_hot");
    for i in 0..20 {
        let v = i.to_string();
        assert_eq!(c.cmd(&["SET", "counter", &v]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SET", "counter", &v]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SET", "counter", &v]), b"+OK\r\n");
        assert_eq!(c.cmd(&["GET", "counter"]), bulk(&v));
    }
    // Counts saturate at 16: by then reads catch up with writes.
    assert!(stat(&mut c, "cache_skipped_write_hot") >= skipped + 10);
    // Read-mostly: cached, and its hits answered without Redis.
    let mut direct = redis.client();
    assert_eq!(c.cmd(&["SET", "profile", "x"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "profile"]), bulk("x"));
    let before = upstream_gets(&mut direct);
    for _ in 0..20 {
        assert_eq!(c.cmd(&["GET", "profile"]), bulk("x"));
    }
    assert_eq!(upstream_gets(&mut direct), before);
}

/// With the memory full, keys read once are turned away (counted) and a key
/// read often stays cached while a thousand others pass through. A TTL longer
/// than the test: 6,000 round trips of a debug build on a loaded machine took
/// past the default 5 s, and the frequent key's refill (or its refresh-ahead)
/// then looked like an eviction.
#[test]
fn when_full_frequency_decides_and_the_frequent_key_stays() {
    let redis = RedisServer::start();
    let hc = defaults(&redis, 1, &["--cache-max-memory", "20000", "--cache-ttl", "600000"]);
    let mut c = hc.client();
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "fav", "v"]), b"+OK\r\n");
    let mut pipeline = Vec::new();
    for i in 0..2000 {
        pipeline.extend_from_slice(&encode(&["SET", &format!("once:{i}"), "v"]));
    }
    direct.send(&pipeline);
    for _ in 0..2000 {
        assert_eq!(direct.read_reply(), b"+OK\r\n");
    }
    for _ in 0..10 {
        assert_eq!(c.cmd(&["GET", "fav"]), bulk("v"));
    }
    let rejected = stat(&mut c, "cache_admission_rejected");
    for round in 0..3 {
        for i in 0..2000 {
            assert_eq!(c.cmd(&["GET", &format!("once:{i}")]), bulk("v"));
            if i % 50 == 0 {
                assert_eq!(c.cmd(&["GET", "fav"]), bulk("v"), "round {round}");
            }
        }
    }
    assert!(stat(&mut c, "cache_admission_rejected") > rejected);
    assert!(stat(&mut c, "cache_bytes") <= 20000);
    let before = upstream_gets(&mut direct);
    for _ in 0..10 {
        assert_eq!(c.cmd(&["GET", "fav"]), bulk("v"));
    }
    assert_eq!(upstream_gets(&mut direct), before, "the frequent key was evicted");
}
