//! Faults with real processes: the upstream killed, frozen, slowed, reset or cut
//! through the fault proxy (`faultproxy.rs`), and clients that misbehave.
//!
//! The shared workload ([`Load`]) runs clients that pipeline, for each request,
//! `SET k v`, `ECHO v`, `GET k` with a key and a value unique to that request, and
//! check every reply against the request it answers: a reply given to the wrong
//! request (a desynchronised connection) can never pass, because no other request
//! has the same value. Writes acknowledged with `+OK` are recorded, so a test can
//! check that Redis holds every one of them.
//!
//! Tests wait with deadlines, never for a fixed time, except for short sleeps that
//! let a fault act (each is commented). Figures (recovery times, peak memory) are
//! printed with `eprintln!` for the report; run with `--nocapture` to see them.

mod clients;
mod proxy;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, encode};

/// How long a client waits for a reply before the test calls it a hang.
const HANG: Duration = Duration::from_secs(8);

/// Polls `ok` until it holds; panics with `what` after `timeout`. Returns how
/// long it took.
pub fn wait_until(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if ok() {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A field of `INFO hotcache` (answered by hotcache alone, Redis or not).
pub fn hotcache_field(c: &mut RawClient, field: &str) -> u64 {
    let info = c.cmd_str(&["INFO", "hotcache"]);
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

/// `VmRSS` and `VmHWM` (peak resident memory) of a process, in bytes.
pub fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Panics if the process has exited.
pub fn assert_alive(hc: &mut Hotcache) {
    if let Ok(Some(status)) = hc.child.try_wait() {
        panic!("hotcache exited: {status}");
    }
}

/// A bulk reply.
pub fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// The errors hotcache gives for a request its upstream could not answer.
pub fn is_upstream_error(reply: &[u8]) -> bool {
    reply.starts_with(b"-ERR upstream ") && reply.ends_with(b"\r\n")
}

fn show(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    if text.len() > 120 {
        format!("{}... ({} bytes)", &text[..120], reply.len())
    } else {
        text.into()
    }
}

/// How one `SET k v` / `ECHO v` / `GET k` request went. Panics on any reply the
/// request cannot get, naming it.
fn check_request(set: &[u8], echo: &[u8], get: &[u8], value: &str, at: &str) -> bool {
    let v = bulk(value);
    assert_eq!(echo, &v[..], "{at}: ECHO (answered by hotcache) got {}", show(echo));
    let acked = set == b"+OK\r\n";
    assert!(acked || is_upstream_error(set), "{at}: SET got {}", show(set));
    // After +OK the GET runs after the SET on the same connection: it sees the
    // value or fails. After a failed SET it may also find no key.
    let get_ok = get == &v[..] || is_upstream_error(get) || (!acked && get == b"$-1\r\n");
    assert!(get_ok, "{at}: GET after SET {} got {}", show(set), show(get));
    acked && get == &v[..]
}

/// What a client of the workload has seen so far, for tests to poll.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Pipelines completed.
    pub batches: u64,
    /// When the last pipeline in which every request succeeded completed.
    pub last_ok: Option<Instant>,
    /// When the last upstream error reply arrived.
    pub last_error: Option<Instant>,
    /// The last error reply, and the request it answered.
    pub last_error_text: String,
    pub errors: u64,
    pub ok: u64,
    /// Longest wait for one pipeline's replies.
    pub slowest: Duration,
}

/// What a client of the workload did, once stopped.
pub struct ClientLog {
    /// Keys and values of the writes acknowledged with +OK.
    pub acked: Vec<(String, String)>,
}

/// Clients pipelining `SET`/`ECHO`/`GET` requests through hotcache until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    pub progress: Vec<Arc<Mutex<Progress>>>,
    handles: Vec<JoinHandle<ClientLog>>,
}

impl Load {
    /// `clients` threads, each sending pipelines of `depth` requests whose values
    /// are at least `value_size` bytes.
    pub fn start(port: u16, clients: usize, depth: usize, value_size: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut progress = Vec::new();
        let mut handles = Vec::new();
        for client in 0..clients {
            let p = Arc::new(Mutex::new(Progress::default()));
            progress.push(p.clone());
            let stop = stop.clone();
            let tag = format!("{tag}:{client}");
            handles.push(std::thread::spawn(move || {
                run_client(port, &tag, depth, value_size, &stop, &p)
            }));
        }
        Self { stop, progress, handles }
    }

    /// Panics if a client has ended while it should still run: it failed a
    /// check (its panic message is printed above).
    fn check_clients(&self) {
        if !self.stop.load(SeqCst)
            && let Some(i) = self.handles.iter().position(|h| h.is_finished())
        {
            panic!("workload client {i} failed (see its message above)");
        }
    }

    /// A snapshot of every client's progress.
    pub fn snapshot(&self) -> Vec<Progress> {
        self.progress.iter().map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }

    /// Waits until every client has completed a fully successful pipeline after
    /// `since`; returns how long after `since` that was (to a poll's precision).
    pub fn wait_all_ok_after(&self, since: Instant, timeout: Duration, what: &str) -> Duration {
        let left = timeout.saturating_sub(since.elapsed());
        wait_until(left, what, || {
            self.check_clients();
            self.snapshot().iter().all(|p| p.last_ok.is_some_and(|t| t > since))
        });
        since.elapsed()
    }

    /// Waits until every client has completed `n` more pipelines.
    pub fn wait_batches(&self, n: u64, timeout: Duration, what: &str) {
        let start: Vec<u64> = self.snapshot().iter().map(|p| p.batches).collect();
        wait_until(timeout, what, || {
            self.check_clients();
            self.snapshot().iter().zip(&start).all(|(p, s)| p.batches >= s + n)
        });
    }

    /// Totals over the clients: (requests acknowledged, upstream errors, slowest pipeline).
    pub fn totals(&self) -> (u64, u64, Duration) {
        let s = self.snapshot();
        (
            s.iter().map(|p| p.ok).sum(),
            s.iter().map(|p| p.errors).sum(),
            s.iter().map(|p| p.slowest).max().unwrap_or_default(),
        )
    }

    /// The last error any client saw (empty if none).
    pub fn last_error(&self) -> String {
        let s = self.snapshot();
        s.iter()
            .filter(|p| p.last_error.is_some())
            .map(|p| p.last_error_text.clone())
            .next_back()
            .unwrap_or_default()
    }

    /// Stops the clients and returns their logs; a client that failed a check
    /// fails the test here.
    pub fn stop(self) -> Vec<ClientLog> {
        self.stop.store(true, SeqCst);
        self.handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.join().unwrap_or_else(|_| panic!("workload client {i} failed")))
            .collect()
    }
}

fn run_client(
    port: u16,
    tag: &str,
    depth: usize,
    value_size: usize,
    stop: &AtomicBool,
    progress: &Mutex<Progress>,
) -> ClientLog {
    let mut c = RawClient::connect(port);
    c.set_timeout(HANG);
    let pad = "x".repeat(value_size);
    let mut acked = Vec::new();
    let mut seq = 0u64;
    while !stop.load(SeqCst) {
        let mut batch = Vec::new();
        let mut sent = Vec::with_capacity(depth);
        for _ in 0..depth {
            seq += 1;
            let key = format!("fault:{tag}:{seq}");
            let value = format!("{tag}:{seq}:{pad}");
            batch.extend(encode(&["SET", &key, &value]));
            batch.extend(encode(&["ECHO", &value]));
            batch.extend(encode(&["GET", &key]));
            sent.push((key, value));
        }
        let started = Instant::now();
        c.send(&batch);
        let (mut ok, mut errors) = (0, 0);
        let mut last_error = None;
        let mut last_error_text = String::new();
        for (key, value) in sent {
            let at = format!("client {tag} request {key}");
            let mut read = |what: &str| {
                c.try_read_reply().unwrap_or_else(|e| {
                    panic!("{at}: no reply to {what} (hang or disconnect): {e}")
                })
            };
            let (set, echo, get) = (read("SET"), read("ECHO"), read("GET"));
            if check_request(&set, &echo, &get, &value, &at) {
                ok += 1;
            } else {
                errors += 1;
                last_error = Some(Instant::now());
                last_error_text = format!("{at}: SET {} GET {}", show(&set), show(&get));
            }
            if set == b"+OK\r\n" {
                acked.push((key, value));
            }
        }
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        p.batches += 1;
        p.ok += ok;
        p.errors += errors;
        p.slowest = p.slowest.max(started.elapsed());
        if errors == 0 {
            p.last_ok = Some(Instant::now());
        }
        if last_error.is_some() {
            p.last_error = last_error;
            p.last_error_text = last_error_text;
        }
    }
    ClientLog { acked }
}

/// Every acknowledged write is in Redis with its value (checked straight at Redis).
pub fn assert_acked_in_redis(redis_port: u16, logs: &[ClientLog]) -> usize {
    let mut direct = RawClient::connect(redis_port);
    let mut n = 0;
    for log in logs {
        for chunk in log.acked.chunks(500) {
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
            let mut args = vec!["MGET"];
            args.extend(&keys);
            let reply = direct.cmd(&args);
            let mut want = format!("*{}\r\n", chunk.len()).into_bytes();
            for (_, v) in chunk {
                want.extend(bulk(v));
            }
            if reply != want {
                let missing = chunk
                    .iter()
                    .find(|(k, v)| direct.cmd(&["GET", k]) != bulk(v))
                    .map(|(k, _)| k.clone());
                panic!("an acknowledged write is not in Redis: {missing:?}");
            }
            n += chunk.len();
        }
    }
    n
}

/// Redis is killed (SIGKILL) under load, then a new one starts on its port.
/// hotcache stays up; while Redis is gone its clients get error replies, quickly
/// and on the same connection; once Redis is back every client succeeds again
/// within 5 s; no reply ever goes to the wrong request.
#[test]
fn upstream_killed_and_restarted_under_load() {
    let mut redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 2, &[]);
    let load = Load::start(hc.port, 6, 20, 16, "kill");
    load.wait_batches(5, Duration::from_secs(10), "load running before the kill");

    redis.kill();
    let killed = Instant::now();
    let to_errors = wait_until(Duration::from_secs(5), "every client gets an error", || {
        load.snapshot().iter().all(|p| p.last_error.is_some_and(|t| t > killed))
    });
    // Let the outage last a while: clients keep failing fast, not hanging.
    std::thread::sleep(Duration::from_millis(500));
    let mut probe = hc.client();
    assert_eq!(probe.cmd(&["PING"]), b"+PONG\r\n");
    let during = probe.cmd(&["GET", "anything"]);
    assert!(is_upstream_error(&during), "GET while Redis is down: {}", show(&during));
    assert_alive(&mut hc);

    // A new redis-server on the same port (empty: persistence is off).
    redis.restart();
    let restarted = Instant::now();
    let recovery = load.wait_all_ok_after(restarted, Duration::from_secs(5), "recovery");
    let (ok, errors, slowest) = load.totals();
    load.stop();
    assert_alive(&mut hc);
    assert!(errors > 0, "no client saw the outage");
    eprintln!(
        "upstream SIGKILL: every client had an error {to_errors:?} after the kill; all clients \
         succeeded again {recovery:?} after the restart; {ok} requests ok, {errors} failed, \
         slowest pipeline {slowest:?}"
    );
    assert!(slowest < Duration::from_secs(2), "a pipeline waited {slowest:?}");
    assert_eq!(probe.cmd(&["SET", "after", "restart"]), b"+OK\r\n");
    assert_eq!(redis.client().cmd(&["GET", "after"]), bulk("restart"));
}

/// Redis frozen with SIGSTOP, then SIGCONT: meanwhile hotcache keeps answering
/// what needs no Redis (PING, INFO hotcache) at once, on new connections and on
/// idle ones; afterwards every waiting request gets its own, correct reply.
#[test]
fn upstream_frozen_then_resumed() {
    let redis = RedisServer::start();
    let mut hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut idle = hc.client();
    let load = Load::start(hc.port, 4, 20, 16, "stop");
    load.wait_batches(5, Duration::from_secs(10), "load running before the freeze");

    redis.signal("STOP");
    let stopped = Instant::now();
    // Let requests pile up at the frozen Redis.
    std::thread::sleep(Duration::from_millis(300));
    let batches_frozen: u64 = load.snapshot().iter().map(|p| p.batches).sum();
    let mut local_slowest = Duration::ZERO;
    for round in 0..10 {
        let t = Instant::now();
        let mut fresh = hc.client();
        fresh.set_timeout(Duration::from_secs(2));
        assert_eq!(fresh.cmd(&["PING"]), b"+PONG\r\n", "round {round}");
        assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n", "round {round}");
        let info = idle.cmd_str(&["INFO", "hotcache"]);
        assert!(info.contains("connected_clients:"), "{info}");
        assert_eq!(fresh.cmd(&["ECHO", "still here"]), bulk("still here"));
        local_slowest = local_slowest.max(t.elapsed());
        // Spread the probes over the freeze.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_alive(&mut hc);
    let batches_after: u64 = load.snapshot().iter().map(|p| p.batches).sum();
    // Redis answered nothing: the clients made no progress (at most the pipelines
    // whose replies were already on their way).
    assert!(batches_after <= batches_frozen + 4, "{batches_frozen} -> {batches_after}");
    let frozen_for = stopped.elapsed();

    redis.signal("CONT");
    let resumed = Instant::now();
    let recovery = load.wait_all_ok_after(resumed, Duration::from_secs(5), "resume after SIGCONT");
    load.wait_batches(3, Duration::from_secs(10), "steady after SIGCONT");
    let (ok, errors, slowest) = load.totals();
    load.stop();
    assert_alive(&mut hc);
    eprintln!(
        "upstream SIGSTOP for {frozen_for:?}: local commands answered within {local_slowest:?}; \
         all clients succeeded again {recovery:?} after SIGCONT; {ok} requests ok, {errors} \
         failed; slowest pipeline {slowest:?} (within upstream-timeout: requests wait out the freeze)"
    );
    assert!(local_slowest < Duration::from_secs(1), "PING/INFO took {local_slowest:?}");
    assert_eq!(idle.cmd(&["SET", "after", "cont"]), b"+OK\r\n");
    assert_eq!(idle.cmd(&["GET", "after"]), bulk("cont"));
}
