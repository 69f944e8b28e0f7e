//! Finding the master: asking every sentinel, choosing among their answers,
//! installing a new topology (the cache dropped, tracking restarted when the
//! nodes read from change); the resolver thread. Following what they publish,
//! and the write fence, is in `follow`.

use super::*;

impl Sentinel {
    /// How long asking one sentinel may take.
    pub(super) fn query_timeout(&self) -> Duration {
        let c = self.config.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_millis(c.upstream_connect_timeout.clamp(100, 1000))
    }

    /// Asks every sentinel (in parallel: one that hangs costs the timeout
    /// once, not per sentinel) and installs the newest answer. True if the
    /// topology changed.
    pub(super) fn resolve(&self) -> bool {
        self.stats.resolves.fetch_add(1, Ordering::Relaxed);
        let timeout = self.query_timeout();
        // An event may move the master while the sentinels are asked: then
        // the answers may be from before it.
        let asked_at = self.version();
        let answers: Vec<Result<Option<query::Answer>, String>> = std::thread::scope(|scope| {
            let asks: Vec<_> = self
                .addrs
                .iter()
                .map(|addr| {
                    scope.spawn(move || {
                        let tls = self.sentinel_tls.as_deref();
                        query::ask(addr, tls, &self.name, &self.auth, self.replicas, timeout)
                    })
                })
                .collect();
            asks.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("query thread panicked".into())))
                .collect()
        });
        let current = self.topology();
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for (addr, a) in self.addrs.iter().zip(answers) {
            match a {
                Ok(Some(a)) => found.push(a),
                Ok(None) => errors.push(format!("{addr}: no master named '{}'", self.name)),
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        let Some(answer) = newest(found, current.master.as_ref()) else {
            self.stats.resolve_errors.fetch_add(1, Ordering::Relaxed);
            let mut last = errors.join("; ");
            last.retain(|c| c != '\r' && c != '\n');
            crate::log_limited!(warn, master = %self.name, error = %last, "no sentinel named the master");
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = last;
            return false;
        };
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.version() != asked_at {
            drop(st);
            self.ask_again();
            return false;
        }
        let current = self.topology();
        let now = Instant::now();
        if lagging(st.newer_than, now, &answer, current.master.as_ref()) {
            tracing::info!(master = %self.name, named = %answer.master, epoch = answer.epoch,
                "a sentinel names the master from before the failover; not followed");
            return false;
        }
        st.epoch = answer.epoch;
        let fenced = current.fenced
            && current.master.as_ref() == Some(&answer.master)
            && st.fence_until.is_some_and(|t| t > now);
        if answer.failover_timeout.is_some() {
            st.fence_limit = answer.failover_timeout;
        }
        let next = Topology { master: Some(answer.master), replicas: answer.replicas, fenced };
        self.install(&mut st, next)
    }

    /// Stores `next` if it differs; drops the cache and restarts tracking if the
    /// nodes read from changed. True if anything changed.
    pub(super) fn install(&self, st: &mut State, next: Topology) -> bool {
        let current = self.topology();
        if *current == next {
            return false;
        }
        let retrack = current.tracked() != next.tracked();
        match (&current.master, &next.master) {
            (Some(from), Some(to)) if from != to => {
                self.stats.switches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(master = %self.name, from = %from, to = %to,
                    "sentinel: the master moved; its old connections are closed, the cache dropped");
            }
            (None, Some(at)) => {
                tracing::info!(master = %self.name, at = %at, "sentinel: master found")
            }
            _ => {}
        }
        if next.fenced && !current.fenced {
            self.stats.fences.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(master = %self.name, "sentinel: a replica is being promoted; writes refused until it is");
        }
        if !next.fenced {
            st.fence_until = None;
        }
        *self.topology.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        if retrack {
            // Before any thread routes by the new topology: what was read from
            // the old nodes must not be served, and fills in flight there must
            // not be cached.
            self.epochs.invalidate_all();
            if let Some(t) = &self.tracking {
                t.set_expected(0);
            }
        }
        let version = self.version.fetch_add(1, Ordering::Release) + 1;
        if retrack || st.reconciling.is_some() {
            st.reconciling = Some((version, vec![false; self.threads]));
        }
        self.changed.send_replace(version);
        true
    }
}

/// The answer to follow: the newest epoch; among equals the master already
/// followed (no move for nothing), then the first.
pub(super) fn newest(
    answers: Vec<query::Answer>,
    current: Option<&Arc<str>>,
) -> Option<query::Answer> {
    let mut best: Option<query::Answer> = None;
    for a in answers {
        let better = match &best {
            None => true,
            Some(b) => {
                a.epoch > b.epoch
                    || (a.epoch == b.epoch
                        && current == Some(&a.master)
                        && current != Some(&b.master))
            }
        };
        if better {
            best = Some(a);
        }
    }
    best
}

/// True if `answer` comes from a sentinel that has not heard of the failover
/// an event just made hotcache follow (see [`LAGGING`]).
pub(super) fn lagging(
    newer_than: Option<(Instant, u64)>,
    now: Instant,
    answer: &query::Answer,
    current: Option<&Arc<str>>,
) -> bool {
    newer_than.is_some_and(|(until, epoch)| {
        now < until && answer.epoch < epoch && current != Some(&answer.master)
    })
}

/// Asks the sentinels whenever asked, every [`RECHECK`] (more often while
/// fenced), and lifts an expired fence; ends when the `Sentinel` is gone.
pub(super) fn resolver(weak: Weak<Sentinel>, rx: Receiver<()>) {
    loop {
        let wait = match weak.upgrade() {
            Some(s) if s.fenced() => FENCED_RECHECK,
            Some(_) => RECHECK,
            None => return,
        };
        match rx.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(s) = weak.upgrade() else { return };
        let started = Instant::now();
        s.expire_fence();
        let gap = if s.resolve() { MIN_GAP } else { IDLE_GAP };
        // While fenced, the promotion is waited for: no idle slow-down.
        let gap = if s.fenced() { MIN_GAP } else { gap };
        drop(s);
        if let Some(rest) = gap.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::listen::Event;
    use super::super::testing::{a, answer};
    use super::*;

    #[test]
    fn newest_answer_wins() {
        let cur = a("m:1");
        let got = newest(vec![answer("m:1", 2), answer("r:2", 3)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("r:2")));
        // Equal epochs: stay where we are.
        let got = newest(vec![answer("r:2", 2), answer("m:1", 2)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("m:1")));
        let got = newest(vec![answer("r:2", 2), answer("s:3", 2)], Some(&cur));
        assert_eq!(got.map(|x| x.master), Some(a("r:2")));
        assert!(newest(Vec::new(), None).is_none());
    }

    #[test]
    fn tracking_waits_for_every_thread() {
        let config = Config { sentinel_master: "mm".into(), ..Config::default() };
        let epochs = Arc::new(Epochs::new(4));
        let stamp = epochs.stamp(b"k");
        let (s, _rx) = Sentinel::new(&config, epochs.clone(), None, 2, None);
        let mut st = s.state.lock().expect("state");
        s.install(&mut st, Topology { master: Some(a("m:1")), ..Topology::default() });
        drop(st);
        // The cache was dropped before the new master was routed to.
        assert!(!epochs.is_current(&stamp));
        let v = s.version();
        s.reconciled(v, 0);
        assert!(s.state.lock().expect("state").reconciling.is_some());
        // A report for an older version does not count.
        s.reconciled(v - 1, 1);
        assert!(s.state.lock().expect("state").reconciling.is_some());
        s.reconciled(v, 1);
        assert!(s.state.lock().expect("state").reconciling.is_none());
        // A fence moves no stream: nothing to wait for.
        s.on_event(Event::Promoting { master: a("m:1") });
        assert!(s.state.lock().expect("state").reconciling.is_none());
    }
}
