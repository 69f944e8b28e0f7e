//! Configuration: every setting declared once, with its default, its doc, whether
//! it can change at run time, and how it is read and shown.
//!
//! The same declaration serves the TOML file, the `--key-name value` flags (flags
//! win over the file), `--help`, and CONFIG GET/SET. Names and value syntax follow
//! Redis (`maxclients`, `timeout`, memory sizes like `512mb`, `yes`/`no`).

use std::fmt::Write as _;

mod cpus;
mod rewrite;
mod upstream;
mod values;

/// Declares the settings: the [`Config`] struct, its defaults and [`PARAMS`].
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, $name:literal, runtime: $rt:literal; )*) => {
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
                get: |c: &Config| Value::show(&c.$field),
                set: |c: &mut Config, s: &str| { c.$field = Value::parse_onto(&c.$field, s)?; Ok(()) },
            }, )*
        ];
    };
}

mod settings;

pub use cpus::CpuAffinity;
pub use rewrite::{rewrite, rewrite_file};
pub use settings::{Config, PARAMS};
pub use upstream::{ClusterSeeds, ReadFrom, Upstream};
pub use values::{ByteSize, CacheMode, ClassLimit, LogFormat, OutputLimits, Percentiles, Value};

/// One setting's name, doc, and how to read and write it.
pub struct Param {
    /// Name in the file, as a flag (`--name`), and in CONFIG GET/SET.
    pub name: &'static str,
    pub doc: &'static str,
    /// True if CONFIG SET may change it while running.
    pub runtime: bool,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
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

    /// Checks what no single value can: combinations and ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.maxclients == 0 {
            return Err(ConfigError::Invalid("maxclients must be at least 1".into()));
        }
        if self.upstream_connections == 0 || self.upstream_connections > 64 {
            return Err(ConfigError::Invalid("upstream-connections must be 1..=64".into()));
        }
        if self.cluster.is_on() && self.upstream != Upstream::Embedded {
            return Err(ConfigError::Invalid("give either upstream or cluster, not both".into()));
        }
        if self.cluster_refresh_interval < 100 {
            return Err(ConfigError::Invalid(
                "cluster-refresh-interval must be at least 100 ms".into(),
            ));
        }
        if self.threads > 1024 {
            return Err(ConfigError::Invalid("threads must be at most 1024".into()));
        }
        if self.proto_max_bulk_len.0 < 1024 * 1024 {
            return Err(ConfigError::Invalid("proto-max-bulk-len must be at least 1mb".into()));
        }
        if self.negative_ttl >= self.cache_ttl {
            return Err(ConfigError::Invalid("negative-ttl must be below cache-ttl".into()));
        }
        if self.cache_ttl == 0 || self.cache_ttl_jitter > 50 {
            return Err(ConfigError::Invalid(
                "cache-ttl must be above 0 and cache-ttl-jitter at most 50 (percent)".into(),
            ));
        }
        if self.hotkey_window < 100 || self.hotkey_topk == 0 || self.hotkey_topk > 100_000 {
            return Err(ConfigError::Invalid(
                "hotkey-window must be at least 100 ms and hotkey-topk 1..=100000".into(),
            ));
        }
        if !matches!(self.loglevel.as_str(), "error" | "warn" | "info" | "debug" | "trace") {
            return Err(ConfigError::Invalid(format!(
                "loglevel must be error, warn, info, debug or trace, not '{}'",
                self.loglevel
            )));
        }
        Ok(())
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
            let _ = writeln!(out, "{} = {}", p.name, toml::Value::String(v));
        }
        out
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Cli {
    /// Run with this configuration, read from this file (if `--config`).
    Run(Config, Option<std::path::PathBuf>),
    /// Validate the configuration and exit (`--check-config`).
    Check(Config),
    Help(String),
    Version,
}

/// Parses the command line: `--config FILE`, `--check-config`, `--help`,
/// `--version`, and `--name value` / `--name=value` for every setting.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, ConfigError> {
    let mut file: Option<String> = None;
    let mut check = false;
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(ConfigError::Usage(format!("unexpected argument '{arg}' (see --help)")));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        match name.as_str() {
            "help" => return Ok(Cli::Help(help())),
            "version" => return Ok(Cli::Version),
            "check-config" => check = true,
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| ConfigError::Usage(format!("--{name} needs a value")))?,
                };
                if name == "config" {
                    file = Some(value);
                } else if param(&name).is_none() {
                    return Err(ConfigError::UnknownKey(name));
                } else {
                    flags.push((name, value));
                }
            }
        }
    }
    let mut config = Config::default();
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
        config.apply_toml(&text)?;
    }
    for (name, value) in flags {
        config.set(&name, &value)?;
    }
    config.validate()?;
    let file = file.map(|f| {
        // Absolute, so CONFIG REWRITE finds it whatever the working directory.
        let f = std::path::PathBuf::from(f);
        std::path::absolute(&f).unwrap_or(f)
    });
    Ok(if check { Cli::Check(config) } else { Cli::Run(config, file) })
}

/// The `--help` text, made from the settings' docs.
pub fn help() -> String {
    let mut out = String::from(
        "hotcache: a hot-key cache tier that speaks the Redis protocol\n\n\
         Usage: hotcache [--config FILE] [--check-config] [--SETTING VALUE ...]\n\n\
         Every setting can be given in the TOML file (`name = value`) or as a flag;\n\
         flags win over the file.\n\nSettings:\n",
    );
    let defaults = Config::default();
    for p in PARAMS {
        let _ = writeln!(out, "  --{} <value>   (default: {:?})", p.name, (p.get)(&defaults));
        for line in p.doc.lines() {
            let _ = writeln!(out, "      {}", line.trim());
        }
    }
    out
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
