//! What the metrics endpoint may read of the running server, and nothing
//! more. The server hands the endpoint an `Arc<dyn View>`; metrics never names
//! the server's own state, so the two stay apart (the server uses metrics, not
//! the other way round).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::stats::ShardCounters;

use super::Metrics;

/// The hot keys of every thread, gathered: key and reads per second.
pub type HotKeys = Pin<Box<dyn Future<Output = Vec<(Vec<u8>, f64)>> + Send>>;

/// Clients' CLIENT TRACKING tables, as counted now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientTracking {
    pub clients: u64,
    pub keys: u64,
    pub items: u64,
    pub memory: u64,
}

/// A read-only view of the server for the metrics endpoint.
pub trait View: Send + Sync + 'static {
    /// The counters behind INFO hotcache, one block per shard thread.
    fn counters(&self) -> &[ShardCounters];
    /// Latency, upstream nodes, SLOWLOG and the dashboard's samples.
    fn metrics(&self) -> &Metrics;
    /// The configuration now (the endpoint's own settings are read from it).
    fn config(&self) -> Arc<Config>;
    fn connected_clients(&self) -> usize;
    fn uptime(&self) -> Duration;
    fn client_tracking(&self) -> ClientTracking;
    /// The `count` hottest keys of all threads.
    fn hot_keys(&self, count: usize) -> HotKeys;
    /// Resolves once the server starts shutting down.
    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}
