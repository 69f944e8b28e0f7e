//! Staying up when Redis does not: the circuit breaker per upstream node, the
//! retry budget, and rate-limited logging. Timeouts live with the connections
//! they bound (`upstream::pipe`), serve-stale with the cache.

pub mod breaker;
pub mod health;
pub mod logging;
pub mod retry;

pub use breaker::Breaker;
pub use health::{Health, Verdict};
