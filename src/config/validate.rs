//! Checking the settings together: every value against its range and the
//! combinations no single value can rule out; and what several settings
//! decide together (Redis users, TLS, the thread count).

use super::{Config, ConfigError, PARAMS, SentinelTls, Upstream, values};

impl Config {
    /// Checks every value against its range, and what no single value can:
    /// combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::BadValue { key: key.into(), reason };
        for p in PARAMS {
            (p.check)(self).map_err(|reason| bad(p.name, reason))?;
        }
        if self.cluster.is_on() && self.upstream != Upstream::Embedded {
            return Err(ConfigError::Invalid("give either upstream or cluster, not both".into()));
        }
        if self.port == 0 && self.tls_port == 0 {
            // Redis's words when it would listen on nothing.
            return Err(ConfigError::Invalid("Configured to not listen anywhere".into()));
        }
        if self.sentinel.is_on() && (self.cluster.is_on() || self.upstream != Upstream::Embedded) {
            return Err(ConfigError::Invalid(
                "give one of upstream, cluster or sentinel, not several".into(),
            ));
        }
        if self.sentinel.is_on() && self.sentinel_master.trim().is_empty() {
            return Err(bad(
                "sentinel-master",
                "sentinel needs sentinel-master: the name the sentinels monitor the master by"
                    .into(),
            ));
        }
        if !self.sentinel.is_on() && !self.sentinel_master.is_empty() {
            return Err(bad("sentinel-master", "sentinel-master needs sentinel".into()));
        }
        if !self.sentinel.is_on() && self.sentinel_tls != SentinelTls::Auto {
            return Err(bad("sentinel-tls", "sentinel-tls needs sentinel".into()));
        }
        if self.negative_ttl >= self.cache_ttl {
            return Err(bad("negative-ttl", "negative-ttl must be below cache-ttl".into()));
        }
        const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
        if !LEVELS.contains(&self.loglevel.as_str()) {
            return Err(bad("loglevel", values::one_of(LEVELS)));
        }
        Ok(())
    }

    /// True when clients log in as Redis users (checked by Redis, each running
    /// as its user): a Redis upstream and no `requirepass` of hotcache's own.
    pub fn clients_are_redis_users(&self) -> bool {
        self.requirepass.is_empty()
            && (self.upstream != Upstream::Embedded
                || self.cluster.is_on()
                || self.sentinel.is_on())
    }

    /// True when the sentinels are reached over TLS (`sentinel-tls`, by
    /// default the scheme of `sentinel`).
    pub fn sentinel_tls(&self) -> bool {
        match self.sentinel_tls {
            SentinelTls::Auto => self.sentinel.tls,
            SentinelTls::Yes => true,
            SentinelTls::No => false,
        }
    }

    /// True when any connection to Redis (or to a sentinel) uses TLS: the
    /// `upstream-tls-*` settings are loaded then.
    pub fn upstream_tls_used(&self) -> bool {
        self.upstream.tls()
            || self.cluster.tls
            || (self.sentinel.is_on() && (self.sentinel.tls || self.sentinel_tls()))
    }

    /// Thread count with 0 resolved to the number of cores.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::*;

    #[test]
    fn every_range_is_enforced_at_both_ends() {
        let d = Config::default();
        d.validate().expect("the defaults are valid");
        for p in PARAMS {
            let Some(r) = p.range else { continue };
            let mut c = Config::default();
            for ok in [r.lo, r.hi] {
                (p.set)(&mut c, &ok.to_string()).unwrap_or_else(|e| panic!("{} {ok}: {e}", p.name));
                assert_eq!((p.check)(&c), Ok(()), "{}", p.name);
            }
            let want = format!("argument must be between {} and {} inclusive", r.lo, r.hi);
            for bad in [r.lo - 1, r.hi + 1] {
                let e = (p.set)(&mut c, &bad.to_string()).expect_err(p.name);
                // A negative size is not a size at all, as in Redis.
                let not_size = bad < 0 && e == "argument must be a memory value";
                assert!(e == want || not_size, "{} {bad}: {e}", p.name);
            }
        }
    }

    #[test]
    fn redis_bounds_and_wording() {
        let mut c = Config::default();
        let between =
            |lo: &str, hi: &str| Err(format!("argument must be between {lo} and {hi} inclusive"));
        let big = "9223372036854775807";
        assert_eq!(
            c.clone().set("maxclients", "0").map_err(|e| e.to_string()),
            Err("bad value for 'maxclients': argument must be between 1 and 4294967295 inclusive"
                .into())
        );
        for (name, value, lo, hi) in [
            ("maxclients", "-1", "1", "4294967295"),
            ("client-query-buffer-limit", "0", "1048576", big),
            ("client-query-buffer-limit", "1000kb", "1048576", big),
            ("proto-max-bulk-len", "1k", "1048576", big),
            ("timeout", "-1", "0", "2147483647"),
            ("tcp-keepalive", "2147483648", "0", "2147483647"),
            ("slowlog-log-slower-than", "-2", "-1", big),
            ("slowlog-max-len", "-1", "0", big),
            ("cache-ttl", "0", "1", "86400000"),
            ("cache-ttl", "18446744073709551615", "1", "86400000"),
            ("upstream-timeout", "0", "100", "3600000"),
            ("log-rate", "0", "1", "1000000"),
            ("cache-tracking-timeout", "0", "100", "600000"),
        ] {
            let p = param(name).expect("a setting");
            assert_eq!((p.set)(&mut c, value), between(lo, hi), "{name} {value}");
        }
        let p = param("maxclients").expect("maxclients");
        assert_eq!((p.set)(&mut c, "x"), Err("argument couldn't be parsed into an integer".into()));
        let p = param("proto-max-bulk-len").expect("size");
        assert_eq!((p.set)(&mut c, "1tb"), Err("argument must be a memory value".into()));
        assert_eq!((p.set)(&mut c, "1mb"), Ok(()));
        let p = param("serve-stale").expect("bool");
        assert_eq!((p.set)(&mut c, "maybe"), Err("argument must be 'yes' or 'no'".into()));
        // A configuration built in code is checked as well.
        let c = Config { client_query_buffer_limit: ByteSize(0), ..Config::default() };
        assert!(
            matches!(c.validate(), Err(ConfigError::BadValue { key, .. }) if key == "client-query-buffer-limit")
        );
        let c = Config { loglevel: "loud".into(), ..Config::default() };
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("bad value for 'loglevel': argument(s) must be one of the following: error, warn, info, debug, trace".into())
        );
        let c = Config { negative_ttl: 5000, ..Config::default() };
        assert!(c.validate().is_err(), "negative-ttl must stay below cache-ttl");
    }

    #[test]
    fn sentinel_tls_follows_the_scheme_unless_set() {
        let mut c = Config { sentinel_master: "m".into(), ..Config::default() };
        for (url, setting, sentinels, used) in [
            ("redis://a:1", SentinelTls::Auto, false, false),
            ("rediss://a:1", SentinelTls::Auto, true, true),
            ("rediss://a:1", SentinelTls::No, false, true),
            ("redis://a:1", SentinelTls::Yes, true, true),
        ] {
            c.sentinel = SentinelAddrs::parse(url).expect("valid");
            c.sentinel_tls = setting;
            assert_eq!((c.sentinel_tls(), c.upstream_tls_used()), (sentinels, used), "{url}");
            assert!(c.validate().is_ok());
        }
        let c = Config { sentinel_tls: SentinelTls::Yes, ..Config::default() };
        assert!(c.validate().is_err_and(|e| e.to_string().contains("needs sentinel")));
        let p = param("sentinel-tls").expect("sentinel-tls");
        let mut c = Config::default();
        assert_eq!((p.set)(&mut c, "YES"), Ok(()));
        assert_eq!(c.sentinel_tls, SentinelTls::Yes);
        assert!((p.set)(&mut c, "maybe").is_err());
    }
}
