//! Every setting, declared once: name, type, default, doc, run-time changeable.

use super::{ByteSize, CacheMode, LogFormat, Param, Upstream, Value};

settings! {
    /// Address to listen on.
    bind: String = "127.0.0.1".to_string(), "bind", runtime: false;
    /// Port to listen on.
    port: u16 = 6380, "port", runtime: false;
    /// The Redis to forward to, `redis://[user:pass@]host:port[/db]`. Empty: serve
    /// from the embedded in-process origin.
    upstream: Upstream = Upstream::Embedded, "upstream", runtime: false;
    /// Shard threads; 0 means one per core.
    threads: usize = 0, "threads", runtime: false;
    /// Password clients must AUTH with; empty means none.
    requirepass: String = String::new(), "requirepass", runtime: true;
    /// Most clients connected at once; more get "ERR max number of clients reached".
    maxclients: usize = 10000, "maxclients", runtime: true;
    /// Close a client idle for this many seconds; 0 never does.
    timeout: u64 = 0, "timeout", runtime: true;
    /// TCP keepalive period for client connections, in seconds; 0 turns it off.
    tcp_keepalive: u64 = 300, "tcp-keepalive", runtime: false;
    /// Close a client whose unsent replies exceed this many bytes; 0 means no limit.
    client_output_buffer_limit: ByteSize = ByteSize(256 << 20), "client-output-buffer-limit", runtime: true;
    /// Close a client whose unparsed input exceeds this many bytes (Redis's limit).
    client_query_buffer_limit: ByteSize = ByteSize(1 << 30), "client-query-buffer-limit", runtime: true;
    /// Longest bulk argument a client may send (Redis's limit).
    proto_max_bulk_len: ByteSize = ByteSize(512 << 20), "proto-max-bulk-len", runtime: true;
    /// Shared pipelined upstream connections per thread and protocol version.
    upstream_connections: usize = 1, "upstream-connections", runtime: false;
    /// Idle dedicated upstream connections kept per thread for reuse.
    upstream_pool_size: usize = 8, "upstream-pool-size", runtime: true;
    /// Milliseconds to wait for an upstream connection to be made and ready.
    upstream_connect_timeout: u64 = 2000, "upstream-connect-timeout", runtime: true;
    /// Seconds to finish replies in flight after SIGINT/SIGTERM before closing.
    shutdown_timeout: u64 = 10, "shutdown-timeout", runtime: false;
    /// Log level: error, warn, info, debug or trace.
    loglevel: String = "info".to_string(), "loglevel", runtime: false;
    /// Log format: text or json.
    log_format: LogFormat = LogFormat::Text, "log-format", runtime: false;

    /// What the local cache keeps: `hot` (keys read at least `hotkey-threshold`
    /// times per second), `all` (every cacheable reply, evicted by policy) or `off`.
    cache_mode: CacheMode = CacheMode::Hot, "cache-mode", runtime: true;
    /// Memory for cached replies, in bytes, across all threads.
    cache_max_memory: ByteSize = ByteSize(256 << 20), "cache-max-memory", runtime: true;
    /// Replies larger than this are never cached.
    cache_max_entry_size: ByteSize = ByteSize(512 << 10), "cache-max-entry-size", runtime: true;
    /// Longest life of a cached reply, in milliseconds (never longer than the key's
    /// own TTL in Redis).
    cache_ttl: u64 = 5000, "cache-ttl", runtime: true;
    /// Random spread of `cache-ttl`, in percent, so entries cached together do not
    /// expire together.
    cache_ttl_jitter: u64 = 10, "cache-ttl-jitter", runtime: true;
    /// Life of a cached "no such key" reply, in milliseconds (below `cache-ttl`).
    negative_ttl: u64 = 1000, "negative-ttl", runtime: true;
    /// Reads per second of one key that make it hot (for `cache-mode hot`).
    hotkey_threshold: u64 = 100, "hotkey-threshold", runtime: true;
    /// The window hot-key rates are measured over, in milliseconds.
    hotkey_window: u64 = 1000, "hotkey-window", runtime: false;
    /// Keys each thread's hot-key detector keeps in its top list.
    hotkey_topk: usize = 256, "hotkey-topk", runtime: false;
    /// See writes made by other clients straight to Redis through CLIENT TRACKING
    /// (BCAST). With `no`, only `cache-ttl` bounds how stale a cached reply can be.
    cache_tracking: bool = true, "cache-tracking", runtime: false;
    /// Key prefixes to track (space separated); empty tracks every key.
    cache_tracking_prefixes: String = String::new(), "cache-tracking-prefixes", runtime: false;
    /// Milliseconds without an answer on the tracking connection after which it is
    /// treated as broken: everything cached is dropped and it reconnects.
    cache_tracking_timeout: u64 = 1000, "cache-tracking-timeout", runtime: false;
    /// Most clients waiting on one in-flight upstream read.
    singleflight_max_waiters: usize = 10000, "singleflight-max-waiters", runtime: true;
    /// An in-flight read older than this many milliseconds takes no new waiters.
    singleflight_timeout: u64 = 5000, "singleflight-timeout", runtime: true;
    /// Enables HOTCACHE.DEBUG, used by the test suite to hold a cache fill. Never
    /// turn it on in production.
    enable_test_hooks: bool = false, "enable-test-hooks", runtime: false;
}
