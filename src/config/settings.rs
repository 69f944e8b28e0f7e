//! Every setting, declared once: name, type, default, doc, run-time changeable.

use super::{
    ByteSize, CacheMode, ClusterSeeds, CpuAffinity, LogFormat, OutputLimits, Param, Percentiles,
    Range, ReadFrom, SentinelAddrs, SentinelTls, TlsAuthClients, Upstream, Value, values,
};

settings! {
    /// Address to listen on.
    bind: String = "127.0.0.1".to_string(), "bind", runtime: false;
    /// Port to listen on for plain TCP clients; 0 listens on none (with `tls-port`,
    /// TLS clients only).
    port: u16 = 6380, "port", runtime: false, range: 0..=65535;
    /// Port to listen on for TLS clients (Redis's setting); 0 listens on none.
    tls_port: u16 = 0, "tls-port", runtime: false, range: 0..=65535;
    /// The server certificate shown to TLS clients: a PEM file, the chain from
    /// the server's own certificate up. CONFIG SET of any `tls-*` setting loads
    /// the files again: new connections use them, open ones keep theirs.
    tls_cert_file: String = String::new(), "tls-cert-file", runtime: true;
    /// The private key of `tls-cert-file` (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    tls_key_file: String = String::new(), "tls-key-file", runtime: true;
    /// The passphrase of an encrypted `tls-key-file` (PKCS#8 `ENCRYPTED PRIVATE KEY`).
    tls_key_file_pass: String = String::new(), "tls-key-file-pass", runtime: true;
    /// CA certificates (PEM) that client certificates must chain to.
    tls_ca_cert_file: String = String::new(), "tls-ca-cert-file", runtime: true;
    /// A directory of CA certificates (every PEM file in it), as `tls-ca-cert-file`.
    tls_ca_cert_dir: String = String::new(), "tls-ca-cert-dir", runtime: true;
    /// Whether TLS clients must show a certificate signed by the CA: `yes` (as
    /// Redis, the default), `no`, or `optional` (verified if shown).
    tls_auth_clients: TlsAuthClients = TlsAuthClients::Yes, "tls-auth-clients", runtime: true;
    /// TLS versions offered, space separated: `TLSv1.2`, `TLSv1.3`; empty: both.
    /// (`TLSv1` and `TLSv1.1` are accepted in the list and never offered.)
    tls_protocols: String = String::new(), "tls-protocols", runtime: true;
    /// TLS 1.2 cipher suites, OpenSSL's or IANA's names separated by `:`
    /// (`ECDHE-RSA-AES128-GCM-SHA256:...`); empty: every suite hotcache has.
    tls_ciphers: String = String::new(), "tls-ciphers", runtime: true;
    /// TLS 1.3 cipher suites, separated by `:` (`TLS_AES_256_GCM_SHA384:...`);
    /// empty: all three.
    tls_ciphersuites: String = String::new(), "tls-ciphersuites", runtime: true;
    /// The Redis to forward to, `redis://[user:pass@]host:port[/db]`, or
    /// `rediss://...` for TLS. Empty: serve from the embedded in-process origin.
    upstream: Upstream = Upstream::Embedded, "upstream", runtime: false;
    /// A Redis Cluster to front instead of one Redis: seed nodes,
    /// `redis://[user:pass@]host:port[,host:port...]` (`rediss://` for TLS to
    /// every node). Empty: no cluster.
    cluster: ClusterSeeds = ClusterSeeds::default(), "cluster", runtime: false;
    /// With a `rediss://` upstream: CA certificates (PEM) Redis's certificate
    /// must chain to; empty: the system's CA store.
    upstream_tls_ca_cert_file: String = String::new(), "upstream-tls-ca-cert-file", runtime: false;
    /// With a `rediss://` upstream: the certificate (PEM) hotcache shows Redis
    /// (mutual TLS, Redis's `tls-auth-clients`); empty: none.
    upstream_tls_cert_file: String = String::new(), "upstream-tls-cert-file", runtime: false;
    /// The private key of `upstream-tls-cert-file`.
    upstream_tls_key_file: String = String::new(), "upstream-tls-key-file", runtime: false;
    /// The passphrase of an encrypted `upstream-tls-key-file`.
    upstream_tls_key_file_pass: String = String::new(), "upstream-tls-key-file-pass", runtime: false;
    /// The name sent as SNI and verified in Redis's certificate; empty: the host
    /// of each address connected to.
    upstream_tls_server_name: String = String::new(), "upstream-tls-server-name", runtime: false;
    /// Milliseconds between periodic refreshes of the cluster's slot map (it is
    /// also refreshed on MOVED and on connection failures).
    cluster_refresh_interval: u64 = 5000, "cluster-refresh-interval", runtime: false, range: 100..=3600000;
    /// Redis Sentinel instances to ask for the master instead of one `upstream`:
    /// `redis://[user:pass@]host:port[,host:port...][/db]` (`rediss://`: the
    /// master and its replicas over TLS, and the sentinels too unless
    /// `sentinel-tls no`). The user, password and db are the master's (and its
    /// replicas'), as in `upstream`; the sentinels' own are `sentinel-username`
    /// and `sentinel-password`. A port left out is 26379. Empty: no Sentinel.
    sentinel: SentinelAddrs = SentinelAddrs::default(), "sentinel", runtime: false;
    /// The name the sentinels monitor the master by (`sentinel monitor <name> ...`).
    sentinel_master: String = String::new(), "sentinel-master", runtime: false;
    /// User to AUTH with on the sentinels (empty: the default user).
    sentinel_username: String = String::new(), "sentinel-username", runtime: false;
    /// Password of the sentinels themselves (empty: none).
    sentinel_password: String = String::new(), "sentinel-password", runtime: false;
    /// Whether the sentinels themselves are reached over TLS: `auto` (as the
    /// master: the scheme of `sentinel`), `yes` or `no`. The `upstream-tls-*`
    /// settings apply to them as to the master.
    sentinel_tls: SentinelTls = SentinelTls::Auto, "sentinel-tls", runtime: false;
    /// Where reads go with a cluster or Sentinel: `master`, or `replica` (a
    /// replica of the master: with a cluster, READONLY connections to a replica
    /// of the slot's master; with Sentinel, one the sentinels list as healthy
    /// and replicating from the master). Replicas lag; tracking covers them too.
    read_from: ReadFrom = ReadFrom::Master, "read-from", runtime: false;
    /// Shard threads; 0 means one per core.
    threads: usize = 0, "threads", runtime: false, range: 0..=1024;
    /// Which CPU each shard thread runs on: `off` (the kernel decides), `auto`
    /// (with one shard per CPU the process may use, as `threads 0` gives, shard
    /// i on the i-th CPU; fewer shards are left unpinned), or a list in
    /// Redis's `server-cpulist` syntax (`0-3,8`, `0-7:2`), used in order.
    cpu_affinity: CpuAffinity = CpuAffinity::Off, "cpu-affinity", runtime: false;
    /// Password clients must AUTH with; empty means none.
    requirepass: String = String::new(), "requirepass", runtime: true;
    /// Most clients connected at once; more get "ERR max number of clients reached".
    maxclients: usize = 10000, "maxclients", runtime: true, range: 1..=4294967295;
    /// Close a client idle for this many seconds; 0 never does.
    timeout: u64 = 0, "timeout", runtime: true, range: 0..=2147483647;
    /// TCP keepalive period for client connections, in seconds; 0 turns it off.
    tcp_keepalive: u64 = 300, "tcp-keepalive", runtime: false, range: 0..=2147483647;
    /// Close a client owed too many reply bytes it has not read, in Redis's syntax:
    /// `<class> <hard> <soft> <soft seconds>` for the classes normal, replica and
    /// pubsub (subscribers); over the hard limit it is closed at once, over the
    /// soft one for longer than its seconds too; 0 turns a limit off. A size alone
    /// is the normal class's hard limit.
    client_output_buffer_limit: OutputLimits = OutputLimits::default(), "client-output-buffer-limit", runtime: true;
    /// Close a client whose unparsed input exceeds this many bytes (Redis's limit).
    client_query_buffer_limit: ByteSize = ByteSize(1 << 30), "client-query-buffer-limit", runtime: true, range: 1048576..=9223372036854775807;
    /// Longest bulk argument a client may send (Redis's limit).
    proto_max_bulk_len: ByteSize = ByteSize(512 << 20), "proto-max-bulk-len", runtime: true, range: 1048576..=9223372036854775807;
    /// Shared pipelined upstream connections per thread and protocol version.
    upstream_connections: usize = 1, "upstream-connections", runtime: false, range: 1..=64;
    /// Idle dedicated upstream connections kept per thread for reuse.
    upstream_pool_size: usize = 8, "upstream-pool-size", runtime: true, range: 0..=10000;
    /// Milliseconds to wait for an upstream connection to be made and ready.
    upstream_connect_timeout: u64 = 2000, "upstream-connect-timeout", runtime: true, range: 10..=600000;
    /// Seconds to finish replies in flight after SIGINT/SIGTERM before closing.
    shutdown_timeout: u64 = 10, "shutdown-timeout", runtime: false, range: 0..=2147483647;
    /// Log level: error, warn, info, debug or trace (CONFIG SET hotcache.loglevel
    /// changes it at run time).
    loglevel: String = "info".to_string(), "loglevel", runtime: true;
    /// Log format: text or json.
    log_format: LogFormat = LogFormat::Text, "log-format", runtime: false;

    /// What the local cache keeps: `lfu` (every cacheable read is a candidate;
    /// once the memory is full a frequency sketch decides, TinyLFU; write-hot keys
    /// are not cached), `hot` (keys read at least `hotkey-threshold` times per
    /// second), `all` (every cacheable reply, evicted by policy) or `off`.
    cache_mode: CacheMode = CacheMode::Lfu, "cache-mode", runtime: true;
    /// Memory for cached replies, in bytes, across all threads.
    cache_max_memory: ByteSize = ByteSize(256 << 20), "cache-max-memory", runtime: true, range: 0..=9223372036854775807;
    /// Replies larger than this are never cached (concurrent reads of them still
    /// share one upstream read).
    cache_max_entry_size: ByteSize = ByteSize(512 << 10), "cache-max-entry-size", runtime: true, range: 0..=9223372036854775807;
    /// Longest life of a cached reply, in milliseconds (never longer than the key's
    /// own TTL in Redis).
    cache_ttl: u64 = 5000, "cache-ttl", runtime: true, range: 1..=86400000;
    /// Random spread of `cache-ttl`, in percent, so entries cached together do not
    /// expire together.
    cache_ttl_jitter: u64 = 10, "cache-ttl-jitter", runtime: true, range: 0..=50;
    /// Life of a cached "no such key" reply, in milliseconds (below `cache-ttl`).
    negative_ttl: u64 = 1000, "negative-ttl", runtime: true, range: 0..=86400000;
    /// Reads per second of one key that make it hot (admitted with `cache-mode
    /// hot`; never the eviction victim with `lfu`).
    hotkey_threshold: u64 = 100, "hotkey-threshold", runtime: true, range: 0..=1000000000;
    /// The window hot-key rates are measured over, in milliseconds.
    hotkey_window: u64 = 1000, "hotkey-window", runtime: false, range: 100..=3600000;
    /// Keys each thread's hot-key detector keeps in its top list.
    hotkey_topk: usize = 256, "hotkey-topk", runtime: false, range: 1..=100000;
    /// See writes made by other clients straight to Redis through CLIENT TRACKING
    /// (BCAST). With `no`, only `cache-ttl` bounds how stale a cached reply can be.
    cache_tracking: bool = true, "cache-tracking", runtime: false;
    /// Key prefixes to track (space separated); empty tracks every key.
    cache_tracking_prefixes: String = String::new(), "cache-tracking-prefixes", runtime: false;
    /// Milliseconds without an answer on the tracking connection after which it is
    /// treated as broken: everything cached is dropped and it reconnects.
    cache_tracking_timeout: u64 = 1000, "cache-tracking-timeout", runtime: false, range: 100..=600000;
    /// Most clients waiting on one in-flight upstream read.
    singleflight_max_waiters: usize = 10000, "singleflight-max-waiters", runtime: true, range: 0..=1000000;
    /// An in-flight read older than this many milliseconds takes no new waiters.
    singleflight_timeout: u64 = 5000, "singleflight-timeout", runtime: true, range: 0..=600000;
    /// Milliseconds a request may wait with no reply arriving on its connection
    /// before the connection counts as failed (it is closed, its requests get an
    /// error). Blocking commands (BLPOP, WAIT, XREAD BLOCK ...) are bounded by
    /// their own timeout instead, scripts (EVAL, FCALL ...) by none.
    upstream_timeout: u64 = 5000, "upstream-timeout", runtime: true, range: 100..=3600000;
    /// Milliseconds a request may wait with no reply arriving on its connection
    /// before hotcache checks the node with a PING on a connection of its own;
    /// a node that does not answer that PING within as long again is stalled:
    /// its breaker opens and requests waiting on it fail at once, instead of
    /// each waiting out `upstream-timeout`. A node running a script, or a
    /// command whose cost grows with the data (SORT, SUNION, LRANGE, HGETALL
    /// ...), sent through hotcache is busy, not stalled. 0 turns the check off.
    upstream_stall_timeout: u64 = 1000, "upstream-stall-timeout", runtime: true, range: 0..=3600000;
    /// Most requests waiting for replies on one upstream connection; past it,
    /// requests fail at once instead of queueing without bound: those of
    /// clients holding 1/16 of it or more (one client cannot fill the
    /// connection for everyone); the others' up to twice it.
    upstream_max_inflight: usize = 100_000, "upstream-max-inflight", runtime: true, range: 1..=100000000;
    /// Consecutive upstream failures that open the circuit breaker.
    breaker_failures: u64 = 5, "breaker-failures", runtime: true, range: 1..=1000000;
    /// Percent of failures among outcomes (connection failures and replies) in
    /// a window that opens the breaker.
    breaker_error_rate: u64 = 50, "breaker-error-rate", runtime: true, range: 1..=100;
    /// Outcomes a window needs before its error rate counts.
    breaker_min_requests: u64 = 20, "breaker-min-requests", runtime: true, range: 1..=1000000000;
    /// The breaker's counting window, in milliseconds.
    breaker_window: u64 = 10_000, "breaker-window", runtime: true, range: 100..=3600000;
    /// Milliseconds an open breaker refuses requests before it probes.
    breaker_open_time: u64 = 500, "breaker-open-time", runtime: true, range: 10..=600000;
    /// Requests let through when half open; all must succeed to close it.
    breaker_probes: u64 = 3, "breaker-probes", runtime: true, range: 1..=1000;
    /// Retries of a read whose upstream connection failed (0: none).
    retries: u64 = 1, "retries", runtime: true, range: 0..=10;
    /// Backoff before the first retry, in milliseconds; doubles after each, with
    /// jitter.
    retry_backoff: u64 = 10, "retry-backoff", runtime: true, range: 0..=10000;
    /// Retries as a percent of requests, at most, over time.
    retry_budget: u64 = 10, "retry-budget", runtime: true, range: 0..=1000;
    /// While an upstream is degraded (its breaker not closed), serve cached
    /// replies past their TTL, or whose tracking stream was lost, for up to
    /// `stale-grace`. Never a reply a write invalidated. Off by default.
    serve_stale: bool = false, "serve-stale", runtime: true;
    /// How long past its TTL a reply may be served stale, in milliseconds.
    stale_grace: u64 = 60_000, "stale-grace", runtime: true, range: 0..=86400000;
    /// Commands refused while the upstream is degraded (space separated, e.g.
    /// "keys scan").
    degrade_commands: String = String::new(), "degrade-commands", runtime: true;
    /// Lines per second each rate-limited log site may write.
    log_rate: u64 = 1, "log-rate", runtime: true, range: 1..=1000000;
    /// Client names and keys whose commands are logged in full (space separated).
    log_allowlist: String = String::new(), "log-allowlist", runtime: true;
    /// Keep a latency histogram per command for INFO latencystats (hotcache's own:
    /// from a command's arrival to its reply being queued).
    latency_tracking: bool = true, "latency-tracking", runtime: true;
    /// The percentiles INFO latencystats shows (space separated, 0 to 100).
    latency_tracking_info_percentiles: Percentiles = Percentiles::default(), "latency-tracking-info-percentiles", runtime: true;
    /// Log requests whose upstream round trip takes longer than this many
    /// microseconds in SLOWLOG; 0 logs every request, -1 none.
    slowlog_log_slower_than: i64 = 10_000, "slowlog-log-slower-than", runtime: true, range: -1..=9223372036854775807;
    /// Most entries SLOWLOG keeps.
    slowlog_max_len: u64 = 128, "slowlog-max-len", runtime: true, range: 0..=9223372036854775807;
    /// Most keys the tracking tables of clients whose CLIENT TRACKING hotcache
    /// serves may hold, over all threads (Redis's setting): past it, keys are
    /// dropped from the table and invalidated for the clients that read them;
    /// 0 means no limit.
    tracking_table_max_keys: u64 = 1_000_000, "tracking-table-max-keys", runtime: true, range: 0..=9223372036854775807;
    /// Port of the HTTP endpoint serving Prometheus metrics (`/metrics`) and the
    /// dashboard (`/`); 0 turns it off.
    metrics_port: u16 = 0, "metrics-port", runtime: false, range: 0..=65535;
    /// Address the metrics endpoint listens on.
    metrics_bind: String = "127.0.0.1".to_string(), "metrics-bind", runtime: false;
    /// A token every request to the metrics endpoint must carry, as
    /// `Authorization: Bearer <token>` or `?token=<token>`; empty: none.
    metrics_auth: String = String::new(), "metrics-auth", runtime: true;
    /// Host names the metrics endpoint answers to besides IP addresses and
    /// `localhost` (space separated): a request naming another host is refused
    /// (so a page elsewhere cannot read it through DNS rebinding).
    metrics_hosts: String = String::new(), "metrics-hosts", runtime: true;
    /// Show hot keys on the dashboard and in `/api/stats` as a hash of their
    /// name instead of the name.
    metrics_hide_keys: bool = false, "metrics-hide-keys", runtime: true;
    /// Enables HOTCACHE.DEBUG, used by the test suite to hold a cache fill. Never
    /// turn it on in production.
    enable_test_hooks: bool = false, "enable-test-hooks", runtime: false;
}
