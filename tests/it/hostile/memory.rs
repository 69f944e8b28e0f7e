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
    let redis = RedisServer::start();
    // The stall check off and upstream-timeout far away: Redis is stopped
    // on purpose.
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--upstream-stall-timeout", "0", "--upstream-timeout", "120000"],
    );
    let mut c = hc.client();
    c.set_timeout(Duration::from_secs(60));
    assert_eq!(c.cmd(&["SET", "w", "0"]), b"+OK\r\n");
    redis.signal("STOP");
    let mut writer = c.stream.try_clone().expect("clone");
    writer.set_write_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = 300;
    let counter = sent.clone();
    let t = std::thread::spawn(move || {
        let value = vec![b'v'; MB];
        for _ in 0..n {
            writer
                .write_all(format!("*3\r\n$3\r\nSET\r\n$1\r\nw\r\n${}\r\n", value.len()).as_bytes())
                .expect("header");
            writer.write_all(&value).expect("value");
            writer.write_all(b"\r\n").expect("end");
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
        assert_eq!(c.read_reply(), b"+OK\r\n", "write {i}");
    }
    t.join().expect("writer");
    assert_eq!(c.cmd(&["STRLEN", "w"]), format!(":{MB}\r\n").as_bytes());
}
