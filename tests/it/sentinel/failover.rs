//! `SENTINEL FAILOVER` under a stream of writes and cached reads through
//! hotcache.
//!
//! What Redis guarantees and what it does not: replication is asynchronous,
//! so a write the old master acknowledged may never reach the replica that is
//! promoted; nothing in the protocol prevents that. Sentinel sends the replica
//! `REPLICAOF NO ONE` one timer tick after it selects it (`+selected-slave`),
//! and the old master goes on accepting writes until it is converted to a
//! replica, ~10 s after the switch: whatever a client writes to it between
//! those moments is lost. hotcache stops writing to the old master when it
//! hears `+selected-slave` (before the replica is detached) and until the
//! promotion (`+promoted-slave`): the loss left is the replication lag at that
//! moment. So the test *prints* the acknowledged writes lost, and *asserts*
//! only what holds whatever the lag:
//!
//! * hotcache names the new master within 2 s of the sentinel's
//!   `+switch-master`, and no connection of hotcache's stays on the old master;
//! * every INCR acknowledged after hotcache's switch is in the new master: the
//!   counter's final value there is at least the last value acknowledged;
//! * no GET after the switch (served from the cache or not) returns a value
//!   from before a SET acknowledged after the switch; and GETs were served
//!   from the cache after the switch (its tracking streams came back up), so
//!   the check covered the cache;
//! * a value only the old master had (written there unreplicated, as async
//!   replication loses a write) and cached through hotcache is never served
//!   after the switch: from the first read on, hotcache answers what the new
//!   master has.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::{NAME, SentinelProc, hc_info, hotcache_behind, master_and_replica, wait_for};
use crate::common::{Hotcache, RawClient, RedisServer};

/// One INCR through hotcache: when it was sent, and its value or error.
struct Incr {
    sent: Instant,
    value: Result<i64, String>,
}

/// What the test's threads share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// When hotcache's INFO first named the new master.
    hc_switched: Mutex<Option<Instant>>,
    /// Set once `hc_switched` is (checked before each send).
    switched: AtomicBool,
    /// The highest SET sequence number acknowledged that was sent after the
    /// switch (0: none yet).
    acked_after: AtomicU64,
    /// SETs acknowledged after the switch, GETs checked after the switch.
    sets_after: AtomicU64,
    gets_after: AtomicU64,
    /// GETs that returned a value from before a SET acknowledged after the switch.
    stale: Mutex<Vec<String>>,
}

/// Sets `stop` when dropped: a failed check in the test's own thread unwinds
/// through it, so the load threads end and the failure is reported instead of
/// the scope waiting for them forever.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A value of `GET seq`, as a number (0 for a nil or an error).
fn seq_of(reply: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(reply);
    text.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0)
}

#[test]
fn failover_under_incr_stream() {
    let (master, replica) = master_and_replica();
    let sentinel = SentinelProc::start(master.port, 5000);
    sentinel.wait_replica(replica.port);
    let hc = hotcache_behind(&sentinel.addr(), &["--cache-mode", "all", "--cache-ttl", "60000"]);
    followed_through_failover(&Set {
        master: &master,
        replica: &replica,
        named: (master.port, replica.port),
        sentinel: &sentinel,
        hc: &hc,
    });
}

/// A master, its replica, a sentinel monitoring them, and hotcache behind it
/// (caching every read, for a minute).
pub struct Set<'a> {
    /// The servers, reached by the test on their plain ports.
    pub master: &'a RedisServer,
    pub replica: &'a RedisServer,
    /// The master's and the replica's ports as the sentinel names them (their
    /// TLS ports in `tls::sentinel`).
    pub named: (u16, u16),
    /// Its plain port is the test's: events, `SENTINEL FAILOVER`.
    pub sentinel: &'a SentinelProc,
    pub hc: &'a Hotcache,
}

/// `SENTINEL FAILOVER` under INCRs, checked SETs and GETs through hotcache:
/// what the module doc says.
pub fn followed_through_failover(set: &Set) {
    let Set { master, replica, sentinel, hc, .. } = *set;
    let mut info = hc.client();
    let old = format!("127.0.0.1:{}", set.named.0);
    let new = format!("127.0.0.1:{}", set.named.1);
    wait_for(Duration::from_secs(5), "hotcache follows the master", || {
        hc_info(&mut info, "sentinel_master") == old && hc_info(&mut info, "cache_tracking") == "up"
    });
    // A value the new master will not have: cached through hotcache, then
    // overwritten on the master alone (`redis.set_repl(redis.REPL_NONE)`).
    let mut lost_c = hc.client();
    assert_eq!(lost_c.cmd(&["SET", "lost", "kept"]), b"+OK\r\n");
    let mut r = replica.client();
    wait_for(Duration::from_secs(5), "the value replicated", || {
        r.cmd(&["GET", "lost"]) == b"$4\r\nkept\r\n"
    });
    let unreplicated = "redis.set_repl(redis.REPL_NONE) return redis.call('SET', KEYS[1], ARGV[1])";
    let reply = master.client().cmd(&["EVAL", unreplicated, "1", "lost", "gone"]);
    assert_eq!(reply, b"+OK\r\n");
    // Until a read of it is a hit (its tracking invalidation may come after
    // the first fill, which is then dropped).
    wait_for(Duration::from_secs(5), "hotcache caches the master's value", || {
        let hits = hc_info(&mut info, "cache_hits");
        lost_c.cmd(&["GET", "lost"]) == b"$4\r\ngone\r\n"
            && hc_info(&mut info, "cache_hits") != hits
    });
    assert_eq!(r.cmd(&["GET", "lost"]), b"$4\r\nkept\r\n");
    let shared = Arc::new(Shared::default());
    let mut events = sentinel.client();
    assert!(events.cmd_str(&["SUBSCRIBE", "+switch-master"]).contains("subscribe"));
    let (incrs, switch_at) = std::thread::scope(|s| {
        let _stop = StopOnDrop(&shared.stop);
        // INCRs, one after another.
        let incr = s.spawn(|| {
            let mut c = RawClient::connect(hc.port);
            let mut out = Vec::new();
            while !shared.stop.load(SeqCst) {
                let sent = Instant::now();
                let value = match c.try_cmd(&["INCR", "counter"]) {
                    Ok(r) if r.starts_with(b":") => String::from_utf8_lossy(&r[1..r.len() - 2])
                        .parse::<i64>()
                        .map_err(|e| e.to_string()),
                    Ok(r) => Err(String::from_utf8_lossy(&r).trim_end().to_string()),
                    Err(e) => {
                        c = RawClient::connect(hc.port);
                        Err(e.to_string())
                    }
                };
                // As a client would, back off a little after an error (and
                // leave the cores to the failover meanwhile).
                if value.is_err() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                out.push(Incr { sent, value });
            }
            out
        });
        // SETs of increasing sequence numbers, and GETs checked against them.
        s.spawn(|| {
            let mut c = RawClient::connect(hc.port);
            let mut seq = 0u64;
            while !shared.stop.load(SeqCst) {
                seq += 1;
                let after = shared.switched.load(SeqCst);
                if c.try_cmd(&["SET", "seq", &seq.to_string()]).is_ok_and(|r| r == b"+OK\r\n")
                    && after
                {
                    shared.acked_after.store(seq, SeqCst);
                    shared.sets_after.fetch_add(1, SeqCst);
                }
                // Paced, so that reads between two SETs are served from the
                // cache (each SET invalidates the key).
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                let mut c = RawClient::connect(hc.port);
                while !shared.stop.load(SeqCst) {
                    let floor = shared.acked_after.load(SeqCst);
                    let Ok(r) = c.try_cmd(&["GET", "seq"]) else {
                        c = RawClient::connect(hc.port);
                        continue;
                    };
                    if floor > 0 {
                        shared.gets_after.fetch_add(1, SeqCst);
                        let got = seq_of(&r);
                        if got < floor {
                            let mut stale = shared.stale.lock().expect("stale");
                            stale.push(format!(
                                "GET seq = {got} after SET seq {floor} acknowledged"
                            ));
                        }
                    }
                }
            });
        }
        // The value only the old master had, read from the moment hotcache
        // switched, on the connection (so the thread, and its cache) that
        // cached it.
        let sh = &*shared;
        let lost_reads = s.spawn(move || {
            while !sh.switched.load(SeqCst) && !sh.stop.load(SeqCst) {
                std::thread::sleep(Duration::from_micros(200));
            }
            (0..200).map(|_| lost_c.cmd_str(&["GET", "lost"])).collect::<Vec<_>>()
        });
        // hotcache's view of the master, as often as INFO answers.
        s.spawn(|| {
            let mut c = RawClient::connect(hc.port);
            while !shared.stop.load(SeqCst) && !shared.switched.load(SeqCst) {
                if hc_info(&mut c, "sentinel_master") == new {
                    *shared.hc_switched.lock().expect("switched") = Some(Instant::now());
                    shared.switched.store(true, SeqCst);
                }
                // Paced, not to take a core from hotcache (1 ms of resolution).
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // Under load before the failover, and for a while after hotcache switched.
        let mut m = master.client();
        wait_for(Duration::from_secs(10), "writes flow", || {
            String::from_utf8_lossy(&m.cmd(&["GET", "counter"]))
                .lines()
                .nth(1)
                .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 500))
        });
        assert_eq!(sentinel.client().cmd(&["SENTINEL", "FAILOVER", NAME]), b"+OK\r\n");
        events.set_timeout(Duration::from_secs(30));
        let msg = String::from_utf8_lossy(&events.read_reply()).into_owned();
        let switch_at = Instant::now();
        assert!(
            msg.contains(&format!("{NAME} {} {}", old.replace(':', " "), new.replace(':', " "))),
            "{msg}"
        );
        wait_for(Duration::from_secs(10), "hotcache follows", || shared.switched.load(SeqCst));
        let hits = |c: &mut RawClient| -> u64 { hc_info(c, "cache_hits").parse().unwrap_or(0) };
        let hits_at_switch = hits(&mut info);
        wait_for(Duration::from_secs(10), "traffic after the switch, some from the cache", || {
            shared.sets_after.load(SeqCst) > 200
                && shared.gets_after.load(SeqCst) > 500
                && hits(&mut info) > hits_at_switch + 100
        });
        shared.stop.store(true, SeqCst);
        let lost = lost_reads.join().expect("lost reads");
        let wrong: Vec<&String> = lost.iter().filter(|r| *r != "$4\r\nkept\r\n").collect();
        assert!(wrong.is_empty(), "after the switch, GET lost answered {wrong:?}");
        (incr.join().expect("incr thread"), switch_at)
    });
    let hc_switched = shared.hc_switched.lock().expect("switched").expect("hotcache switched");
    let follow_ms = hc_switched.saturating_duration_since(switch_at).as_secs_f64() * 1000.0
        - switch_at.saturating_duration_since(hc_switched).as_secs_f64() * 1000.0;

    // The counter at the new master, against what was acknowledged (on a new
    // connection: the promotion killed the replica's normal clients).
    let final_value: i64 = String::from_utf8_lossy(&replica.client().cmd(&["GET", "counter"]))
        .lines()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("counter at the new master");
    let acked: Vec<(Instant, i64)> =
        incrs.iter().filter_map(|i| i.value.as_ref().ok().map(|v| (i.sent, *v))).collect();
    let errors: Vec<&Incr> = incrs.iter().filter(|i| i.value.is_err()).collect();
    // Acknowledged increments the new master lost: drops in the sequence of
    // values acknowledged (one writer: each INCR sees the one before it).
    let mut lost = 0i64;
    let mut prev = 0i64;
    for &(_, v) in &acked {
        if v <= prev {
            lost += prev - v + 1;
        }
        prev = v;
    }
    let &(last_sent, last_value) = acked.last().expect("INCRs acknowledged");
    let rel = |t: Instant| {
        t.saturating_duration_since(switch_at).as_secs_f64() * 1000.0
            - switch_at.saturating_duration_since(t).as_secs_f64() * 1000.0
    };
    let (first_err, last_err) = match (errors.first(), errors.last()) {
        (Some(a), Some(b)) => (format!("{:.0}", rel(a.sent)), format!("{:.0}", rel(b.sent))),
        _ => ("-".into(), "-".into()),
    };
    let info = info.cmd_str(&["INFO", "hotcache"]);
    let field = |f: &str| super::info_str(&info, f).unwrap_or_default();
    eprintln!(
        "SENTINEL FAILOVER: hotcache followed {follow_ms:.0} ms after +switch-master; \
         INCR acknowledged {} (last value {last_value}), errors {} (sent {first_err}..{last_err} ms \
         around +switch-master; first: {:?}), final at the new master {final_value}, \
         acknowledged increments lost {lost}; fences {}, switches {}",
        acked.len(),
        errors.len(),
        errors.first().and_then(|e| e.value.as_ref().err()),
        field("sentinel_fences"),
        field("sentinel_switches"),
    );
    assert!(follow_ms < 2000.0, "hotcache followed {follow_ms:.0} ms after +switch-master");
    assert_eq!(field("sentinel_switches"), "1");
    // The last INCR went to the new master (sent after hotcache switched):
    // what it acknowledged is there, whatever was lost before.
    assert!(last_sent > hc_switched, "the last INCR was sent after the switch");
    assert!(final_value >= last_value, "final {final_value} < last acknowledged {last_value}");
    let stale = shared.stale.lock().expect("stale");
    assert!(stale.is_empty(), "{} stale reads, first: {:?}", stale.len(), stale.first());
    // hotcache left the old master: none of its connections stay there.
    let mut m = master.client();
    wait_for(Duration::from_secs(2), "no hotcache connection on the old master", || {
        !m.cmd_str(&["CLIENT", "LIST"]).contains("name=hotcache")
    });
}
