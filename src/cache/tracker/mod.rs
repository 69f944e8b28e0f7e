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
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod push;
mod state;

pub use state::TrackingState;

use super::epoch::Epochs;
use crate::protocol::{FrameKind, ReplyFramer, Request};
use crate::stats::{ShardCounters, inc};
use push::invalidate;

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
