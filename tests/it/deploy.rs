//! The operator's files: `deploy/hotcache.service` starts hotcache with flags and
//! a config it accepts, stops it within systemd's patience, and
//! `docs/operating.md` names only settings that exist, with their real defaults.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{OutputInTime, hotcache_bin};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The values of `key=` in the unit, in order.
fn directives(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .collect()
}

const INSTALLED_BIN: &str = "/usr/local/bin/hotcache";
const INSTALLED_CONFIG: &str = "/etc/hotcache/hotcache.toml";

#[test]
fn systemd_unit_starts_hotcache_with_a_config_it_accepts() {
    let unit = read("deploy/hotcache.service");
    let commands: Vec<String> =
        ["ExecStartPre", "ExecStart"].iter().flat_map(|k| directives(&unit, k)).collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    for command in &commands {
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some(INSTALLED_BIN), "{command}");
        // The installed config is the repo's deploy/hotcache.toml.
        let args: Vec<String> = words
            .map(|w| {
                if w == INSTALLED_CONFIG {
                    repo("deploy/hotcache.toml").display().to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        assert!(args.iter().any(|a| a.ends_with("deploy/hotcache.toml")), "{command}");
        let mut check = args.clone();
        if !check.iter().any(|a| a == "--check-config") {
            check.push("--check-config".into());
        }
        let out = Command::new(hotcache_bin()).args(&check).output_in_time().expect("run hotcache");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("configuration OK"), "{command}: {text}");
    }

    // Stopping: SIGTERM, and systemd waits longer than hotcache drains.
    let mut config = hotcache::config::Config::default();
    config.apply_toml(&read("deploy/hotcache.toml")).expect("deploy/hotcache.toml");
    assert_eq!(directives(&unit, "KillSignal"), ["SIGTERM"]);
    let stop: u64 = directives(&unit, "TimeoutStopSec")[0].parse().expect("TimeoutStopSec in s");
    assert!(stop > config.shutdown_timeout, "TimeoutStopSec {stop} <= shutdown-timeout");
    // Enough descriptors for every client plus a dedicated upstream connection each.
    let nofile: usize = directives(&unit, "LimitNOFILE")[0].parse().expect("LimitNOFILE");
    assert!(nofile >= 2 * config.maxclients + 1000, "LimitNOFILE {nofile} for {config:?}");
    assert_eq!(directives(&unit, "Restart"), ["on-failure"]);
}

/// `systemd-analyze verify` of the unit, pointed at this build, where the tool exists.
#[test]
fn systemd_analyze_verifies_the_unit() {
    if Command::new("systemd-analyze").arg("--version").output_in_time().is_err() {
        eprintln!("systemd-analyze not installed: skipped");
        return;
    }
    let unit = read("deploy/hotcache.service")
        .replace(INSTALLED_BIN, hotcache_bin())
        .replace(INSTALLED_CONFIG, &repo("deploy/hotcache.toml").display().to_string());
    let dir = std::env::temp_dir().join(format!("hotcache-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("hotcache.service");
    std::fs::write(&file, unit).expect("write unit");
    let out =
        Command::new("systemd-analyze").arg("verify").arg(&file).output_in_time().expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    // Unknown keys are only warnings (exit 0): any output at all is a failure.
    assert!(out.status.success() && text.trim().is_empty(), "systemd-analyze verify: {text}");
}

/// Every setting docs/operating.md puts in a table exists, with the default shown,
/// and every `--flag` it uses is a setting or one of hotcache's own options.
#[test]
fn operating_doc_names_real_settings_and_defaults() {
    let doc = read("docs/operating.md");
    let defaults = hotcache::config::Config::default();
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(name), Some(default)) = (cells.get(1), cells.get(2)) else { continue };
        let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) else {
            continue;
        };
        let p = hotcache::config::param(name)
            .unwrap_or_else(|| panic!("docs/operating.md names '{name}', not a setting"));
        let shown = default.trim_matches('`');
        let real = (p.get)(&defaults);
        let real = if real.is_empty() { "empty".to_string() } else { real };
        assert_eq!(shown, real, "default of {name} in docs/operating.md");
        rows += 1;
    }
    assert!(rows >= 10, "the settings table is missing ({rows} rows)");
    // Flags given to the hotcache binary, in commands anywhere in the doc.
    for line in doc.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(bin) = words.iter().position(|w| *w == "hotcache" || w.ends_with("/hotcache"))
        else {
            continue;
        };
        for flag in words[bin..].iter().filter_map(|w| w.strip_prefix("--")) {
            let flag = flag.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            let own = ["config", "check-config", "help", "version"];
            assert!(
                own.contains(&flag) || hotcache::config::param(flag).is_some(),
                "docs/operating.md gives hotcache --{flag}, not a setting: {line}"
            );
        }
    }
}
