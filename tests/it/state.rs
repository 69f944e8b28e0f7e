//! Connection state that cannot be shared: transactions, WATCH, blocking
//! commands, pub/sub, SELECT, CLIENT REPLY.

use std::time::Duration;

use crate::common::{Hotcache, RedisServer};

#[test]
fn watch_aborted_by_a_second_client() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(a.cmd(&["SET", "w", "1"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["WATCH", "w"]), b"+OK\r\n");
    assert_eq!(b.cmd(&["SET", "w", "2"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["SET", "w", "3"]), b"+QUEUED\r\n");
    // The transaction is aborted: EXEC answers a null array.
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");
    assert_eq!(a.cmd(&["GET", "w"]), b"$1\r\n2\r\n");
    // Without interference it commits.
    assert_eq!(a.cmd(&["WATCH", "w"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["SET", "w", "4"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&["EXEC"]), b"*1\r\n+OK\r\n");
    assert_eq!(b.cmd(&["GET", "w"]), b"$1\r\n4\r\n");
}

#[test]
fn discard_and_unwatch_return_the_client_to_shared_connections() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut a = hc.client();
    assert_eq!(a.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["INCR", "d"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&["DISCARD"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["GET", "d"]), b"$-1\r\n");
    assert_eq!(a.cmd(&["EXEC"]), b"-ERR EXEC without MULTI\r\n");
    assert_eq!(a.cmd(&["WATCH", "d"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["UNWATCH"]), b"+OK\r\n");
    // Redis sees hotcache's shared connection plus at most pooled ones; the
    // client's own connection went back to the pool, not left dangling in MULTI.
    let mut direct = redis.client();
    let list = direct.cmd_str(&["CLIENT", "LIST"]);
    assert!(!list.contains("flags=x"), "a connection was left in MULTI: {list}");
}

#[test]
fn blpop_woken_by_another_client() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let port = hc.port;
    let waiter = std::thread::spawn(move || {
        let mut c = crate::common::RawClient::connect(port);
        c.cmd(&["BLPOP", "queue", "10"])
    });
    // Wait until Redis reports a blocked client, then push.
    let mut direct = redis.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = direct.cmd_str(&["INFO", "clients"]);
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "BLPOP never blocked: {info}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Other clients keep being served while one is blocked.
    let mut other = hc.client();
    assert_eq!(other.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(other.cmd(&["SET", "x", "y"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["RPUSH", "queue", "job"]), b":1\r\n");
    let got = waiter.join().expect("waiter");
    assert_eq!(got, b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
}

#[test]
fn blocking_timeout_then_ordinary_commands() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["BLPOP", "nothing", "0.05"]), b"*-1\r\n");
    assert_eq!(c.cmd(&["SET", "after", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]), b"*-1\r\n");
    assert_eq!(c.cmd(&["GET", "after"]), b"$1\r\n1\r\n");
}

#[test]
fn pubsub_across_two_clients_resp2_and_resp3() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut sub = hc.client();
    assert_eq!(sub.cmd(&["SUBSCRIBE", "news"]), b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    let mut sub3 = hc.client();
    assert!(sub3.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(sub3.cmd(&["SUBSCRIBE", "news"]), b">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    let mut publisher = hc.client();
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), b":2\r\n");
    assert_eq!(sub.read_reply(), b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    assert_eq!(sub3.read_reply(), b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    // RESP2 subscribed mode: PING answers as Redis does there.
    assert_eq!(sub.cmd(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // RESP3 subscribers may run ordinary commands on the same connection.
    assert_eq!(sub3.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    // Patterns.
    assert_eq!(sub.cmd(&["PSUBSCRIBE", "n*"]), b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
    assert_eq!(publisher.cmd(&["PUBLISH", "nx", "p"]), b":1\r\n");
    assert_eq!(sub.read_reply(), b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\np\r\n");
    // RESET leaves subscribed mode and the client is an ordinary one again.
    assert_eq!(sub.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(sub.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "x"]), b":1\r\n");
}

#[test]
fn select_another_db_is_isolated() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut a = hc.client();
    let mut b = hc.client();
    assert_eq!(a.cmd(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["SET", "k", "in3"]), b"+OK\r\n");
    assert_eq!(b.cmd(&["GET", "k"]), b"$-1\r\n");
    assert_eq!(b.cmd(&["SET", "k", "in0"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["GET", "k"]), b"$3\r\nin3\r\n");
    assert_eq!(a.cmd(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["GET", "k"]), b"$3\r\nin0\r\n");
    assert_eq!(a.cmd(&["SELECT", "99"]), b"-ERR DB index is out of range\r\n");
    assert_eq!(a.cmd(&["GET", "k"]), b"$3\r\nin0\r\n");
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&["GET", "k"]), b"$3\r\nin3\r\n");
}

#[test]
fn client_reply_off_skip_on() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    c.send(&crate::common::encode(&["CLIENT", "REPLY", "OFF"]));
    c.send(&crate::common::encode(&["SET", "r", "1"]));
    c.send(&crate::common::encode(&["CLIENT", "REPLY", "SKIP"]));
    c.send(&crate::common::encode(&["CLIENT", "REPLY", "ON"]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    c.send(&crate::common::encode(&["CLIENT", "REPLY", "SKIP"]));
    c.send(&crate::common::encode(&["GET", "r"]));
    assert_eq!(c.cmd(&["GET", "r"]), b"$1\r\n1\r\n");
}

#[test]
fn client_tracking_pushes_reach_the_client() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert!(c.cmd_str(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "tracked"]), b"_\r\n");
    let mut other = hc.client();
    assert_eq!(other.cmd(&["SET", "tracked", "1"]), b"+OK\r\n");
    assert_eq!(c.read_reply(), b">2\r\n$10\r\ninvalidate\r\n*1\r\n$7\r\ntracked\r\n");
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "off"]), b"+OK\r\n");
}
