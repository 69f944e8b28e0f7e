//! Invalidations: of keys Redis says changed, of everything (a flush or a
//! lost stream), and of what a client read while no stream could say.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::deliver::value;
use super::memory::key_bytes;
use super::{ClientState, Tracking};
use crate::protocol::Proto;
use crate::server::Shared;

impl Tracking {
    /// `id` read `keys` while hotcache's tracking stream was down: nothing
    /// would tell it of their changes, so those it tracks (or whose changes
    /// its prefixes cover, BCAST) are invalidated for it, once the read is
    /// answered. Returns the invalidation if it goes to `id` itself (the
    /// caller writes it right behind the read's reply); a REDIRECT target
    /// gets it on its own connection.
    pub fn unsure(&self, shared: &Shared, id: u64, keys: &[Box<[u8]>]) -> Option<Bytes> {
        let mut gone: Vec<&[u8]> = Vec::new();
        {
            let mut clients = self.clients.borrow_mut();
            let s = clients.get_mut(&id)?;
            if !s.on {
                return None;
            }
            if s.bcast {
                // Under its prefixes: Redis would tell it of any change.
                gone.extend(
                    keys.iter()
                        .filter(|k| s.prefixes.iter().any(|p| k.starts_with(p)))
                        .map(|k| &k[..]),
                );
            }
            let mut table = self.keys.borrow_mut();
            let before = s.heap();
            for k in keys {
                if !s.keys.remove(&k[..]) {
                    continue;
                }
                gone.push(k);
                self.totals.items.fetch_sub(1, Relaxed);
                if let Some(ids) = table.get_mut(&k[..])
                    && let Some(at) = ids.iter().position(|&i| i == id)
                {
                    ids.swap_remove(at);
                    if ids.is_empty() {
                        self.heap_changed(key_bytes(k.len(), ids), 0);
                        table.remove(&k[..]);
                        self.totals.keys.fetch_sub(1, Relaxed);
                    }
                }
            }
            self.heap_changed(before, s.heap());
        }
        self.sync_memory();
        if gone.is_empty() {
            return None;
        }
        self.frame_for(shared, id, value(&gone), true)
    }

    /// Keys changed at Redis (what this thread's tracking stream says):
    /// every client of this thread that should hear of it does.
    pub fn invalidate(&self, shared: &Shared, keys: &[&[u8]]) {
        self.invalidate_keys(shared, keys, true);
    }

    /// Invalidates `keys` for the default-mode clients that read them, and,
    /// if `bcast` (a real change, not a table eviction), for the BCAST
    /// clients whose prefixes they match.
    pub(super) fn invalidate_keys(&self, shared: &Shared, keys: &[&[u8]], bcast: bool) {
        if self.is_empty() {
            return;
        }
        let mut out: Vec<(u64, Bytes)> = Vec::new();
        {
            let mut table = self.keys.borrow_mut();
            let mut clients = self.clients.borrow_mut();
            for &k in keys {
                if let Some(ids) = table.remove(k) {
                    self.totals.keys.fetch_sub(1, Relaxed);
                    self.totals.items.fetch_sub(ids.len(), Relaxed);
                    self.heap_changed(key_bytes(k.len(), &ids), 0);
                    for id in ids {
                        let Some(s) = clients.get_mut(&id) else { continue };
                        s.keys.remove(k);
                        if !s.on || s.bcast || s.own(k) {
                            continue;
                        }
                        out.push((id, value(&[k])));
                    }
                }
            }
            // BCAST: per client, per prefix, the keys under it (one message
            // each, as Redis sends them).
            for (&id, s) in clients.iter_mut().filter(|(_, s)| bcast && s.on && s.bcast) {
                for p in s.prefixes.clone() {
                    let hit: Vec<&[u8]> =
                        keys.iter().copied().filter(|k| k.starts_with(&p) && !s.own(k)).collect();
                    if !hit.is_empty() {
                        out.push((id, value(&hit)));
                    }
                }
            }
        }
        self.sync_memory();
        for (id, v) in out {
            self.send(shared, id, v);
        }
    }

    /// Everything changed (FLUSHALL, FLUSHDB, or the tracking stream was
    /// lost): a null invalidation to every tracking client of this thread.
    pub fn invalidate_all(&self, shared: &Shared) {
        let ids: Vec<(u64, Proto)> = {
            let mut clients = self.clients.borrow_mut();
            // No single invalidation follows for what NOLOOP clients wrote,
            // and the table starts again empty (as Redis frees it on a flush).
            for s in clients.values_mut() {
                s.own_writes.clear();
                s.own_writes.shrink_to_fit();
                s.keys.clear();
                s.keys.shrink_to_fit();
            }
            let mut table = self.keys.borrow_mut();
            let items: usize = table.values().map(Vec::len).sum();
            self.totals.keys.fetch_sub(table.len(), Relaxed);
            self.totals.items.fetch_sub(items, Relaxed);
            table.clear();
            table.shrink_to_fit();
            self.heap.set(clients.values().map(ClientState::heap).sum());
            clients.iter().filter(|(_, s)| s.on).map(|(&id, s)| (id, s.proto)).collect()
        };
        self.sync_memory();
        for (id, proto) in ids {
            let null = if proto == Proto::Resp3 { &b"_\r\n"[..] } else { &b"$-1\r\n"[..] };
            self.send(shared, id, Bytes::from_static(null));
        }
    }
}
