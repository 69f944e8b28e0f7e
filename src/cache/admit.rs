//! Admission by frequency (`cache-mode lfu`, the default): a TinyLFU sketch of
//! how often each key was read lately, and of how often each key's epoch slot
//! was written, per thread.
//!
//! - Reads: a doorkeeper (a one-bit-per-counter Bloom filter: a key's first read
//!   in a period only sets its bits) in front of a count-min sketch of 4-bit
//!   counters (four rows folded into one table). After `10 x width` additions
//!   every counter is halved and the doorkeeper cleared, so the counts follow
//!   what is read now, not what was read an hour ago.
//! - Writes: a count-min sketch of their own (no doorkeeper) by the key's epoch
//!   slot, counted for the tracking stream's invalidations (or writes through
//!   hotcache without tracking), halved after 10 additions per counter. A key
//!   written more often than it is read, and at least twice (write-hot), is not
//!   cached: each fill would be thrown away by the next write.
//!
//! The store ([`super::store`]) consults the read sketch when it is full: a
//! candidate enters only if it was read more often than the entry it would
//! evict (TinyLFU). Reads are counted on misses only, so a hit costs nothing
//! here; entries that are hit are kept by the store's CLOCK bit instead.

use std::cell::RefCell;

/// Counter rows probed per key.
const DEPTH: usize = 4;
/// Additions per counter before every count is halved.
const PERIOD_PER_COUNTER: u64 = 10;
/// Multipliers that spread one 64-bit hash over the rows.
const SEEDS: [u64; DEPTH] =
    [0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63];

/// A count-min sketch of 4-bit counters with a doorkeeper.
pub struct Sketch {
    /// Two 4-bit counters per byte.
    counters: Vec<u8>,
    /// The doorkeeper, one bit per counter.
    door: Vec<u64>,
    /// Counters (a power of two) minus one.
    mask: u64,
    additions: u64,
    period: u64,
    /// Whether the doorkeeper is used (reads: yes; writes: no).
    doorkeeper: bool,
}

impl Sketch {
    /// A sketch of at least `width` counters (a power of two, at least 1024).
    pub fn new(width: usize, doorkeeper: bool) -> Self {
        let width = width.next_power_of_two().max(1024);
        Self {
            counters: vec![0; width / 2],
            door: if doorkeeper { vec![0; width / 64] } else { Vec::new() },
            mask: width as u64 - 1,
            additions: 0,
            period: width as u64 * PERIOD_PER_COUNTER,
            doorkeeper,
        }
    }

    /// Counters in the sketch.
    pub fn width(&self) -> usize {
        self.mask as usize + 1
    }

    fn index(&self, hash: u64, row: usize) -> u64 {
        (hash ^ (hash >> 29)).wrapping_mul(SEEDS[row]).rotate_left(23) & self.mask
    }

    fn get(&self, i: u64) -> u8 {
        let b = self.counters[(i >> 1) as usize];
        if i & 1 == 0 { b & 0x0f } else { b >> 4 }
    }

    fn bump(&mut self, i: u64) -> bool {
        let b = &mut self.counters[(i >> 1) as usize];
        let shift = (i & 1) * 4;
        if (*b >> shift) & 0x0f == 0x0f {
            return false;
        }
        *b += 1 << shift;
        true
    }

    fn door_has(&self, hash: u64) -> bool {
        (0..2).all(|r| {
            let i = self.index(hash, r + 2);
            self.door[(i >> 6) as usize] & (1 << (i & 63)) != 0
        })
    }

    fn door_set(&mut self, hash: u64) {
        for r in 0..2 {
            let i = self.index(hash, r + 2);
            self.door[(i >> 6) as usize] |= 1 << (i & 63);
        }
    }

    /// Counts one occurrence.
    pub fn add(&mut self, hash: u64) {
        if self.doorkeeper && !self.door_has(hash) {
            self.door_set(hash);
        } else {
            // Conservative update: only the smallest counters grow, which keeps
            // collisions from inflating everyone sharing one counter.
            let min = self.count_min(hash);
            for row in 0..DEPTH {
                let i = self.index(hash, row);
                if self.get(i) == min {
                    self.bump(i);
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.period {
            self.age();
        }
    }

    fn count_min(&self, hash: u64) -> u8 {
        (0..DEPTH).map(|row| self.get(self.index(hash, row))).min().unwrap_or(0)
    }

    /// Occurrences in the current period (an over-estimate at worst), up to 16.
    pub fn estimate(&self, hash: u64) -> u8 {
        let door = self.doorkeeper && self.door_has(hash);
        self.count_min(hash) + u8::from(door)
    }

    /// Halves every counter and clears the doorkeeper.
    fn age(&mut self) {
        for b in &mut self.counters {
            *b = (*b >> 1) & 0x77;
        }
        self.door.iter_mut().for_each(|w| *w = 0);
        self.additions /= 2;
    }
}

thread_local! {
    /// This thread's sketch of reads.
    static SKETCH: RefCell<Sketch> = RefCell::new(Sketch::new(MIN_WIDTH, true));
    /// This thread's sketch of writes, by epoch slot: apart from the reads, so
    /// that a key never written counts no writes however full the read sketch
    /// (a thread-local so the tracking stream, which has no handle on the
    /// thread's cache, can count the writes it reports).
    static WRITES: RefCell<Sketch> = RefCell::new(Sketch::new(WRITE_WIDTH, false));
}

/// Width of the write sketch.
const WRITE_WIDTH: usize = 1 << 16;

/// The sketch's width to start with; it grows with the store (see [`fit`]).
const MIN_WIDTH: usize = 4096;

/// A write's hash: its epoch slot, mixed.
fn slot_hash(slot: u32) -> u64 {
    (slot as u64 ^ 0x5bd1_e995_0000_0000).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31)
}

/// Counts a read of the key hashed to `hash` on this thread.
pub fn record_read(hash: u64) {
    SKETCH.with(|s| s.borrow_mut().add(hash));
}

/// Reads of the key hashed to `hash` on this thread lately.
pub fn reads(hash: u64) -> u8 {
    SKETCH.with(|s| s.borrow().estimate(hash))
}

/// Counts a write of the keys in epoch slot `slot` on this thread.
pub fn record_write(slot: u32) {
    WRITES.with(|s| s.borrow_mut().add(slot_hash(slot)));
}

/// Writes of epoch slot `slot` counted on this thread lately.
pub fn writes(slot: u32) -> u8 {
    WRITES.with(|s| s.borrow().estimate(slot_hash(slot)))
}

/// Widens the sketch to at least `entries` counters (a count per entry the
/// store holds, as Caffeine sizes its own); the counts start over.
pub fn fit(entries: usize) {
    SKETCH.with(|s| {
        if s.borrow().width() < entries {
            *s.borrow_mut() = Sketch::new(entries, true);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doorkeeper_then_counts_then_ageing() {
        let mut s = Sketch::new(1024, true);
        assert_eq!(s.estimate(42), 0);
        s.add(42);
        assert_eq!(s.estimate(42), 1, "the first read only passes the doorkeeper");
        for _ in 0..5 {
            s.add(42);
        }
        assert_eq!(s.estimate(42), 6);
        for _ in 0..40 {
            s.add(7);
        }
        assert_eq!(s.estimate(7), 16, "counters saturate at 15 plus the doorkeeper");
        // Ageing halves the counts and clears the doorkeeper.
        s.age();
        assert_eq!(s.estimate(42), 2);
        assert_eq!(s.estimate(7), 7);
        // It comes after 10 additions per counter.
        let mut t = Sketch::new(1024, false);
        for _ in 0..(t.width() as u64 * PERIOD_PER_COUNTER - 1) {
            t.add(9);
        }
        assert_eq!(t.estimate(9), 15);
        t.add(9);
        assert_eq!(t.estimate(9), 7);
    }

    #[test]
    fn writes_per_slot() {
        assert_eq!(writes(3), 0);
        record_write(3);
        record_write(3);
        assert_eq!(writes(3), 2);
    }
}
