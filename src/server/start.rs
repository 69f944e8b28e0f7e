//! Starting the server: binding the listeners (one SO_REUSEPORT listener per
//! shard, the TLS port, the metrics port), building what the threads share,
//! and starting the shard threads, the cluster or Sentinel parts and the
//! metrics thread.

use super::*;

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
    let streams = needs_tracking.then(|| cache.tracking.clone());
    let cluster = config
        .cluster
        .is_on()
        .then(|| {
            crate::upstream::cluster::Cluster::start(
                &config,
                cache.epochs.clone(),
                streams.clone(),
                threads,
                upstream_tls.clone(),
            )
        })
        .transpose()?;
    let sentinel = config
        .sentinel
        .is_on()
        .then(|| {
            crate::upstream::sentinel::Sentinel::start(
                &config,
                cache.epochs.clone(),
                streams.clone(),
                threads,
                upstream_tls.clone(),
            )
        })
        .transpose()?;
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
