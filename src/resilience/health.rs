//! What hotcache knows of a node's liveness beyond its breaker's counts: whether
//! it answers at all (the stall check), whether it is busy running a script, and
//! whether it said BUSY lately. Shared by every thread, atomics only.
//!
//! A stopped or wedged Redis (SIGSTOP, a hung host) accepts connections and
//! answers nothing, so requests would wait for `upstream-timeout` one connection
//! at a time. Instead, once a request has waited `upstream-stall-timeout` with no
//! reply on its connection, hotcache asks the node a PING on a connection of its
//! own; an answer of any kind (PONG, NOAUTH, LOADING, BUSY) means the node is
//! alive and merely slow, silence for as long again means it is stalled: its
//! breaker opens and every connection with requests waiting fails them.
//!
//! One silence is not a stall: Redis running a script answers nobody until its
//! `busy-reply-threshold`, then BUSY, and a KEYS or a synchronous FLUSHALL
//! holds it as long as it runs. While such a command hotcache sent is running,
//! an unanswered check is taken for that, not for a dead node. (A slow command
//! sent to Redis by someone else looks like a stall once it runs past twice
//! `upstream-stall-timeout`.)

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use crate::protocol::Proto;
use std::time::{Duration, Instant};

/// How long after a BUSY reply PING is still forwarded rather than answered
/// (when nothing said otherwise since).
const BUSY_MEMORY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    /// A stall check is running (one per node, whichever thread started it).
    probing: AtomicBool,
    /// The last check went unanswered: connections with requests waiting fail.
    stalled: AtomicBool,
    /// When the node last answered a check (ms since `epoch`, 0: never).
    answered_at: AtomicU64,
    /// Scripts, functions and long commands sent through hotcache and not
    /// answered yet.
    scripts: AtomicUsize,
    /// Commands whose cost grows with the data (`Hold::Slow`) sent and not
    /// answered yet: the node's silence may be one of them too.
    slow: AtomicUsize,
    /// A script or slow command was in flight when the running check began
    /// (it may be answered, and Redis still behind on the check's PING).
    busy_at_claim: AtomicBool,
    /// When the node last answered BUSY (ms since `epoch` + 1, 0: not lately).
    busy_at: AtomicU64,
    /// Its latest HELLO reply per protocol version (RESP2, RESP3): what
    /// hotcache tells clients of the server behind it.
    hello: Mutex<[Option<Bytes>; 2]>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            probing: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            answered_at: AtomicU64::new(0),
            scripts: AtomicUsize::new(0),
            slow: AtomicUsize::new(0),
            busy_at_claim: AtomicBool::new(false),
            busy_at: AtomicU64::new(0),
            hello: Mutex::new([None, None]),
        }
    }
}

/// What a stall check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The node answered (whatever it said).
    Alive,
    /// No answer, but a script of hotcache's is running there: Redis is busy.
    Busy,
    /// No answer, and nothing explains it.
    Stalled,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// True once a check went unanswered, until the node answers again.
    #[inline]
    pub fn stalled(&self) -> bool {
        self.stalled.load(Relaxed)
    }

    /// Replies came from the node: it is not stalled. (A relaxed load first:
    /// the common case writes nothing.)
    #[inline]
    pub fn progress(&self) {
        if self.stalled.load(Relaxed) {
            self.stalled.store(false, Relaxed);
        }
    }

    /// Whether a check should start now: none running and none answered within
    /// `every`. Claims it if so (the caller runs it and reports `checked`).
    pub fn claim_check(&self, every: Duration) -> bool {
        let answered = self.answered_at.load(Relaxed);
        if answered != 0 && self.now_ms().saturating_sub(answered) < every.as_millis() as u64 {
            return false;
        }
        let claimed = self.probing.compare_exchange(false, true, Relaxed, Relaxed).is_ok();
        if claimed {
            self.busy_at_claim.store(self.busy(), Relaxed);
        }
        claimed
    }

    /// A script or a slow command of hotcache's is in flight on the node.
    fn busy(&self) -> bool {
        self.scripts.load(Relaxed) > 0 || self.slow.load(Relaxed) > 0
    }

    /// The check claimed by `claim_check` ended: answered or not. Returns the
    /// verdict (an unanswered check while a script or a slow command runs
    /// is `Busy`).
    pub fn checked(&self, answered: bool) -> Verdict {
        let verdict = if answered {
            self.answered_at.store(self.now_ms(), Relaxed);
            self.stalled.store(false, Relaxed);
            Verdict::Alive
        } else if self.busy_at_claim.load(Relaxed) || self.busy() {
            Verdict::Busy
        } else {
            self.stalled.store(true, Relaxed);
            Verdict::Stalled
        };
        self.probing.store(false, Relaxed);
        verdict
    }

    /// A script was sent (`started`) or answered or failed (not `started`).
    pub fn script(&self, started: bool) {
        count(&self.scripts, started);
    }

    /// A slow command (`Hold::Slow`) was sent, or answered or failed.
    pub fn slow(&self, started: bool) {
        count(&self.slow, started);
    }

    /// A connection's handshake got this HELLO reply.
    pub fn saw_hello(&self, proto: Proto, reply: Bytes) {
        let i = usize::from(proto == Proto::Resp3);
        // A poisoned lock only means a panic elsewhere mid-store: the value
        // is whole (a store is one assignment).
        self.hello.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(reply);
    }

    /// The node's latest HELLO reply in `proto`, else in the other version.
    pub fn hello(&self, proto: Proto) -> Option<(Proto, Bytes)> {
        let h = self.hello.lock().unwrap_or_else(|e| e.into_inner());
        let (i, other) = match proto {
            Proto::Resp2 => (0, Proto::Resp3),
            Proto::Resp3 => (1, Proto::Resp2),
        };
        h[i].clone().map(|b| (proto, b)).or_else(|| h[1 - i].clone().map(|b| (other, b)))
    }

    /// Scripts of hotcache's running on the node now.
    pub fn scripts(&self) -> usize {
        self.scripts.load(Relaxed)
    }

    /// The node answered BUSY (`true`) or something else (`false`) to a
    /// command it would refuse while busy.
    #[inline]
    pub fn saw_busy(&self, busy: bool) {
        if busy {
            self.busy_at.store(self.now_ms(), Relaxed);
        } else if self.busy_at.load(Relaxed) != 0 {
            self.busy_at.store(0, Relaxed);
        }
    }

    /// True while the node may be busy running a script: one of hotcache's
    /// runs there, or it answered BUSY lately. PING then goes to Redis, so the
    /// client gets what Redis answers (BUSY) instead of hotcache's PONG.
    pub fn maybe_busy(&self) -> bool {
        if self.scripts.load(Relaxed) > 0 {
            return true;
        }
        let at = self.busy_at.load(Relaxed);
        at != 0 && self.now_ms().saturating_sub(at) < BUSY_MEMORY.as_millis() as u64
    }
}

/// One more (`up`) or one less, never below zero.
fn count(n: &AtomicUsize, up: bool) {
    if up {
        n.fetch_add(1, Relaxed);
    } else {
        let _ = n.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_check_at_a_time_and_not_right_after_an_answer() {
        let h = Health::default();
        assert!(h.claim_check(Duration::from_secs(1)));
        assert!(!h.claim_check(Duration::from_secs(1)), "one running already");
        assert_eq!(h.checked(true), Verdict::Alive);
        assert!(!h.claim_check(Duration::from_secs(1)), "answered just now");
        assert!(h.claim_check(Duration::ZERO));
        assert_eq!(h.checked(false), Verdict::Stalled);
        assert!(h.stalled());
        h.progress();
        assert!(!h.stalled());
    }

    #[test]
    fn silence_while_a_script_runs_is_busy() {
        let h = Health::default();
        h.script(true);
        assert!(h.maybe_busy());
        assert!(h.claim_check(Duration::ZERO));
        assert_eq!(h.checked(false), Verdict::Busy);
        assert!(!h.stalled());
        h.script(false);
        h.script(false);
        assert_eq!(h.scripts(), 0, "never below zero");
        assert!(!h.maybe_busy());
        h.saw_busy(true);
        assert!(h.maybe_busy());
        h.saw_busy(false);
        assert!(!h.maybe_busy());
    }
}
