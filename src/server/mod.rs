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

/// Binds a listener with SO_REUSEPORT so every shard can bind the same port.
fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Resolves `bind` and `port` into a socket address.
fn listen_addr(config: &Config, port: u16) -> std::io::Result<SocketAddr> {
    (config.bind.as_str(), port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "bind address resolves to nothing")
    })
}

/// One shard thread's listeners: plain TCP, TLS, or both.
pub(crate) struct Listeners {
    pub plain: Option<std::net::TcpListener>,
    pub tls: Option<std::net::TcpListener>,
}

/// A listener per thread on `port` (none when 0), and the address bound.
fn bind_all(
    config: &Config,
    port: u16,
    threads: usize,
) -> std::io::Result<(Vec<Option<std::net::TcpListener>>, Option<SocketAddr>)> {
    if port == 0 {
        return Ok(((0..threads).map(|_| None).collect(), None));
    }
    let first = bind_reuseport(listen_addr(config, port)?)?;
    let addr = first.local_addr()?;
    let mut out = vec![Some(first)];
    for _ in 1..threads {
        out.push(Some(bind_reuseport(addr)?));
    }
    Ok((out, Some(addr)))
}

fn invalid(e: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
}

/// Starts the server: binds, spawns the shard threads, returns once all listen.
pub fn start(config: Config) -> std::io::Result<Server> {
    start_with_file(config, None)
}

/// Starts the server, remembering the config file it was read from (CONFIG
/// REWRITE writes it back).
pub fn start_with_file(
    config: Config,
    config_file: Option<std::path::PathBuf>,
) -> std::io::Result<Server> {
    let threads = config.thread_count();
    // Loaded before binding: a TLS file that does not load fails the start,
    // as it does Redis's ("Failed to configure TLS").
    let tls_server = match config.tls_port {
        0 => None,
        _ => Some(crate::tls::server_config(&config).map_err(|e| invalid(format!("TLS: {e}")))?),
    };
    let upstream_tls = if config.upstream_tls_used() {
        let t = crate::tls::UpstreamTls::new(&config).map_err(|e| invalid(format!("TLS: {e}")))?;
        Some(Arc::new(t))
    } else {
        None
    };
    let (plain, addr) = bind_all(&config, config.port, threads)?;
    let (tls, tls_addr) = bind_all(&config, config.tls_port, threads)?;
    let listeners: Vec<Listeners> =
        plain.into_iter().zip(tls).map(|(plain, tls)| Listeners { plain, tls }).collect();
    let Some(addr) = addr.or(tls_addr) else {
        return Err(invalid("Configured to not listen anywhere".into()));
    };
    let embedded = match config.upstream {
        UpstreamConfig::Embedded if !config.cluster.is_on() && !config.sentinel.is_on() => {
            Some(Arc::new(EmbeddedOrigin::new()))
        }
        _ => None,
    };
    let mut handles = Vec::new();
    let mut inboxes = Vec::new();
    for i in 0..threads {
        let (h, rx) = ShardHandle::new(i);
        handles.push(h);
        inboxes.push(rx);
    }
    // One block per shard thread, and one for the tracking thread.
    let counters: Arc<[ShardCounters]> =
        (0..threads + 1).map(|_| ShardCounters::default()).collect();
    let (shutdown_tx, _) = watch::channel(false);
    let prefixes: Vec<String> =
        config.cache_tracking_prefixes.split_whitespace().map(String::from).collect();
    let timeout = Duration::from_millis(config.cache_tracking_timeout);
    let tracking = match &config.upstream {
        _ if !config.cache_tracking => None,
        UpstreamConfig::Redis { user, password, .. } => Some(tracker::TrackerConfig {
            addr: config.upstream.addr().unwrap_or_default(),
            user: user.clone(),
            password: password.clone(),
            prefixes,
            timeout,
            tls: upstream_tls.clone(),
        }),
        UpstreamConfig::Embedded if config.cluster.is_on() => Some(tracker::TrackerConfig {
            addr: String::new(),
            user: config.cluster.user.clone(),
            password: config.cluster.password.clone(),
            prefixes,
            timeout,
            tls: upstream_tls.clone(),
        }),
        // The master's credentials; the address is each tracked node's.
        UpstreamConfig::Embedded if config.sentinel.is_on() => Some(tracker::TrackerConfig {
            addr: String::new(),
            user: config.sentinel.user.clone(),
            password: config.sentinel.password.clone(),
            prefixes,
            timeout,
            tls: upstream_tls.clone().filter(|_| config.sentinel.tls),
        }),
        UpstreamConfig::Embedded => None,
    };
    let needs_tracking = tracking.is_some();
    let cache = CacheShared::new(&config, threads, needs_tracking);
    let breaker =
        config.upstream.addr().map(|addr| Arc::new(crate::resilience::Breaker::new(addr, &config)));
    let cluster = if config.cluster.is_on() {
        let tracking = needs_tracking.then(|| cache.tracking.clone());
        Some(crate::upstream::cluster::Cluster::start(
            &config,
            cache.epochs.clone(),
            tracking,
            threads,
            upstream_tls.clone(),
        )?)
    } else {
        None
    };
    let sentinel = if config.sentinel.is_on() {
        let tracking = needs_tracking.then(|| cache.tracking.clone());
        Some(crate::upstream::sentinel::Sentinel::start(
            &config,
            cache.epochs.clone(),
            tracking,
            threads,
            upstream_tls.clone(),
        )?)
    } else {
        None
    };
    crate::resilience::logging::configure(&config);
    let metrics = Arc::new(crate::metrics::Metrics::new(threads));
    if let Some(addr) = config.upstream.addr() {
        // Registered now, so INFO upstream shows the node before any traffic.
        metrics.nodes.node(&addr, breaker.clone());
    }
    // Bound here, so a port in use fails the start like the main port does.
    let metrics_listener = if config.metrics_port != 0 {
        let addr = (config.metrics_bind.as_str(), config.metrics_port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "metrics-bind resolves to nothing",
                )
            })?;
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Some(l)
    } else {
        None
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let plain_port = if config.port == 0 { 0 } else { addr.port() };
    let shared = Arc::new(Shared {
        config: SharedConfig::new(config),
        clients: Arc::new(Registry::default()),
        counters,
        started: Instant::now(),
        shards: handles,
        port: plain_port,
        tls_port: tls_addr.map_or(0, |a| a.port()),
        tls_server: Mutex::new(tls_server),
        upstream_tls,
        run_id: run_id(),
        cache: cache.clone(),
        breaker,
        cluster,
        sentinel,
        metrics,
        config_file,
        metrics_addr,
        acl: Arc::new(crate::upstream::users::Acl::default()),
        tracking_totals: Arc::default(),
        shutting_down: AtomicBool::new(false),
        tracking,
        shutdown_tx,
    });
    let mut joins = Vec::new();
    let allowed = affinity::allowed_cpus();
    let pinning = shared.config.load().cpu_affinity.clone();
    for (i, (listener, inbox)) in listeners.into_iter().zip(inboxes).enumerate() {
        let shared = shared.clone();
        let embedded = embedded.clone();
        let cpu = pinning.cpu_for(i, threads, &allowed);
        let join = std::thread::Builder::new().name(format!("shard-{i}")).spawn(move || {
            if let Some(cpu) = cpu
                && let Err(e) = affinity::pin_current_thread(cpu)
            {
                tracing::warn!(shard = i, cpu, error = %e, "cannot pin the shard thread; it runs unpinned");
            }
            shard_thread::run(i, listener, inbox, shared, embedded)
        })?;
        joins.push(join);
    }
    if let Some(listener) = metrics_listener {
        let shared = shared.clone();
        let join = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || crate::metrics::http::run(listener, shared))?;
        joins.push(join);
    }
    Ok(Server { addr, tls_addr, shared, threads: joins })
}

/// A random 40-hex-digit id, as Redis's `run_id`.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..3u64 {
        let mut h = ahash::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(Instant::now().elapsed().as_nanos());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}
