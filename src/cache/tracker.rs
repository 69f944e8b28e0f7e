//! Seeing writes made straight to Redis: a CLIENT TRACKING connection in BCAST
//! mode on its own thread.
//!
//! Why BCAST on one connection, rather than default-mode tracking on every reading
//! connection (with pushes, or REDIRECT): the reading connections stay plain and
//! shared, nothing has to be re-enabled on each of them after a reconnect, and
//! Redis keeps no per-key tracking table for hotcache. The price: Redis sends one
//! message per written key (matching `cache-tracking-prefixes`) whether hotcache
//! cached it or not, which costs bandwidth on write-heavy workloads; use prefixes
//! to limit it to the key spaces worth caching.
//!
//! Rule 4: the thread has nothing else to do, so it reads a broken or lagging
//! connection at once. Before anything cached under it can be served again, the
//! global epoch is bumped (everything cached is dropped) and the incarnation
//! changes, so fills started under the old connection are never installed. A PING
//! every quarter of `cache-tracking-timeout` proves the stream is current: Redis
//! answers it after every invalidation queued before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::epoch::Epochs;
use crate::protocol::{FrameKind, ReplyFramer, Request, string2ll};
use crate::stats::{ShardCounters, add, inc};

/// Whether the tracking stream can currently vouch for cached replies.
#[derive(Debug, Default)]
pub struct TrackingState {
    ready: AtomicBool,
    incarnation: AtomicU64,
}

impl TrackingState {
    /// The current incarnation, if tracking is ready.
    pub fn current(&self) -> Option<u64> {
        // The incarnation is written before `ready` is set (Release), so a reader
        // that sees ready sees the right incarnation.
        if self.ready.load(Ordering::Acquire) {
            Some(self.incarnation.load(Ordering::Acquire))
        } else {
            None
        }
    }

    /// True while tracking is ready and still the incarnation `i`.
    pub fn still(&self, i: u64) -> bool {
        self.current() == Some(i)
    }

    fn up(&self) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
        self.ready.store(true, Ordering::Release);
    }

    fn down(&self) {
        self.ready.store(false, Ordering::Release);
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
}

/// Runs the tracker until `stop` is set. Call on its own thread.
pub fn run(
    config: TrackerConfig,
    state: Arc<TrackingState>,
    epochs: Arc<Epochs>,
    counters: Arc<[ShardCounters]>,
    slot: usize,
    stop: Arc<AtomicBool>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        tracing::error!(
            "cannot start the tracking thread's runtime; cached replies are never served"
        );
        return;
    };
    rt.block_on(async {
        let c = &counters[slot];
        let mut backoff = Duration::from_millis(50);
        while !stop.load(Ordering::Acquire) {
            let result = session(&config, &state, &epochs, c, &stop).await;
            // Whatever happened, nothing the old stream vouched for may be served.
            let was_ready = state.current().is_some();
            state.down();
            epochs.invalidate_all();
            if was_ready {
                inc(&c.invalidations_reconnect);
                backoff = Duration::from_millis(50);
            }
            if let Err(e) = result {
                tracing::warn!(upstream = %config.addr, error = %e, "tracking connection lost; cache dropped");
            }
            if stop.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
}

fn frame(args: &[&[u8]]) -> Bytes {
    Request::from_args(args.iter().map(|a| Bytes::copy_from_slice(a)).collect()).frame
}

async fn session(
    config: &TrackerConfig,
    state: &TrackingState,
    epochs: &Epochs,
    c: &ShardCounters,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut stream = tokio::time::timeout(
        config.timeout.max(Duration::from_secs(1)),
        TcpStream::connect(&config.addr),
    )
    .await
    .map_err(|_| "connect timeout".to_string())?
    .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
    if let Some(p) = &config.password {
        hello.extend_from_slice(&[
            b"AUTH",
            config.user.as_deref().unwrap_or("default").as_bytes(),
            p.as_bytes(),
        ]);
    }
    let mut tracking: Vec<&[u8]> = vec![b"CLIENT", b"TRACKING", b"on", b"BCAST"];
    for p in &config.prefixes {
        tracking.extend_from_slice(&[b"PREFIX", p.as_bytes()]);
    }
    let mut out = BytesMut::new();
    out.extend_from_slice(&frame(&hello));
    out.extend_from_slice(&frame(&[b"CLIENT", b"SETNAME", b"hotcache-tracking"]));
    out.extend_from_slice(&frame(&tracking));
    stream.write_all(&out).await.map_err(|e| e.to_string())?;

    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut framer = ReplyFramer::new();
    let mut handshake_left = 3;
    let tick = config.timeout / 4;
    let mut ping_sent: Option<Instant> = None;
    let mut next_ping = Instant::now() + tick;
    let ping = frame(&[b"PING"]);
    let wake = tokio::time::sleep_until(next_ping.into());
    tokio::pin!(wake);
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        tokio::select! {
            r = stream.read_buf(&mut rbuf) => {
                match r {
                    Ok(0) => return Err("closed by the server".into()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            _ = &mut wake => {
                if let Some(sent) = ping_sent {
                    if sent.elapsed() > config.timeout {
                        return Err(format!("no answer for {:?}", sent.elapsed()));
                    }
                } else if handshake_left == 0 {
                    stream.write_all(&ping).await.map_err(|e| e.to_string())?;
                    ping_sent = Some(Instant::now());
                } else {
                    return Err("handshake timeout".into());
                }
                next_ping = Instant::now() + tick;
                wake.as_mut().reset(next_ping.into());
                continue;
            }
        }
        loop {
            match framer.next_frame(&rbuf).map_err(|e| e.to_string())? {
                None => break,
                Some((len, kind)) => {
                    let f = rbuf.split_to(len).freeze();
                    match kind {
                        FrameKind::Push => invalidate(&f, epochs, c),
                        FrameKind::Error if handshake_left > 0 => {
                            return Err(format!(
                                "handshake failed: {}",
                                String::from_utf8_lossy(&f[1..f.len().saturating_sub(2)])
                            ));
                        }
                        FrameKind::Error => {
                            return Err("error reply on the tracking connection".into());
                        }
                        FrameKind::Reply if handshake_left > 0 => {
                            handshake_left -= 1;
                            if handshake_left == 0 {
                                state.up();
                                tracing::info!(upstream = %config.addr, "tracking ready (BCAST)");
                            }
                        }
                        FrameKind::Reply => ping_sent = None,
                    }
                }
            }
        }
    }
}

/// Applies one `invalidate` push: an array of keys, or null for "everything".
fn invalidate(push: &[u8], epochs: &Epochs, c: &ShardCounters) {
    let mut p = Cursor { buf: push, pos: 0 };
    let (Some(b'>'), Some(2)) = (p.byte(), p.number()) else { return };
    if p.bulk() != Some(&b"invalidate"[..]) {
        return;
    }
    match p.byte() {
        Some(b'*') => {
            let n = p.number().unwrap_or(0);
            for _ in 0..n {
                match p.byte() {
                    Some(b'$') => {
                        p.pos -= 1;
                        if let Some(key) = p.bulk() {
                            epochs.invalidate(key);
                            inc(&c.invalidations_tracking);
                        }
                    }
                    _ => return,
                }
            }
        }
        // A null: FLUSHALL/FLUSHDB, or Redis dropping its tracking state.
        _ => {
            epochs.invalidate_all();
            inc(&c.invalidations_flush);
        }
    }
    add(&c.tracking_messages, 1);
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
}
