//! The `sentinel` setting: the Redis Sentinel instances to ask for the master,
//! and the credentials and database of the master they name.
//!
//! All parsing of a sentinel address list is here: each address goes through
//! [`Upstream::parse`], the one parser of a Redis URL, so a new scheme
//! (`rediss://`) added there is one change here too.

use super::upstream::Upstream;
use super::url::percent_encode;
use super::{Value, mask_urls};

/// Redis Sentinel's port, taken when an address names none.
pub const SENTINEL_PORT: u16 = 26379;

/// `[redis[s]://][user:pass@]host:port[,host:port...][/db]` (empty: no Sentinel).
///
/// `rediss://` puts the master and its replicas behind TLS, as `upstream`'s
/// scheme does (and, by default, the sentinels: `sentinel-tls`).
///
/// The sentinels are the addresses; the user, password and database are the
/// master's (and its replicas'), as in `upstream`'s URL. The sentinels' own
/// credentials are separate settings (`sentinel-username`,
/// `sentinel-password`), as in redis-py's `sentinel_kwargs` and go-redis's
/// `SentinelPassword`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentinelAddrs {
    /// `host:port` of each sentinel, in the order given (asked in that order).
    pub addrs: Vec<String>,
    /// The master's user and password.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The database clients start in on the master and replicas.
    pub db: u32,
    /// `rediss://`: the master and replicas are reached over TLS.
    pub tls: bool,
}

impl SentinelAddrs {
    pub fn is_on(&self) -> bool {
        !self.addrs.is_empty()
    }
}

/// True if `host` (`h`, `h:p`, `[v6]`, `[v6]:p`, maybe with `/db`) names a port.
fn names_port(host: &str) -> bool {
    let host = host.split('/').next().unwrap_or(host);
    match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').is_some_and(|(_, rest)| rest.starts_with(':')),
        None => host.contains(':'),
    }
}

impl Value for SentinelAddrs {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        // What errors show of the value: never its password.
        let shown = mask_urls(s);
        let (scheme, rest) = match (s.strip_prefix("redis://"), s.strip_prefix("rediss://")) {
            (Some(r), _) => ("redis://", r),
            (_, Some(r)) => ("rediss://", r),
            _ if s.contains("://") => {
                return Err(format!("'{shown}' is not a redis:// or rediss:// URL"));
            }
            _ => ("redis://", s),
        };
        // Credentials, if any, come once before the first host.
        let (auth, hosts) = match rest.split_once('@') {
            Some((a, h)) if !a.contains(',') => (Some(a), h),
            _ => (None, rest),
        };
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        let mut out = Self::default();
        for (i, host) in hosts.iter().enumerate() {
            let host = match host.split_once("://") {
                Some((h, _)) if format!("{h}://") != scheme => {
                    return Err(format!("'{shown}' mixes redis:// and rediss:// addresses"));
                }
                Some((_, rest)) => rest,
                None => host,
            };
            if host.is_empty() {
                return Err(format!("'{shown}' has an empty sentinel address"));
            }
            if host.contains('/') && i + 1 < hosts.len() {
                return Err(format!("'{shown}': the database goes after the last address"));
            }
            let host = if names_port(host) {
                host.to_string()
            } else {
                // Sentinel's own port, before any `/db`.
                match host.split_once('/') {
                    Some((h, db)) => format!("{h}:{SENTINEL_PORT}/{db}"),
                    None => format!("{host}:{SENTINEL_PORT}"),
                }
            };
            let url = match auth {
                Some(a) => format!("{scheme}{a}@{host}"),
                None => format!("{scheme}{host}"),
            };
            let up = Upstream::parse(&url)?;
            let Upstream::Redis { user, password, db, tls, .. } = &up else {
                return Err(format!("'{shown}' has an empty sentinel address"));
            };
            out.user = user.clone();
            out.password = password.clone();
            out.db = *db;
            out.tls = *tls;
            let addr = up.addr().unwrap_or_default();
            if out.addrs.contains(&addr) {
                return Err(format!("'{shown}' names {addr} twice"));
            }
            out.addrs.push(addr);
        }
        Ok(out)
    }

    fn show(&self) -> String {
        if self.addrs.is_empty() {
            return String::new();
        }
        let auth = match (&self.user, &self.password) {
            (Some(u), Some(p)) => format!("{}:{}@", percent_encode(u), percent_encode(p)),
            (None, Some(p)) => format!(":{}@", percent_encode(p)),
            _ => String::new(),
        };
        let db = if self.db == 0 { String::new() } else { format!("/{}", self.db) };
        let scheme = if self.tls { "rediss://" } else { "redis://" };
        format!("{scheme}{auth}{}{db}", self.addrs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_addresses() {
        let s = SentinelAddrs::parse("redis://u:p%40ss@h1:26380,h2/3").expect("valid");
        assert_eq!(s.addrs, vec!["h1:26380".to_string(), "h2:26379".to_string()]);
        assert_eq!((s.user.as_deref(), s.password.as_deref(), s.db), (Some("u"), Some("p@ss"), 3));
        assert_eq!(SentinelAddrs::parse(&s.show()), Ok(s));
        // Without the scheme, without credentials.
        let s = SentinelAddrs::parse("10.0.0.1:26379, 10.0.0.2:26379").expect("valid");
        assert_eq!(s.addrs.len(), 2);
        assert_eq!((s.user, s.password, s.db), (None, None, 0));
        let s = SentinelAddrs::parse("redis://:pw@[::1],[::1]:5").expect("valid");
        assert_eq!(s.addrs, vec!["[::1]:26379".to_string(), "[::1]:5".to_string()]);
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(SentinelAddrs::parse(&s.show()), Ok(s));
        assert!(!SentinelAddrs::parse("").expect("empty").is_on());
        assert!(SentinelAddrs::parse("redis://a:1/2,b:2").is_err());
        assert!(SentinelAddrs::parse("redis://a:1,,b:2").is_err());
        assert!(SentinelAddrs::parse("a:1,a:1").is_err());
        assert!(SentinelAddrs::parse("a:x").is_err());
        // TLS: every address, the scheme kept.
        let s = SentinelAddrs::parse("rediss://:pw@a:1,rediss://b").expect("valid");
        assert!(s.tls);
        assert_eq!(s.addrs, vec!["a:1".to_string(), "b:26379".to_string()]);
        assert_eq!(s.show(), "rediss://:pw@a:1,b:26379");
        assert_eq!(SentinelAddrs::parse(&s.show()), Ok(s));
        assert!(!SentinelAddrs::parse("redis://a:1").expect("valid").tls);
        assert!(
            SentinelAddrs::parse("rediss://a:1,redis://b:2").is_err_and(|e| e.contains("mixes"))
        );
        assert!(SentinelAddrs::parse("redis://a:1,rediss://b:2").is_err());
        assert!(SentinelAddrs::parse("http://a:1").is_err());
        // Errors never show the password.
        for bad in ["redis://u:s3cret@a:1,,b:2", "redis://:s3cret@a:x", "rediss://u:s3cret@a:1,,b"]
        {
            let e = SentinelAddrs::parse(bad).expect_err("refused");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
