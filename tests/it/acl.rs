//! Redis ACL users through hotcache (ARCHITECTURE.md rule 11): a client is the
//! Redis user it logs in as, checked by Redis, its commands run as that user,
//! and a cached reply never reaches a user Redis would refuse it to.

use std::time::{Duration, Instant};

use crate::cache::info_field;
use crate::common::{Hotcache, RawClient, RedisServer};

/// The admin identity hotcache runs as in these tests: exactly the rights
/// README says it needs (tracking, the ACL watch, its handshake).
const MINIMAL_HC: &str =
    "hc on >hcpw resetkeys resetchannels -@all +hello +ping +client|tracking +acl|list +acl|dryrun";

/// A Redis with users alice (`a:*`), bob (`b:*`), an administrator `root`
/// and hotcache's own `hc`; the default user off (an ACL file: rules passed
/// as arguments get quoted by redis-server).
fn redis_with_users() -> RedisServer {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let file = std::env::temp_dir().join(format!(
        "hotcache-acl-{}-{}.acl",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let rules = [
        "user default off",
        "user alice on >alicepw ~a:* +@all",
        "user bob on >bobpw ~b:* +@all",
        "user root on >rootpw ~* &* +@all",
        "user carol on >carolpw ~c:* +@all -@admin",
        &format!("user {MINIMAL_HC}"),
    ];
    std::fs::write(&file, rules.join("\n") + "\n").expect("write the ACL file");
    let path = file.to_string_lossy().into_owned();
    RedisServer::start_with(&["--aclfile", &path])
}

/// A client of `port` logged in as `user`.
fn login(port: u16, user: &str, pass: &str) -> RawClient {
    let mut c = RawClient::connect(port);
    assert_eq!(c.cmd(&["AUTH", user, pass]), b"+OK\r\n", "AUTH {user}");
    c
}

/// hotcache in front of `redis` as `hc`, caching every read, on one thread:
/// each thread has its own cache, and a leak between users needs them to
/// share one.
fn hotcache(redis: &RedisServer) -> Hotcache {
    let url = format!("redis://hc:hcpw@127.0.0.1:{}", redis.port);
    Hotcache::start(&["--upstream", &url, "--threads", "1", "--cache-mode", "all"])
}

fn hits(c: &mut RawClient) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), "cache_hits")
}

/// Every cacheable command on one of alice's keys, with the data it reads.
fn reads() -> Vec<Vec<&'static str>> {
    vec![
        vec!["GET", "a:s"],
        vec!["STRLEN", "a:s"],
        vec!["GETRANGE", "a:s", "0", "3"],
        vec!["EXISTS", "a:s"],
        vec!["TYPE", "a:s"],
        vec!["MGET", "a:s", "a:missing"],
        vec!["GET", "a:missing"],
        vec!["HGET", "a:h", "f"],
        vec!["HMGET", "a:h", "f", "g"],
        vec!["HGETALL", "a:h"],
        vec!["HLEN", "a:h"],
        vec!["HEXISTS", "a:h", "f"],
        vec!["HSTRLEN", "a:h", "f"],
        vec!["LRANGE", "a:l", "0", "-1"],
        vec!["LLEN", "a:l"],
        vec!["LINDEX", "a:l", "0"],
        vec!["SMEMBERS", "a:set"],
        vec!["SISMEMBER", "a:set", "x"],
        vec!["SCARD", "a:set"],
        vec!["ZRANGE", "a:z", "0", "-1", "WITHSCORES"],
        vec!["ZSCORE", "a:z", "m"],
        vec!["ZCARD", "a:z"],
    ]
}

#[test]
fn a_cached_reply_never_reaches_a_user_redis_would_refuse() {
    let redis = redis_with_users();
    let mut root = login(redis.port, "root", "rootpw");
    for cmd in [
        vec!["SET", "a:s", "alice-secret"],
        vec!["HSET", "a:h", "f", "v", "g", "w"],
        vec!["RPUSH", "a:l", "x", "y"],
        vec!["SADD", "a:set", "x"],
        vec!["ZADD", "a:z", "1", "m"],
    ] {
        assert!(!root.cmd(&cmd).starts_with(b"-"), "{cmd:?}");
    }
    let hc = hotcache(&redis);
    for proto in ["2", "3"] {
        let hello = |c: &mut RawClient, user: &str, pass: &str| {
            let r = c.cmd(&["HELLO", proto, "AUTH", user, pass]);
            assert!(r.starts_with(b"*") || r.starts_with(b"%"), "{}", String::from_utf8_lossy(&r));
        };
        let mut alice = RawClient::connect(hc.port);
        hello(&mut alice, "alice", "alicepw");
        let mut bob = RawClient::connect(hc.port);
        hello(&mut bob, "bob", "bobpw");
        let mut bob_direct = RawClient::connect(redis.port);
        hello(&mut bob_direct, "bob", "bobpw");
        let mut nobody = RawClient::connect(hc.port);
        let mut nobody_direct = RawClient::connect(redis.port);
        for read in reads() {
            // alice reads twice: the second is a hit (her first one taught
            // hotcache that Redis lets her).
            let want = alice.cmd(&read);
            assert!(!want.starts_with(b"-"), "{read:?}: {}", String::from_utf8_lossy(&want));
            let before = hits(&mut alice);
            assert_eq!(alice.cmd(&read), want, "{read:?}");
            assert!(hits(&mut alice) > before, "RESP{proto} {read:?}: alice got no hit");
            // Others get exactly what Redis gives them, never alice's reply.
            for _ in 0..2 {
                assert_eq!(bob.cmd(&read), bob_direct.cmd(&read), "RESP{proto} bob {read:?}");
                assert_eq!(nobody.cmd(&read), nobody_direct.cmd(&read), "RESP{proto} {read:?}");
            }
        }
    }
}

#[test]
fn logins_are_checked_by_redis_with_redis_s_replies() {
    let redis = redis_with_users();
    let hc = hotcache(&redis);
    let mut c = RawClient::connect(hc.port);
    let mut d = RawClient::connect(redis.port);
    for args in [
        vec!["GET", "a:x"],
        vec!["AUTH", "bob", "wrong"],
        vec!["AUTH", "nobody", "x"],
        vec!["AUTH", "onlypass"],
        vec!["HELLO", "3", "AUTH", "bob", "wrong"],
        vec!["ACL", "WHOAMI"],
        vec!["AUTH", "bob", "bobpw"],
        vec!["ACL", "WHOAMI"],
        vec!["GET", "a:x"],
        vec!["SET", "b:x", "1"],
        vec!["GET", "b:x"],
        vec!["AUTH", "alice", "wrong"],
        vec!["ACL", "WHOAMI"],
        vec!["AUTH", "alice", "alicepw"],
        vec!["GET", "b:x"],
        vec!["ACL", "WHOAMI"],
    ] {
        assert_eq!(c.cmd_str(&args), d.cmd_str(&args), "{args:?}");
    }
    // CLIENT LIST shows the user.
    assert!(c.cmd_str(&["CLIENT", "INFO"]).contains(" user=alice "));
}

#[test]
fn rights_changed_at_redis_are_obeyed_within_2_s() {
    let redis = redis_with_users();
    let mut root = login(redis.port, "root", "rootpw");
    assert_eq!(root.cmd(&["SET", "a:1", "v"]), b"+OK\r\n");
    let hc = hotcache(&redis);
    let mut alice = login(hc.port, "alice", "alicepw");
    assert_eq!(alice.cmd(&["GET", "a:1"]), b"$1\r\nv\r\n");
    let before = hits(&mut alice);
    assert_eq!(alice.cmd(&["GET", "a:1"]), b"$1\r\nv\r\n");
    assert!(hits(&mut alice) > before, "cached for alice");
    assert_eq!(root.cmd(&["ACL", "SETUSER", "alice", "resetkeys", "~b:*"]), b"+OK\r\n");
    let changed = Instant::now();
    loop {
        let r = alice.cmd_str(&["GET", "a:1"]);
        if r.starts_with("-NOPERM") {
            break;
        }
        assert_eq!(r, "$1\r\nv\r\n");
        assert!(changed.elapsed() < Duration::from_secs(2), "alice still served after 2 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("rights revoked at Redis obeyed after {:?}", changed.elapsed());
}

#[test]
fn a_deleted_user_s_clients_are_disconnected() {
    let redis = redis_with_users();
    let hc = hotcache(&redis);
    let mut bob = login(hc.port, "bob", "bobpw");
    let mut alice = login(hc.port, "alice", "alicepw");
    assert_eq!(bob.cmd(&["SET", "b:1", "x"]), b"+OK\r\n");
    let mut root = login(redis.port, "root", "rootpw");
    assert_eq!(root.cmd(&["ACL", "DELUSER", "bob"]), b":1\r\n");
    assert!(bob.is_closed(Duration::from_secs(10)), "bob's client stayed connected");
    // Others go on; bob cannot come back.
    assert_eq!(alice.cmd(&["SET", "a:1", "x"]), b"+OK\r\n");
    let mut again = RawClient::connect(hc.port);
    let r = again.cmd_str(&["AUTH", "bob", "bobpw"]);
    assert!(r.starts_with("-WRONGPASS"), "{r}");
}

/// hotcache's own identity with only the documented rights: tracking works
/// (a write made straight to Redis reaches a user's cached read).
#[test]
fn the_minimal_identity_is_enough_for_tracking() {
    let redis = redis_with_users();
    let mut root = login(redis.port, "root", "rootpw");
    assert_eq!(root.cmd(&["SET", "a:t", "old"]), b"+OK\r\n");
    let hc = hotcache(&redis);
    let mut alice = login(hc.port, "alice", "alicepw");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !alice.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up") {
        assert!(Instant::now() < deadline, "tracking never came up with the minimal rights");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(alice.cmd(&["GET", "a:t"]), b"$3\r\nold\r\n");
    assert_eq!(alice.cmd(&["GET", "a:t"]), b"$3\r\nold\r\n");
    assert_eq!(root.cmd(&["SET", "a:t", "new"]), b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alice.cmd(&["GET", "a:t"]) != b"$3\r\nnew\r\n" {
        assert!(Instant::now() < deadline, "a write straight to Redis never reached the cache");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// hotcache's own administrative commands are allowed to the users Redis
/// would allow the Redis commands they stand for (`ACL DRYRUN`).
#[test]
fn hotcache_s_own_commands_need_the_rights_redis_would_ask() {
    let redis = redis_with_users();
    let hc = hotcache(&redis);
    let mut carol = login(hc.port, "carol", "carolpw");
    let mut alice = login(hc.port, "alice", "alicepw");
    for (args, command) in [
        (vec!["CONFIG", "GET", "hotcache.cache-ttl"], "config|get"),
        (vec!["CONFIG", "SET", "hotcache.cache-ttl", "1000"], "config|set"),
        (vec!["HOTKEYS"], "config|get"),
        (vec!["CLIENT", "LIST"], "client|list"),
        (vec!["CLIENT", "KILL", "ID", "1"], "client|kill"),
        (vec!["SLOWLOG", "GET"], "slowlog|get"),
        (vec!["SLOWLOG", "RESET"], "slowlog|reset"),
        (vec!["CONFIG", "RESETSTAT"], "config|resetstat"),
    ] {
        assert_eq!(
            carol.cmd_str(&args),
            format!("-NOPERM this user has no permissions to run the '{command}' command\r\n"),
            "{args:?}"
        );
        assert!(!alice.cmd(&args).starts_with(b"-NOPERM"), "alice {args:?}");
    }
    // What concerns only the client's own connection needs nothing.
    assert_eq!(carol.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(carol.cmd(&["CLIENT", "SETNAME", "c"]), b"+OK\r\n");
    assert_eq!(carol.cmd(&["ACL", "WHOAMI"]), b"$5\r\ncarol\r\n");
}

/// Redis's `default` user turned off (or given a password) at Redis: a new
/// client that did not AUTH gets Redis's NOAUTH within 2 s, never the cached
/// reply it could read before, whether hotcache reads the ACL list (the
/// default user's flags say it) or may not (it asks Redis a PING without AUTH).
#[test]
fn the_default_user_turned_off_at_redis_locks_out_clients_without_auth() {
    for hc_rules in [MINIMAL_HC, &MINIMAL_HC.replace(" +acl|list", "")] {
        let file = std::env::temp_dir().join(format!(
            "hotcache-acl-default-{}-{}.acl",
            std::process::id(),
            hc_rules.len()
        ));
        let rules = [
            "user default on nopass ~* &* +@all",
            "user root on >rootpw ~* &* +@all",
            &format!("user {hc_rules}"),
        ];
        std::fs::write(&file, rules.join("\n") + "\n").expect("write the ACL file");
        let redis = RedisServer::start_with(&["--aclfile", &file.to_string_lossy()]);
        let hc = hotcache(&redis);
        let mut open = RawClient::connect(hc.port);
        assert_eq!(open.cmd(&["SET", "k", "v"]), b"+OK\r\n");
        for _ in 0..2 {
            assert_eq!(open.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
        }
        let mut root = login(redis.port, "root", "rootpw");
        assert_eq!(root.cmd(&["ACL", "SETUSER", "default", "off"]), b"+OK\r\n");
        let mut direct = RawClient::connect(redis.port);
        let noauth = direct.cmd(&["GET", "k"]);
        assert!(noauth.starts_with(b"-NOAUTH"), "{}", String::from_utf8_lossy(&noauth));
        let changed = Instant::now();
        loop {
            let mut c = RawClient::connect(hc.port);
            let r = c.cmd(&["GET", "k"]);
            if r == noauth {
                break;
            }
            assert_eq!(r, b"$1\r\nv\r\n", "{hc_rules}");
            assert!(changed.elapsed() < Duration::from_secs(2), "{hc_rules}: served after 2 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("default off obeyed after {:?} ({hc_rules})", changed.elapsed());
        let _ = std::fs::remove_file(&file);
    }
}

/// hotcache in front of a Redis whose `default` user has a password
/// (`requirepass`), once hotcache has learned that clients must AUTH: a fresh
/// client's PING, which hotcache answers itself, is refused.
fn hotcache_knowing_default_wants_auth(redis: &RedisServer) -> Hotcache {
    let url = format!("redis://:up@127.0.0.1:{}", redis.port);
    let hc = Hotcache::start(&["--upstream", &url, "--threads", "1", "--cache-mode", "all"]);
    let start = Instant::now();
    while RawClient::connect(hc.port).cmd(&["PING"]) != b"-NOAUTH Authentication required.\r\n" {
        assert!(start.elapsed() < Duration::from_secs(10), "hotcache never learned AUTH is needed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Fills are cached only once the tracking stream is up.
    let mut c = login(hc.port, "default", "up");
    while !c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up") {
        assert!(start.elapsed() < Duration::from_secs(10), "tracking never up");
        std::thread::sleep(Duration::from_millis(10));
    }
    hc
}

/// RESET logs the client out as Redis does: it may run commands after it only
/// if Redis's `default` user needs no password, also for the commands sent in
/// the same write as the RESET (they were once run as logged in, and got
/// cached replies and hotcache's own administrative commands).
#[test]
fn reset_logs_out_also_for_the_rest_of_the_input() {
    let redis = RedisServer::start_with(&["--requirepass", "up"]);
    let hc = hotcache_knowing_default_wants_auth(&redis);
    let mut owner = RawClient::connect(hc.port);
    assert_eq!(owner.cmd(&["AUTH", "up"]), b"+OK\r\n");
    assert_eq!(owner.cmd(&["SET", "secret", "v"]), b"+OK\r\n");
    let before = hits(&mut owner);
    for _ in 0..2 {
        assert_eq!(owner.cmd(&["GET", "secret"]), b"$1\r\nv\r\n");
    }
    assert!(hits(&mut owner) > before, "the read is cached");
    let noauth = b"-NOAUTH Authentication required.\r\n";
    let mut direct = RawClient::connect(redis.port);
    let mut batch = crate::common::encode(&["RESET"]);
    for args in [&["GET", "secret"][..], &["CLIENT", "LIST"], &["CONFIG", "GET", "hotcache.*"]] {
        assert_eq!(direct.cmd(args), noauth, "{args:?} at Redis");
        batch.extend(crate::common::encode(args));
    }
    for c in [&mut RawClient::connect(hc.port), &mut owner] {
        c.send(&batch);
        assert_eq!(c.read_reply(), b"+RESET\r\n");
        for n in 0..3 {
            assert_eq!(c.read_reply(), noauth, "reply {n} after RESET");
        }
        assert_eq!(c.cmd(&["AUTH", "up"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["GET", "secret"]), b"$1\r\nv\r\n");
    }
}

/// Who a client is (a Redis user, or whoever knows hotcache's own password)
/// is decided when it connects: CONFIG SET may change hotcache's password but
/// not set or clear it, which would leave clients logged in as Redis users
/// unchecked.
#[test]
fn requirepass_cannot_switch_between_redis_users_and_hotcache_s_own() {
    let redis = RedisServer::start_with(&["--requirepass", "up"]);
    let users = hotcache_knowing_default_wants_auth(&redis);
    let mut c = login(users.port, "default", "up");
    let refused = "-ERR CONFIG SET failed (possibly related to argument 'hotcache.requirepass') - setting it or clearing it switches between hotcache's own password and Redis's users, which needs a restart\r\n";
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "hotcache.requirepass", "pw"]), refused);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hotcache.requirepass"]),
        b"*2\r\n$20\r\nhotcache.requirepass\r\n$0\r\n\r\n"
    );
    let url = format!("redis://:up@127.0.0.1:{}", redis.port);
    let own = Hotcache::start(&["--upstream", &url, "--threads", "1", "--requirepass", "pw"]);
    let mut c = login(own.port, "default", "pw");
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "hotcache.requirepass", ""]), refused);
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.requirepass", "other"]), b"+OK\r\n");
    assert_eq!(RawClient::connect(own.port).cmd(&["AUTH", "other"]), b"+OK\r\n");
}

/// CLIENT KILL USER closes the clients logged in as that Redis user, and only
/// them; a user Redis does not have is "No such user", as from Redis.
#[test]
fn client_kill_user_closes_that_user_s_clients_only() {
    let redis = redis_with_users();
    let hc = hotcache(&redis);
    let mut alice = login(hc.port, "alice", "alicepw");
    let mut alice2 = login(hc.port, "alice", "alicepw");
    let mut bob = login(hc.port, "bob", "bobpw");
    let mut root = login(hc.port, "root", "rootpw");
    let mut direct = login(redis.port, "root", "rootpw");
    // Nobody is logged in as `default` (it is off): nothing to close.
    assert_eq!(root.cmd(&["CLIENT", "KILL", "USER", "default"]), b":0\r\n");
    assert_eq!(root.cmd(&["CLIENT", "KILL", "USER", "alice"]), b":2\r\n");
    assert!(alice.is_closed(Duration::from_secs(10)), "alice's first client stayed");
    assert!(alice2.is_closed(Duration::from_secs(10)), "alice's second client stayed");
    assert_eq!(bob.cmd(&["SET", "b:1", "x"]), b"+OK\r\n");
    let refused = direct.cmd_str(&["CLIENT", "KILL", "USER", "nobody"]);
    assert_eq!(refused, "-ERR No such user 'nobody'\r\n");
    assert_eq!(root.cmd_str(&["CLIENT", "KILL", "USER", "nobody"]), refused);
    // A user without clients: known once hotcache has read Redis's users
    // (twice a second).
    let start = Instant::now();
    while root.cmd(&["CLIENT", "KILL", "USER", "carol"]) != b":0\r\n" {
        assert!(start.elapsed() < Duration::from_secs(10), "carol never known");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(bob.cmd(&["PING"]), b"+PONG\r\n");
}
