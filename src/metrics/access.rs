//! Who may read the metrics endpoint, and what it shows of keys.
//!
//! The endpoint shows hot key names and upstream addresses, so by default it
//! listens on 127.0.0.1 only (`metrics-bind`). On top of that:
//! * `metrics-auth`: a token every request must carry, as `Authorization:
//!   Bearer <token>` (Prometheus's `authorization` setting) or `?token=<token>`
//!   (a browser; the dashboard passes its own on to the JSON it polls);
//! * the `Host` header must be an IP address, `localhost` or a name listed in
//!   `metrics-hosts`: a page on another site whose name was made to resolve
//!   to this address (DNS rebinding) names its own host and is refused;
//! * `metrics-hide-keys`: hot keys are shown as a hash of their name.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use crate::config::Config;

/// What a request head says about who sent it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The `Host` header's host, without its port.
    pub host: Option<String>,
    /// A bearer token, from `Authorization` or the query's `token`.
    pub token: Option<String>,
}

/// Reads the `Host` and `Authorization` headers of a request head, and the
/// `token` parameter of its target's query.
pub fn credentials(head: &[u8], target: &str) -> Credentials {
    let text = String::from_utf8_lossy(head);
    let mut out = Credentials::default();
    for line in text.split('\n').skip(1) {
        let line = line.trim_end_matches('\r');
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            out.host = Some(strip_port(value).to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("authorization")
            && let Some((scheme, token)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            out.token = Some(token.trim().to_string());
        }
    }
    if out.token.is_none()
        && let Some((_, query)) = target.split_once('?')
    {
        out.token = query.split('&').find_map(|p| p.strip_prefix("token=")).map(percent_decode);
    }
    out
}

/// `host:port`, `[v6]:port` or a bare host: the host.
fn strip_port(value: &str) -> &str {
    if let Some(v6) = value.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match value.rsplit_once(':') {
        // An IPv6 address without brackets has several colons: no port.
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => value,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or the wrong one (401).
    Token,
    /// A `Host` this endpoint does not answer to (403).
    Host,
}

/// Whether the request may be answered.
pub fn check(config: &Config, c: &Credentials) -> Result<(), Refusal> {
    if let Some(host) = &c.host {
        let ip = host.parse::<std::net::IpAddr>().is_ok();
        let listed = config.metrics_hosts.split_whitespace().any(|h| h.eq_ignore_ascii_case(host));
        if !(ip || host == "localhost" || listed) {
            return Err(Refusal::Host);
        }
    }
    let want = config.metrics_auth.as_bytes();
    if !want.is_empty() {
        let given = c.token.as_deref().unwrap_or("").as_bytes();
        if !same_secret(given, want) {
            return Err(Refusal::Token);
        }
    }
    Ok(())
}

/// Compares secrets without an early exit, so timing does not tell how much
/// matched.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A key as the dashboard shows it with `metrics-hide-keys`: a hash of its
/// name, the same for the life of the process (so a hot key can be followed)
/// and keyed by a per-process random seed (so names cannot be guessed from it).
pub fn hidden(key: &[u8]) -> String {
    static SEED: OnceLock<ahash::RandomState> = OnceLock::new();
    let mut h = SEED.get_or_init(ahash::RandomState::new).build_hasher();
    h.write(key);
    format!("key#{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: &str, hosts: &str) -> Config {
        Config { metrics_auth: auth.into(), metrics_hosts: hosts.into(), ..Config::default() }
    }

    #[test]
    fn headers_and_query() {
        let head =
            b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAuthorization: Bearer t0k\r\n";
        let c = credentials(head, "/api/stats");
        assert_eq!(c.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.token.as_deref(), Some("t0k"));
        let c = credentials(b"GET / HTTP/1.1\r\nhost: [::1]:80\r\n", "/?x=1&token=a%20b");
        assert_eq!(c.host.as_deref(), Some("::1"));
        assert_eq!(c.token.as_deref(), Some("a b"));
        let c = credentials(b"GET / HTTP/1.0", "/");
        assert_eq!(c, Credentials::default());
    }

    #[test]
    fn token_and_host_rules() {
        let ok = |h: Option<&str>, t: Option<&str>| Credentials {
            host: h.map(String::from),
            token: t.map(String::from),
        };
        let open = config("", "");
        assert_eq!(check(&open, &ok(Some("127.0.0.1"), None)), Ok(()));
        assert_eq!(check(&open, &ok(Some("localhost"), None)), Ok(()));
        assert_eq!(check(&open, &ok(None, None)), Ok(()), "no Host: not a browser");
        assert_eq!(check(&open, &ok(Some("evil.example"), None)), Err(Refusal::Host));
        let named = config("", "metrics.internal");
        assert_eq!(check(&named, &ok(Some("metrics.internal"), None)), Ok(()));
        let locked = config("s3cret", "");
        assert_eq!(check(&locked, &ok(Some("10.0.0.1"), None)), Err(Refusal::Token));
        assert_eq!(check(&locked, &ok(Some("10.0.0.1"), Some("nope"))), Err(Refusal::Token));
        assert_eq!(check(&locked, &ok(Some("10.0.0.1"), Some("s3cret"))), Ok(()));
    }

    #[test]
    fn hidden_keys_are_stable_and_not_the_name() {
        assert_eq!(hidden(b"user:42"), hidden(b"user:42"));
        assert_ne!(hidden(b"user:42"), hidden(b"user:43"));
        assert!(!hidden(b"user:42").contains("user"));
    }
}
