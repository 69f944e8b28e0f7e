//! A Redis Cluster changing under load, with hotcache in front: slots moved
//! with `redis-cli --cluster reshard`, a master SIGKILLed, a manual failover.
//! Writers and readers run through hotcache the whole time; no MOVED or ASK
//! may reach them, no read may return a wrong value, and every acknowledged
//! write must be in the cluster afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster_common::RedisCluster;
use crate::common::{CLIENT_LIMIT, Hotcache, encode, output_within};

/// The load tool, driving reads and writes of its own keys at the same time.
struct LoadTool(JoinHandle<std::process::Output>);

impl LoadTool {
    fn start(port: u16, secs: u32) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hotcache-bench"));
        cmd.args(["-p", &port.to_string(), "-c", "8", "--ratio", "1:1", "--keys", "10000"]).args([
            "--duration",
            &secs.to_string(),
            "--json",
        ]);
        // Killed if it runs far past its duration (a reply that never came).
        let limit = Duration::from_secs(u64::from(secs)) + CLIENT_LIMIT;
        Self(std::thread::spawn(move || output_within(&mut cmd, limit).expect("hotcache-bench")))
    }

    /// Waits for it; its operations and errors.
    fn finish(self) -> (u64, u64) {
        let out = self.0.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        assert!(
            out.status.success(),
            "hotcache-bench failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> u64 {
            let at =
                text.find(&format!("\"{name}\":")).expect("field in the JSON") + name.len() + 3;
            text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        };
        (field("ops"), field("errors"))
    }
}

/// Keys the workload uses, spread over every slot range.
const KEYS: usize = 300;

fn key(i: usize) -> String {
    format!("ops:{i}")
}

/// Versions of each key: issued (sent) and acknowledged (+OK came back).
struct Versions {
    issued: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Replies that were MOVED/ASK or a wrong value: each is a failure.
    wrong: Vec<String>,
    /// Error replies (a node down): when they came.
    errors: Vec<Instant>,
    /// The first few error replies, for a failure's message.
    first_errors: Vec<String>,
    ops: u64,
}

struct Workload {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    versions: Arc<Versions>,
    threads: Vec<JoinHandle<()>>,
}

/// A blocking RESP client that reads exactly one reply.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to hotcache");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Self { s, buf: Vec::new() }
    }

    /// One command; the reply's bytes (a single-line or bulk reply).
    fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.s.write_all(&encode(args)).expect("send");
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).expect("read reply");
            assert!(n > 0, "hotcache closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Length of the first complete reply in `b` (status, error, integer or bulk).
fn reply_len(b: &[u8]) -> Option<usize> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    match b.first()? {
        b'$' => {
            let n: i64 = std::str::from_utf8(&b[1..nl]).ok()?.parse().ok()?;
            if n < 0 {
                return Some(nl + 2);
            }
            let end = nl + 2 + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        _ => Some(nl + 2),
    }
}

impl Workload {
    /// Sets every key (version 1) and starts `writers` writers and `readers`
    /// readers through hotcache on `port`.
    fn start(port: u16, writers: usize, readers: usize) -> Self {
        let versions = Arc::new(Versions {
            issued: (0..KEYS).map(|_| AtomicU64::new(1)).collect(),
            acked: (0..KEYS).map(|_| AtomicU64::new(1)).collect(),
        });
        let mut c = Client::connect(port);
        for i in 0..KEYS {
            let v = format!("{}|1", key(i));
            assert_eq!(c.cmd(&["SET", &key(i), &v]), b"+OK\r\n");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut threads = Vec::new();
        for w in 0..writers {
            let (stop, seen, versions) = (stop.clone(), seen.clone(), versions.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    // Each writer owns the keys i with i % writers == w.
                    let v = versions.issued[i].fetch_add(1, Ordering::SeqCst) + 1;
                    let reply = c.cmd(&["SET", &key(i), &format!("{}|{v}", key(i))]);
                    let mut s = seen.lock().expect("lock");
                    s.ops += 1;
                    if reply == b"+OK\r\n" {
                        versions.acked[i].fetch_max(v, Ordering::SeqCst);
                    } else {
                        note_error(&mut s, &reply, "SET");
                    }
                    drop(s);
                    i = (i + writers) % KEYS;
                }
            }));
        }
        for r in 0..readers {
            let (stop, seen, versions) = (stop.clone(), seen.clone(), versions.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = Client::connect(port);
                // Readers hammer a few keys (so they are hot and cached) and
                // sweep the rest.
                let mut n = r;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let i = if n % 2 == 0 { n % 8 } else { n % KEYS };
                    let floor = versions.acked[i].load(Ordering::SeqCst);
                    let reply = c.cmd(&["GET", &key(i)]);
                    let ceiling = versions.issued[i].load(Ordering::SeqCst);
                    let mut s = seen.lock().expect("lock");
                    s.ops += 1;
                    if reply.starts_with(b"-") {
                        note_error(&mut s, &reply, "GET");
                        continue;
                    }
                    let text = String::from_utf8_lossy(&reply).into_owned();
                    let value = text.split("\r\n").nth(1).unwrap_or("");
                    let ok = value.split_once('|').is_some_and(|(k, v)| {
                        k == key(i) && v.parse::<u64>().is_ok_and(|v| v >= floor && v <= ceiling)
                    });
                    if !ok {
                        s.wrong.push(format!(
                            "GET {} answered {text:?}; acked before it {floor}, issued after {ceiling}",
                            key(i)
                        ));
                    }
                }
            }));
        }
        Self { stop, seen, versions, threads }
    }

    /// Stops the clients and returns what they saw.
    fn stop(self) -> (Seen, Arc<Versions>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("workload thread");
        }
        let seen = std::mem::take(&mut *self.seen.lock().expect("lock"));
        (seen, self.versions)
    }

    fn ops(&self) -> u64 {
        self.seen.lock().expect("lock").ops
    }
}

fn note_error(s: &mut Seen, reply: &[u8], what: &str) {
    if reply.starts_with(b"-MOVED") || reply.starts_with(b"-ASK") {
        s.wrong.push(format!("{what} answered {:?}", String::from_utf8_lossy(reply)));
    }
    s.errors.push(Instant::now());
    if s.first_errors.len() < 5 {
        s.first_errors.push(format!("{what} answered {:?}", String::from_utf8_lossy(reply)));
    }
}

/// Waits until the workload has done `n` more operations.
fn run_for_ops(w: &Workload, n: u64) {
    let target = w.ops() + n;
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.ops() < target {
        assert!(Instant::now() < deadline, "the workload stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every acknowledged write is in the cluster (read straight from it).
fn check_acked(cluster: &RedisCluster, versions: &Versions) {
    let mut c = cluster.cluster_client();
    let mut lost = Vec::new();
    for i in 0..KEYS {
        let reply = c.cmd(&["GET", &key(i)]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let v: u64 = text
            .split("\r\n")
            .nth(1)
            .and_then(|v| v.split_once('|'))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let acked = versions.acked[i].load(Ordering::SeqCst);
        if v < acked {
            lost.push(format!("{}: acknowledged {acked}, cluster has {text:?}", key(i)));
        }
    }
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:#?}");
}

/// The span between the first and the last error, if any.
fn error_window(errors: &[Instant]) -> Option<Duration> {
    Some(errors.iter().max()?.duration_since(*errors.iter().min()?))
}

fn hotcache_for(cluster: &RedisCluster, threads: usize) -> Hotcache {
    let t = threads.to_string();
    Hotcache::start(&["--cluster", &cluster.url(), "--threads", &t, "--cache-mode", "all"])
}

#[test]
fn resharding_under_load_is_invisible_to_clients() {
    let cluster = RedisCluster::start(3, 1);
    let hc = hotcache_for(&cluster, 2);
    reshards_under_load(&cluster, &hc);
}

/// Two reshards (`redis-cli --cluster reshard`) while writers, readers and a
/// load tool run through `hc`: no error, no wrong reply, every write
/// acknowledged kept (also run over TLS: `tls::cluster`).
pub(crate) fn reshards_under_load(cluster: &RedisCluster, hc: &Hotcache) {
    let w = Workload::start(hc.port, 2, 3);
    let tool = LoadTool::start(hc.port, 6);
    run_for_ops(&w, 2_000);
    let masters = cluster.masters();
    // Move a third of one master's slots, then some back the other way, while
    // the load runs.
    let reshard = cluster.spawn_reshard(masters[0], masters[1], 1500);
    reshard.finish(cluster);
    run_for_ops(&w, 2_000);
    let reshard = cluster.spawn_reshard(masters[1], masters[2], 700);
    reshard.finish(cluster);
    run_for_ops(&w, 2_000);
    let (seen, versions) = w.stop();
    let (tool_ops, tool_errors) = tool.finish();
    let info = hc.client().cmd_str(&["INFO", "hotcache"]);
    eprintln!(
        "reshard: {} checked operations, {} errors; load tool {tool_ops} operations, {tool_errors} errors; {}",
        seen.ops,
        seen.errors.len(),
        info.lines().filter(|l| l.starts_with("cluster_")).collect::<Vec<_>>().join(" ")
    );
    assert!(seen.wrong.is_empty(), "wrong replies: {:#?}", &seen.wrong[..seen.wrong.len().min(20)]);
    assert!(
        seen.errors.is_empty(),
        "{} errors while resharding, the first: {:?}",
        seen.errors.len(),
        seen.first_errors
    );
    assert_eq!(tool_errors, 0, "the load tool saw errors while resharding");
    check_acked(cluster, &versions);
}

#[test]
fn master_killed_under_load_fails_over() {
    let mut cluster = RedisCluster::start_for_failovers(3, 1);
    let hc = hotcache_for(&cluster, 2);
    let w = Workload::start(hc.port, 2, 3);
    let tool = LoadTool::start(hc.port, 10);
    run_for_ops(&w, 2_000);
    let victim = cluster.master_for_key(key(0).as_bytes());
    let killed_at = Instant::now();
    cluster.kill(victim);
    cluster.wait_ok();
    // Served again: a write and a read of a key of the failed master's slots.
    let mut c = Client::connect(hc.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.cmd(&["SET", "ops:probe0", "x"]) != b"+OK\r\n"
        || c.cmd(&["GET", &key(0)]).starts_with(b"-")
    {
        assert!(Instant::now() < deadline, "the failed master's slots are not served again");
        std::thread::sleep(Duration::from_millis(20));
    }
    let back = killed_at.elapsed();
    run_for_ops(&w, 3_000);
    let (seen, versions) = w.stop();
    let _ = tool.finish();
    eprintln!(
        "failover (SIGKILL): served again {:.2} s after the kill; {} operations, {} errors over {:?}",
        back.as_secs_f64(),
        seen.ops,
        seen.errors.len(),
        error_window(&seen.errors)
    );
    assert!(seen.wrong.is_empty(), "wrong replies: {:#?}", &seen.wrong[..seen.wrong.len().min(20)]);
    check_acked(&cluster, &versions);
}

#[test]
fn manual_failover_under_load() {
    let cluster = RedisCluster::start_for_failovers(3, 1);
    let hc = hotcache_for(&cluster, 2);
    let w = Workload::start(hc.port, 2, 3);
    let tool = LoadTool::start(hc.port, 6);
    run_for_ops(&w, 2_000);
    let master = cluster.master_for_key(key(0).as_bytes());
    let replica = cluster.replica_of(master).expect("a replica");
    let started = Instant::now();
    cluster.failover(replica);
    let took = started.elapsed();
    run_for_ops(&w, 3_000);
    let (seen, versions) = w.stop();
    let _ = tool.finish();
    eprintln!(
        "CLUSTER FAILOVER: done in {:.2} s; {} operations, {} errors over {:?}",
        took.as_secs_f64(),
        seen.ops,
        seen.errors.len(),
        error_window(&seen.errors)
    );
    assert!(seen.wrong.is_empty(), "wrong replies: {:#?}", &seen.wrong[..seen.wrong.len().min(20)]);
    check_acked(&cluster, &versions);
}
