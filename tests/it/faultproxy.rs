//! A fault-injecting TCP proxy for tests, placed between hotcache and Redis
//! (`--upstream redis://127.0.0.1:<proxy port>`).
//!
//! Plain std threads: one accepting, two per proxied connection (one per
//! direction). Every pump reads with a short timeout so that it sees the test's
//! orders within milliseconds. The test controls, at run time:
//!
//! * [`FaultProxy::set_delay`]: a sleep before every chunk forwarded, in one
//!   direction or both (order is kept: each direction is one thread);
//! * [`FaultProxy::reset_all`]: every open connection is reset (SO_LINGER 0, then
//!   close, so both peers get an RST), returning once they all are;
//! * [`FaultProxy::black_hole`]: nothing is forwarded any more, connections stay
//!   open, new ones are accepted and frozen too (a frozen or partitioned peer:
//!   the bytes wait in the proxy and the kernel buffers; they flow again once the
//!   black hole ends, as TCP delivers them when a partition heals);
//! * [`FaultProxy::cut_next_reply`]: the next chunk from Redis of at least some
//!   size is forwarded in half, then its connection is reset, or stalls (the rest
//!   is held until [`FaultProxy::restore`]);
//! * [`FaultProxy::refuse`]: new connections are accepted and reset at once;
//! * [`FaultProxy::counts`]: connections and bytes.
//!
//! I/O errors in the pumps end that connection; nothing in the proxy loop panics.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a pump looks at the controls when it has nothing to do.
const POLL: Duration = Duration::from_millis(5);

/// A direction of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// hotcache to Redis (requests).
    Up,
    /// Redis to hotcache (replies).
    Down,
    Both,
}

/// What happens to a connection after the first half of a cut chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCut {
    /// Reset the connection (both sides get an RST).
    Reset,
    /// Forward nothing more on it until [`FaultProxy::restore`] (then the rest
    /// of the chunk goes first) or [`FaultProxy::reset_all`].
    Stall,
}

const CUT_NONE: u8 = 0;
const CUT_RESET: u8 = 1;
const CUT_STALL: u8 = 2;

/// Connection and byte counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Connections accepted and forwarded to Redis.
    pub accepted: u64,
    /// Connections reset at once because `refuse` was on (or Redis refused them).
    pub refused: u64,
    /// Connections open now.
    pub open: u64,
    /// Bytes forwarded to Redis.
    pub bytes_up: u64,
    /// Bytes forwarded from Redis.
    pub bytes_down: u64,
    /// Connections reset by `reset_all` or a cut.
    pub resets: u64,
    /// Chunks cut in half.
    pub cuts: u64,
}

#[derive(Default)]
struct Control {
    stop: AtomicBool,
    delay_up_us: AtomicU64,
    delay_down_us: AtomicU64,
    black_hole: AtomicBool,
    refuse: AtomicBool,
    cut: AtomicU8,
    cut_min_len: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    resets: AtomicU64,
    cuts: AtomicU64,
    links: Mutex<Vec<Weak<Link>>>,
}

/// One proxied connection: hotcache's side and Redis's side.
struct Link {
    client: TcpStream,
    server: TcpStream,
    /// Set to end both pumps; the sockets are then reset when the last pump
    /// drops its handle.
    kill: AtomicBool,
    /// Set after a cut with [`AfterCut::Stall`].
    stalled: AtomicBool,
}

impl Link {
    /// Ends the connection with an RST on both sides (once both pumps let go).
    fn reset(&self, ctl: &Control) {
        if !self.kill.swap(true, SeqCst) {
            let _ = socket2::SockRef::from(&self.client).set_linger(Some(Duration::ZERO));
            let _ = socket2::SockRef::from(&self.server).set_linger(Some(Duration::ZERO));
            ctl.resets.fetch_add(1, SeqCst);
        }
    }
}

/// A running proxy; stopped (and every connection reset) when dropped.
pub struct FaultProxy {
    pub port: u16,
    pub upstream_port: u16,
    ctl: Arc<Control>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port forwarding to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking listener");
        let ctl = Arc::new(Control::default());
        let acceptor = {
            let ctl = ctl.clone();
            std::thread::Builder::new()
                .name(format!("faultproxy-{port}"))
                .spawn(move || accept_loop(listener, upstream_port, ctl))
                .expect("spawn the proxy")
        };
        Self { port, upstream_port, ctl, acceptor: Some(acceptor) }
    }

    /// The URL hotcache's `--upstream` takes to go through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sleeps `delay` before forwarding each chunk going in `dir`.
    pub fn set_delay(&self, dir: Dir, delay: Duration) {
        let us = delay.as_micros() as u64;
        if matches!(dir, Dir::Up | Dir::Both) {
            self.ctl.delay_up_us.store(us, SeqCst);
        }
        if matches!(dir, Dir::Down | Dir::Both) {
            self.ctl.delay_down_us.store(us, SeqCst);
        }
    }

    /// Resets every open connection and returns once each one is closed.
    pub fn reset_all(&self) {
        let links: Vec<Arc<Link>> = {
            let mut links = self.ctl.links.lock().unwrap_or_else(|e| e.into_inner());
            links.retain(|l| l.strong_count() > 0);
            links.iter().filter_map(Weak::upgrade).collect()
        };
        let weak: Vec<Weak<Link>> = links.iter().map(Arc::downgrade).collect();
        for l in &links {
            l.reset(&self.ctl);
        }
        drop(links);
        // The pumps see the order within one poll and drop their handles.
        let deadline = Instant::now() + Duration::from_secs(5);
        while weak.iter().any(|w| w.strong_count() > 0) {
            assert!(Instant::now() < deadline, "fault proxy: connections not reset in time");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Starts (true) or ends (false) the black hole: nothing is forwarded while
    /// it lasts, and connections stay open.
    pub fn black_hole(&self, on: bool) {
        self.ctl.black_hole.store(on, SeqCst);
    }

    /// Cuts the next chunk coming from Redis that is at least `min_len` bytes
    /// long: its first half is forwarded, then `then` happens to its connection.
    pub fn cut_next_reply(&self, min_len: usize, then: AfterCut) {
        self.ctl.cut_min_len.store(min_len.max(2) as u64, SeqCst);
        let mode = match then {
            AfterCut::Reset => CUT_RESET,
            AfterCut::Stall => CUT_STALL,
        };
        self.ctl.cut.store(mode, SeqCst);
    }

    /// True while a cut is armed and has not happened yet.
    pub fn cut_pending(&self) -> bool {
        self.ctl.cut.load(SeqCst) != CUT_NONE
    }

    /// Resets new connections at once (true) or forwards them again (false).
    pub fn refuse(&self, on: bool) {
        self.ctl.refuse.store(on, SeqCst);
    }

    /// Ends every fault: no delay, no black hole, no refusal, no armed cut, and
    /// stalled connections forward again.
    pub fn restore(&self) {
        self.set_delay(Dir::Both, Duration::ZERO);
        self.black_hole(false);
        self.refuse(false);
        self.ctl.cut.store(CUT_NONE, SeqCst);
        let links = self.ctl.links.lock().unwrap_or_else(|e| e.into_inner());
        for l in links.iter().filter_map(Weak::upgrade) {
            l.stalled.store(false, SeqCst);
        }
    }

    pub fn counts(&self) -> Counts {
        let c = &self.ctl;
        Counts {
            accepted: c.accepted.load(SeqCst),
            refused: c.refused.load(SeqCst),
            open: c.open.load(SeqCst),
            bytes_up: c.bytes_up.load(SeqCst),
            bytes_down: c.bytes_down.load(SeqCst),
            resets: c.resets.load(SeqCst),
            cuts: c.cuts.load(SeqCst),
        }
    }

    /// Waits until at least `n` connections are open through the proxy.
    pub fn wait_open(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.counts().open < n {
            assert!(Instant::now() < deadline, "fault proxy: {n} connections not open in time");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.ctl.stop.store(true, SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        // Pumps notice `stop` within one poll and end their connections.
    }
}

fn accept_loop(listener: TcpListener, upstream_port: u16, ctl: Arc<Control>) {
    while !ctl.stop.load(SeqCst) {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(_) => {
                // Out of descriptors and the like: pause, keep accepting.
                std::thread::sleep(POLL);
                continue;
            }
        };
        if ctl.refuse.load(SeqCst) {
            reset_now(client, &ctl);
            continue;
        }
        let server = match TcpStream::connect_timeout(
            &([127, 0, 0, 1], upstream_port).into(),
            Duration::from_secs(2),
        ) {
            Ok(s) => s,
            Err(_) => {
                // Redis is not there: the client sees its connection reset.
                reset_now(client, &ctl);
                continue;
            }
        };
        if let Err(e) = start_link(client, server, &ctl) {
            eprintln!("fault proxy: cannot start a connection: {e}");
        }
    }
    // Stopping: reset what is still open.
    let links = ctl.links.lock().unwrap_or_else(|e| e.into_inner());
    for l in links.iter().filter_map(Weak::upgrade) {
        l.reset(&ctl);
    }
}

/// Closes a fresh connection with an RST.
fn reset_now(client: TcpStream, ctl: &Control) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
    drop(client);
    ctl.refused.fetch_add(1, SeqCst);
}

fn start_link(client: TcpStream, server: TcpStream, ctl: &Arc<Control>) -> std::io::Result<()> {
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(POLL))?;
        s.set_write_timeout(Some(POLL))?;
    }
    let link = Arc::new(Link {
        client,
        server,
        kill: AtomicBool::new(false),
        stalled: AtomicBool::new(false),
    });
    {
        let mut links = ctl.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|l| l.strong_count() > 0);
        links.push(Arc::downgrade(&link));
    }
    ctl.accepted.fetch_add(1, SeqCst);
    ctl.open.fetch_add(1, SeqCst);
    // The last pump to end counts the connection closed.
    let ends = Arc::new(AtomicU8::new(0));
    for dir in [Dir::Up, Dir::Down] {
        let (link, ctl, ends) = (link.clone(), ctl.clone(), ends.clone());
        std::thread::Builder::new().name(format!("faultproxy-{dir:?}")).spawn(move || {
            pump(&link, dir, &ctl);
            if ends.fetch_add(1, SeqCst) == 1 {
                ctl.open.fetch_sub(1, SeqCst);
            }
        })?;
    }
    Ok(())
}

/// True when the pump must stop at once.
fn ended(link: &Link, ctl: &Control) -> bool {
    link.kill.load(SeqCst) || ctl.stop.load(SeqCst)
}

/// Forwards one direction until either side ends or the connection is reset.
fn pump(link: &Link, dir: Dir, ctl: &Control) {
    let (mut from, mut to) = match dir {
        Dir::Up => (&link.client, &link.server),
        _ => (&link.server, &link.client),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if ended(link, ctl) {
            break;
        }
        if ctl.black_hole.load(SeqCst) || link.stalled.load(SeqCst) {
            std::thread::sleep(POLL);
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                // A clean close: pass the half-close on, let the other way finish.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        // A black hole that began while this read waited holds the chunk too.
        while ctl.black_hole.load(SeqCst) && !ended(link, ctl) {
            std::thread::sleep(POLL);
        }
        let delay = match dir {
            Dir::Up => ctl.delay_up_us.load(SeqCst),
            _ => ctl.delay_down_us.load(SeqCst),
        };
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        let mut chunk = &buf[..n];
        if dir == Dir::Down
            && n as u64 >= ctl.cut_min_len.load(SeqCst)
            && let mode @ (CUT_RESET | CUT_STALL) = ctl.cut.swap(CUT_NONE, SeqCst)
        {
            let half = n / 2;
            if !write_all(&mut to, &chunk[..half], link, ctl) {
                break;
            }
            ctl.bytes_down.fetch_add(half as u64, SeqCst);
            ctl.cuts.fetch_add(1, SeqCst);
            if mode == CUT_RESET {
                break;
            }
            link.stalled.store(true, SeqCst);
            while link.stalled.load(SeqCst) && !ended(link, ctl) {
                std::thread::sleep(POLL);
            }
            chunk = &chunk[half..];
        }
        if !write_all(&mut to, chunk, link, ctl) {
            break;
        }
        let counter = if dir == Dir::Up { &ctl.bytes_up } else { &ctl.bytes_down };
        counter.fetch_add(chunk.len() as u64, SeqCst);
    }
    // An error, a reset order or a stop: reset the whole connection.
    link.reset(ctl);
}

/// Writes all of `bytes` unless the connection fails or is reset first.
fn write_all(to: &mut &TcpStream, mut bytes: &[u8], link: &Link, ctl: &Control) -> bool {
    while !bytes.is_empty() {
        if ended(link, ctl) {
            return false;
        }
        match to.write(bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return false,
        }
    }
    true
}
