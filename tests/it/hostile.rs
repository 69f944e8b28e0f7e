//! Safe under hostile clients (issue 12): what one client sends must not reach
//! another client or make the instance useless.
//!
//! * `config_ranges`: a setting out of its range is refused (at start, by
//!   `--check-config`, by CONFIG SET) with Redis's wording.

mod config_ranges;
