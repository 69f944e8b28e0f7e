//! The server: shard threads, listeners, shutdown, and what they share.
//!
//! `run` starts one thread per shard. Each binds its own SO_REUSEPORT listener on
//! the same port (the kernel spreads connections over them), runs a current-thread
//! runtime with a `LocalSet`, and serves its connections to the end. SIGINT or
//! SIGTERM stops the listeners, lets every connection finish the replies it owes,
//! and closes.

mod acl_watch;
mod admin;
mod affinity;
mod auth;
mod cached;
mod client_cmd;
mod clients;
mod cluster;
mod cluster_face;
mod config_cmd;
mod conn;
mod dispatch;
mod forward;
mod hello;
mod info;
mod local;
mod memory;
mod metrics_view;
mod multi;
mod shard_thread;
mod signal;
mod start;
mod trackers;
mod tracking;

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::cache::{CacheShared, ThreadCache, tracker};
use crate::config::{Config, Upstream as UpstreamConfig};
use crate::origin::EmbeddedOrigin;
use crate::shard::ShardHandle;
use crate::stats::ShardCounters;
use crate::upstream::Upstream;

pub use admin::gather_hot_keys;
pub use clients::{ClientInfo, Registry};
pub use start::{start, start_with_file};
pub use trackers::Trackers;

/// The current configuration, readable from any thread; CONFIG SET replaces it.
///
/// Readers keep their own `Arc` and compare a generation number (one relaxed load)
/// to notice a change, so the request path never takes the lock.
#[derive(Debug)]
pub struct SharedConfig {
    generation: AtomicU64,
    current: Mutex<Arc<Config>>,
}

impl SharedConfig {
    pub fn new(config: Config) -> Self {
        Self { generation: AtomicU64::new(0), current: Mutex::new(Arc::new(config)) }
    }

    pub fn load(&self) -> Arc<Config> {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies a change: `f` edits a copy, which replaces the current one if `f`
    /// returns Ok and the result validates.
    pub fn update(&self, f: impl FnOnce(&mut Config) -> Result<(), String>) -> Result<(), String> {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = (**guard).clone();
        f(&mut next)?;
        next.validate().map_err(|e| e.to_string())?;
        *guard = Arc::new(next);
        // Release pairs with the Acquire in `generation()`: a reader that sees the
        // new number takes the lock and sees the new config.
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// What every thread shares.
pub struct Shared {
    pub config: SharedConfig,
    pub clients: Arc<Registry>,
    pub counters: Arc<[ShardCounters]>,
    pub started: Instant,
    pub shards: Vec<ShardHandle>,
    /// The plain TCP port listened on (0: none).
    pub port: u16,
    /// The TLS port listened on (0: none).
    pub tls_port: u16,
    /// What TLS clients are served with: loaded at start, replaced by a CONFIG
    /// SET of a `tls-*` setting (under the configuration's lock, so the two
    /// change together). Read once per accepted TLS client.
    pub tls_server: Mutex<Option<Arc<rustls::ServerConfig>>>,
    /// How upstream connections do TLS (`rediss://`), loaded at start.
    pub upstream_tls: Option<Arc<crate::tls::UpstreamTls>>,
    pub run_id: String,
    /// What the threads' caches share (epochs, singleflight, tracking state).
    pub cache: Arc<CacheShared>,
    /// The upstream's circuit breaker (none for the embedded origin or a cluster,
    /// whose nodes each have theirs in `cluster`).
    pub breaker: Option<Arc<crate::resilience::Breaker>>,
    /// The Redis Cluster upstream's slot map and node breakers.
    pub cluster: Option<Arc<crate::upstream::cluster::Cluster>>,
    /// The master found through Sentinel, and its nodes' breakers.
    pub sentinel: Option<Arc<crate::upstream::sentinel::Sentinel>>,
    /// Latency, upstream nodes, SLOWLOG (see `metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The `--config` file it was started with (for CONFIG REWRITE).
    pub config_file: Option<std::path::PathBuf>,
    /// Where the metrics endpoint listens, if it does.
    pub metrics_addr: Option<SocketAddr>,
    /// Redis's ACL generation (see `upstream::users`).
    pub acl: Arc<crate::upstream::users::Acl>,
    /// Set when shutdown starts.
    pub shutting_down: AtomicBool,
    /// How each thread connects its tracking stream (None: no tracking).
    tracking: Option<tracker::TrackerConfig>,
    /// Clients' tracking served by hotcache, over all threads (INFO).
    pub tracking_totals: Arc<tracking::TrackingTotals>,
    shutdown_tx: watch::Sender<bool>,
}

impl Shared {
    /// True when every thread's tracking stream sees every key (tracking on,
    /// no `cache-tracking-prefixes`): hotcache can then serve its clients'
    /// CLIENT TRACKING itself.
    pub fn tracks_everything(&self) -> bool {
        self.tracking.as_ref().is_some_and(|t| t.prefixes.is_empty())
    }

    /// Closes a client (CLIENT KILL): marks it, then wakes it on its own thread.
    pub fn kill_client(&self, info: &ClientInfo) {
        info.killed.store(true, Ordering::Relaxed);
        let id = info.id;
        if let Some(shard) = self.shards.get(info.shard) {
            shard.run(move || signal::fire(id));
        }
    }

    /// Applies a configuration change to what lives outside the shard threads
    /// (the breaker, logging); threads pick up the rest by generation.
    pub fn config_changed(&self) {
        let config = self.config.load();
        if let Some(b) = &self.breaker {
            b.configure(&config);
        }
        if let Some(c) = &self.cluster {
            c.configure(&config);
        }
        if let Some(s) = &self.sentinel {
            s.configure(&config);
        }
        self.metrics.slowlog.trim(usize::try_from(config.slowlog_max_len).unwrap_or(usize::MAX));
        crate::resilience::logging::configure(&config);
    }

    /// CONFIG RESETSTAT on shard thread `shard` (run there: only a block's
    /// owner writes it). Shard 0 also resets what no shard thread owns.
    pub fn reset_stats_on(&self, shard: usize) {
        if let Some(c) = self.counters.get(shard) {
            c.reset();
        }
        self.metrics.reset_shard(shard);
        if shard == 0 {
            // The block past the shards' (no thread writes it now), and the
            // breakers' counters (atomic adds: any thread may reset them).
            if let Some(c) = self.counters.get(self.shards.len()) {
                c.reset();
            }
            for n in self.metrics.nodes.all() {
                if let Some(b) = &n.breaker {
                    b.reset_stats();
                }
            }
        }
    }

    /// The TLS configuration new TLS clients get.
    pub fn tls_server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls_server.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What keeps the upstream's nodes current (a cluster's map, Sentinel).
    pub fn managed(&self) -> Option<crate::upstream::Managed> {
        use crate::upstream::Managed;
        let cluster = self.cluster.clone().map(Managed::Cluster);
        cluster.or_else(|| self.sentinel.clone().map(Managed::Sentinel))
    }

    /// A receiver that turns true when shutdown starts.
    pub fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown_tx.send(true);
    }
}

/// What one shard thread owns.
pub struct ThreadCtx {
    pub shared: Arc<Shared>,
    pub shard: usize,
    pub upstream: Upstream,
    pub cache: ThreadCache,
    /// How many retries this thread may still send (`retry-budget`).
    pub retry_budget: crate::resilience::retry::RetryBudget,
    /// This thread's tracking connections (with a Redis upstream and tracking
    /// on): one, or one per cluster node read from.
    pub trackers: Trackers,
    /// This thread's copy of the configuration and its generation: an `Rc`, so
    /// that taking it on the request path touches no shared cache line.
    config: RefCell<(u64, Rc<Config>)>,
    /// Connections open on this thread.
    pub open_conns: Cell<usize>,
    /// Set when this thread starts shutting down; connections check it.
    pub stopping: Cell<bool>,
    /// Wakes the shutdown sequence when the last connection closes.
    pub drained: Notify,
    /// Redis's answers to what hotcache asked it for clients that are Redis
    /// users (logins, rights to hotcache's own commands).
    pub asks: auth::Asks,
    /// The tracking state of this thread's clients (see `tracking`).
    pub tracking: tracking::Tracking,
}

impl ThreadCtx {
    /// The current configuration (re-read only when CONFIG SET changed it).
    pub fn config(&self) -> Rc<Config> {
        let generation = self.shared.config.generation();
        let mut cached = self.config.borrow_mut();
        if cached.0 != generation {
            *cached = (generation, Rc::new((*self.shared.config.load()).clone()));
            self.upstream.reconfigure(&cached.1);
            self.cache.reconfigure(&cached.1);
        }
        cached.1.clone()
    }

    pub fn counters(&self) -> &ShardCounters {
        &self.shared.counters[self.shard]
    }
}

/// A running server: its address, and a handle to stop it and wait for it.
pub struct Server {
    /// The plain TCP address, or the TLS one when plain TCP is off.
    pub addr: SocketAddr,
    /// The TLS address, if `tls-port` is set.
    pub tls_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Stops accepting, lets connections finish, and waits for every thread.
    pub fn shutdown_and_wait(self) {
        self.shared.shutdown();
        self.wait();
    }

    /// Waits until every thread has stopped (after a shutdown).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
