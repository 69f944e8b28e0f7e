//! A Redis Cluster over TLS, deployed as Redis documents it: every node with
//! a `tls-port`, `tls-cluster yes` (the cluster bus, MIGRATE, and the
//! addresses CLUSTER SLOTS and MOVED give a TLS client are TLS),
//! `tls-replication yes`, mutual TLS (`tls-auth-clients yes`), created with
//! `redis-cli --tls --cluster create`. hotcache is given the masters' TLS
//! ports as `rediss://`: it learns only TLS addresses, so every connection it
//! makes (topology reads, shared and tracking connections, redirects) must be
//! TLS. The nodes keep their plain ports for the test's own checks.

use std::time::{Duration, Instant};

use super::harness::{Certs, upstream_tls_flags};
use crate::cache::info_field;
use crate::cluster_common::{ClusterTls, RedisCluster, key_slot};
use crate::common::{Hotcache, RawClient};

/// hotcache in front of a TLS cluster over `rediss://`, with `extra` flags.
fn hotcache_for(cluster: &RedisCluster, extra: &[&str]) -> Hotcache {
    let mut args = vec!["--cluster".to_string(), cluster.tls_url()];
    args.extend(upstream_tls_flags());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Hotcache::start(&args)
}

fn tls_cluster(masters: usize, replicas: usize) -> RedisCluster {
    let c = Certs::get();
    let tls =
        ClusterTls { cert: c.path("server.crt"), key: c.path("server.key"), ca: c.path("ca.crt") };
    RedisCluster::start_tls(masters, replicas, tls)
}

/// Polls `f` until true; panics with `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A bulk reply.
fn bulk(v: &str) -> String {
    format!("${}\r\n{v}\r\n", v.len())
}

/// Writes, cached reads, invalidations and a MOVED, through hotcache to a
/// TLS cluster of 3 masters with a replica each.
#[test]
fn tls_cluster_reads_writes_and_moved() {
    let cluster = tls_cluster(3, 1);
    // No periodic map refresh: after the reshard, only a MOVED tells hotcache.
    let hc = hotcache_for(
        &cluster,
        &["--threads", "2", "--cache-mode", "all", "--cache-ttl", "60000"]
            .into_iter()
            .chain(["--cluster-refresh-interval", "3600000"])
            .collect::<Vec<_>>(),
    );
    let mut c = hc.client();
    let info = |c: &mut RawClient| c.cmd_str(&["INFO", "hotcache"]);
    assert!(info(&mut c).contains("cluster_state:ok"), "{}", info(&mut c));
    // The map hotcache read over TLS names the TLS ports.
    for i in cluster.masters() {
        let want = format!("addr=127.0.0.1:{},", cluster.tls_port(i));
        assert!(info(&mut c).contains(&want), "{want} not in\n{}", info(&mut c));
    }
    // Keys on every master, written through hotcache, are on their masters.
    let keys: Vec<String> = (0..30).map(|i| format!("tk{i}")).collect();
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k, &format!("{k}-1")]), "+OK\r\n");
    }
    let mut owners = std::collections::HashSet::new();
    for k in &keys {
        let owner = cluster.master_for_key(k.as_bytes());
        owners.insert(owner);
        assert_eq!(cluster.client(owner).cmd_str(&["GET", k]), bulk(&format!("{k}-1")));
    }
    assert_eq!(owners.len(), 3, "keys on every master");
    // Cached reads, once the tracking streams (one per thread and master,
    // over TLS) are up.
    wait_for(Duration::from_secs(10), "tracking up", || info(&mut c).contains("cache_tracking:up"));
    let hits = |c: &mut RawClient| info_field(&c.cmd_str(&["INFO", "hotcache"]), "cache_hits");
    for k in &keys {
        let before = hits(&mut c);
        wait_for(Duration::from_secs(2), &format!("GET {k} served from the cache"), || {
            c.cmd_str(&["GET", k]) == bulk(&format!("{k}-1")) && hits(&mut c) > before
        });
    }
    // A write straight to a node: its invalidation arrives over TLS, and the
    // next read through hotcache has the new value (the TTL is a minute).
    for k in &keys {
        let owner = cluster.master_for_key(k.as_bytes());
        assert_eq!(cluster.client(owner).cmd_str(&["SET", k, &format!("{k}-2")]), "+OK\r\n");
        wait_for(Duration::from_secs(2), &format!("{k} invalidated"), || {
            c.cmd_str(&["GET", k]) == bulk(&format!("{k}-2"))
        });
    }
    // Move slot 0 (redis-cli moves a source's lowest slots first) to another
    // master, over TLS: hotcache's map is stale until a MOVED.
    let key = (0..).map(|i| format!("tm{i}")).find(|k| key_slot(k.as_bytes()) == 0).expect("key");
    assert_eq!(c.cmd_str(&["SET", &key, "v1"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["GET", &key]), bulk("v1"));
    let (from, to) = (cluster.master_for_slot(0), cluster.master_for_slot(16383));
    assert_ne!(from, to);
    cluster.reshard(from, to, 1);
    assert_eq!(cluster.master_for_slot(0), to, "slot 0 moved");
    let mut tls_from = super::harness::TlsClient::tls(
        cluster.tls_port(from),
        &super::harness::TlsOpts::with_cert("client"),
    );
    let moved = tls_from.cmd_str(&["SET", &key, "x"]);
    assert_eq!(moved, format!("-MOVED 0 127.0.0.1:{}\r\n", cluster.tls_port(to)));
    assert_eq!(c.cmd_str(&["SET", &key, "v2"]), "+OK\r\n");
    assert_eq!(cluster.client(to).cmd_str(&["GET", &key]), bulk("v2"));
    assert_eq!(c.cmd_str(&["GET", &key]), bulk("v2"));
    let moved = info_field(&info(&mut c), "cluster_moved_redirects");
    assert!(moved >= 1, "no MOVED followed:\n{}", info(&mut c));
    // Cached again from the new owner, and invalidated by it.
    let before = hits(&mut c);
    wait_for(Duration::from_secs(5), "the moved key served from the cache", || {
        c.cmd_str(&["GET", &key]) == bulk("v2") && hits(&mut c) > before
    });
    assert_eq!(cluster.client(to).cmd_str(&["SET", &key, "v3"]), "+OK\r\n");
    wait_for(Duration::from_secs(2), "the moved key invalidated by its new owner", || {
        c.cmd_str(&["GET", &key]) == bulk("v3")
    });
    // The other keys still read right (those of the slot-0 owner included).
    for k in &keys {
        assert_eq!(c.cmd_str(&["GET", k]), bulk(&format!("{k}-2")), "GET {k}");
    }
    // Replica reads: READONLY connections to the replicas' TLS ports (once
    // every node lists the replicas, so that the map hotcache reads has them).
    cluster.wait_replicas_listed();
    let hr = hotcache_for(&cluster, &["--read-from", "replica", "--cache-mode", "off"]);
    let mut r = hr.client();
    let k = &keys[0];
    let replica = cluster
        .replica_of(cluster.master_for_key(k.as_bytes()))
        .expect("the key's master has a replica");
    let mut direct = cluster.client(replica);
    assert_eq!(direct.cmd_str(&["READONLY"]), "+OK\r\n");
    wait_for(Duration::from_secs(5), "the replica has the value", || {
        direct.cmd_str(&["GET", k]) == bulk(&format!("{k}-2"))
    });
    assert_eq!(direct.cmd_str(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
    for _ in 0..5 {
        assert_eq!(r.cmd_str(&["GET", k]), bulk(&format!("{k}-2")));
    }
    let stats = direct.cmd_str(&["INFO", "commandstats"]);
    assert_eq!(crate::cache::calls(&stats, "get"), 5, "{stats}");
}

/// Slots moved by `redis-cli --tls --cluster reshard` (MIGRATE over TLS)
/// while writers, readers and a load tool run through hotcache: the same
/// checks as without TLS (`cluster::ops`): no error, no wrong reply, every
/// acknowledged write kept.
#[test]
fn tls_cluster_reshards_under_load() {
    let cluster = tls_cluster(3, 1);
    let hc = hotcache_for(&cluster, &["--threads", "2", "--cache-mode", "all"]);
    crate::cluster::ops::reshards_under_load(&cluster, &hc);
}
