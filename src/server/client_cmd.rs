//! The CLIENT subcommands that name clients: LIST and KILL over hotcache's own
//! clients, parsed as Redis 7.0 parses them; UNBLOCK and TRACKING REDIRECT
//! with hotcache's ids translated to the Redis ids of its clients' own
//! connections (never sent as they are: a Redis id may be anyone's), and
//! GETREDIR / TRACKINGINFO translated back.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::conn::{Conn, Effect, Lane};
use crate::cmd::{Local, Lookup, Route, State};
use crate::protocol::{Request, string2ll};
use crate::upstream::After;

impl Conn {
    /// CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id ...], parsed as
    /// Redis 7.0 does: TYPE and ID do not combine, any integer is an ID (unknown
    /// ones list nothing), and each ID lists its client once per mention.
    pub(super) fn client_list(&mut self, req: &Request) -> bool {
        let args = &req.args;
        let mut kind: Option<Vec<u8>> = None;
        if args.len() == 4 && args[2].eq_ignore_ascii_case(b"type") {
            let t = args[3].to_ascii_lowercase();
            if !matches!(&t[..], b"normal" | b"master" | b"replica" | b"slave" | b"pubsub") {
                let mut msg = b"ERR Unknown client type '".to_vec();
                msg.extend_from_slice(&args[3]);
                msg.push(b'\'');
                return self.reply_error(&msg);
            }
            kind = Some(t);
        } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"id") {
            return self.client_list_ids(&args[3..]);
        } else if args.len() != 2 {
            return self.reply_error(b"ERR syntax error");
        }
        let mut text = String::new();
        for c in self.ctx.shared.clients.list() {
            let pubsub = c.relayed.load(Relaxed);
            let keep = match kind.as_deref() {
                None => true,
                Some(b"normal") => !pubsub,
                Some(b"pubsub") => pubsub,
                Some(_) => false,
            };
            if keep {
                text.push_str(&c.line());
                text.push('\n');
            }
        }
        self.reply_with(|o| {
            o.verbatim("txt", text.as_bytes());
        })
    }

    /// CLIENT LIST ID id ...: the clients in the order asked.
    fn client_list_ids(&mut self, ids: &[Bytes]) -> bool {
        let mut wanted = Vec::with_capacity(ids.len());
        for a in ids {
            match string2ll(a) {
                Some(id) => wanted.push(id),
                None => return self.reply_error(b"ERR Invalid client ID"),
            }
        }
        let clients = self.ctx.shared.clients.list();
        let mut text = String::new();
        for id in wanted {
            if let Some(c) = clients.iter().find(|c| i64::try_from(c.id) == Ok(id)) {
                text.push_str(&c.line());
                text.push('\n');
            }
        }
        self.reply_with(|o| {
            o.verbatim("txt", text.as_bytes());
        })
    }

    /// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u] [SKIPME yes|no]
    pub(super) fn client_kill(&mut self, req: &Request) -> bool {
        let args = &req.args;
        let me = self.info().id;
        let clients = self.ctx.shared.clients.list();
        if args.len() == 3 {
            let addr = &args[2][..];
            let Some(target) = clients.iter().find(|c| c.addr.to_string().as_bytes() == addr)
            else {
                return self.reply_error(b"ERR No such client");
            };
            if target.id == me {
                self.closing = true;
            } else {
                self.ctx.shared.kill_client(target);
            }
            return self.reply_raw(Bytes::from_static(b"+OK\r\n"));
        }
        // Options are read in order, each checked as it comes, as Redis 7.0
        // reads them: the first bad one is the error.
        let (mut id, mut addr, mut laddr, mut kind, mut user) = (None, None, None, None, None);
        let mut skipme = true;
        let mut i = 2;
        while i < args.len() {
            let (opt, val) = match (args.get(i), args.get(i + 1)) {
                (Some(o), Some(v)) => (o, v),
                _ => return self.reply_error(b"ERR syntax error"),
            };
            if opt.eq_ignore_ascii_case(b"id") {
                match string2ll(val) {
                    Some(n) if n > 0 => id = Some(n as u64),
                    _ => return self.reply_error(b"ERR client-id should be greater than 0"),
                }
            } else if opt.eq_ignore_ascii_case(b"type") {
                let t = val.to_ascii_lowercase();
                if !matches!(&t[..], b"normal" | b"master" | b"replica" | b"slave" | b"pubsub") {
                    let mut msg = b"ERR Unknown client type '".to_vec();
                    msg.extend_from_slice(val);
                    msg.push(b'\'');
                    return self.reply_error(&msg);
                }
                kind = Some(t);
            } else if opt.eq_ignore_ascii_case(b"addr") {
                addr = Some(val.clone());
            } else if opt.eq_ignore_ascii_case(b"laddr") {
                laddr = Some(val.clone());
            } else if opt.eq_ignore_ascii_case(b"user") {
                // With hotcache's own password every client is `default`;
                // with Redis users, a user of a client or of the last ACL
                // LIST read (until one is read, a user without clients is
                // taken for unknown: nothing to close either way).
                let name = String::from_utf8_lossy(val);
                let exists = name == "default"
                    || (self.config.clients_are_redis_users()
                        && (clients.iter().any(|c| *c.user() == *name)
                            || self.ctx.upstream.acl().has_user(&name) == Some(true)));
                if !exists {
                    let mut msg = b"ERR No such user '".to_vec();
                    msg.extend_from_slice(val);
                    msg.push(b'\'');
                    return self.reply_error(&msg);
                }
                user = Some(name.into_owned());
            } else if opt.eq_ignore_ascii_case(b"skipme") {
                if val.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    return self.reply_error(b"ERR syntax error");
                }
            } else {
                return self.reply_error(b"ERR syntax error");
            }
            i += 2;
        }
        let mut killed = 0i64;
        for c in &clients {
            let matches = id.is_none_or(|i| c.id == i)
                && addr.as_deref().is_none_or(|a| c.addr.to_string().as_bytes() == a)
                && laddr.as_deref().is_none_or(|a| c.laddr.to_string().as_bytes() == a)
                && user.as_deref().is_none_or(|u| &*c.user() == u)
                && kind.as_deref().is_none_or(|t| match t {
                    b"normal" => !c.relayed.load(Relaxed),
                    b"pubsub" => c.relayed.load(Relaxed),
                    _ => false,
                });
            if !matches || (skipme && c.id == me) {
                continue;
            }
            killed += 1;
            if c.id == me {
                self.closing = true;
            } else {
                self.ctx.shared.kill_client(c);
            }
        }
        self.reply_with(|o| {
            o.int(killed);
        })
    }
}

/// Redis's error for CLIENT UNBLOCK with a reason it does not know.
const BAD_REASON: &[u8] = b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";

impl Conn {
    /// CLIENT UNBLOCK id [TIMEOUT|ERROR], id being hotcache's: a client of
    /// hotcache is blocked (BLPOP, XREAD BLOCK ...) on a connection it holds
    /// alone, so the command goes to Redis with that connection's Redis id, to
    /// the node that connection is on. Any other id is answered `:0` here:
    /// no id of hotcache's own connections, or of Redis's other clients, is
    /// ever sent untranslated.
    pub(super) fn client_unblock(&mut self, req: &Request) -> bool {
        let args = &req.args;
        // Checked in Redis 7.0's order (networking.c, clientCommand).
        if args.len() > 4 {
            let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
            msg.extend_from_slice(&args[1][..args[1].len().min(128)]);
            msg.extend_from_slice(b"'. Try CLIENT HELP.");
            return self.reply_error(&msg);
        }
        if let Some(reason) = args.get(3)
            && !reason.eq_ignore_ascii_case(b"timeout")
            && !reason.eq_ignore_ascii_case(b"error")
        {
            return self.reply_error(BAD_REASON);
        }
        let Some(id) = string2ll(&args[2]) else {
            return self.reply_error(b"ERR value is not an integer or out of range");
        };
        // The client running this is not blocked (Redis runs a client's
        // commands one after the other).
        let target = u64::try_from(id)
            .ok()
            .filter(|&id| id != self.info().id)
            .and_then(|id| self.ctx.shared.clients.get(id))
            .and_then(|c| c.unblock_target(None));
        let Some((upstream, node)) = target else {
            return self.reply_raw(Bytes::from_static(b":0\r\n"));
        };
        let mut sent = vec![args[0].clone(), args[1].clone(), Bytes::from(upstream.to_string())];
        sent.extend(args.get(3).cloned());
        let sent = Request::from_args(sent);
        // On the client's own connection if it is on that node (its order with
        // the client's earlier commands is kept), else on the node's shared one.
        let here = self.dedicated.as_ref().is_some_and(|d| d.link.addr() == Some(&*node));
        if !self.ctx.upstream.is_cluster() || here {
            return self.forward(sent, Effect::None, After::Nothing);
        }
        match self.ctx.upstream.shared_at(&self.who, self.proto, self.affinity, &node) {
            Ok(link) => {
                if let Some(refusal) = self.over_share(&link) {
                    return self.reply_raw(refusal);
                }
                crate::stats::inc(&self.ctx.counters().forwarded_commands);
                let slot = link.send_with(
                    &sent,
                    After::Nothing,
                    &self.ctx.shared.cache.epochs,
                    crate::upstream::Hold::Timed,
                    self.send_time(),
                    &self.owed,
                );
                self.push_forwarded(slot, Lane::Shared, Effect::None);
                true
            }
            Err(e) => self.reply_raw(e),
        }
    }

    /// The Redis client id of the connection hotcache's client `id` holds alone
    /// on `node` (None: one Redis), or 0, which no Redis client has: an id that
    /// names no such connection never reaches Redis as it is.
    pub(super) fn upstream_id_of(&self, id: i64, node: Option<&str>) -> i64 {
        u64::try_from(id)
            .ok()
            .and_then(|id| self.ctx.shared.clients.get(id))
            .and_then(|c| c.upstream_id_on(node))
            .unwrap_or(0)
    }

    /// The node of the connection this client's requests go on now (its own,
    /// or its relay's), for translating ids there.
    fn own_node(&self) -> Option<String> {
        if let Some(r) = &self.relay {
            return Some(r.conn.addr().to_string());
        }
        self.dedicated.as_ref().and_then(|d| d.link.addr()).map(str::to_string)
    }

    /// CLIENT TRACKING ... REDIRECT id: hotcache's id becomes the Redis id of
    /// the connection that client holds alone (its subscription to
    /// `__redis__:invalidate`) on this client's node, or 0, which Redis refuses
    /// with its own error. Remembered, to show hotcache's id back.
    pub(super) fn translate_redirect_id(&self, id: i64) -> i64 {
        let node = self.own_node();
        let upstream = self.upstream_id_of(id, node.as_deref());
        if let Ok(to) = u64::try_from(id)
            && upstream > 0
        {
            self.info().set_redirect(to, upstream);
        }
        upstream
    }

    /// hotcache's id for a Redis client id in a reply about this client's
    /// tracking (GETREDIR, TRACKINGINFO).
    pub(super) fn client_id_of_upstream(&self, upstream: i64) -> Option<u64> {
        if upstream <= 0 {
            return None;
        }
        if let Some(id) = self.info().redirect_for(upstream) {
            return Some(id);
        }
        let node = self.own_node();
        self.ctx.shared.clients.by_upstream_id(upstream, node.as_deref()).map(|c| c.id)
    }

    /// CLIENT TRACKINGINFO's reply with hotcache's id in `redirect`.
    pub(super) fn map_trackinginfo(&self, frame: Bytes) -> Bytes {
        map_redirect_field(&frame, |id| self.client_id_of_upstream(id).map(|i| i as i64))
            .unwrap_or(frame)
    }

    /// A command that names clients, sent where Redis runs it as it is: in a
    /// transaction (queued, run at EXEC) or from a relayed client (subscribed
    /// in RESP3, MONITOR). Ids become Redis's ids of hotcache's clients'
    /// connections on the node it goes to (0 when none); a CLIENT KILL, which
    /// would act on Redis's clients, becomes one that matches none. Anything
    /// else is returned as it is.
    pub(super) fn translate_client_ids(&self, lookup: &Lookup, req: Request) -> Request {
        let Lookup::Found(c) = lookup else { return req };
        let mut args = req.args;
        match c.route {
            Route::Local(Local::ClientUnblock) => {
                if let Some(id) = args.get(2).and_then(|a| string2ll(a)) {
                    // Its own id: this client is running, not blocked.
                    let upstream = if u64::try_from(id) == Ok(self.info().id) {
                        0
                    } else {
                        let node = self.own_node();
                        u64::try_from(id)
                            .ok()
                            .and_then(|id| self.ctx.shared.clients.get(id))
                            .and_then(|t| t.unblock_target(node.as_deref()))
                            .map_or(0, |(u, _)| u)
                    };
                    args[2] = Bytes::from(upstream.to_string());
                }
            }
            Route::Local(Local::ClientKill) => {
                // Matches no client: the old form an address nobody has, the
                // new form an id no client has.
                let old_form = args.len() == 3;
                args.truncate(2);
                if old_form {
                    args.push(Bytes::from_static(b"hotcache-no-such-client:0"));
                } else {
                    args.push(Bytes::from_static(b"ID"));
                    args.push(Bytes::from(i64::MAX.to_string()));
                }
            }
            _ if c.state == Some(State::Tracking) => {
                let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"redirect"));
                if let Some(at) = at
                    && let Some(id) = args.get(at + 1).and_then(|a| string2ll(a))
                {
                    args[at + 1] = Bytes::from(self.translate_redirect_id(id).to_string());
                }
            }
            _ => return Request { args, ..req },
        }
        Request::from_args(args)
    }
}

/// Replaces the integer after the `redirect` field of a CLIENT TRACKINGINFO
/// reply (RESP2 array or RESP3 map) by `map` of it; None if there is none or
/// `map` keeps it. The field names before it are fixed words (`flags` and
/// its set), so its first occurrence is the field.
fn map_redirect_field(frame: &[u8], map: impl Fn(i64) -> Option<i64>) -> Option<Bytes> {
    const FIELD: &[u8] = b"$8\r\nredirect\r\n:";
    let at = memchr::memmem::find(frame, FIELD)? + FIELD.len();
    let end = at + memchr::memchr(b'\r', &frame[at..])?;
    let id = string2ll(&frame[at..end])?;
    let mapped = map(id)?;
    let mut out = Vec::with_capacity(frame.len() + 8);
    out.extend_from_slice(&frame[..at]);
    out.extend_from_slice(mapped.to_string().as_bytes());
    out.extend_from_slice(&frame[end..]);
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackinginfo_redirect_is_mapped() {
        let resp2 = b"*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:57\r\n$8\r\nprefixes\r\n*1\r\n$8\r\nredirect\r\n";
        let map = |id: i64| (id == 57).then_some(3);
        let out = map_redirect_field(resp2, map).expect("mapped");
        assert_eq!(
            &out[..],
            &b"*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:3\r\n$8\r\nprefixes\r\n*1\r\n$8\r\nredirect\r\n"[..]
        );
        let resp3 = b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n";
        assert_eq!(map_redirect_field(resp3, map), None, "-1 (off) stays");
        let out = map_redirect_field(resp3, |_| Some(12)).expect("mapped");
        assert!(out.ends_with(b"$8\r\nredirect\r\n:12\r\n$8\r\nprefixes\r\n*0\r\n"));
        assert_eq!(map_redirect_field(b"-ERR nope\r\n", map), None);
    }
}
