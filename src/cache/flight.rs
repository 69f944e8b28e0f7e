//! Singleflight: concurrent misses of one cached entry, from any thread, share one
//! upstream read.
//!
//! The registry is striped by key hash, each stripe a small mutex-guarded map:
//! only misses touch it (hits never do), and different keys rarely share a stripe.
//! A read is joined only if nothing invalidated its key since it started (its
//! stamp is still current), it is young enough, and it has room for one more
//! waiter; otherwise the caller starts its own. The upstream connection completes
//! the flight when the reply arrives, so it completes even if the client that
//! started it has gone.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::epoch::{Epochs, Stamp};
use super::hooks::Hooks;

/// What every waiter of a flight receives.
#[derive(Clone, Debug)]
pub struct FillResult {
    /// The upstream's reply, or an error reply if the read failed.
    pub reply: Bytes,
    /// The key's PTTL in milliseconds (-2: no such key, -1: no expiry), if asked
    /// for and received; without it the reply is not cached.
    pub ttl_ms: Option<i64>,
    /// Epochs when the read started.
    pub stamp: Stamp,
    /// The tracking connection's incarnation when the read started, if tracking
    /// was ready (or not needed); `None` means the reply must not be cached.
    pub tracking: Option<u64>,
    /// When the read was sent: a TTL counts from here, so it never runs long.
    pub sent: Instant,
    /// The read failed upstream (the reply is hotcache's error): it may be retried.
    pub failed: bool,
    /// The read's upstream round trip in nanoseconds (0 if unknown), for SLOWLOG.
    pub rtt_ns: u64,
}

struct State {
    reply: Option<Bytes>,
    /// The leader's receiver's sender, kept inline: most flights have no
    /// follower, and then the flight allocates no waiter list.
    first: Option<oneshot::Sender<FillResult>>,
    /// Followers.
    rest: Vec<oneshot::Sender<FillResult>>,
}

/// One upstream read that several clients wait for.
pub struct Flight {
    /// The cache entry key it fills.
    entry_key: Arc<[u8]>,
    /// The Redis key it reads (for test hooks).
    pub key: Bytes,
    pub stamp: Stamp,
    pub tracking: Option<u64>,
    pub started: Instant,
    /// A PTTL follows the read on the same connection.
    pub wants_ttl: bool,
    state: Mutex<State>,
    registry: Arc<Flights>,
    /// Its stripe of the registry (so completing it hashes nothing).
    stripe: usize,
    /// The read's upstream round trip (ns), set by the connection before the
    /// reply; relaxed: it is read after the reply, which the state mutex orders.
    rtt_ns: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps inconsistent: each change is one
    // insert or remove. Carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Flight {
    /// Records how long the read took upstream (before its reply is recorded).
    pub fn set_rtt(&self, ns: u64) {
        self.rtt_ns.store(ns, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records the read's reply; completes now unless a PTTL is still to come.
    pub fn reply(self: &Arc<Self>, reply: Bytes) {
        if self.wants_ttl && !reply.starts_with(b"-") {
            lock(&self.state).reply = Some(reply);
        } else {
            self.complete(reply, None);
        }
    }

    /// Records the PTTL reply and completes.
    pub fn ttl(self: &Arc<Self>, frame: &[u8]) {
        let reply = lock(&self.state).reply.take();
        let Some(reply) = reply else { return };
        let ttl = frame
            .strip_prefix(b":")
            .and_then(|r| r.strip_suffix(b"\r\n"))
            .and_then(crate::protocol::string2ll);
        self.complete(reply, ttl);
    }

    /// The read failed (the connection broke): every waiter gets the error.
    pub fn fail(self: &Arc<Self>, error: Bytes) {
        lock(&self.state).reply = None;
        self.complete_as(error, None, true);
    }

    /// The PTTL after a good read failed: the reply still goes to every waiter,
    /// it is just not cached.
    pub fn ttl_failed(self: &Arc<Self>) {
        let reply = lock(&self.state).reply.take();
        if let Some(reply) = reply {
            self.complete(reply, None);
        }
    }

    fn complete(self: &Arc<Self>, reply: Bytes, ttl_ms: Option<i64>) {
        self.complete_as(reply, ttl_ms, false);
    }

    fn complete_as(self: &Arc<Self>, reply: Bytes, ttl_ms: Option<i64>, failed: bool) {
        if self.registry.hooks.enabled() {
            let me = self.clone();
            let finish = move || me.finish(reply, ttl_ms, failed);
            if let Some(finish) = self.registry.hooks.hold(&self.key, Box::new(finish)) {
                finish();
            }
        } else {
            self.finish(reply, ttl_ms, failed);
        }
    }

    fn finish(self: &Arc<Self>, reply: Bytes, ttl_ms: Option<i64>, failed: bool) {
        self.registry.remove(self);
        let (first, rest) = {
            let mut st = lock(&self.state);
            (st.first.take(), std::mem::take(&mut st.rest))
        };
        let result = FillResult {
            reply,
            ttl_ms,
            stamp: self.stamp,
            tracking: self.tracking,
            sent: self.started,
            failed,
            rtt_ns: self.rtt_ns.load(std::sync::atomic::Ordering::Relaxed),
        };
        for w in rest {
            let _ = w.send(result.clone());
        }
        if let Some(w) = first {
            let _ = w.send(result);
        }
    }
}

/// How a miss joins the registry.
pub enum Join {
    /// Another read is on its way: wait for it.
    Follow(oneshot::Receiver<FillResult>),
    /// Start the read (send it with the flight) and wait like everyone else.
    Lead(Arc<Flight>, oneshot::Receiver<FillResult>),
}

/// Limits on joining.
#[derive(Clone, Copy, Debug)]
pub struct JoinLimits {
    pub max_waiters: usize,
    pub max_age: Duration,
}

/// One stripe of the registry: reads in flight by entry key.
type Stripe = Mutex<HashMap<Arc<[u8]>, Arc<Flight>, ahash::RandomState>>;

/// The registry of reads in flight.
pub struct Flights {
    stripes: Box<[Stripe]>,
    hasher: ahash::RandomState,
    pub hooks: Hooks,
}

impl Flights {
    pub fn new(stripes: usize, hooks: Hooks) -> Arc<Self> {
        Arc::new(Self {
            stripes: (0..stripes.next_power_of_two())
                .map(|_| Mutex::new(HashMap::with_hasher(ahash::RandomState::new())))
                .collect(),
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            hooks,
        })
    }

    fn stripe_of(&self, entry_key: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(entry_key);
        h.finish() as usize & (self.stripes.len() - 1)
    }

    /// Joins the read in flight for `entry_key`, or starts one. `now` is the
    /// caller's clock (its batch's): a read started then counts its TTL and
    /// its age from it, which is never later than when it is sent.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        self: &Arc<Self>,
        entry_key: &Arc<[u8]>,
        key: &Bytes,
        stamp: Stamp,
        tracking: Option<u64>,
        wants_ttl: bool,
        limits: JoinLimits,
        epochs: &Epochs,
        now: Instant,
    ) -> Join {
        let (tx, rx) = oneshot::channel();
        let stripe = self.stripe_of(entry_key);
        let mut map = lock(&self.stripes[stripe]);
        if let Some(f) = map.get(&entry_key[..]) {
            let mut state = lock(&f.state);
            let waiters = state.rest.len() + usize::from(state.first.is_some());
            let joinable = epochs.is_current(&f.stamp)
                && now.saturating_duration_since(f.started) < limits.max_age
                && waiters < limits.max_waiters;
            if joinable {
                state.rest.push(tx);
                return Join::Follow(rx);
            }
        }
        let flight = Arc::new(Flight {
            entry_key: entry_key.clone(),
            key: key.clone(),
            stamp,
            tracking,
            started: now,
            wants_ttl,
            state: Mutex::new(State { reply: None, first: Some(tx), rest: Vec::new() }),
            registry: self.clone(),
            stripe,
            rtt_ns: std::sync::atomic::AtomicU64::new(0),
        });
        // A flight it replaces still completes its own waiters.
        map.insert(entry_key.clone(), flight.clone());
        Join::Lead(flight, rx)
    }

    fn remove(&self, flight: &Arc<Flight>) {
        let mut map = lock(&self.stripes[flight.stripe]);
        if map.get(&flight.entry_key[..]).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(&flight.entry_key[..]);
        }
    }

    /// Reads in flight now (for INFO).
    pub fn in_flight(&self) -> usize {
        self.stripes.iter().map(|s| lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_share_the_leaders_reply() {
        let epochs = Epochs::new(8);
        let flights = Flights::new(4, Hooks::new(false));
        let limits = JoinLimits { max_waiters: 10, max_age: Duration::from_secs(5) };
        let key = Bytes::from_static(b"k");
        let ek: Arc<[u8]> = Arc::from(&b"e"[..]);
        let stamp = epochs.stamp(b"k");
        let Join::Lead(flight, rx1) =
            flights.join(&ek, &key, stamp, Some(0), true, limits, &epochs, Instant::now())
        else {
            panic!("first must lead")
        };
        let Join::Follow(rx2) =
            flights.join(&ek, &key, stamp, Some(0), true, limits, &epochs, Instant::now())
        else {
            panic!("second must follow")
        };
        flight.reply(Bytes::from_static(b"$1\r\nv\r\n"));
        flight.ttl(b":-1\r\n");
        for mut rx in [rx1, rx2] {
            let r = rx.try_recv().expect("completed");
            assert_eq!(&r.reply[..], b"$1\r\nv\r\n");
            assert_eq!(r.ttl_ms, Some(-1));
        }
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn an_invalidated_flight_takes_no_new_waiters() {
        let epochs = Epochs::new(8);
        let flights = Flights::new(4, Hooks::new(false));
        let limits = JoinLimits { max_waiters: 10, max_age: Duration::from_secs(5) };
        let key = Bytes::from_static(b"k");
        let ek: Arc<[u8]> = Arc::from(&b"e"[..]);
        let Join::Lead(_f, _rx) = flights.join(
            &ek,
            &key,
            epochs.stamp(b"k"),
            Some(0),
            false,
            limits,
            &epochs,
            Instant::now(),
        ) else {
            panic!()
        };
        epochs.invalidate(b"k");
        assert!(matches!(
            flights.join(
                &ek,
                &key,
                epochs.stamp(b"k"),
                Some(0),
                false,
                limits,
                &epochs,
                Instant::now()
            ),
            Join::Lead(..)
        ));
    }
}
