//! CLIENT LIST and CLIENT KILL over hotcache's own clients, parsed as Redis 7.0
//! parses them.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::conn::Conn;
use crate::protocol::{Request, string2ll};

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
        if !args.len().is_multiple_of(2) {
            return self.reply_error(b"ERR syntax error");
        }
        let (mut id, mut addr, mut laddr, mut kind, mut user) = (None, None, None, None, None);
        let mut skipme = true;
        for pair in args[2..].chunks(2) {
            let (opt, val) = (&pair[0], &pair[1]);
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
                user = Some(val.clone());
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
        }
        if user.as_deref().is_some_and(|u| u != b"default") {
            let mut msg = b"ERR No such user '".to_vec();
            msg.extend_from_slice(user.as_deref().unwrap_or_default());
            msg.push(b'\'');
            return self.reply_error(&msg);
        }
        let mut killed = 0i64;
        for c in &clients {
            let matches = id.is_none_or(|i| c.id == i)
                && addr.as_deref().is_none_or(|a| c.addr.to_string().as_bytes() == a)
                && laddr.as_deref().is_none_or(|a| c.laddr.to_string().as_bytes() == a)
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
