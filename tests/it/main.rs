//! Integration tests: one binary, so the crate is linked once.
//!
//! Every test starts its own real processes (redis-server, hotcache) on free
//! ports and waits for them to answer, never for a fixed time.

mod common;
mod differential;
mod malformed;
