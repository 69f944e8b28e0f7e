//! Tests of the cluster harness itself (`cluster_common`): they run now,
//! without hotcache, so that the tests through hotcache stand on a harness
//! known to work.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::corpus::{default_master, spread_keys};
use crate::cluster_common::{RedisCluster, Role, key_slot};
use crate::common::RedisServer;

fn bulk(value: &str) -> String {
    format!("${}\r\n{value}\r\n", value.len())
}

/// A 3 + 3 cluster starts, settles, and looks as `redis-cli --cluster create`
/// made it: 3 masters with one replica each, slots split in three.
#[test]
fn cluster_starts_and_agrees() {
    let cluster = RedisCluster::start(3, 1);
    eprintln!("3 masters + 3 replicas ok in {:?}", cluster.startup);
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 6);
    let masters: Vec<_> = nodes.iter().filter(|n| n.role == Role::Master).collect();
    let replicas: Vec<_> = nodes.iter().filter(|n| n.role == Role::Replica).collect();
    assert_eq!((masters.len(), replicas.len()), (3, 3), "{nodes:?}");
    for m in &masters {
        let of_m = replicas.iter().filter(|r| r.master_id.as_deref() == Some(m.id.as_str()));
        assert_eq!(of_m.count(), 1, "master {} has one replica: {nodes:?}", m.index);
    }
    let pids: BTreeSet<u32> = nodes.iter().map(|n| n.pid.expect("alive")).collect();
    assert_eq!(pids.len(), 6);
    let map = cluster.slot_map();
    // (Replicas show in CLUSTER SLOTS only once their replication offset is not
    // 0, so not necessarily yet.)
    assert_eq!(
        map.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>(),
        vec![(0, 5460), (5461, 10922), (10923, 16383)]
    );
    assert_eq!(cluster.masters().len(), 3);
    for (slot, third) in [(0, 0), (5461, 1), (16383, 2)] {
        assert_eq!(cluster.master_for_slot(slot), cluster.masters()[third]);
        assert_eq!(default_master(slot), third);
    }
    let seeds = cluster.seeds();
    assert_eq!(seeds.split(',').count(), 3, "{seeds}");
    assert!(cluster.url().starts_with("redis://127.0.0.1:"), "{}", cluster.url());
    // The reference client reaches every master without a redirection.
    let mut c = cluster.cluster_client();
    let keys = spread_keys(10);
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k.as_str(), k.as_str()]), "+OK\r\n");
    }
    for k in &keys {
        assert_eq!(c.cmd_str(&["GET", k.as_str()]), bulk(k));
    }
    assert_eq!(c.moved + c.asked, 0);
    assert_eq!(c.cmd_str(&["DBSIZE"]), format!(":{}\r\n", keys.len()));
    for &m in &cluster.masters() {
        let n = cluster.client(m).cmd_str(&["DBSIZE"]);
        assert_eq!(n, ":10\r\n", "each master holds its third of the keys");
    }
}

/// A small deterministic generator for random keys (xorshift64).
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `key_slot` gives what `CLUSTER KEYSLOT` gives, for random keys with and
/// without hash tags and for every odd brace placement. One cluster-enabled
/// node is enough to ask.
#[test]
fn key_slot_matches_cluster_keyslot() {
    let node = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut c = node.client();
    let mut keys: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "{}",
        "}{",
        "{}{a}",
        "a{b}c",
        "{{a}}",
        "{a}}",
        "{a",
        "a}",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{user1000}.following",
        "123456789",
        "}{a}",
        "{}a}",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    keys.push((0..=255u8).collect());
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"ab{}{}}{xyz:0\x00\xff";
    for i in 0..60 {
        let len = (rng.next() % 24) as usize;
        let key: Vec<u8> = (0..len)
            .map(|_| {
                let r = rng.next();
                // A third of the keys take any byte, the rest mostly braces.
                if i % 3 == 0 { r as u8 } else { alphabet[(r % alphabet.len() as u64) as usize] }
            })
            .collect();
        keys.push(key);
    }
    for key in &keys {
        let reply = c.cmd(&[b"CLUSTER".as_slice(), b"KEYSLOT", key]);
        assert_eq!(
            String::from_utf8_lossy(&reply),
            format!(":{}\r\n", key_slot(key)),
            "key {:?}",
            String::from_utf8_lossy(key)
        );
    }
}

/// After `reshard`, the reference client's slot map is stale: it follows the
/// MOVED replies to the new owner and reads every value back.
#[test]
fn client_follows_moved_after_reshard() {
    let cluster = RedisCluster::start(3, 1);
    let mut c = cluster.cluster_client();
    let keys = spread_keys(100);
    for k in &keys {
        assert_eq!(c.cmd_str(&["SET", k.as_str(), k.as_str()]), "+OK\r\n");
    }
    let (from, to) = (cluster.master_for_slot(0), cluster.master_for_slot(16383));
    let before = cluster.slot_map();
    let began = Instant::now();
    cluster.reshard(from, to, 1000);
    eprintln!("reshard of 1000 slots with ~18 keys: {:?}", began.elapsed());
    let moved_slots: usize = cluster
        .slot_map()
        .iter()
        .filter(|r| r.master == cluster.port(to))
        .map(|r| usize::from(r.end - r.start) + 1)
        .sum();
    let had: usize = before
        .iter()
        .filter(|r| r.master == cluster.port(to))
        .map(|r| usize::from(r.end - r.start) + 1)
        .sum();
    assert_eq!(moved_slots, had + 1000, "the target serves 1000 more slots");
    let moved_key = keys
        .iter()
        .find(|k| {
            cluster.master_for_key(k.as_bytes()) == to
                && default_master(key_slot(k.as_bytes())) == 0
        })
        .expect("a key whose slot moved");
    let direct = cluster.client(from).cmd_str(&["GET", moved_key.as_str()]);
    assert!(direct.starts_with("-MOVED "), "the old owner redirects: {direct}");
    for k in &keys {
        assert_eq!(c.cmd_str(&["GET", k.as_str()]), bulk(k), "GET {k} after the reshard");
    }
    assert!(c.moved > 0, "the client followed no MOVED");
    eprintln!("followed {} MOVED", c.moved);
}

/// A slot half migrated by hand (MIGRATING / IMPORTING, one key moved): the
/// reference client follows ASK with ASKING, for a moved key and for a new key,
/// and keeps reading the keys not moved yet from the source.
#[test]
fn client_follows_ask_during_migration() {
    let cluster = RedisCluster::start(3, 1);
    let mut c = cluster.cluster_client();
    let (moved, stays, new) = ("{ask}moved", "{ask}stays", "{ask}new");
    let slot = key_slot(b"{ask}");
    c.cmd(&["SET", moved, "m"]);
    c.cmd(&["SET", stays, "s"]);
    let src = cluster.master_for_slot(slot);
    let dst = *cluster.masters().iter().find(|&&m| m != src).expect("another master");
    let (src_id, dst_id) = (cluster.id(src).to_string(), cluster.id(dst).to_string());
    let slot_s = slot.to_string();
    let ok = |r: String| assert_eq!(r, "+OK\r\n");
    ok(cluster.client(dst).cmd_str(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src_id]));
    ok(cluster.client(src).cmd_str(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst_id]));
    let port = cluster.port(dst).to_string();
    let migrate = ["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS", moved];
    ok(cluster.client(src).cmd_str(&migrate));
    assert_eq!(c.cmd_str(&["GET", moved]), bulk("m"));
    assert_eq!(c.asked, 1, "GET of the moved key was asked to the target");
    assert_eq!(c.cmd_str(&["GET", stays]), bulk("s"));
    assert_eq!(c.asked, 1, "a key still at the source is served there");
    assert_eq!(c.cmd_str(&["SET", new, "n"]), "+OK\r\n");
    assert_eq!(c.asked, 2, "a new key goes to the target");
    // Finish the migration; the client then meets MOVED instead.
    let migrate = ["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS", stays];
    ok(cluster.client(src).cmd_str(&migrate));
    for node in [dst, src] {
        ok(cluster.client(node).cmd_str(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id]));
    }
    cluster.wait_ok();
    assert_eq!(cluster.master_for_slot(slot), dst);
    for (k, v) in [(moved, "m"), (stays, "s"), (new, "n")] {
        assert_eq!(c.cmd_str(&["GET", k]), bulk(v));
    }
    assert!(c.moved >= 1);
}

/// Traffic while `redis-cli --cluster reshard` runs in the background
/// (`spawn_reshard`): every write acknowledged, every read the last write.
#[test]
fn traffic_during_reshard() {
    let cluster = RedisCluster::start(3, 1);
    let mut c = cluster.cluster_client();
    let keys = spread_keys(50);
    for k in &keys {
        c.cmd(&["SET", k.as_str(), "0"]);
    }
    let (from, to) = (cluster.master_for_slot(0), cluster.master_for_slot(16383));
    let mut reshard = cluster.spawn_reshard(from, to, 3000);
    let began = Instant::now();
    let mut round = 0u32;
    while round == 0 || !reshard.is_done() {
        round += 1;
        assert!(began.elapsed() < Duration::from_secs(120), "the reshard does not end");
        let value = round.to_string();
        for k in &keys {
            assert_eq!(c.cmd_str(&["SET", k.as_str(), &value]), "+OK\r\n", "SET {k}");
            assert_eq!(c.cmd_str(&["GET", k.as_str()]), bulk(&value), "GET {k}");
        }
    }
    reshard.finish(&cluster);
    let mut fresh = cluster.cluster_client();
    for k in &keys {
        assert_eq!(fresh.cmd_str(&["GET", k.as_str()]), bulk(&round.to_string()));
    }
    eprintln!(
        "{round} rounds during the reshard; MOVED {} ASK {} TRYAGAIN {}",
        c.moved, c.asked, c.tryagain
    );
}

/// A master is SIGKILLed: its replica takes over, `wait_ok` sees the cluster
/// ok again, the data the master had replicated is there, and the old master,
/// restarted, comes back as the new master's replica.
#[test]
fn failover_after_master_killed() {
    let mut cluster = RedisCluster::start_for_failovers(3, 1);
    let mut c = cluster.cluster_client();
    let keys: Vec<String> = spread_keys(30)
        .into_iter()
        .filter(|k| default_master(key_slot(k.as_bytes())) == 0)
        .collect();
    for k in &keys {
        c.cmd(&["SET", k.as_str(), k.as_str()]);
    }
    let master = cluster.master_for_slot(0);
    let replica = cluster.replica_of(master).expect("a replica");
    // WAIT on the connection that wrote: the replica has every write.
    c.set_keyless_slot(0);
    assert_eq!(c.cmd_str(&["WAIT", "1", "5000"]), ":1\r\n");
    let began = Instant::now();
    cluster.kill(master);
    cluster.wait_ok();
    eprintln!("failover after SIGKILL: {:?}", began.elapsed());
    assert_eq!(cluster.master_for_slot(0), replica);
    assert_eq!(cluster.nodes()[replica].role, Role::Master);
    for k in &keys {
        assert_eq!(c.cmd_str(&["GET", k.as_str()]), bulk(k), "GET {k} after the failover");
    }
    cluster.restart(master);
    cluster.wait_ok();
    let back = &cluster.nodes()[master];
    assert_eq!(back.role, Role::Replica, "{back:?}");
    assert_eq!(back.master_id.as_deref(), Some(cluster.id(replica)));
}

/// `failover` (CLUSTER FAILOVER) swaps a master and its replica; the client
/// follows MOVED to the new master.
#[test]
fn manual_failover_swaps_roles() {
    let cluster = RedisCluster::start_for_failovers(3, 1);
    let mut c = cluster.cluster_client();
    let key = spread_keys(1).pop().expect("a key");
    c.cmd(&["SET", key.as_str(), "v"]);
    let master = cluster.master_for_key(key.as_bytes());
    let replica = cluster.replica_of(master).expect("a replica");
    cluster.failover(replica);
    let nodes = cluster.nodes();
    assert_eq!(nodes[replica].role, Role::Master);
    assert_eq!(nodes[master].role, Role::Replica);
    assert_eq!(nodes[master].master_id.as_deref(), Some(cluster.id(replica)));
    assert_eq!(cluster.master_for_key(key.as_bytes()), replica);
    assert_eq!(c.cmd_str(&["GET", key.as_str()]), bulk("v"));
    assert!(c.moved >= 1, "the old master redirected the client");
}
