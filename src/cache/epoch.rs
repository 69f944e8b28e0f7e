//! Validity of cached replies: a table of epochs that writes and invalidations
//! bump, and that every hit compares against.
//!
//! Each key hashes to a slot. A cached reply remembers the slot's epoch and the
//! global epoch as they were when its fetch *started*; it is served only while
//! both are unchanged. So:
//! - an invalidation (own write, tracking message) is one atomic add, seen by
//!   every thread at once, with no message to any of them;
//! - a fetch that started before an invalidation can never be served, even if it
//!   is installed after it (rule 3, no stale fill), because its remembered epoch
//!   is already old;
//! - dropping everything is one add to a global epoch: `flush` when the data
//!   changed (FLUSHALL, scripts), `tracking` when hotcache can no longer tell (a
//!   broken tracking connection). Only the second kind may still be served
//!   stale, and only when so configured while the upstream is down.
//!
//! Keys sharing a slot invalidate each other: a spurious miss, never a stale hit.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The epochs a fetch saw when it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub slot: u32,
    pub slot_epoch: u64,
    pub flush: u64,
    pub tracking: u64,
}

/// The shared epoch table.
pub struct Epochs {
    slots: Box<[AtomicU64]>,
    flush: AtomicU64,
    tracking: AtomicU64,
    hasher: ahash::RandomState,
}

impl std::fmt::Debug for Epochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Epochs({} slots)", self.slots.len())
    }
}

impl Epochs {
    /// A table of `2^bits` slots.
    pub fn new(bits: u32) -> Self {
        Self {
            slots: (0..1usize << bits).map(|_| AtomicU64::new(0)).collect(),
            flush: AtomicU64::new(0),
            tracking: AtomicU64::new(0),
            // Fixed seeds, distinct from the shard hash, so slot and shard are
            // independent.
            hasher: ahash::RandomState::with_seeds(0x5eed, 0xcafe, 0xf00d, 0xbeef),
        }
    }

    /// The slot of a key.
    pub fn slot(&self, key: &[u8]) -> u32 {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        (h.finish() as usize & (self.slots.len() - 1)) as u32
    }

    /// The epochs of `key` now, taken before a fetch is sent.
    pub fn stamp(&self, key: &[u8]) -> Stamp {
        let slot = self.slot(key);
        // Acquire pairs with the AcqRel bumps: a fetch stamped after a bump sees it.
        Stamp {
            slot,
            slot_epoch: self.slots[slot as usize].load(Ordering::Acquire),
            flush: self.flush.load(Ordering::Acquire),
            tracking: self.tracking.load(Ordering::Acquire),
        }
    }

    /// True while nothing has invalidated the key (or everything) since `stamp`.
    #[inline]
    pub fn is_current(&self, stamp: &Stamp) -> bool {
        self.tracking.load(Ordering::Acquire) == stamp.tracking && self.is_unwritten(stamp)
    }

    /// True while no write is known to have touched the key since `stamp`: only
    /// a lost tracking stream may have happened. Such a reply may be served
    /// stale (serve-stale) while the upstream is down.
    #[inline]
    pub fn is_unwritten(&self, stamp: &Stamp) -> bool {
        self.flush.load(Ordering::Acquire) == stamp.flush
            && self.slots[stamp.slot as usize].load(Ordering::Acquire) == stamp.slot_epoch
    }

    /// [`Self::is_current`] for a stamp kept compactly by the store: the global
    /// epochs in their low 32 bits (they would have to move by 2^32 flushes or
    /// tracking losses within one entry's life, at most a day, to be confused).
    #[inline]
    pub fn is_current_compact(
        &self,
        slot: u32,
        slot_epoch: u64,
        flush: u32,
        tracking: u32,
    ) -> bool {
        self.tracking.load(Ordering::Acquire) as u32 == tracking
            && self.is_unwritten_compact(slot, slot_epoch, flush)
    }

    /// [`Self::is_unwritten`] for a compact stamp.
    #[inline]
    pub fn is_unwritten_compact(&self, slot: u32, slot_epoch: u64, flush: u32) -> bool {
        self.flush.load(Ordering::Acquire) as u32 == flush
            && self.slots.get(slot as usize).map(|e| e.load(Ordering::Acquire)) == Some(slot_epoch)
    }

    /// Invalidates one key (and whatever shares its slot).
    pub fn invalidate(&self, key: &[u8]) {
        self.invalidate_slot(self.slot(key));
    }

    /// Invalidates one slot.
    pub fn invalidate_slot(&self, slot: u32) {
        self.slots[slot as usize].fetch_add(1, Ordering::AcqRel);
    }

    /// Invalidates everything: the data changed.
    pub fn invalidate_all(&self) {
        self.flush.fetch_add(1, Ordering::AcqRel);
    }

    /// Invalidates everything: hotcache lost sight of changes (the tracking
    /// stream broke).
    pub fn invalidate_tracking(&self) {
        self.tracking.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_go_stale_on_invalidation() {
        let e = Epochs::new(10);
        let a = e.stamp(b"a");
        let b = e.stamp(b"b");
        assert!(e.is_current(&a) && e.is_current(&b));
        e.invalidate(b"a");
        assert!(!e.is_current(&a));
        if e.slot(b"a") != e.slot(b"b") {
            assert!(e.is_current(&b));
        }
        let a2 = e.stamp(b"a");
        assert!(e.is_current(&a2));
        e.invalidate_all();
        assert!(!e.is_current(&a2) && !e.is_current(&b));
        let c = e.stamp(b"c");
        e.invalidate_tracking();
        assert!(!e.is_current(&c) && e.is_unwritten(&c));
        e.invalidate(b"c");
        assert!(!e.is_unwritten(&c));
    }
}
