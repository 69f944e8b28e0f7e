//! Making room: an insert, the CLOCK hand that picks victims, and TinyLFU
//! admission against them.
//!
//! A hit sets the entry's CLOCK bit. To make room the hand sweeps the slab:
//! entries that expired or were invalidated go first, a set bit is cleared and
//! the entry passed over once, an entry the caller protects (a hot key) is passed
//! over, and any other is the victim. With a candidate frequency given (TinyLFU,
//! `cache-mode lfu`), the candidate enters only if it was read more often than
//! the victim; otherwise it is turned away and the victim stays.

use std::time::Instant;

use bytes::Bytes;

use super::slot::{
    FLAG_SHIFT, KEY_MASK, LARGE, LIVE, NEGATIVE, REBASE_MS, SHARED, Slot, VISITED, weigh,
};
use super::{Fill, Insert, Store};
use crate::cache::epoch::Epochs;

impl Store {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::slot::redis_key;
    use super::super::tests::{ek, fill};
    use super::super::{Lookup, Store};
    use super::*;

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
}
