//! A pipelined connection's tasks: connecting, writing what was queued,
//! reading and handing out replies in order, and the `upstream-timeout` watchdog.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Inflight, PipeConn, State};
use crate::metrics::nodes::NodeShard;
use crate::protocol::{FrameKind, ReplyFramer};
use crate::resilience::{Breaker, Verdict};
use crate::stats::{add, inc};
use crate::tls::{ReadHalf, Stream, WriteHalf};
use crate::upstream::Target;
use crate::upstream::handshake::{HandshakeError, handshake};
use crate::upstream::waiter::{Hold, Reply, Waiter};

/// Requests in flight whose room an idle connection keeps (see `deliver`).
const INFLIGHT_KEPT: usize = 1024;

impl PipeConn {
    pub(super) async fn run(self: Rc<Self>, target: Rc<Target>, connect_timeout: Duration) {
        let on_busy = || inc(&self.ctx.counters().upstream_handshake_busy);
        let stream = match handshake(&target, self.proto, connect_timeout, on_busy).await {
            Ok((s, id, hello)) => {
                self.upstream_id.store(id, std::sync::atomic::Ordering::Relaxed);
                if let Some(b) = &self.ctx.breaker {
                    b.health.saw_hello(self.proto, hello);
                }
                s
            }
            Err(HandshakeError::Refused(error)) => return self.refused(error),
            Err(HandshakeError::Failed(reason)) => return self.fail_with(&target, &reason),
        };
        if self.is_dead() {
            return;
        }
        self.inner.borrow_mut().state = State::Ready;
        self.was_ready.set(true);
        self.progress.set(Instant::now());
        let (rd, wr) = stream.into_split();
        tokio::task::spawn_local(self.clone().write_loop(wr, target.clone()));
        tokio::task::spawn_local(self.clone().watchdog(target.clone()));
        self.read_loop(rd, &target).await;
    }

    /// Fails the connection when its oldest request has waited longer than
    /// `upstream-timeout` with no reply arriving meanwhile (a reply that late
    /// would arrive out of step with the requests behind it, so the connection
    /// cannot be kept); after `upstream-stall-timeout`, checks whether the node
    /// answers at all (see `resilience::health`), and fails the connection at
    /// once if it does not.
    async fn watchdog(self: Rc<Self>, target: Rc<Target>) {
        let mut skipped = false;
        loop {
            let timeout = self.ctx.timeout.get();
            let stall = self.ctx.stall_timeout.get();
            let shortest = if stall.is_zero() { timeout } else { timeout.min(stall) };
            let tick = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
            let due = Instant::now() + tick;
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = self.closed.notified() => return,
            }
            if self.is_dead() {
                return;
            }
            // Woken a whole tick late: this thread was too busy to run its
            // tasks, the reader among them, so replies may be waiting unread in
            // the socket. Judged at the next tick (late or not), once the
            // reader had its turn: a busy hotcache is not a dead Redis.
            let skip = due.elapsed() > tick && !skipped;
            skipped = skip;
            if skip {
                continue;
            }
            // How long the oldest request has waited with nothing arriving.
            let waited = {
                let inner = self.inner.borrow();
                match inner.inflight.front() {
                    Some(f) if matches!(f.hold, Hold::Timed | Hold::Slow) => {
                        let since = f.sent.max(self.progress.get());
                        Some(since.elapsed())
                    }
                    _ => None,
                }
            };
            let Some(waited) = waited else { continue };
            if !timeout.is_zero() && waited > timeout {
                inc(&self.ctx.counters().upstream_timeouts);
                if let Some(n) = self.ctx.node() {
                    NodeShard::add(&n.timeouts, 1);
                }
                return self
                    .fail_with(&target, &format!("no reply within {} ms", timeout.as_millis()));
            }
            let Some(breaker) = self.ctx.breaker.clone() else { continue };
            if stall.is_zero() || waited <= stall {
                continue;
            }
            if breaker.health.stalled() {
                return self.fail_with(
                    &target,
                    &format!("no answer to PING within {} ms", stall.as_millis()),
                );
            }
            if breaker.health.claim_check(stall) {
                tokio::task::spawn_local(check_node(target.clone(), stall, breaker));
            }
        }
    }

    async fn write_loop(self: Rc<Self>, mut wr: WriteHalf, target: Rc<Target>) {
        let mut spare = BytesMut::new();
        // Where each request of the chunk being written ends in it.
        let mut ends: VecDeque<usize> = VecDeque::new();
        loop {
            {
                let mut inner = self.inner.borrow_mut();
                if inner.state == State::Dead {
                    return;
                }
                std::mem::swap(&mut inner.wbuf, &mut spare);
                ends.clear();
                if std::mem::take(&mut inner.unmatched) {
                    inner.handed = inner.inflight.len();
                } else {
                    // The requests not written yet are the chunk's, in order.
                    let mut end = 0;
                    for f in inner.inflight.iter().skip(inner.handed) {
                        end += f.len;
                        ends.push_back(end);
                    }
                }
                let n = std::mem::take(&mut inner.queued);
                if n > 1 {
                    add(&self.ctx.counters[self.ctx.shard].upstream_batched_requests, n as u64);
                }
            }
            if spare.is_empty() {
                self.wake_writer.notified().await;
                continue;
            }
            // Written piece by piece, counting the requests that left whole: a
            // request still (partly) in hotcache when the connection fails was
            // never run by Redis, and a write may be sent again (rule 7).
            let mut pos = 0;
            while pos < spare.len() {
                let n = match wr.write(&spare[pos..]).await {
                    Ok(0) => return self.fail_with(&target, "connection closed while writing"),
                    Ok(n) => n,
                    Err(e) => return self.fail_with(&target, &e.to_string()),
                };
                pos += n;
                let mut whole = 0;
                while ends.front().is_some_and(|&e| e <= pos) {
                    ends.pop_front();
                    whole += 1;
                }
                if whole > 0 {
                    let mut inner = self.inner.borrow_mut();
                    if inner.state == State::Dead {
                        return;
                    }
                    inner.handed = (inner.handed + whole).min(inner.inflight.len());
                }
            }
            // The flush sends TLS records a full socket left in the session
            // (nothing to do for plain TCP).
            if let Err(e) = wr.flush().await {
                return self.fail_with(&target, &e.to_string());
            }
            spare.clear();
            // Large one-off requests should not pin a large buffer forever.
            if spare.capacity() > 1 << 20 {
                spare = BytesMut::new();
            }
        }
    }

    async fn read_loop(&self, mut rd: ReadHalf, target: &Target) {
        let mut rbuf = BytesMut::with_capacity(16 * 1024);
        let mut framer = ReplyFramer::new();
        loop {
            if rbuf.capacity() - rbuf.len() < 4096 {
                rbuf.reserve(16 * 1024);
            }
            let read = tokio::select! {
                r = rd.read_buf(&mut rbuf) => r,
                _ = self.closed.notified() => return,
            };
            match read {
                Ok(0) => return self.fail_with(target, super::CLOSED_BY_SERVER),
                Ok(_) => {}
                Err(e) => return self.fail_with(target, &e.to_string()),
            }
            let mut replies = 0u32;
            // Whether Redis answered BUSY, or anything else, in this read.
            let (mut busy, mut other) = (false, false);
            // Whether it answered READONLY: a master demoted under hotcache.
            let mut readonly = false;
            // One clock read per read: every reply in it arrived at this time.
            let now = Instant::now();
            loop {
                match framer.next_frame(&rbuf) {
                    Ok(Some((len, kind))) => {
                        let frame = rbuf.split_to(len).freeze();
                        if kind == FrameKind::Error && frame.starts_with(b"-BUSY ") {
                            busy = true;
                        } else {
                            other = true;
                        }
                        readonly |= kind == FrameKind::Error && frame.starts_with(b"-READONLY ");
                        if !self.deliver(frame, kind, now) {
                            return self.fail_with(target, "reply without a request");
                        }
                        replies = replies.saturating_add(1);
                    }
                    Ok(None) => break,
                    Err(e) => return self.fail_with(target, &format!("bad reply: {e}")),
                }
            }
            if replies > 0 {
                self.progress.set(now);
            }
            if readonly
                && let Some(r) = self.ctx.redirector.as_ref().and_then(std::rc::Weak::upgrade)
            {
                r.demoted();
            }
            // Replies tell the breaker the node is alive: once per read, not once
            // per reply, so threads do not fight over its counters. It is told how
            // many came: a half-open breaker counts each probe's reply.
            if replies > 0
                && let Some(b) = &self.ctx.breaker
            {
                b.success(replies);
                b.health.progress();
                if busy || other {
                    b.health.saw_busy(busy);
                }
            }
            if self.is_dead() {
                return;
            }
        }
    }

    /// Hands one frame to its waiter or the sink. False if nobody expected it.
    fn deliver(&self, frame: Bytes, kind: FrameKind, now: Instant) -> bool {
        let mut inner = self.inner.borrow_mut();
        if inner.relay || kind == FrameKind::Push {
            // A push nobody listens for is dropped: it answers no request. So is
            // a frame for a client over its output limit (it is being closed).
            if let Some(sink) = &inner.sink {
                match sink.owed.as_ref().map(|o| o.charge(frame.len())) {
                    Some(None) => {}
                    charge => {
                        let _ = sink.tx.send((frame, charge.flatten()));
                    }
                }
            }
            return true;
        }
        match inner.inflight.pop_front() {
            Some(Inflight { waiter, after, sent, frame: request, hops, hold, .. }) => {
                self.outstanding.set(self.outstanding.get().saturating_sub(1));
                inner.handed = inner.handed.saturating_sub(1);
                // A burst (up to `upstream-max-inflight`) should not pin its
                // queue's room once it is answered.
                if inner.inflight.is_empty() && inner.inflight.capacity() > INFLIGHT_KEPT {
                    inner.inflight.shrink_to(INFLIGHT_KEPT);
                }
                drop(inner);
                self.busy(hold, false);
                let rtt_ns = now.saturating_duration_since(sent).as_nanos() as u64;
                if let Some(n) = self.ctx.node() {
                    n.rtt.record(rtt_ns);
                }
                let (frame, waiter, after) = match request {
                    Some(req)
                        if kind == FrameKind::Error
                            && (frame.starts_with(b"-MOVED ") || frame.starts_with(b"-ASK ")) =>
                    {
                        let redirector =
                            self.ctx.redirector.as_ref().and_then(std::rc::Weak::upgrade);
                        match redirector {
                            Some(r) => {
                                match r.redirect(
                                    frame,
                                    req,
                                    waiter,
                                    after,
                                    self.proto,
                                    hops,
                                    &self.addr,
                                    &self.identity,
                                ) {
                                    Some(back) => back,
                                    None => return true,
                                }
                            }
                            None => (frame, waiter, after),
                        }
                    }
                    _ => (frame, waiter, after),
                };

                // Invalidate before anyone can see the reply.
                after.apply(&self.ctx.epochs);
                match waiter {
                    // The client may have gone; its reply is then dropped.
                    Waiter::Reply(tx) => tx.send(Reply::timed(frame, rtt_ns)),
                    Waiter::Flight(f) => {
                        f.set_rtt(rtt_ns);
                        f.reply(frame)
                    }
                    Waiter::FlightTtl(f) => f.ttl(&frame),
                    Waiter::Part(p, i) => p.part(i, frame),
                    Waiter::Discard => {}
                }
                true
            }
            None => false,
        }
    }
}

/// The stall check: a PING to the node on a connection of its own, answered
/// within `within` or not (connecting included). Any answer, an error reply
/// included (NOAUTH, LOADING, BUSY), means the node is alive; silence while no
/// script of hotcache's runs there means it is stalled, and its breaker opens
/// (connections with requests waiting then fail them, see `watchdog`).
async fn check_node(target: Rc<Target>, within: Duration, breaker: std::sync::Arc<Breaker>) {
    let answered = tokio::time::timeout(within, async {
        let mut s = Stream::connect(&target.addr, target.tls.as_deref())
            .await
            .map_err(std::io::Error::other)?;
        s.write_all(b"PING\r\n").await?;
        s.flush().await?;
        let mut buf = [0u8; 64];
        s.read(&mut buf).await
    })
    .await;
    // A refused or reset connection is no answer either.
    let answered = matches!(answered, Ok(Ok(n)) if n > 0);
    if breaker.health.checked(answered) == Verdict::Stalled {
        tracing::warn!(upstream = %target.addr, "upstream does not answer: stalled");
        breaker.trip("no answer to a stall check");
    }
}
