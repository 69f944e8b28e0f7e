//! One thread's connections to a Redis Cluster: the slot map it routes by,
//! a `Node` per address, and MOVED/ASK followed inside.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;

use super::cluster::{Cluster, SlotMap};
use super::nodes::{Common, Node};
use super::pipe::{PipeConn, upstream_error};
use super::waiter::{After, Redirector, Waiter, fail_waiter};
use super::{Dest, Identity, Target};
use crate::config::ReadFrom;
use crate::protocol::{Proto, string2ll};
use crate::stats::inc;

/// Redirections one request may follow before it fails (a slot moving while it
/// is being asked for may take two; more means the cluster disagrees with itself).
const MAX_REDIRECTS: u8 = 5;

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
    /// Connections per node: `[0]` plain, `[1]` READONLY (replica reads).
    /// Looked up by `&str`: no shared count is touched per request.
    nodes: RefCell<[HashMap<Arc<str>, Rc<Node>>; 2]>,
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
            nodes: RefCell::new([HashMap::new(), HashMap::new()]),
            common,
            read_from,
            me: me.clone(),
        })
    }

    /// The map to route by: the newest one.
    fn refresh_view(&self) {
        let version = self.cluster.version();
        let mut view = self.view.borrow_mut();
        if view.0 != version {
            *view = self.cluster.map();
            self.moved.borrow_mut().clear();
        }
    }

    /// Runs `f` on the map this thread routes by, borrowed: cloning the `Arc`
    /// per request would bounce its count between threads.
    fn with_map<R>(&self, f: impl FnOnce(&SlotMap) -> R) -> R {
        self.refresh_view();
        f(&self.view.borrow().1)
    }

    /// Changes whenever a slot may have changed node (a new map, a MOVED).
    pub fn routing_epoch(&self) -> u64 {
        (self.cluster.version() << 32) ^ self.routing.get()
    }

    /// The masters, by address: an order that moving slots does not change (a
    /// SCAN cursor names a master by its place in it).
    pub fn masters(&self) -> Vec<Arc<str>> {
        let mut m: Vec<Arc<str>> =
            self.with_map(|map| map.shards.iter().map(|s| s.addr.clone()).collect());
        m.sort();
        m
    }

    pub fn degraded(&self) -> bool {
        self.nodes.borrow().iter().flat_map(|m| m.values()).any(|n| n.degraded())
    }

    /// The node serving `slot` (`read`: a replica of it if so configured).
    pub fn addr_for(&self, route: Dest, affinity: usize) -> Result<(Arc<str>, bool), Bytes> {
        self.route(route, affinity, |addr, readonly| (addr.clone(), readonly))
    }

    /// This thread's connections to the node serving `route`.
    fn node_for(&self, route: Dest, affinity: usize) -> Result<Rc<Node>, Bytes> {
        self.route(route, affinity, |addr, readonly| self.node(addr, readonly))
    }

    /// Runs `f` on the address serving `route` (and whether it is a replica),
    /// borrowed from the map or from the MOVED overrides.
    fn route<R>(
        &self,
        route: Dest,
        affinity: usize,
        f: impl FnOnce(&Arc<str>, bool) -> R,
    ) -> Result<R, Bytes> {
        self.with_map(|map| {
            let Some(slot) = route.slot else {
                let n = map.shards.len();
                return match map.shards.get(affinity % n.max(1)) {
                    Some(s) => Ok(f(&s.addr, false)),
                    None => Err(Bytes::from_static(b"-CLUSTERDOWN Hash slot not served\r\n")),
                };
            };
            if let Some(a) = self.moved.borrow().get(&slot) {
                return Ok(f(a, false));
            }
            match map.shard_of(slot) {
                Some(s)
                    if route.read
                        && self.read_from == ReadFrom::Replica
                        && !s.replicas.is_empty() =>
                {
                    Ok(f(&s.replicas[affinity % s.replicas.len()], true))
                }
                Some(s) => Ok(f(&s.addr, false)),
                None => {
                    self.cluster.request_refresh();
                    Err(Bytes::from_static(b"-CLUSTERDOWN Hash slot not served\r\n"))
                }
            }
        })
    }

    /// This thread's connections to a node.
    pub fn node(&self, addr: &Arc<str>, readonly: bool) -> Rc<Node> {
        if let Some(n) = self.nodes.borrow()[usize::from(readonly)].get(&**addr) {
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
        self.nodes.borrow_mut()[usize::from(readonly)].insert(addr.clone(), node.clone());
        node
    }

    /// A node already connected to, by address.
    pub fn known_node(&self, addr: &str) -> Option<Rc<Node>> {
        self.nodes.borrow()[0].get(addr).cloned()
    }

    pub fn shared(
        &self,
        who: &Identity,
        proto: Proto,
        affinity: usize,
        route: Dest,
    ) -> Result<Rc<PipeConn>, Bytes> {
        self.node_for(route, affinity)?.shared(who, proto, affinity)
    }

    pub fn dedicated(
        &self,
        who: &Identity,
        proto: Proto,
        slot: Option<u16>,
    ) -> Result<Rc<PipeConn>, Bytes> {
        self.node_for(Dest { slot, read: false }, 0)?.dedicated(who, proto)
    }

    /// A master's address (with hotcache's credentials), for a check of a
    /// client's own.
    pub fn any_master(&self) -> Option<Rc<Target>> {
        let addr = self.addr_for(Dest::default(), 0).ok()?.0;
        Some(self.node(&addr, false).target().clone())
    }

    /// A new connection of `who`'s to a master, to check its credentials.
    pub fn open_for(&self, who: &Identity, proto: Proto) -> Result<Rc<PipeConn>, Bytes> {
        self.node_for(Dest::default(), 0)?.open_for(who, proto)
    }

    /// The HELLO replies of the nodes this thread has connected to.
    pub fn hellos(&self, proto: Proto) -> Vec<(Proto, Bytes)> {
        let nodes = self.nodes.borrow();
        let all = nodes.iter().flat_map(|m| m.values());
        all.filter_map(|n| n.ctx.breaker.as_ref().and_then(|b| b.health.hello(proto))).collect()
    }

    /// Closes and forgets every connection of a Redis user, on every node.
    pub fn forget_user(&self, user: &Option<Arc<str>>) {
        for n in self.nodes.borrow().iter().flat_map(|m| m.values()) {
            n.forget_user(user);
        }
    }

    /// A MOVED or ASK that reached a client's own connection (to node `from`):
    /// remembers a MOVED's slot owner and asks for a new map.
    pub fn note_redirect(&self, reply: &[u8], from: &str) {
        if let Some((ask, slot, addr)) = parse_redirect(reply, from)
            && !ask
        {
            self.refresh_view();
            self.moved.borrow_mut().insert(slot, addr);
            self.routing.set(self.routing.get() + 1);
        }
        self.cluster.redirected();
    }

    pub fn close_all(&self) {
        for n in self.nodes.borrow().iter().flat_map(|m| m.values()) {
            n.close_all();
        }
    }
}

/// `-MOVED 3999 127.0.0.1:6381` or `-ASK 3999 127.0.0.1:6381`: (ask, slot, addr),
/// from node `from` (`host:port`). Redis 7 names no host (`-MOVED 3999 :6381`)
/// when its nodes announce no endpoint (`cluster-preferred-endpoint-type
/// unknown-endpoint`): the host is then the one the request went to.
fn parse_redirect(reply: &[u8], from: &str) -> Option<(bool, u16, Arc<str>)> {
    let text = reply.strip_suffix(b"\r\n")?;
    let (ask, rest) = if let Some(r) = text.strip_prefix(b"-MOVED ") {
        (false, r)
    } else {
        (true, text.strip_prefix(b"-ASK ")?)
    };
    let sp = memchr::memchr(b' ', rest)?;
    let slot = u16::try_from(string2ll(&rest[..sp])?).ok()?;
    let addr = std::str::from_utf8(&rest[sp + 1..]).ok()?;
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().ok()?;
        let (host, _) = from.rsplit_once(':')?;
        return Some((ask, slot, Arc::from(format!("{host}:{port}"))));
    }
    if addr.is_empty() {
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
        from: &str,
        who: &Identity,
    ) -> Option<(Bytes, Waiter, After)> {
        let Some((ask, slot, addr)) = parse_redirect(&reply, from) else {
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
            self.refresh_view();
            self.moved.borrow_mut().insert(slot, addr.clone());
            self.routing.set(self.routing.get() + 1);
        }
        self.cluster.redirected();
        let conn = match self.node(&addr, false).shared(who, proto, 0) {
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
        let from = "10.0.0.1:7001";
        assert_eq!(
            parse_redirect(b"-MOVED 3999 127.0.0.1:6381\r\n", from),
            Some((false, 3999, Arc::from("127.0.0.1:6381")))
        );
        assert_eq!(
            parse_redirect(b"-ASK 1 [::1]:7000\r\n", from),
            Some((true, 1, Arc::from("[::1]:7000")))
        );
        assert_eq!(parse_redirect(b"-MOVED 99999 h:1\r\n", from), None);
        // No host: the host the request went to.
        assert_eq!(
            parse_redirect(b"-MOVED 1 :7000\r\n", from),
            Some((false, 1, Arc::from("10.0.0.1:7000")))
        );
        assert_eq!(
            parse_redirect(b"-ASK 2 :7002\r\n", "[::1]:7001"),
            Some((true, 2, Arc::from("[::1]:7002")))
        );
        assert_eq!(parse_redirect(b"-MOVED 1 :x\r\n", from), None);
        assert_eq!(parse_redirect(b"-MOVED 1 \r\n", from), None);
        assert_eq!(parse_redirect(b"-ERR x\r\n", from), None);
    }
}
