//! The cache on the request path: hits, misses through singleflight, MGET per
//! key, and the invalidations writes make.
//!
//! This file holds the one-key read (`cached_read`) and what every cached read
//! checks first; the GET answered from the read buffer is in `fast`, the
//! background re-read of a hot entry in `refresh`, MGET in `mget`, and what a
//! write invalidates in `invalidate`.

mod fast;
mod invalidate;
mod mget;
mod refresh;

use super::conn::{Conn, Effect, FillTarget, Lane, NeedSync, Permit, ReplyMode, Retry};
use crate::cache::Join;
use crate::cmd::Command;
use crate::metrics::Source;
use crate::protocol::Request;
use crate::stats::inc;
use crate::upstream::ReplySlot;

pub use invalidate::merge;
pub use mget::MGET_MAX_KEYS;

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

impl Conn {
    /// True when this client's reads may use the cache: caching is on and the
    /// client is on the shared connections (home db, no transaction or SELECT).
    pub(in crate::server) fn can_cache(&self) -> bool {
        self.dedicated.is_none() && self.ctx.cache.enabled()
    }

    /// Applies the invalidations that arrived before the input being answered
    /// (see `cache::tracker`): once per batch of input, before its first hit.
    pub(in crate::server) fn sync_tracking(&mut self) {
        let need = std::mem::replace(&mut self.need_sync, NeedSync::No);
        if need != NeedSync::No {
            self.ctx.trackers.sync(need == NeedSync::Full);
        }
    }

    /// The ACL generation a cached reply must have been permitted in for this
    /// client's user (`cache::permits`); None when no permit is needed: with
    /// hotcache's own `requirepass`, or while Redis's ACLs are its
    /// unrestricted default.
    fn acl_generation(&self) -> Option<u64> {
        let acl = self.ctx.upstream.acl();
        (self.config.clients_are_redis_users() && !acl.open_to_all()).then(|| acl.generation())
    }

    /// A cacheable read of one key: a hit answers at once; a miss joins or starts
    /// the singleflight read of its entry.
    pub(in crate::server) fn cached_read(&mut self, c: &'static Command, req: Request) -> bool {
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
                if let Some(refusal) = self.over_share(&link) {
                    flight.fail(refusal.clone());
                    return self.reply_raw(refusal);
                }
                inc(&counters.singleflight_leads);
                inc(&counters.forwarded_commands);
                link.send_fill(&req, key, &flight, true);
                self.note_shared(&link);
                let lane = if link.is_embedded() { Lane::Local } else { Lane::Shared };
                self.push_pending(ReplySlot::Fill(rx), lane, Effect::None, fill);
                self.set_retry(Some(Retry::new(&req.frame, self.dest, true)));
                self.keep_args(req.args);
            }
        }
        true
    }
}
