//! Starting: the shared state with no master known, the first ask, and the
//! resolver and listener threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::resolve::resolver;
use super::{Sentinel, State, Stats, Topology, listen, query};
use crate::cache::{Epochs, TrackingState};
use crate::config::Config;
use crate::tls::UpstreamTls;

impl Sentinel {
    /// Asks the sentinels for the master (once, now: hotcache starts serving
    /// even if none answers, answering errors until one does) and starts the
    /// resolver and a listener per sentinel. `tls`: the `upstream-tls-*`
    /// settings loaded, if anything is reached over TLS.
    pub fn start(
        config: &Config,
        epochs: Arc<Epochs>,
        tracking: Option<Arc<TrackingState>>,
        threads: usize,
        tls: Option<Arc<UpstreamTls>>,
    ) -> std::io::Result<Arc<Self>> {
        let (sentinel, rx) = Self::new(config, epochs, tracking, threads, tls);
        sentinel.resolve();
        if sentinel.topology().master.is_none() {
            tracing::warn!(master = %sentinel.name, error = %sentinel.last_error(),
                "no sentinel knows the master yet; answering errors until one does");
        }
        let weak = Arc::downgrade(&sentinel);
        std::thread::Builder::new()
            .name("sentinel-resolve".into())
            .spawn(move || resolver(weak, rx))?;
        for i in 0..sentinel.addrs.len() {
            let weak = Arc::downgrade(&sentinel);
            std::thread::Builder::new()
                .name(format!("sentinel-listen-{i}"))
                .spawn(move || listen::run(weak, i))?;
        }
        Ok(sentinel)
    }

    /// The shared state, no master known, nothing asked yet; and the receiving
    /// end of the asks, for the resolver.
    pub(super) fn new(
        config: &Config,
        epochs: Arc<Epochs>,
        tracking: Option<Arc<TrackingState>>,
        threads: usize,
        tls: Option<Arc<UpstreamTls>>,
    ) -> (Arc<Self>, Receiver<()>) {
        let (tx, rx) = sync_channel(1);
        let s = &config.sentinel;
        let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let sentinel = Arc::new(Self {
            addrs: s.addrs.clone(),
            name: config.sentinel_master.trim().to_string(),
            auth: query::Auth {
                user: nonempty(&config.sentinel_username),
                password: nonempty(&config.sentinel_password),
            },
            user: s.user.clone(),
            password: s.password.clone(),
            db: s.db,
            node_tls: tls.clone().filter(|_| s.tls),
            sentinel_tls: tls.filter(|_| config.sentinel_tls()),
            topology: RwLock::new(Arc::new(Topology::default())),
            version: AtomicU64::new(0),
            changed: watch::Sender::new(0),
            asks: tx,
            state: Mutex::new(State::default()),
            breakers: Mutex::new(HashMap::new()),
            config: Mutex::new(Arc::new(config.clone())),
            epochs,
            tracking,
            threads,
            replicas: config.read_from == crate::config::ReadFrom::Replica,
            subscribed: s.addrs.iter().map(|_| AtomicBool::new(false)).collect(),
            stats: Stats::default(),
            last_error: Mutex::new(String::new()),
        });
        if let Some(t) = &sentinel.tracking {
            // Nothing is cached until the threads track the master.
            t.set_expected(0);
        }
        (sentinel, rx)
    }
}
