//! The hot-key tier: cached replies of read-only commands, kept per thread, kept
//! correct by epochs, filled through singleflight, admitted by frequency
//! ([`admit`], `cache-mode lfu`, the default) or by hot-key detection ([`hot`],
//! `cache-mode hot`).
//!
//! # Where entries live, and why not only on `shard_for(key)`
//!
//! Every thread keeps its own store, so a hit is a lookup in a map the thread
//! owns: no lock and no hop, wherever the key hashes. A hot key read from every
//! thread is therefore cached once per thread, which is exactly where it is read.
//! The alternative, one owner shard per key with other threads sending it a job,
//! costs a cross-thread round trip on half the hits with two threads (more with
//! more): `benches/cache.rs` measures that hop against a local lookup (see the
//! README for the figures), and it is one to two orders of magnitude slower than
//! the lookup itself. What must be shared is shared without messages: validity is
//! a global epoch table ([`epoch`]) and misses of one entry meet in a striped
//! singleflight registry ([`flight`]), so one upstream read serves every thread.
//!
//! # Correctness (ARCHITECTURE.md rules 2-5)
//!
//! - A write through hotcache bumps the epoch of every key it names before it is
//!   forwarded and again when its reply arrives (rule 2); commands whose keys are
//!   not known (FLUSHALL, scripts, SORT ... STORE) bump the global epoch.
//! - An entry carries the epochs from *before* its read was sent and is served
//!   only while they are unchanged, so a fill that raced an invalidation is never
//!   served (rule 3).
//! - Writes made straight to Redis arrive through each thread's tracking
//!   connection ([`tracker`]), read before any hit is served; a broken or lagging
//!   stream drops everything (rule 4).
//! - Every entry expires after `cache-ttl` (jittered) and never after the key's own
//!   TTL, read with PTTL in the same pipeline as the fill (rule 5).
//!
//! This file holds what the threads share and one thread's cache with its
//! settings and lookup; building entry keys is in `entry_key`, admitting and
//! installing fills in `fill`, and choosing entries to refresh ahead in
//! `refresh`.

pub mod admit;
mod entry_key;
pub mod epoch;
mod fill;
pub mod flight;
pub mod hooks;
pub mod hot;
pub mod permits;
mod refresh;
pub mod store;
pub mod tracker;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{CacheMode, Config};
use crate::stats::ShardCounters;

pub use epoch::{Epochs, Stamp};
pub use flight::{FillResult, Flight, Flights, Join, JoinLimits};
pub use store::{EntryRef, Lookup};
pub use tracker::TrackingState;

/// Slots in the epoch table: 2^18 (2 MB), so unrelated keys rarely share one.
const EPOCH_BITS: u32 = 18;

/// What all threads share.
pub struct CacheShared {
    pub epochs: Arc<Epochs>,
    pub flights: Arc<Flights>,
    pub tracking: Arc<TrackingState>,
    /// Fills may be cached only while the tracking stream is up (a Redis upstream
    /// with `cache-tracking yes`); with the embedded origin, or tracking off, every
    /// write goes through hotcache or only the TTL bounds staleness.
    pub needs_tracking: bool,
    pub threads: usize,
}

impl CacheShared {
    pub fn new(config: &Config, threads: usize, needs_tracking: bool) -> Arc<Self> {
        Arc::new(Self {
            epochs: Arc::new(Epochs::new(EPOCH_BITS)),
            flights: flight::Flights::new(
                64 * threads,
                hooks::Hooks::new(config.enable_test_hooks),
            ),
            tracking: Arc::new(TrackingState::new(threads)),
            needs_tracking,
            threads,
        })
    }

    /// The tracking incarnation to stamp a fill with: `None` if its reply must not
    /// be cached because tracking is needed and not up.
    pub fn tracking_now(&self) -> Option<u64> {
        if self.needs_tracking { self.tracking.current() } else { Some(0) }
    }

    fn tracking_still(&self, i: u64) -> bool {
        !self.needs_tracking || self.tracking.still(i)
    }
}

/// The cache settings, as this thread last read them.
#[derive(Clone, Debug)]
struct Settings {
    mode: CacheMode,
    capacity: u64,
    max_entry: u64,
    ttl: Duration,
    jitter_pct: u64,
    negative_ttl: Duration,
    threshold: f64,
    limits: JoinLimits,
    serve_stale: bool,
    stale_grace: Duration,
}

impl Settings {
    fn from(config: &Config, threads: usize) -> Self {
        Self {
            mode: config.cache_mode,
            capacity: config.cache_max_memory.0 / threads.max(1) as u64,
            max_entry: config.cache_max_entry_size.0,
            ttl: Duration::from_millis(config.cache_ttl),
            jitter_pct: config.cache_ttl_jitter,
            negative_ttl: Duration::from_millis(config.negative_ttl),
            threshold: config.hotkey_threshold as f64,
            limits: JoinLimits {
                max_waiters: config.singleflight_max_waiters,
                max_age: Duration::from_millis(config.singleflight_timeout),
            },
            serve_stale: config.serve_stale,
            stale_grace: Duration::from_millis(config.stale_grace),
        }
    }
}

/// One thread's cache.
pub struct ThreadCache {
    pub shared: Arc<CacheShared>,
    store: RefCell<store::Store>,
    settings: RefCell<Settings>,
    /// Reused buffer for building entry keys, so a hit allocates nothing.
    key_buf: RefCell<Vec<u8>>,
    /// xorshift state for TTL jitter.
    rng: Cell<u64>,
    /// Hashes Redis keys for the admission sketch.
    sketch_hasher: ahash::RandomState,
    /// Which Redis user may be served which cached reply.
    pub permits: permits::Permits,
    /// Every thread's counters, this one's at `shard` (for what admission
    /// turns away at a miss).
    counters: Arc<[ShardCounters]>,
    shard: usize,
    /// Entry keys with a refresh-ahead read in flight from this thread: never
    /// more than one per entry.
    refreshing: RefCell<std::collections::HashSet<Arc<[u8]>, ahash::RandomState>>,
}

impl ThreadCache {
    pub fn new(
        shared: Arc<CacheShared>,
        config: &Config,
        shard: usize,
        counters: Arc<[ShardCounters]>,
    ) -> Self {
        let settings = Settings::from(config, shared.threads);
        hot::init(config.hotkey_topk, Duration::from_millis(config.hotkey_window));
        Self {
            store: RefCell::new(store::Store::new(settings.capacity)),
            settings: RefCell::new(settings),
            shared,
            key_buf: RefCell::new(Vec::with_capacity(256)),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (shard as u64 + 1)),
            sketch_hasher: ahash::RandomState::with_seeds(0xad31, 0x7f1e, 0x5a17, 0xc0de),
            permits: permits::Permits::default(),
            counters,
            shard,
            refreshing: RefCell::default(),
        }
    }

    /// Applies CONFIG SET; a new memory limit starts an empty store.
    pub fn reconfigure(&self, config: &Config) {
        let next = Settings::from(config, self.shared.threads);
        if next.capacity != self.store.borrow().capacity() {
            *self.store.borrow_mut() = store::Store::new(next.capacity);
        }
        if next.mode == CacheMode::Off {
            self.store.borrow_mut().clear();
        }
        *self.settings.borrow_mut() = next;
    }

    pub fn enabled(&self) -> bool {
        self.settings.borrow().mode != CacheMode::Off
    }

    pub fn limits(&self) -> JoinLimits {
        self.settings.borrow().limits
    }

    /// Runs `f` on a servable entry without copying it; says whether it was
    /// served stale (only with serve-stale, while the upstream is `degraded`).
    pub fn lookup_with<R>(
        &self,
        entry_key: &[u8],
        now: Instant,
        degraded: bool,
        f: impl FnOnce(&store::EntryRef<'_>) -> R,
    ) -> Option<(R, bool)> {
        let stale = {
            let s = self.settings.borrow();
            match (s.serve_stale, degraded) {
                (false, _) => store::Stale::Drop,
                (true, false) => store::Stale::Keep(s.stale_grace),
                (true, true) => store::Stale::Serve(s.stale_grace),
            }
        };
        self.store.borrow_mut().get_with(entry_key, &self.shared.epochs, now, stale, f)
    }

    /// Counts a read of `key` for hot-key detection.
    pub fn record_read(&self, key: &[u8], now: Instant) {
        hot::with(|h| h.record(key, now));
    }

    /// Entries and bytes of this thread (for tests and INFO).
    pub fn usage(&self) -> (usize, u64) {
        let s = self.store.borrow();
        (s.len(), s.weight())
    }
}
