//! Test hooks: hold the completion of a cache fill so a test can make a write land
//! between a miss's upstream read and its reply, deterministically.
//!
//! Off unless `enable-test-hooks yes`; then `HOTCACHE.DEBUG HOLDFILL key` makes
//! the next fills of `key` wait, `HOTCACHE.DEBUG HELDFILLS key` says how many are
//! waiting, and `HOTCACHE.DEBUG RELEASEFILL key` lets them complete.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bytes::Bytes;

type Completion = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    holding: HashSet<Bytes>,
    held: HashMap<Bytes, Vec<Completion>>,
}

/// The hooks; a no-op unless enabled.
pub struct Hooks {
    enabled: bool,
    state: Mutex<State>,
}

impl Hooks {
    pub fn new(enabled: bool) -> Self {
        Self { enabled, state: Mutex::new(State::default()) }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `finish` if fills of `key` are being held; gives it back otherwise.
    pub fn hold(&self, key: &Bytes, finish: Completion) -> Option<Completion> {
        if !self.enabled {
            return Some(finish);
        }
        let mut s = self.state();
        if s.holding.contains(key) {
            s.held.entry(key.clone()).or_default().push(finish);
            None
        } else {
            Some(finish)
        }
    }

    /// Starts holding fills of `key`.
    pub fn hold_fills(&self, key: Bytes) {
        self.state().holding.insert(key);
    }

    /// How many fills of `key` are held.
    pub fn held(&self, key: &Bytes) -> usize {
        self.state().held.get(key).map_or(0, Vec::len)
    }

    /// Stops holding fills of `key` and completes those held.
    pub fn release(&self, key: &Bytes) -> usize {
        let held = {
            let mut s = self.state();
            s.holding.remove(key);
            s.held.remove(key).unwrap_or_default()
        };
        let n = held.len();
        for finish in held {
            finish();
        }
        n
    }
}
