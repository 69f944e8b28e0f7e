//! Routing one command: answered here, sent on the shared connection, or on a
//! connection of the client's own, following the command table.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::cached::merge;
use super::cluster::{self, CROSSSLOT, Plan};
use super::conn::{Conn, Effect, QueuedLocal, RetryKind};
use crate::cmd::{self, Cacheable, Command, Lookup, Route, State, flags};
use crate::metrics::{Class, Mark};
use crate::protocol::{ReplyBuf, Request, string2ll};
use crate::stats::inc;
use crate::upstream::{After, Dest};

/// Arguments past which a command counts as one that may hold Redis for long
/// (see `Command::long`).
const LONG_ARGS: usize = 100_000;

impl Conn {
    /// Runs one command. False when input processing must pause: the command
    /// waits for earlier replies (it is kept as `stalled`), or the client is closing.
    pub(super) fn dispatch(&mut self, req: Request) -> bool {
        let go_on = self.route(req);
        // Taken by the reply the command queued (see `Pending::unsure`), or
        // it waits to be dispatched again and notes them again then.
        self.unsure = None;
        go_on
    }

    fn route(&mut self, req: Request) -> bool {
        if self.relay.is_some() {
            return self.dispatch_relayed(req);
        }
        let lookup = cmd::lookup(&req.args);
        self.mark = Mark::new(self.now);
        self.req_bytes = req.frame.len();
        if let Lookup::Found(c) = &lookup {
            self.info().last_cmd.store(c.id + 1, Relaxed);
            self.mark.cmd = c.id;
            self.mark.class = if c.def.has(flags::WRITE) {
                Class::Write
            } else if c.def.has(flags::READONLY) {
                Class::Read
            } else {
                Class::Other
            };
        }
        self.dest = Dest::default();
        // Behind Sentinel a read may go to a replica, and while a failover is
        // promoting one, only reads go to the old master.
        if let Lookup::Found(c) = &lookup
            && self.ctx.upstream.sentinel().is_some()
        {
            self.dest.read = c.def.has(flags::READONLY);
        }
        let req = if self.cluster_multi.is_some() {
            match self.deferred_multi(&lookup, req) {
                Ok(done) => return done,
                Err(req) => req,
            }
        } else {
            req
        };
        if crate::resilience::logging::allowlist_active() {
            self.log_if_allowlisted(&lookup, &req);
        }
        // Inside MULTI everything but QUIT and RESET is queued by Redis itself,
        // errors included (they make EXEC fail), so it all goes there unchecked.
        if self.dedicated.as_ref().is_some_and(|d| d.in_multi) {
            let local = matches!(
                &lookup,
                Lookup::Found(c) if matches!(c.route, Route::Local(cmd::Local::Quit | cmd::Local::Reset))
            );
            if !local {
                return self.queue_in_transaction(&lookup, req);
            }
        }
        // So may any command with a huge number of arguments (an MGET of a
        // million keys keeps Redis busy for a while on a loaded machine).
        self.long = matches!(&lookup, Lookup::Found(c) if c.long) || req.args.len() > LONG_ARGS;
        self.slow = matches!(&lookup, Lookup::Found(c) if c.slow);
        self.retry_kind = match &lookup {
            Lookup::Found(c) if c.def.has(flags::READONLY) && c.route == Route::Shared => {
                RetryKind::Read
            }
            _ => RetryKind::Write,
        };
        let c = match lookup {
            Lookup::Found(c) => c,
            Lookup::Unknown if !self.authed => {
                return self.reply_error(&cmd::unknown_command_error(&req.args));
            }
            Lookup::UnknownSub(_) if !self.authed => {
                return self.reply_error(&cmd::unknown_subcommand_error(&req.args));
            }
            // A command this table does not know (a module's, a newer Redis's):
            // the upstream decides, and it may have written anything.
            Lookup::Unknown => return self.write_then(req, After::All),
            Lookup::UnknownSub(_) => return self.forward(req, Effect::None, After::Nothing),
        };
        if !c.def.arity_ok(req.args.len()) {
            return self.reject(c, cmd::arity_error(c).as_bytes());
        }
        if !self.authed && !c.def.has(flags::NO_AUTH) {
            return self.reject(c, b"NOAUTH Authentication required.");
        }
        if !self.config.degrade_commands.is_empty() && self.ctx.upstream.degraded() {
            let base = c.def.name.split('|').next().unwrap_or(c.def.name);
            if self.config.degrade_commands.split_whitespace().any(|d| d.eq_ignore_ascii_case(base))
            {
                inc(&self.ctx.counters().degraded_refusals);
                self.mark.rejected = true;
                let addr = self.ctx.upstream.describe();
                return self.reply_error(
                    format!("ERR command '{base}' refused: upstream {addr} is degraded").as_bytes(),
                );
            }
        }
        if !self.ctx.tracking.is_empty() {
            self.track_command(c, &req.args);
        }
        let after = self.write_after(c, &req.args);
        if after != After::Nothing {
            // A write must not overtake reads this client is waiting for on
            // another client's connection.
            if self.foreign_inflight > 0 {
                self.stalled = Some(req);
                return false;
            }
        }
        if c.state == Some(State::Unwatch)
            && let Some(d) = &mut self.dedicated
        {
            d.watching = false;
        }
        if self.ctx.upstream.is_cluster() && !matches!(c.route, Route::Local(_)) {
            let plan = cluster::plan(c, &req.args);
            // A client on its own connection only while a command runs there (a
            // blocking one) waits for it to end before going elsewhere.
            let elsewhere = match &plan {
                Plan::Slot(slot) => !self.cluster_same_node(*slot),
                Plan::CrossSlot => false,
                _ => true,
            };
            if elsewhere && self.dedicated.as_ref().is_some_and(|d| !d.pinned()) {
                if self.dedicated.as_ref().is_some_and(|d| d.inflight > 0) {
                    self.stalled = Some(req);
                    return false;
                }
                self.maybe_release();
            }
            let epoch = self.ctx.upstream.routing_epoch();
            if epoch != self.route_epoch {
                if self.shared_inflight > 0 || self.foreign_inflight > 0 {
                    self.stalled = Some(req);
                    return false;
                }
                self.route_epoch = epoch;
            }
            match plan {
                Plan::Slot(slot) => {
                    self.dest = Dest { slot, read: c.def.has(flags::READONLY) };
                    // One with state there (WATCH, tracking) stays on its node.
                    if self.dedicated.is_some() && elsewhere {
                        return self.reject(c, CROSSSLOT);
                    }
                }
                Plan::CrossSlot => return self.reject(c, CROSSSLOT),
                // Keys in several slots cannot be on one node; keyless commands
                // run there.
                Plan::Split { .. } if self.dedicated.is_some() => {
                    return self.reject(c, CROSSSLOT);
                }
                _ if self.dedicated.is_some() => {}
                Plan::Split { step, merge } => {
                    return self.cluster_split(c, req, step, merge, after);
                }
                Plan::Everywhere(merge) => return self.cluster_everywhere(req, merge, after),
                Plan::Scan => return self.cluster_scan(req),
            }
        }
        match c.route {
            Route::Local(l) => match self.may_run_local(l) {
                Some(Ok(())) => self.local(l, c, req),
                Some(Err(refused)) => {
                    self.mark.rejected = true;
                    self.reply_raw(refused)
                }
                None => {
                    self.stalled = Some(req);
                    false
                }
            },
            Route::Shared => match c.cacheable {
                Cacheable::Key if self.can_cache() => self.cached_read(c, req),
                Cacheable::OneKey if req.args.len() == 2 && self.can_cache() => {
                    self.cached_read(c, req)
                }
                Cacheable::PerKey
                    if self.can_cache() && req.args.len() <= super::cached::MGET_MAX_KEYS + 1 =>
                {
                    self.cached_mget(c, req)
                }
                _ => self.forward(req, Effect::None, after),
            },
            Route::Stateful => self.stateful(c, req),
            Route::Private => {
                let effect = match c.state {
                    Some(State::GetRedir) => Effect::MapRedir,
                    Some(State::TrackingInfo) => Effect::MapTrackingInfo,
                    _ => Effect::None,
                };
                self.forward_dedicated(req, effect, after)
            }
            Route::Blocking => self.forward_blocking(req, after),
            Route::Script => self.forward_script(req, after),
            Route::Alone => self.forward_alone(req),
            Route::BlockingWith(option) => {
                if req.args[1..].iter().any(|a| a.eq_ignore_ascii_case(option.as_bytes())) {
                    self.forward_blocking(req, after)
                } else {
                    self.forward(req, Effect::None, after)
                }
            }
            Route::Relay => self.start_relay(req, c.def.has(flags::PUBSUB)),
        }
    }

    /// Refuses a command before running it, as Redis's `rejectCommand`: `msg`
    /// is the error (`ERR ...`, `NOAUTH ...`), except that a refused EXEC answers
    /// `EXECABORT` with the reason (without a generic `ERR `), in or out of MULTI.
    /// (In MULTI, EXEC is forwarded and Redis itself refuses it.)
    fn reject(&mut self, c: &Command, msg: &[u8]) -> bool {
        self.mark.rejected = true;
        if c.state == Some(State::Exec) {
            let mut full = b"EXECABORT Transaction discarded because of: ".to_vec();
            full.extend_from_slice(msg.strip_prefix(b"ERR ").unwrap_or(msg));
            return self.reply_error(&full);
        }
        self.reply_error(msg)
    }

    /// Logs a command in full if its client's name or one of its keys is in
    /// `log-allowlist`.
    fn log_if_allowlisted(&self, lookup: &Lookup, req: &Request) {
        use crate::resilience::logging::allowlisted;
        let name = self.info().name();
        let by_name = name.as_deref().is_some_and(allowlisted);
        let by_key = match lookup {
            Lookup::Found(c) => cmd::command_keys(c.def, &req.args)
                .keys
                .iter()
                .any(|k| allowlisted(&req.args[k.index])),
            _ => false,
        };
        if by_name || by_key {
            // Credentials (AUTH, HELLO AUTH, MIGRATE AUTH, ACL SETUSER, CONFIG
            // SET of a password) are hidden as SLOWLOG hides them.
            let args: Vec<String> = crate::metrics::slowlog::redact(&req.args)
                .iter()
                .map(|a| String::from_utf8_lossy(&a[..a.len().min(256)]).into_owned())
                .collect();
            tracing::info!(client = self.info().id, name = ?name.map(|n| String::from_utf8_lossy(&n).into_owned()), ?args, "allowlisted command");
        }
    }

    /// Forwards a command that may write anything, after invalidating.
    fn write_then(&mut self, req: Request, after: After) -> bool {
        if self.foreign_inflight > 0 {
            self.stalled = Some(req);
            return false;
        }
        self.forward(req, Effect::None, after)
    }

    /// A command inside MULTI: queued by Redis. Writes invalidate now, and their
    /// keys are collected to be invalidated again when EXEC's reply arrives.
    /// hotcache's own commands that concern this client (CLIENT SETNAME, ...)
    /// are queued here and run when EXEC does.
    pub(super) fn queue_in_transaction(&mut self, lookup: &Lookup, req: Request) -> bool {
        if let Lookup::Found(c) = lookup
            && let Route::Local(l) = c.route
            && super::multi::runs_at_exec(l)
            // Logging in as a Redis user needs Redis's answer: inside MULTI
            // that is Redis's to give, at EXEC, on the transaction's connection.
            && !(self.config.clients_are_redis_users()
                && matches!(l, cmd::Local::Auth | cmd::Local::Hello))
            // Tracking hotcache cannot serve now is Redis's, queued there.
            && (!super::tracking::is_tracking_command(l) || self.tracking_served())
            && c.def.arity_ok(req.args.len())
            && self.dedicated.is_some()
        {
            // Redis decides whether its user may run it, as for any command
            // queued: a refusal is the command's error.
            match self.may_run_local(l) {
                Some(Ok(())) => {}
                Some(Err(refused)) => return self.reply_raw(refused),
                None => {
                    self.stalled = Some(req);
                    return false;
                }
            }
            let Some(d) = &mut self.dedicated else { return true };
            d.tx_locals.push(QueuedLocal { position: d.tx_count, local: l, command: c, req });
            d.tx_count += 1;
            return self.reply_raw(Bytes::from_static(b"+QUEUED\r\n"));
        }
        // Ids of clients (CLIENT UNBLOCK, TRACKING REDIRECT) become Redis's.
        let req = self.translate_client_ids(lookup, req);
        if let Lookup::Found(c) = lookup
            && !self.ctx.tracking.is_empty()
        {
            self.track_command(c, &req.args);
        }
        let (state, after) = match lookup {
            Lookup::Found(c) => (c.state, self.write_after(c, &req.args)),
            Lookup::Unknown => (None, After::All),
            Lookup::UnknownSub(_) => (None, After::Nothing),
        };
        self.invalidate_now(&after);
        let relogs = matches!(
            lookup,
            Lookup::Found(c) if matches!(c.route, Route::Local(cmd::Local::Auth | cmd::Local::Hello))
        );
        let Some(d) = &mut self.dedicated else { return true };
        // An AUTH queued here logs this connection in as whoever it names, at
        // EXEC: never hand it to another client after.
        d.relogged |= relogs;
        d.tx_after = merge(std::mem::take(&mut d.tx_after), after);
        // A queued SELECT or CLIENT TRACKING takes effect at EXEC, if EXEC runs
        // and the command succeeds there: the connection's state is no longer
        // known, so the client keeps its connection (db -1 matches no db;
        // tracking may be on) until it sets that state again outside MULTI.
        match state {
            Some(State::Select) => d.db = -1,
            Some(State::Tracking) => d.tracking = true,
            _ => {}
        }
        let (after, effect) = match state {
            Some(State::Exec) | Some(State::Discard) => {
                d.in_multi = false;
                d.watching = false;
                d.tx_count = 0;
                let locals = std::mem::take(&mut d.tx_locals);
                let collected = std::mem::take(&mut d.tx_after);
                self.info().in_multi.store(false, Relaxed);
                if state == Some(State::Exec) {
                    self.exec_splices.push_back(locals);
                    (collected, Effect::Splice)
                } else {
                    (After::Nothing, Effect::None)
                }
            }
            _ => {
                d.tx_count += 1;
                (After::Nothing, Effect::None)
            }
        };
        self.forward_dedicated(req, effect, after)
    }

    /// Commands that start state on the upstream connection.
    pub(super) fn stateful(&mut self, c: &'static Command, req: Request) -> bool {
        // With a cluster, a transaction's node is the one of the first command
        // queued in it: MULTI waits for that command (see `deferred_multi`).
        if self.ctx.upstream.is_cluster()
            && self.dedicated.is_none()
            && c.state == Some(State::Multi)
        {
            self.info().in_multi.store(true, Relaxed);
            self.cluster_multi = Some(super::conn::HeldMulti::new(req));
            return self.reply_raw(Bytes::from_static(b"+OK\r\n"));
        }
        let req = match self.with_dedicated(req) {
            Ok(req) => req,
            Err(done) => return done,
        };
        let Some(d) = &mut self.dedicated else { return true };
        let effect = match c.state {
            Some(State::Multi) => {
                let was = d.in_multi;
                d.in_multi = true;
                self.info().in_multi.store(true, Relaxed);
                Effect::Multi { was }
            }
            Some(State::Watch) => {
                d.watching = true;
                Effect::None
            }
            Some(State::Select) => match string2ll(&req.args[1]) {
                Some(db) => Effect::Select(db),
                None => Effect::None,
            },
            Some(State::Tracking) => {
                let on = req.args[2].eq_ignore_ascii_case(b"on");
                let req = self.translate_redirect(req);
                return self.forward_dedicated(req, Effect::Tracking(on), After::Nothing);
            }
            _ => Effect::None,
        };
        self.forward_dedicated(req, effect, After::Nothing)
    }

    /// Replies with an error (text without the leading `-`).
    pub(super) fn reply_error(&mut self, msg: &[u8]) -> bool {
        let mut out = ReplyBuf::new(self.proto);
        out.error(msg);
        self.push_local(out.take(), Effect::None);
        true
    }

    /// Replies with bytes already encoded.
    pub(super) fn reply_raw(&mut self, reply: Bytes) -> bool {
        self.push_local(reply, Effect::None);
        true
    }

    /// Replies with what `f` encodes, in the client's protocol.
    pub(super) fn reply_with(&mut self, f: impl FnOnce(&mut ReplyBuf)) -> bool {
        let mut out = ReplyBuf::new(self.proto);
        f(&mut out);
        self.push_local(out.take(), Effect::None);
        true
    }
}
