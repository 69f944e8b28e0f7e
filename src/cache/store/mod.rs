//! One thread's store of cached replies: compact entries in a slab, an index of
//! `u32` slab positions, CLOCK (second chance) eviction within a byte budget,
//! and TinyLFU admission when the budget is full.
//!
//! This file holds the store and what a lookup lends or is told; what an entry
//! costs (its slot, the slab, the weight) is in `slot`, the store's own heap in
//! `heap`, finding an entry in `lookup`, and making room for one in `evict`.

mod evict;
mod heap;
mod lookup;
mod slot;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashTable;

use super::epoch::Stamp;
use heap::Heap;
use slot::{SHARED, Slab};

pub use slot::{redis_key, weigh};

/// A servable entry, lent to a lookup.
pub struct EntryRef<'a> {
    pub reply: &'a [u8],
    /// The reply as `Bytes`, for large replies (a reference, not a copy).
    pub shared: Option<&'a Bytes>,
    /// The key did not exist (a negative entry, with `negative-ttl`).
    pub negative: bool,
    /// Milliseconds of life left (0 when served stale).
    pub left_ms: u64,
}

impl EntryRef<'_> {
    /// The reply as `Bytes`: a reference for large replies, a copy of small ones.
    pub fn to_bytes(&self) -> Bytes {
        match self.shared {
            Some(b) => b.clone(),
            None => Bytes::copy_from_slice(self.reply),
        }
    }
}

/// A reply to cache.
pub struct Fill<'a> {
    pub reply: &'a Bytes,
    /// Epochs when the fetch started; served only while still current.
    pub stamp: Stamp,
    /// Never served after this.
    pub expires: Instant,
    pub negative: bool,
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    Cached,
    /// Larger than the whole store.
    TooBig,
    /// Read less often than the entry it would have evicted (TinyLFU).
    Rejected,
}

/// What a lookup does with an entry past its TTL or its tracking stream.
#[derive(Clone, Copy, Debug)]
pub enum Stale {
    /// Drop it (serve-stale off).
    Drop,
    /// Keep it for up to this grace, in case the upstream goes down.
    Keep(Duration),
    /// Serve it if within this grace (the upstream is degraded).
    Serve(Duration),
}

/// What a lookup found.
pub enum Lookup {
    Hit { reply: Bytes, negative: bool },
    Miss,
}

/// A thread's cache.
pub struct Store {
    index: HashTable<u32>,
    slots: Slab,
    free: Vec<u32>,
    /// Large replies, by slot.
    shared: HashMap<u32, Bytes, ahash::RandomState>,
    hand: usize,
    len: usize,
    weight: u64,
    capacity: u64,
    evictions: u64,
    /// ahash: the hash is a visible part of a hit's cost.
    hasher: ahash::RandomState,
    base: Instant,
    /// Declared last: dropped after the slots are freed (see `Drop`).
    heap: Heap,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Store {
    /// A store holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self {
            index: HashTable::new(),
            slots: Slab::new(),
            free: Vec::new(),
            shared: HashMap::with_hasher(ahash::RandomState::new()),
            hand: 0,
            len: 0,
            weight: 0,
            capacity,
            evictions: 0,
            hasher: ahash::RandomState::new(),
            base: Instant::now(),
            heap: Heap::new(),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether `bytes` more fit without evicting anything.
    pub fn has_room(&self, bytes: u64) -> bool {
        self.weight + bytes <= self.capacity
    }

    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_millis() as u64
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(hash, |&i| slots[i as usize].key() == key).copied()
    }

    fn remove_at(&mut self, i: u32, hash: u64) {
        if let Ok(e) = self.index.find_entry(hash, |&j| j == i) {
            e.remove();
        }
        let s = &mut self.slots[i as usize];
        let reply_len = if s.flags() & SHARED != 0 {
            self.shared.remove(&i).map_or(0, |b| b.len())
        } else {
            s.len as usize - s.key_len()
        };
        self.weight -= weigh(s.key_len(), reply_len);
        Heap::free(std::mem::replace(&mut s.ptr, std::ptr::null_mut()));
        s.len = 0;
        s.meta = 0;
        self.free.push(i);
        self.len -= 1;
    }

    /// Drops every entry (CONFIG SET of the size, or a test).
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            Heap::free(std::mem::replace(&mut s.ptr, std::ptr::null_mut()));
        }
        self.index = HashTable::new();
        self.slots = Slab::new();
        self.free = Vec::new();
        self.shared.clear();
        self.hand = 0;
        self.len = 0;
        self.weight = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, as weighed.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::epoch::Epochs;

    /// A fill of `reply` for `key`, stamped now.
    pub(super) fn fill<'a>(
        reply: &'a Bytes,
        epochs: &Epochs,
        key: &[u8],
        expires: Instant,
    ) -> Fill<'a> {
        Fill { reply, stamp: epochs.stamp(key), expires, negative: false }
    }

    /// An entry key for `key` (protocol 2, command 0).
    pub(super) fn ek(key: &[u8]) -> Vec<u8> {
        let mut k = vec![2, 0, 0, key.len() as u8];
        k.extend_from_slice(key);
        k
    }

    #[test]
    fn expiry_invalidation_and_memory_bound() {
        let epochs = Epochs::new(8);
        let mut s = Store::new(20_000);
        let now = Instant::now();
        let reply = Bytes::from(vec![b'x'; 100]);
        let later = now + Duration::from_millis(1000);
        let none = |_: &[u8]| Some(0);
        assert_eq!(
            s.insert(&ek(b"a"), fill(&reply, &epochs, b"a", later), &epochs, now, None, none),
            Insert::Cached
        );
        assert!(matches!(s.get(&ek(b"a"), &epochs, now), Lookup::Hit { .. }));
        assert!(matches!(s.get(&ek(b"a"), &epochs, now + Duration::from_secs(2)), Lookup::Miss));
        s.insert(&ek(b"b"), fill(&reply, &epochs, b"b", later), &epochs, now, None, none);
        epochs.invalidate(b"b");
        assert!(matches!(s.get(&ek(b"b"), &epochs, now), Lookup::Miss));
        assert_eq!(s.weight(), 0);
        for i in 0..1000u32 {
            let k = i.to_be_bytes();
            s.insert(&ek(&k), fill(&reply, &epochs, &k, later), &epochs, now, None, none);
        }
        assert!(s.weight() <= 20_000, "{}", s.weight());
        assert!(s.evictions() > 0);
        let big = Bytes::from(vec![b'y'; 30_000]);
        assert_eq!(
            s.insert(&ek(b"big"), fill(&big, &epochs, b"big", later), &epochs, now, None, none),
            Insert::TooBig
        );
    }
}
