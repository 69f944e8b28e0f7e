//! Settings as text: one read or set by name, a TOML document applied, and the
//! whole set written out as TOML.

use std::fmt::Write as _;

use super::{Config, ConfigError, PARAMS, param, rewrite};

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
    use crate::config::*;

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
