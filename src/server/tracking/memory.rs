//! What the tracking tables take in memory, from what they have allocated
//! (reported as `client_tracking_memory`).

/// Bytes a `HashMap`/`HashSet` (hashbrown) of entries of `entry` bytes has
/// allocated when its `capacity()` is `capacity`: a power of two of buckets,
/// at most 7/8 full, each with its entry and a control byte, plus one group
/// of control bytes. Removals do not shrink it.
pub(super) fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    // `capacity()` is less than the buckets allow after removals (tombstones):
    // rounding up finds the buckets again.
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity.saturating_mul(8) / 7).next_power_of_two()
    };
    buckets.saturating_mul(entry + 1) + 16
}

/// Bytes a key's shared name takes (`Rc<[u8]>`: two counters and the bytes,
/// in the allocator's 8-byte steps).
pub(super) fn name_bytes(len: usize) -> usize {
    (2 * std::mem::size_of::<usize>() + len).next_multiple_of(8)
}

/// Bytes a key's entry in the table owns besides its slot: its name and its
/// clients' vector.
pub(super) fn key_bytes(len: usize, ids: &Vec<u64>) -> usize {
    name_bytes(len) + ids.capacity() * std::mem::size_of::<u64>()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::rc::Rc;

    use super::*;

    #[test]
    fn table_bytes_finds_the_buckets() {
        // hashbrown: 4 and 8 buckets hold 3 and 7; from 16 on, 7/8 of them.
        assert_eq!(table_bytes(0, 16), 0);
        assert_eq!(table_bytes(3, 16), 4 * 17 + 16);
        assert_eq!(table_bytes(7, 16), 8 * 17 + 16);
        assert_eq!(table_bytes(14, 16), 16 * 17 + 16);
        // A real set of 100 names: 128 buckets.
        let mut set: HashSet<Rc<[u8]>> = HashSet::new();
        for i in 0..100 {
            set.insert(Rc::from(format!("k{i}").as_bytes()));
        }
        assert_eq!(table_bytes(set.capacity(), 16), 128 * 17 + 16);
        // Removals leave tombstones that lower `capacity()`, not the buckets.
        assert_eq!(table_bytes(500, 16), 1024 * 17 + 16);
        assert_eq!(name_bytes(10), 32);
    }
}
