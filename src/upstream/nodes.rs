//! One thread's connections to one upstream node: shared pipelined ones,
//! a pool of dedicated ones, its breaker and reconnect backoff (a cluster's
//! routing between nodes is in `cluster_conns`).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Target;
use super::pipe::{PipeConn, upstream_error};
use super::waiter::{PipeCtx, Redirector};
use crate::cache::Epochs;
use crate::protocol::Proto;
use crate::resilience::Breaker;
use crate::stats::{ShardCounters, inc};

/// After a failed connect, new connections wait this long before trying again,
/// so a dead upstream does not get a connect attempt per request.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// What every node's connections on one thread share.
pub(super) struct Common {
    pub connect_timeout: Cell<Duration>,
    pub pool_size: Cell<usize>,
    /// Shared connections per node and protocol version.
    pub conns: usize,
    pub timeout: Rc<Cell<Duration>>,
    pub stall_timeout: Rc<Cell<Duration>>,
    pub max_inflight: Rc<Cell<usize>>,
    pub epochs: Arc<Epochs>,
    pub counters: Arc<[ShardCounters]>,
    pub shard: usize,
    /// Round trips and errors per node (INFO upstream, Prometheus).
    pub metrics: Arc<crate::metrics::Metrics>,
}

fn slot(proto: Proto) -> usize {
    match proto {
        Proto::Resp2 => 0,
        Proto::Resp3 => 1,
    }
}

/// One node's connections on this thread.
pub(super) struct Node {
    target: Rc<Target>,
    /// Shared connections per protocol version (index 0: RESP2, 1: RESP3).
    shared: RefCell<[Vec<Option<Rc<PipeConn>>>; 2]>,
    /// Idle dedicated connections per protocol version, ready for reuse.
    pool: RefCell<[Vec<Rc<PipeConn>>; 2]>,
    /// When the last connection attempt failed, for the reconnect backoff.
    last_failure: Cell<Option<Instant>>,
    pub ctx: Rc<PipeCtx>,
    common: Rc<Common>,
}

impl Node {
    pub fn new(
        target: Rc<Target>,
        common: &Rc<Common>,
        breaker: Option<Arc<Breaker>>,
        stats: Option<Arc<crate::metrics::NodeStats>>,
        redirector: Option<Weak<dyn Redirector>>,
    ) -> Rc<Self> {
        let n = common.conns;
        Rc::new(Self {
            target,
            shared: RefCell::new([vec![None; n], vec![None; n]]),
            pool: RefCell::new([Vec::new(), Vec::new()]),
            last_failure: Cell::new(None),
            ctx: Rc::new(PipeCtx {
                epochs: common.epochs.clone(),
                counters: common.counters.clone(),
                shard: common.shard,
                breaker,
                timeout: common.timeout.clone(),
                stall_timeout: common.stall_timeout.clone(),
                max_inflight: common.max_inflight.clone(),
                node: stats,
                redirector,
            }),
            common: common.clone(),
        })
    }

    fn counters(&self) -> &ShardCounters {
        &self.common.counters[self.common.shard]
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.target.addr
    }

    pub fn degraded(&self) -> bool {
        self.ctx.breaker.as_ref().is_some_and(|b| b.degraded())
    }

    /// Refuses a request at once while the breaker is open.
    fn admit(&self) -> Result<(), Bytes> {
        match &self.ctx.breaker {
            Some(b) if !b.allow() => {
                inc(&self.counters().breaker_rejections);
                if let Some(r) = self.ctx.redirector.as_ref().and_then(Weak::upgrade) {
                    r.node_failed();
                }
                Err(b.refusal())
            }
            _ => Ok(()),
        }
    }

    /// Opens a new connection.
    fn open(&self, proto: Proto) -> Rc<PipeConn> {
        let conn = PipeConn::connect(
            self.target.clone(),
            proto,
            self.common.connect_timeout.get(),
            self.ctx.clone(),
        );
        inc(&self.counters().upstream_connects);
        conn
    }

    /// Refuses to connect while the last failure is recent.
    fn backoff(&self) -> Result<(), Bytes> {
        if let Some(t) = self.last_failure.get()
            && t.elapsed() < RECONNECT_BACKOFF
        {
            return Err(upstream_error(&self.target.addr, "reconnecting"));
        }
        Ok(())
    }

    /// A shared connection; `affinity` picks which of them.
    pub fn shared(&self, proto: Proto, affinity: usize) -> Result<Rc<PipeConn>, Bytes> {
        let mut shared = self.shared.borrow_mut();
        let conns = &mut shared[slot(proto)];
        let i = affinity % conns.len();
        if let Some(c) = &conns[i] {
            if !c.is_dead() {
                self.admit()?;
                return Ok(c.clone());
            }
            if c.failed_to_connect() {
                self.last_failure.set(Some(Instant::now()));
            }
            conns[i] = None;
        }
        // Backing off costs no probe of a half-open breaker.
        self.backoff()?;
        self.admit()?;
        let c = self.open(proto);
        let follows = self.ctx.redirector.as_ref().and_then(Weak::upgrade);
        c.set_redirects(follows.is_some_and(|r| r.follows_redirects()));
        conns[i] = Some(c.clone());
        Ok(c)
    }

    /// A connection for one client alone, from the pool or new.
    pub fn dedicated(&self, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        self.admit()?;
        inc(&self.counters().dedicated_connections_taken);
        let mut pool = self.pool.borrow_mut();
        while let Some(c) = pool[slot(proto)].pop() {
            if !c.is_dead() {
                return Ok(c);
            }
        }
        drop(pool);
        self.backoff()?;
        Ok(self.open(proto))
    }

    /// A connection for one request that must reach the node now (SCRIPT
    /// KILL): past the breaker and the reconnect backoff, whose failures a
    /// busy node may well have caused.
    pub fn alone(&self, proto: Proto) -> Rc<PipeConn> {
        let mut pool = self.pool.borrow_mut();
        while let Some(c) = pool[slot(proto)].pop() {
            if !c.is_dead() {
                return c;
            }
        }
        drop(pool);
        self.open(proto)
    }

    /// True while the node may be busy running a script (see
    /// `resilience::health`).
    pub fn maybe_busy(&self) -> bool {
        self.ctx.breaker.as_ref().is_some_and(|b| b.health.maybe_busy())
    }

    /// Takes back a dedicated connection (see `Upstream::release`).
    pub fn release(&self, conn: Rc<PipeConn>, clean: bool) {
        if !clean || conn.is_dead() || !conn.is_idle() {
            conn.close();
            return;
        }
        conn.set_sink(None, false);
        let mut pool = self.pool.borrow_mut();
        let p = &mut pool[slot(conn.proto)];
        if p.len() < self.common.pool_size.get() {
            p.push(conn);
        } else {
            conn.close();
        }
    }

    pub fn close_all(&self) {
        self.close_all_because("connection closed by hotcache");
    }

    /// Closes the shared and pooled connections; requests waiting get an
    /// error saying why.
    pub fn close_all_because(&self, why: &str) {
        for list in self.shared.borrow_mut().iter_mut() {
            for c in list.iter_mut().flatten() {
                c.close_because(why);
            }
        }
        for list in self.pool.borrow_mut().iter_mut() {
            for c in list.drain(..) {
                c.close_because(why);
            }
        }
    }
}
