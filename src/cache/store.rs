//! One thread's store of cached replies: compact entries in a slab, an index of
//! `u32` slab positions, CLOCK (second chance) eviction within a byte budget,
//! and TinyLFU admission when the budget is full.
//!
//! # What an entry costs
//!
//! An entry is one allocation (in the store's own mimalloc heap) holding its
//! entry key followed by its reply bytes (copied out of the upstream's read
//! buffer, so it pins nothing else), a 40-byte slab slot (the pointer and length, the epoch stamp in compact form,
//! a millisecond deadline, flags) and a `u32` plus a control byte in the index
//! (at most 7/8 full, so up to ~11 bytes an entry). Replies of 16 KiB or more
//! are kept as `Bytes` in a side table instead, so a hit hands out a reference
//! rather than copying them. [`weigh`] counts all of it, rounding the
//! allocation up to the allocator's 8-byte classes: `cache_bytes` is what the
//! entries really hold, and `cache-max-memory` bounds it.
//!
//! # Eviction and admission
//!
//! A hit sets the entry's CLOCK bit. To make room the hand sweeps the slab:
//! entries that expired or were invalidated go first, a set bit is cleared and
//! the entry passed over once, an entry the caller protects (a hot key) is passed
//! over, and any other is the victim. With a candidate frequency given (TinyLFU,
//! `cache-mode lfu`), the candidate enters only if it was read more often than
//! the victim; otherwise it is turned away and the victim stays.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashTable;

use super::epoch::{Epochs, Stamp};

/// Replies at least this long are kept as `Bytes` (a hit then copies nothing).
const LARGE: usize = 16 * 1024;
/// Index bytes counted per entry: a `u32` and a control byte at a load of 7/16
/// to 7/8 (the table doubles when 7/8 full).
const INDEX_BYTES: u64 = 12;
/// After this long the millisecond clock is rebased (the store is emptied).
const REBASE_MS: u64 = 1 << 31;

const VISITED: u8 = 1;
const NEGATIVE: u8 = 2;
const LIVE: u8 = 4;
const SHARED: u8 = 8;

/// Flags live in the top bits of `Slot::meta`, the key length in the rest.
const FLAG_SHIFT: u32 = 28;
const KEY_MASK: u32 = (1 << FLAG_SHIFT) - 1;

/// One slab slot (40 bytes).
struct Slot {
    /// The entry key, then (unless SHARED) the reply: `len` bytes allocated in
    /// the store's own heap (null in a free slot).
    ptr: *mut u8,
    len: u32,
    /// The entry key's length, and the flags in the top 4 bits.
    meta: u32,
    /// The stamp: the key's epoch slot and its epoch, and the low 32 bits of
    /// the global epochs (see `Epochs::is_current_compact`).
    slot_epoch: u64,
    slot: u32,
    flush: u32,
    tracking: u32,
    /// Milliseconds after the store's base when the entry stops being served.
    expires: u32,
}

impl Slot {
    const EMPTY: Slot = Slot {
        ptr: std::ptr::null_mut(),
        len: 0,
        meta: 0,
        slot_epoch: 0,
        slot: 0,
        flush: 0,
        tracking: 0,
        expires: 0,
    };

    fn data(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: `ptr` is a live allocation of `len` bytes owned by this slot
        // (written in full at insert, freed only when the slot is emptied).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len as usize) }
    }

    fn key_len(&self) -> usize {
        (self.meta & KEY_MASK) as usize
    }

    fn flags(&self) -> u8 {
        (self.meta >> FLAG_SHIFT) as u8
    }

    fn set_flag(&mut self, f: u8, on: bool) {
        let bit = (f as u32) << FLAG_SHIFT;
        self.meta = if on { self.meta | bit } else { self.meta & !bit };
    }

    fn key(&self) -> &[u8] {
        &self.data()[..self.key_len()]
    }

    fn live(&self) -> bool {
        self.flags() & LIVE != 0
    }

    fn current(&self, epochs: &Epochs) -> bool {
        epochs.is_current_compact(self.slot, self.slot_epoch, self.flush, self.tracking)
    }

    fn unwritten(&self, epochs: &Epochs) -> bool {
        epochs.is_unwritten_compact(self.slot, self.slot_epoch, self.flush)
    }
}

/// The Redis key (first argument) in an entry key: protocol (1 byte), command
/// (2 bytes), then each argument as a LEB128 length and its bytes.
pub fn redis_key(entry_key: &[u8]) -> &[u8] {
    let mut len = 0usize;
    let mut at = 3;
    for shift in (0..64).step_by(7) {
        let Some(&b) = entry_key.get(at) else { return &[] };
        at += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    entry_key.get(at..at.saturating_add(len)).unwrap_or(&[])
}

/// Slots in chunks of a fixed size: growing never copies (nor leaves behind)
/// one large array, as a doubling `Vec` would.
struct Slab {
    chunks: Vec<Box<[Slot]>>,
    len: usize,
}

const CHUNK: usize = 1024;

impl Slab {
    fn new() -> Self {
        Self { chunks: Vec::new(), len: 0 }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, s: Slot) {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks.push((0..CHUNK).map(|_| Slot::EMPTY).collect());
        }
        self.chunks[self.len / CHUNK][self.len % CHUNK] = s;
        self.len += 1;
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        let len = self.len;
        self.chunks.iter_mut().flat_map(|c| c.iter_mut()).take(len)
    }
}

impl std::ops::Index<usize> for Slab {
    type Output = Slot;
    fn index(&self, i: usize) -> &Slot {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slab {
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// The bytes an entry of `key_len + reply_len` bytes holds.
pub fn weigh(key_len: usize, reply_len: usize) -> u64 {
    let inline = if reply_len >= LARGE { key_len } else { key_len + reply_len };
    // A `Bytes` kept aside: its own allocation and a map entry (hash, key, value).
    let shared = if reply_len >= LARGE { reply_len as u64 + 48 } else { 0 };
    (inline as u64).next_multiple_of(8) + std::mem::size_of::<Slot>() as u64 + INDEX_BYTES + shared
}

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

/// The store's own mimalloc heap: entries are allocated apart from the
/// thread's short-lived allocations (requests, flights, entry keys of misses),
/// which would otherwise share their pages and, freed, leave holes the entries
/// pin (measured: 44 bytes an entry more RSS when they shared the heap).
struct Heap(*mut libmimalloc_sys::mi_heap_t);

impl Heap {
    fn new() -> Self {
        // SAFETY: no arguments; a null heap (out of memory) falls back to the
        // default allocator in `alloc`.
        Self(unsafe { libmimalloc_sys::mi_heap_new() })
    }

    /// `n` bytes (never zero), or null when out of memory.
    fn alloc(&self, n: usize) -> *mut u8 {
        // SAFETY: a heap is used only on the thread that made it (the store is
        // not Send: it holds raw pointers), and `n` is non-zero.
        unsafe {
            if self.0.is_null() {
                libmimalloc_sys::mi_malloc(n.max(1)) as *mut u8
            } else {
                libmimalloc_sys::mi_heap_malloc(self.0, n.max(1)) as *mut u8
            }
        }
    }

    fn free(p: *mut u8) {
        if !p.is_null() {
            // SAFETY: `p` came from `alloc` and is freed once (the slot forgets it).
            unsafe { libmimalloc_sys::mi_free(p as *mut std::ffi::c_void) }
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: every block was freed first (`Store::drop` clears), and a
            // block still in it would be moved to the default heap, not lost.
            unsafe { libmimalloc_sys::mi_heap_delete(self.0) }
        }
    }
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

    /// Finds a servable entry; drops it if it expired or was invalidated.
    pub fn get(&mut self, key: &[u8], epochs: &Epochs, now: Instant) -> Lookup {
        self.get_with(key, epochs, now, Stale::Drop, |e| Lookup::Hit {
            reply: e.to_bytes(),
            negative: e.negative,
        })
        .map(|(r, _)| r)
        .unwrap_or(Lookup::Miss)
    }

    /// Runs `f` on a servable entry (without copying it), and says whether it
    /// was served stale. An entry that is not servable is dropped, unless
    /// `stale` says to keep it for serving stale later.
    pub fn get_with<R>(
        &mut self,
        key: &[u8],
        epochs: &Epochs,
        now: Instant,
        stale: Stale,
        f: impl FnOnce(&EntryRef<'_>) -> R,
    ) -> Option<(R, bool)> {
        let hash = self.hasher.hash_one(key);
        let i = self.find(hash, key)?;
        let now_ms = self.ms(now);
        let s = &mut self.slots[i as usize];
        let fresh = now_ms < s.expires as u64 && s.current(epochs);
        // Stale: never written since it was fetched (only expired, or its
        // tracking stream lost), and within the grace.
        let fresh_enough = |s: &Slot, grace: Duration| {
            s.unwritten(epochs) && now_ms < s.expires as u64 + grace.as_millis() as u64
        };
        let serve_stale = matches!(stale, Stale::Serve(g) if fresh_enough(s, g));
        if fresh || serve_stale {
            s.set_flag(VISITED, true);
            let s = &self.slots[i as usize];
            let shared = if s.flags() & SHARED != 0 { self.shared.get(&i) } else { None };
            let e = EntryRef {
                reply: match shared {
                    Some(b) => b,
                    None => &s.data()[s.key_len()..],
                },
                shared,
                negative: s.flags() & NEGATIVE != 0,
                left_ms: (s.expires as u64).saturating_sub(now_ms),
            };
            return Some((f(&e), !fresh));
        }
        let keep = match stale {
            Stale::Keep(g) | Stale::Serve(g) => fresh_enough(s, g),
            Stale::Drop => false,
        };
        if !keep {
            self.remove_at(i, hash);
        }
        None
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

    fn evict_at(&mut self, i: u32) {
        let hash = self.hasher.hash_one(self.slots[i as usize].key());
        self.remove_at(i, hash);
        self.evictions += 1;
    }

    /// Caches `fill` under `key`, evicting to make room. With `candidate` (its
    /// read frequency), it enters only if read more often than each victim;
    /// `victim` gives a victim's frequency, or None to protect it (a hot key).
    pub fn insert(
        &mut self,
        key: &[u8],
        fill: Fill<'_>,
        epochs: &Epochs,
        now: Instant,
        candidate: Option<u8>,
        mut victim: impl FnMut(&[u8]) -> Option<u8>,
    ) -> Insert {
        let reply = fill.reply;
        let w = weigh(key.len(), reply.len());
        if w > self.capacity || key.len() > KEY_MASK as usize {
            return Insert::TooBig;
        }
        if self.ms(now) >= REBASE_MS {
            self.clear();
            self.base = now;
        }
        let now_ms = self.ms(now);
        let hash = self.hasher.hash_one(key);
        if let Some(i) = self.find(hash, key) {
            self.remove_at(i, hash);
        }
        // Every slot twice: once to clear its bit, once to take it.
        let limit = 2 * self.slots.len() + 1;
        let mut scanned = 0;
        while self.weight + w > self.capacity && self.len > 0 {
            scanned += 1;
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let s = &mut self.slots[i];
            if !s.live() {
                continue;
            }
            let dead = now_ms >= s.expires as u64 || !s.current(epochs);
            if !dead && scanned <= limit {
                if s.flags() & VISITED != 0 {
                    s.set_flag(VISITED, false);
                    continue;
                }
                let Some(f) = victim(s.key()) else { continue };
                if candidate.is_some_and(|c| c <= f) {
                    return Insert::Rejected;
                }
            }
            self.evict_at(i as u32);
        }
        let large = reply.len() >= LARGE;
        let len = if large { key.len() } else { key.len() + reply.len() };
        let Ok(len32) = u32::try_from(len) else { return Insert::TooBig };
        let ptr = self.heap.alloc(len);
        if ptr.is_null() {
            return Insert::TooBig;
        }
        // SAFETY: `ptr` has room for `len` bytes, written here in full, from
        // slices that cannot overlap a fresh allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), ptr, key.len());
            if !large {
                std::ptr::copy_nonoverlapping(reply.as_ptr(), ptr.add(key.len()), reply.len());
            }
        }
        let expires = self.ms(fill.expires).min(u32::MAX as u64) as u32;
        let slot = Slot {
            ptr,
            len: len32,
            meta: key.len() as u32
                | ((LIVE
                    | if fill.negative { NEGATIVE } else { 0 }
                    | if large { SHARED } else { 0 }) as u32)
                    << FLAG_SHIFT,
            slot_epoch: fill.stamp.slot_epoch,
            slot: fill.stamp.slot,
            flush: fill.stamp.flush as u32,
            tracking: fill.stamp.tracking as u32,
            expires,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        if large {
            // Its own allocation: a slice of a read buffer would pin the buffer.
            self.shared.insert(i, Bytes::copy_from_slice(reply));
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, i, |&j| hasher.hash_one(slots[j as usize].key()));
        self.weight += w;
        self.len += 1;
        Insert::Cached
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

    fn fill<'a>(reply: &'a Bytes, epochs: &Epochs, key: &[u8], expires: Instant) -> Fill<'a> {
        Fill { reply, stamp: epochs.stamp(key), expires, negative: false }
    }

    #[test]
    fn slot_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 40);
    }

    /// An entry key for `key` (protocol 2, command 0).
    fn ek(key: &[u8]) -> Vec<u8> {
        let mut k = vec![2, 0, 0, key.len() as u8];
        k.extend_from_slice(key);
        k
    }

    #[test]
    fn redis_key_of_an_entry_key() {
        assert_eq!(redis_key(&ek(b"abc")), b"abc");
        let long = vec![b'k'; 300];
        let mut e = vec![2, 0, 0, 0xac, 0x02];
        e.extend_from_slice(&long);
        assert_eq!(redis_key(&e), &long[..]);
        assert_eq!(redis_key(&[2, 0]), b"");
        assert_eq!(redis_key(&[2, 0, 0, 9, b'a']), b"");
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

    #[test]
    fn tinylfu_turns_away_the_rarer_candidate_and_clock_keeps_hits() {
        let epochs = Epochs::new(8);
        let reply = Bytes::from(vec![b'x'; 16]);
        let w = weigh(5, 16);
        let mut s = Store::new(w * 2);
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let freq = |k: &[u8]| Some(if redis_key(k) == b"a" { 5 } else { 1 });
        s.insert(&ek(b"a"), fill(&reply, &epochs, b"a", later), &epochs, now, Some(1), freq);
        s.insert(&ek(b"b"), fill(&reply, &epochs, b"b", later), &epochs, now, Some(1), freq);
        // Full: a candidate read once does not displace "a" (5) nor "b" (1).
        assert_eq!(
            s.insert(&ek(b"c"), fill(&reply, &epochs, b"c", later), &epochs, now, Some(1), freq),
            Insert::Rejected
        );
        // A frequent one displaces "b" (first unvisited entry the hand meets
        // with a lower count), and a hit protects "a" for one sweep.
        assert!(matches!(s.get(&ek(b"a"), &epochs, now), Lookup::Hit { .. }));
        assert_eq!(
            s.insert(&ek(b"d"), fill(&reply, &epochs, b"d", later), &epochs, now, Some(3), freq),
            Insert::Cached
        );
        assert!(matches!(s.get(&ek(b"a"), &epochs, now), Lookup::Hit { .. }));
        assert!(matches!(s.get(&ek(b"b"), &epochs, now), Lookup::Miss));
        assert!(matches!(s.get(&ek(b"d"), &epochs, now), Lookup::Hit { .. }));
        assert_eq!(s.len(), 2);
        assert_eq!(s.weight(), 2 * w);
    }

    #[test]
    fn large_replies_are_shared_not_copied() {
        let epochs = Epochs::new(8);
        let mut s = Store::new(1 << 20);
        let now = Instant::now();
        let reply = Bytes::from(vec![b'z'; LARGE + 1]);
        let later = now + Duration::from_secs(10);
        s.insert(&ek(b"k"), fill(&reply, &epochs, b"k", later), &epochs, now, None, |_| Some(0));
        let got = s
            .get_with(&ek(b"k"), &epochs, now, Stale::Drop, |e| (e.shared.is_some(), e.to_bytes()));
        let ((shared, bytes), _) = got.expect("hit");
        assert!(shared);
        assert_eq!(bytes, reply);
    }
}
