//! A master found through Redis Sentinel: where it is now, kept current by
//! threads of its own; every shard thread routes by its copy.
//!
//! # How the master stays current
//!
//! As for a cluster's slot map (`upstream::cluster`): the [`Topology`] lives
//! behind a lock only installs write; threads keep their own copy and compare a
//! version number (one atomic load) before routing, and a `watch` channel
//! wakes every thread at once so that each closes its connections to a master
//! that left even while it has no request to route.
//!
//! * A **listener** thread per sentinel keeps a subscription to its events
//!   (`listen`): `+promoted-slave` and `+switch-master` move the master at
//!   once; `+selected-slave` fences it (below); events about the master's
//!   replicas, a lost subscription and a new one ask the sentinels again.
//! * One **resolver** thread asks every sentinel (`SENTINEL
//!   get-master-addr-by-name`, `SENTINEL master` for the epoch, `SENTINEL
//!   replicas` for replica reads) when asked: at start, on an event, when a
//!   connection to the master fails or its breaker refuses, when the master
//!   answers READONLY (it was demoted), every `RECHECK` (5 s); asks arriving during
//!   a resolve fold into the next (a channel of one). When sentinels disagree,
//!   the answer with the highest configuration epoch wins, and for
//!   `LAGGING` (10 s) after an event moved the master, an answer naming another
//!   master needs a newer epoch than the one followed before: a sentinel that
//!   has not heard of a failover yet cannot move hotcache back to the old
//!   master (which accepts writes until it is converted). Answers to a resolve
//!   that an event overtook are dropped, and the sentinels asked again.
//!
//! # The fence
//!
//! From the moment the sentinel leading a failover selects the replica to
//! promote (`+selected-slave`), whatever the old master acknowledges may be
//! lost: the replica stops replicating when it gets `REPLICAOF NO ONE` (sent
//! in the sentinel's next timer tick, 50-100 ms later), and the old master
//! keeps accepting writes until it is converted to a replica, 10 s after the
//! switch. So hotcache closes every connection to it at once (requests in
//! flight get errors) and refuses writes until the new master is known
//! (`+promoted-slave`, ~1 s later), the failover is aborted, or the master's
//! `failover-timeout` has passed (the sentinel gives up promoting then; until
//! then, anything the old master acknowledges may be lost). Reads, and only
//! commands Redis flags read-only, still go to the old master: it has every
//! acknowledged write.
//!
//! # TLS
//!
//! A `rediss://` `sentinel` URL reaches the master and replicas over TLS
//! ([`Sentinel::node_tls`]: every thread's connections, and the tracking
//! streams); the sentinels are reached over TLS by `sentinel-tls` (by default,
//! the same scheme). Both use the `upstream-tls-*` settings.
//!
//! # The cache
//!
//! When the master (or, with replica reads, a replica) changes, everything
//! cached is dropped before any thread routes by the new topology, and nothing
//! is cached again until every thread has moved its tracking streams to the
//! new nodes and they are all up ([`Sentinel::reconciled`]).

mod conns;
mod listen;
mod query;
mod resolve;

use resolve::resolver;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

pub(super) use conns::SentinelConns;

use crate::cache::{Epochs, TrackingState};
use crate::config::Config;
use crate::resilience::Breaker;
use crate::tls::UpstreamTls;
use crate::upstream::upstream_error;

/// The sentinels are asked again this often even when nothing asks.
const RECHECK: Duration = Duration::from_secs(5);
/// While fenced, this often (the promotion shows there within a second).
const FENCED_RECHECK: Duration = Duration::from_millis(100);
/// The least time between two resolves.
const MIN_GAP: Duration = Duration::from_millis(50);
/// After a resolve that found nothing new: while the master is down, every
/// failed connection asks for one.
const IDLE_GAP: Duration = Duration::from_millis(250);
/// After following an event to a new master, for this long an answer naming
/// another master with an epoch no newer than the one followed before is a
/// sentinel that has not heard of the failover yet (sentinels learn of it
/// from each other's hellos, every 2 s), not a newer move.
const LAGGING: Duration = Duration::from_secs(10);
/// Longest a fence holds when the sentinels did not say the master's
/// `failover-timeout`: Sentinel's default.
const FENCE_DEFAULT: Duration = Duration::from_secs(180);

/// Where the master and the replicas to read from are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// None until a sentinel names it.
    pub master: Option<Arc<str>>,
    /// Replicas to read from (only with `read-from replica`).
    pub replicas: Vec<Arc<str>>,
    /// A failover is promoting a replica: writes are refused (see the module doc).
    pub fenced: bool,
}

impl Topology {
    /// The nodes whose tracking streams vouch for cached replies.
    pub fn tracked(&self) -> Vec<Arc<str>> {
        self.master.iter().chain(&self.replicas).cloned().collect()
    }
}

/// Why the sentinels are asked again (counted for INFO).
#[derive(Clone, Copy, Debug)]
pub(super) enum Cause {
    /// An event about the master or its replicas.
    Event,
    /// A subscription was made (events may have been missed before).
    Subscribed,
    /// A connection to a node failed, or its breaker refused a request.
    Failed,
    /// The master answered READONLY: it is a replica now.
    ReadOnly,
}

/// Counters for INFO.
#[derive(Debug, Default)]
pub struct Stats {
    pub resolves: AtomicU64,
    pub resolve_errors: AtomicU64,
    pub switches: AtomicU64,
    pub fences: AtomicU64,
    pub asks_event: AtomicU64,
    pub asks_failed: AtomicU64,
    pub asks_readonly: AtomicU64,
}

/// What installs change together, under one lock.
#[derive(Debug, Default)]
struct State {
    /// When the fence lifts by itself.
    fence_until: Option<Instant>,
    /// The master's `failover-timeout` as the sentinels last said it: how long
    /// the sentinel leading a failover may still promote the replica.
    fence_limit: Option<Duration>,
    /// A change of the tracked nodes waiting for every thread's trackers: the
    /// version, and which threads have reconciled to it.
    reconciling: Option<(u64, Vec<bool>)>,
    /// The configuration epoch of the answer installed last.
    epoch: u64,
    /// Set when an event moved the master: until then, an answer naming
    /// another master needs at least this epoch (see [`LAGGING`]).
    newer_than: Option<(Instant, u64)>,
}

/// The master as every thread sees it.
pub struct Sentinel {
    /// The sentinels (`host:port`), in the order given.
    pub addrs: Vec<String>,
    /// The name they monitor the master by.
    pub name: String,
    auth: query::Auth,
    /// The master's (and replicas') credentials and database.
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// TLS to the master and replicas (`rediss://`).
    pub node_tls: Option<Arc<UpstreamTls>>,
    /// TLS to the sentinels (`sentinel-tls`).
    sentinel_tls: Option<Arc<UpstreamTls>>,
    topology: RwLock<Arc<Topology>>,
    /// Bumped (Release) after each new topology is stored.
    version: AtomicU64,
    /// Wakes every thread when the version changes.
    changed: watch::Sender<u64>,
    asks: SyncSender<()>,
    /// Held while installing: installs, the fence and the tracking count
    /// change together. Never held while a sentinel is asked.
    state: Mutex<State>,
    /// One breaker per node, shared by every thread's connections to it.
    breakers: Mutex<HashMap<Arc<str>, Arc<Breaker>>>,
    /// Breakers of new nodes are made with the configuration as last set.
    config: Mutex<Arc<Config>>,
    epochs: Arc<Epochs>,
    /// With tracking on: one stream per thread and tracked node.
    tracking: Option<Arc<TrackingState>>,
    threads: usize,
    /// Reads go to replicas: they are asked for and tracked.
    pub replicas: bool,
    /// Which listeners are subscribed now.
    subscribed: Vec<AtomicBool>,
    pub stats: Stats,
    /// Why the last resolve failed (empty once one succeeds).
    last_error: Mutex<String>,
}

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
    fn new(
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

    /// The topology now.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The version of the current topology (one atomic load).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A receiver that wakes when the version changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Asks the sentinels again soon; folded into an ask already waiting.
    pub(super) fn ask(&self, cause: Cause) {
        let counter = match cause {
            Cause::Event | Cause::Subscribed => &self.stats.asks_event,
            Cause::Failed => &self.stats.asks_failed,
            Cause::ReadOnly => &self.stats.asks_readonly,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.ask_again();
    }

    /// Asks for another resolve, counted under no cause (the resolver's own).
    fn ask_again(&self) {
        match self.asks.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Thread `shard` has moved its tracking streams to the nodes of
    /// `version`. Once every thread has, the streams expected are those: until
    /// then old streams (still up) could make the count look complete.
    pub fn reconciled(&self, version: u64, shard: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((v, done)) = &mut st.reconciling else { return };
        if *v != version {
            return;
        }
        if let Some(d) = done.get_mut(shard) {
            *d = true;
        }
        if done.iter().all(|d| *d) {
            st.reconciling = None;
            if let Some(t) = &self.tracking {
                t.set_expected(self.topology().tracked().len() * self.threads);
            }
        }
    }

    /// The error for a request while no master is known.
    pub fn no_master(&self) -> Bytes {
        let last = self.last_error();
        let why = if last.is_empty() { String::new() } else { format!(" ({last})") };
        upstream_error(&self.name, &format!("No master found for '{}'{why}", self.name))
    }

    /// The error for a write while fenced.
    pub fn fence_error(addr: &str) -> Bytes {
        upstream_error(addr, "failover in progress, writes refused until the new master is known")
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

    /// Applies a configuration change to the breakers.
    pub fn configure(&self, config: &Arc<Config>) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config.clone();
        let b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        for breaker in b.values() {
            breaker.configure(config);
        }
    }

    pub(super) fn set_subscribed(&self, index: usize, on: bool) {
        if let Some(s) = self.subscribed.get(index) {
            s.store(on, Ordering::Relaxed);
        }
    }

    /// The last resolve's error (empty if it succeeded).
    pub fn last_error(&self) -> String {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// hotcache's INFO lines about Sentinel.
    pub fn info_lines(&self, s: &mut String) {
        let t = self.topology();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let subscribed = self.subscribed.iter().filter(|s| s.load(Ordering::Relaxed)).count();
        let replicas: Vec<&str> = t.replicas.iter().map(|r| &**r).collect();
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let breaker = |a: &str| breakers.get(a).map_or("closed", |b| b.state().name());
        let _ = write!(s, "sentinel_master_name:{}\r\n", self.name);
        let _ = write!(s, "sentinel_master:{}\r\n", t.master.as_deref().unwrap_or(""));
        if let Some(m) = &t.master {
            let _ = write!(s, "sentinel_master_breaker:{}\r\n", breaker(m));
        }
        let _ = write!(s, "sentinel_replicas:{}\r\n", replicas.join("|"));
        let _ = write!(s, "sentinel_fenced:{}\r\n", u8::from(t.fenced));
        let _ = write!(s, "sentinel_sentinels:{}\r\n", self.addrs.join("|"));
        let _ = write!(s, "sentinel_subscribed:{subscribed}\r\n");
        let _ = write!(s, "sentinel_switches:{}\r\n", n(&self.stats.switches));
        let _ = write!(s, "sentinel_fences:{}\r\n", n(&self.stats.fences));
        let _ = write!(s, "sentinel_resolves:{}\r\n", n(&self.stats.resolves));
        let _ = write!(s, "sentinel_resolve_errors:{}\r\n", n(&self.stats.resolve_errors));
        let _ = write!(s, "sentinel_asks_event:{}\r\n", n(&self.stats.asks_event));
        let _ = write!(s, "sentinel_asks_failed:{}\r\n", n(&self.stats.asks_failed));
        let _ = write!(s, "sentinel_asks_readonly:{}\r\n", n(&self.stats.asks_readonly));
        let mut last = self.last_error();
        last.retain(|c| c != '\r' && c != '\n');
        let _ = write!(s, "sentinel_last_error:{last}\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::listen::Event;
    use super::resolve::{lagging, newest};
    use super::*;

    fn a(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn answer(master: &str, epoch: u64) -> query::Answer {
        query::Answer { master: a(master), epoch, failover_timeout: None, replicas: Vec::new() }
    }

    /// A `Sentinel` that asks nobody, with the master at `m`.
    fn sentinel_at(m: &str) -> Arc<Sentinel> {
        let config = Config { sentinel_master: "mm".into(), ..Config::default() };
        let epochs = Arc::new(Epochs::new(4));
        let (s, _rx) =
            Sentinel::new(&config, epochs, Some(Arc::new(TrackingState::new(1))), 1, None);
        let mut st = s.state.lock().expect("state");
        s.install(&mut st, Topology { master: Some(a(m)), ..Topology::default() });
        st.epoch = 3;
        drop(st);
        s
    }

    #[test]
    fn newest_answer_wins() {
        let cur = a("m:1");
        let got = newest(vec![answer("m:1", 2), answer("r:2", 3)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("r:2")));
        // Equal epochs: stay where we are.
        let got = newest(vec![answer("r:2", 2), answer("m:1", 2)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("m:1")));
        let got = newest(vec![answer("r:2", 2), answer("s:3", 2)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("r:2")));
        assert!(newest(Vec::new(), None).is_none());
    }

    #[test]
    fn a_failover_fences_then_moves() {
        let s = sentinel_at("m:1");
        let v = s.version();
        // Another master's replica: nothing.
        s.on_event(Event::Promoting { master: a("x:9") });
        assert!(!s.topology().fenced);
        s.on_event(Event::Promoting { master: a("m:1") });
        let t = s.topology();
        assert!(t.fenced && t.master == Some(a("m:1")));
        assert!(s.version() > v);
        // Promoted: moved, fence lifted.
        s.on_event(Event::Promoted { replica: a("r:2"), master: a("m:1") });
        let t = s.topology();
        assert_eq!((t.master.clone(), t.fenced), (Some(a("r:2")), false));
        assert_eq!(s.stats.switches.load(Ordering::Relaxed), 1);
        // The other sentinels' +switch-master after it: already there.
        let v = s.version();
        s.on_event(Event::Switched { from: a("m:1"), to: a("r:2") });
        assert_eq!(s.version(), v);
        // A +switch-master from a master not followed moves nothing (asks).
        s.on_event(Event::Switched { from: a("q:7"), to: a("z:8") });
        assert_eq!(s.topology().master, Some(a("r:2")));
        // For a while, an answer naming the old master with the old epoch is
        // a lagging sentinel; a newer epoch is a newer move.
        let st = s.state.lock().expect("state");
        let now = Instant::now();
        let cur = s.topology().master.clone();
        assert!(lagging(st.newer_than, now, &answer("m:1", 3), cur.as_ref()));
        assert!(!lagging(st.newer_than, now, &answer("m:1", 4), cur.as_ref()));
        assert!(!lagging(st.newer_than, now, &answer("r:2", 0), cur.as_ref()));
        assert!(!lagging(st.newer_than, now + LAGGING, &answer("m:1", 3), cur.as_ref()));
    }

    #[test]
    fn an_aborted_failover_lifts_the_fence() {
        let s = sentinel_at("m:1");
        s.on_event(Event::Promoting { master: a("m:1") });
        assert!(s.topology().fenced);
        s.on_event(Event::Aborted);
        let t = s.topology();
        assert_eq!((t.master.clone(), t.fenced), (Some(a("m:1")), false));
        // A fence past its time lifts too.
        s.on_event(Event::Promoting { master: a("m:1") });
        s.state.lock().expect("state").fence_until = Some(Instant::now());
        s.expire_fence();
        assert!(!s.topology().fenced);
        assert_eq!(s.stats.fences.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn tracking_waits_for_every_thread() {
        let config = Config { sentinel_master: "mm".into(), ..Config::default() };
        let epochs = Arc::new(Epochs::new(4));
        let stamp = epochs.stamp(b"k");
        let (s, _rx) = Sentinel::new(&config, epochs.clone(), None, 2, None);
        let mut st = s.state.lock().expect("state");
        s.install(&mut st, Topology { master: Some(a("m:1")), ..Topology::default() });
        drop(st);
        // The cache was dropped before the new master was routed to.
        assert!(!epochs.is_current(&stamp));
        let v = s.version();
        s.reconciled(v, 0);
        assert!(s.state.lock().expect("state").reconciling.is_some());
        // A report for an older version does not count.
        s.reconciled(v - 1, 1);
        assert!(s.state.lock().expect("state").reconciling.is_some());
        s.reconciled(v, 1);
        assert!(s.state.lock().expect("state").reconciling.is_none());
        // A fence moves no stream: nothing to wait for.
        s.on_event(Event::Promoting { master: a("m:1") });
        assert!(s.state.lock().expect("state").reconciling.is_none());
    }
}
