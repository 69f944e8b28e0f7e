//! The GET fast path: a cached GET answered from the read buffer before the
//! parser builds a request of it.

use bytes::{Buf, Bytes};

use crate::metrics::Source;
use crate::server::conn::{Conn, ReplyMode};
use crate::stats::inc;

impl Conn {
    /// A cached GET answered straight from the read buffer, before the parser
    /// builds a request of it: true if the GET at the head of the input was a
    /// hit and is answered (and consumed). Anything else (not a plain GET, a
    /// miss, a client or a setup where dispatch would do more than look the
    /// key up) is left in the buffer for the parser and `dispatch`, untouched:
    /// the hit is the same as `cached_read`'s, tracking synced before it.
    pub(in crate::server) fn fast_get_hit(&mut self) -> bool {
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
}
