//! Configuration: every setting declared once, with its default, its doc, whether
//! it can change at run time, and how it is read and shown.
//!
//! The same declaration serves the TOML file, the `--key-name value` flags (flags
//! win over the file), `--help`, and CONFIG GET/SET. Names and value syntax follow
//! Redis (`maxclients`, `timeout`, memory sizes like `512mb`, `yes`/`no`).

use std::fmt::Write as _;

mod cli;
mod cpus;
mod rewrite;
mod sentinel;
mod tls;
mod upstream;
mod url;
mod values;

/// A setting's [`Range`], if it declares one.
macro_rules! range_of {
    () => {
        None
    };
    ($lo:literal, $hi:literal) => {
        Some(Range { lo: $lo, hi: $hi })
    };
}

/// Declares the settings: the [`Config`] struct, its defaults and [`PARAMS`].
/// A numeric setting may declare `range: lo..=hi`, checked wherever a value
/// comes in (file, flags, CONFIG SET) and again by [`Config::validate`].
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, $name:literal, runtime: $rt:literal $(, range: $lo:literal ..= $hi:literal)?; )*) => {
        /// Every setting of a hotcache instance. See [`PARAMS`] for names and docs.
        #[derive(Clone, Debug)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        /// The settings, in declaration order.
        pub static PARAMS: &[Param] = &[
            $( Param {
                name: $name,
                doc: concat!($($doc, "\n"),*),
                runtime: $rt,
                range: range_of!($($lo, $hi)?),
                get: |c: &Config| Value::show(&c.$field),
                set: |c: &mut Config, s: &str| {
                    c.$field = values::parse_in(&c.$field, s, range_of!($($lo, $hi)?))?;
                    Ok(())
                },
                check: |c: &Config| values::check_in(&c.$field, range_of!($($lo, $hi)?)),
            }, )*
        ];
    };
}

mod settings;

pub use cli::{Cli, help, parse_args};
pub use cpus::CpuAffinity;
pub use rewrite::{rewrite, rewrite_file};
pub use sentinel::{SENTINEL_PORT, SentinelAddrs};
pub use settings::{Config, PARAMS};
pub use tls::{SentinelTls, TlsAuthClients};
pub use upstream::{ClusterSeeds, ReadFrom, Upstream};
pub use url::{RedisUrl, RedisUrlList, host_of, host_port};
pub use values::{
    ByteSize, CacheMode, ClassLimit, LogFormat, OutputLimits, Percentiles, Range, Value,
};

/// One setting's name, doc, and how to read and write it.
pub struct Param {
    /// Name in the file, as a flag (`--name`), and in CONFIG GET/SET.
    pub name: &'static str,
    pub doc: &'static str,
    /// True if CONFIG SET may change it while running.
    pub runtime: bool,
    /// The values a numeric setting accepts.
    pub range: Option<Range>,
    pub get: fn(&Config) -> String,
    /// Parses and range-checks a value, with Redis's message on failure.
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    /// Checks the value held against the range.
    pub check: fn(&Config) -> Result<(), String>,
}

impl Param {
    /// The name CONFIG GET/SET reach it by: `hotcache.<name>` where Redis has
    /// a setting of the same name.
    pub fn config_name(&self) -> String {
        if SHARED_WITH_REDIS.contains(&self.name) {
            format!("hotcache.{}", self.name)
        } else {
            self.name.to_string()
        }
    }
}

/// Settings whose names Redis has too: through CONFIG they mean Redis's own, and
/// hotcache's are reached as `hotcache.<name>`.
pub const SHARED_WITH_REDIS: &[&str] = &[
    "bind",
    "port",
    "requirepass",
    "maxclients",
    "timeout",
    "tcp-keepalive",
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "proto-max-bulk-len",
    "shutdown-timeout",
    "loglevel",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "tracking-table-max-keys",
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
];

/// Settings whose whole value is a secret: shown back as `***` when set.
const SECRET_SETTINGS: &[&str] = &[
    "requirepass",
    "metrics-auth",
    "tls-key-file-pass",
    "upstream-tls-key-file-pass",
    "sentinel-password",
];

/// A setting's value as hotcache shows it back (CONFIG GET; never in logs or
/// errors otherwise): passwords inside URLs (`redis://hc:***@host:6379`) and
/// the values of secret settings replaced by `***` (ARCHITECTURE.md rule 11).
pub fn shown(name: &str, value: &str) -> String {
    if SECRET_SETTINGS.contains(&name) && !value.is_empty() {
        return "***".to_string();
    }
    mask_urls(value)
}

/// `scheme://user:password@host` with the password replaced by `***`, for
/// every URL in `s` (a cluster's seed list is one URL, a list is several).
pub fn mask_urls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first '/', ',' or space; its credentials
        // at its last '@'.
        let end = after.find(['/', ',', ' ']).unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((creds, host)) => {
                match creds.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***@{host}")),
                    // No user: the whole part before '@' is the password.
                    None => out.push_str(&format!("***@{host}")),
                }
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// True if CONFIG GET/SET `name` means a hotcache setting: one Redis has no
/// setting of that name for, or any setting named `hotcache.<name>`.
pub fn is_hotcache_name(name: &str) -> Option<&'static Param> {
    let lower = name.to_ascii_lowercase();
    match lower.strip_prefix("hotcache.") {
        Some(rest) => param(rest),
        None if SHARED_WITH_REDIS.contains(&lower.as_str()) => None,
        None => param(&lower),
    }
}

/// Finds a setting by name (case-insensitive, as Redis's CONFIG).
pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A bad setting: which one and why, for a message at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown config key '{0}'")]
    UnknownKey(String),
    #[error("bad value for '{key}': {reason}")]
    BadValue { key: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Usage(String),
}

impl Config {
    /// Sets one setting from its text form.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let p = param(name).ok_or_else(|| ConfigError::UnknownKey(name.to_string()))?;
        (p.set)(self, value)
            .map_err(|reason| ConfigError::BadValue { key: p.name.to_string(), reason })
    }

    /// Reads one setting in its text form.
    pub fn get(&self, name: &str) -> Option<String> {
        param(name).map(|p| (p.get)(self))
    }

    /// Applies a TOML document: flat `key = value` pairs, keys as the flag names.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("config file: {e}")))?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
                other => {
                    return Err(ConfigError::BadValue {
                        key,
                        reason: format!("expected a string, number or boolean, got {other}"),
                    });
                }
            };
            self.set(&key, &text)?;
        }
        Ok(())
    }

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

    /// The settings as a TOML document, every one of them.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for p in PARAMS {
            let v = (p.get)(self);
            let _ = writeln!(out, "{} = {}", p.name, rewrite::basic_string(&v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_set_values() {
        let Cli::Run(c, _) = parse_args(args(&["--port", "7000", "--maxclients=5"])).expect("ok")
        else {
            panic!()
        };
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxclients, 5);
    }

    #[test]
    fn unknown_and_bad_values_are_refused() {
        assert!(matches!(parse_args(args(&["--nope", "1"])), Err(ConfigError::UnknownKey(_))));
        assert!(matches!(parse_args(args(&["--port", "x"])), Err(ConfigError::BadValue { .. })));
        let mut c = Config::default();
        assert!(c.apply_toml("bogus = 1").is_err());
        assert!(c.apply_toml("port = 70000").is_err());
    }

    #[test]
    fn toml_values() {
        let mut c = Config::default();
        c.apply_toml("port = 7001\nrequirepass = \"pw\"\nclient-output-buffer-limit = \"1mb\"")
            .expect("valid");
        assert_eq!(c.port, 7001);
        assert_eq!(c.requirepass, "pw");
        assert_eq!(c.client_output_buffer_limit.normal.hard, 1 << 20);
    }

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

    #[test]
    fn secrets_are_masked_when_shown() {
        assert_eq!(mask_urls("redis://hc:pw@h:1/0"), "redis://hc:***@h:1/0");
        assert_eq!(mask_urls("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(mask_urls("redis://pw@h:1"), "redis://***@h:1");
        assert_eq!(mask_urls("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(mask_urls("rediss://u:p@a:1,b:2"), "rediss://u:***@a:1,b:2");
        assert_eq!(
            mask_urls("redis://u:p:q@a:1 redis://v:s@b:2"),
            "redis://u:***@a:1 redis://v:***@b:2"
        );
        assert_eq!(mask_urls("no url here"), "no url here");
        assert_eq!(shown("requirepass", "s3cret"), "***");
        assert_eq!(shown("requirepass", ""), "");
        assert_eq!(shown("upstream", "redis://u:p@h:1/0"), "redis://u:***@h:1/0");
    }

    #[test]
    fn every_default_round_trips() {
        let d = Config::default();
        let mut c = Config::default();
        for p in PARAMS {
            let shown = (p.get)(&d);
            (p.set)(&mut c, &shown).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!((p.get)(&c), shown, "{}", p.name);
        }
        c.apply_toml(&d.to_toml()).expect("rewrite output reads back");
    }
}
