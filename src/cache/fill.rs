//! Admission and fills: whether a miss's reply may be cached (by `cache-mode`),
//! whether a fill is cached when it arrives (every rule: errors, size, epochs,
//! tracking, write-hot keys, eviction), and the life it is given.

use std::time::{Duration, Instant};

use super::{FillResult, ThreadCache, admit, hot, store};
use crate::config::CacheMode;
use crate::stats::{ShardCounters, inc, set};

impl ThreadCache {
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
}
