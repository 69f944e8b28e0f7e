//! Configuration: every setting declared once, with its default, its doc, whether
//! it can change at run time, and how it is read and shown.
//!
//! The same declaration serves the TOML file, the `--key-name value` flags (flags
//! win over the file), `--help`, and CONFIG GET/SET. Names and value syntax follow
//! Redis (`maxclients`, `timeout`, memory sizes like `512mb`, `yes`/`no`).
//!
//! This file holds the declaration machinery ([`Param`], the `settings!`
//! macro), the CONFIG names and [`ConfigError`]; the settings themselves are in
//! `settings`, reading and writing them as text in `text`, checking them
//! together in `validate`, and what is never shown back in `secrets`.

mod cli;
mod cpus;
mod rewrite;
mod secrets;
mod sentinel;
mod text;
mod tls;
mod upstream;
mod url;
mod validate;
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
pub use secrets::{mask_urls, shown};
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
