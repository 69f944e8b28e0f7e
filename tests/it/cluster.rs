//! Redis Cluster upstream (issue 4): differential tests of hotcache in front of
//! a cluster, and the tests that prove the cluster harness itself.
//!
//! * Through hotcache: the cluster corpus through the reference client on
//!   cluster A against hotcache in front of cluster B, byte for byte under each
//!   step's check, RESP2 and RESP3, sequential and pipelined; cross-slot
//!   MGET/MSET/DEL/EXISTS/UNLINK/TOUCH against one standalone Redis; the other
//!   cross-slot commands against `-CROSSSLOT`; SCAN, a reshard and a failover
//!   under traffic; and in `cluster/ops.rs`, resharding, SIGKILL of a master
//!   and CLUSTER FAILOVER under load (checked writers and readers plus the
//!   load tool).
//! * The same corpus through the reference client on two clusters (the corpus
//!   and the reference client are deterministic, so any difference through
//!   hotcache is hotcache's), Redis's own `-CROSSSLOT` for the cross-slot
//!   corpus, and the harness tests in `cluster/harness.rs`.
//!
//! Every test starts its own clusters on free ports.

mod corpus;
mod harness;
pub(crate) mod ops;
mod regressions;
mod run;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use corpus::{CROSSSLOT, cross_slot_refused, cross_slot_split, spread_keys};
use run::{Replies, Side, compare_runs, report, with_hello};

use crate::cluster_common::RedisCluster;
use crate::common::{Hotcache, RawClient, RedisServer};

/// Two clusters started at once (each takes a second or two to settle).
fn two_clusters() -> (RedisCluster, RedisCluster) {
    std::thread::scope(|s| {
        let a = s.spawn(|| RedisCluster::start(3, 1));
        let b = RedisCluster::start(3, 1);
        (a.join().expect("start cluster A"), b)
    })
}

/// hotcache in front of `cluster`.
fn hotcache_for(cluster: &RedisCluster, threads: usize, extra: &[&str]) -> Hotcache {
    let url = cluster.url();
    let threads = threads.to_string();
    let mut args = vec!["--cluster", url.as_str(), "--threads", threads.as_str()];
    args.extend_from_slice(extra);
    Hotcache::start(&args)
}

/// The cluster corpus through the reference client on cluster A and through
/// hotcache (started with `flags`) on cluster B.
fn reference_vs_hotcache(proto: u8, pipelined: bool, flags: &[&str]) {
    let (a, b) = two_clusters();
    let h = hotcache_for(&b, 2, flags);
    let mut client = a.cluster_client();
    let steps = with_hello(proto, corpus::build(&run::dumps(&mut client)));
    let (ra, rh) = if pipelined {
        // The reference goes one command at a time while hotcache gets the
        // whole run in one write, at the same time.
        std::thread::scope(|s| {
            let ra = s.spawn(|| run::reference(client, &steps, proto == 3));
            let rh = run::pipelined(h.port, &steps);
            (ra.join().expect("reference run"), rh)
        })
    } else {
        let sides = &mut [Side::Reference(client), Side::plain(h.port)];
        let mut runs = run::lockstep(sides, &steps, proto == 3);
        let rh = runs.pop().expect("two runs");
        (runs.pop().expect("two runs"), rh)
    };
    let mode = if pipelined { "pipelined" } else { "sequential" };
    report(&compare_runs(&format!("RESP{proto} {mode}"), ("redis", "hotcache"), &steps, &ra, &rh));
}

#[test]
fn differential_resp2() {
    reference_vs_hotcache(2, false, &[]);
}

#[test]
fn differential_resp3() {
    reference_vs_hotcache(3, false, &[]);
}

#[test]
fn differential_pipelined_resp2() {
    reference_vs_hotcache(2, true, &[]);
}

#[test]
fn differential_pipelined_resp3() {
    reference_vs_hotcache(3, true, &[]);
}

/// With every cacheable reply cached, a missing invalidation shows as a stale
/// reply.
#[test]
fn differential_caching_everything() {
    let flags = ["--cache-mode", "all", "--cache-ttl", "60000", "--negative-ttl", "30000"];
    reference_vs_hotcache(2, false, &flags);
    reference_vs_hotcache(3, false, &flags);
}

/// Runs now: the corpus through the reference client on two clusters gives the
/// same replies, so the corpus and the reference are fit to judge hotcache by.
#[test]
fn corpus_is_deterministic_on_two_clusters() {
    let (a, b) = two_clusters();
    let dumps = run::dumps(&mut a.cluster_client());
    let mut failures = Vec::new();
    for proto in [2, 3] {
        let steps = with_hello(proto, corpus::build(&dumps));
        let sides = &mut [Side::Reference(a.cluster_client()), Side::Reference(b.cluster_client())];
        let mut runs = run::lockstep(sides, &steps, proto == 3);
        let rb = runs.pop().expect("two runs");
        let ra = runs.pop().expect("two runs");
        failures.extend(compare_runs(
            &format!("RESP{proto}"),
            ("cluster A", "cluster B"),
            &steps,
            &ra,
            &rb,
        ));
    }
    report(&failures);
}

/// MGET/MSET/DEL/EXISTS/UNLINK/TOUCH across slots through hotcache give what
/// one standalone Redis gives.
#[test]
fn cross_slot_split_matches_standalone() {
    let standalone = RedisServer::start();
    let cluster = RedisCluster::start(3, 1);
    let h = hotcache_for(&cluster, 2, &[]);
    let mut failures = Vec::new();
    for proto in [2, 3] {
        let steps = with_hello(proto, cross_slot_split());
        let sides = &mut [Side::plain(standalone.port), Side::plain(h.port)];
        let mut runs = run::lockstep(sides, &steps, false);
        let rh = runs.pop().expect("two runs");
        let rs = runs.pop().expect("two runs");
        let what = format!("RESP{proto} sequential");
        failures.extend(compare_runs(&what, ("redis", "hotcache"), &steps, &rs, &rh));
        let rs = run::pipelined(standalone.port, &steps);
        let rh = run::pipelined(h.port, &steps);
        let what = format!("RESP{proto} pipelined");
        failures.extend(compare_runs(&what, ("redis", "hotcache"), &steps, &rs, &rh));
    }
    report(&failures);
}

/// Checks that every reply of a cross-slot-refused run is exactly CROSSSLOT.
fn all_crossslot(who: &str, proto: u8, replies: Result<Replies, String>) -> Vec<String> {
    let steps = with_hello(proto, cross_slot_refused());
    let replies = match replies {
        Ok(r) => r,
        Err(e) => return vec![format!("[{who} RESP{proto}] {e}")],
    };
    let skip = usize::from(proto == 3);
    steps[skip..]
        .iter()
        .zip(&replies[skip..])
        .filter(|(_, r)| r[0] != CROSSSLOT)
        .map(|(s, r)| {
            format!("[{who} RESP{proto}] `{}`: {}", s.label, crate::differential::show(&r[0]))
        })
        .collect()
}

/// Runs now: Redis itself answers every command of the cross-slot corpus with
/// exactly `-CROSSSLOT Keys in request don't hash to the same slot`.
#[test]
fn cross_slot_refused_by_redis() {
    let cluster = RedisCluster::start(3, 1);
    let mut failures = Vec::new();
    for proto in [2, 3] {
        let steps = with_hello(proto, cross_slot_refused());
        let replies = run::reference(cluster.cluster_client(), &steps, proto == 3);
        failures.extend(all_crossslot("redis", proto, replies));
    }
    report(&failures);
}

/// Commands that cannot be split answer exactly CROSSSLOT through hotcache.
#[test]
fn cross_slot_refused_through_hotcache() {
    let cluster = RedisCluster::start(3, 1);
    let h = hotcache_for(&cluster, 2, &[]);
    let mut failures = Vec::new();
    for proto in [2, 3] {
        let steps = with_hello(proto, cross_slot_refused());
        failures.extend(all_crossslot("hotcache", proto, run::sequential(h.port, &steps)));
        failures.extend(all_crossslot("hotcache pipelined", proto, run::pipelined(h.port, &steps)));
    }
    report(&failures);
}

/// Bulk strings of an array reply (KEYS, SCAN's keys).
fn bulk_items(reply: &[u8]) -> Vec<Vec<u8>> {
    use crate::differential::resp::{Value, parse};
    match parse(reply) {
        Ok(Value::Agg(_, items)) => items
            .into_iter()
            .map(|v| match v {
                Value::Blob(b'$', t) => t,
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// SCAN through hotcache walks every master: every key once at least, and the
/// cursor comes back to 0. DBSIZE and KEYS cover the whole cluster.
#[test]
fn scan_dbsize_keys_span_the_cluster() {
    let cluster = RedisCluster::start(3, 1);
    let h = hotcache_for(&cluster, 2, &[]);
    let keys = spread_keys(100);
    let mut reference = cluster.cluster_client();
    for k in &keys {
        reference.cmd(&["SET", k.as_str(), "v"]);
    }
    let expected: BTreeSet<Vec<u8>> = keys.iter().map(|k| k.clone().into_bytes()).collect();
    let mut c = h.client();
    assert_eq!(c.cmd_str(&["DBSIZE"]), format!(":{}\r\n", keys.len()));
    let listed: BTreeSet<Vec<u8>> = bulk_items(&c.cmd(&["KEYS", "*"])).into_iter().collect();
    assert_eq!(listed, expected, "KEYS * through hotcache");
    let mut seen = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    for round in 0.. {
        assert!(round < 10_000, "SCAN did not come back to cursor 0");
        let reply = c.cmd(&[b"SCAN".as_slice(), &cursor, b"COUNT", b"20"]);
        let v = crate::differential::resp::parse(&reply).expect("SCAN reply");
        let items = v.items().expect("SCAN reply is an array");
        cursor = items[0].text().expect("cursor").to_vec();
        seen.extend(bulk_items(&items[1].to_bytes()));
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen, expected, "SCAN through hotcache");
}

/// Writes and reads through hotcache while `redis-cli --cluster reshard` moves
/// slots: every write is acknowledged, every read returns the last write, no
/// MOVED or ASK reaches the client, and the cluster ends up with every value.
#[test]
fn reshard_under_traffic_through_hotcache() {
    let cluster = RedisCluster::start(3, 1);
    let h = hotcache_for(&cluster, 2, &[]);
    let keys = spread_keys(50);
    let mut c = h.client();
    let (from, to) = (cluster.master_for_slot(0), cluster.master_for_slot(16383));
    let mut reshard = cluster.spawn_reshard(from, to, 2000);
    let mut round = 0u32;
    let deadline = Instant::now() + Duration::from_secs(120);
    while round == 0 || !reshard.is_done() {
        round += 1;
        assert!(Instant::now() < deadline, "reshard did not finish");
        for k in &keys {
            let value = round.to_string();
            assert_eq!(c.cmd_str(&["SET", k.as_str(), &value]), "+OK\r\n", "SET {k}");
            let got = c.cmd_str(&["GET", k.as_str()]);
            assert_eq!(got, format!("${}\r\n{value}\r\n", value.len()), "GET {k}");
        }
    }
    reshard.finish(&cluster);
    let mut reference = cluster.cluster_client();
    for k in &keys {
        let value = round.to_string();
        assert_eq!(
            reference.cmd_str(&["GET", k.as_str()]),
            format!("${}\r\n{value}\r\n", value.len())
        );
    }
    eprintln!("{round} rounds of {} keys during the reshard", keys.len());
}

/// A master killed under hotcache: once its replica has taken over, reads and
/// writes of every slot succeed through hotcache again (within a few seconds of
/// the cluster being ok), on the connection the client already had.
#[test]
fn failover_through_hotcache() {
    let mut cluster = RedisCluster::start_for_failovers(3, 1);
    let h = hotcache_for(&cluster, 2, &["--upstream-timeout", "1000"]);
    let keys = spread_keys(20);
    let mut c = h.client();
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k.as_str(), "before"]), "+OK\r\n");
    }
    let victim = cluster.master_for_slot(0);
    cluster.kill(victim);
    cluster.wait_ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    'retry: loop {
        assert!(Instant::now() < deadline, "hotcache did not recover after the failover");
        for k in &keys {
            if c.cmd_str(&["SET", k.as_str(), "after"]) != "+OK\r\n"
                || c.cmd_str(&["GET", k.as_str()]) != "$5\r\nafter\r\n"
            {
                std::thread::sleep(Duration::from_millis(50));
                continue 'retry;
            }
        }
        break;
    }
    let mut raw = RawClient::connect(h.port);
    assert_eq!(raw.cmd_str(&["DBSIZE"]), format!(":{}\r\n", keys.len()));
}

/// GETs served by a node so far (INFO commandstats).
fn gets_at(cluster: &RedisCluster, node: usize) -> u64 {
    let info = cluster.client(node).cmd_str(&["INFO", "commandstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `read-from replica`: reads go to replicas (and none to masters), writes to
/// masters, and a write made straight to a master is seen through hotcache
/// (the replicas' tracking streams invalidate what hotcache cached from them).
#[test]
fn replica_reads() {
    let cluster = RedisCluster::start(3, 1);
    let flags =
        ["--read-from", "replica", "--cache-mode", "all", "--cluster-refresh-interval", "200"];
    let h = hotcache_for(&cluster, 2, &flags);
    let keys = spread_keys(30);
    let mut c = h.client();
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k.as_str(), "v1"]), "+OK\r\n");
    }
    // Redis 7.0 lists a replica in CLUSTER SLOTS only once it has replicated
    // something, and each node only once it heard so: wait until every node
    // lists them (else hotcache's map, refreshed from one node or another, may
    // lose a replica again), then until hotcache's map names one for every
    // master.
    cluster.wait_replicas_listed();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.cmd_str(&["INFO", "hotcache"]);
        let with_replicas = info
            .lines()
            .filter(|l| l.starts_with("cluster_node") && !l.contains("replicas=,"))
            .count();
        if with_replicas == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "replicas never listed: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each map change restarts the wait for every tracking stream (the
    // replicas' too): reads are cached only once all are up again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.cmd_str(&["INFO", "hotcache"]);
        if info.contains("cache_tracking:up") {
            break;
        }
        assert!(Instant::now() < deadline, "tracking never came up: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let masters_before: u64 = cluster.masters().into_iter().map(|m| gets_at(&cluster, m)).sum();
    // Replicas lag: wait until each key reads back (cached from then on).
    let deadline = Instant::now() + Duration::from_secs(10);
    for k in &keys {
        while c.cmd_str(&["GET", k.as_str()]) != "$2\r\nv1\r\n" {
            assert!(Instant::now() < deadline, "{k} never read back from its replica");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let masters_after: u64 = cluster.masters().into_iter().map(|m| gets_at(&cluster, m)).sum();
    let replicas: u64 = cluster.replicas().into_iter().map(|r| gets_at(&cluster, r)).sum();
    assert_eq!(masters_after, masters_before, "reads reached a master");
    assert!(replicas >= keys.len() as u64, "replicas served {replicas} GETs");
    // A write straight to the cluster: hotcache's cached reply is dropped when
    // the replica applies it.
    let mut direct = cluster.cluster_client();
    assert_eq!(direct.cmd_str(&["SET", keys[0].as_str(), "v2"]), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd_str(&["GET", keys[0].as_str()]) != "$2\r\nv2\r\n" {
        assert!(Instant::now() < deadline, "the write straight to the master was never seen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("cache_tracking:up"), "{info}");
}
