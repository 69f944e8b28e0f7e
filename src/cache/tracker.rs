//! Seeing writes made straight to Redis: a CLIENT TRACKING connection in BCAST
//! mode on every shard thread.
//!
//! # Why BCAST, one connection per thread
//!
//! The reading connections stay plain and shared: nothing has to be enabled on
//! each of them, or re-enabled after a reconnect, and Redis keeps no per-key
//! tracking table for hotcache. The price: Redis sends a message per written key
//! (matching `cache-tracking-prefixes`) whether hotcache cached it or not, once per
//! thread; on write-heavy workloads, use prefixes to limit it to the key spaces
//! worth caching.
//!
//! # How late it can be (rules 4 and 2 for writes made by others)
//!
//! Redis writes BCAST invalidations in the same event-loop iteration as the
//! write's reply, just after it. Before serving a hit from a batch of client
//! input, the thread reads its tracking socket without waiting ([`Tracker::sync`],
//! one non-blocking read), so any invalidation that reached it before that input
//! is applied, and a closed connection is seen, before the thread answers. What
//! remains is the moment between Redis writing the reply and writing the
//! invalidation: the tracking delay, which `tests/it/checker.rs` measures (well
//! about a millisecond at most on loopback). A lost connection drops everything
//! (the global epoch) and makes every fill in flight uncacheable (the incarnation); a PING every quarter of
//! `cache-tracking-timeout` proves the stream is current, and no answer in time
//! counts as lost.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::epoch::Epochs;
use crate::protocol::{FrameKind, ReplyFramer, Request, string2ll};
use crate::stats::{ShardCounters, inc};

/// Whether the tracking streams can vouch for cached replies, over all threads
/// (and, with a cluster, over every master each thread tracks).
#[derive(Debug)]
pub struct TrackingState {
    /// Streams that are up.
    up: AtomicUsize,
    /// Streams there must be: threads, or threads times masters.
    expected: AtomicUsize,
    /// Changes whenever any tracking connection goes down, or the set of
    /// streams changes.
    incarnation: AtomicU64,
}

impl TrackingState {
    pub fn new(streams: usize) -> Self {
        Self {
            up: AtomicUsize::new(0),
            expected: AtomicUsize::new(streams),
            incarnation: AtomicU64::new(0),
        }
    }

    /// The current incarnation, if every stream is up.
    pub fn current(&self) -> Option<u64> {
        // Read the incarnation first: a stream that goes down after this bumps it,
        // and `still` then refuses.
        let i = self.incarnation.load(Ordering::Acquire);
        let expected = self.expected.load(Ordering::Acquire);
        (expected > 0 && self.up.load(Ordering::Acquire) == expected).then_some(i)
    }

    /// True while every stream is up and none went down since `i`.
    pub fn still(&self, i: u64) -> bool {
        self.current() == Some(i)
    }

    /// The number of streams changes (a cluster's masters changed): fills in
    /// flight are no longer vouched for.
    pub fn set_expected(&self, streams: usize) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
        self.expected.store(streams, Ordering::Release);
    }

    /// Fills in flight are no longer vouched for (their replies may come from a
    /// node no stream covers).
    pub fn bump(&self) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
    }

    fn up(&self) {
        self.up.fetch_add(1, Ordering::AcqRel);
    }

    fn down(&self) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
        self.up.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    pub addr: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub prefixes: Vec<String>,
    pub timeout: Duration,
    /// `rediss://`: the stream is TLS.
    pub tls: Option<Arc<crate::tls::UpstreamTls>>,
}

/// One thread's tracking connection.
pub struct Tracker {
    config: TrackerConfig,
    state: Arc<TrackingState>,
    epochs: Arc<Epochs>,
    counters: Arc<[ShardCounters]>,
    shard: usize,
    /// The live connection, once its handshake succeeded.
    conn: RefCell<Option<Rc<Live>>>,
    /// Told of every invalidation this stream carries (the keys, or None for
    /// everything: a flush, or the stream lost): client tracking fans it out.
    hook: RefCell<Option<Hook>>,
}

/// See `Tracker::hook`.
pub type Hook = Box<dyn Fn(Option<&[&[u8]]>)>;

/// A connected, handshaken tracking stream.
struct Live {
    /// Waited on by readiness, read without waiting (see `Tracker::sync`).
    stream: TcpStream,
    /// Over TLS: the session, driven by hand over `stream` (see `tls::session`).
    tls: Option<RefCell<rustls::ClientConnection>>,
    rbuf: RefCell<BytesMut>,
    framer: RefCell<ReplyFramer>,
    /// When the outstanding PING was sent.
    ping_sent: Cell<Option<Instant>>,
}

impl Live {
    /// Sends a few bytes without waiting (a PING on an idle socket: it fits in
    /// the send buffer).
    fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.tls {
            None => self.stream.try_write(bytes).map(|_| ()),
            Some(tls) => {
                let mut tls = tls.borrow_mut();
                std::io::Write::write_all(&mut tls.writer(), bytes)?;
                crate::tls::session::flush(&self.stream, &mut tls).map(|_| ())
            }
        }
    }
}

fn frame(args: &[&[u8]]) -> Bytes {
    Request::from_args(args.iter().map(|a| Bytes::copy_from_slice(a)).collect()).frame
}

impl Tracker {
    pub fn new(
        config: TrackerConfig,
        state: Arc<TrackingState>,
        epochs: Arc<Epochs>,
        counters: Arc<[ShardCounters]>,
        shard: usize,
    ) -> Rc<Self> {
        Rc::new(Self {
            config,
            state,
            epochs,
            counters,
            shard,
            conn: RefCell::new(None),
            hook: RefCell::new(None),
        })
    }

    /// Sets what is told of every invalidation (see `hook`).
    pub fn set_hook(&self, hook: Hook) {
        *self.hook.borrow_mut() = Some(hook);
    }

    fn counters(&self) -> &ShardCounters {
        &self.counters[self.shard]
    }

    /// Applies whatever the tracking socket holds now, without waiting. Call
    /// before serving a hit from newly read client input. Unless `force`, the
    /// socket is read only if the reactor has marked it readable: enough when the
    /// client input itself came through a fresh readiness event, since anything
    /// that reached this socket before it was marked in the same or an earlier
    /// poll (and it costs no system call when nothing is there).
    pub fn sync(&self, force: bool) {
        let live = self.conn.borrow().clone();
        let Some(live) = live else { return };
        let pending = force || live.stream.try_io(tokio::io::Interest::READABLE, || Ok(())).is_ok();
        if pending && let Err(e) = self.drain(&live) {
            self.lost(&e);
        }
    }

    /// Reads and applies everything available. Err when the stream is gone.
    fn drain(&self, live: &Live) -> Result<(), String> {
        let mut rbuf = live.rbuf.borrow_mut();
        if let Some(tls) = &live.tls {
            // Decrypt everything the socket holds: an invalidation that reached
            // it before the client input must be applied, whole records or not.
            let mut tls = tls.borrow_mut();
            loop {
                match crate::tls::session::read(&live.stream, &mut tls, &mut rbuf) {
                    Ok(g) if g.closed => return Err("closed by the server".into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        while live.tls.is_none() {
            if rbuf.capacity() - rbuf.len() < 4096 {
                rbuf.reserve(16 * 1024);
            }
            match live.stream.try_read_buf(&mut *rbuf) {
                Ok(0) => return Err("closed by the server".into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        let mut framer = live.framer.borrow_mut();
        while let Some((len, kind)) = framer.next_frame(&rbuf).map_err(|e| e.to_string())? {
            let f = rbuf.split_to(len);
            match kind {
                FrameKind::Push => {
                    let keys = invalidate(&f, &self.epochs, self.counters());
                    if let (Some(hook), Some(keys)) = (&*self.hook.borrow(), keys) {
                        hook(keys.as_deref());
                    }
                }
                FrameKind::Reply => live.ping_sent.set(None),
                FrameKind::Error => return Err("error reply on the tracking connection".into()),
            }
        }
        Ok(())
    }

    /// Stops vouching at once (the node is no longer read from); the task ends
    /// once it sees its stop flag.
    pub fn stop(&self) {
        self.lost("stopped");
    }

    /// The stream is gone: nothing it vouched for may be served again.
    fn lost(&self, why: &str) {
        if self.conn.borrow_mut().take().is_some() {
            self.state.down();
            self.epochs.invalidate_tracking();
            // What the stream would have said is lost: everything, for whoever
            // relied on it.
            if let Some(hook) = &*self.hook.borrow() {
                hook(None);
            }
            inc(&self.counters().invalidations_reconnect);
            tracing::warn!(upstream = %self.config.addr, shard = self.shard, error = %why,
                "tracking connection lost; cache dropped");
        }
    }

    /// Keeps this thread's tracking connection up until `stop` says otherwise.
    pub async fn run(self: Rc<Self>, stop: Rc<Cell<bool>>) {
        let mut backoff = Duration::from_millis(50);
        while !stop.get() {
            match self.connect().await {
                Ok(_) if stop.get() => break,
                Ok(live) => {
                    backoff = Duration::from_millis(50);
                    *self.conn.borrow_mut() = Some(live.clone());
                    self.state.up();
                    // Writes made while the stream was down went unseen: once
                    // more, everything, now that it sees them again.
                    if let Some(hook) = &*self.hook.borrow() {
                        hook(None);
                    }
                    // What the handshake's reads took in past its replies (an
                    // invalidation already) is applied now, not at the next
                    // readiness of the socket.
                    if let Err(e) = self.drain(&live) {
                        self.lost(&e);
                        continue;
                    }
                    tracing::debug!(shard = self.shard, "tracking ready (BCAST)");
                    let why = self.watch(&live, &stop).await;
                    self.lost(&why);
                }
                Err(e) => {
                    crate::log_limited!(warn, upstream = %self.config.addr, error = %e, "tracking connection failed");
                }
            }
            if stop.get() {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Connects and turns BCAST tracking on.
    async fn connect(&self) -> Result<Rc<Live>, String> {
        let c = &self.config;
        let deadline = c.timeout.max(Duration::from_secs(1));
        let mut stream =
            tokio::time::timeout(deadline, crate::tls::Stream::connect(&c.addr, c.tls.as_deref()))
                .await
                .map_err(|_| "connect timeout".to_string())??;
        let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(p) = &c.password {
            hello.extend_from_slice(&[
                b"AUTH",
                c.user.as_deref().unwrap_or("default").as_bytes(),
                p.as_bytes(),
            ]);
        }
        // The name rides on HELLO: no right to CLIENT SETNAME needed.
        hello.extend_from_slice(&[b"SETNAME", b"hotcache-tracking"]);
        let mut tracking: Vec<&[u8]> = vec![b"CLIENT", b"TRACKING", b"on", b"BCAST"];
        for p in &c.prefixes {
            tracking.extend_from_slice(&[b"PREFIX", p.as_bytes()]);
        }
        let mut out = BytesMut::new();
        out.extend_from_slice(&frame(&hello));
        out.extend_from_slice(&frame(&tracking));
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        let mut rbuf = BytesMut::with_capacity(4096);
        let mut framer = ReplyFramer::new();
        let mut left = 2;
        let handshake = async {
            while left > 0 {
                use tokio::io::AsyncReadExt;
                match framer.next_frame(&rbuf).map_err(|e| e.to_string())? {
                    Some((len, FrameKind::Error)) => {
                        let f = rbuf.split_to(len);
                        return Err(format!(
                            "handshake failed: {}",
                            String::from_utf8_lossy(&f[1..f.len().saturating_sub(2)])
                        ));
                    }
                    Some((len, _)) => {
                        let _ = rbuf.split_to(len);
                        left -= 1;
                    }
                    None => {
                        if stream.read_buf(&mut rbuf).await.map_err(|e| e.to_string())? == 0 {
                            return Err("closed during handshake".to_string());
                        }
                    }
                }
            }
            Ok(())
        };
        tokio::time::timeout(deadline, handshake)
            .await
            .map_err(|_| "handshake timeout".to_string())??;
        // From here on the stream is read by readiness, without waiting: a
        // TLS session is driven by hand (whatever it decrypted already stays
        // in it and comes out with the first read).
        let (stream, tls) = stream.into_parts();
        Ok(Rc::new(Live {
            stream,
            tls: tls.map(RefCell::new),
            rbuf: RefCell::new(rbuf),
            framer: RefCell::new(framer),
            ping_sent: Cell::new(None),
        }))
    }

    /// Applies invalidations as they come and pings to prove the stream current.
    /// Returns why the stream ended.
    async fn watch(&self, live: &Rc<Live>, stop: &Rc<Cell<bool>>) -> String {
        let tick = self.config.timeout / 4;
        let ping = frame(&[b"PING"]);
        let mut next = tokio::time::Instant::now() + tick;
        loop {
            if stop.get() {
                return "shutting down".into();
            }
            // Someone else (a sync) may have found it gone.
            if !self.conn.borrow().as_ref().is_some_and(|c| Rc::ptr_eq(c, live)) {
                return "lost".into();
            }
            tokio::select! {
                r = live.stream.readable() => {
                    if let Err(e) = r {
                        return e.to_string();
                    }
                    if let Err(e) = self.drain(live) {
                        return e;
                    }
                }
                _ = tokio::time::sleep_until(next) => {
                    next = tokio::time::Instant::now() + tick;
                    match live.ping_sent.get() {
                        Some(sent) if sent.elapsed() > self.config.timeout => {
                            return format!("no answer for {:?}", sent.elapsed());
                        }
                        Some(_) => {}
                        None => {
                            // A PING is a few bytes on an idle socket: it fits in
                            // the send buffer, so a non-blocking write suffices.
                            if let Err(e) = live.send(&ping) {
                                return e.to_string();
                            }
                            live.ping_sent.set(Some(Instant::now()));
                        }
                    }
                }
            }
        }
    }
}

/// Applies one `invalidate` push: an array of keys, or null for "everything".
/// Returns what it said (Some(None) for everything), None if it was not one.
fn invalidate<'a>(
    push: &'a [u8],
    epochs: &Epochs,
    c: &ShardCounters,
) -> Option<Option<Vec<&'a [u8]>>> {
    let mut p = Cursor { buf: push, pos: 0 };
    let (Some(b'>'), Some(2)) = (p.byte(), p.number()) else { return None };
    if p.bulk() != Some(&b"invalidate"[..]) {
        return None;
    }
    inc(&c.tracking_messages);
    match p.byte() {
        Some(b'*') => {
            let n = p.number().unwrap_or(0);
            let mut keys = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1024));
            for _ in 0..n {
                match p.bulk() {
                    Some(key) => {
                        let slot = epochs.slot(key);
                        epochs.invalidate_slot(slot);
                        // A write by someone else: counted for the write-hot guard.
                        super::admit::record_write(slot);
                        inc(&c.invalidations_tracking);
                        keys.push(key);
                    }
                    None => break,
                }
            }
            Some(Some(keys))
        }
        // A null: FLUSHALL/FLUSHDB, or Redis dropping its tracking state.
        _ => {
            epochs.invalidate_all();
            inc(&c.invalidations_flush);
            Some(None)
        }
    }
}

/// A tiny reader for the fixed shape of invalidation pushes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads digits up to CRLF.
    fn number(&mut self) -> Option<i64> {
        let rest = self.buf.get(self.pos..)?;
        let end = memchr::memchr(b'\r', rest)?;
        let n = string2ll(&rest[..end])?;
        self.pos += end + 2;
        Some(n)
    }

    /// Reads a `$len\r\nbytes\r\n` bulk string.
    fn bulk(&mut self) -> Option<&'a [u8]> {
        if self.byte()? != b'$' {
            return None;
        }
        let len = usize::try_from(self.number()?).ok()?;
        let body = self.buf.get(self.pos..self.pos + len)?;
        self.pos += len + 2;
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invalidation_pushes() {
        let epochs = Epochs::new(8);
        let c = ShardCounters::default();
        let a = epochs.stamp(b"a");
        let b = epochs.stamp(b"bb");
        invalidate(b">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$2\r\nbb\r\n", &epochs, &c);
        assert!(!epochs.is_current(&a) && !epochs.is_current(&b));
        let x = epochs.stamp(b"x");
        invalidate(b">2\r\n$10\r\ninvalidate\r\n_\r\n", &epochs, &c);
        assert!(!epochs.is_current(&x));
    }

    #[test]
    fn tracking_state_needs_every_thread() {
        let s = TrackingState::new(2);
        assert_eq!(s.current(), None);
        s.up();
        assert_eq!(s.current(), None);
        s.up();
        let i = s.current().expect("all up");
        s.down();
        assert!(!s.still(i));
        s.up();
        assert!(s.current().is_some_and(|j| j != i));
    }
}
