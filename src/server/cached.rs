//! The cache on the request path: hits, misses through singleflight, MGET per
//! key, and the invalidations writes make.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::ThreadCtx;
use super::conn::{Conn, Effect, FillTarget, Lane, NeedSync, Permit, ReplyMode, Retry};
use crate::cache::{FillResult, Join, Stamp};
use crate::cmd::{Begin, Command, Find, KeyRef, Writes, command_keys, key_flags};
use crate::metrics::Source;
use crate::protocol::{Request, split_array};
use crate::stats::{add, inc};
use crate::upstream::{After, Parts, Reply, ReplySlot, ReplyTx};

/// MGETs of more keys than this go to Redis whole, as sent: the per-key work
/// (a lookup, a detector update, an entry key each) would hold the thread for
/// a second at a million keys, every other client of it waiting.
pub const MGET_MAX_KEYS: usize = 1024;

/// The singleflight key of a read by `who`: its entry key and the identity,
/// so that users never share a read (see `cache::permits`).
fn flight_key_for(entry_key: &[u8], who: &crate::upstream::Identity) -> std::sync::Arc<[u8]> {
    let mut k = entry_key.to_vec();
    k.push(0xff);
    match who {
        crate::upstream::Identity::Own => k.push(0),
        crate::upstream::Identity::User(None) => k.push(1),
        crate::upstream::Identity::User(Some(u)) => {
            k.push(2);
            k.extend_from_slice(u.as_bytes());
        }
    }
    std::sync::Arc::from(k)
}

/// Combines two pending invalidations.
pub fn merge(a: After, b: After) -> After {
    match (a, b) {
        (After::All, _) | (_, After::All) => After::All,
        (After::Nothing, x) | (x, After::Nothing) => x,
        (x, y) => After::Slots(x.slots().iter().chain(y.slots().iter()).copied().collect()),
    }
}

/// Keys whose value a write may change (key specs flagged RW, OW or RM).
fn written(k: &KeyRef) -> bool {
    k.flags & (key_flags::RW | key_flags::OW | key_flags::RM) != 0
}

impl Conn {
    /// True when this client's reads may use the cache: caching is on and the
    /// client is on the shared connections (home db, no transaction or SELECT).
    pub(super) fn can_cache(&self) -> bool {
        self.dedicated.is_none() && self.ctx.cache.enabled()
    }

    /// Applies the invalidations that arrived before the input being answered
    /// (see `cache::tracker`): once per batch of input, before its first hit.
    pub(super) fn sync_tracking(&mut self) {
        let need = std::mem::replace(&mut self.need_sync, NeedSync::No);
        if need != NeedSync::No {
            self.ctx.trackers.sync(need == NeedSync::Full);
        }
    }

    /// What a command invalidates, from the command table's key specs.
    ///
    /// Nothing while `cache-mode off`: nothing is cached then, and entries cached
    /// after it is switched back on are stamped after the switch, so a write in
    /// flight across it is covered by the tracking stream (or, without tracking,
    /// by the TTL, which is then the only bound anyway).
    pub(super) fn write_after(&self, c: &Command, args: &[Bytes]) -> After {
        if !self.ctx.cache.enabled() {
            return After::Nothing;
        }
        match c.writes {
            Writes::No => After::Nothing,
            Writes::All => After::All,
            Writes::Keys => {
                let epochs = &self.ctx.shared.cache.epochs;
                // The common case, one key at argument 1 (SET, INCR, HSET ...),
                // without building a key list.
                if let [spec] = c.def.key_specs
                    && matches!(spec.begin, Begin::Index(1))
                    && matches!(spec.find, Find::Range { lastkey: 0, .. })
                    && spec.flags & (key_flags::RW | key_flags::OW | key_flags::RM) != 0
                    && spec.flags & key_flags::INCOMPLETE == 0
                    && args.len() > 1
                {
                    return After::Slot(epochs.slot(&args[1]));
                }
                let keys = command_keys(c.def, args);
                let slots: Box<[u32]> = keys
                    .keys
                    .iter()
                    .filter(|k| written(k))
                    .map(|k| epochs.slot(&args[k.index]))
                    .collect();
                // Keys it cannot name (SORT ... STORE), or none at all (FLUSHALL,
                // SWAPDB): assume everything.
                if !keys.complete || slots.is_empty() { After::All } else { After::Slots(slots) }
            }
        }
    }

    /// Applies an invalidation now (the one before forwarding) and counts it.
    pub(super) fn invalidate_now(&self, after: &After) {
        let c = self.ctx.counters();
        match after {
            After::Nothing => return,
            After::Slot(_) => inc(&c.invalidations_own_write),
            After::Slots(s) => add(&c.invalidations_own_write, s.len() as u64),
            After::All => inc(&c.invalidations_flush),
        }
        for slot in after.slots() {
            self.ctx.cache.record_write(*slot);
        }
        after.apply(&self.ctx.shared.cache.epochs);
    }

    /// The ACL generation a cached reply must have been permitted in for this
    /// client's user (`cache::permits`); None when no permit is needed: with
    /// hotcache's own `requirepass`, or while Redis's ACLs are its
    /// unrestricted default.
    fn acl_generation(&self) -> Option<u64> {
        let acl = self.ctx.upstream.acl();
        (self.config.clients_are_redis_users() && !acl.open_to_all()).then(|| acl.generation())
    }

    /// A cached GET answered straight from the read buffer, before the parser
    /// builds a request of it: true if the GET at the head of the input was a
    /// hit and is answered (and consumed). Anything else (not a plain GET, a
    /// miss, a client or a setup where dispatch would do more than look the
    /// key up) is left in the buffer for the parser and `dispatch`, untouched:
    /// the hit is the same as `cached_read`'s, tracking synced before it.
    pub(super) fn fast_get_hit(&mut self) -> bool {
        if self.parser.in_progress()
            || !self.pending.is_empty()
            || self.reply_mode != ReplyMode::On
            || !self.authed
            || self.relay.is_some()
            || self.cluster_multi.is_some()
            || self.stalled.is_some()
            || !self.can_cache()
        {
            return false;
        }
        let Some((start, end, len)) = crate::protocol::peek_get(&self.rbuf) else {
            return false;
        };
        let ctx = self.ctx.clone();
        if !ctx.tracking.is_empty()
            || ctx.upstream.is_cluster()
            || crate::resilience::logging::allowlist_active()
            || self.acl_generation().is_some()
        {
            return false;
        }
        let degraded = ctx.upstream.degraded();
        if degraded && !self.config.degrade_commands.is_empty() {
            return false;
        }
        let c = crate::cmd::get();
        let now = self.now;
        let cache = &ctx.cache;
        self.sync_tracking();
        let key = &self.rbuf[start..end];
        let found = {
            let ek = cache.entry_key_one(self.proto, c.id, key);
            let out = &mut self.out;
            cache.lookup_with(&ek, now, degraded, |e| {
                match e.shared {
                    Some(b) => out.push(b),
                    None => out.extend_from_slice(e.reply),
                }
                (e.negative, e.left_ms)
            })
        };
        let Some(((negative, left_ms), stale)) = found else { return false };
        cache.record_read(key, now);
        if !negative && !stale && !degraded {
            let ek = cache.entry_key_one(self.proto, c.id, key);
            if cache.wants_refresh(&ek, key, left_ms, now) {
                let ek: std::sync::Arc<[u8]> = std::sync::Arc::from(&ek[..]);
                let args = vec![Bytes::from_static(b"GET"), Bytes::copy_from_slice(key)];
                self.refresh_ahead(ek, args);
            }
        }
        self.rbuf.advance(len);
        let counters = ctx.counters();
        self.info().touch(now);
        inc(&counters.total_commands_processed);
        self.info().last_cmd.store(c.id + 1, std::sync::atomic::Ordering::Relaxed);
        self.mark = crate::metrics::Mark {
            cmd: c.id,
            class: crate::metrics::Class::Read,
            source: Source::Cache,
            ..crate::metrics::Mark::new(now)
        };
        inc(&counters.cache_hits);
        if negative {
            inc(&counters.cache_negative_hits);
        }
        if stale {
            inc(&counters.stale_hits);
        }
        self.note_direct(self.mark);
        self.note_out();
        self.owed.exceeded();
        true
    }

    /// Refresh-ahead: reads the entry `entry_key` again (the command `args`)
    /// through the singleflight fill path, in the background, while hits keep
    /// being answered from it; when the reply arrives it replaces the entry
    /// with a new life. The read is stamped before it is sent, so a write
    /// (own or tracked) while it is in flight makes it a stale fill, dropped
    /// as every other (ARCHITECTURE.md rules 2-4).
    fn refresh_ahead(&self, entry_key: std::sync::Arc<[u8]>, args: Vec<Bytes>) {
        let ctx = self.ctx.clone();
        let shared = &ctx.shared.cache;
        let Some(key) = args.get(1).cloned() else { return };
        let Some(tracking) = shared.tracking_now() else { return };
        let stamp = shared.epochs.stamp(&key);
        let Ok(link) = ctx.upstream.shared_for(&self.who, self.proto, self.affinity, self.dest)
        else {
            return;
        };
        let counters = ctx.counters();
        let join = shared.flights.join(
            &entry_key,
            &key,
            stamp,
            Some(tracking),
            true,
            ctx.cache.limits(),
            &shared.epochs,
            self.now,
        );
        let rx = match join {
            Join::Follow(rx) => rx,
            Join::Lead(flight, rx) => {
                inc(&counters.forwarded_commands);
                link.send_fill(&crate::protocol::Request::from_args(args), &key, &flight);
                rx
            }
        };
        inc(&counters.cache_refreshes);
        ctx.cache.set_refreshing(&entry_key, true);
        tokio::task::spawn_local(async move {
            let r = rx.await;
            ctx.cache.set_refreshing(&entry_key, false);
            if let Ok(r) = r
                && !r.failed
            {
                ctx.cache.install(&entry_key, &r, false, ctx.counters());
            }
        });
    }

    /// A cacheable read of one key: a hit answers at once; a miss joins or starts
    /// the singleflight read of its entry.
    pub(super) fn cached_read(&mut self, c: &'static Command, req: Request) -> bool {
        if self.behind_failed_shared() {
            self.stalled = Some(req);
            return false;
        }
        let now = self.now;
        let ctx = self.ctx.clone();
        let cache = &ctx.cache;
        let counters = ctx.counters();
        let key = &req.args[1];
        cache.record_read(key, now);
        // With Redis users, a hit only for a command and key Redis answered
        // this client's user before, in these ACLs (`cache::permits`).
        let acl = self.acl_generation();
        let permitted = acl.is_none_or(|g| cache.permits.allows(&self.who, c.id, key, g));
        if !permitted {
            inc(&counters.cache_acl_misses);
        }
        let entry_key: std::sync::Arc<[u8]> = {
            let ek = cache.entry_key(self.proto, c.id, &req.args[1..]);
            // Before anything is answered from the cache, apply what the tracking
            // stream delivered before this input (cheap: no system call unless the
            // tracking socket is marked readable).
            self.sync_tracking();
            {
                // Nothing queued ahead: the reply goes straight to the output
                // buffer, without a copy of the entry's handle.
                let direct = self.pending.is_empty() && self.reply_mode == ReplyMode::On;
                let degraded = ctx.upstream.degraded();
                let out = &mut self.out;
                let found = permitted
                    .then(|| {
                        cache.lookup_with(&ek, now, degraded, |e| {
                            if direct {
                                match e.shared {
                                    Some(b) => out.push(b),
                                    None => out.extend_from_slice(e.reply),
                                }
                                (None, e.negative, e.left_ms)
                            } else {
                                (Some(e.to_bytes()), e.negative, e.left_ms)
                            }
                        })
                    })
                    .flatten();
                if let Some(((reply, negative, left_ms), stale)) = found {
                    if !negative
                        && !stale
                        && !degraded
                        && acl.is_none()
                        && cache.wants_refresh(&ek, key, left_ms, now)
                    {
                        let ek: std::sync::Arc<[u8]> = std::sync::Arc::from(&ek[..]);
                        self.refresh_ahead(ek, req.args.to_vec());
                    }
                    self.mark.source = Source::Cache;
                    inc(&counters.cache_hits);
                    if negative {
                        inc(&counters.cache_negative_hits);
                    }
                    if stale {
                        inc(&counters.stale_hits);
                    }
                    return match reply {
                        Some(r) => self.reply_raw(r),
                        None => {
                            // Written already: its latency is recorded at the
                            // next drain, its bytes count against the output
                            // limit now (over it, nothing more is read).
                            self.note_direct(self.mark);
                            self.note_out();
                            self.owed.exceeded();
                            true
                        }
                    };
                }
            }
            std::sync::Arc::from(&ek[..])
        };
        inc(&counters.cache_misses);
        self.mark.source = Source::Upstream;
        let shared = &ctx.shared.cache;
        let admit = cache.admissible(key, now);
        let stamp = shared.epochs.stamp(key);
        let tracking = shared.tracking_now();
        // Readers share a read only with readers of the same user: Redis
        // decides for each user whether it may have the reply.
        let flight_key = match &acl {
            None => entry_key.clone(),
            Some(_) => flight_key_for(&entry_key, &self.who),
        };
        let join = shared.flights.join(
            &flight_key,
            key,
            stamp,
            tracking,
            admit,
            cache.limits(),
            &shared.epochs,
            now,
        );
        let permit = acl.map(|generation| Permit {
            who: self.who.clone(),
            cmd: c.id,
            key: Box::from(&key[..]),
            generation,
        });
        let fill = Some(Box::new(FillTarget { entry_key, admit, permit }));
        match join {
            Join::Follow(rx) => {
                inc(&counters.singleflight_joins);
                self.push_pending(ReplySlot::Fill(rx), Lane::Foreign, Effect::None, fill);
                self.set_retry(Some(Retry::new(&req.frame, self.dest, true)));
            }
            Join::Lead(flight, rx) => {
                let link = match ctx.upstream.shared_for(
                    &self.who,
                    self.proto,
                    self.affinity,
                    self.dest,
                ) {
                    Ok(l) => l,
                    Err(e) => {
                        flight.fail(e.clone());
                        return self.reply_raw(e);
                    }
                };
                inc(&counters.singleflight_leads);
                inc(&counters.forwarded_commands);
                link.send_fill(&req, key, &flight);
                self.note_shared(&link);
                let lane = if link.is_embedded() { Lane::Local } else { Lane::Shared };
                self.push_pending(ReplySlot::Fill(rx), lane, Effect::None, fill);
                self.set_retry(Some(Retry::new(&req.frame, self.dest, true)));
                self.keep_args(req.args);
            }
        }
        true
    }

    /// MGET, cached per key. All hits: the reply is assembled here (every entry is
    /// current at this moment, so the result is a snapshot as Redis's is). Any
    /// miss: the whole MGET goes to Redis (keeping its atomicity), followed by the
    /// PTTL of each missing admissible key, and the elements are cached.
    pub(super) fn cached_mget(&mut self, c: &'static Command, req: Request) -> bool {
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
