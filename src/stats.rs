//! Counters behind INFO: one block per shard thread, summed when read.
//!
//! Each counter is written only by its own shard thread, so an increment is a
//! relaxed load and store (no locked instruction); readers on other threads may
//! see a value a moment old, which is all INFO needs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How a counter is exported to Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (CONFIG RESETSTAT aside): `<name>_total`.
    Counter,
    /// A level that goes up and down (set, not added to); never reset.
    Gauge,
}

/// One counter as Prometheus sees it: counters sharing a name become one
/// family, told apart by the label.
#[derive(Clone, Copy, Debug)]
pub struct Export {
    /// INFO's field name.
    pub field: &'static str,
    /// Prometheus name without `_total`.
    pub name: &'static str,
    pub kind: Kind,
    pub label: Option<(&'static str, &'static str)>,
    pub help: &'static str,
}

/// Declares the per-shard counters once, with their INFO names and how
/// Prometheus shows them.
macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $field:ident : $kind:ident $prom:literal $({ $lk:literal = $lv:literal })? ),* $(,)?) => {
        /// One shard's counters, aligned to keep shards off each other's cache lines.
        #[derive(Default, Debug)]
        #[repr(align(128))]
        pub struct ShardCounters {
            $( $(#[doc = $doc])* pub $field: AtomicU64, )*
        }

        /// Summed counters, by INFO field name.
        pub fn fields(shards: &[ShardCounters]) -> Vec<(&'static str, u64)> {
            vec![ $( (stringify!($field), shards.iter().map(|s| s.$field.load(Relaxed)).sum()), )* ]
        }

        /// How each counter is exported, in the order of [`fields`].
        pub static EXPORTS: &[Export] = &[
            $( Export {
                field: stringify!($field),
                name: $prom,
                kind: Kind::$kind,
                label: counters!(@label $($lk, $lv)?),
                help: concat!($($doc),*),
            }, )*
        ];

        impl ShardCounters {
            /// Zeroes the counters (not the gauges, nor the eviction count the
            /// store keeps). Only the owning thread may call it.
            pub fn reset(&self) {
                $( if Kind::$kind == Kind::Counter && stringify!($field) != "cache_evictions" {
                    self.$field.store(0, Relaxed);
                } )*
            }
        }
    };
    (@label $lk:literal, $lv:literal) => { Some(($lk, $lv)) };
    (@label) => { None };
}

counters! {
    /// Client connections accepted.
    total_connections_received: Counter "hotcache_connections_received",
    /// Connections refused because `maxclients` was reached.
    rejected_connections: Counter "hotcache_rejected_connections",
    /// Commands received from clients (local and forwarded).
    total_commands_processed: Counter "hotcache_commands_processed",
    /// Commands answered by hotcache itself.
    local_commands: Counter "hotcache_local_commands",
    /// Commands sent to the upstream.
    forwarded_commands: Counter "hotcache_forwarded_commands",
    /// Bytes read from clients.
    total_net_input_bytes: Counter "hotcache_net_input_bytes",
    /// Bytes written to clients.
    total_net_output_bytes: Counter "hotcache_net_output_bytes",
    /// Dedicated upstream connections handed to clients (MULTI, blocking, pub/sub ...).
    dedicated_connections_taken: Counter "hotcache_dedicated_connections_taken",
    /// Upstream connections opened.
    upstream_connects: Counter "hotcache_upstream_connects",
    /// Upstream connections that failed or broke.
    upstream_connection_errors: Counter "hotcache_upstream_connection_errors",
    /// Requests answered with an error because their upstream connection failed.
    upstream_request_errors: Counter "hotcache_upstream_request_errors",
    /// Upstream connections closed because a reply took longer than upstream-timeout.
    upstream_timeouts: Counter "hotcache_upstream_timeouts",
    /// Requests failed at once because too many were in flight on a connection.
    upstream_shed: Counter "hotcache_upstream_shed",
    /// Reads whose Redis user has not been answered that command on that key by
    /// Redis yet (in these ACLs): they go to Redis, which decides.
    cache_acl_misses: Counter "hotcache_cache_acl_misses",
    /// Handshake commands (SELECT, READONLY) refused with BUSY while a script
    /// ran, and sent again.
    upstream_handshake_busy: Counter "hotcache_upstream_handshake_busy",
    /// Reads sent again after their upstream connection failed.
    upstream_retries: Counter "hotcache_upstream_retries",
    /// Requests refused at once because the upstream's circuit breaker was open.
    breaker_rejections: Counter "hotcache_breaker_rejections",
    /// Cluster MOVED replies followed inside hotcache.
    cluster_moved_redirects: Counter "hotcache_cluster_moved_redirects",
    /// Cluster ASK replies followed inside hotcache (with ASKING).
    cluster_ask_redirects: Counter "hotcache_cluster_ask_redirects",
    /// Multi-key commands split into one command per slot.
    cluster_split_commands: Counter "hotcache_cluster_split_commands",
    /// Keyless commands sent to every master (DBSIZE, FLUSHALL, KEYS, SCAN ...).
    cluster_fanouts: Counter "hotcache_cluster_fanouts",
    /// Commands refused because they are in degrade-commands and the upstream is degraded.
    degraded_refusals: Counter "hotcache_degraded_refusals",
    /// Cached replies served past their TTL (or their tracking stream) while the
    /// upstream was degraded (serve-stale).
    stale_hits: Counter "hotcache_stale_hits",
    /// Clients closed for exceeding the output buffer limit.
    client_output_limit_disconnections: Counter "hotcache_client_limit_disconnections" {"limit" = "output"},
    /// Clients closed for exceeding the query buffer limit.
    client_query_limit_disconnections: Counter "hotcache_client_limit_disconnections" {"limit" = "query"},
    /// Clients closed after a protocol error.
    protocol_errors: Counter "hotcache_protocol_errors",
    /// Reads answered from the local cache.
    cache_hits: Counter "hotcache_cache_hits",
    /// Of those, answers that the key does not exist (negative entries).
    cache_negative_hits: Counter "hotcache_cache_negative_hits",
    /// Cacheable reads not answered from the cache.
    cache_misses: Counter "hotcache_cache_misses",
    /// Misses that waited for another client's read of the same entry.
    singleflight_joins: Counter "hotcache_singleflight_joins",
    /// Misses that sent the read others may join.
    singleflight_leads: Counter "hotcache_singleflight_leads",
    /// Replies put in the cache.
    cache_fills: Counter "hotcache_cache_fills",
    /// Refresh-ahead reads started: a hit on a hot entry in the last fifth of
    /// its `cache-ttl` fetched it again in the background.
    cache_refreshes: Counter "hotcache_cache_refreshes",
    /// Fills of keys admitted because they were hot (cache-mode hot).
    hot_keys_admitted: Counter "hotcache_hot_keys_admitted",
    /// Replies not cached because larger than cache-max-entry-size (or than
    /// a thread's share of cache-max-memory); they were still shared by
    /// singleflight.
    cache_skipped_too_big: Counter "hotcache_cache_skipped" {"reason" = "too_big"},
    /// Replies not cached because their key is written more often than read.
    cache_skipped_write_hot: Counter "hotcache_cache_skipped" {"reason" = "write_hot"},
    /// Reads not cached because, the memory full, they were read less often
    /// than the entry they would have evicted, or not read before lately
    /// (cache-mode lfu).
    cache_admission_rejected: Counter "hotcache_cache_skipped" {"reason" = "admission"},
    /// Fills not installed because the key changed while the read was in flight.
    stale_fills_dropped: Counter "hotcache_stale_fills_dropped",
    /// Keys invalidated by writes through hotcache (before and after each write).
    invalidations_own_write: Counter "hotcache_invalidations" {"cause" = "own_write"},
    /// Keys invalidated by the tracking stream (writes made straight to Redis).
    invalidations_tracking: Counter "hotcache_invalidations" {"cause" = "tracking"},
    /// Everything dropped by FLUSHALL/FLUSHDB/SWAPDB, scripts, MULTI with unknown
    /// keys, or a null invalidation.
    invalidations_flush: Counter "hotcache_invalidations" {"cause" = "flush"},
    /// Everything dropped because the tracking connection broke or lagged.
    invalidations_reconnect: Counter "hotcache_invalidations" {"cause" = "reconnect"},
    /// Invalidation messages received.
    tracking_messages: Counter "hotcache_tracking_messages",
    /// Requests that went to an upstream in one write with others.
    upstream_batched_requests: Counter "hotcache_upstream_batched_requests",
    /// Cached entries evicted to stay within cache-max-memory (the store's count,
    /// copied after each fill; CONFIG RESETSTAT leaves it).
    cache_evictions: Counter "hotcache_cache_evictions",
    /// Entries in the cache (a gauge per thread).
    cache_entries: Gauge "hotcache_cache_entries",
    /// Bytes held by the cache (a gauge per thread).
    cache_bytes: Gauge "hotcache_cache_bytes",
}

/// Adds `n` to a counter owned by the calling thread.
#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    // Single writer: a plain load and store is enough and avoids a locked add.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Sets a gauge owned by the calling thread.
#[inline]
pub fn set(c: &AtomicU64, v: u64) {
    c.store(v, Relaxed);
}

/// Adds one to a counter owned by the calling thread.
#[inline]
pub fn inc(c: &AtomicU64) {
    add(c, 1);
}

/// Resident memory of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}
