//! The command line: `--config FILE`, `--check-config`, `--help`,
//! `--version`, and a `--name value` flag for every setting.

use std::fmt::Write as _;

use super::*;

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
        let _ = match p.range {
            Some(r) => writeln!(
                out,
                "  --{} <value>   (default: {:?}, {}..={})",
                p.name,
                (p.get)(&defaults),
                r.lo,
                r.hi
            ),
            None => writeln!(out, "  --{} <value>   (default: {:?})", p.name, (p.get)(&defaults)),
        };
        for line in p.doc.lines() {
            let _ = writeln!(out, "      {}", line.trim());
        }
    }
    out
}
