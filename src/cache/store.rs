//! One thread's store of cached replies: a byte-bounded S3-FIFO cache
//! (quick_cache's unsync variant: no locks, it lives on one thread) with a
//! deadline and an epoch stamp per entry.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use quick_cache::{Lifecycle, Weighter, unsync};

use super::epoch::{Epochs, Stamp};

/// Bookkeeping bytes counted per entry on top of its key and reply.
const ENTRY_OVERHEAD: u64 = 96;

/// One cached reply.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The exact reply bytes for the protocol version in the entry's key.
    pub reply: Bytes,
    /// Epochs when the fetch started; served only while still current.
    pub stamp: Stamp,
    /// Never served after this (cache-ttl with jitter, capped by the key's TTL).
    pub expires: Instant,
    /// The key did not exist (a negative entry, with `negative-ttl`).
    pub negative: bool,
}

/// Weighs an entry by the memory it holds.
#[derive(Clone, Copy, Debug, Default)]
struct ByBytes;

impl Weighter<Box<[u8]>, Entry> for ByBytes {
    fn weight(&self, key: &Box<[u8]>, val: &Entry) -> u64 {
        key.len() as u64 + val.reply.len() as u64 + ENTRY_OVERHEAD
    }
}

/// Counts evictions (for INFO).
#[derive(Clone, Debug, Default)]
struct CountEvictions(Rc<Cell<u64>>);

impl Lifecycle<Box<[u8]>, Entry> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: Box<[u8]>, _val: Entry) {
        self.0.set(self.0.get() + 1);
    }
}

/// What a lookup does with an entry past its TTL or its tracking stream.
#[derive(Clone, Copy, Debug)]
pub enum Stale {
    /// Drop it (serve-stale off).
    Drop,
    /// Keep it for up to this grace, in case the upstream goes down.
    Keep(std::time::Duration),
    /// Serve it if within this grace (the upstream is degraded).
    Serve(std::time::Duration),
}

/// What a lookup found.
pub enum Lookup {
    Hit { reply: Bytes, negative: bool },
    Miss,
}

/// A thread's cache.
pub struct Store {
    /// ahash rather than the crate's default SipHash: the hash is a visible part
    /// of a hit's cost.
    cache: unsync::Cache<Box<[u8]>, Entry, ByBytes, ahash::RandomState, CountEvictions>,
    evictions: Rc<Cell<u64>>,
    capacity: u64,
}

impl Store {
    /// A store holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        let evictions = Rc::new(Cell::new(0));
        // A guess of the entry count only sizes the first allocation.
        let estimated = (capacity / 256).clamp(16, 1 << 20) as usize;
        let cache = unsync::Cache::with(
            estimated,
            capacity.max(1),
            ByBytes,
            ahash::RandomState::new(),
            CountEvictions(evictions.clone()),
        );
        Self { cache, evictions, capacity }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Finds a servable entry; drops it if it expired or was invalidated.
    pub fn get(&mut self, key: &[u8], epochs: &Epochs, now: Instant) -> Lookup {
        self.get_with(key, epochs, now, Stale::Drop, |e| Lookup::Hit {
            reply: e.reply.clone(),
            negative: e.negative,
        })
        .map(|(r, _)| r)
        .unwrap_or(Lookup::Miss)
    }

    /// Runs `f` on a servable entry (without cloning it), and says whether it
    /// was served stale. An entry that is not servable is dropped, unless
    /// `stale` says to keep it for serving stale later.
    pub fn get_with<R>(
        &mut self,
        key: &[u8],
        epochs: &Epochs,
        now: Instant,
        stale: Stale,
        f: impl FnOnce(&Entry) -> R,
    ) -> Option<(R, bool)> {
        let keep = match self.cache.get(key) {
            None => return None,
            Some(e) if now < e.expires && epochs.is_current(&e.stamp) => {
                return Some((f(e), false));
            }
            Some(e) => {
                // Stale: never written since it was fetched (only expired, or its
                // tracking stream lost), and within the grace.
                let fresh_enough = |grace| epochs.is_unwritten(&e.stamp) && now < e.expires + grace;
                match stale {
                    Stale::Serve(grace) if fresh_enough(grace) => return Some((f(e), true)),
                    Stale::Keep(grace) | Stale::Serve(grace) => fresh_enough(grace),
                    Stale::Drop => false,
                }
            }
        };
        if !keep {
            self.cache.remove(key);
        }
        None
    }

    pub fn insert(&mut self, key: Box<[u8]>, entry: Entry) {
        self.cache.insert(key, entry);
    }

    /// Drops every entry (CONFIG SET of the size, or a test).
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Bytes held, as weighed.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_invalidation_and_memory_bound() {
        let epochs = Epochs::new(8);
        let mut s = Store::new(10_000);
        let now = Instant::now();
        let entry = |key: &[u8], ttl: u64| Entry {
            reply: Bytes::from(vec![b'x'; 100]),
            stamp: epochs.stamp(key),
            expires: now + Duration::from_millis(ttl),
            negative: false,
        };
        s.insert(Box::from(&b"a"[..]), entry(b"a", 1000));
        assert!(matches!(s.get(b"a", &epochs, now), Lookup::Hit { .. }));
        assert!(matches!(s.get(b"a", &epochs, now + Duration::from_secs(2)), Lookup::Miss));
        s.insert(Box::from(&b"b"[..]), entry(b"b", 1000));
        epochs.invalidate(b"b");
        assert!(matches!(s.get(b"b", &epochs, now), Lookup::Miss));
        for i in 0..1000u32 {
            let k = i.to_be_bytes();
            s.insert(Box::from(&k[..]), entry(&k, 1000));
        }
        assert!(s.weight() <= 10_000, "{}", s.weight());
        assert!(s.evictions() > 0);
    }
}
