//! Following what the sentinels publish: an event that moves the master, the
//! fence a promotion puts up, and the fence's end (see the module doc).

use super::*;

impl Sentinel {
    /// Lifts a fence that has held for the master's `failover-timeout`.
    pub(super) fn expire_fence(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.topology();
        if current.fenced && st.fence_until.is_none_or(|t| t <= Instant::now()) {
            tracing::warn!(master = %self.name, "no promotion within failover-timeout; writes go to the master again");
            let next = Topology { fenced: false, ..(*current).clone() };
            self.install(&mut st, next);
        }
    }

    /// True while fenced (the resolver asks more often then).
    pub(super) fn fenced(&self) -> bool {
        self.topology().fenced
    }

    /// Applies what a sentinel published.
    pub(super) fn on_event(&self, event: listen::Event) {
        use listen::Event;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.topology();
        let ours = |a: &Arc<str>| current.master.as_ref() == Some(a);
        match event {
            // Moved from the master followed: follow at once (the replicas are
            // asked for next; reads go to the master meanwhile).
            Event::Switched { from: old, to: new }
            | Event::Promoted { replica: new, master: old }
                if ours(&old) =>
            {
                let next = Topology { master: Some(new), replicas: Vec::new(), fenced: false };
                if self.install(&mut st, next) {
                    st.newer_than = Some((Instant::now() + LAGGING, st.epoch + 1));
                }
            }
            Event::Promoting { master } if ours(&master) && !current.fenced => {
                st.fence_until = Some(Instant::now() + st.fence_limit.unwrap_or(FENCE_DEFAULT));
                let next = Topology { fenced: true, ..(*current).clone() };
                self.install(&mut st, next);
                // Asked again soon; the promotion may be missed otherwise.
                drop(st);
                self.ask(Cause::Event);
                return;
            }
            Event::Aborted if current.fenced => {
                let next = Topology { fenced: false, ..(*current).clone() };
                self.install(&mut st, next);
            }
            _ => {}
        }
        drop(st);
        self.ask(Cause::Event);
    }
}

#[cfg(test)]
mod tests {
    use super::super::listen::Event;
    use super::super::resolve::lagging;
    use super::super::testing::{a, answer, sentinel_at};
    use super::*;

    #[test]
    fn a_failover_fences_then_moves() {
        let s = sentinel_at("m:1");
        let v = s.version();
        // Another master's replica: nothing.
        s.on_event(Event::Promoting { master: a("x:9") });
        assert!(!s.topology().fenced);
        s.on_event(Event::Promoting { master: a("m:1") });
        let t = s.topology();
        assert!(t.fenced && t.master == Some(a("m:1")));
        assert!(s.version() > v);
        // Promoted: moved, fence lifted.
        s.on_event(Event::Promoted { replica: a("r:2"), master: a("m:1") });
        let t = s.topology();
        assert_eq!((t.master.clone(), t.fenced), (Some(a("r:2")), false));
        assert_eq!(s.stats.switches.load(Ordering::Relaxed), 1);
        // The other sentinels' +switch-master after it: already there.
        let v = s.version();
        s.on_event(Event::Switched { from: a("m:1"), to: a("r:2") });
        assert_eq!(s.version(), v);
        // A +switch-master from a master not followed moves nothing (asks).
        s.on_event(Event::Switched { from: a("q:7"), to: a("z:8") });
        assert_eq!(s.topology().master, Some(a("r:2")));
        // For a while, an answer naming the old master with the old epoch is
        // a lagging sentinel; a newer epoch is a newer move.
        let st = s.state.lock().expect("state");
        let now = Instant::now();
        let cur = s.topology().master.clone();
        assert!(lagging(st.newer_than, now, &answer("m:1", 3), cur.as_ref()));
        assert!(!lagging(st.newer_than, now, &answer("m:1", 4), cur.as_ref()));
        assert!(!lagging(st.newer_than, now, &answer("r:2", 0), cur.as_ref()));
        assert!(!lagging(st.newer_than, now + LAGGING, &answer("m:1", 3), cur.as_ref()));
    }

    #[test]
    fn an_aborted_failover_lifts_the_fence() {
        let s = sentinel_at("m:1");
        s.on_event(Event::Promoting { master: a("m:1") });
        assert!(s.topology().fenced);
        s.on_event(Event::Aborted);
        let t = s.topology();
        assert_eq!((t.master.clone(), t.fenced), (Some(a("m:1")), false));
        // A fence past its time lifts too.
        s.on_event(Event::Promoting { master: a("m:1") });
        s.state.lock().expect("state").fence_until = Some(Instant::now());
        s.expire_fence();
        assert!(!s.topology().fenced);
        assert_eq!(s.stats.fences.load(Ordering::Relaxed), 2);
    }
}
