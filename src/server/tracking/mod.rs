//! CLIENT TRACKING served by hotcache itself (client-side caching).
//!
//! A tracking client stays on the shared upstream connections, so it keeps its
//! cache hits, and hotcache keeps, per shard thread, what Redis would keep for
//! it: the keys each default-mode client read, the prefixes each BCAST client
//! asked for. Invalidations come from what hotcache already hears: its own
//! tracking stream on every thread (BCAST, every key), which carries every
//! write Redis runs, whoever sent it (through this hotcache, another one,
//! straight to Redis, expiry, eviction). A lost stream, FLUSHALL or FLUSHDB is
//! a null invalidation ("everything") to every tracking client.
//!
//! Delivery follows Redis 7.0: a RESP3 push (`invalidate`, `tracking-redir-
//! broken`) to the client or to the client it redirects to, or, to a RESP2
//! redirect target in subscribe mode, a `__redis__:invalidate` message. A push
//! joins the end of the target's reply queue: after every reply it is owed
//! (a read Redis ran before the write is answered before its invalidation,
//! so a client never caches a value after being told it changed).

pub mod cmd;
mod deliver;
mod invalidate;
mod memory;
mod noloop;
mod track;

use memory::{key_bytes, name_bytes, table_bytes};

pub use deliver::set_current_shard;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use super::Shared;
use crate::protocol::Proto;

/// What every thread adds up (INFO's `tracking_*` and the key limit).
#[derive(Debug, Default)]
pub struct TrackingTotals {
    pub clients: AtomicUsize,
    /// Keys in the tables (a key tracked on two threads counts twice).
    pub keys: AtomicUsize,
    /// (key, client) pairs.
    pub items: AtomicUsize,
    /// BCAST prefixes, per client.
    pub prefixes: AtomicUsize,
    /// What the tables take, in bytes: what they have allocated, worked
    /// out from their capacities (see `table_bytes`), not from their counts.
    /// Measured (10,000 clients x 100 keys, README Benchmarks): 6-15%
    /// under the RSS growth, which also holds what the allocator keeps.
    pub memory: AtomicUsize,
}

/// The slot of a key in the table.
const KEY_SLOT: usize = std::mem::size_of::<(Rc<[u8]>, Vec<u64>)>();
/// The slot of a client in the clients' map.
const CLIENT_SLOT: usize = std::mem::size_of::<(u64, ClientState)>();

/// One client's tracking state.
#[derive(Debug)]
pub struct ClientState {
    pub on: bool,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// The client id invalidations go to (0: the client itself).
    pub redirect: u64,
    /// The redirect target is gone.
    pub broken: bool,
    pub proto: Proto,
    /// NOLOOP: keys this client wrote, whose invalidations are its own.
    own_writes: HashMap<Box<[u8]>, u32>,
    /// Default mode: the keys it read (to forget them with the client); the
    /// names are shared with the table.
    keys: HashSet<Rc<[u8]>>,
}

/// One shard thread's tracking tables.
pub struct Tracking {
    clients: RefCell<HashMap<u64, ClientState>>,
    /// Default mode: key -> clients of this thread that read it.
    keys: RefCell<HashMap<Rc<[u8]>, Vec<u64>>>,
    totals: Arc<TrackingTotals>,
    shard: usize,
    /// What the keys' names and vectors and the clients' own sets take
    /// (the two maps' slots are worked out from their capacities).
    heap: Cell<usize>,
    /// This thread's share of `totals.memory`.
    memory: Cell<usize>,
}

impl Tracking {
    pub fn new(totals: Arc<TrackingTotals>, shard: usize) -> Self {
        Self {
            clients: RefCell::default(),
            keys: RefCell::default(),
            totals,
            shard,
            heap: Cell::new(0),
            memory: Cell::new(0),
        }
    }

    /// True when no client of this thread tracks.
    pub fn is_empty(&self) -> bool {
        self.clients.borrow().is_empty()
    }

    /// Runs `f` on a client's state, if it has any.
    pub fn with<R>(&self, id: u64, f: impl FnOnce(&mut ClientState) -> R) -> Option<R> {
        self.clients.borrow_mut().get_mut(&id).map(f)
    }

    /// Turns tracking on for `id` (options already checked). The keys it read
    /// before stay in the table, as Redis keeps them.
    pub fn enable(&self, id: u64, opts: &cmd::Options, proto: Proto) {
        let mut clients = self.clients.borrow_mut();
        let state = clients.entry(id).or_insert_with(|| ClientState {
            on: false,
            bcast: false,
            prefixes: Vec::new(),
            optin: false,
            optout: false,
            noloop: false,
            caching: false,
            redirect: 0,
            broken: false,
            proto,
            own_writes: HashMap::new(),
            keys: HashSet::new(),
        });
        if !state.on {
            self.totals.clients.fetch_add(1, Relaxed);
        }
        let before = state.heap();
        state.on = true;
        state.broken = false;
        state.bcast = opts.bcast;
        state.optin = opts.optin;
        state.optout = opts.optout;
        state.noloop = opts.noloop;
        state.redirect = opts.redirect;
        state.proto = proto;
        if opts.bcast {
            let new: Vec<Bytes> =
                if opts.prefixes.is_empty() { vec![Bytes::new()] } else { opts.prefixes.clone() };
            for p in new {
                if !state.prefixes.contains(&p) {
                    state.prefixes.push(p);
                    self.totals.prefixes.fetch_add(1, Relaxed);
                }
            }
        }
        self.heap_changed(before, state.heap());
        drop(clients);
        self.sync_memory();
    }

    /// Turns tracking off for `id` (its read keys stay, as in Redis).
    pub fn disable(&self, id: u64) {
        if let Some(s) = self.clients.borrow_mut().get_mut(&id) {
            if s.on {
                self.totals.clients.fetch_sub(1, Relaxed);
            }
            self.totals.prefixes.fetch_sub(s.prefixes.len(), Relaxed);
            s.prefixes.clear();
            s.on = false;
            s.bcast = false;
            s.optin = false;
            s.optout = false;
            s.noloop = false;
            s.caching = false;
            s.broken = false;
            s.own_writes.clear();
        }
    }

    /// The client is gone: everything of it goes.
    pub fn forget(&self, id: u64) {
        self.disable(id);
        let mut clients = self.clients.borrow_mut();
        let Some(state) = clients.remove(&id) else { return };
        self.heap_changed(state.heap(), 0);
        let mut keys = self.keys.borrow_mut();
        for k in state.keys {
            if let Some(ids) = keys.get_mut(&k)
                && let Some(at) = ids.iter().position(|&i| i == id)
            {
                ids.swap_remove(at);
                self.totals.items.fetch_sub(1, Relaxed);
                if ids.is_empty() {
                    self.heap_changed(key_bytes(k.len(), ids), 0);
                    keys.remove(&k);
                    self.totals.keys.fetch_sub(1, Relaxed);
                }
            }
        }
        if clients.is_empty() {
            // The last client gone: the maps are given back (after a spike
            // of clients they would keep their size), and nothing is left.
            clients.shrink_to_fit();
            keys.shrink_to_fit();
            self.heap.set(keys.iter().map(|(k, ids)| key_bytes(k.len(), ids)).sum());
        }
        drop((clients, keys));
        self.sync_memory();
    }

    /// This thread's `heap` went from `before` to `after` bytes somewhere.
    fn heap_changed(&self, before: usize, after: usize) {
        self.heap.set((self.heap.get() + after).saturating_sub(before));
    }

    /// Brings this thread's share of `totals.memory` up to date: the heap
    /// plus the two maps' slots.
    fn sync_memory(&self) {
        let now = self.heap.get()
            + table_bytes(self.keys.borrow().capacity(), KEY_SLOT)
            + table_bytes(self.clients.borrow().capacity(), CLIENT_SLOT);
        let before = self.memory.replace(now);
        if now >= before {
            self.totals.memory.fetch_add(now - before, Relaxed);
        } else {
            self.totals.memory.fetch_sub(before - now, Relaxed);
        }
    }

    /// A read command of `id` ran on `keys` (Redis's `trackingRememberKeys`:
    /// default mode, unless OPTIN without CACHING yes or OPTOUT with CACHING
    /// no). Over `tracking-table-max-keys` (all threads together), this
    /// thread gives up keys of its own, each invalidated for whoever tracked
    /// it, as Redis evicts from its full table.
    pub fn remember(&self, shared: &Shared, id: u64, keys: &[&[u8]], max_keys: usize) {
        {
            let mut clients = self.clients.borrow_mut();
            let Some(s) = clients.get_mut(&id) else { return };
            if !s.on || s.bcast || (s.optin && !s.caching) || (s.optout && s.caching) {
                return;
            }
            let mut table = self.keys.borrow_mut();
            let before = s.heap();
            for &k in keys {
                if s.keys.contains(k) {
                    continue;
                }
                let name = match table.get_key_value(k) {
                    Some((name, _)) => name.clone(),
                    None => {
                        self.totals.keys.fetch_add(1, Relaxed);
                        self.heap_changed(0, name_bytes(k.len()));
                        let name: Rc<[u8]> = Rc::from(k);
                        table.insert(name.clone(), Vec::new());
                        name
                    }
                };
                if let Some(ids) = table.get_mut(k) {
                    let cap = ids.capacity();
                    ids.push(id);
                    self.heap_changed(cap * 8, ids.capacity() * 8);
                }
                s.keys.insert(name);
                self.totals.items.fetch_add(1, Relaxed);
            }
            self.heap_changed(before, s.heap());
        }
        self.sync_memory();
        self.enforce_limit(shared, max_keys);
    }

    /// Keeps the tables (all threads together) under `max_keys` (0: no
    /// limit) by giving up keys of this thread's, each invalidated for
    /// whoever tracked it. Run when keys are added and now and then (the
    /// limit may have been lowered).
    pub fn enforce_limit(&self, shared: &Shared, max_keys: usize) {
        if max_keys == 0 {
            return;
        }
        let over = self.totals.keys.load(Relaxed).saturating_sub(max_keys);
        if over > 0 {
            let victims: Vec<Rc<[u8]>> = self.keys.borrow().keys().take(over).cloned().collect();
            let victims: Vec<&[u8]> = victims.iter().map(|k| &k[..]).collect();
            self.invalidate_keys(shared, &victims, false);
        }
    }

    /// The caching flag lasts one command (Redis clears it after each but
    /// CLIENT commands and inside MULTI).
    pub fn command_done(&self, id: u64) {
        if let Some(s) = self.clients.borrow_mut().get_mut(&id) {
            s.caching = false;
        }
    }

    /// INFO of this thread's clients: not needed per thread (totals are).
    pub fn totals(&self) -> &TrackingTotals {
        &self.totals
    }
}

impl ClientState {
    /// What the client's own collections have allocated (the names in its
    /// set are the table's, counted there; NOLOOP's few short-lived names
    /// are left out, their slots are not).
    fn heap(&self) -> usize {
        table_bytes(self.keys.capacity(), std::mem::size_of::<Rc<[u8]>>())
            + table_bytes(self.own_writes.capacity(), std::mem::size_of::<(Box<[u8]>, u32)>())
            + self.prefixes.capacity() * std::mem::size_of::<Bytes>()
    }
}

/// The CLIENT subcommands that read or change a client's own tracking.
pub fn is_tracking_command(l: crate::cmd::Local) -> bool {
    use crate::cmd::Local;
    matches!(
        l,
        Local::ClientTracking
            | Local::ClientCaching
            | Local::ClientGetRedir
            | Local::ClientTrackingInfo
    )
}
