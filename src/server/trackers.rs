//! Each shard thread's tracking connections (Redis CLIENT TRACKING, BCAST),
//! kept on the nodes the thread reads from.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::ThreadCtx;
use crate::cache::tracker;

/// One thread's tracking connections, by node.
#[derive(Default)]
pub struct Trackers {
    list: RefCell<Vec<TrackerEntry>>,
}

struct TrackerEntry {
    addr: Arc<str>,
    tracker: Rc<tracker::Tracker>,
    stop: Rc<Cell<bool>>,
}

impl Trackers {
    /// Applies what every stream delivered (see `Tracker::sync`).
    pub fn sync(&self, force: bool) {
        for e in self.list.borrow().iter() {
            e.tracker.sync(force);
        }
    }

    /// Tracks exactly the nodes in `want`: starts the missing, stops the rest.
    fn reconcile(&self, ctx: &Rc<ThreadCtx>, template: &tracker::TrackerConfig, want: &[Arc<str>]) {
        let mut list = self.list.borrow_mut();
        list.retain(|e| {
            let keep = want.contains(&e.addr);
            if !keep {
                e.stop.set(true);
                e.tracker.stop();
            }
            keep
        });
        for addr in want {
            if list.iter().any(|e| &e.addr == addr) {
                continue;
            }
            let mut tc = template.clone();
            tc.addr = addr.to_string();
            let tracker = tracker::Tracker::new(
                tc,
                ctx.shared.cache.tracking.clone(),
                ctx.shared.cache.epochs.clone(),
                ctx.shared.counters.clone(),
                ctx.shard,
            );
            // Client tracking served by hotcache hears of every invalidation
            // (a Weak: the thread's context owns the tracker).
            let weak = Rc::downgrade(ctx);
            tracker.set_hook(Box::new(move |keys| {
                if let Some(ctx) = weak.upgrade() {
                    match keys {
                        Some(keys) => ctx.tracking.invalidate(&ctx.shared, keys),
                        None => ctx.tracking.invalidate_all(&ctx.shared),
                    }
                }
            }));
            let stop = Rc::new(Cell::new(false));
            tokio::task::spawn_local(tracker.clone().run(stop.clone()));
            list.push(TrackerEntry { addr: addr.clone(), tracker, stop });
        }
    }

    pub(super) fn stop_all(&self) {
        for e in self.list.borrow().iter() {
            e.stop.set(true);
        }
    }
}

/// Keeps a thread's tracking connections on the nodes it reads from: the
/// upstream, or every master of the current slot map (and their replicas when
/// reads go there). None while `cache-mode off`: nothing is cached then, and
/// every write would still cost Redis an invalidation message per thread. When
/// the cache comes back on, fills are cached only once every stream is up again.
///
/// Behind Sentinel, the nodes are the master and the replicas read from, and
/// the thread says when it has moved its streams to a new topology: the
/// streams expected are counted anew only once every thread has (see
/// `Sentinel::reconciled`).
pub(super) async fn follow_tracking(ctx: Rc<ThreadCtx>, template: tracker::TrackerConfig) {
    let cluster = ctx.shared.cluster.clone();
    let sentinel = ctx.shared.sentinel.clone();
    let replicas = ctx.upstream.read_from() == crate::config::ReadFrom::Replica;
    let mut seen = None;
    while !ctx.stopping.get() {
        // Also kept while clients of this thread track: their invalidations
        // come from these streams.
        let on =
            ctx.config().cache_mode != crate::config::CacheMode::Off || !ctx.tracking.is_empty();
        let version = match (&cluster, &sentinel) {
            (Some(c), _) => c.version(),
            (None, Some(s)) => s.version(),
            _ => 0,
        };
        if seen != Some((on, version)) {
            seen = Some((on, version));
            let mut want: Vec<Arc<str>> = Vec::new();
            match (&cluster, &sentinel) {
                _ if !on => {}
                (Some(c), _) => want = c.map().1.tracked(replicas),
                (None, Some(s)) => want = s.topology().tracked(),
                (None, None) => want.push(Arc::from(template.addr.as_str())),
            }
            ctx.trackers.reconcile(&ctx, &template, &want);
            if let Some(s) = &sentinel {
                s.reconciled(version, ctx.shard);
            }
        }
        // The tracking tables' limit may have been lowered (CONFIG SET).
        let max = usize::try_from(ctx.config().tracking_table_max_keys).unwrap_or(usize::MAX);
        ctx.tracking.enforce_limit(&ctx.shared, max);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
