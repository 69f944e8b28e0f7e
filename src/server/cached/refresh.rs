//! Refresh-ahead: a hot entry near the end of its life read again in the
//! background, through the singleflight fill path, while hits go on.

use bytes::Bytes;

use crate::cache::Join;
use crate::server::conn::Conn;
use crate::stats::inc;

impl Conn {
    /// Refresh-ahead: reads the entry `entry_key` again (the command `args`)
    /// through the singleflight fill path, in the background, while hits keep
    /// being answered from it; when the reply arrives it replaces the entry
    /// with a new life. The read is stamped before it is sent, so a write
    /// (own or tracked) while it is in flight makes it a stale fill, dropped
    /// as every other (ARCHITECTURE.md rules 2-4).
    pub(super) fn refresh_ahead(&self, entry_key: std::sync::Arc<[u8]>, args: Vec<Bytes>) {
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
                link.send_fill(&crate::protocol::Request::from_args(args), &key, &flight, false);
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
}
