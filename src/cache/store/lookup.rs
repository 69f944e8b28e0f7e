//! Finding an entry: served fresh, served stale within a grace while the
//! upstream is degraded, kept for that, or dropped.

use std::time::{Duration, Instant};

use super::slot::{NEGATIVE, SHARED, Slot, VISITED};
use super::{EntryRef, Lookup, Stale, Store};
use crate::cache::epoch::Epochs;

impl Store {
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
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::slot::LARGE;
    use super::super::tests::{ek, fill};
    use super::*;

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
