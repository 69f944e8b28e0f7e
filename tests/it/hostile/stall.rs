//! A stopped Redis (SIGSTOP: it accepts connections and answers nothing) is
//! found by the stall check, not by waiting out `upstream-timeout`: requests
//! fail with an error that says so, new ones fail at once, and once Redis is
//! back they succeed again, with no acknowledged write lost.

use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, encode};

/// The integer of a `:n` reply.
fn int(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?).ok()?.parse().ok()
}

#[test]
fn a_stopped_redis_is_found_by_the_stall_check() {
    let redis = RedisServer::start();
    // upstream-timeout far away: only the stall check can answer in time.
    let hc = Hotcache::in_front_of(
        &redis,
        2,
        &["--upstream-timeout", "60000", "--upstream-stall-timeout", "300"],
    );
    let mut c = hc.client();
    c.set_timeout(Duration::from_secs(30));
    let mut acked = 0;
    for _ in 0..100 {
        acked = int(&c.cmd(&["INCR", "n"])).expect("INCR answered");
    }
    redis.signal("STOP");
    // A write and a read sent while Redis is stopped: errors that name the
    // stall, long before upstream-timeout.
    c.send(&encode(&["INCR", "n"]));
    c.send(&encode(&["GET", "n"]));
    for _ in 0..2 {
        let r = String::from_utf8_lossy(&c.read_reply()).into_owned();
        assert!(r.starts_with("-ERR upstream 127.0.0.1:"), "{r}");
        assert!(
            r.contains("no answer to PING within 300 ms") || r.contains("circuit breaker open"),
            "{r}"
        );
    }
    // While stopped, new requests fail at once (the breaker is open).
    let r = c.cmd_str(&["GET", "n"]);
    assert!(r.contains("circuit breaker open"), "{r}");
    redis.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(20);
    let value = loop {
        if let Some(v) = int(&c.cmd(&["INCR", "n"])) {
            break v;
        }
        assert!(Instant::now() < deadline, "Redis never came back through hotcache");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Every INCR acknowledged before is in; the one that failed may or may
    // not have run (it was never acknowledged).
    assert!(value > acked, "{value} after {acked} acknowledged");
    let want = value.to_string();
    let mut direct = RawClient::connect(redis.port);
    assert_eq!(direct.cmd_str(&["GET", "n"]), format!("${}\r\n{want}\r\n", want.len()));
}

/// A command known to hold Redis for long, sent through hotcache (here DEBUG
/// SLEEP), is Redis busy, not a stall: the requests behind it wait for it and
/// are answered, and the breaker stays closed.
#[test]
fn a_long_command_through_hotcache_is_not_a_stall() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let hc = Hotcache::in_front_of(&redis, 1, &["--upstream-stall-timeout", "200"]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(b.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    // Wait until Redis is inside the sleep (it answers nobody then). On a
    // loaded machine the sleep may be over before this thread looks: then
    // take its reply and sleep Redis again.
    let mut asleep = false;
    for _attempt in 0..5 {
        a.send(&encode(&["DEBUG", "SLEEP", "1.5"]));
        let mut direct = RawClient::connect(redis.port);
        direct.set_timeout(Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_millis(1500);
        while !asleep && Instant::now() < deadline {
            asleep = direct.try_cmd(&["PING"]).is_err();
            std::thread::sleep(Duration::from_millis(5));
        }
        if asleep {
            break;
        }
        assert_eq!(a.read_reply(), b"+OK\r\n");
    }
    assert!(asleep, "Redis never seen inside DEBUG SLEEP in 5 tries");
    assert_eq!(b.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(a.read_reply(), b"+OK\r\n");
    let info = b.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("breaker_opens:0"), "{info}");
}

/// A command whose cost grows with the data (here a SORT of two million
/// elements, about a second of Redis's time) is Redis busy, not a stall, as
/// a long command is: it and a read behind it are answered, and the breaker
/// stays closed (it opened: one client's big SORT failed everyone's
/// requests, rule 10). upstream-timeout still bounds it.
#[test]
fn a_slow_command_is_not_a_stall() {
    let redis = RedisServer::start();
    let mut direct = RawClient::connect(redis.port);
    direct.set_timeout(Duration::from_secs(60));
    let fill = "for i = 1, 2000000 do redis.call('RPUSH', KEYS[1], i) end";
    assert_eq!(direct.cmd(&["EVAL", fill, "1", "big"]), b"$-1\r\n");
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--upstream-stall-timeout", "200", "--upstream-timeout", "60000"],
    );
    let mut a = hc.client();
    let mut b = hc.client();
    a.set_timeout(Duration::from_secs(60));
    b.set_timeout(Duration::from_secs(60));
    assert_eq!(b.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let sort = encode(&["SORT", "big", "ALPHA", "LIMIT", "0", "1"]);
    // Wait until Redis is inside the SORT (it answers nobody then); if it
    // is over before this thread looks, take its reply and sort again.
    let mut busy = false;
    for _attempt in 0..5 {
        a.send(&sort);
        let mut probe = RawClient::connect(redis.port);
        probe.set_timeout(Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_millis(1000);
        while !busy && Instant::now() < deadline {
            busy = probe.try_cmd(&["PING"]).is_err();
            std::thread::sleep(Duration::from_millis(5));
        }
        if busy {
            break;
        }
        assert_eq!(a.read_reply(), b"*1\r\n$1\r\n1\r\n");
    }
    assert!(busy, "Redis never seen inside the SORT in 5 tries");
    assert_eq!(b.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(a.read_reply(), b"*1\r\n$1\r\n1\r\n");
    let info = b.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("breaker_opens:0"), "{info}");
}
