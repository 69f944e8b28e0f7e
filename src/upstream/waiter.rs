//! Who waits for an upstream reply, and what a write invalidates when it comes.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::owed::{Charge, Owed};
use crate::cache::{Epochs, Flight};
use crate::resilience::Breaker;
use crate::stats::ShardCounters;

/// What a thread's upstream connections need from the rest of hotcache.
pub struct PipeCtx {
    /// Writes bump their keys' epochs again when their reply arrives.
    pub epochs: Arc<Epochs>,
    pub counters: Arc<[ShardCounters]>,
    pub shard: usize,
    /// The node's circuit breaker (none for the embedded origin).
    pub breaker: Option<Arc<Breaker>>,
    /// `upstream-timeout`: how long a reply may take (shared by the thread's nodes).
    pub timeout: Rc<Cell<Duration>>,
    /// `upstream-max-inflight`: requests one connection may have waiting.
    pub max_inflight: Rc<Cell<usize>>,
    /// `upstream-stall-timeout`: how long a request waits with no reply on its
    /// connection before the node is checked (zero: never).
    pub stall_timeout: Rc<Cell<Duration>>,
    /// The node's round trips and errors (none for the embedded origin).
    pub node: Option<Arc<crate::metrics::NodeStats>>,
    /// With a cluster: follows MOVED and ASK, and hears of failed nodes.
    pub redirector: Option<Weak<dyn Redirector>>,
}

/// Follows cluster redirections for a thread's shared connections.
pub trait Redirector {
    /// `reply` (a MOVED or ASK error) from node `from` answered `frame`: send it
    /// where it says.
    /// Gives the request back if it cannot be redirected (the reply stands).
    fn redirect(
        &self,
        reply: Bytes,
        frame: Bytes,
        waiter: Waiter,
        after: After,
        proto: crate::protocol::Proto,
        hops: u8,
        from: &str,
        who: &super::users::Identity,
    ) -> Option<(Bytes, Waiter, After)>;
    /// A node failed or refused: the slot map may have changed.
    fn node_failed(&self);
    /// The node answered READONLY: a master that was demoted (Sentinel).
    fn demoted(&self) {}
    /// Whether requests keep their frame to follow MOVED and ASK (a cluster's
    /// shared connections; not a Sentinel's, which only hears of failures).
    fn follows_redirects(&self) -> bool {
        true
    }
}

impl PipeCtx {
    pub fn counters(&self) -> &ShardCounters {
        &self.counters[self.shard]
    }

    /// This thread's block of the node's statistics.
    pub fn node(&self) -> Option<&crate::metrics::nodes::NodeShard> {
        self.node.as_ref().map(|n| n.shard(self.shard))
    }
}

/// How long a request may wait for its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Bounded by `upstream-timeout`, and checked for a stalled node after
    /// `upstream-stall-timeout`.
    Timed,
    /// A blocking command (BLPOP, WAIT ...), or one Redis answers only when it
    /// can (SCRIPT KILL while a script runs): bounded by its own timeout.
    Blocking,
    /// A script or function, or a command that may hold Redis for long
    /// (KEYS, a synchronous FLUSHALL, DEBUG ...): it runs as long as Redis
    /// lets it, and while it runs, the node's silence is Redis busy with it,
    /// not a dead node.
    Script,
    /// A command whose cost grows with the data (`Command::slow`): bounded
    /// by `upstream-timeout` as `Timed`, but while it is in flight the
    /// node's silence to a stall check is Redis busy with it.
    Slow,
}

/// What a client waiting on an upstream reply receives.
#[derive(Debug)]
pub struct Reply {
    /// The reply, or the error hotcache answers when the request failed.
    pub frame: Bytes,
    /// Set when the request failed upstream (the connection broke or timed out)
    /// rather than being answered.
    pub failed: Option<Failed>,
    /// The upstream round trip in nanoseconds, when the reply came from an
    /// upstream connection (0 otherwise): what SLOWLOG logs.
    pub rtt_ns: u64,
    /// The frame's bytes, charged to the client's output limit until the
    /// frame reaches its output buffer or is dropped (see `Owed`).
    pub charge: Option<Charge>,
}

/// Where one client's reply goes: its reply queue, through a oneshot, charged
/// to what the client is owed.
#[derive(Debug)]
pub struct ReplyTx {
    tx: oneshot::Sender<Reply>,
    owed: Option<Rc<Owed>>,
}

impl ReplyTx {
    /// A channel for one reply to a client whose output limit is `owed`.
    pub fn channel(owed: Option<&Rc<Owed>>) -> (Self, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx, owed: owed.cloned() }, rx)
    }

    /// Hands the reply over, charged to the client. A client that is gone, or
    /// over its output limit (it is being closed), gets nothing: the reply is
    /// dropped here, as it arrives, never buffered.
    pub fn send(self, mut reply: Reply) {
        if self.tx.is_closed() {
            return;
        }
        if let Some(owed) = &self.owed {
            match owed.charge(reply.frame.len()) {
                Some(c) => reply.charge = Some(c),
                None => return,
            }
        }
        let _ = self.tx.send(reply);
    }
}

/// How a request failed.
#[derive(Clone, Copy, Debug)]
pub struct Failed {
    /// The request was never written to the upstream: retrying it is safe even
    /// for a write.
    pub unsent: bool,
}

impl Reply {
    pub fn ok(frame: Bytes) -> Self {
        Self { frame, failed: None, rtt_ns: 0, charge: None }
    }

    /// A reply that took `rtt_ns` to come back from the upstream.
    pub fn timed(frame: Bytes, rtt_ns: u64) -> Self {
        Self { frame, failed: None, rtt_ns, charge: None }
    }

    pub fn failed(frame: Bytes, unsent: bool) -> Self {
        Self { frame, failed: Some(Failed { unsent }), rtt_ns: 0, charge: None }
    }
}

/// Keys to invalidate when a write's reply arrives (rule 2: before forwarding
/// and again on the reply, so a fill that read the old value is never served).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum After {
    #[default]
    Nothing,
    /// One key's slot (most writes name one key: no allocation).
    Slot(u32),
    Slots(Box<[u32]>),
    All,
}

impl After {
    /// The slots it names (none for `Nothing` and `All`).
    pub fn slots(&self) -> &[u32] {
        match self {
            After::Slot(s) => std::slice::from_ref(s),
            After::Slots(s) => s,
            _ => &[],
        }
    }

    /// Applies the invalidation.
    pub fn apply(&self, epochs: &Epochs) {
        match self {
            After::Nothing => {}
            After::Slot(s) => epochs.invalidate_slot(*s),
            After::Slots(slots) => {
                for &s in slots.iter() {
                    epochs.invalidate_slot(s);
                }
            }
            After::All => epochs.invalidate_all(),
        }
    }
}

/// A part of a thread-local request made of several upstream commands (an MGET
/// and the PTTLs that follow it).
pub trait Parts {
    /// Part `index` answered with `frame`.
    fn part(&self, index: usize, frame: Bytes);
    /// Part `index` will never be answered: the connection failed with `error`.
    fn failed(&self, index: usize, error: Bytes);
}

/// Who waits for one reply.
pub enum Waiter {
    /// A client, through its reply queue.
    Reply(ReplyTx),
    /// A singleflight read, and the PTTL sent after it.
    Flight(Arc<Flight>),
    FlightTtl(Arc<Flight>),
    /// One part of a multi-command request on this thread.
    Part(Rc<dyn Parts>, usize),
    /// Nobody: the reply is dropped (ASKING before a redirected request).
    Discard,
}

/// Tells a waiter its request failed; `unsent` if it never left hotcache.
pub fn fail_waiter(waiter: Waiter, error: Bytes, unsent: bool) {
    match waiter {
        Waiter::Reply(tx) => tx.send(Reply::failed(error, unsent)),
        Waiter::Flight(f) => f.fail(error),
        Waiter::FlightTtl(f) => f.ttl_failed(),
        Waiter::Part(p, i) => p.failed(i, error),
        Waiter::Discard => {}
    }
}
