//! Delivery of invalidations: to the client or the client it redirects to,
//! as a RESP3 push or, to a RESP2 redirect target in subscribe mode, a
//! `__redis__:invalidate` message, at the end of the target's reply queue on
//! the thread serving it.

use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};

use super::Tracking;
use crate::protocol::Proto;
use crate::server::Shared;

/// The first bytes of an invalidation to a RESP3 client.
const PUSH: &[u8] = b">2\r\n$10\r\ninvalidate\r\n";
/// The first bytes of one to a RESP2 client subscribed somewhere.
const MESSAGE: &[u8] = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";

impl Tracking {
    /// Sends an invalidation's value (`v`: the keys, or a null) for client
    /// `id`: to the client it redirects to, or to itself (RESP3 only).
    pub(super) fn send(&self, shared: &Shared, id: u64, v: Bytes) {
        let _ = self.frame_for(shared, id, v, false);
    }

    /// As `send`; with `keep`, what would go to `id` itself is returned
    /// instead (for the caller, serving `id`, to queue in order).
    pub(super) fn frame_for(
        &self,
        shared: &Shared,
        id: u64,
        v: Bytes,
        keep: bool,
    ) -> Option<Bytes> {
        let (redirect, proto) = self.with(id, |s| (s.redirect, s.proto))?;
        let out = |shard: usize, target: u64, f: Bytes| {
            if keep && target == id {
                return Some(f);
            }
            deliver(shared, shard, target, f);
            None
        };
        let target = if redirect == 0 { id } else { redirect };
        let Some(info) = shared.clients.get(target) else {
            // The target is gone: the client hears so (RESP3), once per
            // invalidation, as from Redis.
            self.with(id, |s| s.broken = true);
            if proto == Proto::Resp3 {
                let mut f = b">2\r\n$21\r\ntracking-redir-broken\r\n".to_vec();
                f.extend_from_slice(format!(":{redirect}\r\n").as_bytes());
                return out(self.shard, id, Bytes::from(f));
            }
            return None;
        };
        let resp3 = info.resp.load(Relaxed) == 3;
        let head = if resp3 {
            PUSH
        } else if redirect != 0 && info.relayed.load(Relaxed) {
            MESSAGE
        } else {
            // RESP2 and not subscribed: nothing can carry it (as Redis).
            return None;
        };
        let mut f = BytesMut::with_capacity(head.len() + v.len());
        f.extend_from_slice(head);
        f.extend_from_slice(&v);
        out(info.shard, target, f.freeze())
    }
}

/// An array of keys, as an invalidation carries them.
pub(super) fn value(keys: &[&[u8]]) -> Bytes {
    let mut v = BytesMut::new();
    v.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
    for k in keys {
        v.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        v.extend_from_slice(k);
        v.extend_from_slice(b"\r\n");
    }
    v.freeze()
}

/// Puts `frame` at the end of client `id`'s queue, on the thread serving it.
fn deliver(shared: &Shared, shard: usize, id: u64, frame: Bytes) {
    if shard == current_shard() {
        crate::server::signal::push(id, frame);
    } else if let Some(s) = shared.shards.get(shard) {
        s.run(move || crate::server::signal::push(id, frame));
    }
}

thread_local! {
    static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Notes which shard this thread serves (for `deliver`).
pub fn set_current_shard(shard: usize) {
    SHARD.with(|s| s.set(shard));
}

fn current_shard() -> usize {
    SHARD.with(|s| s.get())
}
