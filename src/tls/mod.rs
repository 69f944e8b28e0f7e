//! TLS: to clients (hotcache's `tls-port`) and to Redis (`rediss://`).
//!
//! rustls with the *ring* provider. Client connections are driven by hand
//! ([`session`]): the connection loop stays readiness-based on its
//! `TcpStream`, and TLS adds a decrypt step after each socket read and an
//! encrypt step before each write, with no task or lock of its own. Upstream
//! connections (pipelined, handshake, stall check) use `tokio-rustls` through
//! [`Stream`]; the tracking connection, which is read without waiting by
//! readiness, is driven by hand as the client side is; the cluster topology
//! reads and the connections to Redis Sentinel (queries and subscriptions, on
//! threads of their own) are blocking and use rustls's `StreamOwned`.
//!
//! | file | owns |
//! |------|------|
//! | `load.rs` | reading certificates, keys (encrypted ones too) and CA stores from PEM files |
//! | `server.rs` | the client-facing `ServerConfig` from the `tls-*` settings (protocols, ciphers, client certificates) |
//! | `client.rs` | [`UpstreamTls`] from the `upstream-tls-*` settings, and [`Stream`]: a connection to Redis, plain or TLS |
//! | `session.rs` | a rustls connection over a non-blocking socket: read and decrypt, encrypt and write, without waiting |

mod client;
mod load;
mod server;
pub mod session;

pub use client::{BlockingStream, ReadHalf, Stream, UpstreamTls, WriteHalf, connect_blocking};
pub use server::server_config;

/// Checks that the TLS files of `config` load (for `--check-config`):
/// the client-facing ones when `tls-port` is set, the upstream ones when an
/// upstream address is `rediss://` (or the sentinels are reached over TLS).
pub fn check(config: &crate::config::Config) -> Result<(), String> {
    if config.tls_port != 0 {
        server_config(config)?;
    }
    if config.upstream_tls_used() {
        UpstreamTls::new(config)?;
    }
    Ok(())
}
