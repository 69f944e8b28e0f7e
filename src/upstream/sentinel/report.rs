//! What the Sentinel shows: the errors requests get while no master is known
//! or while fenced, the last resolve's error, and hotcache's INFO lines.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::Sentinel;
use crate::upstream::upstream_error;

impl Sentinel {
    /// The error for a request while no master is known.
    pub fn no_master(&self) -> Bytes {
        let last = self.last_error();
        let why = if last.is_empty() { String::new() } else { format!(" ({last})") };
        upstream_error(&self.name, &format!("No master found for '{}'{why}", self.name))
    }

    /// The error for a write while fenced.
    pub fn fence_error(addr: &str) -> Bytes {
        upstream_error(addr, "failover in progress, writes refused until the new master is known")
    }
    pub(super) fn set_subscribed(&self, index: usize, on: bool) {
        if let Some(s) = self.subscribed.get(index) {
            s.store(on, Ordering::Relaxed);
        }
    }

    /// The last resolve's error (empty if it succeeded).
    pub fn last_error(&self) -> String {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// hotcache's INFO lines about Sentinel.
    pub fn info_lines(&self, s: &mut String) {
        let t = self.topology();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let subscribed = self.subscribed.iter().filter(|s| s.load(Ordering::Relaxed)).count();
        let replicas: Vec<&str> = t.replicas.iter().map(|r| &**r).collect();
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let breaker = |a: &str| breakers.get(a).map_or("closed", |b| b.state().name());
        let _ = write!(s, "sentinel_master_name:{}\r\n", self.name);
        let _ = write!(s, "sentinel_master:{}\r\n", t.master.as_deref().unwrap_or(""));
        if let Some(m) = &t.master {
            let _ = write!(s, "sentinel_master_breaker:{}\r\n", breaker(m));
        }
        let _ = write!(s, "sentinel_replicas:{}\r\n", replicas.join("|"));
        let _ = write!(s, "sentinel_fenced:{}\r\n", u8::from(t.fenced));
        let _ = write!(s, "sentinel_sentinels:{}\r\n", self.addrs.join("|"));
        let _ = write!(s, "sentinel_subscribed:{subscribed}\r\n");
        let _ = write!(s, "sentinel_switches:{}\r\n", n(&self.stats.switches));
        let _ = write!(s, "sentinel_fences:{}\r\n", n(&self.stats.fences));
        let _ = write!(s, "sentinel_resolves:{}\r\n", n(&self.stats.resolves));
        let _ = write!(s, "sentinel_resolve_errors:{}\r\n", n(&self.stats.resolve_errors));
        let _ = write!(s, "sentinel_asks_event:{}\r\n", n(&self.stats.asks_event));
        let _ = write!(s, "sentinel_asks_failed:{}\r\n", n(&self.stats.asks_failed));
        let _ = write!(s, "sentinel_asks_readonly:{}\r\n", n(&self.stats.asks_readonly));
        let mut last = self.last_error();
        last.retain(|c| c != '\r' && c != '\n');
        let _ = write!(s, "sentinel_last_error:{last}\r\n");
    }
}
