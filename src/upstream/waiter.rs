//! Who waits for an upstream reply, and what a write invalidates when it comes.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cache::{Epochs, Flight};
use crate::stats::ShardCounters;

/// What a thread's upstream connections need from the rest of hotcache.
pub struct PipeCtx {
    /// Writes bump their keys' epochs again when their reply arrives.
    pub epochs: Arc<Epochs>,
    pub counters: Arc<[ShardCounters]>,
    pub shard: usize,
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
    Reply(oneshot::Sender<Bytes>),
    /// A singleflight read, and the PTTL sent after it.
    Flight(Arc<Flight>),
    FlightTtl(Arc<Flight>),
    /// One part of a multi-command request on this thread.
    Part(Rc<dyn Parts>, usize),
}

/// Tells a waiter its request failed.
pub fn fail_waiter(waiter: Waiter, error: Bytes) {
    match waiter {
        Waiter::Reply(tx) => {
            let _ = tx.send(error);
        }
        Waiter::Flight(f) => f.fail(error),
        Waiter::FlightTtl(f) => f.ttl_failed(),
        Waiter::Part(p, i) => p.failed(i, error),
    }
}
