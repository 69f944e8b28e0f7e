//! A randomized concurrency checker for the cache's freshness rules.
//!
//! One writer per key writes increasing numbers, each time at random through
//! hotcache or straight to Redis; readers read the keys through hotcache (GET and
//! MGET). Every read must return a value that was current at some moment of the
//! read's interval: no older than the last write acknowledged before the read
//! began (for writes straight to Redis, allowing the tracking delay), and not a
//! value whose write had not yet begun when the read ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer};

const KEYS: usize = 6;
const RUN: Duration = Duration::from_secs(3);
/// Reads and cache hits a run needs before it may stop.
const MIN_READS: usize = 1000;
const MIN_HITS: u64 = 100;
/// How far behind a write straight to Redis a read may be: the tracking delay.
/// (hotcache reads its tracking socket before serving a hit, so in practice the
/// delay is Redis writing the invalidation a moment after the write's reply.)
const TRACKING_DELAY: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug)]
struct Write {
    value: u64,
    start: Instant,
    end: Instant,
    direct: bool,
}

#[derive(Clone, Copy, Debug)]
struct Read {
    key: usize,
    value: u64,
    start: Instant,
    end: Instant,
}

/// A small xorshift generator: the checker needs no crate for randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn value_of(reply: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(reply);
    text.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("reply {text:?}"))
}

fn run(threads: usize) {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(
        &redis,
        threads,
        &["--cache-mode", "all", "--cache-ttl", "60000", "--singleflight-timeout", "60000"],
    );
    {
        let mut c = redis.client();
        for k in 0..KEYS {
            assert_eq!(c.cmd(&["SET", &format!("ck{k}"), "0"]), b"+OK\r\n");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let read_count = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let writers: Vec<_> = (0..KEYS)
        .map(|k| {
            let (stop, hport, rport) = (stop.clone(), hc.port, redis.port);
            std::thread::spawn(move || {
                let mut via_hc = RawClient::connect(hport);
                let mut direct = RawClient::connect(rport);
                let mut rng = Rng(0x1234_5678 + k as u64);
                let mut log = vec![Write { value: 0, start: t0, end: t0, direct: true }];
                let mut value = 0;
                while !stop.load(Ordering::Acquire) {
                    value += 1;
                    let is_direct = rng.next().is_multiple_of(2);
                    let c = if is_direct { &mut direct } else { &mut via_hc };
                    let start = Instant::now();
                    assert_eq!(c.cmd(&["SET", &format!("ck{k}"), &value.to_string()]), b"+OK\r\n");
                    log.push(Write { value, start, end: Instant::now(), direct: is_direct });
                    std::thread::sleep(Duration::from_micros(rng.next() % 2000));
                }
                log
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (stop, port, read_count) = (stop.clone(), hc.port, read_count.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut rng = Rng(0x9876_5432 + r as u64);
                let mut log = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    let key = rng.next() as usize % KEYS;
                    if rng.next().is_multiple_of(4) {
                        let other = (key + 1) % KEYS;
                        let start = Instant::now();
                        let reply = c.cmd(&["MGET", &format!("ck{key}"), &format!("ck{other}")]);
                        let end = Instant::now();
                        let text = String::from_utf8_lossy(&reply).into_owned();
                        let lines: Vec<&str> = text.lines().collect();
                        for (i, k) in [(2, key), (4, other)] {
                            let value =
                                lines.get(i).and_then(|l| l.parse().ok()).expect("MGET value");
                            log.push(Read { key: k, value, start, end });
                        }
                    } else {
                        let start = Instant::now();
                        let reply = c.cmd(&["GET", &format!("ck{key}")]);
                        log.push(Read { key, value: value_of(&reply), start, end: Instant::now() });
                    }
                    read_count.fetch_add(1, Ordering::Relaxed);
                }
                log
            })
        })
        .collect();
    std::thread::sleep(RUN);
    // On a busy machine the run goes on until there was enough load to check
    // (bounded: a hotcache that never serves hits fails below).
    let mut admin = hc.client();
    let enough = |admin: &mut RawClient| {
        let hits = crate::cache::info_field(&admin.cmd_str(&["INFO", "hotcache"]), "cache_hits");
        read_count.load(Ordering::Relaxed) > MIN_READS && hits > MIN_HITS
    };
    while !enough(&mut admin) && t0.elapsed() < RUN * 20 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Release);
    let writes: Vec<Vec<Write>> = writers.into_iter().map(|w| w.join().expect("writer")).collect();
    let reads: Vec<Read> = readers.into_iter().flat_map(|r| r.join().expect("reader")).collect();

    let mut violations = Vec::new();
    let mut worst_lag = Duration::ZERO;
    for r in &reads {
        let log = &writes[r.key];
        // The newest write that must be visible when the read began.
        let floor = log
            .iter()
            .filter(|w| if w.direct { w.end + TRACKING_DELAY < r.start } else { w.end < r.start })
            .map(|w| w.value)
            .max()
            .unwrap_or(0);
        // No value from a write that began after the read ended.
        let ceiling = log.iter().filter(|w| w.start < r.end).map(|w| w.value).max().unwrap_or(0);
        if r.value < floor || r.value > ceiling {
            violations.push(format!(
                "key ck{} read {} in [{:?}, {:?}], allowed {floor}..={ceiling}",
                r.key,
                r.value,
                r.start - t0,
                r.end - t0
            ));
        }
        // How stale was it, relative to the next write's acknowledgement?
        if let Some(next) = log.iter().find(|w| w.value == r.value + 1)
            && next.end < r.start
        {
            worst_lag = worst_lag.max(r.start - next.end);
        }
    }
    let info = hc.client().cmd_str(&["INFO", "hotcache"]);
    let hits = crate::cache::info_field(&info, "cache_hits");
    let total_writes: usize = writes.iter().map(Vec::len).sum();
    eprintln!(
        "checker, {threads} thread(s): {} reads ({hits} cache hits), {total_writes} writes, worst staleness {worst_lag:?}",
        reads.len()
    );
    assert!(
        violations.is_empty(),
        "{} stale or impossible reads:\n{}",
        violations.len(),
        violations.join("\n")
    );
    assert!(
        reads.len() > MIN_READS && hits > MIN_HITS,
        "too little load to check anything: {info}"
    );
}

#[test]
fn randomized_freshness_checker_one_thread() {
    run(1);
}

#[test]
fn randomized_freshness_checker_two_threads() {
    run(2);
}
