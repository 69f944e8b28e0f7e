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

pub mod admit;
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
pub use store::{EntryRef, Lookup};
pub use tracker::TrackingState;

/// Refresh-ahead reads one thread keeps in flight at most (each is one entry
/// key in a set until its reply arrives).
const MAX_REFRESHES: usize = 1024;

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
                push_arg(&mut k, a);
            }
        }
        self.key_buf.borrow()
    }

    /// The Redis key (first argument) in an entry key built by [`Self::entry_key`].
    pub fn redis_key(entry_key: &[u8]) -> &[u8] {
        store::redis_key(entry_key)
    }

    /// [`Self::entry_key`] of a command with one argument (the same bytes).
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
            push_arg(&mut k, arg);
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

    /// Whether a hit on the entry `entry_key` (of Redis key `key`) with
    /// `left_ms` of life left should refresh it ahead of its end: it is in the
    /// last fifth of `cache-ttl`, its key is hot by the detector (read at
    /// `hotkey-threshold` per second or more), and no refresh of it is in
    /// flight from this thread. The caller checks the upstream is healthy.
    pub fn wants_refresh(&self, entry_key: &[u8], key: &[u8], left_ms: u64, now: Instant) -> bool {
        let s = self.settings.borrow();
        if s.mode == CacheMode::Off || left_ms.saturating_mul(5) > s.ttl.as_millis() as u64 {
            return false;
        }
        let refreshing = self.refreshing.borrow();
        if refreshing.len() >= MAX_REFRESHES || refreshing.contains(entry_key) {
            return false;
        }
        let rate = hot::with(|h| h.rate(key, now)).unwrap_or(0.0);
        rate * self.shared.threads as f64 >= s.threshold
    }

    /// Notes a refresh of `entry_key` in flight (true) or arrived (false).
    pub fn set_refreshing(&self, entry_key: &Arc<[u8]>, on: bool) {
        let mut r = self.refreshing.borrow_mut();
        if on {
            r.insert(entry_key.clone());
        } else {
            r.remove(&entry_key[..]);
        }
    }

    /// Counts a read of `key` for hot-key detection.
    pub fn record_read(&self, key: &[u8], now: Instant) {
        hot::with(|h| h.record(key, now));
    }

    /// Whether a reply for `key` may be cached now (cache-mode, hotness or
    /// frequency). In `lfu` mode this counts the read: call it once per miss.
    pub fn admissible(&self, key: &[u8], now: Instant) -> bool {
        let s = self.settings.borrow();
        match s.mode {
            CacheMode::Off => false,
            CacheMode::All => true,
            CacheMode::Hot => {
                let local = hot::with(|h| h.rate(key, now)).unwrap_or(0.0);
                local * self.shared.threads as f64 >= s.threshold
            }
            CacheMode::Lfu => {
                let h = self.sketch_hasher.hash_one(key);
                admit::record_read(h);
                // With room every read is worth its PTTL; when full, only a key
                // read before in this period can beat a victim.
                let admit = self.store.borrow().has_room(256) || admit::reads(h) >= 2;
                if !admit && let Some(c) = self.counters.get(self.shard) {
                    inc(&c.cache_admission_rejected);
                }
                admit
            }
        }
    }

    /// Counts a write through hotcache of the keys in epoch slot `slot` (for the
    /// write-hot guard). With tracking, the (BCAST) stream counts every write,
    /// this one included, once per thread: then it is not counted here.
    pub fn record_write(&self, slot: u32) {
        if self.settings.borrow().mode == CacheMode::Lfu && !self.shared.needs_tracking {
            admit::record_write(slot);
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
        if s.mode == CacheMode::Off {
            return false;
        }
        if r.reply.len() as u64 > s.max_entry {
            inc(&c.cache_skipped_too_big);
            return false;
        }
        if !self.shared.epochs.is_current(&r.stamp) || !self.shared.tracking_still(incarnation) {
            inc(&c.stale_fills_dropped);
            return false;
        }
        let lfu = s.mode == CacheMode::Lfu;
        let candidate = if lfu {
            let reads = admit::reads(self.sketch_hasher.hash_one(Self::redis_key(entry_key)));
            let writes = admit::writes(r.stamp.slot);
            if writes >= 2 && writes > reads {
                inc(&c.cache_skipped_write_hot);
                return false;
            }
            Some(reads)
        } else {
            None
        };
        let negative = ttl_ms == -2;
        let mut life = if negative { s.negative_ttl } else { self.jittered(s.ttl, s.jitter_pct) };
        if ttl_ms > 0 {
            life = life.min(Duration::from_millis(ttl_ms as u64));
        }
        let fill =
            store::Fill { reply: &r.reply, stamp: r.stamp, expires: r.sent + life, negative };
        let now = Instant::now();
        let threads = self.shared.threads as f64;
        // The hottest keys (by the detector) are never the victim; the others
        // are weighed by how often they were read.
        let victim = |ek: &[u8]| {
            let key = Self::redis_key(ek);
            let rate = hot::with(|h| h.rate(key, now)).unwrap_or(0.0);
            if rate * threads >= s.threshold && s.threshold > 0.0 {
                None
            } else if lfu {
                Some(admit::reads(self.sketch_hasher.hash_one(key)))
            } else {
                Some(0)
            }
        };
        let mut store = self.store.borrow_mut();
        let done = store.insert(entry_key, fill, &self.shared.epochs, now, candidate, victim);
        match done {
            store::Insert::Cached => {}
            store::Insert::TooBig => {
                inc(&c.cache_skipped_too_big);
                return false;
            }
            store::Insert::Rejected => {
                inc(&c.cache_admission_rejected);
                return false;
            }
        }
        inc(&c.cache_fills);
        if hot && s.mode == CacheMode::Hot {
            inc(&c.hot_keys_admitted);
        }
        if lfu {
            admit::fit(store.len());
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

/// One argument of an entry key: its length as LEB128 (one byte for keys under
/// 128 bytes, which keeps a small entry in a smaller allocation class), then
/// its bytes.
fn push_arg(k: &mut Vec<u8>, a: &[u8]) {
    let mut n = a.len();
    while n >= 0x80 {
        k.push((n as u8) | 0x80);
        n >>= 7;
    }
    k.push(n as u8);
    k.extend_from_slice(a);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_argument_entry_keys_are_the_same_bytes() {
        let config = Config::default();
        let counters: Arc<[ShardCounters]> = Arc::from(vec![ShardCounters::default()]);
        let cache = ThreadCache::new(CacheShared::new(&config, 1, false), &config, 0, counters);
        for len in [0, 1, 127, 128, 300, 20_000] {
            let key = vec![b'k'; len];
            for proto in [Proto::Resp2, Proto::Resp3] {
                let many = cache.entry_key(proto, 7, &[Bytes::from(key.clone())]).clone();
                let one = cache.entry_key_one(proto, 7, &key).clone();
                assert_eq!(many, one, "a key of {len} bytes");
                assert_eq!(ThreadCache::redis_key(&one), &key[..]);
            }
        }
    }
}
