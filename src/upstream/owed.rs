//! What a client is owed: the reply bytes produced for it and not yet written to
//! its socket, counted as they arrive, so that its output buffer limit holds
//! whatever path a reply takes (ARCHITECTURE.md rule 10).
//!
//! A reply waits for its client in one of three places: in the client's output
//! buffer; in its reply queue, arrived but behind a reply that has not (a read
//! joined to another client's, a slow node of a cluster); or in the relay channel
//! of a subscriber. The connection knows the first; the producers (an upstream
//! connection's reader, a merged MGET, a relay) know the others. Both sides share
//! one [`Owed`] per client on its thread: producers charge what they hand over,
//! the charge is given back when the reply is dropped or moved to the output
//! buffer, and once the client is over its limit every later reply is dropped
//! where it arrives, never buffered.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::config::ClassLimit;

/// One client's owed bytes and its output buffer limit. Single-threaded: the
/// client and every producer of its replies live on one shard thread.
#[derive(Debug, Default)]
pub struct Owed {
    /// Bytes of replies handed to the client and not yet in its output buffer.
    arrived: Cell<u64>,
    /// Its output buffer's length, as the connection last set it.
    out: Cell<u64>,
    limit: Cell<ClassLimit>,
    /// Since when it has been over its soft limit without a break.
    soft_since: Cell<Option<Instant>>,
    /// Over its limit: the client is being closed, replies are dropped.
    over: Cell<bool>,
    /// The connection task, woken when a producer finds it over its limit.
    waker: RefCell<Option<Waker>>,
}

/// Bytes charged to a client, given back when dropped (the reply was written to
/// its output buffer, or thrown away).
#[derive(Debug)]
pub struct Charge {
    owed: Rc<Owed>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.owed.arrived.set(self.owed.arrived.get().saturating_sub(self.bytes));
    }
}

impl Owed {
    pub fn new(limit: ClassLimit) -> Rc<Self> {
        let owed = Self::default();
        owed.limit.set(limit);
        Rc::new(owed)
    }

    /// The limits of the client's class now (they change with CONFIG SET and
    /// when it subscribes).
    pub fn set_limit(&self, limit: ClassLimit) {
        self.limit.set(limit);
    }

    /// The output buffer's length now.
    pub fn set_out(&self, bytes: usize) {
        self.out.set(bytes as u64);
    }

    /// True once the client went over its limit.
    pub fn is_over(&self) -> bool {
        self.over.get()
    }

    /// Charges `bytes` arriving for the client. None if it is, or now goes,
    /// over its limit: the reply is dropped and the client closes.
    pub fn charge(self: &Rc<Self>, bytes: usize) -> Option<Charge> {
        if self.over.get() {
            return None;
        }
        let bytes = bytes as u64;
        self.arrived.set(self.arrived.get() + bytes);
        let charge = Charge { owed: self.clone(), bytes };
        if self.exceeded() {
            return None;
        }
        Some(charge)
    }

    /// Whether what is owed takes the client over its limit, as Redis's
    /// `checkClientOutputBufferLimits`: at or over the hard limit, or over the
    /// soft one for longer than its seconds (counted from the first time it was
    /// seen over). Marks it over, and wakes its connection, if so.
    pub fn exceeded(&self) -> bool {
        if self.over.get() {
            return true;
        }
        let used = self.arrived.get() + self.out.get();
        let limit = self.limit.get();
        let hard = limit.hard > 0 && used >= limit.hard;
        let mut soft = false;
        if limit.soft > 0 && used >= limit.soft {
            let now = Instant::now();
            match self.soft_since.get() {
                None => self.soft_since.set(Some(now)),
                Some(since) => {
                    soft =
                        now.saturating_duration_since(since) > Duration::from_secs(limit.soft_secs);
                }
            }
        } else {
            self.soft_since.set(None);
        }
        if hard || soft {
            self.over.set(true);
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
        hard || soft
    }

    /// Ready once the client is over its limit (polled by its connection's wait).
    pub fn poll_over(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.over.get() {
            return Poll::Ready(());
        }
        let mut slot = self.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_come_back_and_the_hard_limit_holds() {
        let owed = Owed::new(ClassLimit { hard: 100, soft: 0, soft_secs: 0 });
        let a = owed.charge(60).expect("under");
        assert_eq!(owed.arrived.get(), 60);
        drop(a);
        assert_eq!(owed.arrived.get(), 0);
        let _b = owed.charge(60).expect("under");
        owed.set_out(30);
        // 60 + 30 + 10 reaches the hard limit: over, and the reply is dropped.
        assert!(owed.charge(10).is_none());
        assert!(owed.is_over());
        assert!(owed.charge(1).is_none());
        assert_eq!(owed.arrived.get(), 60, "a dropped reply is not owed");
    }

    #[test]
    fn the_soft_limit_needs_its_seconds() {
        let owed = Owed::new(ClassLimit { hard: 0, soft: 10, soft_secs: 0 });
        owed.set_out(20);
        // The first time over only starts the clock.
        assert!(!owed.exceeded());
        std::thread::sleep(Duration::from_millis(2));
        assert!(owed.exceeded());
        let owed = Owed::new(ClassLimit { hard: 0, soft: 10, soft_secs: 60 });
        owed.set_out(20);
        assert!(!owed.exceeded());
        // Back under: the clock starts again.
        owed.set_out(0);
        assert!(!owed.exceeded());
        assert!(owed.soft_since.get().is_none());
    }
}
