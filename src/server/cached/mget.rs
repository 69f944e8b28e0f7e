//! MGET cached per key: all hits answered here, any miss forwarded whole with
//! a PTTL per key to cache, and the fill that caches the elements on return.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::cache::{FillResult, Stamp};
use crate::cmd::Command;
use crate::metrics::Source;
use crate::protocol::{Request, split_array};
use crate::server::ThreadCtx;
use crate::server::conn::{Conn, Effect, Lane, Permit, Retry};
use crate::stats::{add, inc};
use crate::upstream::{Parts, Reply, ReplySlot, ReplyTx};

/// MGETs of more keys than this go to Redis whole, as sent: the per-key work
/// (a lookup, a detector update, an entry key each) would hold the thread for
/// a second at a million keys, every other client of it waiting.
pub const MGET_MAX_KEYS: usize = 1024;

impl Conn {
    /// MGET, cached per key. All hits: the reply is assembled here (every entry is
    /// current at this moment, so the result is a snapshot as Redis's is). Any
    /// miss: the whole MGET goes to Redis (keeping its atomicity), followed by the
    /// PTTL of each missing admissible key, and the elements are cached.
    pub(in crate::server) fn cached_mget(&mut self, c: &'static Command, req: Request) -> bool {
        if self.behind_failed_shared() {
            self.stalled = Some(req);
            return false;
        }
        self.sync_tracking();
        let now = self.now;
        let ctx = self.ctx.clone();
        let cache = &ctx.cache;
        let counters = ctx.counters();
        let keys = &req.args[1..];
        let degraded = ctx.upstream.degraded();
        // With Redis users, hits only for this very list of keys, answered
        // for this user before (`cache::permits`).
        let acl = self.acl_generation().map(|g| (g, crate::cache::permits::key_list(keys)));
        let permitted =
            acl.as_ref().is_none_or(|(g, list)| cache.permits.allows(&self.who, c.id, list, *g));
        if !permitted {
            inc(&counters.cache_acl_misses);
        }
        let mut hits: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        for key in keys {
            cache.record_read(key, now);
            let ek = cache.entry_key(self.proto, c.id, std::slice::from_ref(key));
            let found = permitted
                .then(|| cache.lookup_with(&ek, now, degraded, |e| e.to_bytes()))
                .flatten();
            hits.push(match found {
                Some((reply, stale)) => {
                    if stale {
                        inc(&counters.stale_hits);
                    }
                    Some(reply)
                }
                None => None,
            });
        }
        if hits.iter().all(Option::is_some) {
            self.mark.source = Source::Cache;
            add(&counters.cache_hits, hits.len() as u64);
            let mut out = BytesMut::new();
            out.extend_from_slice(format!("*{}\r\n", hits.len()).as_bytes());
            for h in hits.into_iter().flatten() {
                out.extend_from_slice(&h);
            }
            return self.reply_raw(out.freeze());
        }
        let link = match ctx.upstream.shared_for(&self.who, self.proto, self.affinity, self.dest) {
            Ok(l) => l,
            Err(e) => return self.reply_raw(e),
        };
        if let Some(refusal) = self.over_share(&link) {
            return self.reply_raw(refusal);
        }
        let shared = &ctx.shared.cache;
        let tracking = shared.tracking_now();
        let mut fills = Vec::new();
        for (index, (key, hit)) in keys.iter().zip(&hits).enumerate() {
            if hit.is_none() && cache.admissible(key, now) {
                let ek = cache.entry_key(self.proto, c.id, std::slice::from_ref(key));
                fills.push(ElementFill {
                    index,
                    entry_key: Box::from(&ek[..]),
                    key: key.clone(),
                    stamp: shared.epochs.stamp(key),
                });
            }
        }
        add(&counters.cache_hits, hits.iter().filter(|h| h.is_some()).count() as u64);
        add(&counters.cache_misses, hits.iter().filter(|h| h.is_none()).count() as u64);
        inc(&counters.forwarded_commands);
        let (tx, rx) = ReplyTx::channel(Some(&self.owed));
        let keys_to_fill: Vec<Bytes> = fills.iter().map(|f| f.key.clone()).collect();
        let parts: Rc<dyn Parts> = Rc::new(MgetFill {
            ctx: ctx.clone(),
            state: RefCell::new(MgetState {
                reply: None,
                ttls: vec![None; fills.len()],
                left: 1 + fills.len(),
                tx: Some(tx),
                failed: false,
            }),
            fills,
            tracking,
            sent: now,
            permit: acl.map(|(generation, list)| Permit {
                who: self.who.clone(),
                cmd: c.id,
                key: list.into_boxed_slice(),
                generation,
            }),
        });
        link.send_part(&req, &parts, 0);
        for (i, key) in keys_to_fill.iter().enumerate() {
            link.send_pttl_part(key, &parts, i + 1);
        }
        self.note_shared(&link);
        let lane = if link.is_embedded() { Lane::Local } else { Lane::Shared };
        self.mark.source = Source::Upstream;
        self.push_forwarded(ReplySlot::Wait(rx), lane, Effect::None);
        self.set_retry(Some(Retry::new(&req.frame, self.dest, true)));
        self.keep_args(req.args);
        true
    }
}

struct MgetState {
    reply: Option<Bytes>,
    ttls: Vec<Option<i64>>,
    left: usize,
    tx: Option<ReplyTx>,
    /// The MGET itself failed upstream (its reply is hotcache's error).
    failed: bool,
}

/// One MGET element to cache.
struct ElementFill {
    /// Its position in the MGET.
    index: usize,
    entry_key: Box<[u8]>,
    key: Bytes,
    stamp: Stamp,
}

/// An MGET sent to fill the cache: the MGET, then one PTTL per key to cache.
struct MgetFill {
    ctx: Rc<ThreadCtx>,
    state: RefCell<MgetState>,
    fills: Vec<ElementFill>,
    tracking: Option<u64>,
    sent: Instant,
    /// With Redis users: what a reply that is not an error lets the user be
    /// served from the cache.
    permit: Option<Permit>,
}

impl MgetFill {
    /// One part is in; when all are, answer the client and cache what may be.
    fn done(&self) {
        let mut st = self.state.borrow_mut();
        st.left -= 1;
        if st.left > 0 {
            return;
        }
        let Some(reply) = st.reply.take() else { return };
        if let Some(tx) = st.tx.take() {
            let r = if st.failed {
                Reply::failed(reply.clone(), false)
            } else {
                // The MGET and its PTTLs, from the first sent to the last answered.
                Reply::timed(reply.clone(), self.sent.elapsed().as_nanos() as u64)
            };
            tx.send(r);
        }
        if st.failed {
            return;
        }
        let ttls = std::mem::take(&mut st.ttls);
        drop(st);
        if !reply.starts_with(b"*") {
            return;
        }
        if let Some(p) = &self.permit {
            self.ctx.cache.permits.learn(&p.who, p.cmd, &p.key, p.generation);
        }
        let elements = split_array(&reply);
        let counters = self.ctx.counters();
        for (f, ttl) in self.fills.iter().zip(ttls) {
            let Some(element) = elements.get(f.index) else { continue };
            let r = FillResult {
                reply: element.clone(),
                ttl_ms: ttl,
                stamp: f.stamp,
                tracking: self.tracking,
                sent: self.sent,
                failed: false,
                rtt_ns: 0,
            };
            self.ctx.cache.install(&f.entry_key, &r, true, counters);
        }
    }
}

impl Parts for MgetFill {
    fn part(&self, index: usize, frame: Bytes) {
        {
            let mut st = self.state.borrow_mut();
            if index == 0 {
                st.reply = Some(frame);
            } else if let Some(t) = st.ttls.get_mut(index - 1) {
                *t = frame
                    .strip_prefix(b":")
                    .and_then(|r| r.strip_suffix(b"\r\n"))
                    .and_then(crate::protocol::string2ll);
            }
        }
        self.done();
    }

    fn failed(&self, index: usize, error: Bytes) {
        if index == 0 {
            let mut st = self.state.borrow_mut();
            st.reply = Some(error);
            st.failed = true;
        }
        self.done();
    }
}
