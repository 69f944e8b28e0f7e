//! Shard threads: one OS thread per core, each with its own current-thread tokio
//! runtime and `LocalSet`, so everything a thread owns is `Rc`, not `Arc + Mutex`.
//!
//! A key belongs to shard [`shard_for`]. Work that must run on a key's shard (the
//! cache of the next layer) is sent with [`ShardHandle::run`]: a per-shard inbox,
//! so there is no shared queue and no global lock.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use tokio::sync::mpsc;

/// A job to run on a shard thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The seeds are fixed so every thread (and every run) maps a key to the same shard.
fn hasher() -> &'static ahash::RandomState {
    static H: OnceLock<ahash::RandomState> = OnceLock::new();
    H.get_or_init(|| ahash::RandomState::with_seeds(0x9e37, 0x79b9, 0x7f4a, 0x7c15))
}

/// The shard that owns `key` among `shards` shards.
#[inline]
pub fn shard_for(key: &[u8], shards: usize) -> usize {
    let mut h = hasher().build_hasher();
    h.write(key);
    // Multiply-shift instead of `%`: uniform and cheaper.
    ((u128::from(h.finish()) * shards as u128) >> 64) as usize
}

/// A handle to send work to one shard thread.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    pub index: usize,
    inbox: mpsc::UnboundedSender<Job>,
}

impl ShardHandle {
    /// Creates a handle and the receiver its shard thread drains.
    pub fn new(index: usize) -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { index, inbox: tx }, rx)
    }

    /// Runs `job` on this shard's thread. Returns false if the shard has stopped.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.inbox.send(Box::new(job)).is_ok()
    }
}

/// Drains a shard's inbox on its own thread; spawn this on the shard's LocalSet.
pub async fn run_inbox(mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_shards() {
        let n = 4;
        let mut counts = [0usize; 4];
        for i in 0..10_000 {
            let s = shard_for(format!("key:{i}").as_bytes(), n);
            counts[s] += 1;
        }
        for c in counts {
            assert!(c > 2000, "{counts:?}");
        }
        assert_eq!(shard_for(b"a", 1), 0);
        assert_eq!(shard_for(b"same", 8), shard_for(b"same", 8));
    }
}
