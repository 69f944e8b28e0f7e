//! What each command a tracking client sends means for its tracking:
//! the keys its reads name, its own writes (NOLOOP), CLIENT CACHING's flag,
//! and the reads and writes a transaction queues, which count at EXEC.

use bytes::Bytes;

use crate::cmd::{Command, command_keys, flags};
use crate::server::conn::Conn;

/// The bytes of keys read by one transaction's queued commands that are
/// remembered at EXEC (past it, when queued), each key counted with
/// `TX_KEY_COST`.
const TX_READS_MAX: usize = 4 << 20;
const TX_KEY_COST: usize = 32;

impl Conn {
    /// What a command means for this client's tracking, before it runs: the
    /// keys a read names are remembered (default mode), a NOLOOP client's
    /// writes are its own, and CLIENT CACHING's flag lasts this one command
    /// (but CLIENT commands and inside MULTI, as Redis's `resetClient`).
    pub(in crate::server) fn track_command(&mut self, c: &Command, args: &[Bytes]) {
        let id = self.info().id;
        // (Set at MULTI on both paths: a cluster's MULTI waits for its first
        // command before it has a connection.)
        let in_multi = self.dedicated.as_ref().is_some_and(|d| d.in_multi)
            || self.info().in_multi.load(std::sync::atomic::Ordering::Relaxed);
        let ends_tx = in_multi && (c.def.name == "exec" || c.def.name == "discard");
        // Reads queued in MULTI run at EXEC: their keys are remembered then
        // (remembered when queued, a write by someone else before EXEC ended
        // their tracking, and the value EXEC read was never invalidated).
        if ends_tx {
            let reads = std::mem::take(&mut self.track_tx);
            self.track_tx_bytes = 0;
            if c.def.name == "exec" && !reads.is_empty() {
                let named: Vec<&[u8]> = reads.iter().map(|k| &k[..]).collect();
                let max =
                    usize::try_from(self.config.tracking_table_max_keys).unwrap_or(usize::MAX);
                // A CLIENT CACHING queued in the transaction runs when EXEC's
                // reply is in (`splice_exec`), after this: its reads are all
                // remembered (a superset of what Redis tracks: at worst an
                // invalidation the client did not need).
                let caching_queued = self.dedicated.as_ref().is_some_and(|d| {
                    d.tx_locals.iter().any(|q| q.local == crate::cmd::Local::ClientCaching)
                });
                if caching_queued {
                    self.ctx.tracking.with(id, |s| s.caching = s.optin);
                }
                self.ctx.tracking.remember(&self.ctx.shared, id, &named, max);
                if self.ctx.shared.cache.tracking_now().is_none() {
                    self.unsure = Some(reads.into_boxed_slice());
                }
            }
        }
        // Writes queued in MULTI run at EXEC: their notes are taken back once
        // EXEC is answered (at once for DISCARD).
        if ends_tx {
            let tx = std::mem::take(&mut self.own_noted_tx);
            if !tx.is_empty() {
                if c.def.name == "exec" {
                    if let Some(old) = self.own_noted.take() {
                        self.ctx.tracking.own_writes_done(id, &old);
                    }
                    self.own_noted = Some(tx.into_boxed_slice());
                } else {
                    self.ctx.tracking.own_writes_done(id, &tx);
                }
            }
        }
        let Some((true, noloop)) = self.ctx.tracking.with(id, |s| (s.on, s.noloop)) else {
            return;
        };
        // A script's reads are the commands it runs, which hotcache does not
        // see: its declared keys are remembered whether it reads them or not
        // (Redis remembers them only if it read something), a superset: at
        // worst an invalidation the client did not need.
        let read = (c.def.has(flags::READONLY) && !c.def.has(flags::PUBSUB))
            || c.route == crate::cmd::Route::Script;
        let write = noloop && c.def.has(flags::WRITE);
        if read || write {
            let keys = command_keys(c.def, args);
            let named: Vec<&[u8]> = keys.keys.iter().map(|k| &args[k.index][..]).collect();
            let size: usize = named.iter().map(|k| k.len() + TX_KEY_COST).sum();
            if read && in_multi && !ends_tx && self.track_tx_bytes + size <= TX_READS_MAX {
                self.track_tx_bytes += size;
                self.track_tx.extend(named.iter().map(|&k| Box::from(k)));
            } else if read {
                // (Past `TX_READS_MAX` in one transaction, remembered when
                // queued: memory stays bounded.)
                let max =
                    usize::try_from(self.config.tracking_table_max_keys).unwrap_or(usize::MAX);
                self.ctx.tracking.remember(&self.ctx.shared, id, &named, max);
                // No stream, no invalidation of what it read: it hears at
                // once that the value cannot be kept.
                if self.ctx.shared.cache.tracking_now().is_none() {
                    self.unsure = Some(named.iter().map(|&k| Box::from(k)).collect());
                }
            }
            if write {
                let noted = self.ctx.tracking.own_writes(id, &named);
                if in_multi {
                    self.own_noted_tx.extend(noted);
                } else {
                    // A write dispatched again (it waited) notes its keys
                    // again: the first notes are taken back.
                    if let Some(old) = self.own_noted.take() {
                        self.ctx.tracking.own_writes_done(id, &old);
                    }
                    if !noted.is_empty() {
                        self.own_noted = Some(noted.into_boxed_slice());
                    }
                }
            }
        }
        // CLIENT CACHING's flag lasts through a transaction, to its end.
        let starts_tx = c.state == Some(crate::cmd::State::Multi);
        if !c.def.name.starts_with("client|") && (!in_multi || ends_tx) && !starts_tx {
            self.ctx.tracking.command_done(id);
        }
    }
}
