//! Cluster cases found in review, each reproduced first: a transaction whose
//! queued command failed while its node was not yet known, MSET with an odd
//! argument count across slots, SCAN across a reshard, a blocking command whose
//! slot moved under hotcache, masters that serve no slot yet, nodes that
//! announce no endpoint.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{bulk_items, hotcache_for};
use crate::cluster_common::RedisCluster;
use crate::cluster_common::key_slot;
use crate::common::RawClient;

/// An error queued while MULTI waits for its first key fails EXEC, as Redis
/// fails it, and nothing of the transaction is written.
#[test]
fn held_multi_keeps_errors() {
    let cluster = RedisCluster::start(3, 0);
    let h = hotcache_for(&cluster, 1, &[]);
    let mut c = h.client();
    for bad in [&["NOSUCHCMD"][..], &["SET", "hm1"], &["MSET", "a", "1", "b", "2"]] {
        assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
        assert!(c.cmd_str(bad).starts_with('-'), "{bad:?} is refused");
        assert_eq!(c.cmd_str(&["SET", "hm1", "v"]), "+QUEUED\r\n");
        assert_eq!(
            c.cmd_str(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
            "after {bad:?}"
        );
        assert_eq!(c.cmd_str(&["GET", "hm1"]), "$-1\r\n", "after {bad:?}");
    }
}

/// MSET with a key and no value, keys in several slots: refused whole, as one
/// Redis refuses it, before anything is written.
#[test]
fn odd_mset_across_slots_writes_nothing() {
    let cluster = RedisCluster::start(3, 0);
    let h = hotcache_for(&cluster, 1, &[]);
    let mut c = h.client();
    assert_ne!(key_slot(b"a"), key_slot(b"b"));
    assert_eq!(
        c.cmd_str(&["MSET", "a", "1", "b"]),
        "-ERR wrong number of arguments for 'mset' command\r\n"
    );
    assert_eq!(c.cmd_str(&["MGET", "a", "b"]), "*2\r\n$-1\r\n$-1\r\n");
}

/// Keys by master: a reshard in the middle of a SCAN does not make it skip a
/// master (the cursor names masters in an order moving slots does not change):
/// every key that did not move is returned.
#[test]
fn scan_survives_a_reshard() {
    let cluster = RedisCluster::start(3, 0);
    let h = hotcache_for(&cluster, 1, &["--cluster-refresh-interval", "200"]);
    let mut c = h.client();
    let keys: Vec<String> = (0..600).map(|i| format!("sc:{i}")).collect();
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k.as_str(), "v"]), "+OK\r\n");
    }
    let before: Vec<usize> = keys.iter().map(|k| cluster.master_for_key(k.as_bytes())).collect();
    let mut seen = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    let mut resharded = false;
    for round in 0.. {
        assert!(round < 10_000, "SCAN did not end");
        let reply = c.cmd(&[b"SCAN".as_slice(), &cursor, b"COUNT", b"50"]);
        let v = crate::differential::resp::parse(&reply).expect("SCAN reply");
        let items = v.items().expect("an array");
        cursor = items[0].text().expect("cursor").to_vec();
        seen.extend(bulk_items(&items[1].to_bytes()));
        if !resharded && round == 4 {
            // Move slots from the master with slot 0 (so masters' order by first
            // slot changes) to another, while the scan is half way.
            let masters = cluster.masters();
            let from = cluster.master_for_slot(0);
            let to = *masters.iter().find(|&&m| m != from).expect("another master");
            cluster.reshard(from, to, 600);
            resharded = true;
        }
        if cursor == b"0" {
            break;
        }
    }
    assert!(resharded, "the scan ended before the reshard");
    let missing: Vec<&String> = keys
        .iter()
        .zip(&before)
        .filter(|(k, m)| cluster.master_for_key(k.as_bytes()) == **m)
        .map(|(k, _)| k)
        .filter(|k| !seen.contains(k.as_bytes()))
        .collect();
    assert!(missing.is_empty(), "{} keys that did not move were skipped", missing.len());
}

/// A blocking command sent while hotcache's map is behind (a slot moved):
/// TRYAGAIN, not CROSSSLOT, and the next try goes to the new owner.
#[test]
fn blocking_command_after_a_slot_moved_tries_again() {
    let cluster = RedisCluster::start(3, 0);
    let h = hotcache_for(&cluster, 1, &["--cluster-refresh-interval", "60000"]);
    let mut c = h.client();
    let key = "blk";
    let slot = key_slot(key.as_bytes());
    let from = cluster.master_for_slot(slot);
    let to = *cluster.masters().iter().find(|&&m| m != from).expect("another master");
    // The slot is empty: give it to `to` on every node, as a finished migration.
    let id = cluster.id(to).to_string();
    for m in cluster.masters() {
        let reply =
            cluster.client(m).cmd_str(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &id]);
        assert_eq!(reply, "+OK\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.master_for_slot(slot) != to {
        assert!(Instant::now() < deadline, "the slot did not move");
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = c.cmd_str(&["BLPOP", key, "0.1"]);
    assert!(first.starts_with("-TRYAGAIN") || first == "*-1\r\n", "{first}");
    assert_eq!(c.cmd_str(&["BLPOP", key, "0.1"]), "*-1\r\n");
    assert_eq!(c.cmd_str(&["RPUSH", key, "x"]), ":1\r\n");
    assert_eq!(c.cmd_str(&["BLPOP", key, "0.1"]), "*2\r\n$3\r\nblk\r\n$1\r\nx\r\n");
}

/// A master that serves no slot yet (just added) gets hotcache's tracking
/// streams too: slots may move to it before hotcache's map says so.
#[test]
fn idle_masters_are_tracked() {
    let mut cluster = RedisCluster::start(3, 0);
    let h = hotcache_for(&cluster, 2, &["--cluster-refresh-interval", "200"]);
    let new = cluster.add_master();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = RawClient::connect(cluster.port(new)).cmd_str(&["CLIENT", "LIST"]);
        if list.matches("name=hotcache-tracking").count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no tracking stream on the new master:\n{list}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = h.client().cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("cache_tracking:up"), "{info}");
}

/// Nodes that announce no endpoint (`cluster-preferred-endpoint-type
/// unknown-endpoint`, Redis 7): CLUSTER SLOTS gives a null address and MOVED
/// says `:port`; both mean the host hotcache reached the node on. The map
/// loads, and a MOVED of that form is followed rather than passed on.
#[test]
fn nodes_with_unknown_endpoints() {
    let cluster = RedisCluster::start(3, 0);
    let endpoints = |kind: &str| {
        for n in 0..cluster.len() {
            let r = cluster.client(n).cmd_str(&[
                "CONFIG",
                "SET",
                "cluster-preferred-endpoint-type",
                kind,
            ]);
            assert_eq!(r, "+OK\r\n", "node {n}");
        }
    };
    endpoints("unknown-endpoint");
    let slots = cluster.client(0).cmd(&["CLUSTER", "SLOTS"]);
    assert!(slots.windows(5).any(|w| w == b"$-1\r\n"), "null endpoints in CLUSTER SLOTS");
    // No periodic refresh: the map goes stale until a MOVED says so.
    let h = hotcache_for(&cluster, 1, &["--cluster-refresh-interval", "3600000"]);
    let mut c = h.client();
    let key = (0..).map(|i| format!("uk{i}")).find(|k| key_slot(k.as_bytes()) == 0).expect("a key");
    assert_eq!(c.cmd_str(&["SET", &key, "v1"]), "+OK\r\n");

    // Move slot 0 (redis-cli needs endpoints it can read).
    let (from, to) = (cluster.master_for_slot(0), cluster.master_for_slot(16383));
    endpoints("ip");
    cluster.reshard(from, to, 1);
    assert_eq!(cluster.master_for_slot(0), to, "slot 0 moved");
    endpoints("unknown-endpoint");
    let moved = cluster.client(from).cmd_str(&["GET", &key]);
    assert!(moved.starts_with("-MOVED 0 :"), "{moved}");

    assert_eq!(c.cmd_str(&["GET", &key]), "$2\r\nv1\r\n");
    assert_eq!(c.cmd_str(&["SET", &key, "v2"]), "+OK\r\n");
    assert_eq!(cluster.client(to).cmd_str(&["GET", &key]), "$2\r\nv2\r\n");
    let info = c.cmd_str(&["INFO", "hotcache"]);
    let redirects: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cluster_moved_redirects:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("cluster_moved_redirects in INFO");
    assert!(redirects >= 1, "{info}");
}
