//! Start, stop, and what it costs to hold connections.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Hotcache, RedisServer, encode, rss_of};

/// SIGTERM with requests in flight: every request sent before the signal gets its
/// reply, then the connection closes and the process exits 0.
#[test]
fn graceful_shutdown_finishes_replies_in_flight() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let mut hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut clients: Vec<_> = (0..8).map(|_| hc.client()).collect();
    // Slow the upstream a little so replies are really in flight at the signal.
    let mut direct = redis.client();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for j in 0..2000 {
            batch.extend(encode(&["SET", &format!("g{i}:{j}"), "v"]));
        }
        batch.extend(encode(&["DEBUG", "SLEEP", "0.2"]));
        c.stream.write_all(&batch).expect("write");
    }
    // The promise is for what hotcache has read: a batch still in the client's
    // socket buffer at the signal is not in flight yet. Signal once every
    // command was parsed (the DEBUG SLEEPs keep their replies in flight).
    let mut check = hc.client();
    let sent = 8 * 2001;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = check.cmd_str(&["INFO", "hotcache"]);
        let processed: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("total_commands_processed in INFO hotcache");
        if processed >= sent {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "only {processed} of {sent} commands read");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(check);
    hc.signal("TERM");
    for c in clients.iter_mut() {
        for _ in 0..2000 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        assert_eq!(c.read_reply(), b"+OK\r\n");
        assert!(c.is_closed(Duration::from_secs(10)));
    }
    let status = hc.wait_exit(Duration::from_secs(15)).expect("hotcache did not exit");
    assert!(status.success(), "{status}");
    assert_eq!(direct.cmd(&["DBSIZE"]), b":16000\r\n");
    // No new connections after shutdown.
    assert!(TcpStream::connect(("127.0.0.1", hc.port)).is_err());
}

/// SIGTERM while a client's input is sent but not yet handled: hotcache stops
/// reading a client with 65,536 commands waiting for replies (here silenced
/// PINGs behind a SET that Redis holds with CLIENT PAUSE WRITE); at the signal
/// it reads the rest (70 KB of PINGs, several turns' worth) and, once Redis
/// answers, answers every command before it closes. (Nothing else is owed, and the client reads at once: the
/// output is empty at the end of each turn, where a shutdown that looked only
/// at what is owed would stop.)
#[test]
fn graceful_shutdown_answers_all_input_sent_before_the_signal() {
    let redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), b"+OK\r\n");
    // A send buffer that takes all of what hotcache does not read yet, so the
    // whole batch is sent (in the kernel) before the signal.
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.set_send_buffer_size(1 << 20).expect("SO_SNDBUF");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], hc.port).into();
    s.connect(&addr.into()).expect("connect");
    let stream: TcpStream = s.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut c = crate::common::RawClient::over(stream);
    let pings = 5_000;
    let mut batch = encode(&["SET", "paused", "v"]);
    batch.extend(encode(&["CLIENT", "REPLY", "OFF"]));
    for _ in 0..65_535 {
        batch.extend(encode(&["PING"]));
    }
    batch.extend(encode(&["CLIENT", "REPLY", "ON"]));
    for _ in 0..pings {
        batch.extend(encode(&["PING"]));
    }
    let mut writer = c.stream.try_clone().expect("clone");
    let (sent_tx, sent) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        writer.write_all(&batch).expect("write");
        let _ = sent_tx.send(());
    });
    // Signal once the whole batch is sent: hotcache reads at most the first
    // 65,537 commands before Redis answers the SET, so at least the last
    // 5,001 wait to be read or handled after the signal.
    sent.recv_timeout(Duration::from_secs(30)).expect("the batch sent");
    hc.signal("TERM");
    assert_eq!(direct.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    for _ in 0..2 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
    for n in 0..pings {
        assert_eq!(c.read_reply(), b"+PONG\r\n", "PING {n}");
    }
    assert!(c.is_closed(Duration::from_secs(10)));
    let status = hc.wait_exit(Duration::from_secs(15)).expect("hotcache did not exit");
    assert!(status.success(), "{status}");
}

/// 10,000 idle clients (each has sent one PING) cost well under 100 MB.
#[test]
fn ten_thousand_idle_connections_under_100mb() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--maxclients", "20000"]);
    // The test process itself needs descriptors for its side of the connections.
    raise_nofile();
    let mut conns = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let mut s = TcpStream::connect(("127.0.0.1", hc.port)).expect("connect");
        s.write_all(b"PING\r\n").expect("ping");
        conns.push(s);
    }
    let mut check = hc.client();
    // Every PING was read and answered once INFO counts them all as connected.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = check.cmd_str(&["INFO", "hotcache"]);
        if info.contains("connected_clients:10001\r\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss = rss_of(hc.child.id());
    eprintln!("RSS with 10,000 idle connections: {:.1} MB", rss as f64 / 1e6);
    assert!(rss < 100_000_000, "RSS {rss} bytes");
    assert_eq!(check.cmd(&["SET", "still", "ok"]), b"+OK\r\n");
}

/// A deep pipeline leaves little behind once it is answered: 40 clients that
/// each pipelined 2,400 GETs to Redis (cache off: each one pending, and in
/// flight upstream), and stay connected, cost hotcache well under 500 KB each
/// afterwards (the queue of a client's pending replies and the upstream
/// connection's queue of requests in flight give back their room: 185-188 KB
/// measured, where each kept 1.7-1.8 MB before). One thread: its upstream
/// connection is open before the burst (the SETs opened it).
#[test]
fn a_deep_pipeline_leaves_little_behind() {
    use std::io::Read;
    // 96,000 in flight at most: under upstream-max-inflight (100,000).
    const CLIENTS: usize = 40;
    const DEPTH: usize = 2400;
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--cache-mode", "off"]);
    let mut check = hc.client();
    for i in 0..10 {
        assert_eq!(check.cmd(&["SET", &format!("key:{i}"), &format!("v{i}")]), b"+OK\r\n");
    }
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", hc.port)).expect("connect"))
        .collect();
    let burst: Vec<u8> =
        (0..DEPTH).flat_map(|i| encode(&["GET", &format!("key:{}", i % 10)])).collect();
    let connected = format!("connected_clients:{}\r\n", CLIENTS + 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check.cmd_str(&["INFO", "hotcache"]).contains(&connected) {
        assert!(std::time::Instant::now() < deadline, "the clients were not all accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = rss_of(hc.child.id());
    for s in &mut conns {
        s.write_all(&burst).expect("send the pipeline");
    }
    // Every reply is `$2\r\nvN\r\n`: 8 bytes.
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut replies = vec![0u8; DEPTH * 8];
        s.read_exact(&mut replies).expect("every reply");
        let text = String::from_utf8_lossy(&replies);
        assert!(
            !text.contains('-'),
            "{}",
            &text[text.find('-').unwrap_or(0)..][..200.min(text.len())]
        );
    }
    // Freed pages go back to the system within a few hundred ms (`memory.rs`).
    let per_client = || rss_of(hc.child.id()).saturating_sub(before) / CLIENTS as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while per_client() >= 500_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} KB of RSS per client after the pipelines",
            per_client() / 1000
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("RSS per client after a pipeline of {DEPTH}: {} KB", per_client() / 1000);
    assert_eq!(check.cmd(&["GET", "key:1"]), b"$2\r\nv1\r\n");
}

fn raise_nofile() {
    let _ = std::process::Command::new("true").status();
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
