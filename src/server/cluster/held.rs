//! A MULTI against a cluster: held back until its first keyed command names
//! the node, then sent there with the keyless commands queued meanwhile.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::super::conn::{Conn, ReplyMode};
use super::{CROSSSLOT, slots_of};
use crate::cmd::{Local, Lookup, Route, State};
use crate::protocol::Request;
use crate::upstream::{After, Dest, Link, Waiter};

/// A command no Redis knows (an empty name): queued in a transaction, Redis
/// refuses it and then EXEC (EXECABORT).
const FLAG_TX: &[u8] = b"*1\r\n$0\r\n\r\n";

/// Keyless commands a held MULTI queues before it picks a node anyway.
const HELD_MAX: usize = 1024;

impl Conn {
    /// A command while MULTI is held back (see `stateful`). The first command
    /// with keys picks the node: MULTI goes there on the client's own connection,
    /// the keyless commands queued so far follow (their +QUEUED was given here),
    /// and dispatch goes on with the command (`Err(req)`). EXEC and DISCARD of a
    /// transaction with no keys are answered here or sent to any master.
    pub(in crate::server) fn deferred_multi(
        &mut self,
        lookup: &Lookup,
        req: Request,
    ) -> Result<bool, Request> {
        let c = match lookup {
            Lookup::Found(c) => *c,
            _ => {
                // Redis answers an unknown command in MULTI and fails EXEC.
                let msg = match lookup {
                    Lookup::UnknownSub(_) => crate::cmd::unknown_subcommand_error(&req.args),
                    _ => crate::cmd::unknown_command_error(&req.args),
                };
                if let Some(h) = &mut self.cluster_multi {
                    h.dirty = true;
                }
                return Ok(self.reply_error(&msg));
            }
        };
        let arity = c.def.arity_ok(req.args.len());
        match (c.route, c.state) {
            (Route::Local(Local::Quit), _) => return Err(req),
            (Route::Local(Local::Reset), _) => {
                self.end_held_multi();
                return Err(req);
            }
            (_, Some(State::Multi)) if arity => {
                return Ok(self.reply_error(b"ERR MULTI calls can not be nested"));
            }
            (_, Some(State::Watch)) if arity => {
                return Ok(self.reply_error(b"ERR WATCH inside MULTI is not allowed"));
            }
            (_, Some(State::Discard)) if arity => {
                self.end_held_multi();
                return Ok(self.reply_raw(Bytes::from_static(b"+OK\r\n")));
            }
            (_, Some(State::Exec)) if arity => {
                let (dirty, empty) = self
                    .cluster_multi
                    .as_ref()
                    .map_or((false, true), |h| (h.dirty, h.queued.is_empty()));
                if dirty {
                    self.end_held_multi();
                    return Ok(self.reply_error(
                        b"EXECABORT Transaction discarded because of previous errors.",
                    ));
                }
                if empty {
                    self.end_held_multi();
                    return Ok(self.reply_raw(Bytes::from_static(b"*0\r\n")));
                }
                return self.send_held_multi(None, req);
            }
            _ => {}
        }
        if !arity {
            if let Some(h) = &mut self.cluster_multi {
                h.dirty = true;
            }
            return Ok(self.reply_error(crate::cmd::arity_error(c).as_bytes()));
        }
        match slots_of(c, &req.args) {
            Ok(Some(slot)) => self.send_held_multi(Some(slot), req),
            // Keys in several slots: Redis refuses the command, and EXEC.
            Err(()) => {
                if let Some(h) = &mut self.cluster_multi {
                    h.dirty = true;
                }
                Ok(self.reply_error(CROSSSLOT))
            }
            // Bounded: past HELD_MAX keyless commands, any master it is.
            Ok(None) if self.cluster_multi.as_ref().is_some_and(|h| h.queued.len() >= HELD_MAX) => {
                self.send_held_multi(None, req)
            }
            Ok(None) => {
                if let Some(h) = &mut self.cluster_multi {
                    h.queued.push(req);
                }
                Ok(self.reply_raw(Bytes::from_static(b"+QUEUED\r\n")))
            }
        }
    }

    fn end_held_multi(&mut self) {
        self.cluster_multi = None;
        self.info().in_multi.store(false, Relaxed);
        // CLIENT CACHING's flag ends with the transaction (see `track_command`).
        self.ctx.tracking.command_done(self.info().id);
    }

    /// Sends the held MULTI and the commands queued behind it to the node of
    /// `slot` (any master if None); `req` then goes on through dispatch.
    fn send_held_multi(&mut self, slot: Option<u16>, req: Request) -> Result<bool, Request> {
        self.dest = Dest { slot, read: false };
        match self.take_dedicated() {
            Ok(()) => {}
            Err(None) => {
                self.stalled = Some(req);
                return Ok(false);
            }
            Err(Some(e)) => {
                // No node to be had: the transaction cannot start.
                self.end_held_multi();
                return Ok(self.reply_raw(e));
            }
        }
        let Some(held) = self.cluster_multi.take() else { return Err(req) };
        if let Some(d) = &mut self.dedicated {
            if let Link::Pipe(conn) = &d.link {
                // Its +OK was given when it came.
                conn.push(&held.multi.frame, Waiter::Discard, After::Nothing);
                if held.dirty {
                    // A command was refused while MULTI was held: Redis must
                    // refuse EXEC too. A command it cannot know fails the
                    // transaction there, as the refused one would have.
                    conn.push(&Bytes::from_static(FLAG_TX), Waiter::Discard, After::Nothing);
                }
            }
            d.in_multi = true;
        }
        // The queued commands' +QUEUED were given when they came: Redis's are
        // dropped, as with CLIENT REPLY OFF.
        let mode = self.reply_mode;
        for q in held.queued {
            self.reply_mode = ReplyMode::Off;
            let lookup = crate::cmd::lookup(&q.args);
            self.queue_in_transaction(&lookup, q);
        }
        self.reply_mode = mode;
        Err(req)
    }
}
