//! hotcache to Redis over TLS (`rediss://`).

use std::time::{Duration, Instant};

use super::harness::{Certs, TlsHotcache, TlsRedis, bulk, upstream_tls_flags};
use crate::cache::info_field;
use crate::common::{Hotcache, RawClient, holds_within};

/// hotcache in front of `redis` over TLS, with `extra` flags.
fn over_tls(redis: &TlsRedis, extra: &[&str]) -> Hotcache {
    let url = redis.url();
    let mut args: Vec<String> = vec!["--upstream".into(), url, "--threads".into(), "2".into()];
    args.extend(upstream_tls_flags());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Hotcache::start(&args)
}

/// An error reply that arrived, and how long it took.
fn timed_error(c: &mut RawClient, args: &[&str]) -> (String, Duration) {
    let start = Instant::now();
    let reply = c.cmd_str(args);
    (reply, start.elapsed())
}

/// TLS on both sides: a TLS client, hotcache, mutual TLS to Redis (Redis asks
/// for hotcache's certificate). Cached GETs are served from the cache, and a
/// write made straight to Redis reaches hotcache's cache through the tracking
/// connection, over TLS, at once.
#[test]
fn cached_reads_and_invalidations_over_tls_both_sides() {
    let redis = TlsRedis::start("yes");
    let mut extra = vec!["--upstream".to_string(), redis.url(), "--threads".into(), "2".into()];
    extra.extend(upstream_tls_flags());
    extra.extend(["--cache-mode", "all", "--cache-ttl", "60000"].map(String::from));
    let hc = TlsHotcache::start("yes", &extra);
    let mut c = hc.client();
    let mut direct = redis.redis.client();
    let hits = |c: &mut super::harness::TlsClient| {
        info_field(&c.cmd_str(&["INFO", "hotcache"]), "cache_hits")
    };
    // Fills are cached once every tracking stream (one per thread) is up.
    assert!(
        holds_within(Duration::from_secs(10), || {
            c.cmd(&["SET", "probe", "1"]);
            c.cmd(&["GET", "probe"]);
            c.cmd(&["GET", "probe"]);
            hits(&mut c) > 0
        }),
        "the cache never answered over TLS"
    );
    assert_eq!(c.cmd(&["SET", "k", "v0"]), b"+OK\r\n");
    for i in 1..=50 {
        // Served from the cache once a fill is in. (A fill may be refused: each
        // thread's stream brings the same invalidation, and one arriving after
        // a fill started makes it stale.)
        let have = bulk(&format!("v{}", i - 1));
        assert!(
            holds_within(Duration::from_secs(1), || {
                let before = hits(&mut c);
                c.cmd(&["GET", "k"]) == have && hits(&mut c) > before
            }),
            "round {i}: never served from the cache"
        );
        // A write elsewhere: the cached reply must go before it is served
        // again. With a 60 s TTL, only the invalidation can make this pass.
        let want = format!("v{i}");
        assert_eq!(direct.cmd(&["SET", "k", &want]), b"+OK\r\n");
        assert!(
            holds_within(Duration::from_secs(1), || c.cmd(&["GET", "k"]) == bulk(&want)),
            "round {i}: the invalidation never came over TLS"
        );
    }
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert!(info_field(&info, "invalidations_tracking") >= 50, "{info}");
    assert_eq!(
        info_field(&info, "invalidations_reconnect"),
        0,
        "the tracking streams held: {info}"
    );
}

/// The connections that are not the shared ones: a transaction and a blocking
/// command (the client's own connection), a subscription (relayed), SCRIPT
/// KILL (a connection of its own, past everything), all over TLS.
#[test]
fn every_kind_of_upstream_connection_over_tls() {
    let redis = TlsRedis::start("yes");
    redis.redis.client().cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let hc = over_tls(&redis, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(a.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["INCR", "n"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&["INCR", "n"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&["EXEC"]), b"*2\r\n:1\r\n:2\r\n");
    a.send(&crate::common::encode(&["BLPOP", "list", "5"]));
    // BLPOP is on its own connection: wait until Redis has it blocked.
    let mut direct = redis.redis.client();
    assert!(holds_within(Duration::from_secs(5), || {
        info_field(&direct.cmd_str(&["INFO", "clients"]), "blocked_clients") == 1
    }));
    assert_eq!(b.cmd(&["RPUSH", "list", "x"]), b":1\r\n");
    assert_eq!(a.read_reply(), b"*2\r\n$4\r\nlist\r\n$1\r\nx\r\n");
    assert_eq!(a.cmd(&["SUBSCRIBE", "ch"]), b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    assert_eq!(b.cmd(&["PUBLISH", "ch", "hello"]), b":1\r\n");
    assert_eq!(a.read_reply(), b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    let mut s = hc.client();
    s.send(&crate::common::encode(&["EVAL", "while true do end", "0"]));
    assert!(holds_within(Duration::from_secs(5), || b.cmd_str(&["SCRIPT", "KILL"]) == "+OK\r\n"));
    let killed = String::from_utf8_lossy(&s.read_reply()).into_owned();
    assert!(killed.starts_with("-ERR Script killed by user with SCRIPT KILL"), "{killed}");
    assert_eq!(b.cmd(&["GET", "n"]), bulk("2"));
}

/// The stall check's PING goes over TLS too: a Redis that stops answering is
/// found within `upstream-stall-timeout` and twice that, not after
/// `upstream-timeout`.
#[test]
fn stalled_redis_is_found_over_tls() {
    let redis = TlsRedis::start("yes");
    let hc = over_tls(&redis, &["--upstream-stall-timeout", "300", "--upstream-timeout", "10000"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    redis.redis.signal("STOP");
    let (reply, took) = timed_error(&mut c, &["GET", "k"]);
    redis.redis.signal("CONT");
    assert!(reply.starts_with("-ERR upstream 127.0.0.1:"), "{reply}");
    assert!(took < Duration::from_secs(5), "{took:?}: {reply}");
}

/// What a TLS set-up mistake looks like to a client: an error naming the
/// cause, at once (no hang): a CA that did not sign Redis's certificate, a
/// server name the certificate does not carry, no client certificate where
/// Redis asks for one.
#[test]
fn tls_mistakes_are_clear_errors() {
    let redis = TlsRedis::start("yes");
    let certs = Certs::get();
    let (other_ca, url) = (certs.path("other-ca.crt"), redis.url());
    let (cert, key) = (certs.path("client.crt"), certs.path("client.key"));
    for (flags, want) in [
        (
            vec![
                "--upstream-tls-ca-cert-file",
                &other_ca,
                "--upstream-tls-cert-file",
                &cert,
                "--upstream-tls-key-file",
                &key,
            ],
            "TLS handshake failed: invalid peer certificate: UnknownIssuer",
        ),
        (
            vec![
                "--upstream-tls-ca-cert-file",
                &certs.path("ca.crt"),
                "--upstream-tls-cert-file",
                &cert,
                "--upstream-tls-key-file",
                &key,
                "--upstream-tls-server-name",
                "redis.example",
            ],
            "invalid peer certificate: certificate not valid for name",
        ),
        // Redis refuses after the handshake (TLS 1.3), with an alert.
        (
            vec!["--upstream-tls-ca-cert-file", &certs.path("ca.crt")],
            "received fatal alert: CertificateRequired",
        ),
    ] {
        let mut args = vec!["--upstream", url.as_str(), "--threads", "1"];
        args.extend(flags);
        let hc = Hotcache::start(&args);
        let mut c = hc.client();
        let (reply, took) = timed_error(&mut c, &["GET", "k"]);
        assert!(reply.starts_with("-ERR upstream 127.0.0.1:"), "{reply}");
        assert!(reply.contains(want), "{reply} (want {want})");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    // The name given is the one verified: right with an address's certificate.
    let ca = certs.path("ca.crt");
    let hc = over_tls(
        &redis,
        &["--upstream-tls-ca-cert-file", &ca, "--upstream-tls-server-name", "localhost"],
    );
    assert_eq!(hc.client().cmd(&["SET", "k", "v"]), b"+OK\r\n");
}
