//! Picking connections: the link a request or a client goes on (shared,
//! dedicated, alone), the cluster routing that choice reads, and taking a
//! dedicated link back.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::{Dest, Identity, Link, Origin, SentinelConns, Upstream};
use crate::protocol::Proto;

impl Upstream {
    /// The shared link of `who`'s for a client: `affinity` keeps a client on one
    /// connection so its commands reach Redis in the order it sent them.
    pub fn shared(&self, who: &Identity, proto: Proto, affinity: usize) -> Result<Link, Bytes> {
        self.shared_for(who, proto, affinity, Dest::default())
    }

    /// The shared link of `who`'s for a request going `route` (the node of
    /// its slot in a cluster).
    pub fn shared_for(
        &self,
        who: &Identity,
        proto: Proto,
        affinity: usize,
        route: Dest,
    ) -> Result<Link, Bytes> {
        match (&self.origin, &self.node, &self.cluster) {
            (Origin::Embedded(e), ..) => Ok(Link::Embedded(e.clone(), proto)),
            (_, Some(node), _) => node.shared(who, proto, affinity).map(Link::Pipe),
            (_, None, Some(c)) => c.shared(who, proto, affinity, route).map(Link::Pipe),
            (Origin::Sentinel(_), ..) => {
                self.sentinel_conns()?.shared(who, proto, affinity, route).map(Link::Pipe)
            }
            _ => Err(Bytes::from_static(b"-ERR no upstream\r\n")),
        }
    }

    /// The shared link of `who`'s to one cluster node (a fan-out to every master).
    pub fn shared_at(
        &self,
        who: &Identity,
        proto: Proto,
        affinity: usize,
        addr: &Arc<str>,
    ) -> Result<Link, Bytes> {
        match &self.cluster {
            Some(c) => c.node(addr, false).shared(who, proto, affinity).map(Link::Pipe),
            None => self.shared(who, proto, affinity),
        }
    }

    /// The master serving `slot` now (None without a cluster).
    pub fn node_for(&self, slot: u16) -> Option<Arc<str>> {
        let c = self.cluster.as_ref()?;
        c.addr_for(Dest { slot: Some(slot), read: false }, 0).ok().map(|(a, _)| a)
    }

    /// A MOVED or ASK came back on a client's own connection, to node `from`
    /// (see `ClusterConns::note_redirect`).
    pub fn note_redirect(&self, reply: &[u8], from: &str) {
        if let Some(c) = &self.cluster {
            c.note_redirect(reply, from);
        }
    }

    /// Changes whenever a cluster slot may have changed node (0 without a cluster).
    #[inline]
    pub fn routing_epoch(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |c| c.routing_epoch())
    }

    /// The cluster's masters now (empty without a cluster).
    pub fn masters(&self) -> Vec<Arc<str>> {
        self.cluster.as_ref().map(|c| c.masters()).unwrap_or_default()
    }

    /// A connection of `who`'s for one client alone, from the pool or new.
    pub fn dedicated(&self, who: &Identity, proto: Proto) -> Result<Link, Bytes> {
        self.dedicated_for(who, proto, None)
    }

    /// A connection of `who`'s for one client alone, to the node of `slot` in
    /// a cluster.
    pub fn dedicated_for(
        &self,
        who: &Identity,
        proto: Proto,
        slot: Option<u16>,
    ) -> Result<Link, Bytes> {
        match (&self.origin, &self.node, &self.cluster) {
            (Origin::Embedded(e), ..) => Ok(Link::Embedded(e.clone(), proto)),
            (_, Some(node), _) => node.dedicated(who, proto).map(Link::Pipe),
            (_, None, Some(c)) => c.dedicated(who, proto, slot).map(Link::Pipe),
            (Origin::Sentinel(_), ..) => {
                self.sentinel_conns()?.dedicated(who, proto).map(Link::Pipe)
            }
            _ => Err(Bytes::from_static(b"-ERR no upstream\r\n")),
        }
    }

    /// A connection of `who`'s for one request that must reach Redis now,
    /// whatever the breaker says (see `Route::Alone`); released like a
    /// dedicated one.
    pub fn alone(&self, who: &Identity, proto: Proto, slot: Option<u16>) -> Result<Link, Bytes> {
        match (&self.origin, &self.node, &self.cluster) {
            (Origin::Embedded(e), ..) => Ok(Link::Embedded(e.clone(), proto)),
            (_, Some(node), _) => node.alone(who, proto).map(Link::Pipe),
            (_, None, Some(c)) => c.dedicated(who, proto, slot).map(Link::Pipe),
            (Origin::Sentinel(_), ..) => self.sentinel_conns()?.alone(who, proto).map(Link::Pipe),
            _ => Err(Bytes::from_static(b"-ERR no upstream\r\n")),
        }
    }

    /// Takes back a dedicated connection. `clean` says the client left no state on
    /// it (no MULTI, WATCH, SELECT, tracking, subscription); only then is it reused.
    pub fn release(&self, link: Link, clean: bool) {
        let Link::Pipe(conn) = link else { return };
        if let Some(s) = &self.sentinel {
            return s.release(conn, clean);
        }
        let node = match (&self.node, &self.cluster) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(c)) => c.known_node(conn.addr()),
            _ => None,
        };
        match node {
            Some(n) => n.release(conn, clean),
            None => conn.close(),
        }
    }

    /// Closes every connection (at shutdown).
    pub fn close_all(&self) {
        if let Some(n) = &self.node {
            n.close_all();
        }
        if let Some(c) = &self.cluster {
            c.close_all();
        }
        if let Some(s) = &self.sentinel {
            s.close_all();
        }
    }

    /// This thread's Sentinel connections (the origin says there are some).
    fn sentinel_conns(&self) -> Result<&Rc<SentinelConns>, Bytes> {
        self.sentinel.as_ref().ok_or_else(|| Bytes::from_static(b"-ERR no upstream\r\n"))
    }
}
