//! Sending a command upstream: on the thread's shared connection, or on a
//! connection of the client's own (transactions, blocking commands, relays
//! for subscriptions and MONITOR).

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::conn::{Conn, Dedicated, Effect, Lane, Relay, Retry, RetryKind};
use crate::cmd::{self, Lookup, Route};
use crate::metrics::Source;
use crate::protocol::{Proto, Request, string2ll};
use crate::stats::inc;
use crate::upstream::{After, Hold, Link, ReplySlot, Sink};

impl Conn {
    /// CLIENT TRACKING ... REDIRECT id names a hotcache client; Redis knows the
    /// connection that client holds alone (its subscription to
    /// `__redis__:invalidate`). An id that names none becomes 0, which Redis
    /// refuses with its own error, rather than some unrelated connection's id.
    pub(super) fn translate_redirect(&self, req: Request) -> Request {
        let Some(at) = req.args.iter().position(|a| a.eq_ignore_ascii_case(b"redirect")) else {
            return req;
        };
        let Some(id) = req.args.get(at + 1).and_then(|a| string2ll(a)) else { return req };
        let upstream = self.translate_redirect_id(id);
        let mut args = req.args;
        args[at + 1] = Bytes::from(upstream.to_string());
        Request::from_args(args)
    }

    /// True when this client's requests still in flight went on a shared
    /// connection that has failed since: each gets an error or is sent again (a
    /// retry), and a new request sent now on a fresh connection would reach Redis
    /// before the ones sent again (a GET before the SET it follows). New requests
    /// wait until those are answered, as at a lane change.
    pub(super) fn behind_failed_shared(&self) -> bool {
        self.shared_inflight > 0 && self.shared_conn.as_ref().is_some_and(|c| c.is_dead())
    }

    /// Remembers the shared connection a new request went on.
    pub(super) fn note_shared(&mut self, link: &Link) {
        if let Link::Pipe(c) = link
            && !self.shared_conn.as_ref().is_some_and(|s| Rc::ptr_eq(s, c))
        {
            self.shared_conn = Some(c.clone());
        }
    }

    /// Sends on the dedicated connection if the client holds one, else shared.
    pub(super) fn forward(&mut self, req: Request, effect: Effect, after: After) -> bool {
        if self.dedicated.is_some() {
            return self.forward_dedicated(req, effect, after);
        }
        if self.behind_failed_shared() {
            self.stalled = Some(req);
            return false;
        }
        // UNWATCH with nothing watched, EXEC without MULTI: the shared connection
        // gives Redis's own answer.
        let link =
            match self.ctx.upstream.shared_for(&self.who, self.proto, self.affinity, self.dest) {
                Ok(l) => l,
                Err(e) => return self.reply_raw(e),
            };
        if let Some(refusal) = self.over_share(&link) {
            return self.reply_raw(refusal);
        }
        // A write invalidates what it touches before it leaves (and again on its
        // reply); one refused before leaving (breaker open) changed nothing.
        self.invalidate_now(&after);
        inc(&self.ctx.counters().forwarded_commands);
        self.ctx.retry_budget.count_request();
        let retry = match self.retry_kind {
            RetryKind::No => None,
            kind => Some(Retry::new(&req.frame, self.dest, kind == RetryKind::Read)),
        };
        // A command that may hold Redis for long waits as a script does.
        let hold = if self.long {
            Hold::Script
        } else if self.slow {
            Hold::Slow
        } else {
            Hold::Timed
        };
        let slot = link.send_with(
            &req,
            after,
            &self.ctx.shared.cache.epochs,
            hold,
            self.send_time(),
            &self.owed,
        );
        let lane = if link.is_embedded() { Lane::Local } else { Lane::Shared };
        self.mark.source = Source::Upstream;
        self.push_forwarded(slot, lane, effect);
        if lane == Lane::Shared {
            self.set_retry(retry);
        }
        self.keep_args(req.args);
        self.note_shared(&link);
        true
    }

    /// The refusal of a request to a shared connection that is full
    /// (`upstream-max-inflight`) when this client holds a large share of
    /// what is in flight on shared connections (1/16 of the limit): one
    /// client pipelining while Redis is slow fails its own requests, not
    /// everyone's (clients with little in flight still send, up to twice the
    /// limit).
    pub(in crate::server) fn over_share(&self, link: &Link) -> Option<Bytes> {
        let max = link.is_full()?;
        if self.shared_inflight < (max / 16).max(1) {
            return None;
        }
        inc(&self.ctx.counters().upstream_shed);
        let addr = link.addr().unwrap_or("");
        crate::log_limited!(warn, upstream = %addr, "too many requests in flight; shedding");
        Some(crate::upstream::upstream_error(addr, "overloaded: too many requests in flight"))
    }

    /// Makes sure the client holds a dedicated connection. `Err(None)`: commands
    /// are still in flight on the shared connection and Redis must see them first,
    /// so the caller stalls; `Err(Some(reply))`: no connection can be had.
    pub(super) fn take_dedicated(&mut self) -> Result<(), Option<Bytes>> {
        if self.dedicated.is_some() {
            return Ok(());
        }
        if self.shared_inflight > 0 || self.foreign_inflight > 0 {
            return Err(None);
        }
        let link =
            self.ctx.upstream.dedicated_for(&self.who, self.proto, self.dest.slot).map_err(Some)?;
        if let Link::Pipe(conn) = &link {
            // Pushes for this client (its own CLIENT TRACKING) come back this way.
            let (tx, rx) = mpsc::unbounded_channel();
            conn.set_sink(Some(Sink { tx, owed: Some(self.owed.clone()) }), false);
            self.sink = Some(rx);
            self.info().set_upstream(Some((conn.upstream_id.clone(), conn.addr())));
        }
        self.dedicated = Some(Dedicated {
            link,
            inflight: 0,
            in_multi: false,
            watching: false,
            tracking: false,
            db: self.home_db,
            tx_after: After::Nothing,
            tx_count: 0,
            tx_locals: Vec::new(),
            relogged: false,
            blocked: false,
        });
        Ok(())
    }

    /// Sends `req` on the client's own connection (which it holds), its reply
    /// dropped: hotcache's own step in the client's place in line (the AUTH
    /// that logs that connection in as the client's new user).
    pub(super) fn send_silently(&mut self, req: Request) {
        let Some(d) = &self.dedicated else { return };
        let epochs = &self.ctx.shared.cache.epochs;
        let slot = d.link.send_with(
            &req,
            After::Nothing,
            epochs,
            Hold::Timed,
            self.send_time(),
            &self.owed,
        );
        let lane = if d.link.is_embedded() { Lane::Local } else { Lane::Dedicated };
        self.push_forwarded(slot, lane, Effect::None);
        if let Some(p) = self.pending.back_mut() {
            p.silent = true;
        }
    }

    /// Sends on the client's own connection, taking one if needed.
    pub(super) fn forward_dedicated(&mut self, req: Request, effect: Effect, after: After) -> bool {
        self.forward_dedicated_as(req, effect, after, Hold::Timed)
    }

    /// A blocking command, on the client's own connection, bounded by its own
    /// timeout rather than upstream-timeout.
    pub(super) fn forward_blocking(&mut self, req: Request, after: After) -> bool {
        let sent = self.forward_dedicated_as(req, Effect::None, after, Hold::Blocking);
        if let Some(d) = &mut self.dedicated
            && !d.in_multi
            && d.inflight > 0
        {
            d.blocked = true;
        }
        sent
    }

    /// A script or function call, on the client's own connection: a script
    /// may run until SCRIPT KILL, and on a shared connection every other
    /// client's requests would wait behind it (with Redis, they get BUSY).
    pub(super) fn forward_script(&mut self, req: Request, after: After) -> bool {
        self.forward_dedicated_as(req, Effect::None, after, Hold::Script)
    }

    /// SCRIPT KILL and friends: sent now on a connection of their own (see
    /// `Route::Alone`), which goes back to the pool once answered. The reply
    /// still takes its place in the client's queue.
    pub(super) fn forward_alone(&mut self, req: Request) -> bool {
        if self.alone_busy.get() {
            self.stalled = Some(req);
            return false;
        }
        let link = match self.ctx.upstream.alone(&self.who, self.proto, self.dest.slot) {
            Ok(l) => l,
            Err(e) => return self.reply_raw(e),
        };
        inc(&self.ctx.counters().forwarded_commands);
        let epochs = &self.ctx.shared.cache.epochs;
        let slot = link.send_with(
            &req,
            After::Nothing,
            epochs,
            Hold::Blocking,
            self.send_time(),
            &self.owed,
        );
        let slot = match slot {
            ReplySlot::Wait(rx) => {
                let (tx, relayed) = tokio::sync::oneshot::channel();
                let ctx = self.ctx.clone();
                let busy = self.alone_busy.clone();
                busy.set(true);
                tokio::task::spawn_local(async move {
                    let reply = rx.await;
                    busy.set(false);
                    ctx.upstream.release(link, true);
                    if let Ok(r) = reply {
                        let _ = tx.send(r);
                    }
                });
                ReplySlot::Wait(relayed)
            }
            ready => ready,
        };
        self.mark.source = Source::Upstream;
        self.push_forwarded(slot, Lane::Local, Effect::None);
        self.keep_args(req.args);
        true
    }

    /// Gets the client its own connection for `req`: `Err` when `req` cannot go
    /// on now, with what dispatch returns (it waits for one, or was answered
    /// with the error of having none).
    pub(super) fn with_dedicated(&mut self, req: Request) -> Result<Request, bool> {
        match self.take_dedicated() {
            Ok(()) => Ok(req),
            Err(None) => {
                self.stalled = Some(req);
                Err(false)
            }
            Err(Some(e)) => Err(self.reply_raw(e)),
        }
    }

    pub(super) fn forward_dedicated_as(
        &mut self,
        req: Request,
        effect: Effect,
        after: After,
        hold: Hold,
    ) -> bool {
        let req = match self.with_dedicated(req) {
            Ok(req) => req,
            Err(done) => return done,
        };
        self.invalidate_now(&after);
        let Some(d) = &self.dedicated else { return true };
        inc(&self.ctx.counters().forwarded_commands);
        let slot = d.link.send_with(
            &req,
            after,
            &self.ctx.shared.cache.epochs,
            hold,
            self.send_time(),
            &self.owed,
        );
        let lane = if d.link.is_embedded() { Lane::Local } else { Lane::Dedicated };
        self.mark.source = Source::Upstream;
        self.push_forwarded(slot, lane, effect);
        self.keep_args(req.args);
        if lane == Lane::Local {
            self.maybe_release();
        }
        true
    }

    /// SUBSCRIBE, MONITOR and friends: from now on the client is relayed to a
    /// connection of its own, every frame passed through as Redis sends it.
    pub(super) fn start_relay(&mut self, req: Request, pubsub: bool) -> bool {
        if self.ctx.upstream.is_embedded() {
            // The embedded origin has no pub/sub: it answers like any command.
            return self.forward(req, Effect::None, After::Nothing);
        }
        let busy = self.shared_inflight > 0
            || self.foreign_inflight > 0
            || self.dedicated.as_ref().is_some_and(|d| d.inflight > 0);
        if busy || !self.pending.is_empty() {
            self.stalled = Some(req);
            return false;
        }
        let link = match self.dedicated.take() {
            Some(d) => d.link,
            None => match self.ctx.upstream.dedicated_for(&self.who, self.proto, self.dest.slot) {
                Ok(l) => l,
                Err(e) => return self.reply_raw(e),
            },
        };
        let Link::Pipe(conn) = link else {
            return self.forward(req, Effect::None, After::Nothing);
        };
        let (tx, rx) = mpsc::unbounded_channel();
        conn.set_sink(Some(Sink { tx, owed: Some(self.owed.clone()) }), true);
        self.sink = Some(rx);
        self.info().set_upstream(Some((conn.upstream_id.clone(), conn.addr())));
        let skip = match self.inband_tracking(pubsub) {
            Some(tracking) => u32::from(conn.send_relayed(&tracking.frame)),
            None => 0,
        };
        conn.send_relayed(&req.frame);
        inc(&self.ctx.counters().forwarded_commands);
        self.info().relayed.store(true, Relaxed);
        self.relay = Some(Relay { conn, pubsub, awaiting_reset: false, skip });
        true
    }

    /// A RESP3 subscriber in default tracking mode (served by hotcache)
    /// reads through its relay from now on, whose replies hotcache does not
    /// match to requests: Redis tracks those reads on the relay connection
    /// and sends their invalidations in-band, in order with the replies.
    /// The CLIENT TRACKING that asks for it (None: not such a client); what
    /// it read before stays hotcache's to invalidate.
    fn inband_tracking(&self, pubsub: bool) -> Option<Request> {
        if !pubsub || self.proto != Proto::Resp3 {
            return None;
        }
        let (optin, optout, noloop) = self
            .ctx
            .tracking
            .with(self.info().id, |s| {
                (s.on && !s.bcast && s.redirect == 0).then_some((s.optin, s.optout, s.noloop))
            })
            .flatten()?;
        let mut args: Vec<&'static [u8]> = vec![b"CLIENT", b"TRACKING", b"on"];
        args.extend(optin.then_some(&b"OPTIN"[..]));
        args.extend(optout.then_some(&b"OPTOUT"[..]));
        args.extend(noloop.then_some(&b"NOLOOP"[..]));
        Some(Request::from_args(args.into_iter().map(Bytes::from_static).collect()))
    }

    /// A command from a relayed client goes through as is; RESET ends the relay
    /// when its reply comes back.
    ///
    /// Writes invalidate their keys before they go; with no reply to match, the
    /// second invalidation of rule 2 is left to the tracking stream (a relayed
    /// client is a subscriber or monitor: writes from it are rare).
    pub(super) fn dispatch_relayed(&mut self, req: Request) -> bool {
        let lookup = cmd::lookup(&req.args);
        let after = match &lookup {
            Lookup::Found(c) => self.write_after(c, &req.args),
            Lookup::Unknown => After::All,
            Lookup::UnknownSub(_) => After::Nothing,
        };
        self.invalidate_now(&after);
        // HELLO through the relay changes the protocol of the client (as seen
        // by who sends it tracking invalidations: a push or a message).
        if let Lookup::Found(c) = &lookup
            && c.route == Route::Local(cmd::Local::Hello)
            && let Some(v) = req.args.get(1).and_then(|v| crate::protocol::string2ll(v))
            && (v == 2 || v == 3)
        {
            self.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
            self.info().resp.store(v as u8, Relaxed);
        }
        // Tracking turned off goes to Redis (the relay's) and to hotcache's
        // tables (what the client read before the relay).
        if let Lookup::Found(c) = &lookup
            && c.route == Route::Local(cmd::Local::ClientTracking)
            && req.args.get(2).is_some_and(|a| a.eq_ignore_ascii_case(b"off"))
        {
            self.ctx.tracking.disable(self.info().id);
        }
        let req = self.translate_client_ids(&lookup, req);
        let Some(relay) = &mut self.relay else { return true };
        if let Lookup::Found(c) = lookup
            && c.route == Route::Local(cmd::Local::Reset)
        {
            relay.awaiting_reset = true;
        }
        if !relay.conn.send_relayed(&req.frame) {
            self.closing = true;
            return false;
        }
        inc(&self.ctx.counters().forwarded_commands);
        true
    }
}
