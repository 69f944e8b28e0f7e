//! One thread's connections to one upstream node: shared pipelined ones,
//! a pool of dedicated ones, its breaker and reconnect backoff (a cluster's
//! routing between nodes is in `cluster_conns`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Target;
use super::pipe::{PipeConn, upstream_error};
use super::users::{Acl, Identity, Passwords};
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
    /// Redis's ACL generation (shared by all threads).
    pub acl: Arc<Acl>,
    /// The passwords this thread saw Redis accept, per user.
    pub passwords: Rc<Passwords>,
}

fn slot(proto: Proto) -> usize {
    match proto {
        Proto::Resp2 => 0,
        Proto::Resp3 => 1,
    }
}

/// One identity's connections to a node, on this thread.
struct Conns {
    /// The node's address with this identity's credentials.
    target: Rc<Target>,
    /// Shared connections per protocol version (index 0: RESP2, 1: RESP3).
    shared: [Vec<Option<Rc<PipeConn>>>; 2],
    /// Idle dedicated connections per protocol version, ready for reuse.
    pool: [Vec<Rc<PipeConn>>; 2],
    /// Redis refused these credentials at a handshake, and the ACL generation
    /// then: requests fail at once with Redis's error until the ACLs change,
    /// rather than opening a connection each.
    refused: Option<(Bytes, u64)>,
}

impl Conns {
    fn new(target: Rc<Target>, n: usize) -> Self {
        Self {
            target,
            shared: [vec![None; n], vec![None; n]],
            pool: [Vec::new(), Vec::new()],
            refused: None,
        }
    }

    fn all(&mut self) -> impl Iterator<Item = Rc<PipeConn>> + '_ {
        let shared = self.shared.iter_mut().flat_map(|l| l.iter_mut().filter_map(Option::take));
        shared.chain(self.pool.iter_mut().flat_map(|l| l.drain(..)))
    }
}

/// One node's connections on this thread: hotcache's own, and each client
/// identity's (see `users`).
pub(super) struct Node {
    target: Rc<Target>,
    own: RefCell<Conns>,
    /// Per client identity (a Redis user, or none for clients that did not AUTH).
    users: RefCell<HashMap<Option<Arc<str>>, Conns>>,
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
        Rc::new(Self {
            own: RefCell::new(Conns::new(target.clone(), common.conns)),
            target,
            users: RefCell::new(HashMap::new()),
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

    /// The node's address with hotcache's own credentials.
    pub fn target(&self) -> &Rc<Target> {
        &self.target
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

    /// Runs `f` on `who`'s connections to this node (made on first use, with
    /// the password this thread last saw Redis accept for that user). Err:
    /// Redis refused that identity in this ACL generation, or this thread
    /// knows no password for the user.
    fn with_conns<R>(
        &self,
        who: &Identity,
        f: impl FnOnce(&mut Conns) -> Result<R, Bytes>,
    ) -> Result<R, Bytes> {
        let user = match who {
            Identity::Own => return f(&mut self.own.borrow_mut()),
            Identity::User(u) => u,
        };
        let generation = self.common.acl.generation();
        let mut users = self.users.borrow_mut();
        if !users.contains_key(user) {
            let password = match user {
                None => None,
                Some(u) => match self.common.passwords.of(u) {
                    Some(p) => Some(p.to_string()),
                    None => return Err(Bytes::from_static(super::users::NOAUTH)),
                },
            };
            let target = Rc::new(Target {
                addr: self.target.addr.clone(),
                user: user.as_ref().map(|u| u.to_string()),
                password,
                db: self.target.db,
                readonly: self.target.readonly,
                tls: self.target.tls.clone(),
            });
            users.insert(user.clone(), Conns::new(target, self.common.conns));
        }
        let Some(conns) = users.get_mut(user) else {
            return Err(Bytes::from_static(super::users::NOAUTH));
        };
        match &conns.refused {
            Some((e, g)) if *g == generation => return Err(e.clone()),
            Some(_) => conns.refused = None,
            None => {}
        }
        f(conns)
    }

    /// Notes why a connection died: a refusal of its credentials is kept for
    /// the ACL generation (later requests fail at once with it); a failure to
    /// connect starts the reconnect backoff.
    fn note_dead(&self, conns: &mut Conns, c: &PipeConn) {
        if let Some(e) = c.refusal() {
            conns.refused = Some((e, self.common.acl.generation()));
        } else if c.failed_to_connect() {
            self.last_failure.set(Some(Instant::now()));
        }
    }

    /// Opens a new connection.
    fn open(&self, target: &Rc<Target>, who: &Identity, proto: Proto) -> Rc<PipeConn> {
        let conn = PipeConn::connect(
            target.clone(),
            who.clone(),
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

    /// A shared connection of `who`'s; `affinity` picks which of them.
    pub fn shared(
        &self,
        who: &Identity,
        proto: Proto,
        affinity: usize,
    ) -> Result<Rc<PipeConn>, Bytes> {
        self.with_conns(who, |conns| {
            let list = &mut conns.shared[slot(proto)];
            let i = affinity % list.len();
            if let Some(c) = list[i].clone() {
                if !c.is_dead() {
                    self.admit()?;
                    return Ok(c);
                }
                list[i] = None;
                self.note_dead(conns, &c);
                if let Some((e, _)) = &conns.refused {
                    return Err(e.clone());
                }
            }
            // Backing off costs no probe of a half-open breaker.
            self.backoff()?;
            self.admit()?;
            let c = self.open(&conns.target, who, proto);
            let follows = self.ctx.redirector.as_ref().and_then(Weak::upgrade);
            c.set_redirects(follows.is_some_and(|r| r.follows_redirects()));
            conns.shared[slot(proto)][i] = Some(c.clone());
            Ok(c)
        })
    }

    /// A connection of `who`'s for one client alone, from the pool or new.
    pub fn dedicated(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        self.admit()?;
        self.with_conns(who, |conns| {
            inc(&self.counters().dedicated_connections_taken);
            let pool = &mut conns.pool[slot(proto)];
            let mut taken = None;
            while let Some(c) = pool.pop() {
                if !c.is_dead() {
                    taken = Some(c);
                    break;
                }
            }
            let conn = match taken {
                Some(c) => c,
                None => {
                    self.backoff()?;
                    self.open(&conns.target, who, proto)
                }
            };
            // One spare kept connecting in the background: the next client's
            // blocking command, MULTI or script then goes out at once, as a
            // command on a shared connection does, not after a connect and a
            // handshake, while another client's write sent just after it
            // reaches Redis first (a BLPOP then misses the LPUSH meant to wake
            // it; Redis's own tests of blocking commands rely on that order).
            if conns.pool[slot(proto)].is_empty()
                && self.common.pool_size.get() > 0
                && self.backoff().is_ok()
            {
                let spare = self.open(&conns.target, who, proto);
                conns.pool[slot(proto)].push(spare);
            }
            Ok(conn)
        })
    }

    /// A connection of `who`'s for one request that must reach the node now
    /// (SCRIPT KILL): past the breaker and the reconnect backoff, whose
    /// failures a busy node may well have caused.
    pub fn alone(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        self.with_conns(who, |conns| {
            while let Some(c) = conns.pool[slot(proto)].pop() {
                if !c.is_dead() {
                    return Ok(c);
                }
            }
            Ok(self.open(&conns.target, who, proto))
        })
    }

    /// A new connection of `who`'s, put in its pool once its handshake is
    /// done: a password being checked (AUTH) opens one.
    pub fn open_for(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        self.with_conns(who, |conns| Ok(self.open(&conns.target, who, proto)))
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
        let who = conn.identity.clone();
        let kept = self.with_conns(&who, |conns| {
            let p = &mut conns.pool[slot(conn.proto)];
            if p.len() < self.common.pool_size.get() {
                p.push(conn.clone());
                return Ok(true);
            }
            Ok(false)
        });
        if !matches!(kept, Ok(true)) {
            conn.close();
        }
    }

    /// Redis's refusal of `who`'s credentials in this ACL generation, if any.
    pub fn refusal(&self, who: &Identity) -> Option<Bytes> {
        let Identity::User(user) = who else { return None };
        let users = self.users.borrow();
        match &users.get(user)?.refused {
            Some((e, g)) if *g == self.common.acl.generation() => Some(e.clone()),
            _ => None,
        }
    }

    /// Closes every connection of a client identity and forgets it (its user
    /// was deleted or disabled at Redis, or the ACLs changed under it).
    pub fn forget_user(&self, user: &Option<Arc<str>>) {
        if let Some(mut conns) = self.users.borrow_mut().remove(user) {
            for c in conns.all() {
                c.close();
            }
        }
    }

    pub fn close_all(&self) {
        self.close_all_because("connection closed by hotcache");
    }

    /// Closes every identity's shared and pooled connections; requests
    /// waiting get an error saying why. Closed once out of the borrows:
    /// failing a connection's requests runs their waiters.
    pub fn close_all_because(&self, why: &str) {
        let mut all: Vec<Rc<PipeConn>> = self.own.borrow_mut().all().collect();
        for conns in self.users.borrow_mut().values_mut() {
            all.extend(conns.all());
        }
        for c in all {
            c.close_because(why);
        }
    }
}
