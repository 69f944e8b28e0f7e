//! The hot-key tier: cached replies of read-only commands, kept per thread, kept
//! correct by epochs, filled through singleflight, admitted by hot-key detection.
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

pub mod epoch;
pub mod flight;
pub mod hooks;
pub mod hot;
pub mod permits;
pub mod store;
pub mod tracker;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{CacheMode, Config};
use crate::protocol::Proto;
use crate::stats::{ShardCounters, inc, set};

pub use epoch::{Epochs, Stamp};
pub use flight::{FillResult, Flight, Flights, Join, JoinLimits};
pub use store::Lookup;
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
    /// Which Redis user may be served which cached reply.
    pub permits: permits::Permits,
}

impl ThreadCache {
    pub fn new(shared: Arc<CacheShared>, config: &Config, shard: usize) -> Self {
        let settings = Settings::from(config, shared.threads);
        hot::init(config.hotkey_topk, Duration::from_millis(config.hotkey_window));
        Self {
            store: RefCell::new(store::Store::new(settings.capacity)),
            settings: RefCell::new(settings),
            shared,
            key_buf: RefCell::new(Vec::with_capacity(256)),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (shard as u64 + 1)),
            permits: permits::Permits::default(),
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

    /// Builds the entry key for a command: protocol, command, arguments. The key
    /// is in the thread's buffer until the next call.
    pub fn entry_key(
        &self,
        proto: Proto,
        cmd_id: u16,
        args: &[Bytes],
    ) -> std::cell::Ref<'_, Vec<u8>> {
        {
            let mut k = self.key_buf.borrow_mut();
            k.clear();
            k.push(proto.number() as u8);
            k.extend_from_slice(&cmd_id.to_le_bytes());
            for a in args {
                k.extend_from_slice(&(a.len() as u32).to_le_bytes());
                k.extend_from_slice(a);
            }
        }
        self.key_buf.borrow()
    }

    /// [`Self::entry_key`] of a command with one argument.
    pub fn entry_key_one(
        &self,
        proto: Proto,
        cmd_id: u16,
        arg: &[u8],
    ) -> std::cell::Ref<'_, Vec<u8>> {
        {
            let mut k = self.key_buf.borrow_mut();
            k.clear();
            k.push(proto.number() as u8);
            k.extend_from_slice(&cmd_id.to_le_bytes());
            k.extend_from_slice(&(arg.len() as u32).to_le_bytes());
            k.extend_from_slice(arg);
        }
        self.key_buf.borrow()
    }

    /// Runs `f` on a servable entry without copying it; says whether it was
    /// served stale (only with serve-stale, while the upstream is `degraded`).
    pub fn lookup_with<R>(
        &self,
        entry_key: &[u8],
        now: Instant,
        degraded: bool,
        f: impl FnOnce(&store::Entry) -> R,
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

    /// Whether a reply for `key` may be cached now (cache-mode and hotness).
    pub fn admissible(&self, key: &[u8], now: Instant) -> bool {
        let s = self.settings.borrow();
        match s.mode {
            CacheMode::Off => false,
            CacheMode::All => true,
            CacheMode::Hot => {
                let local = hot::with(|h| h.rate(key, now)).unwrap_or(0.0);
                local * self.shared.threads as f64 >= s.threshold
            }
        }
    }

    /// Caches a fill if every rule allows it. Returns true if it was cached.
    pub fn install(&self, entry_key: &[u8], r: &FillResult, hot: bool, c: &ShardCounters) -> bool {
        let Some(ttl_ms) = r.ttl_ms else { return false };
        let Some(incarnation) = r.tracking else { return false };
        if r.reply.first().is_none_or(|b| *b == b'-' || *b == b'!') || ttl_ms == 0 {
            return false;
        }
        let s = self.settings.borrow();
        if r.reply.len() as u64 > s.max_entry || s.mode == CacheMode::Off {
            return false;
        }
        if !self.shared.epochs.is_current(&r.stamp) || !self.shared.tracking_still(incarnation) {
            inc(&c.stale_fills_dropped);
            return false;
        }
        let negative = ttl_ms == -2;
        let mut life = if negative { s.negative_ttl } else { self.jittered(s.ttl, s.jitter_pct) };
        if ttl_ms > 0 {
            life = life.min(Duration::from_millis(ttl_ms as u64));
        }
        let entry = store::Entry {
            reply: r.reply.clone(),
            stamp: r.stamp,
            expires: r.sent + life,
            negative,
        };
        let mut store = self.store.borrow_mut();
        store.insert(Box::from(entry_key), entry);
        inc(&c.cache_fills);
        if hot && s.mode == CacheMode::Hot {
            inc(&c.hot_keys_admitted);
        }
        set(&c.cache_entries, store.len() as u64);
        set(&c.cache_bytes, store.weight());
        set(&c.cache_evictions, store.evictions());
        true
    }

    /// `ttl` shortened by up to `pct` percent at random.
    fn jittered(&self, ttl: Duration, pct: u64) -> Duration {
        if pct == 0 {
            return ttl;
        }
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let cut = ttl.as_micros() as u64 * pct / 100;
        ttl - Duration::from_micros(x % (cut + 1))
    }

    /// Entries and bytes of this thread (for tests and INFO).
    pub fn usage(&self) -> (usize, u64) {
        let s = self.store.borrow();
        (s.len(), s.weight())
    }
}
