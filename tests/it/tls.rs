//! TLS to clients (`tls-port`, Redis's `tls-*` settings) and to Redis
//! (`rediss://`, `upstream-tls-*`), against real servers: redis-server with a
//! TLS port and certificates the tests make (a CA, a server certificate for
//! 127.0.0.1 and localhost, client certificates for mutual TLS), real clients
//! (redis-cli, redis-benchmark and redis-py with their TLS options) and a
//! rustls test client; a Sentinel set and a Redis Cluster with TLS on every
//! port hotcache reaches.

mod clients;
mod cluster;
mod harness;
mod sentinel;
mod upstream;
