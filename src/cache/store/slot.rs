//! What an entry costs: its slab slot (pointer, length, compact stamp,
//! deadline, flags), the chunked slab of slots, and the weight counted for it.
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

use crate::cache::epoch::Epochs;

/// Replies at least this long are kept as `Bytes` (a hit then copies nothing).
pub(super) const LARGE: usize = 16 * 1024;
/// Index bytes counted per entry: a `u32` and a control byte at a load of 7/16
/// to 7/8 (the table doubles when 7/8 full).
const INDEX_BYTES: u64 = 12;
/// After this long the millisecond clock is rebased (the store is emptied).
pub(super) const REBASE_MS: u64 = 1 << 31;

pub(super) const VISITED: u8 = 1;
pub(super) const NEGATIVE: u8 = 2;
pub(super) const LIVE: u8 = 4;
pub(super) const SHARED: u8 = 8;

/// Flags live in the top bits of `Slot::meta`, the key length in the rest.
pub(super) const FLAG_SHIFT: u32 = 28;
pub(super) const KEY_MASK: u32 = (1 << FLAG_SHIFT) - 1;

/// One slab slot (40 bytes).
pub(super) struct Slot {
    /// The entry key, then (unless SHARED) the reply: `len` bytes allocated in
    /// the store's own heap (null in a free slot).
    pub(super) ptr: *mut u8,
    pub(super) len: u32,
    /// The entry key's length, and the flags in the top 4 bits.
    pub(super) meta: u32,
    /// The stamp: the key's epoch slot and its epoch, and the low 32 bits of
    /// the global epochs (see `Epochs::is_current_compact`).
    pub(super) slot_epoch: u64,
    pub(super) slot: u32,
    pub(super) flush: u32,
    pub(super) tracking: u32,
    /// Milliseconds after the store's base when the entry stops being served.
    pub(super) expires: u32,
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

    pub(super) fn data(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: `ptr` is a live allocation of `len` bytes owned by this slot
        // (written in full at insert, freed only when the slot is emptied).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len as usize) }
    }

    pub(super) fn key_len(&self) -> usize {
        (self.meta & KEY_MASK) as usize
    }

    pub(super) fn flags(&self) -> u8 {
        (self.meta >> FLAG_SHIFT) as u8
    }

    pub(super) fn set_flag(&mut self, f: u8, on: bool) {
        let bit = (f as u32) << FLAG_SHIFT;
        self.meta = if on { self.meta | bit } else { self.meta & !bit };
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.data()[..self.key_len()]
    }

    pub(super) fn live(&self) -> bool {
        self.flags() & LIVE != 0
    }

    pub(super) fn current(&self, epochs: &Epochs) -> bool {
        epochs.is_current_compact(self.slot, self.slot_epoch, self.flush, self.tracking)
    }

    pub(super) fn unwritten(&self, epochs: &Epochs) -> bool {
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
pub(super) struct Slab {
    chunks: Vec<Box<[Slot]>>,
    len: usize,
}

const CHUNK: usize = 1024;

impl Slab {
    pub(super) fn new() -> Self {
        Self { chunks: Vec::new(), len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, s: Slot) {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks.push((0..CHUNK).map(|_| Slot::EMPTY).collect());
        }
        self.chunks[self.len / CHUNK][self.len % CHUNK] = s;
        self.len += 1;
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::ek;
    use super::*;

    #[test]
    fn slot_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 40);
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
}
