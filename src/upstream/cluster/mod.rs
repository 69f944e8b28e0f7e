//! A Redis Cluster upstream: the slot map every thread routes by, kept current
//! by one refresher thread.
//!
//! # How the map stays current
//!
//! The map lives behind a lock that only the refresher writes; threads keep their
//! own `Arc` of it and compare a version number (one atomic load) before routing,
//! so the request path takes no lock. The refresher asks CLUSTER SLOTS of a known
//! node every `cluster-refresh-interval`, and at once when a thread asks (a MOVED
//! reply, a failed connection, an open breaker). Asks arriving while a refresh
//! runs are folded into the next one (a channel of one), and refreshes are at
//! least [`MIN_GAP`] apart: the refresh is single-flight by construction.
//!
//! When the map changes, everything cached is dropped (entries of moved slots
//! must go, and the epoch table does not know cluster slots) and the tracking
//! state expects one stream per thread and master.

pub mod slot;
pub mod topology;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use slot::{SLOTS, key_slot};
pub use topology::{Shard, SlotMap};

use crate::cache::{Epochs, TrackingState};
use crate::config::{ClusterSeeds, Config};
use crate::resilience::Breaker;

/// The least time between two refreshes.
const MIN_GAP: Duration = Duration::from_millis(100);

/// The least time after a refresh that found nothing new: while a node is down,
/// every refused request asks for one, and each costs a node a CLUSTER SLOTS.
const IDLE_GAP: Duration = Duration::from_millis(250);

/// The cluster as every thread sees it.
pub struct Cluster {
    pub seeds: ClusterSeeds,
    /// With `rediss://` seeds: TLS to every node.
    pub tls: Option<Arc<crate::tls::UpstreamTls>>,
    map: RwLock<Arc<SlotMap>>,
    /// Bumped (Release) after each new map is stored.
    version: AtomicU64,
    refresh_tx: SyncSender<()>,
    /// One breaker per node, shared by every thread's connections to it.
    breakers: Mutex<HashMap<Arc<str>, Arc<Breaker>>>,
    /// Breakers of new nodes are made with the configuration as it was last set.
    config: Mutex<Arc<Config>>,
    epochs: Arc<Epochs>,
    /// With tracking on: one stream per thread and master.
    tracking: Option<Arc<TrackingState>>,
    threads: usize,
    /// Reads (and so tracking) also go to replicas.
    replicas: bool,
    pub refreshes: AtomicU64,
    pub refresh_errors: AtomicU64,
    pub map_changes: AtomicU64,
    /// The last refresh error, for INFO.
    last_error: Mutex<String>,
}

impl Cluster {
    /// Reads the map from the seeds (once, now: hotcache starts serving even if
    /// none answers, and keeps trying) and starts the refresher.
    pub fn start(
        config: &Config,
        epochs: Arc<Epochs>,
        tracking: Option<Arc<TrackingState>>,
        threads: usize,
        tls: Option<Arc<crate::tls::UpstreamTls>>,
    ) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = sync_channel(1);
        let cluster = Arc::new(Self {
            seeds: config.cluster.clone(),
            tls,
            map: RwLock::new(Arc::new(SlotMap::default())),
            version: AtomicU64::new(0),
            refresh_tx: tx,
            breakers: Mutex::new(HashMap::new()),
            config: Mutex::new(Arc::new(config.clone())),
            epochs,
            tracking,
            threads,
            replicas: config.read_from == crate::config::ReadFrom::Replica,
            refreshes: AtomicU64::new(0),
            refresh_errors: AtomicU64::new(0),
            map_changes: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
        });
        if let Some(t) = &cluster.tracking {
            t.set_expected(0);
        }
        cluster.refresh();
        let interval = Duration::from_millis(config.cluster_refresh_interval);
        let c = cluster.clone();
        std::thread::Builder::new()
            .name("cluster-refresh".into())
            .spawn(move || c.refresher(rx, interval))?;
        Ok(cluster)
    }

    /// The map and its version.
    pub fn map(&self) -> (u64, Arc<SlotMap>) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        (self.version.load(Ordering::Acquire), map.clone())
    }

    /// The version of the current map (one atomic load).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Asks for a refresh soon; folded into one already asked for.
    pub fn request_refresh(&self) {
        match self.refresh_tx.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// The breaker of a node.
    pub fn breaker(&self, addr: &Arc<str>) -> Arc<Breaker> {
        let mut b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        b.entry(addr.clone())
            .or_insert_with(|| {
                let config = self.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
                Arc::new(Breaker::new(addr.to_string(), &config))
            })
            .clone()
    }

    /// Every node's breaker, by address.
    pub fn breakers(&self) -> Vec<(Arc<str>, Arc<Breaker>)> {
        let b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = b.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Applies a configuration change to the breakers.
    pub fn configure(&self, config: &Arc<Config>) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config.clone();
        for (_, b) in self.breakers() {
            b.configure(config);
        }
    }

    /// A request was redirected: the map is behind, and its reply may come from
    /// a node no tracking stream covers yet, so no fill in flight may be cached.
    pub fn redirected(&self) {
        if let Some(t) = &self.tracking {
            t.bump();
        }
        self.request_refresh();
    }

    /// The last refresh error (empty if the last refresh succeeded).
    pub fn last_error(&self) -> String {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn refresher(self: Arc<Self>, rx: Receiver<()>, interval: Duration) {
        loop {
            match rx.recv_timeout(interval) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let started = Instant::now();
            let gap = if self.refresh() { MIN_GAP } else { IDLE_GAP };
            if let Some(rest) = gap.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }

    /// Reads the map from a known node, else a seed; stores it if it changed.
    /// True if it did. Known nodes are asked in turn (one that lags or hangs
    /// is not asked first every time), nodes whose breaker is not closed last.
    fn refresh(&self) -> bool {
        let n = self.refreshes.fetch_add(1, Ordering::Relaxed) as usize;
        let (_, current) = self.map();
        let mut known: Vec<String> = Vec::new();
        for s in &current.shards {
            known.push(s.addr.to_string());
            known.extend(s.replicas.iter().map(|r| r.to_string()));
        }
        if !known.is_empty() {
            let len = known.len();
            known.rotate_left(n % len);
        }
        let degraded: Vec<String> = self
            .breakers()
            .into_iter()
            .filter(|(_, b)| b.degraded())
            .map(|(a, _)| a.to_string())
            .collect();
        known.sort_by_key(|a| degraded.contains(a));
        let mut candidates = known;
        for s in &self.seeds.addrs {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let timeout = {
            let c = self.config.lock().unwrap_or_else(|e| e.into_inner());
            Duration::from_millis(c.upstream_connect_timeout.clamp(100, 2000))
        };
        let mut last = String::from("no node to ask");
        for addr in &candidates {
            match topology::fetch(
                addr,
                self.seeds.user.as_deref(),
                self.seeds.password.as_deref(),
                timeout,
                self.tls.as_deref(),
            ) {
                // A node that lost its slots (failed over, mid-restart) may
                // answer an empty or partial map: ask another.
                Ok(map) if map.covered() == 0 => last = format!("{addr}: no slots served"),
                Ok(map) => {
                    self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    let changed = map != *current;
                    if changed {
                        self.install(map);
                    }
                    return changed;
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        self.refresh_errors.fetch_add(1, Ordering::Relaxed);
        crate::log_limited!(warn, error = %last, "cluster slot map refresh failed");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = last;
        false
    }

    fn install(&self, map: SlotMap) {
        let masters = map.shards.len();
        let streams = map.tracked(self.replicas).len();
        tracing::info!(masters, covered = map.covered(), "cluster slot map changed");
        {
            let mut m = self.map.write().unwrap_or_else(|e| e.into_inner());
            *m = Arc::new(map);
        }
        // Drop what was cached before threads route by the new map: entries of
        // moved slots must not be served.
        self.epochs.invalidate_all();
        if let Some(t) = &self.tracking {
            t.set_expected(streams * self.threads);
        }
        self.map_changes.fetch_add(1, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }
}
