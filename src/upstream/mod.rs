//! Connections to the origin, owned by one shard thread.
//!
//! Each thread keeps `upstream-connections` shared pipelined connections per
//! protocol version (a RESP3 client must get the bytes Redis sends a RESP3 client,
//! so the two never share a connection), and a small pool of idle connections to
//! hand to clients that need one of their own. With no upstream configured the
//! "connection" is the embedded origin, called in place.

mod handshake;
mod pipe;
mod waiter;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cache::{Epochs, FillResult, Flight};
use crate::config::{Config, Upstream as UpstreamConfig};
use crate::origin::EmbeddedOrigin;
use crate::protocol::{Proto, ReplyBuf, Request};
use crate::resilience::Breaker;
use crate::stats::{ShardCounters, inc};

pub use pipe::{PipeConn, upstream_error};
pub use waiter::{After, Failed, Parts, PipeCtx, Reply, Waiter, fail_waiter};

/// Address and credentials of a Redis upstream.
#[derive(Debug)]
pub struct Target {
    /// `host:port`, also used in error messages.
    pub addr: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

/// Where commands go.
#[derive(Clone)]
pub enum Origin {
    Embedded(Arc<EmbeddedOrigin>),
    Redis(Rc<Target>),
}

/// A reply that is either here or on its way.
pub enum ReplySlot {
    Ready(Bytes),
    Wait(oneshot::Receiver<Reply>),
    /// A reply that arrived and is not yet processed.
    Arrived(Reply),
    /// A failed request waiting to be sent again at this time.
    Retry(tokio::time::Instant),
    /// A cache fill (singleflight read) on its way.
    Fill(oneshot::Receiver<FillResult>),
    /// A cache fill that arrived and is not yet installed.
    Filled(FillResult),
}

/// Something a request can be sent on: an upstream connection or the embedded origin.
#[derive(Clone)]
pub enum Link {
    Pipe(Rc<PipeConn>),
    Embedded(Arc<EmbeddedOrigin>, Proto),
}

/// `PTTL key`, sent after a fill's read to learn how long the key lives.
fn pttl(key: &Bytes) -> Request {
    Request::from_args(vec![Bytes::from_static(b"PTTL"), key.clone()])
}

impl Link {
    /// Sends a request; the reply comes back in the slot.
    pub fn send(&self, req: &Request) -> ReplySlot {
        match self {
            Link::Pipe(conn) => ReplySlot::Wait(conn.send(&req.frame)),
            Link::Embedded(origin, proto) => {
                ReplySlot::Ready(run_embedded(origin, *proto, &req.args))
            }
        }
    }

    /// Sends a request; `after` is invalidated once its reply is in; a
    /// `blocking` command is bounded by its own timeout, not upstream-timeout.
    pub fn send_with(
        &self,
        req: &Request,
        after: After,
        epochs: &Epochs,
        blocking: bool,
    ) -> ReplySlot {
        match self {
            Link::Pipe(conn) => ReplySlot::Wait(conn.send_with(&req.frame, after, blocking)),
            Link::Embedded(origin, proto) => {
                let reply = run_embedded(origin, *proto, &req.args);
                after.apply(epochs);
                ReplySlot::Ready(reply)
            }
        }
    }

    /// Sends a singleflight read (and the PTTL of `key` after it if the flight
    /// wants it); the flight completes with the replies.
    pub fn send_fill(&self, req: &Request, key: &Bytes, flight: &Arc<Flight>) {
        match self {
            Link::Pipe(conn) => {
                conn.push(&req.frame, Waiter::Flight(flight.clone()), After::Nothing);
                if flight.wants_ttl {
                    conn.push(&pttl(key).frame, Waiter::FlightTtl(flight.clone()), After::Nothing);
                }
            }
            Link::Embedded(origin, proto) => {
                flight.reply(run_embedded(origin, *proto, &req.args));
                if flight.wants_ttl {
                    flight.ttl(&run_embedded(origin, *proto, &pttl(key).args));
                }
            }
        }
    }

    /// Sends an encoded request again (a retry).
    pub fn resend(&self, frame: &[u8], after: After, epochs: &Epochs) -> ReplySlot {
        match self {
            Link::Pipe(conn) => ReplySlot::Wait(conn.send_with(frame, after, false)),
            // The embedded origin does not fail; nothing is ever resent to it.
            Link::Embedded(..) => {
                after.apply(epochs);
                ReplySlot::Ready(Bytes::from_static(b"-ERR nothing to retry\r\n"))
            }
        }
    }

    /// Sends one part of a multi-command request.
    pub fn send_part(&self, req: &Request, parts: &Rc<dyn Parts>, index: usize) {
        match self {
            Link::Pipe(conn) => {
                conn.push(&req.frame, Waiter::Part(parts.clone(), index), After::Nothing)
            }
            Link::Embedded(origin, proto) => {
                parts.part(index, run_embedded(origin, *proto, &req.args))
            }
        }
    }

    /// Sends `PTTL key` as a part of a multi-command request.
    pub fn send_pttl_part(&self, key: &Bytes, parts: &Rc<dyn Parts>, index: usize) {
        self.send_part(&pttl(key), parts, index);
    }

    /// True once this link can no longer carry requests.
    pub fn is_dead(&self) -> bool {
        match self {
            Link::Pipe(c) => c.is_dead(),
            Link::Embedded(..) => false,
        }
    }

    /// True if this is the embedded origin.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Link::Embedded(..))
    }

    pub fn close(&self) {
        if let Link::Pipe(c) = self {
            c.close();
        }
    }
}

fn run_embedded(origin: &EmbeddedOrigin, proto: Proto, args: &[Bytes]) -> Bytes {
    let mut out = ReplyBuf::new(proto);
    origin.execute(args, &mut out);
    out.take()
}

/// After a failed connect, new connections wait this long before trying again,
/// so a dead upstream does not get a connect attempt per request.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// One thread's upstream connections.
pub struct Upstream {
    origin: Origin,
    /// Shared connections per protocol version (index 0: RESP2, 1: RESP3).
    shared: RefCell<[Vec<Option<Rc<PipeConn>>>; 2]>,
    /// Idle dedicated connections per protocol version, ready for reuse.
    pool: RefCell<[Vec<Rc<PipeConn>>; 2]>,
    connect_timeout: Cell<Duration>,
    pool_size: Cell<usize>,
    /// When the last connection attempt failed, for the reconnect backoff.
    last_failure: Cell<Option<Instant>>,
    ctx: Rc<PipeCtx>,
}

fn slot(proto: Proto) -> usize {
    match proto {
        Proto::Resp2 => 0,
        Proto::Resp3 => 1,
    }
}

impl Upstream {
    pub fn new(
        config: &Config,
        embedded: Option<Arc<EmbeddedOrigin>>,
        counters: Arc<[ShardCounters]>,
        shard: usize,
        epochs: Arc<Epochs>,
        breaker: Option<Arc<Breaker>>,
        node: Option<Arc<crate::metrics::NodeStats>>,
    ) -> Self {
        let origin = match (&config.upstream, embedded) {
            (UpstreamConfig::Redis { user, password, db, .. }, _) => {
                Origin::Redis(Rc::new(Target {
                    addr: config.upstream.addr().unwrap_or_default(),
                    user: user.clone(),
                    password: password.clone(),
                    db: *db,
                }))
            }
            (UpstreamConfig::Embedded, Some(e)) => Origin::Embedded(e),
            (UpstreamConfig::Embedded, None) => Origin::Embedded(Arc::new(EmbeddedOrigin::new())),
        };
        let n = config.upstream_connections;
        Self {
            origin,
            shared: RefCell::new([vec![None; n], vec![None; n]]),
            pool: RefCell::new([Vec::new(), Vec::new()]),
            connect_timeout: Cell::new(Duration::from_millis(config.upstream_connect_timeout)),
            pool_size: Cell::new(config.upstream_pool_size),
            last_failure: Cell::new(None),
            ctx: Rc::new(PipeCtx {
                epochs,
                counters,
                shard,
                breaker,
                timeout: Cell::new(Duration::from_millis(config.upstream_timeout)),
                max_inflight: Cell::new(config.upstream_max_inflight.max(1)),
                node,
            }),
        }
    }

    /// Applies settings that may change at run time.
    pub fn reconfigure(&self, config: &Config) {
        self.connect_timeout.set(Duration::from_millis(config.upstream_connect_timeout));
        self.pool_size.set(config.upstream_pool_size);
        self.ctx.timeout.set(Duration::from_millis(config.upstream_timeout));
        self.ctx.max_inflight.set(config.upstream_max_inflight.max(1));
    }

    /// The node's circuit breaker, if the origin is a Redis.
    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.ctx.breaker.as_ref()
    }

    /// True while the upstream is degraded (its breaker is not closed).
    pub fn degraded(&self) -> bool {
        self.ctx.breaker.as_ref().is_some_and(|b| b.degraded())
    }

    /// Refuses a request at once while the breaker is open.
    fn admit(&self) -> Result<(), Bytes> {
        match &self.ctx.breaker {
            Some(b) if !b.allow() => {
                inc(&self.counters().breaker_rejections);
                Err(b.refusal())
            }
            _ => Ok(()),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// True when commands go to the embedded origin.
    pub fn is_embedded(&self) -> bool {
        matches!(self.origin, Origin::Embedded(_))
    }

    /// The address shown in INFO and errors.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Embedded(_) => "embedded".into(),
            Origin::Redis(t) => t.addr.clone(),
        }
    }

    fn counters(&self) -> &ShardCounters {
        &self.ctx.counters[self.ctx.shard]
    }

    /// Opens a new connection, unless the upstream failed a moment ago.
    fn open(&self, target: &Rc<Target>, proto: Proto) -> Rc<PipeConn> {
        let conn =
            PipeConn::connect(target.clone(), proto, self.connect_timeout.get(), self.ctx.clone());
        inc(&self.counters().upstream_connects);
        conn
    }

    /// The shared link for a client: `affinity` keeps a client on one connection so
    /// its commands reach Redis in the order it sent them.
    pub fn shared(&self, proto: Proto, affinity: usize) -> Result<Link, Bytes> {
        let target = match &self.origin {
            Origin::Embedded(e) => return Ok(Link::Embedded(e.clone(), proto)),
            Origin::Redis(t) => t,
        };
        let mut shared = self.shared.borrow_mut();
        let conns = &mut shared[slot(proto)];
        let i = affinity % conns.len();
        if let Some(c) = &conns[i] {
            if !c.is_dead() {
                self.admit()?;
                return Ok(Link::Pipe(c.clone()));
            }
            if c.failed_to_connect() {
                self.last_failure.set(Some(Instant::now()));
            }
            conns[i] = None;
        }
        // Backing off costs no probe of a half-open breaker.
        self.backoff(target)?;
        self.admit()?;
        let c = self.open(target, proto);
        conns[i] = Some(c.clone());
        Ok(Link::Pipe(c))
    }

    /// Refuses to connect while the last failure is recent.
    fn backoff(&self, target: &Target) -> Result<(), Bytes> {
        if let Some(t) = self.last_failure.get()
            && t.elapsed() < RECONNECT_BACKOFF
        {
            return Err(upstream_error(&target.addr, "reconnecting"));
        }
        Ok(())
    }

    /// A connection for one client alone, from the pool or new.
    pub fn dedicated(&self, proto: Proto) -> Result<Link, Bytes> {
        let target = match &self.origin {
            Origin::Embedded(e) => return Ok(Link::Embedded(e.clone(), proto)),
            Origin::Redis(t) => t,
        };
        self.admit()?;
        inc(&self.counters().dedicated_connections_taken);
        let mut pool = self.pool.borrow_mut();
        while let Some(c) = pool[slot(proto)].pop() {
            if !c.is_dead() {
                return Ok(Link::Pipe(c));
            }
        }
        drop(pool);
        self.backoff(target)?;
        Ok(Link::Pipe(self.open(target, proto)))
    }

    /// Takes back a dedicated connection. `clean` says the client left no state on
    /// it (no MULTI, WATCH, SELECT, tracking, subscription); only then is it reused.
    pub fn release(&self, link: Link, clean: bool) {
        let Link::Pipe(conn) = link else { return };
        if !clean || conn.is_dead() || !conn.is_idle() {
            conn.close();
            return;
        }
        conn.set_sink(None, false);
        let mut pool = self.pool.borrow_mut();
        let p = &mut pool[slot(conn.proto)];
        if p.len() < self.pool_size.get() {
            p.push(conn);
        } else {
            conn.close();
        }
    }

    /// Closes every connection (at shutdown).
    pub fn close_all(&self) {
        for list in self.shared.borrow_mut().iter_mut() {
            for c in list.iter_mut().flatten() {
                c.close();
            }
        }
        for list in self.pool.borrow_mut().iter_mut() {
            for c in list.drain(..) {
                c.close();
            }
        }
    }
}
