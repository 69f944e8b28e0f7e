//! hotcache: a hot-key cache tier for Redis that speaks the Redis protocol.
//!
//! Clients talk to hotcache as they would to Redis; it forwards their commands to a
//! real Redis (or, with no upstream configured, to an embedded in-process origin)
//! and serves reads of hot keys from memory.
//!
//! # Map
//!
//! | module      | owns |
//! |-------------|------|
//! | [`protocol`]| RESP: the bounded, iterative client request parser (multibulk and inline), the reply framer that finds upstream reply boundaries, reply encoding for RESP2 and RESP3 |
//! | [`cmd`]     | the one command table: Redis's arity, flags and key specs (generated from a real server) and hotcache's routing for each command |
//! | [`origin`]  | the embedded origin: a small in-process Redis (strings, keyspace, hashes) used when no upstream is given |
//! | [`config`]  | every setting, declared once: defaults, validation, TOML file, `--flags`, CONFIG GET/SET |
//! | `server`    | listeners, the per-connection loop (pipelining, replies in request order), hotcache's own commands, client registry and limits, shutdown, how commands run against a cluster (split, fan-out, SCAN, transactions) |
//! | `cache`     | the hot-key tier: per-thread stores of cached replies, the epoch table that keeps them valid, singleflight, hot-key detection, the tracking connection |
//! | `resilience`| the circuit breaker per upstream node, the retry budget, rate-limited and allow-listed logging |
//! | `shard`     | one thread and current-thread runtime per core; `shard_for(key)` and running work on a key's shard |
//! | `tls`       | TLS to clients (`tls-port`) and to Redis (`rediss://`): certificates and keys, the rustls configurations, a session driven by hand over a readiness-based socket, the upstream stream type (plain or TLS) |
//! | `upstream`  | connections to the origin: shared pipelined connections per thread, node and protocol, dedicated connections for stateful clients, the handshake; a Redis Cluster's slot map, its refresher thread and MOVED/ASK redirection (`upstream::cluster`); a master found through Redis Sentinel, its resolver and listener threads, the failover fence (`upstream::sentinel`) |
//! | `stats`     | counters behind INFO (and Prometheus): declared once with their INFO and Prometheus names |
//! | `metrics`   | latency per command and class, upstream round trips and errors per node, SLOWLOG, the INFO sections made of them, Prometheus rendering, the HTTP endpoint and dashboard (which read the server only through `metrics::View`) |
//! | `users`     | Redis ACL users: who a connection is logged in as, the ACL generation, passwords Redis accepted (below both `upstream` and `cache`) |
//!
//! # Threads
//!
//! ```text
//!   clients ──► SO_REUSEPORT listener on every shard thread
//!                │             │                    │
//!        ┌───────▼──────┐ ┌────▼─────────┐   ┌──────▼───────┐
//!        │ shard 0      │ │ shard 1      │...│ shard N-1    │  one OS thread each,
//!        │ runtime      │ │ runtime      │   │ runtime      │  current-thread tokio
//!        │ connections  │ │ connections  │   │ connections  │  runtime + LocalSet
//!        │ upstream conn│ │ upstream conn│   │ upstream conn│  (Rc, no locks)
//!        └───────┬──────┘ └────┬─────────┘   └──────┬───────┘
//!                └─────────────┼────────────────────┘
//!                              ▼  few pipelined connections per thread
//!                      Redis (or the embedded origin)
//! ```
//!
//! A connection lives on the thread that accepted it for its whole life. Each
//! thread owns its upstream connections, so the request path takes no lock and
//! crosses no thread.

pub mod cmd;
pub mod config;
pub mod origin;
pub mod protocol;

#[cfg(feature = "server")]
pub mod cache;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod resilience;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod shard;
#[cfg(feature = "server")]
pub mod stats;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod upstream;
#[cfg(feature = "server")]
pub mod users;
