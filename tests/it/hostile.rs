//! One client never hurts the others (ARCHITECTURE.md rule 10): what a single
//! ordinary client sends or fails to read stays that client's problem, and
//! cannot reach another client or make the instance useless. Each test
//! reproduces one way a client could stall or break hotcache for everybody,
//! against a real redis-server.
//!
//! * `output_limit`: a client that does not read is closed at its output
//!   buffer limit (Redis's classes), whatever path its replies took.
//! * `deep_reply`: a reply nested deeper than hotcache used to frame passes
//!   through and keeps the shared connection.
//! * `scripts`: SCRIPT KILL / FUNCTION KILL reach Redis at once, others hear
//!   BUSY, a handshake that meets BUSY waits.
//! * `client_ids`: commands that name clients (CLIENT UNBLOCK, KILL, TRACKING
//!   REDIRECT, GETREDIR, TRACKINGINFO, LIST ID) speak hotcache's ids and reach
//!   only hotcache's own clients, in MULTI and from relayed clients too.
//! * `config_ranges`: a setting out of its range is refused (at start, by
//!   `--check-config`, by CONFIG SET) with Redis's wording.
//! * `memory`: buffers of large requests go back to the system.
//! * `rewrite`: CONFIG REWRITE writes any value so that the file loads again,
//!   also after a value with a newline.
//! * `swapdb`: SWAPDB through hotcache is never served from before; made
//!   elsewhere, it is seen within `cache-ttl` (Redis sends nothing for it).
//! * `shedding`: a client that fills the shared upstream connection has its
//!   own requests refused, not everyone's.
//! * `stall`: a stopped Redis is found by the stall check, not by waiting out
//!   `upstream-timeout`.

mod big_request;
mod blocked;
mod client_ids;
mod config_ranges;
mod deep_reply;
mod memory;
mod output_limit;
mod rewrite;
mod scripts;
mod shedding;
mod stall;
mod swapdb;

use crate::cache::info_field;
use crate::common::RawClient;

/// A counter of `INFO hotcache`.
pub fn stat(c: &mut RawClient, field: &str) -> u64 {
    info_field(&c.cmd_str(&["INFO", "hotcache"]), field)
}
