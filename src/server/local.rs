//! Commands hotcache answers itself, as Redis documents them: they concern the
//! client's connection to hotcache, not the data.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::conn::{Conn, Effect, ReplyMode};
use crate::cmd::{Command, Local};
use crate::protocol::{Proto, ReplyBuf, Request, string2ll};

/// Redis's reply to a wrong password.
const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";

/// Compares secrets without an early exit, so timing does not tell how much matched.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Redis's rule for client names: printable ASCII without spaces.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

const BAD_NAME: &[u8] = b"ERR Client names cannot contain spaces, newlines or special characters.";

impl Conn {
    /// Runs a command hotcache answers itself.
    pub(super) fn local(&mut self, l: Local, c: &'static Command, req: Request) -> bool {
        if matches!(l, Local::ClientInfo | Local::ClientList) && self.busy() {
            // They show state (db, multi) that replies still in flight change:
            // answer once those are in, as Redis would after running them.
            self.stalled = Some(req);
            return false;
        }
        inc_local(self);
        let args = &req.args;
        match l {
            // While Redis may be busy running a script, PING goes there, so the
            // client hears BUSY as it would from Redis, not hotcache's PONG.
            Local::Ping if self.ctx.upstream.maybe_busy() => {
                self.forward(req, Effect::None, crate::upstream::After::Nothing)
            }
            Local::Ping => match args.len() {
                1 => self.reply_raw(Bytes::from_static(b"+PONG\r\n")),
                2 => self.reply_with(|o| {
                    o.bulk(&args[1]);
                }),
                // The table's arity (-1) lets any count through; PING itself
                // refuses more than one argument.
                _ => self.reply_error(crate::cmd::arity_error(c).as_bytes()),
            },
            Local::Echo => self.reply_with(|o| {
                o.bulk(&args[1]);
            }),
            Local::Quit => {
                self.push_local(Bytes::from_static(b"+OK\r\n"), Effect::Close);
                self.closing = true;
                false
            }
            Local::Auth => self.auth(req),
            Local::Hello => self.hello(req),
            Local::Reset => self.reset(req),
            Local::Info => self.info_command(req),
            Local::ClientId => {
                let id = self.info().id as i64;
                self.reply_with(|o| {
                    o.int(id);
                })
            }
            Local::ClientGetName => {
                let name = self.info().name();
                self.reply_with(|o| match name {
                    Some(n) => {
                        o.bulk(&n);
                    }
                    None => {
                        o.null();
                    }
                })
            }
            Local::ClientSetName => {
                let name = &args[2];
                if !valid_client_name(name) {
                    return self.reply_error(BAD_NAME);
                }
                // A copy: a slice would keep the request it came in alive.
                let name = Bytes::copy_from_slice(name);
                self.info().set_name(if name.is_empty() { None } else { Some(name) });
                self.reply_raw(Bytes::from_static(b"+OK\r\n"))
            }
            Local::ClientInfo => {
                let line = format!("{}\n", self.info().line());
                self.reply_with(|o| {
                    o.verbatim("txt", line.as_bytes());
                })
            }
            Local::ClientList => self.client_list(&req),
            // Tracking: hotcache's own where it can serve it, else Redis's on
            // the client's own connection (the state lives there). Queued in
            // a transaction, it was found served when queued (see
            // `queue_in_transaction`): EXEC's array needs its reply now.
            Local::ClientTracking if self.splicing || self.tracking_served() => {
                self.client_tracking(&req)
            }
            Local::ClientTracking => self.stateful(c, req),
            Local::ClientCaching if self.splicing || self.tracking_served() => {
                self.client_caching(&req)
            }
            Local::ClientGetRedir if self.splicing || self.tracking_served() => {
                self.client_getredir()
            }
            Local::ClientTrackingInfo if self.splicing || self.tracking_served() => {
                self.client_trackinginfo()
            }
            Local::ClientCaching => {
                self.forward_dedicated(req, Effect::None, crate::upstream::After::Nothing)
            }
            Local::ClientGetRedir => {
                self.forward_dedicated(req, Effect::MapRedir, crate::upstream::After::Nothing)
            }
            Local::ClientTrackingInfo => self.forward_dedicated(
                req,
                Effect::MapTrackingInfo,
                crate::upstream::After::Nothing,
            ),
            // The user this client logged in as, as Redis would name it (with
            // hotcache's own `requirepass`, everyone is `default`).
            Local::AclWhoami => {
                if let Some(refused) = self.ctx.upstream.refusal(&self.who) {
                    return self.reply_raw(refused);
                }
                let user = self.info().user();
                self.reply_with(|o| {
                    o.bulk(user.as_bytes());
                })
            }
            Local::Hotkeys => self.hotkeys(&req),
            Local::ConfigGet => self.config_get(req),
            Local::ConfigSet => self.config_set(req),
            Local::ConfigResetStat => self.config_resetstat(req),
            Local::ConfigRewrite => self.config_rewrite(),
            Local::SlowlogGet => self.slowlog_get(&req),
            Local::SlowlogLen => {
                let n = self.ctx.shared.metrics.slowlog.len() as i64;
                self.reply_with(|o| {
                    o.int(n);
                })
            }
            Local::SlowlogReset => {
                self.ctx.shared.metrics.slowlog.reset();
                self.reply_raw(Bytes::from_static(b"+OK\r\n"))
            }
            Local::SlowlogHelp => self.slowlog_help(),
            Local::ClusterSlots
            | Local::ClusterShards
            | Local::ClusterNodes
            | Local::ClusterMyId => self.cluster_face(l, req),
            Local::Debug => self.debug(&req),
            Local::ClientKill => self.client_kill(&req),
            Local::ClientUnblock => self.client_unblock(&req),
            Local::ClientReply => {
                let mode = &args[2];
                if mode.eq_ignore_ascii_case(b"on") {
                    self.reply_mode = ReplyMode::On;
                    self.reply_raw(Bytes::from_static(b"+OK\r\n"))
                } else if mode.eq_ignore_ascii_case(b"off") {
                    self.reply_mode = ReplyMode::Off;
                    true
                } else if mode.eq_ignore_ascii_case(b"skip") {
                    // SKIP itself has no reply; the next command's is dropped.
                    if self.reply_mode == ReplyMode::On {
                        self.reply_mode = ReplyMode::Skip;
                    }
                    true
                } else {
                    self.reply_error(b"ERR syntax error")
                }
            }
        }
    }

    /// Checks a username and password against `requirepass` (only `default`
    /// exists). With no password configured every password is accepted, as for
    /// Redis's `nopass` default user.
    fn check_auth(&self, user: &[u8], pass: &[u8]) -> bool {
        let required = self.config.requirepass.as_bytes();
        user == b"default" && (required.is_empty() || same_secret(pass, required))
    }

    fn auth(&mut self, req: Request) -> bool {
        let args = &req.args;
        if args.len() > 3 {
            return self.reply_error(b"ERR syntax error");
        }
        if self.config.clients_are_redis_users() {
            // The next commands run as the new user: not before the earlier
            // ones are answered (they ran as the old one).
            if self.busy() {
                self.stalled = Some(req);
                return false;
            }
            return match self.redis_login(&args[1..]) {
                super::auth::Login::Waiting => {
                    self.stalled = Some(req);
                    false
                }
                super::auth::Login::Answered(reply) => self.reply_raw(reply),
            };
        }
        let ok = if args.len() == 2 {
            if self.config.requirepass.is_empty() {
                return self.reply_error(
                    b"ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            self.check_auth(b"default", &args[1])
        } else {
            self.check_auth(&args[1], &args[2])
        };
        if ok {
            self.authed = true;
            self.reply_raw(Bytes::from_static(b"+OK\r\n"))
        } else {
            crate::log_limited!(info, client = self.info().id, "failed AUTH");
            self.reply_error(WRONGPASS)
        }
    }

    /// HELLO [protover [AUTH user pass] [SETNAME name]], as Redis 7.0 runs it.
    fn hello(&mut self, req: Request) -> bool {
        let args = &req.args;
        let mut version = None;
        let mut next = 1;
        if args.len() >= 2 {
            match string2ll(&args[1]) {
                Some(v) if v == 2 || v == 3 => version = Some(v),
                Some(_) => return self.reply_error(b"NOPROTO unsupported protocol version"),
                None => {
                    return self
                        .reply_error(b"ERR Protocol version is not an integer or out of range");
                }
            }
            next = 2;
        }
        let mut credentials = None;
        let mut name = None;
        let mut j = next;
        while j < args.len() {
            let more = args.len() - 1 - j;
            let opt = &args[j];
            if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
                credentials = Some((args[j + 1].clone(), args[j + 2].clone()));
                j += 3;
            } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
                let n = &args[j + 1];
                if !valid_client_name(n) {
                    return self.reply_error(BAD_NAME);
                }
                name = Some(n.clone());
                j += 2;
            } else {
                let mut msg = b"ERR Syntax error in HELLO option '".to_vec();
                msg.extend_from_slice(opt);
                msg.push(b'\'');
                return self.reply_error(&msg);
            }
        }
        if let Some((user, pass)) = credentials {
            if self.config.clients_are_redis_users() {
                if self.busy() {
                    self.stalled = Some(req);
                    return false;
                }
                match self.redis_login(&[user, pass]) {
                    super::auth::Login::Waiting => {
                        self.stalled = Some(req);
                        return false;
                    }
                    super::auth::Login::Answered(reply) if &reply[..] != b"+OK\r\n" => {
                        return self.reply_raw(reply);
                    }
                    super::auth::Login::Answered(_) => {}
                }
            } else if self.check_auth(&user, &pass) {
                self.authed = true;
            } else {
                return self.reply_error(WRONGPASS);
            }
        }
        if !self.authed {
            return self.reply_error(
                b"NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            );
        }
        if let Some(n) = name {
            // A copy, as CLIENT SETNAME's.
            let n = Bytes::copy_from_slice(&n);
            self.info().set_name(if n.is_empty() { None } else { Some(n) });
        }
        if let Some(v) = version {
            self.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
            self.info().resp.store(v as u8, Relaxed);
        }
        // What the server behind is: heard at a connection's handshake, or
        // asked now (the reply waits for it) if hotcache has not connected yet.
        let server = match self.server_hello() {
            Some(s) => s,
            None => {
                let Some(reply) = self.asked_as_hotcache(vec![Bytes::from_static(b"HELLO")]) else {
                    self.stalled = Some(req);
                    return false;
                };
                let cluster = self.ctx.upstream.is_cluster();
                super::hello::ServerHello::parse(Proto::Resp2, &reply)
                    .unwrap_or_else(|| super::hello::ServerHello::assumed(cluster))
            }
        };
        // In front of a cluster hotcache is one server to its clients (they
        // need not be cluster-aware, nothing is MOVED): `standalone`.
        let mut server = server;
        if self.ctx.upstream.is_cluster() {
            server.mode = Bytes::from_static(b"standalone");
        }
        let id = self.info().id as i64;
        let proto = self.proto;
        self.reply_with(|o| {
            o.map(8);
            o.bulk(b"server").bulk(&server.server);
            o.bulk(b"version").bulk(&server.version);
            o.bulk(b"proto").int(proto.number());
            o.bulk(b"id").int(id);
            server.write(o, proto);
        })
    }

    /// What HELLO says of the server behind hotcache (see `hello`).
    /// None when hotcache has not heard the server yet.
    fn server_hello(&self) -> Option<super::hello::ServerHello> {
        use super::hello::ServerHello;
        if self.ctx.upstream.is_embedded() {
            return Some(ServerHello::assumed(false));
        }
        let heard = self.ctx.upstream.hellos(self.proto).into_iter();
        ServerHello::lowest(heard.filter_map(|(p, reply)| ServerHello::parse(p, &reply)))
    }

    /// True while forwarded commands of this client await their replies.
    fn busy(&self) -> bool {
        !self.splicing
            && (self.shared_inflight > 0
                || self.foreign_inflight > 0
                || self.dedicated.as_ref().is_some_and(|d| d.inflight > 0))
    }

    /// RESET: waits for replies owed, then drops every piece of connection state.
    fn reset(&mut self, req: Request) -> bool {
        if self.busy() {
            self.stalled = Some(req);
            return false;
        }
        if let Some(d) = self.dedicated.take() {
            // MULTI, WATCH, SELECT, tracking: whatever it held, do not reuse it.
            self.ctx.upstream.release(d.link, false);
        }
        self.sink = None;
        self.reset_local_state();
        self.reply_raw(Bytes::from_static(b"+RESET\r\n"))
    }

    /// What RESET clears on hotcache's side.
    pub(super) fn reset_local_state(&mut self) {
        self.proto = Proto::Resp2;
        self.reply_mode = ReplyMode::On;
        self.who = super::conn::first_identity(&self.config);
        // Not logged in any more: allowed only if a client that never AUTHs
        // is (Redis's `default` user on and without a password), also for
        // the rest of this input.
        self.authed = self.default_authed();
        // Tracking off, as Redis's RESET (the keys read stay, as after
        // CLIENT TRACKING off).
        let id = self.info().id;
        self.ctx.tracking.disable(id);
        self.track_tx = Vec::new();
        self.track_tx_bytes = 0;
        self.own_noted_tx = Vec::new();
        let info = self.info();
        info.set_user(std::sync::Arc::from("default"));
        info.set_name(None);
        info.resp.store(2, Relaxed);
        info.db.store(self.home_db, Relaxed);
        info.in_multi.store(false, Relaxed);
        info.relayed.store(false, Relaxed);
        info.set_upstream(None);
    }
}

fn inc_local(conn: &Conn) {
    crate::stats::inc(&conn.ctx.counters().local_commands);
}

/// Encodes a text reply the way Redis sends INFO: bulk in RESP2, verbatim in RESP3.
pub(super) fn text_reply(proto: Proto, text: &str) -> Bytes {
    let mut o = ReplyBuf::new(proto);
    o.verbatim("txt", text.as_bytes());
    o.take()
}
