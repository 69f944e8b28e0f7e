//! A client that pipelines while Redis is slow fills the shared upstream
//! connection (`upstream-max-inflight`) with its own requests. Shedding past
//! the limit refuses that client's requests, not those of a client with
//! little in flight: those were refused too, one client's pipeline failed
//! everyone's reads (rule 10).

use std::time::Duration;

use crate::cache::info_field;
use crate::common::{Hotcache, RedisServer, encode};
use crate::faults::wait_until;

#[test]
fn a_client_filling_the_shared_connection_is_shed_alone() {
    let redis = RedisServer::start();
    // Redis is stopped on purpose: the stall check off and upstream-timeout
    // far away, only the shedding is at work. One upstream connection, so
    // both clients share it.
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &[
            "--upstream-max-inflight",
            "1000",
            "--upstream-connections",
            "1",
            "--upstream-stall-timeout",
            "0",
            "--upstream-timeout",
            "120000",
        ],
    );
    let mut greedy = hc.client();
    let mut polite = hc.client();
    greedy.set_timeout(Duration::from_secs(60));
    polite.set_timeout(Duration::from_secs(60));
    // The shared connection is up (each key read once: never cached).
    assert_eq!(greedy.cmd(&["GET", "warm:g"]), b"$-1\r\n");
    assert_eq!(polite.cmd(&["GET", "warm:p"]), b"$-1\r\n");

    redis.signal("STOP");
    let n = 3000;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend(encode(&["GET", &format!("g:{i}")]));
    }
    greedy.send(&batch);
    // The connection is full: the greedy client's requests past the limit
    // were refused.
    let mut admin = hc.client();
    wait_until(Duration::from_secs(20), "the greedy client shed", || {
        info_field(&admin.cmd_str(&["INFO", "hotcache"]), "upstream_shed") > 0
    });
    let mut reads = Vec::new();
    for i in 0..10 {
        reads.extend(encode(&["GET", &format!("p:{i}")]));
    }
    polite.send(&reads);
    redis.signal("CONT");
    for i in 0..10 {
        let r = polite.read_reply();
        assert_eq!(
            r,
            b"$-1\r\n",
            "read {i} of a client with little in flight: {}",
            String::from_utf8_lossy(&r)
        );
    }
    let mut shed = 0;
    for _ in 0..n {
        let r = greedy.read_reply();
        if r.starts_with(b"-ERR upstream") {
            assert!(String::from_utf8_lossy(&r).contains("too many requests in flight"));
            shed += 1;
        } else {
            assert_eq!(r, b"$-1\r\n");
        }
    }
    assert!(shed > 0 && shed < n, "{shed} of the greedy client's {n} reads shed");
}
