//! AUTH and HELLO AUTH when clients are Redis users (no `requirepass` of
//! hotcache's own): Redis checks the credentials, and the client then runs as
//! that user (see `upstream::users`).
//!
//! A check is an AUTH sent as the client sent it, on a connection of its own,
//! so the client gets Redis's exact answer. Answers are kept per thread for the
//! ACL generation they were given in: a client that logs in again with the same
//! credentials, while Redis's ACLs have not changed, needs no new check.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::conn::Conn;
use super::signal::Signal;
use crate::protocol::Request;
use crate::upstream::{Identity, upstream_error};

/// Most answers kept per thread; past it, the settled ones are forgotten (a
/// client guessing passwords must not grow memory).
const MAX_KEPT: usize = 10_000;
/// How long an answer that was no answer from Redis (it could not be reached)
/// stands for the clients that waited on it.
const TRANSIENT: Duration = Duration::from_secs(1);

enum Check {
    /// Asked; these connections wait for the answer.
    Pending(Vec<Rc<Signal>>),
    /// Redis's answer, in ACL generation `generation`; `until` for one that
    /// was not Redis's (Redis unreachable).
    Done { reply: Bytes, generation: u64, until: Option<Instant> },
}

/// One thread's AUTH checks, by the arguments as sent (`AUTH pw` and
/// `AUTH default pw` may get different answers).
#[derive(Default)]
pub struct AuthChecks {
    map: RefCell<HashMap<Vec<Bytes>, Check>>,
}

/// What a login attempt came to.
pub(super) enum Login {
    /// Redis is being asked; the command waits (it is kept as `stalled`).
    Waiting,
    /// Redis's answer: `+OK` (the client is now that user) or its error.
    Answered(Bytes),
}

impl AuthChecks {
    /// Redis's answer for `args`, if current; else registers `signal` to be
    /// fired when it comes, and says whether a check must be started.
    fn lookup(
        &self,
        args: &[Bytes],
        generation: u64,
        signal: &Rc<Signal>,
    ) -> (Option<Bytes>, bool) {
        let mut map = self.map.borrow_mut();
        match map.get_mut(args) {
            Some(Check::Done { reply, generation: g, until })
                if *g == generation && until.is_none_or(|u| Instant::now() < u) =>
            {
                return (Some(reply.clone()), false);
            }
            Some(Check::Pending(waiters)) => {
                waiters.push(signal.clone());
                return (None, false);
            }
            _ => {}
        }
        if map.len() >= MAX_KEPT {
            map.retain(|_, c| matches!(c, Check::Pending(_)));
        }
        map.insert(args.to_vec(), Check::Pending(vec![signal.clone()]));
        (None, true)
    }

    /// The answer came: keeps it and wakes whoever waited.
    fn answered(&self, args: Vec<Bytes>, reply: Bytes, generation: u64, from_redis: bool) {
        let until = (!from_redis).then(|| Instant::now() + TRANSIENT);
        let old = self.map.borrow_mut().insert(args, Check::Done { reply, generation, until });
        if let Some(Check::Pending(waiters)) = old {
            for w in waiters {
                w.fire();
            }
        }
    }
}

impl Conn {
    /// Logs the client in as `user` (`AUTH` arguments `args`, as sent: the
    /// password alone, or the user and password). Must be called with nothing
    /// of the client's in flight: its next commands run as the new user.
    pub(super) fn redis_login(&mut self, args: &[Bytes]) -> Login {
        // Kept as text to log in further connections with: bytes that are not
        // UTF-8 could not be given back to Redis as they came.
        if args.iter().any(|a| std::str::from_utf8(a).is_err()) {
            return Login::Answered(Bytes::from_static(
                b"-ERR hotcache takes only UTF-8 user names and passwords\r\n",
            ));
        }
        let generation = self.ctx.upstream.acl().generation();
        let mut key = vec![Bytes::from_static(b"AUTH")];
        key.extend(args.iter().map(|a| Bytes::copy_from_slice(a)));
        let (known, start) = self.ctx.auth_checks.lookup(&key, generation, &self.signal);
        if let Some(reply) = known {
            if &reply[..] == b"+OK\r\n" {
                let (user, pass) = match args {
                    [pass] => (&b"default"[..], pass),
                    [user, pass] => (&user[..], pass),
                    _ => return Login::Answered(reply),
                };
                self.logged_in(user, pass, generation);
            }
            return Login::Answered(reply);
        }
        if start {
            let Some(ask) = self.ctx.upstream.check_auth(key.clone()) else {
                let reply = Bytes::from_static(b"-ERR no upstream\r\n");
                self.ctx.auth_checks.answered(key, reply, generation, false);
                return Login::Waiting;
            };
            let ctx = self.ctx.clone();
            let addr = self.ctx.upstream.describe();
            tokio::task::spawn_local(async move {
                let (reply, from_redis) = match ask.await {
                    Ok(r) => (r, true),
                    Err(e) => (upstream_error(&addr, &e), false),
                };
                ctx.auth_checks.answered(key, reply, generation, from_redis);
            });
        }
        Login::Waiting
    }

    /// Redis accepted `pass` for `user`: the client's commands run as that
    /// user from now on.
    fn logged_in(&mut self, user: &[u8], pass: &[u8], generation: u64) {
        let user: Arc<str> = Arc::from(String::from_utf8_lossy(user).as_ref());
        let pass: Arc<str> = Arc::from(String::from_utf8_lossy(pass).as_ref());
        self.ctx.upstream.passwords().accepted(&user, &pass, generation);
        self.info().set_user(user.clone());
        // A connection of the client's own keeps its state (db, WATCH,
        // tracking) as Redis's would: it logs in there too, the reply
        // dropped (the same AUTH just succeeded), and is not reused after.
        if let Some(d) = &mut self.dedicated {
            d.relogged = true;
            let auth = Request::from_args(vec![
                Bytes::from_static(b"AUTH"),
                Bytes::copy_from_slice(user.as_bytes()),
                Bytes::copy_from_slice(pass.as_bytes()),
            ]);
            self.send_silently(auth);
        }
        self.who = Identity::User(Some(user));
        self.authed = true;
    }
}
