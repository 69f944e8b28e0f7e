//! One client never hurts the others (ARCHITECTURE.md rule 10): what a single
//! ordinary client sends or fails to read stays that client's problem. Each
//! test here reproduces one way a client could stall or break hotcache for
//! everybody, against a real redis-server.

mod deep_reply;
mod memory;
mod output_limit;
mod scripts;
mod stall;

use crate::cache::info_field;
use crate::common::RawClient;

/// A counter of `INFO hotcache`.
pub fn stat(c: &mut RawClient, field: &str) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), field)
}
