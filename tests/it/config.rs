//! The binary's flags and config file: the example loads, bad input is refused
//! with a clear message, flags win over the file.

use std::process::Command;

use crate::common::{Hotcache, hotcache_bin};

fn hotcache(args: &[&str]) -> (bool, String) {
    let out = Command::new(hotcache_bin()).args(args).output().expect("run hotcache");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn example() -> String {
    format!("{}/config/hotcache.example.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_config_is_valid() {
    let (ok, text) = hotcache(&["--config", &example(), "--check-config"]);
    assert!(ok, "{text}");
    assert!(text.contains("configuration OK"), "{text}");
}

#[test]
fn bad_keys_and_values_are_refused_at_start() {
    let (ok, text) = hotcache(&["--no-such-setting", "1", "--check-config"]);
    assert!(!ok && text.contains("unknown config key 'no-such-setting'"), "{text}");
    let (ok, text) = hotcache(&["--port", "seventy", "--check-config"]);
    assert!(!ok && text.contains("bad value for 'port'"), "{text}");
    let (ok, text) = hotcache(&["--upstream", "http://x", "--check-config"]);
    assert!(!ok && text.contains("redis://"), "{text}");
    let dir = std::env::temp_dir().join(format!("hotcache-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "port = 1\nmaxclientz = 5\n").expect("write");
    let (ok, text) = hotcache(&["--config", file.to_str().expect("utf8"), "--check-config"]);
    assert!(!ok && text.contains("unknown config key 'maxclientz'"), "{text}");
    let (ok, text) = hotcache(&["--config", "/nonexistent.toml", "--check-config"]);
    assert!(!ok && text.contains("cannot read config file"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_win_over_the_file() {
    let dir = std::env::temp_dir().join(format!("hotcache-cfg2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("c.toml");
    std::fs::write(&file, "requirepass = \"fromfile\"\nmaxclients = 7\n").expect("write");
    let hc =
        Hotcache::start(&["--config", file.to_str().expect("utf8"), "--requirepass", "fromflag"]);
    let mut c = hc.client();
    assert!(c.cmd_str(&["AUTH", "fromfile"]).starts_with("-WRONGPASS"));
    assert_eq!(c.cmd(&["AUTH", "fromflag"]), b"+OK\r\n");
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("maxclients:7\r\n"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_every_setting() {
    let (ok, text) = hotcache(&["--help"]);
    assert!(ok);
    for p in hotcache::config::PARAMS {
        assert!(text.contains(&format!("--{}", p.name)), "{} missing from --help", p.name);
    }
}

/// README's settings table lists every setting (so it cannot fall behind).
#[test]
fn readme_lists_every_setting() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for p in hotcache::config::PARAMS {
        assert!(readme.contains(&format!("| `{}` |", p.name)), "README does not list {}", p.name);
    }
}
