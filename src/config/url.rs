//! Redis addresses written as URLs: `redis://` for plain TCP, `rediss://` for
//! TLS, with user info and a db. One parser for every setting that names a
//! Redis (`upstream`, `cluster`, and whatever else comes to need one), so they
//! all read and show the same syntax.

/// One Redis address: `redis[s]://[[user]:password@]host[:port][/db]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl {
    /// `rediss://`: connections to it use TLS (see the `upstream-tls-*` settings).
    pub tls: bool,
    /// A name or an address; an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

/// A list of Redis addresses sharing one scheme and one set of credentials:
/// `redis[s]://[user:pass@]host:port[,host:port...]` (each entry may repeat the
/// scheme, which must then be the same).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisUrlList {
    pub tls: bool,
    /// `host:port` of each entry, IPv6 hosts in brackets.
    pub addrs: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// The scheme of `s` (`redis://` or `rediss://`) and what follows it.
fn split_scheme(s: &str) -> Result<(bool, &str), String> {
    if let Some(rest) = s.strip_prefix("rediss://") {
        Ok((true, rest))
    } else if let Some(rest) = s.strip_prefix("redis://") {
        Ok((false, rest))
    } else {
        Err(format!("'{}' is not a redis:// or rediss:// URL", super::secrets::mask_url_like(s)))
    }
}

impl RedisUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (tls, rest) = split_scheme(s)?;
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (hostport, db) = match hostpart.split_once('/') {
            Some((hp, "")) => (hp, 0),
            Some((hp, db)) => (hp, db.parse::<u32>().map_err(|_| format!("bad db '{db}'"))?),
            None => (hostpart, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or("unclosed [ in host")?;
            (h.to_string(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (hostport.to_string(), ""),
            }
        };
        if host.is_empty() {
            return Err(format!("'{}' has no host", super::mask_urls(s)));
        }
        let port = if port.is_empty() {
            6379
        } else {
            port.parse::<u16>().map_err(|_| format!("bad port '{port}'"))?
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (
                    if u.is_empty() { None } else { Some(percent_decode(u)?) },
                    Some(percent_decode(p)?),
                ),
                None => (None, Some(percent_decode(a)?)),
            },
        };
        Ok(Self { tls, host, port, user, password, db })
    }

    /// `host:port`, an IPv6 host in brackets: for connecting and for messages.
    pub fn addr(&self) -> String {
        host_port(&self.host, self.port)
    }

    pub fn show(&self) -> String {
        let auth = show_auth(self.user.as_deref(), self.password.as_deref());
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}{auth}{host}:{}/{}", scheme(self.tls), self.port, self.db)
    }
}

impl RedisUrlList {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let (tls, rest) = split_scheme(s)?;
        // Credentials, if any, come once before the first host.
        let (auth, hosts) = match rest.split_once('@') {
            Some((a, h)) if !a.contains(',') => (Some(a), h),
            _ => (None, rest),
        };
        let mut out = Self { tls, ..Self::default() };
        for host in hosts.split(',') {
            let host = host.trim();
            let host = match split_scheme(host) {
                Ok((t, _)) if t != tls => {
                    return Err(format!(
                        "'{}' mixes redis:// and rediss:// addresses",
                        super::mask_urls(s)
                    ));
                }
                Ok((_, h)) => h,
                Err(_) => host,
            };
            if host.is_empty() {
                return Err(format!("'{}' has an empty entry", super::mask_urls(s)));
            }
            let url = match auth {
                Some(a) => format!("{}{a}@{host}", scheme(tls)),
                None => format!("{}{host}", scheme(tls)),
            };
            let one = RedisUrl::parse(&url)?;
            if one.db != 0 {
                return Err(format!("'{}': a db cannot be given here", super::mask_urls(s)));
            }
            out.user = one.user.clone();
            out.password = one.password.clone();
            out.addrs.push(one.addr());
        }
        Ok(out)
    }

    pub fn show(&self) -> String {
        if self.addrs.is_empty() {
            return String::new();
        }
        let auth = show_auth(self.user.as_deref(), self.password.as_deref());
        format!("{}{auth}{}", scheme(self.tls), self.addrs.join(","))
    }
}

fn scheme(tls: bool) -> &'static str {
    if tls { "rediss://" } else { "redis://" }
}

/// `host:port`, an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// The host of a `host:port` (brackets of an IPv6 host removed).
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn show_auth(user: Option<&str>, password: Option<&str>) -> String {
    match (user, password) {
        (Some(u), Some(p)) => format!("{}:{}@", percent_encode(u), percent_encode(p)),
        (None, Some(p)) => format!(":{}@", percent_encode(p)),
        _ => String::new(),
    }
}

/// Decodes `%XX` escapes in URL user info.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad % escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad % escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8".to_string())
}

/// Escapes what would break URL user info.
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        let u = RedisUrl::parse("rediss://u:p@redis.example:6380/1").expect("valid");
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port, u.db), ("redis.example", 6380, 1));
        assert_eq!(u.show(), "rediss://u:p@redis.example:6380/1");
        assert_eq!(RedisUrl::parse(&u.show()), Ok(u));
        assert!(!RedisUrl::parse("redis://h").expect("valid").tls);
        assert!(RedisUrl::parse("https://h").is_err());
        let v6 = RedisUrl::parse("rediss://[::1]:7000").expect("valid");
        assert_eq!(v6.addr(), "[::1]:7000");
        assert_eq!(host_of(&v6.addr()), "::1");
        assert_eq!(host_of("10.0.0.1:6379"), "10.0.0.1");
    }

    #[test]
    fn lists() {
        let l = RedisUrlList::parse("rediss://:pw@a:1,rediss://b:2,c:3").expect("valid");
        assert!(l.tls);
        assert_eq!(l.addrs, vec!["a:1", "b:2", "c:3"]);
        assert_eq!(l.password.as_deref(), Some("pw"));
        assert_eq!(RedisUrlList::parse(&l.show()), Ok(l));
        assert!(RedisUrlList::parse("rediss://a:1,redis://b:2").is_err(), "mixed schemes");
        assert!(RedisUrlList::parse("redis://a:1/2").is_err());
        assert_eq!(RedisUrlList::parse(""), Ok(RedisUrlList::default()));
    }
}
