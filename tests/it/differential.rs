//! Differential tests: the same command corpus goes to a real Redis (A) and to
//! hotcache in front of another real Redis (B), and every reply must be the same
//! bytes, in RESP2 and RESP3, one command at a time and pipelined in one write.
//!
//! Where a reply legitimately differs between two servers (ids, clocks, the
//! server's name in HELLO, per-process numbers in INFO), the step's
//! [`Check`](corpus::Check) says how it is normalised and why.

pub(crate) mod check;
pub(crate) mod corpus;
pub(crate) mod resp;
mod sessions;

use std::io::Write;
use std::time::Duration;

use check::compare;
pub(crate) use check::compare_hello;
use corpus::{Check, Dumps, Step};
use resp::Value;
pub(crate) use resp::show;

use crate::common::{Hotcache, RawClient, RedisServer};

/// Takes the DUMP payloads the corpus restores, from the reference Redis.
fn dumps(a: &RedisServer) -> Dumps {
    let mut c = a.client();
    let bulk = |r: Vec<u8>| match resp::parse(&r) {
        Ok(Value::Blob(b'$', body)) => body,
        other => panic!("DUMP reply {other:?}"),
    };
    c.cmd(&["SET", "dump:src", "restored value"]);
    let string = bulk(c.cmd(&["DUMP", "dump:src"]));
    c.cmd(&["RPUSH", "dump:list", "x", "y", "z"]);
    let list = bulk(c.cmd(&["DUMP", "dump:list"]));
    c.cmd(&["DEL", "dump:src", "dump:list"]);
    Dumps { string, list }
}

/// The servers of one differential test.
struct Pair {
    a: RedisServer,
    _b: RedisServer,
    h: Hotcache,
    dumps: Dumps,
    /// Send every cacheable read twice, so the second can come from the cache.
    repeat_reads: bool,
}

impl Pair {
    fn start(threads: usize) -> Self {
        Self::start_with(threads, &[])
    }

    fn start_with(threads: usize, flags: &[&str]) -> Self {
        let a = RedisServer::start();
        let b = RedisServer::start();
        let h = Hotcache::in_front_of(&b, threads, flags);
        let dumps = dumps(&a);
        // Sessions count clients (CLIENT KILL's reply, CLIENT LIST): start
        // once the readiness checks' connections are gone from both.
        only_one_client(a.port);
        only_one_client(h.port);
        Self { a, _b: b, h, dumps, repeat_reads: flags.contains(&"all") }
    }

    /// Waits until hotcache's own tracking stream is up, so that clients'
    /// CLIENT TRACKING is served by hotcache (before that, Redis serves it
    /// on connections of their own).
    fn wait_tracking_up(&self) {
        let mut c = RawClient::connect(self.h.port);
        crate::faults::wait_until(
            std::time::Duration::from_secs(10),
            "hotcache's tracking up",
            || c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up"),
        );
    }

    /// The steps of one run: HELLO 3 first for RESP3, then the corpus.
    fn steps(&self, proto: u8) -> Vec<Step> {
        let mut steps = Vec::new();
        if proto == 3 {
            steps.push(Step {
                label: "HELLO 3".into(),
                bytes: crate::common::encode(&["HELLO", "3"]),
                replies: 1,
                check: Check::Hello,
            });
        }
        for step in corpus::build(proto, &self.dumps) {
            if self.repeat_reads && is_cacheable_read(&step) {
                steps.push(Step {
                    label: step.label.clone(),
                    bytes: step.bytes.clone(),
                    replies: step.replies,
                    check: step.check,
                });
            }
            steps.push(step);
        }
        steps
    }
}

/// Waits until the server on `port` lists one client, the one asking, which
/// then QUITs and sees the server close it (both Redis and hotcache forget a
/// client before closing its socket): no client is left when this returns.
fn only_one_client(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = RawClient::connect(port);
        let list = c.cmd_str(&["CLIENT", "LIST"]);
        assert_eq!(c.cmd_str(&["QUIT"]), "+OK\r\n");
        assert!(c.is_closed(Duration::from_secs(5)), "QUIT did not close the connection");
        if list.starts_with('-') || list.lines().filter(|l| l.contains("id=")).count() == 1 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "clients left over on {port}: {list}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True for a step that is one command whose reply hotcache may cache.
fn is_cacheable_read(step: &Step) -> bool {
    use hotcache::protocol::{ParseOutcome, RequestLimits, RequestParser};
    let mut buf = bytes::BytesMut::from(&step.bytes[..]);
    let ParseOutcome::Command(req) =
        RequestParser::new().parse(&mut buf, &RequestLimits::default(), false)
    else {
        return false;
    };
    buf.is_empty()
        && step.replies == 1
        && matches!(hotcache::cmd::lookup(&req.args), hotcache::cmd::Lookup::Found(c) if c.cacheable != hotcache::cmd::Cacheable::No)
}

fn failure(proto: u8, mode: &str, i: usize, step: &Step, a: &[u8], h: &[u8], why: &str) -> String {
    format!(
        "[RESP{proto} {mode}] step {i} `{}`: {why}\n    redis    {}\n    hotcache {}",
        step.label,
        show(a),
        show(h)
    )
}

/// Reads the replies of one step (several for a raw multi-command step).
fn read_step(c: &mut RawClient, step: &Step) -> Result<Vec<Vec<u8>>, String> {
    (0..step.replies).map(|_| c.try_read_reply().map_err(|e| e.to_string())).collect()
}

/// Compares every reply of every step; returns the differences found.
fn compare_all(
    proto: u8,
    mode: &str,
    steps: &[Step],
    a: &[Vec<Vec<u8>>],
    h: &[Vec<Vec<u8>>],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (Some(ra), Some(rh)) = (a.get(i), h.get(i)) else { break };
        for (x, y) in ra.iter().zip(rh) {
            if let Err(why) = compare(step.check, x, y) {
                failures.push(failure(proto, mode, i, step, x, y, &why));
            }
        }
    }
    failures
}

/// Checks that nothing beyond the expected replies arrives.
fn no_more_replies(c: &mut RawClient) -> Result<(), String> {
    c.set_timeout(Duration::from_millis(300));
    let extra = c.try_read_reply();
    c.set_timeout(Duration::from_secs(10));
    match extra {
        Ok(frame) => Err(format!("a reply after the last expected one: {}", show(&frame))),
        Err(_) if c.leftover().is_empty() => Ok(()),
        Err(_) => Err(format!("bytes after the last reply: {}", show(c.leftover()))),
    }
}

/// Sends the steps one at a time to both and compares the replies.
fn run_sequential(pair: &Pair, proto: u8) -> Vec<String> {
    let steps = pair.steps(proto);
    let mut a = pair.a.client();
    let mut h = pair.h.client();
    let mut failures = sequential_steps(&mut a, &mut h, proto, &steps);
    for (who, c) in [("redis", &mut a), ("hotcache", &mut h)] {
        if let Err(e) = no_more_replies(c) {
            failures.push(format!("[RESP{proto} sequential] {who}: {e}"));
        }
    }
    // QUIT: +OK, then both close.
    let qa = a.cmd(&["QUIT"]);
    let qh = h.cmd(&["QUIT"]);
    if qa != qh {
        failures.push(format!("[RESP{proto}] QUIT: redis {} vs hotcache {}", show(&qa), show(&qh)));
    }
    let wait = Duration::from_secs(5);
    let (ca, ch) = (a.is_closed(wait), h.is_closed(wait));
    if ca != ch {
        failures.push(format!("[RESP{proto}] after QUIT: redis closed={ca} hotcache closed={ch}"));
    }
    failures
}

/// Sends `steps` one at a time on `a` and `h` and compares the replies.
fn sequential_steps(
    a: &mut RawClient,
    h: &mut RawClient,
    proto: u8,
    steps: &[Step],
) -> Vec<String> {
    let (mut ra, mut rh) = (Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        a.send(&step.bytes);
        h.send(&step.bytes);
        let x = read_step(a, step);
        let y = read_step(h, step);
        match (x, y) {
            (Ok(x), Ok(y)) => {
                ra.push(x);
                rh.push(y);
            }
            (x, y) => {
                failures.push(format!(
                    "[RESP{proto} sequential] step {i} `{}`: cannot read replies: redis {:?}, hotcache {:?}",
                    step.label,
                    x.err(),
                    y.err()
                ));
                return failures;
            }
        }
    }
    failures.extend(compare_all(proto, "sequential", steps, &ra, &rh));
    failures
}

/// Sends the whole run in one write to each and compares the replies, read
/// back from the one stream. Each reply is compared under its step's check, so
/// the concatenated replies are equal exactly when every one of them is.
fn run_pipelined(pair: &Pair, proto: u8) -> Vec<String> {
    let steps = pair.steps(proto);
    let all: Vec<u8> = steps.iter().flat_map(|s| s.bytes.iter().copied()).collect();
    let read_all = |port: u16| -> Result<Vec<Vec<Vec<u8>>>, String> {
        let mut c = RawClient::connect(port);
        c.set_timeout(Duration::from_secs(30));
        let mut writer = c.stream.try_clone().map_err(|e| e.to_string())?;
        let bytes = all.clone();
        // The write may not finish before replies are read (the corpus is a few
        // MB): write from another thread.
        let w = std::thread::spawn(move || writer.write_all(&bytes));
        let mut out = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            out.push(
                read_step(&mut c, step).map_err(|e| format!("step {i} `{}`: {e}", step.label))?,
            );
        }
        w.join().map_err(|_| "writer panicked".to_string())?.map_err(|e| e.to_string())?;
        no_more_replies(&mut c)?;
        Ok(out)
    };
    let (ra, rh) = std::thread::scope(|s| {
        let a = s.spawn(|| read_all(pair.a.port));
        let h = s.spawn(|| read_all(pair.h.port));
        (a.join().expect("redis reader"), h.join().expect("hotcache reader"))
    });
    match (ra, rh) {
        (Ok(ra), Ok(rh)) => compare_all(proto, "pipelined", &steps, &ra, &rh),
        (ra, rh) => vec![format!(
            "[RESP{proto} pipelined] cannot read replies: redis {:?}, hotcache {:?}",
            ra.err(),
            rh.err()
        )],
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} difference(s) between Redis and hotcache:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn sequential(threads: usize) {
    sequential_with(threads, &[]);
}

fn sequential_with(threads: usize, flags: &[&str]) {
    let pair = Pair::start_with(threads, flags);
    let mut failures = run_sequential(&pair, 2);
    failures.extend(run_sequential(&pair, 3));
    report(&failures);
    if flags.contains(&"all") {
        let info = pair.h.client().cmd_str(&["INFO", "hotcache"]);
        let hits = crate::cache::info_field(&info, "cache_hits");
        eprintln!("corpus with caching: {hits} cache hits");
        assert!(hits > 20, "the corpus barely used the cache:\n{info}");
    }
}

fn pipelined(threads: usize) {
    let pair = Pair::start(threads);
    let mut failures = run_pipelined(&pair, 2);
    failures.extend(run_pipelined(&pair, 3));
    report(&failures);
}

/// The corpus with every cacheable reply cached: any write whose invalidation
/// is missing shows as a stale reply that differs from Redis's.
#[test]
fn corpus_sequential_caching_everything() {
    sequential_with(2, &["--cache-mode", "all", "--cache-ttl", "60000", "--negative-ttl", "30000"]);
}

#[test]
fn corpus_sequential_1_thread() {
    sequential(1);
}

#[test]
fn corpus_sequential_2_threads() {
    sequential(2);
}

#[test]
fn corpus_pipelined_1_thread() {
    pipelined(1);
}

#[test]
fn corpus_pipelined_2_threads() {
    pipelined(2);
}

/// Commands hotcache answers itself (CLIENT SETNAME, CLIENT GETNAME, ...),
/// queued inside MULTI. Redis runs them at EXEC on the client's connection:
/// `EXEC` gives `*2 $6 before +OK` and the next CLIENT GETNAME `in-multi`.
/// hotcache forwards everything inside MULTI, so they run on its upstream
/// connection instead: EXEC gives the upstream connection's name (`hotcache`),
/// the client's name stays `before`, and the pooled upstream connection is left
/// renamed `in-multi`. A known difference (not a small fix: hotcache would have
/// to queue its own commands and splice their replies into EXEC's), kept apart
/// from the corpus so that the corpus tests show regressions meanwhile.
#[test]
fn local_commands_inside_multi() {
    let pair = Pair::start(1);
    let mut failures = Vec::new();
    for proto in [2, 3] {
        let mut steps = Vec::new();
        if proto == 3 {
            steps.push(Step {
                label: "HELLO 3".into(),
                bytes: crate::common::encode(&["HELLO", "3"]),
                replies: 1,
                check: Check::Hello,
            });
        }
        for line in [
            "CLIENT SETNAME before",
            "MULTI",
            "CLIENT GETNAME",
            "CLIENT SETNAME in-multi",
            "EXEC",
            "CLIENT GETNAME",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            steps.push(Step {
                label: line.into(),
                bytes: crate::common::encode(&args),
                replies: 1,
                check: Check::Exact,
            });
        }
        let mut a = pair.a.client();
        let mut h = pair.h.client();
        failures.extend(sequential_steps(&mut a, &mut h, proto, &steps));
    }
    report(&failures);
}
