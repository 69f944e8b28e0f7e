//! Memory taken for large requests goes back to the system when the client
//! closes or goes idle, not only when the thread happens to allocate again.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RedisServer, rss_of};

const MB: usize = 1 << 20;

/// Waits until hotcache's RSS is below `limit` bytes; panics after 20 s.
fn wait_rss_below(hc: &Hotcache, limit: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rss = rss_of(hc.child.id());
        if rss < limit {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: RSS still {} MB", rss >> 20);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends the header of a `len`-byte SET value and all of it but the last MB.
fn partial_bulk(port: u16, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.write_all(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${len}\r\n").as_bytes()).expect("header");
    let chunk = vec![b'x'; MB];
    for _ in 0..(len / MB - 1) {
        s.write_all(&chunk).expect("body");
    }
    s
}

#[test]
fn large_request_buffers_are_returned_on_close_and_when_idle() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    let base = rss_of(hc.child.id());
    // Three clients each send most of a 100 MB value, wait until hotcache
    // holds it, and leave.
    let clients: Vec<TcpStream> = (0..3).map(|_| partial_bulk(hc.port, 100 * MB)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rss_of(hc.child.id()) < base + 250 * MB as u64 {
        assert!(Instant::now() < deadline, "hotcache never held the requests");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(clients);
    wait_rss_below(&hc, base + 50 * MB as u64, "after the clients closed");
    // A client that sends a whole 100 MB request and then idles, connected.
    let mut idle = TcpStream::connect(("127.0.0.1", hc.port)).expect("connect");
    idle.set_write_timeout(Some(Duration::from_secs(30))).expect("timeout");
    idle.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let value = vec![b'y'; 100 * MB];
    idle.write_all(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).as_bytes())
        .expect("header");
    idle.write_all(&value).expect("value");
    idle.write_all(b"\r\n").expect("end");
    let mut ok = [0u8; 5];
    idle.read_exact(&mut ok).expect("reply");
    assert_eq!(&ok, b"+OK\r\n");
    wait_rss_below(&hc, base + 50 * MB as u64, "with the client idle");
    assert_eq!(c.cmd(&["STRLEN", "big"]), b":104857600\r\n");
}

/// While Redis is stopped (or slow), a client pipelining large writes is no
/// longer read once 64 MB of its requests wait upstream: its socket fills,
/// as in front of Redis itself. hotcache took all of it before (1.5 GB in
/// 20 s), and its memory with it. Once Redis is back every write is answered.
#[test]
fn requests_waiting_upstream_are_bounded_per_client() {
    bounded_while_redis_is_stopped(&[], |value| {
        let mut f = format!("*3\r\n$3\r\nSET\r\n$1\r\nw\r\n${}\r\n", value.len()).into_bytes();
        f.extend_from_slice(value);
        f.extend_from_slice(b"\r\n");
        f
    });
}

/// The same for a subscriber (relayed to a connection of its own: its
/// replies are not matched to its requests, what is bounded is what is not
/// yet written to Redis), sending PINGs with a large message.
#[test]
fn relayed_requests_waiting_upstream_are_bounded() {
    bounded_while_redis_is_stopped(&["SUBSCRIBE", "ch"], |value| {
        let mut f = format!("*2\r\n$4\r\nPING\r\n${}\r\n", value.len()).into_bytes();
        f.extend_from_slice(value);
        f.extend_from_slice(b"\r\n");
        f
    });
}

/// Starts a client (running `first`, if given, before Redis is stopped),
/// stops Redis, and has a thread send 300 requests of 1 MB made by `frame`:
/// while Redis is stopped, never 150 MB of them are taken; once it is back,
/// every one is answered, none with an error.
fn bounded_while_redis_is_stopped(first: &[&str], frame: impl Fn(&[u8]) -> Vec<u8>) {
    let redis = RedisServer::start();
    // The stall check off and upstream-timeout far away: Redis is stopped
    // on purpose.
    // Its 300 MB of replies may wait in hotcache (as in Redis, a subscriber
    // is closed past 32 MB of them by default).
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &[
            "--upstream-stall-timeout",
            "0",
            "--upstream-timeout",
            "120000",
            "--client-output-buffer-limit",
            "pubsub 0 0 0",
        ],
    );
    let mut c = hc.client();
    c.set_timeout(Duration::from_secs(60));
    assert_eq!(c.cmd(&["SET", "w", "0"]), b"+OK\r\n");
    if !first.is_empty() {
        assert!(!c.cmd(first).starts_with(b"-"));
    }
    redis.signal("STOP");
    let mut writer = c.stream.try_clone().expect("clone");
    writer.set_write_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = 300;
    let request = frame(&vec![b'v'; MB]);
    let counter = sent.clone();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            writer.write_all(&request).expect("request");
            counter.fetch_add(MB, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // 64 MB waiting upstream, a few more in the sockets' buffers: never
    // 150 MB (without the bound it took 150 MB in about 2 s).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let n = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n < 150 * MB, "hotcache took {} MB while Redis was stopped", n / MB);
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.signal("CONT");
    for i in 0..n {
        let r = c.read_reply();
        assert!(
            !r.starts_with(b"-"),
            "request {i}: {}",
            String::from_utf8_lossy(&r[..r.len().min(200)])
        );
    }
    t.join().expect("writer");
}
