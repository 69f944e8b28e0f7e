//! Where hotcache forwards to: a Redis URL, a cluster's seed nodes, and which
//! of a cluster's nodes serve reads.

use super::Value;
use super::url::{RedisUrl, RedisUrlList, host_port};

/// Where commands go: the embedded origin or a standalone Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// The in-process origin (no `--upstream`).
    Embedded,
    /// A Redis server, from `redis[s]://[user:pass@]host:port[/db]` (see [`RedisUrl`]).
    Redis {
        host: String,
        port: u16,
        user: Option<String>,
        password: Option<String>,
        db: u32,
        /// `rediss://`: over TLS.
        tls: bool,
    },
}

impl Upstream {
    /// `host:port` of a Redis upstream, for connecting and for messages.
    pub fn addr(&self) -> Option<String> {
        match self {
            Upstream::Embedded => None,
            Upstream::Redis { host, port, .. } => Some(host_port(host, *port)),
        }
    }

    /// True for a `rediss://` upstream.
    pub fn tls(&self) -> bool {
        matches!(self, Upstream::Redis { tls: true, .. })
    }
}

impl Value for Upstream {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "embedded" {
            return Ok(Upstream::Embedded);
        }
        let RedisUrl { tls, host, port, user, password, db } = RedisUrl::parse(s)?;
        Ok(Upstream::Redis { host, port, user, password, db, tls })
    }

    fn show(&self) -> String {
        match self {
            Upstream::Embedded => String::new(),
            Upstream::Redis { host, port, user, password, db, tls } => RedisUrl {
                tls: *tls,
                host: host.clone(),
                port: *port,
                user: user.clone(),
                password: password.clone(),
                db: *db,
            }
            .show(),
        }
    }
}

/// Seed nodes of a Redis Cluster: `redis[s]://[user:pass@]host:port[,host:port...]`
/// (empty: no cluster). Credentials and the scheme apply to every node.
pub type ClusterSeeds = RedisUrlList;

impl RedisUrlList {
    pub fn is_on(&self) -> bool {
        !self.addrs.is_empty()
    }
}

impl Value for RedisUrlList {
    fn parse(s: &str) -> Result<Self, String> {
        RedisUrlList::parse(s)
    }

    fn show(&self) -> String {
        RedisUrlList::show(self)
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
                db: 2,
                tls: false,
            })
        );
        assert_eq!(
            Upstream::parse("redis://:pw@127.0.0.1:6379"),
            Ok(Upstream::Redis {
                host: "127.0.0.1".into(),
                port: 6379,
                user: None,
                password: Some("pw".into()),
                db: 0,
                tls: false,
            })
        );
        let u = Upstream::parse("redis://us:p@:ss@h:1/3").expect("valid");
        assert_eq!(Upstream::parse(&u.show()), Ok(u));
        assert!(Upstream::parse("http://x").is_err());
        assert_eq!(Upstream::parse(""), Ok(Upstream::Embedded));
    }
}
