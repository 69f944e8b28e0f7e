//! Safe under hostile clients (issue 12): what one client sends must not reach
//! another client or make the instance useless.
//!
//! * `config_ranges`: a setting out of its range is refused (at start, by
//!   `--check-config`, by CONFIG SET) with Redis's wording.
//! * `rewrite`: CONFIG REWRITE writes any value so that the file loads again,
//!   also after a value with a newline.

mod config_ranges;
mod rewrite;
