//! Per upstream node: round-trip latency (from when a request is queued on a
//! pipelined connection to when its reply is read) and errors, per shard
//! thread, read by INFO upstream, Prometheus and the dashboard.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::hist::{Histogram, Snapshot};
use crate::resilience::Breaker;

/// Most nodes kept apart; past it (a cluster churning addresses for a long
/// time), new addresses share the last entry, so memory stays bounded.
const MAX_NODES: usize = 1024;

/// One node's counters on one shard thread (written by that thread only).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct NodeShard {
    /// Round trips of answered requests.
    pub rtt: Histogram,
    /// Connection failures (connect errors, resets, closes, reply timeouts).
    pub errors: AtomicU64,
    /// Of those, reply timeouts (`upstream-timeout`).
    pub timeouts: AtomicU64,
    /// Requests answered with an error because their connection failed.
    pub failed_requests: AtomicU64,
}

impl NodeShard {
    /// Adds `n` to a counter (owning thread only: a load and a store).
    #[inline]
    pub fn add(a: &AtomicU64, n: u64) {
        a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
    }

    fn reset(&self) {
        self.rtt.reset();
        for a in [&self.errors, &self.timeouts, &self.failed_requests] {
            a.store(0, Relaxed);
        }
    }
}

/// One upstream node's statistics.
#[derive(Debug)]
pub struct NodeStats {
    /// `host:port`.
    pub addr: String,
    /// Its circuit breaker, if it has one.
    pub breaker: Option<Arc<Breaker>>,
    shards: Box<[NodeShard]>,
}

impl NodeStats {
    /// The block the calling shard thread writes.
    pub fn shard(&self, shard: usize) -> &NodeShard {
        // Out of range only for a thread that is not a shard: it writes the last.
        &self.shards[shard.min(self.shards.len() - 1)]
    }

    /// Resets the calling shard thread's block (CONFIG RESETSTAT runs this on
    /// every shard thread).
    pub fn reset_shard(&self, shard: usize) {
        self.shard(shard).reset();
    }

    /// Summed over threads.
    pub fn totals(&self) -> NodeTotals {
        let mut t = NodeTotals::default();
        for s in self.shards.iter() {
            s.rtt.add_to(&mut t.rtt);
            t.errors += s.errors.load(Relaxed);
            t.timeouts += s.timeouts.load(Relaxed);
            t.failed_requests += s.failed_requests.load(Relaxed);
        }
        t
    }
}

/// A node's statistics summed over threads.
#[derive(Debug, Default)]
pub struct NodeTotals {
    pub rtt: Snapshot,
    pub errors: u64,
    pub timeouts: u64,
    pub failed_requests: u64,
}

/// Every upstream node seen so far.
#[derive(Debug)]
pub struct Nodes {
    shards: usize,
    // Touched when a connection is opened and when stats are read, never per
    // request: a mutex is simplest and costs nothing that matters.
    list: Mutex<Vec<Arc<NodeStats>>>,
}

impl Nodes {
    pub fn new(shards: usize) -> Self {
        Self { shards: shards.max(1), list: Mutex::new(Vec::new()) }
    }

    /// The stats of `addr`, created on first use.
    pub fn node(&self, addr: &str, breaker: Option<Arc<Breaker>>) -> Arc<NodeStats> {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = list.iter().find(|n| n.addr == addr) {
            return n.clone();
        }
        if list.len() >= MAX_NODES
            && let Some(last) = list.last()
        {
            return last.clone();
        }
        let n = Arc::new(NodeStats {
            addr: addr.to_string(),
            breaker,
            shards: (0..self.shards).map(|_| NodeShard::default()).collect(),
        });
        list.push(n.clone());
        n
    }

    /// Every node, in the order first seen.
    pub fn all(&self) -> Vec<Arc<NodeStats>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_address() {
        let nodes = Nodes::new(2);
        let a = nodes.node("h:1", None);
        let b = nodes.node("h:1", None);
        assert!(Arc::ptr_eq(&a, &b));
        nodes.node("h:2", None);
        assert_eq!(nodes.all().len(), 2);
        a.shard(1).rtt.record(1000);
        NodeShard::add(&a.shard(0).errors, 2);
        let t = a.totals();
        assert_eq!((t.rtt.count, t.errors), (1, 2));
        a.reset_shard(0);
        a.reset_shard(1);
        assert_eq!(a.totals().errors, 0);
    }
}
