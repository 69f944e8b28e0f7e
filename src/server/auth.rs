//! When clients are Redis users (no `requirepass` of hotcache's own), Redis
//! decides what hotcache cannot: whether credentials are good (AUTH, HELLO
//! AUTH), and whether a user may run one of hotcache's own administrative
//! commands (CONFIG, CLIENT LIST/KILL, SLOWLOG, HOTKEYS ...), as Redis would
//! decide for its own.
//!
//! A login is checked with an AUTH sent as the client sent it, on a connection
//! of its own, so the client gets Redis's exact answer; a command with `ACL
//! DRYRUN` as hotcache's own identity. Answers are kept per thread for the ACL
//! generation they were given in: the same question while Redis's ACLs have
//! not changed needs no new one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ThreadCtx;
use super::conn::Conn;
use super::signal::Signal;
use crate::cmd::Local;
use crate::protocol::Request;
use crate::upstream::{Identity, upstream_error};

/// Most answers kept per thread; past it, the settled ones are forgotten (a
/// client guessing passwords must not grow memory).
const MAX_KEPT: usize = 10_000;
/// And most bytes of questions kept per thread (a password may be up to
/// `proto-max-bulk-len` long).
const MAX_KEPT_BYTES: usize = 4 << 20;
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

/// One thread's questions to Redis and their answers, by the question as sent
/// (`AUTH pw` and `AUTH default pw` may get different answers).
#[derive(Default)]
pub struct Asks {
    map: RefCell<HashMap<Vec<Bytes>, Check>>,
    /// What the questions in `map` hold (see `size`).
    bytes: std::cell::Cell<usize>,
}

/// What a question costs to keep.
fn size(args: &[Bytes]) -> usize {
    args.iter().map(|a| a.len() + std::mem::size_of::<Bytes>()).sum()
}

/// What a login attempt came to.
pub(super) enum Login {
    /// Redis is being asked; the command waits (it is kept as `stalled`).
    Waiting,
    /// Redis's answer: `+OK` (the client is now that user) or its error.
    Answered(Bytes),
}

impl Asks {
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
        if map.len() >= MAX_KEPT || self.bytes.get() + size(args) > MAX_KEPT_BYTES {
            map.retain(|_, c| matches!(c, Check::Pending(_)));
            self.bytes.set(map.keys().map(|k| size(k)).sum());
        }
        if map.insert(args.to_vec(), Check::Pending(vec![signal.clone()])).is_none() {
            self.bytes.set(self.bytes.get() + size(args));
        }
        (None, true)
    }

    /// The answer came: keeps it and wakes whoever waited.
    fn answered(&self, args: Vec<Bytes>, reply: Bytes, generation: u64, from_redis: bool) {
        let until = (!from_redis).then(|| Instant::now() + TRANSIENT);
        let n = size(&args);
        let old = self.map.borrow_mut().insert(args, Check::Done { reply, generation, until });
        if old.is_none() {
            self.bytes.set(self.bytes.get() + n);
        }
        if let Some(Check::Pending(waiters)) = old {
            for w in waiters {
                w.fire();
            }
        }
    }
}

/// The Redis command one of hotcache's own stands for when Redis decides
/// whether a user may run it: Redis's own where hotcache answers it (CONFIG,
/// CLIENT LIST/KILL/INFO, SLOWLOG), CONFIG GET (an administrator's right) for
/// HOTKEYS and HOTCACHE.DEBUG; none for what concerns only the client's own
/// connection (PING, HELLO, CLIENT SETNAME ...) and for INFO, whose sections
/// of Redis's go to Redis as the user and whose own (counters) must answer
/// while Redis does not.
pub(super) fn stands_for(l: Local) -> Option<&'static [&'static [u8]]> {
    Some(match l {
        Local::ConfigGet | Local::Hotkeys | Local::Debug => &[b"CONFIG", b"GET", b"x"],
        Local::ConfigSet => &[b"CONFIG", b"SET", b"x", b"y"],
        Local::ConfigResetStat => &[b"CONFIG", b"RESETSTAT"],
        Local::ConfigRewrite => &[b"CONFIG", b"REWRITE"],
        Local::SlowlogGet => &[b"SLOWLOG", b"GET"],
        Local::SlowlogLen => &[b"SLOWLOG", b"LEN"],
        Local::SlowlogReset => &[b"SLOWLOG", b"RESET"],
        Local::SlowlogHelp => &[b"SLOWLOG", b"HELP"],
        Local::ClientList => &[b"CLIENT", b"LIST"],
        Local::ClientKill => &[b"CLIENT", b"KILL", b"ID", b"1"],
        Local::ClientInfo => &[b"CLIENT", b"INFO"],
        Local::ClusterSlots => &[b"CLUSTER", b"SLOTS"],
        Local::ClusterShards => &[b"CLUSTER", b"SHARDS"],
        Local::ClusterNodes => &[b"CLUSTER", b"NODES"],
        Local::ClusterMyId => &[b"CLUSTER", b"MYID"],
        Local::Info
        | Local::Ping
        | Local::Echo
        | Local::Hello
        | Local::Auth
        | Local::Quit
        | Local::Reset
        | Local::ClientSetName
        | Local::ClientGetName
        | Local::ClientId
        | Local::ClientReply
        | Local::ClientUnblock
        | Local::AclWhoami
        | Local::ClientTracking
        | Local::ClientCaching
        | Local::ClientGetRedir
        | Local::ClientTrackingInfo => return None,
    })
}

impl Conn {
    /// Whether the client may run hotcache's own command `l`: with Redis
    /// users, as Redis decides (`may_run`); true otherwise. None while Redis
    /// is being asked.
    pub(super) fn may_run_local(&mut self, l: Local) -> Option<Result<(), Bytes>> {
        if !self.config.clients_are_redis_users() || self.who == Identity::Own {
            return Some(Ok(()));
        }
        match stands_for(l) {
            Some(as_redis) => self.may_run(as_redis),
            None => Some(Ok(())),
        }
    }

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
        let ask = key.clone();
        let Some(reply) = self.asked(key, move |ctx| ctx.upstream.check_auth(ask)) else {
            return Login::Waiting;
        };
        if &reply[..] == b"+OK\r\n" {
            let (user, pass) = match args {
                [pass] => (&b"default"[..], pass),
                [user, pass] => (&user[..], pass),
                _ => return Login::Answered(reply),
            };
            self.logged_in(user, pass, generation);
        }
        Login::Answered(reply)
    }

    /// Whether the client's Redis user may run `as_redis` (the Redis command
    /// one of hotcache's own stands for): None while Redis is being asked;
    /// else None-free `Ok(())` or Redis's refusal as the client's error reply.
    pub(super) fn may_run(&mut self, as_redis: &[&[u8]]) -> Option<Result<(), Bytes>> {
        let user = self.info().user();
        let mut key: Vec<Bytes> = vec![
            Bytes::from_static(b"ACL"),
            Bytes::from_static(b"DRYRUN"),
            Bytes::from(user.to_string()),
        ];
        key.extend(as_redis.iter().map(|a| Bytes::copy_from_slice(a)));
        let reply = self.asked_as_hotcache(key)?;
        if &reply[..] == b"+OK\r\n" {
            return Some(Ok(()));
        }
        // Redis could not be asked: say so, not that the user may not.
        if reply.starts_with(b"-ERR upstream ") {
            return Some(Err(reply));
        }
        // hotcache may not ask (its own user lacks the right): say that.
        if reply.first() == Some(&b'-') {
            let mut msg = b"-NOPERM hotcache cannot check this user's rights (its own user needs +acl|dryrun): ".to_vec();
            msg.extend_from_slice(&reply[1..]);
            return Some(Err(Bytes::from(msg)));
        }
        // DRYRUN says why as a bulk string ("This user has no permissions to
        // run the 'config|get' command"); the client gets the NOPERM error
        // Redis gives when it refuses the command itself. An error reply
        // (hotcache may not DRYRUN, a user Redis no longer has) is refused too.
        let why = match reply.first() {
            Some(b'$') => reply.splitn(2, |&b| b == b'\n').nth(1).unwrap_or(b"").to_vec(),
            _ => reply.get(1..).unwrap_or(b"").to_vec(),
        };
        let why = String::from_utf8_lossy(&why).trim().to_string();
        let mut msg = b"-NOPERM ".to_vec();
        let text = why.strip_prefix("This user").map(|r| format!("this user{r}")).unwrap_or(why);
        msg.extend_from_slice(text.as_bytes());
        msg.extend_from_slice(b"\r\n");
        Some(Err(Bytes::from(msg)))
    }

    /// Redis's answer to the command `key`, sent as hotcache's own identity on
    /// its shared RESP2 connection (None while waiting, see `asked`).
    pub(super) fn asked_as_hotcache(&mut self, key: Vec<Bytes>) -> Option<Bytes> {
        let ask = key.clone();
        self.asked(key, move |ctx| {
            let link = ctx.upstream.shared(&Identity::Own, crate::protocol::Proto::Resp2, 0);
            let rx = match link.map(|l| l.send(&Request::from_args(ask))) {
                Ok(crate::upstream::ReplySlot::Wait(rx)) => Some(rx),
                _ => None,
            };
            Some(async move {
                let r = rx.ok_or("no upstream connection")?.await.map_err(|_| "connection lost")?;
                match r.failed {
                    Some(_) => Err(String::from_utf8_lossy(&r.frame).trim().to_string()),
                    None => Ok(r.frame),
                }
            })
        })
    }

    /// Redis's answer to `key` in this ACL generation: known, or asked now
    /// with `ask` (None then: the command waits, woken when it comes).
    pub(super) fn asked<F>(
        &mut self,
        key: Vec<Bytes>,
        ask: impl FnOnce(&ThreadCtx) -> Option<F>,
    ) -> Option<Bytes>
    where
        F: std::future::Future<Output = Result<Bytes, String>> + 'static,
    {
        let generation = self.ctx.upstream.acl().generation();
        let (known, start) = self.ctx.asks.lookup(&key, generation, &self.signal);
        if known.is_some() || !start {
            return known;
        }
        let Some(question) = ask(&self.ctx) else {
            let reply = Bytes::from_static(b"-ERR no upstream\r\n");
            self.ctx.asks.answered(key, reply, generation, false);
            return None;
        };
        let ctx = self.ctx.clone();
        let addr = self.ctx.upstream.describe();
        tokio::task::spawn_local(async move {
            let (reply, from_redis) = match question.await {
                Ok(r) => (r, true),
                Err(e) => (upstream_error(&addr, &e), false),
            };
            ctx.asks.answered(key, reply, generation, from_redis);
        });
        None
    }

    /// Redis accepted `pass` for `user`: the client's commands run as that
    /// user from now on.
    fn logged_in(&mut self, user: &[u8], pass: &[u8], generation: u64) {
        let user: Arc<str> = Arc::from(String::from_utf8_lossy(user).as_ref());
        let pass: Arc<str> = Arc::from(String::from_utf8_lossy(pass).as_ref());
        self.ctx.upstream.passwords().accepted(&user, &pass, generation);
        // A user other than `default` exists: Redis's ACLs are no longer its
        // open default, whatever the last look at them said.
        if &*user != "default" {
            self.ctx.upstream.acl().set_open_to_all(false);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Guesses of long passwords do not grow the kept answers past their
    /// byte budget (only the pending questions survive a clean-up).
    #[test]
    fn kept_questions_are_bounded_in_bytes() {
        let asks = Asks::default();
        let (signal, _registered) = super::super::signal::register(1);
        let big = Bytes::from(vec![b'p'; 64 << 10]);
        for i in 0..1000u32 {
            let args = vec![Bytes::from_static(b"AUTH"), Bytes::from(i.to_string()), big.clone()];
            let (_, ask) = asks.lookup(&args, 0, &signal);
            assert!(ask);
            asks.answered(args, Bytes::from_static(b"-WRONGPASS\r\n"), 0, true);
            assert!(asks.bytes.get() <= MAX_KEPT_BYTES, "{} bytes kept", asks.bytes.get());
        }
        let kept: usize = asks.map.borrow().keys().map(|k| size(k)).sum();
        assert_eq!(kept, asks.bytes.get());
    }
}
