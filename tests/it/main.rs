//! Integration tests: one binary, so the crate is linked once.
//!
//! Every test starts its own real processes (redis-server, hotcache) on free
//! ports and waits for them to answer, never for a fixed time.

mod access;
mod acl;
mod admission;
mod cache;
mod checker;
mod client_tracking;
mod cluster;
mod cluster_common;
mod common;
mod config;
mod deploy;
mod differential;
mod embedded;
mod faultproxy;
mod faults;
mod hostile;
mod lifecycle;
mod malformed;
mod observability;
mod origin;
mod pipeline;
mod redis_rs;
mod resilience;
mod secrets;
mod sentinel;
mod state;
mod tls;
mod tools;
mod watchdog;
