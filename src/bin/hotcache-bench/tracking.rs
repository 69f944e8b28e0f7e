//! `--tracking`: clients that cache on their side, as client-side caching
//! libraries do (redis-py `cache_config`, node-redis `clientSideCache`, rueidis).
//!
//! ```text
//!   each connection: HELLO 3, CLIENT TRACKING ON (default mode), then at its
//!   share of --rate: draw an op; a read of a key in its local set is a local
//!   hit (nothing sent); any other read is a GET (the key joins the set when
//!   the reply comes); a write is a SET (the key leaves the set). Every
//!   `invalidate` push removes its keys from the set (a null one empties it).
//! ```
//!
//! One request at a time per connection; pushes are read all the time, also
//! between requests, so their arrival time is when they reach the client.
//!
//! Fan-out time: every connection shares, per key, when the reply to the
//! last SET of it arrived (`WriteTimes`). A push for that key to any *other*
//! connection is timed from there; one that arrives before the writer has
//! its reply counts as 0 (and is counted in `before_reply`), one for a key
//! no connection of the run wrote is `unattributed`. The same pushes are
//! also timed from when that SET was sent (`from_send`): through a proxy
//! most invalidations arrive before the writer's own reply.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use hotcache::protocol::{FrameKind, ReplyFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use crate::workload::{Op, Workload};

/// A write's reply is still on its way (the push beat it).
const IN_FLIGHT: u64 = u64::MAX;

/// Per key: when the reply to the last SET of it arrived, in ns since `base`
/// (0: never written in this run; `IN_FLIGHT`: written, reply not yet in).
pub struct WriteTimes {
    base: Instant,
    at: Vec<AtomicU64>,
    /// When the last SET of the key was sent (0: never).
    sent: Vec<AtomicU64>,
}

impl WriteTimes {
    pub fn new(keys: u64) -> Self {
        let slots = || (0..keys).map(|_| AtomicU64::new(0)).collect();
        Self { base: Instant::now(), at: slots(), sent: slots() }
    }

    fn ns(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.base).as_nanos() as u64).clamp(1, IN_FLIGHT - 1)
    }

    // Relaxed: each slot is one independent timestamp; no other memory hangs on it.
    fn sending(&self, k: u64, t: Instant) {
        if let (Some(a), Some(s)) = (self.at.get(k as usize), self.sent.get(k as usize)) {
            a.store(IN_FLIGHT, Ordering::Relaxed);
            s.store(self.ns(t), Ordering::Relaxed);
        }
    }

    /// The time from the last SET of `k` being sent to a push for it at `t`.
    fn since_sent(&self, k: u64, t: Instant) -> Option<u64> {
        match self.sent.get(k as usize)?.load(Ordering::Relaxed) {
            0 => None,
            w => Some(self.ns(t).saturating_sub(w)),
        }
    }

    fn replied(&self, k: u64, t: Instant) {
        if let Some(a) = self.at.get(k as usize) {
            a.store(self.ns(t), Ordering::Relaxed);
        }
    }

    /// The fan-out time of a push for `k` received at `t`.
    fn fan_out(&self, k: u64, t: Instant) -> FanOut {
        match self.at.get(k as usize).map(|a| a.load(Ordering::Relaxed)) {
            None | Some(0) => FanOut::Unattributed,
            Some(IN_FLIGHT) => FanOut::BeforeReply,
            Some(w) => FanOut::After(self.ns(t).saturating_sub(w)),
        }
    }
}

enum FanOut {
    Unattributed,
    BeforeReply,
    After(u64),
}

fn histogram() -> Histogram<u64> {
    // Constant bounds hdrhistogram accepts: 1 ns .. 60 s, 3 digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// What a thread's connections (or the whole run) counted while measuring.
#[derive(Clone)]
pub struct TrackStats {
    /// Requests sent (GETs of keys not cached locally, and SETs).
    pub requests: u64,
    pub gets: u64,
    pub sets: u64,
    /// Reads served from the client's own set.
    pub local_hits: u64,
    /// GETs answered with a null.
    pub nulls: u64,
    pub errors: u64,
    /// Ticks skipped because the previous request was still unanswered.
    pub late: u64,
    pub pushes: u64,
    pub null_pushes: u64,
    /// Keys invalidated by pushes (each key of each push).
    pub invalidated: u64,
    pub before_reply: u64,
    pub unattributed: u64,
    /// Request latency, ns.
    pub latency: Histogram<u64>,
    /// Fan-out time from the SET's reply, ns (1: the push came first).
    pub fan_out: Histogram<u64>,
    /// Fan-out time from the SET being sent, ns.
    pub from_send: Histogram<u64>,
    /// Every request sent from the first connect on (setup and warmup included),
    /// for CPU per request measured around the whole process.
    pub sent_total: u64,
    pub failures: Vec<String>,
}

impl TrackStats {
    pub fn new() -> Self {
        Self {
            requests: 0,
            gets: 0,
            sets: 0,
            local_hits: 0,
            nulls: 0,
            errors: 0,
            late: 0,
            pushes: 0,
            null_pushes: 0,
            invalidated: 0,
            before_reply: 0,
            unattributed: 0,
            latency: histogram(),
            fan_out: histogram(),
            from_send: histogram(),
            sent_total: 0,
            failures: Vec::new(),
        }
    }

    pub fn merge(&mut self, o: &TrackStats) {
        self.requests += o.requests;
        self.gets += o.gets;
        self.sets += o.sets;
        self.local_hits += o.local_hits;
        self.nulls += o.nulls;
        self.errors += o.errors;
        self.late += o.late;
        self.pushes += o.pushes;
        self.null_pushes += o.null_pushes;
        self.invalidated += o.invalidated;
        self.before_reply += o.before_reply;
        self.unattributed += o.unattributed;
        // Same bounds on both sides: adding cannot go out of range.
        let _ = self.latency.add(&o.latency);
        let _ = self.fan_out.add(&o.fan_out);
        let _ = self.from_send.add(&o.from_send);
        self.sent_total += o.sent_total;
        self.failures.extend(o.failures.iter().cloned());
    }

    /// The result object (`--json`), over `secs` of measuring.
    pub fn json(&self, secs: f64) -> serde_json::Value {
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 }
        };
        let reads = self.local_hits + self.gets;
        serde_json::json!({
            "elapsed_s": secs,
            "requests": self.requests,
            "requests_per_sec": self.requests as f64 / secs,
            "ops_per_sec": (reads + self.sets) as f64 / secs,
            "gets": self.gets,
            "sets": self.sets,
            "local_hits": self.local_hits,
            "local_hit_ratio": (reads > 0).then(|| self.local_hits as f64 / reads as f64),
            "null_replies": self.nulls,
            "errors": self.errors,
            "late_ticks": self.late,
            "pushes": self.pushes,
            "null_pushes": self.null_pushes,
            "invalidated_keys": self.invalidated,
            "latency_ms": {
                "p50": ms(&self.latency, 0.5),
                "p99": ms(&self.latency, 0.99),
                "max": if self.latency.is_empty() { 0.0 } else { self.latency.max() as f64 / 1e6 },
            },
            "fan_out": {
                "timed": self.fan_out.len(),
                "before_reply": self.before_reply,
                "unattributed": self.unattributed,
                "p50_ms": ms(&self.fan_out, 0.5),
                "p99_ms": ms(&self.fan_out, 0.99),
                "max_ms": if self.fan_out.is_empty() { 0.0 } else { self.fan_out.max() as f64 / 1e6 },
                "from_send_p50_ms": ms(&self.from_send, 0.5),
                "from_send_p99_ms": ms(&self.from_send, 0.99),
                "from_send_max_ms": if self.from_send.is_empty() { 0.0 } else { self.from_send.max() as f64 / 1e6 },
            },
            "sent_total": self.sent_total,
            "connection_failures": self.failures,
        })
    }

    pub fn human(&self, secs: f64) -> String {
        let j = self.json(secs);
        let f = &j["fan_out"];
        format!(
            "requests/s  {:.0} ({} GET, {} SET in {:.2} s)\n\
             ops/s       {:.0} (local hits {}, {:.1}% of reads)\n\
             errors      {}\n\
             latency ms  p50 {:.3}  p99 {:.3}  max {:.3}\n\
             pushes      {} ({} null), {} keys invalidated\n\
             fan-out ms  p50 {:.3}  p99 {:.3}  max {:.3} from the SET's reply ({} timed, {} before it, {} unattributed)\n\
             fan-out ms  p50 {:.3}  p99 {:.3}  max {:.3} from the SET being sent\n",
            j["requests_per_sec"].as_f64().unwrap_or(0.0),
            self.gets,
            self.sets,
            secs,
            j["ops_per_sec"].as_f64().unwrap_or(0.0),
            self.local_hits,
            j["local_hit_ratio"].as_f64().unwrap_or(0.0) * 100.0,
            self.errors,
            j["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            j["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            j["latency_ms"]["max"].as_f64().unwrap_or(0.0),
            self.pushes,
            self.null_pushes,
            self.invalidated,
            f["p50_ms"].as_f64().unwrap_or(0.0),
            f["p99_ms"].as_f64().unwrap_or(0.0),
            f["max_ms"].as_f64().unwrap_or(0.0),
            f["timed"],
            self.before_reply,
            self.unattributed,
            f["from_send_p50_ms"].as_f64().unwrap_or(0.0),
            f["from_send_p99_ms"].as_f64().unwrap_or(0.0),
            f["from_send_max_ms"].as_f64().unwrap_or(0.0),
        )
    }
}

/// Opens a connection and turns tracking on: HELLO 3, CLIENT TRACKING ON.
pub async fn connect(addr: &str, stats: &RefCell<TrackStats>) -> Result<Conn, String> {
    let mut stream = crate::conn::connect(addr).await?;
    stream
        .write_all(
            b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n",
        )
        .await
        .map_err(|e| format!("write: {e}"))?;
    stats.borrow_mut().sent_total += 2;
    let mut conn =
        Conn { stream, rbuf: BytesMut::with_capacity(16 * 1024), framer: ReplyFramer::new() };
    let hello = conn.reply().await?;
    if hello.first() != Some(&b'%') {
        return Err(format!("HELLO 3 answered {}", String::from_utf8_lossy(&hello).trim_end()));
    }
    let on = conn.reply().await?;
    if on != b"+OK\r\n" {
        return Err(format!(
            "CLIENT TRACKING ON answered {}",
            String::from_utf8_lossy(&on).trim_end()
        ));
    }
    Ok(conn)
}

pub struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    framer: ReplyFramer,
}

impl Conn {
    /// The next reply (pushes before it are dropped: used only during setup).
    async fn reply(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some((len, kind)) =
                self.framer.next_frame(&self.rbuf).map_err(|e| format!("bad reply: {e}"))?
            {
                let frame = self.rbuf[..len].to_vec();
                self.rbuf.advance(len);
                if kind != FrameKind::Push {
                    return Ok(frame);
                }
                continue;
            }
            if self.stream.read_buf(&mut self.rbuf).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Err("server closed the connection".into());
            }
        }
    }
}

/// The request a connection waits for.
struct Pending {
    op: Op,
    key: u64,
    sent: Instant,
}

/// Runs one tracking client until `end`, measuring from `measure_start`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mut conn: Conn,
    mut work: Workload,
    every: Duration,
    measure_start: Instant,
    end: Instant,
    writes: Arc<WriteTimes>,
    stats: Rc<RefCell<TrackStats>>,
) -> Result<(), String> {
    // Connections start spread over one interval, not all on the same tick.
    let offset = every.mul_f64(work.unit());
    let mut tick = tokio::time::interval_at((Instant::now() + offset).into(), every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut local: HashSet<u64> = HashSet::new();
    let mut pending: Option<Pending> = None;
    let mut wbuf = Vec::with_capacity(256);
    let mut keys: Vec<u64> = Vec::new();
    loop {
        tokio::select! {
            now = tick.tick() => {
                let now: Instant = now.into();
                if now >= end {
                    return Ok(());
                }
                let measuring = now >= measure_start;
                if pending.is_some() {
                    if measuring {
                        stats.borrow_mut().late += 1;
                    }
                    continue;
                }
                let op = work.next_op();
                let key = work.key_index();
                if op != Op::Set && local.contains(&key) {
                    if measuring {
                        stats.borrow_mut().local_hits += 1;
                    }
                    continue;
                }
                if op == Op::Set {
                    local.remove(&key);
                    writes.sending(key, Instant::now());
                }
                wbuf.clear();
                work.encode_key(op, key, &mut wbuf);
                conn.stream.write_all(&wbuf).await.map_err(|e| format!("write: {e}"))?;
                stats.borrow_mut().sent_total += 1;
                pending = Some(Pending { op, key, sent: Instant::now() });
            }
            read = conn.stream.read_buf(&mut conn.rbuf) => {
                if read.map_err(|e| format!("read: {e}"))? == 0 {
                    return Err("server closed the connection".into());
                }
                let at = Instant::now();
                let measuring = at >= measure_start;
                while let Some((len, kind)) =
                    conn.framer.next_frame(&conn.rbuf).map_err(|e| format!("bad reply: {e}"))?
                {
                    let frame = &conn.rbuf[..len];
                    if kind == FrameKind::Push {
                        let mut s = stats.borrow_mut();
                        match invalidated(frame, work.prefix(), &mut keys) {
                            Some(true) => {
                                local.clear();
                                if measuring {
                                    s.pushes += 1;
                                    s.null_pushes += 1;
                                }
                            }
                            Some(false) => {
                                if measuring {
                                    s.pushes += 1;
                                    s.invalidated += keys.len() as u64;
                                }
                                for &k in &keys {
                                    local.remove(&k);
                                    // The writer's own invalidation is not fan-out.
                                    let own = matches!(&pending, Some(p) if p.op == Op::Set && p.key == k);
                                    if !measuring || own {
                                        continue;
                                    }
                                    if let Some(ns) = writes.since_sent(k, at) {
                                        s.from_send.saturating_record(ns.max(1));
                                    }
                                    match writes.fan_out(k, at) {
                                        FanOut::Unattributed => s.unattributed += 1,
                                        FanOut::BeforeReply => {
                                            s.before_reply += 1;
                                            s.fan_out.saturating_record(1);
                                        }
                                        FanOut::After(ns) => s.fan_out.saturating_record(ns.max(1)),
                                    }
                                }
                            }
                            None => {}
                        }
                    } else if let Some(p) = pending.take() {
                        let error = kind == FrameKind::Error;
                        if p.op == Op::Set {
                            writes.replied(p.key, at);
                        } else if !error {
                            local.insert(p.key);
                        }
                        if measuring && p.sent >= measure_start {
                            let mut s = stats.borrow_mut();
                            s.requests += 1;
                            if p.op == Op::Set { s.sets += 1 } else { s.gets += 1 }
                            s.errors += u64::from(error);
                            s.nulls += u64::from(frame.starts_with(b"_\r\n"));
                            let ns = at.saturating_duration_since(p.sent).as_nanos() as u64;
                            s.latency.saturating_record(ns.max(1));
                        }
                    } else {
                        return Err(format!("unexpected reply {}", String::from_utf8_lossy(frame).trim_end()));
                    }
                    conn.rbuf.advance(len);
                }
                if conn.rbuf.capacity() - conn.rbuf.len() < 4096 {
                    conn.rbuf.reserve(16 * 1024);
                }
            }
        }
    }
}

/// Reads an `invalidate` push: `Some(true)` for a null one (everything),
/// `Some(false)` with the key indexes in `keys` (keys not of the form
/// `<prefix><index>` are left out), `None` for any other push.
fn invalidated(frame: &[u8], prefix: &[u8], keys: &mut Vec<u64>) -> Option<bool> {
    keys.clear();
    let rest = frame.strip_prefix(b">2\r\n$10\r\ninvalidate\r\n")?;
    if rest.starts_with(b"_\r\n") {
        return Some(true);
    }
    let mut lines = rest.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let n: usize = std::str::from_utf8(lines.next()?.strip_prefix(b"*")?).ok()?.parse().ok()?;
    for _ in 0..n {
        let _len = lines.next()?;
        let name = lines.next()?;
        if let Some(k) = name.strip_prefix(prefix)
            && let Some(k) = std::str::from_utf8(k).ok().and_then(|s| s.parse().ok())
        {
            keys.push(k);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidate_pushes_are_read() {
        let mut keys = Vec::new();
        let push = b">2\r\n$10\r\ninvalidate\r\n*2\r\n$4\r\nkey:7\r\n$6\r\nkey:12\r\n";
        assert_eq!(invalidated(push, b"key:", &mut keys), Some(false));
        assert_eq!(keys, vec![7, 12]);
        assert_eq!(
            invalidated(b">2\r\n$10\r\ninvalidate\r\n_\r\n", b"key:", &mut keys),
            Some(true)
        );
        let other = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n";
        assert_eq!(invalidated(other, b"key:", &mut keys), None);
    }

    #[test]
    fn fan_out_is_timed_from_the_reply() {
        let w = WriteTimes::new(4);
        let t0 = w.base + Duration::from_millis(5);
        assert!(matches!(w.fan_out(1, t0), FanOut::Unattributed));
        w.sending(1, t0);
        assert!(matches!(w.fan_out(1, t0), FanOut::BeforeReply));
        w.replied(1, t0);
        let FanOut::After(ns) = w.fan_out(1, t0 + Duration::from_millis(2)) else {
            panic!("not timed")
        };
        assert_eq!(ns, 2_000_000);
        assert_eq!(w.since_sent(1, t0 + Duration::from_millis(3)), Some(3_000_000));
        assert!(matches!(w.fan_out(99, t0), FanOut::Unattributed));
    }
}
