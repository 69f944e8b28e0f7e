//! Commands that name clients speak hotcache's ids and reach only hotcache's
//! own clients: CLIENT UNBLOCK, KILL, TRACKING REDIRECT, GETREDIR,
//! TRACKINGINFO (and in MULTI, and from a relayed client).

use std::time::{Duration, Instant};

use crate::cluster_common::{RedisCluster, info_value};
use crate::common::{Hotcache, RawClient, RedisServer};

/// The integer of a `:n` reply.
fn int(reply: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(reply);
    text.trim_end().strip_prefix(':').and_then(|n| n.parse().ok()).unwrap_or_else(|| {
        panic!("expected an integer, got {text:?}");
    })
}

/// hotcache's (or Redis's) id of the client `c`.
fn id_of(c: &mut RawClient) -> i64 {
    int(&c.cmd(&["CLIENT", "ID"]))
}

/// Waits until the Redis behind `direct` has `n` blocked clients.
fn wait_blocked(direct: &mut RawClient, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = direct.cmd_str(&["INFO", "clients"]);
        if info_value(&info, "blocked_clients").and_then(|v| v.parse().ok()) == Some(n) {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} blocked clients:\n{info}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The ids of every client of the Redis behind `direct`.
/// The ids of Redis's lasting clients: hotcache's named connections, the
/// test's own (blocked, or listing). Not the unnamed connection hotcache opens
/// now and then to check what an unauthenticated client may do (see
/// `server::acl_watch`), which comes and goes by itself.
fn redis_client_ids(direct: &mut RawClient) -> Vec<i64> {
    let list = direct.cmd_str(&["CLIENT", "LIST"]);
    list.lines()
        .filter(|l| {
            !l.contains(" name= ") || l.contains(" cmd=blpop ") || l.contains(" cmd=client|list ")
        })
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// What Redis's own test suite does: a client learns its id, blocks, and
/// another client unblocks it by that id (it hung through hotcache).
#[test]
fn a_client_unblocks_a_blocked_client_by_its_id() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut direct = redis.client();
    let mut blocked = hc.client();
    let mut other = hc.client();
    let id = id_of(&mut blocked);
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":0\r\n", "not blocked yet");

    blocked.send(&crate::common::encode(&["BLPOP", "list", "0"]));
    wait_blocked(&mut direct, 1);
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":1\r\n");
    assert_eq!(blocked.read_reply(), b"*-1\r\n", "unblocked as by a timeout");
    wait_blocked(&mut direct, 0);

    blocked.send(&crate::common::encode(&["BRPOP", "list", "0"]));
    wait_blocked(&mut direct, 1);
    assert_eq!(other.cmd(&["client", "unblock", &id.to_string(), "ERROR"]), b":1\r\n");
    assert_eq!(blocked.read_reply(), b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":0\r\n");
    // The unblocked client goes on as usual.
    assert_eq!(blocked.cmd(&["RPUSH", "list", "a"]), b":1\r\n");
    assert_eq!(blocked.cmd(&["BLPOP", "list", "0"]), b"*2\r\n$4\r\nlist\r\n$1\r\na\r\n");
    // Its own id: it is running, so not blocked.
    assert_eq!(blocked.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":0\r\n");

    // Inside a transaction, run at EXEC.
    blocked.send(&crate::common::encode(&["BLPOP", "list", "0"]));
    wait_blocked(&mut direct, 1);
    assert_eq!(other.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b"+QUEUED\r\n");
    assert_eq!(other.cmd(&["EXEC"]), b"*1\r\n:1\r\n");
    assert_eq!(blocked.read_reply(), b"*-1\r\n");
}

/// Ids of Redis's clients (another application's, hotcache's own upstream
/// connections) mean nothing through hotcache: nobody is unblocked or killed.
#[test]
fn redis_ids_reach_nobody() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut direct = redis.client();
    // Blocked straight on Redis, and through hotcache.
    let mut elsewhere = redis.client();
    elsewhere.send(&crate::common::encode(&["BLPOP", "a", "0"]));
    let mut ours = hc.client();
    let ours_id = id_of(&mut ours);
    ours.send(&crate::common::encode(&["BLPOP", "b", "0"]));
    wait_blocked(&mut direct, 2);
    let mut hostile = hc.client();
    let mut hotcache_ids: Vec<i64> = Vec::new();
    let list = hostile.cmd_str(&["CLIENT", "LIST"]);
    for l in list.lines() {
        if let Some(id) = l.split(' ').find_map(|f| f.strip_prefix("id=")) {
            hotcache_ids.push(id.parse().expect("id"));
        }
    }
    let ids = redis_client_ids(&mut direct);
    assert!(ids.len() >= 4, "{ids:?}");
    for id in ids.iter().filter(|id| **id != ours_id) {
        for reason in [&[][..], &["TIMEOUT"][..], &["ERROR"][..]] {
            let mut args = vec!["CLIENT".to_string(), "UNBLOCK".into(), id.to_string()];
            args.extend(reason.iter().map(|r| r.to_string()));
            assert_eq!(hostile.cmd(&args), b":0\r\n", "CLIENT UNBLOCK {id} {reason:?}");
        }
        if !hotcache_ids.contains(id) {
            let kill = hostile.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]);
            assert_eq!(kill, b":0\r\n", "CLIENT KILL ID {id}");
        }
    }
    // Both are still blocked, every Redis client is still there, and
    // hotcache still serves.
    wait_blocked(&mut direct, 2);
    assert_eq!(redis_client_ids(&mut direct).len(), ids.len());
    assert_eq!(hostile.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(hostile.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    // The one blocked through hotcache is reached by its hotcache id.
    assert_eq!(hostile.cmd(&["CLIENT", "UNBLOCK", &ours_id.to_string()]), b":1\r\n");
    assert_eq!(ours.read_reply(), b"*-1\r\n");
    assert_eq!(direct.cmd(&["LPUSH", "a", "x"]), b":1\r\n");
    assert_eq!(elsewhere.read_reply(), b"*2\r\n$1\r\na\r\n$1\r\nx\r\n");
}

/// Argument errors are Redis's, in Redis's order.
#[test]
fn errors_are_redis_errors() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut direct = redis.client();
    let mut c = hc.client();
    for args in [
        &["CLIENT", "UNBLOCK"][..],
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "x", "bogus"],
        &["CLIENT", "UNBLOCK", "1", "bogus"],
        &["CLIENT", "UNBLOCK", "99999999999999999999"],
        &["CLIENT", "unBlock", "1", "timeout", "extra"],
        &["CLIENT", "KILL", "ID", "0", "TYPE"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "USER", "nobody", "TYPE", "bad"],
        &["CLIENT", "KILL", "TYPE", "bad", "USER", "nobody"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "ID", "5", "BOGUS"],
        &["CLIENT", "KILL", "ID", "5", "SKIPME"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
    ] {
        let theirs = direct.cmd_str(args);
        assert!(theirs.starts_with('-'), "{args:?}: Redis said {theirs}");
        assert_eq!(c.cmd_str(args), theirs, "{args:?}");
    }
}

/// CLIENT TRACKING ... REDIRECT takes hotcache's id, and GETREDIR and
/// TRACKINGINFO show it, also when set inside MULTI.
#[test]
fn tracking_redirect_speaks_hotcache_ids() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut sub = hc.client();
    let sub_id = id_of(&mut sub);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"]),
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n"
    );
    let mut t = hc.client();
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id.to_string()]), b"+OK\r\n");
    assert_eq!(int(&t.cmd(&["CLIENT", "GETREDIR"])), sub_id);
    let info = t.cmd_str(&["CLIENT", "TRACKINGINFO"]);
    assert!(info.contains(&format!("$8\r\nredirect\r\n:{sub_id}\r\n")), "{info}");
    // The redirect works: a read tracked, a write elsewhere, a message.
    assert_eq!(t.cmd(&["GET", "tk"]), b"$-1\r\n");
    assert_eq!(redis.client().cmd(&["SET", "tk", "1"]), b"+OK\r\n");
    let msg = String::from_utf8_lossy(&sub.read_reply()).into_owned();
    assert!(msg.contains("invalidate") && msg.contains("tk"), "{msg}");

    let mut t2 = hc.client();
    assert_eq!(t2.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(
        t2.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id.to_string()]),
        b"+QUEUED\r\n"
    );
    assert_eq!(t2.cmd(&["EXEC"]), b"*1\r\n+OK\r\n");
    assert_eq!(int(&t2.cmd(&["CLIENT", "GETREDIR"])), sub_id);
    let info = t2.cmd_str(&["CLIENT", "TRACKINGINFO"]);
    assert!(info.contains(&format!("$8\r\nredirect\r\n:{sub_id}\r\n")), "{info}");
    // An id that is no client's is refused as Redis refuses it.
    let mut t3 = hc.client();
    assert_eq!(
        t3.cmd_str(&["CLIENT", "TRACKING", "on", "REDIRECT", "424242"]),
        "-ERR The client ID you want redirect to does not exist\r\n"
    );
}

/// A subscribed RESP3 client's commands are relayed to Redis as they are:
/// CLIENT KILL from there must not kill Redis's clients (hotcache's own
/// upstream connections among them), nor UNBLOCK reach them.
#[test]
fn a_relayed_client_kills_nobody_at_redis() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut direct = redis.client();
    let mut elsewhere = redis.client();
    elsewhere.send(&crate::common::encode(&["BLPOP", "a", "0"]));
    wait_blocked(&mut direct, 1);
    let before = redis_client_ids(&mut direct);
    let mut sub = hc.client();
    assert!(sub.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert!(sub.cmd_str(&["SUBSCRIBE", "ch"]).starts_with(">3"));
    assert_eq!(sub.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), b":0\r\n");
    assert_eq!(sub.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"]), b":0\r\n");
    for id in &before {
        assert_eq!(sub.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":0\r\n", "{id}");
    }
    wait_blocked(&mut direct, 1);
    let after = redis_client_ids(&mut direct);
    for id in &before {
        assert!(after.contains(id), "Redis client {id} was killed: {after:?}");
    }
    assert_eq!(hc.client().cmd(&["PING"]), b"+PONG\r\n");
}

/// With a cluster, the unblock goes to the node the blocked client's
/// connection is on, whatever node the caller talks to.
#[test]
fn cluster_unblock_reaches_the_right_node() {
    let cluster = RedisCluster::start(3, 0);
    let url = cluster.url();
    let hc = Hotcache::start(&["--cluster", url.as_str(), "--threads", "2"]);
    let mut caller = hc.client();
    for master in cluster.masters() {
        let key = (0..1000)
            .map(|i| format!("k{i}"))
            .find(|k| cluster.master_for_key(k.as_bytes()) == master)
            .expect("a key on every master");
        let mut direct = cluster.client(master);
        let mut blocked = hc.client();
        let id = id_of(&mut blocked);
        blocked.send(&crate::common::encode(&["BLPOP", key.as_str(), "0"]));
        wait_blocked(&mut direct, 1);
        assert_eq!(caller.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), b":1\r\n", "{master}");
        assert_eq!(blocked.read_reply(), b"*-1\r\n");
        wait_blocked(&mut direct, 0);
    }
}
