//! A client connection's socket side: waiting for whatever comes next,
//! reading input, writing output.

use std::future::{Future, pending};
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;

use super::stream::TlsRead;
use super::{ClientStream, Conn, MAX_PENDING, NeedSync, ReplySlot, Wake, lost};
use crate::stats::{add, inc};

/// Pending-reply slots an idle client keeps (see `wait`): a pipeline of this
/// depth runs without growing the queue again.
const PENDING_KEPT: usize = 32;

impl Conn {
    /// Waits for the next thing to do.
    pub(super) async fn wait(&mut self) -> Wake {
        if self.pending.is_empty() && self.rbuf.is_empty() && self.out.is_empty() {
            // Nothing in flight: hold no buffers while idle (10,000 idle clients
            // should cost little); the allocator hands the same blocks back quickly.
            // Replaced even at no capacity of its own: after a large request,
            // it still shares that request's allocation.
            self.rbuf = BytesMut::new();
            self.out.release();
            // The queue of pending replies keeps the room of the deepest
            // pipeline it held (a few hundred bytes an entry: a client that
            // once pipelined 5,000 commands kept 2.4 MB): beyond what a
            // pipeline of 32 needs, given back too.
            if self.pending.capacity() > PENDING_KEPT {
                self.pending.shrink_to(PENDING_KEPT);
            }
        }
        let want_read = !self.closing
            && !self.draining
            && self.stalled.is_none()
            && self.pending.len() < MAX_PENDING
            && !self.upstream_full();
        // TLS records (the handshake's, or replies already encrypted) wait too.
        let want_write = !self.out.is_empty() || self.stream.has_records();
        let idle = if self.config.timeout > 0
            && self.pending.is_empty()
            && self.relay.is_none()
            && self.dedicated.is_none()
        {
            Some(Duration::from_secs(self.config.timeout))
        } else {
            None
        };
        let head = self.pending.front_mut().and_then(|p| match &mut p.slot {
            ReplySlot::Wait(_) | ReplySlot::Fill(_) | ReplySlot::Retry(_) => Some(&mut p.slot),
            ReplySlot::Ready(_) | ReplySlot::Filled(_) | ReplySlot::Arrived(_) => None,
        });
        let relay = self.sink.as_mut();
        let signal = &self.signal;
        let owed = &self.owed;
        let stream = &self.stream;
        let mut signal_wait = signal.wait();
        let mut reply = pin!(async {
            match head {
                // A dropped sender means the connection went away mid-reply.
                Some(ReplySlot::Wait(rx)) => match rx.await {
                    Ok(r) => ReplySlot::Arrived(r),
                    Err(_) => ReplySlot::Ready(lost()),
                },
                Some(ReplySlot::Retry(at)) => {
                    tokio::time::sleep_until(*at).await;
                    // Marks "retry due" for the loop, which sends it again.
                    ReplySlot::Retry(*at)
                }
                Some(ReplySlot::Fill(rx)) => match rx.await {
                    Ok(r) => ReplySlot::Filled(r),
                    Err(_) => ReplySlot::Ready(lost()),
                },
                _ => pending().await,
            }
        });
        let mut relayed = pin!(async {
            match relay {
                Some(rx) => rx.recv().await,
                None => pending().await,
            }
        });
        let mut idle = pin!(async {
            match idle {
                Some(d) => tokio::time::sleep(d).await,
                None => pending().await,
            }
        });
        // Polled in this order (as a biased select). The socket's readiness is
        // polled with `poll_*_ready`, which keeps one waker in the socket's slot,
        // rather than a `readable()` future queued on (and, each wait, unlinked
        // from) the socket's waiter list. A waker left there by a wait that
        // returned for something else costs at most one spurious wake.
        let mut slept = false;
        let wake = std::future::poll_fn(|cx| {
            if Pin::new(&mut signal_wait).poll(cx).is_ready() || owed.poll_over(cx).is_ready() {
                return Poll::Ready(Wake::Signal);
            }
            if let Poll::Ready(slot) = reply.as_mut().poll(cx) {
                return Poll::Ready(Wake::Reply(slot));
            }
            if let Poll::Ready(frame) = relayed.as_mut().poll(cx) {
                return Poll::Ready(Wake::Relayed(frame));
            }
            if want_write && stream.tcp().poll_write_ready(cx).is_ready() {
                return Poll::Ready(Wake::Writable);
            }
            if want_read && stream.poll_read_ready(cx).is_ready() {
                return Poll::Ready(Wake::Readable);
            }
            if idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Idle);
            }
            slept = true;
            Poll::Pending
        })
        .await;
        if slept {
            // The thread ran its other clients meanwhile: a new turn.
            self.turn_input = 0;
        }
        wake
    }

    /// Reads what the socket has. False when the client is gone or over a limit.
    pub(super) fn read(&mut self) -> bool {
        let limit = self.config.client_query_buffer_limit.0;
        // Start small (idle clients cost little) and grow with the traffic; a
        // buffer already larger than the limit holds all a client may send before
        // it is closed, so it never grows again (growing copies it).
        if self.rbuf.capacity() - self.rbuf.len() < 1024 && self.rbuf.capacity() as u64 <= limit {
            let want = (self.rbuf.capacity()).clamp(4096, 1 << 20);
            self.rbuf.reserve(want);
        }
        match self.read_once() {
            Ok(0) => false,
            Ok(n) => {
                self.need_sync = self.need_sync.max(self.last_read);
                add(&self.ctx.counters().total_net_input_bytes, n as u64);
                self.info().qbuf.store(self.rbuf.len(), Relaxed);
                if self.rbuf.len() as u64 > limit {
                    inc(&self.ctx.counters().client_query_limit_disconnections);
                    crate::log_limited!(
                        warn,
                        client = self.info().id,
                        "closing client over the query buffer limit"
                    );
                    return false;
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(_) => false,
        }
    }

    /// One read from the socket. A read that does not fill the buffer drained the
    /// socket, so its readiness is cleared at once: the next wait sleeps without
    /// first spending a read on EAGAIN (as tokio's own `poll_read` does).
    /// Ok(0): the client closed. A TLS read that brought no plaintext (the
    /// handshake) is `WouldBlock`.
    fn read_once(&mut self) -> std::io::Result<usize> {
        let stream = match &mut self.stream {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(t) => {
                let r = ClientStream::read_tls(t, &mut self.rbuf);
                // As below: a read that filled the scratch buffer may leave
                // input behind without a fresh readiness event.
                self.last_read = match r {
                    Ok(TlsRead::Data { full: true, .. }) => NeedSync::Full,
                    _ => NeedSync::IfReady,
                };
                return match r {
                    Ok(TlsRead::Data { n, .. }) => Ok(n),
                    Ok(TlsRead::Closed) => Ok(0),
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            crate::log_limited!(info, client = self.reg.info.id, error = %e,
                                "TLS client connection failed");
                        }
                        Err(e)
                    }
                };
            }
        };
        let rbuf = &mut self.rbuf;
        let space = rbuf.capacity() - rbuf.len();
        let mut got = None;
        let r = stream.try_io(tokio::io::Interest::READABLE, || {
            let n = stream.try_read_buf(rbuf)?;
            got = Some(n);
            if n > 0 && n < space { Err(std::io::ErrorKind::WouldBlock.into()) } else { Ok(n) }
        });
        // A full read leaves readiness set: the next input may then be read
        // without a fresh event, so the tracking check cannot lean on one.
        self.last_read = match got {
            Some(n) if n >= space => NeedSync::Full,
            _ => NeedSync::IfReady,
        };
        match (got, r) {
            (Some(n), _) => Ok(n),
            (None, r) => r,
        }
    }

    /// Writes as much of the output as the socket takes. False if the client is gone.
    pub(super) fn flush(&mut self) -> bool {
        match self.stream.write_out(&mut self.out) {
            Ok(n) => add(&self.ctx.counters().total_net_output_bytes, n as u64),
            Err(_) => return false,
        }
        if self.out.is_empty() && self.out.capacity() > 1 << 20 {
            self.out.release();
        }
        self.owed.set_out(self.out.len());
        self.info().omem.store(self.out.len(), Relaxed);
        true
    }
}
