//! One thread's connections to a master found through Sentinel (and to the
//! replicas it reads from): rebuilt when the topology's version changes, with
//! every connection to a node that left closed at once.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;

use super::{Cause, Sentinel};
use crate::config::ReadFrom;
use crate::protocol::Proto;
use crate::upstream::nodes::{Common, Node};
use crate::upstream::pipe::PipeConn;
use crate::upstream::waiter::{After, Redirector, Waiter};
use crate::upstream::{Dest, Identity, Target};

/// Why requests in flight on the master failed: it is being replaced ...
const FENCED: &str =
    "failover in progress: a replica is being promoted (the request may or may not have run)";
/// ... or it was.
const MOVED: &str = "the master moved (Sentinel); the request may or may not have run";

/// The topology as this thread routes by it.
#[derive(Default)]
struct View {
    version: u64,
    master: Option<Rc<Node>>,
    replicas: Vec<Rc<Node>>,
    fenced: bool,
}

/// One thread's view of the master and its connections.
pub struct SentinelConns {
    pub sentinel: Arc<Sentinel>,
    view: RefCell<View>,
    /// Every dedicated connection handed out to the master, by address of its
    /// allocation (a pooled one is handed out again and again): a client's own
    /// connection (MULTI, a blocked BLPOP, a subscription) must not outlive
    /// its master either. Dead ones are pruned as the map grows.
    held: RefCell<HashMap<usize, Weak<PipeConn>>>,
    /// Size at which `held` is pruned next.
    prune_at: Cell<usize>,
    common: Rc<Common>,
    pub read_from: ReadFrom,
    me: Weak<SentinelConns>,
}

impl SentinelConns {
    pub(in crate::upstream) fn new(
        sentinel: Arc<Sentinel>,
        common: Rc<Common>,
        read_from: ReadFrom,
    ) -> Rc<Self> {
        let conns = Rc::new_cyclic(|me| Self {
            sentinel,
            view: RefCell::new(View { version: u64::MAX, ..View::default() }),
            held: RefCell::new(HashMap::new()),
            prune_at: Cell::new(64),
            common,
            read_from,
            me: me.clone(),
        });
        conns.refresh();
        conns
    }

    /// Routes by the newest topology: one atomic load when nothing changed.
    #[inline]
    pub fn refresh(&self) {
        let version = self.sentinel.version();
        if self.view.borrow().version != version {
            self.rebuild(version);
        }
    }

    /// Moves to the topology of `version`: nodes that left, and a master that
    /// is fenced now, have every connection closed (requests in flight get
    /// errors: never a silent success from a demoted master).
    fn rebuild(&self, version: u64) {
        let topo = self.sentinel.topology();
        // Closed once the view is the new one, outside its borrow: failing a
        // connection's requests runs their waiters.
        let mut close_master: Option<(Rc<Node>, &str)> = None;
        let mut close = Vec::new();
        {
            let mut view = self.view.borrow_mut();
            let master = match (&topo.master, view.master.take()) {
                (Some(addr), Some(old)) if old.addr() == &**addr => {
                    if topo.fenced && !view.fenced {
                        // Same node, but what it acknowledges from now on may be lost.
                        close_master = Some((old.clone(), FENCED));
                    }
                    Some(old)
                }
                (addr, old) => {
                    close_master = old.map(|o| (o, MOVED));
                    addr.as_ref().map(|a| self.node(a))
                }
            };
            let mut replicas = Vec::with_capacity(topo.replicas.len());
            for old in std::mem::take(&mut view.replicas) {
                if topo.replicas.iter().any(|a| old.addr() == &**a) {
                    replicas.push(old);
                } else {
                    close.push(old);
                }
            }
            for addr in &topo.replicas {
                if !replicas.iter().any(|r| r.addr() == &**addr) {
                    replicas.push(self.node(addr));
                }
            }
            replicas.sort_by(|a, b| a.addr().cmp(b.addr()));
            *view = View { version, master, replicas, fenced: topo.fenced };
        }
        if let Some((m, why)) = close_master {
            self.close_master(&m, why);
        }
        for n in close {
            n.close_all();
        }
    }

    /// Closes every connection to a master: shared, pooled, and held by
    /// clients; requests waiting there get an error saying `why`.
    fn close_master(&self, node: &Node, why: &str) {
        node.close_all_because(why);
        let held: Vec<Weak<PipeConn>> = self.held.borrow_mut().drain().map(|(_, w)| w).collect();
        for c in held.iter().filter_map(Weak::upgrade) {
            c.close_because(why);
        }
    }

    /// This thread's connections to a node (a new set: nodes are not kept once
    /// they leave the topology).
    fn node(&self, addr: &Arc<str>) -> Rc<Node> {
        let s = &self.sentinel;
        let target = Rc::new(Target {
            addr: addr.to_string(),
            user: s.user.clone(),
            password: s.password.clone(),
            db: s.db,
            // READONLY is a cluster command; a standalone replica reads as is.
            readonly: false,
            tls: s.node_tls.clone(),
        });
        let breaker = s.breaker(addr);
        let stats = self.common.metrics.nodes.node(addr, Some(breaker.clone()));
        let me: Weak<dyn Redirector> = self.me.clone();
        Node::new(target, &self.common, Some(breaker), Some(stats), Some(me))
    }

    /// The master's connections, unless there is none or (for a write) it is
    /// fenced.
    fn master_for(&self, write: bool) -> Result<Rc<Node>, Bytes> {
        self.refresh();
        let view = self.view.borrow();
        match &view.master {
            None => Err(self.sentinel.no_master()),
            Some(m) if write && view.fenced => Err(Sentinel::fence_error(m.addr())),
            Some(m) => Ok(m.clone()),
        }
    }

    /// The shared connection for a request going `route`: a read goes to a
    /// replica with `read-from replica` (the master when none is fit).
    pub fn shared(
        &self,
        who: &Identity,
        proto: Proto,
        affinity: usize,
        route: Dest,
    ) -> Result<Rc<PipeConn>, Bytes> {
        self.refresh();
        let node = {
            let view = self.view.borrow();
            let n = view.replicas.len();
            if route.read && self.read_from == ReadFrom::Replica && n > 0 {
                view.replicas[affinity % n].clone()
            } else {
                match &view.master {
                    None => return Err(self.sentinel.no_master()),
                    Some(m) if !route.read && view.fenced => {
                        return Err(Sentinel::fence_error(m.addr()));
                    }
                    Some(m) => m.clone(),
                }
            }
        };
        node.shared(who, proto, affinity)
    }

    /// A connection of `who`'s for one client alone (always the master's).
    pub fn dedicated(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        let c = self.master_for(true)?.dedicated(who, proto)?;
        self.hold(&c);
        Ok(c)
    }

    /// A connection for one request that must reach the master now (SCRIPT
    /// KILL and the like: no write, so not refused while fenced).
    pub fn alone(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        let c = self.master_for(false)?.alone(who, proto)?;
        self.hold(&c);
        Ok(c)
    }

    /// A new connection of `who`'s to the master, to check its credentials
    /// (its handshake is the check; a credential check writes nothing, so
    /// not refused while fenced).
    pub fn open_for(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        let c = self.master_for(false)?.open_for(who, proto)?;
        self.hold(&c);
        Ok(c)
    }

    /// The master's address with hotcache's own credentials (None: none known).
    pub fn master_target(&self) -> Option<Rc<Target>> {
        self.refresh();
        self.view.borrow().master.as_ref().map(|m| m.target().clone())
    }

    /// Redis's refusal of `who`'s credentials at the master, if any.
    pub fn refusal(&self, who: &Identity) -> Option<Bytes> {
        self.refresh();
        self.view.borrow().master.as_ref().and_then(|m| m.refusal(who))
    }

    /// The HELLO replies of the master and the replicas read from.
    pub fn hellos(&self, proto: Proto) -> Vec<(Proto, Bytes)> {
        self.refresh();
        let view = self.view.borrow();
        let nodes = view.master.iter().chain(&view.replicas);
        nodes.filter_map(|n| n.ctx.breaker.as_ref().and_then(|b| b.health.hello(proto))).collect()
    }

    /// Closes and forgets every connection of a Redis user, on every node.
    pub fn forget_user(&self, user: &Option<std::sync::Arc<str>>) {
        let nodes: Vec<Rc<Node>> = {
            let view = self.view.borrow();
            view.master.iter().chain(&view.replicas).cloned().collect()
        };
        for n in nodes {
            n.forget_user(user);
        }
    }

    /// Remembers a connection handed to a client, to close it with its master.
    fn hold(&self, c: &Rc<PipeConn>) {
        let mut held = self.held.borrow_mut();
        held.insert(Rc::as_ptr(c) as usize, Rc::downgrade(c));
        if held.len() >= self.prune_at.get() {
            held.retain(|_, w| w.upgrade().is_some_and(|c| !c.is_dead()));
            self.prune_at.set((held.len() * 2).max(64));
        }
    }

    /// Takes back a dedicated connection: to the pool of its node if that is
    /// still the master, closed otherwise.
    pub fn release(&self, conn: Rc<PipeConn>, clean: bool) {
        self.refresh();
        let master = self.view.borrow().master.clone();
        match master {
            Some(m) if m.addr() == conn.addr() => m.release(conn, clean),
            _ => conn.close(),
        }
    }

    /// True while the master's breaker is not closed, or no master is known.
    pub fn degraded(&self) -> bool {
        self.refresh();
        self.view.borrow().master.as_ref().is_none_or(|m| m.degraded())
    }

    /// True while the master may be busy running a script.
    pub fn maybe_busy(&self) -> bool {
        self.view.borrow().master.as_ref().is_some_and(|m| m.maybe_busy())
    }

    /// The master's address now, for messages.
    pub fn describe(&self) -> String {
        let t = self.sentinel.topology();
        format!("sentinel {} {}", self.sentinel.name, t.master.as_deref().unwrap_or("(no master)"))
    }

    pub fn close_all(&self) {
        let (master, replicas) = {
            let view = self.view.borrow();
            (view.master.clone(), view.replicas.clone())
        };
        if let Some(m) = master {
            self.close_master(&m, "connection closed by hotcache");
        }
        for r in replicas {
            r.close_all();
        }
    }

    /// Wakes when the topology changes and moves to it at once, so that a
    /// thread with no request to route still closes its connections to a
    /// master that left. Ends with the thread's runtime.
    pub async fn follow(self: Rc<Self>) {
        let mut rx = self.sentinel.subscribe();
        loop {
            self.refresh();
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Redirector for SentinelConns {
    /// Never called: these connections follow no redirection.
    fn redirect(
        &self,
        reply: Bytes,
        _frame: Bytes,
        waiter: Waiter,
        after: After,
        _proto: Proto,
        _hops: u8,
        _from: &str,
        _who: &Identity,
    ) -> Option<(Bytes, Waiter, After)> {
        Some((reply, waiter, after))
    }

    fn node_failed(&self) {
        self.sentinel.ask(Cause::Failed);
    }

    fn demoted(&self) {
        self.sentinel.ask(Cause::ReadOnly);
    }

    fn follows_redirects(&self) -> bool {
        false
    }
}
