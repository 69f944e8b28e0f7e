//! Clients' own CLIENT TRACKING, served by hotcache (issue 15): a tracking
//! client stays on the shared upstream connections and keeps its cache hits,
//! and hears of every change of what it read, whoever made it.

use std::time::Duration;

use crate::cache::info_field;
use crate::common::{Hotcache, RawClient, RedisServer, encode};
use crate::faults::wait_until;

/// Waits until hotcache's own tracking stream is up: clients that turn
/// tracking on before that are served by Redis on connections of their own.
fn wait_tracking_up(hc: &Hotcache) {
    let mut c = hc.client();
    wait_until(Duration::from_secs(10), "hotcache's tracking up", || {
        c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up")
    });
}

fn redis_clients(redis: &RedisServer) -> u64 {
    info_field(&redis.client().cmd_str(&["INFO", "clients"]), "connected_clients")
}

fn redis_gets(redis: &RedisServer) -> u64 {
    let stats = redis.client().cmd_str(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn tracking_client(hc: &Hotcache) -> RawClient {
    let mut c = hc.client();
    assert!(c.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
    c
}

const INVALIDATE_HOT: &[u8] = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nhot\r\n";

/// The issue's case: 200 RESP3 clients in default mode read one key 20 times
/// each. They add no upstream connection of their own, Redis sees a handful
/// of GETs, and every one of them hears of the write made straight to Redis,
/// then reads the new value.
#[test]
fn two_hundred_tracking_clients_share_the_tier() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    wait_tracking_up(&hc);
    assert_eq!(redis.client().cmd(&["SET", "hot", "v1"]), b"+OK\r\n");
    let connections_before = redis_clients(&redis);
    let gets_before = redis_gets(&redis);

    let mut clients: Vec<RawClient> = (0..200).map(|_| tracking_client(&hc)).collect();
    let get = encode(&["GET", "hot"]);
    for _ in 0..20 {
        // Every client asks before any reads its answer: the reads overlap.
        for c in clients.iter_mut() {
            c.send(&get);
        }
        for c in clients.iter_mut() {
            assert_eq!(c.read_reply(), b"$2\r\nv1\r\n");
        }
    }
    // One more than before at most: the redis-server client counting them.
    let added = redis_clients(&redis).saturating_sub(connections_before);
    assert!(added <= 8, "{added} upstream connections added");
    let gets = redis_gets(&redis) - gets_before;
    assert!(gets <= 20, "{gets} GETs reached Redis for 4000 reads");

    assert_eq!(redis.client().cmd(&["SET", "hot", "v2"]), b"+OK\r\n");
    for c in clients.iter_mut() {
        assert_eq!(c.read_reply(), INVALIDATE_HOT);
    }
    for c in clients.iter_mut() {
        assert_eq!(c.cmd(&["GET", "hot"]), b"$2\r\nv2\r\n");
    }
}

/// hotcache's own tracking stream lost (killed at Redis): what changed while
/// it was down is unknown, so every tracking client gets a null invalidation
/// (flush everything), as Redis sends on FLUSHALL, and another when it is
/// back; tracking goes on after.
#[test]
fn a_lost_tracking_stream_is_a_null_invalidation() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut t = tracking_client(&hc);
    assert_eq!(t.cmd(&["GET", "hot"]), b"_\r\n");
    let mut direct = redis.client();
    let list = direct.cmd_str(&["CLIENT", "LIST"]);
    let id = list
        .lines()
        .find(|l| l.contains(" name=hotcache-tracking "))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("hotcache's tracking connection")
        .to_string();
    assert_eq!(direct.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    // Once more when the stream is back: what the client read while it was
    // down was not covered.
    wait_tracking_up(&hc);
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(t.cmd(&["GET", "hot"]), b"_\r\n");
    assert_eq!(redis.client().cmd(&["SET", "hot", "1"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), INVALIDATE_HOT);
}

/// FLUSHALL, through hotcache or straight to Redis: a null invalidation.
#[test]
fn flushall_is_a_null_invalidation() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    wait_tracking_up(&hc);
    let mut t = tracking_client(&hc);
    assert_eq!(t.cmd(&["GET", "hot"]), b"_\r\n");
    assert_eq!(redis.client().cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(t.cmd(&["GET", "hot"]), b"_\r\n");
    assert_eq!(hc.client().cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
}

/// `tracking-table-max-keys`, as Redis: past it, keys leave the table and the
/// clients that read them are told (they can no longer be kept current).
#[test]
fn a_full_tracking_table_invalidates_what_it_drops() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut t = tracking_client(&hc);
    assert_eq!(t.cmd(&["MGET", "k1", "k2", "k3"]), b"*3\r\n_\r\n_\r\n_\r\n");
    let mut admin = hc.client();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "hotcache.tracking-table-max-keys", "1"]), b"+OK\r\n");
    // Two of the three keys go, each with its invalidation.
    let mut dropped = Vec::new();
    for _ in 0..2 {
        let push = String::from_utf8_lossy(&t.read_reply()).into_owned();
        assert!(push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\n"), "{push}");
        dropped.push(push[push.len() - 4..push.len() - 2].to_string());
    }
    dropped.sort();
    dropped.dedup();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    let stats = admin.cmd_str(&["INFO", "stats"]);
    assert_eq!(info_field(&stats, "tracking_total_keys"), 1);
    // The key kept is still tracked.
    let kept = ["k1", "k2", "k3"].into_iter().find(|k| !dropped.iter().any(|d| d == k));
    let kept = kept.expect("one key kept");
    assert_eq!(redis.client().cmd(&["SET", kept, "x"]), b"+OK\r\n");
    let push = t.read_reply();
    assert_eq!(push, format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\n{kept}\r\n").into_bytes());
}

/// The tables are freed with their clients, and INFO counts them (keys,
/// items, and the memory they take).
#[test]
fn tracking_tables_are_counted_and_freed() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    wait_tracking_up(&hc);
    let mut clients: Vec<RawClient> = (0..20).map(|_| tracking_client(&hc)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let keys: Vec<String> = (0..50).map(|k| format!("c{i}:k{k}")).collect();
        let mut args = vec!["MGET".to_string()];
        args.extend(keys);
        assert!(c.cmd_str(&args).starts_with("*50\r\n"));
        // And one key they all share.
        assert_eq!(c.cmd(&["GET", "shared"]), b"_\r\n");
    }
    let mut admin = hc.client();
    let stats = admin.cmd_str(&["INFO", "stats"]);
    let clients_info = admin.cmd_str(&["INFO", "clients"]);
    assert_eq!(info_field(&clients_info, "tracking_clients"), 20);
    assert_eq!(info_field(&stats, "tracking_total_keys"), 20 * 50 + 2, "shared counted per thread");
    assert_eq!(info_field(&stats, "tracking_total_items"), 20 * 51);
    let memory = info_field(&admin.cmd_str(&["INFO", "hotcache"]), "client_tracking_memory");
    assert!(memory > 20 * 51 * 40, "{memory}");
    drop(clients);
    wait_until(Duration::from_secs(10), "tables freed", || {
        let stats = admin.cmd_str(&["INFO", "stats"]);
        info_field(&admin.cmd_str(&["INFO", "clients"]), "tracking_clients") == 0
            && info_field(&stats, "tracking_total_keys") == 0
            && info_field(&stats, "tracking_total_items") == 0
    });
    assert_eq!(info_field(&admin.cmd_str(&["INFO", "hotcache"]), "client_tracking_memory"), 0);
}

/// In front of a Redis Cluster: keys on every master are tracked, and a write
/// straight to each master reaches the client.
#[test]
fn cluster_keys_on_every_node() {
    let cluster = crate::cluster_common::RedisCluster::start(3, 0);
    let url = cluster.url();
    let hc = Hotcache::start(&["--cluster", url.as_str(), "--threads", "2"]);
    wait_tracking_up(&hc);
    let mut t = tracking_client(&hc);
    for master in cluster.masters() {
        let key = (0..1000)
            .map(|i| format!("k{i}"))
            .find(|k| cluster.master_for_key(k.as_bytes()) == master)
            .expect("a key on every master");
        assert_eq!(t.cmd(&["GET", key.as_str()]), b"_\r\n");
        assert_eq!(cluster.client(master).cmd(&["SET", key.as_str(), "v"]), b"+OK\r\n");
        let push = format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len());
        assert_eq!(String::from_utf8_lossy(&t.read_reply()), push, "master {master}");
    }
}

/// NOLOOP keeps a client's own writes from coming back to it, and nothing of
/// a write outlives its reply: after a write that changed nothing (SET NX of
/// a key that exists), one that failed (WRONGTYPE) or two writes of one key
/// in one pipeline (one invalidation for both), a write by someone else to
/// the key it reads still reaches the client (it was once taken for the
/// client's own, and the client kept a stale value).
#[test]
fn noloop_never_takes_someone_else_s_write_for_its_own() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut t = hc.client();
    assert!(t.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "on", "NOLOOP"]), b"+OK\r\n");
    let mut direct = redis.client();
    let cases: [&[&[&str]]; 3] = [
        &[&["SET", "K", "x", "NX"]],
        &[&["HSET", "K", "f", "1"]],
        &[&["SET", "K", "a"], &["SET", "K", "b"]],
    ];
    for (n, writes) in cases.iter().enumerate() {
        let key = format!("noloop:{n}");
        assert_eq!(direct.cmd(&["SET", &key, "v"]), b"+OK\r\n");
        assert!(t.cmd(&["GET", &key]).starts_with(b"$"), "case {n}");
        let mut batch = Vec::new();
        for w in writes.iter() {
            let args: Vec<&str> =
                w.iter().map(|a| if *a == "K" { key.as_str() } else { a }).collect();
            batch.extend(encode(&args));
        }
        t.send(&batch);
        for _ in writes.iter() {
            let r = t.read_reply();
            assert!(!r.starts_with(b">"), "case {n}: its own write came back");
        }
        // Read again (a write of its own that changed the key ended its
        // tracking, as in Redis).
        assert!(t.cmd(&["GET", &key]).starts_with(b"$"), "case {n}");
        assert_eq!(direct.cmd(&["SET", &key, "other"]), b"+OK\r\n");
        let want = format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len());
        assert_eq!(t.read_reply(), want.as_bytes(), "case {n}: another's write not heard");
    }
    // In MULTI the writes run at EXEC: its own write there does not come
    // back (Redis sends a write's invalidation before its reply, and hotcache
    // reads its stream before it answers EXEC), one that changed nothing
    // leaves nothing behind either.
    assert_eq!(direct.cmd(&["SET", "noloop:tx", "v"]), b"+OK\r\n");
    assert!(t.cmd(&["GET", "noloop:tx"]).starts_with(b"$"));
    assert_eq!(t.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(t.cmd(&["SET", "noloop:tx", "mine"]), b"+QUEUED\r\n");
    assert_eq!(t.cmd(&["SET", "noloop:tx", "x", "NX"]), b"+QUEUED\r\n");
    assert!(t.cmd(&["EXEC"]).starts_with(b"*2\r\n"));
    assert_eq!(t.cmd(&["PING"]), b"+PONG\r\n", "its own write in MULTI came back");
    assert!(t.cmd(&["GET", "noloop:tx"]).starts_with(b"$4\r\nmine"));
    assert_eq!(direct.cmd(&["SET", "noloop:tx", "other"]), b"+OK\r\n");
    assert_eq!(
        t.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nnoloop:tx\r\n",
        "another's write after a MULTI not heard"
    );
}

/// Sends `cmd` to `t` and returns its reply, after every push that came
/// before it.
fn reply_after_pushes(t: &mut RawClient, cmd: &[&str]) -> (Vec<Vec<u8>>, Vec<u8>) {
    t.send(&encode(cmd));
    let mut pushes = Vec::new();
    loop {
        let r = t.read_reply();
        if !r.starts_with(b">") {
            return (pushes, r);
        }
        pushes.push(r);
    }
}

fn invalidate(key: &str) -> Vec<u8> {
    format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len()).into_bytes()
}

/// A read queued in MULTI runs at EXEC, and is tracked then, as in Redis:
/// a write by someone else between the queueing and EXEC does not end the
/// tracking of the value EXEC reads (it did: the key was remembered when
/// queued, that write's invalidation forgot it, and the value EXEC returned
/// was never invalidated). And CLIENT CACHING yes (OPTIN) given before MULTI
/// holds for the whole transaction (MULTI itself cleared it), then ends.
#[test]
fn reads_in_multi_are_tracked_when_exec_runs_them() {
    let redis = RedisServer::start();
    // One thread: `witness` hears of a write in the same step as `t`.
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut direct = redis.client();
    let mut witness = tracking_client(&hc);
    let mut t = tracking_client(&hc);
    assert_eq!(direct.cmd(&["SET", "tx:k", "v1"]), b"+OK\r\n");
    assert_eq!(witness.cmd(&["GET", "tx:k"]), b"$2\r\nv1\r\n");
    assert_eq!(t.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(t.cmd(&["GET", "tx:k"]), b"+QUEUED\r\n");
    assert_eq!(direct.cmd(&["SET", "tx:k", "v2"]), b"+OK\r\n");
    assert_eq!(witness.read_reply(), invalidate("tx:k"));
    let (pushes, exec) = reply_after_pushes(&mut t, &["EXEC"]);
    assert_eq!(exec, b"*1\r\n$2\r\nv2\r\n");
    // (Redis sends none: the key was not tracked yet when it changed.)
    assert!(pushes.is_empty(), "an invalidation before EXEC ran the read: {pushes:?}");
    assert_eq!(direct.cmd(&["SET", "tx:k", "v3"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), invalidate("tx:k"), "the value EXEC read is never invalidated");

    // OPTIN: CLIENT CACHING yes before MULTI covers the transaction's reads.
    let mut o = hc.client();
    assert!(o.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(o.cmd(&["CLIENT", "TRACKING", "on", "OPTIN"]), b"+OK\r\n");
    assert_eq!(o.cmd(&["CLIENT", "CACHING", "yes"]), b"+OK\r\n");
    assert_eq!(o.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(o.cmd(&["GET", "tx:a"]), b"+QUEUED\r\n");
    assert_eq!(o.cmd(&["GET", "tx:b"]), b"+QUEUED\r\n");
    assert_eq!(o.cmd(&["EXEC"]), b"*2\r\n_\r\n_\r\n");
    // ...and ends with it: this read is not tracked.
    assert_eq!(o.cmd(&["GET", "tx:c"]), b"_\r\n");
    // The stream is in order: had tx:c been tracked, its push came first.
    for k in ["tx:c", "tx:a", "tx:b"] {
        assert_eq!(direct.cmd(&["SET", k, "x"]), b"+OK\r\n");
    }
    assert_eq!(o.read_reply(), invalidate("tx:a"));
    assert_eq!(o.read_reply(), invalidate("tx:b"));

    // CLIENT CACHING queued in the transaction holds there (OPTIN: its
    // reads are tracked), and not after it (OPTOUT: CACHING no queued, the
    // read after EXEC is tracked).
    assert_eq!(o.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(o.cmd(&["CLIENT", "CACHING", "yes"]), b"+QUEUED\r\n");
    assert_eq!(o.cmd(&["GET", "tx:d"]), b"+QUEUED\r\n");
    assert_eq!(o.cmd(&["EXEC"]), b"*2\r\n+OK\r\n_\r\n");
    let mut out = hc.client();
    assert!(out.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(out.cmd(&["CLIENT", "TRACKING", "on", "OPTOUT"]), b"+OK\r\n");
    assert_eq!(out.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(out.cmd(&["CLIENT", "CACHING", "no"]), b"+QUEUED\r\n");
    assert_eq!(out.cmd(&["EXEC"]), b"*1\r\n+OK\r\n");
    assert_eq!(out.cmd(&["GET", "tx:e"]), b"_\r\n");
    for k in ["tx:d", "tx:e"] {
        assert_eq!(direct.cmd(&["SET", k, "y"]), b"+OK\r\n");
    }
    assert_eq!(o.read_reply(), invalidate("tx:d"), "a read after CACHING yes in MULTI");
    assert_eq!(out.read_reply(), invalidate("tx:e"), "a read after a MULTI with CACHING no");
}

/// RESET turns tracking off, as Redis's: a client that says HELLO 3 again
/// after it gets no invalidation it did not ask for (pushes it would take
/// for replies).
#[test]
fn reset_turns_tracking_off() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut witness = tracking_client(&hc);
    let mut t = tracking_client(&hc);
    assert_eq!(witness.cmd(&["GET", "reset:k"]), b"_\r\n");
    assert_eq!(t.cmd(&["GET", "reset:k"]), b"_\r\n");
    assert_eq!(t.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(
        t.cmd(&["CLIENT", "TRACKINGINFO"]),
        b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
    );
    assert!(t.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(redis.client().cmd(&["SET", "reset:k", "x"]), b"+OK\r\n");
    assert_eq!(witness.read_reply(), invalidate("reset:k"));
    assert_eq!(t.cmd(&["PING"]), b"+PONG\r\n", "an invalidation after RESET");
}

/// While hotcache's tracking stream is down and cannot come back (Redis at
/// `maxclients`), nothing would tell a client of a change of what it reads:
/// each read is followed at once by its invalidation, so the client does not
/// keep the value (it kept it, stale, for as long as the stream stayed down).
#[test]
fn reads_while_the_stream_is_down_are_not_kept() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut admin = hc.client();
    let mut t = tracking_client(&hc);
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "down:k", "v"]), b"+OK\r\n");
    assert_eq!(t.cmd(&["GET", "down:k"]), b"$1\r\nv\r\n");
    // A BCAST client, and a RESP2 one redirecting to a subscriber.
    let mut b = hc.client();
    assert!(b.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(b.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "down:"]), b"+OK\r\n");
    let mut sub = hc.client();
    let sub_id = String::from_utf8_lossy(&sub.cmd(&["CLIENT", "ID"]))
        .trim_start_matches(':')
        .trim_end()
        .to_string();
    assert!(sub.cmd_str(&["SUBSCRIBE", "__redis__:invalidate"]).contains("subscribe"));
    let mut r = hc.client();
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id]), b"+OK\r\n");
    // (Its protocol's shared connection up before Redis takes no more.)
    assert_eq!(r.cmd(&["GET", "down:warm"]), b"$-1\r\n");
    let message = |keys: &str| {
        format!("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n{keys}").into_bytes()
    };
    // No new connection from now on: the stream, once killed, stays down.
    let connected = redis_clients(&redis) - 1;
    let max = (connected - 1).to_string();
    assert_eq!(direct.cmd(&["CONFIG", "SET", "maxclients", &max]), b"+OK\r\n");
    let list = direct.cmd_str(&["CLIENT", "LIST"]);
    let id = list
        .lines()
        .find(|l| l.contains(" name=hotcache-tracking "))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("hotcache's tracking connection")
        .to_string();
    assert_eq!(direct.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(b.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(sub.read_reply(), message("$-1\r\n"));
    wait_until(Duration::from_secs(10), "hotcache's tracking down", || {
        admin.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:down")
    });
    t.send(&encode(&["GET", "down:k"]));
    t.send(&encode(&["PING"]));
    assert_eq!(t.read_reply(), b"$1\r\nv\r\n");
    assert_eq!(t.read_reply(), invalidate("down:k"), "a read while the stream is down kept");
    assert_eq!(t.read_reply(), b"+PONG\r\n");
    // BCAST: a key under its prefix, after the reply.
    b.send(&encode(&["GET", "down:b"]));
    b.send(&encode(&["PING"]));
    assert_eq!(b.read_reply(), b"_\r\n");
    assert_eq!(b.read_reply(), invalidate("down:b"), "a BCAST read while the stream is down kept");
    assert_eq!(b.read_reply(), b"+PONG\r\n");
    // REDIRECT: to the subscriber, once the read is answered.
    assert_eq!(r.cmd(&["GET", "down:r"]), b"$-1\r\n");
    assert_eq!(sub.read_reply(), message("*1\r\n$6\r\ndown:r\r\n"));
    // Back: a null invalidation, and tracking as before.
    assert_eq!(direct.cmd(&["CONFIG", "SET", "maxclients", "10000"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(b.read_reply(), b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(sub.read_reply(), message("$-1\r\n"));
    wait_tracking_up(&hc);
    assert_eq!(t.cmd(&["GET", "down:k"]), b"$1\r\nv\r\n");
    assert_eq!(direct.cmd(&["SET", "down:k", "w"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), invalidate("down:k"));
}

/// A RESP3 client that subscribes is relayed to a connection of its own,
/// and can still read: those reads are tracked too (they were not: the
/// value it read while subscribed was never invalidated), in order with
/// the replies, and tracking off stops it.
#[test]
fn a_subscribed_resp3_client_s_reads_are_tracked() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    wait_tracking_up(&hc);
    let mut t = tracking_client(&hc);
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SET", "sub:before", "v"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "sub:k", "v"]), b"+OK\r\n");
    assert_eq!(t.cmd(&["GET", "sub:before"]), b"$1\r\nv\r\n");
    assert_eq!(t.cmd(&["GET", "sub:kept"]), b"_\r\n");
    assert_eq!(t.cmd(&["SUBSCRIBE", "sub:ch"]), b">3\r\n$9\r\nsubscribe\r\n$6\r\nsub:ch\r\n:1\r\n");
    assert_eq!(t.cmd(&["GET", "sub:k"]), b"$1\r\nv\r\n");
    assert_eq!(direct.cmd(&["SET", "sub:k", "w"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), invalidate("sub:k"), "a read while subscribed not tracked");
    // What it read before subscribing is still tracked.
    assert_eq!(direct.cmd(&["SET", "sub:before", "w"]), b"+OK\r\n");
    assert_eq!(t.read_reply(), invalidate("sub:before"));
    assert_eq!(t.cmd(&["GET", "sub:k"]), b"$1\r\nw\r\n");
    assert_eq!(t.cmd(&["GET", "sub:before"]), b"$1\r\nw\r\n");
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "off"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "sub:k", "x"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "sub:before", "x"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SET", "sub:kept", "x"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["PUBLISH", "sub:ch", "m"]), b":1\r\n");
    // Tracking off: the message is next, no invalidation before it.
    assert_eq!(t.read_reply(), b">3\r\n$7\r\nmessage\r\n$6\r\nsub:ch\r\n$1\r\nm\r\n");
}
