//! A request of a million arguments is one request: answered whole and right,
//! without per-key work that would hold the thread (and every other client of
//! it) for a second.

use std::io::Write;

use super::stat;
use crate::common::{Hotcache, RawClient, RedisServer};

/// An MGET of `n` keys `k0 .. k{n-1}`, encoded.
fn mget(n: usize) -> Vec<u8> {
    let mut out = format!("*{}\r\n$4\r\nMGET\r\n", n + 1).into_bytes();
    for i in 0..n {
        let k = format!("k{i}");
        write!(out, "${}\r\n{k}\r\n", k.len()).expect("encode");
    }
    out
}

#[test]
fn a_million_key_mget_is_answered_whole_without_per_key_work() {
    let redis = RedisServer::start();
    let mut direct = redis.client();
    for chunk in 0..10 {
        let mut args = vec!["MSET".to_string()];
        for i in (chunk * 100_000..(chunk + 1) * 100_000).step_by(10) {
            args.push(format!("k{i}"));
            args.push(format!("v{i}"));
        }
        assert_eq!(direct.cmd(&args), b"+OK\r\n");
    }
    // Every read cacheable and cached: per-key work would show as misses.
    let hc = Hotcache::in_front_of(&redis, 1, &["--cache-mode", "all"]);
    let mut c = hc.client();
    let request = mget(1_000_000);
    c.send(&request);
    let through = c.read_reply();
    direct.send(&request);
    assert_eq!(through, direct.read_reply());
    assert!(through.starts_with(b"*1000000\r\n"));
    assert_eq!(stat(&mut c, "cache_misses"), 0, "no per-key lookups for a huge MGET");
    // A small one still goes key by key (and is cached).
    let small = mget(10);
    c.send(&small);
    let reply = c.read_reply();
    assert!(reply.starts_with(b"*10\r\n$2\r\nv0\r\n"));
    assert_eq!(stat(&mut c, "cache_misses"), 10);
    let mut again = RawClient::connect(hc.port);
    again.send(&small);
    assert_eq!(again.read_reply(), reply);
    assert_eq!(stat(&mut c, "cache_hits"), 10);
}
