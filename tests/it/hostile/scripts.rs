//! A script that runs until killed holds up its own client only: SCRIPT KILL
//! reaches Redis at once, others hear BUSY as they would from Redis, and a
//! connection opened while Redis is busy waits instead of failing.

use std::time::{Duration, Instant};

use super::stat;
use crate::common::{Hotcache, RawClient, RedisServer, encode};

/// Waits until Redis, asked directly, answers BUSY: the script runs and Redis
/// is past its busy-reply-threshold.
pub fn wait_busy(redis: &RedisServer) {
    let mut direct = redis.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !direct.cmd(&["PING"]).starts_with(b"-BUSY") {
        assert!(Instant::now() < deadline, "the script never made Redis busy");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `c` with `args` until the reply is `want`.
fn wait_reply(c: &mut RawClient, args: &[&str], want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = c.cmd(args);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{args:?}: {}", String::from_utf8_lossy(&got));
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn script_kill_reaches_redis_and_others_hear_busy() {
    let redis = RedisServer::start_with(&["--busy-reply-threshold", "50"]);
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(b.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    for round in 0..5 {
        a.send(&encode(&["EVAL", "while true do end", "0"]));
        wait_busy(&redis);
        // What Redis answers while busy, PING included: no PONG from hotcache.
        assert!(b.cmd(&["PING"]).starts_with(b"-BUSY"), "round {round}");
        assert!(b.cmd(&["GET", "k"]).starts_with(b"-BUSY"), "round {round}");
        assert_eq!(b.cmd(&["SCRIPT", "KILL"]), b"+OK\r\n", "round {round}");
        let killed = a.read_reply();
        assert!(
            String::from_utf8_lossy(&killed).contains("Script killed by user"),
            "round {round}: {}",
            String::from_utf8_lossy(&killed)
        );
        wait_reply(&mut b, &["PING"], b"+PONG\r\n");
        assert_eq!(a.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    }
    // Nothing of it counted as the upstream failing.
    assert_eq!(stat(&mut b, "upstream_connection_errors"), 0);
    assert_eq!(stat(&mut b, "breaker_opens"), 0);
}

#[test]
fn function_kill_reaches_redis() {
    let redis = RedisServer::start_with(&["--busy-reply-threshold", "50"]);
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    let lib = "#!lua name=spin\nredis.register_function{function_name='spin', \
               callback=function() while true do end end, flags={'no-writes'}}";
    assert_eq!(b.cmd(&["FUNCTION", "LOAD", lib]), b"$4\r\nspin\r\n");
    a.send(&encode(&["FCALL", "spin", "0"]));
    wait_busy(&redis);
    assert!(b.cmd(&["PING"]).starts_with(b"-BUSY"));
    assert_eq!(b.cmd(&["FUNCTION", "KILL"]), b"+OK\r\n");
    assert!(String::from_utf8_lossy(&a.read_reply()).contains("Script killed by user"));
    wait_reply(&mut b, &["PING"], b"+PONG\r\n");
}

/// A connection made while Redis is busy (here hotcache's very first, to db 1)
/// meets BUSY at SELECT: it waits and tries again, and the command queued on
/// it runs once the script is gone, instead of failing.
#[test]
fn a_handshake_that_meets_busy_waits() {
    let redis = RedisServer::start_with(&["--busy-reply-threshold", "50"]);
    let mut direct = redis.client();
    direct.send(&encode(&["EVAL", "while true do end", "0"]));
    wait_busy(&redis);
    let url = format!("{}/1", redis.url());
    let hc = Hotcache::start(&["--upstream", &url, "--threads", "1"]);
    let mut c = hc.client();
    c.send(&encode(&["SET", "k", "in-db-1"]));
    let mut check = hc.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat(&mut check, "upstream_handshake_busy") == 0 {
        assert!(Instant::now() < deadline, "the handshake never met BUSY");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(redis.client().cmd(&["SCRIPT", "KILL"]), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let mut db1 = redis.client();
    assert_eq!(db1.cmd(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(db1.cmd(&["GET", "k"]), b"$7\r\nin-db-1\r\n");
}

/// SCRIPT KILL goes to Redis on a connection of its own; a client that
/// pipelines thousands of them has them sent one at a time on one pooled
/// connection, not a new connection to Redis each.
#[test]
fn a_pipeline_of_script_kills_opens_one_connection_at_a_time() {
    let redis = RedisServer::start();
    // No connection of hotcache's own may open meanwhile (a tracking stream
    // reconnecting, a stall check): only those SCRIPT KILLs take.
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--cache-tracking", "no", "--upstream-stall-timeout", "0"],
    );
    let mut c = hc.client();
    let received = |redis: &RedisServer| {
        let info = redis.client().cmd_str(&["INFO", "stats"]);
        crate::cache::info_field(&info, "total_connections_received")
    };
    let notbusy = redis.client().cmd(&["SCRIPT", "KILL"]);
    assert!(notbusy.starts_with(b"-NOTBUSY"), "{}", String::from_utf8_lossy(&notbusy));
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), notbusy);
    let before = received(&redis);
    let n = 2000;
    c.send(&encode(&["SCRIPT", "KILL"]).repeat(n));
    for i in 0..n {
        assert_eq!(c.read_reply(), notbusy, "reply {i}");
    }
    // The INFO clients of `received` count themselves: one each.
    let opened = received(&redis) - before - 1;
    assert!(opened <= 2, "{opened} connections opened for {n} SCRIPT KILLs");
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
}
