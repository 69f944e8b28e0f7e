//! Refresh-ahead: which hits re-read their entry before it ends, and the
//! entries with such a read in flight from this thread.

use std::sync::Arc;
use std::time::Instant;

use super::{ThreadCache, hot};
use crate::config::CacheMode;

/// Refresh-ahead reads one thread keeps in flight at most (each is one entry
/// key in a set until its reply arrives).
const MAX_REFRESHES: usize = 1024;
impl ThreadCache {
    /// Whether a hit on the entry `entry_key` (of Redis key `key`) with
    /// `left_ms` of life left should refresh it ahead of its end: it is in the
    /// last fifth of `cache-ttl`, its key is hot by the detector (read at
    /// `hotkey-threshold` per second or more), and no refresh of it is in
    /// flight from this thread. The caller checks the upstream is healthy.
    pub fn wants_refresh(&self, entry_key: &[u8], key: &[u8], left_ms: u64, now: Instant) -> bool {
        let s = self.settings.borrow();
        if s.mode == CacheMode::Off || left_ms.saturating_mul(5) > s.ttl.as_millis() as u64 {
            return false;
        }
        let refreshing = self.refreshing.borrow();
        if refreshing.len() >= MAX_REFRESHES || refreshing.contains(entry_key) {
            return false;
        }
        let rate = hot::with(|h| h.rate(key, now)).unwrap_or(0.0);
        rate * self.shared.threads as f64 >= s.threshold
    }

    /// Notes a refresh of `entry_key` in flight (true) or arrived (false).
    pub fn set_refreshing(&self, entry_key: &Arc<[u8]>, on: bool) {
        let mut r = self.refreshing.borrow_mut();
        if on {
            r.insert(entry_key.clone());
        } else {
            r.remove(&entry_key[..]);
        }
    }
}
