//! Secrets stay secret (ARCHITECTURE.md rule 11): passwords never come back
//! in CONFIG GET, INFO, SLOWLOG, logs, metrics or errors, and the metrics
//! endpoint can require a token, checks the Host it is asked as, and can hide
//! key names.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Hotcache, OutputInTime, RawClient, RedisServer, free_port, hotcache_bin};

/// Sends one HTTP request, returns (status, whole response).
fn http(port: u16, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\n{headers}\r\n").as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn passwords_never_come_back() {
    let redis = RedisServer::start_with(&["--requirepass", "up-s3cret"]);
    let url = format!("redis://:up-s3cret@127.0.0.1:{}", redis.port);
    let log = std::env::temp_dir().join(format!("hotcache-secrets-{}.log", free_port()));
    let hc = Hotcache::start_logging(
        &[
            "--upstream",
            &url,
            "--threads",
            "1",
            "--requirepass",
            "hc-s3cret",
            "--log-allowlist",
            "watched",
            "--slowlog-log-slower-than",
            "0",
        ],
        Some(&log),
    );
    let mut c = hc.client();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "watched"]), b"-NOAUTH Authentication required.\r\n");
    // A wrong password, then the right one, as a logged (allowlisted) client.
    assert_eq!(
        c.cmd(&["HELLO", "2", "AUTH", "default", "wrong-s3cret", "SETNAME", "watched"])[0],
        b'-'
    );
    assert_eq!(c.cmd(&["AUTH", "hc-s3cret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "watched"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["AUTH", "wrong-s3cret"])[0], b'-');
    assert_eq!(c.cmd(&["AUTH", "default", "hc-s3cret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "SETUSER", "u1", "on", ">user-s3cret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let mut shown = String::new();
    for args in [
        vec!["CONFIG", "GET", "hotcache.*"],
        vec!["CONFIG", "GET", "hotcache.upstream"],
        vec!["CONFIG", "GET", "hotcache.requirepass"],
        vec!["INFO", "everything"],
        vec!["SLOWLOG", "GET", "1000"],
        vec!["CLIENT", "LIST"],
    ] {
        shown.push_str(&c.cmd_str(&args));
    }
    assert!(shown.contains("redis://:***@127.0.0.1:"), "{shown}");
    assert!(shown.contains("hotcache.requirepass\r\n$3\r\n***"), "{shown}");
    // The log: every allowlisted command written, its secrets redacted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("SETUSER") {
            break text;
        }
        assert!(Instant::now() < deadline, "the allowlisted commands were not logged:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(logged.contains("(redacted)"), "{logged}");
    for text in [&shown, &logged] {
        assert!(!text.contains("s3cret"), "a secret came back:\n{text}");
    }
    // A bad URL's error does not repeat the password either.
    let out = std::process::Command::new(hotcache_bin())
        .args(["--check-config", "--upstream", "http://user:url-s3cret@host:1"])
        .output_in_time()
        .expect("run hotcache");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("***"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let _ = std::fs::remove_file(&log);
}

#[test]
fn the_metrics_endpoint_guards_itself() {
    let redis = RedisServer::start();
    let port = free_port();
    let p = port.to_string();
    let hc = Hotcache::in_front_of(
        &redis,
        1,
        &["--metrics-port", &p, "--metrics-auth", "t0ken", "--metrics-hide-keys", "yes"],
    );
    let mut c: RawClient = hc.client();
    for _ in 0..300 {
        c.cmd(&["GET", "secret:key:name"]);
    }
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    for path in ["/metrics", "/", "/api/stats"] {
        assert_eq!(http(port, path, &host).0, 401, "{path} without the token");
        let (s, _) = http(port, path, &format!("{host}Authorization: Bearer wrong\r\n"));
        assert_eq!(s, 401, "{path} with a wrong token");
        let (s, _) = http(port, path, &format!("{host}Authorization: Bearer t0ken\r\n"));
        assert_eq!(s, 200, "{path} with the token");
        assert_eq!(http(port, &format!("{path}?token=t0ken"), &host).0, 200, "{path}?token=");
        // A name that is not this endpoint's (DNS rebinding): refused.
        let evil = "Host: attacker.example:80\r\nAuthorization: Bearer t0ken\r\n";
        assert_eq!(http(port, path, evil).0, 403, "{path} as another host");
    }
    let (_, stats) = http(port, "/api/stats?token=t0ken", &host);
    assert!(stats.contains("\"hotkeys\":[{\"key\":\"key#"), "{stats}");
    assert!(!stats.contains("secret:key:name"), "{stats}");
    let (_, metrics) = http(port, "/metrics?token=t0ken", &host);
    assert!(!metrics.contains("secret:key:name"));
}
