//! Safe under hostile clients (issue 12): what one client sends must not reach
//! another client or make the instance useless.
//!
//! * `client_ids`: commands that name clients (CLIENT UNBLOCK, KILL, TRACKING
//!   REDIRECT, GETREDIR, TRACKINGINFO, LIST ID) speak hotcache's ids and reach
//!   only hotcache's own clients, in MULTI and from relayed clients too.
//! * `config_ranges`: a setting out of its range is refused (at start, by
//!   `--check-config`, by CONFIG SET) with Redis's wording.
//! * `rewrite`: CONFIG REWRITE writes any value so that the file loads again,
//!   also after a value with a newline.
//! * `swapdb`: SWAPDB through hotcache is never served from before; made
//!   elsewhere, it is seen within `cache-ttl` (Redis sends nothing for it).

mod client_ids;
mod config_ranges;
mod rewrite;
mod swapdb;
