//! One pipelined upstream connection: requests are appended to a write buffer and
//! flushed together (auto-pipelining); replies are framed and handed back in order.
//!
//! The same type serves the thread's shared connections and a client's dedicated
//! one. A dedicated connection may carry a sink: RESP3 pushes go there, and in
//! relay mode (SUBSCRIBE, MONITOR) every frame does.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::nodes::NodeShard;
use crate::protocol::Proto;
use crate::stats::inc;

mod io;

use super::Target;
use super::owed::{Charge, Owed};
use super::waiter::{After, Hold, PipeCtx, Reply, ReplyTx, Waiter, fail_waiter};

/// A frame for a client that answers no request of its (a RESP3 push, or
/// anything while relayed), charged to its output limit.
pub type Relayed = (Bytes, Option<Charge>);

/// Where a connection's unrequested frames go: one client's relay channel.
pub struct Sink {
    pub tx: mpsc::UnboundedSender<Relayed>,
    /// The client's output limit, charged as frames arrive.
    pub owed: Option<Rc<Owed>>,
}

struct Inflight {
    waiter: Waiter,
    after: After,
    /// When it was queued, for `upstream-timeout`.
    sent: Instant,
    /// How long it may wait.
    hold: Hold,
    /// The request, kept on a cluster's shared connections to follow MOVED/ASK.
    frame: Option<Bytes>,
    /// Redirections it followed so far.
    hops: u8,
    /// Its bytes in the write buffer (for what the writer has written).
    len: usize,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Connecting and handshaking; requests queue in the write buffer meanwhile.
    Connecting,
    Ready,
    /// Failed or closed; every request gets `Inner::error`.
    Dead,
}

struct Inner {
    state: State,
    /// Encoded requests not yet written.
    wbuf: BytesMut,
    /// Whoever waits for each reply, in request order.
    inflight: VecDeque<Inflight>,
    /// Requests appended to `wbuf` since it was last written.
    queued: usize,
    /// Of `inflight`, the first this many were written whole to the socket;
    /// the rest never left hotcache whole (still in `wbuf`, or in the chunk
    /// the writer is writing), so Redis cannot have run them.
    handed: usize,
    /// `wbuf` holds bytes of no request in `inflight` (relayed frames): the
    /// writer cannot tell which requests it wrote, and counts them all.
    unmatched: bool,
    /// Receives pushes, and in relay mode every frame.
    sink: Option<Sink>,
    /// Every frame goes to the sink, none is matched to a request.
    relay: bool,
    /// The error reply handed out once the connection is dead.
    error: Bytes,
}

/// A pipelined connection to one upstream server.
pub struct PipeConn {
    inner: RefCell<Inner>,
    /// Wakes the writer when the write buffer goes from empty to non-empty.
    wake_writer: Notify,
    /// Wakes both tasks to stop.
    closed: Notify,
    /// Requests written and not yet answered, for the pool's "is it idle" check.
    outstanding: Cell<usize>,
    /// When a reply last arrived (or the connection became ready): a request
    /// is late only when nothing has come for that long, so a connection busy
    /// streaming large replies to a long pipeline is not taken for a dead one.
    progress: Cell<Instant>,
    /// This connection's client id at Redis (-1 until known), shared with the
    /// registry entry of a client that holds the connection.
    pub upstream_id: Arc<std::sync::atomic::AtomicI64>,
    /// Set once the handshake succeeded: a connection that dies before that
    /// means the upstream cannot be reached (and reconnects back off).
    was_ready: Cell<bool>,
    pub proto: Proto,
    ctx: Rc<PipeCtx>,
    /// The node, for messages.
    addr: Rc<str>,
    /// Keeps each request's frame to follow cluster redirections (a cluster's
    /// shared connections; a client's own connection never moves).
    redirects: Cell<bool>,
    /// Who it is logged in as (its pool, where a redirected request goes).
    pub identity: super::users::Identity,
    /// Redis refused its credentials at the handshake: its error, for the
    /// node to fail that identity's requests with until the ACLs change.
    refusal: RefCell<Option<Bytes>>,
}

/// Why a connection the server closed failed.
pub(super) const CLOSED_BY_SERVER: &str = "connection closed by the server";

/// An error reply for a failed upstream, in Redis's style, naming the node.
pub fn upstream_error(addr: &str, reason: &str) -> Bytes {
    let mut msg = format!("-ERR upstream {addr} unavailable: {reason}");
    msg.retain(|c| c != '\r' && c != '\n');
    msg.push_str("\r\n");
    Bytes::from(msg)
}

impl PipeConn {
    /// Starts connecting to `target`; requests may be sent at once and go out after
    /// the handshake.
    pub fn connect(
        target: Rc<Target>,
        identity: super::users::Identity,
        proto: Proto,
        connect_timeout: Duration,
        ctx: Rc<PipeCtx>,
    ) -> Rc<Self> {
        let conn = Rc::new(Self {
            inner: RefCell::new(Inner {
                state: State::Connecting,
                wbuf: BytesMut::new(),
                inflight: VecDeque::new(),
                queued: 0,
                handed: 0,
                unmatched: false,
                sink: None,
                relay: false,
                error: Bytes::new(),
            }),
            wake_writer: Notify::new(),
            closed: Notify::new(),
            outstanding: Cell::new(0),
            progress: Cell::new(Instant::now()),
            was_ready: Cell::new(false),
            upstream_id: Arc::new(std::sync::atomic::AtomicI64::new(-1)),
            proto,
            addr: Rc::from(target.addr.as_str()),
            ctx,
            redirects: Cell::new(false),
            identity,
            refusal: RefCell::new(None),
        });
        tokio::task::spawn_local(conn.clone().run(target, connect_timeout));
        conn
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Follow MOVED and ASK replies for requests on this connection.
    pub fn set_redirects(&self, on: bool) {
        self.redirects.set(on);
    }

    /// True once the connection has failed or been closed.
    pub fn is_dead(&self) -> bool {
        self.inner.borrow().state == State::Dead
    }

    /// True if the connection died before it was ever ready.
    pub fn failed_to_connect(&self) -> bool {
        self.is_dead() && !self.was_ready.get()
    }

    /// Redis's refusal of its credentials, if that is how it died.
    pub fn refusal(&self) -> Option<Bytes> {
        self.refusal.borrow().clone()
    }

    /// Redis refused the credentials: every request waiting gets Redis's
    /// error as its reply. The node is fine: nothing counts against it.
    fn refused(&self, error: Bytes) {
        let reply = match self.identity {
            // hotcache's own credentials are wrong: say so, naming the node.
            super::users::Identity::Own => {
                let text = String::from_utf8_lossy(&error[1..error.len().saturating_sub(2)]);
                upstream_error(&self.addr, &format!("handshake failed: {text}"))
            }
            super::users::Identity::User(_) => super::users::refusal_reply(&error),
        };
        *self.refusal.borrow_mut() = Some(reply.clone());
        let waiting: Vec<Inflight> = {
            let mut inner = self.inner.borrow_mut();
            if inner.state == State::Dead {
                return;
            }
            inner.state = State::Dead;
            inner.error = reply.clone();
            inner.wbuf.clear();
            inner.sink = None;
            inner.handed = 0;
            inner.inflight.drain(..).collect()
        };
        self.outstanding.set(0);
        for f in waiting {
            self.busy(f.hold, false);
            // Never sent: nothing was written, nothing to invalidate again.
            match f.waiter {
                Waiter::Reply(tx) => tx.send(Reply::ok(reply.clone())),
                Waiter::Flight(fl) => fl.reply(reply.clone()),
                Waiter::FlightTtl(fl) => fl.ttl_failed(),
                Waiter::Part(p, i) => p.part(i, reply.clone()),
                Waiter::Discard => {}
            }
        }
        self.closed.notify_waiters();
        self.wake_writer.notify_one();
    }

    /// True when no request is waiting for its reply.
    pub fn is_idle(&self) -> bool {
        self.outstanding.get() == 0 && self.inner.borrow().wbuf.is_empty()
    }

    /// Queues a request; the receiver gets its reply frame (or an error reply).
    pub fn send(&self, frame: &Bytes) -> oneshot::Receiver<Reply> {
        self.send_with(frame, After::Nothing, Hold::Timed, None)
    }

    /// Queues a request; `after` is invalidated when its reply arrives; `hold`
    /// says how long it may wait; the reply is charged to `owed`, its client's
    /// output limit.
    pub fn send_with(
        &self,
        frame: &Bytes,
        after: After,
        hold: Hold,
        owed: Option<&Rc<Owed>>,
    ) -> oneshot::Receiver<Reply> {
        self.send_at(frame, after, hold, Instant::now(), owed)
    }

    /// As `send_with`, for a request that counts as sent at `now` (a clock read
    /// the caller already took for its batch of input).
    pub fn send_at(
        &self,
        frame: &Bytes,
        after: After,
        hold: Hold,
        now: Instant,
        owed: Option<&Rc<Owed>>,
    ) -> oneshot::Receiver<Reply> {
        let (tx, rx) = ReplyTx::channel(owed);
        // A client's request: past `upstream-max-inflight`, only clients with
        // little in flight send more (see `is_full`), up to twice as many.
        let cap = self.ctx.max_inflight.get().saturating_mul(2);
        self.push_hops(frame, Waiter::Reply(tx), after, (hold, cap), 0, now);
        rx
    }

    /// Queues a request for any kind of waiter.
    pub fn push(&self, frame: &Bytes, waiter: Waiter, after: After) {
        let cap = self.ctx.max_inflight.get();
        self.push_hops(frame, waiter, after, (Hold::Timed, cap), 0, Instant::now());
    }

    /// As `push`, for a client's request (the read a client's singleflight
    /// leads): up to twice `upstream-max-inflight`, as `send_at`.
    pub fn push_for_client(&self, frame: &Bytes, waiter: Waiter) {
        let cap = self.ctx.max_inflight.get().saturating_mul(2);
        self.push_hops(frame, waiter, After::Nothing, (Hold::Timed, cap), 0, Instant::now());
    }

    /// Bytes queued and not yet written to Redis.
    pub fn unwritten(&self) -> usize {
        self.inner.borrow().wbuf.len()
    }

    /// True if `n` more requests fit under `upstream-max-inflight`.
    pub fn has_room(&self, n: usize) -> bool {
        let inner = self.inner.borrow();
        inner.state != State::Dead && inner.inflight.len() + n <= self.ctx.max_inflight.get()
    }

    /// `Some(upstream-max-inflight)` when that many requests or more are in
    /// flight: a client with a large share of them is then refused more (it
    /// alone would otherwise fill the connection, and every other client's
    /// requests would be refused), see `Conn::over_share`.
    pub fn is_full(&self) -> Option<usize> {
        let max = self.ctx.max_inflight.get();
        (self.inner.borrow().inflight.len() >= max).then_some(max)
    }

    /// Queues a request that a redirection sent here.
    pub fn push_redirected(&self, frame: Bytes, waiter: Waiter, after: After, hops: u8) {
        let cap = self.ctx.max_inflight.get();
        self.push_hops(&frame, waiter, after, (Hold::Timed, cap), hops, Instant::now());
    }

    /// `cap`: the most requests in flight this one may join.
    fn push_hops(
        &self,
        frame: &Bytes,
        waiter: Waiter,
        after: After,
        (hold, cap): (Hold, usize),
        hops: u8,
        now: Instant,
    ) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Dead {
            let error = inner.error.clone();
            drop(inner);
            after.apply(&self.ctx.epochs);
            fail_waiter(waiter, error, true);
            return;
        }
        if inner.inflight.len() >= cap {
            // Load shedding: fail at once rather than queue without bound.
            drop(inner);
            inc(&self.ctx.counters().upstream_shed);
            crate::log_limited!(warn, upstream = %self.addr, "too many requests in flight; shedding");
            let error = upstream_error(&self.addr, "overloaded: too many requests in flight");
            fail_waiter(waiter, error, true);
            return;
        }
        let was_empty = inner.wbuf.is_empty();
        inner.wbuf.extend_from_slice(frame);
        inner.queued += 1;
        let len = frame.len();
        let frame = self.redirects.get().then(|| frame.clone());
        inner.inflight.push_back(Inflight { waiter, after, sent: now, hold, frame, hops, len });
        self.outstanding.set(self.outstanding.get() + 1);
        drop(inner);
        self.busy(hold, true);
        if was_empty {
            self.wake_writer.notify_one();
        }
    }

    /// Queues a request whose replies go to the sink (relay mode).
    pub fn send_relayed(&self, frame: &[u8]) -> bool {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Dead {
            return false;
        }
        let was_empty = inner.wbuf.is_empty();
        inner.wbuf.extend_from_slice(frame);
        inner.unmatched = true;
        drop(inner);
        if was_empty {
            self.wake_writer.notify_one();
        }
        true
    }

    /// Sends pushes (and in relay mode every frame) to `sink` from now on.
    pub fn set_sink(&self, sink: Option<Sink>, relay: bool) {
        let mut inner = self.inner.borrow_mut();
        inner.sink = sink;
        inner.relay = relay;
    }

    /// Closes the connection; requests still waiting get an error.
    pub fn close(&self) {
        self.close_because("connection closed by hotcache");
    }

    /// Closes the connection; requests still waiting get an error saying why.
    pub fn close_because(&self, why: &str) {
        self.fail(why);
    }

    fn fail(&self, reason: &str) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Dead {
            return;
        }
        inner.state = State::Dead;
        if inner.error.is_empty() {
            inner.error = upstream_error(&self.addr, reason);
        }
        let error = inner.error.clone();
        let handed = inner.handed;
        let failed: Vec<Inflight> = inner.inflight.drain(..).collect();
        if let Some(n) = self.ctx.node() {
            NodeShard::add(&n.failed_requests, failed.len() as u64);
        }
        inner.wbuf.clear();
        inner.sink = None;
        inner.handed = 0;
        self.outstanding.set(0);
        drop(inner);
        for (i, f) in failed.into_iter().enumerate() {
            self.busy(f.hold, false);
            // The write may or may not have run: invalidate as if it had.
            f.after.apply(&self.ctx.epochs);
            fail_waiter(f.waiter, error.clone(), i >= handed);
        }
        self.closed.notify_waiters();
        // The writer may be parked on its own notify; wake it to see the state.
        self.wake_writer.notify_one();
    }

    /// A script was sent on this connection, or ended (answered or failed):
    /// the node's count of running scripts.
    /// A request that keeps Redis busy (a script, a slow command) was sent
    /// (`started`), or answered or failed: counted for the stall check.
    pub(super) fn busy(&self, hold: Hold, started: bool) {
        let Some(b) = &self.ctx.breaker else { return };
        match hold {
            Hold::Script => b.health.script(started),
            Hold::Slow => b.health.slow(started),
            Hold::Timed | Hold::Blocking => {}
        }
    }

    /// The connection failed: one failure for the breaker, an error for every
    /// request on it.
    fn fail_with(&self, target: &Target, reason: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.state == State::Dead {
                return;
            }
            inner.error = upstream_error(&target.addr, reason);
        }
        // Redis closing a client user's connection is Redis acting on that
        // user (ACL DELUSER, ACL LOAD), not the node failing: the node's own
        // connections, and connecting at all, say that.
        let users_close =
            reason == CLOSED_BY_SERVER && matches!(self.identity, super::users::Identity::User(_));
        if let Some(b) = &self.ctx.breaker
            && !users_close
        {
            b.failure();
        }
        if let Some(r) = self.ctx.redirector.as_ref().and_then(std::rc::Weak::upgrade) {
            r.node_failed();
        }
        if let Some(n) = self.ctx.node() {
            NodeShard::add(&n.errors, 1);
        }
        inc(&self.ctx.counters().upstream_connection_errors);
        crate::log_limited!(warn, upstream = %target.addr, reason, "upstream connection failed");
        self.fail(reason);
    }
}
