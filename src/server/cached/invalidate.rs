//! What a write invalidates: the slots of the keys it may change, from the
//! command table's key specs, applied before it is forwarded.

use bytes::Bytes;

use crate::cmd::{Begin, Command, Find, KeyRef, Writes, command_keys, key_flags};
use crate::server::conn::Conn;
use crate::stats::{add, inc};
use crate::upstream::After;

/// Combines two pending invalidations.
pub fn merge(a: After, b: After) -> After {
    match (a, b) {
        (After::All, _) | (_, After::All) => After::All,
        (After::Nothing, x) | (x, After::Nothing) => x,
        (x, y) => After::Slots(x.slots().iter().chain(y.slots().iter()).copied().collect()),
    }
}

/// Keys whose value a write may change (key specs flagged RW, OW or RM).
fn written(k: &KeyRef) -> bool {
    k.flags & (key_flags::RW | key_flags::OW | key_flags::RM) != 0
}

/// SORT writes only the key after STORE (its key specs are incomplete for
/// the keys BY and GET read, not for what it writes): that key's slot, or
/// nothing without STORE. Any argument `store` counts (a BY or GET pattern
/// named so costs an extra invalidation, never a missed one); one that ends
/// the command, everything.
fn sort_writes(args: &[Bytes], epochs: &crate::cache::Epochs) -> After {
    let mut slots = Vec::new();
    for (i, a) in args.iter().enumerate().skip(2) {
        if a.eq_ignore_ascii_case(b"store") {
            match args.get(i + 1) {
                Some(dest) => slots.push(epochs.slot(dest)),
                None => return After::All,
            }
        }
    }
    if slots.is_empty() { After::Nothing } else { After::Slots(slots.into()) }
}

impl Conn {
    /// What a command invalidates, from the command table's key specs.
    ///
    /// Nothing while `cache-mode off`: nothing is cached then, and entries cached
    /// after it is switched back on are stamped after the switch, so a write in
    /// flight across it is covered by the tracking stream (or, without tracking,
    /// by the TTL, which is then the only bound anyway).
    pub(in crate::server) fn write_after(&self, c: &Command, args: &[Bytes]) -> After {
        if !self.ctx.cache.enabled() {
            return After::Nothing;
        }
        match c.writes {
            Writes::No => After::Nothing,
            Writes::All => After::All,
            Writes::Keys => {
                let epochs = &self.ctx.shared.cache.epochs;
                // The common case, one key at argument 1 (SET, INCR, HSET ...),
                // without building a key list.
                if let [spec] = c.def.key_specs
                    && matches!(spec.begin, Begin::Index(1))
                    && matches!(spec.find, Find::Range { lastkey: 0, .. })
                    && spec.flags & (key_flags::RW | key_flags::OW | key_flags::RM) != 0
                    && spec.flags & key_flags::INCOMPLETE == 0
                    && args.len() > 1
                {
                    return After::Slot(epochs.slot(&args[1]));
                }
                if c.def.name == "sort" {
                    return sort_writes(args, epochs);
                }
                let keys = command_keys(c.def, args);
                let slots: Box<[u32]> = keys
                    .keys
                    .iter()
                    .filter(|k| written(k))
                    .map(|k| epochs.slot(&args[k.index]))
                    .collect();
                if keys.complete && slots.is_empty() && !keys.keys.is_empty() {
                    // Keys named, none of them written: the form that only
                    // reads (GEORADIUS without STORE).
                    return After::Nothing;
                }
                // Keys it cannot name, or none at all (FLUSHALL, SWAPDB):
                // assume everything.
                if !keys.complete || slots.is_empty() { After::All } else { After::Slots(slots) }
            }
        }
    }

    /// Applies an invalidation now (the one before forwarding) and counts it.
    pub(in crate::server) fn invalidate_now(&self, after: &After) {
        let c = self.ctx.counters();
        match after {
            After::Nothing => return,
            After::Slot(_) => inc(&c.invalidations_own_write),
            After::Slots(s) => add(&c.invalidations_own_write, s.len() as u64),
            After::All => inc(&c.invalidations_flush),
        }
        for slot in after.slots() {
            self.ctx.cache.record_write(*slot);
        }
        after.apply(&self.ctx.shared.cache.epochs);
    }
}
