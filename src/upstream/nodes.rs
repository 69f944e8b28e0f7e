//! One thread's connections to each upstream node, and the routing of requests
//! to the nodes of a cluster.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cluster::{Cluster, SlotMap};
use super::pipe::{PipeConn, upstream_error};
use super::waiter::{After, PipeCtx, Redirector, Waiter, fail_waiter};
use super::{Dest, Target};
use crate::cache::Epochs;
use crate::config::ReadFrom;
use crate::protocol::{Proto, string2ll};
use crate::resilience::Breaker;
use crate::stats::{ShardCounters, inc};

/// After a failed connect, new connections wait this long before trying again,
/// so a dead upstream does not get a connect attempt per request.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// Redirections one request may follow before it fails (a slot moving while it
/// is being asked for may take two; more means the cluster disagrees with itself).
const MAX_REDIRECTS: u8 = 5;

/// What every node's connections on one thread share.
pub(super) struct Common {
    pub connect_timeout: Cell<Duration>,
    pub pool_size: Cell<usize>,
    /// Shared connections per node and protocol version.
    pub conns: usize,
    pub timeout: Rc<Cell<Duration>>,
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
        c.set_redirects(self.ctx.redirector.is_some());
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

/// A node's address, and whether its connections are READONLY (replica reads).
type NodeKey = (Arc<str>, bool);

/// One thread's view of a cluster: the slot map as last read, and a connection
/// set per node.
pub(super) struct ClusterConns {
    cluster: Arc<Cluster>,
    /// The map this thread routes by, and its version.
    view: RefCell<(u64, Arc<SlotMap>)>,
    /// Slots a MOVED reply said are elsewhere, until the next map.
    moved: RefCell<HashMap<u16, Arc<str>>>,
    /// Bumped with each entry of `moved`: with the map's version, says when
    /// routing changed (see `routing_epoch`).
    routing: Cell<u64>,
    /// Connections per (node, read-only).
    nodes: RefCell<HashMap<NodeKey, Rc<Node>>>,
    common: Rc<Common>,
    pub read_from: ReadFrom,
    me: Weak<ClusterConns>,
}

impl ClusterConns {
    pub fn new(cluster: Arc<Cluster>, common: Rc<Common>, read_from: ReadFrom) -> Rc<Self> {
        let view = cluster.map();
        Rc::new_cyclic(|me| Self {
            cluster,
            view: RefCell::new(view),
            moved: RefCell::new(HashMap::new()),
            routing: Cell::new(0),
            nodes: RefCell::new(HashMap::new()),
            common,
            read_from,
            me: me.clone(),
        })
    }

    /// The map to route by: the newest one.
    fn map(&self) -> Arc<SlotMap> {
        let version = self.cluster.version();
        let mut view = self.view.borrow_mut();
        if view.0 != version {
            *view = self.cluster.map();
            self.moved.borrow_mut().clear();
        }
        view.1.clone()
    }

    /// Changes whenever a slot may have changed node (a new map, a MOVED).
    pub fn routing_epoch(&self) -> u64 {
        (self.cluster.version() << 32) ^ self.routing.get()
    }

    /// The masters, by address: an order that moving slots does not change (a
    /// SCAN cursor names a master by its place in it).
    pub fn masters(&self) -> Vec<Arc<str>> {
        let mut m: Vec<Arc<str>> = self.map().shards.iter().map(|s| s.addr.clone()).collect();
        m.sort();
        m
    }

    pub fn degraded(&self) -> bool {
        self.nodes.borrow().values().any(|n| n.degraded())
    }

    /// The node serving `slot` (`read`: a replica of it if so configured).
    pub fn addr_for(&self, route: Dest, affinity: usize) -> Result<(Arc<str>, bool), Bytes> {
        let map = self.map();
        let Some(slot) = route.slot else {
            let n = map.shards.len();
            return match map.shards.get(affinity % n.max(1)) {
                Some(s) => Ok((s.addr.clone(), false)),
                None => Err(Bytes::from_static(b"-CLUSTERDOWN Hash slot not served\r\n")),
            };
        };
        if let Some(a) = self.moved.borrow().get(&slot) {
            return Ok((a.clone(), false));
        }
        match map.shard_of(slot) {
            Some(s)
                if route.read && self.read_from == ReadFrom::Replica && !s.replicas.is_empty() =>
            {
                Ok((s.replicas[affinity % s.replicas.len()].clone(), true))
            }
            Some(s) => Ok((s.addr.clone(), false)),
            None => {
                self.cluster.request_refresh();
                Err(Bytes::from_static(b"-CLUSTERDOWN Hash slot not served\r\n"))
            }
        }
    }

    /// This thread's connections to a node.
    pub fn node(&self, addr: &Arc<str>, readonly: bool) -> Rc<Node> {
        let key = (addr.clone(), readonly);
        if let Some(n) = self.nodes.borrow().get(&key) {
            return n.clone();
        }
        let target = Rc::new(Target {
            addr: addr.to_string(),
            user: self.cluster.seeds.user.clone(),
            password: self.cluster.seeds.password.clone(),
            db: 0,
            readonly,
        });
        let me: Weak<dyn Redirector> = self.me.clone();
        let breaker = self.cluster.breaker(addr);
        let stats = self.common.metrics.nodes.node(addr, Some(breaker.clone()));
        let node = Node::new(target, &self.common, Some(breaker), Some(stats), Some(me));
        self.nodes.borrow_mut().insert(key, node.clone());
        node
    }

    /// A node already connected to, by address.
    pub fn known_node(&self, addr: &str) -> Option<Rc<Node>> {
        self.nodes.borrow().iter().find(|((a, ro), _)| &**a == addr && !ro).map(|(_, n)| n.clone())
    }

    pub fn shared(
        &self,
        proto: Proto,
        affinity: usize,
        route: Dest,
    ) -> Result<Rc<PipeConn>, Bytes> {
        let (addr, readonly) = self.addr_for(route, affinity)?;
        self.node(&addr, readonly).shared(proto, affinity)
    }

    pub fn dedicated(&self, proto: Proto, slot: Option<u16>) -> Result<Rc<PipeConn>, Bytes> {
        let (addr, _) = self.addr_for(Dest { slot, read: false }, 0)?;
        self.node(&addr, false).dedicated(proto)
    }

    /// A MOVED or ASK that reached a client's own connection: remembers a
    /// MOVED's slot owner and asks for a new map.
    pub fn note_redirect(&self, reply: &[u8]) {
        if let Some((ask, slot, addr)) = parse_redirect(reply)
            && !ask
        {
            self.map();
            self.moved.borrow_mut().insert(slot, addr);
            self.routing.set(self.routing.get() + 1);
        }
        self.cluster.redirected();
    }

    pub fn close_all(&self) {
        for n in self.nodes.borrow().values() {
            n.close_all();
        }
    }
}

/// `-MOVED 3999 127.0.0.1:6381` or `-ASK 3999 127.0.0.1:6381`: (ask, slot, addr).
fn parse_redirect(reply: &[u8]) -> Option<(bool, u16, Arc<str>)> {
    let text = reply.strip_suffix(b"\r\n")?;
    let (ask, rest) = if let Some(r) = text.strip_prefix(b"-MOVED ") {
        (false, r)
    } else {
        (true, text.strip_prefix(b"-ASK ")?)
    };
    let sp = memchr::memchr(b' ', rest)?;
    let slot = u16::try_from(string2ll(&rest[..sp])?).ok()?;
    let addr = std::str::from_utf8(&rest[sp + 1..]).ok()?;
    // Redis 7 may answer `:port` when it does not know its own address.
    if addr.is_empty() || addr.starts_with(':') {
        return None;
    }
    Some((ask, slot, Arc::from(addr)))
}

impl Redirector for ClusterConns {
    fn redirect(
        &self,
        reply: Bytes,
        frame: Bytes,
        waiter: Waiter,
        after: After,
        proto: Proto,
        hops: u8,
    ) -> Option<(Bytes, Waiter, After)> {
        let Some((ask, slot, addr)) = parse_redirect(&reply) else {
            return Some((reply, waiter, after));
        };
        let counters = &self.common.counters[self.common.shard];
        if hops >= MAX_REDIRECTS {
            crate::log_limited!(warn, slot, node = %addr, "too many cluster redirections");
            let msg =
                format!("-TRYAGAIN too many redirections for slot {slot} (last to {addr})\r\n");
            return Some((Bytes::from(msg), waiter, after));
        }
        if ask {
            inc(&counters.cluster_ask_redirects);
        } else {
            inc(&counters.cluster_moved_redirects);
            self.map();
            self.moved.borrow_mut().insert(slot, addr.clone());
            self.routing.set(self.routing.get() + 1);
        }
        self.cluster.redirected();
        let conn = match self.node(&addr, false).shared(proto, 0) {
            Ok(c) => c,
            Err(e) => {
                // MOVED and ASK mean Redis did not run it: safe to send again.
                after.apply(&self.common.epochs);
                fail_waiter(waiter, e, true);
                return None;
            }
        };
        // ASKING and its request go together or not at all (ASKING alone
        // would apply to whatever came next on the connection).
        if ask && !conn.has_room(2) {
            after.apply(&self.common.epochs);
            fail_waiter(
                waiter,
                upstream_error(&addr, "overloaded: too many requests in flight"),
                true,
            );
            return None;
        }
        if ask {
            conn.push_redirected(
                Bytes::from_static(b"*1\r\n$6\r\nASKING\r\n"),
                Waiter::Discard,
                After::Nothing,
                hops + 1,
            );
        }
        conn.push_redirected(frame, waiter, after, hops + 1);
        None
    }

    fn node_failed(&self) {
        self.cluster.request_refresh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        assert_eq!(
            parse_redirect(b"-MOVED 3999 127.0.0.1:6381\r\n"),
            Some((false, 3999, Arc::from("127.0.0.1:6381")))
        );
        assert_eq!(
            parse_redirect(b"-ASK 1 [::1]:7000\r\n"),
            Some((true, 1, Arc::from("[::1]:7000")))
        );
        assert_eq!(parse_redirect(b"-MOVED 99999 h:1\r\n"), None);
        assert_eq!(parse_redirect(b"-MOVED 1 :7000\r\n"), None);
        assert_eq!(parse_redirect(b"-ERR x\r\n"), None);
    }
}
