//! Settings out of range are refused everywhere, with Redis's wording, and the
//! instance keeps serving.

use std::process::Command;

use crate::common::{Hotcache, OutputInTime, RawClient, RedisServer, hotcache_bin};

/// Runs `hotcache args` to completion: (exit ok, stdout and stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(hotcache_bin()).args(args).output_in_time().expect("run hotcache");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The client and the instance still work: a command on this connection, one
/// on a new connection, and a read through the cache.
fn still_serving(hc: &Hotcache, c: &mut RawClient) {
    assert_eq!(c.cmd(&["SET", "still", "here"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "still"]), b"$4\r\nhere\r\n");
    let mut fresh = hc.client();
    assert_eq!(fresh.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(fresh.cmd(&["GET", "still"]), b"$4\r\nhere\r\n");
}

/// The reported case: `client-query-buffer-limit 0` was accepted and then
/// closed every connection at its first command.
#[test]
fn a_zero_query_buffer_limit_is_refused_and_nothing_breaks() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all"]);
    let mut c = hc.client();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "hotcache.client-query-buffer-limit", "0"]),
        "-ERR CONFIG SET failed (possibly related to argument 'hotcache.client-query-buffer-limit') - argument must be between 1048576 and 9223372036854775807 inclusive\r\n"
    );
    still_serving(&hc, &mut c);
    assert!(
        c.cmd_str(&["CONFIG", "GET", "hotcache.client-query-buffer-limit"]).contains("1gb"),
        "the old value stays"
    );
    // The lowest value Redis accepts is accepted, and the instance still works.
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.client-query-buffer-limit", "1mb"]), b"+OK\r\n");
    still_serving(&hc, &mut c);
}

/// For the settings Redis has too, hotcache's refusal is Redis's own, word for
/// word (only the name differs: `hotcache.<name>`).
#[test]
fn shared_settings_are_refused_as_redis_refuses_them() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut direct = redis.client();
    let mut c = hc.client();
    for (name, value) in [
        ("maxclients", "0"),
        ("maxclients", "-1"),
        ("maxclients", "4294967296"),
        ("timeout", "-1"),
        ("client-query-buffer-limit", "0"),
        ("client-query-buffer-limit", "1000kb"),
        ("proto-max-bulk-len", "1000"),
        ("proto-max-bulk-len", "lots"),
        ("slowlog-log-slower-than", "-2"),
        ("slowlog-max-len", "-1"),
        ("latency-tracking", "maybe"),
    ] {
        let theirs = direct.cmd_str(&["CONFIG", "SET", name, value]);
        assert!(
            theirs.starts_with("-ERR CONFIG SET failed"),
            "{name} {value}: Redis said {theirs}"
        );
        let ours = c.cmd_str(&["CONFIG", "SET", &format!("hotcache.{name}"), value]);
        let want = theirs.replace(&format!("'{name}'"), &format!("'hotcache.{name}'"));
        assert_eq!(ours, want, "{name} {value}");
    }
    still_serving(&hc, &mut c);
}

/// hotcache's own settings get ranges that keep the instance useful; values
/// that used to be accepted (or crash it) are refused.
#[test]
fn hotcache_settings_have_sane_ranges() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all"]);
    let mut c = hc.client();
    for (name, value, range) in [
        ("upstream-timeout", "0", "100 and 3600000"),
        ("upstream-connect-timeout", "0", "10 and 600000"),
        ("cache-ttl", "0", "1 and 86400000"),
        ("cache-ttl", "18446744073709551615", "1 and 86400000"),
        ("breaker-open-time", "99999999999", "10 and 600000"),
        ("breaker-failures", "0", "1 and 1000000"),
        ("breaker-error-rate", "0", "1 and 100"),
        ("log-rate", "0", "1 and 1000000"),
        ("singleflight-timeout", "-5", "0 and 600000"),
        ("retries", "1000", "0 and 10"),
        ("stale-grace", "18446744073709551615", "0 and 86400000"),
    ] {
        assert_eq!(
            c.cmd_str(&["CONFIG", "SET", name, value]),
            format!(
                "-ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be between {range} inclusive\r\n"
            ),
            "{name} {value}"
        );
        still_serving(&hc, &mut c);
    }
    // A combination: each value is fine alone.
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "cache-ttl", "500"]),
        "-ERR CONFIG SET failed (possibly related to argument 'negative-ttl') - negative-ttl must be below cache-ttl\r\n"
    );
    // Nothing of a refused command is applied, even the valid part.
    assert!(
        c.cmd_str(&["CONFIG", "SET", "cache-ttl", "7000", "retries", "99"]).starts_with("-ERR")
    );
    assert!(c.cmd_str(&["CONFIG", "GET", "cache-ttl"]).contains("5000"));
    still_serving(&hc, &mut c);
}

/// `--check-config`, flags and the file refuse what CONFIG SET refuses.
#[test]
fn out_of_range_values_are_refused_at_start() {
    for (name, value, msg) in [
        (
            "client-query-buffer-limit",
            "0",
            "bad value for 'client-query-buffer-limit': argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        ("maxclients", "0", "argument must be between 1 and 4294967295 inclusive"),
        ("tcp-keepalive", "-1", "argument must be between 0 and 2147483647 inclusive"),
        ("shutdown-timeout", "2147483648", "argument must be between 0 and 2147483647 inclusive"),
        ("cache-tracking-timeout", "0", "argument must be between 100 and 600000 inclusive"),
        ("hotkey-window", "0", "argument must be between 100 and 3600000 inclusive"),
    ] {
        let (ok, text) = run(&[&format!("--{name}"), value, "--check-config"]);
        assert!(!ok && text.contains(msg), "--{name} {value}: {text}");
    }
    let dir = std::env::temp_dir().join(format!("hotcache-ranges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "client-query-buffer-limit = 0\n").expect("write");
    let path = file.to_str().expect("utf8");
    let (ok, text) = run(&["--config", path, "--check-config"]);
    assert!(!ok && text.contains("argument must be between 1048576"), "{text}");
    // Without --check-config it does not start either.
    let (ok, text) = run(&["--config", path, "--port", "0"]);
    assert!(!ok && text.contains("argument must be between 1048576"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a password set, the settings that could lock everyone out are
/// changeable only after AUTH.
#[test]
fn settings_need_auth_when_a_password_is_set() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--requirepass", "pw"]);
    let mut c = hc.client();
    for (name, value) in [
        ("hotcache.requirepass", ""),
        ("hotcache.requirepass", "other"),
        ("hotcache.maxclients", "1"),
        ("hotcache.timeout", "1"),
        ("hotcache.client-query-buffer-limit", "1mb"),
        ("upstream-timeout", "100"),
    ] {
        assert_eq!(
            c.cmd_str(&["CONFIG", "SET", name, value]),
            "-NOAUTH Authentication required.\r\n",
            "{name}"
        );
    }
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "hotcache.requirepass"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.maxclients", "50"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "hotcache.requirepass", "new"]), b"+OK\r\n");
    let mut other = hc.client();
    assert!(other.cmd_str(&["AUTH", "pw"]).starts_with("-WRONGPASS"));
    assert_eq!(other.cmd(&["AUTH", "new"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["PING"]), b"+PONG\r\n");
}
