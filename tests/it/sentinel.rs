//! Redis Sentinel upstream (issue 13 item 4): hotcache finds the master
//! through a real sentinel (`redis-server sentinel.conf --sentinel`) and
//! follows it through failovers.
//!
//! * `failover.rs`: a stream of INCRs (and checked SETs and GETs through the
//!   cache) while `SENTINEL FAILOVER` runs: how fast hotcache follows, what
//!   was acknowledged against what the new master has, no stale read after
//!   the switch, no connection left on the old master.
//! * Here: a master down when hotcache starts (and its failover), no sentinel
//!   up when hotcache starts, READONLY from a demoted master asking the
//!   sentinels again, `read-from replica` reads reaching the replica.
//!
//! Every test starts its own master, replica and sentinel on free ports and
//! waits for each to be ready (a sentinel that knows the replica, a replica
//! in sync), never for a fixed time.

pub(crate) mod failover;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, free_port};

/// The name the sentinels monitor the master by.
pub(crate) const NAME: &str = "mymaster";

/// Waits until `f` holds, polling; panics with `what` after `limit`.
pub(crate) fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A field of an INFO text, as a string.
pub(crate) fn info_str(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).map(|v| v.trim().to_string())
}

/// A field of hotcache's `INFO hotcache`.
pub(crate) fn hc_info(c: &mut RawClient, field: &str) -> String {
    let info = c.cmd_str(&["INFO", "hotcache"]);
    info_str(&info, field).unwrap_or_else(|| panic!("{field} not in INFO:\n{info}"))
}

/// Elements of a flat array reply of bulk strings (field/value lists).
fn bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut out = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(l) = lines.next() {
        if l.starts_with('$') && l != "$-1" {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out
}

/// A sentinel process, killed when dropped.
pub struct SentinelProc {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl SentinelProc {
    /// Starts a sentinel monitoring the master on `master_port` as [`NAME`],
    /// quorum 1 (one sentinel is enough for `SENTINEL FAILOVER` and for a
    /// failover of a master that is down), and waits until it answers.
    pub fn start(master_port: u16, down_after_ms: u64) -> Self {
        Self::start_on(free_port(), master_port, down_after_ms, "")
    }

    /// As `start`, on a given port, with `extra` lines in its file.
    pub fn start_on(port: u16, master_port: u16, down_after_ms: u64, extra: &str) -> Self {
        // A sentinel fsyncs its file at every step of a failover; on a disk
        // busy with builds one fsync took 10 s (and sent it into TILT): keep
        // the file in memory where there is a tmpfs.
        let base = match std::path::Path::new("/dev/shm") {
            shm if shm.is_dir() => shm.to_path_buf(),
            _ => std::env::temp_dir(),
        };
        let dir = base.join(format!("hotcache-test-sentinel-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        // The sentinel rewrites its file (it must be writable): a copy per test.
        let conf = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\nlogfile sentinel.log\n\
             sentinel monitor {NAME} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {NAME} {down_after_ms}\n\
             sentinel failover-timeout {NAME} 10000\n{extra}\n",
            dir.display()
        );
        std::fs::write(&conf, text).expect("write sentinel.conf");
        let child = Command::new(crate::common::server_bin())
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see README)");
        let mut s = Self { port, child, dir };
        wait_for(Duration::from_secs(20), "sentinel answers PING", || {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("sentinel on {port} exited: {status}");
            }
            RawClient::try_connect(port)
                .and_then(|mut c| c.try_cmd(&["PING"]))
                .is_ok_and(|r| r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH"))
        });
        s
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// `host:port` as hotcache's `sentinel` setting takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until the sentinel lists the replica on `port` as fit to be
    /// promoted: up, its link to the master up.
    pub fn wait_replica(&self, port: u16) {
        let mut c = self.client();
        wait_for(Duration::from_secs(30), "sentinel knows the replica", || {
            let fields = bulks(&c.cmd(&["SENTINEL", "replicas", NAME]));
            let get = |k: &str| {
                fields.iter().position(|f| f == k).and_then(|i| fields.get(i + 1)).cloned()
            };
            get("port").as_deref() == Some(&port.to_string())
                && get("master-link-status").as_deref() == Some("ok")
                && get("flags").as_deref() == Some("slave")
        });
    }

    /// The master's address as this sentinel names it.
    pub fn master(&self) -> String {
        bulks(&self.client().cmd(&["SENTINEL", "get-master-addr-by-name", NAME])).join(":")
    }
}

impl Drop for SentinelProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // What the sentinel did, to tell a slow failover from hotcache's fault.
            let log = std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("sentinel on {} logged:\n{tail}", self.port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A master and a replica in sync with it.
fn master_and_replica() -> (RedisServer, RedisServer) {
    master_and_replica_with(None)
}

/// A master and a replica in sync with it, both with `requirepass` if given.
fn master_and_replica_with(password: Option<&str>) -> (RedisServer, RedisServer) {
    let auth: Vec<&str> = match password {
        Some(p) => vec!["--requirepass", p, "--masterauth", p],
        None => Vec::new(),
    };
    let master = RedisServer::start_with(&auth);
    let port = master.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(&auth);
    let replica = RedisServer::start_with(&args);
    let mut r = replica.client();
    if let Some(p) = password {
        assert_eq!(r.cmd(&["AUTH", p]), b"+OK\r\n");
    }
    wait_for(Duration::from_secs(20), "replica in sync", || {
        info_str(&r.cmd_str(&["INFO", "replication"]), "master_link_status").as_deref()
            == Some("up")
    });
    (master, replica)
}

/// hotcache behind the sentinel at `sentinel` (`host:port`).
pub(crate) fn hotcache_behind(sentinel: &str, extra: &[&str]) -> Hotcache {
    let mut args = vec!["--sentinel", sentinel, "--sentinel-master", NAME, "--threads", "2"];
    args.extend_from_slice(extra);
    Hotcache::start(&args)
}

/// Waits until hotcache names `port` as its master.
pub(crate) fn wait_master(hc: &mut RawClient, port: u16, limit: Duration) -> Duration {
    let want = format!("127.0.0.1:{port}");
    wait_for(limit, &format!("hotcache follows the master to {want}"), || {
        hc_info(hc, "sentinel_master") == want
    })
}

/// Sends SET until it is acknowledged (errors while the master moves).
fn set_until_ok(hc: &mut RawClient, key: &str, value: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let last = match hc.try_cmd(&["SET", key, value]) {
            Ok(r) if r == b"+OK\r\n" => return start.elapsed(),
            Ok(r) => String::from_utf8_lossy(&r).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(start.elapsed() < limit, "SET {key} not acknowledged within {limit:?}: {last}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A master that is down when hotcache starts: hotcache starts anyway (the
/// sentinel still names the master), answers errors at once, and once the
/// sentinel has failed the master over, writes reach the new master.
#[test]
fn started_with_the_master_down() {
    let (mut master, replica) = master_and_replica();
    // Down after 2 s: hotcache is up (and has failed) before the failover.
    let sentinel = SentinelProc::start(master.port, 2000);
    sentinel.wait_replica(replica.port);
    let mut events = sentinel.client();
    assert!(events.cmd_str(&["SUBSCRIBE", "+switch-master"]).contains("subscribe"));
    master.kill();
    let hc = hotcache_behind(&sentinel.addr(), &[]);
    let mut c = hc.client();
    assert_eq!(hc_info(&mut c, "sentinel_master"), format!("127.0.0.1:{}", master.port));
    let reply = c.cmd_str(&["SET", "k", "before"]);
    assert!(reply.starts_with("-ERR upstream 127.0.0.1:"), "{reply}");
    // The sentinel sees the master down (2 s), elects itself, promotes.
    events.set_timeout(Duration::from_secs(30));
    let msg = String::from_utf8_lossy(&events.read_reply()).into_owned();
    let switched = Instant::now();
    assert!(msg.contains(&format!("{NAME} 127.0.0.1 {} 127.0.0.1 {}", master.port, replica.port)));
    let took = set_until_ok(&mut c, "k", "after", Duration::from_secs(2));
    eprintln!("master down at start: writes acknowledged {took:?} after +switch-master");
    assert!(switched.elapsed() < Duration::from_secs(2));
    assert_eq!(replica.client().cmd(&["GET", "k"]), b"$5\r\nafter\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), b"$5\r\nafter\r\n");
}

/// No sentinel answers when hotcache starts: it starts (as a redis-py
/// Sentinel client is made without asking), and every command gets an error
/// naming the master, as redis-py's MasterNotFoundError, until a sentinel
/// answers; then it serves.
#[test]
fn no_sentinel_at_start() {
    let (master, _replica) = master_and_replica();
    let port = free_port();
    let hc = hotcache_behind(&format!("127.0.0.1:{port}"), &[]);
    let mut c = hc.client();
    let reply = c.cmd_str(&["SET", "k", "v"]);
    assert!(
        reply.starts_with(&format!(
            "-ERR upstream {NAME} unavailable: No master found for '{NAME}' (127.0.0.1:{port}: "
        )),
        "{reply}"
    );
    assert!(c.cmd_str(&["GET", "k"]).starts_with("-ERR upstream"));
    assert_eq!(hc_info(&mut c, "sentinel_master"), "");
    let _sentinel = SentinelProc::start_on(port, master.port, 5000, "");
    // Its listener reconnects (backoff up to 2 s) and asks.
    let took = wait_master(&mut c, master.port, Duration::from_secs(5));
    eprintln!("no sentinel at start: master found {took:?} after the sentinel answered");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(master.client().cmd(&["GET", "k"]), b"$1\r\nv\r\n");
}

/// A master demoted behind the sentinel's back answers a write with READONLY:
/// the client gets Redis's error, and hotcache asks the sentinels again at
/// once (the ask counted by its cause, the resolve that follows counted too).
/// Once the sentinel names the new master, writes go there.
#[test]
fn readonly_from_a_demoted_master_asks_again() {
    let (master, replica) = master_and_replica();
    // Slow to judge the master down: it stays the master the sentinel names
    // while the test demotes it.
    let sentinel = SentinelProc::start(master.port, 60_000);
    let hc = hotcache_behind(&sentinel.addr(), &[]);
    let mut c = hc.client();
    wait_master(&mut c, master.port, Duration::from_secs(5));
    assert_eq!(c.cmd(&["SET", "k", "1"]), b"+OK\r\n");
    let resolves =
        |c: &mut RawClient| -> u64 { hc_info(c, "sentinel_resolves").parse().expect("a number") };
    let before = resolves(&mut c);
    assert_eq!(hc_info(&mut c, "sentinel_asks_readonly"), "0");
    // The replica becomes a master, the master its replica.
    assert_eq!(replica.client().cmd(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let rport = replica.port.to_string();
    assert_eq!(master.client().cmd(&["REPLICAOF", "127.0.0.1", &rport]), b"+OK\r\n");
    let reply = c.cmd_str(&["SET", "k", "2"]);
    assert_eq!(reply, "-READONLY You can't write against a read only replica.\r\n");
    wait_for(Duration::from_secs(2), "hotcache counts the READONLY ask", || {
        hc_info(&mut c, "sentinel_asks_readonly") != "0"
    });
    // Well before the periodic check (5 s).
    wait_for(Duration::from_secs(1), "the sentinels are asked again", || resolves(&mut c) > before);
    // The sentinel still names the old master: hotcache stays.
    assert_eq!(sentinel.master(), format!("127.0.0.1:{}", master.port));
    assert_eq!(hc_info(&mut c, "sentinel_master"), format!("127.0.0.1:{}", master.port));
    // Pointed at the new master (as an operator would), the sentinel names it.
    let mut s = sentinel.client();
    assert_eq!(s.cmd(&["SENTINEL", "REMOVE", NAME]), b"+OK\r\n");
    assert_eq!(s.cmd(&["SENTINEL", "MONITOR", NAME, "127.0.0.1", &rport, "1"]), b"+OK\r\n");
    let took = set_until_ok(&mut c, "k", "3", Duration::from_secs(3));
    eprintln!("re-pointed sentinel: writes reach the new master {took:?} later");
    assert_eq!(replica.client().cmd(&["GET", "k"]), b"$1\r\n3\r\n");
}

/// With `read-from replica`, reads go to the replica the sentinel lists and
/// writes to the master (counted by each server's INFO commandstats), both in
/// the database the `sentinel` URL names.
#[test]
fn read_from_replica_reads_go_to_the_replica() {
    let (master, replica) = master_and_replica();
    let sentinel = SentinelProc::start(master.port, 5000);
    sentinel.wait_replica(replica.port);
    let url = format!("redis://{}/3", sentinel.addr());
    let hc = hotcache_behind(&url, &["--read-from", "replica", "--cache-mode", "off"]);
    let mut c = hc.client();
    let want = format!("127.0.0.1:{}", replica.port);
    wait_for(Duration::from_secs(5), "hotcache lists the replica", || {
        hc_info(&mut c, "sentinel_replicas") == want
    });
    let (mut m, mut r) = (master.client(), replica.client());
    assert_eq!(m.cmd(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(m.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    wait_for(Duration::from_secs(5), "the write replicated", || {
        r.cmd(&["GET", "k"]) == b"$1\r\nv\r\n"
    });
    for _ in 0..50 {
        assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    }
    let on_master = m.cmd_str(&["INFO", "commandstats"]);
    let on_replica = r.cmd_str(&["INFO", "commandstats"]);
    // 50 through hotcache, 1 of the test's own wait at least.
    assert!(crate::cache::calls(&on_replica, "get") >= 51, "{on_replica}");
    assert!(!on_master.contains("cmdstat_get:"), "{on_master}");
    assert_eq!(crate::cache::calls(&on_master, "set"), 1, "{on_master}");
}

/// Credentials: the `sentinel` URL's are the master's (and the replicas'),
/// `sentinel-password` is the sentinels' own. A wrong sentinel password is
/// an error naming the sentinel, never the password.
#[test]
fn master_and_sentinel_credentials() {
    let (master, _replica) = master_and_replica_with(Some("m-secret"));
    let sentinel = SentinelProc::start_on(
        free_port(),
        master.port,
        5000,
        &format!("requirepass s-secret\nsentinel auth-pass {NAME} m-secret"),
    );
    let url = format!("redis://:m-secret@{}", sentinel.addr());
    let hc = hotcache_behind(&url, &["--sentinel-password", "s-secret"]);
    let mut c = hc.client();
    // Without hotcache's own requirepass, clients are Redis's users: the
    // master's password logs this one in, checked by the master.
    assert_eq!(c.cmd(&["AUTH", "m-secret"]), b"+OK\r\n");
    wait_master(&mut c, master.port, Duration::from_secs(5));
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    // The listener subscribes on a thread of its own, with the same password.
    wait_for(Duration::from_secs(5), "subscribed to the sentinel", || {
        hc_info(&mut c, "sentinel_subscribed") == "1"
    });
    let wrong = hotcache_behind(&url, &["--sentinel-password", "wrong"]);
    let mut w = wrong.client();
    let reply = w.cmd_str(&["GET", "k"]);
    let want = format!("-ERR upstream {NAME} unavailable: No master found for '{NAME}' (");
    assert!(reply.starts_with(&want) && reply.contains("AUTH refused: WRONGPASS"), "{reply}");
    assert!(!reply.contains("secret") && !reply.contains("wrong"), "{reply}");
    assert!(!w.cmd_str(&["INFO", "hotcache"]).contains("wrong"));
}
