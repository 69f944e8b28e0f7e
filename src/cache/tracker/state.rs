//! Whether the tracking streams of every thread are up: what a cached reply's
//! incarnation is checked against.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Whether the tracking streams can vouch for cached replies, over all threads
/// (and, with a cluster, over every master each thread tracks).
#[derive(Debug)]
pub struct TrackingState {
    /// Streams that are up.
    up: AtomicUsize,
    /// Streams there must be: threads, or threads times masters.
    expected: AtomicUsize,
    /// Changes whenever any tracking connection goes down, or the set of
    /// streams changes.
    incarnation: AtomicU64,
}

impl TrackingState {
    pub fn new(streams: usize) -> Self {
        Self {
            up: AtomicUsize::new(0),
            expected: AtomicUsize::new(streams),
            incarnation: AtomicU64::new(0),
        }
    }

    /// The current incarnation, if every stream is up.
    pub fn current(&self) -> Option<u64> {
        // Read the incarnation first: a stream that goes down after this bumps it,
        // and `still` then refuses.
        let i = self.incarnation.load(Ordering::Acquire);
        let expected = self.expected.load(Ordering::Acquire);
        (expected > 0 && self.up.load(Ordering::Acquire) == expected).then_some(i)
    }

    /// True while every stream is up and none went down since `i`.
    pub fn still(&self, i: u64) -> bool {
        self.current() == Some(i)
    }

    /// The number of streams changes (a cluster's masters changed): fills in
    /// flight are no longer vouched for.
    pub fn set_expected(&self, streams: usize) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
        self.expected.store(streams, Ordering::Release);
    }

    /// Fills in flight are no longer vouched for (their replies may come from a
    /// node no stream covers).
    pub fn bump(&self) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn up(&self) {
        self.up.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn down(&self) {
        self.incarnation.fetch_add(1, Ordering::AcqRel);
        self.up.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_state_needs_every_thread() {
        let s = TrackingState::new(2);
        assert_eq!(s.current(), None);
        s.up();
        assert_eq!(s.current(), None);
        s.up();
        let i = s.current().expect("all up");
        s.down();
        assert!(!s.still(i));
        s.up();
        assert!(s.current().is_some_and(|j| j != i));
    }
}
