//! Sentinel over TLS, deployed as Redis documents it: master and replica with
//! a `tls-port` and `tls-replication yes` (the replica replicates over TLS and
//! announces its TLS port), a sentinel with a `tls-port` and `tls-replication
//! yes` (it monitors them over TLS, and names their TLS ports), mutual TLS
//! everywhere (`tls-auth-clients yes`). hotcache is given the sentinel's TLS
//! port as `rediss://`: every address it learns is a TLS port, so nothing it
//! does works unless every connection (sentinel queries and subscriptions,
//! the master's shared, dedicated and tracking connections) is TLS.
//!
//! Every server keeps a plain port for the test's own checks.

use std::time::Duration;

use super::harness::{Certs, tls_args, upstream_tls_flags};
use crate::common::{RawClient, RedisServer, free_port};
use crate::sentinel::failover::{Set, followed_through_failover};
use crate::sentinel::{NAME, SentinelProc, hc_info, hotcache_behind, info_str, wait_for};

/// A redis-server with a TLS port and `tls-replication yes` (`extra`: more flags).
fn tls_node(tls_port: u16, extra: &[&str]) -> RedisServer {
    let mut args = tls_args(tls_port, "yes");
    args.extend(["--tls-replication", "yes"].map(String::from));
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    RedisServer::start_with(&args)
}

/// A TLS master, and a replica of it over TLS, in sync: the servers and their
/// TLS ports.
fn tls_master_and_replica() -> ((RedisServer, u16), (RedisServer, u16)) {
    let (mport, rport) = (free_port(), free_port());
    let master = tls_node(mport, &[]);
    let m = mport.to_string();
    let replica = tls_node(rport, &["--replicaof", "127.0.0.1", &m]);
    let mut r = replica.client();
    wait_for(Duration::from_secs(20), "replica in sync over TLS", || {
        info_str(&r.cmd_str(&["INFO", "replication"]), "master_link_status").as_deref()
            == Some("up")
    });
    ((master, mport), (replica, rport))
}

/// A sentinel monitoring the master's TLS port over TLS, with a TLS port of
/// its own (returned) beside the plain one.
fn tls_sentinel(master_tls_port: u16) -> (SentinelProc, u16) {
    let c = Certs::get();
    let tls_port = free_port();
    let extra = format!(
        "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
         tls-auth-clients yes\ntls-replication yes\n",
        c.path("server.crt"),
        c.path("server.key"),
        c.path("ca.crt"),
    );
    (SentinelProc::start_on(free_port(), master_tls_port, 5000, &extra), tls_port)
}

/// Through a TLS sentinel to a TLS master: the master found, cached reads,
/// writes; then `SENTINEL FAILOVER` during a stream of INCRs, followed as
/// without TLS (`sentinel::failover`: within 2 s, no stale read, every INCR
/// acknowledged after the switch kept, nothing left on the old master).
#[test]
fn failover_through_tls_sentinel() {
    let ((master, mport), (replica, rport)) = tls_master_and_replica();
    let (sentinel, stls) = tls_sentinel(mport);
    sentinel.wait_replica(rport);
    let url = format!("rediss://127.0.0.1:{stls}");
    let mut extra = upstream_tls_flags();
    extra.extend(["--cache-mode", "all", "--cache-ttl", "60000"].map(String::from));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let hc = hotcache_behind(&url, &extra);
    let mut c = hc.client();
    wait_for(Duration::from_secs(10), "hotcache finds the master and subscribes over TLS", || {
        hc_info(&mut c, "sentinel_master") == format!("127.0.0.1:{mport}")
            && hc_info(&mut c, "sentinel_subscribed") == "1"
            && hc_info(&mut c, "cache_tracking") == "up"
    });
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(master.client().cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    let hits = |c: &mut RawClient| -> u64 { hc_info(c, "cache_hits").parse().expect("a number") };
    let before = hits(&mut c);
    wait_for(Duration::from_secs(5), "a read served from the cache", || {
        c.cmd(&["GET", "k"]) == b"$1\r\nv\r\n" && hits(&mut c) > before
    });
    // A write straight to the master reaches the cache through the tracking
    // connection (over TLS): the next read has it.
    assert_eq!(master.client().cmd(&["SET", "k", "w"]), b"+OK\r\n");
    wait_for(Duration::from_secs(2), "the invalidation arrives", || {
        c.cmd(&["GET", "k"]) == b"$1\r\nw\r\n"
    });
    followed_through_failover(&Set {
        master: &master,
        replica: &replica,
        named: (mport, rport),
        sentinel: &sentinel,
        hc: &hc,
    });
    assert_eq!(hc_info(&mut c, "sentinel_master"), format!("127.0.0.1:{rport}"));
}

/// The sentinels on plain TCP, the master and replica over TLS (`sentinel-tls
/// no`), reads from the replica (over TLS too); and the reverse mistake, TLS
/// to a plain sentinel port, is an error naming the handshake.
#[test]
fn plain_sentinel_tls_master() {
    let ((master, mport), (replica, rport)) = tls_master_and_replica();
    let (sentinel, _stls) = tls_sentinel(mport);
    sentinel.wait_replica(rport);
    let url = format!("rediss://{}", sentinel.addr());
    let mut extra = upstream_tls_flags();
    extra.extend(["--sentinel-tls", "no", "--read-from", "replica"].map(String::from));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let hc = hotcache_behind(&url, &extra);
    let mut c = hc.client();
    wait_for(Duration::from_secs(10), "hotcache finds the TLS master and replica", || {
        hc_info(&mut c, "sentinel_master") == format!("127.0.0.1:{mport}")
            && hc_info(&mut c, "sentinel_replicas") == format!("127.0.0.1:{rport}")
    });
    let (mut m, mut r) = (master.client(), replica.client());
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(m.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    wait_for(Duration::from_secs(5), "the write replicated", || {
        r.cmd(&["GET", "k"]) == b"$1\r\nv\r\n"
    });
    assert_eq!(m.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    for _ in 0..5 {
        assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    }
    // Read from the replica (at least once: the others may be cache hits).
    let on_replica = r.cmd_str(&["INFO", "commandstats"]);
    let on_master = m.cmd_str(&["INFO", "commandstats"]);
    assert!(crate::cache::calls(&on_replica, "get") >= 1, "{on_replica}");
    assert!(!on_master.contains("cmdstat_get:"), "{on_master}");
    let shown = c.cmd_str(&["CONFIG", "GET", "sentinel-tls"]);
    assert_eq!(shown, "*2\r\n$12\r\nsentinel-tls\r\n$2\r\nno\r\n");
    // TLS to the sentinel's plain port: refused, and said so.
    let flags = upstream_tls_flags();
    let wrong = hotcache_behind(&url, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let mut w = wrong.client();
    let reply = w.cmd_str(&["GET", "k"]);
    let want = format!("-ERR upstream {NAME} unavailable: No master found for '{NAME}' (");
    assert!(reply.starts_with(&want), "{reply}");
    assert!(reply.contains("TLS handshake failed"), "{reply}");
}
