//! Connections to the origin, owned by one shard thread.
//!
//! Each thread keeps `upstream-connections` shared pipelined connections per
//! protocol version (a RESP3 client must get the bytes Redis sends a RESP3 client,
//! so the two never share a connection), and a small pool of idle connections to
//! hand to clients that need one of their own. With no upstream configured the
//! "connection" is the embedded origin, called in place. Behind Redis Sentinel
//! the node is whichever master the sentinels name now (`sentinel`).
//!
//! This file holds the shapes (origin, target, wiring) and building one thread's
//! upstream; `pick` picks the connection a request or a client goes on, and
//! `creds` holds what Redis says of a client's credentials.

pub mod cluster;
mod cluster_conns;
mod creds;
mod handshake;
mod link;
mod nodes;
mod owed;
mod pick;
mod pipe;
pub mod sentinel;
pub use crate::users;
mod waiter;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cache::Epochs;
use crate::config::{Config, ReadFrom, Upstream as UpstreamConfig};
use crate::origin::EmbeddedOrigin;
use crate::protocol::Proto;
use crate::resilience::Breaker;
use crate::stats::ShardCounters;

use cluster::Cluster;
use cluster_conns::ClusterConns;
use nodes::{Common, Node};
use sentinel::{Sentinel, SentinelConns};

pub use link::{Link, ReplySlot};
pub use owed::{Charge, Owed};
pub use pipe::{PipeConn, Relayed, Sink, upstream_error};
pub use users::Identity;
pub use waiter::{After, Failed, Hold, Parts, PipeCtx, Reply, ReplyTx, Waiter, fail_waiter};

/// Address and credentials of a Redis upstream.
#[derive(Debug)]
pub struct Target {
    /// `host:port`, also used in error messages.
    pub addr: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// A cluster replica read from: READONLY after the handshake.
    pub readonly: bool,
    /// `rediss://`: every connection to it is TLS.
    pub tls: Option<Arc<crate::tls::UpstreamTls>>,
}

/// Where commands go.
#[derive(Clone)]
pub enum Origin {
    Embedded(Arc<EmbeddedOrigin>),
    Redis(Rc<Target>),
    Cluster(Arc<Cluster>),
    Sentinel(Arc<Sentinel>),
}

/// One thread's upstream connections: to one Redis, to the nodes of a cluster,
/// or the embedded origin.
pub struct Upstream {
    origin: Origin,
    /// The standalone Redis's connections.
    node: Option<Rc<Node>>,
    /// The cluster's nodes' connections.
    cluster: Option<Rc<ClusterConns>>,
    /// The connections to the master the sentinels name (and its replicas).
    sentinel: Option<Rc<SentinelConns>>,
    common: Rc<Common>,
}

/// What keeps an upstream's nodes current, when something does.
pub enum Managed {
    /// A Redis Cluster's slot map.
    Cluster(Arc<Cluster>),
    /// The master the sentinels name.
    Sentinel(Arc<Sentinel>),
}

/// Where a shared request goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dest {
    /// The cluster slot of its keys (None: keyless, any node will do).
    pub slot: Option<u16>,
    /// A read that may go to a replica (`read-from replica`).
    pub read: bool,
}

/// What every thread's upstream shares with the others (process-wide parts).
pub struct Wiring {
    pub counters: Arc<[ShardCounters]>,
    pub epochs: Arc<Epochs>,
    /// The standalone node's breaker.
    pub breaker: Option<Arc<Breaker>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What keeps the nodes current (a cluster's map, Sentinel).
    pub managed: Option<Managed>,
    pub acl: Arc<users::Acl>,
    /// TLS to Redis (`rediss://`).
    pub tls: Option<Arc<crate::tls::UpstreamTls>>,
}

impl Upstream {
    pub fn new(
        config: &Config,
        embedded: Option<Arc<EmbeddedOrigin>>,
        shard: usize,
        wiring: Wiring,
    ) -> Self {
        let Wiring { counters, epochs, breaker, metrics, managed, acl, tls } = wiring;
        let common = Rc::new(Common {
            connect_timeout: Cell::new(Duration::from_millis(config.upstream_connect_timeout)),
            pool_size: Cell::new(config.upstream_pool_size),
            conns: config.upstream_connections,
            timeout: Rc::new(Cell::new(Duration::from_millis(config.upstream_timeout))),
            stall_timeout: Rc::new(Cell::new(Duration::from_millis(config.upstream_stall_timeout))),
            max_inflight: Rc::new(Cell::new(config.upstream_max_inflight.max(1))),
            epochs,
            counters,
            shard,
            metrics,
            acl,
            passwords: Rc::new(users::Passwords::default()),
        });
        if let Some(Managed::Cluster(c)) = managed {
            let conns = ClusterConns::new(c.clone(), common.clone(), config.read_from);
            return Self {
                origin: Origin::Cluster(c),
                node: None,
                cluster: Some(conns),
                sentinel: None,
                common,
            };
        }
        if let Some(Managed::Sentinel(s)) = managed {
            let conns = SentinelConns::new(s.clone(), common.clone(), config.read_from);
            return Self {
                origin: Origin::Sentinel(s),
                node: None,
                cluster: None,
                sentinel: Some(conns),
                common,
            };
        }
        let origin = match (&config.upstream, embedded) {
            (UpstreamConfig::Redis { user, password, db, .. }, _) => {
                Origin::Redis(Rc::new(Target {
                    addr: config.upstream.addr().unwrap_or_default(),
                    user: user.clone(),
                    password: password.clone(),
                    db: *db,
                    readonly: false,
                    tls,
                }))
            }
            (UpstreamConfig::Embedded, Some(e)) => Origin::Embedded(e),
            (UpstreamConfig::Embedded, None) => Origin::Embedded(Arc::new(EmbeddedOrigin::new())),
        };
        let node = match &origin {
            Origin::Redis(t) => {
                let stats = common.metrics.nodes.node(&t.addr, breaker.clone());
                Some(Node::new(t.clone(), &common, breaker, Some(stats), None))
            }
            _ => None,
        };
        Self { origin, node, cluster: None, sentinel: None, common }
    }

    /// Applies settings that may change at run time.
    pub fn reconfigure(&self, config: &Config) {
        let c = &self.common;
        c.connect_timeout.set(Duration::from_millis(config.upstream_connect_timeout));
        c.pool_size.set(config.upstream_pool_size);
        c.timeout.set(Duration::from_millis(config.upstream_timeout));
        c.stall_timeout.set(Duration::from_millis(config.upstream_stall_timeout));
        c.max_inflight.set(config.upstream_max_inflight.max(1));
    }

    /// The standalone node's circuit breaker, if the origin is one Redis.
    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.node.as_ref().and_then(|n| n.ctx.breaker.as_ref())
    }

    /// True while the upstream is degraded: its breaker (with a cluster, any
    /// node's; behind Sentinel, the master's) is not closed.
    pub fn degraded(&self) -> bool {
        match (&self.node, &self.cluster, &self.sentinel) {
            (Some(n), ..) => n.degraded(),
            (None, Some(c), _) => c.degraded(),
            (None, None, Some(s)) => s.degraded(),
            _ => false,
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// True when commands go to the embedded origin.
    pub fn is_embedded(&self) -> bool {
        matches!(self.origin, Origin::Embedded(_))
    }

    /// True when the upstream is a Redis Cluster.
    #[inline]
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The address shown in INFO and errors.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Embedded(_) => "embedded".into(),
            Origin::Redis(t) => t.addr.clone(),
            Origin::Cluster(c) => format!("cluster {}", c.seeds.addrs.join(",")),
            Origin::Sentinel(_) => self.sentinel.as_ref().map(|s| s.describe()).unwrap_or_default(),
        }
    }

    /// The HELLO replies of the servers behind (one Redis, or each cluster
    /// node this thread has talked to), in `proto` where known.
    pub fn hellos(&self, proto: Proto) -> Vec<(Proto, Bytes)> {
        match (&self.node, &self.cluster, &self.sentinel) {
            (Some(n), ..) => n.ctx.breaker.iter().filter_map(|b| b.health.hello(proto)).collect(),
            (None, Some(c), _) => c.hellos(proto),
            (None, None, Some(s)) => s.hellos(proto),
            _ => Vec::new(),
        }
    }

    /// True while Redis may be busy running a script: one sent through
    /// hotcache runs, or it answered BUSY lately (standalone upstream only).
    pub fn maybe_busy(&self) -> bool {
        self.node.as_ref().is_some_and(|n| n.maybe_busy())
            || self.sentinel.as_ref().is_some_and(|s| s.maybe_busy())
    }

    /// Whether cluster (or Sentinel) reads go to replicas.
    pub fn read_from(&self) -> ReadFrom {
        match (&self.cluster, &self.sentinel) {
            (Some(c), _) => c.read_from,
            (None, Some(s)) => s.read_from,
            _ => ReadFrom::Master,
        }
    }

    /// The master found through Sentinel, if that is the upstream.
    pub fn sentinel(&self) -> Option<&Arc<Sentinel>> {
        self.sentinel.as_ref().map(|s| &s.sentinel)
    }

    /// Keeps this thread's Sentinel connections on the current master even
    /// while no request comes (spawned on the thread's runtime).
    pub fn follow_sentinel(&self) -> Option<impl std::future::Future<Output = ()> + 'static> {
        self.sentinel.clone().map(|s| s.follow())
    }
}
