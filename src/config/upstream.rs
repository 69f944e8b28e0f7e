//! Where hotcache forwards to: a Redis URL, a cluster's seed nodes, and which
//! of a cluster's nodes serve reads.

use super::Value;

/// Where commands go: the embedded origin or a standalone Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// The in-process origin (no `--upstream`).
    Embedded,
    /// A Redis server, from `redis://[user:pass@]host:port[/db]`.
    Redis { host: String, port: u16, user: Option<String>, password: Option<String>, db: u32 },
}

impl Upstream {
    /// `host:port` of a Redis upstream, for connecting and for messages.
    pub fn addr(&self) -> Option<String> {
        match self {
            Upstream::Embedded => None,
            Upstream::Redis { host, port, .. } => Some(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }),
        }
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

impl Value for Upstream {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "embedded" {
            return Ok(Upstream::Embedded);
        }
        let rest = s.strip_prefix("redis://").ok_or_else(|| {
            format!("'{}' is not a redis:// URL (rediss:// is not supported)", super::mask_urls(s))
        })?;
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
        Ok(Upstream::Redis { host, port, user, password, db })
    }

    fn show(&self) -> String {
        match self {
            Upstream::Embedded => String::new(),
            Upstream::Redis { host, port, user, password, db } => {
                let auth = match (user, password) {
                    (Some(u), Some(p)) => format!("{}:{}@", percent_encode(u), percent_encode(p)),
                    (None, Some(p)) => format!(":{}@", percent_encode(p)),
                    _ => String::new(),
                };
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                format!("redis://{auth}{host}:{port}/{db}")
            }
        }
    }
}

/// Seed nodes of a Redis Cluster: `redis://[user:pass@]host:port[,host:port...]`
/// (empty: no cluster). Credentials apply to every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterSeeds {
    /// `host:port` of each seed.
    pub addrs: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ClusterSeeds {
    pub fn is_on(&self) -> bool {
        !self.addrs.is_empty()
    }
}

impl Value for ClusterSeeds {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let rest = s.strip_prefix("redis://").ok_or_else(|| {
            format!("'{}' is not a redis:// URL (rediss:// is not supported)", super::mask_urls(s))
        })?;
        // Credentials, if any, come once before the first host.
        let (auth, hosts) = match rest.split_once('@') {
            Some((a, h)) if !a.contains(',') => (Some(a), h),
            _ => (None, rest),
        };
        let mut out = Self::default();
        for host in hosts.split(',') {
            let host = host.trim();
            let host = host.strip_prefix("redis://").unwrap_or(host);
            if host.is_empty() {
                return Err(format!("'{}' has an empty seed", super::mask_urls(s)));
            }
            let url = match auth {
                Some(a) => format!("redis://{a}@{host}"),
                None => format!("redis://{host}"),
            };
            let up = Upstream::parse(&url)?;
            let Upstream::Redis { user, password, db, .. } = &up else {
                return Err(format!("'{}' has an empty seed", super::mask_urls(s)));
            };
            if *db != 0 {
                return Err("a Redis Cluster has only database 0".into());
            }
            out.user = user.clone();
            out.password = password.clone();
            out.addrs.push(up.addr().unwrap_or_default());
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
        format!("redis://{auth}{}", self.addrs.join(","))
    }
}

/// Where cluster reads go: `master` (default) or `replica` (READONLY replicas,
/// falling back to the master when a slot has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadFrom {
    #[default]
    Master,
    Replica,
}

impl Value for ReadFrom {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "master" | "primary" => Ok(ReadFrom::Master),
            "replica" | "slave" => Ok(ReadFrom::Replica),
            _ => Err(format!("'{s}' is not master or replica")),
        }
    }
    fn show(&self) -> String {
        match self {
            ReadFrom::Master => "master",
            ReadFrom::Replica => "replica",
        }
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_seeds() {
        let c = ClusterSeeds::parse("redis://u:p@h1:7000,h2:7001").expect("valid");
        assert_eq!(c.addrs, vec!["h1:7000".to_string(), "h2:7001".to_string()]);
        assert_eq!((c.user.as_deref(), c.password.as_deref()), (Some("u"), Some("p")));
        assert_eq!(ClusterSeeds::parse(&c.show()), Ok(c));
        let c = ClusterSeeds::parse("redis://a:1,redis://b:2").expect("valid");
        assert_eq!(c.addrs.len(), 2);
        assert!(ClusterSeeds::parse("redis://a:1/3").is_err());
        assert!(ClusterSeeds::parse("redis://a:1,,b:2").is_err());
        assert!(!ClusterSeeds::parse("").expect("empty").is_on());
    }

    #[test]
    fn urls() {
        assert_eq!(
            Upstream::parse("redis://u:p%40ss@h:7000/2"),
            Ok(Upstream::Redis {
                host: "h".into(),
                port: 7000,
                user: Some("u".into()),
                password: Some("p@ss".into()),
                db: 2
            })
        );
        assert_eq!(
            Upstream::parse("redis://:pw@127.0.0.1:6379"),
            Ok(Upstream::Redis {
                host: "127.0.0.1".into(),
                port: 6379,
                user: None,
                password: Some("pw".into()),
                db: 0
            })
        );
        let u = Upstream::parse("redis://us:p@:ss@h:1/3").expect("valid");
        assert_eq!(Upstream::parse(&u.show()), Ok(u));
        assert!(Upstream::parse("http://x").is_err());
        assert_eq!(Upstream::parse(""), Ok(Upstream::Embedded));
    }
}
