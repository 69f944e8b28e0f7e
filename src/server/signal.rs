//! Waking a connection task from outside it (CLIENT KILL, shutdown) without a
//! lock on every wait.
//!
//! Each connection has a [`Signal`] on its own thread. The connection's wait loop
//! polls it like any future (a `Cell` check, and a waker stored only when it
//! changed); other threads reach it by running a job on the connection's shard.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A one-bit wake-up for one task on this thread, and frames for it to send
/// (client tracking's invalidations).
#[derive(Default)]
pub struct Signal {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    pushes: RefCell<Vec<bytes::Bytes>>,
}

impl Signal {
    /// Wakes the waiting task (now, or on its next wait).
    pub fn fire(&self) {
        self.fired.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Frames for the connection to send, in order, since it last took them.
    pub fn take_pushes(&self) -> Vec<bytes::Bytes> {
        std::mem::take(&mut *self.pushes.borrow_mut())
    }

    /// Completes once the signal has fired, and resets it.
    pub fn wait(&self) -> Wait<'_> {
        Wait(self)
    }
}

/// The future returned by [`Signal::wait`].
pub struct Wait<'a>(&'a Signal);

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.replace(false) {
            return Poll::Ready(());
        }
        let mut slot = self.0.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

thread_local! {
    /// The signals of the connections served by this thread, by client id.
    static SIGNALS: RefCell<HashMap<u64, Rc<Signal>>> = RefCell::new(HashMap::new());
}

/// Registers a connection of this thread; the entry goes when the guard drops.
pub fn register(id: u64) -> (Rc<Signal>, Registered) {
    let signal = Rc::new(Signal::default());
    SIGNALS.with(|s| s.borrow_mut().insert(id, signal.clone()));
    (signal, Registered(id))
}

/// Removes a connection's signal when dropped.
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = SIGNALS.try_with(|s| s.borrow_mut().remove(&self.0));
    }
}

/// Fires the signal of connection `id` if this thread serves it.
pub fn fire(id: u64) {
    let signal = SIGNALS.with(|s| s.borrow().get(&id).cloned());
    if let Some(s) = signal {
        s.fire();
    }
}

/// Gives connection `id` of this thread a frame to send, and wakes it.
pub fn push(id: u64, frame: bytes::Bytes) {
    let signal = SIGNALS.with(|s| s.borrow().get(&id).cloned());
    if let Some(s) = signal {
        s.pushes.borrow_mut().push(frame);
        s.fire();
    }
}

/// Fires every connection of this thread (shutdown).
pub fn fire_all() {
    let all: Vec<Rc<Signal>> = SIGNALS.with(|s| s.borrow().values().cloned().collect());
    for s in all {
        s.fire();
    }
}
