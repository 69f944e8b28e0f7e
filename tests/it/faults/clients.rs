//! Clients that misbehave: leave mid-pipeline by the dozen, connect and vanish by
//! the thousand, send endless or dribbled requests. The well-behaved client beside
//! them must see no error and no wrong reply, and hotcache's memory and client
//! count must come back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::{Load, assert_alive, hotcache_field, memory_of, wait_until};
use crate::common::{Hotcache, RawClient, RedisServer, encode};

/// Waits until INFO hotcache counts `want` connected clients (`c` included).
fn wait_clients(c: &mut RawClient, want: u64, timeout: Duration) -> Duration {
    wait_until(timeout, &format!("connected_clients back to {want}"), || {
        hotcache_field(c, "connected_clients") == want
    })
}

/// Closes a connection with an RST instead of a FIN.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Dozens of clients at once leave with replies owed: in the middle of a plain
/// pipeline, after an RST, inside MULTI, blocked in BLPOP. The steady clients
/// beside them see no error, the client count comes back, and nothing they
/// left behind lives on at Redis (an orphaned BLPOP would swallow a later push).
#[test]
fn many_clients_leaving_mid_pipeline_leave_others_unaffected() {
    let redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 2, &[]);
    let load = Load::start(hc.port, 3, 20, 16, "steady");
    load.wait_batches(2, Duration::from_secs(10), "steady clients running");
    let port = hc.port;
    let quitters: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..20 {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    let mut batch = Vec::new();
                    match (t + round) % 4 {
                        2 => {
                            batch.extend(encode(&["MULTI"]));
                            batch.extend(encode(&["SET", "fault:in-multi", "x"]));
                        }
                        3 => batch.extend(encode(&["BLPOP", "fault:orphan", "0"])),
                        _ => {}
                    }
                    for i in 0..300 {
                        let key = format!("fault:quit:{t}:{i}");
                        batch.extend(encode(&["SET", &key, "v"]));
                        batch.extend(encode(&["GET", &key]));
                    }
                    s.write_all(&batch).expect("write");
                    if round % 2 == 1 {
                        // Read a little of what is owed (nothing comes before BLPOP's
                        // reply, hence the timeout), then vanish with an RST.
                        let mut b = [0u8; 64];
                        s.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
                        let _ = s.read(&mut b);
                        reset(s);
                    } else {
                        drop(s);
                    }
                }
            })
        })
        .collect();
    for q in quitters {
        q.join().expect("quitter");
    }
    load.wait_batches(2, Duration::from_secs(10), "steady clients after the quitters");
    let (ok, errors, slowest) = load.totals();
    let last_error = load.last_error();
    load.stop();
    assert_alive(&mut hc);
    assert_eq!(errors, 0, "steady clients got errors, the last: {last_error}");
    let mut c = hc.client();
    let back = wait_clients(&mut c, 1, Duration::from_secs(10));
    // Dedicated connections left in MULTI or blocked are closed, not reused.
    wait_until(Duration::from_secs(10), "orphaned BLPOPs end at Redis", || {
        redis.blocked_clients() == 0
    });
    assert_eq!(c.cmd(&["RPUSH", "fault:orphan", "a"]), b":1\r\n");
    assert_eq!(c.cmd(&["LLEN", "fault:orphan"]), b":1\r\n");
    assert_eq!(c.cmd(&["GET", "fault:in-multi"]), b"$-1\r\n");
    eprintln!(
        "quitters: 320 clients left mid-pipeline; steady clients {ok} requests ok, slowest \
         pipeline {slowest:?}; client count back {back:?} after"
    );
}

/// 10,000 connections opened and closed quickly from several threads (closed at
/// once, after a PING and its reply, after a PING without reading, with an RST
/// in the middle of a command), while a steady client keeps getting correct
/// replies; afterwards the client count is back where it was.
#[test]
fn ten_thousand_connections_churn() {
    let redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut check = hc.client();
    let received_before = hotcache_field(&mut check, "total_connections_received");
    // The baseline is `check` alone. (Not measured here: the harness's readiness
    // probe may not have been seen closing yet.)
    let baseline = 1;
    let load = Load::start(hc.port, 1, 10, 16, "churn");
    let port = hc.port;
    let start = Instant::now();
    let threads: Vec<_> = (0..5)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let mut s = TcpStream::connect(("127.0.0.1", port))
                        .unwrap_or_else(|e| panic!("thread {t} connection {i}: {e}"));
                    match i % 4 {
                        0 => drop(s),
                        1 => {
                            s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                            s.write_all(b"PING\r\n").expect("ping");
                            let mut b = [0u8; 7];
                            s.read_exact(&mut b).expect("pong");
                            assert_eq!(&b, b"+PONG\r\n", "thread {t} connection {i}");
                        }
                        2 => {
                            let _ = s.write_all(b"*1\r\n$4\r\nPING\r\n");
                        }
                        _ => {
                            let _ = s.write_all(b"*2\r\n$3\r\nGET\r\n$2\r\nk");
                            reset(s);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("churn thread");
    }
    let churn = start.elapsed();
    load.wait_batches(2, Duration::from_secs(10), "steady client after the churn");
    let (ok, errors, slowest) = load.totals();
    load.stop();
    assert_alive(&mut hc);
    assert_eq!(errors, 0, "the steady client got errors");
    let back = wait_clients(&mut check, baseline, Duration::from_secs(10));
    let received = hotcache_field(&mut check, "total_connections_received") - received_before;
    assert!(received >= 10_000, "only {received} connections seen");
    let (rss, _) = memory_of(hc.child.id());
    eprintln!(
        "churn: 10,000 connections in {churn:?}; steady client {ok} requests ok, slowest \
         pipeline {slowest:?}; client count back {back:?} after; RSS after {:.1} MB",
        rss as f64 / 1e6
    );
}

/// Samples a process's resident memory until stopped; returns the peak seen.
struct MemoryWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

impl MemoryWatch {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let handle = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    peak.fetch_max(memory_of(pid).0, SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Self { stop, peak, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, SeqCst);
        let _ = self.handle.join();
        self.peak.load(SeqCst)
    }
}

/// Writes `first`, then `filler` forever, until the peer closes; a second thread
/// reads what comes back. Returns (bytes written, bytes received) once the
/// connection is closed, or panics after `timeout`.
fn flood(port: u16, first: &[u8], filler: u8, timeout: Duration) -> (u64, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut reader = s.try_clone().expect("clone");
    let read = std::thread::spawn(move || {
        reader.set_read_timeout(Some(timeout)).expect("timeout");
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            match reader.read(&mut b) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    });
    s.set_write_timeout(Some(timeout)).expect("timeout");
    s.write_all(first).expect("first bytes");
    let chunk = vec![filler; 64 * 1024];
    let mut written = first.len() as u64;
    let deadline = Instant::now() + timeout;
    while s.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
        assert!(Instant::now() < deadline, "still accepting input after {written} bytes");
    }
    let got = read.join().expect("reader").expect("read until closed");
    (written, got)
}

/// Three abusive clients beside a normal one, with a 64 MB query buffer limit:
/// an endless bulk string is closed at the limit (Redis sends nothing then
/// either), an endless inline line gets Redis's "too big inline request" and is
/// closed, a command dribbled one byte per second is answered. The normal client
/// sees no error, and hotcache's memory stays bounded meanwhile.
#[test]
fn endless_and_dribbled_requests_are_bounded() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 2, &["--client-query-buffer-limit", "64mb"]);
    let pid = hc.child.id();
    let (rss_start, _) = memory_of(pid);
    let watch = MemoryWatch::start(pid);
    let load = Load::start(hc.port, 1, 10, 16, "abuse");
    let port = hc.port;
    let timeout = Duration::from_secs(30);

    let bulk = std::thread::spawn(move || flood(port, b"*1\r\n$500000000\r\n", b'a', timeout));
    let inline = std::thread::spawn(move || flood(port, b"", b'a', timeout));
    let dribble = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let started = Instant::now();
        for &b in b"*1\r\n$4\r\nPING\r\n" {
            s.write_all(&[b]).expect("dribble");
            // The point of this client: one byte per second.
            std::thread::sleep(Duration::from_secs(1));
        }
        let mut reply = [0u8; 7];
        s.read_exact(&mut reply).expect("the dribbled PING's reply");
        assert_eq!(&reply, b"+PONG\r\n");
        s.write_all(b"*1\r\n$4\r\nPING\r\n").expect("ping");
        s.read_exact(&mut reply).expect("a second PING's reply");
        assert_eq!(&reply, b"+PONG\r\n");
        started.elapsed()
    });

    let (bulk_written, bulk_got) = bulk.join().expect("endless bulk client");
    let (inline_written, inline_got) = inline.join().expect("endless inline client");
    let dribbled = dribble.join().expect("dribbling client");
    load.wait_batches(2, Duration::from_secs(10), "normal client at the end");
    let (ok, errors, slowest) = load.totals();
    load.stop();
    let peak = watch.stop();
    assert_alive(&mut hc);
    let (rss_end, hwm) = memory_of(pid);

    assert_eq!(errors, 0, "the normal client got errors");
    assert_eq!(
        String::from_utf8_lossy(&inline_got),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(bulk_got.is_empty(), "endless bulk got {:?}", String::from_utf8_lossy(&bulk_got));
    assert!(bulk_written >= LIMIT, "closed after only {bulk_written} bytes");
    let mut c = hc.client();
    assert_eq!(hotcache_field(&mut c, "client_query_limit_disconnections"), 1);
    assert!(hotcache_field(&mut c, "protocol_errors") >= 1);
    eprintln!(
        "abusive clients: endless bulk closed after {:.1} MB sent, endless inline after {} KB, \
         dribbled PING answered ({dribbled:?}); normal client {ok} ok, slowest {slowest:?}; \
         hotcache RSS at start {:.1} MB, peak sampled {:.1} MB, VmHWM {:.1} MB, at end {:.1} MB",
        bulk_written as f64 / 1e6,
        inline_written / 1024,
        rss_start as f64 / 1e6,
        peak as f64 / 1e6,
        hwm as f64 / 1e6,
        rss_end as f64 / 1e6,
    );
    // The flooding client's input may take the limit and what its last read adds
    // past it (at most 1 MB); on top of the memory at start, the normal client,
    // the inline flood (64 KB) and the process's own work took about 8 MB here
    // (debug build). Buffers grown by doubling would copy themselves and peak
    // at twice the limit.
    let bound = rss_start + LIMIT + 24 * 1024 * 1024;
    assert!(hwm < bound, "peak RSS {hwm} over {bound}");
    wait_clients(&mut c, 1, Duration::from_secs(10));
    // A big argument below the limit still goes through, pipelined with others.
    let value = "v".repeat(8 << 20);
    let mut batch = encode(&["SET", "fault:big", &value]);
    batch.extend(encode(&["GET", "fault:big"]));
    batch.extend(encode(&["PING"]));
    c.send(&batch);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert!(c.read_reply() == super::bulk(&value), "GET of the 8 MB value");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
}
