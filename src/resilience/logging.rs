//! Logging that never becomes the load: every log site that can fire per request
//! goes through [`log_limited!`](crate::log_limited), a token bucket of
//! `log-rate` lines per second per site; the next line says how many were
//! suppressed. `log-allowlist` names clients (CLIENT SETNAME) and keys whose
//! commands are logged in full, unlimited. The level changes at run time with
//! `CONFIG SET hotcache.loglevel`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

/// Lines per second each rate-limited site may write.
static RATE: AtomicU32 = AtomicU32::new(1);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// One log site's bucket.
pub struct Site {
    second: AtomicU64,
    lines: AtomicU32,
    suppressed: AtomicU64,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    pub const fn new() -> Self {
        Self {
            second: AtomicU64::new(u64::MAX),
            lines: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Some(lines suppressed since the last one written) if this line may be
    /// written now; None if it is suppressed.
    pub fn admit(&self) -> Option<u64> {
        let now = start().elapsed().as_secs();
        if self.second.swap(now, Relaxed) != now {
            self.lines.store(0, Relaxed);
        }
        if self.lines.fetch_add(1, Relaxed) < RATE.load(Relaxed) {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Logs at most `log-rate` lines per second from this call site, with the
/// number suppressed since the previous line.
#[macro_export]
macro_rules! log_limited {
    ($level:ident, $($arg:tt)+) => {{
        static SITE: $crate::resilience::logging::Site = $crate::resilience::logging::Site::new();
        if let Some(suppressed) = SITE.admit() {
            tracing::$level!(suppressed, $($arg)+);
        }
    }};
}

/// The allowlist: client names and keys whose commands are logged in full.
static ALLOW_ANY: AtomicBool = AtomicBool::new(false);
static ALLOW: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// True if anything is allowlisted (one relaxed load on the request path).
#[inline]
pub fn allowlist_active() -> bool {
    ALLOW_ANY.load(Relaxed)
}

/// True if `name` (a client name or a key) is allowlisted.
pub fn allowlisted(name: &[u8]) -> bool {
    ALLOW.read().unwrap_or_else(|e| e.into_inner()).iter().any(|a| a == name)
}

/// The level setter installed by the binary (a tracing reload handle).
type LevelHook = Box<dyn Fn(&str) + Send + Sync>;
static LEVEL_HOOK: OnceLock<LevelHook> = OnceLock::new();

/// Installs the function that changes the log level at run time.
pub fn set_level_hook(hook: LevelHook) {
    let _ = LEVEL_HOOK.set(hook);
}

/// Applies the logging settings (at start and after CONFIG SET).
pub fn configure(config: &crate::config::Config) {
    RATE.store(config.log_rate.max(1) as u32, Relaxed);
    let list: Vec<Vec<u8>> =
        config.log_allowlist.split_whitespace().map(|s| s.as_bytes().to_vec()).collect();
    ALLOW_ANY.store(!list.is_empty(), Relaxed);
    *ALLOW.write().unwrap_or_else(|e| e.into_inner()) = list;
    if let Some(hook) = LEVEL_HOOK.get() {
        hook(&config.loglevel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_writes_its_rate_then_counts_what_it_suppresses() {
        let site = Site::new();
        assert_eq!(site.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(site.admit(), None);
        }
        // The next second's first line reports the five.
        site.second.store(u64::MAX, Relaxed);
        assert_eq!(site.admit(), Some(5));
    }
}
