//! CONFIG REWRITE writes values a client chose (any bytes) so that the file
//! still loads, and keeps working after a value with a newline.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Hotcache, OutputInTime, RedisServer, hotcache_bin};

/// A fresh directory for one test's config file.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hotcache-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// The file passes `--check-config`.
fn loads(path: &Path) {
    let out = Command::new(hotcache_bin())
        .args(["--config", path.to_str().expect("utf8"), "--check-config"])
        .output_in_time()
        .expect("run hotcache");
    assert!(
        out.status.success(),
        "{}\n--- file:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

/// The value of `log-allowlist` the file holds, read as hotcache reads it.
fn allowlist_in(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    let mut c = hotcache::config::Config::default();
    c.apply_toml(&text).unwrap_or_else(|e| panic!("{e}\n--- file:\n{text}"));
    c.log_allowlist
}

/// The reported sequence: a multi-line value, a rewrite, the value set back,
/// another rewrite ("the rewritten file would not load", for good).
#[test]
fn rewrite_after_a_multi_line_value() {
    let redis = RedisServer::start();
    let dir = temp_dir("rewrite-multi");
    let file = dir.join("hotcache.toml");
    std::fs::write(&file, "# mine\nlog-allowlist = \"a\"  # keep this comment\ncache-ttl = 5000\n")
        .expect("write");
    let path = file.to_str().expect("utf8");
    let hc = Hotcache::in_front_of(&redis, 1, &["--config", path]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["CONFIG", "SET", "log-allowlist", "x\ny"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    loads(&file);
    assert_eq!(allowlist_in(&file), "x\ny");
    assert_eq!(c.cmd(&["CONFIG", "SET", "log-allowlist", "z"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    loads(&file);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        text.starts_with("# mine\nlog-allowlist = \"z\"  # keep this comment\ncache-ttl = 5000\n"),
        "{text}"
    );
    assert_eq!(allowlist_in(&file), "z");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whatever a client sets, the rewritten file loads and holds that value.
#[test]
fn any_value_survives_a_rewrite() {
    let redis = RedisServer::start();
    let dir = temp_dir("rewrite-any");
    let file = dir.join("hotcache.toml");
    std::fs::write(&file, "").expect("write");
    let path = file.to_str().expect("utf8");
    let hc = Hotcache::in_front_of(&redis, 1, &["--config", path]);
    let mut c = hc.client();
    for value in [
        "x\ny",
        "cr\rlf\r\n",
        "\"\"\"",
        "'''",
        "quote\" # hash",
        "back\\slash\\",
        "tab\tand\u{1}\u{7f}",
        "line = 1\n[table]\nport = 2",
        "üñí",
        "z",
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", "log-allowlist", value]), b"+OK\r\n", "{value:?}");
        assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n", "{value:?}");
        loads(&file);
        assert_eq!(allowlist_in(&file), value);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file that already holds a multi-line value (as hotcache used to write
/// one) is rewritten whole, and lines inside the value stay text.
#[test]
fn a_file_with_a_multi_line_value_is_rewritten() {
    let redis = RedisServer::start();
    let dir = temp_dir("rewrite-old");
    let file = dir.join("hotcache.toml");
    std::fs::write(&file, "log-allowlist = \"\"\"\nx\nmaxclients = 3\"\"\"\nmaxclients = 40\n")
        .expect("write");
    let path = file.to_str().expect("utf8");
    let hc = Hotcache::in_front_of(&redis, 1, &["--config", path]);
    let mut c = hc.client();
    assert!(c.cmd_str(&["CONFIG", "GET", "hotcache.maxclients"]).contains("\r\n40\r\n"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.maxclients", "41"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    loads(&file);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        text.starts_with("log-allowlist = \"x\\nmaxclients = 3\"\nmaxclients = 41\n"),
        "{text}"
    );
    assert_eq!(allowlist_in(&file), "x\nmaxclients = 3");
    let _ = std::fs::remove_dir_all(&dir);
}
