//! hotcache serving TLS clients (`tls-port`).

use std::process::Command;
use std::time::{Duration, Instant};

use super::harness::{Certs, KEY_PASS, TlsClient, TlsHotcache, TlsOpts, bulk, tls_flags};
use crate::common::{
    CLIENT_LIMIT, Hotcache, RedisServer, encode, free_port, hotcache_bin, output_within,
};

/// Runs a command; its output, stdout then stderr, and whether it succeeded.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = output_within(cmd, CLIENT_LIMIT).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn upstream(redis: &RedisServer) -> Vec<String> {
    vec!["--upstream".into(), redis.url(), "--threads".into(), "2".into()]
}

/// True if a client that connects as `opts` is answered PONG.
fn pongs(port: u16, opts: &TlsOpts) -> bool {
    TlsClient::try_tls(port, opts)
        .and_then(|mut c| c.try_cmd(&["PING"]))
        .is_ok_and(|r| r == b"+PONG\r\n")
}

/// redis-cli, redis-benchmark and redis-py with TLS options connect as they
/// would to Redis, with a client certificate (tls-auth-clients yes, Redis's
/// default); CLIENT LIST names the TLS port as the local address.
#[test]
fn real_clients_connect_unchanged() {
    let redis = RedisServer::start();
    let hc = TlsHotcache::start("yes", &upstream(&redis));
    let c = Certs::get();
    let port = hc.tls_port.to_string();
    let tls_args = [
        "--tls",
        "--cacert",
        &c.path("ca.crt"),
        "--cert",
        &c.path("client.crt"),
        "--key",
        &c.path("client.key"),
        "-p",
        &port,
    ];
    let cli = |args: &[&str]| {
        let (ok, out) = run(Command::new("redis-cli").args(tls_args).args(args));
        assert!(ok, "redis-cli {args:?}: {out}");
        out.trim().to_string()
    };
    assert_eq!(cli(&["ping"]), "PONG");
    assert_eq!(cli(&["set", "tls:a", "b"]), "OK");
    assert_eq!(cli(&["get", "tls:a"]), "b");
    assert_eq!(cli(&["-3", "hset", "tls:h", "f", "v"]), "1");
    let (ok, out) = run(Command::new("redis-benchmark")
        .args(tls_args)
        .args(["-t", "set,get", "-n", "2000", "-c", "10", "-P", "4", "-q"]));
    assert!(ok && out.contains("GET:") && out.contains("requests per second"), "{out}");
    let script = "import redis, sys\n\
        a = dict(host='127.0.0.1', port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2],\n\
                 ssl_certfile=sys.argv[3], ssl_keyfile=sys.argv[4])\n\
        r = redis.Redis(**a)\n\
        assert r.set('tls:py', 'x') and r.get('tls:py') == b'x'\n\
        r3 = redis.Redis(protocol=3, **a)\n\
        assert r3.hgetall('tls:h') == {b'f': b'v'}\n\
        p = r.pipeline(transaction=True)\n\
        p.incr('tls:n').incr('tls:n')\n\
        assert p.execute() == [1, 2]\n\
        print('ok')\n";
    let (ok, out) = run(Command::new("python3").args(["-c", script]).args([
        &port,
        &c.path("ca.crt"),
        &c.path("client.crt"),
        &c.path("client.key"),
    ]));
    assert!(ok && out.trim() == "ok", "redis-py: {out}");
    let mut t = hc.client();
    let list = t.cmd_str(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("laddr=127.0.0.1:{port} ")), "{list}");
    // The plain port serves as before, beside it.
    assert_eq!(hc.hc.client().cmd(&["GET", "tls:a"]), bulk("b"));
}

/// `port 0` turns plain TCP off: only TLS is served. Both off is refused, in
/// Redis's words.
#[test]
fn port_zero_serves_tls_only() {
    let redis = RedisServer::start();
    let tls_port = free_port();
    let mut args = vec!["--port".to_string(), "0".into()];
    args.extend(tls_flags(tls_port, "no"));
    args.extend(upstream(&redis));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let hc = Hotcache::start_exact(&args, tls_port, || pongs(tls_port, &TlsOpts::anonymous()));
    let mut c = TlsClient::tls(hc.port, &TlsOpts::anonymous());
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    // Plain RESP on the TLS port is not a TLS handshake: no reply, closed.
    let mut plain = crate::common::RawClient::connect(tls_port);
    plain.send(&encode(&["PING"]));
    assert!(plain.is_closed(Duration::from_secs(5)), "closed");
    assert!(!plain.leftover().starts_with(b"+PONG"), "{:?}", plain.leftover());
    let (ok, out) = run(Command::new(hotcache_bin()).args([
        "--port",
        "0",
        "--tls-port",
        "0",
        "--check-config",
    ]));
    assert!(!ok && out.contains("Configured to not listen anywhere"), "{out}");
}

/// `tls-auth-clients`: `yes` refuses a client without a certificate, or with
/// one the CA did not sign; `optional` takes the first, not the second; `no`
/// asks for none. A CONFIG SET of it applies to the next connections.
#[test]
fn auth_clients_yes_optional_no() {
    let redis = RedisServer::start();
    let hc = TlsHotcache::start("yes", &upstream(&redis));
    let port = hc.tls_port;
    let (none, ours, rogue) =
        (TlsOpts::anonymous(), TlsOpts::with_cert("client"), TlsOpts::with_cert("rogue"));
    assert!(!pongs(port, &none), "no certificate");
    assert!(!pongs(port, &rogue), "a certificate of another CA");
    assert!(pongs(port, &ours));
    // A refused client gets no reply at all: the session ends with an alert.
    let refused = TlsClient::try_tls(port, &none).and_then(|mut c| c.try_cmd(&["PING"]));
    let e = refused.expect_err("refused");
    assert!(e.to_string().contains("CertificateRequired"), "{e}");
    let mut admin = hc.client();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "hotcache.tls-auth-clients", "optional"]), b"+OK\r\n");
    assert!(pongs(port, &none));
    assert!(!pongs(port, &rogue));
    assert!(pongs(port, &ours));
    assert_eq!(admin.cmd(&["CONFIG", "SET", "hotcache.tls-auth-clients", "no"]), b"+OK\r\n");
    assert!(pongs(port, &none));
    assert_eq!(
        admin.cmd_str(&["CONFIG", "SET", "hotcache.tls-auth-clients", "maybe"]),
        "-ERR CONFIG SET failed (possibly related to argument 'hotcache.tls-auth-clients') - \
         argument(s) must be one of the following: no, yes, optional\r\n"
    );
    // The admin connection, opened under `yes`, was never dropped.
    assert_eq!(admin.cmd(&["PING"]), b"+PONG\r\n");
}

/// CONFIG SET hotcache.tls-cert-file/tls-key-file: new connections get the
/// new certificate, open ones keep going on theirs. A set whose files do not
/// load is refused with Redis's error and changes nothing.
#[test]
fn certificate_reload_keeps_open_connections() {
    let redis = RedisServer::start();
    let hc = TlsHotcache::start("yes", &upstream(&redis));
    let certs = Certs::get();
    let mut open = hc.client();
    assert_eq!(open.server_cert(), certs.der("server.crt"));
    assert_eq!(open.cmd(&["SET", "k", "before"]), b"+OK\r\n");
    let reply = open.cmd(&[
        "CONFIG",
        "SET",
        "hotcache.tls-cert-file",
        &certs.path("server2.crt"),
        "hotcache.tls-key-file",
        &certs.path("server2.key"),
    ]);
    assert_eq!(reply, b"+OK\r\n");
    let mut fresh = hc.client();
    assert_eq!(fresh.server_cert(), certs.der("server2.crt"), "new connections: the new one");
    assert_eq!(fresh.cmd(&["GET", "k"]), bulk("before"));
    // The open connection still works, on the certificate it started with.
    assert_eq!(open.cmd(&["SET", "k", "after"]), b"+OK\r\n");
    assert_eq!(open.cmd(&["GET", "k"]), bulk("after"));
    assert_eq!(open.server_cert(), certs.der("server.crt"));
    // Files that do not load: Redis's error, nothing changed.
    let refused = "-ERR CONFIG SET failed (possibly related to argument 'hotcache.tls-cert-file') \
                   - Unable to update TLS configuration. Check server logs.\r\n";
    let missing = certs.path("no-such.crt");
    for (cert, key) in [
        (missing.as_str(), certs.path("server2.key")),
        // A key that is not the certificate's.
        (&certs.path("server.crt"), certs.path("server2.key")),
    ] {
        let reply = open.cmd_str(&[
            "CONFIG",
            "SET",
            "hotcache.tls-cert-file",
            cert,
            "hotcache.tls-key-file",
            &key,
        ]);
        assert_eq!(reply, refused);
    }
    let got = open.cmd_str(&["CONFIG", "GET", "hotcache.tls-cert-file"]);
    assert!(got.contains("server2.crt"), "{got}");
    assert_eq!(hc.client().server_cert(), certs.der("server2.crt"));
    assert_eq!(open.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(fresh.cmd(&["PING"]), b"+PONG\r\n");
    // Renewed in place: the same paths, new contents. As in Redis, a CONFIG
    // SET of a file setting reads the files again even when the path is the
    // one already set.
    let dir = std::env::temp_dir().join(format!("hotcache-tls-renew-{}", hc.tls_port));
    std::fs::create_dir_all(&dir).expect("dir");
    let (live_crt, live_key) = (dir.join("live.crt"), dir.join("live.key"));
    let copy = |from: &str, to: &std::path::Path| {
        std::fs::copy(certs.path(from), to).expect("copy");
    };
    copy("server.crt", &live_crt);
    copy("server.key", &live_key);
    let (crt, key) = (live_crt.to_string_lossy(), live_key.to_string_lossy());
    let set = ["CONFIG", "SET", "hotcache.tls-cert-file", &crt, "hotcache.tls-key-file", &key];
    assert_eq!(open.cmd(&set), b"+OK\r\n");
    assert_eq!(hc.client().server_cert(), certs.der("server.crt"));
    copy("server2.crt", &live_crt);
    copy("server2.key", &live_key);
    assert_eq!(open.cmd(&["CONFIG", "SET", "hotcache.tls-cert-file", &crt]), b"+OK\r\n");
    assert_eq!(hc.client().server_cert(), certs.der("server2.crt"), "renewed in place");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An encrypted key needs `tls-key-file-pass`; a wrong or missing passphrase
/// fails `--check-config` (and the start) with a message naming the file.
#[test]
fn encrypted_key_with_passphrase() {
    let redis = RedisServer::start();
    let certs = Certs::get();
    let key = certs.path("server-enc.key");
    let mut extra = upstream(&redis);
    extra.extend([
        "--tls-key-file".into(),
        key.clone(),
        "--tls-key-file-pass".into(),
        KEY_PASS.into(),
    ]);
    let hc = TlsHotcache::start("no", &extra);
    assert!(pongs(hc.tls_port, &TlsOpts::anonymous()));
    let check = |pass: Option<&str>| {
        let mut cmd = Command::new(hotcache_bin());
        cmd.args(tls_flags(free_port(), "no")).args(["--tls-key-file", &key, "--check-config"]);
        if let Some(p) = pass {
            cmd.args(["--tls-key-file-pass", p]);
        }
        run(&mut cmd)
    };
    let (ok, out) = check(Some("wrong"));
    assert!(!ok && out.contains("Failed to load private key") && out.contains(&key), "{out}");
    let (ok, out) = check(None);
    assert!(!ok && out.contains("no passphrase"), "{out}");
    let (ok, out) = check(Some(KEY_PASS));
    assert!(ok, "{out}");
}

/// `tls-protocols` and the cipher lists decide what is negotiated, at start
/// and through CONFIG SET; lists naming nothing hotcache has are refused.
#[test]
fn protocols_and_ciphers() {
    use rustls::crypto::ring::cipher_suite as cs;
    let redis = RedisServer::start();
    let mut extra = upstream(&redis);
    extra.extend(
        ["--tls-protocols", "TLSv1.2", "--tls-ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]
            .map(String::from),
    );
    let hc = TlsHotcache::start("no", &extra);
    let c = TlsClient::tls(hc.tls_port, &TlsOpts::anonymous());
    assert_eq!(c.stream.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(
        c.stream.conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384.suite())
    );
    let tls13_only = TlsOpts { suites: vec![cs::TLS13_AES_128_GCM_SHA256], ..TlsOpts::anonymous() };
    assert!(!pongs(hc.tls_port, &tls13_only), "TLS 1.3 is off");
    let mut admin = hc.hc.client();
    let set = |admin: &mut crate::common::RawClient, name: &str, value: &str| {
        admin.cmd_str(&["CONFIG", "SET", &format!("hotcache.{name}"), value])
    };
    assert_eq!(set(&mut admin, "tls-protocols", "TLSv1.3"), "+OK\r\n");
    let c = TlsClient::tls(hc.tls_port, &tls13_only);
    assert_eq!(c.stream.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    for (name, value) in [("tls-protocols", "SSLv3"), ("tls-ciphersuites", "TLS_NOPE")] {
        assert_eq!(
            set(&mut admin, name, value),
            format!(
                "-ERR CONFIG SET failed (possibly related to argument 'hotcache.{name}') - \
                 Unable to update TLS configuration. Check server logs.\r\n"
            )
        );
    }
    let (ok, out) = run(Command::new(hotcache_bin()).args(tls_flags(free_port(), "no")).args([
        "--tls-ciphers",
        "RC4-MD5",
        "--tls-protocols",
        "TLSv1.2",
        "--check-config",
    ]));
    assert!(!ok && out.contains("Failed to configure ciphers: RC4-MD5"), "{out}");
}

/// maxclients: a TLS client over the limit gets Redis's error over TLS.
#[test]
fn maxclients_refusal_over_tls() {
    let redis = RedisServer::start();
    let mut extra = upstream(&redis);
    extra.extend(["--maxclients", "2"].map(String::from));
    let hc = TlsHotcache::start("no", &extra);
    // The harness's readiness probe may still be leaving: wait until two fit.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut a, mut b) = loop {
        let a = TlsClient::tls(hc.tls_port, &TlsOpts::anonymous());
        let b = TlsClient::tls(hc.tls_port, &TlsOpts::anonymous());
        let (mut a, mut b) = (a, b);
        if a.try_cmd(&["PING"]).is_ok_and(|r| r == b"+PONG\r\n")
            && b.try_cmd(&["PING"]).is_ok_and(|r| r == b"+PONG\r\n")
        {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "two clients never fit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut third = TlsClient::tls(hc.tls_port, &TlsOpts::anonymous());
    assert_eq!(third.read_reply(), b"-ERR max number of clients reached\r\n");
    assert!(third.is_closed(Duration::from_secs(5)));
    assert_eq!(a.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(b.cmd(&["PING"]), b"+PONG\r\n");
}

/// SIGTERM with requests in flight on TLS connections: every request read
/// before the signal is answered over TLS, then the connection closes cleanly
/// and the process exits 0.
#[test]
fn graceful_shutdown_over_tls() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let mut hc = TlsHotcache::start("no", &upstream(&redis));
    let mut clients: Vec<_> =
        (0..4).map(|_| TlsClient::tls(hc.tls_port, &TlsOpts::anonymous())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for j in 0..2000 {
            batch.extend(encode(&["SET", &format!("t{i}:{j}"), "v"]));
        }
        // Keeps replies in flight at the signal.
        batch.extend(encode(&["DEBUG", "SLEEP", "0.2"]));
        c.send(&batch);
    }
    // Signal once every command was read (a batch still in a socket buffer at
    // the signal is not in flight yet).
    let mut check = hc.hc.client();
    let sent = 4 * 2001;
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::cache::info_field(
        &check.cmd_str(&["INFO", "hotcache"]),
        "total_commands_processed",
    ) < sent
    {
        assert!(Instant::now() < deadline, "not every command was read");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(check);
    hc.hc.signal("TERM");
    for c in clients.iter_mut() {
        for _ in 0..2001 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
        }
        assert!(c.is_closed(Duration::from_secs(10)));
    }
    let status = hc.hc.wait_exit(Duration::from_secs(15)).expect("hotcache did not exit");
    assert!(status.success(), "{status}");
    assert_eq!(redis.client().cmd(&["DBSIZE"]), b":8000\r\n");
}
