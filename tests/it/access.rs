//! Access and limits: requirepass, maxclients, idle timeout, CLIENT KILL, the
//! output buffer limit.

use std::io::Write;
use std::time::Duration;

use crate::common::{Hotcache, RawClient, RedisServer, encode};

#[test]
fn requirepass_as_redis() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--requirepass", "s3cret"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["GET", "a"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(c.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        c.cmd(&["AUTH", "bob", "s3cret"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert!(c.cmd_str(&["HELLO", "3"]).starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    // RESET logs the client out again.
    assert_eq!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(c.cmd(&["GET", "a"]), b"-NOAUTH Authentication required.\r\n");
    // HELLO with AUTH authenticates and switches protocol in one step.
    let r = c.cmd_str(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"]);
    assert!(r.starts_with("%8\r\n"), "{r}");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), b"$2\r\nme\r\n");
    assert_eq!(c.cmd(&["GET", "a"]), b"$1\r\n1\r\n");
}

#[test]
fn auth_without_requirepass_as_redis() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(
        c.cmd(&["AUTH", "x"]),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "default", "anything"]), b"+OK\r\n");
    let mut direct = redis.client();
    assert_eq!(c.cmd(&["AUTH", "a", "b", "c"]), direct.cmd(&["AUTH", "a", "b", "c"]));
}

/// With hotcache's own `requirepass`, the URL's credentials are what every
/// client runs as; without, they are hotcache's alone, and a client is whoever
/// it logs in as at Redis (here Redis's `default`, with its password).
#[test]
fn upstream_credentials_from_the_url() {
    let redis = RedisServer::start_with(&["--requirepass", "up"]);
    let url = format!("redis://:up@127.0.0.1:{}/2", redis.port);
    let hc = Hotcache::start(&["--upstream", &url, "--threads", "1", "--requirepass", "hc"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["AUTH", "hc"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "cred", "ok"]), b"+OK\r\n");
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["AUTH", "up"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["SELECT", "2"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["GET", "cred"]), b"$2\r\nok\r\n");
    // No requirepass: the client must log in as Redis wants.
    let users = Hotcache::start(&["--upstream", &url, "--threads", "1"]);
    let mut u = users.client();
    assert_eq!(u.cmd(&["GET", "cred"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(u.cmd(&["AUTH", "nope"]), direct.cmd(&["AUTH", "nope"]));
    assert_eq!(u.cmd(&["AUTH", "up"]), b"+OK\r\n");
    assert_eq!(u.cmd(&["GET", "cred"]), b"$2\r\nok\r\n");
    // A wrong password of hotcache's own shows as an error naming the
    // upstream, not a hang.
    let bad = format!("redis://:nope@127.0.0.1:{}", redis.port);
    let hc2 = Hotcache::start(&["--upstream", &bad, "--threads", "1", "--requirepass", "hc"]);
    let mut c2 = hc2.client();
    assert_eq!(c2.cmd(&["AUTH", "hc"]), b"+OK\r\n");
    let r = c2.cmd_str(&["GET", "x"]);
    assert!(r.starts_with("-ERR upstream 127.0.0.1:") && r.contains("WRONGPASS"), "{r}");
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--maxclients", "3"]);
    // The harness's readiness probe may still be counted for a moment after it
    // hung up, so a refusal here is retried; three clients must get in.
    let mut held: Vec<RawClient> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while held.len() < 3 {
        let mut c = hc.client();
        match c.try_cmd(&["PING"]) {
            Ok(r) if r == b"+PONG\r\n" => held.push(c),
            other => {
                assert!(std::time::Instant::now() < deadline, "refused: {other:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let mut extra = hc.client();
    assert_eq!(extra.read_reply(), b"-ERR max number of clients reached\r\n");
    assert!(extra.is_closed(Duration::from_secs(5)));
    // A place frees up when a client leaves.
    drop(held.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = hc.client();
        if let Ok(r) = c.try_cmd(&["PING"])
            && r == b"+PONG\r\n"
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idle_timeout_closes_idle_clients_only() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--timeout", "1"]);
    let mut idle = hc.client();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    let mut busy = hc.client();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        assert_eq!(busy.cmd(&["PING"]), b"+PONG\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(idle.is_closed(Duration::from_secs(5)));
    assert_eq!(busy.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_list_kill_setname() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(b.cmd(&["CLIENT", "SETNAME", "victim"]), b"+OK\r\n");
    assert_eq!(
        b.cmd(&["CLIENT", "SETNAME", "has space"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    let id = String::from_utf8(b.cmd(&["CLIENT", "ID"])).expect("utf8");
    let id = id.trim_start_matches(':').trim_end().to_string();
    let list = a.cmd_str(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("id={id} ")) && list.contains("name=victim"), "{list}");
    let info = b.cmd_str(&["CLIENT", "INFO"]);
    assert!(info.contains("name=victim") && info.contains("cmd=client|info"), "{info}");
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert!(b.is_closed(Duration::from_secs(5)));
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &id]), b":0\r\n");
    assert_eq!(a.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]), b"-ERR No such client\r\n");
    assert_eq!(a.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_not_reading_is_closed_at_output_limit_others_unaffected() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--client-output-buffer-limit", "1mb"]);
    let mut setup = hc.client();
    let big = "x".repeat(100_000);
    assert_eq!(setup.cmd(&["SET", "big", &big]), b"+OK\r\n");
    // A client that asks for ~500 MB of replies and reads none of them.
    let mut greedy = hc.client();
    let batch: Vec<u8> = (0..5000).flat_map(|_| encode(&["GET", "big"])).collect();
    let _ = greedy.stream.write_all(&batch);
    let mut other = hc.client();
    for _ in 0..50 {
        assert_eq!(other.cmd(&["PING"]), b"+PONG\r\n");
    }
    assert!(greedy.is_closed(Duration::from_secs(10)), "non-reading client was not closed");
    let info = other.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("client_output_limit_disconnections:1"), "{info}");
}
