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
//!
//! This file holds the shapes (topology, state, counters) and what every thread
//! reads or asks; starting it is in `start`, asking the sentinels and
//! installing their answer in `resolve`, following their events and the fence
//! in `follow`, and the errors and INFO lines it shows in `report`.

mod conns;
mod follow;
mod listen;
mod query;
mod report;
mod resolve;
mod start;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub(super) use conns::SentinelConns;

use crate::cache::{Epochs, TrackingState};
use crate::config::Config;
use crate::resilience::Breaker;
use crate::tls::UpstreamTls;

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
}

/// What the tests of the resolver and of the events share.
#[cfg(test)]
mod testing {
    use super::*;

    pub(super) fn a(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    pub(super) fn answer(master: &str, epoch: u64) -> query::Answer {
        query::Answer { master: a(master), epoch, failover_timeout: None, replicas: Vec::new() }
    }

    /// A `Sentinel` that asks nobody, with the master at `m`.
    pub(super) fn sentinel_at(m: &str) -> Arc<Sentinel> {
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
}
